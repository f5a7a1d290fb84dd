//! The local run of Seatkeeper: an HTTP server on loopback that does what API Gateway does in
//! the cloud — verifies the bearer token (HS256 with `SEATKEEPER_DEV_JWT_SECRET`), builds the
//! HTTP API payload-2.0 event with the claims in the request context and the request time in
//! `timeEpoch` — and hands it to the very handler code the Lambdas run.
//!
//! Local only, never deployed: `X-Seatkeeper-Now: <RFC 3339>` sets the request time, so tests
//! and demos can travel in time.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use seatkeeper::App;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub mod mail;
pub mod schedules;

pub const DEFAULT_SECRET: &str = "seatkeeper-dev-secret";
/// API Gateway refuses payloads over 10 MB; so does the local server.
pub const MAX_BODY: usize = 10 * 1024 * 1024;
pub const NOW_HEADER: &str = "x-seatkeeper-now";
/// Partner files may be up to 100 MB; the dev upload takes them whole.
pub const MAX_DEV_OBJECT: usize = 101 * 1024 * 1024;

/// The claims of a Seatkeeper token (docs/api.md#authentication).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub email: String,
    pub org_id: String,
    pub role: String,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
}

/// Signs a dev token (HS256).
pub fn mint(secret: &str, claims: &Claims) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))
        .expect("HS256 signing cannot fail")
}

/// Verifies a token as the HTTP API's JWT authorizer would: signature, algorithm, expiry. The
/// verified claims come back as the strings API Gateway passes on.
pub fn verify(secret: &str, token: &str) -> Result<HashMap<String, String>, String> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims = ["exp".to_string()].into();
    validation.leeway = 0;
    let data = decode::<HashMap<String, Value>>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation)
        .map_err(|e| format!("the bearer token was refused: {e}"))?;
    Ok(data
        .claims
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, v)
        })
        .collect())
}

pub struct LocalServer {
    pub app: App,
    pub secret: String,
    /// The built console (`console/dist`), served at `/` beside the API; `None`: no console.
    pub console: Option<std::path::PathBuf>,
    /// The local mailer's progress over the table's stream (`None`: no mailer runs), which
    /// `GET /dev/mail?settled=true` waits on.
    pub mail: Option<mail::MailProgress>,
    /// The local mailer, which `POST /dev/ses-events` hands SES's reports to (`None`: no mailer).
    pub mailer: Option<seatkeeper::mail::Mailer>,
}

/// How long `GET /dev/mail?settled=true` waits for the local mailer to catch up before it
/// answers 503 with what it was still waiting for.
pub const MAIL_SETTLE_BUDGET: std::time::Duration = std::time::Duration::from_secs(180);

/// Paths that are the API's (or the local server's own): everything else is the console's.
fn is_api_path(path: &str) -> bool {
    path == "/health"
        || path == "/openapi.json"
        || path.starts_with("/v1/")
        || path == "/v1"
        || path.starts_with("/dev/")
}

/// The router: every request goes to the one fallback that plays API Gateway.
pub fn router(server: Arc<LocalServer>) -> Router {
    Router::new().fallback(gateway).with_state(server)
}

fn plain_error(status: u16, code: &str, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(json!({ "error": { "code": code, "message": message, "details": {} } }).to_string()))
        .expect("static response")
}

/// Paths API Gateway serves without the authorizer.
fn is_public(path: &str) -> bool {
    path == "/health"
}

