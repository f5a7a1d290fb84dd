//! Publishes stored notices as EventBridge events (`source` `seatkeeper`, `detail-type` the
//! kind) so the vendor's platform can send the e-mails. Triggered by the table's stream: a notice
//! is published after it is stored, never instead of it. A failed entry is reported back as a
//! batch item failure, so Lambda retries from that record on: a notice may be published more
//! than once, never lost, and never stored twice. Consumers de-duplicate on `notice_id`.

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::domain::notice::Notice;

pub const SOURCE: &str = "seatkeeper";
/// PutEvents takes at most ten entries a call.
const ENTRIES_PER_CALL: usize = 10;

/// The notices a stream batch carries, with the sequence number of their record.
pub fn notices(event: &Event) -> Vec<(String, Notice)> {
    event
        .records
        .iter()
        .filter(|r| r.event_name == "INSERT")
        .filter(|r| {
            r.change
                .new_image
                .get("type")
                .is_some_and(|t| matches!(t, serde_dynamo::AttributeValue::S(s) if s == "notice"))
        })
        .filter_map(|r| {
            let notice: Notice = serde_dynamo::from_item(r.change.new_image.clone()).ok()?;
            Some((r.change.sequence_number.clone().unwrap_or_default(), notice))
        })
        .collect()
}

fn entry(bus: &str, notice: &Notice) -> PutEventsRequestEntry {
    let kind = serde_json::to_value(notice.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(SOURCE)
        .detail_type(kind)
        .detail(serde_json::to_string(notice).unwrap_or_default())
        .time(aws_sdk_eventbridge::primitives::DateTime::from_millis(notice.created_at.timestamp_millis()))
        .build()
}

/// Publishes the notices of a stream batch in order; the first that could not be published is
/// reported (with everything after it) for Lambda to retry.
pub async fn publish(client: &aws_sdk_eventbridge::Client, bus: &str, event: &Event) -> DynamoDbEventResponse {
    let notices = notices(event);
    let mut response = DynamoDbEventResponse::default();
    for batch in notices.chunks(ENTRIES_PER_CALL) {
        let entries: Vec<_> = batch.iter().map(|(_, n)| entry(bus, n)).collect();
        let first_failed = match client.put_events().set_entries(Some(entries)).send().await {
            Ok(out) if out.failed_entry_count() == 0 => None,
            Ok(out) => out.entries().iter().position(|e| e.error_code().is_some()).or(Some(0)),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_eventbridge::error::DisplayErrorContext(&e), "publishing notices failed");
                Some(0)
            }
        };
        if let Some(i) = first_failed {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(batch[i].0.clone());
            response.batch_item_failures.push(failure);
            return response;
        }
    }
    response
}
