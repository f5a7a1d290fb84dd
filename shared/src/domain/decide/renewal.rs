//! The renewal sweep's decision on one user whose renewal date has come (docs/domain.md#automatic-renewal): a new
//! year from the balance, or the year ends (not renewable, no live enrolment, or no seat left).
//! The user is written over the version read, so a replayed or concurrent sweep finds it
//! renewed or ended, and never takes a seat twice.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::allocation::{self, Balance};
use crate::domain::audit::AuditEntry;
use crate::domain::auth::{Principal, Role};
use crate::domain::change::{Change, Decision};
use crate::domain::enrolment::Enrolment;
use crate::domain::org::Org;
use crate::domain::policy::Policy;
use crate::domain::renewal;
use crate::domain::seats::{self, CounterChange, Reuse};
use crate::domain::term::term_end;
use crate::domain::user::{LicenceStatus, User};
use crate::domain::DomainError;

/// A user's due renewal ([`renewal::decide`]) with what it is decided on beyond the user and
/// its enrolments.
#[derive(Debug, Clone)]
pub enum DueRenewal {
    /// A new year, from the org's balance as read.
    Renew(Balance),
    /// Not renewable: the reuse count as read when the user is active (to count it off).
    NotRenewable(Reuse),
    /// No enrolment is live at the renewal instant.
    NoLiveEnrolment,
}

/// What became of the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Renewed,
    /// The year ended: the balance had no seat for the next (the managers are told).
    Blocked,
    NotRenewable,
    /// The year ended: no enrolment was live at the renewal instant.
    Ended,
}

impl Outcome {
    /// The audit entry's action.
    pub fn action(self) -> &'static str {
        match self {
            Outcome::Renewed => "licence.renewed",
            Outcome::Blocked => "renewal.blocked",
            Outcome::NotRenewable => "renewal.not_renewable",
            Outcome::Ended => "renewal.ended",
        }
    }
}

/// A renewal decided: what became of the user at its renewal date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewed {
    pub outcome: Outcome,
    pub renewal_at: DateTime<Utc>,
}

/// Who the sweep's audit entries name.
pub fn sweeper(org_id: &str) -> Principal {
    Principal::new("renewal-sweep", "renewal-sweep", org_id, Role::Platform)
}

/// The renewal of `user` (with its `enrolments`) at its renewal date, as `due`: renewed with a
/// seat reserved from the balance (`licence_id` names the new licence), or its year ended, not
/// renewable users' live enrolments expired and the user counted off the active users. The old
/// licence's seat goes back unless the expire sweep gave it back already; a new year in the lot
/// of the old one is one more use of the same seat. `None` without a renewal date.
pub fn renew(
    org: &Org,
    policy: &Policy,
    user: &User,
    enrolments: &[Enrolment],
    due: DueRenewal,
    now: DateTime<Utc>,
    licence_id: impl FnOnce() -> String,
) -> Option<Decision<Renewed>> {
    let renewal_at = user.renewal_at?;
    // A year that ends without a renewal at the licence's own end is an expiry: the expire sweep
    // stores it, gives the seat back and tells the managers (`expired`), whichever sweep runs
    // first. A blocked renewal is this sweep's to end and to tell (`renewal_blocked`).
    let left_to_expire =
        renewal::ends_at_renewal(user) && user.licence.as_ref().is_some_and(|l| l.status == LicenceStatus::Active);
    let mut changes = Vec::new();
    let mut change = CounterChange::default();
    let (next, outcome) = match due {
        DueRenewal::Renew(balance) => match allocation::reserve(&balance, 1, renewal_at.max(now)) {
            Ok(reservation) => {
                let (lot_id, lot_end) = reservation.seat(0).expect("one seat reserved");
                let renewed = renewal::renew(user, licence_id(), lot_id.map(str::to_string), lot_end, policy)?;
                changes.extend(move_seat(org, user, Some((&balance, lot_id)), &mut change));
                (renewed, Outcome::Renewed)
            }
            Err(_) => (renewal::end_year(user), Outcome::Blocked),
        },
        DueRenewal::NotRenewable(reuse) => {
            let live = enrolments.iter().filter(|e| e.live_at(now) || e.live_at(renewal_at));
            changes.extend(live.map(|e| Change::Enrolment(e.refused(now))));
            let mut ended = year_ends(user, left_to_expire);
            ended.refused_renewal_at = Some(renewal_at);
            change.set_active(&mut ended, false, &reuse);
            (ended, Outcome::NotRenewable)
        }
        DueRenewal::NoLiveEnrolment => (year_ends(user, left_to_expire), Outcome::Ended),
    };
    // A licence left to the expire sweep gives its seat back there, when it is stored as expired.
    if outcome == Outcome::Blocked || (outcome != Outcome::Renewed && !left_to_expire) {
        changes.extend(move_seat(org, user, None, &mut change));
    }
    let details = json!({ "renewal_at": renewal_at, "licence_count": next.licence_count });
    let audit =
        AuditEntry::new(&sweeper(&org.org_id), org, outcome.action(), &format!("user/{}", user.email), details, now);
    Some(Decision::new(closed(changes, org, next, change, audit), Renewed { outcome, renewal_at }))
}