async fn gateway(State(server): State<Arc<LocalServer>>, request: Request) -> Response {
    if !is_api_path(request.uri().path()) {
        return console(&server, request).await;
    }
    let (parts, body) = request.into_parts();
    let limit = if parts.uri.path().starts_with("/dev/s3/") { MAX_DEV_OBJECT } else { MAX_BODY };
    let body = match to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return plain_error(413, "payload_too_large", "the request body is over the limit"),
    };
    if parts.method == http::Method::GET && parts.uri.path() == "/openapi.json" {
        return Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from(seatkeeper::http::routes::openapi_json().to_string()))
            .expect("static response");
    }
    if let Some(answer) = dev_route(&server, &parts, &body).await {
        return answer;
    }
    let now = match parts.headers.get(NOW_HEADER).map(|v| v.to_str().map(DateTime::parse_from_rfc3339)) {
        None => Utc::now(),
        Some(Ok(Ok(t))) => t.with_timezone(&Utc),
        Some(_) => return plain_error(400, "invalid_request", "X-Seatkeeper-Now: must be an RFC 3339 time"),
    };
    let path = parts.uri.path().to_string();
    let claims = match parts.headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(h) => match h.strip_prefix("Bearer ").map(|t| verify(&server.secret, t.trim())) {
            Some(Ok(c)) => Some(c),
            Some(Err(e)) if !is_public(&path) => return plain_error(401, "unauthenticated", &e),
            _ if !is_public(&path) => {
                return plain_error(401, "unauthenticated", "the Authorization header must be 'Bearer <token>'")
            }
            _ => None,
        },
        None if is_public(&path) => None,
        None => return plain_error(401, "unauthenticated", "a bearer token is required"),
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_string(), v.to_string())))
        .collect();
    let target = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let event = match api_event(parts.method.as_str(), target, &headers, &body, claims, now) {
        Ok(e) => e,
        Err(e) => return plain_error(400, "invalid_request", &e),
    };
    let response = seatkeeper::http::handle(&server.app, &seatkeeper::handlers::functions::ALL, event).await;
    if response.status_code == 202 {
        run_background_job(&server.app, &response, now);
    }
    into_response(response)
}

/// The local server's own `/dev/…` routes (never deployed); `None` for any other request.
async fn dev_route(server: &LocalServer, parts: &http::request::Parts, body: &[u8]) -> Option<Response> {
    let (path, query) = (parts.uri.path(), parts.uri.query().unwrap_or(""));
    if parts.method == http::Method::GET && path == "/dev/mail" {
        return Some(dev_mail(server, query).await);
    }
    if parts.method != http::Method::POST {
        return None;
    }
    if let Some(rest) = path.strip_prefix("/dev/s3/imports/") {
        return Some(dev_s3_import(server, rest, &parts.headers, body.to_vec()).await);
    }
    if let Some(name) = path.strip_prefix("/dev/sweeps/") {
        return Some(dev_sweep(server, name, query).await);
    }
    if path == "/dev/ses-events" {
        return Some(dev_ses_event(server, body).await);
    }
    (path == "/dev/token").then(|| dev_token(server, body))
}

/// A commit (or an erasure) answered `202` goes on in the background: in the cloud the table's
/// stream hands the record to the job runner; here it is run in a task of its own, as the
/// runner would run it.
fn run_background_job(app: &App, response: &aws_lambda_events::apigw::ApiGatewayV2httpResponse, now: DateTime<Utc>) {
    let Some(aws_lambda_events::encodings::Body::Text(text)) = &response.body else { return };
    let Ok(body) = serde_json::from_str::<Value>(text) else { return };
    if let (Some(org_id), Some(pseudonym)) = (body["org_id"].as_str(), body["pseudonym"].as_str()) {
        let (app, org_id, pseudonym) = (app.clone(), org_id.to_string(), pseudonym.to_string());
        tokio::spawn(async move {
            match app.store.finish_erasure(&org_id, &pseudonym, now).await {
                Ok(_) => tracing::info!(%pseudonym, "erasure finished"),
                Err(e) => tracing::error!(%pseudonym, error = %e, "erasure stopped"),
            }
        });
        return;
    }
    let id = body["import_id"].as_str().or(body["allocation_id"].as_str()).map(str::to_string);
    let (Some(org_id), Some(id)) = (body["org_id"].as_str().map(str::to_string), id) else { return };
    let app = app.clone();
    tokio::spawn(async move {
        match seatkeeper::imports::jobs::run(&app.store, &org_id, &id, now).await {
            Ok(done) => tracing::info!(%id, status = ?done.map(|d| d.status), "background commit finished"),
            Err(e) => tracing::error!(%id, error = %e, "background commit stopped"),
        }
    });
}

