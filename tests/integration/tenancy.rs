//! The vendor org and org ids. The vendor root is stored from the first start — the local server,
//! every table the tests create, and in AWS the deployment's `TableSetup` custom resource, which
//! stops the deployment when `ORG#vendor` holds another org — so nobody can ever create it; no
//! org may take another's id in another case; and a table an earlier version left (no vendor
//! item, no case guards) keeps working once it is set up.

use seatkeeper::domain::org::{Org, OrgKind};
use seatkeeper::lambda::{entries, invoke};
use seatkeeper::store::setup::SetUpError;
use seatkeeper_tests::cloudformation::{setup_request, ResponseUrl};
use seatkeeper_tests::{at, cm, pm, TestEnv, Who, NOW};
use serde_json::json;

fn org(id: &str, kind: OrgKind, parent: Option<&Org>) -> Org {
    let mut ancestors = parent.map(|p| p.ancestors.clone()).unwrap_or_default();
    if let Some(p) = parent {
        ancestors.push(p.org_id.clone());
    } else {
        ancestors.push("vendor".into());
    }
    Org {
        org_id: id.into(),
        name: id.to_uppercase(),
        kind,
        parent_id: Some(parent.map(|p| p.org_id.clone()).unwrap_or_else(|| "vendor".into())),
        ancestors,
        created_at: at("2025-06-01T00:00:00Z"),
        policy: Default::default(),
        version: 0,
        runs_open_ended: false,
        contacts: Vec::new(),
    }
}

/// Org items written straight to the table, as an earlier version wrote them (no case guards).
async fn old_orgs(env: &TestEnv, orgs: &[&Org]) {
    let items = orgs.iter().map(|o| env.app.store.org_item(o).unwrap()).collect();
    env.write_items(items).await;
}

/// What the attack left on a table of an earlier version: partner `p`, and a company of its
/// created under the vendor's id before the vendor was stored.
async fn taken_vendor(env: &TestEnv) {
    let p = org("p", OrgKind::Partner, None);
    let rogue = org("vendor", OrgKind::Company, Some(&p));
    old_orgs(env, &[&p, &rogue]).await;
}

#[tokio::test]
async fn the_first_start_stores_the_vendor_once_however_often_it_runs() {
    let env = TestEnv::bare().await;
    assert!(env.item("ORG#vendor", "ORG").await.is_none());
    let done = env.app.store.set_up(at(NOW)).await.unwrap();
    assert!(done.vendor_written && done.guarded == 1 && done.case_clashes.is_empty(), "{done:?}");
    let vendor = env.app.store.org("vendor").await.unwrap().unwrap();
    assert!(vendor.is_vendor_root(), "{vendor:?}");
    assert_eq!(vendor.created_at, at(NOW));
    let guard = env.item("ORGID#vendor", "ORGID").await.expect("the vendor's case guard");
    assert_eq!(guard["org_id"].as_s().unwrap(), "vendor");
    let items = env.all_items().await;
    let again = env.app.store.set_up(at("2027-03-01T00:00:00Z")).await.unwrap();
    assert!(!again.vendor_written);
    assert_eq!(env.all_items().await, items, "a second start changes nothing");

    // Starts racing on a fresh table: one stores the vendor, the others find it.
    let env = TestEnv::bare().await;
    let store = &env.app.store;
    let (a, b, c) = tokio::join!(store.set_up(at(NOW)), store.set_up(at(NOW)), store.set_up(at(NOW)));
    let written = [a.unwrap(), b.unwrap(), c.unwrap()].iter().filter(|d| d.vendor_written).count();
    assert_eq!(written, 1);
    assert_eq!(env.all_items().await.len(), 7, "the vendor, its guard and the records of the five migrations");
}

#[tokio::test]
async fn a_table_whose_vendor_id_holds_another_org_is_not_started() {
    let env = TestEnv::bare().await;
    taken_vendor(&env).await;
    let before = env.all_items().await;
    let err = env.app.store.set_up(at(NOW)).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SetUpError::NotTheVendor(_)), "{err:?}");
    assert!(
        message.contains("ORG#vendor holds the company org \"VENDOR\" under \"p\"")
            && message.contains("not the vendor root")
            && message.contains("Nothing was set up"),
        "{message}"
    );
    assert_eq!(env.all_items().await, before, "nothing was written");
}