/// The user when its year ends without a renewal: no renewal date; the licence ended here, or
/// (`left_to_expire`) as it is, for the expire sweep.
fn year_ends(user: &User, left_to_expire: bool) -> User {
    if !left_to_expire {
        return renewal::end_year(user);
    }
    User { renewal_at: None, ..user.clone() }
}

/// What turning `renewable` back on decides for a user whose renewal was refused at its date
/// ("Verlengbaar weer aanzetten", docs/domain.md#automatic-renewal): within one term of that
/// date, the user is renewed then, as the sweep would have — one licence from `balance`, the year
/// counted from the refused renewal date, the enrolments the refusal expired back to the status
/// they had, the user counted among the active users again. `None` when the user is not such a
/// user (the flag alone changes); refused with the shortfall when the balance has no licence
/// (the flag is set; setting it again once licences are there renews the user).
#[allow(clippy::too_many_arguments)]
pub fn renew_refused(
    org: &Org,
    policy: &Policy,
    user: &User,
    enrolments: &[Enrolment],
    balance: &Balance,
    reuse: &Reuse,
    by: &Principal,
    now: DateTime<Utc>,
    licence_id: impl FnOnce() -> String,
) -> Result<Option<Decision<Renewed>>, DomainError> {
    let Some(at) = user.refused_renewal_at else { return Ok(None) };
    // Ended at that date: stored as expired by now, or about to be by the expire sweep.
    let ended_then =
        user.licence.as_ref().is_some_and(|l| l.valid_until == Some(at) && l.status_at(now) == LicenceStatus::Expired);
    if !ended_then || now >= term_end(at, policy.term_months) {
        return Ok(None);
    }
    let reservation = allocation::reserve(balance, 1, now)?;
    let (lot_id, lot_end) = reservation.seat(0).expect("one seat reserved");
    let due = User { renewal_at: Some(at), ..user.clone() };
    let Some(mut next) = renewal::renew(&due, licence_id(), lot_id.map(str::to_string), lot_end, policy) else {
        return Ok(None);
    };
    next.renewable = true;
    next.refused_renewal_at = None;
    let mut change = CounterChange::default();
    let mut changes = move_seat(org, user, Some((balance, lot_id)), &mut change);
    if !user.active {
        change.set_active(&mut next, true, reuse);
    }
    changes.extend(enrolments.iter().filter_map(|e| e.restored(now)).map(Change::Enrolment));
    let details = json!({ "renewal_at": at, "licence_count": next.licence_count, "renewable": true });
    let audit = AuditEntry::new(by, org, Outcome::Renewed.action(), &format!("user/{}", user.email), details, now);
    Ok(Some(Decision::new(
        closed(changes, org, next, change, audit),
        Renewed { outcome: Outcome::Renewed, renewal_at: at },
    )))
}

/// A renewal's changes closed with the user written over the version read, the org's counters
/// (when they move) and the audit entry.
fn closed(mut changes: Vec<Change>, org: &Org, user: User, counters: CounterChange, audit: AuditEntry) -> Vec<Change> {
    changes.push(Change::User { user, created: false });
    if !counters.is_empty() {
        changes.push(Change::Counters { org: org.clone(), change: counters });
    }
    changes.push(Change::Audit(audit));
    changes
}