/// A partner file committing in the background: in the cloud the job runner commits it in slices
/// and the table's stream brings it back to the import function for its result file; here both
/// run in a task of their own, as the two functions would.
fn finish_partner_file(app: &App, record: seatkeeper::domain::import::Batch) {
    let app = app.clone();
    tokio::spawn(async move {
        let id = record.import_id.clone();
        let done = seatkeeper::imports::jobs::run(&app.store, &record.org_id, &id, Utc::now()).await;
        let written = match done {
            Ok(Some(done)) => seatkeeper::imports::s3::write_result_of(&app, &done).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => tracing::info!(%id, "partner file committed in the background"),
            Err(e) => tracing::error!(%id, error = %e, "partner file's background commit stopped"),
        }
    });
}

/// The HTTP API payload-2.0 event API Gateway would send for a request: `target` is the path
/// with its query string, `claims` what the JWT authorizer verified, `now` the request time.
pub fn api_event(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    claims: Option<HashMap<String, String>>,
    now: DateTime<Utc>,
) -> Result<ApiGatewayV2httpRequest, String> {
    let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let mut header_map = serde_json::Map::new();
    for (name, value) in headers {
        let entry = header_map.entry(name.to_ascii_lowercase()).or_insert(Value::String(String::new()));
        if let Value::String(existing) = entry {
            if !existing.is_empty() {
                existing.push(',');
            }
            existing.push_str(value);
        }
    }
    let mut query = serde_json::Map::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode =
            |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
        query.insert(decode(k), Value::String(decode(v)));
    }
    let (body, is_base64) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_string()), false),
        Err(_) => {
            use base64::Engine;
            (Value::String(base64::engine::general_purpose::STANDARD.encode(body)), true)
        }
    };
    let user_agent =
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("user-agent")).map(|(_, v)| v.as_str()).unwrap_or("");
    let mut context = json!({
        "accountId": "local",
        "apiId": "local",
        "domainName": "127.0.0.1",
        "domainPrefix": "local",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": user_agent,
        },
        "requestId": uuid::Uuid::new_v4().to_string(),
        "routeKey": "$default",
        "stage": "$default",
        "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
        "timeEpoch": now.timestamp_millis(),
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({ "jwt": { "claims": claims, "scopes": null } });
    }
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": header_map,
        "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) },
        "requestContext": context,
        "body": body,
        "isBase64Encoded": is_base64,
    });
    serde_json::from_value(event).map_err(|e| format!("could not build the gateway event: {e}"))
}

/// The console's files, and its `index.html` for any other path of its own (a single-page app's
/// routes); `/config.json` tells the console it runs against the local server.
async fn console(server: &LocalServer, request: Request) -> Response {
    if request.uri().path() == "/config.json" {
        return json_response(200, &json!({ "mode": "local" }));
    }
    let Some(dir) = &server.console else {
        return plain_error(404, "not_found", "this local server serves no console (build it with `make dev`)");
    };
    use tower::ServiceExt;
    let files =
        tower_http::services::ServeDir::new(dir).fallback(tower_http::services::ServeFile::new(dir.join("index.html")));
    match files.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(e) => plain_error(500, "internal", &e.to_string()),
    }
}

fn json_response(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::from(body.to_string()))
        .expect("static response")
}

