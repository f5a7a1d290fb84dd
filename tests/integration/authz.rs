//! The authorisation matrix, generated from the route table: every route × every role × every
//! relation of the target to the caller's org (own, child, parent, sibling, foreign, unknown).
//! What each role may do is written here from the "who" column of docs/api.md#routes, not taken from the code.
//! Zero leaks: reach is checked before role, so outside the caller's reach an object is
//! `not_found` whatever the role — the same answer as for an id nobody holds — and the answer
//! carries nothing of it; within its reach a role that may never do an action is `forbidden`;
//! nobody decides its own org's order; a learner reads only its own access.

use seatkeeper::http::routes::ROUTES;
use seatkeeper_tests::{cm, platform, Answer, TestEnv, Who, NOW};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Own,
    Child,
    Parent,
    Sibling,
    Foreign,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Authorised: whatever the handler decides (2xx, or 400/409 on the merits), never 401/403/404/5xx.
    Allowed,
    Forbidden,
    Hidden,
}

const ROLES: &[&str] = &["vendor_admin", "partner_manager", "company_manager", "learner", "platform"];
const MANAGERS: &[&str] = &["vendor_admin", "partner_manager", "company_manager"];
const MANAGERS_AND_PLATFORM: &[&str] = &["vendor_admin", "partner_manager", "company_manager", "platform"];

/// The "who" column of docs/api.md#routes.
fn who_may(method: &str, path: &str) -> &'static [&'static str] {
    match (method, path) {
        ("POST", "/v1/orgs") => &["vendor_admin", "partner_manager"],
        ("PUT", "/v1/orgs/{org_id}/policy") => &["vendor_admin"],
        ("POST", "/v1/orders/{order_id}/assign")
        | ("POST", "/v1/orders/{order_id}/reject")
        | ("GET", "/v1/orgs/{org_id}/expiring") => &["vendor_admin", "partner_manager"],
        ("PUT", "/v1/orgs/{org_id}/users/{email}")
        | ("DELETE", "/v1/orgs/{org_id}/users/{email}")
        | ("PUT", "/v1/orgs/{org_id}/users/{email}/enrolments/{enrolment_id}")
        | ("GET", "/v1/orgs/{org_id}/users/{email}/enrolments")
        | ("POST", "/v1/orgs/{org_id}/enrolments/bulk") => MANAGERS_AND_PLATFORM,
        ("GET", "/v1/orgs/{org_id}/users/{email}/access") => ROLES,
        ("GET", "/v1/orgs/{org_id}")
        | ("GET", "/v1/orgs/{org_id}/children")
        | ("GET", "/v1/orgs/{org_id}/notifications")
        | ("GET", "/v1/orgs/{org_id}/suppressions")
        | ("DELETE", "/v1/orgs/{org_id}/suppressions/{email}")
        | ("GET", "/v1/orgs/{org_id}/contacts")
        | ("PUT", "/v1/orgs/{org_id}/contacts")
        | ("GET", "/v1/orgs/{org_id}/audit")
        | ("POST", "/v1/orgs/{org_id}/orders")
        | ("GET", "/v1/orgs/{org_id}/orders")
        | ("GET", "/v1/orders/{order_id}")
        | ("POST", "/v1/orders/{order_id}/cancel")
        | ("GET", "/v1/orgs/{org_id}/lots")
        | ("GET", "/v1/orgs/{org_id}/users")
        | ("POST", "/v1/orgs/{org_id}/users/renewable")
        | ("POST", "/v1/orgs/{org_id}/users/{email}/erase")
        | ("GET", "/v1/orgs/{org_id}/users/{email}")
        | ("GET", "/v1/orgs/{org_id}/enrolments")
        | ("POST", "/v1/orgs/{org_id}/allocations")
        | ("GET", "/v1/orgs/{org_id}/allocations/{allocation_id}")
        | ("GET", "/v1/orgs/{org_id}/allocations/{allocation_id}/rows")
        | ("GET", "/v1/orgs/{org_id}/licences")
        | ("GET", "/v1/orgs/{org_id}/licences/count")
        | ("POST", "/v1/orgs/{org_id}/imports")
        | ("POST", "/v1/orgs/{org_id}/imports/{import_id}/confirm")
        | ("GET", "/v1/orgs/{org_id}/imports/{import_id}")
        | ("GET", "/v1/orgs/{org_id}/imports/{import_id}/rows")
        | ("GET", "/v1/orgs/{org_id}/renewals")
        | ("GET", "/v1/orgs/{org_id}/usage") => MANAGERS,
        other => panic!("route {other:?} is not in the authorisation matrix: add it"),
    }
}

