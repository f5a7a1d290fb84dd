//! Notices to an org's managers (docs/domain.md#notices), and the state
//! of their e-mail to each recipient (the notice mailer's guard, [`Delivery`]).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    OrderRequested,
    OrderAssigned,
    OrderRejected,
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
    /// Who is e-mailed: at most [`MAX_RECIPIENTS`] addresses.
    pub recipients: Vec<String>,
    /// How many more addresses would have received it: counted, not mailed (none: absent).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub recipients_omitted: u32,
    pub payload: Value,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Notice {
    /// A new notice of `kind` for `org_id`, stored `at`, to `to` (the addresses it e-mails and
    /// how many more were counted).
    pub fn new(
        notice_id: String,
        kind: NoticeKind,
        org_id: &str,
        at: DateTime<Utc>,
        to: Recipients,
        payload: Value,
    ) -> Self {
        Notice {
            notice_id,
            kind,
            org_id: org_id.to_string(),
            created_at: at,
            recipients: to.to,
            recipients_omitted: to.omitted,
            payload,
        }
    }
}

impl NoticeKind {
    /// The kind as the API and the bus spell it (`expiry_reminder`).
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::OrderRequested => "order_requested",
            NoticeKind::OrderAssigned => "order_assigned",
            NoticeKind::OrderRejected => "order_rejected",
            NoticeKind::ExpiryReminder => "expiry_reminder",
            NoticeKind::Expired => "expired",
            NoticeKind::RenewalBlocked => "renewal_blocked",
            NoticeKind::Overage => "overage",
            NoticeKind::UpgradeDue => "upgrade_due",
            NoticeKind::RenewalForecast => "renewal_forecast",
        }
    }

    pub const ALL: [NoticeKind; 9] = [
        NoticeKind::OrderRequested,
        NoticeKind::OrderAssigned,
        NoticeKind::OrderRejected,
        NoticeKind::ExpiryReminder,
        NoticeKind::Expired,
        NoticeKind::RenewalBlocked,
        NoticeKind::Overage,
        NoticeKind::UpgradeDue,
        NoticeKind::RenewalForecast,
    ];
}

/// How many addresses one notice mails at most (as many as a policy's `notify_emails` may name):
/// a notice item stays far below DynamoDB's 400 KB and its bus event below EventBridge's 256 KB
/// however many managers an org has. The rest are counted (`recipients_omitted`), not mailed.
pub const MAX_RECIPIENTS: usize = 50;

/// Who a notice is mailed to, bounded: at most [`MAX_RECIPIENTS`] addresses, in order, and how
/// many more there were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipients {
    pub to: Vec<String>,
    pub omitted: u32,
}

impl Recipients {
    /// `wanted` in order of preference, each once: the first [`MAX_RECIPIENTS`] are mailed
    /// (listed in e-mail order), the rest counted.
    pub fn bounded(wanted: impl IntoIterator<Item = String>) -> Self {
        let mut seen = std::collections::BTreeSet::new();
        let unique: Vec<String> = wanted.into_iter().filter(|e| seen.insert(e.clone())).collect();
        let omitted = unique.len().saturating_sub(MAX_RECIPIENTS) as u32;
        let mut to: Vec<String> = unique.into_iter().take(MAX_RECIPIENTS).collect();
        to.sort();
        Recipients { to, omitted }
    }
}

/// Who a company's notices go to (docs/domain.md#notices): the policy's `notify_emails` (a list someone
/// chose, itself at most 50) first, then its manager users in e-mail order, each once, at most
/// [`MAX_RECIPIENTS`] of them.
pub fn recipients(mut managers: Vec<String>, notify_emails: &[String]) -> Recipients {
    managers.sort();
    Recipients::bounded(notify_emails.iter().cloned().chain(managers))
}