#[tokio::test]
async fn a_table_from_before_keeps_working_and_its_vendor_cannot_be_taken() {
    // An earlier version stored the vendor only when its policy was first set; until then a
    // partner could create "vendor" under itself. Such a table: a partner and its company, no
    // vendor item, no case guards.
    let env = TestEnv::bare().await;
    let p = org("p", OrgKind::Partner, None);
    let c = org("Globex", OrgKind::Company, Some(&p));
    old_orgs(&env, &[&p, &c]).await;
    let attack = env
        .post("/v1/orgs")
        .by(&pm("p"))
        .json(json!({"org_id": "vendor", "name": "Vendor", "kind": "company", "parent_id": "p"}))
        .send()
        .await;
    assert_eq!((attack.status, attack.code()), (400, "invalid_request"), "{:?}", attack.body);
    assert!(env.item("ORG#vendor", "ORG").await.is_none(), "nobody created the vendor");

    let done = env.app.store.set_up(at(NOW)).await.unwrap();
    assert!(done.vendor_written && done.guarded == 3 && done.runs_open_ended == 2, "{done:?}");
    let vendor = env.get("/v1/orgs/vendor").by(&Who::vendor_admin()).send().await;
    assert_eq!((vendor.status, vendor.body["kind"].as_str()), (200, Some("vendor")), "{:?}", vendor.body);
    // The old orgs serve as before: read, list, order and assign.
    let read = env.get("/v1/orgs/Globex").by(&cm("Globex")).send().await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    let kids = env.get("/v1/orgs/p/children").by(&pm("p")).send().await;
    assert_eq!(kids.body["items"][0]["org_id"], "Globex", "{:?}", kids.body);
    env.order_and_assign("Globex", 5, "2026-01-10T08:00:00Z", "p", "2026-01-15T09:00:00Z").await;
    let all = env.get("/v1/orgs/vendor/orders").by(&Who::vendor_admin()).send().await;
    assert_eq!(all.body["items"].as_array().map(Vec::len), Some(1), "{:?}", all.body);
    // The old company's id, in another case, is taken now that it has its guard.
    let twin = env
        .post("/v1/orgs")
        .by(&pm("p"))
        .json(json!({"org_id": "globex", "name": "Twin", "kind": "company", "parent_id": "p"}))
        .send()
        .await;
    assert_eq!((twin.status, twin.code()), (409, "conflict"), "{:?}", twin.body);
    assert!(env.item("ORG#globex", "ORG").await.is_none());
}

#[tokio::test]
async fn orgs_stored_before_guards_with_ids_equal_ignoring_case_are_both_kept() {
    let env = TestEnv::bare().await;
    let p = org("p", OrgKind::Partner, None);
    let (a, b) = (org("Acme", OrgKind::Company, Some(&p)), org("ACME", OrgKind::Company, Some(&p)));
    old_orgs(&env, &[&p, &a, &b]).await;
    let done = env.app.store.set_up(at(NOW)).await.unwrap();
    assert_eq!(done.case_clashes.len(), 1, "{done:?}");
    let holder = env.item("ORGID#acme", "ORGID").await.unwrap()["org_id"].as_s().unwrap().clone();
    assert!(holder == "Acme" || holder == "ACME", "{holder}");
    for id in ["Acme", "ACME"] {
        let a = env.get(&format!("/v1/orgs/{id}")).by(&pm("p")).send().await;
        assert_eq!(a.status, 200, "{id}: {:?}", a.body);
    }
    let third = env
        .post("/v1/orgs")
        .by(&pm("p"))
        .json(json!({"org_id": "acme", "name": "Third", "kind": "company", "parent_id": "p"}))
        .send()
        .await;
    assert_eq!(third.status, 409, "{:?}", third.body);
}

