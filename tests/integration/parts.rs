//! A large lot spread over parts, and the seats held spread over items
//! (docs/architecture.md#seat-parts), against DynamoDB Local: read as one lot, short only when
//! every part is, never oversold, and the counts exact.

use futures::future::join_all;
use seatkeeper::sweeps::expire::expire;
use seatkeeper_tests::{at, cm, platform, TestEnv};
use serde_json::{json, Value};

const JOINED: &str = "2026-01-16T00:00:00Z";
const NOW: &str = "2026-02-01T10:00:00Z";

/// The lot items of `org` as stored: (sort key, quantity, in_use, status).
async fn stored_lots(env: &TestEnv, org: &str) -> Vec<(String, u64, u64, String)> {
    let n =
        |i: &seatkeeper::store::Item, k: &str| i.get(k).and_then(|v| v.as_n().ok()).map_or(0, |n| n.parse().unwrap());
    let s = |i: &seatkeeper::store::Item, k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    env.partition(&format!("ORG#{org}"))
        .await
        .iter()
        .filter(|i| s(i, "SK").starts_with("LOT#"))
        .map(|i| (s(i, "SK"), n(i, "quantity"), n(i, "in_use"), s(i, "status")))
        .collect()
}

fn learners(n: usize, from: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("learner{i}@c.example")).collect()
}

#[tokio::test]
async fn a_lot_of_64_seats_is_four_parts_read_as_one_lot_short_only_when_every_part_is() {
    let env = TestEnv::new().await;
    let lot_id = env.company_with_lot(64).await;
    let stored = stored_lots(&env, "c").await;
    assert_eq!(stored.iter().map(|l| l.1).collect::<Vec<_>>(), vec![16, 16, 16, 16], "{stored:?}");
    let lots = env.lots("c", NOW).await;
    assert_eq!(lots.len(), 1, "listed as the one lot sold: {lots:?}");
    assert_eq!((lots[0]["lot_id"].as_str(), lots[0]["quantity"].as_u64()), (Some(lot_id.as_str()), Some(64)));

    // 60 learners in one call take seats from every part; each licence names the lot.
    let emails = learners(60, 0);
    env.users("c", &emails).named().at(JOINED).await;
    let a = env.allocate("c", json!({"emails": emails}), NOW).await;
    assert_eq!((a.status, &a.body["allocated"]), (200, &json!(60)), "{:?}", a.body);
    assert!(a.body["results"].as_array().unwrap().iter().all(|r| r["licence"]["lot_id"] == lot_id.as_str()));
    let stored = stored_lots(&env, "c").await;
    assert_eq!(stored.iter().map(|l| l.2).sum::<u64>(), 60);
    assert!(stored.iter().all(|l| l.2 <= l.1), "no part over its seats: {stored:?}");

    // Five more need five of the four left (spread over parts): refused whole, nothing taken.
    let more = learners(5, 60);
    env.users("c", &more).named().at(JOINED).await;
    let refused = env.allocate("c", json!({"emails": more}), NOW).await;
    assert_eq!((refused.status, refused.code()), (409, "insufficient_licences"));
    assert_eq!(refused.body["error"]["details"], json!({"needed": 5, "available": 4}));
    assert_eq!(stored_lots(&env, "c").await.iter().map(|l| l.2).sum::<u64>(), 60);

    // A release gives the seat back to the part it came from; then the five fit.
    let gone = &emails[0];
    let r = env.call("DELETE", &format!("/v1/orgs/c/users/{gone}")).by(&cm("c")).at(NOW).send().await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let a = env.allocate("c", json!({"emails": more}), NOW).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let lots = env.lots("c", NOW).await;
    assert_eq!((lots[0]["in_use"].as_u64(), lots[0]["available"].as_u64()), (Some(64), Some(0)));
    let stored = stored_lots(&env, "c").await;
    assert!(stored.iter().all(|l| l.2 == l.1), "every part full: {stored:?}");

    // The seats held: spread items took the allocations, the counters item the release; summed.
    assert_eq!(env.app.store.counters("c").await.unwrap().seats_held, 64);
    let main = env.item("ORG#c", "COUNTERS").await.unwrap();
    assert_eq!(main["seats_held"].as_n().unwrap(), "-1", "only the release (it moves the users with access too)");
    let usage = env.get("/v1/orgs/c/usage").by(&cm("c")).at(NOW).send().await;
    assert_eq!(usage.status, 200, "{:?}", usage.body);
    assert_eq!((&usage.body["org"]["used"], &usage.body["org"]["limit"]), (&json!(64), &json!(64)), "{:?}", usage.body);

    // At the lot's end every part expires and gives its seats back, once.
    let report = expire(&env.app, at("2027-01-15T09:00:01Z")).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.licences_expired, 64);
    let stored = stored_lots(&env, "c").await;
    assert!(stored.iter().all(|l| l.2 == 0 && l.3 == "expired"), "{stored:?}");
    let lots = env.lots("c", "2027-01-15T09:00:01Z").await;
    assert_eq!((lots.len(), lots[0]["status"].as_str(), lots[0]["in_use"].as_u64()), (1, Some("expired"), Some(0)));
    assert_eq!(env.app.store.counters("c").await.unwrap().seats_held, 0);
}

