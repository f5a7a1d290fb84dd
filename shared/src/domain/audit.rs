//! The audit log: who did what, when, on whose behalf (docs/domain.md#the-audit-log).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::{on_behalf_of, Principal};
use super::org::Org;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub org_id: String,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    pub action: String,
    pub subject: String,
    pub details: Value,
}

impl AuditEntry {
    /// An entry in `org`'s log for something `principal` did there.
    pub fn new(
        principal: &Principal,
        org: &Org,
        action: &str,
        subject: &str,
        details: Value,
        at: DateTime<Utc>,
    ) -> Self {
        AuditEntry {
            at,
            org_id: org.org_id.clone(),
            actor: principal.actor().to_string(),
            on_behalf_of: on_behalf_of(principal, org),
            action: action.to_string(),
            subject: subject.to_string(),
            details,
        }
    }
}
