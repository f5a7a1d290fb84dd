//! The order workflow end to end through the handlers, against DynamoDB Local.

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use seatkeeper_tests::{cm, pm, TestEnv, Who};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Worked example 1 (docs/domain.md#example-1-an-order), through the API: request → assign → lot → notice → audit.
#[tokio::test]
async fn worked_case_1_request_assign_lot_notice_audit() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.set_policy("c", json!({ "notify_emails": ["Buyer@C.example"] })).await;
    let order_id = env.request("c", 10, "2026-01-10T08:00:00Z").await;

    let requested = env.get("/v1/orgs/p/orders?status=requested").by(&pm("p")).send().await;
    assert_eq!(requested.status, 200);
    assert_eq!(requested.body["items"][0]["order_id"], order_id.as_str());

    let a = env.assign(&order_id, "p").at("2026-01-15T09:00:00Z").send().await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["status"], "assigned");
    assert_eq!(a.body["assigned_at"], "2026-01-15T09:00:00Z");
    assert_eq!(a.body["lot"]["quantity"], 10);
    assert_eq!(a.body["lot"]["valid_from"], "2026-01-15T09:00:00Z");
    assert_eq!(a.body["lot"]["valid_until"], "2027-01-15T09:00:00Z");

    let lots = env.get("/v1/orgs/c/lots").by(&cm("c")).at("2026-01-15T09:00:00Z").send().await;
    let lot = &lots.body["items"][0];
    assert_eq!(
        (lot["quantity"].as_u64(), lot["in_use"].as_u64(), lot["uses"].as_u64(), lot["available"].as_u64()),
        (Some(10), Some(0), Some(0), Some(10))
    );
    assert_eq!(lot["status"], "active");
    assert_eq!(lot["order_id"], order_id.as_str());
    // At its end instant the lot shows expired, sweep or no sweep.
    let later = env.get("/v1/orgs/c/lots").by(&cm("c")).at("2027-01-15T09:00:00Z").send().await;
    assert_eq!(later.body["items"][0]["status"], "expired");
    assert_eq!(later.body["items"][0]["available"], 0);

    let notices = env.get("/v1/orgs/c/notifications").by(&cm("c")).send().await;
    assert_eq!(notices.body["items"].as_array().unwrap().len(), 1);
    let n = &notices.body["items"][0];
    assert_eq!(n["kind"], "order_assigned");
    assert_eq!(n["org_id"], "c");
    assert_eq!(n["recipients"], json!(["buyer@c.example"]));
    assert_eq!(n["payload"]["quantity"], 10);

    let audit = env.get("/v1/orgs/c/audit").by(&cm("c")).send().await;
    let actions: Vec<&str> =
        audit.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["order.assigned", "order.requested", "policy.set"]);
    assert_eq!(audit.body["items"][0]["actor"], "partner_manager@p.example");
    assert_eq!(audit.body["items"][0]["on_behalf_of"], "c");
    assert!(audit.body["items"][1].get("on_behalf_of").is_none());

    let order = env.get(&format!("/v1/orders/{order_id}")).by(&cm("c")).send().await;
    assert_eq!(order.body["status"], "assigned");
}

#[tokio::test]
async fn a_second_assign_is_a_conflict_and_creates_no_second_lot() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let order_id = env.request("c", 5, "2026-01-10T08:00:00Z").await;
    let path = format!("/v1/orders/{order_id}/assign");
    assert_eq!(env.post(&path).by(&pm("p")).send().await.status, 200);
    let again = env.post(&path).by(&pm("p")).send().await;
    assert_eq!((again.status, again.code()), (409, "conflict"));
    let reject =
        env.post(&format!("/v1/orders/{order_id}/reject")).by(&pm("p")).json(json!({"reason": "late"})).send().await;
    assert_eq!((reject.status, reject.code()), (409, "conflict"));
    assert_eq!(env.count("ORG#c", "lot").await, 1);
    assert_eq!(env.count("ORG#c", "notice").await, 1);
}

#[tokio::test]
async fn concurrent_assigns_make_exactly_one_lot() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let order_id = env.request("c", 5, "2026-01-10T08:00:00Z").await;
    let path = format!("/v1/orders/{order_id}/assign");
    let calls = (0..8).map(|_| env.post(&path).by(&pm("p")).send());
    let answers = join_all(calls).await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let conflicts = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!((ok, conflicts), (1, 7), "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    assert_eq!(env.count("ORG#c", "lot").await, 1);
    assert_eq!(env.count("ORG#c", "notice").await, 1);
}

