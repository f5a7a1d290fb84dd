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

/// A command of one write (a login, recorded in the user's login item) is one plain
/// conditional write, not a one-item transaction at twice the capacity.
#[tokio::test]
async fn a_login_is_one_plain_write() {
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

/// A login writes the user's small login item (in no index: one write unit), at most once per
/// UTC day however often the platform reports it, never the user item; the user, the users list
/// and a later answer show it. A user stored with `last_login_at` on its item (the shape from
/// before) keeps showing it until a later day's login.
#[tokio::test]
async fn a_login_writes_its_own_item_once_a_day_and_every_view_shows_it() {
    use seatkeeper::domain::user::User;
    let (env, log) = TestEnv::with_request_log().await;
    env.company_with_lot(1).await;
    env.users("c", ["ann@c.example"]).by(&platform("c")).await;
    let mut old = User::new("c", "old@c.example", seatkeeper_tests::at("2026-01-01T00:00:00Z"));
    old.last_login_at = Some(seatkeeper_tests::at("2026-02-01T07:00:00Z"));
    env.write_items(vec![env.app.store.user_item(&old).unwrap()]).await;
    let user_item = env.item("ORG#c", "USER#ann@c.example").await.unwrap();
    let login = |who: &'static str, at: &'static str| {
        let env = &env;
        async move {
            let path = format!("/v1/orgs/c/users/{who}@c.example");
            let a = env.put(&path).by(&platform("c")).json(json!({"last_login_at": at})).at(at).send().await;
            assert_eq!(a.status, 200, "{:?}", a.body);
            a.body["last_login_at"].as_str().unwrap().to_string()
        }
    };
    let recorded = |who: &'static str| {
        let env = &env;
        async move {
            let item = env.item("ORG#c", &format!("LOGIN#{who}@c.example")).await?;
            Some(item["last_login_at"].as_s().unwrap().clone())
        }
    };
    log.take();
    assert_eq!(login("ann", "2026-02-01T08:00:00Z").await, "2026-02-01T08:00:00Z");
    assert_eq!(recorded("ann").await.as_deref(), Some("2026-02-01T08:00:00Z"));
    // Later the same day, or an older report: nothing written, the answer as recorded.
    log.take();
    assert_eq!(login("ann", "2026-02-01T17:00:00Z").await, "2026-02-01T08:00:00Z");
    assert_eq!(login("ann", "2026-01-20T17:00:00Z").await, "2026-02-01T08:00:00Z");
    assert!(log.take().iter().all(|op| !WRITE_OPERATIONS.contains(&op.as_str())), "no write the same day");
    assert_eq!(login("ann", "2026-02-02T06:00:00Z").await, "2026-02-02T06:00:00Z");
    assert_eq!(env.item("ORG#c", "USER#ann@c.example").await.unwrap(), user_item, "the user item is never rewritten");

    // The earlier shape: the user item's own login counts, the day's report writes nothing.
    assert_eq!(login("old", "2026-02-01T09:00:00Z").await, "2026-02-01T07:00:00Z");
    assert_eq!(recorded("old").await, None);
    assert_eq!(login("old", "2026-02-03T09:00:00Z").await, "2026-02-03T09:00:00Z");

    let one = env.get("/v1/orgs/c/users/ann@c.example").by(&seatkeeper_tests::cm("c")).send().await;
    assert_eq!(one.body["last_login_at"], "2026-02-02T06:00:00Z");
    let all = env.get("/v1/orgs/c/users").by(&seatkeeper_tests::cm("c")).send().await;
    let shown: Vec<(&str, &str)> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["email"].as_str().unwrap(), u["last_login_at"].as_str().unwrap_or("-")))
        .collect();
    assert_eq!(shown, vec![("ann@c.example", "2026-02-02T06:00:00Z"), ("old@c.example", "2026-02-03T09:00:00Z")]);
}
