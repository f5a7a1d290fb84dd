//! The expire sweep's decisions (docs/domain.md#expiry): licences whose end has come are stored as
//! expired and their seats given back; enrolments whose end has passed are stored as expired,
//! and a user none of whose enrolments is live any more is counted off the active users.

use chrono::{DateTime, Utc};

use crate::domain::change::{Change, Decision};
use crate::domain::enrolment::{Enrolment, EnrolmentStatus};
use crate::domain::expiry::Ending;
use crate::domain::org::Org;
use crate::domain::seats::{self, CounterChange, Reuse};
use crate::domain::user::{self, User};

/// The users of `due` whose licence has ended by `now` (and is still stored as active).
pub fn ended_licences(due: &[Ending], now: DateTime<Utc>) -> Vec<&User> {
    due.iter()
        .filter_map(|item| match item {
            Ending::User(u) if user::expire(u, now).is_some() => Some(u),
            _ => None,
        })
        .collect()
}

/// The licences of `users` (as read) that have ended by `now`, stored as expired over the
/// version read; each seat goes back to its lot (one credit a lot) or to the included seats,
/// and the org's counters follow. The outcome: how many licences expired (none changes
/// nothing).
pub fn licences(org: &Org, users: &[&User], now: DateTime<Utc>) -> Decision<usize> {
    let mut changes = Vec::new();
    let mut credits = Vec::new();
    let mut change = CounterChange::default();
    for before in users {
        let Some(expired) = user::expire(before, now) else { continue };
        if let Some(credit) = before.licence.as_ref().and_then(|l| seats::give_back(&org.org_id, l, &mut change)) {
            add_credit(&mut credits, credit);
        }
        changes.push(Change::User { user: expired, created: false });
    }
    let expired = changes.len();
    if expired == 0 {
        return Decision::unchanged(0);
    }
    changes.extend(credits);
    changes.push(Change::Counters { org: org.clone(), change });
    Decision::new(changes, expired)
}

/// Adds a seat given back to `credits`: to the credit of the same lot when there is one.
fn add_credit(credits: &mut Vec<Change>, credit: Change) {
    if let Change::CreditLot { lot_id, lot_valid_until, seats: n, .. } = &credit {
        let same = |c: &&mut Change| matches!(c, Change::CreditLot { lot_id: id, lot_valid_until: end, .. } if id == lot_id && end == lot_valid_until);
        if let Some(Change::CreditLot { seats, .. }) = credits.iter_mut().find(same) {
            *seats += n;
            return;
        }
    }
    credits.push(credit);
}

/// Whether an enrolment's end has passed by `now` while it is not stored as expired.
pub fn has_ended(enrolment: &Enrolment, now: DateTime<Utc>) -> bool {
    enrolment.status != EnrolmentStatus::Expired && enrolment.ends_at.is_some_and(|end| end <= now)
}

/// Whether ending `user`'s enrolments (`all` of them) counts it off the active users: it is
/// counted as active, an enrolment has ended and none is live. Only then is the reuse count
/// read.
pub fn counts_off(user: &User, all: &[Enrolment], now: DateTime<Utc>) -> bool {
    user.active && all.iter().any(|e| has_ended(e, now)) && !all.iter().any(|e| e.live_at(now))
}

/// What ending a user's enrolments did: how many ended, and whether the user stopped counting
/// as active.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnrolmentsEnded {
    pub ended: usize,
    pub inactive: bool,
}

