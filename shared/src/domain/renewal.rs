//! Automatic renewal (docs/domain.md#automatic-renewal) and the renewal forecast.
//!
//! At a user's renewal date: a pending licence is left alone; a user marked not renewable has
//! their new/active enrolments expired and the licence ends, nothing debited; a user with a live
//! enrolment at that instant (new or active, access end after it) is charged one more licence and
//! a new year starts; anyone else's licence ends. Logging in does not matter. When the balance
//! is empty the licence ends and the managers get `renewal_blocked`. The forecast applies the
//! same decision to every user whose renewal date is on or before a chosen day, in date order,
//! drawing on the balance as the sweep will.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::enrolment::Enrolment;
use super::policy::{Policy, Renewal};
use super::term::term_end;
use super::user::{Licence, LicenceStatus, User};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
/// What a learner's renewal instant calls for (decided by [`decide`]).
pub enum RenewalCase {
    /// Charge one more licence; a new year starts.
    Renew,
    /// Not renewable: enrolments expired, licence ends, nothing charged.
    NotRenewable,
    /// No enrolment is live at the renewal instant: the licence ends, nothing charged.
    NoLiveEnrolment,
    /// Never activated: nothing happens.
    Pending,
    /// No renewal date, or not reached.
    NotDue,
}

impl RenewalCase {
    pub fn reason(self) -> Option<&'static str> {
        match self {
            RenewalCase::Renew => None,
            RenewalCase::NotRenewable => Some("not_renewable"),
            RenewalCase::NoLiveEnrolment => Some("no_live_enrolment"),
            RenewalCase::Pending => Some("pending"),
            RenewalCase::NotDue => Some("not_due"),
        }
    }
}

/// What happens to `user` at its renewal date if that date is at or before `at`.
pub fn decide(user: &User, enrolments: &[Enrolment], at: DateTime<Utc>) -> RenewalCase {
    let Some(licence) = &user.licence else { return RenewalCase::NotDue };
    if licence.status == LicenceStatus::Pending {
        return RenewalCase::Pending;
    }
    let Some(renewal_at) = user.renewal_at.filter(|r| *r <= at) else { return RenewalCase::NotDue };
    if !user.renewable {
        return RenewalCase::NotRenewable;
    }
    if enrolments.iter().any(|e| e.live_at(renewal_at)) {
        RenewalCase::Renew
    } else {
        RenewalCase::NoLiveEnrolment
    }
}

/// Whether `user`'s licence ends at its automatic renewal date (the one the renewal sweep
/// decides), rather than earlier (a lot's end).
pub fn ends_at_renewal(user: &User) -> bool {
    let end = user.licence.as_ref().and_then(|l| l.valid_until);
    user.renewal_at.is_some() && end == user.renewal_at
}

/// Whether the licence of `user` (with its `enrolments`) ends at an automatic renewal that will
/// renew it (docs/domain.md#automatic-renewal): the org renews automatically, and at that date
/// the user is renewable with a live enrolment. Whether the balance pays is the caller's to say.
pub fn will_renew(policy: &Policy, user: &User, enrolments: &[Enrolment]) -> bool {
    let Some(at) = user.renewal_at.filter(|_| policy.renewal == Renewal::Automatic && ends_at_renewal(user)) else {
        return false;
    };
    decide(user, enrolments, at) == RenewalCase::Renew
}

/// The user after a renewal: a new licence from the renewal date, one more counted, the next
/// renewal date a term later.
pub fn renew(
    user: &User,
    licence_id: String,
    lot_id: Option<String>,
    lot_valid_until: Option<DateTime<Utc>>,
    policy: &Policy,
) -> Option<User> {
    let at = user.renewal_at?;
    let end = term_end(at, policy.term_months);
    let mut next = user.clone();
    next.licence = Some(Licence {
        licence_id,
        lot_valid_until: lot_id.as_ref().and(lot_valid_until),
        lot_id,
        status: LicenceStatus::Active,
        licence_date: at.date_naive(),
        issued_at: at,
        valid_from: Some(at),
        valid_until: Some(end),
        released_at: None,
        gave_access: false,
        reminded_for: None,
    });
    next.licence_count += 1;
    next.renewal_at = Some(end);
    Some(next)
}

/// The user when its year ends without a renewal: the licence is expired, no renewal date.
pub fn end_year(user: &User) -> User {
    let mut next = user.clone();
    if let Some(l) = next.licence.as_mut() {
        if matches!(l.status, LicenceStatus::Active | LicenceStatus::Pending) {
            l.status = LicenceStatus::Expired;
        }
    }
    next.renewal_at = None;
    next
}

/// One row of the renewal forecast (docs/domain.md#the-renewal-forecast).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastRow {
    pub email: String,
    pub name: Option<String>,
    pub licence_date: Option<NaiveDate>,
    pub renewal_date: NaiveDate,
    pub renewal_at: DateTime<Utc>,
    pub licence_count: u32,
    pub renewable: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub will_renew: bool,
    pub reason: Option<&'static str>,
}

