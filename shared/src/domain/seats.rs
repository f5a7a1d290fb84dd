//! Seat accounting, once: the org's running counts, how a change moves them, and the changes
//! that take seats from lots and give them back (docs/domain.md#licences-and-the-balance). Handlers, sweeps and the
//! import all count through here.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::allocation::Balance;
use super::change::Change;
use super::policy::{Counting, Enforcement, Policy};
use super::user::{Licence, User};
use super::DomainError;

/// Running counts of an org, kept current in the same transaction as every change to them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Users holding a pending or active licence.
    #[serde(default)]
    pub seats_held: i64,
    /// Included seats (policy `seats_included`) in use.
    #[serde(default)]
    pub included_in_use: i64,
    /// Users with at least one live enrolment.
    #[serde(default)]
    pub active_users: i64,
    /// The licence year `reuse` counts (the `valid_from` date of the org's earliest unexpired
    /// lot when it was counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_year: Option<chrono::NaiveDate>,
    /// Distinct users active in the licence year `reuse_year`.
    #[serde(default)]
    pub reuse: i64,
    /// Users with access (not released), licensed or not: what `counting = users` counts.
    #[serde(default)]
    pub with_access: i64,
    /// Of `active_users`, what the spread items hold (the rest is on the counters item): a
    /// condition on the counters item's own count takes it off (docs/architecture.md#seat-parts).
    #[serde(skip)]
    pub spread_active_users: i64,
}

impl Counters {
    /// `self` and `other` summed: an org's counters item and its spread items (which hold the
    /// seats held and, where nothing limits them, active users) read as one.
    pub fn plus(self, other: Counters) -> Counters {
        Counters {
            seats_held: self.seats_held + other.seats_held,
            included_in_use: self.included_in_use + other.included_in_use,
            active_users: self.active_users + other.active_users,
            reuse_year: self.reuse_year.or(other.reuse_year),
            reuse: self.reuse + other.reuse,
            with_access: self.with_access + other.with_access,
            spread_active_users: self.spread_active_users + other.spread_active_users,
        }
    }
}

/// What an active user's change needs for the reuse count: the org's counters as read and,
/// under `counting = active_users`, its licence year (otherwise `None`, and only the count of
/// active users moves).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reuse {
    pub counters: Counters,
    pub year: Option<NaiveDate>,
}

/// A change to an org's counters, with the limits a hard policy puts on them.
#[derive(Debug, Clone, Default)]
pub struct CounterChange {
    pub seats_held: i64,
    pub included_in_use: i64,
    pub active_users: i64,
    /// `included_in_use` may not pass this.
    pub included_max: Option<i64>,
    /// `active_users` may not pass this (hard enforcement under `counting = active_users`).
    pub active_users_max: Option<i64>,
    pub reuse: ReuseChange,
    /// `reuse` may not pass this (hard enforcement of `uses_per_seat` under `counting =
    /// active_users`).
    pub reuse_max: Option<i64>,
    /// Users with access: +1 for a user created or restored (given access after a release),
    /// −1 for one released.
    pub with_access: i64,
    /// `with_access` may not pass this (hard enforcement under `counting = users`).
    pub with_access_max: Option<i64>,
    /// The write holds only while `with_access` is as read (absent counts as 0): a count made
    /// from the users themselves (the backfill) replaces it.
    pub with_access_read: Option<i64>,
    /// The org does not count active users (no licence year, no limit on them): the change to
    /// `active_users` may go to a spread item with the seats held.
    pub active_spreadable: bool,
    /// Of the active users read, what the spread items held
    /// ([`Counters::spread_active_users`]): the conditions on the counters item's own count
    /// (the reuse start, a hard limit) take it off.
    pub active_spread_read: i64,
}

/// How the distinct active users of the licence year (`reuse`) change with a write.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ReuseChange {
    #[default]
    None,
    /// One more distinct user in `year`, which the counters count already.
    Add { year: NaiveDate },
    /// The first change of an active user in a new licence year: the year's distinct users
    /// start as the users active when the counters were read (`active_read`; nobody changed
    /// since the year began, or the counters would count it already) and `value` after this
    /// change. Conditional on both reads still holding.
    Start { year: NaiveDate, counted: Option<NaiveDate>, active_read: i64, value: i64 },
}

impl CounterChange {
    pub fn is_empty(&self) -> bool {
        self.seats_held == 0
            && self.included_in_use == 0
            && self.active_users == 0
            && self.with_access == 0
            && self.reuse == ReuseChange::None
    }

