//! An API Gateway HTTP API (payload 2.0) event, read once into what handlers need.

use std::collections::HashMap;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::de::DeserializeOwned;

use crate::domain::auth::{Principal, Role};
use crate::domain::DomainError;
use crate::store::PageRequest;

/// The largest JSON body a command accepts.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// The verified caller, when the authorizer put claims in the request context.
    pub principal: Option<Principal>,
    /// The request time from the request context: the handler's "now".
    pub now: DateTime<Utc>,
    pub request_id: String,
}

impl ApiRequest {
    pub fn from_event(event: ApiGatewayV2httpRequest) -> Result<Self, DomainError> {
        let ctx = &event.request_context;
        let method = ctx.http.method.as_str().to_string();
        let path = event.raw_path.clone().or_else(|| ctx.http.path.clone()).unwrap_or_else(|| "/".into());
        let now = DateTime::<Utc>::from_timestamp_millis(ctx.time_epoch)
            .filter(|_| ctx.time_epoch > 0)
            .ok_or_else(|| DomainError::invalid("requestContext.timeEpoch", "the request time is missing"))?;
        let principal =
            ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).and_then(|jwt| principal_from_claims(&jwt.claims));
        let headers = event
            .headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_ascii_lowercase(), v.to_string())))
            .collect();
        let query = event.query_string_parameters.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let body = match event.body {
            None => Vec::new(),
            Some(b) if event.is_base64_encoded => base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|_| DomainError::invalid("body", "is not valid base64"))?,
            Some(b) => b.into_bytes(),
        };
        Ok(ApiRequest {
            method,
            path,
            query,
            headers,
            body,
            principal,
            now,
            request_id: ctx.request_id.clone().unwrap_or_default(),
        })
    }

    pub fn principal(&self) -> Result<&Principal, DomainError> {
        self.principal
            .as_ref()
            .ok_or_else(|| DomainError::Unauthenticated("a bearer token with sub, org_id and role is required".into()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The body as JSON of type `T`; a refusal names the field at fault.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, DomainError> {
        if self.body.len() > MAX_JSON_BODY {
            return Err(DomainError::PayloadTooLarge(format!(
                "the body is {} bytes; at most {MAX_JSON_BODY} are accepted",
                self.body.len()
            )));
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(DomainError::invalid("body", "a JSON object is required"));
        }
        let de = &mut serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "body".to_string() } else { path };
            let inner = e.into_inner();
            let message = inner.to_string();
            // serde_json appends "at line L column C": keep the sentence short and plain.
            let message = message.split(" at line ").next().unwrap_or(&message).to_string();
            DomainError::invalid(&field, message)
        })
    }

    /// `?limit=` (1..=500, default 50) and `?cursor=`.
    pub fn page(&self) -> Result<PageRequest, DomainError> {
        let limit = match self.query("limit") {
            None => 50,
            Some(l) => l
                .parse::<i32>()
                .ok()
                .filter(|l| (1..=500).contains(l))
                .ok_or_else(|| DomainError::invalid("limit", "must be a whole number from 1 to 500"))?,
        };
        Ok(PageRequest { limit, cursor: self.query("cursor").map(str::to_string) })
    }

    /// A date (`YYYY-MM-DD`, the start of that day, or its end with `end_of_day`) or an
    /// RFC 3339 instant from the query string.
    pub fn instant(&self, name: &str, end_of_day: bool) -> Result<Option<DateTime<Utc>>, DomainError> {
        let Some(v) = self.query(name) else {
            return Ok(None);
        };
        if let Ok(t) = DateTime::parse_from_rfc3339(v) {
            return Ok(Some(t.with_timezone(&Utc)));
        }
        let day = NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map_err(|_| DomainError::invalid(name, "must be a date (YYYY-MM-DD) or an RFC 3339 time"))?;
        let time =
            if end_of_day { NaiveTime::from_hms_milli_opt(23, 59, 59, 999) } else { NaiveTime::from_hms_opt(0, 0, 0) };
        Ok(Some(day.and_time(time.unwrap_or_default()).and_utc()))
    }
}

/// The claims API Gateway's JWT authorizer passes on (all strings): `sub`, `email`, `org_id`,
/// `role`. Without `sub`, `org_id` and a known `role` there is no principal.
pub fn principal_from_claims(claims: &HashMap<String, String>) -> Option<Principal> {
    let sub = claims.get("sub").filter(|s| !s.is_empty())?;
    let org_id = claims.get("org_id").filter(|s| !s.is_empty())?;
    let role = Role::parse(claims.get("role")?)?;
    let email = claims.get("email").map(String::as_str).unwrap_or("");
    Some(Principal::new(sub, email, org_id, role))
}