/// Concurrent callers wanting more than the seats: exactly the seats are taken, over the parts.
#[tokio::test]
async fn concurrent_allocations_over_parts_never_oversell() {
    let env = TestEnv::new().await;
    env.company_with_lot(48).await;
    let emails = learners(60, 0);
    env.users("c", &emails).named().at(JOINED).await;
    let answers = join_all(emails.iter().map(|e| {
        let env = &env;
        async move { env.allocate("c", json!({"emails": [e]}), NOW).await }
    }))
    .await;
    let allocated = answers.iter().filter(|a| a.status == 200).count();
    let short = answers.iter().filter(|a| a.code() == "insufficient_licences").count();
    assert_eq!((allocated, short), (48, 12), "{:?}", answers.iter().map(|a| &a.body).collect::<Vec<&Value>>());
    let stored = stored_lots(&env, "c").await;
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|l| l.2 == l.1), "{stored:?}");
    assert_eq!(env.app.store.counters("c").await.unwrap().seats_held, 48);
}

/// A reduction takes unissued seats from the parts and says so per lot; a larger one is refused.
#[tokio::test]
async fn a_reduction_of_a_lot_in_parts_is_said_per_lot() {
    let env = TestEnv::new().await;
    let lot_id = env.company_with_lot(64).await;
    let emails = learners(10, 0);
    env.users("c", &emails).named().at(JOINED).await;
    assert_eq!(env.allocate("c", json!({"emails": emails}), NOW).await.status, 200);
    let ask = |quantity: u64| {
        let env = &env;
        async move {
            let a = env
                .post("/v1/orgs/c/orders")
                .by(&cm("c"))
                .json(json!({"quantity": quantity, "kind": "reduction"}))
                .at(NOW)
                .send()
                .await;
            assert_eq!(a.status, 201, "{:?}", a.body);
            env.assign(a.body["order_id"].as_str().unwrap(), "p").at(NOW).send().await
        }
    };
    let refused = ask(55).await;
    assert_eq!(refused.body["error"]["details"], json!({"reason": "too_few_unissued", "reduce": 55, "unissued": 54}));
    let a = ask(50).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["reduced_lots"], json!([{"lot_id": lot_id, "valid_until": "2027-01-15T09:00:00Z", "seats": 50}]));
    let lots = env.lots("c", NOW).await;
    let l = &lots[0];
    assert_eq!((l["quantity"].as_u64(), l["reduced"].as_u64(), l["in_use"].as_u64()), (Some(14), Some(50), Some(10)));
    let stored = stored_lots(&env, "c").await;
    assert!(stored.iter().all(|l| l.2 <= l.1), "{stored:?}");
}

/// A lot and counters stored before parts existed: a large lot stored whole is one part, and
/// the counters item is read with the spread items added to it.
#[tokio::test]
async fn a_large_lot_stored_whole_and_old_counters_keep_working() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let store = &env.app.store;
    let org = store.org("c").await.unwrap().unwrap();
    let ids = ("lot_old".into(), "c".into(), "o_old".into());
    let (from, until) = (at("2026-01-15T09:00:00Z"), at("2027-01-15T09:00:00Z"));
    let lot = seatkeeper::domain::lot::Lot::new(ids, 40, from, Some(until));
    let old_counters: seatkeeper::store::Item = [("PK", "ORG#c"), ("SK", "COUNTERS"), ("type", "counters")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), aws_sdk_dynamodb::types::AttributeValue::S(v.into())))
        .chain([("seats_held".to_string(), aws_sdk_dynamodb::types::AttributeValue::N("0".into()))])
        .collect();
    env.write_items(vec![store.lot_item(&lot, &org).unwrap(), old_counters]).await;

    let emails = learners(40, 0);
    env.users("c", &emails).named().at(JOINED).await;
    let answers = join_all(emails.chunks(8).map(|some| env.allocate("c", json!({"emails": some}), NOW))).await;
    assert!(answers.iter().all(|a| a.status == 200), "{:?}", answers.iter().map(|a| &a.body).collect::<Vec<_>>());
    let stored = stored_lots(&env, "c").await;
    assert_eq!(stored.len(), 1, "stored whole, read as one part");
    assert_eq!((stored[0].1, stored[0].2), (40, 40));
    assert_eq!(env.lots("c", NOW).await[0]["in_use"], 40);
    assert_eq!(store.counters("c").await.unwrap().seats_held, 40);
    let main = env.item("ORG#c", "COUNTERS").await.unwrap();
    assert_eq!(main["seats_held"].as_n().unwrap(), "0", "the allocations went to the spread items");
    let full = env.allocate("c", json!({"emails": ["late@c.example"], "create_missing": true}), NOW).await;
    assert_eq!(full.code(), "insufficient_licences");
}

