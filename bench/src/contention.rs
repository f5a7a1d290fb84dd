//! A model of what DynamoDB does and DynamoDB Local does not: a write touching an item that
//! another in-flight transaction holds is refused (`TransactionConflict`), and one item takes at
//! most [`ITEM_WCU_PER_SECOND`] write units a second (past that, `ThrottlingException`). DynamoDB
//! Local runs one request at a time, so without this one company's callers and 128 companies'
//! callers reach the same rate.
//!
//! An interceptor on the bench's client: a write's items are held from before it is signed until
//! its answer is read. A refused write is never sent: the client's connector ([`Refusing`])
//! answers it at once, as DynamoDB answers a conflict at once (sent to DynamoDB Local, the refusal
//! would wait its turn behind every request in its one-at-a-time queue, hundreds of
//! milliseconds under 128 callers); its answer is the error DynamoDB gives, so the service sees
//! the real error and its one retry policy handles it as it would in AWS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde_json::{json, Value};

/// What one item takes in DynamoDB, in write units a second.
pub const ITEM_WCU_PER_SECOND: f64 = 1000.0;

#[derive(Debug, Default)]
struct State {
    /// Items held by in-flight writes, and by how many.
    held: HashMap<String, usize>,
    /// Write units each item took in its current second (since the model's start).
    written: HashMap<String, (u64, f64)>,
    conflicts: usize,
    throttles: usize,
    /// The conflicts by the kind of item met held ([`kind`]).
    met: HashMap<String, usize>,
}

/// The model, shared by the bench's client; [`Contention::take`] reads and resets its counts.
#[derive(Debug, Clone)]
pub struct Contention {
    state: Arc<Mutex<State>>,
    started: Instant,
}

impl Default for Contention {
    fn default() -> Self {
        Contention { state: Arc::default(), started: Instant::now() }
    }
}

/// The refusals counted since the last call: (conflicts, throttles).
impl Contention {
    pub fn take(&self) -> (usize, usize) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let taken = (s.conflicts, s.throttles);
        (s.conflicts, s.throttles) = (0, 0);
        taken
    }

    /// The conflicts since the last call by the kind of item they met held (the lot's part,
    /// the counters, the user...), most first, and resets them.
    pub fn take_met(&self) -> Vec<(String, usize)> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut met: Vec<(String, usize)> = std::mem::take(&mut s.met).into_iter().collect();
        met.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        met
    }
}

/// An item's kind, from its sort key's first word (`LOT`, `COUNTERS`, `USER`, ...).
fn kind(item: &str) -> String {
    let sk = item.rsplit('|').next().unwrap_or("");
    sk.split('#').next().unwrap_or("").to_string()
}

/// The items a write holds (released when its answer is read).
#[derive(Debug, Clone)]
struct Held(Vec<String>);

impl Storable for Held {
    type Storer = StoreReplace<Self>;
}

/// The error a refused write is answered with.
#[derive(Debug, Clone)]
struct Refused(Value);

impl Storable for Refused {
    type Storer = StoreReplace<Self>;
}

/// One item's identity: its table and key, as the request names them.
fn item_id(table: &str, key: Option<&Value>) -> Option<String> {
    let key = key?;
    let part = |k: &str| key.get(k).and_then(|v| v.get("S")).and_then(Value::as_str).unwrap_or("");
    Some(format!("{table}|{}|{}", part("PK"), part("SK")))
}

