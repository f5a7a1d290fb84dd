//! The usage report and the daily snapshot against DynamoDB Local.

use seatkeeper::sweeps::snapshot::snapshot;
use seatkeeper_tests::{cm, platform, pm, TestEnv, Who};
use serde_json::{json, Value};

/// `n` learners of `org` licensed on 2026-02-01.
async fn allocate(env: &TestEnv, org: &str, n: usize) {
    let emails: Vec<String> = (0..n).map(|i| format!("u{i}@{org}.example")).collect();
    env.licensed(org, &emails, "2026-02-01T00:00:00Z").await;
}

fn figures(row: &Value) -> (u64, u64, u64, f64) {
    (
        row["limit"].as_u64().unwrap(),
        row["used"].as_u64().unwrap(),
        row["remaining"].as_u64().unwrap(),
        row["percent_used"].as_f64().unwrap(),
    )
}

#[tokio::test]
async fn a_parent_its_children_and_the_total_agree_with_what_was_created() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "parent").await;
    env.org("d1", "company", "parent").await;
    env.org("d2", "company", "parent").await;
    env.set_policy("d2", json!({"seats_included": 1})).await;
    env.lot("p", "parent", 10).await;
    env.lot("p", "d1", 5).await;
    env.lot("p", "d2", 3).await;
    allocate(&env, "parent", 4).await;
    allocate(&env, "d1", 5).await;
    allocate(&env, "d2", 1).await;
    let u = env.get("/v1/orgs/parent/usage").by(&cm("parent")).at("2026-03-01T00:00:00Z").send().await;
    assert_eq!(u.status, 200, "{:?}", u.body);
    assert_eq!(figures(&u.body["org"]), (10, 4, 6, 40.0));
    let children: Vec<(String, (u64, u64, u64, f64))> = u.body["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["org_id"].as_str().unwrap().to_string(), figures(c)))
        .collect();
    assert_eq!(children, vec![("d1".to_string(), (5, 5, 0, 100.0)), ("d2".to_string(), (4, 1, 3, 25.0))]);
    assert_eq!(figures(&u.body["total"]), (19, 10, 9, 52.6));
    assert_eq!(u.body["org"]["overage"], json!({"state": "none", "since": null, "business_days": 0}));
    // After the lots end only d2's included seat is left; used stays as counted, remaining ≥ 0.
    let later = env.get("/v1/orgs/parent/usage").by(&cm("parent")).at("2027-02-01T00:00:00Z").send().await;
    assert_eq!((later.body["total"]["limit"].as_u64(), later.body["total"]["remaining"].as_u64()), (Some(1), Some(1)));
    assert_eq!(later.body["children"][0]["remaining"], 0);
    assert_eq!(
        env.get("/v1/orgs/parent/usage").by(&cm("d1")).send().await.status,
        404,
        "a child does not see its parent"
    );
}

#[tokio::test]
async fn the_csv_is_excel_ready_and_formula_injection_is_inert() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "parent").await;
    env.org_named("evil", "=HYPERLINK(\"http://x\")", "company", "parent").await;
    let csv = env.get("/v1/orgs/parent/usage?format=csv").by(&cm("parent")).send().await;
    assert_eq!(csv.status, 200);
    assert!(csv.headers["content-type"].starts_with("text/csv"));
    let text = csv.body.as_str().unwrap();
    assert!(text.starts_with('\u{feff}'));
    let evil = text.lines().find(|l| l.contains("HYPERLINK")).unwrap();
    assert!(evil.starts_with("\"'=HYPERLINK(\"\"http://x\"\")\""), "{evil}");
    assert_eq!(text.lines().count(), 4, "header, org, one child, total");
    assert!(text.contains("name,org_id,limit,used") && text.contains(",none,"), "an integration's headers and states");
    // For a person, in their language; another language is refused.
    let nl = env.get("/v1/orgs/parent/usage?format=csv&locale=nl").by(&cm("parent")).send().await;
    let nl = nl.body.as_str().unwrap();
    assert!(
        nl.contains("Naam,Organisatie,Limiet,In gebruik") && nl.contains("Totaal,") && nl.contains(",geen,"),
        "{nl}"
    );
    let fr = env.get("/v1/orgs/parent/usage?format=csv&locale=fr").by(&cm("parent")).send().await;
    assert_eq!((fr.status, fr.body["error"]["details"]["field"].as_str()), (400, Some("locale")));
}