/// Active users are written to the spread items while the org does not count them; once it
/// does (here with a hard limit of 4), the counters item's own count is conditioned less what
/// the spread items hold, so the year starts from all of them and the limit holds exactly.
#[tokio::test]
async fn active_users_spread_while_uncounted_and_a_switch_to_counting_them_keeps_the_limit_exactly() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.lot("p", "c", 4).await;
    let now = "2026-02-01T00:00:00Z";
    let u = |i: usize| format!("u{i}@c.example");
    env.users("c", (1..=5).map(u)).by(&platform("c")).at(now).await;
    for i in 1..=3 {
        assert_eq!(env.enrol("c", &u(i), "run", json!({"status": "active"}), now).await.status, 200);
    }
    let counters = env.app.store.counters("c").await.unwrap();
    assert_eq!((counters.active_users, counters.spread_active_users), (3, 3), "{counters:?}");
    let main = env.item("ORG#c", "COUNTERS").await.unwrap();
    assert!(main.get("active_users").is_none_or(|v| v.as_n().unwrap() == "0"), "{main:?}");

    env.set_policy("c", json!({"counting": "active_users", "enforcement": "hard"})).await;
    let fourth = env.enrol("c", &u(4), "run", json!({"status": "active"}), now).await;
    assert_eq!(fourth.status, 200, "the year starts from the 3 spread and this one: {:?}", fourth.body);
    let fifth = env.enrolment("c", &u(5), "run").json(json!({"status": "active"})).at(now).send().await;
    assert_eq!((fifth.status, fifth.code()), (409, "seat_limit_reached"), "{:?}", fifth.body);
    assert_eq!(fifth.body["error"]["details"], json!({"limit": 4, "used": 4}));
    assert_eq!(env.enrol("c", &u(1), "run", json!({"status": "expired"}), now).await.status, 200);
    let fifth = env.enrol("c", &u(5), "run", json!({"status": "active"}), now).await;
    assert_eq!(fifth.status, 200, "{:?}", fifth.body);
    assert_eq!(env.app.store.counters("c").await.unwrap().active_users, 4);
    let usage = env.get("/v1/orgs/c/usage").by(&cm("c")).at(now).send().await;
    assert_eq!(usage.body["org"]["reuse"]["distinct_users"], 5, "{:?}", usage.body);
}

/// A short list whose seats are scattered over more lots than one transaction holds beside its
/// users (here 90 users over 20 lots of 5: 90 + 18 lots + counters + audit) is committed as a
/// job in the request, not refused: every user licensed once, each lot full.
#[tokio::test]
async fn ninety_users_over_twenty_small_lots_are_licensed_as_a_job_in_the_request() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    for _ in 0..20 {
        env.lot("p", "c", 5).await;
    }
    let emails = learners(90, 0);
    env.users("c", &emails).named().at(JOINED).await;
    let a = env.allocate("c", json!({"emails": emails}), NOW).await;
    assert_eq!((a.status, &a.body["allocated"]), (200, &json!(90)), "{:?}", a.body);
    assert_eq!(a.body["results"].as_array().map(Vec::len), Some(90));
    assert!(a.body["allocation_id"].is_string(), "{:?}", a.body);
    let lots = env.lots("c", NOW).await;
    assert_eq!(lots.iter().map(|l| l["in_use"].as_u64().unwrap()).sum::<u64>(), 90);
    assert!(lots.iter().all(|l| l["in_use"].as_u64() <= Some(5)));
    let again = env.allocate("c", json!({"emails": emails}), NOW).await;
    assert_eq!((again.status, &again.body["allocated"]), (200, &json!(0)), "nobody twice: {:?}", again.body);
}
