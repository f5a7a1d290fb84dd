//! CSV import (DOMAIN.md §10): review, then an all-or-nothing commit that survives a crash.
//!
//! The commit reserves every seat it needs in one transaction (the lots' seat bounds, the org's
//! counters, and the import record moving from `reviewed` to `committing` with the reservation),
//! then writes one user item per licensed row — one write per row, not a transaction per row —
//! and finally returns the seats it did not use and marks the record `committed`, again in one
//! transaction. Row `i` of the `renew` rows always takes seat `i` of the reservation and gets the
//! licence id `lic_{import}_{line}`, so a retry after a crash recognises what was written,
//! writes the rest, and returns exactly the seats left over: every row licensed once, no seat
//! lost.

use std::collections::HashMap;

use aws_lambda_events::s3::S3Event;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::load_org;
use super::users::release_state;
use crate::app::ImportsBucket;
use crate::command::{new_id, Decision};
use crate::domain::allocation;
use crate::domain::audit::AuditEntry;
use crate::domain::auth::{authorize, Action, Principal, Role};
use crate::domain::change::Change;
use crate::domain::decide::users as decide_users;
use crate::domain::import::{self, ImportRecord, ImportStatus, Mode, Row, RowOutcome, S3Object, Source};
use crate::domain::org::{Org, OrgKind};
use crate::domain::policy::Policy;
use crate::domain::seats::CounterChange;
use crate::domain::user::{self, User};
use crate::domain::DomainError;
use crate::http::{Ctx, Reply};
use crate::store::imports::{Chunk, RowSet};
use crate::store::{Error, Store, StoreError};
use crate::App;

/// Licence writes sent at once while committing.
pub const WRITES_IN_FLIGHT: usize = 32;

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
fn with_rows(record: &ImportRecord, rows: &[Row]) -> serde_json::Value {
    let mut v = record.view();
    v["rows"] = json!(rows.iter().take(ROWS_SHOWN).map(Row::view).collect::<Vec<_>>());
    v["rows_total"] = json!(record.summary.rows);
    v
}

/// Keeps what a review found: the file's rows and, under `mode = sync`, who would be released.
async fn store_review(store: &Store, import_id: &str, reviewed: &import::Review) -> Result<(), StoreError> {
    store.put_import_rows(import_id, &reviewed.rows).await?;
    if !reviewed.release.is_empty() {
        store.put_release_rows(import_id, &reviewed.release, 0).await?;
    }
    Ok(())
}

/// Reads and reviews a file; nothing is applied.
async fn review(
    store: &Store,
    org: &Org,
    file: &import::CsvFile,
    mode: Mode,
    now: DateTime<Utc>,
) -> Result<import::Review, Error> {
    let users = store.all_users(&org.org_id).await?;
    let policy = store.policy(org).await?;
    let available = store.balance(&org.org_id, &policy).await?.available(now);
    Ok(import::review(file, &users, available, mode, now))
}

fn new_record(
    import_id: String,
    org_id: &str,
    source: Source,
    mode: Mode,
    by: &str,
    now: DateTime<Utc>,
) -> ImportRecord {
    ImportRecord {
        import_id,
        org_id: org_id.to_string(),
        source,
        mode,
        status: ImportStatus::Reviewed,
        email_column: None,
        summary: Default::default(),
        columns: vec![],
        created_at: now,
        created_by: by.to_string(),
        committed_at: None,
        allocated: 0,
        released: 0,
        error: None,
        s3: None,
        reservation: None,
    }
}

// ---- API --------------------------------------------------------------------------------------

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
    let file = import::read_any(
        &cx.req.body[..],
        cx.req.header("content-type"),
        cx.req.query("email_column"),
        import::MAX_API_BYTES as u64,
    )?;
    let now = cx.req.now;
    let store = &cx.app.store;
    let reviewed = review(store, &org, &file, mode, now).await?;
    let mut record = new_record(new_id("imp"), &org.org_id, Source::Api, mode, principal.actor(), now);
    record.email_column = Some(file.email_column.clone());
    record.columns = file.columns.clone();
    record.summary = reviewed.summary.clone();
    store_review(store, &record.import_id, &reviewed).await?;
    let audit = AuditEntry::new(
        principal,
        &org,
        "import.reviewed",
        &format!("import/{}", record.import_id),
        json!(record.summary),
        now,
    );
    let changes = vec![Change::Import { record: record.clone(), expected: None }, Change::Audit(audit)];
    let reply = Reply::created(with_rows(&record, &reviewed.rows));
    // The record's id is new: a lost race here can only be a twin under the same key.
    cx.execute(|| async { Ok(Decision::new(changes.clone(), reply.clone())) }).await
}

