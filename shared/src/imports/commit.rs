//! The commit of an import, a state machine that survives a crash: `reviewed` → reserve (every
//! seat set aside, the record `committing`) → each row's licence written on its own → finish
//! (the seats left over returned, the record `committed`). Each step loads what it needs, asks
//! `domain::decide::imports` what changes, and applies that with [`Store::apply`]; a step that
//! lost a race finds the record where another attempt moved it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::command::{Decision, RACED};
use crate::domain::auth::Principal;
use crate::domain::decide::imports::{self as decide, RowSeat, Seat};
use crate::domain::decide::users as decide_users;
use crate::domain::import::{ImportRecord, ImportStatus, Mode, Row, RowOutcome};
use crate::domain::org::Org;
use crate::domain::policy::Policy;
use crate::domain::user::User;
use crate::domain::DomainError;
use crate::store::{Error, Store, StoreError};

/// Licence writes sent at once while committing.
pub const WRITES_IN_FLIGHT: usize = 32;

/// Attempts at one row's licence while its user keeps changing.
const LICENCE_ATTEMPTS: usize = 4;

/// Commits an import, or resumes one that stopped half-way; a committed one is returned as is.
pub async fn commit(
    store: &Store,
    org: &Org,
    mut record: ImportRecord,
    by: &Principal,
    now: DateTime<Utc>,
) -> Result<ImportRecord, Error> {
    for _ in 0..4 {
        match record.status {
            ImportStatus::Committed => return Ok(record),
            ImportStatus::Failed => {
                let why = record.error.clone().unwrap_or_default();
                return Err(
                    DomainError::Conflict(format!("the import was refused and cannot be committed: {why}")).into()
                );
            }
            ImportStatus::Reviewed => match reserve(store, org, &record, now).await? {
                Some(next) => record = next,
                None => record = reload(store, &record).await?,
            },
            ImportStatus::Committing => return finish(store, org, record, by, now).await,
        }
    }
    Err(DomainError::Conflict(RACED.into()).into())
}

/// Sets a commit going without finishing it: every seat reserved and the record `committing`
/// (or as another attempt left it), for the job runner to finish.
pub async fn begin(
    store: &Store,
    org: &Org,
    mut record: ImportRecord,
    now: DateTime<Utc>,
) -> Result<ImportRecord, Error> {
    for _ in 0..4 {
        if record.status != ImportStatus::Reviewed {
            return Ok(record);
        }
        match reserve(store, org, &record, now).await? {
            Some(next) => return Ok(next),
            None => record = reload(store, &record).await?,
        }
    }
    Err(DomainError::Conflict(RACED.into()).into())
}

/// The record as it is stored now.
pub(crate) async fn reload(store: &Store, record: &ImportRecord) -> Result<ImportRecord, Error> {
    Ok(store
        .import(&record.org_id, &record.import_id)
        .await?
        .ok_or_else(|| DomainError::not_found("import", &record.import_id))?)
}

/// Applies a decision on the record; when another attempt moved the record first (a lost
/// race), the record as that attempt left it is the answer.
pub(crate) async fn apply_or_reload(store: &Store, decided: Decision<ImportRecord>) -> Result<ImportRecord, Error> {
    match store.apply(&decided.changes, None).await {
        Ok(()) => Ok(decided.outcome),
        Err(Error::Race(_)) => reload(store, &decided.outcome).await,
        Err(e) => Err(e),
    }
}

/// Reviews the rows again as things are now, and sets aside a seat for every `renew` row in one
/// transaction that also moves the record to `committing`. `None` when another attempt moved
/// the record first.
async fn reserve(
    store: &Store,
    org: &Org,
    record: &ImportRecord,
    now: DateTime<Utc>,
) -> Result<Option<ImportRecord>, Error> {
    let rows = store.import_rows(&record.import_id).await?;
    let policy = store.policy(org).await?;
    let balance = store.balance(&org.org_id, &policy).await?;
    let users = store.all_users(&org.org_id).await?;
    let fresh = decide::review_again(record, &rows, &users, &balance, now);
    if fresh.rows != rows {
        store.save_import_rows(&record.import_id, &fresh.rows).await?;
    }
    let decided = decide::reserve(org, record, &fresh, &balance, now)?;
    match store.apply(&decided.changes, None).await {
        Ok(()) => {}
        Err(Error::Race(_)) => return Ok(None),
        Err(e) => return Err(e),
    }
    if record.mode == Mode::Sync {
        // Who the fresh review releases, for the record's readers; only the attempt that moved
        // the record writes it, so racing attempts do not overwrite each other's list.
        let previous = record.summary.release as usize;
        if let Err(e) = store.save_release_rows(&record.import_id, &fresh.release, previous).await {
            tracing::warn!(error = %e, import_id = %record.import_id, "the release list was not rewritten");
        }
    }
    Ok(Some(decided.outcome))
}

