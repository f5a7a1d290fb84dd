//! The wiring of a function binary: JSON logs, the app from the environment, the runtime loop,
//! and the one entry every trigger goes through.
//!
//! The dispatch rule: a payload with both `requestContext` and `routeKey` is an API Gateway HTTP
//! API (payload 2.0) request; one whose first record has `eventSource` `aws:s3` is an S3
//! notification, `aws:dynamodb` a batch of the table's stream; one with `RequestType`, `ResponseURL` and `StackId` is a CloudFormation custom
//! resource request (the stack's `TableSetup`, `crate::deploy`); any other JSON object is a
//! scheduled event, which must carry its instant in
//! `time` (RFC 3339) — the EventBridge rule's scheduled event, or the EventBridge Scheduler
//! payload the template's `Input` builds from `<aws.scheduler.scheduled-time>`. A function refuses
//! a trigger it does not serve, and a scheduled event naming another sweep in `detail.sweep`.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
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

/// A sweep as the schedules run it: the app and "now", its report as JSON. Boxed, so the deep
/// futures of the sweeps do not nest into the runtime's.
pub type Sweep =
    fn(App, DateTime<Utc>) -> futures::future::BoxFuture<'static, Result<serde_json::Value, crate::store::Error>>;

/// The import of the objects an S3 notification names.
pub type S3Import =
    for<'a> fn(&'a App, aws_lambda_events::s3::S3Event) -> BoxFuture<'a, Result<(), crate::store::Error>>;

/// What a function does with a batch of the table's stream (its event source filters the
/// records): the batch response, naming the records to deliver again.
pub type StreamConsumer = for<'a> fn(
    &'a App,
    aws_lambda_events::dynamodb::Event,
) -> BoxFuture<'a, aws_lambda_events::streams::DynamoDbEventResponse>;

/// The answer to the deployment's `TableSetup` custom resource, at the request's instant.
pub type Deploy = for<'a> fn(&'a App, crate::deploy::Request, DateTime<Utc>) -> BoxFuture<'a, Result<Value, Failure>>;

/// What a failed invocation hands Lambda (for its retries and dead-letter queue): its
/// `errorType` is `Seatkeeper.{kind}`, its `errorMessage` the sentence.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// `Refused` (a payload the function does not take), `ImportFailed`, `SweepFailed`.
    pub kind: &'static str,
    pub message: String,
}

impl From<Refused> for Failure {
    fn from(r: Refused) -> Self {
        Failure { kind: "Refused", message: r.0 }
    }
}

impl From<Failure> for lambda_runtime::Diagnostic {
    fn from(f: Failure) -> Self {
        lambda_runtime::Diagnostic { error_type: format!("Seatkeeper.{}", f.kind), error_message: f.message }
    }
}

