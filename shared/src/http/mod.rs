//! The HTTP adapter: API Gateway event in, API Gateway response out. Parses, finds the route,
//! applies idempotency to commands, calls the handler, and maps every error to its shape (docs/api.md#errors).

pub mod request;
pub mod routes;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use chrono::Duration;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::HeaderMap;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tracing::Instrument;

pub use request::ApiRequest;
pub use routes::{Op, Params, Route, ROUTES};

use crate::command::{self, Decision, RACED};
use crate::domain::auth::Principal;
use crate::domain::DomainError;
use crate::store::idempotency::IdempotencyRecord;
use crate::store::{Answer, Error, Race, StoreError};
use crate::App;

/// The one member of a stored answer kept by reference ([`Ctx::answer_by_reference`]).
const BY_REFERENCE: &str = "$answer_by_reference";

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A handler's answer: JSON, or a file to download.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub replayed: bool,
    pub file: Option<File>,
    /// Where the work an answer `202` names can be read (`Location`).
    pub location: Option<String>,
}

/// A download: its media type, file name and bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub content_type: &'static str,
    pub filename: String,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply { status: 200, body, replayed: false, file: None, location: None }
    }

    pub fn created(body: Value) -> Self {
        Reply { status: 201, body, replayed: false, file: None, location: None }
    }

    pub fn file(content_type: &'static str, filename: String, bytes: Vec<u8>) -> Self {
        Reply {
            status: 200,
            body: Value::Null,
            replayed: false,
            file: Some(File { content_type, filename, bytes }),
            location: None,
        }
    }

    /// The stored answer of an earlier command with the same key.
    pub fn replayed(record: &IdempotencyRecord) -> Result<Self, Error> {
        let body: Value = serde_json::from_str(&record.body).map_err(|e| StoreError::Other(e.to_string()))?;
        let location = body["location"].as_str().map(str::to_string).filter(|_| record.status == 202);
        Ok(Reply { status: record.status, body, replayed: true, file: None, location })
    }

    /// Work accepted and going on in the background, readable at `location`.
    pub fn accepted(mut body: Value, location: String) -> Self {
        body["location"] = json!(location);
        Reply { status: 202, body, replayed: false, file: None, location: Some(location) }
    }

    pub fn page<T>(page: crate::store::Page<T>, view: impl Fn(&T) -> Value) -> Self {
        Reply::ok(json!({ "items": page.items.iter().map(view).collect::<Vec<_>>(), "next_cursor": page.next_cursor }))
    }
}

/// The caller's key for a command, and what it must match.
#[derive(Debug, Clone)]
struct IdempotencyKey {
    key: String,
    fingerprint: String,
}

/// What a handler works with: the app, the request, its path parameters, and the commit that
/// carries the idempotency record along with the command's own writes.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub req: &'a ApiRequest,
    pub params: Params,
    idempotency: Option<IdempotencyKey>,
}

