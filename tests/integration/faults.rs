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
use seatkeeper::domain::lot::Lot;
use seatkeeper::domain::org::{Org, OrgKind};
use seatkeeper::store::{Store, StoreError};
use seatkeeper::App;
use seatkeeper_tests::{at, cm, Answer, Call};
use serde_json::json;

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
        runs_open_ended: false,
        contacts: Vec::new(),
    }
}

fn lot() -> Lot {
    Lot::new(("lot1".into(), "c".into(), "o1".into()), 10, at("2026-01-15T09:00:00Z"), Some(at("2027-01-15T09:00:00Z")))
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
    let body = json!({"emails": ["ann@c.example"], "create_missing": true});
    Call::new(&app, "POST", "/v1/orgs/c/allocations").by(&cm("c")).json(body).at("2026-02-01T00:00:00Z").send().await
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
    // A conflict with another transaction is sent again by the store under the retry policy,
    // and never again by the handler around it: retries do not nest. A write has as many
    // attempts as its pauses allow within its budget, fewer when transactions are slow (their
    // pauses longer): this process's other tests set how slow.
    use seatkeeper::command::Policy;
    let budget = seatkeeper::store::WRITE_RETRY_BUDGET;
    let most = Policy::DEFAULT.within(budget).attempts as usize;
    let least = Policy::DEFAULT.at_least(Policy::MAX_TYPICAL).within(budget).attempts as usize;
    assert!(least > Policy::DEFAULT.attempts as usize, "a write tries more than eight times");
    let sent = tx.num_calls();
    assert!((least..=most).contains(&sent), "{sent} attempts of the same transaction, not {least}..={most}");
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
    assert_eq!(tx.num_calls(), seatkeeper::command::Policy::DEFAULT.attempts as usize, "decided again each time");
}

// ---- S3 GetObject failures of a partner import -------------------------------------------------

use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use seatkeeper::domain::import::{Batch, ImportStatus};
use seatkeeper_tests::{TestEnv, ASSIGNED};

const S3_AT: &str = "2026-02-01T10:00:00Z";
const S3_KEY: &str = "imports/c/renewals.csv";
const S3_CSV: &[u8] = b"email\nann@c.example\nbob@c.example\n";

/// An S3 client answered by `rules` (the SDK's own retries off: one delivery, one `GetObject`).
/// Built by hand: `mock_client!` needs the S3 crate's `test-util` feature.
fn s3_client(rules: &[&Rule]) -> aws_sdk_s3::Client {
    let mut interceptor = aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "test"))
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .interceptor(interceptor)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn s3_error(code: &str, message: &str) -> Option<String> {
    Some(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>r1</RequestId></Error>"
    ))
}

fn the_file() -> GetObjectOutput {
    GetObjectOutput::builder()
        .content_length(S3_CSV.len() as i64)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(S3_CSV))
        .build()
}

/// Company `c` with five licences and two learners, on DynamoDB Local, reading its partner files
/// through an S3 client answered by `rules`.
async fn s3_company(rules: &[&Rule]) -> (TestEnv, App) {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 5, ASSIGNED, "p", ASSIGNED).await;
    env.users("c", ["ann@c.example", "bob@c.example"]).await;
    let imports = seatkeeper::app::ImportsBucket { client: s3_client(rules), bucket: "imports".into() };
    let app = env.app.clone().with_imports(imports);
    (env, app)
}

async fn deliver(app: &App) -> Result<Vec<Batch>, seatkeeper::store::Error> {
    let event = seatkeeper_local::s3_event("imports", S3_KEY, Some("\"e1\""), Some("v1"), S3_AT.parse().unwrap());
    seatkeeper::imports::s3::handle_s3_event(app, event).await
}

async fn stored_imports(env: &TestEnv) -> usize {
    env.count("ORG#c", "import").await
}

async fn licence_counts(env: &TestEnv) -> Vec<u32> {
    let users = env.app.store.all_users("c").await.unwrap();
    let mut counts: Vec<(String, u32)> = users.into_values().map(|u| (u.email, u.licence_count)).collect();
    counts.sort();
    counts.into_iter().map(|(_, n)| n).collect()
}

