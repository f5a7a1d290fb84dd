//! Counts DynamoDB requests and the capacity they consume, on the wire: every request is sent
//! with `ReturnConsumedCapacity = TOTAL` and every answer's `ConsumedCapacity` is added up by
//! operation. Nothing in the service changes for it.

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
        cfg.interceptor_state().store_put(Operation(op));
        let Some(bytes) = request.body().bytes() else { return Ok(()) };
        let mut body: Value = serde_json::from_slice(bytes)?;
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
        let units = context.response().and_then(|r| r.body().bytes()).map(capacity).unwrap_or(0.0);
        let mut usage = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *usage.requests.entry(op.clone()).or_default() += 1;
        *usage.units.entry(op).or_default() += units;
        Ok(())
    }
}
