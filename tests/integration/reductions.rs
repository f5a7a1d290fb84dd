//! Reduction orders end to end through the handlers, against DynamoDB Local
//! (docs/domain.md#orders-and-lots): unissued seats removed at assignment, from the lot that ends
//! last on, never an issued licence, every lot write conditional on what was read.

use futures::future::join_all;
use seatkeeper::domain::change::Change;
use seatkeeper::domain::lot::{Lot, LotStatus};
use seatkeeper::store::{Error, Race};
use seatkeeper_tests::{at, cm, pm, Answer, TestEnv};
use serde_json::{json, Value};

const ASSIGNED: &str = "2026-01-15T09:00:00Z";
const LATER_LOT: &str = "2026-04-01T09:00:00Z";
const ISSUED: &str = "2026-05-01T00:00:00Z";
const REQUESTED: &str = "2026-05-20T08:00:00Z";
const NOW: &str = "2026-06-01T00:00:00Z";

/// Requests a reduction of `quantity` seats as the company's manager; returns the order id.
async fn request_reduction(env: &TestEnv, company: &str, quantity: u64) -> String {
    let a = env
        .post(&format!("/v1/orgs/{company}/orders"))
        .by(&cm(company))
        .json(json!({"quantity": quantity, "kind": "reduction"}))
        .at(REQUESTED)
        .send()
        .await;
    assert_eq!((a.status, a.body["kind"].as_str()), (201, Some("reduction")), "{:?}", a.body);
    a.body["order_id"].as_str().unwrap().to_string()
}

async fn assign(env: &TestEnv, order: &str) -> Answer {
    env.assign(order, "p").at(NOW).send().await
}

/// `n` learners of `org` licensed at [`ISSUED`].
async fn issue(env: &TestEnv, org: &str, n: usize) {
    let emails: Vec<String> = (0..n).map(|i| format!("u{i}@{org}.example")).collect();
    env.licensed(org, &emails, ISSUED).await;
}

/// (quantity, reduced, in_use, available) of each lot, first-expiring first.
fn counts(lots: &[Value]) -> Vec<(u64, u64, u64, u64)> {
    let n = |l: &Value, k: &str| l[k].as_u64().unwrap_or_else(|| panic!("{k} of {l}"));
    lots.iter().map(|l| (n(l, "quantity"), n(l, "reduced"), n(l, "in_use"), n(l, "available"))).collect()
}

