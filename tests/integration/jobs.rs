//! A job's rows belong to its org: a large allocation's job is named by (caller, org, key) and
//! bound to the request that started it, its rows, release list and progress kept under its org;
//! rows of a review nobody confirmed (and of a refused file) expire, and a confirm after that is
//! refused as too old; jobs and imports written in the first layout are still read and finished.

use seatkeeper::imports::{jobs, large};
use seatkeeper_tests::{at, cm, pm, Call, Item, TestEnv};
use serde_json::{json, Value};

/// Every licence of `org` with `status` at `when`, as (e-mail, licence id).
async fn licences(env: &TestEnv, org: &str, status: &str, when: &str) -> Vec<String> {
    let pages = env.pages(&format!("/v1/orgs/{org}/licences?status={status}&limit=500"), &cm(org), when).await;
    pages
        .iter()
        .flat_map(|a| a.body["items"].as_array().unwrap().iter())
        .map(|l| l["email"].as_str().unwrap().into())
        .collect()
}

/// Every e-mail of a job's rows, in order, as `org`'s manager pages them.
async fn job_rows(env: &TestEnv, org: &str, id: &str, when: &str) -> Vec<String> {
    let pages = env.pages(&format!("/v1/orgs/{org}/allocations/{id}/rows?limit=500"), &cm(org), when).await;
    pages
        .iter()
        .flat_map(|a| a.body["items"].as_array().unwrap().iter())
        .map(|r| r["email"].as_str().unwrap().into())
        .collect()
}

fn kind(item: &Item) -> &str {
    item.get("type").and_then(|t| t.as_s().ok()).map(String::as_str).unwrap_or("")
}

/// The chunk items (rows and release list) of a partition, with their `expires_at` if any.
async fn chunks(env: &TestEnv, pk: &str) -> Vec<(String, Option<i64>)> {
    env.partition(pk)
        .await
        .iter()
        .filter(|i| matches!(kind(i), "import_rows" | "import_release"))
        .map(|i| {
            let expires = i.get("expires_at").map(|v| v.as_n().unwrap().parse().unwrap());
            (i["SK"].as_s().unwrap().clone(), expires)
        })
        .collect()
}

/// A CSV file with a header and one row per e-mail.
fn csv(emails: &[String]) -> Vec<u8> {
    std::iter::once("email\n".to_string())
        .chain(emails.iter().map(|e| format!("{e}\n")))
        .collect::<String>()
        .into_bytes()
}

async fn review(env: &TestEnv, org: &str, query: &str, emails: &[String], when: &str) -> Value {
    let a = env.post(&format!("/v1/orgs/{org}/imports{query}")).by(&cm(org)).raw(&csv(emails)).at(when).send().await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    a.body
}

