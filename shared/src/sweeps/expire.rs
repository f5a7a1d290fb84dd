//! The expire sweep (docs/domain.md#expiry): reads the due-by-instant index by each item's next
//! wake, a page at a time. A licence or lot at its reminder horizon (72 hours before its end) is
//! merged into its company's day of expiries ([`ExpiryDay`]) and keyed at its end; at its end it
//! is stored as expired (enrolments at their end alike). Each day's `expiry_reminder` and
//! `expired` are sent from the day at most once per date (the store guards them). A replayed or
//! concurrent sweep finds the items merged, the guards taken and the items gone from the index.
//!
//! The due work of a page is taken org by org: an org's merges, lots, licences and enrolments in
//! that order, its later steps left for the retry when one fails. One org's failure (an error,
//! or a race lost on every attempt of the retry policy) does not stop the others: it is named in
//! the report's `failed` with its step and reason, and once every org was tried the invocation
//! fails naming it ([`super::report`]), so the schedule's retry picks it up, and the guards make
//! that retry do only what is left.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::{raced, recipients, Failed, Reported};
use crate::command::retry::{Class, Classify, Policy as Retry};
use crate::command::{self, new_id, Decision};
use crate::domain::contacts::Topic;
use crate::domain::decide::expire as decide;
use crate::domain::enrolment::Enrolment;
use crate::domain::expiry::{Ending, Renewing};
use crate::domain::expiry_day::ExpiryDay;
use crate::domain::lot::{Lot, LotStatus};
use crate::domain::notice::{Notice, NoticeKind};
use crate::domain::org::Org;
use crate::domain::policy::{Policy, Renewal};
use crate::domain::renewal;
use crate::domain::seats::Reuse;
use crate::domain::user::{LicenceStatus, User};
use crate::store::due::{DueItems, Told, DUE_PAGE};
use crate::store::{keys, Error, Store, StoreError, Unreadable};
use crate::App;
use aws_sdk_dynamodb::types::TransactWriteItem;

/// Users whose expiry one transaction materialises (each a write, plus lots and counters).
const USERS_PER_TRANSACTION: usize = 40;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExpireReport {
    pub now: DateTime<Utc>,
    /// Items the due-index queries returned: what the sweep's cost follows.
    pub items_read: usize,
    /// Of those, days of expiries (each read at its reminder and at its `expired`).
    pub days_read: usize,
    /// Licences and lots merged into their day of expiries as they reached their reminder
    /// horizon.
    pub items_merged: usize,
    pub notices_sent: usize,
    pub lots_expired: usize,
    pub licences_expired: usize,
    /// Enrolments whose end passed, stored as expired.
    pub enrolments_ended: usize,
    /// Users counted off the active users because their last live enrolment ended.
    pub users_inactive: usize,
    /// Whether the run read the due index to `now`: `false` when it stopped at its time budget
    /// ([`Limits::seconds`]), the rest left in the index for the next run (and the days' notices
    /// with it, so no day is told before all its items were merged).
    pub finished: bool,
    /// The orgs whose sweep stopped at a step, left for the next run.
    pub failed: Vec<Failed>,
}

crate::sweeps::reported!(ExpireReport, "expire");

/// How much one run of the sweep does: the items of a page of the due index, and the time after
/// which it reads no further page (the function's timeout is 900 s).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub page: i32,
    pub seconds: std::time::Duration,
}

impl Limits {
    pub const DEFAULT: Limits = Limits { page: DUE_PAGE, seconds: std::time::Duration::from_secs(SWEEP_SECONDS) };
}

/// Seconds a run of the sweep reads the due index before it leaves the rest for the next run.
pub const SWEEP_SECONDS: u64 = 600;

/// What is due in one org on one page of the index.
#[derive(Default)]
struct OrgDue {
    due: Vec<Ending>,
    enrolments: Vec<Enrolment>,
}

/// Licences and lots merged into their day in one transaction (with the day's item).
const MERGED_PER_TRANSACTION: usize = 90;

pub async fn expire(app: &App, now: DateTime<Utc>) -> Result<ExpireReport, Error> {
    expire_orgs(app, now, None).await
}

/// The sweep of [`expire`] over the orgs `only` names (`None`: every org due). The local
/// server's `/dev/sweeps/expire?org=` runs it for one org, so tests that share a table sweep
/// their own org and no other test's. An org that fails is in the report's `failed`.
///
/// The due index is read a page at a time, each page swept before the next is read (memory
/// follows the page, not the hour): what reached its reminder horizon is merged into its day of
/// expiries ([`ExpiryDay`]) and keyed by its end; what reached its end is expired. Then the
/// days with a notice due send it from what they hold.
pub async fn expire_orgs(app: &App, now: DateTime<Utc>, only: Option<&str>) -> Result<ExpireReport, Error> {
    expire_within(app, now, only, Limits::DEFAULT).await
}

