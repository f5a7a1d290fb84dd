//! The expire sweep against DynamoDB Local: worked cases 3 and 4 at the exact instants, exactly
//! once under replays and concurrency, and a cost that follows what is due.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{DateTime, Utc};
use futures::future::join_all;
use seatkeeper::domain::policy::Policy;
use seatkeeper::domain::user::{self, User};
use seatkeeper::sweeps::expire::{expire, ExpireReport};
use seatkeeper_tests::{TestEnv, Who};
use serde_json::{json, Value};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn cm(org: &str) -> Who {
    Who::new("company_manager", org)
}

/// Worked cases 1 and 2: C's lot of 10, assigned 2026-01-15T09:00Z, allocated to ten learners.
async fn ten_licensed(env: &TestEnv) {
    env.partner_with_company("p", "c").await;
    env.put("/v1/orgs/c/users/boss@c.example").by(&cm("c")).json(json!({"role": "company_manager"})).send().await;
    let order = env.request("c", 10, "2026-01-10T08:00:00Z").await;
    env.post(&format!("/v1/orders/{order}/assign"))
        .by(&Who::new("partner_manager", "p"))
        .at("2026-01-15T09:00:00Z")
        .send()
        .await;
    let emails: Vec<String> = (1..=10).map(|i| format!("learner{i}@c.example")).collect();
    let a = env
        .post("/v1/orgs/c/allocations")
        .by(&cm("c"))
        .json(json!({"emails": emails, "create_missing": true}))
        .at("2026-02-01T00:00:00Z")
        .send()
        .await;
    assert_eq!(a.body["allocated"], 10);
}

async fn sweep(env: &TestEnv, now: &str) -> ExpireReport {
    expire(&env.app, at(now)).await.unwrap()
}

async fn notices(env: &TestEnv) -> Vec<Value> {
    let n = env.get("/v1/orgs/c/notifications").by(&cm("c")).send().await;
    n.body["items"].as_array().unwrap().iter().filter(|n| n["kind"] != "order_assigned").cloned().collect()
}

async fn access(env: &TestEnv, email: &str, now: &str) -> bool {
    let a = env.get(&format!("/v1/orgs/c/users/{email}/access")).by(&Who::new("platform", "c")).at(now).send().await;
    a.body["access"].as_bool().unwrap()
}

