//! The renewal sweep (docs/domain.md#automatic-renewal): users whose renewal date has come, found through the
//! by-renewal-date index (users not due are never read), decided one by one in date order
//! ([`decide::renew`]). Every write is conditional on the user's version, so a replayed or
//! concurrent sweep finds the user renewed (its next date a year on) or ended, and never debits
//! twice.
//!
//! Each org, and each user in it, is decided on its own: a user whose renewal cannot be written
//! (its change set refused, or a race lost on every attempt of the retry
//! policy) or an org that cannot be read
//! is named in the report's `failed` and stays due for the next run; every other user and org
//! is renewed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use super::{raced, recipients, Failed, Reported};
use crate::command::{self, new_id, retry, Decision};
use crate::domain::contacts::Topic;
use crate::domain::decide::renewal::{self as decide, DueRenewal, Outcome, Renewed};
use crate::domain::notice::{Notice, NoticeKind};
use crate::domain::org::Org;
use crate::domain::policy::Policy;
use crate::domain::renewal;
use crate::domain::seats::Reuse;
use crate::domain::user::User;
use crate::store::due::Told;
use crate::store::{Error, Store, StoreError};
use crate::App;

#[derive(Debug, Clone, Default, Serialize)]
pub struct RenewalReport {
    pub now: DateTime<Utc>,
    pub due: usize,
    pub renewed: Vec<String>,
    pub ended: Vec<String>,
    pub not_renewable: Vec<String>,
    pub blocked: Vec<String>,
    pub notices_sent: usize,
    /// The users (or orgs) left for the next run, each with its step and reason.
    pub failed: Vec<Failed>,
}

crate::sweeps::reported!(RenewalReport, "renewal");

pub async fn renewal(app: &App, now: DateTime<Utc>) -> Result<RenewalReport, Error> {
    let store = &app.store;
    let (mut due, unreadable) = store.renewals_due(now).await?;
    due.sort_by_key(|u| (u.renewal_at, u.email.clone()));
    let mut report = RenewalReport { now, due: due.len(), ..Default::default() };
    // A due user that cannot be read is named with its org; everyone else is renewed.
    for broken in unreadable {
        report.failed.push(Failed::new(RenewalReport::SWEEP, &broken.org_id, None, "read", &broken.error.into()));
    }
    let mut by_org: BTreeMap<String, Vec<User>> = BTreeMap::new();
    for u in due {
        by_org.entry(u.org_id.clone()).or_default().push(u);
    }
    for (org_id, users) in by_org {
        if let Err((step, e)) = renew_org(store, &org_id, users, now, &mut report).await {
            report.failed.push(Failed::new(RenewalReport::SWEEP, &org_id, None, step, &e));
        }
    }
    tracing::info!(?report, "renewal sweep");
    Ok(report)
}

/// One org's due users, each on its own (a user that fails is named in the report and the
/// others go on), then its `renewal_blocked` notices. An error of the org itself (it, or its
/// policy, cannot be read; its notices cannot be stored) with the step it stopped at.
async fn renew_org(
    store: &Store,
    org_id: &str,
    users: Vec<User>,
    now: DateTime<Utc>,
    report: &mut RenewalReport,
) -> Result<(), (&'static str, Error)> {
    let Some(org) = store.org(org_id).await.map_err(|e| ("org", e.into()))? else {
        tracing::warn!(org_id, users = users.len(), "users due for renewal in an org that is not there");
        return Ok(());
    };
    let policy = store.policy(&org).await.map_err(|e| ("policy", e.into()))?;
    let mut blocked: Vec<(String, DateTime<Utc>)> = Vec::new();
    for user in users {
        match renew_until_won(store, &org, &policy, user.clone(), now).await {
            Ok(Some(renewed)) => record(report, &mut blocked, &user.email, renewed),
            Ok(None) => {}
            Err(e) => report.failed.push(Failed::new(RenewalReport::SWEEP, org_id, Some(&user.email), "renew", &e)),
        }
    }
    report.notices_sent += notify_blocked(store, &org, &policy, blocked, now).await.map_err(|e| ("notices", e))?;
    Ok(())
}