#[tokio::test]
async fn two_spellings_of_one_id_created_at_once_make_one_org() {
    let env = TestEnv::new().await;
    env.org("p", "partner", "vendor").await;
    for round in 0..4 {
        let (upper, lower) = (format!("Acme{round}"), format!("acme{round}"));
        let create = |id: String, who: Who| {
            let env = &env;
            async move {
                env.post("/v1/orgs")
                    .by(&who)
                    .json(json!({"org_id": id, "name": "A", "kind": "company", "parent_id": "p"}))
                    .send()
                    .await
            }
        };
        let (x, y) = tokio::join!(create(upper.clone(), pm("p")), create(lower.clone(), Who::vendor_admin()));
        let mut statuses = [x.status, y.status];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "{:?} {:?}", x.body, y.body);
        let winner = if x.status == 201 { &upper } else { &lower };
        let loser = if x.status == 201 { &lower } else { &upper };
        assert!(env.item(&format!("ORG#{winner}"), "ORG").await.is_some());
        assert!(env.item(&format!("ORG#{loser}"), "ORG").await.is_none());
        let guard = env.item(&format!("ORGID#{lower}"), "ORGID").await.unwrap();
        assert_eq!(guard["org_id"].as_s().unwrap(), winner);
        // Ids stay as stored: the loser's spelling finds nothing.
        let a = env.get(&format!("/v1/orgs/{loser}")).by(&Who::vendor_admin()).send().await;
        assert_eq!(a.status, 404, "{:?}", a.body);
    }
}

// ---- the deployment's TableSetup custom resource ------------------------------------------------

#[tokio::test]
async fn the_deployment_sets_the_table_up_and_answers_cloudformation() {
    let env = TestEnv::bare().await;
    let cfn = ResponseUrl::start().await;
    let answer = invoke(&env.app, &entries::TENANT_ADMIN, setup_request("Create", &cfn.url, &env.table)).await.unwrap();
    let answers = cfn.answers();
    assert_eq!(answers.len(), 1, "{answers:?}");
    let (content_type, put) = &answers[0];
    assert_eq!((content_type, put), (&None, &answer), "no Content-Type: the URL is signed for none");
    assert_eq!(put["Status"], "SUCCESS", "{put}");
    assert_eq!(put["PhysicalResourceId"], format!("{}-setup", env.table));
    assert_eq!(put["RequestId"], "82304eb2-bdda-469f-a33b-a3f1406d0a52");
    assert_eq!(put["LogicalResourceId"], "TableSetup");
    assert!(put["StackId"].as_str().unwrap().starts_with("arn:aws:cloudformation:"));
    assert_eq!(put["Data"]["VendorWritten"], "true");
    assert!(env.app.store.org("vendor").await.unwrap().unwrap().is_vendor_root());

    // An update runs it again and changes nothing; a delete changes nothing either.
    let items = env.all_items().await;
    for kind in ["Update", "Delete"] {
        let answer = invoke(&env.app, &entries::TENANT_ADMIN, setup_request(kind, &cfn.url, &env.table)).await.unwrap();
        assert_eq!(answer["Status"], "SUCCESS", "{kind}: {answer}");
        assert_eq!(answer["PhysicalResourceId"], format!("{}-setup", env.table), "{kind}");
    }
    assert_eq!(cfn.answers().len(), 3);
    assert_eq!(cfn.answers()[1].1["Data"]["VendorWritten"], "false");
    assert_eq!(env.all_items().await, items);

    // Only the tenant-admin function takes it.
    let refused = invoke(&env.app, &entries::USERS, setup_request("Create", &cfn.url, &env.table)).await.unwrap_err();
    assert_eq!(refused.kind, "Refused");
    assert!(refused.message.contains("custom resource"), "{}", refused.message);
    assert_eq!(cfn.answers().len(), 3, "nothing answered for another function");
}

