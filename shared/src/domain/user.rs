//! Users, their licences and enrolments (docs/domain.md#users-and-enrolments), and the access answer.
//!
//! A user's current (or last) licence lives on the user item itself: one item per seat holder,
//! so issuing a licence is one conditional write of that item, and "a user never holds two
//! active licences" is the item's own invariant. Licences before the current one are recorded in
//! the audit log and counted in `licence_count`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::policy::{Policy, Renewal};
use super::term::term_end;
use super::{validate, DomainError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    Learner,
    CompanyManager,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenceStatus {
    Pending,
    Active,
    Expired,
    Released,
}

impl LicenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LicenceStatus::Pending => "pending",
            LicenceStatus::Active => "active",
            LicenceStatus::Expired => "expired",
            LicenceStatus::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.into())).ok()
    }
}

/// One licence held by one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Licence {
    pub licence_id: String,
    /// The lot it was debited from; `None` for one of the org's included seats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot_id: Option<String>,
    /// The end of that lot (`None`: it does not lapse), which locates it in the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot_valid_until: Option<DateTime<Utc>>,
    /// The stored status; [`Licence::status_at`] is the truth at an instant.
    pub status: LicenceStatus,
    /// The day it was debited from the balance (`licence_date`, docs/domain.md#licences-and-the-balance).
    pub licence_date: NaiveDate,
    pub issued_at: DateTime<Utc>,
    /// When its year started; `None` while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    /// When it stops granting access; `None` while pending, or for an included seat under
    /// `term_starts = assignment` (it never ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<DateTime<Utc>>,
    /// Issued by an import to a user who had no access (created, or restored after a release):
    /// what a resumed commit counts among the users it gave access.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gave_access: bool,
    /// The end whose reminder horizon the expire sweep has passed (the licence is then in its
    /// day's expiry summary, and in the due index at its end): see `domain::expiry_day`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded_for: Option<DateTime<Utc>>,
}

impl Licence {
    /// The status at `now`: an active licence whose end has passed is expired, sweep or no sweep.
    pub fn status_at(&self, now: DateTime<Utc>) -> LicenceStatus {
        match (self.status, self.valid_until) {
            (LicenceStatus::Active, Some(end)) if end <= now => LicenceStatus::Expired,
            (s, _) => s,
        }
    }

    /// Whether the licence holds a seat at `now` (pending or active).
    pub fn holds_seat(&self, now: DateTime<Utc>) -> bool {
        matches!(self.status_at(now), LicenceStatus::Pending | LicenceStatus::Active)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub email: String,
    pub org_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub role: UserRole,
    pub renewable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<Licence>,
    /// Licences ever debited for this user, renewals included.
    #[serde(default)]
    pub licence_count: u32,
    /// The next renewal date under `renewal = automatic` (activation + term).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_at: Option<DateTime<Utc>>,
    /// The renewal date a refusal ended the licence at (the user was not renewable then): made
    /// renewable again within one term of it, the user is renewed then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_renewal_at: Option<DateTime<Utc>>,
    /// Counted among the org's active users (at least one live enrolment), as the org's
    /// counters last counted it; enrolment changes and the expire sweep move it.
    #[serde(default)]
    pub active: bool,
    /// The latest licence year (its first day) in which this user was counted among the
    /// distinct active users the usage report shows as reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_year: Option<chrono::NaiveDate>,
    /// Optimistic-locking version of the user item; every write checks and bumps it.
    #[serde(default)]
    pub version: u64,
}

/// A user's last recorded login, kept in an item of its own (`LOGIN#{email}`, in no index): a
/// login writes that small item alone, one write unit, never the user item and its index
/// entries. A user stored before keeps its `last_login_at` on the user item; the later of the
/// two is the user's last login ([`User::with_login`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Login {
    pub org_id: String,
    pub email: String,
    pub last_login_at: DateTime<Utc>,
}

impl Login {
    /// Whether a login at `at` is recorded over `last` (the user's last login as read): once per
    /// UTC day at most, however often the platform reports logins that day, and never backwards.
    pub fn due(last: Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
        last.is_none_or(|last| last.date_naive() < at.date_naive())
    }
}

/// `PUT /v1/orgs/{org_id}/users/{email}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertUser {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<UserRole>,
    #[serde(default)]
    pub renewable: Option<bool>,
    #[serde(default)]
    pub last_login_at: Option<DateTime<Utc>>,
}

