//! Each function's own debug binary, run under the AWS Lambda Runtime Interface Emulator (what
//! `sam local` and Lambda container images use), answering the events AWS sends: API Gateway HTTP
//! API payload 2.0 requests with a JWT authorizer's claims, S3 `ObjectCreated` records, the
//! template's schedules and an EventBridge rule's scheduled event, DynamoDB stream records, and
//! CloudFormation's custom resource request (the deployment's `TableSetup`).
//! The events are the fixtures of `tests/fixtures/events/`, written from AWS's documented
//! samples; each check asks the table, the bucket or the bus what the function did.
//!
//! `make test` builds the emulator (`SEATKEEPER_RIE`) and the binaries, then runs this target
//! on its own (`cargo test --test emulator`); the workspace's test run skips it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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
}

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
        let log = std::fs::File::create(logs.join(format!("{function}-{invoke}.log"))).unwrap();
        let mut command = Command::new(&rie);
        command
            .arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{invoke}"))
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{runtime}"))
            .arg(&binary)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().unwrap();
        Emulator {
            child,
            invoke_url: format!("http://127.0.0.1:{invoke}/2015-03-31/functions/function/invocations"),
            http: reqwest::Client::builder().timeout(INVOKE_BUDGET).build().unwrap(),
        }
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

#[tokio::test]
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
    let lots = store.all_lots("globex").await.unwrap();
    assert_eq!((lots.len(), lots[0].quantity, lots[0].in_use), (1, 5, 0));

    // A percent-encoded rawPath: x%2Btag%40corp.test is x+tag@corp.test.
    let (status, user) = f["users"].invoke(&fixture("http-put-user", &[])).await.http();
    assert!(status == 200 || status == 201, "{status} {user}");
    assert_eq!(user["email"], "x+tag@corp.test");
    assert_eq!(store.user("globex", "x+tag@corp.test").await.unwrap().unwrap().name.as_deref(), Some("X Tag"));

    let (status, allocated) = f["allocate"].invoke(&fixture("http-allocate", &[])).await.http();
    assert_eq!((status, &allocated["allocated"]), (200, &json!(1)), "{allocated}");
    assert!(store.user("globex", "x+tag@corp.test").await.unwrap().unwrap().licence.is_some());
    assert_eq!(store.all_lots("globex").await.unwrap()[0].in_use, 1);

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

#[tokio::test]
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

#[tokio::test]
async fn an_s3_object_with_spaces_and_parentheses_is_imported_once_however_often_it_is_delivered() {
    let (env, f) = emulators(&["import-allocation"]).await;
    company_with_lot(&env, 5).await;
    env.users("globex", ["ann@corp.test", "bob@corp.test"]).by(&platform("globex")).json(json!({})).await;
    let imports = env.imports();
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
    let event = fixture("s3-object-created", &[("BUCKET", &imports.bucket), ("ETAG", &etag)]);
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
    let lots = env.app.store.all_lots("globex").await.unwrap();
    assert_eq!((lots[0].in_use, lots[0].uses), (2, 2), "two seats, taken once");
}

#[tokio::test]
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
    assert_eq!(report("forecast")["exported"], json!(["initech"]), "next month's forecast is exported");
    let imports = env.imports();
    for key in ["reports/initech/renewals-2027-03.csv", "reports/initech/renewals-2027-03.xlsx"] {
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

#[tokio::test]
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

/// The job runner's binary, handed by the table's stream the record of a confirm answered 202,
/// finishes the commit; the same record again changes nothing.
#[tokio::test]
async fn the_job_runner_finishes_a_background_commit_from_its_stream_record() {
    let (env, f) = emulators(&["job-runner"]).await;
    company_with_lot(&env, 5).await;
    env.users("globex", ["ann@corp.test", "bob@corp.test"]).by(&platform("globex")).json(json!({})).await;
    let at_ = "2027-01-06T09:00:00Z";
    let review = env
        .post("/v1/orgs/globex/imports")
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
    let mut record = aws_lambda_events::dynamodb::EventRecord::default();
    record.event_name = "MODIFY".into();
    record.event_source = Some("aws:dynamodb".into());
    record.change.new_image = serde_dynamo::Item::from(item);
    record.change.sequence_number = Some("4400000000000000000001".into());
    record.change.approximate_creation_date_time = at(at_);
    let mut event = aws_lambda_events::dynamodb::Event::default();
    event.records.push(record);
    let payload = serde_json::to_value(&event).unwrap();
    for delivery in 0..2 {
        let answer = f["job-runner"].invoke(&payload).await.answer();
        assert_eq!(answer["batchItemFailures"], json!([]), "delivery {delivery}: {answer}");
    }
    let done = env.app.store.import("globex", &id).await.unwrap().unwrap();
    assert_eq!((done.status, done.allocated), (seatkeeper::domain::import::ImportStatus::Committed, 2));
    let lots = env.app.store.all_lots("globex").await.unwrap();
    assert_eq!((lots[0].in_use, lots[0].uses), (2, 2), "two seats, taken once");
}

/// The mailer's binary, handed by an EventBridge rule on the notice bus the event the publisher
/// put there (AWS's sample event shape), e-mails the notice through SES (moto) once: the same
/// event again sends nothing, and an event from another source is refused. Handed SES's hard
/// bounce of that address (AWS's sample, as the rule on the default bus delivers it), it
/// suppresses the address once however often the event comes, and mails it no more.
#[tokio::test]
async fn the_mailer_sends_a_notice_from_the_bus_once_however_often_it_is_delivered() {
    let ses = std::env::var("AWS_ENDPOINT_URL_SESV2").expect("make test points SES at moto's server");
    let env = TestEnv::with_s3().await;
    company_with_lot(&env, 5).await;
    let from = "notices@seatkeeper.test";
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

    match mailer.invoke(&fixture("eventbridge-scheduled-event", &[])).await {
        Outcome::Error { kind, message } => {
            assert_eq!(kind, "Seatkeeper.Refused");
            assert!(message.contains("source \"seatkeeper\""), "{message}");
        }
        other => panic!("{other:?}"),
    }

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
