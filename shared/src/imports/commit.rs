//! The commit of an import, a state machine that survives a crash: `reviewed` → reserve (every
//! seat set aside, the record `committing`) → each row's licence written on its own → finish
//! (the seats left over returned, the record `committed`). Each step loads what it needs, asks
//! `domain::decide::imports` what changes, and applies that with [`Store::apply`]; a step that
//! lost a race finds the record where another attempt moved it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Leaving, RowChunks};
use crate::command::{Decision, RACED};
use crate::domain::auth::Principal;
use crate::domain::decide::imports::{self as decide, Issued, RowSeat, Seat};
use crate::domain::decide::users as decide_users;
use crate::domain::import::{Cell, ImportRecord, ImportStatus, Mode, Reviewer, Row, RowOutcome};
use crate::domain::org::Org;
use crate::domain::policy::Policy;
use crate::domain::user::User;
use crate::domain::DomainError;
use crate::store::imports::{RowSet, Rows, ROWS_PER_CHUNK};
use crate::store::{Error, Store, StoreError};

/// Licence writes sent at once while committing.
pub const WRITES_IN_FLIGHT: usize = 32;

/// Licences written between two saves of the commit's progress.
const PROGRESS_EVERY: usize = 2 * WRITES_IN_FLIGHT;

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
/// transaction that also moves the record to `committing`; then the rows are kept (their expiry
/// removed). `None` when another attempt moved the record first. A review too old to confirm
/// is refused (`review_expired`), changing nothing.
async fn reserve(
    store: &Store,
    org: &Org,
    record: &ImportRecord,
    now: DateTime<Utc>,
) -> Result<Option<ImportRecord>, Error> {
    decide::confirmable(record, now)?;
    let policy = store.policy(org).await?;
    let balance = store.balance(&org.org_id, &policy).await?;
    let reviewer = match review_again(store, &org.org_id, record, now).await {
        Ok(reviewer) => reviewer,
        // A chunk no longer awaits its confirm: another attempt started the commit.
        Err(Error::Race(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let release = match record.mode {
        Mode::Sync => count_leaving(store, &org.org_id, &reviewer).await?,
        Mode::Renew => 0,
    };
    let fresh = reviewer.summary(balance.available(now), release);
    let decided = decide::reserve(org, record, &fresh, &balance, now)?;
    match store.apply(&decided.changes, None).await {
        Ok(()) => {}
        Err(Error::Race(_)) => return Ok(None),
        Err(e) => return Err(e),
    }
    let kept = Rows::of(&decided.outcome);
    if record.review_expires_at.is_some() {
        // Confirmed: the review's release list, then its rows, are kept from now on (a commit
        // cut off before the last is healed by its finish, see `keep_expiring`).
        let release_chunks = (record.summary.release as usize).div_ceil(ROWS_PER_CHUNK);
        store.keep_chunks(&kept, RowSet::Release, release_chunks).await?;
        store.keep_chunks(&kept, RowSet::File, (record.summary.rows as usize).div_ceil(ROWS_PER_CHUNK).max(1)).await?;
    }
    if record.mode == Mode::Sync {
        // Who the fresh review releases, for the record's readers; only the attempt that moved
        // the record writes it, so racing attempts do not overwrite each other's list.
        let previous = record.summary.release as usize;
        if let Err(e) = super::write_release(store, &org.org_id, &kept, &reviewer, previous).await {
            tracing::warn!(error = %e, import_id = %record.import_id, "the release list was not rewritten");
        }
    }
    Ok(Some(decided.outcome))
}

/// Every stored chunk of rows reviewed again as things are now, a chunk at a time; a chunk
/// whose outcomes changed is stored again (while the review awaits its confirm: a `Race` when
/// another attempt started the commit meanwhile). The reviewer that has seen every row.
async fn review_again(
    store: &Store,
    org_id: &str,
    record: &ImportRecord,
    now: DateTime<Utc>,
) -> Result<Reviewer, Error> {
    let mut reviewer = Reviewer::new(now);
    let (mut chunks, rows_at) = (RowChunks::new(record), Rows::of(record));
    while let Some((index, rows)) = chunks.next(store).await? {
        let cells: Vec<Cell> = rows.iter().map(|r| (r.line, r.email.clone())).collect();
        let fresh = super::review_chunk(store, org_id, &mut reviewer, &cells).await?;
        if fresh != rows {
            store.rewrite_row_chunk(&rows_at, index, &fresh).await?;
        }
    }
    Ok(reviewer)
}

/// The chunks a commit read that still expire — its reserve was cut off before it kept them
/// all — are kept now, and the release list with them.
async fn keep_expiring(store: &Store, record: &ImportRecord, expiring: &[usize]) -> Result<(), Error> {
    if expiring.is_empty() {
        return Ok(());
    }
    tracing::warn!(import_id = %record.import_id, chunks = expiring.len(), "a committing import's rows still expired; kept now");
    let kept = Rows::of(record);
    for &index in expiring {
        store.keep_chunk(&kept, RowSet::File, index).await?;
    }
    store.keep_all_chunks(&kept, RowSet::Release).await?;
    Ok(())
}

/// Under `mode = sync`: how many of the org's users the file leaves out.
async fn count_leaving(store: &Store, org_id: &str, reviewer: &Reviewer) -> Result<u64, Error> {
    let (mut pages, mut count) = (Leaving::new(org_id), 0);
    while let Some(users) = pages.next(store, reviewer).await? {
        count += users.len() as u64;
    }
    Ok(count)
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
    let policy = store.policy(org).await?;
    let (issued, reviewer) = issue_rows(store, org, &record, &policy, now).await?;
    let released = match record.mode {
        Mode::Sync => release_leaving(store, org, &reviewer, by, now).await?,
        Mode::Renew => 0,
    };
    apply_or_reload(store, decide::finish(org, &record, &issued, released, by, now)).await
}

/// Writes the licence of every `renew` row, a chunk of rows at a time with [`WRITES_IN_FLIGHT`]
/// writes in flight (the progress saved every [`PROGRESS_EVERY`]), the next chunk (its rows and
/// users) read while this one is written. The answer: the licences issued by lot (row `i` of the
/// renew rows takes seat `i` of the reservation), and, under `mode = sync`, a reviewer that has
/// seen every row (for who the file leaves out).
async fn issue_rows(
    store: &Store,
    org: &Org,
    record: &ImportRecord,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<(Issued, Reviewer), Error> {
    use futures::stream::{self, StreamExt};
    let reservation = record.reservation.clone().unwrap_or_default();
    let (mut issued, mut reviewer, mut settled) = (Issued::new(), Reviewer::new(now), 0usize);
    let (mut chunks, rows_at) = (RowChunks::new(record), Rows::of(record));
    let mut next = renew_chunk(store, &org.org_id, &mut chunks).await?;
    while let Some((rows, users)) = next {
        if record.mode == Mode::Sync {
            reviewer.saw(&rows);
        }
        let renew: Vec<&Row> = rows.iter().filter(|r| r.outcome == RowOutcome::Renew).collect();
        let writing = async {
            for part in renew.chunks(PROGRESS_EVERY) {
                // Made before the stream takes them (a stream of a lazy closure is not `Send`).
                let writes: Vec<_> = part
                    .iter()
                    .enumerate()
                    .filter_map(|(j, row)| {
                        let seat = decide::row_seat(record, &reservation, settled + j, row)?;
                        Some(issue_one(store, org, &row.email, users.get(&row.email).cloned(), seat, policy, now))
                    })
                    .collect();
                for seat in stream::iter(writes).buffer_unordered(WRITES_IN_FLIGHT).collect::<Vec<_>>().await {
                    decide::tally(&mut issued, &seat?);
                }
                settled += part.len();
                store.save_progress(&rows_at, settled as u64).await?;
            }
            Ok::<(), Error>(())
        };
        let (written, following) = tokio::join!(writing, renew_chunk(store, &org.org_id, &mut chunks));
        written?;
        next = following?;
    }
    keep_expiring(store, record, chunks.expiring()).await?;
    Ok((issued, reviewer))
}

/// The next chunk of rows, with the users of its `renew` rows.
async fn renew_chunk(
    store: &Store,
    org_id: &str,
    chunks: &mut RowChunks,
) -> Result<Option<(Vec<Row>, HashMap<String, User>)>, Error> {
    let Some((_, rows)) = chunks.next(store).await? else { return Ok(None) };
    let emails = rows.iter().filter(|r| r.outcome == RowOutcome::Renew).map(|r| r.email.clone()).collect();
    let users = super::named_users(store, org_id, emails).await?;
    Ok(Some((rows, users)))
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

/// Under `mode = sync`: releases the users the file (every row seen by `reviewer`) leaves out
/// (`decide::users::release`, as a release through the API), read page by page; how many were
/// released now.
async fn release_leaving(
    store: &Store,
    org: &Org,
    reviewer: &Reviewer,
    by: &Principal,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    let (mut pages, mut released) = (Leaving::new(&org.org_id), 0);
    while let Some(users) = pages.next(store, reviewer).await? {
        for listed in users {
            let Some(u) = store.user(&org.org_id, &listed.email).await? else { continue };
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
    }
    Ok(released)
}