/// Worked example 12 (docs/domain.md#example-12-a-reduction).
#[tokio::test]
async fn worked_case_12_a_reduction_removes_unissued_seats_and_a_larger_one_is_refused() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let lot_id = env.order_and_assign("c", 25, "2026-01-10T08:00:00Z", "p", ASSIGNED).await.body["lot"]["lot_id"]
        .as_str()
        .unwrap()
        .to_string();
    issue(&env, "c", 18).await;
    let eight = request_reduction(&env, "c", 8).await;
    let five = request_reduction(&env, "c", 5).await;
    assert_eq!(counts(&env.lots("c", NOW).await), vec![(25, 0, 18, 7)], "a request changes no lot");

    let refused = assign(&env, &eight).await;
    assert_eq!((refused.status, refused.code()), (409, "conflict"), "{:?}", refused.body);
    assert_eq!(refused.body["error"]["details"], json!({"reason": "too_few_unissued", "reduce": 8, "unissued": 7}));
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("this reduction removes 8 seats but only 7 unissued seats remain"), "{message}");
    assert_eq!(counts(&env.lots("c", NOW).await), vec![(25, 0, 18, 7)], "a refusal changes nothing");
    let still = env.get(&format!("/v1/orders/{eight}")).by(&cm("c")).send().await;
    assert_eq!(still.body["status"], "requested");

    let a = assign(&env, &five).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!((a.body["status"].as_str(), a.body["kind"].as_str()), (Some("assigned"), Some("reduction")));
    assert!(a.body.get("lot").is_none(), "a reduction creates no lot: {:?}", a.body);
    assert_eq!(a.body["reduced_lots"], json!([{"lot_id": lot_id, "valid_until": "2027-01-15T09:00:00Z", "seats": 5}]));
    assert_eq!(counts(&env.lots("c", NOW).await), vec![(20, 5, 18, 2)]);
    let usage = env.get("/v1/orgs/c/usage").by(&cm("c")).at(NOW).send().await;
    assert_eq!((usage.body["org"]["limit"].as_u64(), usage.body["org"]["remaining"].as_u64()), (Some(20), Some(2)));

    let notices = env.get("/v1/orgs/c/notifications").by(&cm("c")).send().await;
    let n = &notices.body["items"][0];
    assert_eq!((n["kind"].as_str(), n["payload"]["kind"].as_str()), (Some("order_assigned"), Some("reduction")));
    assert_eq!(n["payload"]["message"], "5 unissued seats were removed from your licences");
    let audit = env.get("/v1/orgs/c/audit").by(&cm("c")).send().await;
    let entry = &audit.body["items"][0];
    assert_eq!(
        (entry["action"].as_str(), entry["details"]["kind"].as_str()),
        (Some("order.assigned"), Some("reduction"))
    );
    assert_eq!(entry["details"]["lots"][0]["seats"], 5);
    let listed = env.get("/v1/orgs/p/orders?status=assigned").by(&pm("p")).send().await;
    let kinds: Vec<&str> =
        listed.body["items"].as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["reduction", "purchase"]);

    // The two seats left can be given; a third cannot.
    let more: Vec<String> = (0..3).map(|i| format!("more{i}@c.example")).collect();
    let short = env.allocate("c", json!({"emails": more, "create_missing": true}), NOW).await;
    assert_eq!((short.status, short.code()), (409, "insufficient_licences"));
    assert_eq!(short.body["error"]["details"]["available"], 2);
}

#[tokio::test]
async fn a_reduction_over_two_lots_takes_from_the_one_that_ends_last_first() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 10, "2026-01-10T08:00:00Z", "p", ASSIGNED).await;
    env.order_and_assign("c", 6, "2026-03-20T08:00:00Z", "p", LATER_LOT).await;
    issue(&env, "c", 8).await; // all from the lot that ends first
    assert_eq!(counts(&env.lots("c", NOW).await), vec![(10, 0, 8, 2), (6, 0, 0, 6)]);
    let order = request_reduction(&env, "c", 7).await;
    let a = assign(&env, &order).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let seats: Vec<(&str, u64)> = a.body["reduced_lots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["valid_until"].as_str().unwrap(), r["seats"].as_u64().unwrap()))
        .collect();
    assert_eq!(seats, vec![("2027-04-01T09:00:00Z", 6), ("2027-01-15T09:00:00Z", 1)]);
    assert_eq!(counts(&env.lots("c", NOW).await), vec![(9, 1, 8, 1), (0, 6, 0, 0)]);
}

/// Under `uses_per_seat`, a seat is unissued only while the cap still holds its uses whole.
#[tokio::test]
async fn under_a_cap_a_seat_whose_uses_were_spent_is_not_unissued() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.set_policy("c", json!({"uses_per_seat": 1})).await;
    env.order_and_assign("c", 4, "2026-01-10T08:00:00Z", "p", ASSIGNED).await;
    issue(&env, "c", 3).await;
    let released = env.call("DELETE", "/v1/orgs/c/users/u0@c.example").by(&cm("c")).at(ISSUED).send().await;
    assert_eq!(released.status, 200, "{:?}", released.body);
    // Three licences issued from four seats with one use each: one seat left, though two are free.
    assert_eq!(counts(&env.lots("c", NOW).await), vec![(4, 0, 2, 1)]);
    let two = request_reduction(&env, "c", 2).await;
    let refused = assign(&env, &two).await;
    assert_eq!(
        refused.body["error"]["details"],
        json!({"reason": "too_few_unissued", "reduce": 2, "unissued": 1}),
        "{:?}",
        refused.body
    );
    let one = request_reduction(&env, "c", 1).await;
    assert_eq!(assign(&env, &one).await.status, 200);
    assert_eq!(counts(&env.lots("c", NOW).await), vec![(3, 1, 2, 0)]);
}

