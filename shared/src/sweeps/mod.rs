//! Scheduled sweeps and stream consumers. "Now" is the triggering event's time, never the clock.
//!
//! Each sweep isolates its unit of work (an org; in the renewal sweep, a user of an org): a unit
//! that fails is logged at ERROR, named in the report's `failed` with its step and reason, and
//! left as it is for the next run; every other unit is done. The invocation of a sweep that left
//! any unit fails afterwards naming each ([`report`]), so the schedule retries it and the failure
//! shows in the function's error metrics.

pub mod expire;
pub mod forecast;
pub mod publish;
pub mod renewal;
pub mod snapshot;

use serde::Serialize;

use crate::command::retry::{Class, Classify};
use crate::domain::contacts::{self, Topic};
use crate::domain::org::Org;
use crate::domain::policy::Policy;
use crate::lambda::Sweep;
use crate::store::{Error, Store, StoreError};

/// A unit of a sweep's work that failed and was left for the next run: its org (and its user, or
/// its import), the step it stopped at, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failed {
    pub org_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_id: Option<String>,
    pub step: &'static str,
    pub reason: String,
}

impl Failed {
    /// Records that `org_id` (or its user `email`) failed at `step`, logging it at ERROR.
    pub(crate) fn new(sweep: &str, org_id: &str, email: Option<&str>, step: &'static str, error: &Error) -> Failed {
        tracing::error!(sweep, org_id, email, step, error = %error, "a unit of the sweep failed; the others go on, and the next run tries it again");
        Failed {
            org_id: org_id.to_string(),
            email: email.map(str::to_string),
            import_id: None,
            step,
            reason: error.to_string(),
        }
    }

    /// Records that import (or job) `import_id` of `org_id` failed at `step`, logging it at ERROR.
    pub(crate) fn of_import(sweep: &str, org_id: &str, import_id: &str, step: &'static str, error: &Error) -> Failed {
        tracing::error!(sweep, org_id, import_id, step, error = %error, "a unit of the sweep failed; the others go on, and the next run tries it again");
        let reason = error.to_string();
        Failed { org_id: org_id.to_string(), email: None, import_id: Some(import_id.to_string()), step, reason }
    }

    fn sentence(&self) -> String {
        let of = match (&self.email, &self.import_id) {
            (Some(email), _) => format!(" for {email}"),
            (None, Some(id)) => format!(" of import {id}"),
            (None, None) => String::new(),
        };
        format!("org {} at its {} step{of} ({})", self.org_id, self.step, self.reason)
    }
}

/// A sweep's report: what it did, and the units it left.
pub trait Reported: Serialize {
    /// The sweep's name, as its schedule calls it.
    const SWEEP: &'static str;
    fn failed(&self) -> &[Failed];
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
}

/// A sweep's report is [`Reported`] under the sweep's name, by its `now` and `failed` fields.
macro_rules! reported {
    ($report:ty, $sweep:literal) => {
        impl $crate::sweeps::Reported for $report {
            const SWEEP: &'static str = $sweep;
            fn failed(&self) -> &[$crate::sweeps::Failed] {
                &self.failed
            }
            fn now(&self) -> chrono::DateTime<chrono::Utc> {
                self.now
            }
        }
    };
}
pub(crate) use reported;

/// The sentence an invocation fails with when a sweep left units for the next run: each one,
/// then the whole report.
pub fn failure_message<R: Reported>(report: &R) -> String {
    let each: Vec<String> = report.failed().iter().map(Failed::sentence).collect();
    format!(
        "the {} sweep at {} could not finish {} unit(s), left for the next run: {}; everything else was done: {}",
        R::SWEEP,
        report.now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        each.len(),
        each.join("; "),
        serde_json::to_value(report).unwrap_or_default(),
    )
}

/// Whether a sweep's changes lost their race (by the one classifier): a condition failed, the
/// state changed since it was read, and the step is read and decided again.
pub(crate) fn raced(e: &Error) -> bool {
    e.class() == Class::Race
}