impl User {
    /// The user with its last login: the later of the user item's own (from before logins had
    /// their item) and `login`'s.
    pub fn with_login(mut self, login: Option<DateTime<Utc>>) -> User {
        self.last_login_at = self.last_login_at.max(login);
        self
    }

    pub fn new(org_id: &str, email: &str, now: DateTime<Utc>) -> User {
        User {
            email: email.into(),
            org_id: org_id.into(),
            name: None,
            role: UserRole::Learner,
            renewable: true,
            last_login_at: None,
            created_at: now,
            released_at: None,
            licence: None,
            licence_count: 0,
            renewal_at: None,
            refused_renewal_at: None,
            active: false,
            reuse_year: None,
            version: 0,
        }
    }

    /// The licence status at `now`, `None` without any licence.
    pub fn licence_status(&self, now: DateTime<Utc>) -> Option<LicenceStatus> {
        self.licence.as_ref().map(|l| l.status_at(now))
    }

    /// Whether the user holds a seat now (a pending or active licence).
    pub fn holds_seat(&self, now: DateTime<Utc>) -> bool {
        self.licence.as_ref().is_some_and(|l| l.holds_seat(now))
    }

    /// The public view, with the licence status at `now`.
    pub fn view(&self, now: DateTime<Utc>) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.remove("version");
            obj.remove("reuse_year");
            obj.remove("refused_renewal_at");
            obj.insert("licence_status".into(), serde_json::to_value(self.licence_status(now)).unwrap_or_default());
            if let Some(l) = &self.licence {
                obj.insert("licence".into(), licence_view(l, now));
            }
        }
        v
    }
}

pub fn licence_view(l: &Licence, now: DateTime<Utc>) -> serde_json::Value {
    let mut v = serde_json::to_value(l).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        // The stored bookkeeping of imports and of the expire sweep, not part of the contract.
        obj.remove("gave_access");
        obj.remove("reminded_for");
    }
    v["status"] = serde_json::to_value(l.status_at(now)).unwrap_or_default();
    if let Some(lot_id) = &l.lot_id {
        // The lot as the vendor sold it, whichever of its parts the seat sits in.
        v["lot_id"] = crate::domain::lot::family(lot_id).into();
    }
    v
}

/// Applies a `PUT user` to an existing user, or to a new one.
pub fn upsert(
    existing: Option<User>,
    org_id: &str,
    email: &str,
    input: UpsertUser,
    now: DateTime<Utc>,
) -> Result<User, DomainError> {
    let mut user = existing.unwrap_or_else(|| User::new(org_id, email, now));
    if let Some(name) = input.name {
        user.name = Some(validate::text("name", &name, 200, false)?).filter(|n| !n.is_empty());
    }
    if let Some(role) = input.role {
        user.role = role;
    }
    if let Some(r) = input.renewable {
        user.renewable = r;
    }
    if let Some(t) = input.last_login_at {
        if t > now {
            return Err(DomainError::invalid("last_login_at", "must not be in the future"));
        }
        user.last_login_at = Some(user.last_login_at.map_or(t, |old| old.max(t)));
    }
    Ok(user)
}

