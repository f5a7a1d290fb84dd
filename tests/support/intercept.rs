//! Clients over the same table that log what they send, record the leading keys they touch, or
//! fail on purpose: SDK interceptors.

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{Builder, ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use seatkeeper::store::Store;

use crate::{Item, TestEnv};

impl TestEnv {
    /// The same table and bucket through a client built from the SDK's configuration as
    /// `configure` changes it (interceptors, retries).
    pub async fn through(&self, configure: impl FnOnce(Builder) -> Builder) -> TestEnv {
        let sdk = seatkeeper::app::sdk_config().await;
        let conf = configure(Builder::from(&sdk)).build();
        let mut app = self.app.clone();
        app.store = Store::new(aws_sdk_dynamodb::Client::from_conf(conf), self.table.clone());
        TestEnv { app, table: self.table.clone() }
    }

    /// A fresh table and an app whose client logs every request it sends.
    pub async fn with_request_log() -> (Self, RequestLog) {
        let log = RequestLog::default();
        let env = TestEnv::new().await;
        (env.through(|b| b.interceptor(log.clone())).await, log)
    }

    /// The same table and bucket through a client that records every leading key it touches.
    pub async fn with_key_log(self) -> (Self, KeyLog) {
        let log = KeyLog::default();
        (self.through(|b| b.interceptor(log.clone())).await, log)
    }

    /// The same table through a client whose `operation` requests fail after the first `n`, as a
    /// process dying half-way would leave things, with no SDK retries, logging every request it
    /// sends (the failed ones too).
    pub async fn failing_after(env: &TestEnv, operation: &'static str, n: usize) -> (TestEnv, RequestLog) {
        Self::failing(env, FailAfter { operation, allowed: n, seen: Default::default(), dead: None }).await
    }

    /// [`TestEnv::failing_after`], with every write of any operation failing too once the first
    /// `operation` request past `n` failed: the process is dead, nothing it sends after gets
    /// through.
    pub async fn dying_after(env: &TestEnv, operation: &'static str, n: usize) -> (TestEnv, RequestLog) {
        let dead = Some(Default::default());
        Self::failing(env, FailAfter { operation, allowed: n, seen: Default::default(), dead }).await
    }

    async fn failing(env: &TestEnv, fail_after: FailAfter) -> (TestEnv, RequestLog) {
        let log = RequestLog { fail_after: Some(fail_after), ..RequestLog::default() };
        let failing = env
            .through(|b| {
                b.interceptor(log.clone()).retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            })
            .await;
        (failing, log)
    }
}

/// The DynamoDB operations a client sent, in order (an SDK interceptor: what went over the wire,
/// retries included); and, when told, the failure of every request of one operation after the
/// first so many.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    sent: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    fail_after: Option<FailAfter>,
}

/// Fails every request of `operation` after the first `allowed` of them.
#[derive(Debug, Clone)]
struct FailAfter {
    operation: &'static str,
    allowed: usize,
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Set once the process died (`dying_after`): every write fails from then on.
    dead: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl RequestLog {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

pub const WRITE_OPERATIONS: &[&str] = &["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"];

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(target) = context.request().headers().get("x-amz-target") else { return Ok(()) };
        let op = target.rsplit('.').next().unwrap_or(target);
        self.sent.lock().unwrap().push(op.to_string());
        use std::sync::atomic::Ordering::SeqCst;
        let Some(f) = &self.fail_after else { return Ok(()) };
        if f.dead.as_ref().is_some_and(|d| d.load(SeqCst)) && WRITE_OPERATIONS.contains(&op) {
            return Err("injected failure: the process is dead".into());
        }
        if op == f.operation && f.seen.fetch_add(1, SeqCst) >= f.allowed {
            if let Some(dead) = &f.dead {
                dead.store(true, SeqCst);
            }
            return Err("injected failure: the process died here".into());
        }
        Ok(())
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

fn leading(item: Option<&Item>) -> String {
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

impl Intercept for KeyLog {
    fn name(&self) -> &'static str {
        "KeyLog"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
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

/// Faults DynamoDB Local never produces on its own, injected into what a client sends or is
/// answered: for the first `times` `BatchGetItem` answers, half the items found (at least one) are
/// taken out and their keys handed back as unprocessed (as a throttled table answers); for the first `races`
/// transactions, a condition on an item that is not there is added, so DynamoDB Local cancels
/// the transaction with `ConditionalCheckFailed` (as a concurrent writer would make it).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    unprocessed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    races: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Faults {
    pub fn new(unprocessed: usize, races: usize) -> Self {
        Faults { unprocessed: std::sync::Arc::new(unprocessed.into()), races: std::sync::Arc::new(races.into()) }
    }
}

/// Takes one from `left` when any is left.
fn take_one(left: &std::sync::atomic::AtomicUsize) -> bool {
    use std::sync::atomic::Ordering::SeqCst;
    left.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok()
}

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "Faults"
    }

    fn modify_before_serialization(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
        use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};
        let Some(input) = context.input_mut().downcast_mut::<TransactWriteItemsInput>() else { return Ok(()) };
        let Some(items) = input.transact_items.as_mut() else { return Ok(()) };
        let Some(table) = items.iter().find_map(|i| i.put().map(|p| p.table_name().to_string())) else { return Ok(()) };
        if !take_one(&self.races) {
            return Ok(());
        }
        let check = ConditionCheck::builder()
            .table_name(table)
            .key("PK", AttributeValue::S("FAULT#race".into()))
            .key("SK", AttributeValue::S("FAULT#race".into()))
            .condition_expression("attribute_exists(PK)")
            .build()?;
        items.push(TransactWriteItem::builder().condition_check(check).build());
        Ok(())
    }

    fn modify_before_completion(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let Some(Ok(output)) = context.output_or_error_mut() else { return Ok(()) };
        let Some(out) = output.downcast_mut::<BatchGetItemOutput>() else { return Ok(()) };
        let Some(responses) = out.responses.as_mut() else { return Ok(()) };
        let Some((table, found)) = responses.iter_mut().find(|(_, found)| !found.is_empty()) else { return Ok(()) };
        if !take_one(&self.unprocessed) {
            return Ok(());
        }
        let held_back: Vec<Item> = found.split_off(found.len() / 2);
        let keys = held_back
            .iter()
            .map(|item| {
                item.iter().filter(|(k, _)| *k == "PK" || *k == "SK").map(|(k, v)| (k.clone(), v.clone())).collect()
            })
            .collect();
        let unprocessed = KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build()?;
        out.unprocessed_keys = Some(std::collections::HashMap::from([(table.clone(), unprocessed)]));
        Ok(())
    }
}