/// The e-mails an org's notices of `topic` go to: its own contacts for the topic, the policy's
/// `notify_emails` and its manager users, at most
/// [`MAX_RECIPIENTS`](crate::domain::notice::MAX_RECIPIENTS) of them.
pub(crate) async fn recipients(
    store: &Store,
    org: &Org,
    policy: &Policy,
    topic: Topic,
) -> Result<crate::domain::notice::Recipients, Error> {
    let contacts = contacts::receiving(&org.contacts, topic);
    Ok(crate::domain::notice::recipients_with(
        contacts,
        store.manager_emails(&org.org_id).await?,
        &policy.notify_emails,
    ))
}

/// A sweep's outcome as its invocation answers it: the report, or — when it left units for the
/// next run — a failure naming each (after every other unit was done).
pub fn report<R: Reported>(r: Result<R, Error>) -> Result<serde_json::Value, Error> {
    let r = r?;
    if r.failed().is_empty() {
        return Ok(serde_json::to_value(&r).unwrap_or_default());
    }
    // Each unit was logged at ERROR as it failed; the invocation's failure is logged by its caller.
    Err(StoreError::Other(failure_message(&r)).into())
}

/// The sweeps as the schedules run them; each function names its own, so its binary links only
/// that one.
pub const EXPIRE: Sweep = |app, now| Box::pin(async move { report(expire::expire(&app, now).await) });
pub const RENEWAL: Sweep = |app, now| Box::pin(async move { report(renewal::renewal(&app, now).await) });
pub const FORECAST: Sweep = |app, now| Box::pin(async move { report(forecast::export(&app, now).await) });
pub const SNAPSHOT: Sweep = |app, now| Box::pin(async move { report(snapshot::snapshot(&app, now).await) });
pub const LEASES: Sweep = |app, now| Box::pin(async move { report(crate::imports::leases::sweep(&app, now).await) });

/// The sweeps by name, as the local server runs them.
pub fn by_name(name: &str) -> Option<Sweep> {
    Some(match name {
        "expire" => EXPIRE,
        "renewal" => RENEWAL,
        "forecast" => FORECAST,
        "snapshot" => SNAPSHOT,
        "leases" => LEASES,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweeps::expire::ExpireReport;

    #[test]
    fn a_sweep_that_left_units_fails_naming_each_with_its_step_and_reason_and_what_it_did() {
        let mut report = ExpireReport {
            now: "2027-01-15T09:00:00Z".parse().unwrap(),
            notices_sent: 2,
            licences_expired: 6,
            enrolments_ended: 1,
            ..Default::default()
        };
        assert!(super::report(Ok(report.clone())).is_ok(), "nothing left: the report");
        let lost = StoreError::Other("the enrolments write for a@c.example lost its race".into()).into();
        report.failed.push(Failed::new("expire", "c", None, "enrolments", &lost));
        let boom = StoreError::Other("boom".into()).into();
        report.failed.push(Failed::new("expire", "e", Some("x@e.example"), "notices", &boom));
        let message = super::report(Ok(report)).unwrap_err().to_string();
        assert!(message.contains("the expire sweep at 2027-01-15T09:00:00Z could not finish 2 unit(s)"), "{message}");
        assert!(
            message.contains(
                "org c at its enrolments step (store error: the enrolments write for a@c.example lost its race)"
            ),
            "{message}"
        );
        assert!(message.contains("org e at its notices step for x@e.example (store error: boom)"), "{message}");
        assert!(message.contains(r#""licences_expired":6"#) && message.contains(r#""notices_sent":2"#), "{message}");
        let leases = crate::imports::leases::LeaseReport {
            failed: vec![Failed::of_import("leases", "c", "imp-1", "commit", &StoreError::Other("gone".into()).into())],
            ..Default::default()
        };
        let leased = super::report(Ok(leases)).unwrap_err().to_string();
        assert!(leased.contains("org c at its commit step of import imp-1 (store error: gone)"), "{leased}");
        assert!(leased.contains(r#""import_id":"imp-1""#) && !leased.contains(r#""email""#), "{leased}");
    }
}
