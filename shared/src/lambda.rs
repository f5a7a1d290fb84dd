//! The wiring of a function binary: JSON logs, the app from the environment, the runtime loop.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{service_fn, LambdaEvent};
use tracing::Instrument;

use crate::App;

/// Structured JSON logs; `RUST_LOG` sets the level (default `info`).
pub fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .try_init();
}

/// Runs an HTTP function that serves the routes of `function` (see `http::routes::ROUTES`).
///
/// Boxed: the runtime's service stack around the handlers nests deep enough to overflow the
/// compiler's layout queries in an unboxed `main`.
pub fn serve_http(
    function: &'static str,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), lambda_runtime::Error>>>> {
    Box::pin(serve_http_inner(function))
}

async fn serve_http_inner(function: &'static str) -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let app = App::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
        let span = tracing::info_span!("invocation", aws_request_id = %event.context.request_id, function);
        Ok::<_, std::convert::Infallible>(crate::http::handle(app, Some(function), event.payload).instrument(span).await)
    }))
    .await
}
