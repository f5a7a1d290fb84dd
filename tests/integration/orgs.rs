//! Tenants and policies through the handlers.

use seatkeeper_tests::{cm, pm, TestEnv, Who};
use serde_json::json;

#[tokio::test]
async fn the_vendor_builds_the_tree_and_partners_add_companies() {
    let env = TestEnv::new().await;
    let vendor = env.get("/v1/orgs/vendor").by(&Who::vendor_admin()).send().await;
    assert_eq!((vendor.status, vendor.body["kind"].as_str()), (200, Some("vendor")));

    let p = env
        .post("/v1/orgs")
        .by(&Who::vendor_admin())
        .json(json!({"org_id": "p", "name": "Reseller", "kind": "partner", "parent_id": "vendor"}))
        .at("2026-01-02T10:00:00Z")
        .send()
        .await;
    assert_eq!(p.status, 201);
    assert_eq!(
        p.body,
        json!({"org_id": "p", "name": "Reseller", "kind": "partner", "parent_id": "vendor", "created_at": "2026-01-02T10:00:00Z"})
    );

    let pm = pm("p");
    let c = env
        .post("/v1/orgs")
        .by(&pm)
        .json(json!({"name": "Customer", "kind": "company", "parent_id": "p"}))
        .send()
        .await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    let generated = c.body["org_id"].as_str().unwrap();
    assert!(generated.starts_with("org_"));

    let kids = env.get("/v1/orgs/p/children").by(&pm).send().await;
    assert_eq!(kids.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(kids.body["items"][0]["org_id"], generated);

    // A partner manager may not create partners (under its own partner: its role refuses; under
    // the vendor, out of its reach: not found), nor companies elsewhere.
    let partner =
        env.post("/v1/orgs").by(&pm).json(json!({"name": "X", "kind": "partner", "parent_id": "p"})).send().await;
    assert_eq!(partner.status, 403);
    let partner =
        env.post("/v1/orgs").by(&pm).json(json!({"name": "X", "kind": "partner", "parent_id": "vendor"})).send().await;
    assert_eq!(partner.status, 404);
    env.org("q", "partner", "vendor").await;
    let elsewhere =
        env.post("/v1/orgs").by(&pm).json(json!({"name": "X", "kind": "company", "parent_id": "q"})).send().await;
    assert_eq!(elsewhere.status, 404);

    let taken = env
        .post("/v1/orgs")
        .by(&Who::vendor_admin())
        .json(json!({"org_id": "p", "name": "Again", "kind": "partner", "parent_id": "vendor"}))
        .send()
        .await;
    assert_eq!((taken.status, taken.code()), (409, "conflict"));
    let bad_id = env
        .post("/v1/orgs")
        .by(&Who::vendor_admin())
        .json(json!({"org_id": "a#b", "name": "Bad", "kind": "partner", "parent_id": "vendor"}))
        .send()
        .await;
    assert_eq!((bad_id.status, bad_id.code()), (400, "invalid_request"));
    let no_parent = env
        .post("/v1/orgs")
        .by(&Who::vendor_admin())
        .json(json!({"name": "Orphan", "kind": "company", "parent_id": "ghost"}))
        .send()
        .await;
    assert_eq!(no_parent.status, 404);

    // The audit log of the parent records who created what.
    let audit = env.get("/v1/orgs/p/audit").by(&pm).send().await;
    assert_eq!(audit.body["items"][0]["action"], "org.created");
    assert_eq!(audit.body["items"][0]["actor"], "partner_manager@p.example");
}

#[tokio::test]
async fn policies_are_inherited_and_set_by_the_vendor_only() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let admin = Who::vendor_admin();
    let set = env
        .put("/v1/orgs/p/policy")
        .by(&admin)
        .json(json!({"term_months": 6, "counting": "active_users"}))
        .send()
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    let set = env
        .put("/v1/orgs/c/policy")
        .by(&admin)
        .json(json!({"enforcement": "soft", "uses_per_seat": 3, "tiers": [25, 50, 100]}))
        .send()
        .await;
    assert_eq!(set.status, 200);

    let c = env.get("/v1/orgs/c").by(&cm("c")).send().await;
    let policy = &c.body["policy"];
    assert_eq!(policy["term_months"], 6);
    assert_eq!(policy["counting"], "active_users");
    assert_eq!(policy["enforcement"], "soft");
    assert_eq!(policy["uses_per_seat"], 3);
    assert_eq!(policy["tiers"], json!([25, 50, 100]));
    assert_eq!(policy["term_starts"], "assignment");

    // The term in force shapes the lot: six calendar months from the assignment.
    let a = env.order_and_assign("c", 2, "2026-08-01T00:00:00Z", "p", "2026-08-31T12:00:00Z").await;
    assert_eq!(a.body["lot"]["valid_until"], "2027-02-28T12:00:00Z");

    for who in [pm("p"), cm("c")] {
        let refused = env.put("/v1/orgs/c/policy").by(&who).json(json!({"term_months": 24})).send().await;
        assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    }
    for (body, field) in [
        (json!({"term_months": 0}), "term_months"),
        (json!({"term_starts": "tomorrow"}), "term_starts"),
        (json!({"tiers": [10, 5]}), "tiers"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let bad = env.put("/v1/orgs/c/policy").by(&admin).json(body.clone()).send().await;
        assert_eq!(bad.status, 400, "{body}");
        assert!(bad.body["error"]["message"].as_str().unwrap().contains(field), "{:?}", bad.body);
    }
    let still = env.get("/v1/orgs/c").by(&admin).send().await;
    assert_eq!(still.body["policy"]["term_months"], 6);
}

/// The org read carries the policy in force and, apart, only what the org sets itself: a form
/// sends back just the knobs its user changed, and the inherited ones stay inherited.
#[tokio::test]
async fn an_org_read_tells_its_own_knobs_from_the_inherited_ones() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let admin = Who::vendor_admin();
    let cm = cm("c");
    let fresh = env.get("/v1/orgs/c").by(&cm).send().await;
    assert_eq!((fresh.status, fresh.body["own_policy"].clone()), (200, json!({})), "{:?}", fresh.body);
    env.set_policy("p", json!({"term_months": 24, "counting": "active_users"})).await;
    let set = env.put("/v1/orgs/c/policy").by(&admin).json(json!({"seats_included": 1})).send().await;
    assert_eq!(set.body["own_policy"], json!({"seats_included": 1}), "{:?}", set.body);

    let c = env.get("/v1/orgs/c").by(&cm).send().await;
    assert_eq!(c.body["own_policy"], json!({"seats_included": 1}));
    assert_eq!(
        (c.body["policy"]["term_months"].as_u64(), c.body["policy"]["counting"].as_str()),
        (Some(24), Some("active_users")),
        "inherited from the partner"
    );
    assert_eq!(c.body["policy"]["seats_included"], 1);
    let p = env.get("/v1/orgs/p").by(&pm("p")).send().await;
    assert_eq!(p.body["own_policy"], json!({"term_months": 24, "counting": "active_users"}));

    // A second form sends one knob: the org's own settings gain it, the others stay as they were.
    let again = env.put("/v1/orgs/c/policy").by(&admin).json(json!({"renewal": "automatic"})).send().await;
    assert_eq!(again.body["own_policy"], json!({"seats_included": 1, "renewal": "automatic"}));
    let c = env.get("/v1/orgs/c").by(&cm).send().await;
    assert_eq!(c.body["own_policy"], json!({"seats_included": 1, "renewal": "automatic"}));
    assert_eq!(c.body["policy"]["term_months"], 24);
    assert_eq!(c.body["policy_settings"], c.body["own_policy"], "the earlier name says the same");
}

