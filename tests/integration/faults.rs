//! Failure paths DynamoDB Local cannot produce, with a mocked client (aws-smithy-mocks): a
//! transaction that loses to another, throttling, and a condition that keeps failing. The caller
//! gets a retryable 503 or a clear 409, and nothing but the one transaction is ever sent, so an
//! allocation is never half-applied.

use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsError, TransactWriteItemsOutput};
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_dynamodb::types::CancellationReason;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use chrono::{DateTime, Utc};
use seatkeeper::domain::lot::{Lot, LotStatus};
use seatkeeper::domain::org::{Org, OrgKind};
use seatkeeper::store::{Store, StoreError};
use seatkeeper::App;
use seatkeeper_tests::{Answer, Who};
use serde_json::json;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn cancelled(codes: &[&str]) -> TransactWriteItemsError {
    let reasons = codes.iter().map(|c| CancellationReason::builder().code(*c).build()).collect();
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder()
            .message("Transaction cancelled")
            .set_cancellation_reasons(Some(reasons))
            .build(),
    )
}

fn store(client: Client) -> Store {
    Store::new(client, "mocked")
}

fn company() -> Org {
    Org {
        org_id: "c".into(),
        name: "C".into(),
        kind: OrgKind::Company,
        parent_id: Some("p".into()),
        ancestors: vec!["vendor".into(), "p".into()],
        created_at: at("2026-01-01T00:00:00Z"),
        policy: Default::default(),
        version: 1,
    }
}

fn lot() -> Lot {
    Lot {
        lot_id: "lot1".into(),
        org_id: "c".into(),
        order_id: "o1".into(),
        quantity: 10,
        in_use: 0,
        uses: 0,
        uses_per_seat: None,
        valid_from: at("2026-01-15T09:00:00Z"),
        valid_until: Some(at("2027-01-15T09:00:00Z")),
        status: LotStatus::Active,
    }
}

/// The reads an allocation makes, answered from fixtures: the company, no ancestors' policies,
/// one lot of ten, no users yet.
fn reads() -> Vec<Rule> {
    let s = store(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &Vec::<&Rule>::new()));
    let org_item = s.org_item(&company()).unwrap();
    let lot_item = s.lot_item(&lot(), &company()).unwrap();
    vec![
        mock!(Client::get_item)
            .match_requests(|r| {
                r.key().and_then(|k| k.get("SK")).and_then(|v| v.as_s().ok()).is_some_and(|sk| sk == "ORG")
            })
            .then_output(move || GetItemOutput::builder().set_item(Some(org_item.clone())).build()),
        mock!(Client::get_item).then_output(|| GetItemOutput::builder().build()),
        mock!(Client::batch_get_item).then_output(|| BatchGetItemOutput::builder().build()),
        mock!(Client::query).then_output(move || QueryOutput::builder().items(lot_item.clone()).build()),
    ]
}

async fn allocate_with(client: Client) -> Answer {
    let app = App::new(store(client));
    let event = seatkeeper_local::api_event(
        "POST",
        "/v1/orgs/c/allocations",
        &[],
        json!({"emails": ["ann@c.example"], "create_missing": true}).to_string().as_bytes(),
        Some(Who::new("company_manager", "c").claims()),
        at("2026-02-01T00:00:00Z"),
    )
    .unwrap();
    let r = seatkeeper::http::handle(&app, &seatkeeper::handlers::functions::ALL, event).await;
    let body = match r.body {
        Some(aws_lambda_events::encodings::Body::Text(t)) => serde_json::from_str(&t).unwrap(),
        _ => serde_json::Value::Null,
    };
    Answer { status: r.status_code as u16, body, headers: Default::default() }
}

#[tokio::test]
async fn a_failed_condition_names_the_item_that_failed() {
    let rule = mock!(Client::transact_write_items).then_error(|| cancelled(&["None", "ConditionalCheckFailed"]));
    let s = store(mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule]));
    match s.transact(vec![]).await {
        Err(StoreError::ConditionFailed(items)) => assert_eq!(items, vec![1]),
        other => panic!("{other:?}"),
    }
    assert_eq!(rule.num_calls(), 1, "a failed condition is not retried by the store");
}

#[tokio::test]
async fn a_lost_transaction_race_is_tried_again_and_then_succeeds() {
    let rule = mock!(Client::transact_write_items)
        .sequence()
        .error(|| cancelled(&["TransactionConflict", "None"]))
        .times(2)
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let s = store(mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule]));
    assert!(s.transact(vec![]).await.is_ok());
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn an_allocation_that_keeps_losing_races_answers_503_and_writes_nothing_else() {
    let mut rules = reads();
    let tx =
        mock!(Client::transact_write_items).then_error(|| cancelled(&["None", "TransactionConflict", "None", "None"]));
    rules.push(tx.clone());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules.iter());
    let a = allocate_with(client).await;
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (503, Some("unavailable")), "{:?}", a.body);
    // Each attempt of the handler tries the transaction four times (the store's retries), and
    // the handler re-reads and tries again eight times before answering.
    assert_eq!(tx.num_calls(), 36, "every attempt was the same all-or-nothing transaction");
}

#[tokio::test]
async fn a_throttled_allocation_answers_503() {
    use aws_sdk_dynamodb::types::error::ProvisionedThroughputExceededException;
    let mut rules = reads();
    let tx = mock!(Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder().message("slow down").build(),
        )
    });
    rules.push(tx.clone());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules.iter());
    let a = allocate_with(client).await;
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (503, Some("unavailable")), "{:?}", a.body);
    assert!(tx.num_calls() >= 1);
}

#[tokio::test]
async fn a_condition_that_keeps_failing_ends_in_a_clear_409() {
    let mut rules = reads();
    // The lot's seats are taken between every read and write: the handler re-reads and retries,
    // then gives up with a conflict the caller can act on.
    let tx = mock!(Client::transact_write_items)
        .then_error(|| cancelled(&["ConditionalCheckFailed", "None", "None", "None"]));
    rules.push(tx.clone());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules.iter());
    let a = allocate_with(client).await;
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (409, Some("conflict")), "{:?}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("try again"));
    assert_eq!(tx.num_calls(), 9);
}
