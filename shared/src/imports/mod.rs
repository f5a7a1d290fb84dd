//! CSV import (docs/domain.md#imports): review, then an all-or-nothing commit that survives a crash.
//!
//! The API (`handlers::imports`) and S3 ([`s3`]) both review a file ([`review_file`]) and commit it
//! ([`commit`]). The commit reserves every seat it needs in one transaction (the lots' seat
//! bounds, the org's counters, and the import record moving from `reviewed` to `committing` with
//! the reservation), then writes one user item per licensed row — one write per row, not a
//! transaction per row — and finally returns the seats it did not use and marks the record
//! `committed`, again in one transaction. The decisions are `domain::decide::imports`; a retry
//! after a crash recognises what was written, writes the rest, and returns exactly the seats left
//! over: every row licensed once, no seat lost.
//!
//! Memory holds a chunk of rows, not the file: the review ([`review_file`]) decides the rows
//! [`import::CELLS_PER_CHUNK`] at a time as the reader hands them over, against the users the
//! chunk names, and stores each chunk; the commit reads the stored chunks the same way; what is
//! remembered across chunks is a hash per e-mail (`domain::import::Reviewer`); and the S3 result
//! file is streamed ([`result`]).

pub mod commit;
pub mod jobs;
pub mod large;
pub mod leases;
pub mod result;
pub mod s3;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::command::Decision;
use crate::domain::import::{self, Batch, Cell, ImportStatus, Reviewer, Row};
use crate::domain::org::Org;
use crate::domain::user::User;
use crate::domain::DomainError;
use crate::files::{self, Header};
use crate::store::imports::{Chunk, RowSet, Rows, ROWS_PER_CHUNK};
use crate::store::{Error, PageRequest, Read, ReleaseWriter, Store, StoreError};

/// How a file is read: its media type, the e-mail column asked for, and its limits.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reading {
    pub media_type: Option<String>,
    pub email_column: Option<String>,
    pub max_bytes: u64,
    pub max_rows: usize,
}

/// Chunks of cells in flight between the reader and the review.
const CHUNKS_IN_FLIGHT: usize = 2;

/// Reads `input` on a thread of its own (CSV streams; see [`files::read_any_chunks`]) and
/// reviews it a chunk at a time as it comes; see [`review_chunks`].
pub(crate) async fn review_file<R: std::io::Read + Send + 'static>(
    store: &Store,
    org: &Org,
    input: R,
    reading: Reading,
    record: &mut Batch,
    now: DateTime<Utc>,
) -> Result<Vec<Row>, Error> {
    let (tx, rx) = mpsc::channel::<Vec<Cell>>(CHUNKS_IN_FLIGHT);
    let reader = tokio::task::spawn_blocking(move || {
        let Reading { media_type, email_column, max_bytes, max_rows } = reading;
        files::read_any_chunks(input, media_type.as_deref(), email_column.as_deref(), max_bytes, max_rows, &mut |c| {
            tx.blocking_send(c).map_err(|_| DomainError::conflict("review_stopped", "the review stopped"))
        })
        .map(Some)
    });
    review_chunks(store, org, rx, reader, None, record, now).await
}

/// Reviews cells already in memory (an allocation's e-mails) as [`review_file`] reviews a file,
/// against `known`: the users they name, as the caller read them an instant ago (not read again).
/// A list of e-mails has no columns: the record names none.
pub(crate) async fn review_cells(
    store: &Store,
    org: &Org,
    cells: Vec<Cell>,
    known: &HashMap<String, User>,
    record: &mut Batch,
    now: DateTime<Utc>,
) -> Result<Vec<Row>, Error> {
    let (tx, rx) = mpsc::channel::<Vec<Cell>>(CHUNKS_IN_FLIGHT);
    let producer = tokio::spawn(async move {
        for chunk in cells.chunks(import::CELLS_PER_CHUNK) {
            if tx.send(chunk.to_vec()).await.is_err() {
                break;
            }
        }
        Ok(None)
    });
    review_chunks(store, org, rx, producer, Some(known), record, now).await
}

