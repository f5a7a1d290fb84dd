//! The long paths of an allocation and an import commit: answers kept by reference under an
//! `Idempotency-Key`, one audit entry written by the step that finishes the command, a sync's
//! release retried after a lost race, nothing created before the whole allocation goes through,
//! no rows left behind by a review whose record was not written, a commit resumed from its
//! checkpoint, and a commit left `committing` finished by the lease sweep.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use seatkeeper::domain::auth::{Principal, Role};
use seatkeeper_tests::{at, cm, RequestLog, TestEnv, ASSIGNED, WRITE_OPERATIONS};
use serde_json::{json, Value};

/// Every licence of `org` with `status` at `now`, page by page.
async fn licences(env: &TestEnv, org: &str, status: &str, now: &str) -> Vec<Value> {
    let pages = env.pages(&format!("/v1/orgs/{org}/licences?status={status}&limit=500"), &cm(org), now).await;
    pages.iter().flat_map(|a| a.body["items"].as_array().unwrap().iter().cloned()).collect()
}

/// The audit entries of `org` with `action`.
async fn audit(env: &TestEnv, org: &str, action: &str, now: &str) -> Vec<Value> {
    let pages = env.pages(&format!("/v1/orgs/{org}/audit?limit=100"), &cm(org), now).await;
    pages
        .iter()
        .flat_map(|a| a.body["items"].as_array().unwrap().iter().cloned())
        .filter(|e| e["action"] == action)
        .collect()
}

/// The app of `env` with commits of more than `rows` licences going to the background.
fn background_after(env: &TestEnv, rows: u64) -> seatkeeper::App {
    let mut app = env.app.clone();
    app.background_rows = rows;
    app
}

/// Defect: the whole answer of 10,000 e-mails was stored under the key (more than one item
/// holds), so the request failed. It is stored by reference to the job, and the retry answers
/// the same, row for row.
#[tokio::test]
async fn ten_thousand_emails_under_a_key_are_answered_and_replayed_the_same() {
    let env = TestEnv::new().await;
    env.company_with_lot(200).await;
    env.seed_licensed("c", "u", 150, "2026-06-01T00:00:00Z").await;
    let now = "2026-07-01T00:00:00Z";
    let mut emails: Vec<String> = (0..150).map(|i| format!("u{i}@c.example")).collect();
    emails.extend((0..9_850).map(|i| format!("someone-not-known-{i:05}@c.example")));
    let body = json!({ "emails": emails });
    let first = env.allocation("c").json(body.clone()).key("ten-thousand").at(now).send().await;
    assert_eq!((first.status, first.body["allocated"].as_u64()), (200, Some(150)), "{:?}", first.body["error"]);
    assert_eq!(first.body["results"].as_array().unwrap().len(), 10_000);
    assert!(first.body.to_string().len() > 400 * 1024, "the answer is larger than one item");

    let again = env.allocation("c").json(body).key("ten-thousand").at(now).send().await;
    assert_eq!(again.status, 200, "{:?}", again.body["error"]);
    assert_eq!(again.headers.get("idempotent-replayed").map(String::as_str), Some("true"));
    assert_eq!(again.body, first.body, "the replay answers the same");
    assert_eq!(env.lots("c", now).await[0]["in_use"], 150, "nobody licensed twice");
}

/// Defect: a large allocation's audit entry was a write of its own after the commit (lost after
/// a crash between the two) beside the import's `import.committed`. One entry, written by the
/// transaction that finishes the job: nothing is written after it.
#[tokio::test]
async fn a_large_allocation_has_one_audit_entry_written_with_its_finish() {
    let env = TestEnv::new().await;
    env.company_with_lot(150).await;
    env.seed_licensed("c", "u", 150, "2026-06-01T00:00:00Z").await;
    let now = "2026-07-01T00:00:00Z";
    let app = background_after(&env, 100);
    let accepted = seatkeeper_tests::Call::new(&app, "POST", "/v1/orgs/c/allocations")
        .by(&cm("c"))
        .json(json!({"all_expired": true}))
        .at(now)
        .send()
        .await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    let id = accepted.body["allocation_id"].as_str().unwrap().to_string();

    let log = RequestLog::default();
    let logged = env.through(|b| b.interceptor(log.clone())).await;
    let done = seatkeeper::imports::jobs::run(&logged.app.store, "c", &id, at(now)).await.unwrap();
    assert_eq!(done.map(|d| d.allocated), Some(150));
    let writes: Vec<String> = log.take().into_iter().filter(|op| WRITE_OPERATIONS.contains(&op.as_str())).collect();
    assert_eq!(writes.last().map(String::as_str), Some("TransactWriteItems"), "{writes:?}");
    let entries = audit(&env, "c", "licences.allocated", now).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0]["details"]["count"].as_u64(), entries[0]["details"]["allocation_id"].as_str()),
        (Some(150), Some(id.as_str()))
    );
    assert_eq!(entries[0]["details"]["emails"].as_array().unwrap().len(), 100);
    assert!(audit(&env, "c", "import.committed", now).await.is_empty(), "one entry for one command");
}

