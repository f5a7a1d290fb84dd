//! The expire sweep (DOMAIN.md §6): reads only what the due-by-instant index holds up to 72 hours
//! ahead, sends each company's `expiry_reminder` and `expired` notices at most once per date (the
//! store guards them), then marks what has ended as expired with conditional writes. A replayed
//! or concurrent sweep finds the guards taken and the items gone from the index.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::recipients;
use crate::domain::enrolment::EnrolmentStatus;
use crate::domain::expiry::{self, Due, REMINDER_HOURS};
use crate::domain::notice::Notice;
use crate::domain::org::Org;
use crate::domain::user::{self, User};
use crate::handlers::new_id;
use crate::handlers::users::reuse_context;
use crate::store::users::CounterChange;
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
}

pub async fn expire(app: &App, now: DateTime<Utc>) -> Result<ExpireReport, Error> {
    let store = &app.store;
    let (due, enrolments, items_read) = store.due_until(now + Duration::hours(REMINDER_HOURS)).await?;
    let mut report = ExpireReport { now, items_read, ..Default::default() };

    // Notices first: while nothing of a day has left the index, its list is complete.
    for plan in expiry::notices(&due, now) {
        let Some(org) = store.org(&plan.org_id).await? else { continue };
        let policy = store.policy(&org).await?;
        let notice = Notice {
            notice_id: new_id("ntc"),
            kind: plan.kind,
            org_id: plan.org_id.clone(),
            created_at: now,
            recipients: recipients(store, &org.org_id, &policy).await?,
            payload: plan.payload,
        };
        if store.put_notice_once(&notice, plan.date).await? {
            report.notices_sent += 1;
        }
    }

    for item in &due {
        if let Due::Lot(lot) = item {
            if lot.valid_until.is_some_and(|end| end <= now) && store.expire_lot(lot).await? {
                report.lots_expired += 1;
            }
        }
    }
    let mut by_org: BTreeMap<&str, Vec<(&User, User)>> = BTreeMap::new();
    for item in &due {
        if let Due::User(u) = item {
            if let Some(expired) = user::expire(u, now) {
                by_org.entry(u.org_id.as_str()).or_default().push((u, expired));
            }
        }
    }
    for (org_id, users) in by_org {
        let Some(org) = store.org(org_id).await? else {
            tracing::warn!(org_id, "licences due in an org that is not there");
            continue;
        };
        for chunk in users.chunks(USERS_PER_TRANSACTION) {
            report.licences_expired += expire_users(store, &org, chunk, now).await?;
        }
    }
    let mut ended: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for e in enrolments.iter().filter(|e| e.ends_at.is_some_and(|end| end <= now)) {
        *ended.entry((e.org_id.as_str(), e.email.as_str())).or_default() += 1;
    }
    let mut orgs: HashMap<&str, Option<Org>> = HashMap::new();
    for ((org_id, email), _) in ended {
        if !orgs.contains_key(org_id) {
            orgs.insert(org_id, store.org(org_id).await?);
        }
        let Some(Some(org)) = orgs.get(org_id) else { continue };
        let (enrolments_ended, inactive) = end_enrolments(store, org, email, now).await?;
        report.enrolments_ended += enrolments_ended;
        report.users_inactive += usize::from(inactive);
    }
    tracing::info!(?report, "expire sweep");
    Ok(report)
}

/// The writes that store these users' licences as expired, give their seats back to their lots
/// and keep the org's counters.
fn expiry_writes(
    store: &Store,
    org: &Org,
    users: &[(&User, User)],
) -> Result<Vec<aws_sdk_dynamodb::types::TransactWriteItem>, StoreError> {
    let mut writes = Vec::new();
    let mut per_lot: HashMap<(String, Option<DateTime<Utc>>), u32> = HashMap::new();
    let mut change = CounterChange::default();
    for (before, after) in users {
        writes.push(store.put_user(after, false)?);
        change.seats_held -= 1;
        match before.licence.as_ref().and_then(|l| l.lot_id.clone().map(|id| (id, l.lot_valid_until))) {
            Some(lot) => *per_lot.entry(lot).or_default() += 1,
            None => change.included_in_use -= 1,
        }
    }
    for ((lot_id, end), n) in per_lot {
        writes.push(store.credit_lot(&org.org_id, &lot_id, end, n)?);
    }
    writes.push(store.change_counters(org, &change)?);
    Ok(writes)
}

/// Expires a batch in one transaction; if any user changed meanwhile, each on its own (a user
/// who changed is read again and expired only if it still should be).
async fn expire_users(store: &Store, org: &Org, users: &[(&User, User)], now: DateTime<Utc>) -> Result<usize, Error> {
    match store.transact(expiry_writes(store, org, users)?).await {
        Ok(()) => return Ok(users.len()),
        Err(StoreError::ConditionFailed(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let mut done = 0;
    for (before, _) in users {
        let Some(fresh) = store.user(&org.org_id, &before.email).await? else { continue };
        let Some(expired) = user::expire(&fresh, now) else { continue };
        match store.transact(expiry_writes(store, org, &[(&fresh, expired)])?).await {
            Ok(()) => done += 1,
            Err(StoreError::ConditionFailed(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

/// Stores a user's ended enrolments as expired and, when none is live any more, counts the user
/// off the org's active users — in one transaction guarded by the user's version, read again
/// if a concurrent change won. How many enrolments ended, and whether the user stopped counting.
async fn end_enrolments(store: &Store, org: &Org, email: &str, now: DateTime<Utc>) -> Result<(usize, bool), Error> {
    for _ in 0..3 {
        let Some(user) = store.user(&org.org_id, email).await? else { return Ok((0, false)) };
        let all = store.enrolments(&org.org_id, email).await?;
        let ended: Vec<_> = all
            .iter()
            .filter(|e| e.status != EnrolmentStatus::Expired && e.ends_at.is_some_and(|end| end <= now))
            .collect();
        if ended.is_empty() {
            return Ok((0, false));
        }
        let mut next = user.clone();
        let mut change = CounterChange::default();
        if user.active && !all.iter().any(|e| e.live_at(now)) {
            let (counters, year) = reuse_context(store, org, now).await?;
            change.set_active(&mut next, false, &counters, year);
        }
        let mut writes = vec![store.put_user(&next, false)?];
        for e in &ended {
            writes.push(store.put_enrolment(&e.expired(now))?);
        }
        if !change.is_empty() {
            writes.push(store.change_counters(org, &change)?);
        }
        match store.transact(writes).await {
            Ok(()) => return Ok((ended.len(), change.active_users < 0)),
            Err(StoreError::ConditionFailed(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok((0, false))
}