#[tokio::test]
async fn reject_and_cancel_end_the_order() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let first = env.request("c", 3, "2026-02-01T08:00:00Z").await;
    let r = env
        .post(&format!("/v1/orders/{first}/reject"))
        .by(&pm("p"))
        .json(json!({"reason": "no budget this year"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!((r.body["status"].as_str(), r.body["reason"].as_str()), (Some("rejected"), Some("no budget this year")));
    let no_reason = env.post(&format!("/v1/orders/{first}/reject")).by(&pm("p")).json(json!({})).send().await;
    assert_eq!(no_reason.status, 400);
    // The requester is told why, once.
    let notices = env.get("/v1/orgs/c/notifications").by(&cm("c")).send().await;
    let told: Vec<&Value> =
        notices.body["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "order_rejected").collect();
    assert_eq!(told.len(), 1, "{:?}", notices.body);
    let requester = r.body["requested_by"].as_str().unwrap();
    assert!(requester.contains('@'), "{requester}");
    assert_eq!(told[0]["recipients"], json!([requester]));
    assert_eq!(told[0]["payload"]["reason"], "no budget this year");
    assert_eq!(told[0]["payload"]["order_id"], first.as_str());

    let second = env.request("c", 4, "2026-02-02T08:00:00Z").await;
    let c = env.post(&format!("/v1/orders/{second}/cancel")).by(&cm("c")).send().await;
    assert_eq!((c.status, c.body["status"].as_str()), (200, Some("cancelled")));
    let assign = env.assign(&second, "p").send().await;
    assert_eq!((assign.status, assign.code()), (409, "conflict"));

    // Both appear in the lists under their new status, and no lot was made.
    let rejected = env.get("/v1/orgs/p/orders?status=rejected").by(&pm("p")).send().await;
    assert_eq!(rejected.body["items"].as_array().unwrap().len(), 1);
    let requested = env.get("/v1/orgs/c/orders?status=requested").by(&cm("c")).send().await;
    assert!(requested.body["items"].as_array().unwrap().is_empty());
    assert_eq!(env.count("ORG#c", "lot").await, 0);
}

#[tokio::test]
async fn a_company_manager_may_not_decide_orders() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let order_id = env.request("c", 3, "2026-02-01T08:00:00Z").await;
    let a = env.post(&format!("/v1/orders/{order_id}/assign")).by(&cm("c")).send().await;
    assert_eq!((a.status, a.code()), (403, "forbidden"));
    assert_eq!(env.count("ORG#c", "lot").await, 0);
}

#[tokio::test]
async fn another_tenants_orders_are_not_found() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.partner_with_company("q", "d").await;
    let order_id = env.request("c", 3, "2026-02-01T08:00:00Z").await;
    for who in [pm("q"), cm("d")] {
        let read = env.get(&format!("/v1/orders/{order_id}")).by(&who).send().await;
        assert_eq!((read.status, read.code()), (404, "not_found"));
        assert!(!read.body.to_string().contains("\"c\""), "no data of the other tenant: {:?}", read.body);
        let cancel = env.post(&format!("/v1/orders/{order_id}/cancel")).by(&who).send().await;
        assert_eq!(cancel.status, 404);
        let list = env.get("/v1/orgs/c/orders").by(&who).send().await;
        assert_eq!(list.status, 404);
        let lots = env.get("/v1/orgs/c/lots").by(&who).send().await;
        assert_eq!(lots.status, 404);
    }
    let assign = env.assign(&order_id, "q").send().await;
    assert_eq!(assign.status, 404);
    // A company manager cannot read upwards either.
    assert_eq!(env.get("/v1/orgs/p/orders").by(&cm("c")).send().await.status, 404);
    let read = env.get(&format!("/v1/orders/{order_id}")).by(&cm("c")).send().await;
    assert_eq!(read.status, 200);
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let before = env.partition("ORG#c").await.len();
    let cases = [
        (json!({"quantity": 0}), "quantity"),
        (json!({"quantity": 100001}), "quantity"),
        (json!({"quantity": "ten"}), "quantity"),
        (json!({"quantity": 2.5}), "quantity"),
        (json!({"quantity": -3}), "quantity"),
        (json!({}), "quantity"),
        (json!({"quantity": 1, "colour": "red"}), "colour"),
    ];
    for (body, field) in cases {
        let a = env.post("/v1/orgs/c/orders").by(&cm("c")).json(body.clone()).send().await;
        assert_eq!((a.status, a.code()), (400, "invalid_request"), "{body}");
        assert!(a.body["error"]["message"].as_str().unwrap().contains(field), "{body} → {:?}", a.body);
    }
    let missing = env.post("/v1/orgs/c/orders").by(&cm("c")).send().await;
    assert_eq!((missing.status, missing.code()), (400, "invalid_request"));
    let not_json = env.post("/v1/orgs/c/orders").by(&cm("c")).raw(b"quantity=10").send().await;
    assert_eq!((not_json.status, not_json.code()), (400, "invalid_request"));
    let unknown = env.post("/v1/orgs/nope/orders").by(&Who::vendor_admin()).json(json!({"quantity": 1})).send().await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    let unknown_order = env.post("/v1/orders/ord_nope/assign").by(&pm("p")).send().await;
    assert_eq!(unknown_order.status, 404);
    for a in [&missing, &unknown] {
        assert!(a.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(a.body["error"]["details"].is_object());
    }
    assert_eq!(env.partition("ORG#c").await.len(), before, "nothing was written");
    let no_token = env.post("/v1/orgs/c/orders").json(json!({"quantity": 1})).send().await;
    assert_eq!((no_token.status, no_token.code()), (401, "unauthenticated"));
}

#[tokio::test]
async fn a_repeated_key_replays_the_first_answer_and_a_different_body_is_refused() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let send = |quantity: u64| {
        env.post("/v1/orgs/c/orders").by(&cm("c")).key("order-2026-01").json(json!({"quantity": quantity})).send()
    };
    let first = send(7).await;
    assert_eq!(first.status, 201);
    let again = send(7).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers.get("idempotent-replayed").map(String::as_str), Some("true"));
    let other = send(8).await;
    assert_eq!((other.status, other.code()), (409, "idempotency_mismatch"));
    assert_eq!(env.count("ORG#c", "order_entry").await, 1, "one order only");

    // The same key by another caller is that caller's own.
    let other_caller = env
        .post("/v1/orgs/c/orders")
        .by(&Who::new("company_manager", "c").with_sub("someone-else"))
        .key("order-2026-01")
        .json(json!({"quantity": 8}))
        .send()
        .await;
    assert_eq!(other_caller.status, 201);

    // An assign retried with its key answers as the first time, not 409.
    let order_id = first.body["order_id"].as_str().unwrap();
    let path = format!("/v1/orders/{order_id}/assign");
    let a1 = env.post(&path).by(&pm("p")).key("assign-1").send().await;
    let a2 = env.post(&path).by(&pm("p")).key("assign-1").send().await;
    assert_eq!((a1.status, a2.status), (200, 200));
    assert_eq!(a1.body, a2.body);
    assert_eq!(env.count("ORG#c", "lot").await, 1);

    let long_key = "k".repeat(256);
    let too_long = env.post("/v1/orgs/c/orders").by(&cm("c")).key(&long_key).json(json!({"quantity": 1})).send().await;
    assert_eq!(too_long.status, 400);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_order() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let calls =
        (0..6).map(|_| env.post("/v1/orgs/c/orders").by(&cm("c")).key("same").json(json!({"quantity": 2})).send());
    let answers = join_all(calls).await;
    assert!(
        answers.iter().all(|a| a.status == 201),
        "{:?}",
        answers.iter().map(|a| (a.status, a.body.clone())).collect::<Vec<_>>()
    );
    let ids: std::collections::HashSet<_> =
        answers.iter().map(|a| a.body["order_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(env.count("ORG#c", "order_entry").await, 1);
}

#[tokio::test]
async fn a_partner_sees_requested_orders_across_customers_newest_first_in_pages() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c1").await;
    env.org("c2", "company", "p").await;
    env.org("dept", "company", "c2").await;
    env.partner_with_company("q", "other").await;
    let o1 = env.request("c1", 1, "2026-03-01T08:00:00Z").await;
    let o2 = env.request("c2", 2, "2026-03-02T08:00:00Z").await;
    let o3 = env.request("dept", 3, "2026-03-03T08:00:00Z").await;
    let o4 = env.request("c1", 4, "2026-03-04T08:00:00Z").await;
    env.request("other", 5, "2026-03-05T08:00:00Z").await;
    env.assign(&o4, "p").send().await;

    let ids = |a: &seatkeeper_tests::Answer| -> Vec<String> {
        a.body["items"].as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap().to_string()).collect()
    };
    let all = env.get("/v1/orgs/p/orders").by(&pm("p")).send().await;
    assert_eq!(ids(&all), vec![o4.clone(), o3.clone(), o2.clone(), o1.clone()]);
    let requested = env.get("/v1/orgs/p/orders?status=requested").by(&pm("p")).send().await;
    assert_eq!(ids(&requested), vec![o3.clone(), o2.clone(), o1.clone()]);
    let c2 = env.get("/v1/orgs/p/orders?company_id=c2").by(&pm("p")).send().await;
    assert_eq!(ids(&c2), vec![o2.clone()]);
    let range = env.get("/v1/orgs/p/orders?from=2026-03-02&to=2026-03-03").by(&pm("p")).send().await;
    assert_eq!(ids(&range), vec![o3.clone(), o2.clone()]);
    let range_status =
        env.get("/v1/orgs/p/orders?status=requested&from=2026-03-02T00:00:00Z&to=2026-03-02").by(&pm("p")).send().await;
    assert_eq!(ids(&range_status), vec![o2.clone()]);
    // A company with a department sees its own and the department's.
    let c2_tree = env.get("/v1/orgs/c2/orders").by(&cm("c2")).send().await;
    assert_eq!(ids(&c2_tree), vec![o3.clone(), o2.clone()]);

    // Pages of two, following the cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let target = match &cursor {
            Some(c) => format!("/v1/orgs/p/orders?limit=2&cursor={c}"),
            None => "/v1/orgs/p/orders?limit=2".to_string(),
        };
        let page = env.get(&target).by(&pm("p")).send().await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        assert!(page.body["items"].as_array().unwrap().len() <= 2);
        seen.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, vec![o4, o3, o2, o1]);

    // A cursor from one org's list does not open another's.
    let page = env.get("/v1/orgs/p/orders?limit=1").by(&pm("p")).send().await;
    let c = page.body["next_cursor"].as_str().unwrap();
    let foreign = env.get(&format!("/v1/orgs/q/orders?cursor={c}")).by(&Who::vendor_admin()).send().await;
    assert_eq!(foreign.status, 400);

    for bad in ["status=lost", "limit=0", "limit=501", "from=yesterday", "from=2026-03-05&to=2026-03-01"] {
        let a = env.get(&format!("/v1/orgs/p/orders?{bad}")).by(&pm("p")).send().await;
        assert_eq!((a.status, a.code()), (400, "invalid_request"), "{bad}");
    }
}

