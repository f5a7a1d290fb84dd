//! Test support: a fresh table on DynamoDB Local per test, and calls through the same API
//! Gateway event the local server and the Lambdas handle.

use std::collections::HashMap;

use aws_lambda_events::encodings::Body;
use chrono::{DateTime, Utc};
use seatkeeper::store::table::TableDefinition;
use seatkeeper::store::Store;
use seatkeeper::App;
use serde_json::Value;

/// DynamoDB Local's endpoint; `make test` starts one and sets it.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB must point at DynamoDB Local: run the tests with `make test`")
}

pub async fn client() -> aws_sdk_dynamodb::Client {
    let _ = endpoint();
    seatkeeper_local::dynamodb_client().await
}

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

    pub fn claims(&self) -> HashMap<String, String> {
        HashMap::from([
            ("sub".to_string(), self.sub.clone()),
            ("email".to_string(), self.email.clone()),
            ("org_id".to_string(), self.org_id.clone()),
            ("role".to_string(), self.role.clone()),
        ])
    }
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
    env: &'a TestEnv,
    method: String,
    target: String,
    who: Option<Who>,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    now: DateTime<Utc>,
}

impl Call<'_> {
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
        self.now = now.parse().expect("an RFC 3339 time");
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

    pub async fn send(self) -> Answer {
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
        let r = seatkeeper::http::handle(&self.env.app, function, event).await;
        let body = match r.body {
            Some(Body::Text(t)) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
            _ => Value::Null,
        };
        let headers =
            r.headers.iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect();
        Answer { status: r.status_code as u16, body, headers }
    }
}

/// A fresh table, created from `infra/template.yaml`, and the app over it.
pub struct TestEnv {
    pub app: App,
    pub table: String,
}

impl TestEnv {
    pub async fn new() -> Self {
        let client = client().await;
        let table = format!("test-{}", uuid::Uuid::new_v4().simple());
        TableDefinition::from_compiled_template().unwrap().create(&client, &table).await.unwrap();
        TestEnv { app: App::new(Store::new(client, table.clone())), table }
    }

    pub fn call(&self, method: &str, target: &str) -> Call<'_> {
        Call {
            env: self,
            method: method.into(),
            target: target.into(),
            who: None,
            body: Vec::new(),
            headers: Vec::new(),
            now: "2026-01-01T00:00:00Z".parse().unwrap(),
        }
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

    /// Creates an org as the vendor admin and returns its id.
    pub async fn org(&self, org_id: &str, kind: &str, parent_id: &str) -> String {
        let a = self
            .post("/v1/orgs")
            .by(&Who::vendor_admin())
            .json(serde_json::json!({ "org_id": org_id, "name": org_id.to_uppercase(), "kind": kind, "parent_id": parent_id }))
            .send()
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        org_id.into()
    }

    /// Partner `p` with company `c` below it.
    pub async fn partner_with_company(&self, p: &str, c: &str) {
        self.org(p, "partner", "vendor").await;
        self.org(c, "company", p).await;
    }

    /// Requests an order as the company's manager; returns the order id.
    pub async fn request(&self, company: &str, quantity: u64, at: &str) -> String {
        let a = self
            .post(&format!("/v1/orgs/{company}/orders"))
            .by(&Who::new("company_manager", company))
            .json(serde_json::json!({ "quantity": quantity }))
            .at(at)
            .send()
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        a.body["order_id"].as_str().unwrap().to_string()
    }

    /// Every item of one partition, read straight from the table (assertions on what was written).
    pub async fn partition(&self, pk: &str) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
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

    /// Learners of `org` written straight to the table (setting up large files quickly).
    pub async fn seed_users(&self, org: &str, emails: &[String], at: &str) {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let store = &self.app.store;
        for chunk in emails.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|e| {
                    let item = store.user_item(&seatkeeper::domain::user::User::new(org, e, at.parse().unwrap()));
                    WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(item.unwrap())).build().unwrap())
                        .build()
                })
                .collect();
            while !pending.is_empty() {
                let out = store.client.batch_write_item().request_items(&self.table, pending).send().await.unwrap();
                pending = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            }
        }
    }

    /// How many items of `type` a partition holds.
    pub async fn count(&self, pk: &str, kind: &str) -> usize {
        self.partition(pk)
            .await
            .iter()
            .filter(|i| i.get("type").and_then(|t| t.as_s().ok()).map(String::as_str) == Some(kind))
            .count()
    }
}

impl Who {
    pub fn with_sub(mut self, sub: &str) -> Self {
        self.sub = sub.into();
        self
    }
}

/// The DynamoDB operations a client sent, in order (an SDK interceptor: what went over the wire,
/// retries included).
#[derive(Debug, Clone, Default)]
pub struct RequestLog(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl RequestLog {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

pub const WRITE_OPERATIONS: &[&str] = &["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"];

impl aws_sdk_dynamodb::config::Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if let Some(target) = context.request().headers().get("x-amz-target") {
            let op = target.rsplit('.').next().unwrap_or(target).to_string();
            self.0.lock().unwrap().push(op);
        }
        Ok(())
    }
}

impl TestEnv {
    /// A fresh table and an app whose client logs every request it sends.
    pub async fn with_request_log() -> (Self, RequestLog) {
        let log = RequestLog::default();
        (TestEnv::new().await.intercepted(log.clone()).await, log)
    }