/// `GET /dev/mail` (local only): `{"items": [...]}`, every e-mail the local SES (moto) sent,
/// oldest first — `to`, `subject`, `text`, `html`, `attachments` (`name`, `size`,
/// `content_type`), the `notice_id` and `kind` it came from; `?to=` and `?notice_id=` filter,
/// `?bodies=true` adds each attachment's bytes (base64). `?settled=true` first waits until the
/// mailer has mailed every notice written before the request (up to [`MAIL_SETTLE_BUDGET`]), so
/// what it lists is all there will be of them.
async fn dev_mail(server: &LocalServer, query: &str) -> Response {
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL_SESV2") else {
        return plain_error(404, "not_found", "no local SES: AWS_ENDPOINT_URL_SESV2 is not set");
    };
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
            .map(|v| percent_encoding::percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().to_lowercase())
    };
    if param("settled").as_deref() == Some("true") {
        let Some(progress) = &server.mail else {
            return plain_error(404, "not_found", "no local mailer runs (MAIL_FROM is not set)");
        };
        if let Err(e) = progress.settled(MAIL_SETTLE_BUDGET).await {
            return plain_error(503, "mail_unsettled", &e);
        }
    }
    let (to, notice_id) = (param("to"), param("notice_id"));
    match mail::sent_mail(&endpoint, param("bodies").as_deref() == Some("true")).await {
        Ok(all) => {
            let items: Vec<Value> = all
                .into_iter()
                .filter(|m| to.as_ref().is_none_or(|to| m["to"].as_array().is_some_and(|a| a.iter().any(|t| t == to))))
                .filter(|m| {
                    notice_id
                        .as_ref()
                        .is_none_or(|id| m["notice_id"].as_str().map(str::to_lowercase).as_ref() == Some(id))
                })
                .collect();
            json_response(200, &json!({ "items": items }))
        }
        Err(e) => plain_error(502, "ses_unavailable", &format!("reading the local SES's sent mail: {e}")),
    }
}

/// `POST /dev/ses-events` (local only): an SES bounce or complaint event as EventBridge delivers
/// it from the configuration set's event destination (`source` `aws.ses`, AWS's documented
/// sample shape; moto emits none), handed to the mailer's entry as the rule on the default bus
/// would hand it; answers what the mailer did (`suppressed`, `replayed`, `ignored`), or 400 with
/// its refusal.
async fn dev_ses_event(server: &LocalServer, body: &[u8]) -> Response {
    let Some(mailer) = &server.mailer else {
        return plain_error(404, "not_found", "no local mailer runs (MAIL_FROM is not set)");
    };
    let event: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return plain_error(400, "invalid_request", &format!("body: not a JSON event: {e}")),
    };
    if !seatkeeper::mail::feedback::is_ses_event(&event) {
        return plain_error(400, "invalid_request", "source: an SES event's source is \"aws.ses\"");
    }
    match seatkeeper::mail::lambda::handle(mailer, &event, Utc::now()).await {
        Ok(report) => json_response(200, &report),
        Err(f) if f.kind == "Refused" => plain_error(400, "invalid_request", &f.message),
        Err(f) => plain_error(500, "internal", &f.message),
    }
}

/// `POST /dev/token` (local only): `{"role", "org_id", "email"?}` → `{"token", "expires_at"}`, a
/// token signed as `make token` signs it, for the console's local sign-in page.
fn dev_token(server: &LocalServer, body: &[u8]) -> Response {
    #[derive(Deserialize)]
    struct Ask {
        role: String,
        org_id: String,
        #[serde(default)]
        email: Option<String>,
    }
    let ask: Ask = match serde_json::from_slice(body) {
        Ok(a) => a,
        Err(e) => return plain_error(400, "invalid_request", &format!("body: {e}")),
    };
    if seatkeeper::domain::auth::Role::parse(&ask.role).is_none() {
        return plain_error(
            400,
            "invalid_request",
            "role: must be vendor_admin, partner_manager, company_manager, learner or platform",
        );
    }
    if ask.org_id.trim().is_empty() {
        return plain_error(400, "invalid_request", "org_id: is required");
    }
    let email = ask
        .email
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| format!("{}@{}.example", ask.role, ask.org_id));
    let now = Utc::now().timestamp();
    let exp = now + 12 * 3600;
    let claims = Claims { sub: email.clone(), email, org_id: ask.org_id, role: ask.role, exp, iat: now };
    let expires_at = DateTime::<Utc>::from_timestamp(exp, 0).unwrap_or_default().to_rfc3339();
    json_response(200, &json!({ "token": mint(&server.secret, &claims), "expires_at": expires_at }))
}

fn into_response(r: ApiGatewayV2httpResponse) -> Response {
    let mut builder = Response::builder().status(r.status_code as u16);
    for (name, value) in &r.headers {
        builder = builder.header(name, value);
    }
    let body = match r.body {
        Some(LambdaBody::Text(t)) => Body::from(t),
        Some(LambdaBody::Binary(b)) => Body::from(b),
        _ => Body::empty(),
    };
    builder.body(body).unwrap_or_else(|_| plain_error(500, "internal", "bad response"))
}

