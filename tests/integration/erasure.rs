//! Erasing a user's personal data (`POST …/users/{email}/erase`,
//! docs/domain.md#erasing-personal-data): the e-mail and name replaced by a random pseudonym in
//! the user, its enrolments, its login, the org's audit entries and notices and its imports'
//! rows, the counts kept; refused while the licence is active; a job cut off finished by the next.

use seatkeeper::domain::erasure::replace_whole;
use seatkeeper_tests::{at, cm, Answer, TestEnv, ASSIGNED};
use serde_json::{json, Value};

const ANN: &str = "ann@c.example";
const NAME: &str = "Ann Smith";
/// Another user whose address ends with Ann's: never touched.
const JOANN: &str = "joann@c.example";
const LATER: &str = "2026-03-01T09:00:00Z";

/// Company c, Ann a named manager with a licence, two enrolments and a login, Jo-Ann a learner;
/// an order assigned after (its notice goes to Ann) and an import naming both.
async fn company_with_ann(env: &TestEnv) -> String {
    env.company_with_lot(10).await;
    let a = env.put_user("c", ANN).json(json!({"name": NAME, "role": "company_manager"})).at(ASSIGNED).send().await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let login = json!({"last_login_at": "2026-01-20T08:00:00Z"});
    let a = env.put_user("c", ANN).json(login).at("2026-01-20T09:00:00Z").send().await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    env.licensed("c", &[ANN, JOANN], ASSIGNED).await;
    for run in ["run1", "run2"] {
        env.enrol("c", ANN, run, json!({"status": "active"}), ASSIGNED).await;
    }
    env.enrol("c", JOANN, "run1", json!({"status": "active"}), ASSIGNED).await;
    env.order_and_assign("c", 2, "2026-02-01T09:00:00Z", "p", "2026-02-01T10:00:00Z").await;
    let csv = format!("email\n{}\n{JOANN}\n", ANN.to_uppercase());
    let i = env.post("/v1/orgs/c/imports").by(&cm("c")).raw(csv.as_bytes()).at(LATER).send().await;
    assert_eq!(i.status, 201, "{:?}", i.body);
    let id = i.body["import_id"].as_str().unwrap().to_string();
    let confirmed = env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(LATER).send().await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
    id
}

/// [`company_with_ann`], Ann released and her erasure asked for: its pseudonym (the job not run).
async fn ann_released_and_erased(env: &TestEnv) -> String {
    company_with_ann(env).await;
    env.call("DELETE", &format!("/v1/orgs/c/users/{ANN}")).by(&cm("c")).at(LATER).send().await;
    let erased = erase(env, ANN, "e1").await;
    assert_eq!(erased.status, 202, "{:?}", erased.body);
    erased.body["pseudonym"].as_str().unwrap().to_string()
}

async fn erase(env: &TestEnv, email: &str, key: &str) -> Answer {
    env.post(&format!("/v1/orgs/c/users/{email}/erase")).by(&cm("c")).key(key).at(LATER).send().await
}

/// Every item of the org's partitions (its imports' rows included) that still holds `needle`
/// as a whole address or name, by key.
async fn holding(env: &TestEnv, needle: &str) -> Vec<String> {
    let mut items = env.partition("ORG#c").await;
    let imports: Vec<String> = items
        .iter()
        .filter_map(|i| i.get("SK")?.as_s().ok()?.strip_prefix("IMPORT#").map(|id| format!("ORG#c#IMPORT#{id}")))
        .collect();
    for p in imports {
        items.extend(env.partition(&p).await);
    }
    items
        .iter()
        .filter(|i| i.get("SK").and_then(|s| s.as_s().ok()).is_none_or(|sk| !sk.starts_with("SUPPRESSION")))
        .filter(|i| replace_whole(&format!("{i:?}"), needle, "").is_some())
        .map(|i| format!("{:?}/{:?}", i.get("PK"), i.get("SK")))
        .collect()
}

