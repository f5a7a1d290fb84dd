//! An org's day of expiries (docs/domain.md#expiry): what its notices say, merged as each
//! licence and lot of the day reaches its reminder horizon (72 hours before its end), so the
//! day's `expiry_reminder` and `expired` are written from it without reading the day's items
//! again. The expire sweep merges an item and marks it merged (`reminded_for`) in one
//! transaction, so an item is counted once however often the sweep is retried.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::expiry::NoticePlan;
use super::lot::{self, Lot};
use super::notice::{self, NoticeKind};
use super::user::User;

/// The lots a day names at most (each lot once, its parts summed); the seats they leave
/// unissued are counted whole either way.
pub const MAX_DAY_LOTS: usize = 100;

/// One org's day of expiries, its own date in its time zone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExpiryDay {
    pub org_id: String,
    pub date: NaiveDate,
    #[serde(default)]
    pub version: u64,
    /// The first end among its licences and lots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_end: Option<DateTime<Utc>>,
    /// The org's `reminder_hours` when an item was last merged.
    #[serde(default)]
    pub reminder_hours: u32,
    /// What it holds for both notices.
    #[serde(flatten)]
    pub tally: Tally,
    /// What it holds for its `expired` alone: items a reminder keyed by their UTC date told
    /// before notices were grouped by the org's own date.
    #[serde(default, skip_serializing_if = "Tally::is_empty")]
    pub told_before: Tally,
    /// The UTC dates its items end on (notices from before notices were grouped by the org's
    /// own date are keyed by those).
    #[serde(default)]
    pub utc_dates: BTreeSet<NaiveDate>,
    #[serde(default)]
    pub reminder_sent: bool,
    #[serde(default)]
    pub expired_sent: bool,
}

/// Licences, blocked renewals and lots of a day, as its notices count and name them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Licences that expire on the day, and the first of their e-mails in order
    /// ([`notice::SAMPLE`] at most).
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub users: Vec<String>,
    /// Automatic renewals on the day the balance could not pay, and a sample of their e-mails.
    #[serde(default)]
    pub blocked_count: u64,
    #[serde(default)]
    pub blocked: Vec<String>,
    /// Lots ending on the day ([`MAX_DAY_LOTS`] named at most).
    #[serde(default)]
    pub lots: Vec<DayLot>,
    /// Seats of the day's lots not in use when they were merged.
    #[serde(default)]
    pub unissued_lapsing: u64,
}

impl Tally {
    pub fn is_empty(&self) -> bool {
        self.count == 0 && self.blocked_count == 0 && self.lots.is_empty()
    }

    fn add(&mut self, users: &[&User], blocked: &[&User], lots: &[&Lot]) {
        self.count += users.len() as u64;
        add_sample(&mut self.users, users.iter().map(|u| u.email.as_str()));
        self.blocked_count += blocked.len() as u64;
        add_sample(&mut self.blocked, blocked.iter().map(|u| u.email.as_str()));
        for l in lots {
            self.add_lot(DayLot {
                lot_id: lot::family(&l.lot_id).to_string(),
                valid_until: l.valid_until,
                unissued: u64::from(l.quantity.saturating_sub(l.in_use)),
            });
        }
    }

    fn add_lot(&mut self, lot: DayLot) {
        self.unissued_lapsing += lot.unissued;
        let room = self.lots.len() < MAX_DAY_LOTS;
        match self.lots.iter_mut().find(|d| d.lot_id == lot.lot_id) {
            Some(named) => named.unissued += lot.unissued,
            None if room => self.lots.push(lot),
            None => {}
        }
    }

    /// Both tallies in one.
    fn plus(&self, other: &Tally) -> Tally {
        let mut sum = self.clone();
        sum.count += other.count;
        add_sample(&mut sum.users, other.users.iter().map(String::as_str));
        sum.blocked_count += other.blocked_count;
        add_sample(&mut sum.blocked, other.blocked.iter().map(String::as_str));
        for lot in &other.lots {
            sum.add_lot(lot.clone());
        }
        sum.unissued_lapsing = self.unissued_lapsing + other.unissued_lapsing;
        sum
    }
}

/// A lot a day names: its id (the lot's, whatever part ended), end, and seats not in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayLot {
    pub lot_id: String,
    pub valid_until: Option<DateTime<Utc>>,
    pub unissued: u64,
}