#[tokio::test]
async fn orgs_are_visible_from_themselves_and_above_only() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.partner_with_company("q", "d").await;
    let cm = cm("c");
    assert_eq!(env.get("/v1/orgs/c").by(&cm).send().await.status, 200);
    for target in [
        "/v1/orgs/p",
        "/v1/orgs/vendor",
        "/v1/orgs/d",
        "/v1/orgs/q/children",
        "/v1/orgs/d/audit",
        "/v1/orgs/d/notifications",
        "/v1/orgs/ghost",
    ] {
        let a = env.get(target).by(&cm).send().await;
        assert_eq!((a.status, a.code()), (404, "not_found"), "{target}");
    }
    for role in ["learner", "platform"] {
        let a = env.get("/v1/orgs/c").by(&Who::new(role, "c")).send().await;
        assert_eq!((a.status, a.code()), (403, "forbidden"), "{role}");
    }
}

/// Each org keeps its own contacts (docs/domain.md#who-is-told), set by its managers and those
/// above, not inherited: a partner's `orders` contact receives its customers' requests (a
/// partner holds no users, so without one nobody did), its customers' managers see it as their
/// account contact, and a company's own `expiry` contact is not the partner's.
#[tokio::test]
async fn a_partners_order_contact_receives_the_requests_and_is_the_companys_account_contact() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let list = json!({"contacts": [
        {"email": " AM@p.example ", "name": "Anna de Vries", "receives": ["usage", "orders"]},
        {"email": "finance@p.example", "receives": ["forecast"]},
    ]});
    let set = env.put("/v1/orgs/p/contacts").by(&pm("p")).json(list.clone()).send().await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(
        set.body["contacts"][0],
        json!({"email": "am@p.example", "name": "Anna de Vries", "receives": ["orders", "usage"]})
    );
    let read = env.get("/v1/orgs/p/contacts").by(&pm("p")).send().await;
    assert_eq!(read.body["contacts"], set.body["contacts"]);
    // Outside its reach a company's manager finds nothing; inside, nothing of another's.
    assert_eq!(env.put("/v1/orgs/p/contacts").by(&cm("c")).json(list).send().await.status, 404);
    let bad = env
        .put("/v1/orgs/c/contacts")
        .by(&cm("c"))
        .json(json!({"contacts": [{"email": "x@c.example", "receives": []}]}))
        .send()
        .await;
    assert_eq!((bad.status, bad.body["error"]["details"]["field"].as_str()), (400, Some("contacts[0].receives")));
    let own = json!({"contacts": [{"email": "hr@c.example", "receives": ["expiry"]}]});
    assert_eq!(env.put("/v1/orgs/c/contacts").by(&cm("c")).json(own).send().await.status, 200);
    assert_eq!(env.get("/v1/orgs/p/contacts").by(&pm("p")).send().await.body["contacts"].as_array().unwrap().len(), 2);

    env.request("c", 5, "2026-02-01T08:00:00Z").await;
    let notices = env.get("/v1/orgs/p/notifications").by(&pm("p")).send().await;
    let requested = &notices.body["items"][0];
    assert_eq!(requested["kind"], "order_requested");
    assert_eq!(requested["recipients"], json!(["am@p.example"]), "the orders contact, and not finance or hr");

    let c = env.get("/v1/orgs/c").by(&cm("c")).send().await;
    assert_eq!(c.body["account_contacts"], json!([{"email": "am@p.example", "name": "Anna de Vries"}]));
    let audit = env.get("/v1/orgs/p/audit").by(&pm("p")).send().await;
    assert!(audit.body["items"].as_array().unwrap().iter().any(|a| a["action"] == "contacts.set"), "{:?}", audit.body);
}