    /// Adds `other`, decided after this one on the counters as this one leaves them (a bulk
    /// change's users, one after another): the counts sum, each limit is the lower, and the
    /// reuse count's change is the one that has one. Two reuse changes do not sum (an `Add` is
    /// one user): `None`, and nothing is changed.
    pub fn absorb(&mut self, other: &CounterChange) -> Option<()> {
        if other.is_empty() {
            return Some(());
        }
        if self.is_empty() {
            *self = other.clone();
            return Some(());
        }
        let reuse = match (&self.reuse, &other.reuse) {
            (r, ReuseChange::None) | (ReuseChange::None, r) => r.clone(),
            _ => return None,
        };
        let lower = |a: Option<i64>, b: Option<i64>| a.into_iter().chain(b).min();
        self.seats_held += other.seats_held;
        self.included_in_use += other.included_in_use;
        self.active_users += other.active_users;
        self.with_access += other.with_access;
        self.included_max = lower(self.included_max, other.included_max);
        self.active_users_max = lower(self.active_users_max, other.active_users_max);
        self.reuse_max = lower(self.reuse_max, other.reuse_max);
        self.with_access_max = lower(self.with_access_max, other.with_access_max);
        self.with_access_read = self.with_access_read.or(other.with_access_read);
        self.active_spreadable &= other.active_spreadable;
        self.reuse = reuse;
        Some(())
    }

    /// `user` starts (`active = true`) or stops being one of the org's active users. With the
    /// org's licence `year` (counted only under `counting = active_users`) the distinct users
    /// of that year follow: a user is counted once a year however often it comes back. The
    /// counters are those read before the write; the write's conditions hold them to it.
    pub fn set_active(&mut self, user: &mut User, active: bool, reuse: &Reuse) {
        let (counters, year) = (&reuse.counters, reuse.year);
        if user.active == active {
            return;
        }
        user.active = active;
        self.active_users += if active { 1 } else { -1 };
        self.active_spread_read = counters.spread_active_users;
        let Some(year) = year else {
            self.active_spreadable = true;
            return;
        };
        if counters.reuse_year != Some(year) {
            let value = counters.active_users.max(0) + i64::from(active);
            self.reuse =
                ReuseChange::Start { year, counted: counters.reuse_year, active_read: counters.active_users, value };
        } else if active && user.reuse_year != Some(year) {
            self.reuse = ReuseChange::Add { year };
        }
        // Active at some time of `year`: counted in it, by the start or by an `Add`.
        user.reuse_year = Some(year);
    }
}

/// Whether writing a user with access over `before` (as read; `None`: new) adds one to the
/// org's users with access: it is created, or restored after a release.
pub fn adds_user(before: Option<&User>) -> bool {
    before.is_none_or(|u| u.released_at.is_some())
}

/// The room an org has for users with access. Under `counting = users` with hard enforcement
/// the limit (seats in unexpired lots plus included seats) and the users counted when read;
/// otherwise unbounded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headcount {
    pub bound: Option<UserLimit>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserLimit {
    /// Seats in unexpired lots plus included seats.
    pub limit: u64,
    /// Of which included in the base subscription.
    pub included: u32,
    /// Users with access, as read.
    pub used: i64,
}

impl Headcount {
    /// The headcount of an org under `policy`, from its `balance` and `counters` as read.
    pub fn of(policy: &Policy, balance: &Balance, counters: &Counters, now: chrono::DateTime<chrono::Utc>) -> Self {
        let enforced = policy.counting == Counting::Users && policy.enforcement == Enforcement::Hard;
        let bound = enforced.then(|| UserLimit {
            limit: balance.limit(now),
            included: policy.seats_included,
            used: counters.with_access,
        });
        Headcount { bound }
    }

    /// `adds` more users with access, counted in `change`: within the limit (the write's
    /// condition holds the counters to it), or refused with a message naming `who`, the users and how to get more.
    pub fn admit(&self, adds: u64, who: &str, change: &mut CounterChange) -> Result<(), DomainError> {
        self.admit_replacing(adds, 0, who, change)
    }

    /// [`Headcount::admit`] for `adds` that replace `leaving` users who lose access in the same
    /// work (a sync's releases, which follow its licences): within the limit once they have
    /// left. Until they have, the counters may stand up to `leaving` above the limit (the write's
    /// condition allows that much, no more), and every other creation is refused meanwhile.
    pub fn admit_replacing(
        &self,
        adds: u64,
        leaving: u64,
        who: &str,
        change: &mut CounterChange,
    ) -> Result<(), DomainError> {
        change.with_access += adds as i64;
        let Some(bound) = self.bound.as_ref().filter(|_| adds > 0) else { return Ok(()) };
        let limit = bound.limit as i64;
        if bound.used + adds as i64 - leaving as i64 <= limit {
            change.with_access_max = Some(limit + leaving as i64);
            return Ok(());
        }
        let used = bound.used.max(0);
        Err(DomainError::SeatLimitReached {
            message: format!(
                "{who} cannot be given access: {used} of {limit} users. The subscription holds {limit} users \
                 ({} ordered, {} included) and all are in use. Order more users (request licences) \
                 or release a user who no longer needs access.",
                limit - bound.included as i64,
                bound.included,
            ),
            limit: bound.limit,
            used: used as u64,
        })
    }
}