/// [`expire_orgs`] within `limits`. Whatever a run leaves is still in the due index (an item
/// leaves its range only once done), so the next run goes on from there: the index is the
/// sweep's queue and its checkpoint.
pub async fn expire_within(
    app: &App,
    now: DateTime<Utc>,
    only: Option<&str>,
    limits: Limits,
) -> Result<ExpireReport, Error> {
    let store = &app.store;
    let started = std::time::Instant::now();
    let mut report = ExpireReport { now, ..Default::default() };
    let mut days = BTreeSet::new();
    let mut finished = true;
    'shards: for shard in 0..keys::DUE_SHARDS {
        let deadline = started + limits.seconds;
        let (read, unreadable, done) = store.rekey_earlier_due(shard, now, limits.page, deadline).await?;
        report.items_read += read;
        name_unreadable(&mut report, unreadable, only);
        if !done {
            finished = false;
            break 'shards;
        }
        let mut cursor = None;
        loop {
            let (found, next) = store.due_page(shard, now, cursor, limits.page).await?;
            sweep_page(store, found, now, only, &mut report, &mut days).await;
            let Some(next) = next else { break };
            if started.elapsed() >= limits.seconds {
                tracing::warn!(shard, "the expire sweep reached its time budget; the next run goes on");
                finished = false;
                break 'shards;
            }
            cursor = Some(next);
        }
    }
    report.finished = finished;
    if !report.finished {
        tracing::info!(?report, "expire sweep (left the rest for the next run)");
        return Ok(report);
    }
    for (org_id, date) in days {
        // A day is told once all its items reached it: not while one of them could not be read
        // or merged. An org whose later step failed is told what its day holds.
        if report.failed.iter().any(|f| f.org_id == org_id && matches!(f.step, "read" | "org" | "reminders")) {
            continue;
        }
        if let Err(error) = send_day(store, &org_id, date, now, &mut report).await {
            report.failed.push(Failed::new(ExpireReport::SWEEP, &org_id, None, "notices", &error));
        }
    }
    tracing::info!(?report, "expire sweep");
    Ok(report)
}

/// Names each org with an item that cannot be read (once): it is left whole for the next run,
/// its notices would miss what that item says.
fn name_unreadable(report: &mut ExpireReport, unreadable: Vec<Unreadable>, only: Option<&str>) {
    for broken in unreadable.into_iter().filter(|u| only.is_none_or(|o| o == u.org_id)) {
        if !report.failed.iter().any(|f| f.org_id == broken.org_id) {
            report.failed.push(Failed::new(ExpireReport::SWEEP, &broken.org_id, None, "read", &broken.error.into()));
        }
    }
}

/// Sweeps one page of the due index, org by org; the days it names (and the days its items
/// were merged into) are added to `days`.
async fn sweep_page(
    store: &Store,
    found: DueItems,
    now: DateTime<Utc>,
    only: Option<&str>,
    report: &mut ExpireReport,
    days: &mut BTreeSet<(String, NaiveDate)>,
) {
    report.items_read += found.read;
    report.days_read += found.days.len();
    name_unreadable(report, found.unreadable, only);
    let wanted = |org_id: &str| only.is_none_or(|o| o == org_id);
    days.extend(found.days.into_iter().filter(|(org_id, _)| wanted(org_id)));
    let mut by_org: BTreeMap<String, OrgDue> = BTreeMap::new();
    for item in found.due {
        by_org.entry(item.org_id().to_string()).or_default().due.push(item);
    }
    for e in found.enrolments {
        by_org.entry(e.org_id.clone()).or_default().enrolments.push(e);
    }
    // An org with an item that cannot be read is left whole; one whose step failed on an
    // earlier page goes on with this page's items (its failure is named either way).
    by_org.retain(|org_id, _| wanted(org_id) && !report.failed.iter().any(|f| &f.org_id == org_id && f.step == "read"));
    for (org_id, work) in by_org {
        let mut step = "org";
        if let Err(error) = sweep_org(store, &org_id, work, now, report, days, &mut step).await {
            // Named once per step, however many pages it failed on.
            if !report.failed.iter().any(|f| f.org_id == org_id && f.step == step) {
                report.failed.push(Failed::new(ExpireReport::SWEEP, &org_id, None, step, &error));
            }
        }
    }
}

