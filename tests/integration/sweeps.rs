//! One tenant cannot stop another's sweep: each sweep (and the job runner) with a poisoned org in
//! the middle of the id order — `a`, `b` (poisoned), `c` — does every other org, names `b` in
//! its report with the step and the reason, logs it, fails its invocation naming it (for the
//! schedule's retry), and tries it again on the next run.

use aws_sdk_dynamodb::types::AttributeValue::S;
use seatkeeper::lambda::{entries, invoke, scheduled_event};
use seatkeeper::sweeps::Failed;
use seatkeeper_tests::{at, cm, Call, TestEnv};
use serde_json::{json, Value};

/// When the learners of the renewal tests start (their licence year) and when it renews.
const START: &str = "2018-05-11T09:00:00Z";
const RENEWED: &str = "2019-05-12T00:00:00Z";

/// Partner `p` and companies `a`, `b`, `c` on automatic renewal from activation, each with a lot
/// of 10 and a learner `keen@{org}.example` whose two-year run started at [`START`] (so its
/// licence renews a year on).
async fn three_companies(env: &TestEnv) {
    env.org("p", "partner", "vendor").await;
    for org in ["a", "b", "c"] {
        env.org(org, "company", "p").await;
        env.set_policy(org, json!({"term_starts": "activation", "renewal": "automatic", "notify_emails": [format!("boss@{org}.example")]}))
            .await;
        env.order_and_assign(org, 10, "2018-04-01T08:00:00Z", "p", "2018-04-02T09:00:00Z").await;
        learner(env, org, "keen", 1, "2020-05-11T09:00:00Z").await;
    }
}

/// Learner `{name}@{org}.example` with `runs` live enrolments that started at [`START`] and end
/// at `ends_at`.
async fn learner(env: &TestEnv, org: &str, name: &str, runs: usize, ends_at: &str) {
    let email = format!("{name}@{org}.example");
    env.users(org, [&email]).at("2018-05-01T00:00:00Z").await;
    for run in 0..runs {
        let body = json!({"status": "active", "starts_at": START, "ends_at": ends_at});
        env.enrol(org, &email, &format!("run{run}"), body, START).await;
    }
}

/// The failures a report names: (org, e-mail, step).
fn named(report: &Value) -> Vec<(String, Option<String>, String)> {
    report["failed"]
        .as_array()
        .unwrap_or_else(|| panic!("a report with `failed`: {report}"))
        .iter()
        .map(|f| {
            (
                f["org_id"].as_str().unwrap().into(),
                f["email"].as_str().map(str::to_string),
                f["step"].as_str().unwrap().into(),
            )
        })
        .collect()
}

async fn licence_count(env: &TestEnv, org: &str, name: &str) -> u64 {
    let u = env.get(&format!("/v1/orgs/{org}/users/{name}@{org}.example")).by(&cm(org)).at(RENEWED).send().await;
    u.body["licence_count"].as_u64().unwrap()
}

/// An enrolment of `{name}@{org}.example` stored by something else and unreadable (a status the
/// service never writes), listed in the due index when `due` says when it ends.
async fn broken_enrolment(env: &TestEnv, org: &str, name: &str, due: Option<&str>) {
    let email = format!("{name}@{org}.example");
    let id = format!("{org}#{email}#broken");
    let mut item = vec![
        ("PK", format!("ORG#{org}")),
        ("SK", format!("ENROLMENT#{email}#broken")),
        ("type", "enrolment".to_string()),
        ("status", "bogus".to_string()),
    ];
    if let Some(end) = due {
        use seatkeeper::store::keys;
        item.push(("GSI2PK", keys::due(&id)));
        item.push(("GSI2SK", format!("{}#ENROLMENT#{id}", keys::sort_time(at(end)))));
    }
    env.write_items(vec![item.into_iter().map(|(k, v)| (k.to_string(), S(v))).collect()]).await;
}

