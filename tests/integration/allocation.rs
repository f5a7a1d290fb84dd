//! Users, allocation and the access check against DynamoDB Local.

use futures::future::join_all;
use seatkeeper_tests::{cm, platform, Answer, TestEnv, Who};
use serde_json::{json, Value};

/// When the learners of these tests are put, each named by its e-mail.
const JOINED: &str = "2026-01-16T00:00:00Z";

/// Every licence of `org` with `status` at `at`, page by page.
async fn licences(env: &TestEnv, org: &str, status: &str, at: &str) -> Vec<Value> {
    let pages = env.pages(&format!("/v1/orgs/{org}/licences?status={status}&limit=500"), &cm(org), at).await;
    pages.iter().flat_map(|a| a.body["items"].as_array().unwrap().iter().cloned()).collect()
}

/// Worked example 2 (docs/domain.md#example-2-all-or-nothing), and the access check from time.
#[tokio::test]
async fn worked_case_2_twelve_refused_ten_licensed_until_the_lot_ends() {
    let env = TestEnv::new().await;
    env.company_with_lot(10).await;
    let emails: Vec<String> = (1..=12).map(|i| format!("learner{i}@c.example")).collect();
    env.users("c", &emails).named().at(JOINED).await;
    let refused = env.allocate("c", json!({"emails": emails}), "2026-02-01T10:00:00Z").await;
    assert_eq!((refused.status, refused.code()), (409, "insufficient_licences"));
    assert_eq!(refused.body["error"]["details"], json!({"needed": 12, "available": 10}));
    assert!(licences(&env, "c", "active", "2026-02-01T10:00:00Z").await.is_empty(), "nobody licensed");
    assert_eq!(env.lots("c", "2026-02-01T10:00:00Z").await[0]["in_use"], 0);

    let ok = env.allocate("c", json!({"emails": emails[..10]}), "2026-02-01T10:00:00Z").await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["allocated"], 10);
    assert!(ok.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["outcome"] == "allocated" && r["licence"]["valid_until"] == "2027-01-15T09:00:00Z"));
    let active = licences(&env, "c", "active", "2026-02-01T10:00:00Z").await;
    assert_eq!(active.len(), 10);
    let l = env.lots("c", "2026-02-01T10:00:00Z").await.remove(0);
    assert_eq!((l["in_use"].as_u64(), l["uses"].as_u64(), l["available"].as_u64()), (Some(10), Some(10), Some(0)));

    let yes = env.access("c", "learner1@c.example", "2027-01-15T08:59:59Z").await;
    assert_eq!((yes["access"].as_bool(), yes["reason"].as_str()), (Some(true), Some("active")));
    let eleventh = env.access("c", "learner11@c.example", "2026-02-01T10:00:00Z").await;
    assert_eq!((eleventh["access"].as_bool(), eleventh["reason"].as_str()), (Some(false), Some("no_licence")));
    // At the lot's end the ten lose access at once, sweep or no sweep.
    let ended = env.access("c", "learner1@c.example", "2027-01-15T09:00:00Z").await;
    assert_eq!((ended["access"].as_bool(), ended["reason"].as_str()), (Some(false), Some("expired")));

    // Allocating again costs nothing for those who hold one; unknown and invalid are reported.
    let again = env
        .allocate(
            "c",
            json!({"emails": ["LEARNER1@c.example ", "ghost@c.example", "not-an-email"]}),
            "2026-02-02T10:00:00Z",
        )
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    let outcomes: Vec<&str> =
        again.body["results"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["already_active", "unknown_user", "invalid_email"]);
    assert_eq!(env.lots("c", "2026-02-02T10:00:00Z").await[0]["uses"], 10);

    // The audit log records the allocation.
    let audit = env.get("/v1/orgs/c/audit").by(&cm("c")).send().await;
    assert_eq!(audit.body["items"][0]["action"], "licences.allocated");
    assert_eq!(audit.body["items"][0]["details"]["count"], 10);
}

#[tokio::test]
async fn two_hundred_concurrent_allocations_against_fifty_seats_license_exactly_fifty() {
    let env = TestEnv::new().await;
    env.company_with_lot(50).await;
    let calls = (0..200).map(|i| {
        env.allocate(
            "c",
            json!({"emails": [format!("u{i}@c.example")], "create_missing": true}),
            "2026-02-01T10:00:00Z",
        )
    });
    let answers = join_all(calls).await;
    let ok = answers.iter().filter(|a| a.status == 200 && a.body["allocated"] == 1).count();
    let refused = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!(
        (ok, refused),
        (50, 150),
        "{:?}",
        answers.iter().filter(|a| a.status != 200 && a.status != 409).map(|a| &a.body).collect::<Vec<_>>()
    );
    let l = env.lots("c", "2026-02-01T10:00:00Z").await.remove(0);
    assert_eq!((l["uses"].as_u64(), l["in_use"].as_u64(), l["available"].as_u64()), (Some(50), Some(50), Some(0)));
    assert_eq!(licences(&env, "c", "active", "2026-02-01T10:00:00Z").await.len(), 50);
}

#[tokio::test]
async fn one_user_allocated_by_two_concurrent_requests_is_charged_once() {
    let env = TestEnv::new().await;
    env.company_with_lot(10).await;
    env.users("c", ["ann@c.example"]).named().at(JOINED).await;
    let calls = (0..2).map(|_| env.allocate("c", json!({"emails": ["ann@c.example"]}), "2026-02-01T10:00:00Z"));
    let answers = join_all(calls).await;
    assert!(answers.iter().all(|a| a.status == 200), "{:?}", answers.iter().map(|a| &a.body).collect::<Vec<_>>());
    let outcomes: Vec<&str> = answers.iter().map(|a| a.body["results"][0]["outcome"].as_str().unwrap()).collect();
    assert!(outcomes.contains(&"allocated") && outcomes.contains(&"already_active"), "{outcomes:?}");
    let l = env.lots("c", "2026-02-01T10:00:00Z").await.remove(0);
    assert_eq!((l["uses"].as_u64(), l["in_use"].as_u64()), (Some(1), Some(1)));
    let user = env.get("/v1/orgs/c/users/ann@c.example").by(&cm("c")).send().await;
    assert_eq!(user.body["licence_count"], 1);
}