impl ExpiryDay {
    pub fn new(org_id: &str, date: NaiveDate) -> Self {
        ExpiryDay { org_id: org_id.to_string(), date, ..Default::default() }
    }

    /// Adds licences that expire on the day, renewals on it the balance cannot pay, and lots
    /// ending on it, under the org's `reminder_hours`; `told_before`: for its `expired` alone.
    pub fn merge(&mut self, users: &[&User], blocked: &[&User], lots: &[&Lot], reminder_hours: u32, told_before: bool) {
        let user_ends = users.iter().chain(blocked).filter_map(|u| u.licence.as_ref()?.valid_until);
        for end in user_ends.chain(lots.iter().filter_map(|l| l.valid_until)) {
            self.first_end = Some(self.first_end.map_or(end, |first| first.min(end)));
            self.utc_dates.insert(end.date_naive());
        }
        let tally = if told_before { &mut self.told_before } else { &mut self.tally };
        tally.add(users, blocked, lots);
        self.reminder_hours = reminder_hours;
    }

    fn lead(&self) -> Duration {
        Duration::hours(i64::from(self.reminder_hours))
    }

    /// The notice the day calls for at `now`: `expired` once its first end has come (unless
    /// sent), a reminder within `reminder_hours` before it (unless one was sent); `None` when
    /// neither.
    pub fn due(&self, now: DateTime<Utc>) -> Option<NoticeKind> {
        let first = self.first_end?;
        if self.expired_sent {
            None
        } else if first <= now {
            Some(NoticeKind::Expired)
        } else if !self.reminder_sent && first - self.lead() <= now {
            Some(NoticeKind::ExpiryReminder)
        } else {
            None
        }
    }

    /// When a notice of the day next falls due (its place in the due index); `None` once its
    /// `expired` was sent.
    pub fn wake(&self) -> Option<DateTime<Utc>> {
        let first = self.first_end?;
        match (self.reminder_sent, self.expired_sent) {
            (_, true) => None,
            (true, false) => Some(first),
            (false, false) => Some(first - self.lead()),
        }
    }

    /// Records that the day's notice of `kind` went out (or had nothing to say): an `expired`
    /// ends the day's reminder too.
    pub fn sent(&mut self, kind: NoticeKind) {
        self.reminder_sent = true;
        if kind == NoticeKind::Expired {
            self.expired_sent = true;
        }
    }

    /// The day's notice of `kind`; `None` when it has nothing to say. A blocked renewal is told
    /// ahead only: at its end it is the renewal sweep's `renewal_blocked`.
    pub fn plan(&self, kind: NoticeKind) -> Option<NoticePlan> {
        let first_end = self.first_end?;
        let t = if kind == NoticeKind::Expired { self.tally.plus(&self.told_before) } else { self.tally.clone() };
        let blocked = (kind == NoticeKind::ExpiryReminder && t.blocked_count > 0).then(|| {
            let (n, truncated) = (t.blocked_count, t.blocked_count > t.blocked.len() as u64);
            json!({ "count": n, "missing": n, "users": t.blocked, "users_truncated": truncated })
        });
        if t.count == 0 && t.lots.is_empty() && blocked.is_none() {
            return None;
        }
        let (date, count) = (self.date, t.count);
        let mut said = Vec::new();
        if count > 0 || !t.lots.is_empty() {
            said.push(match kind {
                NoticeKind::Expired => format!("{count} licences expired on {date}."),
                _ => format!("{count} licences expire on {date}."),
            });
        }
        if blocked.is_some() {
            let n = t.blocked_count;
            said.push(format!("{n} automatic renewals on {date} are blocked: {n} licences are missing."));
        }
        let lots: Vec<_> = t
            .lots
            .iter()
            .map(|l| json!({ "lot_id": l.lot_id, "valid_until": l.valid_until, "unissued": l.unissued }))
            .collect();
        let mut payload = json!({
            "expiry_date": date,
            // The instant the first of the day's licences ends (the e-mail shows it).
            "ends_at": first_end,
            "count": count,
            "users": t.users,
            "users_truncated": count > t.users.len() as u64,
            "lots": lots,
            "unissued_lapsing": t.unissued_lapsing,
            "message": format!("{} Request new licences from your account manager, then allocate them to the learners who need one.", said.join(" ")),
        });
        if let Some(b) = blocked {
            payload["renewal_blocked"] = b;
        }
        Some(NoticePlan { org_id: self.org_id.clone(), kind, date, payload })
    }