/// A company ten years old reads its live lots for a balance, not every lot it ever had: the
/// lots' sort key starts with their end, and the balance reads from now on.
#[tokio::test]
async fn the_balance_reads_the_lots_that_have_not_ended_and_the_lot_list_keeps_them_all() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    for year in 2020..2024 {
        env.order_and_assign("c", 5, &format!("{year}-01-10T08:00:00Z"), "p", &format!("{year}-01-15T09:00:00Z")).await;
    }
    env.order_and_assign("c", 3, "2026-01-10T08:00:00Z", "p", "2026-01-15T09:00:00Z").await;
    let now = seatkeeper_tests::at("2026-06-01T00:00:00Z");
    let store = &env.app.store;
    let org = store.org("c").await.unwrap().unwrap();
    let policy = store.policy(&org).await.unwrap();
    let balance = store.balance("c", &policy, now).await.unwrap();
    let ends: Vec<String> = balance.lots.iter().map(|l| l.valid_until.unwrap().to_rfc3339()).collect();
    assert_eq!(ends, vec!["2027-01-15T09:00:00+00:00".to_string()], "the live lot alone");
    assert_eq!(balance.available(now), 3);
    // At the live lot's very end it is no longer read either.
    let at_end = store.balance("c", &policy, seatkeeper_tests::at("2027-01-15T09:00:00Z")).await.unwrap();
    assert_eq!(at_end.available(seatkeeper_tests::at("2027-01-15T09:00:00Z")), 0);
    let lots = env.get("/v1/orgs/c/lots").by(&cm("c")).send().await;
    assert_eq!(lots.body["items"].as_array().map(Vec::len), Some(5), "{:?}", lots.body);
    env.licensed("c", &["a@c.example", "b@c.example", "c@c.example"], "2026-06-01T00:00:00Z").await;
    let refused = env
        .allocation("c")
        .json(json!({"emails": ["d@c.example"], "create_missing": true}))
        .at("2026-06-01T00:00:00Z")
        .send()
        .await;
    assert_eq!((refused.status, refused.code()), (409, "insufficient_licences"), "{:?}", refused.body);
}

