//! Seat accounting, once: the org's running counts, how a change moves them, and the changes
//! that take seats from lots and give them back (docs/domain.md#licences-and-the-balance). Handlers, sweeps and the
//! import all count through here.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::allocation::Balance;
use super::change::Change;
use super::user::{Licence, User};

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
        self.seats_held == 0 && self.included_in_use == 0 && self.active_users == 0 && self.reuse == ReuseChange::None
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
        let Some(year) = year else { return };
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
