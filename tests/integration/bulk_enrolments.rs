//! "Enrolments > All", tick, SET EXPIRY DATE (`POST …/enrolments/bulk`,
//! docs/domain.md#bulk-enrolment-changes): the same end or status for many enrolments, all or
//! nothing in one transaction, audited once, the learners it ends counted off.

use seatkeeper_tests::{cm, Answer, TestEnv, ASSIGNED};
use serde_json::{json, Value};

const BULK: &str = "/v1/orgs/c/enrolments/bulk";
const LATER: &str = "2026-04-01T09:00:00Z";

/// Company c with a lot of 10 and learners a (runs 1 and 2), b and c (run 1), all active.
async fn company_with_runs(env: &TestEnv) {
    env.company_with_lot(10).await;
    env.licensed("c", &["a@c.example", "b@c.example", "c@c.example"], ASSIGNED).await;
    for (email, run) in [("a", "run1"), ("a", "run2"), ("b", "run1"), ("c", "run1")] {
        env.enrol("c", &format!("{email}@c.example"), run, json!({"status": "active"}), ASSIGNED).await;
    }
}

fn items(pairs: &[(&str, &str)]) -> Value {
    pairs.iter().map(|(e, r)| json!({"email": format!("{e}@c.example"), "enrolment_id": r})).collect()
}

async fn bulk(env: &TestEnv, body: Value, key: &str) -> Answer {
    env.post(BULK).by(&cm("c")).key(key).json(body).at(LATER).send().await
}

/// Each enrolment of the company as "email run status ends_at", status as it is at `LATER`.
async fn enrolments(env: &TestEnv) -> Vec<String> {
    let a = env.get("/v1/orgs/c/enrolments").by(&cm("c")).at(LATER).send().await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let rows = a.body["items"].as_array().unwrap().iter();
    rows.map(|r| format!("{} {} {} {}", r["email"].as_str().unwrap(), r["enrolment_id"], r["status"], r["ends_at"]))
        .collect()
}

async fn active_users(env: &TestEnv) -> i64 {
    env.app.store.counters("c").await.unwrap().active_users
}

async fn bulk_audits(env: &TestEnv) -> Vec<Value> {
    let audit = env.get("/v1/orgs/c/audit?limit=500").by(&cm("c")).at(LATER).send().await;
    assert_eq!(audit.status, 200, "{:?}", audit.body);
    let entries = audit.body["items"].as_array().unwrap().iter();
    entries.filter(|e| e["action"] == "enrolments.bulk_set").map(|e| e["details"].clone()).collect()
}

#[tokio::test]
async fn set_expiry_date_moves_ends_and_a_date_passed_ends_enrolments_at_once_counting_learners_off() {
    let env = TestEnv::new().await;
    company_with_runs(&env).await;
    assert_eq!(active_users(&env).await, 3);

    // A date ahead: the ends move, the enrolments stay active, nobody is counted off.
    let ahead = "2026-09-01T00:00:00Z";
    let moved = bulk(&env, json!({"items": items(&[("a", "run1"), ("b", "run1")]), "ends_at": ahead}), "k1").await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    let statuses: Vec<_> =
        moved.body["items"].as_array().unwrap().iter().map(|e| (&e["status"], &e["ends_at"])).collect();
    assert_eq!(statuses, vec![(&json!("active"), &json!(ahead)); 2]);
    assert_eq!(active_users(&env).await, 3);

    // A date passed: each ends at once; a keeps run2 and stays counted, b and c are counted off.
    let passed = "2026-03-01T00:00:00Z";
    let ended = items(&[("a", "run1"), ("b", "run1"), ("c", "run1")]);
    let body = json!({"items": ended, "ends_at": passed});
    let first = bulk(&env, body.clone(), "k2").await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let q = |s: &str| format!("\"{s}\"");
    assert_eq!(
        enrolments(&env).await,
        vec![
            format!("a@c.example {} {} {}", q("run1"), q("expired"), q(passed)),
            // run_access_months (12 by default) gave run2 its end when it became active.
            format!("a@c.example {} {} {}", q("run2"), q("active"), q("2027-01-15T09:00:00Z")),
            format!("b@c.example {} {} {}", q("run1"), q("expired"), q(passed)),
            format!("c@c.example {} {} {}", q("run1"), q("expired"), q(passed)),
        ]
    );
    let stored = env.item("ORG#c", "ENROLMENT#b@c.example#run1").await.unwrap();
    assert_eq!(stored["status"].as_s().unwrap(), "expired", "ended in the table, not only in the view");
    assert_eq!(active_users(&env).await, 1, "only a is still counted");
    for (email, access) in [("a", true), ("b", true), ("c", true)] {
        // The licence is not the enrolment: each still holds its licence.
        assert_eq!(env.access("c", &format!("{email}@c.example"), LATER).await["access"], access);
    }
    let user = env.get("/v1/orgs/c/users/b@c.example").by(&cm("c")).at(LATER).send().await;
    assert_eq!(user.body["active"], false, "{:?}", user.body);

    // The same key again: the first answer, nothing changed twice, one audit entry each.
    let replay = bulk(&env, body, "k2").await;
    assert_eq!((replay.status, &replay.body), (200, &first.body));
    assert_eq!(active_users(&env).await, 1);
    let audits = bulk_audits(&env).await;
    assert_eq!(audits.len(), 2, "{audits:?}");
    assert!(audits.iter().any(|d| d["items"].as_array().map(Vec::len) == Some(3) && d["ends_at"] == json!(passed)));
}