/// One partner's manager allocates "select all" in two of its companies under the same
/// `Idempotency-Key` (the second a day later, the key's own record expired): two jobs, each with
/// its rows under its own org, each licensing its own learners and nobody else's.
#[tokio::test]
async fn one_key_in_two_companies_makes_two_jobs_each_licensing_its_own_learners() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c1").await;
    env.org("c2", "company", "p").await;
    for org in ["c1", "c2"] {
        env.lot("p", org, 150).await;
        env.seed_licensed(org, "u", 120, "2026-06-01T00:00:00Z").await;
    }
    let mut app = env.app.clone();
    app.background_rows = 50; // both jobs stay committing until the runner takes them
    let (first_at, later) = ("2026-07-01T00:00:00Z", "2026-07-02T01:00:00Z");
    let select_all = |org: &str, when: &str| {
        Call::new(&app, "POST", &format!("/v1/orgs/{org}/allocations"))
            .by(&pm("p"))
            .json(json!({"all_expired": true}))
            .key("monthly-renewal")
            .at(when)
    };
    let first = select_all("c1", first_at).send().await;
    assert_eq!((first.status, first.body["status"].as_str()), (202, Some("committing")), "{:?}", first.body);
    let second = select_all("c2", later).send().await;
    assert_eq!((second.status, second.body["status"].as_str()), (202, Some("committing")), "{:?}", second.body);
    let (id1, id2) = (first.body["allocation_id"].as_str().unwrap(), second.body["allocation_id"].as_str().unwrap());
    assert_ne!(id1, id2, "a key names one job per org");
    assert_eq!(id1, large::job_id(&pm("p").sub, "c1", "monthly-renewal"));

    // The first job is finished after the second one started: it licenses its own learners.
    for (org, id) in [("c1", id1), ("c2", id2)] {
        let done = jobs::run(&env.app.store, org, id, at(later)).await.unwrap().expect("a job to finish");
        assert_eq!(done.allocated, 120, "{org}");
    }
    for (org, id) in [("c1", id1), ("c2", id2)] {
        let active = licences(&env, org, "active", later).await;
        assert_eq!(active.len(), 120, "{org}");
        assert!(active.iter().all(|e| e.ends_with(&format!("@{org}.example"))), "{org}: {active:?}");
        let rows = job_rows(&env, org, id, later).await;
        assert_eq!(rows.len(), 120, "{org}");
        assert!(rows.iter().all(|e| e.ends_with(&format!("@{org}.example"))), "{org}'s rows are its own: {rows:?}");
        assert_eq!(env.lots(org, later).await[0]["in_use"], 120, "{org}");
        // Its rows and progress live under its org, and nothing under the global partition.
        let own = env.partition(&format!("ORG#{org}#IMPORT#{id}")).await;
        assert!(own.iter().any(|i| kind(i) == "import_rows") && own.iter().any(|i| kind(i) == "import_progress"));
        assert!(env.partition(&format!("IMPORT#{id}")).await.is_empty(), "{org}");
    }
}

/// A key used again after its own record expired (a day on): another list is an
/// `idempotency_mismatch` that writes nothing, and the first list is answered with its job as it
/// ended, licensing nobody again.
#[tokio::test]
async fn a_key_used_again_after_its_record_expired_answers_only_its_first_request() {
    let env = TestEnv::new().await;
    env.company_with_lot(300).await;
    let first: Vec<String> = (0..100).map(|i| format!("a{i}@c.example")).collect();
    let other: Vec<String> = (0..100).map(|i| format!("b{i}@c.example")).collect();
    let (t0, later) = ("2026-02-01T00:00:00Z", "2026-02-02T01:00:00Z");
    let send = |emails: &[String], when: &str| {
        env.allocation("c").json(json!({"emails": emails, "create_missing": true})).key("k-1").at(when)
    };
    let a = send(&first, t0).send().await;
    assert_eq!((a.status, a.body["allocated"].as_u64()), (200, Some(100)), "{:?}", a.body);
    let id = a.body["allocation_id"].as_str().unwrap().to_string();

    let b = send(&other, later).send().await;
    assert_eq!((b.status, b.code()), (409, "idempotency_mismatch"), "{:?}", b.body);
    for e in &other {
        let u = env.get(&format!("/v1/orgs/c/users/{e}")).by(&cm("c")).at(later).send().await;
        assert_eq!(u.status, 404, "{e} was not created");
    }
    assert_eq!(env.lots("c", later).await[0]["in_use"], 100, "nothing allocated by another body");

    let again = send(&first, later).send().await;
    assert_eq!((again.status, again.body["allocated"].as_u64()), (200, Some(100)), "{:?}", again.body);
    assert_eq!(again.body["allocation_id"], id.as_str());
    assert_eq!(licences(&env, "c", "active", later).await.len(), 100);
    let lot = &env.lots("c", later).await[0];
    assert_eq!((lot["in_use"].as_u64(), lot["uses"].as_u64()), (Some(100), Some(100)), "nobody licensed twice");
    assert_eq!(job_rows(&env, "c", &id, later).await, first, "the job's rows are its first request's");
}