#[tokio::test]
async fn release_then_reallocate_under_three_uses_per_seat() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.set_policy("c", json!({"uses_per_seat": 3})).await;
    env.lot("p", "c", 2).await;
    let now = "2026-03-01T00:00:00Z";
    let mut next = 0;
    async fn take(env: &TestEnv, next: &mut u32, now: &str) -> (String, Answer) {
        *next += 1;
        let email = format!("user{next}@c.example");
        let a = env.allocate("c", json!({"emails": [email.clone()], "create_missing": true}), now).await;
        (email, a)
    }
    // Two seats, six licences in the year: 2 now, then 4 more each after a release.
    let (first, a) = take(&env, &mut next, now).await;
    assert_eq!(a.status, 200);
    let (_, a) = take(&env, &mut next, now).await;
    assert_eq!(a.status, 200);
    let mut holders = vec![first];
    for round in 0..4 {
        let (_, full) = take(&env, &mut next, now).await;
        assert_eq!(
            (full.status, full.code()),
            (409, "insufficient_licences"),
            "round {round}: no free seat before a release"
        );
        let gone = holders.pop().unwrap_or_else(|| format!("user{}@c.example", round + 2));
        let r = env.call("DELETE", &format!("/v1/orgs/c/users/{gone}")).by(&cm("c")).at(now).send().await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["licence_status"], "released");
        let (email, a) = take(&env, &mut next, now).await;
        assert_eq!(a.status, 200, "round {round}: {:?}", a.body);
        holders.push(email);
    }
    let l = env.lots("c", now).await.remove(0);
    assert_eq!((l["uses"].as_u64(), l["in_use"].as_u64(), l["available"].as_u64()), (Some(6), Some(2), Some(0)));
    // Released but with a seat back: still no seventh licence — the seat is spent for the year.
    let r = env.call("DELETE", &format!("/v1/orgs/c/users/{}", holders[0])).by(&cm("c")).at(now).send().await;
    assert_eq!(r.status, 200);
    let l = env.lots("c", now).await.remove(0);
    assert_eq!((l["in_use"].as_u64(), l["available"].as_u64()), (Some(1), Some(0)));
    let (_, seventh) = take(&env, &mut next, now).await;
    assert_eq!((seventh.status, seventh.body["error"]["details"]["available"].as_u64()), (409, Some(0)));
    // The released user's record is kept, and so is the audit trail.
    let kept = env.get(&format!("/v1/orgs/c/users/{}", holders[0])).by(&cm("c")).send().await;
    assert_eq!((kept.status, kept.body["licence_status"].as_str()), (200, Some("released")));
    assert!(!env.access("c", &holders[0], now).await["access"].as_bool().unwrap());
}

#[tokio::test]
async fn under_activation_the_first_enrolment_debits_and_the_first_start_begins_the_year() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.set_policy("c", json!({"term_starts": "activation", "renewal": "automatic"})).await;
    let a = env.order_and_assign("c", 5, "2018-04-01T08:00:00Z", "p", "2018-04-02T09:00:00Z").await;
    assert_eq!(a.body["lot"]["valid_until"], Value::Null, "activation lots do not lapse");
    let wessel = json!({"name": "Wessel"});
    env.users("c", ["wessel@c.example"]).by(&platform("c")).json(wessel).at("2018-05-01T00:00:00Z").await;

    let enrol = env
        .enrolment("c", "wessel@c.example", "run-2018")
        .json(json!({"status": "new", "ends_at": "2020-05-11T00:00:00Z"}))
        .at("2018-05-02T10:00:00Z")
        .send()
        .await;
    assert_eq!(enrol.status, 200, "{:?}", enrol.body);
    let l = &enrol.body["user"]["licence"];
    assert_eq!((l["status"].as_str(), l["licence_date"].as_str()), (Some("pending"), Some("2018-05-02")));
    assert_eq!(env.lots("c", "2018-05-02T10:00:00Z").await[0]["uses"], 1);
    let pending = env.access("c", "wessel@c.example", "2018-05-03T00:00:00Z").await;
    assert_eq!(pending["reason"], "pending");

    // A second enrolment while pending debits nothing more.
    let extra = env.enrolment("c", "wessel@c.example", "run-extra");
    extra.json(json!({"status": "new"})).at("2018-05-05T00:00:00Z").send().await;
    assert_eq!(env.lots("c", "2018-05-05T00:00:00Z").await[0]["uses"], 1);

    let start = env
        .enrolment("c", "wessel@c.example", "run-2018")
        .json(json!({"status": "active", "starts_at": "2018-05-11T09:00:00Z", "ends_at": "2020-05-11T00:00:00Z"}))
        .at("2018-05-11T09:30:00Z")
        .send()
        .await;
    assert_eq!(start.status, 200, "{:?}", start.body);
    let u = &start.body["user"];
    assert_eq!(u["licence"]["status"], "active");
    assert_eq!(u["licence"]["valid_from"], "2018-05-11T09:00:00Z");
    assert_eq!(u["licence"]["valid_until"], "2019-05-11T09:00:00Z");
    assert_eq!(u["renewal_at"], "2019-05-11T09:00:00Z");
    assert_eq!(u["licence_count"], 1);
    let active = env.access("c", "wessel@c.example", "2018-06-01T00:00:00Z").await;
    assert_eq!(active["reason"], "active");
    // Releasing does not give a spent licence back: the balance only goes down (uses_per_seat 1).
    env.call("DELETE", "/v1/orgs/c/users/wessel@c.example").by(&cm("c")).at("2018-07-01T00:00:00Z").send().await;
    assert_eq!(env.lots("c", "2018-07-01T00:00:00Z").await[0]["available"], 4);
}