#[tokio::test]
async fn a_bulk_is_all_or_nothing_and_refuses_what_it_cannot_decide_for_everyone() {
    let env = TestEnv::new().await;
    company_with_runs(&env).await;
    let ended = bulk(&env, json!({"items": items(&[("b", "run1")]), "ends_at": "2026-03-01T00:00:00Z"}), "k0").await;
    assert_eq!(ended.status, 200, "{:?}", ended.body);
    let before = enrolments(&env).await;
    let ahead = "2026-12-01T00:00:00Z";

    // One enrolment not there: 404, and the others named with it unchanged.
    let missing = bulk(&env, json!({"items": items(&[("a", "run1"), ("a", "run9")]), "ends_at": ahead}), "k1").await;
    assert_eq!(
        (missing.status, missing.body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{:?}",
        missing.body
    );
    let unknown = bulk(&env, json!({"items": items(&[("a", "run1"), ("z", "run1")]), "ends_at": ahead}), "k2").await;
    assert_eq!(unknown.status, 404, "{:?}", unknown.body);

    // b was counted off: bringing its run back would count it again. Refused whole, naming b.
    let back = json!({"items": items(&[("a", "run1"), ("b", "run1")]), "status": "active", "ends_at": ahead});
    let refused = bulk(&env, back, "k3").await;
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (409, Some("conflict")), "{:?}", refused.body);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("b@c.example"), "{:?}", refused.body);

    // An end before the enrolment's start: the enrolment's own refusal, saying whose.
    env.enrol("c", "c@c.example", "late", json!({"status": "new", "starts_at": "2026-06-01T00:00:00Z"}), ASSIGNED)
        .await;
    let early = json!({"items": items(&[("a", "run1"), ("c", "late")]), "ends_at": "2026-05-01T00:00:00Z"});
    let early = bulk(&env, early, "k4").await;
    assert_eq!(early.status, 400, "{:?}", early.body);
    assert!(
        early.body["error"]["message"].as_str().unwrap().starts_with("c@c.example's enrolment late"),
        "{:?}",
        early.body
    );

    let mut now = enrolments(&env).await;
    now.retain(|e| !e.contains("late"));
    assert_eq!(now, before, "nothing refused changed anything");
    assert_eq!(bulk_audits(&env).await.len(), 1);

    // Bad requests name their field.
    let hundred: Vec<Value> =
        (0..100).map(|i| json!({"email": format!("u{i}@c.example"), "enrolment_id": "run1"})).collect();
    for (body, field) in [
        (json!({"items": [], "ends_at": ahead}), "items"),
        (json!({"items": hundred, "ends_at": ahead}), "items"),
        (json!({"items": items(&[("a", "run1")])}), "ends_at"),
        (json!({"items": items(&[("a", "run1"), ("a", "run1")]), "ends_at": ahead}), "items[1]"),
        (json!({"items": [{"email": "not-an-email", "enrolment_id": "run1"}], "ends_at": ahead}), "items[0].email"),
        (
            json!({"items": [{"email": "a@c.example", "enrolment_id": "a b"}], "ends_at": ahead}),
            "items[0].enrolment_id",
        ),
    ] {
        let bad = env.post(BULK).by(&cm("c")).json(body).at(LATER).send().await;
        assert_eq!((bad.status, bad.body["error"]["details"]["field"].as_str()), (400, Some(field)), "{:?}", bad.body);
    }
    let partner = env
        .post("/v1/orgs/p/enrolments/bulk")
        .by(&seatkeeper_tests::pm("p"))
        .json(json!({"items": items(&[("a", "run1")]), "ends_at": ahead}))
        .send()
        .await;
    assert_eq!(partner.body["error"]["details"]["field"], "org_id", "a partner has no enrolments of its own");
}

/// More writes than one transaction holds: refused before anything is written, asking for fewer.
#[tokio::test]
async fn a_bulk_beyond_one_transaction_is_refused_asking_for_fewer() {
    let env = TestEnv::new().await;
    env.company_with_lot(60).await;
    let emails: Vec<String> = (0..50).map(|i| format!("u{i:02}@c.example")).collect();
    env.licensed("c", &emails, ASSIGNED).await;
    for e in &emails {
        env.enrol("c", e, "run1", json!({"status": "active"}), ASSIGNED).await;
    }
    let all: Vec<Value> = emails.iter().map(|e| json!({"email": e, "enrolment_id": "run1"})).collect();
    // 50 enrolments, 50 learners, the counters and the audit entry: 102 writes.
    let over = bulk(&env, json!({"items": all, "ends_at": "2026-03-01T00:00:00Z"}), "k1").await;
    assert_eq!((over.status, over.body["error"]["details"]["field"].as_str()), (400, Some("items")), "{:?}", over.body);
    assert!(over.body["error"]["message"].as_str().unwrap().contains("102 writes"), "{:?}", over.body);
    assert_eq!(active_users(&env).await, 50);
    let moved = bulk(&env, json!({"items": all, "ends_at": "2026-10-01T00:00:00Z"}), "k2").await;
    assert_eq!(moved.status, 400, "an end moved writes each learner too: {:?}", moved.body);
    // In two halves of 25 (25 + 25 + 2 writes each).
    for (half, key) in [(&all[..25], "k3"), (&all[25..], "k4")] {
        let ended = bulk(&env, json!({"items": half, "ends_at": "2026-03-01T00:00:00Z"}), key).await;
        assert_eq!(ended.status, 200, "{:?}", ended.body);
    }
    assert_eq!(active_users(&env).await, 0);
}