/// Worked cases 3 and 4 of DOMAIN.md §11, a second before, at and after each instant.
#[tokio::test]
async fn worked_cases_3_and_4_reminder_then_expiry_exactly_once() {
    let env = TestEnv::new().await;
    ten_licensed(&env).await;

    let early = sweep(&env, "2027-01-12T08:59:59Z").await;
    assert_eq!(early.notices_sent, 0);
    assert!(notices(&env).await.is_empty());

    let reminder = sweep(&env, "2027-01-12T09:00:00Z").await;
    assert_eq!((reminder.notices_sent, reminder.licences_expired), (1, 0));
    let sent = notices(&env).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["kind"], "expiry_reminder");
    assert_eq!(sent[0]["payload"]["count"], 10);
    assert_eq!(sent[0]["payload"]["expiry_date"], "2027-01-15");
    assert_eq!(sent[0]["recipients"], json!(["boss@c.example"]));
    assert_eq!(sweep(&env, "2027-01-12T09:00:01Z").await.notices_sent, 0, "run again: nothing new");
    assert_eq!(sweep(&env, "2027-01-15T08:59:59Z").await.notices_sent, 0);
    assert!(access(&env, "learner1@c.example", "2027-01-15T08:59:59Z").await);

    // At the end the ten lose access at once, before any sweep has run.
    assert!(!access(&env, "learner1@c.example", "2027-01-15T09:00:00Z").await);
    let expired = sweep(&env, "2027-01-15T09:00:00Z").await;
    assert_eq!((expired.notices_sent, expired.licences_expired, expired.lots_expired), (1, 10, 1));
    let sent = notices(&env).await;
    assert_eq!(
        sent.iter().map(|n| n["kind"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["expired", "expiry_reminder"]
    );
    assert_eq!(sent[0]["payload"]["users"].as_array().unwrap().len(), 10);
    let again = sweep(&env, "2027-01-15T09:00:01Z").await;
    assert_eq!((again.notices_sent, again.licences_expired, again.lots_expired, again.items_read), (0, 0, 0, 0));

    let licences = env.get("/v1/orgs/c/licences?status=expired").by(&cm("c")).at("2027-01-15T09:00:01Z").send().await;
    assert_eq!(licences.body["items"].as_array().unwrap().len(), 10);
    let lots = env.get("/v1/orgs/c/lots").by(&cm("c")).at("2027-01-15T09:00:01Z").send().await;
    assert_eq!(
        (lots.body["items"][0]["status"].as_str(), lots.body["items"][0]["in_use"].as_u64()),
        (Some("expired"), Some(0))
    );
    // The materialised state agrees with the time-computed one, and with the counters.
    let counters = env.partition("ORG#c").await.into_iter().find(|i| i["SK"].as_s().unwrap() == "COUNTERS").unwrap();
    assert_eq!(counters["seats_held"].as_n().unwrap(), "0");
}

#[tokio::test]
async fn two_sweeps_at_once_and_a_replay_send_each_notice_once() {
    let env = TestEnv::new().await;
    ten_licensed(&env).await;
    let reports = join_all((0..3).map(|_| sweep(&env, "2027-01-13T00:00:00Z"))).await;
    assert_eq!(reports.iter().map(|r| r.notices_sent).sum::<usize>(), 1);
    let reports = join_all((0..3).map(|_| sweep(&env, "2027-01-15T10:00:00Z"))).await;
    assert_eq!(reports.iter().map(|r| r.notices_sent).sum::<usize>(), 1);
    assert_eq!(reports.iter().map(|r| r.licences_expired).sum::<usize>(), 10, "each licence expired once");
    assert_eq!(reports.iter().map(|r| r.lots_expired).sum::<usize>(), 1);
    assert_eq!(notices(&env).await.len(), 2);
    assert_eq!(sweep(&env, "2027-01-15T10:00:00Z").await.notices_sent, 0, "the same event replayed");
}

/// Puts `n` users with active licences ending at `end` straight into the table.
async fn seed_licensed(env: &TestEnv, org: &str, prefix: &str, n: usize, end: &str) {
    let policy = Policy::resolve([]);
    let items: Vec<_> = (0..n)
        .map(|i| {
            let u = User::new(org, &format!("{prefix}{i}@{org}.example"), at("2026-01-01T00:00:00Z"));
            let u = user::issue(
                &u,
                format!("lic-{prefix}{i}"),
                Some("lot-x".into()),
                Some(at(end)),
                &policy,
                at("2026-01-02T00:00:00Z"),
            );
            env.app.store.user_item(&u).unwrap()
        })
        .collect();
    for chunk in items.chunks(25) {
        let requests = chunk
            .iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item.clone())).build().unwrap())
                    .build()
            })
            .collect();
        env.app.store.client.batch_write_item().request_items(&env.table, requests).send().await.unwrap();
    }
}

#[tokio::test]
async fn the_sweep_reads_what_is_due_however_much_is_not() {
    let mut reads = Vec::new();
    for not_due in [100, 10_000] {
        let env = TestEnv::new().await;
        env.partner_with_company("p", "c").await;
        seed_licensed(&env, "c", "due", 100, "2027-01-15T09:00:00Z").await;
        seed_licensed(&env, "c", "later", not_due, "2027-06-15T09:00:00Z").await;
        let report = sweep(&env, "2027-01-14T00:00:00Z").await;
        assert_eq!(report.notices_sent, 1);
        reads.push(report.items_read);
    }
    assert_eq!(reads, vec![100, 100], "the not-yet-due licences are never read");
}