/// The DynamoDB client for the local run: the SDK's own environment settings
/// (`AWS_ENDPOINT_URL_DYNAMODB`, region, credentials).
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let config = seatkeeper::app::sdk_config().await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// `POST /dev/s3/imports/{org_id}/{name}` (local only): stores the body in the imports bucket
/// under `imports/{org_id}/{name}.csv` — `.xlsx` for an Excel workbook (named so, sent as its
/// media type, or starting as a ZIP archive does) — with the `x-amz-meta-*` headers as object
/// metadata, then hands the import function the S3 `ObjectCreated` event the cloud would send.
async fn dev_s3_import(server: &LocalServer, rest: &str, headers: &http::HeaderMap, body: Vec<u8>) -> Response {
    let Some(imports) = server.app.imports.clone() else {
        return plain_error(400, "invalid_request", "the local server has no imports bucket (BUCKET_NAME)");
    };
    let Some((org_id, name)) = rest.split_once('/').filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
    else {
        return plain_error(404, "not_found", "use /dev/s3/imports/{org_id}/{name}");
    };
    use seatkeeper::domain::import::{XLSX_MEDIA_TYPE, ZIP_SIGNATURE};
    use seatkeeper::files::is_xlsx_media_type;
    let lower = name.to_ascii_lowercase();
    let workbook = lower.ends_with(".xlsx")
        || headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(is_xlsx_media_type)
        || body.starts_with(ZIP_SIGNATURE);
    let (extension, content_type) = if workbook { ("xlsx", XLSX_MEDIA_TYPE) } else { ("csv", "text/csv") };
    let name = [".csv", ".xlsx"].iter().find(|e| lower.ends_with(*e)).map_or(name, |e| &name[..name.len() - e.len()]);
    let decoded = percent_encoding::percent_decode_str(name).decode_utf8_lossy().into_owned();
    let key = format!("imports/{org_id}/{decoded}.{extension}");
    let mut put =
        imports.client.put_object().bucket(&imports.bucket).key(&key).content_type(content_type).body(body.into());
    for (header, value) in headers {
        if let (Some(meta), Ok(v)) = (header.as_str().strip_prefix("x-amz-meta-"), value.to_str()) {
            put = put.metadata(meta, v);
        }
    }
    let stored = match put.send().await {
        Ok(out) => out,
        Err(e) => {
            return plain_error(502, "s3_unavailable", &format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)))
        }
    };
    let event = s3_event(&imports.bucket, &key, stored.e_tag(), stored.version_id(), Utc::now());
    match seatkeeper::imports::s3::handle_s3_event(&server.app, event).await {
        Ok(records) => {
            for record in records.iter().filter(|r| r.background) {
                finish_partner_file(&server.app, record.clone());
            }
            let body = records.first().map(|r| r.view()).unwrap_or(Value::Null);
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .expect("static response")
        }
        Err(e) => plain_error(500, "internal", &e.to_string()),
    }
}

/// The S3 `ObjectCreated:Put` event for one object, its key URL-encoded as S3 sends it.
pub fn s3_event(
    bucket: &str,
    key: &str,
    etag: Option<&str>,
    version: Option<&str>,
    at: DateTime<Utc>,
) -> aws_lambda_events::s3::S3Event {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    let encoded = percent_encoding::utf8_percent_encode(key, KEEP).to_string().replace("%20", "+");
    let event = json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": at.to_rfc3339(),
            "eventName": "ObjectCreated:Put",
            "userIdentity": { "principalId": "local" },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "local",
                "bucket": { "name": bucket, "ownerIdentity": { "principalId": "local" }, "arn": format!("arn:aws:s3:::{bucket}") },
                "object": { "key": encoded, "size": 0, "eTag": etag.unwrap_or("").trim_matches('"'), "versionId": version, "sequencer": "0" }
            }
        }]
    });
    serde_json::from_value(event).expect("a well-formed S3 event")
}