/// The caller's org for a role, and the org each relation points at from there.
fn caller_org(role: &str) -> &'static str {
    match role {
        "vendor_admin" => "vendor",
        "partner_manager" => "p1",
        _ => "c1",
    }
}

fn target(role: &str, relation: Relation) -> Option<&'static str> {
    use Relation::*;
    Some(match (caller_org(role), relation) {
        (_, Unknown) => "nobody",
        ("vendor", Own) => "vendor",
        ("vendor", Child) => "p1",
        ("vendor", _) => return None,
        ("p1", Own) => "p1",
        ("p1", Child) => "c1",
        ("p1", Parent) => "vendor",
        ("p1", Sibling) => "p2",
        ("p1", Foreign) => "c3",
        (_, Own) => "c1",
        (_, Child) => "d1",
        (_, Parent) => "p1",
        (_, Sibling) => "c2",
        (_, Foreign) => "c3",
    })
}

const COMPANIES: &[&str] = &["c1", "d1", "c2", "c3"];

fn expected(method: &str, path: &str, role: &str, relation: Relation) -> Expect {
    if relation == Relation::Unknown {
        return Expect::Hidden;
    }
    let out_of_reach = matches!(relation, Relation::Parent | Relation::Sibling | Relation::Foreign);
    if out_of_reach {
        // Reach before role: whatever the role could or could never do there, an org (or an
        // order, an import, a job) outside the caller's reach answers as one that does not exist.
        return Expect::Hidden;
    }
    if !who_may(method, path).contains(&role) {
        return Expect::Forbidden;
    }
    let decides = path.ends_with("/assign") || path.ends_with("/reject");
    if decides && relation == Relation::Own && role != "vendor_admin" {
        return Expect::Forbidden; // nobody decides its own org's order
    }
    if role == "learner" && path.ends_with("/access") {
        return Expect::Hidden; // another user's access (the learner's own is checked apart)
    }
    Expect::Allowed
}

/// A body that passes each route's validation, so what is checked is the authorisation.
fn body(method: &str, path: &str, target: &str) -> Option<Value> {
    Some(match (method, path) {
        ("POST", "/v1/orgs") => json!({"name": "New", "kind": "company", "parent_id": target}),
        ("PUT", "/v1/orgs/{org_id}/policy") => json!({"seats_included": 1}),
        ("POST", "/v1/orgs/{org_id}/orders") => json!({"quantity": 1}),
        ("POST", "/v1/orders/{order_id}/reject") => json!({"reason": "no"}),
        ("POST", "/v1/orgs/{org_id}/users/renewable") => {
            json!({"emails": [format!("u@{target}.example")], "renewable": false})
        }
        ("PUT", "/v1/orgs/{org_id}/users/{email}") => json!({"name": "U"}),
        ("PUT", "/v1/orgs/{org_id}/contacts") => {
            json!({"contacts": [{"email": "k@p.example", "receives": ["orders"]}]})
        }
        ("PUT", "/v1/orgs/{org_id}/users/{email}/enrolments/{enrolment_id}") => json!({"status": "new"}),
        // Checked after the caller's reach: a 400 for those who may, whatever the org holds.
        ("POST", "/v1/orgs/{org_id}/enrolments/bulk") => json!({"items": [], "ends_at": "2027-01-01T00:00:00Z"}),
        ("POST", "/v1/orgs/{org_id}/allocations") => json!({"emails": [format!("u@{target}.example")]}),
        _ => return None,
    })
}

type Ids = std::collections::HashMap<&'static str, String>;