/// The forecast for users (with their enrolments) whose renewal date is at or before `until`,
/// as things stand: `available` licences are drawn in renewal-date order.
pub fn forecast(mut users: Vec<(User, Vec<Enrolment>)>, mut available: u64, until: DateTime<Utc>) -> Vec<ForecastRow> {
    users.sort_by_key(|(u, _)| (u.renewal_at, u.email.clone()));
    users
        .into_iter()
        .filter_map(|(u, enrolments)| {
            let renewal_at = u.renewal_at.filter(|r| *r <= until)?;
            let decision = decide(&u, &enrolments, until);
            let (will_renew, reason) = match decision {
                RenewalCase::Renew if available > 0 => {
                    available -= 1;
                    (true, None)
                }
                RenewalCase::Renew => (false, Some("balance_empty")),
                other => (false, other.reason()),
            };
            Some(ForecastRow {
                licence_date: u.licence.as_ref().map(|l| l.licence_date),
                renewal_date: renewal_at.date_naive(),
                renewal_at,
                licence_count: u.licence_count,
                renewable: u.renewable,
                last_login_at: u.last_login_at,
                will_renew,
                reason,
                name: u.name,
                email: u.email,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::enrolment::{self, EnrolmentStatus, PutEnrolment};
    use crate::domain::policy::{PolicySettings, Renewal, TermStarts};
    use crate::domain::user;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn policy() -> Policy {
        Policy::resolve([&PolicySettings {
            term_starts: Some(TermStarts::Activation),
            renewal: Some(Renewal::Automatic),
            ..Default::default()
        }])
    }

    fn activated(email: &str, start: &str) -> User {
        let u = User::new("c", email, at("2018-01-01T00:00:00Z"));
        let u = user::issue(&u, "l1".into(), Some("lot".into()), None, &policy(), at("2018-05-01T00:00:00Z"));
        user::activate(&u, &policy(), at(start)).unwrap()
    }

    fn run(status: EnrolmentStatus, starts: &str, ends: &str) -> Enrolment {
        enrolment::put(
            "c",
            "x",
            "run",
            PutEnrolment { status, starts_at: Some(at(starts)), ends_at: Some(at(ends)) },
            at(starts),
        )
        .unwrap()
    }

    /// Worked example 6 (docs/domain.md#example-6-renewal), decision by decision.
    #[test]
    fn worked_case_6_decisions() {
        let renewal = at("2019-05-11T09:00:00Z");
        let wessel = activated("wessel@c.example", "2018-05-11T09:00:00Z");
        assert_eq!(wessel.renewal_at, Some(renewal));
        let two_year = run(EnrolmentStatus::Active, "2018-05-11T09:00:00Z", "2020-05-11T09:00:00Z");
        assert_eq!(decide(&wessel, std::slice::from_ref(&two_year), renewal), RenewalCase::Renew);
        let renewed = renew(&wessel, "l2".into(), Some("lot2".into()), None, &policy()).unwrap();
        assert_eq!(
            (renewed.licence_count, renewed.licence.as_ref().unwrap().licence_date.to_string()),
            (2, "2019-05-11".into())
        );
        assert_eq!(renewed.renewal_at, Some(at("2020-05-11T09:00:00Z")));

        // Mandy never logged in, but a live enrolment is all that counts.
        let mandy = activated("mandy@c.example", "2018-05-11T09:00:00Z");
        assert!(mandy.last_login_at.is_none());
        let new_run = run(EnrolmentStatus::New, "2018-05-11T09:00:00Z", "2020-01-01T00:00:00Z");
        assert_eq!(decide(&mandy, &[new_run], renewal), RenewalCase::Renew);

        // One one-year run started at activation is over at the renewal instant.
        let once = activated("once@c.example", "2018-05-11T09:00:00Z");
        let one_year = run(EnrolmentStatus::Active, "2018-05-11T09:00:00Z", "2019-05-11T09:00:00Z");
        assert_eq!(decide(&once, &[one_year], renewal), RenewalCase::NoLiveEnrolment);

        let mut no = activated("no@c.example", "2018-05-11T09:00:00Z");
        no.renewable = false;
        assert_eq!(decide(&no, &[two_year], renewal), RenewalCase::NotRenewable);

        let pending = user::issue(
            &User::new("c", "p@c.example", at("2018-01-01T00:00:00Z")),
            "l".into(),
            None,
            None,
            &policy(),
            at("2018-05-01T00:00:00Z"),
        );
        assert_eq!(decide(&pending, &[], renewal), RenewalCase::Pending);
        assert_eq!(decide(&wessel, &[], at("2019-05-11T08:59:59Z")), RenewalCase::NotDue);
    }

    #[test]
    fn the_forecast_draws_on_the_balance_in_date_order() {
        let live = run(EnrolmentStatus::Active, "2018-05-01T00:00:00Z", "2021-01-01T00:00:00Z");
        let first = activated("first@c.example", "2018-05-11T09:00:00Z");
        let second = activated("second@c.example", "2018-06-11T09:00:00Z");
        let late = activated("late@c.example", "2018-09-11T09:00:00Z");
        let users = vec![(second, vec![live.clone()]), (first, vec![live.clone()]), (late, vec![live])];
        let rows = forecast(users, 1, at("2019-07-01T00:00:00Z"));
        let summary: Vec<_> = rows.iter().map(|r| (r.email.as_str(), r.will_renew, r.reason)).collect();
        assert_eq!(summary, vec![("first@c.example", true, None), ("second@c.example", false, Some("balance_empty"))]);
    }
}
