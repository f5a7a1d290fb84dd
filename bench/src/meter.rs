//! Counts DynamoDB requests and the capacity they consume, on the wire: every request is sent
//! with `ReturnConsumedCapacity = TOTAL` and every answer's `ConsumedCapacity` is added up by
//! operation. Nothing in the service changes for it. A `BatchGetItem` key that holds no item is
//! charged as DynamoDB charges it (each key read as a `GetItem`: the minimum read, 0.5 RCU or 1
//! when strongly consistent), which DynamoDB Local leaves out of what it reports (it does charge
//! a `GetItem` of a missing item).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde_json::Value;

#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// Requests by operation.
    pub requests: BTreeMap<String, usize>,
    /// Capacity units by operation.
    pub units: BTreeMap<String, f64>,
    /// The items of every `TransactWriteItems` sent (DynamoDB charges each two write units per
    /// KB; DynamoDB Local reports less for a large transaction).
    pub transact_items: usize,
}

pub const WRITES: &[&str] = &["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"];

impl Usage {
    pub fn total_requests(&self) -> usize {
        self.requests.values().sum()
    }

    pub fn write_requests(&self) -> usize {
        self.requests.iter().filter(|(op, _)| WRITES.contains(&op.as_str())).map(|(_, n)| n).sum()
    }

    pub fn wcu(&self) -> f64 {
        self.units.iter().filter(|(op, _)| WRITES.contains(&op.as_str())).map(|(_, u)| u).sum()
    }

    pub fn rcu(&self) -> f64 {
        self.units.iter().filter(|(op, _)| !WRITES.contains(&op.as_str())).map(|(_, u)| u).sum()
    }

    pub fn ops(&self) -> String {
        self.requests.iter().map(|(op, n)| format!("{op}×{n}")).collect::<Vec<_>>().join(" ")
    }
}

#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Mutex<Usage>>);

impl Meter {
    /// What was counted since the last call.
    pub fn take(&self) -> Usage {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[derive(Debug, Clone)]
struct Operation(String);

impl Storable for Operation {
    type Storer = StoreReplace<Self>;
}

/// A read request's body, kept to charge the keys its answer holds no item for.
#[derive(Debug, Clone)]
struct ReadRequest(Value);

impl Storable for ReadRequest {
    type Storer = StoreReplace<Self>;
}

/// What a read of a key that holds no item costs: the minimum read.
fn minimum_read(consistent: bool) -> f64 {
    if consistent {
        1.0
    } else {
        0.5
    }
}

/// The capacity DynamoDB charges, and DynamoDB Local does not report, for the keys a
/// `BatchGetItem` `request` named that its `answer` (a success) holds no item for and did not
/// leave unprocessed: the keys a table was asked for beyond the items and unprocessed keys it
/// answered.
fn missing_keys_charge(op: &str, request: &Value, answer: &Value) -> f64 {
    let consistent = |r: &Value| r.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
    let count = |v: Option<&Value>| v.and_then(Value::as_array).map_or(0, Vec::len);
    match op {
        "BatchGetItem" => {
            let Some(tables) = request.get("RequestItems").and_then(Value::as_object) else { return 0.0 };
            tables
                .iter()
                .map(|(table, asked)| {
                    let named = count(asked.get("Keys"));
                    let found = count(answer.get("Responses").and_then(|r| r.get(table)));
                    let unprocessed =
                        count(answer.get("UnprocessedKeys").and_then(|u| u.get(table)).and_then(|t| t.get("Keys")));
                    named.saturating_sub(found + unprocessed) as f64 * minimum_read(consistent(asked))
                })
                .sum()
        }
        _ => 0.0,
    }
}

fn capacity(body: &[u8]) -> f64 {
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return 0.0 };
    let units = |c: &Value| c.get("CapacityUnits").and_then(Value::as_f64).unwrap_or(0.0);
    match v.get("ConsumedCapacity") {
        Some(Value::Array(all)) => all.iter().map(units).sum(),
        Some(one) => units(one),
        None => 0.0,
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "Meter"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let op = request.headers().get("x-amz-target").map(|t| t.rsplit('.').next().unwrap_or(t).to_string());
        let Some(op) = op else { return Ok(()) };
        let reads = op == "BatchGetItem";
        let transaction = op == "TransactWriteItems";
        cfg.interceptor_state().store_put(Operation(op));
        let Some(bytes) = request.body().bytes() else { return Ok(()) };
        let mut body: Value = serde_json::from_slice(bytes)?;
        if transaction {
            let items = body.get("TransactItems").and_then(Value::as_array).map_or(0, Vec::len);
            self.0.lock().unwrap_or_else(|e| e.into_inner()).transact_items += items;
        }
        if reads {
            cfg.interceptor_state().store_put(ReadRequest(body.clone()));
        }
        if let Some(obj) = body.as_object_mut() {
            obj.insert("ReturnConsumedCapacity".into(), Value::String("TOTAL".into()));
        }
        let new = serde_json::to_vec(&body)?;
        request.headers_mut().insert("content-length", new.len().to_string());
        *request.body_mut() = SdkBody::from(new);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Operation(op)) = cfg.load::<Operation>().cloned() else { return Ok(()) };
        let answered = context.response().filter(|r| r.status().is_success()).and_then(|r| r.body().bytes());
        let mut units = context.response().and_then(|r| r.body().bytes()).map(capacity).unwrap_or(0.0);
        if let (Some(ReadRequest(request)), Some(body)) = (cfg.load::<ReadRequest>(), answered) {
            let answer: Value = serde_json::from_slice(body)?;
            units += missing_keys_charge(&op, request, &answer);
        }
        let mut usage = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *usage.requests.entry(op.clone()).or_default() += 1;
        *usage.units.entry(op).or_default() += units;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// DynamoDB reads each key of a `BatchGetItem` as a `GetItem`, charging the minimum read for
    /// one that holds no item; DynamoDB Local reports only the items it found (a `GetItem` of a
    /// missing item it charges itself): the meter adds the missing keys, and nothing for items
    /// answered or keys left unprocessed.
    #[test]
    fn a_key_that_holds_no_item_is_charged_as_dynamodb_charges_it() {
        let get = json!({"TableName": "t", "Key": {"PK": {"S": "a"}}});
        assert_eq!(missing_keys_charge("GetItem", &get, &json!({})), 0.0, "reported by DynamoDB Local");

        let keys = |n: usize| (0..n).map(|i| json!({"PK": {"S": format!("k{i}")}})).collect::<Vec<_>>();
        let batch = json!({"RequestItems": {
            "t": {"Keys": keys(5)},
            "u": {"Keys": keys(2), "ConsistentRead": true},
        }});
        let answer = json!({
            "Responses": {"t": [{"PK": {"S": "k0"}}, {"PK": {"S": "k1"}}], "u": []},
            "UnprocessedKeys": {"t": {"Keys": [{"PK": {"S": "k4"}}]}},
        });
        // t: 5 named, 2 found, 1 unprocessed → 2 missing × 0.5; u: 2 missing × 1.0.
        assert_eq!(missing_keys_charge("BatchGetItem", &batch, &answer), 3.0);
        assert_eq!(missing_keys_charge("Query", &get, &json!({})), 0.0);
    }
}