fn url(path: &str, target: &str, orders: &Ids, imports: &Ids) -> Option<String> {
    // An erasure is tried on a learner with a live enrolment: refused (409) to those who may, so
    // the user every other route reads stays.
    let user = if path.ends_with("/erase") { "keep" } else { "u" };
    let mut url = path.replace("{org_id}", target).replace("{email}", &format!("{user}@{target}.example"));
    if path.contains("{order_id}") {
        // Orders belong to companies; a relation that points at a partner has none to try.
        let order = if target == "nobody" { "ord_nobody".to_string() } else { orders.get(target)?.clone() };
        url = url.replace("{order_id}", &order);
    }
    if path.contains("{import_id}") {
        let import = if target == "nobody" { "imp_nobody".to_string() } else { imports.get(target)?.clone() };
        url = url.replace("{import_id}", &import);
    }
    if path.contains("{allocation_id}") {
        // Each company's job is `alc_{company}` (written in the set-up); other orgs have none.
        if target != "nobody" && !COMPANIES.contains(&target) {
            return None;
        }
        url = url.replace("{allocation_id}", &format!("alc_{target}"));
    }
    url = url.replace("{enrolment_id}", "run");
    if path.ends_with("/renewals") {
        url.push_str("?until=2026-12-31");
    }
    Some(url)
}

/// `email` suppressed for `org` (a complaint SES reported about one of its notices), as the
/// mailer records it.
async fn suppress(env: &TestEnv, org: &str, email: &str) {
    use seatkeeper::domain::suppression::{Reason, Report};
    let report = Report {
        email: email.into(),
        reason: Reason::Complaint,
        feedback_id: seatkeeper::command::new_id("fb"),
        at: seatkeeper_tests::at(NOW),
        detail: "abuse".into(),
        source_org_id: Some(org.into()),
        notice_id: None,
    };
    assert!(env.app.store.record_feedback(&report, seatkeeper_tests::at(NOW)).await.unwrap());
}

fn classify(a: &Answer) -> Expect {
    match a.status {
        403 => Expect::Forbidden,
        404 => Expect::Hidden,
        _ => Expect::Allowed,
    }
}