#[tokio::test]
async fn a_deployment_onto_a_table_whose_vendor_id_is_taken_stops_and_says_so() {
    let env = TestEnv::bare().await;
    taken_vendor(&env).await;
    let before = env.all_items().await;
    let cfn = ResponseUrl::start().await;
    let answer = invoke(&env.app, &entries::TENANT_ADMIN, setup_request("Create", &cfn.url, &env.table)).await.unwrap();
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(reason.contains("ORG#vendor holds the company org") && reason.contains("Nothing was set up"), "{reason}");
    assert_eq!(cfn.answers(), vec![(None, answer)]);
    assert_eq!(env.all_items().await, before, "nothing was written");

    // CloudFormation's URL out of reach: the invocation fails, so Lambda delivers it again.
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/cr-response-key", l.local_addr().unwrap())
    };
    let failed =
        invoke(&env.app, &entries::TENANT_ADMIN, setup_request("Create", &gone, &env.table)).await.unwrap_err();
    assert_eq!(failed.kind, "SetupUnanswered", "{}", failed.message);
}

#[tokio::test]
async fn orgs_stored_before_runs_had_a_default_access_keep_them_open_ended_until_the_vendor_opts_them_in() {
    let env = TestEnv::bare().await;
    let p = org("p", OrgKind::Partner, None);
    let c = org("c", OrgKind::Company, Some(&p));
    old_orgs(&env, &[&p, &c]).await;
    let done = env.app.store.set_up(at(NOW)).await.unwrap();
    assert_eq!(done.runs_open_ended, 2, "{done:?}");
    let run_access = |org: &'static str| {
        let store = env.app.store.clone();
        async move {
            let org = store.org(org).await.unwrap().unwrap();
            store.policy(&org).await.unwrap().run_access_months
        }
    };
    assert_eq!(run_access("c").await, 0, "open-ended, as it was");
    // Once only: a later setup marks nothing, and an org created since has the default.
    env.post("/v1/orgs")
        .by(&pm("p"))
        .json(json!({"org_id": "n", "name": "New", "kind": "company", "parent_id": "p"}))
        .send()
        .await;
    assert_eq!(env.app.store.set_up(at("2027-03-01T00:00:00Z")).await.unwrap().runs_open_ended, 0);
    assert_eq!(run_access("n").await, 12);
    // The runs of the old company: open-ended until the vendor sets the knob on it or above it.
    env.put_user("c", "old@c.example").json(json!({"name": "Old"})).send().await;
    let open = env.enrol("c", "old@c.example", "r1", json!({"status": "active"}), NOW).await;
    assert!(open.body["enrolment"].get("ends_at").is_none(), "{:?}", open.body);
    env.set_policy("vendor", json!({"run_access_months": 12})).await;
    assert_eq!(run_access("c").await, 12);
    let ended = env.enrol("c", "old@c.example", "r2", json!({"status": "active"}), NOW).await;
    assert!(ended.body["enrolment"]["ends_at"].is_string(), "{:?}", ended.body);
}

/// Users stored before the counters counted users with access are counted once, by the setup's
/// migration (released ones not); later setups count nothing, and the count moves with every
/// write from then on.
#[tokio::test]
async fn users_stored_before_they_were_counted_are_counted_once_by_the_setup() {
    use seatkeeper::domain::user::User;
    let env = TestEnv::bare().await;
    let p = org("p", OrgKind::Partner, None);
    let c = org("c", OrgKind::Company, Some(&p));
    old_orgs(&env, &[&p, &c]).await;
    let mut users: Vec<User> = (0..3).map(|i| User::new("c", &format!("old{i}@c.example"), at(NOW))).collect();
    users[2].released_at = Some(at(NOW));
    let items = users.iter().map(|u| env.app.store.user_item(u).unwrap()).collect();
    env.write_items(items).await;

    let done = env.app.store.set_up(at(NOW)).await.unwrap();
    assert_eq!(done.users_counted, 1, "one company: {done:?}");
    assert_eq!(env.app.store.counters("c").await.unwrap().with_access, 2, "the released user is not counted");
    assert_eq!(env.app.store.set_up(at("2027-03-01T00:00:00Z")).await.unwrap().users_counted, 0, "once");
    env.put_user("c", "new@c.example").json(json!({"name": "New"})).send().await;
    env.call("DELETE", "/v1/orgs/c/users/old0@c.example").by(&cm("c")).send().await;
    assert_eq!(env.app.store.counters("c").await.unwrap().with_access, 2, "one created, one released");
}

