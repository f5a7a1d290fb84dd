//! Expiry and its notices (docs/domain.md#expiry).
//!
//! A lot or licence falls due twice: at its reminder horizon (72 hours before its end, [`wake`])
//! it joins its company's day of expiries (the company's own date in its `time_zone`,
//! [`super::expiry_day::ExpiryDay`]), and at its end it is marked expired. Per company and per
//! expiry date, one `expiry_reminder` (within its `reminder_hours`) while the day's first end is
//! still ahead and one `expired` once it has come, each listing the users. [`days`] groups items
//! into days as the sweep does, for the rules' unit tests.
//!
//! Under `renewal = automatic` a licence that ends at its renewal date and will be renewed then
//! is not an expiry ([`Renewing`]): no reminder, no `expired`, never stored as expired by this
//! sweep (the renewal sweep renews it). One the balance cannot pay is named in the reminder as a
//! blocked renewal, with the licences missing, and at its end is the renewal sweep's
//! `renewal_blocked`, not also `expired`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::expiry_day::ExpiryDay;
use super::lot::Lot;
use super::notice::NoticeKind;
use super::policy::Policy;
use super::user::User;

/// How far ahead the due index is read: the longest reminder a policy may name
/// ([`REMINDER_LEAD_TIMES`](super::policy::REMINDER_LEAD_TIMES)).
pub const DUE_AHEAD_HOURS: i64 = 72;

/// The instant the expire sweep next has work for a licence or lot ending at `end`: its
/// reminder horizon (`end` − [`DUE_AHEAD_HOURS`]) until it was merged into its day of expiries
/// for that end (`reminded_for`, see [`super::expiry_day`]), then its end.
pub fn wake(end: DateTime<Utc>, reminded_for: Option<DateTime<Utc>>) -> DateTime<Utc> {
    if reminded_for == Some(end) {
        end
    } else {
        end - Duration::hours(DUE_AHEAD_HOURS)
    }
}

/// Something in the due-by-instant index.
#[derive(Debug, Clone)]
pub enum Ending {
    Lot(Lot),
    User(User),
}

impl Ending {
    pub fn org_id(&self) -> &str {
        match self {
            Ending::Lot(l) => &l.org_id,
            Ending::User(u) => &u.org_id,
        }
    }

    pub fn ends_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Ending::Lot(l) => l.valid_until,
            Ending::User(u) => u.licence.as_ref().and_then(|l| l.valid_until),
        }
    }
}

/// The due users of one org whose licence ends at its automatic renewal and who would be renewed
/// then (renewable, a live enrolment at that instant): `renews` the balance pays for, the
/// earliest renewals first, as the renewal sweep draws on it; `blocked` the rest. Both take the
/// renewal's path, not the expiry's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Renewing {
    pub renews: HashSet<String>,
    pub blocked: HashSet<String>,
}

impl Renewing {
    /// Splits `candidates` (each would be renewed at its renewal date) by what `available`
    /// licences pay for.
    pub fn of(mut candidates: Vec<&User>, available: u64) -> Renewing {
        candidates.sort_by(|a, b| (a.renewal_at, &a.email).cmp(&(b.renewal_at, &b.email)));
        let mut renewing = Renewing::default();
        for (i, u) in candidates.into_iter().enumerate() {
            let set = if (i as u64) < available { &mut renewing.renews } else { &mut renewing.blocked };
            set.insert(u.email.clone());
        }
        renewing
    }

    /// Whether the expiry path leaves `item` alone at `now`: a user who will be renewed, or
    /// whose blocked renewal has come (the renewal sweep's to expire and to tell).
    pub fn takes(&self, item: &Ending, now: DateTime<Utc>) -> bool {
        let Ending::User(u) = item else { return false };
        self.renews.contains(&u.email) || (self.blocked.contains(&u.email) && item.ends_at().is_some_and(|e| e <= now))
    }
}

/// One notice to send, at most once per (org, kind, the org's own date).
#[derive(Debug, Clone, PartialEq)]
pub struct NoticePlan {
    pub org_id: String,
    pub kind: NoticeKind,
    pub date: NaiveDate,
    pub payload: serde_json::Value,
}