/// Worked example 7 (docs/domain.md#example-7-the-26th-user) under `counting = active_users` and hard enforcement.
#[tokio::test]
async fn worked_case_7_the_26th_active_user_is_refused_with_the_seats_and_how_to_get_more() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.set_policy("c", json!({"counting": "active_users", "enforcement": "hard", "seats_included": 1})).await;
    env.lot("p", "c", 24).await;
    let now = "2026-02-01T00:00:00Z";
    env.users("c", (1..=26).map(|i| format!("u{i}@c.example"))).by(&platform("c")).at(now).await;
    for i in 1..=25 {
        env.enrol("c", &format!("u{i}@c.example"), "run", json!({"status": "active"}), now).await;
    }
    let refused = env.enrolment("c", "u26@c.example", "run").json(json!({"status": "active"})).at(now).send().await;
    assert_eq!((refused.status, refused.code()), (409, "seat_limit_reached"));
    assert_eq!(refused.body["error"]["details"], json!({"limit": 25, "used": 25}));
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("25 seats (24 ordered, 1 included)")
            && message.contains("25 are used")
            && message.contains("Request more licences")
            && !message.contains("/v1"),
        "{message}"
    );
    // A user already active may change enrolments; expiring one frees a seat for the 26th.
    let more = env.enrolment("c", "u1@c.example", "second").json(json!({"status": "new"})).at(now).send().await;
    assert_eq!(more.status, 200);
    let r = env.call("DELETE", "/v1/orgs/c/users/u2@c.example").by(&cm("c")).at(now).send().await;
    assert_eq!(r.status, 200);
    let now_ok = env.enrolment("c", "u26@c.example", "run").json(json!({"status": "active"})).at(now).send().await;
    assert_eq!(now_ok.status, 200, "{:?}", now_ok.body);
}

/// Worked case 7 when licences are counted: the 26th allocation is refused, naming the seats.
#[tokio::test]
async fn worked_case_7_with_counted_licences_the_26th_allocation_is_refused() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.set_policy("c", json!({"seats_included": 1})).await;
    env.lot("p", "c", 24).await;
    let now = "2026-02-01T00:00:00Z";
    let emails: Vec<String> = (1..=25).map(|i| format!("u{i}@c.example")).collect();
    let ok = env.allocate("c", json!({"emails": emails, "create_missing": true}), now).await;
    assert_eq!((ok.status, ok.body["allocated"].as_u64()), (200, Some(25)), "{:?}", ok.body);
    let included: Vec<_> =
        ok.body["results"].as_array().unwrap().iter().filter(|r| r["licence"].get("lot_id").is_none()).collect();
    assert_eq!(included.len(), 1, "the included seat is used last");
    assert_eq!(ok.body["results"][24]["licence"].get("lot_id"), None);
    let refused = env.allocate("c", json!({"emails": ["u26@c.example"], "create_missing": true}), now).await;
    assert_eq!((refused.status, refused.code()), (409, "insufficient_licences"));
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("25 seats (24 ordered, 1 included)") && message.contains("25 are in use"), "{message}");
    assert_eq!(env.get("/v1/orgs/c/users/u26@c.example").by(&cm("c")).send().await.status, 404, "nobody was created");
}

