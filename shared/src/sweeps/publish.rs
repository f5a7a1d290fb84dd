//! Publishes stored notices as EventBridge events (`source` `seatkeeper`, `detail-type` the
//! kind) so the vendor's platform can send the e-mails. Triggered by the table's stream: a notice
//! is published after it is stored, never instead of it. Each notice is its own unit: one that
//! cannot be published (or read) is logged at ERROR and reported back as a batch item failure,
//! and every other notice of the batch is published all the same — a call refused whole (one
//! entry too large, say) is sent again entry by entry, so only the bad entry fails. Lambda
//! retries from the first failed record on: a notice may be published more than once, never
//! lost, and never stored twice. Consumers de-duplicate on `notice_id`.

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::domain::notice::Notice;

pub const SOURCE: &str = "seatkeeper";
/// PutEvents takes at most ten entries a call.
const ENTRIES_PER_CALL: usize = 10;

/// The notices a stream batch carries, with the sequence number of their record; a notice record
/// that cannot be read comes with why.
pub fn notices(event: &Event) -> Vec<(String, Result<Notice, String>)> {
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
        .map(|r| {
            let notice = serde_dynamo::from_item::<_, Notice>(r.change.new_image.clone())
                .map_err(|e| format!("a notice record that cannot be read: {e}"));
            (r.change.sequence_number.clone().unwrap_or_default(), notice)
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

/// Publishes the notices of a stream batch, ten to a call, each notice on its own: those that
/// could not be published (or read) are reported, each once, for Lambda to retry; the rest are
/// published.
pub async fn publish(client: &aws_sdk_eventbridge::Client, bus: &str, event: &Event) -> DynamoDbEventResponse {
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut readable = Vec::new();
    for (sequence, notice) in notices(event) {
        match notice {
            Ok(notice) => readable.push((sequence, notice)),
            Err(why) => failed.push((sequence, why)),
        }
    }
    for batch in readable.chunks(ENTRIES_PER_CALL) {
        let entries: Vec<_> = batch.iter().map(|(_, n)| entry(bus, n)).collect();
        match client.put_events().set_entries(Some(entries)).send().await {
            Ok(out) if out.failed_entry_count() == 0 => {}
            Ok(out) => {
                for (i, result) in out.entries().iter().enumerate() {
                    if let (Some(code), Some((sequence, _))) = (result.error_code(), batch.get(i)) {
                        let why = format!("{code}: {}", result.error_message().unwrap_or_default());
                        failed.push((sequence.clone(), why));
                    }
                }
            }
            // The call was refused whole: each entry on its own, so only a bad one fails.
            Err(e) => {
                let why = aws_sdk_eventbridge::error::DisplayErrorContext(&e).to_string();
                tracing::warn!(error = %why, entries = batch.len(), "a PutEvents call was refused; its entries are sent one by one");
                for (sequence, notice) in batch {
                    let alone = client.put_events().entries(entry(bus, notice)).send().await;
                    match alone {
                        Ok(out) if out.failed_entry_count() == 0 => {}
                        Ok(out) => {
                            let result = out.entries().first();
                            let code = result.and_then(|r| r.error_code()).unwrap_or("failed");
                            let message = result.and_then(|r| r.error_message()).unwrap_or_default();
                            failed.push((sequence.clone(), format!("{code}: {message}")));
                        }
                        Err(e) => failed
                            .push((sequence.clone(), aws_sdk_eventbridge::error::DisplayErrorContext(&e).to_string())),
                    }
                }
            }
        }
    }
    let mut response = DynamoDbEventResponse::default();
    for (sequence, why) in failed {
        tracing::error!(%sequence, error = %why, "a notice was not published; the stream delivers it again, the others went on");
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence);
        response.batch_item_failures.push(failure);
    }
    response
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::{json, Value};

    use super::*;

    /// A stream record of `event` (INSERT, MODIFY, REMOVE) carrying `image`.
    pub(crate) fn record(sequence: &str, event: &str, image: Value) -> Value {
        json!({
            "eventID": sequence, "eventName": event, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "SequenceNumber": sequence, "SizeBytes": 10, "StreamViewType": "NEW_IMAGE",
                "Keys": {"PK": {"S": "ORG#c"}, "SK": {"S": "x"}}, "NewImage": image
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"
        })
    }

    fn notice(id: &str) -> Value {
        json!({
            "PK": {"S": "ORG#c"}, "SK": {"S": format!("NOTICE#{id}")}, "type": {"S": "notice"},
            "notice_id": {"S": id}, "kind": {"S": "expired"}, "org_id": {"S": "c"},
            "created_at": {"S": "2027-01-12T09:00:00Z"}, "recipients": {"L": []}, "payload": {"M": {}}
        })
    }

    #[test]
    fn a_notice_record_that_cannot_be_read_is_a_failure_and_records_of_other_types_are_skipped() {
        let mut unreadable = notice("ntc_bad");
        unreadable.as_object_mut().unwrap().remove("kind");
        let user = json!({"PK": {"S": "ORG#c"}, "SK": {"S": "USER#a@c.example"}, "type": {"S": "user"}});
        let untyped = json!({"PK": {"S": "ORG#c"}, "SK": {"S": "COUNTERS"}});
        let records = [
            record("1", "INSERT", notice("ntc_ok")),
            record("2", "INSERT", unreadable),
            record("3", "INSERT", user),
            record("4", "INSERT", untyped),
            record("5", "MODIFY", notice("ntc_changed")),
        ];
        let event: Event = serde_json::from_value(json!({ "Records": records })).unwrap();
        let found = notices(&event);
        let seen: Vec<(&str, bool)> = found.iter().map(|(s, n)| (s.as_str(), n.is_ok())).collect();
        assert_eq!(seen, [("1", true), ("2", false)], "only notices stored now; the unreadable one is a failure");
        assert!(found[1].1.as_ref().unwrap_err().contains("cannot be read"), "{:?}", found[1].1);
    }
}