/// The notices of `org` (newest first) as `kind:state` (the state of an `overage`).
async fn told(env: &TestEnv, org: &str, who: &Who) -> Vec<String> {
    let notices = env.get(&format!("/v1/orgs/{org}/notifications")).by(who).send().await;
    notices.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] != "order_assigned" && n["kind"] != "order_requested")
        .map(|n| match n["payload"]["state"].as_str() {
            Some(state) => format!("{}:{state}", n["kind"].as_str().unwrap()),
            None => n["kind"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// The whole ladder (docs/domain.md#example-13-the-upgrade-ladder), checked every day at 17:00
/// and hourly around the steps: 101 of 100 is minor from Monday 2026-06-01; action due on the
/// 11th business day (Monday 06-15, weekends not counted); major on the 21st (Monday 06-29);
/// 24 clock hours later the check raises the limit to the next tier (an `upgrade` order and a
/// lot of 25 to the end of the licence year, pro rata) and tells the company and its partner;
/// the next check finds it back within the limit and says so. Each change told once.
#[tokio::test]
async fn the_overage_ladder_notices_each_state_and_upgrades_after_24_hours_of_major() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "o").await;
    let policy = json!({"counting": "active_users", "enforcement": "soft", "tiers": [100, 125, 150]});
    env.set_policy("o", policy).await;
    env.lot("p", "o", 100).await;
    for i in 0..101 {
        let email = format!("a{i}@o.example");
        env.users("o", [&email]).by(&platform("o")).await;
        let e =
            env.enrolment("o", &email, "run").json(json!({"status": "active"})).at("2026-05-20T00:00:00Z").send().await;
        assert_eq!(e.status, 200, "soft enforcement allows it: {:?}", e.body);
    }
    let check = |when: &str| snapshot(&env.app, when.parse().unwrap());
    let mut sent = Vec::new();
    for day in 1..=29 {
        sent.push((day, check(&format!("2026-06-{day:02}T17:00:00Z")).await.unwrap().notices_sent));
    }
    let told_on: Vec<u32> = sent.iter().filter(|(_, n)| *n > 0).map(|(d, _)| *d).collect();
    assert_eq!(told_on, vec![1, 15, 29], "minor, action due (11th business day), major (21st)");
    assert_eq!(told(&env, "o", &cm("o")).await, vec!["overage:major", "overage:minor_action_due", "overage:minor"]);

    assert_eq!(check("2026-06-30T16:59:59Z").await.unwrap().notices_sent, 0, "not 24 hours yet");
    assert_eq!(check("2026-06-30T17:00:00Z").await.unwrap().notices_sent, 2, "the company and its partner");
    assert_eq!(check("2026-06-30T17:30:00Z").await.unwrap().notices_sent, 1, "back within the limit");
    assert_eq!(check("2026-06-30T18:00:00Z").await.unwrap().notices_sent, 0, "nothing changed");
    let notices = env.get("/v1/orgs/o/notifications").by(&cm("o")).send().await;
    let upgrade = &notices.body["items"][1];
    assert_eq!(upgrade["kind"], "upgrade_due");
    let p = &upgrade["payload"];
    assert_eq!((p["next_tier"].as_u64(), p["raised"].as_u64(), p["used"].as_u64()), (Some(125), Some(25), Some(101)));
    assert_eq!(p["valid_until"], "2027-01-15T09:00:00Z", "the end of the licence year");
    assert_eq!(told(&env, "p", &pm("p")).await, vec!["upgrade_due"]);
    assert_eq!(told(&env, "o", &cm("o")).await[..2], ["overage:none".to_string(), "upgrade_due".to_string()]);

    let orders = env.get("/v1/orgs/o/orders").by(&cm("o")).send().await;
    let order = orders.body["items"].as_array().unwrap().iter().find(|o| o["origin"] == "upgrade").cloned().unwrap();
    assert_eq!((order["status"].as_str(), order["quantity"].as_u64()), (Some("assigned"), Some(25)), "{order}");
    let fraction = order["pro_rata_fraction"].as_f64().unwrap();
    assert!((0.54..0.55).contains(&fraction), "199 of 365 days left: {fraction}");
    let lots = env.lots("o", "2026-06-30T18:00:00Z").await;
    let added = lots.iter().find(|l| l["order_id"] == order["order_id"]).unwrap();
    assert_eq!((added["quantity"].as_u64(), added["pro_rata_fraction"].as_f64()), (Some(25), Some(fraction)));
    let u = env.get("/v1/orgs/o/usage").by(&cm("o")).at("2026-06-30T18:00:00Z").send().await;
    assert_eq!(figures(&u.body["org"]), (125, 101, 24, 80.8));
    assert_eq!(u.body["org"]["overage"]["state"], "none");
    let shown = &u.body["org"]["upgrades"];
    assert_eq!(
        (shown[0]["quantity"].as_u64(), shown[0]["pro_rata_fraction"].as_f64()),
        (Some(25), Some(fraction)),
        "{shown}"
    );
    let audit = env.get("/v1/orgs/o/audit").by(&cm("o")).send().await;
    assert!(
        audit.body["items"].as_array().unwrap().iter().any(|a| a["action"] == "order.upgraded"),
        "{:?}",
        audit.body
    );
}

#[tokio::test]
async fn the_report_of_an_org_with_100_children_costs_at_most_3_requests() {
    let (env, log) = TestEnv::with_request_log().await;
    env.org("p", "partner", "vendor").await;
    for i in 0..100 {
        env.org(&format!("c{i:03}"), "company", "p").await;
    }
    // Every tenth company has a lot of 3 with 2 allocated; c000 also has a department with a lot.
    for i in (0..100).step_by(10) {
        let c = format!("c{i:03}");
        env.lot("p", &c, 3).await;
        allocate(&env, &c, 2).await;
    }
    env.org("c000-dept", "company", "c000").await;
    env.lot("p", "c000-dept", 4).await;
    allocate(&env, "c000-dept", 1).await;
    log.take();

    let u = env.get("/v1/orgs/p/usage").by(&pm("p")).at("2026-03-01T00:00:00Z").send().await;
    let sent = log.take();
    assert_eq!(u.status, 200, "{:?}", u.body);
    assert!(sent.len() <= 3, "requests: {sent:?}");
    assert_eq!(sent, vec!["GetItem", "Query", "BatchGetItem"]);
    let children = u.body["children"].as_array().unwrap();
    assert_eq!(children.len(), 100, "the department is in c000's row, not a row of its own");
    assert_eq!(figures(&children[0]), (7, 3, 4, 42.9), "c000 with its department");
    assert_eq!(figures(&children[10]), (3, 2, 1, 66.7));
    assert_eq!(figures(&children[1]), (0, 0, 0, 0.0));
    assert_eq!(figures(&u.body["total"]), (34, 21, 13, 61.8));
    assert_eq!(figures(&u.body["org"]), (0, 0, 0, 0.0));

    // The vendor's report reads the same way: no orgs above it, so no batch read.
    let v = env.get("/v1/orgs/vendor/usage").by(&Who::vendor_admin()).at("2026-03-01T00:00:00Z").send().await;
    assert_eq!(log.take(), vec!["GetItem", "Query"]);
    assert_eq!(figures(&v.body["total"]), (34, 21, 13, 61.8));
}

/// User `{who}@{org}.example` put by the platform at `at`, and its enrolment `run` put as
/// `status`, ending at `ends_at`.
async fn enrol(env: &TestEnv, org: &str, who: &str, status: &str, ends_at: Option<&str>, at: &str) {
    let email = format!("{who}@{org}.example");
    env.users(org, [&email]).by(&platform(org)).at(at).await;
    env.enrol(org, &email, "run", json!({"status": status, "ends_at": ends_at}), at).await;
}

async fn usage_at(env: &TestEnv, org: &str, at: &str) -> Value {
    let u = env.get(&format!("/v1/orgs/{org}/usage")).by(&cm(org)).at(at).send().await;
    assert_eq!(u.status, 200, "{:?}", u.body);
    u.body["org"].clone()
}

#[tokio::test]
async fn a_user_stops_counting_as_active_when_its_last_enrolment_ends() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "o").await;
    env.set_policy("o", json!({"counting": "active_users"})).await;
    env.lot("p", "o", 10).await;
    enrol(&env, "o", "ann", "active", Some("2026-03-01T00:00:00Z"), "2026-02-01T00:00:00Z").await;
    enrol(&env, "o", "bob", "active", None, "2026-02-01T00:00:00Z").await;
    assert_eq!(usage_at(&env, "o", "2026-02-15T00:00:00Z").await["used"], 2);

    // The sweep before the end changes nothing; after it, ann is counted off once.
    let early = seatkeeper::sweeps::expire::expire(&env.app, "2026-02-28T00:00:00Z".parse().unwrap()).await.unwrap();
    assert_eq!((early.enrolments_ended, early.users_inactive), (0, 0));
    let swept = seatkeeper::sweeps::expire::expire(&env.app, "2026-03-01T01:00:00Z".parse().unwrap()).await.unwrap();
    assert_eq!((swept.enrolments_ended, swept.users_inactive), (1, 1));
    let again = seatkeeper::sweeps::expire::expire(&env.app, "2026-03-01T02:00:00Z".parse().unwrap()).await.unwrap();
    assert_eq!((again.enrolments_ended, again.users_inactive), (0, 0));
    assert_eq!(usage_at(&env, "o", "2026-03-02T00:00:00Z").await["used"], 1);

    // A new run for ann counts her again, once.
    enrol(&env, "o", "ann", "active", None, "2026-03-05T00:00:00Z").await;
    enrol(&env, "o", "ann", "active", None, "2026-03-06T00:00:00Z").await;
    assert_eq!(usage_at(&env, "o", "2026-03-07T00:00:00Z").await["used"], 2);
}