/// Two requests with different bodies under one key at the same moment: one job, holding the
/// winner's list; the other request is an `idempotency_mismatch` and created nobody.
#[tokio::test]
async fn two_bodies_under_one_key_at_once_make_one_job_and_the_other_changes_nothing() {
    let env = TestEnv::new().await;
    env.company_with_lot(300).await;
    let xs: Vec<String> = (0..100).map(|i| format!("x{i}@c.example")).collect();
    let ys: Vec<String> = (0..100).map(|i| format!("y{i}@c.example")).collect();
    let now = "2026-02-01T00:00:00Z";
    let send = |emails: &[String]| {
        env.allocation("c").json(json!({"emails": emails, "create_missing": true})).key("same").at(now).send()
    };
    let (x, y) = tokio::join!(send(&xs), send(&ys));
    let (won, lost, winners, losers) = match (x.status, y.status) {
        (200, _) => (x, y, &xs, &ys),
        (_, 200) => (y, x, &ys, &xs),
        _ => panic!("one of them must win: {:?} / {:?}", x.body, y.body),
    };
    assert_eq!((lost.status, lost.code()), (409, "idempotency_mismatch"), "{:?}", lost.body);
    assert_eq!(won.body["allocated"], 100);
    let id = won.body["allocation_id"].as_str().unwrap();
    assert_eq!(&job_rows(&env, "c", id, now).await, winners);
    let active = licences(&env, "c", "active", now).await;
    assert_eq!(active.len(), 100);
    assert!(active.iter().all(|e| winners.contains(e)));
    let users = env.pages("/v1/orgs/c/users?limit=500", &cm("c"), now).await;
    let named: Vec<&str> = users
        .iter()
        .flat_map(|p| p.body["items"].as_array().unwrap().iter())
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert!(named.iter().all(|e| !losers.iter().any(|l| l == e)), "the losing request created nobody");
}

/// A background allocation job and a reviewed import as the first layout stored them (rows in the
/// global `IMPORT#…` partition, the job's id `sha256(sub, key)`, no expiry): the job reads back,
/// the job runner finishes it from those rows, and a retry under its key a day later answers that
/// job; the import is confirmed 20 days after its review (it never expires) and licenses its rows.
#[tokio::test]
async fn jobs_and_imports_of_the_first_layout_are_read_and_finished() {
    let env = TestEnv::new().await;
    env.company_with_lot(300).await;
    env.seed_licensed("c", "u", 120, "2026-06-01T00:00:00Z").await;
    let mut app = env.app.clone();
    app.background_rows = 50;
    let (t0, later) = ("2026-07-01T00:00:00Z", "2026-07-02T01:00:00Z");
    let select_all = |when: &str| {
        Call::new(&app, "POST", "/v1/orgs/c/allocations")
            .by(&cm("c"))
            .json(json!({"all_expired": true}))
            .key("old")
            .at(when)
    };
    let accepted = select_all(t0).send().await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    let legacy = large::legacy_job_id(&cm("c").sub, "old");
    env.to_first_layout("c", accepted.body["allocation_id"].as_str().unwrap(), &legacy).await;

    let job = env.get(&format!("/v1/orgs/c/allocations/{legacy}")).by(&cm("c")).at(t0).send().await;
    let read = (job.body["status"].as_str(), job.body["rows_done"].as_u64(), job.body["rows_total"].as_u64());
    assert_eq!(read, (Some("committing"), Some(0), Some(120)), "{:?}", job.body);
    assert_eq!(job_rows(&env, "c", &legacy, t0).await.len(), 120);

    let done = jobs::run(&env.app.store, "c", &legacy, at(t0)).await.unwrap().expect("the job to finish");
    assert_eq!((done.allocated, done.import_id.as_str()), (120, legacy.as_str()));
    assert_eq!(licences(&env, "c", "active", t0).await.len(), 120);
    let legacy_rows = env.partition(&format!("IMPORT#{legacy}")).await;
    assert!(legacy_rows.iter().any(|i| kind(i) == "import_progress"), "its progress where its rows are");
    assert!(env.partition(&format!("ORG#c#IMPORT#{legacy}")).await.is_empty());

    let retried = select_all(later).send().await;
    assert_eq!((retried.status, retried.body["allocated"].as_u64()), (200, Some(120)), "{:?}", retried.body);
    assert_eq!(retried.body["allocation_id"], legacy.as_str(), "the retry finds the first layout's job");
    let lot = &env.lots("c", later).await[0];
    assert_eq!((lot["in_use"].as_u64(), lot["uses"].as_u64()), (Some(120), Some(120)));

    let learners: Vec<String> = (0..5).map(|i| format!("v{i}@c.example")).collect();
    env.users("c", &learners).at(t0).await;
    let id = review(&env, "c", "", &learners, t0).await["import_id"].as_str().unwrap().to_string();
    env.to_first_layout("c", &id, &id).await;
    let twenty_days = "2026-07-21T00:00:00Z";
    let read = env.get(&format!("/v1/orgs/c/imports/{id}")).by(&cm("c")).at(twenty_days).send().await;
    assert_eq!((read.body["rows"].as_array().map(Vec::len), read.body.get("review_expires_at")), (Some(5), None));
    let confirmed = env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(twenty_days).send().await;
    assert_eq!((confirmed.status, confirmed.body["allocated"].as_u64()), (200, Some(5)), "{:?}", confirmed.body);
}