/// One rule for "expired now" (docs/domain.md#expiry): a licence whose end has passed is
/// expired whether or not the sweep has reached it. The Expired list (page by page, from the
/// unswept into the swept), the Active list, their counts, the users' filter, the access check and "Select all"
/// agree on who that is.
#[tokio::test]
async fn a_licence_past_its_end_is_expired_everywhere_before_the_sweep_reaches_it() {
    use seatkeeper::domain::user::LicenceStatus;
    let env = TestEnv::new().await;
    env.company_with_lot(10).await;
    env.seed_licensed("c", "late", 3, "2026-03-10T00:00:00Z").await;
    env.seed_licensed("c", "live", 4, "2027-01-10T00:00:00Z").await;
    // Three more the sweep has reached: stored `expired`.
    env.seed_licensed("c", "swept", 3, "2026-03-01T00:00:00Z").await;
    let mut swept = Vec::new();
    for i in 0..3 {
        let mut user = env.app.store.user("c", &format!("swept{i}@c.example")).await.unwrap().unwrap();
        user.licence.as_mut().unwrap().status = LicenceStatus::Expired;
        swept.push(env.app.store.user_item(&user).unwrap());
    }
    env.write_items(swept).await;
    let now = "2026-03-11T00:00:00Z";

    let pages = env.pages("/v1/orgs/c/licences?status=expired&limit=2", &cm("c"), now).await;
    let mut listed: Vec<String> = pages
        .iter()
        .flat_map(|p| p.body["items"].as_array().unwrap().iter())
        .inspect(|l| assert_eq!(l["status"], "expired", "{l}"))
        .map(|l| l["email"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    let expected: Vec<String> =
        ["late0", "late1", "late2", "swept0", "swept1", "swept2"].iter().map(|e| format!("{e}@c.example")).collect();
    assert_eq!(listed, expected, "unswept and swept, each once");
    let active: Vec<String> =
        licences(&env, "c", "active", now).await.iter().map(|l| l["email"].as_str().unwrap().to_string()).collect();
    assert_eq!(active.len(), 4, "{active:?}");
    assert!(active.iter().all(|e| e.starts_with("live")), "{active:?}");
    let filtered = env.pages("/v1/orgs/c/users?licence_status=expired", &cm("c"), now).await;
    let users: usize = filtered.iter().map(|p| p.body["items"].as_array().unwrap().len()).sum();
    assert_eq!(users, 6);
    let late = env.access("c", "late0@c.example", now).await;
    assert_eq!((late["access"].as_bool(), late["reason"].as_str()), (Some(false), Some("expired")), "{late}");

    // "Select all" says how many: the count of the same list, over all its pages.
    let count = |status: &'static str| {
        let env = &env;
        async move {
            let r = env.get(&format!("/v1/orgs/c/licences/count?status={status}")).by(&cm("c")).at(now).send().await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            (r.body["count"].as_u64().unwrap(), r.body["complete"].as_bool().unwrap())
        }
    };
    assert_eq!(count("expired").await, (6, true), "unswept and swept, as listed");
    assert_eq!(count("active").await, (4, true));
    let bad = env.get("/v1/orgs/c/licences/count?status=lapsed").by(&cm("c")).at(now).send().await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_request"));
    let foreign = env.get("/v1/orgs/c/licences/count?status=expired").by(&cm("d")).at(now).send().await;
    assert_eq!(foreign.status, 404, "another tenant's count is not found: {:?}", foreign.body);

    let selected = env.allocate("c", json!({"all_expired": true}), now).await;
    assert_eq!(selected.status, 200, "{:?}", selected.body);
    assert_eq!(count("expired").await, (0, true), "every one counted is licensed");
    let mut renewed: Vec<String> =
        selected.body["results"].as_array().unwrap().iter().map(|r| r["email"].as_str().unwrap().to_string()).collect();
    renewed.sort();
    assert_eq!(renewed, expected, "select all licenses exactly who the Expired list shows");
}

#[tokio::test]
async fn all_expired_renews_exactly_the_expired_users() {
    let env = TestEnv::new().await;
    env.company_with_lot(3).await;
    env.licensed("c", &["a@c.example", "b@c.example"], "2026-02-01T00:00:00Z").await;
    env.users("c", ["never@c.example"]).named().at(JOINED).await;
    // A new lot after the first one ended.
    env.order_and_assign("c", 5, "2027-01-20T00:00:00Z", "p", "2027-01-20T09:00:00Z").await;
    let r = env.allocate("c", json!({"all_expired": true}), "2027-01-21T00:00:00Z").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["allocated"], 2);
    let mut emails: Vec<&str> =
        r.body["results"].as_array().unwrap().iter().map(|x| x["email"].as_str().unwrap()).collect();
    emails.sort();
    assert_eq!(emails, vec!["a@c.example", "b@c.example"]);
    assert_eq!(r.body["results"][0]["licence"]["valid_until"], "2028-01-20T09:00:00Z");
    let bad = env.allocate("c", json!({"all_expired": true, "emails": ["a@c.example"]}), "2027-01-21T00:00:00Z").await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn a_foreign_company_manager_gets_404_on_every_user_and_allocation_route() {
    let env = TestEnv::new().await;
    env.company_with_lot(3).await;
    env.partner_with_company("q", "d").await;
    env.users("c", ["ann@c.example"]).named().at(JOINED).await;
    let foreign = cm("d");
    let calls = [
        ("PUT", "/v1/orgs/c/users/ann@c.example", Some(json!({"name": "x"}))),
        ("GET", "/v1/orgs/c/users/ann@c.example", None),
        ("GET", "/v1/orgs/c/users", None),
        ("DELETE", "/v1/orgs/c/users/ann@c.example", None),
        ("POST", "/v1/orgs/c/users/renewable", Some(json!({"emails": ["ann@c.example"], "renewable": false}))),
        ("PUT", "/v1/orgs/c/users/ann@c.example/enrolments/run", Some(json!({"status": "active"}))),
        ("GET", "/v1/orgs/c/users/ann@c.example/access", None),
        ("POST", "/v1/orgs/c/allocations", Some(json!({"emails": ["ann@c.example"]}))),
        ("GET", "/v1/orgs/c/licences", None),
    ];
    let before = env.partition("ORG#c").await.len();
    for (method, path, body) in calls {
        let mut call = env.call(method, path).by(&foreign);
        if let Some(b) = body {
            call = call.json(b);
        }
        let a = call.send().await;
        assert_eq!((a.status, a.code()), (404, "not_found"), "{method} {path}");
    }
    assert_eq!(env.partition("ORG#c").await.len(), before);
    // A learner reads its own access only.
    let me = Who { email: "ann@c.example".into(), ..Who::new("learner", "c") };
    assert_eq!(env.get("/v1/orgs/c/users/ann@c.example/access").by(&me).send().await.status, 200);
    assert_eq!(env.get("/v1/orgs/c/users/bob@c.example/access").by(&me).send().await.status, 404);
    assert_eq!(env.get("/v1/orgs/c/users").by(&me).send().await.status, 403);
}

#[tokio::test]
async fn users_are_kept_current_and_renewable_is_set_in_bulk() {
    let env = TestEnv::new().await;
    env.company_with_lot(3).await;
    let platform = platform("c");
    let created = env
        .put_user("c", "Mandy@C.example")
        .by(&platform)
        .json(json!({"name": "Mandy", "role": "company_manager"}))
        .send()
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        (created.body["email"].as_str(), created.body["renewable"].as_bool()),
        (Some("mandy@c.example"), Some(true))
    );
    let login = env
        .put_user("c", "mandy@c.example")
        .by(&platform)
        .json(json!({"last_login_at": "2026-01-20T08:00:00Z"}))
        .at("2026-01-20T08:00:01Z")
        .send()
        .await;
    assert_eq!((login.status, login.body["last_login_at"].as_str()), (200, Some("2026-01-20T08:00:00Z")));
    assert_eq!(login.body["name"], "Mandy", "unset fields are kept");
    let bulk = env
        .post("/v1/orgs/c/users/renewable")
        .by(&cm("c"))
        .json(json!({"emails": ["mandy@c.example", "ghost@c.example", "x"], "renewable": false}))
        .send()
        .await;
    assert_eq!(bulk.status, 200, "{:?}", bulk.body);
    let outcomes: Vec<&str> =
        bulk.body["results"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["updated", "unknown_user", "invalid_email"]);
    let mandy = env.get("/v1/orgs/c/users/mandy@c.example").by(&cm("c")).send().await;
    assert_eq!(mandy.body["renewable"], false);
    let list = env.get("/v1/orgs/c/users").by(&cm("c")).send().await;
    assert_eq!(list.body["items"][0]["licence_status"], Value::Null);
    // The manager is now a recipient of the company's notices.
    env.order_and_assign("c", 1, "2026-02-01T00:00:00Z", "p", "2026-02-02T00:00:00Z").await;
    let notices = env.get("/v1/orgs/c/notifications").by(&cm("c")).send().await;
    assert_eq!(notices.body["items"][0]["recipients"], json!(["mandy@c.example"]));
    for (path, body) in [
        ("/v1/orgs/c/users/not-an-email", json!({})),
        ("/v1/orgs/c/users/a@c.example", json!({"role": "king"})),
        ("/v1/orgs/p/users/a@p.example", json!({})),
    ] {
        let a = env.put(path).by(&Who::vendor_admin()).json(body).send().await;
        assert_eq!(a.status, 400, "{path}");
    }
    let bad_enrolment = env.enrolment("c", "mandy@c.example", "run").json(json!({"status": "done"})).send().await;
    assert_eq!(bad_enrolment.status, 400);
    let unknown = env.enrolment("c", "ghost@c.example", "run").json(json!({"status": "new"})).send().await;
    assert_eq!(unknown.status, 404);
}