/// The renewals ahead (docs/api.md#orders-and-lots): a partner sees the lots of its own customers
/// that end within the window, soonest first, each whole (a lot in parts summed), with whether an
/// order is requested already; the vendor sees every partner's; a company's id, a window other
/// than 30, 60 or 90 and a company manager are refused.
#[tokio::test]
async fn the_renewals_ahead_list_the_customers_lots_ending_in_the_window_soonest_first() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c1").await;
    env.org("c2", "company", "p").await;
    env.partner_with_company("p2", "c3").await;
    // c1: 40 seats in parts ending 2027-01-15, 20 of them in use; a new lot ending a year on.
    let big = env.lot("p", "c1", 40).await;
    assert!(big.body["lot"]["lot_id"].is_string());
    let learners: Vec<String> = (0..20).map(|i| format!("l{i:02}@c1.example")).collect();
    env.licensed("c1", &learners, "2026-02-01T00:00:00Z").await;
    env.order_and_assign("c1", 5, "2026-12-01T00:00:00Z", "p", "2026-12-01T00:00:00Z").await;
    // c2: ends 2027-03-01, and has asked for more already; c3 (another partner's) ends 2027-01-15.
    env.order_and_assign("c2", 7, "2026-03-01T00:00:00Z", "p", "2026-03-01T00:00:00Z").await;
    env.request("c2", 7, "2026-12-20T00:00:00Z").await;
    env.lot("p2", "c3", 3).await;

    let now = "2027-01-01T00:00:00Z";
    let ahead = |org: &str, days: u32, who: Who| {
        let path = format!("/v1/orgs/{org}/expiring?within_days={days}");
        let env = &env;
        async move { env.get(&path).by(&who).at(now).send().await }
    };
    let rows = |a: &seatkeeper_tests::Answer| -> Vec<(String, u64, u64, bool)> {
        a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["org_id"].as_str().unwrap().to_string(),
                    r["quantity"].as_u64().unwrap(),
                    r["in_use"].as_u64().unwrap(),
                    r["order_requested"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let month = ahead("p", 30, pm("p")).await;
    assert_eq!(month.status, 200, "{:?}", month.body);
    assert_eq!(rows(&month), vec![("c1".to_string(), 40, 20, false)], "{:?}", month.body);
    let row = &month.body["items"][0];
    assert_eq!((row["name"].as_str(), row["valid_until"].as_str()), (Some("C1"), Some("2027-01-15T09:00:00Z")));
    assert_eq!(row["lot_id"], big.body["lot"]["lot_id"]);
    assert_eq!(row["renewed_until"], "2027-12-01T00:00:00Z", "c1's later lot shows it renewed already");
    let quarter = ahead("p", 90, pm("p")).await;
    assert_eq!(rows(&quarter), vec![("c1".to_string(), 40, 20, false), ("c2".to_string(), 7, 0, true)]);
    assert_eq!(quarter.body["items"][1]["renewed_until"], Value::Null, "c2 holds no later lot");
    // Paged, soonest first: one row a page.
    let first = env.get("/v1/orgs/p/expiring?within_days=90&limit=1").by(&pm("p")).at(now).send().await;
    assert_eq!(rows(&first)[0].0, "c1");
    let cursor = first.body["next_cursor"].as_str().expect("a second page").to_string();
    let second = env
        .get(&format!("/v1/orgs/p/expiring?within_days=90&limit=1&cursor={cursor}"))
        .by(&pm("p"))
        .at(now)
        .send()
        .await;
    assert_eq!(rows(&second)[0].0, "c2", "{:?}", second.body);
    // The vendor's window holds every partner's customers; another partner's is not p's.
    let everyone = ahead("vendor", 30, Who::vendor_admin()).await;
    let mut orgs: Vec<String> = rows(&everyone).into_iter().map(|r| r.0).collect();
    orgs.sort();
    assert_eq!(orgs, vec!["c1", "c3"]);
    assert_eq!(rows(&ahead("p2", 90, pm("p2")).await).len(), 1);

    let odd = ahead("p", 45, pm("p")).await;
    assert_eq!(
        (odd.status, odd.body["error"]["details"]["field"].as_str()),
        (400, Some("within_days")),
        "{:?}",
        odd.body
    );
    let company = ahead("c1", 30, pm("p")).await;
    assert_eq!(
        (company.status, company.body["error"]["details"]["field"].as_str()),
        (400, Some("org_id")),
        "{:?}",
        company.body
    );
    assert_eq!(ahead("p", 30, cm("c1")).await.status, 404, "a company manager cannot reach its partner");
}

/// Lots stored before the lots were indexed by their end are indexed once, at set-up: a lot
/// written without the keys (as an earlier version wrote it) is in the renewals ahead after it,
/// and a second set-up indexes nothing.
#[tokio::test]
async fn lots_stored_before_the_index_are_indexed_once_at_set_up() {
    let env = TestEnv::new().await;
    let lot_id = env.company_with_lot(5).await;
    let sk = format!("LOT#2027-01-15T09:00:00.000Z#{lot_id}");
    let mut old = env.item("ORG#c", &sk).await.expect("the lot");
    assert!(old.contains_key("GSI1PK") && old.contains_key("GSI3PK"), "a new lot is indexed: {old:?}");
    for key in ["GSI1PK", "GSI1SK", "GSI3PK", "GSI3SK"] {
        old.remove(key);
    }
    env.write_items(vec![old]).await;
    let migration = HashMap::from([
        ("PK".to_string(), AttributeValue::S("ORG#vendor".into())),
        ("SK".to_string(), AttributeValue::S("MIGRATION#lots_by_end".into())),
    ]);
    env.app.store.client.delete_item().table_name(&env.table).set_key(Some(migration)).send().await.unwrap();
    let now = "2027-01-01T00:00:00Z";
    let before = env.get("/v1/orgs/p/expiring").by(&pm("p")).at(now).send().await;
    assert_eq!(before.body["items"], json!([]), "not indexed yet");

    let done = env.app.store.set_up(seatkeeper_tests::at(now)).await.unwrap();
    assert_eq!(done.lots_indexed, 1, "{done:?}");
    let after = env.get("/v1/orgs/p/expiring").by(&pm("p")).at(now).send().await;
    assert_eq!(after.body["items"][0]["lot_id"], lot_id.as_str(), "{:?}", after.body);
    assert_eq!(env.app.store.set_up(seatkeeper_tests::at(now)).await.unwrap().lots_indexed, 0, "once");
}

/// A department's lots (a company under a company) are among its partner's renewals ahead, and
/// only the company's own request for more counts as an order requested: a reduction it asked
/// for, or its department's order, does not.
#[tokio::test]
async fn the_renewals_ahead_reach_departments_and_count_only_the_companys_own_orders_for_more() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.org("d", "company", "c").await;
    env.lot("p", "c", 4).await;
    env.lot("p", "d", 2).await;
    let reduce =
        env.post("/v1/orgs/c/orders").by(&cm("c")).json(json!({"quantity": 1, "kind": "reduction"})).send().await;
    assert_eq!(reduce.status, 201, "{:?}", reduce.body);
    env.request("d", 3, "2026-12-20T00:00:00Z").await;
    let a = env.get("/v1/orgs/p/expiring?within_days=30").by(&pm("p")).at("2027-01-01T00:00:00Z").send().await;
    let rows: Vec<(String, bool)> = a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["org_id"].as_str().unwrap().to_string(), r["order_requested"].as_bool().unwrap()))
        .collect();
    assert_eq!(rows, vec![("c".to_string(), false), ("d".to_string(), true)], "{:?}", a.body);
}
