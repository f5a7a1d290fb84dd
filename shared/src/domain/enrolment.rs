//! Enrolments: a user's registration in a course run (docs/domain.md#users-and-enrolments).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{validate, DomainError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentStatus {
    New,
    Active,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrolment {
    pub enrolment_id: String,
    pub email: String,
    pub org_id: String,
    pub status: EnrolmentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The status it had when a refused renewal (the user not renewable) expired it: what it
    /// gets back if the user is made renewable again within the term. Enrolments expired by a
    /// refusal before this was stored have none, and stay expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_from: Option<EnrolmentStatus>,
    /// When it became active (its start when that had come, else the instant of the change),
    /// kept across later changes. Enrolments active before this was stored have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<DateTime<Utc>>,
}

/// `PUT /v1/orgs/{org_id}/users/{email}/enrolments/{enrolment_id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutEnrolment {
    pub status: EnrolmentStatus,
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
}

/// The most enrolments one bulk change names (`POST …/enrolments/bulk`): one transaction's
/// writes. A bulk whose writes do not fit one transaction is refused (see [`super::decide::enrolments`]).
pub const MAX_BULK_ITEMS: usize = 99;

/// `POST /v1/orgs/{org_id}/enrolments/bulk` ("Enrolments > All", tick, SET EXPIRY DATE): the
/// same change to each named enrolment, all or nothing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkEnrolments {
    pub items: Vec<BulkItem>,
    #[serde(default)]
    pub status: Option<EnrolmentStatus>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkItem {
    pub email: String,
    pub enrolment_id: String,
}