/// "Select all → Allocate licences" for a company larger than one transaction: 500 expired
/// learners are licensed in one request, through the import's reserve → write → settle path.
#[tokio::test]
async fn select_all_licenses_500_expired_learners_in_one_request() {
    let env = TestEnv::new().await;
    env.company_with_lot(500).await;
    env.seed_licensed("c", "u", 500, "2026-06-01T00:00:00Z").await;
    let now = "2026-07-01T00:00:00Z";
    assert_eq!(env.access("c", "u7@c.example", now).await["access"], false);

    let r = env.allocation("c").json(json!({"all_expired": true})).key("select-all").at(now).send().await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!((r.body["allocated"].as_u64(), r.body["status"].as_str()), (Some(500), Some("committed")));
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 500);
    assert!(
        results.iter().all(|x| x["outcome"] == "allocated"),
        "{:?}",
        results.iter().find(|x| x["outcome"] != "allocated")
    );
    let lot = &env.lots("c", now).await[0];
    assert_eq!((lot["in_use"].as_u64(), lot["available"].as_u64()), (Some(500), Some(0)));
    assert_eq!(env.access("c", "u7@c.example", now).await["access"], true);
    assert_eq!(licences(&env, "c", "active", now).await.len(), 500);

    // The job reads back with its progress at the totals.
    let id = r.body["allocation_id"].as_str().unwrap();
    let job = env.get(&format!("/v1/orgs/c/allocations/{id}")).by(&cm("c")).at(now).send().await;
    assert_eq!(job.status, 200, "{:?}", job.body);
    let progress = (&job.body["status"], &job.body["rows_done"], &job.body["rows_total"], &job.body["allocated"]);
    assert_eq!(progress, (&json!("committed"), &json!(500), &json!(500), &json!(500)), "{:?}", job.body);
    let other = env.get(&format!("/v1/orgs/c/allocations/{id}")).by(&cm("d")).at(now).send().await;
    assert_eq!(other.status, 404, "another tenant's job is not found: {:?}", other.body);
    let none = env.get("/v1/orgs/c/allocations/alc_none").by(&cm("c")).at(now).send().await;
    assert_eq!((none.status, none.code()), (404, "not_found"));

    // The retry under the same key answers the same, and licenses nobody twice.
    let again = env.allocation("c").json(json!({"all_expired": true})).key("select-all").at(now).send().await;
    assert_eq!((again.status, again.body["allocated"].as_u64()), (200, Some(500)));
    assert_eq!(again.headers.get("idempotent-replayed").map(String::as_str), Some("true"));
    assert_eq!(env.lots("c", now).await[0]["in_use"], 500);

    // One audit entry, counting all 500 and naming a bounded sample.
    let audit = env.get("/v1/orgs/c/audit?limit=50").by(&cm("c")).at(now).send().await;
    let allocated: Vec<&Value> =
        audit.body["items"].as_array().unwrap().iter().filter(|e| e["action"] == "licences.allocated").collect();
    assert_eq!(allocated.len(), 1, "{:?}", audit.body);
    assert_eq!(allocated[0]["details"]["count"], 500);
    assert_eq!(allocated[0]["details"]["emails"].as_array().unwrap().len(), 100);
    assert_eq!(allocated[0]["details"]["emails_truncated"], true);
}

/// All or nothing at any size: one seat short refuses every learner and changes nothing.
#[tokio::test]
async fn select_all_one_seat_short_refuses_all_and_changes_nothing() {
    let env = TestEnv::new().await;
    env.company_with_lot(499).await;
    env.seed_licensed("c", "u", 500, "2026-06-01T00:00:00Z").await;
    let now = "2026-07-01T00:00:00Z";
    let r = env.allocate("c", json!({"all_expired": true}), now).await;
    assert_eq!((r.status, r.code()), (409, "insufficient_licences"), "{:?}", r.body);
    assert_eq!(r.body["error"]["details"], json!({"needed": 500, "available": 499}));
    assert_eq!(env.lots("c", now).await[0]["in_use"], 0);
    assert!(licences(&env, "c", "active", now).await.is_empty());
    assert_eq!(env.access("c", "u0@c.example", now).await["access"], false);
}

