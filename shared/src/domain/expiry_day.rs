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