#[tokio::test]
async fn reuse_counts_each_user_active_in_the_licence_year_once() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "o").await;
    env.set_policy("o", json!({"counting": "active_users", "uses_per_seat": 3})).await;
    env.lot("p", "o", 2).await; // 2026-01-15 .. 2027-01-15
    enrol(&env, "o", "a", "active", None, "2026-02-01T00:00:00Z").await;
    enrol(&env, "o", "b", "active", None, "2026-02-02T00:00:00Z").await;
    enrol(&env, "o", "a", "expired", None, "2026-03-01T00:00:00Z").await;
    enrol(&env, "o", "c", "active", None, "2026-03-02T00:00:00Z").await;
    enrol(&env, "o", "b", "expired", None, "2026-04-01T00:00:00Z").await;
    enrol(&env, "o", "a", "active", None, "2026-04-02T00:00:00Z").await;
    let row = usage_at(&env, "o", "2026-05-01T00:00:00Z").await;
    assert_eq!(row["used"], 2);
    assert_eq!(row["reuse"], json!({"year_from": "2026-01-15", "distinct_users": 3, "cap": 6}));

    // A new licence year: the lot ends and a new one is assigned on 2027-01-20. Until somebody
    // changes, the year's distinct users are those active (c and a); then c goes, b comes and
    // goes, d comes and goes, and b comes back.
    env.order_and_assign("o", 2, "2027-01-18T00:00:00Z", "p", "2027-01-20T00:00:00Z").await;
    let row = usage_at(&env, "o", "2027-02-01T00:00:00Z").await;
    assert_eq!(row["reuse"], json!({"year_from": "2027-01-20", "distinct_users": 2, "cap": 6}));
    enrol(&env, "o", "c", "expired", None, "2027-02-02T00:00:00Z").await;
    enrol(&env, "o", "b", "active", None, "2027-02-03T00:00:00Z").await;
    enrol(&env, "o", "b", "expired", None, "2027-02-04T00:00:00Z").await;
    enrol(&env, "o", "d", "active", None, "2027-02-05T00:00:00Z").await;
    enrol(&env, "o", "d", "expired", None, "2027-02-06T00:00:00Z").await;
    enrol(&env, "o", "b", "active", None, "2027-02-07T00:00:00Z").await;
    let row = usage_at(&env, "o", "2027-03-01T00:00:00Z").await;
    assert_eq!(row["used"], 2, "a and b");
    assert_eq!(row["reuse"]["distinct_users"], 4, "a, b, c and d, each once");
}
