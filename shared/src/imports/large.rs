//! An allocation too large for one transaction ("Select all" for a large company, or a long
//! list of e-mails) goes the import's way: its e-mails become the rows of a record with
//! `source: allocation`, and [`commit`](super::commit::commit) reserves every seat in one
//! transaction, writes each user's licence conditionally and settles — so a crash or a retry
//! never licenses anyone twice or loses a seat. All or nothing as a small allocation: the
//! balance is checked first, and a shortfall (then or at the reserve, which is binding) refuses
//! the whole list, changing nothing — users to create are created by the commit, with their
//! licences, after every seat is reserved. The command's audit entry is written by the
//! transaction that finishes it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::commit::{commit, Review};
use crate::domain::allocation::{self, Balance};
use crate::domain::auth::Principal;
use crate::domain::decide::imports as decide;
use crate::domain::import::{self, Batch, ImportStatus, Mode, RowOutcome, Source};
use crate::domain::org::Org;
use crate::domain::user::User;
use crate::domain::DomainError;
use crate::store::imports::Rows;
use crate::store::{Error, Store};

/// The id of the job a caller's allocation in `org_id` under `Idempotency-Key` `key` runs as:
/// the same for every retry of that caller in that org, and nobody else's — another caller,
/// another org or another key is another job.
pub fn job_id(sub: &str, org_id: &str, key: &str) -> String {
    hashed_id(&[sub, org_id, key])
}

/// The id a caller's job under `key` had before job ids named their org (`sha256(sub, key)`):
/// still looked up, so a retry of a job started then resumes it rather than starting another.
pub fn legacy_job_id(sub: &str, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let id = Sha256::digest(format!("{sub}\0{key}").as_bytes());
    format!("alc_{}", &format!("{id:x}")[..32])
}

/// `alc_` and 32 hex digits of the SHA-256 of `parts`, each prefixed with its length (no part
/// can run into the next).
fn hashed_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    format!("alc_{}", &format!("{:x}", h.finalize())[..32])
}

/// The job a caller's `Idempotency-Key` names in an org, if there is one: under its id, or
/// under the id of a job started before ids named their org (both read in one request).
pub async fn keyed_job(store: &Store, org_id: &str, sub: &str, key: &str) -> Result<Option<Batch>, Error> {
    let ids = [job_id(sub, org_id, key), legacy_job_id(sub, key)];
    let found = store.imports(org_id, &ids).await?;
    let job = ids.iter().find_map(|id| found.iter().find(|r| r.import_id == *id && r.source == Source::Allocation));
    Ok(job.cloned())
}

/// A job answers only the request that started it (`fingerprint`: method, path and body):
/// another request under its key is an `idempotency_mismatch`, however long ago the key's own
/// record expired. A job recorded before jobs kept their request's fingerprint is taken as it is.
pub fn bound_to(job: &Batch, fingerprint: Option<&str>) -> Result<(), DomainError> {
    match (job.fingerprint.as_deref(), fingerprint) {
        (Some(started_by), Some(asking)) if started_by != asking => Err(DomainError::IdempotencyMismatch),
        _ => Ok(()),
    }
}

/// What a large allocation answers: the record (its id, status and count) and a row per e-mail.
pub struct JobOutcome {
    pub record: Batch,
    pub results: Vec<serde_json::Value>,
}

/// One large allocation: who asks, for which e-mails, from what balance, as which job (and, under
/// an `Idempotency-Key`, the fingerprint of the request the job is bound to). `needed`: how many
/// licences the e-mails need as the caller read them (users to create included), checked
/// against the balance before anything is written; `users`: the users they name, as read then.
pub struct Job<'a> {
    pub org: &'a Org,
    pub allocation_id: String,
    pub fingerprint: Option<String>,
    pub emails: &'a [String],
    pub users: &'a HashMap<String, User>,
    pub create_missing: bool,
    pub needed: u64,
    pub balance: &'a Balance,
    pub by: &'a Principal,
    pub now: DateTime<Utc>,
}

