//! The expire sweep (docs/domain.md#expiry): reads only what the due-by-instant index holds up to 72 hours
//! ahead, sends each company's `expiry_reminder` and `expired` notices at most once per date (the
//! store guards them), then marks what has ended as expired with conditional writes. A replayed
//! or concurrent sweep finds the guards taken and the items gone from the index.
//!
//! The due work is taken org by org: an org's notices, lots, licences and enrolments in that
//! order, its later steps left for the retry when one fails. One org's failure (an error, or a
//! race lost on every attempt of the retry policy) does not stop the others: it is named in the
//! report's `failed` with its step and reason, and once every org was tried the invocation fails
//! naming it ([`super::report`]), so the schedule's retry picks it up, and the guards make that
//! retry do only what is left.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::{raced, recipients, Failed, Reported};
use crate::command::retry::Policy as Retry;
use crate::command::{self, new_id, Decision};
use crate::domain::contacts::Topic;
use crate::domain::decide::expire as decide;
use crate::domain::enrolment::Enrolment;
use crate::domain::expiry::{self, Day, Ending, Renewing, DUE_AHEAD_HOURS};
use crate::domain::notice::Notice;
use crate::domain::org::Org;
use crate::domain::policy::{Policy, Renewal};
use crate::domain::renewal;
use crate::domain::seats::Reuse;
use crate::domain::user::User;
use crate::store::due::Told;
use crate::store::{Error, Store, StoreError};
use crate::App;

/// Users whose expiry one transaction materialises (each a write, plus lots and counters).
const USERS_PER_TRANSACTION: usize = 40;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExpireReport {
    pub now: DateTime<Utc>,
    /// Items the due-index queries returned: what the sweep's cost follows.
    pub items_read: usize,
    pub notices_sent: usize,
    pub lots_expired: usize,
    pub licences_expired: usize,
    /// Enrolments whose end passed, stored as expired.
    pub enrolments_ended: usize,
    /// Users counted off the active users because their last live enrolment ended.
    pub users_inactive: usize,
    /// The orgs whose sweep stopped at a step, left for the next run.
    pub failed: Vec<Failed>,
}

crate::sweeps::reported!(ExpireReport, "expire");

/// What is due in one org.
#[derive(Default)]
struct OrgDue {
    due: Vec<Ending>,
    enrolments: Vec<Enrolment>,
}

pub async fn expire(app: &App, now: DateTime<Utc>) -> Result<ExpireReport, Error> {
    expire_orgs(app, now, None).await
}

/// The sweep of [`expire`] over the orgs `only` names (`None`: every org due). The local
/// server's `/dev/sweeps/expire?org=` runs it for one org, so tests that share a table sweep
/// their own org and no other test's. An org that fails is in the report's `failed`.
pub async fn expire_orgs(app: &App, now: DateTime<Utc>, only: Option<&str>) -> Result<ExpireReport, Error> {
    let store = &app.store;
    let found = store.due_until(now + Duration::hours(DUE_AHEAD_HOURS)).await?;
    let mut report = ExpireReport { now, items_read: found.read, ..Default::default() };

    let mut by_org: BTreeMap<String, OrgDue> = BTreeMap::new();
    for item in found.due {
        by_org.entry(item.org_id().to_string()).or_default().due.push(item);
    }
    for e in found.enrolments {
        by_org.entry(e.org_id.clone()).or_default().enrolments.push(e);
    }
    if let Some(only) = only {
        by_org.retain(|org_id, _| org_id == only);
    }
    // An org with an item that cannot be read is named and left whole for the next run (its
    // notices would miss what that item says); the others are swept.
    for broken in found.unreadable.into_iter().filter(|u| only.is_none_or(|o| o == u.org_id)) {
        if !report.failed.iter().any(|f| f.org_id == broken.org_id) {
            by_org.remove(&broken.org_id);
            report.failed.push(Failed::new(ExpireReport::SWEEP, &broken.org_id, None, "read", &broken.error.into()));
        }
    }
    for (org_id, work) in &by_org {
        let mut step = "org";
        if let Err(error) = sweep_org(store, org_id, work, now, &mut report, &mut step).await {
            let failed = Failed::new(ExpireReport::SWEEP, org_id, None, step, &error);
            report.failed.push(failed);
        }
    }
    tracing::info!(?report, "expire sweep");
    Ok(report)
}

