//! Each function's IAM policy names the partition-key prefixes it may touch
//! (`dynamodb:LeadingKeys`), and those are exactly the ones it uses: a walk through every
//! route, sweep and the S3 import records the leading key of every item each function reads or
//! writes (for a query, the partition key of the table or index it reads), and every one must
//! match a pattern of that function's policy, and every pattern must be needed by one of them.

use std::collections::{BTreeMap, BTreeSet};

use seatkeeper::http::routes;
use seatkeeper::store::table::TEMPLATE;
use seatkeeper_tests::iam::like;
use seatkeeper_tests::{cm, platform, pm, Answer, Call, KeyLog, SesReport, TestEnv, Who};
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;

type Seen = BTreeMap<String, BTreeSet<(String, String)>>;

struct Walk {
    env: TestEnv,
    log: KeyLog,
    seen: Seen,
    commands: usize,
}

impl Walk {
    fn record(&mut self, function: &str) {
        let keys = self.log.take();
        assert!(!keys.is_empty() || function == "tenant-admin", "{function} touched nothing");
        self.seen.entry(function.to_string()).or_default().extend(keys);
    }

    /// Sends a request, with an `Idempotency-Key` when it is a command, and files the keys it
    /// touched under the function the route table says serves it.
    async fn go(&mut self, method: &str, url: &str, who: &Who, body: Option<Value>, at: &str) -> Answer {
        let path = url.split('?').next().unwrap();
        let (route, _) = routes::find(method, path, None).unwrap().unwrap();
        let mut call = self.env.call(method, url).by(who).at(at);
        if route.command {
            self.commands += 1;
            call = call.key(&format!("walk-{}", self.commands));
        }
        if let Some(b) = body {
            call = call.json(b);
        }
        let a = Box::pin(call.send()).await;
        assert!(a.status < 300, "{method} {url}: {} {}", a.status, a.body);
        self.record(route.function);
        a
    }

    async fn sweep(&mut self, function: &str, sweep: &str, at: &str) -> Value {
        let run = seatkeeper::sweeps::by_name(sweep).unwrap();
        let report = run(self.env.app.clone(), at.parse().unwrap()).await.unwrap();
        self.record(function);
        report
    }
}

/// Each function's table statements: every one must carry a `ForAllValues:StringLike` condition
/// on `dynamodb:LeadingKeys`; the union of their patterns.
fn granted_prefixes() -> BTreeMap<String, Vec<String>> {
    let doc: Yaml = serde_yaml::from_str(TEMPLATE).unwrap();
    let mut out = BTreeMap::new();
    for (_, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_string();
        let mut patterns = Vec::new();
        for policy in resource["Properties"]["Policies"].as_sequence().unwrap() {
            for statement in policy["Statement"].as_sequence().unwrap() {
                let actions = statement["Action"].as_sequence().unwrap();
                if !actions.iter().any(|a| a.as_str().unwrap().starts_with("dynamodb:")) {
                    continue;
                }
                let condition = &statement["Condition"];
                assert_eq!(condition.as_mapping().map(|m| m.len()), Some(1), "{binary}: {condition:?}");
                let keys = condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
                    .as_sequence()
                    .unwrap_or_else(|| panic!("{binary}: a table grant without a LeadingKeys condition"));
                patterns.extend(keys.iter().map(|k| k.as_str().unwrap().to_string()));
            }
        }
        if !patterns.is_empty() {
            out.insert(binary, patterns);
        }
    }
    out
}

#[test]
fn string_like_matches_as_iam_does() {
    assert!(like("ORG#*", "ORG#c#CHILDREN"));
    assert!(like("DUE#?", "DUE#3"));
    assert!(!like("DUE#?", "DUE#31"));
    assert!(!like("ORG#*", "ORDER#o1"));
    assert!(like("ORGS", "ORGS"));
    assert!(!like("ORGS", "ORGS#x"));
}