/// The imports bucket, created if missing (local runs only).
pub async fn ensure_bucket(imports: &seatkeeper::app::ImportsBucket) -> Result<(), String> {
    if imports.client.head_bucket().bucket(&imports.bucket).send().await.is_ok() {
        return Ok(());
    }
    imports
        .client
        .create_bucket()
        .bucket(&imports.bucket)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)))
}

/// Runs the template's schedule of `sweep` at `at`: the payload Scheduler would send, handed to
/// the entry of the function the template wires it to, exactly as Lambda would.
pub async fn run_schedule(app: &App, sweep: &str, at: DateTime<Utc>) -> Result<Option<Value>, String> {
    let Some(schedule) = schedules::compiled().into_iter().find(|s| s.sweep().as_deref() == Some(sweep)) else {
        return Ok(None);
    };
    invoke_schedule(app, &schedule, at).await.map(Some)
}

async fn invoke_schedule(app: &App, schedule: &schedules::Schedule, at: DateTime<Utc>) -> Result<Value, String> {
    let entry = seatkeeper::lambda::entries::named(&schedule.function)
        .ok_or_else(|| format!("no function {:?} for a schedule", schedule.function))?;
    let payload = schedule.payload(at)?;
    seatkeeper::lambda::invoke(app, entry, payload).await.map_err(|e| e.to_string())
}

/// `POST /dev/sweeps/{name}?now=<RFC 3339>` (local only): runs a sweep as its schedule would at
/// that instant (default: now). `/dev/sweeps/expire?org=<org_id>` sweeps that org alone, so
/// tests sharing a table (the console's, side by side) never expire each other's lots.
async fn dev_sweep(server: &LocalServer, name: &str, query: &str) -> Response {
    let now = match query.split('&').find_map(|p| p.strip_prefix("now=")) {
        None => Utc::now(),
        Some(raw) => {
            let raw = percent_encoding::percent_decode_str(raw).decode_utf8_lossy().replace(' ', "+");
            match DateTime::parse_from_rfc3339(&raw) {
                Ok(t) => t.with_timezone(&Utc),
                Err(_) => return plain_error(400, "invalid_request", "now: must be an RFC 3339 time"),
            }
        }
    };
    if let Some(org) = query.split('&').find_map(|p| p.strip_prefix("org=")) {
        if name != "expire" {
            return plain_error(400, "invalid_request", "org: only the expire sweep runs for one org");
        }
        let org = percent_encoding::percent_decode_str(org).decode_utf8_lossy();
        let swept = seatkeeper::sweeps::expire::expire_orgs(&server.app, now, Some(&org)).await;
        return match seatkeeper::sweeps::report(swept) {
            Ok(report) => json_response(200, &report),
            Err(e) => plain_error(500, "internal", &e.to_string()),
        };
    }
    match run_schedule(&server.app, name, now).await {
        Ok(Some(report)) => Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from(report.to_string()))
            .expect("static response"),
        Ok(None) => plain_error(404, "not_found", &format!("no sweep named {name:?}")),
        Err(e) => plain_error(500, "internal", &e),
    }
}

/// The local stand-in for EventBridge Scheduler: at the top of every hour on the wall clock (and
/// once at start, for that hour), each of the template's schedules that fires then, with the
/// payload Scheduler would send.
pub async fn drive_schedules(app: App) {
    let schedules = schedules::compiled();
    loop {
        let hour = Utc::now().timestamp() / 3600 * 3600;
        let at = DateTime::<Utc>::from_timestamp(hour, 0).unwrap_or_default();
        for schedule in &schedules {
            match schedule.fires_at(at) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "schedule skipped");
                    continue;
                }
            }
            match invoke_schedule(&app, schedule, at).await {
                Ok(report) => tracing::info!(function = %schedule.function, %at, %report, "scheduled sweep"),
                Err(e) => tracing::error!(function = %schedule.function, %at, error = %e, "scheduled sweep failed"),
            }
        }
        let wait = (hour + 3600 - Utc::now().timestamp()).max(1) as u64;
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    }
}
