//! The wiring of a function binary: JSON logs, the app from the environment, the runtime loop.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{service_fn, LambdaEvent};
use tracing::Instrument;

use crate::http::Function;
use crate::App;

/// Structured JSON logs; `RUST_LOG` sets the level, for all targets or per target
/// (`info`, `warn,seatkeeper=debug`; default `info`).
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(false).without_time())
        .with(log_filter(std::env::var("RUST_LOG").ok().as_deref()))
        .try_init();
}

/// The log filter `RUST_LOG` names; `info` when it is unset or does not parse.
pub fn log_filter(setting: Option<&str>) -> tracing_subscriber::filter::Targets {
    setting.and_then(|s| s.parse().ok()).unwrap_or_else(|| "info".parse().expect("a level"))
}

/// Runs an HTTP function that serves the routes of `function` (one of
/// `handlers::functions`).
///
/// Boxed: the runtime's service stack around the handlers nests deep enough to overflow the
/// compiler's layout queries in an unboxed `main`.
pub fn serve_http(
    function: &'static Function,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), lambda_runtime::Error>>>> {
    Box::pin(serve_http_inner(function))
}

async fn serve_http_inner(function: &'static Function) -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let app = (function.app)().await?;
    let app = &app;
    let name = function.name.unwrap_or("all");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
        let span = tracing::info_span!("invocation", aws_request_id = %event.context.request_id, function = name);
        Ok::<_, std::convert::Infallible>(crate::http::handle(app, function, event.payload).instrument(span).await)
    }))
    .await
}

/// Runs the import function: API Gateway requests for its routes, and S3 `ObjectCreated`
/// events for partner files, told apart by the event's shape. A failed S3 import is returned as
/// an error so Lambda retries it and, in the end, sends it to the dead-letter queue.
pub fn serve_import(
    function: &'static Function,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), lambda_runtime::Error>>>> {
    Box::pin(async move {
        init_tracing();
        let app = (function.app)().await?;
        let app = &app;
        let name = function.name.unwrap_or("all");
        lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
            let span = tracing::info_span!("invocation", aws_request_id = %event.context.request_id, function = name);
            async move {
                if is_s3_event(&event.payload) {
                    let s3: aws_lambda_events::s3::S3Event = serde_json::from_value(event.payload)?;
                    crate::handlers::imports::handle_s3_event(app, s3).await.map_err(|e| {
                        tracing::error!(error = %e, "partner import failed; it will be retried");
                        Box::new(e) as lambda_runtime::Error
                    })?;
                    Ok::<_, lambda_runtime::Error>(serde_json::Value::Null)
                } else {
                    let request: ApiGatewayV2httpRequest = serde_json::from_value(event.payload)?;
                    Ok(serde_json::to_value(crate::http::handle(app, function, request).await)?)
                }
            }
            .instrument(span)
            .await
        }))
        .await
    })
}

fn is_s3_event(payload: &serde_json::Value) -> bool {
    payload["Records"][0]["eventSource"].as_str() == Some("aws:s3")
}

/// A sweep as the schedules run it: the app and "now", its report as JSON. Boxed, so the deep
/// futures of the sweeps do not nest into the runtime's.
pub type Sweep = fn(
    App,
    chrono::DateTime<chrono::Utc>,
) -> futures::future::BoxFuture<'static, Result<serde_json::Value, crate::store::Error>>;

/// Runs a scheduled sweep: "now" is the EventBridge event's `time`, so a replayed event decides
/// the same way. A failed sweep is an error, for the schedule's retry policy and dead-letter queue.
pub fn serve_sweep(
    sweep: Sweep,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), lambda_runtime::Error>>>> {
    Box::pin(async move {
        init_tracing();
        let app = App::from_env().await?;
        let app = &app;
        lambda_runtime::run(service_fn(
            move |event: LambdaEvent<aws_lambda_events::eventbridge::EventBridgeEvent<serde_json::Value>>| async move {
                let now = event.payload.time.ok_or("the scheduled event has no time")?;
                sweep(app.clone(), now).await.map_err(|e| Box::new(e) as lambda_runtime::Error)
            },
        ))
        .await
    })
}

/// Runs the notice publisher on the table's stream (`EVENT_BUS_NAME` names the bus).
pub async fn serve_publisher() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let bus = std::env::var("EVENT_BUS_NAME").map_err(|_| "EVENT_BUS_NAME is not set")?;
    let config = crate::app::sdk_config().await;
    let client = aws_sdk_eventbridge::Client::new(&config);
    let (client, bus) = (&client, bus.as_str());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<aws_lambda_events::dynamodb::Event>| async move {
        Ok::<_, lambda_runtime::Error>(crate::sweeps::publish::publish(client, bus, &event.payload).await)
    }))
    .await
}

/// Runs a function that serves its HTTP routes and one scheduled sweep (the event with
/// `detail-type` and `time`): the renewals forecast and its monthly export, the usage report and
/// its daily snapshot.
pub fn serve_http_and_schedule(
    function: &'static Function,
    sweep: Sweep,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), lambda_runtime::Error>>>> {
    Box::pin(async move {
        init_tracing();
        let app = (function.app)().await?;
        let app = &app;
        lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
            if event.payload.get("detail-type").is_some() {
                let scheduled: aws_lambda_events::eventbridge::EventBridgeEvent<serde_json::Value> =
                    serde_json::from_value(event.payload)?;
                let now = scheduled.time.ok_or("the scheduled event has no time")?;
                return sweep(app.clone(), now).await.map_err(|e| Box::new(e) as lambda_runtime::Error);
            }
            let request: ApiGatewayV2httpRequest = serde_json::from_value(event.payload)?;
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(crate::http::handle(app, function, request).await)?)
        }))
        .await
    })
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn rust_log_sets_the_level_per_target() {
        let f = log_filter(Some("warn,seatkeeper=debug"));
        assert!(f.would_enable("seatkeeper::handlers", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(f.would_enable("aws_smithy_runtime", &Level::WARN));
        let default = log_filter(None);
        assert!(default.would_enable("seatkeeper", &Level::INFO) && !default.would_enable("seatkeeper", &Level::DEBUG));
        assert_eq!(log_filter(Some("=not a filter=")).to_string(), default.to_string());
    }
}