/// `user`'s enrolments (`all` of them) whose end has passed are stored as expired, and the
/// user, written over the version read, is counted off the active users when none is live any
/// more (`reuse`: the reuse count as read, when [`counts_off`]). Nothing ended changes nothing.
pub fn enrolments(
    org: &Org,
    user: &User,
    all: &[Enrolment],
    reuse: &Reuse,
    now: DateTime<Utc>,
) -> Decision<EnrolmentsEnded> {
    let ended: Vec<&Enrolment> = all.iter().filter(|e| has_ended(e, now)).collect();
    if ended.is_empty() {
        return Decision::unchanged(EnrolmentsEnded::default());
    }
    let mut next = user.clone();
    let mut change = CounterChange::default();
    if counts_off(user, all, now) {
        change.set_active(&mut next, false, reuse);
    }
    let mut changes = vec![Change::User { user: next, created: false }];
    changes.extend(ended.iter().map(|e| Change::Enrolment(e.expired(now))));
    let outcome = EnrolmentsEnded { ended: ended.len(), inactive: change.active_users < 0 };
    if !change.is_empty() {
        changes.push(Change::Counters { org: org.clone(), change });
    }
    Decision::new(changes, outcome)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::enrolment::{self, PutEnrolment};
    use crate::domain::policy::Policy;

    pub(in crate::domain::decide) fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// Org `c` (the vendor's root, renamed: only its id matters to the sweeps' decisions).
    pub(in crate::domain::decide) fn org() -> Org {
        let mut org = Org::vendor_root(at("2026-01-01T00:00:00Z"));
        org.org_id = "c".into();
        org
    }

    fn licensed(email: &str, lot: Option<&str>, end: &str) -> User {
        let u = User::new("c", email, at("2026-01-01T00:00:00Z"));
        let lot_end = lot.map(|_| at(end));
        let mut u = user::issue(
            &u,
            "l".into(),
            lot.map(str::to_string),
            lot_end,
            &Policy::resolve([]),
            at("2026-02-01T00:00:00Z"),
        );
        u.licence.as_mut().unwrap().valid_until = Some(at(end));
        u
    }

    #[test]
    fn ended_licences_give_their_seats_back_one_credit_a_lot() {
        let now = at("2027-01-15T09:00:00Z");
        let users = [
            licensed("a@c.example", Some("lot"), "2027-01-15T09:00:00Z"),
            licensed("b@c.example", Some("lot"), "2027-01-15T09:00:00Z"),
            licensed("i@c.example", None, "2027-01-15T09:00:00Z"),
            licensed("later@c.example", Some("lot"), "2027-06-15T09:00:00Z"),
        ];
        let read: Vec<&User> = users.iter().collect();
        let decided = licences(&org(), &read, now);
        assert_eq!(decided.outcome, 3);
        let credits: Vec<_> = decided
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::CreditLot { lot_id, seats, .. } => Some((lot_id.as_str(), *seats)),
                _ => None,
            })
            .collect();
        assert_eq!(credits, vec![("lot", 2)]);
        let Some(Change::Counters { change, .. }) = decided.changes.last() else { panic!("{:?}", decided.changes) };
        assert_eq!((change.seats_held, change.included_in_use), (-3, -1));
        assert!(licences(&org(), &read[3..], now).changes.is_empty(), "nothing ended, nothing changes");
    }

    #[test]
    fn the_last_live_enrolment_ending_counts_the_user_off() {
        let now = at("2027-01-15T09:00:00Z");
        let run = |id: &str, ends: &str| {
            let input =
                PutEnrolment { status: enrolment::EnrolmentStatus::Active, starts_at: None, ends_at: Some(at(ends)) };
            enrolment::put("c", "a@c.example", id, input, at("2026-02-01T00:00:00Z")).unwrap()
        };
        let mut user = licensed("a@c.example", Some("lot"), "2027-06-15T09:00:00Z");
        user.active = true;
        let ended = [run("one", "2027-01-10T00:00:00Z")];
        assert!(counts_off(&user, &ended, now));
        let decided = enrolments(&org(), &user, &ended, &Reuse::default(), now);
        assert_eq!(decided.outcome, EnrolmentsEnded { ended: 1, inactive: true });

        let still_live = [run("one", "2027-01-10T00:00:00Z"), run("two", "2027-03-01T00:00:00Z")];
        assert!(!counts_off(&user, &still_live, now));
        let decided = enrolments(&org(), &user, &still_live, &Reuse::default(), now);
        assert_eq!(decided.outcome, EnrolmentsEnded { ended: 1, inactive: false });
        assert!(!decided.changes.iter().any(|c| matches!(c, Change::Counters { .. })));
    }
}
