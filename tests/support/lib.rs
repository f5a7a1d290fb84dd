//! Test support: a fresh table on DynamoDB Local per test, calls through the same API Gateway
//! event the local server and the Lambdas handle, and the set-up every test file shares:
//!
//! - callers by role: [`cm`], [`pm`], [`platform`], [`Who::vendor_admin`], and [`Who::token`] for
//!   a signed token;
//! - the API: [`TestEnv::call`] (and `get`, `post`, `put`), or [`Call::new`] against any [`App`];
//! - the vendor → partner → company tree, orders assigned into lots, policies, users (through the
//!   API, or straight into the table with or without licences), enrolments and allocations: the
//!   `impl TestEnv` of [`setup`];
//! - clients that log or break what they send: [`intercept`];
//! - the template's IAM grants, evaluated for a deployment: [`iam`].

use std::collections::HashMap;

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use chrono::{DateTime, Utc};
use seatkeeper::store::table::TableDefinition;
use seatkeeper::store::Store;
use seatkeeper::App;
use serde_json::Value;

pub mod cloudformation;
pub mod hostile_xlsx;
pub mod iam;
pub mod intercept;
pub mod setup;

pub use intercept::{Faults, KeyLog, RequestLog, WRITE_OPERATIONS};
pub use setup::{Users, ASSIGNED, REQUESTED};

/// DynamoDB Local's endpoint; `make test` starts one and sets it.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB must point at DynamoDB Local: run the tests with `make test`")
}

pub async fn client() -> aws_sdk_dynamodb::Client {
    let _ = endpoint();
    seatkeeper_local::dynamodb_client().await
}

/// An instant written in RFC 3339.
pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("an RFC 3339 time")
}

/// The instant a [`Call`] is made at unless it says otherwise.
pub const NOW: &str = "2026-01-01T00:00:00Z";

/// A caller with a role in an org.
#[derive(Debug, Clone)]
pub struct Who {
    pub sub: String,
    pub email: String,
    pub org_id: String,
    pub role: String,
}

impl Who {
    pub fn new(role: &str, org_id: &str) -> Self {
        let email = format!("{role}@{org_id}.example");
        Who { sub: email.clone(), email, org_id: org_id.into(), role: role.into() }
    }

    pub fn vendor_admin() -> Self {
        Who::new("vendor_admin", "vendor")
    }

    pub fn with_sub(mut self, sub: &str) -> Self {
        self.sub = sub.into();
        self
    }

    pub fn claims(&self) -> HashMap<String, String> {
        HashMap::from([
            ("sub".to_string(), self.sub.clone()),
            ("email".to_string(), self.email.clone()),
            ("org_id".to_string(), self.org_id.clone()),
            ("role".to_string(), self.role.clone()),
        ])
    }

    /// A bearer token for these claims, signed with `secret`, expiring `expires_in` seconds from
    /// now (a negative number: already expired), as the local server verifies it.
    pub fn token(&self, secret: &str, expires_in: i64) -> String {
        let now = Utc::now().timestamp();
        let claims = seatkeeper_local::Claims {
            sub: self.sub.clone(),
            email: self.email.clone(),
            org_id: self.org_id.clone(),
            role: self.role.clone(),
            exp: now + expires_in,
            iat: now,
        };
        seatkeeper_local::mint(secret, &claims)
    }
}

/// The company manager of `org`.
pub fn cm(org: &str) -> Who {
    Who::new("company_manager", org)
}

/// The partner manager of `org`.
pub fn pm(org: &str) -> Who {
    Who::new("partner_manager", org)
}

/// The learning platform of `org`.
pub fn platform(org: &str) -> Who {
    Who::new("platform", org)
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: HashMap<String, String>,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// A request under construction.
pub struct Call<'a> {
    app: &'a App,
    method: String,
    target: String,
    who: Option<Who>,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    now: DateTime<Utc>,
}

impl<'a> Call<'a> {
    /// `method` `target` against `app`, made at [`NOW`] by nobody until told otherwise.
    pub fn new(app: &'a App, method: &str, target: &str) -> Self {
        Call {
            app,
            method: method.into(),
            target: target.into(),
            who: None,
            body: Vec::new(),
            headers: Vec::new(),
            now: at(NOW),
        }
    }

