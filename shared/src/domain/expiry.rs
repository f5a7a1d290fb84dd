//! Expiry and its notices (docs/domain.md#expiry).
//!
//! What falls due is read from the due-by-instant index: lots and licences whose end is at most
//! 72 hours away. From that, per company and per expiry date (UTC), one `expiry_reminder` while
//! the end is still ahead and one `expired` once it has come, each listing the users; and the
//! items whose end has come are marked expired. Notices are decided before anything is expired,
//! so the list of a day is complete however the sweep was interrupted before.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;

use super::lot::Lot;
use super::notice::NoticeKind;
use super::user::User;

/// How far ahead managers are warned.
pub const REMINDER_HOURS: i64 = 72;

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

/// One notice to send, at most once per (org, kind, date).
#[derive(Debug, Clone, PartialEq)]
pub struct NoticePlan {
    pub org_id: String,
    pub kind: NoticeKind,
    pub date: NaiveDate,
    pub payload: serde_json::Value,
}

/// What ends on one day in one org: users, and lots.
type Day<'a> = (Vec<&'a User>, Vec<&'a Lot>);

/// The notices `due` calls for at `now`.
pub fn notices(due: &[Ending], now: DateTime<Utc>) -> Vec<NoticePlan> {
    let horizon = now + Duration::hours(REMINDER_HOURS);
    // (org, date) → (users, lots)
    let mut by_day: BTreeMap<(String, NaiveDate), Day> = BTreeMap::new();
    for item in due {
        let Some(end) = item.ends_at().filter(|e| *e <= horizon) else { continue };
        let entry = by_day.entry((item.org_id().to_string(), end.date_naive())).or_default();
        match item {
            Ending::User(u) => entry.0.push(u),
            Ending::Lot(l) => entry.1.push(l),
        }
    }
    let mut plans = Vec::new();
    for ((org_id, date), (users, lots)) in by_day {
        // The day's notice is `expired` once any of its ends has come, a reminder before.
        let ends = users
            .iter()
            .filter_map(|u| u.licence.as_ref()?.valid_until)
            .chain(lots.iter().filter_map(|l| l.valid_until));
        let first_end = ends.min().expect("grouped by an end");
        let kind = if first_end <= now { NoticeKind::Expired } else { NoticeKind::ExpiryReminder };
        let mut emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
        emails.sort();
        let lapsing: u64 = lots.iter().map(|l| l.quantity.saturating_sub(l.in_use) as u64).sum();
        let (named, truncated) = super::notice::sample(&emails);
        let message = match kind {
            NoticeKind::Expired => format!("{} licences expired on {date}.", emails.len()),
            _ => format!("{} licences expire on {date}.", emails.len()),
        };
        plans.push(NoticePlan {
            org_id,
            kind,
            date,
            payload: json!({
                "expiry_date": date,
                // The instant the first of the day's licences ends (the e-mail shows it).
                "ends_at": first_end,
                "count": emails.len(),
                "users": named,
                "users_truncated": truncated,
                "lots": lots.iter().map(|l| json!({ "lot_id": l.lot_id, "valid_until": l.valid_until, "unissued": l.quantity.saturating_sub(l.in_use) })).collect::<Vec<_>>(),
                "unissued_lapsing": lapsing,
                "message": format!("{message} Request new licences from your account manager, then allocate them to the learners who need one."),
            }),
        });
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lot::LotStatus;
    use crate::domain::policy::Policy;
    use crate::domain::user;

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
            in_use: 10,
            uses: 10,
            uses_per_seat: None,
            valid_from: at("2026-01-15T09:00:00Z"),
            valid_until: Some(at(end)),
            status: LotStatus::Active,
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

    #[test]
    fn one_notice_per_company_per_day() {
        let mut due = due_users(3, "2027-01-15T09:00:00Z");
        due.extend(due_users(2, "2027-01-15T17:00:00Z"));
        due.extend(due_users(1, "2027-01-16T09:00:00Z"));
        let plans = notices(&due, at("2027-01-14T00:00:00Z"));
        let days: Vec<_> = plans.iter().map(|p| (p.date.to_string(), p.payload["count"].as_u64().unwrap())).collect();
        assert_eq!(days, vec![("2027-01-15".to_string(), 5), ("2027-01-16".to_string(), 1)]);
    }
}
