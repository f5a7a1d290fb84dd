//! The mailer as a Lambda function: an EventBridge rule on the notice bus invokes it
//! (asynchronously: Lambda retries a failed invocation twice, then the dead-letter queue) with
//! the event the notice publisher put there — `source` `seatkeeper`, `detail-type` the kind,
//! `detail` the notice. A second rule, on the default bus, hands it SES's bounce and complaint
//! events of its configuration set (`source` `aws.ses`, [`super::feedback`]): the mailer is the
//! one that reads suppressions before each send, so it also writes them — one function, one
//! role over the same `ORG#` partitions, one dead-letter queue for everything about mail.

use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

use super::feedback::{self, FeedbackError};
use super::{MailError, Mailer};
use crate::domain::notice::Notice;
use crate::lambda::{Failure, Refused};

/// The notice an event of the notice bus carries; anything else is refused in words.
pub fn notice_of(payload: &Value) -> Result<Notice, Refused> {
    let expected = "expected an EventBridge event from the notice bus (source \"seatkeeper\", detail a notice)";
    if payload["source"].as_str() != Some(crate::sweeps::publish::SOURCE) {
        let source = payload["source"].as_str().unwrap_or("none");
        return Err(Refused(format!("{expected}; this event's source is {source:?}")));
    }
    let notice: Notice = serde_json::from_value(payload["detail"].clone())
        .map_err(|e| Refused(format!("{expected}; its detail is not a notice: {e}")))?;
    match payload["detail-type"].as_str() {
        Some(kind) if kind != notice.kind.as_str() => Err(Refused(format!(
            "{expected}; its detail-type {kind:?} is not its notice's kind {:?}",
            notice.kind.as_str()
        ))),
        _ => Ok(notice),
    }
}

/// One invocation: the notice delivered at `now` (or SES's bounce or complaint recorded); its
/// report, or the failure Lambda retries.
pub async fn handle(mailer: &Mailer, payload: &Value, now: DateTime<Utc>) -> Result<Value, Failure> {
    if feedback::is_ses_event(payload) {
        // Boxed: the two paths' futures nested in one are deeper than the compiler lays out.
        return match Box::pin(feedback::handle(&mailer.store, payload, now)).await {
            Ok(report) => Ok(serde_json::to_value(report).unwrap_or_default()),
            Err(FeedbackError::Refused(r)) => Err(r.into()),
            Err(e) => {
                tracing::error!(error = %e, "an SES report was not recorded; the next delivery goes on");
                Err(Failure { kind: "FeedbackFailed", message: e.to_string() })
            }
        };
    }
    let notice = notice_of(payload)?;
    match mailer.deliver(&notice, now).await {
        Ok(report) => Ok(serde_json::to_value(report).unwrap_or_default()),
        Err(e) => {
            tracing::error!(notice_id = %notice.notice_id, error = %e, "notice mail unfinished; the next delivery goes on");
            let kind = if matches!(e, MailError::Unfinished(_)) { "MailUnfinished" } else { "MailFailed" };
            Err(Failure { kind, message: e.to_string() })
        }
    }
}

/// Runs the mailer under the Lambda runtime.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    crate::lambda::init_tracing();
    let mailer = Mailer::from_env().await?;
    let mailer = &mailer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let span =
            tracing::info_span!("invocation", aws_request_id = %event.context.request_id, function = "notice-mailer");
        // The wall clock, read once here: the guards' leases are about real time.
        handle(mailer, &event.payload, Utc::now()).instrument(span).await
    }))
    .await
}