/// Spoils the version condition of the first `n` transactions that write a user, as a change
/// landing between the read and the write would: each loses its race.
#[derive(Debug, Clone)]
struct LoseUserRaces(Arc<AtomicUsize>);

impl Intercept for LoseUserRaces {
    fn name(&self) -> &'static str {
        "LoseUserRaces"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
        let Some(input) = context.input_mut().downcast_mut::<TransactWriteItemsInput>() else { return Ok(()) };
        for item in input.transact_items.iter_mut().flatten() {
            let Some(put) = item.put.as_mut() else { continue };
            let is_user = put.item.get("type").and_then(|v| v.as_s().ok()).is_some_and(|t| t == "user");
            let version = put.expression_attribute_values.as_mut().and_then(|v| v.get_mut(":v"));
            if let (true, Some(v)) = (is_user, version) {
                if self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                    *v = AttributeValue::N("987654321".into());
                }
            }
        }
        Ok(())
    }
}

/// Defect: a sync's release that lost a race was skipped, and the learner kept the licence the
/// file took away. It is loaded and decided again, like every race.
#[tokio::test]
async fn a_syncs_release_that_loses_a_race_is_decided_again() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 5, ASSIGNED, "p", ASSIGNED).await;
    let now = "2026-02-01T10:00:00Z";
    env.licensed("c", &["stay@c.example", "go@c.example"], now).await;
    let review =
        env.post("/v1/orgs/c/imports?mode=sync").by(&cm("c")).raw(b"email\nstay@c.example\n").at(now).send().await;
    assert_eq!(review.body["summary"]["release"].as_u64(), Some(1), "{:?}", review.body);
    let id = review.body["import_id"].as_str().unwrap();

    let racing = env.through(|b| b.interceptor(LoseUserRaces(Arc::new(AtomicUsize::new(1))))).await;
    let done = racing.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(now).send().await;
    assert_eq!((done.status, done.body["released"].as_u64()), (200, Some(1)), "{:?}", done.body);
    let gone = env.get("/v1/orgs/c/users/go@c.example").by(&cm("c")).send().await;
    assert_eq!(gone.body["licence_status"], "released", "{:?}", gone.body);
}

/// Defect: the balance was checked as read, the missing users created, and only then was the
/// reserve binding: a refusal left the users behind. Nobody is created unless the whole
/// allocation goes through: here the seats went to another allocation after the balance was read.
#[tokio::test]
async fn a_refused_allocation_creates_nobody() {
    let env = TestEnv::new().await;
    env.company_with_lot(200).await;
    let now = "2026-02-01T00:00:00Z";
    let store = &env.app.store;
    let org = store.org("c").await.unwrap().unwrap();
    let policy = store.policy(&org).await.unwrap();
    let read_before = store.balance("c", &policy, seatkeeper_tests::at(now)).await.unwrap();
    let taken: Vec<String> = (0..150).map(|i| format!("first{i}@c.example")).collect();
    env.licensed("c", &taken, now).await;

    let late: Vec<String> = (0..150).map(|i| format!("late{i}@c.example")).collect();
    let by = Principal::new("cm-sub", "cm@c.example", "c", Role::CompanyManager);
    let job = seatkeeper::imports::large::Job {
        org: &org,
        allocation_id: "alc_late".into(),
        fingerprint: None,
        emails: &late,
        users: &Default::default(),
        create_missing: true,
        needed: 150,
        balance: &read_before,
        by: &by,
        now: at(now),
    };
    let refused = seatkeeper::imports::large::allocate(store, 5_000, job).await.err().expect("refused");
    assert!(refused.to_string().contains("licence"), "{refused}");
    assert!(store.users_by_email("c", &late).await.unwrap().is_empty(), "nobody created");
    assert_eq!(env.lots("c", now).await[0]["in_use"], 150);
}