/// One org's due work on a page: what reached its reminder horizon is merged into its days,
/// then lots, licences and enrolments whose end has come are expired. `step` names the step
/// under way, so a failure says where the org stopped; what was done is counted in `report`
/// either way.
async fn sweep_org(
    store: &Store,
    org_id: &str,
    work: OrgDue,
    now: DateTime<Utc>,
    report: &mut ExpireReport,
    days: &mut BTreeSet<(String, NaiveDate)>,
    step: &mut &'static str,
) -> Result<(), Error> {
    let Some(org) = store.org(org_id).await? else {
        tracing::warn!(org_id, "licences, lots or enrolments due in an org that is not there");
        return Ok(());
    };
    let (mut ending, reaching): (Vec<Ending>, Vec<Ending>) = work.due.into_iter().partition(reminded);
    let mut policy = None;
    if !reaching.is_empty() {
        *step = "reminders";
        let p = policy.insert(store.policy(&org).await?);
        let merged = merge_days(store, &org, p, reaching, now, days).await?;
        report.items_merged += merged.len();
        ending.extend(merged.into_iter().filter(|item| item.ends_at().is_some_and(|end| end <= now)));
    }

    *step = "lots";
    for item in &ending {
        if let Ending::Lot(lot) = item {
            if store.expire_lot(lot).await? {
                report.lots_expired += 1;
            }
        }
    }

    *step = "licences";
    if ending.iter().any(|item| matches!(item, Ending::User(_))) {
        let policy = match policy {
            Some(p) => p,
            None => store.policy(&org).await?,
        };
        expire_licences(store, &org, &policy, ending, now, report).await?;
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

/// Stores the licences among `ending` whose end has come as expired, in chunks; a licence that
/// will be renewed at its end (or whose blocked renewal has come) is the renewal sweep's: never
/// stored as expired here, whichever sweep runs first.
async fn expire_licences(
    store: &Store,
    org: &Org,
    policy: &Policy,
    ending: Vec<Ending>,
    now: DateTime<Utc>,
    report: &mut ExpireReport,
) -> Result<(), Error> {
    let renewing = renewing(store, org, policy, &ending, now).await?;
    let expiring: Vec<Ending> = ending.into_iter().filter(|item| !renewing.takes(item, now)).collect();
    for chunk in decide::ended_licences(&expiring, now).chunks(USERS_PER_TRANSACTION) {
        // Counted as each chunk lands, so a later failure still reports what was done.
        let (done, outcome) = expire_users(store, org, chunk, now).await;
        report.licences_expired += done;
        outcome?;
    }
    Ok(())
}

/// Whether a licence or lot was merged into its day for its end (it is in the index at its end).
fn reminded(item: &Ending) -> bool {
    let reminded_for = match item {
        Ending::Lot(l) => l.reminded_for,
        Ending::User(u) => u.licence.as_ref().and_then(|l| l.reminded_for),
    };
    reminded_for.is_some() && reminded_for == item.ends_at()
}

/// Merges licences and lots that reached their reminder horizon into their days of expiries
/// (by the org's own date), each chunk with its day in one transaction; the items as merged.
/// A licence that will be renewed is marked but not counted; a blocked renewal is counted as
/// one ([`renewing`]).
async fn merge_days(
    store: &Store,
    org: &Org,
    policy: &Policy,
    items: Vec<Ending>,
    now: DateTime<Utc>,
    days: &mut BTreeSet<(String, NaiveDate)>,
) -> Result<Vec<Ending>, Error> {
    let renewing = renewing(store, org, policy, &items, now).await?;
    let zone = policy.zone();
    let mut by_day: BTreeMap<NaiveDate, Vec<Ending>> = BTreeMap::new();
    for item in items {
        if let Some(end) = item.ends_at() {
            by_day.entry(zone.local(end).date()).or_default().push(item);
        }
    }
    let mut merged = Vec::new();
    for (date, items) in by_day {
        // Items a reminder keyed by their UTC date told before dates were the org's own are
        // named in the day's `expired` alone.
        let utc: BTreeSet<NaiveDate> = items.iter().filter_map(|i| Some(i.ends_at()?.date_naive())).collect();
        let told = match store.day_told(&org.org_id, NoticeKind::ExpiryReminder, date, &utc).await? {
            Told::Day => BTreeSet::new(),
            Told::Before(told) => told,
        };
        // Read once for the date; each chunk's transaction moves it on by one version.
        let mut day = store.expiry_day(&org.org_id, date).await?.unwrap_or_else(|| ExpiryDay::new(&org.org_id, date));
        let merging = Merging { store, policy, renewing: &renewing, told: &told };
        for chunk in items.chunks(MERGED_PER_TRANSACTION) {
            merged.extend(merging.chunk(&mut day, chunk.to_vec()).await?);
        }
        days.insert((org.org_id.clone(), date));
    }
    Ok(merged)
}

/// What every chunk of one org's day is merged with.
struct Merging<'a> {
    store: &'a Store,
    policy: &'a Policy,
    renewing: &'a Renewing,
    /// UTC dates a reminder of before told ([`Store::day_told`]).
    told: &'a BTreeSet<NaiveDate>,
}

impl Merging<'_> {
    /// Merges `chunk` into `day` (as stored) and marks each item merged, all in one
    /// transaction; when the day or an item changed meanwhile, both are read again and the
    /// items still to merge are merged (under the retry policy, then a failure: still due).
    async fn chunk(&self, day: &mut ExpiryDay, mut chunk: Vec<Ending>) -> Result<Vec<Ending>, Error> {
        let (org_id, date) = (day.org_id.clone(), day.date);
        for _ in 0..Retry::DEFAULT.attempts {
            let mut next = day.clone();
            for told_before in [false, true] {
                let told_of =
                    |i: &&Ending| i.ends_at().is_some_and(|e| self.told.contains(&e.date_naive())) == told_before;
                let items: Vec<&Ending> = chunk.iter().filter(told_of).collect();
                merge_into(&mut next, &items, self.renewing, self.policy.reminder_hours, told_before);
            }
            let (writes, marked) = merge_writes(self.store, &next, &chunk)?;
            match self.store.transact(writes).await {
                Ok(()) => {
                    next.version += 1;
                    *day = next;
                    return Ok(marked);
                }
                Err(e) if e.class() == Class::Race => {
                    *day = self.store.expiry_day(&org_id, date).await?.unwrap_or_else(|| ExpiryDay::new(&org_id, date));
                    chunk = still_reaching(self.store, chunk).await?;
                }
                Err(e) => return Err(e.into()),
            }
            if chunk.is_empty() {
                return Ok(Vec::new());
            }
        }
        Err(StoreError::Other(format!(
            "merging into the day {date} of org {org_id} lost its race to concurrent changes {} times; still due",
            Retry::DEFAULT.attempts
        ))
        .into())
    }
}