    /// The day without the users of `gone` it names (counted off too).
    pub fn without(mut self, gone: &BTreeSet<String>) -> Self {
        for tally in [&mut self.tally, &mut self.told_before] {
            let named = tally.users.len();
            tally.users.retain(|e| !gone.contains(e));
            tally.count = tally.count.saturating_sub((named - tally.users.len()) as u64);
        }
        self
    }

    /// The lots it names with their seats not in use as `live` lots (parts summed) say now; the
    /// ones `live` no longer holds keep what they had.
    pub fn with_lots_as(mut self, live: &[Lot]) -> Self {
        for tally in [&mut self.tally, &mut self.told_before] {
            let mut lapsing = i128::from(tally.unissued_lapsing);
            for named in &mut tally.lots {
                let parts = live.iter().filter(|l| lot::family(&l.lot_id) == named.lot_id);
                if let Some(now) = parts.map(|l| u64::from(l.quantity.saturating_sub(l.in_use))).reduce(|a, b| a + b) {
                    lapsing += i128::from(now) - i128::from(named.unissued);
                    named.unissued = now;
                }
            }
            tally.unissued_lapsing = lapsing.max(0) as u64;
        }
        self
    }
}

/// Adds e-mails to a day's `sample`: the first [`notice::SAMPLE`] in order.
fn add_sample<'a>(sample: &mut Vec<String>, emails: impl Iterator<Item = &'a str>) {
    let mut all: BTreeSet<String> = sample.drain(..).collect();
    all.extend(emails.map(str::to_string));
    sample.extend(all.into_iter().take(notice::SAMPLE));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::Policy;
    use crate::domain::user;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn licensed(email: &str, end: &str) -> User {
        let u = User::new("c", email, at("2026-01-01T00:00:00Z"));
        user::issue(
            &u,
            format!("l-{email}"),
            Some("lot".into()),
            Some(at(end)),
            &Policy::resolve([]),
            at("2026-02-01T00:00:00Z"),
        )
    }

    fn lot_part(id: &str, quantity: u32, in_use: u32, end: &str) -> Lot {
        let mut l = Lot::new((id.into(), "c".into(), "o".into()), quantity, at("2026-01-15T09:00:00Z"), Some(at(end)));
        l.in_use = in_use;
        l
    }

    #[test]
    fn a_day_is_told_ahead_then_at_its_first_end_and_then_leaves_the_index() {
        let date = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        let mut day = ExpiryDay::new("c", date);
        assert_eq!((day.wake(), day.due(at("2027-01-15T09:00:00Z"))), (None, None), "empty: nothing to tell");
        let (a, b) = (licensed("b@c.example", "2027-01-15T09:00:00Z"), licensed("a@c.example", "2027-01-15T17:00:00Z"));
        day.merge(&[&a], &[], &[], 72, false);
        day.merge(&[&b], &[], &[], 72, false);
        assert_eq!(day.wake(), Some(at("2027-01-12T09:00:00Z")), "72 hours before the first end");
        assert_eq!(day.due(at("2027-01-12T08:59:59Z")), None);
        assert_eq!(day.due(at("2027-01-12T09:00:00Z")), Some(NoticeKind::ExpiryReminder));
        let reminder = day.plan(NoticeKind::ExpiryReminder).unwrap();
        assert_eq!(
            (reminder.payload["count"].as_u64(), reminder.payload["users"].clone()),
            (Some(2), json!(["a@c.example", "b@c.example"]))
        );
        day.sent(NoticeKind::ExpiryReminder);
        assert_eq!((day.wake(), day.due(at("2027-01-13T00:00:00Z"))), (Some(at("2027-01-15T09:00:00Z")), None));
        assert_eq!(day.due(at("2027-01-15T09:00:00Z")), Some(NoticeKind::Expired));
        day.sent(NoticeKind::Expired);
        assert_eq!((day.wake(), day.due(at("2027-01-16T00:00:00Z"))), (None, None), "told: out of the index");
    }

    #[test]
    fn a_day_first_met_after_its_end_is_told_expired_alone() {
        let mut day = ExpiryDay::new("c", NaiveDate::from_ymd_opt(2027, 1, 15).unwrap());
        day.merge(&[&licensed("a@c.example", "2027-01-15T09:00:00Z")], &[], &[], 24, false);
        assert_eq!(day.wake(), Some(at("2027-01-14T09:00:00Z")), "under a 24-hour lead");
        assert_eq!(day.due(at("2027-01-15T10:00:00Z")), Some(NoticeKind::Expired));
    }

    #[test]
    fn the_names_stay_bounded_and_in_order_while_the_count_is_whole() {
        let mut day = ExpiryDay::new("c", NaiveDate::from_ymd_opt(2027, 1, 15).unwrap());
        let users: Vec<User> =
            (0..250).rev().map(|i| licensed(&format!("u{i:03}@c.example"), "2027-01-15T09:00:00Z")).collect();
        for chunk in users.chunks(90) {
            let refs: Vec<&User> = chunk.iter().collect();
            day.merge(&refs, &[], &[], 72, false);
        }
        let plan = day.plan(NoticeKind::Expired).unwrap();
        assert_eq!(plan.payload["count"], 250);
        let named = plan.payload["users"].as_array().unwrap();
        assert_eq!(
            (named.len(), named[0].as_str(), plan.payload["users_truncated"].as_bool()),
            (notice::SAMPLE, Some("u000@c.example"), Some(true))
        );
    }

    #[test]
    fn a_lots_parts_are_named_once_with_their_seats_read_again_when_told() {
        let mut day = ExpiryDay::new("c", NaiveDate::from_ymd_opt(2027, 1, 15).unwrap());
        let (p0, p1) =
            (lot_part("lot", 16, 10, "2027-01-15T09:00:00Z"), lot_part("lot-p01", 16, 16, "2027-01-15T09:00:00Z"));
        day.merge(&[], &[], &[&p0], 72, false);
        day.merge(&[], &[], &[&p1], 72, false);
        assert_eq!((day.tally.lots.len(), day.tally.unissued_lapsing), (1, 6));
        let now =
            vec![lot_part("lot", 16, 12, "2027-01-15T09:00:00Z"), lot_part("lot-p01", 16, 16, "2027-01-15T09:00:00Z")];
        let plan = day.with_lots_as(&now).plan(NoticeKind::Expired).unwrap();
        assert_eq!(
            plan.payload["lots"],
            json!([{"lot_id": "lot", "valid_until": "2027-01-15T09:00:00Z", "unissued": 4}])
        );
        assert_eq!(plan.payload["unissued_lapsing"], 4);
    }

    #[test]
    fn what_was_told_before_by_its_utc_date_is_named_in_the_expired_alone() {
        let mut day = ExpiryDay::new("c", NaiveDate::from_ymd_opt(2027, 1, 16).unwrap());
        day.merge(&[&licensed("late@c.example", "2027-01-15T23:30:00Z")], &[], &[], 72, true);
        day.merge(&[&licensed("morning@c.example", "2027-01-16T08:00:00Z")], &[], &[], 72, false);
        let reminder = day.plan(NoticeKind::ExpiryReminder).unwrap();
        assert_eq!(reminder.payload["users"], json!(["morning@c.example"]));
        let expired = day.plan(NoticeKind::Expired).unwrap();
        assert_eq!(
            (expired.payload["count"].as_u64(), expired.payload["users"].clone()),
            (Some(2), json!(["late@c.example", "morning@c.example"]))
        );
    }

    #[test]
    fn users_gone_since_they_were_merged_are_counted_off() {
        let mut day = ExpiryDay::new("c", NaiveDate::from_ymd_opt(2027, 1, 15).unwrap());
        let users: Vec<User> = (0..3).map(|i| licensed(&format!("u{i}@c.example"), "2027-01-15T09:00:00Z")).collect();
        day.merge(&users.iter().collect::<Vec<_>>(), &[], &[], 72, false);
        let day = day.without(&BTreeSet::from(["u1@c.example".to_string()]));
        let plan = day.plan(NoticeKind::Expired).unwrap();
        assert_eq!(
            (plan.payload["count"].as_u64(), plan.payload["users"].clone()),
            (Some(2), json!(["u0@c.example", "u2@c.example"]))
        );
    }

    #[test]
    fn a_blocked_renewal_is_told_ahead_only() {
        let mut day = ExpiryDay::new("c", NaiveDate::from_ymd_opt(2027, 1, 15).unwrap());
        day.merge(&[], &[&licensed("r@c.example", "2027-01-15T09:00:00Z")], &[], 72, false);
        let reminder = day.plan(NoticeKind::ExpiryReminder).unwrap();
        assert_eq!(reminder.payload["renewal_blocked"]["missing"], 1);
        assert!(day.plan(NoticeKind::Expired).is_none(), "at its end it is the renewal sweep's");
    }
}
