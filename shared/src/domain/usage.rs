//! Usage and overage (docs/domain.md#usage-and-overage): one trustworthy number per org — limit, used,
//! remaining — and, from the daily snapshots, how long and how far it has been over.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

use super::allocation::Balance;
use super::lot::{Lot, LotStatus};
use super::org::Org;
use super::policy::{Counting, Policy};
use super::seats::Counters;
use super::term::term_end;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverageState {
    None,
    Minor,
    MinorActionDue,
    Major,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overage {
    pub state: OverageState,
    pub since: Option<NaiveDate>,
    pub business_days: u32,
}

impl Overage {
    pub fn none() -> Self {
        Overage { state: OverageState::None, since: None, business_days: 0 }
    }
}

/// What an org holds: its own figures, or its subtree's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub limit: u64,
    pub used: u64,
    pub remaining: u64,
}

impl std::ops::Add for Figures {
    type Output = Figures;
    fn add(self, o: Figures) -> Figures {
        Figures { limit: self.limit + o.limit, used: self.used + o.used, remaining: self.remaining + o.remaining }
    }
}

/// One day's record of an org: its own figures and its subtree's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub org_id: String,
    pub date: NaiveDate,
    pub own: Figures,
    pub subtree: Figures,
}

/// An org's overage as of its latest snapshot, kept in its usage tree so a report reads it with
/// the counts: `own` from its own figures, `subtree` from its and its descendants'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageState {
    pub org_id: String,
    pub date: NaiveDate,
    pub own: Overage,
    pub subtree: Overage,
    /// The instant the hourly check first found the current major overage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major_since: Option<DateTime<Utc>>,
    /// The instant that major overage was raised to the next tier (or found none left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgraded_at: Option<DateTime<Utc>>,
    /// Written over the version read (0: never written, or written before states had versions).
    #[serde(default)]
    pub version: u64,
}

/// The start of an org's licence year under `counting = active_users`: the first day of its
/// earliest unexpired lot (docs/domain.md#active-users-and-reuse).
pub fn licence_year(lots: &[super::lot::Lot], now: chrono::DateTime<chrono::Utc>) -> Option<NaiveDate> {
    lots.iter().filter(|l| l.status_at(now) == super::lot::LotStatus::Active).map(|l| l.valid_from.date_naive()).min()
}

/// The distinct users active in the org's licence year at `now`: until the year's first change
/// of an active user, those of a year that just began are the users active now.
pub fn distinct_users(lots: &[Lot], counters: &Counters, now: DateTime<Utc>) -> u64 {
    match (licence_year(lots, now), counters.reuse_year) {
        (Some(y), Some(counted)) if y == counted => counters.reuse.max(0) as u64,
        _ => counters.active_users.max(0) as u64,
    }
}

/// An org's own figures at `now`: `limit` = seats in unexpired lots + included seats; `used` by
/// the policy's counting; `remaining` = what can still be given (never below 0).
pub fn own_figures(policy: &Policy, lots: &[Lot], counters: &Counters, now: DateTime<Utc>) -> Figures {
    let balance = Balance {
        lots: lots.to_vec(),
        seats_included: policy.seats_included,
        included_in_use: counters.included_in_use.max(0) as u32,
    };
    let limit = balance.limit(now);
    let (used, remaining) = match policy.counting {
        Counting::Licences => (counters.seats_held.max(0) as u64, balance.available(now)),
        Counting::ActiveUsers => {
            // Beyond `uses_per_seat` distinct users a seat, the year's reuse counts as seats
            // used (docs/domain.md#active-users-and-reuse): under soft enforcement, overage.
            let reused = policy
                .uses_per_seat
                .cap()
                .filter(|n| *n > 0)
                .map_or(0, |n| distinct_users(lots, counters, now).div_ceil(n as u64));
            let used = (counters.active_users.max(0) as u64).max(reused);
            (used, limit.saturating_sub(used))
        }
        Counting::Users => {
            let used = counters.with_access.max(0) as u64;
            (used, limit.saturating_sub(used))
        }
    };
    Figures { limit, used, remaining }
}

/// Own and subtree figures of every org of a tree, each org's policy resolved along its chain.
pub struct TreeFigures {
    pub policies: HashMap<String, Policy>,
    pub own: HashMap<String, Figures>,
    pub subtree: HashMap<String, Figures>,
}

/// The figures of `orgs` (a tree as read, with their running `counters` and unexpired `lots` by
/// org id), resolving each org's policy along its chain (`above`: the orgs above the tree's top,
/// which the tree does not hold).
pub fn tree_figures(
    above: &[Org],
    orgs: &[Org],
    counters: &HashMap<String, Counters>,
    lots: &HashMap<String, Vec<Lot>>,
    now: DateTime<Utc>,
) -> TreeFigures {
    let by_id: HashMap<&str, &Org> = above.iter().chain(orgs).map(|o| (o.org_id.as_str(), o)).collect();
    let mut out = TreeFigures { policies: HashMap::new(), own: HashMap::new(), subtree: HashMap::new() };
    let none = Counters::default();
    for org in orgs {
        let chain = org.ancestors.iter().filter_map(|a| by_id.get(a.as_str())).map(|o| &o.policy);
        let policy = Policy::resolve(chain.chain([&org.policy]));
        let org_lots = lots.get(&org.org_id).map(Vec::as_slice).unwrap_or_default();
        let own = own_figures(&policy, org_lots, counters.get(&org.org_id).unwrap_or(&none), now);
        out.own.insert(org.org_id.clone(), own);
        for id in org.chain() {
            let e = out.subtree.entry(id.to_string()).or_default();
            *e = *e + own;
        }
        out.policies.insert(org.org_id.clone(), policy);
    }
    out
}