#[tokio::test]
async fn two_reductions_assigned_at_once_never_take_an_issued_seat() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 25, "2026-01-10T08:00:00Z", "p", ASSIGNED).await;
    issue(&env, "c", 18).await;
    let first = request_reduction(&env, "c", 5).await;
    let second = request_reduction(&env, "c", 5).await;
    let answers = join_all([assign(&env, &first), assign(&env, &second)]).await;
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    statuses.sort();
    assert_eq!(statuses, vec![200, 409], "{:?}", answers.iter().map(|a| &a.body).collect::<Vec<_>>());
    let refused = answers.iter().find(|a| a.status == 409).unwrap();
    assert_eq!(refused.body["error"]["details"], json!({"reason": "too_few_unissued", "reduce": 5, "unissued": 2}));
    assert_eq!(counts(&env.lots("c", NOW).await), vec![(20, 5, 18, 2)]);
}

#[tokio::test]
async fn a_reduction_racing_an_allocation_never_leaves_a_lot_overfull() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 10, "2026-01-10T08:00:00Z", "p", ASSIGNED).await;
    issue(&env, "c", 5).await;
    let order = request_reduction(&env, "c", 5).await;
    let emails: Vec<String> = (0..5).map(|i| format!("late{i}@c.example")).collect();
    let allocation = env.allocate("c", json!({"emails": emails, "create_missing": true}), NOW);
    let (reduced, allocated) = futures::join!(assign(&env, &order), allocation);
    assert_eq!(
        [reduced.status, allocated.status].iter().filter(|s| **s == 200).count(),
        1,
        "exactly one of the two fits: {:?} {:?}",
        reduced.body,
        allocated.body
    );
    let lots = counts(&env.lots("c", NOW).await);
    assert!(lots.iter().all(|(quantity, _, in_use, _)| in_use <= quantity), "{lots:?}");
}

/// The lot's write is conditional on the quantity read, both ways: a reduction decided on a
/// lot an allocation has since debited, and a debit decided on a lot a reduction has since
/// lowered, each lose their race (the executor then decides again on the lot as it is).
#[tokio::test]
async fn a_stale_reduction_and_a_stale_debit_each_lose_their_race() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 10, "2026-01-10T08:00:00Z", "p", ASSIGNED).await;
    let store = &env.app.store;
    let read = |lots: Vec<Lot>| lots.into_iter().next().unwrap();
    let before = read(store.lots_ending_after("c", at(NOW)).await.unwrap());
    issue(&env, "c", 6).await;
    let stale_reduction = store.apply(&[Change::ReduceLot { lot: before.clone(), seats: 5 }], None).await;
    assert!(matches!(stale_reduction, Err(Error::Race(Race::Changed(_)))), "{stale_reduction:?}");

    let now_read = read(store.lots_ending_after("c", at(NOW)).await.unwrap());
    let order = request_reduction(&env, "c", 4).await;
    assert_eq!(assign(&env, &order).await.status, 200);
    let stale_debit = store.apply(&[Change::DebitLot { lot: now_read, seats: 1 }], None).await;
    assert!(matches!(stale_debit, Err(Error::Race(Race::Changed(_)))), "{stale_debit:?}");
    assert_eq!(counts(&env.lots("c", NOW).await), vec![(6, 4, 6, 0)]);
}