#[tokio::test]
async fn each_function_touches_only_the_key_prefixes_its_policy_grants_and_needs_each_of_them() {
    let (env, log) = TestEnv::with_s3().await.with_key_log().await;
    let _ = log.take();
    let mut w = Walk { env, log, seen: Seen::new(), commands: 0 };
    let vendor = Who::vendor_admin();
    let (pm, cm, platform) = (pm("p"), cm("c"), platform("c"));
    let day = "2018-04-01T08:00:00Z";

    // tenant-admin
    w.go("GET", "/health", &vendor, None, day).await;
    w.go(
        "POST",
        "/v1/orgs",
        &vendor,
        Some(json!({"org_id": "p", "name": "P", "kind": "partner", "parent_id": "vendor"})),
        day,
    )
    .await;
    w.go("POST", "/v1/orgs", &pm, Some(json!({"org_id": "c", "name": "C", "kind": "company", "parent_id": "p"})), day)
        .await;
    // The deployment's TableSetup runs on the tenant-admin function: the vendor, and each org's
    // case guard.
    Box::pin(w.env.app.store.set_up(seatkeeper_tests::at(day))).await.unwrap();
    w.record("tenant-admin");
    let policy = json!({"term_starts": "activation", "renewal": "automatic", "notify_emails": ["admin@c.example"]});
    w.go("PUT", "/v1/orgs/c/policy", &vendor, Some(policy), day).await;
    w.go("GET", "/v1/orgs/c", &cm, None, day).await;
    w.go("GET", "/v1/orgs/p/children", &pm, None, day).await;

    // request-order and assign-order
    let order = w.go("POST", "/v1/orgs/c/orders", &cm, Some(json!({"quantity": 110})), day).await;
    let order = order.body["order_id"].as_str().unwrap().to_string();
    let cancelled = w.go("POST", "/v1/orgs/c/orders", &cm, Some(json!({"quantity": 1})), day).await;
    let rejected = w.go("POST", "/v1/orgs/c/orders", &cm, Some(json!({"quantity": 2})), day).await;
    w.go("GET", "/v1/orgs/p/orders?status=requested", &pm, None, day).await;
    w.go("GET", "/v1/orgs/p/orders", &pm, None, day).await;
    w.go("GET", &format!("/v1/orders/{order}"), &cm, None, day).await;
    w.go("POST", &format!("/v1/orders/{}/cancel", cancelled.body["order_id"].as_str().unwrap()), &cm, None, day).await;
    let reject = format!("/v1/orders/{}/reject", rejected.body["order_id"].as_str().unwrap());
    w.go("POST", &reject, &pm, Some(json!({"reason": "no"})), day).await;
    w.go("POST", &format!("/v1/orders/{order}/assign"), &pm, None, "2018-04-02T09:00:00Z").await;
    w.go("GET", "/v1/orgs/c/lots", &cm, None, day).await;
    // The renewals ahead, the partner's (GSI1 ENDS#p) and the vendor's (GSI3 ENDS#vendor).
    w.go("GET", "/v1/orgs/p/expiring?within_days=90", &pm, None, day).await;
    w.go("GET", "/v1/orgs/vendor/expiring", &vendor, None, day).await;

    // users and allocate
    let may = "2018-05-11T09:00:00Z";
    w.go("PUT", "/v1/orgs/c/users/w@c.example", &cm, Some(json!({"name": "W"})), may).await;
    let run = json!({"status": "active", "starts_at": may, "ends_at": "2020-05-11T09:00:00Z"});
    w.go("PUT", "/v1/orgs/c/users/w@c.example/enrolments/run", &platform, Some(run), may).await;
    w.go("GET", "/v1/orgs/c/enrolments?enrolment_id=run", &cm, None, may).await;
    // Its end as it is: the walk goes on with the same run.
    let bulk = json!({"items": [{"email": "w@c.example", "enrolment_id": "run"}], "ends_at": "2020-05-11T09:00:00Z"});
    w.go("POST", "/v1/orgs/c/enrolments/bulk", &cm, Some(bulk), may).await;
    w.go(
        "POST",
        "/v1/orgs/c/allocations",
        &cm,
        Some(json!({"emails": ["a@c.example", "b@c.example"], "create_missing": true})),
        may,
    )
    .await;
    // More users than one transaction: the allocation runs as a job, the import's way.
    let many: Vec<String> = (0..91).map(|i| format!("m{i}@c.example")).collect();
    let job =
        w.go("POST", "/v1/orgs/c/allocations", &cm, Some(json!({"emails": many, "create_missing": true})), may).await;
    assert_eq!(job.body["allocated"], 91, "{}", job.body);
    let job_url = format!("/v1/orgs/c/allocations/{}", job.body["allocation_id"].as_str().unwrap());
    w.go("GET", &job_url, &cm, None, may).await;
    // A job recorded in the first layout (its rows in the global IMPORT#… partition) reads back.
    let first_layout = seatkeeper::imports::large::legacy_job_id(&cm.sub, "walk-first-layout");
    w.env.to_first_layout("c", job.body["allocation_id"].as_str().unwrap(), &first_layout).await;
    let _ = w.log.take();
    w.go("GET", &format!("/v1/orgs/c/allocations/{first_layout}/rows"), &cm, None, may).await;
    w.go("GET", "/v1/orgs/c/licences", &cm, None, may).await;
    w.go("DELETE", "/v1/orgs/c/users/b@c.example", &cm, None, may).await;
    let erased = w.go("POST", "/v1/orgs/c/users/b@c.example/erase", &cm, None, may).await;
    let pseudonym = erased.body["pseudonym"].as_str().unwrap().to_string();
    let done = w.env.app.store.finish_erasure("c", &pseudonym, seatkeeper_tests::at(may)).await.unwrap();
    assert!(done.is_some_and(|d| d.email.is_none()), "the erasure finished");
    w.record("job-runner");
    w.go("POST", "/v1/orgs/c/users/renewable", &cm, Some(json!({"emails": ["a@c.example"], "renewable": false})), may)
        .await;
    w.go("GET", "/v1/orgs/c/users", &cm, None, may).await;
    w.go("GET", "/v1/orgs/c/users?email_prefix=W&licence_status=pending", &cm, None, may).await;
    w.go("GET", "/v1/orgs/c/users/w@c.example", &cm, None, may).await;
    w.go("GET", "/v1/orgs/c/users/w@c.example/enrolments", &platform, None, may).await;
    w.go("GET", "/v1/orgs/c/users/w@c.example/access", &platform, None, may).await;

    // import-allocation: through the API, and a partner file on S3
    let import = Box::pin(w.env.post("/v1/orgs/c/imports").by(&cm).raw(b"email\ni@c.example\n").at(may).send()).await;
    assert_eq!(import.status, 201, "{}", import.body);
    w.record(routes::IMPORT_ALLOCATION);
    let id = import.body["import_id"].as_str().unwrap().to_string();
    w.go("GET", &format!("/v1/orgs/c/imports/{id}"), &cm, None, may).await;
    w.go("GET", &format!("/v1/orgs/c/imports/{id}/rows?outcome=renew"), &cm, None, may).await;
    w.go("POST", &format!("/v1/orgs/c/imports/{id}/confirm"), &cm, None, may).await;
    let dropped =
        Box::pin(w.env.drop_file("imports/c/partner.csv", b"email\ns@c.example\n".to_vec(), &[], 2, may)).await;
    assert_eq!(dropped.len(), 2);
    w.record(routes::IMPORT_ALLOCATION);

    // job-runner: a confirm above the background size is answered 202, and the runner (as the
    // table's stream hands it the record) finishes it
    for e in ["j1@c.example", "j2@c.example"] {
        w.go("PUT", &format!("/v1/orgs/c/users/{e}"), &cm, Some(json!({})), may).await;
    }
    let big =
        Box::pin(w.env.post("/v1/orgs/c/imports").by(&cm).raw(b"email\nj1@c.example\nj2@c.example\n").at(may).send())
            .await;
    w.record(routes::IMPORT_ALLOCATION);
    let big = big.body["import_id"].as_str().unwrap().to_string();
    let mut small_requests = w.env.app.clone();
    small_requests.background_rows = 1;
    let confirm = format!("/v1/orgs/c/imports/{big}/confirm");
    let accepted =
        Box::pin(Call::new(&small_requests, "POST", &confirm).by(&cm).key("walk-background").at(may).send()).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    w.record(routes::IMPORT_ALLOCATION);
    let done = seatkeeper::imports::jobs::run(&w.env.app.store, "c", &big, seatkeeper_tests::at(may)).await.unwrap();
    assert_eq!(done.map(|d| d.allocated), Some(2));
    w.record("job-runner");

    // Imports recorded in the first layout (rows in the global IMPORT#… partition): one reviewed
    // then and confirmed now, and a background commit the job runner finishes.
    for e in ["j3@c.example", "j4@c.example", "j5@c.example"] {
        w.go("PUT", &format!("/v1/orgs/c/users/{e}"), &cm, Some(json!({})), may).await;
    }
    let mut first_layout = Vec::new();
    for file in [&b"email\nj3@c.example\n"[..], &b"email\nj4@c.example\nj5@c.example\n"[..]] {
        let reviewed = Box::pin(w.env.post("/v1/orgs/c/imports").by(&cm).raw(file).at(may).send()).await;
        assert_eq!(reviewed.status, 201, "{}", reviewed.body);
        w.record(routes::IMPORT_ALLOCATION);
        first_layout.push(reviewed.body["import_id"].as_str().unwrap().to_string());
    }
    let (then, queued) = (&first_layout[0], &first_layout[1]);
    w.env.to_first_layout("c", then, then).await;
    let _ = w.log.take();
    w.go("GET", &format!("/v1/orgs/c/imports/{then}/rows"), &cm, None, may).await;
    w.go("POST", &format!("/v1/orgs/c/imports/{then}/confirm"), &cm, None, may).await;
    let confirm = format!("/v1/orgs/c/imports/{queued}/confirm");
    let accepted =
        Box::pin(Call::new(&small_requests, "POST", &confirm).by(&cm).key("walk-first-layout").at(may).send()).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    w.record(routes::IMPORT_ALLOCATION);
    w.env.to_first_layout("c", queued, queued).await;
    let _ = w.log.take();
    let done = seatkeeper::imports::jobs::run(&w.env.app.store, "c", queued, seatkeeper_tests::at(may)).await.unwrap();
    assert_eq!(done.map(|d| d.allocated), Some(2));
    w.record("job-runner");
    // and its schedule: the lease sweep (every commit here finished, it only reads the leases)
    let swept = w.sweep("job-runner", "leases", "2018-05-20T00:00:00Z").await;
    assert_eq!(swept["finished"], 0, "{swept}");

    // the reports, the notices and the sweeps
    w.go("GET", "/v1/orgs/c/usage", &cm, None, may).await;
    w.sweep(routes::USAGE_REPORT, "snapshot", "2018-06-01T01:00:00Z").await;
    w.go("GET", "/v1/orgs/c/renewals?until=2019-06-30", &cm, None, "2019-04-01T00:00:00Z").await;
    w.sweep(routes::RENEWALS, "forecast", "2019-05-01T06:00:00Z").await;
    let renewed = w.sweep("renewal-sweep", "renewal", "2019-05-12T00:00:00Z").await;
    assert_eq!(renewed["renewed"], json!(["w@c.example"]), "{renewed}");
    let expired = w.sweep("expire", "expire", "2021-01-01T00:00:00Z").await;
    assert!(expired["licences_expired"].as_u64().unwrap() >= 1, "{expired}");
    w.go("GET", "/v1/orgs/c/notifications", &cm, None, day).await;
    w.go("GET", "/v1/orgs/c/audit", &cm, None, day).await;

    // notice-mailer: a stored notice to its recipients (SES mocked: it touches no table), and
    // one without any, as the bus delivers them
    let page = seatkeeper::store::PageRequest { limit: 50, cursor: None };
    let stored = w.env.app.store.notices("c", &page).await.unwrap().items;
    let _ = w.log.take();
    let ok = aws_smithy_mocks::mock!(aws_sdk_sesv2::Client::send_email)
        .then_output(|| aws_sdk_sesv2::operation::send_email::SendEmailOutput::builder().message_id("m").build());
    let mailer = seatkeeper::mail::Mailer {
        store: w.env.app.store.clone(),
        ses: aws_smithy_mocks::mock_client!(aws_sdk_sesv2, [&ok]),
        reports: None,
        from: "notices@seatkeeper.test".into(),
        configuration_set: "seatkeeper-test-notices".into(),
        console_url: String::new(),
        backoff: seatkeeper::command::Policy::DEFAULT,
    };
    let to = stored
        .iter()
        .find(|n| !n.recipients.is_empty() && n.kind != seatkeeper::domain::notice::NoticeKind::RenewalForecast);
    let mut nobody = to.expect("a notice with recipients").clone();
    mailer.deliver(to.unwrap(), seatkeeper_tests::at(day)).await.unwrap();
    nobody.notice_id = "ntc_nobody".into();
    nobody.recipients.clear();
    mailer.deliver(&nobody, seatkeeper_tests::at(day)).await.unwrap();
    // SES's reports of a hard bounce (suppressed everywhere) and a complaint (for c), as the
    // rule on the default bus hands them over; then a notice to both, which mails neither.
    for (report, email, id) in [
        (SesReport::HardBounce, "gone@c.example", "fb-walk-1"),
        (SesReport::Complaint("abuse"), "angry@c.example", "fb-walk-2"),
    ] {
        let event = seatkeeper_tests::ses_event(report, email, "c", "ntc_walk", id);
        seatkeeper::mail::lambda::handle(&mailer, &event, seatkeeper_tests::at(day)).await.unwrap();
    }
    let mut suppressed = nobody.clone();
    suppressed.notice_id = "ntc_suppressed".into();
    suppressed.recipients = vec!["angry@c.example".into(), "gone@c.example".into()];
    let report = mailer.deliver(&suppressed, seatkeeper_tests::at(day)).await.unwrap();
    assert_eq!(report.suppressed.len(), 2, "{report:?}");
    w.record("notice-mailer");
    w.go("GET", "/v1/orgs/c/suppressions", &cm, None, day).await;
    w.go("DELETE", "/v1/orgs/c/suppressions/angry@c.example", &cm, None, day).await;

    let granted = granted_prefixes();
    let mut wrong = Vec::new();
    for (function, keys) in &w.seen {
        let Some(patterns) = granted.get(function) else {
            wrong.push(format!("{function}: touched the table with no grant: {keys:?}"));
            continue;
        };
        for (op, key) in keys {
            if !patterns.iter().any(|p| like(p, key)) {
                wrong.push(format!("{function}: {op} {key} matches none of {patterns:?}"));
            }
        }
        for p in patterns {
            if !keys.iter().any(|(_, k)| like(p, k)) {
                wrong.push(format!("{function}: grants {p} and never needs it"));
            }
        }
    }
    let walked: BTreeSet<&String> = w.seen.keys().collect();
    assert_eq!(walked, granted.keys().collect(), "every function with a table grant is walked");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