async fn counts(env: &TestEnv) -> (i64, i64, i64) {
    let c = env.app.store.counters("c").await.unwrap();
    (c.seats_held, c.active_users, c.with_access)
}

#[tokio::test]
async fn erasing_replaces_the_email_and_name_everywhere_the_org_holds_them_and_keeps_the_counts() {
    let env = TestEnv::new().await;
    let import = company_with_ann(&env).await;
    assert!(!holding(&env, ANN).await.is_empty());

    // A licence active: refused, release first; nothing changed.
    let refused = erase(&env, ANN, "e1").await;
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (409, Some("conflict")), "{:?}", refused.body);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("release"), "{:?}", refused.body);
    let released = env.call("DELETE", &format!("/v1/orgs/c/users/{ANN}")).by(&cm("c")).at(LATER).send().await;
    assert_eq!(released.status, 200, "{:?}", released.body);
    // A review not confirmed yet keeps its rows (rewritten, a confirm would license the pseudonym).
    let csv = format!("email\n{ANN}\n");
    let pending = env.post("/v1/orgs/c/imports").by(&cm("c")).raw(csv.as_bytes()).at(LATER).send().await;
    let pending = pending.body["import_id"].as_str().unwrap().to_string();
    let before = counts(&env).await;
    let usage = env.get("/v1/orgs/c/usage").by(&cm("c")).at(LATER).send().await.body;

    let erased = erase(&env, ANN, "e2").await;
    assert_eq!(erased.status, 202, "{:?}", erased.body);
    let pseudonym = erased.body["pseudonym"].as_str().unwrap().to_string();
    assert!(pseudonym.ends_with("@erased.invalid") && !pseudonym.contains("ann"), "{pseudonym}");
    // At once: the user is under the pseudonym, without its name; the e-mail finds no one.
    let gone = env.get(&format!("/v1/orgs/c/users/{ANN}")).by(&cm("c")).at(LATER).send().await;
    assert_eq!(gone.status, 404);
    let user = env.get(&format!("/v1/orgs/c/users/{pseudonym}")).by(&cm("c")).at(LATER).send().await;
    assert_eq!((user.status, &user.body["name"]), (200, &Value::Null), "{:?}", user.body);
    assert_eq!(user.body["licence"]["status"], "released", "{:?}", user.body);

    let done = env.app.store.finish_erasure("c", &pseudonym, at(LATER)).await.unwrap().expect("an erasure");
    assert_eq!((done.email.as_deref(), done.name.as_deref()), (None, None), "the record forgets the e-mail too");
    assert_eq!(holding(&env, ANN).await, Vec::<String>::new());
    assert_eq!(holding(&env, NAME).await, Vec::<String>::new());
    assert!(!holding(&env, JOANN).await.is_empty(), "Jo-Ann is another user");
    assert_eq!(counts(&env).await, before, "the counts stay as they were");
    let after = env.get("/v1/orgs/c/usage").by(&cm("c")).at(LATER).send().await.body;
    assert_eq!(after, usage, "the usage report adds up as before");

    // Its enrolments, the notice it was sent and the import's rows hold the pseudonym.
    let runs = env.get(&format!("/v1/orgs/c/users/{pseudonym}/enrolments")).by(&cm("c")).at(LATER).send().await;
    assert_eq!(runs.body["items"].as_array().unwrap().len(), 2, "{:?}", runs.body);
    let by_id = env.get("/v1/orgs/c/enrolments?enrolment_id=run1").by(&cm("c")).at(LATER).send().await;
    let emails: Vec<&str> =
        by_id.body["items"].as_array().unwrap().iter().map(|e| e["email"].as_str().unwrap()).collect();
    assert!(emails.contains(&pseudonym.as_str()) && emails.contains(&JOANN), "{emails:?}");
    // The import's rows are packed: read as the API reads them.
    let rows = env.get(&format!("/v1/orgs/c/imports/{import}/rows")).by(&cm("c")).at(LATER).send().await;
    let emails: Vec<&str> =
        rows.body["items"].as_array().unwrap().iter().map(|r| r["email"].as_str().unwrap()).collect();
    assert_eq!(emails, vec![pseudonym.as_str(), JOANN], "{:?}", rows.body);
    let kept = env.get(&format!("/v1/orgs/c/imports/{pending}/rows")).by(&cm("c")).at(LATER).send().await;
    assert_eq!(kept.body["items"][0]["email"], ANN, "an unconfirmed review is left to its TTL");
    let audit = env.get("/v1/orgs/c/audit?limit=500").by(&cm("c")).at(LATER).send().await;
    let entry = audit.body["items"].as_array().unwrap().iter().find(|e| e["action"] == "user.erased").expect("audited");
    assert_eq!(entry["subject"], json!(format!("user/{pseudonym}")), "{entry}");

    // The same key: the first answer. Again under the e-mail: nobody. The pseudonym: erased already.
    let replay = erase(&env, ANN, "e2").await;
    assert_eq!((replay.status, &replay.body), (202, &erased.body));
    assert_eq!(erase(&env, ANN, "e3").await.status, 404);
    assert_eq!(erase(&env, &pseudonym, "e4").await.status, 409);
    assert!(env.app.store.finish_erasure("c", &pseudonym, at(LATER)).await.unwrap().is_none(), "nothing left to do");
}