impl<'a> Ctx<'a> {
    pub fn principal(&self) -> Result<&'a Principal, DomainError> {
        self.req.principal()
    }

    pub fn param(&self, name: &str) -> &str {
        self.params.get(name)
    }

    /// This command's `Idempotency-Key` and the request's fingerprint, when it sent one.
    pub fn idempotency_key(&self) -> Option<(&str, &str)> {
        self.idempotency.as_ref().map(|k| (k.key.as_str(), k.fingerprint.as_str()))
    }

    /// Runs a command through the executor ([`command::execute_with`]): `decide` loads what it
    /// needs and decides; its changes are applied in one transaction with this command's
    /// idempotency answer (when it sent a key). A lost race runs `decide` again under the retry
    /// policy, and a race lost every time is a conflict in words ([`RACED`]); a twin that
    /// committed under the same key first answers with that twin's reply. A decision without
    /// changes answers at once and stores nothing.
    pub async fn execute<F, Fut>(&self, decide: F) -> Result<Reply, Error>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Decision<Reply>, Error>>,
    {
        command::conflict_when_raced(command::execute_with(decide, |decided| self.attempt_answered(decided)).await)
    }

    /// Answers `reply` for a command that applied its work itself (a job of many writes): the
    /// answer is stored under the command's `Idempotency-Key`, so a retry replays it (or a twin
    /// that answered first is replayed here).
    pub async fn answer(&self, reply: Reply) -> Result<Reply, Error> {
        let decided = Decision::unchanged(reply);
        if self.idempotency.is_none() {
            return Ok(decided.outcome);
        }
        self.attempt_answered(decided).await
    }

    /// Answers `reply` as [`Ctx::answer`] does, but stores under the key only `reference` (a
    /// small JSON value naming where the answer is kept: a job and its rows), never the whole
    /// answer, which can be larger than one item; a retry makes the answer again from it
    /// ([`crate::handlers::allocations::replay_by_reference`]).
    pub async fn answer_by_reference(&self, reply: Reply, reference: Value) -> Result<Reply, Error> {
        if self.idempotency.is_none() {
            return Ok(reply);
        }
        let stored = Reply { body: json!({ BY_REFERENCE: reference }), ..reply.clone() };
        let answered = self.attempt_answered(Decision::unchanged(stored)).await?;
        Ok(if answered.replayed { answered } else { reply })
    }

    /// Applies `decided` with this command's idempotency answer (when it has a key).
    async fn attempt_answered(&self, decided: Decision<Reply>) -> Result<Reply, Error> {
        let Decision { changes, outcome: reply } = decided;
        let Some(k) = &self.idempotency else {
            self.app.store.apply(&changes, None).await?;
            return Ok(reply);
        };
        let now = self.req.now;
        let record = IdempotencyRecord {
            fingerprint: k.fingerprint.clone(),
            status: reply.status,
            body: reply.body.to_string(),
            expires_at: (now + Duration::hours(IDEMPOTENCY_TTL_HOURS)).timestamp(),
        };
        let answer = Answer::Record { sub: &self.principal()?.sub, key: &k.key, record: &record, now };
        match self.app.store.apply(&changes, Some(answer)).await {
            Ok(()) => Ok(reply),
            // A twin committed first: its answer is this command's too (a mismatch if it was
            // another request); gone again already, this is a race like any other.
            Err(Error::Race(Race::KeyTaken)) => match self.replay().await? {
                Some(replay) => Ok(replay),
                None => Err(Race::Changed(Vec::new()).into()),
            },
            Err(e) => Err(e),
        }
    }

    /// The stored answer of an earlier command with this key, or a mismatch.
    async fn replay(&self) -> Result<Option<Reply>, Error> {
        let Some(k) = &self.idempotency else {
            return Ok(None);
        };
        let sub = &self.principal()?.sub;
        let Some(record) = self.app.store.idempotency_record(sub, &k.key, self.req.now).await? else {
            return Ok(None);
        };
        if record.fingerprint != k.fingerprint {
            return Err(DomainError::IdempotencyMismatch.into());
        }
        let reply = Reply::replayed(&record)?;
        match reply.body.get(BY_REFERENCE) {
            Some(reference) => crate::handlers::allocations::replay_by_reference(self, reference).await.map(Some),
            None => Ok(Some(reply)),
        }
    }
}

/// Runs the handler of one operation.
pub type Dispatch = for<'a, 'b> fn(Op, &'a Ctx<'b>) -> futures::future::BoxFuture<'a, Result<Reply, Error>>;

/// What one Lambda serves: its routes of [`ROUTES`] (by name; `None` for every route, as the
/// local server serves them) and the dispatch to their handlers. Each function's dispatch names
/// only its own handlers, so its binary links only them (`crate::handlers::functions`).
#[derive(Clone, Copy)]
pub struct Function {
    pub name: Option<&'static str>,
    /// The operations `dispatch` runs: those of the function's routes.
    pub ops: &'static [Op],
    pub dispatch: Dispatch,
    /// Builds the function's [`App`] from the environment (with the imports bucket only where
    /// the function uses it).
    pub app: fn() -> futures::future::BoxFuture<'static, Result<App, String>>,
}