    pub fn by(mut self, who: &Who) -> Self {
        self.who = Some(who.clone());
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = body.to_string().into_bytes();
        self
    }

    pub fn raw(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    pub fn at(mut self, now: &str) -> Self {
        self.now = at(now);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn key(mut self, idempotency_key: &str) -> Self {
        self.headers.push(("Idempotency-Key".into(), idempotency_key.into()));
        self
    }

    /// The API Gateway response as the function returns it (a binary body stays binary).
    pub async fn response(self) -> ApiGatewayV2httpResponse {
        let event = seatkeeper_local::api_event(
            &self.method,
            &self.target,
            &self.headers,
            &self.body,
            self.who.map(|w| w.claims()),
            self.now,
        )
        .expect("a valid event");
        // As deployed: the function that serves the route, with only its handlers.
        let function = seatkeeper::handlers::functions::serving(&self.method, &self.target);
        seatkeeper::http::handle(self.app, function, event).await
    }

    /// The answer: status, headers, and the body as JSON (a text body that is not JSON as a
    /// string).
    pub async fn send(self) -> Answer {
        let r = self.response().await;
        let body = match r.body {
            Some(Body::Text(t)) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
            _ => Value::Null,
        };
        let headers =
            r.headers.iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect();
        Answer { status: r.status_code as u16, body, headers }
    }
}

/// An item as the table holds it.
pub type Item = HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

/// A fresh table, created from `infra/template.yaml`, and the app over it.
pub struct TestEnv {
    pub app: App,
    pub table: String,
}

impl TestEnv {
    /// A fresh table, set up as every start sets one up (the vendor org stored).
    pub async fn new() -> Self {
        let env = TestEnv::bare().await;
        env.app.store.set_up(at(NOW)).await.unwrap();
        env
    }

    /// A fresh table as an earlier version left one: created, never set up (no vendor org).
    pub async fn bare() -> Self {
        let client = client().await;
        let table = format!("test-{}", uuid::Uuid::new_v4().simple());
        TableDefinition::from_compiled_template().unwrap().create(&client, &table).await.unwrap();
        TestEnv { app: App::new(Store::new(client, table.clone())), table }
    }

    pub fn call(&self, method: &str, target: &str) -> Call<'_> {
        Call::new(&self.app, method, target)
    }

    pub fn get(&self, target: &str) -> Call<'_> {
        self.call("GET", target)
    }

    pub fn post(&self, target: &str) -> Call<'_> {
        self.call("POST", target)
    }

    pub fn put(&self, target: &str) -> Call<'_> {
        self.call("PUT", target)
    }

    /// Every item of one partition, read straight from the table (assertions on what was written).
    pub async fn partition(&self, pk: &str) -> Vec<Item> {
        let out = self
            .app
            .store
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.into()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap();
        out
    }

    /// Every item of the table, ordered by key: what a test compares before and after a move
    /// that must change nothing (a `Scan`, which only tests do).
    pub async fn all_items(&self) -> Vec<Item> {
        let mut items: Vec<Item> = self
            .app
            .store
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap();
        let key = |i: &Item, k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        items.sort_by_key(|i| (key(i, "PK"), key(i, "SK")));
        items
    }

    /// The item `pk`/`sk` of the table, if there is one.
    pub async fn item(&self, pk: &str, sk: &str) -> Option<Item> {
        self.partition(pk)
            .await
            .into_iter()
            .find(|i| i.get("SK").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(sk))
    }

    /// How many items of `type` a partition holds.
    pub async fn count(&self, pk: &str, kind: &str) -> usize {
        self.partition(pk)
            .await
            .iter()
            .filter(|i| i.get("type").and_then(|t| t.as_s().ok()).map(String::as_str) == Some(kind))
            .count()
    }

    /// Items written straight to the table, 25 to a batch, until every one is in.
    pub async fn write_items(&self, items: Vec<Item>) {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let store = &self.app.store;
        for chunk in items.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(item.clone())).build().unwrap())
                        .build()
                })
                .collect();
            while !pending.is_empty() {
                let out = store.client.batch_write_item().request_items(&self.table, pending).send().await.unwrap();
                pending = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            }
        }
    }
}