/// A function's triggers: the routes it serves, the sweep its schedule runs, whether S3 delivers
/// partner files to it. Each `main` names its own entry, so its binary links only that code.
pub struct Entry {
    /// The function's name, as in the template's `Binary`.
    pub name: &'static str,
    pub http: Option<&'static Function>,
    /// The sweep's name (what the schedule's `detail.sweep` says) and the sweep.
    pub sweep: Option<(&'static str, Sweep)>,
    /// What S3 notifications of partner files go to (a pointer, so only that function links it).
    pub s3: Option<S3Import>,
    /// What batches of the table's stream go to (the import function's: the result files of
    /// partner files committed in the background).
    pub stream: Option<StreamConsumer>,
    /// What the deployment's `TableSetup` custom resource goes to (the tenant-admin function's).
    pub deploy: Option<Deploy>,
    /// How the function builds its app from the environment.
    pub app: fn() -> BoxFuture<'static, Result<App, String>>,
}

/// A trigger, told apart by the payload's shape (the module's dispatch rule).
#[derive(Debug)]
pub enum Trigger {
    Http(Box<ApiGatewayV2httpRequest>),
    S3(aws_lambda_events::s3::S3Event),
    Stream(Box<aws_lambda_events::dynamodb::Event>),
    Deploy(Box<crate::deploy::Request>),
    Schedule { at: DateTime<Utc>, sweep: Option<String> },
}

/// A payload no entry can take, in words that say what was expected.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl Trigger {
    pub fn classify(payload: Value) -> Result<Trigger, Refused> {
        let Some(object) = payload.as_object() else {
            return Err(Refused(format!(
                "expected a JSON object (an API Gateway HTTP API request, an S3 notification or a scheduled event), got {}",
                kind_of(&payload)
            )));
        };
        if object.contains_key("requestContext") && object.contains_key("routeKey") {
            let request = serde_json::from_value(payload)
                .map_err(|e| Refused(format!("not a valid API Gateway HTTP API (payload 2.0) request: {e}")))?;
            return Ok(Trigger::Http(Box::new(request)));
        }
        if payload["Records"][0]["eventSource"].as_str() == Some("aws:s3") {
            let event = serde_json::from_value(payload)
                .map_err(|e| Refused(format!("not a valid S3 event notification: {e}")))?;
            return Ok(Trigger::S3(event));
        }
        if payload["Records"][0]["eventSource"].as_str() == Some("aws:dynamodb") {
            let event = serde_json::from_value(payload)
                .map_err(|e| Refused(format!("not a valid DynamoDB stream event: {e}")))?;
            return Ok(Trigger::Stream(Box::new(event)));
        }
        if ["RequestType", "ResponseURL", "StackId"].iter().all(|k| object.contains_key(*k)) {
            let request = serde_json::from_value(payload)
                .map_err(|e| Refused(format!("not a valid CloudFormation custom resource request: {e}")))?;
            return Ok(Trigger::Deploy(Box::new(request)));
        }
        let at = match object.get("time") {
            Some(Value::String(t)) => DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc)).map_err(|_| {
                Refused(format!(
                    "a scheduled event's \"time\" must be an RFC 3339 instant such as 2027-01-01T06:00:00Z, got {t:?} \
                     (is the schedule's Input filling it from <aws.scheduler.scheduled-time>?)"
                ))
            })?,
            _ => {
                let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
                keys.sort_unstable();
                return Err(Refused(format!(
                    "expected an API Gateway HTTP API request (with requestContext and routeKey), an S3 notification, \
                     or a scheduled event carrying its instant in \"time\" (RFC 3339; the schedule's Input sets it \
                     from <aws.scheduler.scheduled-time>); this payload has {}",
                    if keys.is_empty() {
                        "no fields".to_string()
                    } else {
                        format!("only the fields {}", keys.join(", "))
                    }
                )));
            }
        };
        let sweep = object.get("detail").and_then(|d| d.get("sweep")).and_then(Value::as_str).map(str::to_string);
        Ok(Trigger::Schedule { at, sweep })
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The scheduled event for `sweep` at `at`, as the template's schedules send it (their `Input`
/// with Scheduler's `<aws.scheduler.scheduled-time>` filled in) and the local server builds it.
pub fn scheduled_event(sweep: &str, at: DateTime<Utc>) -> Value {
    serde_json::json!({
        "detail-type": "Scheduled Event",
        "source": "seatkeeper.schedule",
        "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "detail": { "sweep": sweep },
    })
}

/// One invocation of `entry`: the payload classified, then handed to the routes, the S3 import
/// or the sweep. What it answers is what the function returns to Lambda.
pub async fn invoke(app: &App, entry: &Entry, payload: Value) -> Result<Value, Failure> {
    let trigger = Trigger::classify(payload)?;
    match trigger {
        Trigger::Http(request) => {
            let function = entry.http.ok_or_else(|| refused(entry, "an API Gateway request"))?;
            let response = crate::http::handle(app, function, *request).await;
            Ok(serde_json::to_value(response).expect("a response serialises"))
        }
        Trigger::S3(event) => {
            let import = entry.s3.ok_or_else(|| refused(entry, "an S3 notification"))?;
            import(app, event).await.map_err(|e| {
                tracing::error!(error = %e, "partner import failed; it will be retried");
                Failure { kind: "ImportFailed", message: e.to_string() }
            })?;
            Ok(Value::Null)
        }
        Trigger::Stream(event) => {
            let consume = entry.stream.ok_or_else(|| refused(entry, "a batch of the table's stream"))?;
            Ok(serde_json::to_value(consume(app, *event).await).expect("a batch response serialises"))
        }
        Trigger::Deploy(request) => {
            let deploy = entry.deploy.ok_or_else(|| refused(entry, "a CloudFormation custom resource request"))?;
            deploy(app, *request, Utc::now()).await
        }
        Trigger::Schedule { at, sweep: named } => {
            let (name, sweep) = entry.sweep.ok_or_else(|| refused(entry, "a scheduled event"))?;
            if let Some(named) = named.filter(|n| n != name) {
                return Err(Refused(format!(
                    "this scheduled event is for the {named:?} sweep; the {} function runs the {name:?} sweep",
                    entry.name
                ))
                .into());
            }
            sweep(app.clone(), at).await.map_err(|e| {
                tracing::error!(error = %e, sweep = name, "sweep failed; the schedule will retry it");
                Failure { kind: "SweepFailed", message: e.to_string() }
            })
        }
    }
}