/// A job cut off between two writes leaves items under the e-mail; the next run (the stream's
/// next delivery) finishes it, and nothing is moved twice.
#[tokio::test]
async fn an_erasure_cut_off_is_finished_by_the_next_run() {
    let env = TestEnv::new().await;
    let pseudonym = ann_released_and_erased(&env).await;
    let (dying, _) = TestEnv::dying_after(&env, "TransactWriteItems", 0).await;
    assert!(dying.app.store.finish_erasure("c", &pseudonym, at(LATER)).await.is_err());
    assert!(!holding(&env, ANN).await.is_empty(), "cut off before its first move");
    let done = env.app.store.finish_erasure("c", &pseudonym, at(LATER)).await.unwrap().unwrap();
    assert_eq!(done.status, seatkeeper::domain::erasure::ErasureStatus::Erased);
    assert_eq!(holding(&env, ANN).await, Vec::<String>::new());
    let runs = env.get(&format!("/v1/orgs/c/users/{pseudonym}/enrolments")).by(&cm("c")).at(LATER).send().await;
    assert_eq!(runs.body["items"].as_array().unwrap().len(), 2, "{:?}", runs.body);
}

/// A run out of time hands over where it stands (`walked`), and the next goes on from there:
/// however short each run, the erasure ends, each prefix read once.
#[tokio::test]
async fn runs_out_of_time_hand_over_where_they_stand_and_the_erasure_ends() {
    let env = TestEnv::new().await;
    let pseudonym = ann_released_and_erased(&env).await;
    let mut stages = Vec::new();
    let done = loop {
        let run = env.app.store.run_erasure("c", &pseudonym, at(LATER), std::time::Instant::now()).await.unwrap();
        let run = run.expect("an erasure going on");
        if run.email.is_none() {
            break run;
        }
        stages.push(run.walked.clone().expect("where it stopped").0);
        // Held from the clock, not from the instant the run was handed (long past here).
        assert!(run.lease_until.is_some_and(|l| l > chrono::Utc::now()), "{:?}", run.lease_until);
        assert!(stages.len() < 10, "no end: {stages:?}");
    };
    assert_eq!(stages, vec![1, 2, 3, 4], "one prefix a run, then the imports' rows");
    assert_eq!(done.handovers, 4);
    assert_eq!(holding(&env, ANN).await, Vec::<String>::new());
}

