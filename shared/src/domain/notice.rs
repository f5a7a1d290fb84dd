//! Notices to an org's managers (API.md `GET /v1/orgs/{org_id}/notifications`), and the state
//! of their e-mail to each recipient (the notice mailer's guard, [`Delivery`]).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    OrderRequested,
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

impl NoticeKind {
    /// The kind as the API and the bus spell it (`expiry_reminder`).
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::OrderRequested => "order_requested",
            NoticeKind::OrderAssigned => "order_assigned",
            NoticeKind::ExpiryReminder => "expiry_reminder",
            NoticeKind::Expired => "expired",
            NoticeKind::RenewalBlocked => "renewal_blocked",
            NoticeKind::Overage => "overage",
            NoticeKind::UpgradeDue => "upgrade_due",
            NoticeKind::RenewalForecast => "renewal_forecast",
        }
    }

    pub const ALL: [NoticeKind; 8] = [
        NoticeKind::OrderRequested,
        NoticeKind::OrderAssigned,
        NoticeKind::ExpiryReminder,
        NoticeKind::Expired,
        NoticeKind::RenewalBlocked,
        NoticeKind::Overage,
        NoticeKind::UpgradeDue,
        NoticeKind::RenewalForecast,
    ];
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

// ---- e-mail delivery: one guard per (notice, recipient) ------------------------------------

/// Where one recipient's e-mail of a notice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Nothing tried yet (no guard item).
    Pending,
    /// Claimed by a delivery that is sending it, until its lease ends.
    Sending,
    /// SES accepted it (`message_id`).
    Sent,
    /// The last try failed for a reason that passes (throttling, SES unavailable): the next
    /// delivery of the notice tries again.
    Failed,
    /// SES refused it for good (an unverified or suppressed address, a rejected message):
    /// recorded with its reason and never tried again.
    Refused,
}

/// One recipient's delivery of a notice, as its guard item holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub notice_id: String,
    pub email: String,
    pub state: DeliveryState,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// While `sending`: until when the claim holds (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Delivery {
    /// A recipient nothing was tried for yet.
    pub fn pending(notice_id: &str, email: &str) -> Self {
        Delivery {
            notice_id: notice_id.into(),
            email: email.into(),
            state: DeliveryState::Pending,
            attempts: 0,
            message_id: None,
            reason: None,
            lease_until: None,
            updated_at: None,
        }
    }

    /// Whether a delivery at `now` may claim this recipient: nothing tried, the last try
    /// failed, or the claim of a delivery that never finished has run out (then the message may
    /// have gone out already: a rare duplicate rather than a lost one). Sent and refused never.
    pub fn claimable(&self, now: DateTime<Utc>) -> bool {
        match self.state {
            DeliveryState::Pending | DeliveryState::Failed => true,
            DeliveryState::Sending => self.lease_until.is_none_or(|until| until <= now.timestamp()),
            DeliveryState::Sent | DeliveryState::Refused => false,
        }
    }

    /// Whether this recipient is finished with (nothing left for a later delivery to do).
    pub fn settled(&self) -> bool {
        matches!(self.state, DeliveryState::Sent | DeliveryState::Refused)
    }
}

/// How long a claim to send holds: longer than one invocation of the mailer can run (its
/// timeout), so a claim that runs out belongs to a delivery that is gone.
pub fn lease() -> Duration {
    Duration::seconds(120)
}

/// Each recipient's delivery of `notice`, in the order of its recipients, from the guards
/// `found` holds (a recipient without one is pending).
pub fn deliveries_of(notice: &Notice, found: &[Delivery]) -> Vec<Delivery> {
    notice
        .recipients
        .iter()
        .map(|email| {
            found
                .iter()
                .find(|d| d.notice_id == notice.notice_id && d.email == *email)
                .cloned()
                .unwrap_or_else(|| Delivery::pending(&notice.notice_id, email))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_recipient_is_claimed_until_sent_or_refused_and_a_lost_claim_runs_out() {
        let mut d = Delivery::pending("ntc_1", "a@c.example");
        let now = at("2027-01-12T09:00:00Z");
        assert!(d.claimable(now));
        d.state = DeliveryState::Sending;
        d.lease_until = Some((now + lease()).timestamp());
        assert!(!d.claimable(now), "a live claim is another delivery's");
        assert!(d.claimable(now + lease()), "a claim whose delivery vanished runs out");
        d.state = DeliveryState::Failed;
        assert!(d.claimable(now) && !d.settled());
        for done in [DeliveryState::Sent, DeliveryState::Refused] {
            d.state = done;
            assert!(!d.claimable(now + Duration::days(365)) && d.settled());
        }
    }

    #[test]
    fn every_kind_is_spelt_as_serde_spells_it() {
        for kind in NoticeKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn each_recipient_has_a_delivery_pending_until_tried() {
        let notice = Notice {
            notice_id: "ntc_1".into(),
            kind: NoticeKind::Expired,
            org_id: "c".into(),
            created_at: at("2027-01-15T09:00:00Z"),
            recipients: vec!["a@c.example".into(), "b@c.example".into()],
            payload: Value::Null,
        };
        let mut sent = Delivery::pending("ntc_1", "b@c.example");
        sent.state = DeliveryState::Sent;
        let all = deliveries_of(&notice, &[sent]);
        assert_eq!(all.iter().map(|d| d.state).collect::<Vec<_>>(), vec![DeliveryState::Pending, DeliveryState::Sent]);
    }
}