/// The items a write names, in order, and the write units each costs (a transaction's twice).
fn items_of(op: &str, body: &Value) -> Vec<(String, f64)> {
    let table = |v: &Value| v.get("TableName").and_then(Value::as_str).unwrap_or("").to_string();
    match op {
        "PutItem" => item_id(&table(body), body.get("Item")).map(|i| (i, 1.0)).into_iter().collect(),
        "UpdateItem" | "DeleteItem" => item_id(&table(body), body.get("Key")).map(|i| (i, 1.0)).into_iter().collect(),
        "TransactWriteItems" => body
            .get("TransactItems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let (kind, what) = t.as_object()?.iter().next()?;
                let key = if kind == "Put" { what.get("Item") } else { what.get("Key") };
                let units = if kind == "ConditionCheck" { 0.0 } else { 2.0 };
                item_id(&table(what), key).map(|i| (i, units))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// DynamoDB's answer to a write that met a held item: a cancelled transaction naming which of
/// its items conflicted, or a single write's conflict.
fn conflict(op: &str, items: &[(String, f64)], held: &HashMap<String, usize>) -> Value {
    if op != "TransactWriteItems" {
        return json!({"__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                      "message": "Transaction is ongoing for the item"});
    }
    let reasons: Vec<Value> = items
        .iter()
        .map(|(i, _)| {
            if held.contains_key(i) {
                json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
            } else {
                json!({"Code": "None"})
            }
        })
        .collect();
    json!({"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
           "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
           "CancellationReasons": reasons})
}

impl Contention {
    /// Holds `items` for a write now, or says why DynamoDB would refuse it.
    fn admit(&self, op: &str, items: &[(String, f64)]) -> Result<(), Value> {
        self.admit_at(op, items, self.started.elapsed().as_secs())
    }

    /// [`Contention::admit`] in `second` of the model.
    fn admit_at(&self, op: &str, items: &[(String, f64)], second: u64) -> Result<(), Value> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if items.iter().any(|(i, _)| s.held.contains_key(i)) {
            s.conflicts += 1;
            let met: Vec<String> = items.iter().filter(|(i, _)| s.held.contains_key(i)).map(|(i, _)| kind(i)).collect();
            for k in met {
                *s.met.entry(k).or_default() += 1;
            }
            return Err(conflict(op, items, &s.held));
        }
        let over = items.iter().any(|(i, units)| {
            let (at, used) = s.written.get(i).copied().unwrap_or((second, 0.0));
            at == second && used + units > ITEM_WCU_PER_SECOND
        });
        if over {
            s.throttles += 1;
            return Err(json!({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                              "message": "Throughput exceeds the current capacity for one or more items"}));
        }
        for (i, units) in items {
            *s.held.entry(i.clone()).or_default() += 1;
            let entry = s.written.entry(i.clone()).or_insert((second, 0.0));
            *entry = if entry.0 == second { (second, entry.1 + units) } else { (second, *units) };
        }
        Ok(())
    }

    fn release(&self, items: &[String]) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for i in items {
            if let Some(n) = s.held.get_mut(i) {
                *n -= 1;
                if *n == 0 {
                    s.held.remove(i);
                }
            }
        }
    }
}

impl Intercept for Contention {
    fn name(&self) -> &'static str {
        "Contention"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let Some(op) = request.headers().get("x-amz-target").map(|t| t.rsplit('.').next().unwrap_or(t).to_string())
        else {
            return Ok(());
        };
        let Some(bytes) = request.body().bytes() else { return Ok(()) };
        let items = items_of(&op, &serde_json::from_slice(bytes)?);
        if items.is_empty() {
            return Ok(());
        }
        match self.admit(&op, &items) {
            Ok(()) => {
                cfg.interceptor_state().store_put(Held(items.into_iter().map(|(i, _)| i).collect()));
            }
            Err(answer) => {
                // Never sent: the connector answers a request marked refused itself.
                request.headers_mut().insert(REFUSED, "1");
                cfg.interceptor_state().store_put(Refused(answer));
            }
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Refused(answer)) = cfg.load::<Refused>().cloned() {
            let status = 400u16.try_into().map_err(|e| format!("{e:?}"))?;
            let mut refused = HttpResponse::new(status, SdkBody::from(answer.to_string()));
            refused.headers_mut().insert("content-type", "application/x-amz-json-1.0");
            *context.response_mut() = refused;
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Held(items)) = cfg.load::<Held>().cloned() {
            self.release(&items);
        }
        Ok(())
    }
}

/// The header that marks a request the model refused, for [`Refusing`] to answer.
const REFUSED: &str = "x-seatkeeper-model-refused";

/// The bench client's HTTP client: `inner`, except that a request the model refused is
/// answered at once without being sent (its answer is put in place by the model).
#[derive(Debug)]
pub struct Refusing {
    pub inner: SharedHttpClient,
}

#[derive(Debug)]
struct RefusingConnector {
    inner: SharedHttpConnector,
}

impl HttpClient for Refusing {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(RefusingConnector { inner: self.inner.http_connector(settings, components) })
    }
}

impl HttpConnector for RefusingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if request.headers().get(REFUSED).is_none() {
            return self.inner.call(request);
        }
        let status = 400u16.try_into().expect("a status");
        HttpConnectorFuture::ready(Ok(HttpResponse::new(status, SdkBody::from("{}"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transaction over an item another holds is cancelled naming that item; once released,
    /// it passes; a plain write to a held item meets a conflict of its own.
    #[test]
    fn a_write_over_a_held_item_conflicts_until_it_is_released() {
        let model = Contention::default();
        let tx = |pk: &str| {
            json!({"TransactItems": [
                {"Update": {"TableName": "t", "Key": {"PK": {"S": pk}, "SK": {"S": "COUNTERS"}}}},
                {"Put": {"TableName": "t", "Item": {"PK": {"S": "ORG#c"}, "SK": {"S": format!("USER#{pk}")}}}},
            ]})
        };
        let first = items_of("TransactWriteItems", &tx("ORG#c"));
        assert_eq!(first.len(), 2);
        assert!(model.admit("TransactWriteItems", &first).is_ok());
        let refused = model.admit("TransactWriteItems", &items_of("TransactWriteItems", &tx("ORG#c"))).unwrap_err();
        assert_eq!(refused["CancellationReasons"][0]["Code"], "TransactionConflict");
        assert!(
            model.admit("TransactWriteItems", &items_of("TransactWriteItems", &tx("ORG#d"))).is_ok(),
            "another org"
        );
        let single = json!({"TableName": "t", "Key": {"PK": {"S": "ORG#c"}, "SK": {"S": "COUNTERS"}}});
        let plain = model.admit("UpdateItem", &items_of("UpdateItem", &single)).unwrap_err();
        assert!(plain["__type"].as_str().unwrap().ends_with("TransactionConflictException"));
        model.release(&first.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>());
        assert!(model.admit("UpdateItem", &items_of("UpdateItem", &single)).is_ok());
        assert_eq!(model.take(), (2, 0));
        // Each conflict counted on the kinds of item it met held: both of the transaction's, the
        // plain write's one.
        assert_eq!(model.take_met(), vec![("COUNTERS".to_string(), 2), ("USER".to_string(), 1)]);
        assert!(model.take_met().is_empty());
    }

    /// A request the model refused is answered by the connector, never sent; any other goes on.
    #[tokio::test]
    async fn a_refused_request_is_answered_without_being_sent() {
        #[derive(Debug, Default, Clone)]
        struct Counting(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl HttpConnector for Counting {
            fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                HttpConnectorFuture::ready(Ok(HttpResponse::new(200u16.try_into().unwrap(), SdkBody::empty())))
            }
        }
        let sent = Counting::default();
        let connector = RefusingConnector { inner: SharedHttpConnector::new(sent.clone()) };
        let mut refused = HttpRequest::empty();
        refused.headers_mut().insert(REFUSED, "1");
        assert_eq!(connector.call(refused).await.unwrap().status().as_u16(), 400);
        assert_eq!(sent.0.load(std::sync::atomic::Ordering::SeqCst), 0, "never sent");
        assert_eq!(connector.call(HttpRequest::empty()).await.unwrap().status().as_u16(), 200);
        assert_eq!(sent.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// One item past its write units in a second is throttled; the next second it takes more.
    #[test]
    fn an_item_past_its_units_in_a_second_is_throttled() {
        let model = Contention::default();
        let put = items_of("PutItem", &json!({"TableName": "t", "Item": {"PK": {"S": "a"}, "SK": {"S": "b"}}}));
        let write = |second: u64| {
            let done = model.admit_at("PutItem", &put, second);
            if done.is_ok() {
                model.release(&[put[0].0.clone()]);
            }
            done
        };
        assert!((0..1000).all(|_| write(7).is_ok()), "1,000 units in second 7");
        let refused = write(7).unwrap_err();
        assert!(refused["__type"].as_str().unwrap().ends_with("ThrottlingException"));
        assert!(write(8).is_ok(), "a new second");
        assert_eq!(model.take(), (0, 1));
    }
}