/// One user's renewal, run by the executor ([`command::execute`]); a lost race means another
/// sweep (or a change) got there first: the user is read again and decided anew under the retry
/// policy, then it is a failure (still due). `None` when nothing was due (or the user is gone).
async fn renew_until_won(
    store: &Store,
    org: &Org,
    policy: &Policy,
    user: User,
    now: DateTime<Utc>,
) -> Result<Option<Renewed>, Error> {
    let email = user.email.clone();
    // The user as the sweep read it for the first attempt; read afresh for every later one.
    let first = std::sync::Mutex::new(Some(user));
    let renewed = command::execute(store, || async {
        let given = first.lock().expect("the user first read").take();
        let current = match given {
            Some(user) => user,
            None => match store.user(&org.org_id, &email).await? {
                Some(fresh) => fresh,
                None => return Ok(Decision::unchanged(None)),
            },
        };
        decide_one(store, org, policy, &current, now).await
    })
    .await;
    renewed.map_err(|e| {
        if !raced(&e) {
            return e;
        }
        let attempts = retry::Policy::DEFAULT.attempts;
        StoreError::Other(format!(
            "the renewal of {email} lost its race to a concurrent change {attempts} times; still due"
        ))
        .into()
    })
}

/// One user's renewal: its enrolments and what its due renewal is decided on are read, and the
/// renewal decided. `None` when nothing was due.
async fn decide_one(
    store: &Store,
    org: &Org,
    policy: &Policy,
    user: &User,
    now: DateTime<Utc>,
) -> Result<Decision<Option<Renewed>>, Error> {
    let enrolments = store.enrolments(&org.org_id, &user.email).await?;
    let due = match renewal::decide(user, &enrolments, now) {
        renewal::RenewalCase::Renew => DueRenewal::Renew(store.balance(&org.org_id, policy, now).await?),
        renewal::RenewalCase::NotRenewable if user.active => DueRenewal::NotRenewable(store.reuse(org, now).await?),
        renewal::RenewalCase::NotRenewable => DueRenewal::NotRenewable(Reuse::default()),
        renewal::RenewalCase::NoLiveEnrolment => DueRenewal::NoLiveEnrolment,
        renewal::RenewalCase::Pending | renewal::RenewalCase::NotDue => return Ok(Decision::unchanged(None)),
    };
    let decided = decide::renew(org, policy, user, &enrolments, due, now, || new_id("lic"));
    Ok(decided.map_or_else(|| Decision::unchanged(None), |d| d.map(Some)))
}

/// Counts a renewal decided for `email` in the report; a blocked one also with its renewal
/// instant.
fn record(report: &mut RenewalReport, blocked: &mut Vec<(String, DateTime<Utc>)>, email: &str, r: Renewed) {
    let email = email.to_string();
    match r.outcome {
        Outcome::Renewed => report.renewed.push(email),
        Outcome::Blocked => {
            blocked.push((email.clone(), r.renewal_at));
            report.blocked.push(email);
        }
        Outcome::NotRenewable => report.not_renewable.push(email),
        Outcome::Ended => report.ended.push(email),
    }
}

/// One `renewal_blocked` notice per renewal date (the org's own date in its time zone) to the
/// org's managers, at most once per date; how many were sent now. Learners already named by a
/// notice of their UTC date from before ([`Store::day_told`]) are not named again.
async fn notify_blocked(
    store: &Store,
    org: &Org,
    policy: &Policy,
    blocked: Vec<(String, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Result<usize, Error> {
    let zone = policy.zone();
    let mut by_day: BTreeMap<NaiveDate, Vec<(String, NaiveDate)>> = BTreeMap::new();
    for (email, at) in blocked {
        by_day.entry(zone.local(at).date()).or_default().push((email, at.date_naive()));
    }
    let mut sent = 0;
    for (date, learners) in by_day {
        let utc: BTreeSet<NaiveDate> = learners.iter().map(|(_, d)| *d).collect();
        let told = match store.day_told(&org.org_id, NoticeKind::RenewalBlocked, date, &utc).await? {
            Told::Day => continue,
            Told::Before(told) => told,
        };
        let emails: Vec<String> = learners.into_iter().filter(|(_, d)| !told.contains(d)).map(|(e, _)| e).collect();
        if emails.is_empty() {
            continue;
        }
        let to = recipients(store, org, policy, Topic::Expiry).await?;
        let notice = Notice::new(
            new_id("ntc"),
            NoticeKind::RenewalBlocked,
            &org.org_id,
            now,
            to,
            blocked_payload(date, &emails),
        );
        if store.put_day_notice_once(&notice, date).await? {
            sent += 1;
        }
    }
    Ok(sent)
}

/// What a `renewal_blocked` notice says of the learners of its day.
fn blocked_payload(date: NaiveDate, emails: &[String]) -> serde_json::Value {
    let (named, truncated) = crate::domain::notice::sample(emails);
    json!({
        "renewal_date": date,
        "count": emails.len(),
        "users": named,
        "users_truncated": truncated,
        "message": "These learners still have live courses but could not be renewed: the licence balance is empty. Order licences, then allocate them.",
    })
}
