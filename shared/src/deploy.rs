//! The deployment's own step: the stack's `TableSetup` custom resource (`infra/template.yaml`).
//! CloudFormation invokes the tenant-admin function with it once the table exists — when the
//! stack is created, at the update that first adds the resource (a stack deployed before it), and
//! when its properties change — and the function sets the table up ([`Store::set_up`]: the
//! vendor root, and a case guard for every org) and answers at the request's pre-signed
//! `ResponseURL`. `SUCCESS` lets the deployment go on; `FAILED`, with the reason, stops it and
//! rolls it back: a table whose `ORG#vendor` holds another org stops the deployment, saying so in
//! the stack's events. A `Delete` answers `SUCCESS` and changes nothing (the table is retained).
//!
//! [`Store::set_up`]: crate::store::Store::set_up

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::cloudformation::{
    CloudFormationCustomResourceRequest, CloudFormationCustomResourceResponse,
    CloudFormationCustomResourceResponseStatus as Status,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::lambda::Failure;
use crate::App;

/// A CloudFormation custom resource request, as Lambda receives it.
pub type Request = CloudFormationCustomResourceRequest;

/// How long CloudFormation's `ResponseURL` may take to take the answer.
pub const ANSWER_BUDGET: Duration = Duration::from_secs(10);

/// CloudFormation takes an answer of at most 4,096 bytes; the reason is cut well below that.
const MAX_REASON: usize = 2_000;

/// The answer's fields that come from the request.
struct Asked {
    request_id: String,
    response_url: String,
    stack_id: String,
    logical_resource_id: String,
    physical_resource_id: Option<String>,
    set_up: bool,
}

impl Asked {
    fn of(request: Request) -> Result<Asked, Failure> {
        Ok(match request {
            CloudFormationCustomResourceRequest::Create(r) => Asked {
                request_id: r.request_id,
                response_url: r.response_url,
                stack_id: r.stack_id,
                logical_resource_id: r.logical_resource_id,
                physical_resource_id: None,
                set_up: true,
            },
            CloudFormationCustomResourceRequest::Update(r) => Asked {
                request_id: r.request_id,
                response_url: r.response_url,
                stack_id: r.stack_id,
                logical_resource_id: r.logical_resource_id,
                physical_resource_id: Some(r.physical_resource_id),
                set_up: true,
            },
            CloudFormationCustomResourceRequest::Delete(r) => Asked {
                request_id: r.request_id,
                response_url: r.response_url,
                stack_id: r.stack_id,
                logical_resource_id: r.logical_resource_id,
                physical_resource_id: Some(r.physical_resource_id),
                set_up: false,
            },
            _ => {
                return Err(Failure {
                    kind: "Refused",
                    message: "a custom resource request is a Create, an Update or a Delete".into(),
                })
            }
        })
    }
}

/// Handles one `TableSetup` request at `now`: sets the table up (or, for a `Delete`, nothing),
/// answers CloudFormation at its `ResponseURL`, and returns that answer. The invocation fails
/// (and Lambda tries it again; the setup changes nothing twice) only when the answer could not
/// be delivered.
pub async fn handle(app: &App, request: Request, now: DateTime<Utc>) -> Result<Value, Failure> {
    let asked = Asked::of(request)?;
    let mut answer = CloudFormationCustomResourceResponse::default();
    answer.physical_resource_id =
        asked.physical_resource_id.clone().unwrap_or_else(|| format!("{}-setup", app.store.table));
    answer.stack_id = asked.stack_id.clone();
    answer.request_id = asked.request_id.clone();
    answer.logical_resource_id = asked.logical_resource_id.clone();
    answer.status = Status::Success;
    if asked.set_up {
        match app.store.set_up(now).await {
            Ok(done) => {
                tracing::info!(vendor_written = done.vendor_written, guarded = done.guarded, "the table is set up");
                answer.data = HashMap::from([
                    ("VendorWritten".to_string(), done.vendor_written.to_string()),
                    ("OrgsGuarded".to_string(), done.guarded.to_string()),
                    ("CaseClashes".to_string(), done.case_clashes.len().to_string()),
                    ("RunsKeptOpenEnded".to_string(), done.runs_open_ended.to_string()),
                    ("CompaniesCounted".to_string(), done.users_counted.to_string()),
                    ("NotifyEmailsMoved".to_string(), done.notify_emails_moved.to_string()),
                    ("LotsIndexed".to_string(), done.lots_indexed.to_string()),
                    ("EnrolmentsIndexed".to_string(), done.enrolments_indexed.to_string()),
                ]);
            }
            Err(e) => {
                tracing::error!(error = %e, "the table setup failed: the deployment stops");
                answer.status = Status::Failed;
                answer.reason = Some(e.to_string().chars().take(MAX_REASON).collect());
            }
        }
    }
    let body = serde_json::to_vec(&answer).map_err(|e| failure(format!("the answer does not serialise: {e}")))?;
    put_answer(&asked.response_url, body).await?;
    Ok(serde_json::to_value(&answer).unwrap_or_default())
}

fn failure(message: String) -> Failure {
    Failure { kind: "SetupUnanswered", message }
}

/// PUTs `body` to CloudFormation's pre-signed `url` through the HTTPS stack every AWS client
/// here uses (hyper 1, rustls with ring). The URL is signed for no `Content-Type`, so none is
/// sent.
async fn put_answer(url: &str, body: Vec<u8>) -> Result<(), Failure> {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    use aws_smithy_runtime_api::client::http::HttpConnector;
    let connector =
        aws_smithy_http_client::Connector::builder().tls_provider(Provider::Rustls(CryptoMode::Ring)).build();
    let length = body.len();
    let mut request = aws_smithy_runtime_api::http::Request::new(aws_smithy_types::body::SdkBody::from(body));
    request.set_method("PUT").map_err(|e| failure(format!("the answer's method: {e}")))?;
    request.set_uri(url).map_err(|e| failure(format!("CloudFormation's ResponseURL is not a URL: {e}")))?;
    request.headers_mut().insert("content-length", length.to_string());
    let sent = tokio::time::timeout(ANSWER_BUDGET, connector.call(request))
        .await
        .map_err(|_| failure(format!("CloudFormation's ResponseURL did not answer within {ANSWER_BUDGET:?}")))?
        .map_err(|e| failure(format!("the answer to CloudFormation was not delivered: {e:?}")))?;
    let status = sent.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(failure(format!("CloudFormation's ResponseURL answered {status}")));
    }
    Ok(())
}