/// What ends on one day of one org, that day being its own date in its time zone: users, lots,
/// and the renewals the balance cannot pay.
#[derive(Debug, Clone)]
pub struct Day<'a> {
    pub org_id: String,
    pub date: NaiveDate,
    users: Vec<&'a User>,
    lots: Vec<&'a Lot>,
    blocked: Vec<&'a User>,
}

impl<'a> Day<'a> {
    fn new(org_id: String, date: NaiveDate) -> Self {
        Day { org_id, date, users: Vec::new(), lots: Vec::new(), blocked: Vec::new() }
    }

    fn ends(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let users = self.users.iter().chain(&self.blocked).filter_map(|u| u.licence.as_ref()?.valid_until);
        users.chain(self.lots.iter().filter_map(|l| l.valid_until))
    }

    /// The notice the day calls for: `expired` once any of its ends has come, a reminder before;
    /// `None` when nothing is left in it.
    pub fn kind(&self, now: DateTime<Utc>) -> Option<NoticeKind> {
        let first = self.ends().min()?;
        Some(if first <= now { NoticeKind::Expired } else { NoticeKind::ExpiryReminder })
    }

    /// The UTC dates its items end on: the notices' guards written before notices were grouped
    /// by the org's own date are keyed by those.
    pub fn utc_dates(&self) -> BTreeSet<NaiveDate> {
        self.ends().map(|e| e.date_naive()).collect()
    }

    /// The day without the items that end on one of `told` (UTC dates whose notice of this
    /// kind went out before the switch to the org's own dates): nobody is told twice.
    pub fn without(mut self, told: &BTreeSet<NaiveDate>) -> Self {
        let kept = |end: Option<DateTime<Utc>>| end.is_none_or(|e| !told.contains(&e.date_naive()));
        self.users.retain(|u| kept(u.licence.as_ref().and_then(|l| l.valid_until)));
        self.blocked.retain(|u| kept(u.licence.as_ref().and_then(|l| l.valid_until)));
        self.lots.retain(|l| kept(l.valid_until));
        self
    }

    /// The day's notice at `now` ([`ExpiryDay::plan`]); `None` when it has nothing to say.
    pub fn plan(self, now: DateTime<Utc>) -> Option<NoticePlan> {
        self.summary(0).plan(self.kind(now)?)
    }

    /// The day as its summary holds it, under a lead of `reminder_hours`.
    pub fn summary(&self, reminder_hours: u32) -> ExpiryDay {
        let mut summary = ExpiryDay::new(&self.org_id, self.date);
        summary.merge(&self.users, &self.blocked, &self.lots, reminder_hours, false);
        summary
    }
}

/// The notices `due` calls for at `now` under the default policy.
pub fn notices(due: &[Ending], now: DateTime<Utc>) -> Vec<NoticePlan> {
    notices_renewing(due, &Renewing::default(), now, &Policy::resolve([]))
}

/// The notices `due` calls for at `now` ([`days`]), as if none had been sent before.
pub fn notices_renewing(due: &[Ending], renewing: &Renewing, now: DateTime<Utc>, policy: &Policy) -> Vec<NoticePlan> {
    days(due, renewing, now, policy).into_iter().filter_map(|d| d.plan(now)).collect()
}

