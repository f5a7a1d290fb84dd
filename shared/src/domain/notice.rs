//! Notices to an org's managers (API.md `GET /v1/orgs/{org_id}/notifications`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    OrderAssigned,
    ExpiryReminder,
    Expired,
    RenewalBlocked,
    Overage,
    UpgradeDue,
    RenewalForecast,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub notice_id: String,
    pub kind: NoticeKind,
    pub org_id: String,
    pub created_at: DateTime<Utc>,
    pub recipients: Vec<String>,
    pub payload: Value,
}

/// Who a company's notices go to (DOMAIN.md §7): its manager users and the policy's
/// `notify_emails`, each once, in order.
pub fn recipients(managers: Vec<String>, notify_emails: &[String]) -> Vec<String> {
    let mut to = managers;
    to.extend(notify_emails.iter().cloned());
    to.sort();
    to.dedup();
    to
}

/// How many e-mails a notice (or an audit entry) names at most: a company of any size keeps each
/// item far below DynamoDB's 400 KB. The count is always whole; the full list is the org's
/// licences (`GET …/licences`, `GET …/users?licence_status=`).
pub const SAMPLE: usize = 100;

/// The e-mails a notice names: at most [`SAMPLE`] of `emails` (in the order given), and whether
/// it left some out.
pub fn sample<S: AsRef<str>>(emails: &[S]) -> (Vec<&str>, bool) {
    let named: Vec<&str> = emails.iter().take(SAMPLE).map(AsRef::as_ref).collect();
    let truncated = emails.len() > named.len();
    (named, truncated)
}