/// Takes the seats of `licences` new licences: `lot_debits` (`(lot_id, seats)`) from the lots of
/// `balance` they were planned from, and `included` of the org's included seats (held within
/// `seats_included` by the counters' condition); counted in `change`. The changes for the lots.
pub fn take<'a>(
    balance: &Balance,
    lot_debits: impl IntoIterator<Item = (&'a String, u32)>,
    included: u32,
    licences: u32,
    change: &mut CounterChange,
) -> Vec<Change> {
    change.seats_held += licences as i64;
    change.included_in_use += included as i64;
    change.included_max = Some(balance.seats_included as i64);
    lot_debits
        .into_iter()
        .filter_map(|(lot_id, seats)| {
            let lot = balance.lots.iter().find(|l| &l.lot_id == lot_id)?;
            Some(Change::DebitLot { lot: lot.clone(), seats })
        })
        .collect()
}

/// Gives back the seat `licence` holds: to its lot (`in_use` falls, `uses` stays: a licence
/// was issued), or to the org's included seats; counted in `change`. The change for the lot,
/// when the seat came from one.
pub fn give_back(org_id: &str, licence: &Licence, change: &mut CounterChange) -> Option<Change> {
    change.seats_held -= 1;
    match &licence.lot_id {
        Some(lot_id) => Some(Change::CreditLot {
            org_id: org_id.to_string(),
            lot_id: lot_id.clone(),
            lot_valid_until: licence.lot_valid_until,
            seats: 1,
        }),
        None => {
            change.included_in_use -= 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn changes_decided_one_after_another_merge_into_one_write_or_refuse_two_reuse_changes() {
        let year = d("2026-01-15");
        let start = ReuseChange::Start { year, counted: None, active_read: 3, value: 3 };
        let first =
            CounterChange { active_users: -1, reuse: start.clone(), active_users_max: Some(9), ..Default::default() };
        let off = CounterChange { active_users: -1, active_users_max: Some(7), ..Default::default() };
        let mut merged = CounterChange::default();
        merged.absorb(&first).unwrap();
        merged.absorb(&CounterChange::default()).unwrap();
        merged.absorb(&off).unwrap();
        assert_eq!((merged.active_users, &merged.reuse, merged.active_users_max), (-2, &start, Some(7)));
        let add = CounterChange { active_users: 1, reuse: ReuseChange::Add { year }, ..Default::default() };
        let before = merged.clone();
        assert!(merged.absorb(&add).is_none(), "an Add is one user: it does not sum with a start");
        assert_eq!(merged.active_users, before.active_users, "a refused merge changes nothing");
        let spread = CounterChange { active_users: -1, active_spreadable: true, ..Default::default() };
        let mut both = spread.clone();
        both.absorb(&spread).unwrap();
        assert!(both.active_spreadable && both.active_users == -2);
    }

    #[test]
    fn a_user_is_counted_once_a_licence_year_and_a_new_year_starts_from_the_active_users() {
        let year = Some(d("2026-01-15"));
        let mut ann = User::new("o", "ann@o.example", "2026-01-01T00:00:00Z".parse().unwrap());
        let counters = Counters { active_users: 4, reuse_year: year, reuse: 9, ..Default::default() };

        let mut on = CounterChange::default();
        on.set_active(&mut ann, true, &Reuse { counters: counters.clone(), year });
        assert_eq!((on.active_users, on.reuse.clone()), (1, ReuseChange::Add { year: d("2026-01-15") }));
        let mut off = CounterChange::default();
        off.set_active(&mut ann, false, &Reuse { counters: counters.clone(), year });
        assert_eq!((off.active_users, off.reuse), (-1, ReuseChange::None));
        let mut back = CounterChange::default();
        back.set_active(&mut ann, true, &Reuse { counters: counters.clone(), year });
        assert_eq!((back.active_users, back.reuse), (1, ReuseChange::None), "counted this year already");
        let mut same = CounterChange::default();
        same.set_active(&mut ann, true, &Reuse { counters: counters.clone(), year });
        assert!(same.is_empty(), "no change, nothing counted");

        // The first change in a new year starts it from the users active as read.
        let next = Some(d("2027-01-20"));
        let mut leaves = CounterChange::default();
        leaves.set_active(&mut ann, false, &Reuse { counters: counters.clone(), year: next });
        assert_eq!(leaves.reuse, ReuseChange::Start { year: d("2027-01-20"), counted: year, active_read: 4, value: 4 });
        assert_eq!(ann.reuse_year, next);

        // Without a licence year (not counting active users) only the count moves.
        let mut plain = CounterChange::default();
        plain.set_active(&mut ann, true, &Reuse::default());
        assert_eq!((plain.active_users, plain.reuse), (1, ReuseChange::None));
    }
}