/// One org's due work: notices first (while nothing of a day has left the index, its list is
/// complete), then lots, licences and enrolments. `step` names the step under way, so a failure
/// says where the org stopped; what was done is counted in `report` either way.
async fn sweep_org(
    store: &Store,
    org_id: &str,
    work: &OrgDue,
    now: DateTime<Utc>,
    report: &mut ExpireReport,
    step: &mut &'static str,
) -> Result<(), Error> {
    let org = store.org(org_id).await?;
    *step = "notices";
    let renewing = match &org {
        Some(org) => {
            let (renewing, sent) = renewals_and_notices(store, org, &work.due, now).await?;
            report.notices_sent += sent;
            renewing
        }
        None => Renewing::default(),
    };

    *step = "lots";
    for item in &work.due {
        if let Ending::Lot(lot) = item {
            if lot.valid_until.is_some_and(|end| end <= now) && store.expire_lot(lot).await? {
                report.lots_expired += 1;
            }
        }
    }

    *step = "licences";
    // A licence that will be renewed at its end (or whose blocked renewal has come) is the
    // renewal sweep's: never stored as expired here, whichever sweep runs first.
    let expiring: Vec<Ending> = work.due.iter().filter(|item| !renewing.takes(item, now)).cloned().collect();
    let users = decide::ended_licences(&expiring, now);
    let Some(org) = org else {
        if !users.is_empty() || !work.enrolments.is_empty() {
            tracing::warn!(org_id, "licences or enrolments due in an org that is not there");
        }
        return Ok(());
    };
    for chunk in users.chunks(USERS_PER_TRANSACTION) {
        // Counted as each chunk lands, so a later failure still reports what was done.
        let (done, outcome) = expire_users(store, &org, chunk, now).await;
        report.licences_expired += done;
        outcome?;
    }

    *step = "enrolments";
    let mut ended: BTreeMap<&str, usize> = BTreeMap::new();
    for e in work.enrolments.iter().filter(|e| decide::has_ended(e, now)) {
        *ended.entry(e.email.as_str()).or_default() += 1;
    }
    for email in ended.keys() {
        let done = end_enrolments(store, &org, email, now).await?;
        report.enrolments_ended += done.ended;
        report.users_inactive += usize::from(done.inactive);
    }
    Ok(())
}

/// The org's due renewals ([`renewing`]) and its `expiry_reminder` and `expired` notices that
/// `due` calls for with those renewals on the renewal's path ([`send_notices`]), the org's
/// policy read once for both; how many notices were sent now. Nothing is read for nothing due.
async fn renewals_and_notices(
    store: &Store,
    org: &Org,
    due: &[Ending],
    now: DateTime<Utc>,
) -> Result<(Renewing, usize), Error> {
    if due.is_empty() {
        return Ok((Renewing::default(), 0));
    }
    let policy = store.policy(org).await?;
    let renewing = renewing(store, org, &policy, due, now).await?;
    let sent = send_notices(store, org, &policy, expiry::days(due, &renewing, now, &policy), now).await?;
    Ok((renewing, sent))
}

/// Under `renewal = automatic`: the due users whose licence ends at a renewal that will renew
/// them ([`renewal::will_renew`]), split by what the balance pays ([`Renewing`]). Nothing is read
/// for an org without such users.
async fn renewing(
    store: &Store,
    org: &Org,
    policy: &Policy,
    due: &[Ending],
    now: DateTime<Utc>,
) -> Result<Renewing, Error> {
    if policy.renewal != Renewal::Automatic {
        return Ok(Renewing::default());
    }
    let mut renewed = Vec::new();
    for item in due {
        let Ending::User(user) = item else { continue };
        if !renewal::ends_at_renewal(user) {
            continue;
        }
        let enrolments = store.enrolments(&org.org_id, &user.email).await?;
        if renewal::will_renew(policy, user, &enrolments) {
            renewed.push(user);
        }
    }
    if renewed.is_empty() {
        return Ok(Renewing::default());
    }
    let available = store.balance(&org.org_id, policy, now).await?.available(now);
    Ok(Renewing::of(renewed, available))
}