/// A named list beyond one transaction, with users to create: every one licensed once.
#[tokio::test]
async fn a_list_of_150_with_new_users_is_licensed_whole() {
    let env = TestEnv::new().await;
    env.company_with_lot(200).await;
    let emails: Vec<String> = (0..150).map(|i| format!("new{i}@c.example")).collect();
    let mut named = emails.clone();
    named.push("NEW3@c.example".into()); // the same learner again
    named.push("not-an-email".into());
    let r = env.allocate("c", json!({"emails": named, "create_missing": true}), "2026-02-01T00:00:00Z").await;
    assert_eq!((r.status, r.body["allocated"].as_u64()), (200, Some(150)), "{:?}", r.body);
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 151, "the repeated e-mail is answered once");
    assert_eq!(results.iter().filter(|x| x["outcome"] == "invalid_email").count(), 1);
    assert_eq!(env.lots("c", "2026-02-01T00:00:00Z").await[0]["in_use"], 150);

    // The job's e-mails, page by page, all of them or by outcome.
    let id = r.body["allocation_id"].as_str().unwrap();
    let pages = |query: &'static str| {
        let env = &env;
        async move {
            let (mut seen, mut cursor) = (Vec::new(), None::<String>);
            loop {
                let next = cursor.as_deref().map(|c| format!("&cursor={c}")).unwrap_or_default();
                let url = format!("/v1/orgs/c/allocations/{id}/rows?limit=40{query}{next}");
                let page = env.get(&url).by(&cm("c")).send().await;
                assert_eq!(page.status, 200, "{:?}", page.body);
                for row in page.body["items"].as_array().unwrap() {
                    seen.push((
                        row["email"].as_str().unwrap().to_string(),
                        row["outcome"].as_str().unwrap().to_string(),
                    ));
                }
                cursor = page.body["next_cursor"].as_str().map(str::to_string);
                if cursor.is_none() {
                    return seen;
                }
            }
        }
    };
    let every = pages("").await;
    assert_eq!(every.len(), 152, "every e-mail given, in order");
    assert_eq!(every[0], ("new0@c.example".to_string(), "allocated".to_string()));
    assert_eq!(every[150], ("new3@c.example".to_string(), "duplicate".to_string()));
    assert_eq!(every[151], ("not-an-email".to_string(), "invalid_email".to_string()));
    let allocated = pages("&outcome=allocated").await;
    assert_eq!(allocated.len(), 150);
    assert!(allocated.iter().all(|(_, o)| o == "allocated"));
    assert_eq!(pages("&outcome=invalid_email").await, vec![("not-an-email".to_string(), "invalid_email".to_string())]);
    let bad = env.get(&format!("/v1/orgs/c/allocations/{id}/rows?outcome=renew")).by(&cm("c")).send().await;
    assert_eq!((bad.status, bad.body["error"]["details"]["field"].as_str()), (400, Some("outcome")));

    let too_many: Vec<String> = (0..10_001).map(|i| format!("x{i}@c.example")).collect();
    let refused = env.allocate("c", json!({"emails": too_many}), "2026-02-01T00:00:00Z").await;
    assert_eq!((refused.status, refused.body["error"]["details"]["field"].as_str()), (400, Some("emails")));
}

/// A large allocation killed half-way (every write refused after the first few) is finished by
/// its retry under the same key: its progress stood between the first and the last row, and ends
/// at the totals with every learner licensed once and no seat lost.
#[tokio::test]
async fn a_large_allocation_killed_half_way_is_finished_by_its_retry() {
    let env = TestEnv::new().await;
    env.company_with_lot(600).await;
    env.seed_licensed("c", "u", 600, "2026-06-01T00:00:00Z").await;
    let now = "2026-07-01T00:00:00Z";
    let body = json!({"all_expired": true});

    let (dying, _log) = TestEnv::failing_after(&env, "PutItem", 400).await;
    let crashed = dying.allocation("c").json(body.clone()).key("big").at(now).send().await;
    assert!(crashed.status >= 500, "{:?}", crashed.body);
    let written = licences(&env, "c", "active", now).await.len();
    assert!((1..600).contains(&written), "part of the rows: {written}");
    let lot = &env.lots("c", now).await[0];
    assert_eq!(lot["in_use"], 600, "every seat reserved before any licence");
    let audit = env.get("/v1/orgs/c/audit").by(&cm("c")).at(now).send().await;
    assert!(!audit.body.to_string().contains("licences.allocated"), "not allocated yet");
    let id = seatkeeper::imports::large::job_id(&cm("c").sub, "c", "big");
    let job = env.get(&format!("/v1/orgs/c/allocations/{id}")).by(&cm("c")).at(now).send().await;
    assert_eq!((job.status, job.body["status"].as_str()), (200, Some("committing")), "{:?}", job.body);
    let done = job.body["rows_done"].as_u64().unwrap();
    assert!(done > 0 && done <= written as u64 && done < 600, "progress between the ends: {done} of {written}");

    let retried = env.allocation("c").json(body).key("big").at(now).send().await;
    assert_eq!((retried.status, retried.body["allocated"].as_u64()), (200, Some(600)), "{:?}", retried.body);
    assert_eq!(retried.body["allocation_id"], id);
    let job = env.get(&format!("/v1/orgs/c/allocations/{id}")).by(&cm("c")).at(now).send().await;
    assert_eq!((job.body["rows_done"].as_u64(), job.body["rows_total"].as_u64()), (Some(600), Some(600)));
    assert_eq!(job.body["status"], "committed");
    assert_eq!(licences(&env, "c", "active", now).await.len(), 600);
    let lot = &env.lots("c", now).await[0];
    assert_eq!((lot["in_use"].as_u64(), lot["uses"].as_u64()), (Some(600), Some(600)), "each licensed once");
}