/// [`recipients`] with the org's own `contacts` for the notice's topic first (each address
/// once, bounded all the same).
pub fn recipients_with(contacts: Vec<String>, mut managers: Vec<String>, notify_emails: &[String]) -> Recipients {
    managers.sort();
    // Bounded once over all of them, so the count of those left out is whole.
    Recipients::bounded(contacts.into_iter().chain(notify_emails.iter().cloned()).chain(managers))
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
    /// Not sent: the address is suppressed (`reason`: `hard_bounce`, everywhere, or
    /// `complaint`, for the notice's org) after SES reported a hard bounce or a complaint.
    Suppressed,
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
    /// While `sending`: the claim of the delivery that is sending it (only that one marks it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Bumped by every write; a write is on the condition that it is still the one read (0: no
    /// guard, or one written before guards had versions).
    #[serde(default)]
    pub version: u64,
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
            claim: None,
            updated_at: None,
            version: 0,
        }
    }

    /// Whether a delivery at `now` may claim this recipient: nothing tried, the last try
    /// failed, or the claim of a delivery that never finished has run out (then the message may
    /// have gone out already: a rare duplicate rather than a lost one). Sent and refused never.
    pub fn claimable(&self, now: DateTime<Utc>) -> bool {
        match self.state {
            DeliveryState::Pending | DeliveryState::Failed => true,
            DeliveryState::Sending => self.lease_until.is_none_or(|until| until <= now.timestamp()),
            DeliveryState::Sent | DeliveryState::Refused | DeliveryState::Suppressed => false,
        }
    }

    /// Whether this recipient is finished with (nothing left for a later delivery to do).
    pub fn settled(&self) -> bool {
        matches!(self.state, DeliveryState::Sent | DeliveryState::Refused | DeliveryState::Suppressed)
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

    /// Contacts, the vendor's copy and many managers: 50 mailed, contacts first, and every
    /// address left out counted.
    #[test]
    fn recipients_count_everyone_they_leave_out() {
        let contacts: Vec<String> = (0..5).map(|i| format!("contact{i}@p.example")).collect();
        let managers: Vec<String> = (0..60).map(|i| format!("m{i:02}@c.example")).collect();
        let to = recipients_with(contacts.clone(), managers, &["copy@v.example".to_string()]);
        assert_eq!((to.to.len(), to.omitted), (50, 16));
        assert!(contacts.iter().all(|c| to.to.contains(c)) && to.to.contains(&"copy@v.example".to_string()));
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
            recipients_omitted: 0,
            payload: Value::Null,
        };
        let mut sent = Delivery::pending("ntc_1", "b@c.example");
        sent.state = DeliveryState::Sent;
        let all = deliveries_of(&notice, &[sent]);
        assert_eq!(all.iter().map(|d| d.state).collect::<Vec<_>>(), vec![DeliveryState::Pending, DeliveryState::Sent]);
    }

    #[test]
    fn a_notice_mails_at_most_fifty_addresses_and_counts_the_rest() {
        let managers: Vec<String> = (0..70).rev().map(|i| format!("m{i:02}@c.example")).collect();
        let notify = vec!["vendor-copy@v.example".to_string(), "m05@c.example".to_string()];
        let r = recipients(managers, &notify);
        assert_eq!(r.to.len(), MAX_RECIPIENTS);
        assert_eq!(r.omitted, 71 - 50, "70 managers and one more address, each counted once");
        assert!(r.to.contains(&"vendor-copy@v.example".to_string()), "the chosen addresses come first");
        assert!(r.to.contains(&"m00@c.example".to_string()) && !r.to.contains(&"m69@c.example".to_string()));
        let mut sorted = r.to.clone();
        sorted.sort();
        assert_eq!(r.to, sorted, "listed in e-mail order");
        let few = recipients(vec!["b@c.example".into(), "a@c.example".into()], &["a@c.example".into()]);
        assert_eq!((few.to, few.omitted), (vec!["a@c.example".to_string(), "b@c.example".to_string()], 0));
    }

    #[test]
    fn the_largest_notice_stays_far_below_the_item_and_event_limits() {
        // Fifty of the longest addresses, and a payload naming as many learners as any notice
        // names (SAMPLE), each as long as an address may be.
        let long = |i: usize| format!("{i:04}{}@{}.example", "x".repeat(120), "d".repeat(120));
        let users: Vec<String> = (0..SAMPLE).map(long).collect();
        let r = Recipients::bounded((0..500).map(long));
        let notice = Notice {
            notice_id: format!("ntc_{}", "0".repeat(32)),
            kind: NoticeKind::ExpiryReminder,
            org_id: "o".repeat(64),
            created_at: at("2027-01-12T09:00:00Z"),
            recipients: r.to,
            recipients_omitted: r.omitted,
            payload: serde_json::json!({"count": 100000, "users": users, "users_truncated": true, "lots": []}),
        };
        let detail = serde_json::to_string(&notice).unwrap();
        // The bus event is the detail plus an envelope of a few hundred bytes.
        assert!(detail.len() + 1024 < 256 * 1024 / 4, "the event: {} bytes", detail.len());
        assert_eq!(notice.recipients.len(), MAX_RECIPIENTS);
        assert_eq!(serde_json::to_value(&notice).unwrap()["recipients_omitted"], 450);
    }
}