/// The seats of a renewal, counted in `change`: the old licence's seat given back (unless the
/// expire sweep did already) and the new year's taken (`new`: from the lot of `balance` named,
/// or an included seat) — or, when the new year is in the old one's lot, one more use of it.
fn move_seat(org: &Org, user: &User, new: Option<(&Balance, Option<&str>)>, change: &mut CounterChange) -> Vec<Change> {
    let old = user.licence.as_ref().filter(|l| l.status == LicenceStatus::Active);
    let new_lot = new.and_then(|(balance, lot_id)| balance.lots.iter().find(|l| Some(l.lot_id.as_str()) == lot_id));
    if let (Some(old), Some(lot)) = (old, new_lot) {
        if old.lot_id.as_ref() == Some(&lot.lot_id) {
            return vec![Change::UseSeatAgain(lot.clone())];
        }
    }
    let mut changes: Vec<Change> = old.and_then(|l| seats::give_back(&org.org_id, l, change)).into_iter().collect();
    match (new, new_lot) {
        (Some((balance, _)), Some(lot)) => changes.extend(seats::take(balance, [(&lot.lot_id, 1)], 0, 1, change)),
        (Some((balance, _)), None) => changes.extend(seats::take(balance, [], 1, 1, change)),
        (None, _) => {}
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decide::expire::tests::{at, org};
    use crate::domain::lot::{Lot, LotStatus};
    use crate::domain::user;

    fn lot(id: &str) -> Lot {
        Lot {
            lot_id: id.into(),
            org_id: "c".into(),
            order_id: "o".into(),
            quantity: 10,
            reduced: 0,
            in_use: 1,
            uses: 1,
            uses_per_seat: Some(2),
            valid_from: at("2026-01-15T09:00:00Z"),
            valid_until: Some(at("2029-01-15T09:00:00Z")),
            status: LotStatus::Active,
            pro_rata_fraction: None,
            parts: 0,
            part_of: None,
            reminded_for: None,
        }
    }

    /// A user whose licence from lot `old` reaches its renewal date.
    fn due_user(old: &str) -> User {
        let u = User::new("c", "a@c.example", at("2026-01-01T00:00:00Z"));
        let mut u = user::issue(
            &u,
            "l1".into(),
            Some(old.into()),
            lot(old).valid_until,
            &Policy::resolve([]),
            at("2026-02-01T00:00:00Z"),
        );
        u.renewal_at = Some(at("2027-02-01T00:00:00Z"));
        u
    }

    fn balance(lots: &[&str]) -> Balance {
        Balance { lots: lots.iter().map(|id| lot(id)).collect(), seats_included: 0, included_in_use: 0 }
    }

    fn seats_of(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::UseSeatAgain(l) => Some(format!("again {}", l.lot_id)),
                Change::DebitLot { lot, seats } => Some(format!("debit {} {seats}", lot.lot_id)),
                Change::CreditLot { lot_id, seats, .. } => Some(format!("credit {lot_id} {seats}")),
                Change::Counters { change, .. } => Some(format!("held {:+}", change.seats_held)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_new_year_in_the_same_lot_is_one_more_use_of_the_seat() {
        let now = at("2027-02-01T02:00:00Z");
        let policy = Policy::resolve([]);
        let user = due_user("a");
        let decided =
            renew(&org(), &policy, &user, &[], DueRenewal::Renew(balance(&["a"])), now, || "l2".into()).unwrap();
        assert_eq!(decided.outcome.outcome, Outcome::Renewed);
        assert_eq!(seats_of(&decided.changes), vec!["again a"]);

        let decided =
            renew(&org(), &policy, &user, &[], DueRenewal::Renew(balance(&["b"])), now, || "l2".into()).unwrap();
        assert_eq!(seats_of(&decided.changes), vec!["credit a 1", "debit b 1"], "the counts stay as they are");
    }

    /// A refusal keeps what it took (the renewal date, each run's status); made renewable again
    /// within the term the user is renewed from that date with its runs back, after the term not,
    /// and with an empty balance it is refused with the shortfall.
    #[test]
    fn a_refused_renewal_is_renewed_from_its_date_when_made_renewable_within_the_term() {
        use crate::domain::enrolment::{self, EnrolmentStatus, PutEnrolment};
        let policy = Policy::resolve([]);
        let run = PutEnrolment {
            status: EnrolmentStatus::Active,
            starts_at: Some(at("2026-02-01T00:00:00Z")),
            ends_at: Some(at("2028-02-01T00:00:00Z")),
        };
        let run = enrolment::put("c", "a@c.example", "run", run, at("2026-02-01T00:00:00Z")).unwrap();
        let mut user = due_user("a");
        user.renewable = false;
        let refused_at = at("2027-02-01T02:00:00Z");
        let due = DueRenewal::NotRenewable(Reuse::default());
        let refusal =
            renew(&org(), &policy, &user, std::slice::from_ref(&run), due, refused_at, || "l2".into()).unwrap();
        let (mut refused, mut expired_run) = (None, None);
        for change in refusal.changes {
            match change {
                Change::User { user, .. } => refused = Some(user),
                Change::Enrolment(e) => expired_run = Some(e),
                _ => {}
            }
        }
        let (mut refused, expired_run) = (refused.unwrap(), expired_run.unwrap());
        assert_eq!(refused.refused_renewal_at, Some(at("2027-02-01T00:00:00Z")));
        assert_eq!(
            (expired_run.status, expired_run.refused_from),
            (EnrolmentStatus::Expired, Some(EnrolmentStatus::Active))
        );
        refused.licence.as_mut().unwrap().valid_until = refused.refused_renewal_at;

        let by = sweeper("c");
        let on = |now: &str, b: &Balance| {
            renew_refused(
                &org(),
                &policy,
                &refused,
                std::slice::from_ref(&expired_run),
                b,
                &Reuse::default(),
                &by,
                at(now),
                || "l3".into(),
            )
        };
        let renewed = on("2027-06-01T00:00:00Z", &balance(&["b"])).unwrap().unwrap();
        assert_eq!(renewed.outcome, Renewed { outcome: Outcome::Renewed, renewal_at: at("2027-02-01T00:00:00Z") });
        let user = renewed.changes.iter().find_map(|c| match c {
            Change::User { user, .. } => Some(user.clone()),
            _ => None,
        });
        let user = user.unwrap();
        let licence = user.licence.as_ref().unwrap();
        assert_eq!(
            (licence.licence_date.to_string(), user.licence_count, user.renewable),
            ("2027-02-01".into(), 2, true)
        );
        assert_eq!(user.renewal_at, Some(at("2028-02-01T00:00:00Z")));
        assert!(renewed.changes.iter().any(
            |c| matches!(c, Change::Enrolment(e) if e.status == EnrolmentStatus::Active && e.refused_from.is_none())
        ));
        assert!(on("2028-02-01T00:00:00Z", &balance(&["b"])).unwrap().is_none(), "a term later: the flag alone");
        let empty = Balance { lots: vec![], seats_included: 0, included_in_use: 0 };
        assert_eq!(on("2027-06-01T00:00:00Z", &empty).unwrap_err().code(), "insufficient_licences");
        let mut before = expired_run.clone();
        before.refused_from = None;
        assert!(before.restored(at("2027-06-01T00:00:00Z")).is_none(), "expired by a refusal stored before: stays");
    }

    #[test]
    fn a_year_that_ends_gives_the_seat_back() {
        let now = at("2027-02-01T02:00:00Z");
        let policy = Policy::resolve([]);
        let user = due_user("a");
        for (due, outcome) in
            [(DueRenewal::Renew(balance(&[])), Outcome::Blocked), (DueRenewal::NoLiveEnrolment, Outcome::Ended)]
        {
            let decided = renew(&org(), &policy, &user, &[], due, now, || "l2".into()).unwrap();
            assert_eq!(decided.outcome, Renewed { outcome, renewal_at: at("2027-02-01T00:00:00Z") });
            assert_eq!(seats_of(&decided.changes), vec!["credit a 1", "held -1"], "{outcome:?}");
        }
        let mut no_date = user.clone();
        no_date.renewal_at = None;
        assert!(renew(&org(), &policy, &no_date, &[], DueRenewal::NoLiveEnrolment, now, || "l2".into()).is_none());
    }
}