/// "Select all" with more licences to write than a request waits for: `202` with the job and a
/// `Location`, every seat reserved at once; the job runner finishes it and the job reads back at
/// its totals.
#[tokio::test]
async fn a_select_all_beyond_the_request_runs_as_a_background_job() {
    let env = TestEnv::new().await;
    env.company_with_lot(200).await;
    env.seed_licensed("c", "u", 200, "2026-06-01T00:00:00Z").await;
    let now = "2026-07-01T00:00:00Z";
    let mut app = env.app.clone();
    app.background_rows = 100;
    let accepted = seatkeeper_tests::Call::new(&app, "POST", "/v1/orgs/c/allocations")
        .by(&cm("c"))
        .json(json!({"all_expired": true}))
        .key("select-all-bg")
        .at(now)
        .send()
        .await;
    assert_eq!((accepted.status, accepted.body["status"].as_str()), (202, Some("committing")), "{:?}", accepted.body);
    let id = accepted.body["allocation_id"].as_str().unwrap().to_string();
    let location = format!("/v1/orgs/c/allocations/{id}");
    assert_eq!(accepted.headers.get("location"), Some(&location));
    assert_eq!(env.lots("c", now).await[0]["in_use"], 200, "every seat reserved before the answer");

    let done = seatkeeper::imports::jobs::run(&env.app.store, "c", &id, seatkeeper_tests::at(now)).await.unwrap();
    assert_eq!(done.map(|d| d.allocated), Some(200));
    let job = env.get(&location).by(&cm("c")).at(now).send().await;
    let progress = (job.body["status"].as_str(), job.body["rows_done"].as_u64(), job.body["rows_total"].as_u64());
    assert_eq!(progress, (Some("committed"), Some(200), Some(200)), "{:?}", job.body);
    assert_eq!(licences(&env, "c", "active", now).await.len(), 200);
    let audit = env.get("/v1/orgs/c/audit?limit=50").by(&cm("c")).at(now).send().await;
    let allocated =
        audit.body["items"].as_array().unwrap().iter().filter(|e| e["action"] == "licences.allocated").count();
    assert_eq!(allocated, 1, "the runner writes the allocation's entry once");
    // Run again (a second delivery): nothing more.
    assert!(seatkeeper::imports::jobs::run(&env.app.store, "c", &id, seatkeeper_tests::at(now))
        .await
        .unwrap()
        .is_none());
}

/// An org's own usage row: (used, limit).
async fn used_of(env: &TestEnv, org: &str, at: &str) -> (u64, u64) {
    let u = env.get(&format!("/v1/orgs/{org}/usage")).by(&cm(org)).at(at).send().await;
    assert_eq!(u.status, 200, "{:?}", u.body);
    (u.body["org"]["used"].as_u64().unwrap(), u.body["org"]["limit"].as_u64().unwrap())
}

/// Worked example 11 (docs/domain.md#example-11-counting-users): under `counting = users` with
/// hard enforcement every user with access counts, licensed or not; creating the 26th of 24 seats
/// + 1 included is refused on every path that creates or restores a user, with a message
/// naming the users; releasing one makes room.
#[tokio::test]
async fn worked_case_11_counting_users_the_26th_is_refused_on_every_path_and_a_release_makes_room() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.set_policy("c", json!({"counting": "users", "enforcement": "hard", "seats_included": 1})).await;
    env.lot("p", "c", 24).await;
    let now = "2026-02-01T00:00:00Z";
    env.users("c", (1..=25).map(|i| format!("u{i}@c.example"))).by(&cm("c")).at(now).await;
    assert_eq!(used_of(&env, "c", now).await, (25, 25), "25 users, none licensed, all counted");

    let refused = env.put_user("c", "u26@c.example").json(json!({"name": "Twenty Six"})).at(now).send().await;
    assert_eq!((refused.status, refused.code()), (409, "seat_limit_reached"), "{:?}", refused.body);
    assert_eq!(refused.body["error"]["details"], json!({"limit": 25, "used": 25}));
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("25 of 25 users")
            && message.contains("(24 ordered, 1 included)")
            && message.contains("Order more"),
        "{message}"
    );
    // Allocating to a new user creates one: refused alike, and nobody is created or licensed.
    let allocated = env.allocate("c", json!({"emails": ["u26@c.example"], "create_missing": true}), now).await;
    assert_eq!((allocated.status, allocated.code()), (409, "seat_limit_reached"), "{:?}", allocated.body);
    assert_eq!(env.get("/v1/orgs/c/users/u26@c.example").by(&cm("c")).send().await.status, 404);
    assert_eq!(env.lots("c", now).await[0]["in_use"], 0);

    // Releasing one makes room for the 26th.
    let released = env.call("DELETE", "/v1/orgs/c/users/u2@c.example").by(&cm("c")).at(now).send().await;
    assert_eq!(released.status, 200);
    assert_eq!(used_of(&env, "c", now).await, (24, 25));
    let created = env.put_user("c", "u26@c.example").json(json!({"name": "Twenty Six"})).at(now).send().await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    // Full again: giving the released user a licence would restore them, and is refused.
    let restored = env.allocate("c", json!({"emails": ["u2@c.example"]}), now).await;
    assert_eq!((restored.status, restored.code()), (409, "seat_limit_reached"), "{:?}", restored.body);
    // A licence for a user who has access costs no user.
    let licensed = env.allocate("c", json!({"emails": ["u1@c.example"]}), now).await;
    assert_eq!((licensed.status, licensed.body["allocated"].as_u64()), (200, Some(1)), "{:?}", licensed.body);
    assert_eq!(used_of(&env, "c", now).await, (25, 25));
}