/// Handles one API Gateway event with the routes and handlers of `function`.
pub async fn handle(app: &App, function: &Function, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let req = match ApiRequest::from_event(event) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let span = tracing::info_span!("request", request_id = %req.request_id, method = %req.method, path = %req.path);
    async {
        let outcome = run(app, function, &req).await;
        let response = match &outcome {
            Ok(Reply { file: Some(f), .. }) => file_response(f),
            Ok(reply) => with_location(response(reply.status, &reply.body, reply.replayed), reply.location.as_deref()),
            Err(Error::Domain(e)) => error_response(e),
            Err(Error::Race(race)) => {
                tracing::warn!(?race, "lost a race outside the executor");
                error_response_raw(409, "conflict", RACED, json!({}))
            }
            Err(Error::Store(StoreError::Retryable(m) | StoreError::Throttled(m))) => {
                tracing::warn!(error = %m, "store busy");
                error_response_raw(503, "unavailable", "the service is busy; retry shortly", json!({}))
            }
            Err(Error::Store(e)) => {
                tracing::error!(error = %e, "store failure");
                error_response_raw(500, "internal", "something went wrong on our side", json!({}))
            }
        };
        tracing::info!(status = response.status_code, "handled");
        response
    }
    .instrument(span)
    .await
}

async fn run(app: &App, function: &Function, req: &ApiRequest) -> Result<Reply, Error> {
    let (route, params) = match routes::find(&req.method, &req.path, function.name)? {
        Ok(found) => found,
        Err(routes::Miss::NoSuchPath) => return Err(DomainError::NotFound(format!("no route {}", req.path)).into()),
        Err(routes::Miss::MethodNotAllowed) => {
            return Err(DomainError::InvalidRequest {
                message: format!("{} is not allowed on {}", req.method, req.path),
                details: json!({ "method": req.method }),
            }
            .into())
        }
    };
    if route.op != Op::Health {
        req.principal()?;
    }
    refuse_unreadable_body(route.op, req)?;
    let idempotency = match (route.command, req.header("idempotency-key")) {
        (true, Some(key)) => {
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
                return Err(DomainError::invalid(
                    "Idempotency-Key",
                    format!("must be 1 to {MAX_IDEMPOTENCY_KEY} characters"),
                )
                .into());
            }
            let mut h = Sha256::new();
            h.update(req.method.as_bytes());
            h.update([0]);
            h.update(req.path.as_bytes());
            h.update([0]);
            h.update(&req.body);
            Some(IdempotencyKey { key: key.to_string(), fingerprint: format!("{:x}", h.finalize()) })
        }
        _ => None,
    };
    let ctx = Ctx { app, req, params, idempotency };
    if let Some(replay) = ctx.replay().await? {
        return Ok(replay);
    }
    (function.dispatch)(route.op, &ctx).await
}

/// The media types a body is never read as: a form's parts cannot be a JSON object or a CSV
/// file, so a multipart body is refused rather than misread.
const REFUSED_MEDIA_TYPES: &[&str] = &["multipart/form-data"];

/// Refuses a body the operation reads whose `Content-Type` is one it cannot be read as (415,
/// naming the media types the operation takes).
pub fn refuse_unreadable_body(op: Op, req: &ApiRequest) -> Result<(), DomainError> {
    let accepted = op.accepts();
    let Some(content_type) = req.header("content-type") else {
        return Ok(());
    };
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if accepted.is_empty() || !REFUSED_MEDIA_TYPES.iter().any(|t| media_type.eq_ignore_ascii_case(t)) {
        return Ok(());
    }
    let types = match accepted {
        [only] => only.to_string(),
        [first @ .., last] => format!("{} or {last}", first.join(", ")),
        [] => String::new(),
    };
    Err(DomainError::UnsupportedMediaType {
        message: format!("a {} body is not accepted here: send the body as {types}", media_type.to_ascii_lowercase()),
        accepted,
    })
}

fn response(status: u16, body: &Value, replayed: bool) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if replayed {
        headers.insert(HeaderName::from_static("idempotent-replayed"), HeaderValue::from_static("true"));
    }
    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = status as i64;
    r.headers = headers;
    r.body = Some(Body::Text(body.to_string()));
    r
}