/// Reviews a file into `record` (its e-mail column, columns and summary) a chunk at a time as
/// `chunks` brings them: each chunk's rows decided against the users its e-mails name (read 100
/// at a time, unless the caller `known` them already) and stored as a chunk of rows; under `mode = sync`, who would be released, read
/// page by page from the org's users. Memory holds a chunk and a hash per e-mail, whatever the
/// file's size. A file refused part-way (by `reader`'s answer) leaves no rows behind. The rows
/// are kept under the record's org and expire unless the review is confirmed; a job's rows are
/// claimed by the request that started it. The record itself is not written; nothing is
/// applied. The answer: the first chunk's rows.
async fn review_chunks(
    store: &Store,
    org: &Org,
    mut chunks: mpsc::Receiver<Vec<Cell>>,
    reader: JoinHandle<Result<Option<Header>, DomainError>>,
    known: Option<&HashMap<String, User>>,
    record: &mut Batch,
    now: DateTime<Utc>,
) -> Result<Vec<Row>, Error> {
    let mut reviewer = Reviewer::creating(record.create_missing, now);
    let kept = Rows::of(record);
    let (mut stored, mut head, mut failure) = (0, Vec::new(), None);
    while let Some(cells) = chunks.recv().await {
        let reviewed = match known {
            Some(users) => Ok(reviewer.chunk(&cells, users)),
            None => review_chunk(store, &org.org_id, &mut reviewer, &cells).await,
        };
        match reviewed {
            Ok(rows) => match store.put_row_chunk(&kept, stored, &rows).await {
                Ok(()) if stored == 0 => (stored, head) = (1, rows),
                Ok(()) => stored += 1,
                Err(e) => failure = Some(e),
            },
            Err(e) => failure = Some(e),
        }
        if failure.is_some() {
            break;
        }
    }
    drop(chunks);
    let read = reader.await.map_err(|e| Error::from(StoreError::Other(format!("the file's reader stopped: {e}"))));
    let header = match (failure, read) {
        (None, Ok(Ok(header))) => header,
        (failure, read) => {
            // The reader's own refusal (the line it names) comes first; the review's failure
            // (a chunk not stored) otherwise.
            let why = match read {
                Ok(Err(refusal)) if failure.is_none() || !matches!(refusal, DomainError::Conflict { .. }) => {
                    refusal.into()
                }
                Err(e) if failure.is_none() => e,
                _ => failure.unwrap_or_else(|| StoreError::Other("the review stopped".into()).into()),
            };
            if let Err(e) = store.delete_chunks(&kept, RowSet::File, stored).await {
                tracing::warn!(error = %e, import_id = %record.import_id, "the rows of a refused file were not removed (they expire)");
            }
            return Err(why);
        }
    };
    let release = match record.mode {
        import::Mode::Sync => write_release(store, &org.org_id, &kept, &reviewer, 0).await?,
        import::Mode::Renew => 0,
    };
    let policy = store.policy(org).await?;
    let available = store.balance(&org.org_id, &policy, now).await?.available(now);
    if let Some(header) = header {
        record.email_column = Some(header.email_column);
        record.columns = header.columns;
    }
    record.summary = reviewer.summary(available, release as u64);
    Ok(head)
}

/// Writes the record of a review made by this call (`decided`: the record, new). When another
/// attempt wrote it first (a twin under the same key, whose rows are these rows), that record is
/// the answer. When the write fails, the rows this review stored are removed — unless the
/// record's id is shared with twins (an `Idempotency-Key`'s job), whose rows they are too (a
/// retry writes them again; unconfirmed, they expire).
pub(crate) async fn record_reviewed(store: &Store, decided: Decision<Batch>) -> Result<Batch, Error> {
    let given = decided.outcome.clone();
    let written = commit::step(store, &given, |current, again| {
        let first = (!again).then(|| decided.clone());
        async move { Ok(first.unwrap_or_else(|| Decision::unchanged(current))) }
    })
    .await;
    if written.is_err() && given.fingerprint.is_none() {
        forget_review(store, &given).await;
    }
    written
}

/// Removes the rows (and release list) a review stored for a record that was never written: its
/// write failed, or a twin's answer was given instead. A removal that fails is logged at ERROR
/// (the rows still expire with the review).
pub(crate) async fn forget_review(store: &Store, record: &Batch) {
    let rows = Rows::of(record);
    let file = (record.summary.rows as usize).div_ceil(ROWS_PER_CHUNK).max(1);
    let release = (record.summary.release as usize).div_ceil(ROWS_PER_CHUNK);
    let removed = match store.delete_chunks(&rows, RowSet::File, file).await {
        Ok(()) => store.delete_chunks(&rows, RowSet::Release, release).await,
        failed => failed,
    };
    if let Err(e) = removed {
        tracing::error!(error = %e, org_id = %record.org_id, import_id = %record.import_id, "the rows of a review whose record was not written were not removed (they expire with the review)");
    }
}

/// Reviews one chunk of cells against the users its e-mails name.
pub(crate) async fn review_chunk(
    store: &Store,
    org_id: &str,
    reviewer: &mut Reviewer,
    cells: &[Cell],
) -> Result<Vec<Row>, Error> {
    let users = named_users(store, org_id, Reviewer::emails(cells)).await?;
    Ok(reviewer.chunk(cells, &users))
}