/// Under `counting = users`, a large allocation (a background job over the import's commit)
/// that creates more users than the subscription holds is refused whole at its reserve; one
/// that fits counts every user it creates, exactly.
#[tokio::test]
async fn counting_users_a_large_allocation_over_the_limit_is_refused_whole_and_one_within_it_counts_each_user() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.set_policy("c", json!({"counting": "users", "enforcement": "hard"})).await;
    env.lot("p", "c", 120).await;
    let now = "2026-02-01T00:00:00Z";
    env.users("c", (0..20).map(|i| format!("had{i}@c.example"))).by(&cm("c")).at(now).await;
    let many: Vec<String> = (0..101).map(|i| format!("new{i}@c.example")).collect();
    let refused = env.allocate("c", json!({"emails": many, "create_missing": true}), now).await;
    assert_eq!((refused.status, refused.code()), (409, "seat_limit_reached"), "{:?}", refused.body);
    assert_eq!(refused.body["error"]["details"], json!({"limit": 120, "used": 20}));
    assert_eq!(env.get("/v1/orgs/c/users/new0@c.example").by(&cm("c")).send().await.status, 404);
    assert_eq!(used_of(&env, "c", now).await, (20, 120));

    let ok = env.allocate("c", json!({"emails": many[..100], "create_missing": true}), now).await;
    assert_eq!((ok.status, ok.body["allocated"].as_u64()), (200, Some(100)), "{:?}", ok.body);
    assert_eq!(used_of(&env, "c", now).await, (120, 120));
    let full = env.put_user("c", "one-more@c.example").json(json!({})).at(now).send().await;
    assert_eq!((full.status, full.code()), (409, "seat_limit_reached"), "{:?}", full.body);
}

/// Under `counting = active_users` with `uses_per_seat = 3`, the distinct users active in the
/// licence year are capped at 3 × limit: with one seat the fourth is refused (hard), even after
/// the others stopped; the users counted already come back freely. Under soft enforcement the
/// fourth is let in and counted as overage.
#[tokio::test]
async fn uses_per_seat_caps_the_distinct_active_users_of_the_licence_year() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let policy = json!({"counting": "active_users", "enforcement": "hard", "uses_per_seat": 3});
    env.set_policy("c", policy).await;
    env.lot("p", "c", 1).await;
    let now = "2026-02-01T00:00:00Z";
    env.users("c", (1..=4).map(|i| format!("u{i}@c.example"))).by(&platform("c")).at(now).await;
    for i in 1..=3 {
        let on = env.enrol("c", &format!("u{i}@c.example"), "run", json!({"status": "active"}), now).await;
        assert_eq!(on.status, 200, "{:?}", on.body);
        let off = env.enrol("c", &format!("u{i}@c.example"), "run", json!({"status": "expired"}), now).await;
        assert_eq!(off.status, 200, "{:?}", off.body);
    }
    let fourth = env.enrolment("c", "u4@c.example", "run").json(json!({"status": "active"})).at(now).send().await;
    assert_eq!((fourth.status, fourth.code()), (409, "seat_limit_reached"), "{:?}", fourth.body);
    assert_eq!(fourth.body["error"]["details"], json!({"limit": 3, "used": 3}));
    let message = fourth.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("at most 3 (3 per seat)"), "{message}");
    let back = env.enrol("c", "u1@c.example", "run", json!({"status": "active"}), now).await;
    assert_eq!(back.status, 200, "a user counted this year already comes back: {:?}", back.body);
    env.enrol("c", "u1@c.example", "run", json!({"status": "expired"}), now).await;

    env.set_policy("c", json!({"enforcement": "soft"})).await;
    let soft = env.enrol("c", "u4@c.example", "run", json!({"status": "active"}), now).await;
    assert_eq!(soft.status, 200, "{:?}", soft.body);
    let usage = env.get("/v1/orgs/c/usage").by(&cm("c")).at(now).send().await;
    assert_eq!(usage.body["org"]["reuse"]["distinct_users"], 4, "{:?}", usage.body);
    assert_eq!((usage.body["org"]["used"].as_u64(), usage.body["org"]["limit"].as_u64()), (Some(2), Some(1)));
}

/// Under `counting = users` with hard enforcement, a sync at the user limit that swaps a learner
/// — restoring a released one the file lists, releasing one it leaves out — fits: its new user
/// takes the place of the one it releases. The same file as a plain import (nobody released) is
/// refused whole.
#[tokio::test]
async fn counting_users_a_sync_at_the_limit_swaps_a_learner_and_a_plain_import_is_refused() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.set_policy("c", json!({"counting": "users", "enforcement": "hard"})).await;
    env.lot("p", "c", 3).await;
    let now = "2026-02-01T00:00:00Z";
    env.licensed("c", &["a@c.example", "r@c.example"], now).await;
    let released = env.call("DELETE", "/v1/orgs/c/users/r@c.example").by(&cm("c")).at(now).send().await;
    assert_eq!(released.status, 200, "{:?}", released.body);
    env.licensed("c", &["b@c.example"], now).await;
    // A user without a licence has access, and counts: three users of three, one seat free.
    env.put_user("c", "c@c.example").json(json!({"name": "C"})).at(now).send().await;
    assert_eq!(used_of(&env, "c", now).await, (3, 3));
    let file: &[u8] = b"email\na@c.example\nb@c.example\nr@c.example\n";
    let confirm = |query: &'static str| {
        let env = &env;
        async move {
            let review = env.post(&format!("/v1/orgs/c/imports{query}")).by(&cm("c")).raw(file).at(now).send().await;
            assert_eq!(review.status, 201, "{:?}", review.body);
            let id = review.body["import_id"].as_str().unwrap().to_string();
            env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(now).send().await
        }
    };
    let plain = confirm("").await;
    assert_eq!((plain.status, plain.code()), (409, "seat_limit_reached"), "{:?}", plain.body);
    assert_eq!(used_of(&env, "c", now).await, (3, 3));

    let sync = confirm("?mode=sync").await;
    assert_eq!((sync.status, sync.body["released"].as_u64()), (200, Some(1)), "{:?}", sync.body);
    let user = |email: &'static str| {
        let env = &env;
        async move { env.get(&format!("/v1/orgs/c/users/{email}")).by(&cm("c")).send().await.body }
    };
    assert_eq!(user("r@c.example").await["licence_status"], "active", "restored");
    assert!(user("c@c.example").await["released_at"].is_string(), "released");
    assert_eq!(used_of(&env, "c", now).await, (3, 3), "one in, one out");
}