/// Defect: a review's rows were written before its record; when the record's write failed the
/// rows stayed. They are removed.
#[tokio::test]
async fn a_review_whose_record_is_not_written_leaves_no_rows() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let (failing, _log) = TestEnv::failing_after(&env, "TransactWriteItems", 0).await;
    let csv = b"email\nann@c.example\nbob@c.example\n";
    let r = failing.post("/v1/orgs/c/imports").by(&cm("c")).raw(csv).at("2026-02-01T00:00:00Z").send().await;
    assert!(r.status >= 500, "{:?}", r.body);
    let rows: Vec<String> = env
        .all_items()
        .await
        .iter()
        .filter_map(|i| i.get("PK").and_then(|v| v.as_s().ok()).cloned())
        .filter(|pk| pk.contains("#IMPORT#") || pk.starts_with("IMPORT#"))
        .collect();
    assert!(rows.is_empty(), "rows left behind: {rows:?}");
}

/// Defect: a resumed commit started again at row 0. It resumes at its checkpoint: the users of
/// at most one chunk are read again, and nobody is licensed twice.
#[tokio::test]
async fn a_resumed_commit_starts_at_its_checkpoint() {
    const N: usize = 1_500;
    let env = TestEnv::new().await;
    env.company_with_lot(N as u64).await;
    env.seed_licensed("c", "u", N, "2026-06-01T00:00:00Z").await;
    let now = "2026-07-01T00:00:00Z";
    let app = background_after(&env, 100);
    let accepted = seatkeeper_tests::Call::new(&app, "POST", "/v1/orgs/c/allocations")
        .by(&cm("c"))
        .json(json!({"all_expired": true}))
        .at(now)
        .send()
        .await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    let id = accepted.body["allocation_id"].as_str().unwrap().to_string();

    // Killed in the second chunk of rows.
    let (dying, _log) = TestEnv::failing_after(&env, "PutItem", 1_250).await;
    assert!(seatkeeper::imports::jobs::run(&dying.app.store, "c", &id, at(now)).await.is_err());
    let written = licences(&env, "c", "active", now).await.len();
    assert!((1_000..N).contains(&written), "killed in the second chunk: {written}");

    let (resumed, keys) = env.through(|b| b).await.with_key_log().await;
    let done = seatkeeper::imports::jobs::run(&resumed.app.store, "c", &id, at(now)).await.unwrap();
    assert_eq!(done.map(|d| d.allocated), Some(N as u64));
    let seen = keys.take();
    let users_read = seen.iter().filter(|(op, pk)| op == "BatchGetItem" && pk == "ORG#c").count();
    assert!(users_read <= 1_000, "at most one chunk's users read again: {users_read}");
    let licences_written = seen.iter().filter(|(op, pk)| op == "PutItem" && pk == "ORG#c").count();
    assert!(licences_written <= N - 1_000, "no licence written again: {licences_written}");
    let lot = &env.lots("c", now).await[0];
    assert_eq!((lot["in_use"].as_u64(), lot["uses"].as_u64()), (Some(N as u64), Some(N as u64)));
}

/// A commit whose progress was saved before commits resumed from it (a count alone) starts
/// again at the first row and finishes as before.
#[tokio::test]
async fn a_commit_with_progress_of_the_old_shape_finishes_from_the_first_row() {
    let env = TestEnv::new().await;
    env.company_with_lot(150).await;
    env.seed_licensed("c", "u", 150, "2026-06-01T00:00:00Z").await;
    let now = "2026-07-01T00:00:00Z";
    let app = background_after(&env, 100);
    let accepted = seatkeeper_tests::Call::new(&app, "POST", "/v1/orgs/c/allocations")
        .by(&cm("c"))
        .json(json!({"all_expired": true}))
        .at(now)
        .send()
        .await;
    let id = accepted.body["allocation_id"].as_str().unwrap().to_string();
    let (dying, _log) = TestEnv::failing_after(&env, "PutItem", 70).await;
    assert!(seatkeeper::imports::jobs::run(&dying.app.store, "c", &id, at(now)).await.is_err());
    let pk = format!("ORG#c#IMPORT#{id}");
    let old = [
        ("PK", AttributeValue::S(pk.clone())),
        ("SK", AttributeValue::S("PROGRESS".into())),
        ("type", AttributeValue::S("import_progress".into())),
        ("rows_done", AttributeValue::N("64".into())),
    ];
    env.write_items(vec![old.into_iter().map(|(k, v)| (k.to_string(), v)).collect()]).await;

    let done = seatkeeper::imports::jobs::run(&env.app.store, "c", &id, at(now)).await.unwrap();
    assert_eq!(done.map(|d| d.allocated), Some(150));
    let lot = &env.lots("c", now).await[0];
    assert_eq!((lot["in_use"].as_u64(), lot["uses"].as_u64()), (Some(150), Some(150)));
    let entries = audit(&env, "c", "licences.allocated", now).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["details"]["emails"].as_array().unwrap().len(), 100, "the sample from every row");
}

