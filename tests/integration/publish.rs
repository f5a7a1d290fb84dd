//! The notice publisher: notices from the table's stream to EventBridge (mocked), in order, with
//! a failed entry handed back to Lambda for a retry, and a notice that cannot be published (or
//! read) holding up no other.

use aws_lambda_events::dynamodb::Event;
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_sdk_eventbridge::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use seatkeeper::sweeps::publish::publish;
use serde_json::json;

fn stream_event() -> Event {
    let record = |seq: &str, kind: &str, item_type: &str, event_name: &str| {
        json!({
            "eventID": seq, "eventName": event_name, "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {
                "SequenceNumber": seq, "SizeBytes": 10, "StreamViewType": "NEW_IMAGE", "Keys": {"PK": {"S": "ORG#c"}, "SK": {"S": "x"}},
                "NewImage": {
                    "PK": {"S": "ORG#c"}, "SK": {"S": format!("NOTICE#{seq}")}, "type": {"S": item_type},
                    "notice_id": {"S": format!("ntc_{seq}")}, "kind": {"S": kind}, "org_id": {"S": "c"},
                    "created_at": {"S": "2027-01-12T09:00:00Z"}, "recipients": {"L": [{"S": "boss@c.example"}]},
                    "payload": {"M": {"count": {"N": "10"}}}
                }
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"
        })
    };
    serde_json::from_value(json!({ "Records": [
        record("100", "expiry_reminder", "notice", "INSERT"),
        record("101", "expired", "user", "INSERT"),
        record("102", "expired", "notice", "MODIFY"),
        record("103", "expired", "notice", "INSERT"),
    ]}))
    .unwrap()
}

#[tokio::test]
async fn notices_are_published_in_order_and_nothing_else_is() {
    let ok = mock!(Client::put_events)
        .match_requests(|r| {
            let kinds: Vec<_> =
                r.entries().iter().map(|e| (e.source().unwrap_or(""), e.detail_type().unwrap_or(""))).collect();
            kinds == vec![("seatkeeper", "expiry_reminder"), ("seatkeeper", "expired")]
                && r.entries().iter().all(|e| {
                    e.event_bus_name() == Some("notices") && e.detail().unwrap_or("").contains("\"notice_id\"")
                })
        })
        .then_output(|| PutEventsOutput::builder().failed_entry_count(0).build());
    let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&ok]);
    let response = publish(&client, "notices", &stream_event()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(ok.num_calls(), 1);
}

#[tokio::test]
async fn a_failed_entry_is_handed_back_for_a_retry() {
    let partial = mock!(Client::put_events).then_output(|| {
        PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(PutEventsResultEntry::builder().event_id("e1").build())
            .entries(PutEventsResultEntry::builder().error_code("ThrottlingException").build())
            .build()
    });
    let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&partial]);
    let response = publish(&client, "notices", &stream_event()).await;
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap()).collect();
    assert_eq!(failed, vec!["103".to_string()], "retry from the notice that failed");

    let down = mock!(Client::put_events).then_error(|| PutEventsError::unhandled("service unavailable"));
    let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [&down]);
    let response = publish(&client, "notices", &stream_event()).await;
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap()).collect();
    assert_eq!(failed, vec!["100".to_string(), "103".to_string()], "each notice tried on its own, each failed");
}

/// Twelve notices, one of which EventBridge refuses (its call refused whole, and the notice
/// alone refused again), and a notice record that cannot be read: the other eleven are
/// published, and only the two are handed back.
#[tokio::test]
async fn a_notice_that_cannot_be_published_holds_up_no_other() {
    let record = |seq: u32, notice_id: &str| {
        json!({
            "eventID": seq.to_string(), "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "SequenceNumber": seq.to_string(), "SizeBytes": 10, "StreamViewType": "NEW_IMAGE",
                "Keys": {"PK": {"S": "ORG#c"}, "SK": {"S": "x"}},
                "NewImage": {
                    "PK": {"S": "ORG#c"}, "SK": {"S": format!("NOTICE#{seq}")}, "type": {"S": "notice"},
                    "notice_id": {"S": notice_id}, "kind": {"S": "expired"}, "org_id": {"S": "c"},
                    "created_at": {"S": "2027-01-12T09:00:00Z"}, "recipients": {"L": []}, "payload": {"M": {}}
                }
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"
        })
    };
    let mut records: Vec<_> = (0..12).map(|i| record(200 + i, &format!("ntc_{i}"))).collect();
    records[4] = record(204, "ntc_poison");
    let mut unreadable = record(212, "ntc_unreadable");
    unreadable["dynamodb"]["NewImage"].as_object_mut().unwrap().remove("kind");
    records.push(unreadable);
    let event: Event = serde_json::from_value(json!({ "Records": records })).unwrap();

    let poisoned = |r: &aws_sdk_eventbridge::operation::put_events::PutEventsInput| {
        r.entries().iter().any(|e| e.detail().unwrap_or("").contains("ntc_poison"))
    };
    let refused = mock!(Client::put_events)
        .match_requests(poisoned)
        .then_error(|| PutEventsError::unhandled("ValidationException: an entry is too large"));
    let published = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = published.clone();
    let ok = mock!(Client::put_events)
        .match_requests(move |r| {
            for e in r.entries() {
                let detail: serde_json::Value = serde_json::from_str(e.detail().unwrap()).unwrap();
                seen.lock().unwrap().push(detail["notice_id"].as_str().unwrap().to_string());
            }
            true
        })
        .then_output(|| PutEventsOutput::builder().failed_entry_count(0).build());
    let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [&refused, &ok]);
    let response = publish(&client, "notices", &event).await;
    let mut failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap()).collect();
    failed.sort();
    assert_eq!(failed, vec!["204".to_string(), "212".to_string()]);
    let mut published = published.lock().unwrap().clone();
    published.sort();
    let mut expected: Vec<String> = (0..12).filter(|i| *i != 4).map(|i| format!("ntc_{i}")).collect();
    expected.sort();
    assert_eq!(published, expected, "every other notice was published once");
}

/// Lambda may hand the same stream batch over twice (a retry after a timeout, a duplicate
/// delivery). The events of both deliveries are the same events — same notice ids, kinds, times
/// and details — so the consumer's de-duplication on `notice_id` leaves one e-mail per notice.
#[tokio::test]
async fn a_batch_delivered_twice_publishes_the_same_events_for_consumers_to_deduplicate() {
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = sent.clone();
    let ok = mock!(Client::put_events)
        .match_requests(move |r| {
            seen.lock().unwrap().push(
                r.entries()
                    .iter()
                    .map(|e| {
                        (e.detail_type().unwrap_or("").to_string(), e.time().copied(), e.detail().unwrap().to_string())
                    })
                    .collect::<Vec<_>>(),
            );
            true
        })
        .then_output(|| PutEventsOutput::builder().failed_entry_count(0).build());
    let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [&ok]);
    let event = stream_event();
    for _ in 0..2 {
        assert!(publish(&client, "notices", &event).await.batch_item_failures.is_empty());
    }
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], sent[1], "the second delivery repeats the first exactly");
    let ids: Vec<String> = sent[0]
        .iter()
        .map(|(_, _, detail)| serde_json::from_str::<serde_json::Value>(detail).unwrap()["notice_id"].to_string())
        .collect();
    assert_eq!(ids, vec!["\"ntc_100\"", "\"ntc_103\""]);
}