/// Allocates a licence to each of the job's e-mails who needs one, as one job. A job that exists
/// already (a retry under the same `Idempotency-Key`) is resumed or, when done, answered as it
/// ended. A job with more than `background_rows` licences to write is only set going (every seat
/// reserved) and left `committing` for the job runner; its results are then empty. Users to
/// create are created by the commit, with their licences, once every seat is reserved.
pub async fn allocate(store: &Store, background_rows: u64, job: Job<'_>) -> Result<JobOutcome, Error> {
    let (org, by, now, fingerprint) = (job.org, job.by, job.now, job.fingerprint.clone());
    let (record, review) = match store.import(&org.org_id, &job.allocation_id).await? {
        Some(existing) => (existing, Review::Again),
        None => (start(store, job).await?, Review::JustMade),
    };
    // Found, or written first by a twin under the same key: it must be this request's job.
    bound_to(&record, fingerprint.as_deref())?;
    let record = if super::jobs::belongs_in_background(background_rows, &record) {
        super::jobs::start(store, org, record, review, now).await?
    } else {
        record
    };
    if record.status == ImportStatus::Committing && record.background {
        return Ok(JobOutcome { record, results: Vec::new() });
    }
    let done = commit(store, org, record, by, now).await?;
    decide::rows_readable(&done, now)?;
    let results = results(store, &done).await?;
    Ok(JobOutcome { record: done, results })
}

/// A job's answer rows: a row per e-mail, in the order given (a repeated e-mail once).
pub async fn results(store: &Store, done: &Batch) -> Result<Vec<serde_json::Value>, Error> {
    let rows = store.import_rows(&Rows::of(done)).await?;
    Ok(rows.iter().filter_map(result).collect())
}

/// Checks the balance (all or nothing: refused before anything is written) and records the job
/// with its rows (`reviewed`). Nothing else is written: no user is created before the commit.
async fn start(store: &Store, job: Job<'_>) -> Result<Batch, Error> {
    let Job { org, allocation_id, fingerprint, emails, users, create_missing, needed, balance, by, now } = job;
    allocation::reserve(balance, needed, now)?;
    let mut record = decide::new_record(allocation_id, &org.org_id, Source::Allocation, Mode::Renew, by.actor(), now);
    record.fingerprint = fingerprint;
    record.create_missing = create_missing;
    if record.fingerprint.is_some() {
        // The job's rows are claimed for this request before anything else is written: another
        // request under the same key stops here (`idempotency_mismatch`), having changed nothing.
        store.put_row_chunk(&Rows::of(&record), 0, &[]).await?;
    }
    let cells = emails.iter().enumerate().map(|(i, e)| (i as u64 + 1, e.clone())).collect();
    super::review_cells(store, org, cells, users, &mut record, now).await?;
    super::record_reviewed(store, decide::recorded(record)).await
}

/// What an allocation calls each outcome of its rows (its answer, and its pages of rows).
pub(crate) const OUTCOMES: [(RowOutcome, &str); 5] = [
    (RowOutcome::Renew, "allocated"),
    (RowOutcome::AlreadyActive, "already_active"),
    (RowOutcome::Unknown, "unknown_user"),
    (RowOutcome::Invalid, "invalid_email"),
    (RowOutcome::Duplicate, "duplicate"),
];

/// A row of an allocation as it is shown: the e-mail and what the allocation calls its outcome.
pub(crate) fn row_view(row: &import::Row) -> serde_json::Value {
    let outcome = OUTCOMES.iter().find(|(o, _)| *o == row.outcome).map_or("duplicate", |(_, name)| name);
    json!({ "email": row.email, "outcome": outcome })
}

/// A row as an allocation answers it (a duplicate e-mail is answered once).
fn result(row: &import::Row) -> Option<serde_json::Value> {
    match row.outcome {
        RowOutcome::Duplicate | RowOutcome::Release => None,
        _ => Some(row_view(row)),
    }
}