/// An erasure whose stream deliveries ran out (or whose run died) is still `erasing`: once its
/// lease has passed, the hourly lease sweep hands it to the job runner again, once a lease, and
/// a finished erasure leaves the sweep's index.
#[tokio::test]
async fn an_erasure_whose_deliveries_ran_out_is_handed_over_by_the_lease_sweep() {
    use seatkeeper::domain::erasure::{ErasureStatus, ERASURE_LEASE_MINUTES};
    let env = TestEnv::new().await;
    let pseudonym = ann_released_and_erased(&env).await;
    let asked = at(LATER);
    let lease = chrono::Duration::minutes(ERASURE_LEASE_MINUTES);
    let sweep = |now| seatkeeper::imports::leases::sweep(&env.app, now);

    let read = env.app.store.erasure("c", &pseudonym).await.unwrap().unwrap();
    let early = sweep(asked + lease - chrono::Duration::minutes(1)).await.unwrap();
    assert_eq!(early.erasures_handed_over, 0, "the lease holds: {early:?}");
    let late = asked + lease + chrono::Duration::minutes(1);
    let swept = sweep(late).await.unwrap();
    assert_eq!((swept.erasures_handed_over, swept.failed.len()), (1, 0), "{swept:?}");
    let handed = env.app.store.erasure("c", &pseudonym).await.unwrap().unwrap();
    assert_eq!((handed.status, handed.handovers, handed.lease_until), (ErasureStatus::Erasing, 1, Some(late + lease)));
    assert!(!holding(&env, ANN).await.is_empty(), "the sweep hands it over; the job runner does the work");
    assert_eq!(sweep(late).await.unwrap().erasures_handed_over, 0, "a new lease: not handed over twice");
    let stale = env.app.store.hand_over_erasure(&read, late).await.unwrap();
    assert!(!stale, "the record as read before the handover is not handed over again");

    // The job runner's run the handover brings finishes it; then it is out of the index.
    let done = env.app.store.finish_erasure("c", &pseudonym, late).await.unwrap().unwrap();
    assert_eq!((done.status, done.lease_until), (ErasureStatus::Erased, None));
    assert_eq!(holding(&env, ANN).await, Vec::<String>::new());
    let much_later = late + chrono::Duration::days(30);
    assert_eq!(sweep(much_later).await.unwrap().erasures_handed_over, 0, "a finished erasure is not swept");
}