/// A review's rows and release list carry the table's TTL (`expires_at`, 14 days on) until it is
/// confirmed; the confirm keeps them (the TTL removed) for the committed import's readers.
#[tokio::test]
async fn a_review_expires_unless_confirmed_and_is_kept_once_it_is() {
    let env = TestEnv::new().await;
    env.company_with_lot(10).await;
    let stay: Vec<String> = (0..3).map(|i| format!("k{i}@c.example")).collect();
    env.users("c", stay.iter().chain(["gone@c.example".to_string()].iter())).await;
    let t0 = "2026-02-01T00:00:00Z";
    let reviewed = review(&env, "c", "?mode=sync", &stay, t0).await;
    let id = reviewed["import_id"].as_str().unwrap().to_string();
    let until = at("2026-02-15T00:00:00Z");
    assert_eq!(reviewed["review_expires_at"], json!(until));
    let rows_pk = format!("ORG#c#IMPORT#{id}");
    let stored = chunks(&env, &rows_pk).await;
    assert!(stored.iter().any(|(sk, _)| sk.starts_with("RELEASE#")), "a release list: {stored:?}");
    assert!(stored.iter().all(|(_, e)| *e == Some(until.timestamp())), "every chunk expires: {stored:?}");
    let record = env.item("ORG#c", &format!("IMPORT#{id}")).await.unwrap();
    assert!(!record.contains_key("expires_at"), "the record itself never expires");

    let confirmed =
        env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at("2026-02-02T00:00:00Z").send().await;
    assert_eq!((confirmed.status, confirmed.body["allocated"].as_u64()), (200, Some(3)), "{:?}", confirmed.body);
    assert_eq!(confirmed.body.get("review_expires_at"), None);
    let kept = chunks(&env, &rows_pk).await;
    assert!(!kept.is_empty() && kept.iter().all(|(_, e)| e.is_none()), "the confirmed rows are kept: {kept:?}");
}

/// A partner file refused for want of licences: its record is `failed`, and its rows expire.
#[tokio::test]
async fn a_refused_partner_file_leaves_rows_that_expire() {
    let env = TestEnv::with_s3().await;
    env.company_with_lot(1).await;
    let learners: Vec<String> = (0..3).map(|i| format!("x{i}@c.example")).collect();
    env.users("c", &learners).await;
    let t0 = "2026-02-01T00:00:00Z";
    let records = env.drop_file("imports/c/three.csv", csv(&learners), &[], 1, t0).await;
    let record = &records[0];
    assert_eq!(record.status, seatkeeper::domain::import::ImportStatus::Failed, "{record:?}");
    let stored = chunks(&env, &format!("ORG#c#IMPORT#{}", record.import_id)).await;
    assert!(!stored.is_empty(), "the refused file's rows, for its readers a while");
    assert!(stored.iter().all(|(_, e)| *e == Some(at("2026-02-15T00:00:00Z").timestamp())), "{stored:?}");
}