/// Merges `items` into `day`: a licence that will be renewed is not counted, a blocked renewal
/// is counted as one.
fn merge_into(day: &mut ExpiryDay, items: &[&Ending], renewing: &Renewing, reminder_hours: u32, told_before: bool) {
    let (mut users, mut blocked, mut lots) = (Vec::new(), Vec::new(), Vec::new());
    for item in items {
        match item {
            Ending::Lot(l) => lots.push(l),
            Ending::User(u) if renewing.blocked.contains(&u.email) => blocked.push(u),
            Ending::User(u) if renewing.renews.contains(&u.email) => {}
            Ending::User(u) => users.push(u),
        }
    }
    day.merge(&users, &blocked, &lots, reminder_hours, told_before);
}

/// The writes of a merge: `day` over the version read, and each item of `chunk` marked merged
/// (keyed at its end from now on); and the items as marked.
fn merge_writes(
    store: &Store,
    day: &ExpiryDay,
    chunk: &[Ending],
) -> Result<(Vec<TransactWriteItem>, Vec<Ending>), Error> {
    let mut writes = vec![store.put_expiry_day(day)?];
    let mut marked = Vec::with_capacity(chunk.len());
    for item in chunk {
        marked.push(match item {
            Ending::Lot(l) => {
                writes.push(store.mark_lot_reminded(l)?);
                Ending::Lot(Lot { reminded_for: l.valid_until, ..l.clone() })
            }
            Ending::User(u) => {
                let mut next = u.clone();
                if let Some(l) = next.licence.as_mut() {
                    l.reminded_for = l.valid_until;
                }
                writes.push(store.put_user(&next, false)?);
                next.version += 1;
                Ending::User(next)
            }
        });
    }
    Ok((writes, marked))
}