/// A user created again under the erased address before the job ran keeps what is its own —
/// its user, enrolments, audit entries and import — while everything of the erased user written
/// up to the request is rewritten.
#[tokio::test]
async fn a_user_created_again_under_the_address_while_the_job_runs_keeps_what_is_its_own() {
    let env = TestEnv::new().await;
    let old_import = company_with_ann(&env).await;
    env.call("DELETE", &format!("/v1/orgs/c/users/{ANN}")).by(&cm("c")).at(LATER).send().await;
    let erased = erase(&env, ANN, "e1").await;
    let pseudonym = erased.body["pseudonym"].as_str().unwrap().to_string();
    // Her enrolments moved with her, in the request: none is left under the address.
    assert_eq!(env.app.store.enrolments("c", ANN).await.unwrap().len(), 0);

    // Before the job's first run: Ann is added again, licensed, enrolled and imported.
    let again = "2026-03-01T09:05:00Z";
    let a = env.put_user("c", ANN).json(json!({"name": "Ann Jones"})).at(again).send().await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    env.licensed("c", &[ANN], again).await;
    env.enrol("c", ANN, "run1", json!({"status": "active"}), again).await;
    env.enrol("c", ANN, "run3", json!({"status": "new"}), again).await;
    let csv = format!("email\n{ANN}\n");
    let i = env.post("/v1/orgs/c/imports").by(&cm("c")).raw(csv.as_bytes()).at(again).send().await;
    let new_import = i.body["import_id"].as_str().unwrap().to_string();
    let confirmed = env.post(&format!("/v1/orgs/c/imports/{new_import}/confirm")).by(&cm("c")).at(again).send().await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);

    let done = env.app.store.finish_erasure("c", &pseudonym, at(again)).await.unwrap().unwrap();
    assert_eq!(done.status, seatkeeper::domain::erasure::ErasureStatus::Erased);
    // The new Ann: her user, both her enrolments (run1 a new one), her import.
    let user = env.get(&format!("/v1/orgs/c/users/{ANN}")).by(&cm("c")).at(again).send().await;
    assert_eq!((user.status, &user.body["name"]), (200, &json!("Ann Jones")), "{:?}", user.body);
    let ids = |b: &Value| -> Vec<String> {
        b["items"].as_array().unwrap().iter().map(|e| e["enrolment_id"].as_str().unwrap().to_string()).collect()
    };
    let hers = env.get(&format!("/v1/orgs/c/users/{ANN}/enrolments")).by(&cm("c")).at(again).send().await;
    assert_eq!(ids(&hers.body), vec!["run1", "run3"], "{:?}", hers.body);
    let rows = env.get(&format!("/v1/orgs/c/imports/{new_import}/rows")).by(&cm("c")).at(again).send().await;
    assert_eq!(rows.body["items"][0]["email"], ANN, "{:?}", rows.body);
    let audit = env.get("/v1/orgs/c/audit?limit=500").by(&cm("c")).at(again).send().await;
    let created = audit.body["items"].as_array().unwrap().iter().filter(|e| e["at"].as_str() >= Some(again));
    assert!(created.map(|e| e.to_string()).any(|e| e.contains(ANN)), "her own audit entries name her");
    // The erased Ann: her enrolments, her name and her rows in the import before the request.
    let old = env.get(&format!("/v1/orgs/c/users/{pseudonym}/enrolments")).by(&cm("c")).at(again).send().await;
    assert_eq!(ids(&old.body), vec!["run1", "run2"], "{:?}", old.body);
    let rows = env.get(&format!("/v1/orgs/c/imports/{old_import}/rows")).by(&cm("c")).at(again).send().await;
    assert_eq!(rows.body["items"][0]["email"], json!(pseudonym), "{:?}", rows.body);
    assert_eq!(holding(&env, NAME).await, Vec::<String>::new());
    let before: Vec<Value> =
        audit.body["items"].as_array().unwrap().iter().filter(|e| e["at"].as_str() < Some(again)).cloned().collect();
    assert!(before.iter().all(|e| replace_whole(&e.to_string(), ANN, "").is_none()), "{before:?}");
}

/// A user with more enrolments than the request moves keeps them under the address until the
/// job moves them; the request still answers at once.
#[tokio::test]
async fn more_enrolments_than_the_request_moves_are_moved_by_the_job() {
    use seatkeeper::domain::erasure::ENROLMENTS_MOVED_BY_THE_REQUEST;
    let env = TestEnv::new().await;
    env.company_with_lot(1).await;
    env.licensed("c", &[ANN], ASSIGNED).await;
    let many = ENROLMENTS_MOVED_BY_THE_REQUEST + 1;
    for run in 0..many {
        env.enrol("c", ANN, &format!("run{run:02}"), json!({"status": "active"}), ASSIGNED).await;
    }
    env.call("DELETE", &format!("/v1/orgs/c/users/{ANN}")).by(&cm("c")).at(LATER).send().await;
    let erased = erase(&env, ANN, "e1").await;
    assert_eq!(erased.status, 202, "{:?}", erased.body);
    let pseudonym = erased.body["pseudonym"].as_str().unwrap().to_string();
    assert_eq!(env.app.store.enrolments("c", ANN).await.unwrap().len(), many, "left to the job");
    env.app.store.finish_erasure("c", &pseudonym, at(LATER)).await.unwrap().unwrap();
    assert_eq!(env.app.store.enrolments("c", ANN).await.unwrap().len(), 0);
    assert_eq!(env.app.store.enrolments("c", &pseudonym).await.unwrap().len(), many);
}