async fn load_import(cx: &Ctx<'_>, action: Action) -> Result<(Org, ImportRecord), Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, action, &org)?;
    let id = cx.param("import_id");
    let record = cx.app.store.import(&org.org_id, id).await?.ok_or_else(|| DomainError::not_found("import", id))?;
    Ok((org, record))
}

pub async fn get(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let (_, record) = load_import(cx, Action::ReadLicences).await?;
    let rows = cx.app.store.import_rows_head(&record.import_id, ROWS_SHOWN).await?;
    Ok(Reply::ok(with_rows(&record, &rows)))
}

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
    let page = cx.req.page()?;
    let limit = page.limit.max(1) as usize;
    let s = &record.summary;
    let total = match outcome {
        None => s.rows + s.release,
        Some(RowOutcome::Renew) => s.renew,
        Some(RowOutcome::AlreadyActive) => s.already_active,
        Some(RowOutcome::Unknown) => s.unknown,
        Some(RowOutcome::Invalid) => s.invalid,
        Some(RowOutcome::Duplicate) => s.duplicate,
        Some(RowOutcome::Release) => s.release,
    };
    let mut at = match page.cursor.as_deref() {
        Some(c) => RowsCursor::decode(c, &record.import_id, outcome)?,
        None => RowsCursor {
            import: record.import_id.clone(),
            outcome,
            release: outcome == Some(RowOutcome::Release),
            chunk: 0,
            row: 0,
            given: 0,
        },
    };
    let wants = |o: RowOutcome| outcome.is_none_or(|want| want == o);
    let mut items: Vec<serde_json::Value> = Vec::new();
    let mut chunks_read = 0;
    let store = &cx.app.store;
    let next = 'page: loop {
        if at.given + items.len() as u64 >= total && total > 0 || (at.release && !wants(RowOutcome::Release)) {
            break None;
        }
        if chunks_read >= CHUNKS_PER_PAGE && !items.is_empty() {
            break Some(at.clone());
        }
        let set = if at.release { RowSet::Release } else { RowSet::File };
        let (chunks, more) = store.import_chunks(&record.import_id, set, at.chunk, CHUNKS_PER_READ).await?;
        chunks_read += chunks.len().max(1);
        for (index, chunk) in chunks {
            if index != at.chunk {
                at.chunk = index;
                at.row = 0;
            }
            let views: Vec<(RowOutcome, serde_json::Value)> = match chunk {
                Chunk::File(rows) => rows.iter().map(|r| (r.outcome, r.view())).collect(),
                Chunk::Release(emails) => emails.iter().map(|e| (RowOutcome::Release, Row::release_view(e))).collect(),
            };
            for (k, (o, view)) in views.into_iter().enumerate().skip(at.row) {
                at.row = k + 1;
                if wants(o) {
                    items.push(view);
                    if items.len() == limit {
                        break 'page Some(at.clone());
                    }
                }
            }
            at.chunk = index + 1;
            at.row = 0;
        }
        if !more {
            if at.release || outcome.is_some() {
                break None;
            }
            // The file's rows are done; the users a sync releases follow.
            at = RowsCursor { release: true, chunk: 0, row: 0, ..at };
        }
    };
    let given = at.given + items.len() as u64;
    let next_cursor = next.filter(|_| given < total || total == 0).map(|c| RowsCursor { given, ..c }.encode());
    Ok(Reply::ok(json!({ "items": items, "next_cursor": next_cursor })))
}

pub async fn confirm(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let (org, record) = load_import(cx, Action::Allocate).await?;
    let done = commit(&cx.app.store, &org, record, cx.principal()?, cx.req.now).await?;
    let mut body = done.view();
    body["status"] = json!(done.status);
    Ok(Reply::ok(body))
}

// ---- the commit -------------------------------------------------------------------------------

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
    Err(DomainError::Conflict(crate::command::RACED.into()).into())
}