/// A poisoned learner of `b` (one of its enrolments cannot be read) among learners due in every
/// org, and a non-renewable learner of `b` with 120 live enrolments, whose renewal decision ends
/// more enrolments than one transaction holds (found by trying it as a new user would: it failed
/// every hour) and is applied in steps now. The sweep renews `a`'s and `c`'s learners and `b`'s
/// other learner (decided after the poisoned one), ends the big one's year and enrolments, names
/// the poisoned user with its reason, and the next run tries it again and renews nobody twice.
#[tokio::test]
async fn the_renewal_sweep_goes_on_past_a_user_whose_change_set_fails() {
    let env = TestEnv::new().await;
    three_companies(&env).await;
    learner(&env, "b", "big", 120, "2020-05-11T09:00:00Z").await;
    learner(&env, "b", "stuck", 1, "2020-05-11T09:00:00Z").await;
    broken_enrolment(&env, "b", "stuck", None).await;
    learner(&env, "b", "zed", 1, "2020-05-11T09:00:00Z").await;
    let r = env
        .post("/v1/orgs/b/users/renewable")
        .by(&cm("b"))
        .json(json!({"emails": ["big@b.example"], "renewable": false}))
        .at(START)
        .send()
        .await;
    assert_eq!(r.body["updated"], 1, "{:?}", r.body);

    let report = seatkeeper::sweeps::renewal::renewal(&env.app, at(RENEWED)).await.unwrap();
    let mut renewed = report.renewed.clone();
    renewed.sort();
    assert_eq!(renewed, ["keen@a.example", "keen@b.example", "keen@c.example", "zed@b.example"]);
    assert_eq!(report.not_renewable, ["big@b.example"], "{report:?}");
    let [Failed { org_id, email, step, reason, .. }] = report.failed.as_slice() else { panic!("{:?}", report.failed) };
    assert_eq!((org_id.as_str(), email.as_deref(), *step), ("b", Some("stuck@b.example"), "renew"));
    assert!(reason.contains("unreadable item"), "{reason}");
    for (org, name) in [("a", "keen"), ("b", "keen"), ("b", "zed"), ("c", "keen")] {
        assert_eq!(licence_count(&env, org, name).await, 2, "{name}@{org} renewed");
    }
    assert_eq!(licence_count(&env, "b", "stuck").await, 1, "left as it was, still due");
    let big = env.app.store.enrolments("b", "big@b.example").await.unwrap();
    assert_eq!(big.iter().filter(|e| e.live_at(at(RENEWED))).count(), 0, "every one of its 120 ended");

    // The invocation fails naming it, for the schedule's retry; the retry (and the next hour's
    // run) tries it again and renews nobody twice.
    for when in [RENEWED, "2019-05-12T01:00:00Z"] {
        let failed = invoke(&env.app, &entries::RENEWAL_SWEEP, scheduled_event("renewal", at(when))).await.unwrap_err();
        assert_eq!(failed.kind, "SweepFailed");
        assert!(failed.message.contains("org b at its renew step for stuck@b.example"), "{}", failed.message);
        assert!(failed.message.contains(r#""renewed":[]"#), "nobody renewed twice: {}", failed.message);
    }
    for (org, name) in [("a", "keen"), ("b", "keen"), ("b", "zed"), ("c", "keen")] {
        assert_eq!(licence_count(&env, org, name).await, 2, "{name}@{org} renewed once");
    }
}

/// The expire sweep with an unreadable item of `b` in the due index (which used to stop the
/// whole sweep, every org's): `a` and `c` are swept whole — `c`'s learner with 120 enrolments that
/// ended at once too, in steps — and `b` is named at its read and stays due.
#[tokio::test]
async fn the_expire_sweep_goes_on_past_an_org_whose_step_fails() {
    let env = TestEnv::new().await;
    three_companies(&env).await;
    learner(&env, "b", "stuck", 1, "2018-09-01T00:00:00Z").await;
    broken_enrolment(&env, "b", "stuck", Some("2018-09-01T00:00:00Z")).await;
    learner(&env, "a", "short", 1, "2018-09-01T00:00:00Z").await;
    learner(&env, "c", "many", 120, "2018-09-01T00:00:00Z").await;
    let now = "2018-09-02T00:00:00Z";
    let report = seatkeeper::sweeps::expire::expire(&env.app, at(now)).await.unwrap();
    assert_eq!(named(&json!(report)), [("b".to_string(), None, "read".to_string())]);
    assert!(report.failed[0].reason.contains("unreadable item"), "{:?}", report.failed);
    assert_eq!(report.enrolments_ended, 121, "a's one and c's 120: {report:?}");
    let many = env.app.store.enrolments("c", "many@c.example").await.unwrap();
    assert!(many.iter().all(|e| e.status == seatkeeper::domain::enrolment::EnrolmentStatus::Expired));
    let failed = invoke(&env.app, &entries::EXPIRE, scheduled_event("expire", at(now))).await.unwrap_err();
    assert!(failed.message.contains("org b at its read step"), "{}", failed.message);
}

/// The usage check with `b`'s partition holding a snapshot that cannot be read: every
/// other org gets its snapshot of the day, `b` is named, and the next run tries it again.
#[tokio::test]
async fn the_usage_snapshot_goes_on_past_an_org_that_fails() {
    let env = TestEnv::new().await;
    three_companies(&env).await;
    let unreadable = [("PK", "ORG#b"), ("SK", "SNAPSHOT#2018-01-01"), ("type", "snapshot")];
    env.write_items(vec![unreadable.iter().map(|(k, v)| (k.to_string(), S(v.to_string()))).collect()]).await;
    let day = "2018-06-01T01:00:00Z";
    let report = seatkeeper::sweeps::snapshot::snapshot(&env.app, at(day)).await.unwrap();
    assert_eq!(named(&json!(report)), [("b".to_string(), None, "snapshot".to_string())]);
    assert!(report.failed[0].reason.contains("unreadable item"), "{:?}", report.failed);
    for org in ["a", "c", "p"] {
        assert!(env.item(&format!("ORG#{org}"), "SNAPSHOT#2018-06-01").await.is_some(), "{org}'s snapshot");
        assert!(env.item(&format!("ORG#{org}"), "USAGE").await.is_some(), "{org}'s overage state");
    }
    assert!(env.item("ORG#b", "USAGE").await.is_none(), "b's state is left for the next run");
    let next = invoke(&env.app, &entries::USAGE_REPORT, scheduled_event("snapshot", at("2018-06-02T01:00:00Z"))).await;
    assert!(next.unwrap_err().message.contains("org b at its snapshot step"), "tried again and named again");
}

/// The monthly forecast export with an enrolment of `b` that cannot be read: `a`'s and `c`'s
/// forecasts are exported (files and notice), `b` is named.
#[tokio::test]
async fn the_forecast_export_goes_on_past_an_org_that_fails() {
    let env = TestEnv::with_s3().await;
    three_companies(&env).await;
    let unreadable = [("PK", "ORG#b"), ("SK", "ENROLMENT#keen@b.example#unreadable"), ("type", "enrolment")];
    env.write_items(vec![unreadable.iter().map(|(k, v)| (k.to_string(), S(v.to_string()))).collect()]).await;
    let first = "2019-05-01T06:00:00Z";
    let report = seatkeeper::sweeps::forecast::export(&env.app, at(first)).await.unwrap();
    assert_eq!(report.exported, ["a", "c"]);
    assert_eq!(report.notices_sent, 2);
    assert_eq!(named(&json!(report)), [("b".to_string(), None, "export".to_string())]);
    let imports = env.imports();
    for (org, there) in [("a", true), ("b", false), ("c", true)] {
        let head = imports
            .client
            .head_object()
            .bucket(&imports.bucket)
            .key(format!("reports/{org}/renewals-2019-05.csv"))
            .send()
            .await;
        assert_eq!(head.is_ok(), there, "{org}'s export");
    }
    let failed = invoke(&env.app, &entries::RENEWALS, scheduled_event("forecast", at(first))).await.unwrap_err();
    assert!(failed.message.contains("org b at its export step"), "{}", failed.message);
}

/// The stream record of import `id` of `org` as the table's stream hands it over (without the
/// attributes `drop` names).
async fn job_record(
    env: &TestEnv,
    org: &str,
    id: &str,
    sequence: &str,
    drop: &[&str],
) -> aws_lambda_events::dynamodb::EventRecord {
    let mut item = env.item(&format!("ORG#{org}"), &format!("IMPORT#{id}")).await.expect("the import record");
    for name in drop {
        item.remove(*name);
    }
    let mut record = aws_lambda_events::dynamodb::EventRecord::default();
    record.event_name = "MODIFY".into();
    record.change.new_image = serde_dynamo::Item::from(item);
    record.change.sequence_number = Some(sequence.into());
    record.change.approximate_creation_date_time = at("2026-02-01T10:00:05Z");
    record
}

/// The job runner handed three background commits and a record it cannot read: the job whose
/// rows cannot be read fails (and is handed back), the unreadable record is handed back too, and
/// the jobs before and after them are finished.
#[tokio::test]
async fn the_job_runner_finishes_every_other_job_of_a_batch() {
    let env = TestEnv::new().await;
    env.company_with_lot(30).await;
    let now = "2026-02-01T10:00:00Z";
    let mut app = env.app.clone();
    app.background_rows = 1;
    let mut ids = Vec::new();
    for name in ["first", "poisoned", "last"] {
        let emails: Vec<String> = (0..3).map(|i| format!("{name}{i}@c.example")).collect();
        env.users("c", &emails).at(now).await;
        let csv: String =
            std::iter::once("email\n".to_string()).chain(emails.iter().map(|e| format!("{e}\n"))).collect();
        let review = env.post("/v1/orgs/c/imports").by(&cm("c")).raw(csv.as_bytes()).at(now).send().await;
        let id = review.body["import_id"].as_str().unwrap().to_string();
        let url = format!("/v1/orgs/c/imports/{id}/confirm");
        let accepted = Call::new(&app, "POST", &url).by(&cm("c")).at(now).send().await;
        assert_eq!(accepted.status, 202, "{:?}", accepted.body);
        ids.push(id);
    }
    // The poisoned job's first chunk of rows cannot be read.
    let rows =
        [("PK", format!("ORG#c#IMPORT#{}", ids[1])), ("SK", "ROWS#000000".into()), ("type", "import_rows".into())];
    env.write_items(vec![rows.iter().map(|(k, v)| (k.to_string(), S(v.clone()))).collect()]).await;

    let mut event = aws_lambda_events::dynamodb::Event::default();
    for (i, id) in ids.iter().enumerate() {
        event.records.push(job_record(&env, "c", id, &format!("10{i}"), &[]).await);
    }
    // An import record the runner cannot read (its summary is missing).
    event.records.push(job_record(&env, "c", &ids[2], "103", &["summary"]).await);

    let response = seatkeeper::imports::jobs::run_stream(&env.app, &event).await;
    let handed_back: Vec<String> =
        response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap()).collect();
    assert_eq!(handed_back, ["101", "103"]);
    for (id, status) in [(&ids[0], "committed"), (&ids[1], "committing"), (&ids[2], "committed")] {
        let record = env.item("ORG#c", &format!("IMPORT#{id}")).await.unwrap();
        assert_eq!(record["status"].as_s().unwrap(), status, "{id}");
    }
    let active = env.pages("/v1/orgs/c/licences?status=active&limit=500", &cm("c"), now).await;
    let licensed: Vec<&str> = active
        .iter()
        .flat_map(|p| p.body["items"].as_array().unwrap().iter())
        .map(|l| l["email"].as_str().unwrap())
        .collect();
    assert_eq!(licensed.len(), 6, "the first and last jobs' learners: {licensed:?}");
    assert!(licensed.iter().all(|e| !e.starts_with("poisoned")), "{licensed:?}");
}