    /// The same table and bucket through a client that also runs `interceptor`.
    async fn intercepted(self, interceptor: impl aws_sdk_dynamodb::config::Intercept + 'static) -> Self {
        let sdk = seatkeeper::app::sdk_config().await;
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(interceptor).build();
        let store = Store::new(aws_sdk_dynamodb::Client::from_conf(conf), self.table.clone());
        TestEnv { app: App { store, imports: self.app.imports }, table: self.table }
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
    ) -> Vec<seatkeeper::domain::import::ImportRecord> {
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
            let mut records = seatkeeper::handlers::imports::handle_s3_event(&self.app, event.clone()).await.unwrap();
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

/// Fails every request of one operation after the first `n` of them, as a process dying
/// half-way would leave things.
#[derive(Debug, Clone)]
struct FailAfter {
    operation: &'static str,
    allowed: usize,
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl aws_sdk_dynamodb::config::Intercept for FailAfter {
    fn name(&self) -> &'static str {
        "FailAfter"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let op = context.request().headers().get("x-amz-target").and_then(|t| t.rsplit('.').next()).unwrap_or("");
        if op == self.operation && self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= self.allowed {
            return Err("injected failure: the process died here".into());
        }
        Ok(())
    }
}

impl TestEnv {
    /// The same table through a client whose `operation` requests fail after the first `n`.
    pub async fn failing_after(env: &TestEnv, operation: &'static str, n: usize) -> (TestEnv, RequestLog) {
        let log = RequestLog::default();
        let sdk = seatkeeper::app::sdk_config().await;
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(log.clone())
            .interceptor(FailAfter { operation, allowed: n, seen: Default::default() })
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(conf);
        (TestEnv { app: App::new(Store::new(client, env.table.clone())), table: env.table.clone() }, log)
    }
}

/// Records the leading key of every item a request touches, as IAM's `dynamodb:LeadingKeys`
/// sees it: the table's partition key of each item of a get, put, update, delete, batch or
/// transaction, and for a query the partition key value of the table or index it reads.
#[derive(Debug, Clone, Default)]
pub struct KeyLog(std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>);

impl KeyLog {
    /// Everything recorded since the last take, as (operation, leading key).
    pub fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

type Attributes = HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

fn leading(item: Option<&Attributes>) -> String {
    item.and_then(|i| i.get("PK")).and_then(|v| v.as_s().ok()).cloned().unwrap_or_else(|| "<no PK>".into())
}

/// The partition key value a query's key condition names (`#n = :v`).
fn query_leading(q: &aws_sdk_dynamodb::operation::query::QueryInput) -> String {
    let pk = match q.index_name() {
        Some(index) => format!("{index}PK"),
        None => "PK".to_string(),
    };
    let names = q.expression_attribute_names().cloned().unwrap_or_default();
    let values = q.expression_attribute_values().cloned().unwrap_or_default();
    let condition = q.key_condition_expression().unwrap_or_default();
    for part in condition.split(" AND ") {
        let Some((name, value)) = part.split_once('=') else { continue };
        let (name, value) = (name.trim(), value.trim());
        if names.get(name).map(String::as_str).unwrap_or(name) == pk {
            if let Some(v) = values.get(value).and_then(|v| v.as_s().ok()) {
                return v.clone();
            }
        }
    }
    format!("<no {pk} in {condition}>")
}

impl aws_sdk_dynamodb::config::Intercept for KeyLog {
    fn name(&self) -> &'static str {
        "KeyLog"
    }

    fn read_before_execution(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use aws_sdk_dynamodb::operation::*;
        let input = context.input();
        let mut seen: Vec<(&str, String)> = Vec::new();
        if let Some(i) = input.downcast_ref::<get_item::GetItemInput>() {
            seen.push(("GetItem", leading(i.key())));
        } else if let Some(i) = input.downcast_ref::<put_item::PutItemInput>() {
            seen.push(("PutItem", leading(i.item())));
        } else if let Some(i) = input.downcast_ref::<update_item::UpdateItemInput>() {
            seen.push(("UpdateItem", leading(i.key())));
        } else if let Some(i) = input.downcast_ref::<delete_item::DeleteItemInput>() {
            seen.push(("DeleteItem", leading(i.key())));
        } else if let Some(i) = input.downcast_ref::<query::QueryInput>() {
            seen.push(("Query", query_leading(i)));
        } else if let Some(i) = input.downcast_ref::<batch_get_item::BatchGetItemInput>() {
            for keys in i.request_items().into_iter().flat_map(|m| m.values()) {
                seen.extend(keys.keys().iter().map(|k| ("BatchGetItem", leading(Some(k)))));
            }
        } else if let Some(i) = input.downcast_ref::<batch_write_item::BatchWriteItemInput>() {
            for w in i.request_items().into_iter().flat_map(|m| m.values()).flatten() {
                let item = w.put_request().map(|p| p.item()).or(w.delete_request().map(|d| d.key()));
                seen.push(("BatchWriteItem", leading(item)));
            }
        } else if let Some(i) = input.downcast_ref::<transact_write_items::TransactWriteItemsInput>() {
            for t in i.transact_items() {
                let (op, item) = if let Some(p) = t.put() {
                    ("TransactWriteItems/Put", p.item())
                } else if let Some(u) = t.update() {
                    ("TransactWriteItems/Update", u.key())
                } else if let Some(d) = t.delete() {
                    ("TransactWriteItems/Delete", d.key())
                } else if let Some(c) = t.condition_check() {
                    ("TransactWriteItems/ConditionCheck", c.key())
                } else {
                    continue;
                };
                seen.push((op, leading(Some(item))));
            }
        } else {
            seen.push(("<operation the key log does not know>", String::new()));
        }
        self.0.lock().unwrap().extend(seen.into_iter().map(|(op, key)| (op.to_string(), key)));
        Ok(())
    }
}

impl TestEnv {
    /// The same table and bucket through a client that records every leading key it touches.
    pub async fn with_key_log(self) -> (Self, KeyLog) {
        let log = KeyLog::default();
        (self.intercepted(log.clone()).await, log)
    }
}