/// A confirm at or after the review's expiry is `409 review_expired` (its rows may be gone at
/// any moment) and changes nothing; a day before it, the same review is confirmed.
#[tokio::test]
async fn a_confirm_after_the_review_expired_is_refused_as_too_old_and_changes_nothing() {
    let env = TestEnv::new().await;
    env.company_with_lot(10).await;
    let learners: Vec<String> = (0..3).map(|i| format!("t{i}@c.example")).collect();
    env.users("c", &learners).await;
    let t0 = "2026-02-01T00:00:00Z";
    let old = review(&env, "c", "", &learners, t0).await["import_id"].as_str().unwrap().to_string();
    let fresh = review(&env, "c", "", &learners, t0).await["import_id"].as_str().unwrap().to_string();
    let too_late = "2026-02-15T00:00:00Z";
    let refused = env.post(&format!("/v1/orgs/c/imports/{old}/confirm")).by(&cm("c")).at(too_late).send().await;
    assert_eq!((refused.status, refused.code()), (409, "review_expired"), "{:?}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("too old") && message.contains("14 days"), "{message}");
    let read = env.get(&format!("/v1/orgs/c/imports/{old}")).by(&cm("c")).at(too_late).send().await;
    assert_eq!(read.body["status"], "reviewed");
    assert!(licences(&env, "c", "active", too_late).await.is_empty());
    assert_eq!(env.lots("c", too_late).await[0]["in_use"], 0);

    let in_time = "2026-02-14T00:00:00Z";
    let ok = env.post(&format!("/v1/orgs/c/imports/{fresh}/confirm")).by(&cm("c")).at(in_time).send().await;
    assert_eq!((ok.status, ok.body["allocated"].as_u64()), (200, Some(3)), "{:?}", ok.body);
}

/// A confirm cut off after its seats were reserved but before its rows were kept: the retry that
/// finishes the commit keeps them, so a committed import's rows never expire.
#[tokio::test]
async fn a_commit_cut_off_before_its_rows_were_kept_keeps_them_when_it_finishes() {
    let env = TestEnv::new().await;
    env.company_with_lot(10).await;
    let learners: Vec<String> = (0..3).map(|i| format!("r{i}@c.example")).collect();
    env.users("c", &learners).await;
    let t0 = "2026-02-01T00:00:00Z";
    let id = review(&env, "c", "", &learners, t0).await["import_id"].as_str().unwrap().to_string();
    let url = format!("/v1/orgs/c/imports/{id}/confirm");
    let (dying, _log) = TestEnv::failing_after(&env, "UpdateItem", 0).await;
    let cut = dying.post(&url).by(&cm("c")).at(t0).send().await;
    assert!(cut.status >= 500, "{:?}", cut.body);
    let read = env.get(&format!("/v1/orgs/c/imports/{id}")).by(&cm("c")).at(t0).send().await;
    assert_eq!(read.body["status"], "committing");
    let rows_pk = format!("ORG#c#IMPORT#{id}");
    assert!(chunks(&env, &rows_pk).await.iter().all(|(_, e)| e.is_some()), "cut off before they were kept");

    let done = env.post(&url).by(&cm("c")).at(t0).send().await;
    assert_eq!((done.status, done.body["allocated"].as_u64()), (200, Some(3)), "{:?}", done.body);
    let kept = chunks(&env, &rows_pk).await;
    assert!(!kept.is_empty() && kept.iter().all(|(_, e)| e.is_none()), "{kept:?}");
}

/// Company `c` with 120 learners whose licences expired, "Select all" of them at `when` under a
/// key, left `committing` for the job runner (more than the request writes): the job's id.
async fn select_all_in_background(env: &TestEnv, when: &str) -> String {
    env.company_with_lot(300).await;
    env.seed_licensed("c", "u", 120, "2026-06-01T00:00:00Z").await;
    let mut app = env.app.clone();
    app.background_rows = 50;
    let accepted = Call::new(&app, "POST", "/v1/orgs/c/allocations")
        .by(&cm("c"))
        .json(json!({"all_expired": true}))
        .key("select-all")
        .at(when)
        .send()
        .await;
    assert_eq!((accepted.status, accepted.body["status"].as_str()), (202, Some("committing")), "{:?}", accepted.body);
    accepted.body["allocation_id"].as_str().unwrap().to_string()
}

/// A large allocation's rows and progress carry the table's TTL from the start (14 days after it
/// was made) and its commit does not rewrite them to keep them: they are its answer, read while
/// it runs and just after. Read after that, its rows are `409 review_expired`, saying so in
/// words; its record still answers what it allocated.
#[tokio::test]
async fn a_large_allocations_rows_expire_14_days_on_and_its_commit_does_not_rewrite_them() {
    let env = TestEnv::new().await;
    let t0 = "2026-07-01T00:00:00Z";
    let id = select_all_in_background(&env, t0).await;
    let pk = format!("ORG#c#IMPORT#{id}");
    let until = at("2026-07-15T00:00:00Z").timestamp();
    let before = chunks(&env, &pk).await;
    assert!(!before.is_empty() && before.iter().all(|(_, e)| *e == Some(until)), "{before:?}");

    let done = jobs::run(&env.app.store, "c", &id, at(t0)).await.unwrap().expect("the job to finish");
    assert_eq!(done.allocated, 120);
    assert_eq!(chunks(&env, &pk).await, before, "the commit left its rows as they were");
    let progress = env.item(&pk, "PROGRESS").await;
    let progress_expires = progress.as_ref().and_then(|p| p.get("expires_at")).map(|v| v.as_n().unwrap().clone());
    assert_eq!(progress_expires, Some(until.to_string()), "its progress goes with them: {progress:?}");

    assert_eq!(job_rows(&env, "c", &id, "2026-07-14T23:59:59Z").await.len(), 120, "read on their last day");
    let too_late = "2026-07-15T00:00:00Z";
    let url = format!("/v1/orgs/c/allocations/{id}/rows");
    let refused = env.get(&url).by(&cm("c")).at(too_late).send().await;
    assert_eq!((refused.status, refused.code()), (409, "review_expired"), "{:?}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("14 days") && message.contains("120 licences"), "{message}");
    let record = env.get(&format!("/v1/orgs/c/allocations/{id}")).by(&cm("c")).at(too_late).send().await;
    assert_eq!((record.status, record.body["status"].as_str()), (200, Some("committed")), "{:?}", record.body);
}

/// A retry that reviews a large allocation's rows again while another attempt has started its
/// commit: the rewrite of a chunk (the allocation's chunks always expire, so they cannot say
/// whether the job awaits its commit) checks the record in the same transaction, and is a race
/// that leaves the committing job's rows as they were.
#[tokio::test]
async fn a_rewrite_of_an_allocations_rows_after_its_commit_started_is_a_race_and_writes_nothing() {
    use seatkeeper::domain::import::ImportStatus;
    use seatkeeper::store::imports::Rows;
    let env = TestEnv::new().await;
    let id = select_all_in_background(&env, "2026-07-01T00:00:00Z").await;
    let store = &env.app.store;
    let committing = store.import("c", &id).await.unwrap().unwrap();
    assert_eq!(committing.status, ImportStatus::Committing);
    // The view of an attempt that read the job while it still awaited its commit.
    let stale = seatkeeper::domain::import::Batch { status: ImportStatus::Reviewed, ..committing.clone() };
    let rows = store.import_rows(&Rows::of(&committing)).await.unwrap();
    let changed: Vec<_> = rows
        .iter()
        .take(10)
        .cloned()
        .map(|mut r| {
            r.outcome = seatkeeper::domain::import::RowOutcome::AlreadyActive;
            r
        })
        .collect();
    let raced = store.rewrite_row_chunk(&Rows::of(&stale), 0, &changed).await;
    assert!(matches!(raced, Err(seatkeeper::store::Error::Race(_))), "{raced:?}");
    assert_eq!(store.import_rows(&Rows::of(&committing)).await.unwrap(), rows, "the rows as they were");
}
