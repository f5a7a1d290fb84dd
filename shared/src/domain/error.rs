use serde_json::{json, Value};

/// Every way a command can be refused. Each maps to one stable API code (docs/api.md#errors).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    #[error("{message}")]
    InvalidRequest { message: String, details: Value },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Refused in the state things are in: `reason` names which refusal it is (stable, for
    /// clients that word it themselves), `details` its figures.
    #[error("{message}")]
    Conflict { reason: &'static str, message: String, details: Value },
    /// A reduction order that removes more seats than the company's lots have unissued: a
    /// `conflict` naming both numbers.
    #[error("{message}")]
    TooFewUnissued { message: String, reduce: u64, unissued: u64 },
    #[error("{message}")]
    InsufficientLicences { message: String, needed: u64, available: u64 },
    #[error("{message}")]
    SeatLimitReached { message: String, limit: u64, used: u64 },
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A body of a media type the operation does not read (multipart/form-data); `accepted`
    /// names those it does.
    #[error("{message}")]
    UnsupportedMediaType { message: String, accepted: &'static [&'static str] },
    #[error("this Idempotency-Key was used before with a different request")]
    IdempotencyMismatch,
    /// A review (or a job's list) kept longer than its rows are: it cannot be confirmed.
    #[error("{0}")]
    ReviewExpired(String),
}

impl DomainError {
    /// A 400 naming the field that is wrong.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        DomainError::InvalidRequest {
            message: format!("{field}: {}", message.into()),
            details: json!({ "field": field }),
        }
    }

    /// [`DomainError::invalid`] with the kind of problem named (`details.problem`, stable, for
    /// clients that word it themselves) and its figures (`extra`, an object).
    pub fn invalid_as(field: &str, problem: &'static str, message: impl Into<String>, extra: Value) -> Self {
        let mut details = json!({ "field": field, "problem": problem });
        if let (Some(d), Value::Object(more)) = (details.as_object_mut(), extra) {
            d.extend(more);
        }
        DomainError::InvalidRequest { message: format!("{field}: {}", message.into()), details }
    }

    /// A `conflict` named by `reason`.
    pub fn conflict(reason: &'static str, message: impl Into<String>) -> Self {
        Self::conflict_with(reason, message, json!({}))
    }

    /// A `conflict` named by `reason`, with its figures (`details`, an object).
    pub fn conflict_with(reason: &'static str, message: impl Into<String>, details: Value) -> Self {
        DomainError::Conflict { reason, message: message.into(), details }
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        DomainError::NotFound(format!("{what} {id:?} was not found"))
    }

    pub fn code(&self) -> &'static str {
        match self {
            DomainError::InvalidRequest { .. } => "invalid_request",
            DomainError::Unauthenticated(_) => "unauthenticated",
            DomainError::Forbidden(_) => "forbidden",
            DomainError::NotFound(_) => "not_found",
            DomainError::Conflict { .. } | DomainError::TooFewUnissued { .. } => "conflict",
            DomainError::InsufficientLicences { .. } => "insufficient_licences",
            DomainError::SeatLimitReached { .. } => "seat_limit_reached",
            DomainError::PayloadTooLarge(_) => "payload_too_large",
            DomainError::UnsupportedMediaType { .. } => "unsupported_media_type",
            DomainError::IdempotencyMismatch => "idempotency_mismatch",
            DomainError::ReviewExpired(_) => "review_expired",
        }
    }

    pub fn details(&self) -> Value {
        match self {
            DomainError::InvalidRequest { details, .. } => details.clone(),
            DomainError::InsufficientLicences { needed, available, .. } => {
                json!({ "needed": needed, "available": available })
            }
            DomainError::TooFewUnissued { reduce, unissued, .. } => {
                json!({ "reason": "too_few_unissued", "reduce": reduce, "unissued": unissued })
            }
            DomainError::Conflict { reason, details, .. } => {
                let mut all = json!({ "reason": reason });
                if let (Some(a), Value::Object(more)) = (all.as_object_mut(), details.clone()) {
                    a.extend(more);
                }
                all
            }
            DomainError::SeatLimitReached { limit, used, .. } => {
                json!({ "limit": limit, "used": used })
            }
            DomainError::UnsupportedMediaType { accepted, .. } => json!({ "accepted": accepted }),
            _ => json!({}),
        }
    }
}