/// The first delivery's read of the file fails as `get` says and is handed back for a retry,
/// storing nothing; the second imports the file; a third changes nothing.
async fn retried_then_imported_once(get: Rule, what: &str) {
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.key() == Some("results/c/renewals.json"))
        .then_output(|| PutObjectOutput::builder().build());
    let (env, app) = s3_company(&[&get, &put]).await;

    match deliver(&app).await {
        Err(seatkeeper::store::Error::Store(StoreError::Retryable(why))) => {
            assert!(why.contains("imports/c/renewals.csv"), "{what}: {why}")
        }
        other => panic!("{what}: a transient failure is retried, not {other:?}"),
    }
    assert_eq!(stored_imports(&env).await, 0, "{what}: nothing final is stored");
    assert_eq!(put.num_calls(), 0, "{what}: no result is written");

    let answers = deliver(&app).await.unwrap();
    assert_eq!(answers.len(), 1);
    let record = &answers[0];
    assert_eq!(record.status, ImportStatus::Committed, "{what}: {:?}", record.error);
    assert_eq!((record.allocated, record.summary.renew), (2, 2));
    assert_eq!(licence_counts(&env).await, vec![1, 1], "{what}: every row licensed once");

    // A third delivery finds the import done and changes nothing.
    let again = deliver(&app).await.unwrap();
    assert_eq!(again, answers);
    assert_eq!((get.num_calls(), put.num_calls()), (2, 2));
    assert_eq!(stored_imports(&env).await, 1);
    assert_eq!(licence_counts(&env).await, vec![1, 1], "{what}: imported once");
}

#[tokio::test]
async fn a_throttled_or_failing_get_object_is_retried_and_the_next_delivery_imports_the_file() {
    for (status, code) in [(503, "SlowDown"), (500, "InternalError"), (503, "ServiceUnavailable")] {
        let get = mock!(aws_sdk_s3::Client::get_object)
            .match_requests(|r| r.bucket() == Some("imports") && r.key() == Some(S3_KEY))
            .sequence()
            .http_status(status, s3_error(code, "Please reduce your request rate."))
            .output(the_file)
            .build();
        retried_then_imported_once(get, code).await;
    }
}

#[tokio::test]
async fn a_connection_dropped_while_reading_the_file_is_retried() {
    let broken = || {
        GetObjectOutput::builder()
            .content_length(S3_CSV.len() as i64)
            .body(aws_sdk_s3::primitives::ByteStream::new(aws_sdk_s3::primitives::SdkBody::taken()))
            .build()
    };
    let get = mock!(aws_sdk_s3::Client::get_object).sequence().output(broken).output(the_file).build();
    retried_then_imported_once(get, "a dropped body").await;
}

/// Company `c` (see [`s3_company`]) whose every read of the partner file is answered `status`
/// with an S3 error `code`; the `GetObject` rule counts them.
async fn failing_for_good(status: u16, code: &str, message: &str) -> (TestEnv, App, Rule) {
    let get = mock!(aws_sdk_s3::Client::get_object)
        .sequence()
        .http_status(status, s3_error(code, message))
        .repeatedly()
        .build();
    let put = mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build());
    let (env, app) = s3_company(&[&get, &put]).await;
    (env, app, get)
}

#[tokio::test]
async fn a_missing_object_fails_the_import_for_good_with_its_reason() {
    let (env, app, get) = failing_for_good(404, "NoSuchKey", "The specified key does not exist.").await;
    let answers = deliver(&app).await.unwrap();
    let record = &answers[0];
    assert_eq!(record.status, ImportStatus::Failed);
    let why = record.error.as_deref().unwrap_or_default();
    assert!(why.contains("NoSuchKey") && why.contains("does not exist"), "{why}");
    assert_eq!(licence_counts(&env).await, vec![0, 0]);
    // Stored failed: the next delivery does not read the object again.
    assert_eq!(deliver(&app).await.unwrap(), answers);
    assert_eq!((get.num_calls(), stored_imports(&env).await), (1, 1));
}

