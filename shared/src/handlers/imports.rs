//! The import API (docs/domain.md#imports): a file is sent and reviewed (`create`), read back (`get`,
//! `rows`) and committed (`confirm`). The commit itself, shared with the S3 entry, is
//! [`crate::imports::commit`].

use serde_json::json;

use super::load_org;
use crate::command::new_id;
use crate::domain::auth::{authorize, Action};
use crate::domain::decide::imports as decide;
use crate::domain::import::ImportStatus;
use crate::domain::import::{self, Batch, Mode, Row, RowOutcome, Source, Summary};
use crate::domain::org::{Org, OrgKind};
use crate::domain::DomainError;
use crate::http::{Ctx, Reply};
use crate::imports::commit::commit;
use crate::imports::jobs;
use crate::imports::{review_file, Reading};
use crate::store::imports::{Chunk, RowSet, Rows};
use crate::store::{Error, Store};

/// Rows shown in an answer; the record keeps them all.
const ROWS_SHOWN: usize = 1000;

fn company(org: &Org) -> Result<(), DomainError> {
    if org.kind == OrgKind::Company {
        Ok(())
    } else {
        Err(DomainError::invalid("org_id", "licences are imported into a company"))
    }
}

/// The record with the first rows of its file (all of them page by page: `rows`).
fn with_rows(record: &Batch, rows: &[Row]) -> serde_json::Value {
    let mut v = record.view();
    v["rows"] = json!(rows.iter().take(ROWS_SHOWN).map(Row::view).collect::<Vec<_>>());
    v["rows_total"] = json!(record.summary.rows);
    v
}

pub async fn create(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(principal, Action::Allocate, &org)?;
    company(&org)?;
    if cx.req.body.len() > import::MAX_API_BYTES {
        return Err(DomainError::PayloadTooLarge(format!(
            "the file is {} bytes; the API takes up to {} (5 MB): larger files go through the S3 import",
            cx.req.body.len(),
            import::MAX_API_BYTES
        ))
        .into());
    }
    let mode = cx.req.query("mode").map(Mode::parse).transpose()?.unwrap_or(Mode::Renew);
    let reading = Reading {
        media_type: cx.req.header("content-type").map(str::to_string),
        email_column: cx.req.query("email_column").map(str::to_string),
        max_bytes: import::MAX_API_BYTES as u64,
        max_rows: import::MAX_ROWS,
    };
    let now = cx.req.now;
    let mut record = decide::new_record(new_id("imp"), &org.org_id, Source::Api, mode, principal.actor(), now);
    let body = std::io::Cursor::new(cx.req.body.clone());
    let head = review_file(&cx.app.store, &org, body, reading, &mut record, now).await?;
    let reply = Reply::created(with_rows(&record, &head));
    let decided = decide::reviewed(record.clone(), &org, principal, now).map(|_| reply);
    // The record's id is new: a lost race here can only be a twin under the same key, whose
    // answer (and rows) stand; this review's rows are then removed, as when the write fails.
    let answered = cx.execute(|| async { Ok(decided.clone()) }).await;
    if !matches!(&answered, Ok(reply) if !reply.replayed) {
        crate::imports::forget_review(&cx.app.store, &record).await;
    }
    answered
}

async fn load_import(cx: &Ctx<'_>, action: Action) -> Result<(Org, Batch), Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, action, &org)?;
    let id = cx.param("import_id");
    let record = cx.app.store.import(&org.org_id, id).await?.ok_or_else(|| DomainError::not_found("import", id))?;
    Ok((org, record))
}

pub async fn get(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let (_, record) = load_import(cx, Action::ReadLicences).await?;
    let rows = cx.app.store.import_rows_head(&Rows::of(&record), ROWS_SHOWN).await?;
    let mut body = with_rows(&record, &rows);
    let progress = crate::imports::view(&cx.app.store, &record).await?;
    body["rows_done"] = progress["rows_done"].clone();
    body["rows_total"] = progress["rows_total"].clone();
    Ok(Reply::ok(body))
}

/// Confirm: the commit, in the request; one with more licences to write than a request should
/// wait for is set going (every seat reserved, or refused whole) and answered `202` with the
/// record, finished in the background ([`crate::imports::jobs`]).
pub async fn confirm(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let (org, mut record) = load_import(cx, Action::Allocate).await?;
    let store = &cx.app.store;
    if jobs::belongs_in_background(cx.app.background_rows, &record) && record.status != ImportStatus::Committed {
        record = jobs::start(store, &org, record, crate::imports::commit::Review::Again, cx.req.now).await?;
        if record.status == ImportStatus::Committing {
            let location = format!("/v1/orgs/{}/imports/{}", org.org_id, record.import_id);
            return cx.answer(Reply::accepted(crate::imports::view(store, &record).await?, location)).await;
        }
    }
    let done = commit(store, &org, record, cx.principal()?, cx.req.now).await?;
    let mut body = done.view();
    body["status"] = json!(done.status);
    Ok(Reply::ok(body))
}

// ---- rows, page by page -----------------------------------------------------------------------

/// Where a page of an import's rows continues: in which set, chunk and row of the chunk, how
/// many rows the pages before it gave, and for which outcome (a cursor opens only the list it
/// came from).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct RowsCursor {
    import: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<RowOutcome>,
    release: bool,
    chunk: usize,
    row: usize,
    given: u64,
}

impl RowsCursor {
    /// The start of the list of `outcome` (every row with `None`).
    fn start(import_id: &str, outcome: Option<RowOutcome>) -> RowsCursor {
        RowsCursor {
            import: import_id.to_string(),
            outcome,
            release: outcome == Some(RowOutcome::Release),
            chunk: 0,
            row: 0,
            given: 0,
        }
    }

    fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(cursor: &str, import_id: &str, outcome: Option<RowOutcome>) -> Result<RowsCursor, DomainError> {
        use base64::Engine;
        let bad = || DomainError::invalid("cursor", "is not a cursor this list gave out");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        let c: RowsCursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        // Chunk indexes have six digits in the table (`ROWS#{chunk:06}`).
        if c.import != import_id || c.outcome != outcome || c.chunk > 999_999 {
            return Err(bad());
        }
        Ok(c)
    }

    fn wants(&self, o: RowOutcome) -> bool {
        self.outcome.is_none_or(|want| want == o)
    }

    /// Takes the rows of chunk `index` it wants, from where it stands, into `items` until they
    /// are `limit`; whether the page is full (then it stands after the last row taken).
    fn take(
        &mut self,
        index: usize,
        chunk: Chunk,
        items: &mut Vec<serde_json::Value>,
        limit: usize,
        view: fn(&Row) -> serde_json::Value,
    ) -> bool {
        if index != self.chunk {
            self.chunk = index;
            self.row = 0;
        }
        let views: Vec<(RowOutcome, serde_json::Value)> = match chunk {
            Chunk::File(rows) => rows.iter().map(|r| (r.outcome, view(r))).collect(),
            Chunk::Release(emails) => emails.iter().map(|e| (RowOutcome::Release, Row::release_view(e))).collect(),
        };
        for (k, (o, view)) in views.into_iter().enumerate().skip(self.row) {
            self.row = k + 1;
            if self.wants(o) {
                items.push(view);
                if items.len() == limit {
                    return true;
                }
            }
        }
        self.chunk = index + 1;
        self.row = 0;
        false
    }
}

/// How many rows the list of `outcome` holds (every row, then those a sync releases, with `None`).
fn rows_total(s: &Summary, outcome: Option<RowOutcome>) -> u64 {
    match outcome {
        None => s.rows + s.release,
        Some(RowOutcome::Renew) => s.renew,
        Some(RowOutcome::AlreadyActive) => s.already_active,
        Some(RowOutcome::Unknown) => s.unknown,
        Some(RowOutcome::Invalid) => s.invalid,
        Some(RowOutcome::Duplicate) => s.duplicate,
        Some(RowOutcome::Release) => s.release,
    }
}

/// Chunks read in one round trip while paging rows.
const CHUNKS_PER_READ: i32 = 4;
/// Chunks a page reads before it settles for fewer rows than asked (never for none).
const CHUNKS_PER_PAGE: usize = 8;

/// `GET .../imports/{import_id}/rows`: every row of the file in order (then, under `mode =
/// sync`, the users to be released), or those of one outcome, page by page. The rows are kept in
/// chunks of 1,000; a page reads on from where its cursor stands until it is full or the rows
/// end, so a page may hold fewer rows than asked (when a rare outcome is far apart) and its
/// `next_cursor` goes on.
pub async fn rows(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let (_, record) = load_import(cx, Action::ReadLicences).await?;
    let outcome = cx.req.query("outcome").map(RowOutcome::parse).transpose()?;
    rows_page(cx, &record, outcome, Row::view).await
}

/// A page of a record's rows (of `outcome`, or every row), each shown by `view`.
pub(crate) async fn rows_page(
    cx: &Ctx<'_>,
    record: &Batch,
    outcome: Option<RowOutcome>,
    view: fn(&Row) -> serde_json::Value,
) -> Result<Reply, Error> {
    let page = cx.req.page()?;
    let limit = page.limit.max(1) as usize;
    let total = rows_total(&record.summary, outcome);
    let mut at = match page.cursor.as_deref() {
        Some(c) => RowsCursor::decode(c, &record.import_id, outcome)?,
        None => RowsCursor::start(&record.import_id, outcome),
    };
    let mut items: Vec<serde_json::Value> = Vec::new();
    let next = read_page(&cx.app.store, &Rows::of(record), &mut at, &mut items, limit, total, view).await?;
    let given = at.given + items.len() as u64;
    let next_cursor = next.filter(|_| given < total || total == 0).map(|c| RowsCursor { given, ..c }.encode());
    Ok(Reply::ok(json!({ "items": items, "next_cursor": next_cursor })))
}

/// Reads on from `at` into `items` until the page holds `limit` rows, has read its chunks, or
/// the `total` rows of the list end; where the next page starts, if the list goes on.
async fn read_page(
    store: &Store,
    rows: &Rows,
    at: &mut RowsCursor,
    items: &mut Vec<serde_json::Value>,
    limit: usize,
    total: u64,
    view: fn(&Row) -> serde_json::Value,
) -> Result<Option<RowsCursor>, Error> {
    let mut chunks_read = 0;
    loop {
        if at.given + items.len() as u64 >= total && total > 0 || (at.release && !at.wants(RowOutcome::Release)) {
            return Ok(None);
        }
        if chunks_read >= CHUNKS_PER_PAGE && !items.is_empty() {
            return Ok(Some(at.clone()));
        }
        let set = if at.release { RowSet::Release } else { RowSet::File };
        let page = store.import_chunks(rows, set, at.chunk, CHUNKS_PER_READ).await?;
        let more = page.more;
        chunks_read += page.chunks.len().max(1);
        for (index, chunk) in page.chunks {
            if at.take(index, chunk, items, limit, view) {
                return Ok(Some(at.clone()));
            }
        }
        if !more {
            if at.release || at.outcome.is_some() {
                return Ok(None);
            }
            // The file's rows are done; the users a sync releases follow.
            *at = RowsCursor { release: true, chunk: 0, row: 0, ..at.clone() };
        }
    }
}
