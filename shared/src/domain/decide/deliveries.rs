//! The notice mailer's decisions on one recipient's guard (docs/domain.md#notices):
//! claim it before the send, mark it after, or record that the address is suppressed. Each is
//! decided on the guard as read and written on the condition that it is still that version, so
//! of two deliveries of a notice racing for a recipient one claims it and the other, deciding
//! again on what the first wrote, finds it taken.

use chrono::{DateTime, Duration, Utc};

use crate::domain::change::{Change, Decision};
use crate::domain::notice::{Delivery, DeliveryState};

/// What a claim found: the recipient is this delivery's to send (`attempt` counts the tries),
/// or not — it is sent or refused already, or another delivery holds a live claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    Claimed { claim: String, attempt: u32 },
    Taken(Delivery),
}

/// How a claimed send ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// SES accepted it, with its message id.
    Accepted(String),
    /// It failed for a reason that passes; the next delivery tries again.
    Failed(String),
    /// SES refused it for good.
    Refused(String),
}

/// The guard as read (`found`; none: nothing tried yet).
fn current(found: Option<Delivery>, notice_id: &str, email: &str) -> Delivery {
    found.unwrap_or_else(|| Delivery::pending(notice_id, email))
}

/// The guard written for `org_id`, over the version read.
fn written(org_id: &str, delivery: Delivery) -> Vec<Change> {
    vec![Change::Delivery { org_id: org_id.to_string(), delivery }]
}

/// Claims the recipient until `now + lease` with `claim` when [`Delivery::claimable`]; taken
/// otherwise.
pub fn claim(
    org_id: &str,
    found: Option<Delivery>,
    (notice_id, email): (&str, &str),
    claim: String,
    now: DateTime<Utc>,
    lease: Duration,
) -> Decision<Claim> {
    let read = current(found, notice_id, email);
    if !read.claimable(now) {
        return Decision::unchanged(Claim::Taken(read));
    }
    let attempt = read.attempts + 1;
    let next = Delivery {
        state: DeliveryState::Sending,
        attempts: attempt,
        lease_until: Some((now + lease).timestamp()),
        claim: Some(claim.clone()),
        updated_at: Some(now),
        ..read
    };
    Decision::new(written(org_id, next), Claim::Claimed { claim, attempt })
}

/// Marks the claimed send as it ended, when the claim is still `claim`'s; `false` (nothing
/// written) when it ran out and another delivery took it over — it is that one's to mark.
pub fn mark(org_id: &str, found: Option<Delivery>, claim: &str, sent: &Sent, now: DateTime<Utc>) -> Decision<bool> {
    let Some(read) = found.filter(|d| d.claim.as_deref() == Some(claim)) else {
        return Decision::unchanged(false);
    };
    let (state, message_id, reason) = match sent {
        Sent::Accepted(id) => (DeliveryState::Sent, Some(id.clone()), read.reason.clone()),
        Sent::Failed(why) => (DeliveryState::Failed, read.message_id.clone(), Some(why.clone())),
        Sent::Refused(why) => (DeliveryState::Refused, read.message_id.clone(), Some(why.clone())),
    };
    let next = Delivery { state, message_id, reason, lease_until: None, claim: None, updated_at: Some(now), ..read };
    Decision::new(written(org_id, next), true)
}

/// Records that the recipient is not mailed because the address is suppressed (`reason`:
/// `hard_bounce` or `complaint`), when a claim could be made; `Some(found)` (nothing written)
/// when the recipient is sent, refused or suppressed already, or claimed.
pub fn suppress(
    org_id: &str,
    found: Option<Delivery>,
    (notice_id, email): (&str, &str),
    reason: &str,
    now: DateTime<Utc>,
) -> Decision<Option<Delivery>> {
    let read = current(found, notice_id, email);
    if !read.claimable(now) {
        return Decision::unchanged(Some(read));
    }
    let next = Delivery {
        state: DeliveryState::Suppressed,
        reason: Some(reason.to_string()),
        lease_until: None,
        claim: None,
        updated_at: Some(now),
        ..read
    };
    Decision::new(written(org_id, next), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const WHO: (&str, &str) = ("ntc_1", "a@x.test");

    #[test]
    fn a_recipient_is_claimed_once_until_its_lease_runs_out() {
        let now = at("2026-12-05T10:00:00Z");
        let first = claim("o", None, WHO, "c1".into(), now, Duration::seconds(120));
        assert_eq!(first.outcome, Claim::Claimed { claim: "c1".into(), attempt: 1 });
        let [Change::Delivery { delivery, .. }] = first.changes.as_slice() else { panic!("one guard written") };
        let mut stored = delivery.clone();
        stored.version = 1;
        let busy =
            claim("o", Some(stored.clone()), WHO, "c2".into(), now + Duration::seconds(119), Duration::seconds(120));
        assert!(busy.changes.is_empty() && matches!(busy.outcome, Claim::Taken(_)));
        let over = claim("o", Some(stored), WHO, "c3".into(), now + Duration::seconds(120), Duration::seconds(120));
        assert_eq!(over.outcome, Claim::Claimed { claim: "c3".into(), attempt: 2 });
    }

    #[test]
    fn only_the_claim_that_holds_marks_the_send_and_a_sent_recipient_is_never_claimed_again() {
        let now = at("2026-12-05T10:00:00Z");
        let claimed = claim("o", None, WHO, "c1".into(), now, Duration::seconds(120));
        let [Change::Delivery { delivery, .. }] = claimed.changes.as_slice() else { panic!("one guard written") };
        let stale = mark("o", Some(delivery.clone()), "c0", &Sent::Accepted("m".into()), now);
        assert!(stale.changes.is_empty() && !stale.outcome);
        let marked = mark("o", Some(delivery.clone()), "c1", &Sent::Accepted("m1".into()), now);
        let [Change::Delivery { delivery: sent, .. }] = marked.changes.as_slice() else { panic!("one guard written") };
        assert_eq!(
            (sent.state, sent.message_id.as_deref(), sent.claim.as_deref()),
            (DeliveryState::Sent, Some("m1"), None)
        );
        let later = now + Duration::days(1);
        assert!(claim("o", Some(sent.clone()), WHO, "c2".into(), later, Duration::seconds(120)).changes.is_empty());
        assert!(suppress("o", Some(sent.clone()), WHO, "complaint", later).outcome.is_some());
    }

    #[test]
    fn a_failed_send_is_claimed_again_and_a_suppressed_address_is_recorded_instead() {
        let now = at("2026-12-05T10:00:00Z");
        let failed =
            Delivery { state: DeliveryState::Failed, attempts: 1, version: 2, ..Delivery::pending(WHO.0, WHO.1) };
        let again = claim("o", Some(failed.clone()), WHO, "c2".into(), now, Duration::seconds(120));
        assert_eq!(again.outcome, Claim::Claimed { claim: "c2".into(), attempt: 2 });
        let suppressed = suppress("o", Some(failed), WHO, "hard_bounce", now);
        let [Change::Delivery { delivery, .. }] = suppressed.changes.as_slice() else { panic!("one guard written") };
        assert_eq!(
            (delivery.state, delivery.reason.as_deref(), delivery.version),
            (DeliveryState::Suppressed, Some("hard_bounce"), 2)
        );
    }
}