#[tokio::test]
async fn an_assign_repeated_with_its_key_answers_the_same_and_reduces_once() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 25, "2026-01-10T08:00:00Z", "p", ASSIGNED).await;
    issue(&env, "c", 18).await;
    let order = request_reduction(&env, "c", 5).await;
    let send = || env.assign(&order, "p").key("reduce-1").at(NOW).send();
    let first = send().await;
    let again = send().await;
    assert_eq!((first.status, again.status), (200, 200), "{:?}", again.body);
    assert_eq!(first.body, again.body);
    assert_eq!(again.headers.get("idempotent-replayed").map(String::as_str), Some("true"));
    assert_eq!(counts(&env.lots("c", NOW).await), vec![(20, 5, 18, 2)]);
    assert_eq!(env.count("ORG#c", "notice").await, 2, "one order_assigned for the lot, one for the reduction");
}

#[tokio::test]
async fn a_reduction_keeps_the_order_limits_and_its_kind_is_checked() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    for body in [
        json!({"quantity": 0, "kind": "reduction"}),
        json!({"quantity": 100_001, "kind": "reduction"}),
        json!({"quantity": 3, "kind": "upgrade"}),
    ] {
        let a = env.post("/v1/orgs/c/orders").by(&cm("c")).json(body.clone()).send().await;
        assert_eq!((a.status, a.code()), (400, "invalid_request"), "{body}: {:?}", a.body);
    }
    assert_eq!(env.count("ORG#c", "order_entry").await, 0);
    let purchase = env.post("/v1/orgs/c/orders").by(&cm("c")).json(json!({"quantity": 3})).send().await;
    assert_eq!(purchase.body["kind"], "purchase");
}

/// One reduction is one transaction: spread over more lots than it holds, it is refused with a
/// sentence; at the limit it fits. Company `c` under partner `p` under the vendor: 99 changes,
/// less the order and its three list entries, its notice and its audit entry, leave 93 lots.
#[tokio::test]
async fn a_reduction_over_more_lots_than_one_transaction_holds_is_refused_and_one_at_the_limit_fits() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let store = &env.app.store;
    let org = store.org("c").await.unwrap().unwrap();
    assert_eq!(seatkeeper::domain::decide::orders::max_lots_reduced(&org), 93);
    let items = (0..100)
        .map(|i| {
            let lot = Lot {
                lot_id: format!("lot-{i:03}"),
                org_id: "c".into(),
                order_id: format!("ord-{i:03}"),
                quantity: 1,
                reduced: 0,
                in_use: 0,
                uses: 0,
                uses_per_seat: None,
                valid_from: at(ASSIGNED),
                valid_until: Some(at("2027-01-15T09:00:00Z")),
                status: LotStatus::Active,
                pro_rata_fraction: None,
                parts: 0,
                part_of: None,
                reminded_for: None,
            };
            store.lot_item(&lot, &org).unwrap()
        })
        .collect();
    env.write_items(items).await;

    let hundred = request_reduction(&env, "c", 100).await;
    let refused = assign(&env, &hundred).await;
    assert_eq!((refused.status, refused.code()), (409, "conflict"), "{:?}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("100 lots") && message.contains("at most 93 lots"), "{message}");
    let lots = env.pages("/v1/orgs/c/lots", &cm("c"), NOW).await;
    let reduced: u64 = lots
        .iter()
        .flat_map(|p| p.body["items"].as_array().unwrap().clone())
        .map(|l| l["reduced"].as_u64().unwrap())
        .sum();
    assert_eq!(reduced, 0, "the refusal changes nothing");

    let most = request_reduction(&env, "c", 93).await;
    let a = assign(&env, &most).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["reduced_lots"].as_array().map(Vec::len), Some(93));
    let lots = env.pages("/v1/orgs/c/lots", &cm("c"), NOW).await;
    let left: u64 = lots
        .iter()
        .flat_map(|p| p.body["items"].as_array().unwrap().clone())
        .map(|l| l["quantity"].as_u64().unwrap())
        .sum();
    assert_eq!(left, 7);
}