impl TestEnv {
    /// A fresh table and a fresh bucket on the S3-compatible server `make test` starts
    /// (`AWS_ENDPOINT_URL_S3`, path-style addressing).
    pub async fn with_s3() -> Self {
        let mut env = TestEnv::new().await;
        std::env::var("AWS_ENDPOINT_URL_S3")
            .expect("AWS_ENDPOINT_URL_S3 must point at the S3-compatible server: run `make test`");
        let sdk = seatkeeper::app::sdk_config().await;
        let imports = seatkeeper::app::ImportsBucket {
            client: seatkeeper::app::s3_client(&sdk),
            bucket: format!("test-{}", &uuid::Uuid::new_v4().simple().to_string()[..20]),
        };
        seatkeeper_local::ensure_bucket(&imports).await.unwrap();
        env.app = env.app.with_imports(imports);
        env
    }

    pub fn imports(&self) -> &seatkeeper::app::ImportsBucket {
        self.app.imports.as_ref().expect("a TestEnv::with_s3")
    }

    /// Puts an object into the imports bucket and delivers the S3 event for it (as often as
    /// asked), returning what the import function answered each time.
    pub async fn drop_file(
        &self,
        key: &str,
        body: Vec<u8>,
        metadata: &[(&str, &str)],
        deliveries: usize,
        at: &str,
    ) -> Vec<seatkeeper::domain::import::Batch> {
        let imports = self.imports();
        let mut put = imports.client.put_object().bucket(&imports.bucket).key(key).body(body.into());
        for (k, v) in metadata {
            put = put.metadata(*k, *v);
        }
        let out = put.send().await.unwrap();
        let event =
            seatkeeper_local::s3_event(&imports.bucket, key, out.e_tag(), out.version_id(), at.parse().unwrap());
        let mut answers = Vec::new();
        for _ in 0..deliveries {
            let mut records = seatkeeper::imports::s3::handle_s3_event(&self.app, event.clone()).await.unwrap();
            answers.append(&mut records);
        }
        answers
    }

    /// An object of the imports bucket as JSON.
    pub async fn object_json(&self, key: &str) -> Value {
        let imports = self.imports();
        let got = imports.client.get_object().bucket(&imports.bucket).key(key).send().await.unwrap();
        let bytes = got.body.collect().await.unwrap().into_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }
}

/// What an SES event of `tests/fixtures/events/` reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SesReport {
    /// A permanent (hard) bounce: `Email Bounced`, `bounceType` `Permanent`.
    HardBounce,
    /// A transient (soft) bounce: `Email Bounced`, `bounceType` `Transient`.
    SoftBounce,
    /// A complaint (`Email Complaint Received`) with this feedback type (`abuse`, `not-spam`).
    Complaint(&'static str),
}

/// AWS's documented sample of an SES bounce or complaint event as EventBridge delivers it from a
/// configuration set's event destination (`tests/fixtures/events/eventbridge-ses-*.json`), about
/// `email`, its message tagged as the mailer tags it (`org_id` and `notice_id`, as SES tag
/// values), with the report id `feedback_id`.
pub fn ses_event(report: SesReport, email: &str, org_id: &str, notice_id: &str, feedback_id: &str) -> Value {
    use seatkeeper::mail::ses::tag_value;
    let (file, extra): (&str, Vec<(&str, &str)>) = match report {
        SesReport::HardBounce => ("bounce", vec![("BOUNCE_TYPE", "Permanent"), ("BOUNCE_SUBTYPE", "General")]),
        SesReport::SoftBounce => ("bounce", vec![("BOUNCE_TYPE", "Transient"), ("BOUNCE_SUBTYPE", "MailboxFull")]),
        SesReport::Complaint(kind) => ("complaint", vec![("FEEDBACK_TYPE", kind)]),
    };
    let path = format!("{}/fixtures/events/eventbridge-ses-{file}.json", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (org_tag, notice_tag) = (tag_value(org_id), tag_value(notice_id));
    let vars = [
        ("EMAIL", email),
        ("ORG_TAG", org_tag.as_str()),
        ("NOTICE_TAG", notice_tag.as_str()),
        ("FEEDBACK_ID", feedback_id),
        ("CONFIGURATION_SET", "seatkeeper-test-notices"),
    ];
    for (k, v) in vars.iter().chain(extra.iter()) {
        text = text.replace(&format!("${{{k}}}"), v);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}