fn refused(entry: &Entry, what: &str) -> Failure {
    let mut serves = Vec::new();
    if entry.http.is_some() {
        serves.push("API Gateway requests".to_string());
    }
    if entry.s3.is_some() {
        serves.push("S3 notifications".to_string());
    }
    if entry.stream.is_some() {
        serves.push("the table's stream".to_string());
    }
    if entry.deploy.is_some() {
        serves.push("the TableSetup custom resource".to_string());
    }
    if let Some((name, _)) = entry.sweep {
        serves.push(format!("the {name} schedule"));
    }
    Refused(format!("the {} function serves {}, not {what}", entry.name, serves.join(" and "))).into()
}

/// Runs the function of `entry` under the Lambda runtime.
///
/// Boxed: the runtime's service stack around the handlers nests deep enough to overflow the
/// compiler's layout queries in an unboxed `main`.
pub fn serve(
    entry: &'static Entry,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), lambda_runtime::Error>>>> {
    Box::pin(async move {
        init_tracing();
        let app = (entry.app)().await?;
        let app = &app;
        lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
            let span =
                tracing::info_span!("invocation", aws_request_id = %event.context.request_id, function = entry.name);
            invoke(app, entry, event.payload).instrument(span).await
        }))
        .await
    })
}

/// Runs the notice publisher on the table's stream (`EVENT_BUS_NAME` names the bus).
pub async fn serve_publisher() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let bus = std::env::var("EVENT_BUS_NAME").map_err(|_| "EVENT_BUS_NAME is not set")?;
    let config = crate::app::sdk_config().await;
    let client = crate::app::eventbridge_client(&config);
    let (client, bus) = (&client, bus.as_str());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<aws_lambda_events::dynamodb::Event>| async move {
        Ok::<_, lambda_runtime::Error>(crate::sweeps::publish::publish(client, bus, &event.payload).await)
    }))
    .await
}

/// Every function's entry, as its `main` serves it.
pub mod entries {
    use futures::future::BoxFuture;

    use super::Entry;
    use crate::handlers::functions as f;
    use crate::{sweeps, App};