/// Writes the licences of the `renew` rows (one conditional write each), releases the users a
/// sync leaves out, returns the unused seats and marks the record committed.
async fn finish(
    store: &Store,
    org: &Org,
    record: ImportRecord,
    by: &Principal,
    now: DateTime<Utc>,
) -> Result<ImportRecord, Error> {
    let rows = store.import_rows(&record.import_id).await?;
    let policy = store.policy(org).await?;
    let users = store.all_users(&org.org_id).await?;
    let seats = issue_rows(store, org, &record, &rows, &users, &policy, now).await?;
    let released = match record.mode {
        Mode::Sync => release_leaving(store, org, &rows, &users, by, now).await?,
        Mode::Renew => 0,
    };
    apply_or_reload(store, decide::finish(org, &record, &seats, released, by, now)).await
}

/// Writes the licence of every `renew` row, [`WRITES_IN_FLIGHT`] at a time; where each row's
/// seat stands (row `i` of the renew rows takes seat `i` of the reservation).
async fn issue_rows(
    store: &Store,
    org: &Org,
    record: &ImportRecord,
    rows: &[Row],
    users: &HashMap<String, User>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Vec<Seat>, Error> {
    let reservation = record.reservation.clone().unwrap_or_default();
    let renew: Vec<&Row> = rows.iter().filter(|r| r.outcome == RowOutcome::Renew).collect();
    // The writes of one batch are made (and their users copied) only when the batch goes, so
    // memory holds one copy of the org's users, not two.
    let mut seats: Vec<Seat> = Vec::with_capacity(renew.len());
    for (b, batch) in renew.chunks(WRITES_IN_FLIGHT).enumerate() {
        let writes = batch.iter().enumerate().filter_map(|(j, row)| {
            let seat = decide::row_seat(record, &reservation, b * WRITES_IN_FLIGHT + j, row)?;
            Some(issue_one(store, org, &row.email, users.get(&row.email).cloned(), seat, policy, now))
        });
        for seat in futures::future::join_all(writes).await {
            seats.push(seat?);
        }
        store.save_progress(&record.import_id, seats.len() as u64).await?;
    }
    Ok(seats)
}

/// One row's licence, written on its own over the version of `user` (the row's `email`) read;
/// when the user changed meanwhile, it is read again and decided anew.
async fn issue_one(
    store: &Store,
    org: &Org,
    email: &str,
    mut user: Option<User>,
    seat: RowSeat,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Seat, Error> {
    for _ in 0..LICENCE_ATTEMPTS {
        let decided = decide::licence(user.as_ref(), &seat, policy, now);
        let [change] = decided.changes.as_slice() else { return Ok(decided.outcome) };
        match store.apply_alone(change).await {
            Ok(()) => return Ok(decided.outcome),
            Err(Error::Race(_)) => user = store.user(&org.org_id, email).await?,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Retryable("a user kept changing while its licence was written".into()).into())
}

/// Under `mode = sync`: releases the users the file leaves out (`decide::users::release`, as a
/// release through the API); how many were released now.
async fn release_leaving(
    store: &Store,
    org: &Org,
    rows: &[Row],
    users: &HashMap<String, User>,
    by: &Principal,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    let mut released = 0;
    for email in decide::leaving(rows, users, now) {
        let Some(u) = store.user(&org.org_id, &email).await? else { continue };
        if u.released_at.is_some() {
            continue;
        }
        let (live, reuse) = store.release_state(org, &u, now).await?;
        let decided = decide_users::release(org, &u, &live, &reuse, by, now);
        match store.apply(&decided.changes, None).await {
            Ok(()) => released += 1,
            Err(Error::Race(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(released)
}