/// Sends the notices of the org's `days`, each at most once per kind and day (the org's own
/// date); how many were sent now. A day whose items were told by the UTC-dated notices from
/// before ([`Store::day_told`]) names only the others, and what is left that calls for another
/// kind of notice waits for its own.
async fn send_notices(
    store: &Store,
    org: &Org,
    policy: &Policy,
    days: Vec<Day<'_>>,
    now: DateTime<Utc>,
) -> Result<usize, Error> {
    let mut to = None;
    let mut sent = 0;
    for day in days {
        let Some(kind) = day.kind(now) else { continue };
        let day = match store.day_told(&org.org_id, kind, day.date, &day.utc_dates()).await? {
            Told::Day => continue,
            Told::Before(told) => day.without(&told),
        };
        if day.kind(now) != Some(kind) {
            continue;
        }
        let Some(plan) = day.plan(now) else { continue };
        let to = match &to {
            Some(to) => to,
            None => to.insert(recipients(store, org, policy, Topic::Expiry).await?),
        };
        let notice = Notice::new(new_id("ntc"), plan.kind, &plan.org_id, now, to.clone(), plan.payload);
        if store.put_day_notice_once(&notice, plan.date).await? {
            sent += 1;
        }
    }
    Ok(sent)
}

/// Expires a batch in one transaction ([`decide::licences`]); if any user changed meanwhile,
/// each on its own (a user who changed is read again and expired only if it still should be, up
/// under the retry policy). How many it expired, and whether it failed: a user whose write
/// kept losing its race is a failure, never "nothing due".
async fn expire_users(store: &Store, org: &Org, users: &[&User], now: DateTime<Utc>) -> (usize, Result<(), Error>) {
    let decided = decide::licences(org, users, now);
    match store.apply(&decided.changes, None).await {
        Ok(()) => return (decided.outcome, Ok(())),
        // A user changed meanwhile: each is decided again on its own below.
        Err(e) if raced(&e) => {
            tracing::info!(org_id = %org.org_id, users = users.len(), "a batch lost its race; expiring one by one")
        }
        Err(e) => return (0, Err(e)),
    }
    let mut done = 0;
    for before in users {
        match expire_user(store, org, &before.email, now).await {
            Ok(expired) => done += usize::from(expired),
            Err(e) => return (done, Err(e)),
        }
    }
    (done, Ok(()))
}

/// Expires one user read afresh, if it still should be; `false` when it need not be any more.
async fn expire_user(store: &Store, org: &Org, email: &str, now: DateTime<Utc>) -> Result<bool, Error> {
    until_won(store, email, "licence", || async {
        let Some(fresh) = store.user(&org.org_id, email).await? else { return Ok(Decision::unchanged(false)) };
        Ok(decide::licences(org, &[&fresh], now).map(|expired| expired > 0))
    })
    .await
}

/// Stores a user's ended enrolments as expired and, when none is live any more, counts the user
/// off the org's active users ([`decide::enrolments`]) — in one transaction guarded by the
/// user's version, read again if a concurrent change won (under the retry policy, then a failure:
/// the enrolments are still due).
async fn end_enrolments(
    store: &Store,
    org: &Org,
    email: &str,
    now: DateTime<Utc>,
) -> Result<decide::EnrolmentsEnded, Error> {
    until_won(store, email, "enrolments", || async {
        let Some(user) = store.user(&org.org_id, email).await? else {
            return Ok(Decision::unchanged(Default::default()));
        };
        let all = store.enrolments(&org.org_id, email).await?;
        let reuse = if decide::counts_off(&user, &all, now) { store.reuse(org, now).await? } else { Reuse::default() };
        Ok(decide::enrolments(org, &user, &all, &reuse, now))
    })
    .await
}

/// Runs `decide` (load, decide) through the executor ([`command::execute`]): applied, and run
/// again while it loses its race under the retry policy; a race lost every time makes the
/// `what` write for `email` a failure (still due).
async fn until_won<T, F, Fut>(store: &Store, email: &str, what: &str, decide: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Decision<T>, Error>>,
{
    command::execute(store, decide).await.map_err(|e| if raced(&e) { lost_race(email, what) } else { e })
}

/// A user's write lost to concurrent changes every time it was tried.
fn lost_race(email: &str, what: &str) -> Error {
    StoreError::Other(format!(
        "the {what} write for {email} lost its race to a concurrent change {} times; still due",
        Retry::DEFAULT.attempts
    ))
    .into()
}