#[tokio::test]
async fn a_refused_read_fails_the_import_for_good() {
    let (env, app, get) = failing_for_good(403, "AccessDenied", "Access Denied").await;
    let answers = deliver(&app).await.unwrap();
    let record = &answers[0];
    assert_eq!(record.status, ImportStatus::Failed);
    assert!(record.error.as_deref().unwrap_or_default().contains("AccessDenied"), "{:?}", record.error);
    assert_eq!(licence_counts(&env).await, vec![0, 0]);
    assert_eq!(deliver(&app).await.unwrap(), answers);
    assert_eq!((get.num_calls(), stored_imports(&env).await), (1, 1));
}

// ---- The one retry policy, against DynamoDB Local with injected faults --------------------------

use seatkeeper::command::Policy;
use seatkeeper_tests::{Faults, RequestLog};

/// Six items of one partition, and the same table through a client with `faults`, logging
/// every request it sends.
async fn six_items_through(faults: &Faults) -> (TestEnv, RequestLog, Vec<(String, &'static str)>) {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let env = TestEnv::new().await;
    const SKS: [&str; 6] = ["0", "1", "2", "3", "4", "5"];
    let items = SKS
        .iter()
        .map(|sk| {
            [("PK", "FAULT#batch"), ("SK", sk), ("type", "fault")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), S(v.to_string())))
                .collect()
        })
        .collect();
    env.write_items(items).await;
    let log = RequestLog::default();
    let faulty = env.through(|b| b.interceptor(faults.clone()).interceptor(log.clone())).await;
    (faulty, log, SKS.iter().map(|sk| ("FAULT#batch".to_string(), *sk)).collect())
}

#[derive(serde::Deserialize)]
struct Keyed {
    #[serde(rename = "SK")]
    sk: String,
}

#[tokio::test]
async fn unprocessed_batch_keys_are_asked_for_again_until_every_item_is_read() {
    let (env, log, keys) = six_items_through(&Faults::new(2, 0)).await;
    let found: Vec<Keyed> = env.app.store.get_many(keys).await.unwrap();
    let mut sks: Vec<String> = found.into_iter().map(|k| k.sk).collect();
    sks.sort();
    assert_eq!(sks, ["0", "1", "2", "3", "4", "5"], "every item once, whatever answer it came in");
    assert_eq!(log.take(), ["BatchGetItem"; 3], "two answers left keys unprocessed, the third read the rest");
}

#[tokio::test]
async fn batch_keys_left_unprocessed_on_every_attempt_fail_as_throttling_after_the_policys_attempts() {
    let (env, log, keys) = six_items_through(&Faults::new(usize::MAX, 0)).await;
    match env.app.store.get_many::<Keyed>(keys).await {
        Err(StoreError::Throttled(why)) => assert!(why.contains("unprocessed"), "{why}"),
        other => panic!("throttled, not {:?}", other.map(|f| f.len())),
    }
    assert_eq!(log.take().len(), Policy::DEFAULT.attempts as usize, "the policy's attempts, no more");
}

#[tokio::test]
async fn an_allocation_whose_transaction_loses_its_race_is_decided_again_and_licenses_each_user_once() {
    let env = TestEnv::new().await;
    env.company_with_lot(5).await;
    let log = RequestLog::default();
    let faulty = env.through(|b| b.interceptor(Faults::new(0, 2)).interceptor(log.clone())).await;
    let body = json!({"emails": ["ann@c.example", "bob@c.example"], "create_missing": true});
    let a = faulty.allocate("c", body, "2026-02-01T10:00:00Z").await;
    assert_eq!((a.status, &a.body["allocated"]), (200, &json!(2)), "{:?}", a.body);
    let transactions = log.take().into_iter().filter(|op| op == "TransactWriteItems").count();
    assert_eq!(transactions, 3, "two lost races (each decided again on fresh reads), then the one that won");
    assert_eq!(licence_counts(&env).await, vec![1, 1], "each learner licensed once");
    let lots = env.lots("c", "2026-02-01T10:00:00Z").await;
    assert_eq!(lots[0]["in_use"], 2, "two seats taken, once: {lots:?}");
}