/// The fraction of the licence year left at `now` (three decimals): the year runs a term of
/// `term_months` from the first day of the org's earliest active lot; `None` without one.
pub fn pro_rata_fraction(lots: &[Lot], term_months: u32, now: DateTime<Utc>) -> Option<f64> {
    let start = lots.iter().filter(|l| l.status_at(now) == LotStatus::Active).map(|l| l.valid_from).min()?;
    let end = term_end(start, term_months);
    let left = (end - now).num_seconds().max(0) as f64 / (end - start).num_seconds().max(1) as f64;
    Some((left.min(1.0) * 1000.0).round() / 1000.0)
}

/// Percent used with one decimal (an org with no seats and users in use is at 100%).
pub fn percent(used: u64, limit: u64) -> f64 {
    match (used, limit) {
        (0, _) => 0.0,
        (_, 0) => 100.0,
        _ => (used as f64 * 1000.0 / limit as f64).round() / 10.0,
    }
}

/// Monday to Friday days in `[from, to]`.
pub fn business_days(from: NaiveDate, to: NaiveDate) -> u32 {
    from.iter_days().take_while(|d| *d <= to).filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)).count()
        as u32
}

/// The overage a series of daily `(date, used, limit)` records shows as of its latest: the run of
/// days over the limit that reaches it. Over 106% is major; over the limit up to 106% is minor,
/// "action due" after 10 business days and major after 20.
pub fn overage(series: &[(NaiveDate, u64, u64)]) -> Overage {
    let mut days: Vec<&(NaiveDate, u64, u64)> = series.iter().collect();
    days.sort_by_key(|d| std::cmp::Reverse(d.0));
    let over = |d: &&(NaiveDate, u64, u64)| d.1 > d.2;
    let Some(latest) = days.first().filter(|d| over(d)) else { return Overage::none() };
    let since = days.iter().take_while(|d| over(d)).last().map(|d| d.0).unwrap_or(latest.0);
    let business = business_days(since, latest.0);
    let major_now = latest.2 == 0 || latest.1 as f64 > latest.2 as f64 * 1.06;
    let state = if major_now || business > 20 {
        OverageState::Major
    } else if business > 10 {
        OverageState::MinorActionDue
    } else {
        OverageState::Minor
    };
    Overage { state, since: Some(since), business_days: business }
}

/// The next tier for `used` seats: the smallest of `tiers` that holds them.
pub fn next_tier(tiers: &[u32], used: u64) -> Option<u32> {
    tiers.iter().copied().filter(|t| *t as u64 >= used).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn days(from: &str, n: i64, used: u64, limit: u64) -> Vec<(NaiveDate, u64, u64)> {
        (0..n).map(|i| (d(from) + chrono::Duration::days(i), used, limit)).collect()
    }

    /// Worked example 8 (docs/domain.md#example-8-overage).
    #[test]
    fn worked_case_8_minor_then_major() {
        // 2026-06-01 is a Monday: three business days at 104%.
        let o = overage(&days("2026-06-01", 3, 1040, 1000));
        assert_eq!((o.state, o.since, o.business_days), (OverageState::Minor, Some(d("2026-06-01")), 3));
        let mut s = days("2026-06-01", 3, 1040, 1000);
        s.push((d("2026-06-04"), 1070, 1000));
        assert_eq!(overage(&s).state, OverageState::Major);
    }

    #[test]
    fn the_105_to_106_band_is_minor() {
        assert_eq!(overage(&days("2026-06-01", 1, 1050, 1000)).state, OverageState::Minor);
        assert_eq!(overage(&days("2026-06-01", 1, 1060, 1000)).state, OverageState::Minor);
        assert_eq!(overage(&days("2026-06-01", 1, 1061, 1000)).state, OverageState::Major);
        assert_eq!(overage(&days("2026-06-01", 1, 1000, 1000)).state, OverageState::None);
    }

    #[test]
    fn a_minor_overage_becomes_action_due_after_10_and_major_after_20_business_days() {
        // From Monday 2026-06-01, one record a day, weekends included.
        let over = |n| overage(&days("2026-06-01", n, 1010, 1000));
        assert_eq!((over(12).state, over(12).business_days), (OverageState::Minor, 10)); // to Fri 06-12
        assert_eq!((over(15).state, over(15).business_days), (OverageState::MinorActionDue, 11)); // Mon 06-15
        assert_eq!((over(26).state, over(26).business_days), (OverageState::MinorActionDue, 20)); // Fri 06-26
        assert_eq!((over(29).state, over(29).business_days), (OverageState::Major, 21)); // Mon 06-29
                                                                                         // Weekend days add no business days.
        assert_eq!(business_days(d("2026-06-05"), d("2026-06-08")), 2);
    }

    #[test]
    fn a_day_back_under_the_limit_ends_the_run() {
        let mut s = days("2026-06-01", 20, 1010, 1000);
        s.push((d("2026-06-21"), 990, 1000));
        assert_eq!(overage(&s).state, OverageState::None);
        s.push((d("2026-06-22"), 1010, 1000));
        assert_eq!(overage(&s).since, Some(d("2026-06-22")));
    }

    #[test]
    fn percent_has_one_decimal_and_tiers_round_up() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(next_tier(&[100, 150, 200], 107), Some(150));
        assert_eq!(next_tier(&[100, 150], 250), None);
    }
}
