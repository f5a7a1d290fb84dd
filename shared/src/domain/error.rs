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
    #[error("{0}")]
    Conflict(String),
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

    pub fn not_found(what: &str, id: &str) -> Self {
        DomainError::NotFound(format!("{what} {id:?} was not found"))
    }

    pub fn code(&self) -> &'static str {
        match self {
            DomainError::InvalidRequest { .. } => "invalid_request",
            DomainError::Unauthenticated(_) => "unauthenticated",
            DomainError::Forbidden(_) => "forbidden",
            DomainError::NotFound(_) => "not_found",
            DomainError::Conflict(_) | DomainError::TooFewUnissued { .. } => "conflict",
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
            DomainError::TooFewUnissued { reduce, unissued, .. } => json!({ "reduce": reduce, "unissued": unissued }),
            DomainError::SeatLimitReached { limit, used, .. } => {
                json!({ "limit": limit, "used": used })
            }
            DomainError::UnsupportedMediaType { accepted, .. } => json!({ "accepted": accepted }),
            _ => json!({}),
        }
    }
}
