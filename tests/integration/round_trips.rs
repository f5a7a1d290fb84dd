//! What one allocation costs in DynamoDB requests, counted on the wire.

use seatkeeper_tests::{TestEnv, Who, WRITE_OPERATIONS};
use serde_json::json;

#[tokio::test]
async fn a_single_user_allocation_writes_in_one_round_trip() {
    let (env, log) = TestEnv::with_request_log().await;
    env.partner_with_company("p", "c").await;
    let order = env.request("c", 10, "2026-01-10T08:00:00Z").await;
    env.post(&format!("/v1/orders/{order}/assign"))
        .by(&Who::new("partner_manager", "p"))
        .at("2026-01-15T09:00:00Z")
        .send()
        .await;
    env.put("/v1/orgs/c/users/ann@c.example").by(&Who::new("platform", "c")).send().await;
    log.take();

    let a = env
        .post("/v1/orgs/c/allocations")
        .by(&Who::new("company_manager", "c"))
        .key("alloc-ann")
        .json(json!({"emails": ["ann@c.example"]}))
        .at("2026-02-01T00:00:00Z")
        .send()
        .await;
    assert_eq!((a.status, a.body["allocated"].as_u64()), (200, Some(1)), "{:?}", a.body);
    let sent = log.take();
    let writes: Vec<&String> = sent.iter().filter(|op| WRITE_OPERATIONS.contains(&op.as_str())).collect();
    assert_eq!(writes, vec!["TransactWriteItems"], "all requests: {sent:?}");
    let reads = sent.len() - writes.len();
    assert!(reads <= 5, "reads before the write: {sent:?}");

    // The replay of the same command writes nothing.
    let again = env
        .post("/v1/orgs/c/allocations")
        .by(&Who::new("company_manager", "c"))
        .key("alloc-ann")
        .json(json!({"emails": ["ann@c.example"]}))
        .at("2026-02-01T00:00:01Z")
        .send()
        .await;
    assert_eq!(again.body, a.body);
    assert!(log.take().iter().all(|op| !WRITE_OPERATIONS.contains(&op.as_str())));
}