/// What `due` holds at `now`, by org and by the org's own date in its time zone (an
/// Amsterdam licence ending at 23:30 UTC ends "tomorrow" there), within the policy's
/// `reminder_hours`. The users of `renewing` take the renewal's path: one who will be renewed is
/// not mentioned; a blocked renewal is named in its day's reminder (with the licences missing),
/// and at its end is left to the renewal sweep.
pub fn days<'a>(due: &'a [Ending], renewing: &Renewing, now: DateTime<Utc>, policy: &Policy) -> Vec<Day<'a>> {
    let horizon = now + Duration::hours(i64::from(policy.reminder_hours));
    let zone = policy.zone();
    let mut by_day: BTreeMap<(String, NaiveDate), Day> = BTreeMap::new();
    for item in due {
        let Some(end) = item.ends_at().filter(|e| *e <= horizon) else { continue };
        if renewing.takes(item, now) {
            continue;
        }
        let key = (item.org_id().to_string(), zone.local(end).date());
        let day = by_day.entry(key.clone()).or_insert_with(|| Day::new(key.0, key.1));
        match item {
            Ending::User(u) if renewing.blocked.contains(&u.email) => day.blocked.push(u),
            Ending::User(u) => day.users.push(u),
            Ending::Lot(l) => day.lots.push(l),
        }
    }
    by_day.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lot::LotStatus;
    use crate::domain::policy::Policy;
    use crate::domain::user;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// A company of 15,000 learners: the notice counts them all and names a bounded sample, so
    /// its item stays small.
    #[test]
    fn the_notice_of_15000_users_stays_bounded() {
        let due = due_users(15_000, "2027-01-15T09:00:00Z");
        let plans = notices(&due, at("2027-01-15T10:00:00Z"));
        assert_eq!(plans.len(), 1);
        let p = &plans[0].payload;
        assert_eq!((p["count"].as_u64(), p["users_truncated"].as_bool()), (Some(15_000), Some(true)));
        assert_eq!(p["users"].as_array().unwrap().len(), crate::domain::notice::SAMPLE);
        assert!(p["message"].as_str().unwrap().starts_with("15000 licences expired"), "{p}");
        assert!(p.to_string().len() < 16 * 1024, "{} bytes", p.to_string().len());
    }

    fn due_users(n: usize, end: &str) -> Vec<Ending> {
        (0..n)
            .map(|i| {
                let u = User::new("c", &format!("u{i}@c.example"), at("2026-01-01T00:00:00Z"));
                Ending::User(user::issue(
                    &u,
                    format!("l{i}"),
                    Some("lot".into()),
                    Some(at(end)),
                    &Policy::resolve([]),
                    at("2026-02-01T00:00:00Z"),
                ))
            })
            .collect()
    }

    fn lot(end: &str) -> Ending {
        Ending::Lot(Lot {
            lot_id: "lot".into(),
            org_id: "c".into(),
            order_id: "o".into(),
            quantity: 10,
            reduced: 0,
            in_use: 10,
            uses: 10,
            uses_per_seat: None,
            valid_from: at("2026-01-15T09:00:00Z"),
            valid_until: Some(at(end)),
            status: LotStatus::Active,
            pro_rata_fraction: None,
            parts: 0,
            part_of: None,
            reminded_for: None,
        })
    }

    /// Worked examples 3 and 4 (docs/domain.md#worked-examples), at the exact instants.
    #[test]
    fn worked_cases_3_and_4_reminder_at_72_hours_expired_at_the_end() {
        let mut due = due_users(10, "2027-01-15T09:00:00Z");
        due.push(lot("2027-01-15T09:00:00Z"));
        assert!(notices(&due, at("2027-01-12T08:59:59Z")).is_empty(), "a second before 72 hours: nothing yet");
        let reminder = notices(&due, at("2027-01-12T09:00:00Z"));
        assert_eq!(reminder.len(), 1);
        assert_eq!((reminder[0].kind, reminder[0].date.to_string()), (NoticeKind::ExpiryReminder, "2027-01-15".into()));
        assert_eq!(reminder[0].payload["count"], 10);
        assert_eq!(notices(&due, at("2027-01-15T08:59:59Z"))[0].kind, NoticeKind::ExpiryReminder);
        let expired = notices(&due, at("2027-01-15T09:00:00Z"));
        assert_eq!((expired.len(), expired[0].kind), (1, NoticeKind::Expired));
        assert_eq!(expired[0].payload["users"].as_array().unwrap().len(), 10);
        assert_eq!(notices(&due, at("2027-01-15T09:00:01Z"))[0].kind, NoticeKind::Expired);
    }

    /// A learner under automatic renewal, activated a term before `end` (so its licence ends at
    /// its renewal date).
    fn renewing_user(email: &str, end: &str) -> User {
        use crate::domain::policy::{PolicySettings, Renewal, TermStarts};
        let policy = Policy::resolve([&PolicySettings {
            term_starts: Some(TermStarts::Activation),
            renewal: Some(Renewal::Automatic),
            ..Default::default()
        }]);
        let start = at(end) - chrono::Months::new(12);
        let pending = user::issue(&User::new("c", email, start), "l".into(), None, None, &policy, start);
        let active = user::activate(&pending, &policy, start).unwrap();
        assert!(crate::domain::renewal::ends_at_renewal(&active));
        active
    }

    /// Worked case 9 (docs/domain.md#worked-examples): Wessel, due for automatic renewal at
    /// 2019-05-11T10:00Z with a live enrolment, is no expiry: no reminder on 05-08, no `expired`
    /// on 05-11, at the instant, a second before or a second after.
    #[test]
    fn worked_case_9_a_learner_who_will_be_renewed_is_not_told_of_an_expiry() {
        let wessel = renewing_user("wessel@c.example", "2019-05-11T10:00:00Z");
        let due = vec![Ending::User(wessel.clone())];
        let renewing = Renewing::of(vec![&wessel], 1);
        for now in ["2019-05-08T10:00:00Z", "2019-05-11T09:59:59Z", "2019-05-11T10:00:00Z", "2019-05-11T10:00:01Z"] {
            assert!(notices_renewing(&due, &renewing, at(now), &Policy::resolve([])).is_empty(), "{now}");
            assert!(renewing.takes(&due[0], at(now)), "{now}: never expired by the expire sweep");
        }
        assert_eq!(notices(&due, at("2019-05-11T10:00:00Z"))[0].kind, NoticeKind::Expired, "as it was told before");
    }

    /// A renewal the balance cannot pay: the reminder names it as blocked with the licences
    /// missing; at the instant it is the renewal sweep's `renewal_blocked`, not also `expired`.
    /// The earliest renewal is paid first.
    #[test]
    fn a_renewal_the_balance_cannot_pay_is_a_blocked_renewal_in_the_reminder_and_no_expired() {
        let first = renewing_user("first@c.example", "2019-05-11T09:00:00Z");
        let later = renewing_user("later@c.example", "2019-05-11T10:00:00Z");
        let mut due = vec![Ending::User(later.clone()), Ending::User(first.clone())];
        due.extend(due_users(1, "2019-05-11T12:00:00Z"));
        let renewing = Renewing::of(vec![&later, &first], 1);
        assert_eq!(renewing.renews, HashSet::from(["first@c.example".to_string()]));
        assert_eq!(renewing.blocked, HashSet::from(["later@c.example".to_string()]));

        let reminder = notices_renewing(&due, &renewing, at("2019-05-08T12:00:00Z"), &Policy::resolve([]));
        assert_eq!((reminder.len(), reminder[0].kind), (1, NoticeKind::ExpiryReminder));
        let p = &reminder[0].payload;
        assert_eq!((p["count"].as_u64(), p["users"].clone()), (Some(1), json!(["u0@c.example"])));
        assert_eq!(
            p["renewal_blocked"],
            json!({"count": 1, "missing": 1, "users": ["later@c.example"], "users_truncated": false})
        );
        assert!(p["message"]
            .as_str()
            .unwrap()
            .contains("1 automatic renewals on 2019-05-11 are blocked: 1 licences are missing"));

        let only_blocked = vec![Ending::User(later.clone())];
        let reminder = notices_renewing(
            &only_blocked,
            &Renewing::of(vec![&later], 0),
            at("2019-05-08T10:00:00Z"),
            &Policy::resolve([]),
        );
        assert_eq!(
            (reminder[0].payload["count"].as_u64(), reminder[0].payload["renewal_blocked"]["count"].as_u64()),
            (Some(0), Some(1))
        );
        assert!(notices_renewing(
            &only_blocked,
            &Renewing::of(vec![&later], 0),
            at("2019-05-11T10:00:00Z"),
            &Policy::resolve([])
        )
        .is_empty());
        let at_end = notices_renewing(&due, &renewing, at("2019-05-11T12:00:00Z"), &Policy::resolve([]));
        assert_eq!((at_end[0].kind, at_end[0].payload["count"].as_u64()), (NoticeKind::Expired, Some(1)));
        assert!(at_end[0].payload.get("renewal_blocked").is_none(), "{}", at_end[0].payload);
    }

    #[test]
    fn one_notice_per_company_per_day() {
        let mut due = due_users(3, "2027-01-15T09:00:00Z");
        due.extend(due_users(2, "2027-01-15T17:00:00Z"));
        due.extend(due_users(1, "2027-01-16T09:00:00Z"));
        let plans = notices(&due, at("2027-01-14T00:00:00Z"));
        let days: Vec<_> = plans.iter().map(|p| (p.date.to_string(), p.payload["count"].as_u64().unwrap())).collect();
        assert_eq!(days, vec![("2027-01-15".to_string(), 5), ("2027-01-16".to_string(), 1)]);
    }

    fn zoned(zone: &str, reminder_hours: u32) -> Policy {
        let settings = crate::domain::policy::PolicySettings {
            time_zone: Some(zone.into()),
            reminder_hours: Some(reminder_hours),
            ..Default::default()
        };
        Policy::resolve([&settings])
    }

    /// "Expired today" is today where the company is: in Amsterdam a licence ending at 23:30 UTC
    /// on the 15th ends on the 16th, and one ending at 22:30 UTC on the 15th (23:30 local) on the
    /// 15th; in Los Angeles one ending at 03:00 UTC on the 16th ends on the 15th.
    #[test]
    fn notices_are_grouped_by_the_orgs_own_date() {
        let mut due = due_users(1, "2027-01-15T23:30:00Z");
        due.extend(due_users(1, "2027-01-15T22:30:00Z").into_iter().map(|e| match e {
            Ending::User(mut u) => {
                u.email = "late@c.example".into();
                Ending::User(u)
            }
            other => other,
        }));
        let dates = |policy: &Policy| -> Vec<String> {
            notices_renewing(&due, &Renewing::default(), at("2027-01-14T00:00:00Z"), policy)
                .iter()
                .map(|p| p.date.to_string())
                .collect()
        };
        assert_eq!(dates(&zoned("Europe/Amsterdam", 72)), ["2027-01-15", "2027-01-16"]);
        assert_eq!(dates(&Policy::resolve([])), ["2027-01-15"], "one UTC day");
        let la = due_users(1, "2027-01-16T03:00:00Z");
        let plans =
            notices_renewing(&la, &Renewing::default(), at("2027-01-14T00:00:00Z"), &zoned("America/Los_Angeles", 72));
        assert_eq!(plans[0].date.to_string(), "2027-01-15");
        assert!(
            plans[0].payload["message"].as_str().unwrap().contains("expire on 2027-01-15"),
            "{:?}",
            plans[0].payload
        );
    }

    /// `reminder_hours = 24`: nothing 25 hours ahead, the reminder 24 hours ahead.
    #[test]
    fn the_reminder_goes_out_reminder_hours_ahead() {
        let due = due_users(2, "2027-01-15T09:00:00Z");
        let policy = zoned("UTC", 24);
        assert!(notices_renewing(&due, &Renewing::default(), at("2027-01-14T08:00:00Z"), &policy).is_empty());
        let plans = notices_renewing(&due, &Renewing::default(), at("2027-01-14T09:00:00Z"), &policy);
        assert_eq!((plans.len(), plans[0].kind), (1, NoticeKind::ExpiryReminder));
    }

    /// A day whose items were partly told by a UTC-dated notice from before names only the others.
    #[test]
    fn a_day_without_what_was_told_before_names_only_the_rest() {
        let mut due = due_users(1, "2027-01-15T23:30:00Z");
        due.push(lot("2027-01-16T08:00:00Z"));
        let days = days(&due, &Renewing::default(), at("2027-01-14T00:00:00Z"), &zoned("Europe/Amsterdam", 72));
        assert_eq!(days.len(), 1);
        let day = days.into_iter().next().unwrap();
        let utc: Vec<String> = day.utc_dates().iter().map(|d| d.to_string()).collect();
        assert_eq!(utc, ["2027-01-15", "2027-01-16"]);
        let told: BTreeSet<NaiveDate> = ["2027-01-15".parse().unwrap()].into();
        let plan = day.clone().without(&told).plan(at("2027-01-14T00:00:00Z")).unwrap();
        assert_eq!((plan.payload["count"].as_u64(), plan.payload["lots"].as_array().unwrap().len()), (Some(0), 1));
        let all: BTreeSet<NaiveDate> = ["2027-01-15".parse().unwrap(), "2027-01-16".parse().unwrap()].into();
        assert!(day.without(&all).plan(at("2027-01-14T00:00:00Z")).is_none(), "everything was told");
    }
}