/// The items of `chunk` read again, those still active with the same end and not merged.
async fn still_reaching(store: &Store, chunk: Vec<Ending>) -> Result<Vec<Ending>, Error> {
    let mut fresh = Vec::new();
    for item in chunk {
        let end = item.ends_at();
        let again = match &item {
            Ending::User(u) => store.user(&u.org_id, &u.email).await?.map(Ending::User),
            Ending::Lot(l) => {
                let sk = crate::store::keys::lot_sk(l.valid_until, &l.lot_id);
                store.get::<Lot>(crate::store::keys::org(&l.org_id), &sk).await?.map(Ending::Lot)
            }
        };
        let active = |i: &Ending| match i {
            Ending::User(u) => u.licence.as_ref().is_some_and(|l| l.status == LicenceStatus::Active),
            Ending::Lot(l) => l.status == LotStatus::Active,
        };
        if let Some(again) = again.filter(|i| active(i) && i.ends_at() == end && !reminded(i)) {
            fresh.push(again);
        }
    }
    Ok(fresh)
}

/// Sends the notice the org's day `date` calls for at `now`, at most once per kind and day
/// (the store guards it), from what the day holds (its lots' unissued seats read again), and
/// records it sent. A day told by the UTC-dated notices from before ([`Store::day_told`]) on
/// every date it spans is recorded without sending.
async fn send_day(
    store: &Store,
    org_id: &str,
    date: NaiveDate,
    now: DateTime<Utc>,
    report: &mut ExpireReport,
) -> Result<(), Error> {
    for _ in 0..Retry::DEFAULT.attempts {
        let Some(mut day) = store.expiry_day(org_id, date).await? else { return Ok(()) };
        let Some(kind) = day.due(now) else { return Ok(()) };
        let told = match store.day_told(org_id, kind, date, &day.utc_dates).await? {
            Told::Day => true,
            Told::Before(told) => !told.is_empty() && told == day.utc_dates,
        };
        match store.org(org_id).await? {
            Some(org) if !told => report.notices_sent += usize::from(send_plan(store, &org, &day, kind, now).await?),
            Some(_) => {}
            // Nobody to tell: the day is recorded told, so it leaves the index.
            None => tracing::warn!(org_id, %date, "a day of expiries of an org that is not there"),
        }
        day.sent(kind);
        match store.transact(vec![store.put_expiry_day(&day)?]).await {
            Ok(()) => return Ok(()),
            Err(e) if e.class() == Class::Race => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Other(format!("the day {date} of org {org_id} kept changing while its notice was sent; still due"))
        .into())
}

/// The day without the licences it names that no longer end on it — released, renewed or
/// licensed anew since they were merged — each named user read again (the day names at most
/// [`SAMPLE`](crate::domain::notice::SAMPLE) of each tally, so a day of more counts those it
/// does not name as they were merged).
async fn still_ending(store: &Store, policy: &Policy, day: ExpiryDay) -> Result<ExpiryDay, Error> {
    let named: Vec<String> = day.tally.users.iter().chain(&day.told_before.users).cloned().collect();
    if named.is_empty() {
        return Ok(day);
    }
    // Eventually consistent: a notice may miss a release of the last second, at half the reads.
    let users = store.users_by_email_read(&day.org_id, &named, crate::store::Read::Eventual).await?;
    let zone = policy.zone();
    let ends_on_the_day = |u: &User| {
        u.licence.as_ref().is_some_and(|l| {
            matches!(l.status, LicenceStatus::Active | LicenceStatus::Expired)
                && l.valid_until.is_some_and(|end| zone.local(end).date() == day.date)
        })
    };
    let still: BTreeSet<&str> = users.iter().filter(|u| ends_on_the_day(u)).map(|u| u.email.as_str()).collect();
    let gone: BTreeSet<String> = named.into_iter().filter(|e| !still.contains(e.as_str())).collect();
    Ok(day.without(&gone))
}

/// Stores the day's notice of `kind` unless one was stored for the day before; whether it was
/// stored now.
async fn send_plan(
    store: &Store,
    org: &Org,
    day: &ExpiryDay,
    kind: NoticeKind,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let day = match day.first_end.filter(|_| !day.tally.lots.is_empty() || !day.told_before.lots.is_empty()) {
        Some(first) => {
            day.clone().with_lots_as(&store.lots_ending_after(&org.org_id, first - Duration::seconds(1)).await?)
        }
        None => day.clone(),
    };
    let policy = store.policy(org).await?;
    let day = still_ending(store, &policy, day).await?;
    let Some(plan) = day.plan(kind) else { return Ok(false) };
    let to = recipients(store, org, &policy, Topic::Expiry).await?;
    let notice = Notice::new(new_id("ntc"), plan.kind, &plan.org_id, now, to, plan.payload);
    Ok(store.put_day_notice_once(&notice, plan.date).await?)
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