#[tokio::test]
async fn every_route_role_and_relation_answers_as_the_contract_says() {
    let env = TestEnv::new().await;
    for (id, kind, parent) in [
        ("p1", "partner", "vendor"),
        ("p2", "partner", "vendor"),
        ("c1", "company", "p1"),
        ("d1", "company", "c1"),
        ("c2", "company", "p1"),
        ("c3", "company", "p2"),
    ] {
        env.org_named(id, &format!("Secret Name {id}"), kind, parent).await;
    }
    let mut orders = Ids::new();
    let mut imports = Ids::new();
    for c in COMPANIES {
        orders.insert(*c, env.request(c, 5, "2026-01-10T08:00:00Z").await);
        env.users(c, [format!("u@{c}.example"), format!("keep@{c}.example")]).by(&platform(c)).await;
        env.enrol(c, &format!("keep@{c}.example"), "run", json!({"status": "active"}), NOW).await;
        let csv = format!("email\nu@{c}.example\n");
        let i = env.post(&format!("/v1/orgs/{c}/imports")).by(&cm(c)).raw(csv.as_bytes()).send().await;
        assert_eq!(i.status, 201, "{:?}", i.body);
        imports.insert(*c, i.body["import_id"].as_str().unwrap().to_string());
        // A large allocation's job record, as one leaves it.
        use seatkeeper::domain::import::{Mode, Source};
        let job = seatkeeper::domain::decide::imports::new_record(
            format!("alc_{c}"),
            c,
            Source::Allocation,
            Mode::Renew,
            "cm",
            seatkeeper_tests::at(NOW),
        );
        let change = seatkeeper::domain::change::Change::Import { record: job, expected: None };
        env.app.store.apply(&[change], None).await.unwrap();
    }

    let mut checked = 0;
    let mut wrong = Vec::new();
    // Each route's out-of-reach and unknown answers, their quoted ids blanked: one per route,
    // or whether an id exists elsewhere leaks.
    let mut unseen: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for route in ROUTES.iter().filter(|r| r.path != "/health") {
        for role in ROLES {
            for relation in [
                Relation::Own,
                Relation::Child,
                Relation::Parent,
                Relation::Sibling,
                Relation::Foreign,
                Relation::Unknown,
            ] {
                let Some(t) = target(role, relation) else { continue };
                let Some(target_url) = url(route.path, t, &orders, &imports) else { continue };
                let want = expected(route.method, route.path, role, relation);
                if route.op == seatkeeper::http::routes::Op::ClearSuppression && t != "nobody" {
                    // Something to clear, whoever tries: the target's suppression of the address.
                    suppress(&env, t, &format!("u@{t}.example")).await;
                }
                let mut call = env.call(route.method, &target_url).by(&Who::new(role, caller_org(role)));
                if let Some(b) = body(route.method, route.path, t) {
                    call = call.json(b);
                }
                let a = call.send().await;
                checked += 1;
                let got = classify(&a);
                let case = format!("{} {target_url} as {role}@{} ({relation:?})", route.method, caller_org(role));
                if got != want || a.status == 401 || a.status >= 500 {
                    wrong.push(format!("{case}: want {want:?}, got {} {}", a.status, a.body));
                }
                if matches!(relation, Relation::Parent | Relation::Sibling | Relation::Foreign | Relation::Unknown) {
                    let answer =
                        format!("{} {}", a.status, blank_quoted(a.body["error"]["message"].as_str().unwrap_or("")));
                    unseen.entry(format!("{} {} as {role}", route.method, route.path)).or_default().insert(answer);
                }
                if want != Expect::Allowed {
                    // Nothing of the object comes back: only the error, and not its name.
                    let text = a.body.to_string();
                    let keys: Vec<&String> = a.body.as_object().map(|o| o.keys().collect()).unwrap_or_default();
                    if keys != ["error"] || text.contains("Secret Name") {
                        wrong.push(format!("{case}: leaked {text}"));
                    }
                }
            }
        }
    }
    for (route, answers) in &unseen {
        if answers.len() != 1 {
            wrong.push(format!("{route}: an org out of reach answers unlike an unknown one: {answers:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {checked} cases wrong:\n{}", wrong.len(), wrong.join("\n"));
    assert!(checked > 500, "the matrix ran {checked} cases");

    // A suppression outside the caller's reach, or one its role may not clear, stays.
    suppress(&env, "c2", "kept@c2.example").await;
    for (who, status) in [(cm("c1"), 404), (platform("c2"), 403), (Who::new("learner", "c2"), 403)] {
        let a = env.call("DELETE", "/v1/orgs/c2/suppressions/kept@c2.example").by(&who).send().await;
        assert_eq!(a.status, status, "{who:?}: {}", a.body);
        assert!(env.item("ORG#c2", "SUPPRESSION#kept@c2.example").await.is_some(), "{who:?} cleared it");
    }

    // A learner reads its own access, and only that.
    let learner = Who::new("learner", "c1");
    let own = env.get(&format!("/v1/orgs/c1/users/{}/access", learner.email)).by(&learner).send().await;
    assert_eq!((own.status, own.body["access"].as_bool()), (200, Some(false)), "{:?}", own.body);
}

/// `text` with every quoted part (an id) replaced by `<id>`.
fn blank_quoted(text: &str) -> String {
    text.split('"').enumerate().map(|(i, part)| if i % 2 == 1 { "<id>" } else { part }).collect()
}

#[tokio::test]
async fn nobody_creates_a_reserved_id_or_another_spelling_of_an_org_whatever_its_role() {
    let env = TestEnv::new().await;
    for (id, kind, parent) in [("p1", "partner", "vendor"), ("c1", "company", "p1")] {
        env.org(id, kind, parent).await;
    }
    let vendor = env.item("ORG#vendor", "ORG").await;
    let mut wrong = Vec::new();
    for role in ROLES {
        let who = Who::new(role, caller_org(role));
        let parent = caller_org(role);
        let kind = if parent == "vendor" { "partner" } else { "company" };
        for id in ["vendor", "Vendor", "VENDOR", ".", "..", "P1", "c1", "C1"] {
            let before = env.all_items().await;
            let a = env
                .post("/v1/orgs")
                .by(&who)
                .json(json!({"org_id": id, "name": "Mine", "kind": kind, "parent_id": parent}))
                .send()
                .await;
            let reserved = ["vendor", ".", ".."].contains(&id.to_ascii_lowercase().as_str());
            let want = match (who_may("POST", "/v1/orgs").contains(role), reserved) {
                (false, _) => (403, "forbidden"),
                (true, true) => (400, "invalid_request"),
                (true, false) => (409, "conflict"),
            };
            if (a.status, a.code()) != want || env.all_items().await != before {
                wrong.push(format!("{id} as {role}: want {want:?}, got {} {}", a.status, a.body));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(env.item("ORG#vendor", "ORG").await, vendor, "the vendor is the vendor");
}