fn with_location(mut r: ApiGatewayV2httpResponse, location: Option<&str>) -> ApiGatewayV2httpResponse {
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        r.headers.insert(http::header::LOCATION, v);
    }
    r
}

fn file_response(f: &File) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(f.content_type));
    let disposition = format!("attachment; filename=\"{}\"", f.filename.replace('"', ""));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(http::header::CONTENT_DISPOSITION, v);
    }
    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = 200;
    r.headers = headers;
    match String::from_utf8(f.bytes.clone()) {
        Ok(text) if f.content_type.starts_with("text/") => r.body = Some(Body::Text(text)),
        _ => {
            r.body = Some(Body::Binary(f.bytes.clone()));
            r.is_base64_encoded = true;
        }
    }
    r
}

fn error_response_raw(status: u16, code: &str, message: &str, details: Value) -> ApiGatewayV2httpResponse {
    response(status, &json!({ "error": { "code": code, "message": message, "details": details } }), false)
}

pub fn error_response(e: &DomainError) -> ApiGatewayV2httpResponse {
    error_response_raw(status(e), e.code(), &e.to_string(), e.details())
}

/// The HTTP status of each refusal (docs/api.md#errors); the domain knows only its code.
pub fn status(e: &DomainError) -> u16 {
    match e {
        DomainError::InvalidRequest { .. } => 400,
        DomainError::Unauthenticated(_) => 401,
        DomainError::Forbidden(_) => 403,
        DomainError::NotFound(_) => 404,
        DomainError::Conflict { .. }
        | DomainError::TooFewUnissued { .. }
        | DomainError::InsufficientLicences { .. }
        | DomainError::SeatLimitReached { .. }
        | DomainError::IdempotencyMismatch
        | DomainError::ReviewExpired(_) => 409,
        DomainError::PayloadTooLarge(_) => 413,
        DomainError::UnsupportedMediaType { .. } => 415,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::domain::auth::Role;

    fn request(content_type: Option<&str>) -> ApiRequest {
        let mut headers = HashMap::new();
        if let Some(t) = content_type {
            headers.insert("content-type".to_string(), t.to_string());
        }
        ApiRequest {
            method: "POST".into(),
            path: "/v1/orgs/c/imports".into(),
            query: HashMap::new(),
            headers,
            body: b"--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nemail\r\n--x--\r\n".to_vec(),
            principal: Some(Principal::new("s", "cm@c.example", "c", Role::CompanyManager)),
            now: "2027-01-15T09:00:00Z".parse().unwrap(),
            request_id: "r".into(),
        }
    }

    #[test]
    fn a_multipart_body_is_refused_naming_the_accepted_types() {
        let form = request(Some("Multipart/Form-Data; boundary=x"));
        let e = refuse_unreadable_body(Op::CreateImport, &form).unwrap_err();
        assert_eq!((status(&e), e.code()), (415, "unsupported_media_type"));
        let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
        assert_eq!(e.details(), json!({ "accepted": ["text/csv", "text/plain", "application/octet-stream", xlsx] }));
        assert!(e.to_string().contains(&format!("text/csv, text/plain, application/octet-stream or {xlsx}")), "{e}");
        let e = refuse_unreadable_body(Op::Allocate, &form).unwrap_err();
        assert_eq!(e.details(), json!({ "accepted": ["application/json"] }));
        assert!(e.to_string().contains("multipart/form-data") && e.to_string().ends_with("application/json"), "{e}");
    }

    #[test]
    fn other_bodies_and_bodiless_operations_pass() {
        let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
        for t in [None, Some("text/csv"), Some("application/json; charset=utf-8"), Some("text/plain"), Some(xlsx)] {
            assert_eq!(refuse_unreadable_body(Op::CreateImport, &request(t)), Ok(()), "{t:?}");
            assert_eq!(refuse_unreadable_body(Op::RequestOrder, &request(t)), Ok(()), "{t:?}");
        }
        // An operation that reads no body ignores what its header says.
        assert_eq!(refuse_unreadable_body(Op::ConfirmImport, &request(Some("multipart/form-data"))), Ok(()));
    }
}