impl BulkEnrolments {
    /// The request checked before anything is read: 1 to [`MAX_BULK_ITEMS`] items, each an
    /// e-mail (lower-cased and trimmed) and an id, none twice, and a change (`status`, `ends_at`
    /// or both). Each error names its field (`items[3].email`).
    pub fn validated(mut self) -> Result<BulkEnrolments, DomainError> {
        if self.items.is_empty() || self.items.len() > MAX_BULK_ITEMS {
            let n = self.items.len();
            return Err(DomainError::invalid("items", format!("must name 1 to {MAX_BULK_ITEMS} enrolments, not {n}")));
        }
        if self.status.is_none() && self.ends_at.is_none() {
            return Err(DomainError::invalid("ends_at", "a bulk change sets status, ends_at or both"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, item) in self.items.iter_mut().enumerate() {
            item.email = validate::email(&format!("items[{i}].email"), &item.email)?;
            validate::caller_id(&format!("items[{i}].enrolment_id"), &item.enrolment_id)?;
            if !seen.insert(item.clone()) {
                let message = format!("names {}'s enrolment {} twice", item.email, item.enrolment_id);
                return Err(DomainError::invalid(&format!("items[{i}]"), message));
            }
        }
        Ok(self)
    }

    /// What the bulk makes of one enrolment as it is: the status sent, else its own — `expired`
    /// when the end sent has passed (an expiry date in the past ends it at once) — and the end
    /// sent, else its own; its start kept.
    pub fn put_for(&self, before: &Enrolment, now: DateTime<Utc>) -> PutEnrolment {
        let ends_at = self.ends_at.or(before.ends_at);
        let status = match (self.status, self.ends_at) {
            (Some(status), _) => status,
            (None, Some(end)) if end <= now => EnrolmentStatus::Expired,
            (None, _) => before.status,
        };
        PutEnrolment { status, starts_at: before.starts_at, ends_at }
    }
}

impl Enrolment {
    /// Live: new or active, and its access end (if any) not passed.
    pub fn live_at(&self, now: DateTime<Utc>) -> bool {
        self.status != EnrolmentStatus::Expired && self.ends_at.is_none_or(|end| end > now)
    }

    /// The status at `now`: one whose access end has passed is expired, sweep or no sweep.
    pub fn status_at(&self, now: DateTime<Utc>) -> EnrolmentStatus {
        if self.live_at(now) || self.status == EnrolmentStatus::Expired {
            self.status
        } else {
            EnrolmentStatus::Expired
        }
    }

    /// The public view at `now`: the status then, and whether the enrolment is live.
    pub fn view(&self, now: DateTime<Utc>) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["status"] = serde_json::to_value(self.status_at(now)).unwrap_or_default();
        v["live"] = serde_json::Value::Bool(self.live_at(now));
        v
    }

    pub fn expired(&self, now: DateTime<Utc>) -> Enrolment {
        let mut e = self.clone();
        e.status = EnrolmentStatus::Expired;
        e.updated_at = now;
        e
    }

    /// Expired by a refused renewal, keeping the status it had ([`Enrolment::refused_from`]).
    pub fn refused(&self, now: DateTime<Utc>) -> Enrolment {
        Enrolment { refused_from: Some(self.status), ..self.expired(now) }
    }

    /// Back to the status a refused renewal took from it, when it took one.
    pub fn restored(&self, now: DateTime<Utc>) -> Option<Enrolment> {
        let status = self.refused_from?;
        Some(Enrolment { status, refused_from: None, updated_at: now, ..self.clone() })
    }
}

/// The enrolment after a `PUT`.
pub fn put(
    org_id: &str,
    email: &str,
    enrolment_id: &str,
    input: PutEnrolment,
    now: DateTime<Utc>,
) -> Result<Enrolment, DomainError> {
    validate::caller_id("enrolment_id", enrolment_id)?;
    if let (Some(s), Some(e)) = (input.starts_at, input.ends_at) {
        if e <= s {
            return Err(DomainError::invalid("ends_at", "must be after starts_at"));
        }
    }
    Ok(Enrolment {
        enrolment_id: enrolment_id.into(),
        email: email.into(),
        org_id: org_id.into(),
        status: input.status,
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        updated_at: now,
        refused_from: None,
        activated_at: None,
    })
}

/// The enrolment as stored after a change from `before` (docs/domain.md#users-and-enrolments):
/// when it became active — the instant it becomes active now (its start when that has come,
/// else now; from `new`, or again after it was expired), or as `before` had it — and, sent without an end of its own, the end
/// `run_access_months` after that instant (0: open-ended). An enrolment active before its
/// activation was stored gets none: it stays as it was.
pub fn with_run_access(
    mut after: Enrolment,
    before: Option<&Enrolment>,
    run_access_months: u32,
    now: DateTime<Utc>,
) -> Enrolment {
    let becomes_active =
        after.status == EnrolmentStatus::Active && before.is_none_or(|b| b.status != EnrolmentStatus::Active);
    after.activated_at = match becomes_active {
        true => Some(after.starts_at.filter(|s| *s <= now).unwrap_or(now)),
        false => before.and_then(|b| b.activated_at),
    };
    if after.ends_at.is_none() && run_access_months > 0 {
        after.ends_at = after.activated_at.map(|at| super::term::term_end(at, run_access_months));
    }
    after
}

/// When this change starts the user's licence year, if it does: the enrolment becomes active
/// (the user starts, or a manager sets it from new to active). The start is the enrolment's own
/// start when that has come, else now.
pub fn start_of_year(before: Option<&Enrolment>, after: &Enrolment, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let became_active =
        after.status == EnrolmentStatus::Active && before.is_none_or(|b| b.status != EnrolmentStatus::Active);
    (became_active && after.live_at(now)).then(|| after.starts_at.filter(|s| *s <= now).unwrap_or(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn e(status: EnrolmentStatus, starts: Option<&str>, ends: Option<&str>) -> Enrolment {
        put(
            "c",
            "a@c.example",
            "run-1",
            PutEnrolment { status, starts_at: starts.map(at), ends_at: ends.map(at) },
            at("2026-01-01T00:00:00Z"),
        )
        .unwrap()
    }

    #[test]
    fn live_means_new_or_active_and_not_ended() {
        let now = at("2026-06-01T00:00:00Z");
        assert!(e(EnrolmentStatus::New, None, None).live_at(now));
        assert!(e(EnrolmentStatus::Active, None, Some("2026-06-01T00:00:01Z")).live_at(now));
        assert!(!e(EnrolmentStatus::Active, None, Some("2026-06-01T00:00:00Z")).live_at(now));
        assert!(!e(EnrolmentStatus::Expired, None, None).live_at(now));
    }

    #[test]
    fn the_view_shows_the_status_now() {
        let now = at("2026-06-01T00:00:00Z");
        let ended = e(EnrolmentStatus::Active, None, Some("2026-05-01T00:00:00Z"));
        assert_eq!(ended.status, EnrolmentStatus::Active, "stored as it was put");
        assert_eq!(
            (ended.view(now)["status"].as_str(), ended.view(now)["live"].as_bool()),
            (Some("expired"), Some(false))
        );
        let running = e(EnrolmentStatus::New, None, Some("2026-07-01T00:00:00Z"));
        assert_eq!(
            (running.view(now)["status"].as_str(), running.view(now)["live"].as_bool()),
            (Some("new"), Some(true))
        );
        assert_eq!(running.view(now)["ends_at"], "2026-07-01T00:00:00Z");
        assert!(running.view(now).get("starts_at").is_none());
    }

    #[test]
    fn the_year_starts_when_an_enrolment_becomes_active() {
        let now = at("2018-05-20T00:00:00Z");
        let new = e(EnrolmentStatus::New, None, None);
        let active = e(EnrolmentStatus::Active, Some("2018-05-11T09:00:00Z"), None);
        assert_eq!(start_of_year(None, &new, now), None);
        assert_eq!(start_of_year(Some(&new), &active, now), Some(at("2018-05-11T09:00:00Z")));
        assert_eq!(start_of_year(Some(&active), &active, now), None);
        let future = e(EnrolmentStatus::Active, Some("2018-06-01T00:00:00Z"), None);
        assert_eq!(start_of_year(None, &future, now), Some(now));
    }

    #[test]
    fn a_run_sent_without_an_end_ends_its_access_months_after_it_became_active_and_keeps_that_instant() {
        let new = e(EnrolmentStatus::New, None, None);
        let now = at("2026-03-01T09:00:00Z");
        let stored = with_run_access(new.clone(), None, 12, now);
        assert_eq!((stored.activated_at, stored.ends_at), (None, None), "not active yet: no end");
        let active = with_run_access(e(EnrolmentStatus::Active, None, None), Some(&stored), 12, now);
        assert_eq!(active.activated_at, Some(now));
        assert_eq!(active.ends_at, Some(at("2027-03-01T09:00:00Z")));
        // Sent again later without an end: the same activation, the same end.
        let later =
            with_run_access(e(EnrolmentStatus::Active, None, None), Some(&active), 12, at("2026-09-01T00:00:00Z"));
        assert_eq!((later.activated_at, later.ends_at), (active.activated_at, active.ends_at));
        // An end the platform sends wins; 0 is open-ended.
        let own = e(EnrolmentStatus::Active, None, Some("2027-09-01T00:00:00Z"));
        assert_eq!(with_run_access(own, None, 12, now).ends_at, Some(at("2027-09-01T00:00:00Z")));
        assert_eq!(with_run_access(e(EnrolmentStatus::Active, None, None), None, 0, now).ends_at, None);
        // Expired, then active again: a new activation, a new end.
        let expired = Enrolment { status: EnrolmentStatus::Expired, ..active.clone() };
        let back =
            with_run_access(e(EnrolmentStatus::Active, None, None), Some(&expired), 12, at("2027-05-01T00:00:00Z"));
        assert_eq!(back.ends_at, Some(at("2028-05-01T00:00:00Z")));
        // Active before activations were stored: left open-ended.
        let legacy = e(EnrolmentStatus::Active, None, None);
        assert_eq!(with_run_access(legacy.clone(), Some(&legacy), 12, now).ends_at, None);
        // Started in the past: counted from its start.
        let started = e(EnrolmentStatus::Active, Some("2026-02-01T00:00:00Z"), None);
        assert_eq!(with_run_access(started, None, 18, now).ends_at, Some(at("2027-08-01T00:00:00Z")));
    }

    #[test]
    fn ids_and_dates_are_checked() {
        let input = || PutEnrolment { status: EnrolmentStatus::New, starts_at: None, ends_at: None };
        assert!(put("c", "a", "run#1", input(), at("2026-01-01T00:00:00Z")).is_err());
        let backwards = PutEnrolment {
            status: EnrolmentStatus::New,
            starts_at: Some(at("2026-02-01T00:00:00Z")),
            ends_at: Some(at("2026-01-01T00:00:00Z")),
        };
        assert_eq!(put("c", "a", "run", backwards, at("2026-01-01T00:00:00Z")).unwrap_err().code(), "invalid_request");
    }
}
