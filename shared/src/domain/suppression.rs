//! Addresses the notice mailer does not mail, so the vendor's sending identity is neither abused
//! nor burnt: SES reports a hard bounce (the address does not exist: suppressed everywhere) or a
//! complaint (the recipient marked a notice as spam: suppressed for the org whose notice it
//! was). A manager clears an org's suppression; a vendor admin, the manager of the vendor org,
//! clears a global one (global suppressions are kept in the vendor's partition).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::AuditEntry;
use super::auth::Principal;
use super::change::{Change, Decision};
use super::org::{Org, VENDOR_ID};

/// Why an address is not mailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A permanent bounce: the address does not exist (or SES will not deliver to it).
    HardBounce,
    /// The recipient complained (marked a notice as spam).
    Complaint,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::HardBounce => "hard_bounce",
            Reason::Complaint => "complaint",
        }
    }

    /// Where a report of this kind suppresses the address: a hard bounce everywhere, a
    /// complaint for the org whose notice it was.
    pub fn scope(self) -> Scope {
        match self {
            Reason::HardBounce => Scope::Global,
            Reason::Complaint => Scope::Org,
        }
    }
}

/// Where a suppression holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// For the org it is stored under.
    Org,
    /// For every org (stored under the vendor).
    Global,
}

/// An address not mailed, as stored and as `GET …/suppressions` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppression {
    pub email: String,
    /// The org it is stored under: the org it holds for, or the vendor for a global one.
    pub org_id: String,
    pub scope: Scope,
    pub reason: Reason,
    /// When SES first reported it.
    pub since: DateTime<Utc>,
    /// The latest report recorded, and how many there were.
    pub last_at: DateTime<Utc>,
    pub reports: u32,
    /// SES's words: the bounce's type and diagnostic, or the complaint's feedback type.
    #[serde(default)]
    pub detail: String,
    /// The org whose notice drew the report, and the notice (from the message's tags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_org_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_id: Option<String>,
}

/// One address in one SES bounce or complaint report, as the mailer's feedback consumer read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub email: String,
    pub reason: Reason,
    /// SES's id of the report (`feedbackId`): with the address, what makes a replay a replay.
    pub feedback_id: String,
    pub at: DateTime<Utc>,
    pub detail: String,
    pub source_org_id: Option<String>,
    pub notice_id: Option<String>,
}

impl Report {
    pub fn scope(&self) -> Scope {
        self.reason.scope()
    }

    /// The org the suppression is stored under: the notice's org for a complaint, the vendor
    /// for a hard bounce. `None`: a complaint that names no org (refused before this).
    pub fn org_id(&self) -> Option<&str> {
        match self.scope() {
            Scope::Global => Some(VENDOR_ID),
            Scope::Org => self.source_org_id.as_deref(),
        }
    }
}

/// Clears what `found` holds of one address for `org` (its own suppression, and on the vendor
/// org the global one too), with an audit entry. The writes are deletes on the condition that
/// the suppression is still there.
pub fn clear(
    org: &Org,
    found: Vec<Suppression>,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Decision<Vec<Suppression>> {
    let Some(email) = found.first().map(|s| s.email.clone()) else { return Decision::unchanged(found) };
    let details = json!({
        "cleared": found.iter().map(|s| json!({"reason": s.reason, "scope": s.scope, "since": s.since})).collect::<Vec<_>>(),
    });
    let mut changes: Vec<Change> = found.iter().cloned().map(Change::ClearSuppression).collect();
    changes.push(Change::Audit(AuditEntry::new(
        principal,
        org,
        "suppression.cleared",
        &format!("suppression/{email}"),
        details,
        now,
    )));
    Decision::new(changes, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hard_bounce_holds_everywhere_and_a_complaint_for_its_org() {
        let mut r = Report {
            email: "a@c.example".into(),
            reason: Reason::HardBounce,
            feedback_id: "f".into(),
            at: "2027-01-15T09:00:00Z".parse().unwrap(),
            detail: String::new(),
            source_org_id: Some("c".into()),
            notice_id: None,
        };
        assert_eq!((r.scope(), r.org_id()), (Scope::Global, Some(VENDOR_ID)));
        r.reason = Reason::Complaint;
        assert_eq!((r.scope(), r.org_id()), (Scope::Org, Some("c")));
        r.source_org_id = None;
        assert_eq!(r.org_id(), None);
    }
}
