//! Each function's own debug binary, run under the AWS Lambda Runtime Interface Emulator (what
//! `sam local` and Lambda container images use), answering the events AWS sends: API Gateway HTTP
//! API payload 2.0 requests with a JWT authorizer's claims, S3 `ObjectCreated` records, the
//! template's schedules and an EventBridge rule's scheduled event, DynamoDB stream records, and
//! CloudFormation's custom resource request (the deployment's `TableSetup`).
//! The events are the fixtures of `tests/fixtures/events/`, written from AWS's documented
//! samples; each check asks the table, the bucket or the bus what the function did.
//!
//! Each binary runs with `SEATKEEPER_AWS_TRACE` set, so it writes down every permission each AWS
//! request it sends needs (`seatkeeper::app::trace`); once every scenario has run, the one test
//! here holds `infra/template.yaml` to those, both ways: each function is granted every action
//! on every resource it sent, and nothing it never sent. A grant a path needs is proved by a
//! scenario walking that path, not by a list.
//!
//! `make test` builds the emulator (`SEATKEEPER_RIE`) and the binaries, then runs this target
//! on its own (`cargo test --test emulator`); the workspace's test run skips it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use futures::future::LocalBoxFuture;
use seatkeeper::app::trace::{self, Access};
use seatkeeper_tests::iam::{like, Deployment, Template};
use seatkeeper_tests::{at, platform, TestEnv};
use serde_json::{json, Value};