/// The users of an org the e-mails name (those that exist), by e-mail. Read eventually
/// consistent, at half the capacity: every licence an import writes is conditional on the
/// user's version read (a stale one is read again), and the reserve reviews every row again.
pub(crate) async fn named_users(
    store: &Store,
    org_id: &str,
    emails: Vec<String>,
) -> Result<HashMap<String, User>, Error> {
    let users = store.users_by_email_read(org_id, &emails, Read::Eventual).await?;
    Ok(users.into_iter().map(|u| (u.email.clone(), u)).collect())
}

/// Under `mode = sync`: writes who the file leaves out (`reviewer` has seen every row) as the
/// import's release list (beside its `rows`), over a list of `previous` e-mails; how many it holds.
pub(crate) async fn write_release(
    store: &Store,
    org_id: &str,
    rows: &Rows,
    reviewer: &Reviewer,
    previous: usize,
) -> Result<usize, Error> {
    let mut list = ReleaseWriter::new(store, rows, previous);
    let mut pages = LeftOut::new(org_id);
    while let Some(users) = pages.next(store, reviewer).await? {
        for u in users {
            list.push(u.email).await?;
        }
    }
    list.close().await
}

/// Under `mode = sync`: the org's users a file leaves out, found page by page.
pub(crate) struct LeftOut {
    org_id: String,
    cursor: Option<String>,
    done: bool,
}

impl LeftOut {
    pub(crate) fn new(org_id: &str) -> Self {
        LeftOut { org_id: org_id.into(), cursor: None, done: false }
    }

    /// From the page that starts at `cursor` (`None`: the first).
    pub(crate) fn from(org_id: &str, cursor: Option<String>) -> Self {
        LeftOut { org_id: org_id.into(), cursor, done: false }
    }

    /// Where the next page starts (`None`: the first page, or no page left).
    pub(crate) fn cursor(&self) -> Option<String> {
        self.cursor.clone()
    }

    /// Whether a page is left to read.
    pub(crate) fn more(&self) -> bool {
        !self.done
    }

    /// The next page's users the file (every row of it seen by `reviewer`) leaves out; `None`
    /// after the last page.
    pub(crate) async fn next(&mut self, store: &Store, reviewer: &Reviewer) -> Result<Option<Vec<User>>, Error> {
        if self.done {
            return Ok(None);
        }
        let page = store.users(&self.org_id, &PageRequest { limit: 1000, cursor: self.cursor.take() }).await?;
        self.cursor = page.next_cursor;
        self.done = self.cursor.is_none();
        Ok(Some(page.items.into_iter().filter(|u| reviewer.releases(u)).collect()))
    }
}

/// The record as its readers see it, with its progress: `rows_total`, the file's rows (an
/// allocation's e-mails), and `rows_done`, how many of them are settled — every row that needs no
/// licence, and the `renew` rows whose licence is written (read from one small progress item
/// while it commits, never from the rows).
pub async fn view(store: &Store, record: &Batch) -> Result<serde_json::Value, Error> {
    let total = record.summary.rows;
    let to_license = record.summary.renew.min(total);
    let done = match record.status {
        ImportStatus::Reviewed => 0,
        ImportStatus::Committed => total,
        ImportStatus::Committing | ImportStatus::Failed => {
            total - to_license + store.progress(&Rows::of(record)).await?.min(to_license)
        }
    };
    let mut v = record.view();
    v["rows_total"] = serde_json::json!(total);
    v["rows_done"] = serde_json::json!(done);
    Ok(v)
}

/// The stored rows of an import, a chunk at a time, in file order; it notes the chunks read that
/// still carry an expiry.
pub(crate) struct RowChunks {
    rows: Rows,
    next: usize,
    more: bool,
    expiring: Vec<usize>,
}

impl RowChunks {
    pub(crate) fn new(record: &Batch) -> Self {
        RowChunks { rows: Rows::of(record), next: 0, more: true, expiring: Vec::new() }
    }

    /// The indexes of the chunks read since the last call that still carry an expiry.
    pub(crate) fn take_expiring(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.expiring)
    }

    /// The index of the next chunk to read.
    pub(crate) fn position(&self) -> usize {
        self.next
    }

    /// The same rows, read on from chunk index `index` (the chunks before it not read again).
    pub(crate) fn at(mut self, index: usize) -> Self {
        if index > self.next {
            self.next = index;
        }
        self
    }

    /// The next chunk (its index and rows); `None` after the last.
    pub(crate) async fn next(&mut self, store: &Store) -> Result<Option<(usize, Vec<Row>)>, Error> {
        if !self.more {
            return Ok(None);
        }
        let page = store.import_chunks(&self.rows, RowSet::File, self.next, 1).await?;
        self.more = page.more;
        self.expiring.extend(page.expiring);
        let mut chunks = page.chunks;
        match chunks.pop() {
            Some((index, Chunk::File(rows))) => {
                self.next = index + 1;
                Ok(Some((index, rows)))
            }
            _ => {
                self.more = false;
                Ok(None)
            }
        }
    }
}