async fn reload(store: &Store, record: &ImportRecord) -> Result<ImportRecord, Error> {
    Ok(store
        .import(&record.org_id, &record.import_id)
        .await?
        .ok_or_else(|| DomainError::not_found("import", &record.import_id))?)
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
    let file = import::as_file(&rows, record.email_column.as_deref().unwrap_or("email"));
    let fresh = import::review(&file, &users, balance.available(now), record.mode, now);
    if fresh.rows != rows {
        store.put_import_rows(&record.import_id, &fresh.rows).await?;
    }
    let reservation = allocation::reserve(&balance, fresh.summary.renew, now)?;
    let mut writes = Vec::new();
    for reserved in &reservation.lots {
        let lot = balance.lots.iter().find(|l| l.lot_id == reserved.lot_id).expect("reserved from these lots");
        writes.push(store.debit_lot(lot, reserved.count)?);
    }
    let change = CounterChange {
        seats_held: reservation.total() as i64,
        included_in_use: reservation.included as i64,
        included_max: Some(policy.seats_included as i64),
        ..Default::default()
    };
    if !change.is_empty() {
        writes.push(store.change_counters(org, &change)?);
    }
    let mut next = record.clone();
    next.status = ImportStatus::Committing;
    next.summary = fresh.summary;
    next.reservation = Some(reservation);
    writes.push(store.put_import(&next, Some(ImportStatus::Reviewed))?);
    match store.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    if record.mode == Mode::Sync {
        // Who the fresh review releases, for the record's readers; only the attempt that moved
        // the record writes it, so racing attempts do not overwrite each other's list.
        let previous = record.summary.release as usize;
        if let Err(e) = store.put_release_rows(&record.import_id, &fresh.release, previous).await {
            tracing::warn!(error = %e, import_id = %record.import_id, "the release list was not rewritten");
        }
    }
    Ok(Some(next))
}

/// Where the seat of one `renew` row stands.
enum Seat {
    /// This import's licence is on the user (written now or by an earlier attempt).
    Issued(Option<String>),
    /// The user holds another licence, or is gone: the seat goes back.
    Unused,
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
    let reservation = record.reservation.clone().unwrap_or_default();
    let rows = store.import_rows(&record.import_id).await?;
    let policy = store.policy(org).await?;
    let users = store.all_users(&org.org_id).await?;
    let renew: Vec<&Row> = rows.iter().filter(|r| r.outcome == RowOutcome::Renew).collect();
    // Row i of the renew rows takes seat i of the reservation. The writes of one batch are
    // made (and their users copied) only when the batch goes, so memory holds one copy of the
    // org's users, not two.
    let mut seats: Vec<Seat> = Vec::with_capacity(renew.len());
    for (b, batch) in renew.chunks(WRITES_IN_FLIGHT).enumerate() {
        let writes = batch.iter().enumerate().filter_map(|(j, row)| {
            let (lot_id, end) = reservation.seat(b * WRITES_IN_FLIGHT + j)?;
            let write = LicenceWrite {
                user: users.get(&row.email).cloned(),
                licence_id: record.licence_id(row.line),
                lot_id: lot_id.map(str::to_string),
                lot_end: end,
            };
            Some(issue_one(store, org, write, &policy, now))
        });
        for seat in futures::future::join_all(writes).await {
            seats.push(seat?);
        }
    }
    let mut issued: HashMap<Option<String>, u32> = HashMap::new();
    for seat in &seats {
        if let Seat::Issued(lot) = seat {
            *issued.entry(lot.clone()).or_default() += 1;
        }
    }
    let allocated: u32 = issued.values().sum();