/// Defect: 10,000 new e-mails waited 92 s for their `202` while the users were created in the
/// request. The request reviews and reserves only; the job creates each user with its licence.
#[tokio::test]
async fn new_users_of_a_large_allocation_are_created_by_its_job() {
    let env = TestEnv::new().await;
    env.company_with_lot(300).await;
    let now = "2026-02-01T00:00:00Z";
    let emails: Vec<String> = (0..300).map(|i| format!("new{i}@c.example")).collect();
    let app = background_after(&env, 100);
    let accepted = seatkeeper_tests::Call::new(&app, "POST", "/v1/orgs/c/allocations")
        .by(&cm("c"))
        .json(json!({"emails": emails, "create_missing": true}))
        .at(now)
        .send()
        .await;
    assert_eq!((accepted.status, accepted.body["rows_total"].as_u64()), (202, Some(300)), "{:?}", accepted.body);
    let store = &env.app.store;
    assert!(store.users_by_email("c", &emails).await.unwrap().is_empty(), "nobody created before the job");
    assert_eq!(env.lots("c", now).await[0]["in_use"], 300, "every seat reserved at once");

    let id = accepted.body["allocation_id"].as_str().unwrap();
    let done = seatkeeper::imports::jobs::run(store, "c", id, at(now)).await.unwrap();
    assert_eq!(done.map(|d| d.allocated), Some(300));
    assert_eq!(store.users_by_email("c", &emails).await.unwrap().len(), 300);
    assert_eq!(licences(&env, "c", "active", now).await.len(), 300);
    let rows =
        env.get(&format!("/v1/orgs/c/allocations/{id}/rows?outcome=allocated&limit=500")).by(&cm("c")).send().await;
    assert_eq!(rows.body["items"].as_array().unwrap().len(), 300, "{:?}", rows.body);
}

/// A commit without a key killed after its reserve (nobody retries it) holds its seats until
/// its lease passes; the lease sweep then finishes it: every row licensed once, the seats
/// settled. Before the lease passes, the sweep leaves it alone.
#[tokio::test]
async fn a_commit_killed_without_a_key_is_finished_by_the_lease_sweep() {
    let env = TestEnv::new().await;
    env.company_with_lot(160).await;
    env.seed_licensed("c", "u", 150, "2026-06-01T00:00:00Z").await;
    let now = "2026-07-01T00:00:00Z";
    let (dying, _log) = TestEnv::failing_after(&env, "PutItem", 40).await;
    let killed = dying.allocate("c", json!({"all_expired": true}), now).await;
    assert!(killed.status >= 500, "{:?}", killed.body);
    let part = licences(&env, "c", "active", now).await.len();
    assert!((1..150).contains(&part), "killed half-way: {part}");
    assert_eq!(env.lots("c", now).await[0]["in_use"], 150, "the seats held by the stopped commit");

    let early = seatkeeper::imports::leases::sweep(&env.app, at("2026-07-01T00:05:00Z")).await.unwrap();
    assert_eq!(early.finished, 0, "{early:?}");
    let late = seatkeeper::imports::leases::sweep(&env.app, at("2026-07-01T00:30:00Z")).await.unwrap();
    assert_eq!((late.finished, late.failed.len()), (1, 0), "{late:?}");
    assert_eq!(licences(&env, "c", "active", now).await.len(), 150);
    let lot = &env.lots("c", now).await[0];
    assert_eq!((lot["in_use"].as_u64(), lot["uses"].as_u64()), (Some(150), Some(150)), "each licensed once");
    assert_eq!(audit(&env, "c", "licences.allocated", now).await.len(), 1);
    let again = seatkeeper::imports::leases::sweep(&env.app, at("2026-07-01T01:30:00Z")).await.unwrap();
    assert_eq!(again.finished, 0, "nothing left: {again:?}");
}