/// A new licence for `user` from `lot_id` (or an included seat): under `term_starts =
/// assignment` it is active at once until `lot_end`; under activation it is pending until the
/// user starts. The caller has checked the user holds no seat.
pub fn issue(
    user: &User,
    licence_id: String,
    lot_id: Option<String>,
    lot_end: Option<DateTime<Utc>>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> User {
    use super::policy::TermStarts;
    let (status, valid_from, valid_until) = match policy.term_starts {
        TermStarts::Assignment => (LicenceStatus::Active, Some(now), lot_end),
        TermStarts::Activation => (LicenceStatus::Pending, None, None),
    };
    let mut next = user.clone();
    next.licence = Some(Licence {
        licence_id,
        lot_valid_until: lot_id.as_ref().and(lot_end),
        lot_id,
        status,
        licence_date: now.date_naive(),
        issued_at: now,
        valid_from,
        valid_until,
        released_at: None,
        gave_access: false,
        reminded_for: None,
    });
    next.licence_count += 1;
    next.released_at = None;
    next.renewal_at = None;
    next.refused_renewal_at = None;
    next
}

/// Starts the licence year of a pending licence at `start` (docs/domain.md#users-and-enrolments: the first start, or a
/// manager activating an enrolment by hand). Nothing changes when the licence is not pending.
pub fn activate(user: &User, policy: &Policy, start: DateTime<Utc>) -> Option<User> {
    let licence = user.licence.as_ref()?;
    if licence.status != LicenceStatus::Pending {
        return None;
    }
    let mut next = user.clone();
    let end = term_end(start, policy.term_months);
    if let Some(l) = next.licence.as_mut() {
        l.status = LicenceStatus::Active;
        l.valid_from = Some(start);
        l.valid_until = Some(end);
    }
    next.renewal_at = (policy.renewal == Renewal::Automatic).then_some(end);
    Some(next)
}

/// Materialises an expiry: an active licence whose end has come is stored as `expired`. The
/// renewal date stays: the renewal sweep decides what happens at it.
pub fn expire(user: &User, now: DateTime<Utc>) -> Option<User> {
    let l = user.licence.as_ref()?;
    if l.status != LicenceStatus::Active || l.status_at(now) != LicenceStatus::Expired {
        return None;
    }
    let mut next = user.clone();
    if let Some(l) = next.licence.as_mut() {
        l.status = LicenceStatus::Expired;
    }
    Some(next)
}

/// Releases the user: the licence ends as `released`; records are kept.
pub fn release(user: &User, now: DateTime<Utc>) -> User {
    let mut next = user.clone();
    if let Some(l) = next.licence.as_mut() {
        if l.holds_seat(now) {
            l.status = LicenceStatus::Released;
            l.released_at = Some(now);
        }
    }
    next.released_at = Some(now);
    next.renewal_at = None;
    next.refused_renewal_at = None;
    next
}

/// `GET .../users/{email}/access`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Access {
    pub email: String,
    pub access: bool,
    pub reason: &'static str,
    pub licence: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Whether `user` may use the platform at `now`, from the licence and time alone. Managers need a
/// licence like learners; an expired manager is told where to order (docs/domain.md#access).
pub fn access(email: &str, user: Option<&User>, now: DateTime<Utc>) -> Access {
    let licence = user.and_then(|u| u.licence.as_ref());
    let status = licence.map(|l| l.status_at(now));
    let (access, reason) = match status {
        Some(LicenceStatus::Active) => (true, "active"),
        Some(LicenceStatus::Pending) => (true, "pending"),
        Some(LicenceStatus::Expired) => (false, "expired"),
        Some(LicenceStatus::Released) => (false, "released"),
        None => (false, "no_licence"),
    };
    let message = match (access, user.map(|u| u.role)) {
        (false, Some(UserRole::CompanyManager)) => Some(format!(
            "Your licence is {}. Request new licences; your account manager assigns them.",
            if reason == "no_licence" { "missing" } else { reason },
        )),
        (false, _) => Some("No valid licence: ask your manager to allocate one.".into()),
        _ => None,
    };
    Access { email: email.into(), access, reason, licence: licence.map(|l| licence_view(l, now)), message }
}

/// The answer for a user whose licence ended at its automatic renewal date and who will be
/// renewed (docs/domain.md#automatic-renewal): access, as the renewal will give it, whether or
/// not the renewal sweep has run yet.
pub fn access_renewing(email: &str, user: &User, now: DateTime<Utc>) -> Access {
    let licence = user.licence.as_ref().map(|l| licence_view(l, now));
    Access { email: email.into(), access: true, reason: "renewing", licence, message: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::{PolicySettings, TermStarts};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn assignment() -> Policy {
        Policy::resolve([])
    }

    fn activation() -> Policy {
        Policy::resolve([&PolicySettings {
            term_starts: Some(TermStarts::Activation),
            renewal: Some(Renewal::Automatic),
            ..Default::default()
        }])
    }

    #[test]
    fn a_licence_from_a_lot_ends_with_the_lot_and_denies_access_at_that_instant() {
        let u = User::new("c", "ann@c.example", at("2026-01-01T00:00:00Z"));
        let u = issue(
            &u,
            "lic".into(),
            Some("lot".into()),
            Some(at("2027-01-15T09:00:00Z")),
            &assignment(),
            at("2026-02-01T10:00:00Z"),
        );
        assert_eq!(u.licence_count, 1);
        assert!(access("ann@c.example", Some(&u), at("2027-01-15T08:59:59Z")).access);
        let at_end = access("ann@c.example", Some(&u), at("2027-01-15T09:00:00Z"));
        assert_eq!((at_end.access, at_end.reason), (false, "expired"));
        assert!(!u.holds_seat(at("2027-01-15T09:00:00Z")));
    }

    #[test]
    fn under_activation_the_year_starts_with_the_first_start() {
        let u = User::new("c", "wessel@c.example", at("2018-05-01T00:00:00Z"));
        let u = issue(&u, "lic".into(), Some("lot".into()), None, &activation(), at("2018-05-02T10:00:00Z"));
        assert_eq!(u.licence_status(at("2018-05-03T00:00:00Z")), Some(LicenceStatus::Pending));
        assert_eq!(u.licence.as_ref().unwrap().licence_date.to_string(), "2018-05-02");
        assert!(access("w", Some(&u), at("2018-05-03T00:00:00Z")).access);
        let started = activate(&u, &activation(), at("2018-05-11T09:00:00Z")).unwrap();
        let l = started.licence.as_ref().unwrap();
        assert_eq!(
            (l.status, l.valid_from, l.valid_until),
            (LicenceStatus::Active, Some(at("2018-05-11T09:00:00Z")), Some(at("2019-05-11T09:00:00Z")))
        );
        assert_eq!(started.renewal_at, Some(at("2019-05-11T09:00:00Z")));
        // A second start does not move the year.
        assert!(activate(&started, &activation(), at("2018-06-01T00:00:00Z")).is_none());
    }

    #[test]
    fn release_keeps_the_record_and_ends_access() {
        let u = User::new("c", "a@c.example", at("2026-01-01T00:00:00Z"));
        let u = issue(
            &u,
            "lic".into(),
            Some("lot".into()),
            Some(at("2027-01-01T00:00:00Z")),
            &assignment(),
            at("2026-01-02T00:00:00Z"),
        );
        let r = release(&u, at("2026-03-01T00:00:00Z"));
        assert_eq!(r.licence_status(at("2026-03-01T00:00:00Z")), Some(LicenceStatus::Released));
        assert_eq!(access("a", Some(&r), at("2026-03-01T00:00:00Z")).reason, "released");
        assert_eq!(r.licence_count, 1);
    }

    #[test]
    fn an_expired_manager_is_told_where_to_order() {
        let mut u = User::new("c", "boss@c.example", at("2026-01-01T00:00:00Z"));
        u.role = UserRole::CompanyManager;
        let u = issue(
            &u,
            "lic".into(),
            Some("lot".into()),
            Some(at("2027-01-01T00:00:00Z")),
            &assignment(),
            at("2026-01-02T00:00:00Z"),
        );
        let a = access("boss@c.example", Some(&u), at("2027-01-02T00:00:00Z"));
        assert!(!a.access);
        let message = a.message.unwrap();
        assert!(message.contains("Request new licences") && !message.contains("/v1"), "{message}");
        assert_eq!(access("nobody@c.example", None, at("2027-01-02T00:00:00Z")).reason, "no_licence");
    }

    #[test]
    fn a_login_is_recorded_once_a_utc_day_and_never_backwards() {
        assert!(Login::due(None, at("2026-04-01T23:59:59Z")));
        assert!(!Login::due(Some(at("2026-04-01T00:00:00Z")), at("2026-04-01T23:59:59Z")), "the same day");
        assert!(!Login::due(Some(at("2026-04-01T00:00:00Z")), at("2026-03-31T12:00:00Z")), "older");
        assert!(Login::due(Some(at("2026-04-01T23:59:59Z")), at("2026-04-02T00:00:00Z")));
        let u = User {
            last_login_at: Some(at("2026-04-03T00:00:00Z")),
            ..User::new("c", "a@c.example", at("2026-01-01T00:00:00Z"))
        };
        assert_eq!(
            u.clone().with_login(Some(at("2026-04-02T00:00:00Z"))).last_login_at,
            Some(at("2026-04-03T00:00:00Z"))
        );
        assert_eq!(u.with_login(Some(at("2026-04-04T00:00:00Z"))).last_login_at, Some(at("2026-04-04T00:00:00Z")));
    }

    #[test]
    fn last_login_only_moves_forward_and_never_into_the_future() {
        let now = at("2026-05-01T00:00:00Z");
        let u = upsert(
            None,
            "c",
            "a@c.example",
            UpsertUser { last_login_at: Some(at("2026-04-01T00:00:00Z")), ..Default::default() },
            now,
        )
        .unwrap();
        let u = upsert(
            Some(u),
            "c",
            "a@c.example",
            UpsertUser { last_login_at: Some(at("2026-03-01T00:00:00Z")), ..Default::default() },
            now,
        )
        .unwrap();
        assert_eq!(u.last_login_at, Some(at("2026-04-01T00:00:00Z")));
        assert!(upsert(
            Some(u),
            "c",
            "a@c.example",
            UpsertUser { last_login_at: Some(at("2026-06-01T00:00:00Z")), ..Default::default() },
            now
        )
        .is_err());
    }
}