/// Each org's own `notify_emails` from before contacts become its contacts receiving every
/// topic, once (an address already a contact keeps its name), and the knob is left only where
/// the contacts had no room. From then on the knob is the vendor's copy of one org's notices: a
/// list set on the vendor reaches no company below it.
#[tokio::test]
async fn notify_emails_stored_before_contacts_become_the_orgs_own_contacts_once() {
    use seatkeeper::domain::contacts::{Contact, Topic};
    let env = TestEnv::bare().await;
    let mut p = org("p", OrgKind::Partner, None);
    p.policy.notify_emails = Some(vec!["account@p.example".into()]);
    let mut c = org("c", OrgKind::Company, Some(&p));
    c.policy.notify_emails = Some(vec!["boss@c.example".into(), "copy@c.example".into()]);
    c.contacts =
        vec![Contact { email: "boss@c.example".into(), name: Some("Boss".into()), receives: vec![Topic::Expiry] }];
    let mut full = org("full", OrgKind::Company, Some(&p));
    full.contacts = (0..20)
        .map(|i| Contact { email: format!("c{i:02}@full.example"), name: None, receives: vec![Topic::Usage] })
        .collect();
    full.policy.notify_emails = Some(vec!["extra@full.example".into()]);
    old_orgs(&env, &[&p, &c, &full]).await;

    let done = env.app.store.set_up(at(NOW)).await.unwrap();
    assert_eq!(done.notify_emails_moved, 3, "{done:?}");
    let contacts = |org: &'static str| {
        let env = &env;
        async move {
            let got = env.get(&format!("/v1/orgs/{org}/contacts")).by(&Who::vendor_admin()).send().await;
            got.body["contacts"].as_array().unwrap().clone()
        }
    };
    let everything = json!(["orders", "usage", "forecast", "expiry"]);
    assert_eq!(contacts("p").await, vec![json!({"email": "account@p.example", "receives": everything})]);
    let of_c = contacts("c").await;
    assert_eq!(of_c[0], json!({"email": "boss@c.example", "name": "Boss", "receives": everything}), "{of_c:?}");
    assert_eq!(of_c[1], json!({"email": "copy@c.example", "receives": everything}), "{of_c:?}");
    let policy = |org: &'static str| {
        let store = env.app.store.clone();
        async move { store.org(org).await.unwrap().unwrap().policy.notify_emails }
    };
    assert_eq!(policy("c").await, None, "moved");
    assert_eq!(policy("full").await, Some(vec!["extra@full.example".to_string()]), "no room: the vendor's copy");
    assert_eq!(contacts("full").await.len(), 20);
    assert_eq!(env.app.store.set_up(at("2027-03-01T00:00:00Z")).await.unwrap().notify_emails_moved, 0, "once");

    // The partner's account manager receives the request as a contact now; a copy the vendor
    // sets on itself reaches no company's notice.
    env.set_policy("vendor", json!({"notify_emails": ["everything@vendor.example"]})).await;
    env.put_user("c", "boss@c.example").json(json!({"role": "company_manager"})).send().await;
    let asked = env.post("/v1/orgs/c/orders").by(&cm("c")).json(json!({"quantity": 3})).send().await;
    assert_eq!(asked.status, 201, "{:?}", asked.body);
    let told = env.get("/v1/orgs/p/notifications").by(&pm("p")).send().await;
    let request = told.body["items"].as_array().unwrap().iter().find(|n| n["kind"] == "order_requested").cloned();
    assert_eq!(request.expect("the request's notice")["recipients"], json!(["account@p.example"]), "{:?}", told.body);
    let order = asked.body["order_id"].as_str().unwrap();
    let assigned = env.assign(order, "p").send().await;
    assert_eq!(assigned.status, 200, "{:?}", assigned.body);
    let told = env.get("/v1/orgs/c/notifications").by(&cm("c")).send().await;
    let ready = told.body["items"].as_array().unwrap().iter().find(|n| n["kind"] == "order_assigned").cloned();
    assert_eq!(ready.expect("the assignment's notice")["recipients"], json!(["boss@c.example", "copy@c.example"]));
}
