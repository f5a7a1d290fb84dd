//! What one allocation costs in DynamoDB requests, counted on the wire.

use seatkeeper_tests::{platform, TestEnv, WRITE_OPERATIONS};
use serde_json::json;

#[tokio::test]
async fn a_single_user_allocation_writes_in_one_round_trip() {
    let (env, log) = TestEnv::with_request_log().await;
    env.company_with_lot(10).await;
    env.users("c", ["ann@c.example"]).by(&platform("c")).await;
    log.take();

    let allocate = |at: &str| env.allocation("c").key("alloc-ann").json(json!({"emails": ["ann@c.example"]})).at(at);
    let a = allocate("2026-02-01T00:00:00Z").send().await;
    assert_eq!((a.status, a.body["allocated"].as_u64()), (200, Some(1)), "{:?}", a.body);
    let sent = log.take();
    let writes: Vec<&String> = sent.iter().filter(|op| WRITE_OPERATIONS.contains(&op.as_str())).collect();
    assert_eq!(writes, vec!["TransactWriteItems"], "all requests: {sent:?}");
    let reads = sent.len() - writes.len();
    assert!(reads <= 5, "reads before the write: {sent:?}");

    // The replay of the same command writes nothing.
    let again = allocate("2026-02-01T00:00:01Z").send().await;
    assert_eq!(again.body, a.body);
    assert!(log.take().iter().all(|op| !WRITE_OPERATIONS.contains(&op.as_str())));
}

/// A command of one write (a login recorded on its user) is one plain conditional write, not a
/// one-item transaction at twice the capacity; it still holds the user's version.
#[tokio::test]
async fn a_login_recorded_on_its_user_is_one_plain_write() {
    let (env, log) = TestEnv::with_request_log().await;
    env.company_with_lot(1).await;
    env.users("c", ["ann@c.example"]).by(&platform("c")).await;
    log.take();
    let login = json!({"last_login_at": "2026-02-01T08:00:00Z"});
    let a = env
        .put("/v1/orgs/c/users/ann@c.example")
        .by(&platform("c"))
        .json(login)
        .at("2026-02-01T09:00:00Z")
        .send()
        .await;
    assert_eq!((a.status, a.body["last_login_at"].as_str()), (200, Some("2026-02-01T08:00:00Z")), "{:?}", a.body);
    let sent = log.take();
    let writes: Vec<&String> = sent.iter().filter(|op| WRITE_OPERATIONS.contains(&op.as_str())).collect();
    assert_eq!(writes, vec!["PutItem"], "all requests: {sent:?}");
}