    let mut released = 0u64;
    if record.mode == Mode::Sync {
        let file = import::as_file(&rows, "email");
        let leaving = import::review(&file, &users, 0, Mode::Sync, now).release;
        for email in leaving {
            if let Some(u) = store.user(&org.org_id, &email).await? {
                if u.released_at.is_none() {
                    let (live, reuse) = release_state(store, org, &u, now).await?;
                    let decided = decide_users::release(org, &u, &live, &reuse, by, now);
                    match store.apply(&decided.changes, None).await {
                        Ok(()) => released += 1,
                        Err(Error::Race(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    let mut writes = Vec::new();
    let mut change = CounterChange::default();
    for reserved in &reservation.lots {
        let unused =
            reserved.count - issued.get(&Some(reserved.lot_id.clone())).copied().unwrap_or(0).min(reserved.count);
        if unused > 0 {
            writes.push(store.unreserve_lot(&org.org_id, &reserved.lot_id, reserved.valid_until, unused)?);
            change.seats_held -= unused as i64;
        }
    }
    let unused_included = reservation.included - issued.get(&None).copied().unwrap_or(0).min(reservation.included);
    change.included_in_use -= unused_included as i64;
    change.seats_held -= unused_included as i64;
    if !change.is_empty() {
        writes.push(store.change_counters(org, &change)?);
    }
    let mut done = record.clone();
    done.status = ImportStatus::Committed;
    done.committed_at = Some(now);
    done.allocated = allocated as u64;
    done.released += released;
    writes.push(store.put_import(&done, Some(ImportStatus::Committing))?);
    let details = json!({ "allocated": allocated, "released": done.released, "reserved": reservation.total() });
    let audit = AuditEntry::new(by, org, "import.committed", &format!("import/{}", record.import_id), details, now);
    writes.push(store.put_audit(&audit, &new_id("aud"))?);
    match store.transact(writes).await {
        Ok(()) => Ok(done),
        // Another attempt finished first; its record is the answer.
        Err(StoreError::ConditionFailed(_)) => reload(store, &record).await,
        Err(e) => Err(e.into()),
    }
}

/// One row's licence: the user as read, the licence id and the seat it takes.
struct LicenceWrite {
    user: Option<User>,
    licence_id: String,
    lot_id: Option<String>,
    lot_end: Option<DateTime<Utc>>,
}

async fn issue_one(
    store: &Store,
    org: &Org,
    write: LicenceWrite,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Seat, Error> {
    let LicenceWrite { mut user, licence_id, lot_id, lot_end } = write;
    for _ in 0..4 {
        let Some(u) = user.as_ref() else { return Ok(Seat::Unused) };
        if u.licence.as_ref().is_some_and(|l| l.licence_id == licence_id) {
            return Ok(Seat::Issued(lot_id));
        }
        if u.holds_seat(now) {
            return Ok(Seat::Unused);
        }
        let next = user::issue(u, licence_id.clone(), lot_id.clone(), lot_end, policy, now);
        if store.write_user(&next).await? {
            return Ok(Seat::Issued(lot_id));
        }
        user = store.user(&org.org_id, &u.email).await?;
    }
    Err(StoreError::Retryable("a user kept changing while its licence was written".into()).into())
}

// ---- S3 ---------------------------------------------------------------------------------------

/// The extensions of the partner files S3 hands over: CSV text and Excel workbooks.
const IMPORT_EXTENSIONS: &[&str] = &[".csv", ".xlsx"];

/// `imports/{org_id}/{name}.csv` or `.xlsx`, URL-decoded as S3 events encode keys.
fn parse_key(encoded: &str) -> Option<(String, String, String)> {
    let plus_decoded = encoded.replace('+', " ");
    let key = percent_encoding::percent_decode_str(&plus_decoded).decode_utf8().ok()?.into_owned();
    let rest = key.strip_prefix("imports/")?;
    let (org_id, file) = rest.split_once('/')?;
    let lower = file.to_ascii_lowercase();
    let extension = IMPORT_EXTENSIONS.iter().find(|e| lower.ends_with(*e))?;
    let name = &file[..file.len() - extension.len()];
    if org_id.is_empty() || name.is_empty() || name.contains('/') {
        return None;
    }
    Some((key.clone(), org_id.to_string(), name.to_string()))
}

/// The id of the import of one object version: a second delivery of the same event finds it.
fn s3_import_id(bucket: &str, key: &str, version: &str) -> String {
    let mut h = Sha256::new();
    for part in [bucket, key, version] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("s3_{}", &format!("{:x}", h.finalize())[..32])
}

/// Handles an S3 `ObjectCreated` event: each partner file is reviewed and committed in one go,
/// its result written to `results/{org_id}/{name}.json`. A file that is refused is recorded as
/// failed (and its result says why); a store failure is returned so the invocation is retried.
pub async fn handle_s3_event(app: &App, event: S3Event) -> Result<Vec<ImportRecord>, Error> {
    let bucket_cfg = app.imports.as_ref().ok_or_else(|| StoreError::Other("BUCKET_NAME is not set".into()))?;
    let mut done = Vec::new();
    for r in event.records {
        let bucket = r.s3.bucket.name.clone().unwrap_or_default();
        let Some((key, org_id, name)) = r.s3.object.key.as_deref().and_then(parse_key) else {
            tracing::warn!(key = ?r.s3.object.key, "not an import key; ignored");
            continue;
        };
        let version =
            r.s3.object.version_id.clone().filter(|v| !v.is_empty()).or(r.s3.object.e_tag.clone()).unwrap_or_default();
        let object = S3Object {
            bucket: bucket.clone(),
            key: key.clone(),
            version: r.s3.object.version_id.clone(),
            etag: r.s3.object.e_tag.clone(),
        };
        let record = import_object(app, bucket_cfg, object, &org_id, &version, r.event_time).await?;
        let result_key = format!("results/{org_id}/{name}.json");
        let rows = app.store.import_rows(&record.import_id).await?;
        let body = serde_json::to_vec_pretty(&{
            let mut v = record.view();
            v["rows"] = json!(rows);
            v
        })
        .map_err(|e| StoreError::Other(e.to_string()))?;
        bucket_cfg
            .client
            .put_object()
            .bucket(&bucket)
            .key(&result_key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(|e| {
                StoreError::Retryable(format!("writing {result_key}: {}", aws_sdk_s3::error::DisplayErrorContext(&e)))
            })?;
        tracing::info!(import_id = %record.import_id, status = ?record.status, %result_key, "partner import handled");
        done.push(record);
    }
    Ok(done)
}

async fn import_object(
    app: &App,
    bucket_cfg: &ImportsBucket,
    object: S3Object,
    org_id: &str,
    version: &str,
    now: DateTime<Utc>,
) -> Result<ImportRecord, Error> {
    let store = &app.store;
    let import_id = s3_import_id(&object.bucket, &object.key, version);
    let by = Principal::new("s3", &format!("s3://{}/{}", object.bucket, object.key), org_id, Role::Platform);
    let org = store.org(org_id).await?.filter(|o| o.kind == OrgKind::Company);
    let record = match store.import(org_id, &import_id).await? {
        Some(existing) => existing,
        None => {
            let mut record = new_record(import_id.clone(), org_id, Source::S3, Mode::Renew, by.actor(), now);
            record.s3 = Some(object.clone());
            let outcome = match &org {
                None => Err(DomainError::not_found("company", org_id)),
                Some(org) => match read_object(bucket_cfg, &object, &mut record).await {
                    Ok(file) => Ok((org, file)),
                    Err(Error::Domain(refusal)) => Err(refusal),
                    // S3 could not be read for now (throttling, 5xx, a timeout, a dropped
                    // connection): nothing is stored, so the retried event imports the file.
                    Err(transient) => return Err(transient),
                },
            };
            match outcome {
                Ok((org, file)) => {
                    let reviewed = review(store, org, &file, record.mode, now).await?;
                    record.email_column = Some(file.email_column.clone());
                    record.columns = file.columns;
                    record.summary = reviewed.summary.clone();
                    store_review(store, &import_id, &reviewed).await?;
                }
                Err(refusal) => {
                    record.status = ImportStatus::Failed;
                    record.error = Some(refusal.to_string());
                }
            }
            match store.transact(vec![store.put_import(&record, None)?]).await {
                Ok(()) => record,
                Err(StoreError::ConditionFailed(_)) => reload(store, &record).await?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    let Some(org) = org else { return Ok(record) };
    if matches!(record.status, ImportStatus::Committed | ImportStatus::Failed) {
        // A second delivery of the same object version changes nothing.
        return Ok(record);
    }
    match commit(store, &org, record.clone(), &by, now).await {
        Ok(done) => Ok(done),
        Err(Error::Domain(refusal)) if record.status == ImportStatus::Reviewed => {
            // All or nothing: a file that cannot be committed (too few licences) is refused whole.
            let mut failed = reload(store, &record).await?;
            if failed.status != ImportStatus::Reviewed {
                return Ok(failed);
            }
            failed.status = ImportStatus::Failed;
            failed.error = Some(refusal.to_string());
            match store.transact(vec![store.put_import(&failed, Some(ImportStatus::Reviewed))?]).await {
                Ok(()) | Err(StoreError::ConditionFailed(_)) => reload(store, &record).await,
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e),
    }
}

/// Why a `GetObject` failed: a missing object (`NoSuchKey`) or a refusal (`AccessDenied`, 403)
/// refuses the import for good; anything else (throttling, 5xx, a timeout, a dropped connection)
/// is retryable, and nothing is stored for it.
fn get_object_failure(object: &S3Object, err: &SdkError<GetObjectError, HttpResponse>) -> Error {
    let detail = aws_sdk_s3::error::DisplayErrorContext(err);
    if let SdkError::ServiceError(se) = err {
        let code = se.err().code().unwrap_or_default();
        let message = se.err().message().unwrap_or_default();
        if se.err().is_no_such_key() || code == "NoSuchKey" {
            return DomainError::NotFound(format!("the object cannot be read: NoSuchKey: {message}")).into();
        }
        if code == "AccessDenied" || se.raw().status().as_u16() == 403 {
            let code = if code.is_empty() { "403" } else { code };
            return DomainError::Forbidden(format!("the object cannot be read: {code}: {message}")).into();
        }
    }
    StoreError::Retryable(format!("reading s3://{}/{}: {detail}", object.bucket, object.key)).into()
}

/// The object's body, noting whether reading it failed (a dropped connection): that is S3's
/// failure, retried, not the file's.
struct NotingReader<R> {
    inner: R,
    failed: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl<R: std::io::Read> std::io::Read for NotingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if let Ok(mut failed) = self.failed.lock() {
                failed.get_or_insert_with(|| e.to_string());
            }
        })
    }
}

/// Streams the object through the CSV reader (never the whole file in memory), or reads it as
/// an Excel workbook when its key ends in `.xlsx` or its bytes are a ZIP archive's; object
/// metadata `email-column` and `mode` steer it. A refusal is `Error::Domain`; a failure of S3
/// itself is a retryable `Error::Store`.
async fn read_object(
    bucket_cfg: &ImportsBucket,
    object: &S3Object,
    record: &mut ImportRecord,
) -> Result<import::CsvFile, Error> {
    let got = bucket_cfg
        .client
        .get_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .set_version_id(object.version.clone())
        .send()
        .await
        .map_err(|e| get_object_failure(object, &e))?;
    if got.content_length().unwrap_or(0) as u64 > import::MAX_S3_BYTES {
        return Err(DomainError::PayloadTooLarge(format!(
            "the file is {} bytes; at most 100 MB are imported",
            got.content_length().unwrap_or(0)
        ))
        .into());
    }
    let metadata = got.metadata().cloned().unwrap_or_default();
    if let Some(mode) = metadata.get("mode") {
        record.mode = Mode::parse(mode)?;
    }
    let column = metadata.get("email-column").cloned();
    let media_type = object.key.to_ascii_lowercase().ends_with(".xlsx").then_some(import::XLSX_MEDIA_TYPE);
    let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
    let reader =
        NotingReader { inner: tokio_util::io::SyncIoBridge::new(got.body.into_async_read()), failed: failed.clone() };
    let read = tokio::task::spawn_blocking(move || {
        import::read_any(reader, media_type, column.as_deref(), import::MAX_S3_BYTES)
    })
    .await
    .map_err(|e| DomainError::invalid("file", format!("could not be read: {e}")))?;
    if let Some(e) = failed.lock().ok().and_then(|f| f.clone()) {
        return Err(StoreError::Retryable(format!("reading s3://{}/{}: {e}", object.bucket, object.key)).into());
    }
    Ok(read?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_decoded_and_must_be_imports() {
        assert_eq!(
            parse_key("imports/acme/renewals+march%202027.csv"),
            Some(("imports/acme/renewals march 2027.csv".into(), "acme".into(), "renewals march 2027".into()))
        );
        assert_eq!(parse_key("imports/acme/x.txt"), None);
        assert_eq!(
            parse_key("imports/acme/Leerlingen.XLSX"),
            Some(("imports/acme/Leerlingen.XLSX".into(), "acme".into(), "Leerlingen".into()))
        );
        assert_eq!(parse_key("imports/acme/x.xlsx").map(|k| k.2), Some("x".into()));
        assert_eq!(parse_key("imports/acme/.xlsx"), None);
        assert_eq!(parse_key("results/acme/x.csv"), None);
        assert_eq!(parse_key("imports/acme/deep/x.csv"), None);
    }

    #[test]
    fn one_object_version_is_one_import() {
        assert_eq!(s3_import_id("b", "k", "v1"), s3_import_id("b", "k", "v1"));
        assert_ne!(s3_import_id("b", "k", "v1"), s3_import_id("b", "k", "v2"));
    }
}
