//! The lease sweep: a commit is held by the attempt that moved its record to `committing` (or
//! was handed it) until its lease ends ([`COMMIT_LEASE_MINUTES`]). An attempt killed mid-commit —
//! the allocate function stopped at 29 s, with no `Idempotency-Key` for anyone to retry, or a
//! job whose deliveries ran out — would hold its reserved seats forever. The sweep, on a
//! schedule, finishes every commit whose lease has passed: forward, as any retry would (the
//! commit resumes from its checkpoint, licenses each row once and gives back the seats it did
//! not use), never undoing part of it — a background job is handed back to the job runner, which
//! goes on in slices ([`super::jobs::run_slice`]). Each commit is a unit of its own: one that fails is
//! named in the report and left for the next run. Plans of steps cut off between two steps, and
//! erasures of personal data whose stream deliveries ran out, are taken up the same way.
//!
//! [`COMMIT_LEASE_MINUTES`]: crate::domain::decide::imports::COMMIT_LEASE_MINUTES

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::commit::commit;
use crate::domain::auth::{Principal, Role};
use crate::domain::import::{Batch, ImportStatus};
use crate::domain::DomainError;
use crate::store::{Error, StoreError};
use crate::sweeps::{Failed, Reported};
use crate::App;

/// Commits read at once; the sweep reads on until none is left or every one it read failed.
const PAGE: i32 = 25;

/// What the lease sweep did: the commits it finished, the background jobs it handed back to the
/// job runner, the plans of steps it finished, and those it left for the next run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LeaseReport {
    pub now: DateTime<Utc>,
    pub finished: u64,
    /// Background jobs whose lease passed (their deliveries ran out): handed to the job runner
    /// again, to go on in its slices rather than in one invocation of this sweep.
    pub handed_over: u64,
    pub plans_finished: u64,
    /// Erasures of personal data whose lease passed still going: handed to the job runner again.
    pub erasures_handed_over: u64,
    pub failed: Vec<Failed>,
}

crate::sweeps::reported!(LeaseReport, "leases");

/// Finishes every commit, then every plan of steps ([`crate::store::steps`]), whose lease ended
/// by `now`, and hands every erasure whose lease ended back to the job runner.
pub async fn sweep(app: &App, now: DateTime<Utc>) -> Result<LeaseReport, Error> {
    let mut report = LeaseReport { now, ..Default::default() };
    commits(app, now, &mut report).await?;
    plans(app, now, &mut report).await?;
    erasures(app, now, &mut report).await?;
    Ok(report)
}

/// Hands each erasure whose lease passed to the job runner again (a new lease, so it is not
/// handed over twice in a run): the job goes on from where its last run stood.
async fn erasures(app: &App, now: DateTime<Utc>, report: &mut LeaseReport) -> Result<(), Error> {
    let mut left = Vec::new();
    loop {
        let lapsed = app.store.lapsed_erasures(now, PAGE + left.len() as i32).await?;
        let fresh: Vec<_> = lapsed.into_iter().filter(|e| !left.contains(&e.pseudonym)).collect();
        if fresh.is_empty() {
            return Ok(());
        }
        for erasure in fresh {
            tracing::warn!(org_id = %erasure.org_id, pseudonym = %erasure.pseudonym, handovers = erasure.handovers, "an erasure's lease passed; the sweep hands it to the job runner again");
            match app.store.hand_over_erasure(&erasure, now).await {
                Ok(true) => report.erasures_handed_over += 1,
                // A run wrote it since it was read (the index is read eventually consistent):
                // it is going on, not this run's to hand over.
                Ok(false) => left.push(erasure.pseudonym),
                Err(e) => {
                    report.failed.push(Failed::new(
                        LeaseReport::SWEEP,
                        &erasure.org_id,
                        Some(&erasure.pseudonym),
                        "erasure",
                        &e,
                    ));
                    left.push(erasure.pseudonym);
                }
            }
        }
    }
}

/// Finishes each plan of steps whose lease passed (its request was cut off between two steps).
async fn plans(app: &App, now: DateTime<Utc>, report: &mut LeaseReport) -> Result<(), Error> {
    let mut left = Vec::new();
    loop {
        let lapsed = app.store.lapsed_plans(now, PAGE + left.len() as i32).await?;
        let fresh: Vec<_> = lapsed.into_iter().filter(|p| !left.contains(&p.plan_id)).collect();
        if fresh.is_empty() {
            return Ok(());
        }
        for plan in fresh {
            tracing::warn!(org_id = %plan.org_id, email = %plan.email, plan_id = %plan.plan_id, step = plan.step, "a plan's lease passed; the sweep finishes its steps");
            let (org_id, email, plan_id) = (plan.org_id.clone(), plan.email.clone(), plan.plan_id.clone());
            match app.store.follow(plan).await {
                Ok(()) => report.plans_finished += 1,
                Err(e) => {
                    report.failed.push(Failed::new(LeaseReport::SWEEP, &org_id, Some(&email), "steps", &e));
                    left.push(plan_id);
                }
            }
        }
    }
}

/// Finishes each commit whose lease passed.
async fn commits(app: &App, now: DateTime<Utc>, report: &mut LeaseReport) -> Result<(), Error> {
    loop {
        let lapsed = app.store.lapsed_commits(now, PAGE + report.failed.len() as i32).await?;
        let fresh: Vec<Batch> = lapsed
            .into_iter()
            .filter(|r| {
                !report.failed.iter().any(|f| f.org_id == r.org_id && f.import_id.as_deref() == Some(&r.import_id))
            })
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        for record in fresh {
            let (org_id, import_id) = (record.org_id.clone(), record.import_id.clone());
            let finished = if record.background {
                super::jobs::hand_over(&app.store, &record, now).await.map(|_| &mut report.handed_over)
            } else {
                finish(app, record, now).await.map(|()| &mut report.finished)
            };
            match finished {
                Ok(count) => *count += 1,
                Err(e) => report.failed.push(Failed::of_import(LeaseReport::SWEEP, &org_id, &import_id, "commit", &e)),
            }
        }
    }
}

/// Finishes one commit left `committing`, as the job that started it would have.
async fn finish(app: &App, record: Batch, now: DateTime<Utc>) -> Result<(), Error> {
    let store = &app.store;
    let org = store.org(&record.org_id).await?.ok_or_else(|| DomainError::not_found("org", &record.org_id))?;
    tracing::warn!(org_id = %record.org_id, import_id = %record.import_id, lease_until = ?record.lease_until, "a commit's lease passed; the sweep finishes it");
    let by = Principal::new("lease-sweep", &record.created_by, &record.org_id, Role::Platform);
    let done = commit(store, &org, record, &by, now).await?;
    match done.status {
        ImportStatus::Committed => Ok(()),
        // Moved elsewhere by another attempt meanwhile (never left `committing` by this one).
        other => Err(StoreError::Other(format!("the commit is {other:?} after the sweep finished it")).into()),
    }
}