/// How long an emulator may take to listen after it starts, and an invocation to answer: guards
/// against a process that never answers, generous for a slow machine.
const START_BUDGET: std::time::Duration = std::time::Duration::from_secs(120);
const INVOKE_BUDGET: std::time::Duration = std::time::Duration::from_secs(300);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A fixture with its `${NAME}` placeholders filled in.
fn fixture(name: &str, vars: &[(&str, &str)]) -> Value {
    let path = root().join("tests/fixtures/events").join(format!("{name}.json"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (k, v) in vars {
        text = text.replace(&format!("${{{k}}}"), v);
    }
    serde_json::from_str(&text).unwrap()
}

/// A loopback port free now and never handed out before in this run: the tests run in parallel,
/// and the system may offer a port it just freed to two of them before either emulator binds it
/// (the second would then fail to bind, and its requests reach the other test's function).
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// One function's binary under the emulator, on loopback ports of its own.
struct Emulator {
    child: Child,
    invoke_url: String,
    http: reqwest::Client,
    log: PathBuf,
}

/// A binary that ran: its function, the file its trace went to, and the names its environment
/// gave it (the table, bucket and bus of its scenario).
#[derive(Debug, Clone)]
struct Ran {
    function: String,
    trace: PathBuf,
    env: HashMap<String, String>,
}

/// Every binary started in this run.
static RAN: Mutex<Vec<Ran>> = Mutex::new(Vec::new());

/// What an invocation returned: the function's answer, or its error (`errorType`, `errorMessage`).
#[derive(Debug)]
enum Outcome {
    Answer(Value),
    Error { kind: String, message: String },
}

impl Outcome {
    fn answer(self) -> Value {
        match self {
            Outcome::Answer(v) => v,
            Outcome::Error { kind, message } => panic!("the function failed: {kind}: {message}"),
        }
    }

    /// An API Gateway answer: status and JSON body.
    fn http(self) -> (u16, Value) {
        let v = self.answer();
        let status = v["statusCode"].as_u64().unwrap() as u16;
        let body = v["body"].as_str().map(|b| serde_json::from_str(b).unwrap_or(Value::String(b.into())));
        (status, body.unwrap_or(Value::Null))
    }
}

impl Emulator {
    fn start(function: &str, env: &[(&str, String)]) -> Self {
        let rie = std::env::var("SEATKEEPER_RIE")
            .unwrap_or_else(|_| root().join(".local/bin/aws-lambda-rie").to_string_lossy().into_owned());
        assert!(Path::new(&rie).exists(), "the emulator {rie} is missing: run the tests with `make test`");
        let binary = root().join("target/debug").join(function);
        assert!(binary.exists(), "{} is missing: `cargo build --workspace --bins` first", binary.display());
        let (invoke, runtime) = (free_port(), free_port());
        let logs = root().join(".local/emulator");
        std::fs::create_dir_all(&logs).unwrap();
        let log_path = logs.join(format!("{function}-{invoke}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let traces = logs.join("traces");
        std::fs::create_dir_all(&traces).unwrap();
        let trace = traces.join(format!("{function}-{invoke}.jsonl"));
        match std::fs::remove_file(&trace) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{}: {e}", trace.display()),
            _ => {}
        }
        let mut command = Command::new(&rie);
        command
            .arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{invoke}"))
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{runtime}"))
            .arg(&binary)
            .env("RUST_LOG", "info")
            .env(trace::ENV, &trace)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        RAN.lock().unwrap().push(Ran { function: function.to_string(), trace, env });
        Emulator {
            child,
            invoke_url: format!("http://127.0.0.1:{invoke}/2015-03-31/functions/function/invocations"),
            http: reqwest::Client::builder().timeout(INVOKE_BUDGET).build().unwrap(),
            log: log_path,
        }
    }

    /// What the function logged so far (its stdout and stderr: CloudWatch Logs, deployed).
    fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn invoke(&self, payload: &Value) -> Outcome {
        // The emulator listens a moment after it starts (later on a slow machine): connecting is
        // retried until START_BUDGET, then the failure says what it was waiting for.
        let deadline = tokio::time::Instant::now() + START_BUDGET;
        let response = loop {
            match self.http.post(&self.invoke_url).json(payload).send().await {
                Ok(r) => break r,
                Err(e) if e.is_connect() && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => panic!(
                    "invoking {} (the emulator, {} s after its start at most): {e}",
                    self.invoke_url,
                    START_BUDGET.as_secs()
                ),
            }
        };
        assert_eq!(response.status(), 200, "the emulator answers 200 for answers and function errors alike");
        let body: Value = response.json().await.unwrap();
        match (&body["errorType"], &body["errorMessage"]) {
            (Value::String(kind), Value::String(message)) => {
                Outcome::Error { kind: kind.clone(), message: message.clone() }
            }
            _ => Outcome::Answer(body),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment a deployed function gets, pointed at this test's table and bucket.
fn function_env(env: &TestEnv) -> Vec<(&'static str, String)> {
    let mut vars = vec![("TABLE_NAME", env.table.clone())];
    if let Some(bucket) = &env.app.imports {
        vars.push(("BUCKET_NAME", bucket.bucket.clone()));
    }
    vars
}

/// A fresh table and bucket, and one emulator per function named.
async fn emulators(functions: &[&str]) -> (TestEnv, HashMap<String, Emulator>) {
    let env = TestEnv::with_s3().await;
    let vars = function_env(&env);
    let running = functions.iter().map(|f| (f.to_string(), Emulator::start(f, &vars))).collect();
    (env, running)
}

async fn the_http_functions_answer_api_gateway_requests_with_jwt_claims() {
    let functions = [
        "tenant-admin",
        "request-order",
        "assign-order",
        "users",
        "allocate",
        "import-allocation",
        "renewals",
        "usage-report",
    ];
    let (env, f) = emulators(&functions).await;
    let store = &env.app.store;

    // No authorizer on /health: no claims, no body.
    let (status, body) = f["tenant-admin"].invoke(&fixture("http-health", &[])).await.http();
    assert_eq!((status, body), (200, json!({"status": "ok"})));

    for name in ["http-create-partner", "http-create-company"] {
        let (status, body) = f["tenant-admin"].invoke(&fixture(name, &[])).await.http();
        assert_eq!(status, 201, "{name}: {body}");
    }
    let company = store.org("globex").await.unwrap().expect("the company is stored");
    assert_eq!(company.parent_id.as_deref(), Some("acme-partner"));

    let request = fixture("http-request-order", &[]);
    let (status, order) = f["request-order"].invoke(&request).await.http();
    assert_eq!(status, 201, "{order}");
    let order_id = order["order_id"].as_str().unwrap().to_string();
    assert_eq!(order["requested_at"], "2027-01-04T10:00:00Z", "now is the request's timeEpoch");
    assert_eq!(order["requested_by"], "cm@globex.example");
    // The same Idempotency-Key again: the first answer, and still one order.
    let (status, again) = f["request-order"].invoke(&request).await.http();
    assert_eq!((status, &again["order_id"]), (201, &order["order_id"]));
    let (status, listed) = f["request-order"].invoke(&fixture("http-list-orders", &[])).await.http();
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");

    // No body at all.
    let (status, assigned) =
        f["assign-order"].invoke(&fixture("http-assign-order", &[("ORDER_ID", &order_id)])).await.http();
    assert_eq!(status, 200, "{assigned}");
    assert_eq!(store.order(&order_id).await.unwrap().unwrap().status, seatkeeper::domain::order::OrderStatus::Assigned);
    let lots = seatkeeper::domain::lot::merge(store.all_lots("globex").await.unwrap());
    assert_eq!((lots.len(), lots[0].quantity, lots[0].in_use), (1, 5, 0));

    // A percent-encoded rawPath: x%2Btag%40corp.test is x+tag@corp.test.
    let (status, user) = f["users"].invoke(&fixture("http-put-user", &[])).await.http();
    assert!(status == 200 || status == 201, "{status} {user}");
    assert_eq!(user["email"], "x+tag@corp.test");
    assert_eq!(store.user("globex", "x+tag@corp.test").await.unwrap().unwrap().name.as_deref(), Some("X Tag"));

    let (status, allocated) = f["allocate"].invoke(&fixture("http-allocate", &[])).await.http();
    assert_eq!((status, &allocated["allocated"]), (200, &json!(1)), "{allocated}");
    assert!(store.user("globex", "x+tag@corp.test").await.unwrap().unwrap().licence.is_some());
    assert_eq!(seatkeeper::domain::lot::merge(store.all_lots("globex").await.unwrap())[0].in_use, 1);

    // A learner asks for its own access, and may not ask for another's.
    let (status, access) = f["users"].invoke(&fixture("http-learner-access", &[])).await.http();
    assert_eq!((status, &access["access"], &access["reason"]), (200, &json!(true), &json!("active")), "{access}");
    let (status, other) = f["users"].invoke(&fixture("http-learner-access-other", &[])).await.http();
    assert!(status == 403 || status == 404, "{status} {other}");

    // A CSV sent as application/octet-stream arrives base64-encoded.
    let (status, review) = f["import-allocation"].invoke(&fixture("http-import-base64", &[])).await.http();
    assert_eq!(status, 201, "{review}");
    let summary = &review["summary"];
    assert_eq!((&summary["rows"], &summary["already_active"], &summary["invalid"]), (&json!(3), &json!(1), &json!(1)));
    let import_id = review["import_id"].as_str().unwrap();
    assert_eq!(
        store.import("globex", import_id).await.unwrap().unwrap().status,
        seatkeeper::domain::import::ImportStatus::Reviewed
    );
    let (status, refused) = f["import-allocation"].invoke(&fixture("http-import-multipart", &[])).await.http();
    assert_eq!((status, &refused["error"]["code"]), (415, &json!("unsupported_media_type")), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("text/csv"), "{refused}");

    let (status, renewals) = f["renewals"].invoke(&fixture("http-renewals", &[])).await.http();
    assert_eq!(status, 200, "{renewals}");
    let (status, usage) = f["usage-report"].invoke(&fixture("http-usage", &[])).await.http();
    assert_eq!((status, &usage["org"]["used"], &usage["org"]["limit"]), (200, &json!(1), &json!(5)), "{usage}");

    // A function answers only its own routes.
    let (status, _) = f["users"].invoke(&fixture("http-usage", &[])).await.http();
    assert_eq!(status, 404);
}

async fn the_tenant_admin_function_sets_the_table_up_for_the_deployment() {
    use seatkeeper::domain::org::{Org, OrgKind};
    use seatkeeper_tests::cloudformation::{setup_request, ResponseUrl};
    // A table as CloudFormation has just created it, and one whose vendor id an earlier
    // version let a partner's company take.
    let fresh = TestEnv::bare().await;
    let taken = TestEnv::bare().await;
    let rogue = Org {
        org_id: "vendor".into(),
        name: "Not The Vendor".into(),
        kind: OrgKind::Company,
        parent_id: Some("p".into()),
        ancestors: vec!["vendor".into(), "p".into()],
        created_at: at("2025-06-01T00:00:00Z"),
        policy: Default::default(),
        version: 0,
        runs_open_ended: false,
        contacts: Vec::new(),
    };
    taken.write_items(vec![taken.app.store.org_item(&rogue).unwrap()]).await;
    let cfn = ResponseUrl::start().await;

    let f = Emulator::start("tenant-admin", &function_env(&fresh));
    let answer = f.invoke(&setup_request("Create", &cfn.url, &fresh.table)).await.answer();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(cfn.answers(), vec![(None, answer)], "the answer is PUT to the ResponseURL, with no Content-Type");
    assert!(fresh.app.store.org("vendor").await.unwrap().unwrap().is_vendor_root());

    let f = Emulator::start("tenant-admin", &function_env(&taken));
    let before = taken.all_items().await;
    let answer = f.invoke(&setup_request("Create", &cfn.url, &taken.table)).await.answer();
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    assert!(answer["Reason"].as_str().unwrap().contains("ORG#vendor holds the company org"), "{answer}");
    assert_eq!(cfn.answers().len(), 2);
    assert_eq!(taken.all_items().await, before, "nothing was written");

    // A table of an earlier version: a lot and an enrolment stored before their indexes. The
    // set-up (SetupVersion 5) gives them their keys through the function, as it is granted.
    let old = TestEnv::new().await;
    let lot_id = old.company_with_lot(5).await;
    let user = old.put_user("c", "w@c.example").json(json!({"name": "W"})).send().await;
    assert!(user.status < 300, "{:?}", user.body);
    old.enrol("c", "w@c.example", "run", json!({"status": "active"}), "2026-02-01T00:00:00Z").await;
    let (lot_sk, run_sk) = (format!("LOT#2027-01-15T09:00:00.000Z#{lot_id}"), "ENROLMENT#w@c.example#run");
    let mut stripped = Vec::new();
    for sk in [lot_sk.as_str(), run_sk] {
        let mut item = old.item("ORG#c", sk).await.expect(sk);
        for key in ["GSI1PK", "GSI1SK", "GSI3PK", "GSI3SK"] {
            item.remove(key);
        }
        stripped.push(item);
    }
    old.write_items(stripped).await;
    for name in ["lots_by_end", "enrolments_by_id"] {
        let key = std::collections::HashMap::from([
            ("PK".to_string(), aws_sdk_dynamodb::types::AttributeValue::S("ORG#vendor".into())),
            ("SK".to_string(), aws_sdk_dynamodb::types::AttributeValue::S(format!("MIGRATION#{name}"))),
        ]);
        old.app.store.client.delete_item().table_name(&old.table).set_key(Some(key)).send().await.unwrap();
    }
    let f = Emulator::start("tenant-admin", &function_env(&old));
    let answer = f.invoke(&setup_request("Update", &cfn.url, &old.table)).await.answer();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let lot = old.item("ORG#c", &lot_sk).await.unwrap();
    assert_eq!(lot["GSI1PK"].as_s().unwrap(), "ENDS#p", "{lot:?}");
    let run = old.item("ORG#c", run_sk).await.unwrap();
    assert_eq!(run["GSI1PK"].as_s().unwrap(), "ORG#c#ENROLMENTS#run", "{run:?}");

    // Another function refuses it, naming what it serves.
    let users = Emulator::start("users", &function_env(&fresh));
    match users.invoke(&setup_request("Create", &cfn.url, &fresh.table)).await {
        Outcome::Error { kind, message } => {
            assert_eq!(kind, "Seatkeeper.Refused");
            assert!(message.contains("custom resource"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// Partner `acme-partner` with company `globex` holding an assigned lot of `seats`.
async fn company_with_lot(env: &TestEnv, seats: u64) {
    env.partner_with_company("acme-partner", "globex").await;
    env.manager("globex", "cm@globex.example").at("2027-01-04T10:00:00Z").await;
    env.order_and_assign("globex", seats, "2027-01-04T10:00:00Z", "acme-partner", "2027-01-05T09:00:00Z").await;
}

async fn an_s3_object_with_spaces_and_parentheses_is_imported_once_however_often_it_is_delivered() {
    let (env, f) = emulators(&["import-allocation"]).await;
    company_with_lot(&env, 5).await;
    env.users("globex", ["ann@corp.test", "bob@corp.test"]).by(&platform("globex")).json(json!({})).await;
    let imports = env.imports();
    versioned(imports).await;
    let csv = "Work e-mail,Name\nann@corp.test,Ann\nbob@corp.test,Bob\n";
    let put = imports
        .client
        .put_object()
        .bucket(&imports.bucket)
        .key("imports/globex/march list (2027).csv")
        .metadata("email-column", "Work e-mail")
        .body(csv.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap_or_default().trim_matches('"').to_string();
    let version = put.version_id().expect("a versioned bucket names the version").to_string();
    let event = fixture("s3-object-created", &[("BUCKET", &imports.bucket), ("ETAG", &etag), ("VERSION", &version)]);
    for delivery in 1..=2 {
        let answer = f["import-allocation"].invoke(&event).await.answer();
        assert_eq!(answer, Value::Null, "delivery {delivery}");
    }
    let got = imports
        .client
        .get_object()
        .bucket(&imports.bucket)
        .key("results/globex/march list (2027).json")
        .send()
        .await
        .expect("the result file is written under the decoded name");
    let result: Value = serde_json::from_slice(&got.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!((&result["status"], &result["allocated"]), (&json!("committed"), &json!(2)), "{result}");
    for email in ["ann@corp.test", "bob@corp.test"] {
        let user = env.app.store.user("globex", email).await.unwrap().unwrap();
        assert_eq!(user.licence_count, 1, "{email} licensed once");
    }
    let lots = seatkeeper::domain::lot::merge(env.app.store.all_lots("globex").await.unwrap());
    assert_eq!((lots[0].in_use, lots[0].uses), (2, 2), "two seats, taken once");
}

async fn each_schedule_of_the_template_runs_its_sweep_in_its_function() {
    let (env, f) = emulators(&["expire", "renewal-sweep", "renewals", "usage-report"]).await;
    company_with_lot(&env, 5).await;
    env.licensed("globex", &["ann@corp.test"], "2027-01-06T09:00:00Z").await;
    // A company that renews automatically, for the monthly forecast export.
    env.org("initech", "company", "acme-partner").await;
    env.set_policy("initech", json!({"renewal": "automatic", "term_starts": "activation"})).await;

    let schedules = seatkeeper_local::schedules::compiled();
    let mut ran = Vec::new();
    // In time order: the export on the 1st, the snapshot, then the expiry a year on.
    for (sweep, when) in [
        ("forecast", "2027-02-01T06:00:00Z"),
        ("snapshot", "2027-02-02T01:00:00Z"),
        ("renewal", "2027-02-02T02:00:00Z"),
        ("expire", "2028-01-05T09:00:00Z"),
    ] {
        let schedule = schedules.iter().find(|s| s.sweep().as_deref() == Some(sweep)).expect(sweep);
        let payload = schedule.payload(at(when)).unwrap();
        let report = f[&schedule.function].invoke(&payload).await.answer();
        assert_eq!(report["now"], when, "{sweep}: the instant comes from the payload: {report}");
        ran.push((sweep, report));
    }
    let report = |name: &str| ran.iter().find(|(s, _)| *s == name).unwrap().1.clone();
    assert_eq!(report("forecast")["exported"], json!(["initech"]), "the forecast of the month that starts is exported");
    let imports = env.imports();
    for key in ["reports/initech/renewals-2027-02.csv", "reports/initech/renewals-2027-02.xlsx"] {
        imports.client.head_object().bucket(&imports.bucket).key(key).send().await.expect(key);
    }
    assert!(report("snapshot")["orgs"].as_u64().unwrap() >= 2);
    assert_eq!(report("expire")["licences_expired"], 1);
    let ann = env.app.store.user("globex", "ann@corp.test").await.unwrap().unwrap();
    assert_eq!(ann.licence.unwrap().status, seatkeeper::domain::user::LicenceStatus::Expired, "the expiry is stored");

    // An EventBridge rule's scheduled event (its `time`, an empty detail) runs the sweep too,
    // and a replay of the same instant changes nothing twice.
    let rule = f["expire"].invoke(&fixture("eventbridge-scheduled-event", &[])).await.answer();
    assert_eq!((&rule["now"], &rule["licences_expired"]), (&json!("2028-01-05T09:00:00Z"), &json!(0)), "{rule}");

    // What Scheduler sends for a schedule without an Input, and a schedule wired to the wrong
    // function: refused in words.
    match f["expire"].invoke(&json!({})).await {
        Outcome::Error { kind, message } => {
            assert_eq!(kind, "Seatkeeper.Refused");
            assert!(message.contains("\"time\"") && message.contains("<aws.scheduler.scheduled-time>"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let forecast = schedules.iter().find(|s| s.sweep().as_deref() == Some("forecast")).unwrap();
    match f["expire"].invoke(&forecast.payload(at("2027-03-01T06:00:00Z")).unwrap()).await {
        Outcome::Error { kind, message } => assert!(kind == "Seatkeeper.Refused" && message.contains("forecast")),
        other => panic!("{other:?}"),
    }
    match f["usage-report"].invoke(&json!({"detail-type": "Scheduled Event", "detail": {}})).await {
        Outcome::Error { message, .. } => assert!(message.contains("RFC 3339"), "{message}"),
        other => panic!("{other:?}"),
    }
}

/// A call to moto's server in the AWS JSON protocol (moto picks the service from the signature's
/// credential scope; it does not check signatures).
async fn moto(service: &str, target: &str, body: Value) -> Value {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3").expect("make test starts moto's server");
    let (content_type, prefix) = match service {
        "sqs" => ("application/x-amz-json-1.0", "AmazonSQS"),
        _ => ("application/x-amz-json-1.1", "AWSEvents"),
    };
    let response = reqwest::Client::new()
        .post(&endpoint)
        .header("content-type", content_type)
        .header("x-amz-target", format!("{prefix}.{target}"))
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=local/20270101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{service} {target}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn stream_records_put_each_new_notice_on_the_bus_and_nothing_else() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3").expect("make test starts moto's server");
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let bus = format!("notices-{suffix}");
    moto("events", "CreateEventBus", json!({"Name": bus})).await;
    let queue = moto("sqs", "CreateQueue", json!({"QueueName": format!("bus-{suffix}")})).await;
    let queue_url = queue["QueueUrl"].as_str().unwrap().to_string();
    let attributes =
        moto("sqs", "GetQueueAttributes", json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]})).await;
    let queue_arn = attributes["Attributes"]["QueueArn"].as_str().unwrap().to_string();
    moto(
        "events",
        "PutRule",
        json!({"Name": "all-notices", "EventBusName": bus, "EventPattern": json!({"source": ["seatkeeper"]}).to_string()}),
    )
    .await;
    moto(
        "events",
        "PutTargets",
        json!({"Rule": "all-notices", "EventBusName": bus, "Targets": [{"Id": "queue", "Arn": queue_arn}]}),
    )
    .await;

    let publisher = Emulator::start(
        "notice-publisher",
        &[("EVENT_BUS_NAME", bus.clone()), ("AWS_ENDPOINT_URL_EVENTBRIDGE", endpoint.clone())],
    );
    let answer = publisher.invoke(&fixture("dynamodb-stream", &[])).await.answer();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");

    let received =
        moto("sqs", "ReceiveMessage", json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}))
            .await;
    let messages = received["Messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 1, "only the INSERT of a notice reaches the bus: {received}");
    let event: Value = serde_json::from_str(messages[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!((&event["source"], &event["detail-type"]), (&json!("seatkeeper"), &json!("expiry_reminder")), "{event}");
    assert_eq!(event["detail"]["notice_id"], "ntc_0a1b2c");
    assert_eq!(event["detail"]["recipients"], json!(["cm@globex.example"]));
}

/// The batch of the table's stream DynamoDB sends for one change (`INSERT`, `MODIFY`) leaving
/// `item`, as JSON.
fn stream_event(name: &str, item: seatkeeper::store::Item, sequence: &str, when: &str) -> Value {
    let mut record = aws_lambda_events::dynamodb::EventRecord::default();
    record.event_name = name.into();
    record.event_source = Some("aws:dynamodb".into());
    record.change.new_image = serde_dynamo::Item::from(item);
    record.change.sequence_number = Some(sequence.into());
    record.change.approximate_creation_date_time = at(when);
    let mut event = aws_lambda_events::dynamodb::Event::default();
    event.records.push(record);
    serde_json::to_value(&event).unwrap()
}

/// The job runner's binary, handed by the table's stream the record of a confirm answered 202,
/// finishes the commit — a sync, so it also releases the learner the file leaves out and gives
/// the seat back; the same record again changes nothing.
async fn the_job_runner_finishes_a_background_commit_from_its_stream_record() {
    let (env, f) = emulators(&["job-runner"]).await;
    company_with_lot(&env, 5).await;
    env.users("globex", ["ann@corp.test", "bob@corp.test"]).by(&platform("globex")).json(json!({})).await;
    env.licensed("globex", &["cat@corp.test"], "2027-01-06T08:00:00Z").await;
    let at_ = "2027-01-06T09:00:00Z";
    let review = env
        .post("/v1/orgs/globex/imports?mode=sync")
        .by(&seatkeeper_tests::cm("globex"))
        .raw(b"email\nann@corp.test\nbob@corp.test\n")
        .at(at_)
        .send()
        .await;
    let id = review.body["import_id"].as_str().unwrap().to_string();
    let mut app = env.app.clone();
    app.background_rows = 1;
    let url = format!("/v1/orgs/globex/imports/{id}/confirm");
    let accepted =
        seatkeeper_tests::Call::new(&app, "POST", &url).by(&seatkeeper_tests::cm("globex")).at(at_).send().await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);

    // The stream record DynamoDB sends for the change, as JSON.
    let item = env.item("ORG#globex", &format!("IMPORT#{id}")).await.unwrap();
    let payload = stream_event("MODIFY", item, "4400000000000000000001", at_);
    for delivery in 0..2 {
        let answer = f["job-runner"].invoke(&payload).await.answer();
        assert_eq!(answer["batchItemFailures"], json!([]), "delivery {delivery}: {answer}");
    }
    let done = env.app.store.import("globex", &id).await.unwrap().unwrap();
    let status = seatkeeper::domain::import::ImportStatus::Committed;
    assert_eq!((done.status, done.allocated, done.released), (status, 2, 1));
    let cat = env.app.store.user("globex", "cat@corp.test").await.unwrap().unwrap();
    assert!(cat.released_at.is_some(), "the learner the file leaves out is released");
    let lots = seatkeeper::domain::lot::merge(env.app.store.all_lots("globex").await.unwrap());
    assert_eq!((lots[0].in_use, lots[0].uses), (2, 3), "two seats held, taken once each; cat's given back");

    // An erasure of cat (released by the sync; an ended enrolment the request moves, and a login
    // the job moves: put under the pseudonym, deleted under the e-mail), from its new record.
    env.enrol("globex", "cat@corp.test", "run", json!({"status": "expired"}), at_).await;
    let login = env.put_user("globex", "cat@corp.test").json(json!({"last_login_at": at_})).at(at_).send().await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(env.item("ORG#globex", "LOGIN#cat@corp.test").await.is_some(), "a login recorded");
    let erase =
        env.post("/v1/orgs/globex/users/cat@corp.test/erase").by(&seatkeeper_tests::cm("globex")).at(at_).send().await;
    let pseudonym = erase.body["pseudonym"].as_str().expect("a pseudonym").to_string();
    let item = env.item("ORG#globex", &format!("ERASURE#{pseudonym}")).await.unwrap();
    let answer = f["job-runner"].invoke(&stream_event("INSERT", item, "4400000000000000000002", at_)).await.answer();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let runs = env.app.store.enrolments("globex", &pseudonym).await.unwrap();
    assert_eq!(runs.len(), 1, "the enrolment moved to the pseudonym");
    assert!(env.item("ORG#globex", "LOGIN#cat@corp.test").await.is_none(), "the login moved");
    assert!(env.item("ORG#globex", &format!("LOGIN#{pseudonym}")).await.is_some(), "the login moved");
    assert!(env.app.store.enrolments("globex", "cat@corp.test").await.unwrap().is_empty());

    // Its schedule: the lease sweep, as Scheduler sends it, finds every commit finished.
    let schedule = seatkeeper::lambda::scheduled_event("leases", at("2027-01-06T11:00:00Z"));
    let report = f["job-runner"].invoke(&schedule).await.answer();
    assert_eq!((&report["finished"], &report["failed"]), (&json!(0), &json!([])), "{report}");
}

/// The mailer's binary, handed by an EventBridge rule on the notice bus the event the publisher
/// put there (AWS's sample event shape), e-mails the notice through SES (moto) once: the same
/// event again sends nothing, and an event from another source is refused. Handed SES's hard
/// bounce of that address (AWS's sample, as the rule on the default bus delivers it), it
/// suppresses the address once however often the event comes, and mails it no more.
async fn the_mailer_sends_a_notice_from_the_bus_once_however_often_it_is_delivered() {
    let ses = std::env::var("AWS_ENDPOINT_URL_SESV2").expect("make test points SES at moto's server");
    let env = TestEnv::with_s3().await;
    company_with_lot(&env, 5).await;
    let from = MAIL_FROM;
    let config = seatkeeper::app::sdk_config().await;
    seatkeeper_local::mail::ensure_sender(&seatkeeper::mail::ses::client(&config), from).await.unwrap();
    let mut vars = function_env(&env);
    vars.extend([("MAIL_FROM", from.to_string()), ("AWS_ENDPOINT_URL_SESV2", ses.clone())]);
    vars.push(("MAIL_CONFIGURATION_SET", "seatkeeper-test-notices".into()));
    vars.push(("CONSOLE_URL", "https://console.seatkeeper.test".into()));
    let mailer = Emulator::start("notice-mailer", &vars);

    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let (email, notice_id) = (format!("cm-{suffix}@globex.example"), format!("ntc_{suffix}"));
    let event = fixture("eventbridge-notice", &[("EMAIL", &email), ("NOTICE_ID", &notice_id)]);
    let first = mailer.invoke(&event).await.answer();
    assert_eq!(first["sent"], json!([email]), "{first}");
    let again = mailer.invoke(&event).await.answer();
    assert_eq!((&again["sent"], &again["settled"]), (&json!([]), &json!([email])), "{again}");

    let sent = seatkeeper_local::mail::sent_mail(&ses, false).await.unwrap();
    let theirs: Vec<&Value> = sent.iter().filter(|m| m["to"] == json!([email])).collect();
    assert_eq!(theirs.len(), 1, "one message however often the event came");
    assert_eq!(theirs[0]["subject"], "5 licences are ready for allocation");
    assert_eq!(theirs[0]["notice_id"], notice_id.as_str());
    assert!(theirs[0]["text"].as_str().unwrap().contains("https://console.seatkeeper.test/licences/orders"));

    // A notice with nobody to mail: recorded as such, nothing sent.
    let mut nobody = fixture("eventbridge-notice", &[("EMAIL", &email), ("NOTICE_ID", &format!("{notice_id}-nobody"))]);
    nobody["detail"]["recipients"] = json!([]);
    let recorded = mailer.invoke(&nobody).await.answer();
    assert_eq!(recorded["no_recipient"], json!(true), "{recorded}");

    match mailer.invoke(&fixture("eventbridge-scheduled-event", &[])).await {
        Outcome::Error { kind, message } => {
            assert_eq!(kind, "Seatkeeper.Refused");
            assert!(message.contains("source \"seatkeeper\""), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // The monthly forecast's notice: its workbook and CSV, read from reports/, travel attached.
    let reader = format!("forecast-{suffix}@initech.example");
    env.org("initech", "company", "acme-partner").await;
    let policy = json!({"renewal": "automatic", "term_starts": "activation", "notify_emails": [reader]});
    env.set_policy("initech", policy).await;
    let export = seatkeeper::sweeps::by_name("forecast").unwrap();
    export(env.app.clone(), at("2027-02-01T06:00:00Z")).await.unwrap();
    let page = seatkeeper::store::PageRequest { limit: 50, cursor: None };
    let notices = env.app.store.notices("initech", &page).await.unwrap().items;
    let forecast = notices.iter().find(|n| n.kind == seatkeeper::domain::notice::NoticeKind::RenewalForecast);
    let forecast = forecast.expect("the export stores its notice");
    let mut event = fixture("eventbridge-notice", &[("EMAIL", &reader), ("NOTICE_ID", &forecast.notice_id)]);
    event["detail-type"] = json!("renewal_forecast");
    event["detail"] = serde_json::to_value(forecast).unwrap();
    let sent_forecast = mailer.invoke(&event).await.answer();
    assert_eq!(sent_forecast["sent"], json!([reader]), "{sent_forecast}");
    let sent = seatkeeper_local::mail::sent_mail(&ses, false).await.unwrap();
    let theirs: Vec<&Value> = sent.iter().filter(|m| m["to"] == json!([reader])).collect();
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    let attached: Vec<&str> =
        theirs[0]["attachments"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(attached, vec!["renewals-2027-02.xlsx", "renewals-2027-02.csv"], "{}", theirs[0]);

    let bounce = seatkeeper_tests::ses_event(
        seatkeeper_tests::SesReport::HardBounce,
        &email,
        "globex",
        &notice_id,
        &format!("fb-{suffix}"),
    );
    let suppressed = mailer.invoke(&bounce).await.answer();
    assert_eq!(suppressed["suppressed"], json!([[email, "global", "vendor"]]), "{suppressed}");
    let replayed = mailer.invoke(&bounce).await.answer();
    assert_eq!(replayed["replayed"], json!([email]), "{replayed}");
    let kept = env.app.store.suppressions_of("vendor", &email).await.unwrap();
    assert_eq!((kept.len(), kept[0].reports), (1, 1), "{kept:?}");
    let later = fixture("eventbridge-notice", &[("EMAIL", &email), ("NOTICE_ID", &format!("{notice_id}_2"))]);
    let not_sent = mailer.invoke(&later).await.answer();
    assert_eq!(not_sent["suppressed"], json!([[email, "hard_bounce"]]), "{not_sent}");
    let sent = seatkeeper_local::mail::sent_mail(&ses, false).await.unwrap();
    assert_eq!(sent.iter().filter(|m| m["to"] == json!([email])).count(), 1, "mailed once, before the bounce");
}

// ---- every scenario, then the template held to what the binaries sent --------------------------

/// A scenario: one or more functions' binaries walked through fixtures, checked on what the
/// table, bucket or bus then holds.
type Scenario = (&'static str, fn() -> LocalBoxFuture<'static, ()>);

const SCENARIOS: &[Scenario] = &[
    ("the_http_functions_answer_api_gateway_requests_with_jwt_claims", || {
        Box::pin(the_http_functions_answer_api_gateway_requests_with_jwt_claims())
    }),
    ("the_tenant_admin_function_sets_the_table_up_for_the_deployment", || {
        Box::pin(the_tenant_admin_function_sets_the_table_up_for_the_deployment())
    }),
    ("an_s3_object_with_spaces_and_parentheses_is_imported_once_however_often_it_is_delivered", || {
        Box::pin(an_s3_object_with_spaces_and_parentheses_is_imported_once_however_often_it_is_delivered())
    }),
    ("each_schedule_of_the_template_runs_its_sweep_in_its_function", || {
        Box::pin(each_schedule_of_the_template_runs_its_sweep_in_its_function())
    }),
    ("stream_records_put_each_new_notice_on_the_bus_and_nothing_else", || {
        Box::pin(stream_records_put_each_new_notice_on_the_bus_and_nothing_else())
    }),
    ("the_job_runner_finishes_a_background_commit_from_its_stream_record", || {
        Box::pin(the_job_runner_finishes_a_background_commit_from_its_stream_record())
    }),
    ("the_mailer_sends_a_notice_from_the_bus_once_however_often_it_is_delivered", || {
        Box::pin(the_mailer_sends_a_notice_from_the_bus_once_however_often_it_is_delivered())
    }),
    ("a_file_refused_part_way_leaves_no_rows_behind", || Box::pin(a_file_refused_part_way_leaves_no_rows_behind())),
    ("an_allocation_that_fails_part_way_leaves_no_rows_behind", || {
        Box::pin(an_allocation_that_fails_part_way_leaves_no_rows_behind())
    }),
    ("a_large_allocation_retried_after_a_failed_commit_reviews_its_rows_again", || {
        Box::pin(a_large_allocation_retried_after_a_failed_commit_reviews_its_rows_again())
    }),
    ("an_s3_file_naming_no_company_writes_nothing_and_says_why", || {
        Box::pin(an_s3_file_naming_no_company_writes_nothing_and_says_why())
    }),
    ("every_route_answers_through_its_functions_binary", || {
        Box::pin(every_route_answers_through_its_functions_binary())
    }),
    ("the_renewal_sweep_renews_a_learner_whose_year_has_ended", || {
        Box::pin(the_renewal_sweep_renews_a_learner_whose_year_has_ended())
    }),
];

/// Runs every scenario (side by side, each on tables, buckets and ports of its own), then holds
/// the template's grants to what each function's binary sent while they ran: every permission
/// an operation needed is granted to that function on that resource, and every grant was
/// needed by one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_scenario_passes_and_each_function_is_granted_exactly_what_its_binary_sends() {
    use futures::FutureExt;
    let runs = SCENARIOS.iter().map(|(name, run)| async move {
        let outcome = std::panic::AssertUnwindSafe(run()).catch_unwind().await;
        outcome.err().map(|e| format!("{name}: {}", panic_text(e.as_ref())))
    });
    let failed: Vec<String> = futures::future::join_all(runs).await.into_iter().flatten().collect();
    assert!(failed.is_empty(), "{} scenario(s) failed:\n{}", failed.len(), failed.join("\n"));
    let wrong = iam_mismatches();
    assert!(wrong.is_empty(), "the template and what the binaries sent disagree:\n{}", wrong.join("\n"));
}

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// The sender the mailer's scenario uses, and the deployment's `MailFrom`.
const MAIL_FROM: &str = "notices@seatkeeper.test";

/// What each function's binary sent, as the deployment's ARNs: a scenario's table is the
/// template's `Table`, its bucket the `ImportsBucket`, its bus the `NoticeBus`, its SES
/// configuration set the `MailConfigurationSet`.
fn sent(deployment: &Deployment, template: &Template<'_>) -> BTreeMap<String, BTreeSet<(Access, Vec<String>)>> {
    let physical = |name: &str| template.physical(name).unwrap_or_else(|e| panic!("{e}"));
    let (table, bucket, bus) = (physical("Table"), physical("ImportsBucket"), physical("NoticeBus"));
    let set = physical("MailConfigurationSet");
    let mut sent: BTreeMap<String, BTreeSet<(Access, Vec<String>)>> = BTreeMap::new();
    for ran in RAN.lock().unwrap().iter() {
        let text = match std::fs::read_to_string(&ran.trace) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => panic!("{}: {e}", ran.trace.display()),
        };
        let of = |var: &str| ran.env.get(var).cloned().unwrap_or_else(|| "\u{0}".into());
        let seen = sent.entry(ran.function.clone()).or_default();
        for line in text.lines() {
            let access: Access = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let service = access.action.split(':').next().unwrap_or_default().to_string();
            let arns = access
                .resources
                .iter()
                .map(|r| {
                    let r = match service.as_str() {
                        "dynamodb" => deployed(r, &format!("table/{}", of("TABLE_NAME")), &format!("table/{table}")),
                        "s3" => deployed(r, &of("BUCKET_NAME"), &bucket),
                        "events" => {
                            deployed(r, &format!("event-bus/{}", of("EVENT_BUS_NAME")), &format!("event-bus/{bus}"))
                        }
                        "ses" => deployed(
                            r,
                            &format!("configuration-set/{}", of("MAIL_CONFIGURATION_SET")),
                            &format!("configuration-set/{set}"),
                        ),
                        _ => r.clone(),
                    };
                    format!("{}{r}", deployment.arn(&service))
                })
                .collect();
            seen.insert((access, arns));
        }
    }
    sent
}

/// `resource` with its leading `local` name (followed by nothing or `/`) replaced by `deployed`.
fn deployed(resource: &str, local: &str, deployed: &str) -> String {
    match resource.strip_prefix(local) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{deployed}{rest}"),
        _ => resource.to_string(),
    }
}

/// Each way the template and the traces disagree, in words.
fn iam_mismatches() -> Vec<String> {
    let deployment = Deployment::example(MAIL_FROM);
    let template = Template::new(seatkeeper::store::table::TEMPLATE, &deployment);
    let granted = template.grants().unwrap_or_else(|e| panic!("{e}"));
    let sent = sent(&deployment, &template);
    let mut wrong = Vec::new();
    for (function, grants) in &granted {
        let Some(accesses) = sent.get(function) else {
            if !grants.is_empty() {
                wrong.push(format!("{function}: granted {} permission(s) and never run here", grants.len()));
            }
            continue;
        };
        for (access, arns) in accesses {
            let allowed =
                grants.iter().any(|g| like(&g.action, &access.action) && arns.iter().any(|a| like(&g.resource, a)));
            if !allowed {
                wrong.push(format!(
                    "{function}: sends {} ({} on {}), which the template does not grant it",
                    access.operation,
                    access.action,
                    arns.join(" or ")
                ));
            }
        }
        for g in grants {
            let needed = accesses
                .iter()
                .any(|(a, arns)| like(&g.action, &a.action) && arns.iter().any(|r| like(&g.resource, r)));
            if !needed {
                wrong.push(format!("{function}: granted {} on {} and never sends it", g.action, g.resource));
            }
        }
    }
    for function in sent.keys().filter(|f| !granted.contains_key(*f)) {
        wrong.push(format!("{function}: ran here and is no function of the template"));
    }
    if !wrong.is_empty() {
        // What was sent, for whoever fixes the template.
        wrong.push("what each function sent:".into());
        for (function, accesses) in &sent {
            let needs: BTreeSet<String> = accesses
                .iter()
                .map(|(a, arns)| format!("  {function}: {} on {}", a.action, arns.join(" or ")))
                .collect();
            wrong.extend(needs);
        }
    }
    wrong
}

// ---- requests, and a table that fails on purpose ------------------------------------------------

/// An API Gateway HTTP API request (payload 2.0) through the JWT authorizer, as AWS sends it:
/// `route` is the route's template, `path` the percent-encoded path (with its query), `who` the
/// caller whose claims the authorizer passes, `body` JSON, `when` the request's instant.
fn request(
    method: &str,
    route: &str,
    path: &str,
    who: &seatkeeper_tests::Who,
    body: Option<Value>,
    when: &str,
) -> Value {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut event = fixture(
        "http-request",
        &[
            ("METHOD", method),
            ("ROUTE", route),
            ("RAW_PATH", raw_path),
            ("RAW_QUERY", query),
            ("ORG", &who.org_id),
            ("ROLE", &who.role),
            ("EMAIL", &who.email),
        ],
    );
    let instant = at(when);
    event["requestContext"]["timeEpoch"] = json!(instant.timestamp_millis());
    event["requestContext"]["time"] = json!(instant.format("%d/%b/%Y:%H:%M:%S +0000").to_string());
    let mut parameters = serde_json::Map::new();
    for (name, value) in route.split('/').zip(raw_path.split('/')) {
        if let Some(name) = name.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
            let value = percent_encoding::percent_decode_str(value).decode_utf8().unwrap();
            parameters.insert(name.to_string(), json!(value));
        }
    }
    if !parameters.is_empty() {
        event["pathParameters"] = Value::Object(parameters);
    }
    if !query.is_empty() {
        let pairs = query.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), json!(v)));
        event["queryStringParameters"] = Value::Object(pairs.collect());
    }
    if let Some(body) = body {
        event["headers"]["content-type"] = json!("application/json");
        event["body"] = json!(body.to_string());
    }
    event
}

/// A DynamoDB endpoint in front of DynamoDB Local that answers `500 InternalServerError` to every
/// request `fails` picks (each retry too) and hands every other one on: a table that fails part
/// of the way through a piece of work. Its address; it serves until the test ends.
async fn failing_table(fails: impl Fn(&str, &str) -> bool + Send + Sync + 'static) -> String {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    let upstream = seatkeeper_tests::endpoint();
    let http = reqwest::Client::new();
    let fails = std::sync::Arc::new(fails);
    let forward = move |headers: HeaderMap, body: Bytes| {
        let (upstream, http, fails) = (upstream.clone(), http.clone(), fails.clone());
        async move {
            let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            if fails(&target, &String::from_utf8_lossy(&body)) {
                let error = json!({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "injected: the table failed"});
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [("content-type", "application/x-amz-json-1.0")],
                    error.to_string(),
                )
                    .into_response();
            }
            let mut request = http.post(&upstream).body(body);
            for (name, value) in headers.iter().filter(|(n, _)| *n != "host" && *n != "content-length") {
                request = request.header(name, value);
            }
            let answer = request.send().await.unwrap();
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
            let content_type = answer.headers().get("content-type").cloned();
            let body = answer.bytes().await.unwrap();
            let mut response = (status, body).into_response();
            if let Some(ct) = content_type {
                response.headers_mut().insert("content-type", ct.to_str().unwrap().parse().unwrap());
            }
            response
        }
    };
    let app = axum::Router::new().fallback(forward);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// Every item the table holds (a test's own table: the assertions on what was written).
async fn every_item(env: &TestEnv) -> Vec<seatkeeper_tests::Item> {
    let scan = env.app.store.client.scan().table_name(&env.table).consistent_read(true).into_paginator().items();
    scan.send().try_collect().await.unwrap()
}

fn kind(item: &seatkeeper_tests::Item) -> &str {
    item.get("type").and_then(|t| t.as_s().ok()).map_or("", String::as_str)
}

// ---- the paths the scenarios above do not walk --------------------------------------------------

/// A CSV refused on its last line (a quote left open), after its first chunk of rows was
/// stored: the answer names the line, and the rows stored before are removed — the import
/// function deletes them, so its role must allow it.
async fn a_file_refused_part_way_leaves_no_rows_behind() {
    let (env, f) = emulators(&["import-allocation"]).await;
    company_with_lot(&env, 5).await;
    let mut csv = String::from("email\n");
    for i in 0..1500 {
        csv.push_str(&format!("learner{i}@corp.test\n"));
    }
    csv.push_str("\"open@corp.test\n");
    let cm = seatkeeper_tests::cm("globex");
    let mut event =
        request("POST", "/v1/orgs/{org_id}/imports", "/v1/orgs/globex/imports", &cm, None, "2027-01-06T09:00:00Z");
    event["headers"]["content-type"] = json!("text/csv");
    event["body"] = json!(csv);
    let (status, refused) = f["import-allocation"].invoke(&event).await.http();
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("1502"), "names the line: {refused}");
    let left: Vec<String> = every_item(&env)
        .await
        .iter()
        .filter(|i| kind(i).starts_with("import"))
        .map(|i| format!("{:?} {:?}", i.get("PK"), i.get("SK")))
        .collect();
    assert!(left.is_empty(), "a refused file leaves nothing: {left:?}");
}

/// A large allocation (more than one transaction's users) whose table fails while its second
/// chunk of rows is stored: the allocation fails, licenses nobody, and the allocate function
/// deletes the chunk it had stored, so its role must allow it.
async fn an_allocation_that_fails_part_way_leaves_no_rows_behind() {
    let env = TestEnv::with_s3().await;
    company_with_lot(&env, 1200).await;
    let emails: Vec<String> = (0..1100).map(|i| format!("m{i}@corp.test")).collect();
    env.seed_users("globex", &emails, "2027-01-05T10:00:00Z").await;
    // Every put of the second chunk of the job's rows fails.
    let table = failing_table(|target, body| {
        target.ends_with(".PutItem") && body.contains("\"import_rows\"") && body.contains("ROWS#000001")
    })
    .await;
    let mut vars = function_env(&env);
    vars.push(("AWS_ENDPOINT_URL_DYNAMODB", table));
    let allocate = Emulator::start("allocate", &vars);
    let cm = seatkeeper_tests::cm("globex");
    let body = json!({ "emails": emails });
    let event = request(
        "POST",
        "/v1/orgs/{org_id}/allocations",
        "/v1/orgs/globex/allocations",
        &cm,
        Some(body),
        "2027-01-06T09:00:00Z",
    );
    let (status, failed) = allocate.invoke(&event).await.http();
    assert!(status >= 500, "{status} {failed}");
    let items = every_item(&env).await;
    let rows: Vec<_> = items.iter().filter(|i| kind(i).starts_with("import")).collect();
    assert!(rows.is_empty(), "no job and no rows are left: {rows:?}");
    let lots = seatkeeper::domain::lot::merge(env.app.store.all_lots("globex").await.unwrap());
    assert_eq!((lots[0].in_use, lots[0].uses), (0, 0), "no seat taken");
    let licensed = items.iter().filter(|i| kind(i) == "user" && i.contains_key("licence")).count();
    assert_eq!(licensed, 0, "nobody licensed");
}

/// A large allocation whose reserve fails (the table refuses the write that moves its job to
/// `committing`), retried under the same key after one of its learners was licensed meanwhile:
/// the retry reviews the job's rows again, and stores the changed chunk on the condition, checked
/// in the same transaction, that the job still awaits its commit — so the allocate function's
/// role must allow that check. The retry licenses the rest, and nobody twice.
async fn a_large_allocation_retried_after_a_failed_commit_reviews_its_rows_again() {
    let (env, f) = emulators(&["allocate"]).await;
    company_with_lot(&env, 200).await;
    let emails: Vec<String> = (0..150).map(|i| format!("r{i}@corp.test")).collect();
    env.seed_users("globex", &emails, "2027-01-05T10:00:00Z").await;
    let table =
        failing_table(|target, body| target.ends_with(".TransactWriteItems") && body.contains("committing")).await;
    let mut vars = function_env(&env);
    vars.push(("AWS_ENDPOINT_URL_DYNAMODB", table));
    let failing = Emulator::start("allocate", &vars);
    let cm = seatkeeper_tests::cm("globex");
    let (route, path) = ("/v1/orgs/{org_id}/allocations", "/v1/orgs/globex/allocations");
    let mut large = request("POST", route, path, &cm, Some(json!({ "emails": emails })), "2027-01-06T09:00:00Z");
    large["headers"]["idempotency-key"] = json!("large-1");
    let (status, failed) = failing.invoke(&large).await.http();
    assert!(status >= 500, "{status} {failed}");
    let one = request("POST", route, path, &cm, Some(json!({ "emails": ["r0@corp.test"] })), "2027-01-06T09:05:00Z");
    let (status, single) = f["allocate"].invoke(&one).await.http();
    assert_eq!((status, single["allocated"].as_u64()), (200, Some(1)), "{single}");
    large["requestContext"]["timeEpoch"] = json!(at("2027-01-06T09:10:00Z").timestamp_millis());
    let (status, retried) = f["allocate"].invoke(&large).await.http();
    assert_eq!((status, retried["allocated"].as_u64()), (200, Some(149)), "{retried}");
    let r0 = retried["results"].as_array().unwrap().iter().find(|r| r["email"] == "r0@corp.test").cloned();
    assert_eq!(r0.map(|r| r["outcome"].clone()), Some(json!("already_active")), "{retried}");
    let lots = seatkeeper::domain::lot::merge(env.app.store.all_lots("globex").await.unwrap());
    assert_eq!(lots[0].in_use, 150, "each learner holds one seat");
    let licensed = every_item(&env).await.iter().filter(|i| kind(i) == "user" && i.contains_key("licence")).count();
    assert_eq!(licensed, 150, "every learner licensed once");
}

/// Versioning on, as the template's imports bucket has it: every `ObjectCreated` event then
/// names the object's version, and the import reads that version.
async fn versioned(imports: &seatkeeper::app::ImportsBucket) {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let on = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    imports.client.put_bucket_versioning().bucket(&imports.bucket).versioning_configuration(on).send().await.unwrap();
}

/// A partner file whose key names no company — an id no org has, a partner — is refused
/// without a row written for it: the function logs the refusal (its logs are CloudWatch's,
/// deployed) and writes the result file saying why; the invocation succeeds (a retry would
/// change nothing).
async fn an_s3_file_naming_no_company_writes_nothing_and_says_why() {
    let (env, f) = emulators(&["import-allocation"]).await;
    company_with_lot(&env, 5).await;
    let imports = env.imports();
    versioned(imports).await;
    let before = every_item(&env).await;
    for (org, why) in [("nobody", "no company has that id"), ("acme-partner", "a partner and not a company")] {
        let key = format!("imports/{org}/learners.csv");
        let put = imports
            .client
            .put_object()
            .bucket(&imports.bucket)
            .key(&key)
            .body(b"email\nann@corp.test\n".to_vec().into())
            .send()
            .await
            .unwrap();
        let etag = put.e_tag().unwrap_or_default().trim_matches('"').to_string();
        let version = put.version_id().unwrap().to_string();
        let mut event =
            fixture("s3-object-created", &[("BUCKET", &imports.bucket), ("ETAG", &etag), ("VERSION", &version)]);
        event["Records"][0]["s3"]["object"]["key"] = json!(key);
        let answer = f["import-allocation"].invoke(&event).await.answer();
        assert_eq!(answer, Value::Null, "{org}: refused for good, not failed for a retry");
        let result = env.object_json(&format!("results/{org}/learners.json")).await;
        assert_eq!(result["status"], "failed", "{org}: {result}");
        let error = result["error"].as_str().unwrap_or_default();
        assert!(error.contains(why) && error.contains("nothing was imported"), "{org}: {result}");
        // The operator's view: an ERROR line naming the key, in the function's own log.
        let deadline = tokio::time::Instant::now() + START_BUDGET;
        loop {
            let logged = f["import-allocation"].logged();
            let line = logged.lines().find(|l| l.contains("partner file refused") && l.contains(&key));
            if let Some(line) = line {
                let line: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_eq!(line["level"], "ERROR", "{line}");
                assert!(line["fields"]["reason"].as_str().unwrap_or_default().contains(why), "{line}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no refusal logged for {key}:\n{logged}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let after = every_item(&env).await;
    assert_eq!(after.len(), before.len(), "no row written for a key naming no company");
}

/// Every route of the API, each through its own function's binary, in the order a company's
/// life takes them (the walk of `tests/integration/leading_keys.rs`, here through the deployed
/// shape): every answer a success, and every route walked.
async fn every_route_answers_through_its_functions_binary() {
    use seatkeeper::http::routes::{self, ROUTES};
    let functions: BTreeSet<&str> = ROUTES.iter().map(|r| r.function).collect();
    let (env, f) = emulators(&functions.into_iter().collect::<Vec<_>>()).await;
    let walked = std::cell::RefCell::new(BTreeSet::new());
    let mut commands = 0;
    let mut go = |method: &'static str, url: String, who: seatkeeper_tests::Who, body: Option<Value>, when: &str| {
        let (path, _) = url.split_once('?').unwrap_or((&url, ""));
        let (route, _) = routes::find(method, path, None).unwrap().unwrap_or_else(|_| panic!("{method} {url}"));
        walked.borrow_mut().insert((route.method, route.path));
        let raw = url.replace('@', "%40");
        let mut event = request(method, route.path, &raw, &who, body, when);
        if route.command {
            commands += 1;
            event["headers"]["idempotency-key"] = json!(format!("walk-{commands}"));
        }
        let function = &f[route.function];
        async move {
            let (status, answer) = function.invoke(&event).await.http();
            assert!(status < 300, "{method} {url}: {status} {answer}");
            answer
        }
    };
    let vendor = seatkeeper_tests::Who::vendor_admin();
    let (pm, cm, platform) = (seatkeeper_tests::pm("p"), seatkeeper_tests::cm("c"), platform("c"));
    let day = "2018-04-01T08:00:00Z";

    go("GET", "/health".into(), vendor.clone(), None, day).await;
    let partner = json!({"org_id": "p", "name": "P", "kind": "partner", "parent_id": "vendor"});
    go("POST", "/v1/orgs".into(), vendor.clone(), Some(partner), day).await;
    let company = json!({"org_id": "c", "name": "C", "kind": "company", "parent_id": "p"});
    go("POST", "/v1/orgs".into(), pm.clone(), Some(company), day).await;
    let policy = json!({"term_starts": "activation", "renewal": "automatic", "notify_emails": ["admin@c.example"]});
    go("PUT", "/v1/orgs/c/policy".into(), vendor.clone(), Some(policy), day).await;
    go("GET", "/v1/orgs/c".into(), cm.clone(), None, day).await;
    go("GET", "/v1/orgs/p/children".into(), pm.clone(), None, day).await;

    let order = go("POST", "/v1/orgs/c/orders".into(), cm.clone(), Some(json!({"quantity": 110})), day).await;
    let order = order["order_id"].as_str().unwrap().to_string();
    let cancelled = go("POST", "/v1/orgs/c/orders".into(), cm.clone(), Some(json!({"quantity": 1})), day).await;
    let rejected = go("POST", "/v1/orgs/c/orders".into(), cm.clone(), Some(json!({"quantity": 2})), day).await;
    go("GET", "/v1/orgs/p/orders?status=requested".into(), pm.clone(), None, day).await;
    go("GET", format!("/v1/orders/{order}"), cm.clone(), None, day).await;
    go("POST", format!("/v1/orders/{}/cancel", cancelled["order_id"].as_str().unwrap()), cm.clone(), None, day).await;
    let reject = format!("/v1/orders/{}/reject", rejected["order_id"].as_str().unwrap());
    go("POST", reject, pm.clone(), Some(json!({"reason": "no"})), day).await;
    go("POST", format!("/v1/orders/{order}/assign"), pm.clone(), None, "2018-04-02T09:00:00Z").await;
    go("GET", "/v1/orgs/c/lots".into(), cm.clone(), None, day).await;
    // The renewals ahead, the partner's (GSI1) and the vendor's (GSI3).
    go("GET", "/v1/orgs/p/expiring?within_days=90".into(), pm.clone(), None, day).await;
    go("GET", "/v1/orgs/vendor/expiring".into(), vendor.clone(), None, day).await;

    let may = "2018-05-11T09:00:00Z";
    go("PUT", "/v1/orgs/c/users/w@c.example".into(), cm.clone(), Some(json!({"name": "W"})), may).await;
    let run = json!({"status": "active", "starts_at": may, "ends_at": "2020-05-11T09:00:00Z"});
    go("PUT", "/v1/orgs/c/users/w@c.example/enrolments/run".into(), platform.clone(), Some(run), may).await;
    let two = json!({"emails": ["a@c.example", "b@c.example"], "create_missing": true});
    go("POST", "/v1/orgs/c/allocations".into(), cm.clone(), Some(two), may).await;
    // More users than one transaction: a job, the import's way.
    let many: Vec<String> = (0..91).map(|i| format!("m{i}@c.example")).collect();
    let many = json!({"emails": many, "create_missing": true});
    let job = go("POST", "/v1/orgs/c/allocations".into(), cm.clone(), Some(many), may).await;
    assert_eq!(job["allocated"], 91, "{job}");
    let job = format!("/v1/orgs/c/allocations/{}", job["allocation_id"].as_str().unwrap());
    go("GET", job.clone(), cm.clone(), None, may).await;
    go("GET", format!("{job}/rows"), cm.clone(), None, may).await;
    go("GET", "/v1/orgs/c/licences".into(), cm.clone(), None, may).await;
    go("GET", "/v1/orgs/c/licences?status=expired".into(), cm.clone(), None, may).await;
    let counted = go("GET", "/v1/orgs/c/licences/count?status=expired".into(), cm.clone(), None, may).await;
    assert_eq!((&counted["count"], &counted["complete"]), (&json!(0), &json!(true)), "{counted}");
    // "Select all": every expired learner (none yet) — read by the licences' status.
    let everyone =
        go("POST", "/v1/orgs/c/allocations".into(), cm.clone(), Some(json!({"all_expired": true})), may).await;
    assert_eq!(everyone["allocated"], 0, "{everyone}");
    go("DELETE", "/v1/orgs/c/users/b@c.example".into(), cm.clone(), None, may).await;
    // b released: its personal data erased (the user moved at once; the job runner does the rest).
    let erased = go("POST", "/v1/orgs/c/users/b@c.example/erase".into(), cm.clone(), None, may).await;
    assert!(erased["pseudonym"].as_str().is_some_and(|p| p.ends_with("@erased.invalid")), "{erased}");
    let renewable = json!({"emails": ["a@c.example"], "renewable": false});
    go("POST", "/v1/orgs/c/users/renewable".into(), cm.clone(), Some(renewable), may).await;
    go("GET", "/v1/orgs/c/users".into(), cm.clone(), None, may).await;
    go("GET", "/v1/orgs/c/users?email_prefix=W&licence_status=pending".into(), cm.clone(), None, may).await;
    go("GET", "/v1/orgs/c/users/w@c.example".into(), cm.clone(), None, may).await;
    go("GET", "/v1/orgs/c/users/w@c.example/enrolments".into(), platform.clone(), None, may).await;
    let run = go("GET", "/v1/orgs/c/enrolments?enrolment_id=run".into(), cm.clone(), None, may).await;
    assert_eq!(run["items"][0]["email"], "w@c.example", "{run}");
    go("GET", "/v1/orgs/c/users/w@c.example/access".into(), platform.clone(), None, may).await;
    // "SET EXPIRY DATE" on ticked enrolments, a date passed: ended at once, the learner counted off.
    let bulk = json!({"items": [{"email": "w@c.example", "enrolment_id": "run"}], "ends_at": "2018-05-20T00:00:00Z"});
    let ended = go("POST", "/v1/orgs/c/enrolments/bulk".into(), cm.clone(), Some(bulk), "2018-06-01T09:00:00Z").await;
    assert_eq!(ended["items"][0]["status"], "expired", "{ended}");

    let mut upload = request("POST", "/v1/orgs/{org_id}/imports", "/v1/orgs/c/imports", &cm, None, may);
    upload["headers"]["content-type"] = json!("text/csv");
    upload["body"] = json!("email\ni@c.example\n");
    let (status, review) = f["import-allocation"].invoke(&upload).await.http();
    assert_eq!(status, 201, "{review}");
    walked.borrow_mut().insert(("POST", "/v1/orgs/{org_id}/imports"));
    let import = format!("/v1/orgs/c/imports/{}", review["import_id"].as_str().unwrap());
    go("GET", import.clone(), cm.clone(), None, may).await;
    go("GET", format!("{import}/rows?outcome=renew"), cm.clone(), None, may).await;
    go("POST", format!("{import}/confirm"), cm.clone(), None, may).await;

    go("GET", "/v1/orgs/c/usage".into(), cm.clone(), None, may).await;
    go("GET", "/v1/orgs/c/renewals?until=2019-06-30".into(), cm.clone(), None, "2019-04-01T00:00:00Z").await;
    go("GET", "/v1/orgs/c/notifications".into(), cm.clone(), None, may).await;
    go("GET", "/v1/orgs/c/audit".into(), cm.clone(), None, may).await;
    // SES's report of a complaint about c's mail (the mailer's to record), then the manager's view
    // of the suppression and its clearing.
    let complaint = seatkeeper_tests::ses_event(
        seatkeeper_tests::SesReport::Complaint("abuse"),
        "angry@c.example",
        "c",
        "ntc_walk",
        "fb-walk",
    );
    seatkeeper::mail::feedback::handle(&env.app.store, &complaint, at(may)).await.unwrap();
    go("GET", "/v1/orgs/c/suppressions".into(), cm.clone(), None, may).await;
    go("DELETE", "/v1/orgs/c/suppressions/angry@c.example".into(), cm.clone(), None, may).await;
    let contacts = json!({"contacts": [{"email": "expiry@c.example", "receives": ["expiry"]}]});
    go("PUT", "/v1/orgs/c/contacts".into(), cm.clone(), Some(contacts), may).await;
    go("GET", "/v1/orgs/c/contacts".into(), cm.clone(), None, may).await;

    let every: BTreeSet<(&str, &str)> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
    assert_eq!(walked.into_inner(), every, "every route is walked through its binary");
    let w = env.app.store.user("c", "w@c.example").await.unwrap().unwrap();
    assert!(w.licence.is_some(), "the enrolment activated w's licence");
}

/// The renewal sweep's binary, at the day after a learner's licence year under automatic
/// renewal: the learner is renewed from the balance (the sweep reads, debits and writes).
async fn the_renewal_sweep_renews_a_learner_whose_year_has_ended() {
    let (env, f) = emulators(&["renewal-sweep"]).await;
    env.partner_with_company("p", "c").await;
    env.set_policy("c", json!({"term_starts": "activation", "renewal": "automatic"})).await;
    env.order_and_assign("c", 10, "2018-04-01T08:00:00Z", "p", "2018-04-02T09:00:00Z").await;
    let may = "2018-05-11T09:00:00Z";
    env.put_user("c", "w@c.example").json(json!({"name": "W"})).at(may).send().await;
    let run = json!({"status": "active", "starts_at": may, "ends_at": "2020-05-11T09:00:00Z"});
    let enrolled = env.enrol("c", "w@c.example", "run", run, may).await;
    assert!(enrolled.status < 300, "{:?}", enrolled.body);
    let schedules = seatkeeper_local::schedules::compiled();
    let schedule = schedules.iter().find(|s| s.sweep().as_deref() == Some("renewal")).unwrap();
    let report = f["renewal-sweep"].invoke(&schedule.payload(at("2019-05-12T00:00:00Z")).unwrap()).await.answer();
    assert_eq!(report["renewed"], json!(["w@c.example"]), "{report}");
    let w = env.app.store.user("c", "w@c.example").await.unwrap().unwrap();
    let until = w.licence.unwrap().valid_until;
    assert!(until.is_some_and(|end| end > at("2020-01-01T00:00:00Z")), "a second year: {until:?}");
}