    fn table() -> BoxFuture<'static, Result<App, String>> {
        Box::pin(App::from_env())
    }

    fn table_and_bucket() -> BoxFuture<'static, Result<App, String>> {
        Box::pin(App::from_env_with_bucket())
    }

    const fn http(name: &'static str, function: &'static crate::http::Function) -> Entry {
        Entry { name, http: Some(function), sweep: None, s3: None, stream: None, deploy: None, app: table }
    }

    /// The tenant-admin function also answers the deployment's `TableSetup` custom resource.
    pub const TENANT_ADMIN: Entry = Entry {
        deploy: Some(|app, request, now| Box::pin(crate::deploy::handle(app, request, now))),
        ..http("tenant-admin", &f::TENANT_ADMIN)
    };
    pub const REQUEST_ORDER: Entry = http("request-order", &f::REQUEST_ORDER);
    pub const ASSIGN_ORDER: Entry = http("assign-order", &f::ASSIGN_ORDER);
    pub const USERS: Entry = http("users", &f::USERS);
    pub const ALLOCATE: Entry = http("allocate", &f::ALLOCATE);
    pub const IMPORT_ALLOCATION: Entry = Entry {
        name: "import-allocation",
        http: Some(&f::IMPORT_ALLOCATION),
        sweep: None,
        deploy: None,
        s3: Some(|app, event| {
            Box::pin(async move { crate::imports::s3::handle_s3_event(app, event).await.map(|_| ()) })
        }),
        stream: Some(|app, event| Box::pin(async move { crate::imports::s3::results_from_stream(app, &event).await })),
        app: table_and_bucket,
    };
    pub const EXPIRE: Entry = Entry {
        name: "expire",
        http: None,
        sweep: Some(("expire", sweeps::EXPIRE)),
        s3: None,
        stream: None,
        deploy: None,
        app: table,
    };
    pub const RENEWAL_SWEEP: Entry = Entry {
        name: "renewal-sweep",
        http: None,
        sweep: Some(("renewal", sweeps::RENEWAL)),
        s3: None,
        stream: None,
        deploy: None,
        app: table,
    };
    pub const RENEWALS: Entry = Entry {
        name: "renewals",
        http: Some(&f::RENEWALS),
        sweep: Some(("forecast", sweeps::FORECAST)),
        s3: None,
        stream: None,
        deploy: None,
        app: table_and_bucket,
    };
    /// The job runner: the table's stream (filtered to background commits by the event source)
    /// into [`crate::imports::jobs::run_stream`], and its schedule, the lease sweep.
    pub const JOB_RUNNER: Entry = Entry {
        name: "job-runner",
        http: None,
        sweep: Some(("leases", sweeps::LEASES)),
        s3: None,
        stream: Some(|app, event| Box::pin(async move { crate::imports::jobs::run_stream(app, &event).await })),
        deploy: None,
        app: table,
    };
    pub const USAGE_REPORT: Entry = Entry {
        name: "usage-report",
        http: Some(&f::USAGE_REPORT),
        sweep: Some(("snapshot", sweeps::SNAPSHOT)),
        s3: None,
        stream: None,
        deploy: None,
        app: table,
    };

    /// Every entry (the local server's view; a function's binary names only its own).
    pub const EACH: &[&Entry] = &[
        &TENANT_ADMIN,
        &REQUEST_ORDER,
        &ASSIGN_ORDER,
        &USERS,
        &ALLOCATE,
        &IMPORT_ALLOCATION,
        &EXPIRE,
        &RENEWAL_SWEEP,
        &RENEWALS,
        &USAGE_REPORT,
        &JOB_RUNNER,
    ];

    /// The entry of the function named `name` (the template's `Binary`).
    pub fn named(name: &str) -> Option<&'static Entry> {
        EACH.iter().copied().find(|e| e.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::{log_filter, scheduled_event, Trigger};
    use chrono::TimeZone;
    use serde_json::json;
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

    #[test]
    fn a_scheduled_event_is_read_for_its_instant_and_sweep() {
        let at = chrono::Utc.with_ymd_and_hms(2027, 1, 1, 6, 0, 0).unwrap();
        match Trigger::classify(scheduled_event("forecast", at)).unwrap() {
            Trigger::Schedule { at: got, sweep } => assert_eq!((got, sweep.as_deref()), (at, Some("forecast"))),
            other => panic!("{other:?}"),
        }
        // An EventBridge rule's scheduled event: `time`, an empty detail.
        let rule = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2015-10-08T16:53:06Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-schedule"], "detail": {}});
        assert!(matches!(Trigger::classify(rule).unwrap(), Trigger::Schedule { sweep: None, .. }));
    }

    #[test]
    fn a_payload_without_an_instant_is_refused_in_words() {
        let e = Trigger::classify(json!({})).unwrap_err().to_string();
        assert!(
            e.contains("\"time\"") && e.contains("<aws.scheduler.scheduled-time>") && e.contains("no fields"),
            "{e}"
        );
        let e = Trigger::classify(json!({"detail-type": "Scheduled Event", "detail": {}})).unwrap_err().to_string();
        assert!(e.contains("only the fields detail, detail-type"), "{e}");
        let e = Trigger::classify(json!({"time": "<aws.scheduler.scheduled-time>"})).unwrap_err().to_string();
        assert!(e.contains("RFC 3339") && e.contains("Input"), "{e}");
        assert!(Trigger::classify(json!([1])).unwrap_err().to_string().contains("an array"));
        // `requestContext` alone is not an HTTP request: only with `routeKey`.
        let e = Trigger::classify(json!({"requestContext": {}})).unwrap_err().to_string();
        assert!(e.contains("only the fields requestContext"), "{e}");
    }
}
