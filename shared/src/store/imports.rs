//! Import records and their rows (kept in chunks beside the record), and the users a sync would
//! release (in chunks of their own).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{self, PK, SK};
use super::{from_item, put_if, to_item, Error, Item, PageRequest, QuerySpec, Race, SortKey, Store, StoreError};
use crate::domain::import::{Batch, ImportStatus, Row, Source};
use crate::domain::user::User;
use crate::domain::DomainError;

/// Rows per chunk item: a chunk of the file as the review stores it. A stored row is at most
/// about 300 bytes (an e-mail has at most 254, and the review cuts an invalid cell to that), so a
/// chunk stays under DynamoDB's 400 KB item limit whatever the file holds.
pub const ROWS_PER_CHUNK: usize = crate::domain::import::CELLS_PER_CHUNK;

/// A chunk of rows as chunks were stored before they were packed: a map per row. Still read.
#[derive(Deserialize)]
struct RowChunk {
    rows: Vec<Row>,
}

/// The attribute a chunk keeps its rows in: the rows as JSON, deflated. A map per row repeats
/// every attribute name in every row, and a chunk is written at its review and rewritten when
/// the review is confirmed (its expiry removed), so its size is paid twice per row of every
/// import.
const PACKED: &str = "rows_packed";

/// The most a packed chunk inflates to: [`ROWS_PER_CHUNK`] rows of at most about 300 bytes and
/// their JSON field names. More is not a chunk this code wrote, and is refused unread.
const MAX_UNPACKED_BYTES: u64 = (ROWS_PER_CHUNK * 400) as u64;

/// A chunk's rows, packed for [`PACKED`].
fn pack(rows: &[Row]) -> Result<Vec<u8>, StoreError> {
    use std::io::Write;
    let json = serde_json::to_vec(rows).map_err(|e| StoreError::Other(format!("a chunk of rows: {e}")))?;
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflate
        .write_all(&json)
        .and_then(|()| deflate.finish())
        .map_err(|e| StoreError::Other(format!("packing a chunk of rows: {e}")))
}

/// The rows of a packed chunk, inflated under [`MAX_UNPACKED_BYTES`].
fn unpack(packed: &[u8]) -> Result<Vec<Row>, StoreError> {
    use std::io::Read;
    let mut json = Vec::new();
    flate2::read::DeflateDecoder::new(packed)
        .take(MAX_UNPACKED_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| StoreError::Other(format!("unpacking a chunk of rows: {e}")))?;
    if json.len() as u64 > MAX_UNPACKED_BYTES {
        return Err(StoreError::Other(format!("a chunk of rows unpacks to more than {MAX_UNPACKED_BYTES} bytes")));
    }
    serde_json::from_slice(&json).map_err(|e| StoreError::Other(format!("a chunk of rows: {e}")))
}

/// The rows of a chunk item, packed or in the shape written before chunks were packed.
pub(super) fn chunk_rows(mut item: Item) -> Result<Vec<Row>, StoreError> {
    match item.remove(PACKED) {
        Some(AttributeValue::B(packed)) => unpack(packed.as_ref()),
        _ => Ok(from_item::<RowChunk>(item)?.rows),
    }
}

/// E-mails a sync releases, in chunks of [`ROWS_PER_CHUNK`].
#[derive(Serialize, Deserialize)]
struct ReleaseChunk {
    emails: Vec<String>,
}

/// The chunks of an import's rows: the file's rows in file order, or the users a sync releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowSet {
    File,
    Release,
}

impl RowSet {
    pub fn prefix(self) -> &'static str {
        match self {
            RowSet::File => keys::import_rows_prefix(),
            RowSet::Release => keys::import_release_prefix(),
        }
    }
}

/// One stored chunk of a [`RowSet`]: its index and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    File(Vec<Row>),
    Release(Vec<String>),
}

impl Chunk {
    pub fn len(&self) -> usize {
        match self {
            Chunk::File(rows) => rows.len(),
            Chunk::Release(emails) => emails.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where one import's rows are kept — its file's rows, the users a sync releases, its commit's
/// progress — and, while nobody confirmed it, until when (the table's TTL on each chunk).
///
/// A record written since rows moved under their org keeps them in `ORG#{org}#IMPORT#{import}`;
/// one written before, in the global `IMPORT#{import}` (read and finished as it is). Chunks of a
/// job started by a request under an `Idempotency-Key` carry that request's fingerprint and are
/// written on the condition that they are new or already that request's: two requests never mix
/// their rows in one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    partition: String,
    /// Epoch seconds: the chunks' `expires_at` while the review is unconfirmed (or refused).
    expires_at: Option<i64>,
    /// The fingerprint of the request whose job these rows are.
    owner: Option<String>,
    /// The record's keys while it awaits its confirm and its chunks cannot say so themselves (a
    /// large allocation's keep their expiry for good): a rewrite checks the record instead.
    awaiting: Option<(String, String)>,
    /// A large allocation's: they expire for good, whatever becomes of the record.
    for_good: bool,
}

impl Rows {
    /// The rows of `record`, as its layout, status and owner say.
    pub fn of(record: &Batch) -> Rows {
        let partition = if record.rows_in_org {
            keys::import_rows(&record.org_id, &record.import_id)
        } else {
            keys::legacy_import_rows(&record.import_id)
        };
        let expires_at = record.rows_expire_at().map(|t| t.timestamp());
        let awaiting = (record.source == Source::Allocation && record.status == ImportStatus::Reviewed)
            .then(|| (keys::org(&record.org_id), keys::import_sk(&record.import_id)));
        let for_good = record.source == Source::Allocation;
        Rows { partition, expires_at, owner: record.fingerprint.clone(), awaiting, for_good }
    }

    /// Whether these rows expire for good (a large allocation's), so a commit keeps none of them.
    pub fn expire_for_good(&self) -> bool {
        self.for_good
    }

    /// The partition the rows are in.
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// The item of chunk `index` of the file's rows, packed.
    fn row_chunk_item(&self, index: usize, chunk: &[Row]) -> Result<Item, StoreError> {
        #[derive(Serialize)]
        struct Packed {}
        let mut item = self.item("import_rows", &Packed {}, RowSet::File, index)?;
        item.insert(PACKED.into(), AttributeValue::B(aws_smithy_types::Blob::new(pack(chunk)?)));
        Ok(item)
    }

    /// A chunk item of these rows: its keys, its TTL while unconfirmed and its owner.
    fn item<T: Serialize>(&self, kind: &str, value: &T, set: RowSet, index: usize) -> Result<Item, StoreError> {
        let mut item =
            to_item(kind, value, &[(PK, self.partition.clone()), (SK, keys::import_chunk_sk(set.prefix(), index))])?;
        if let Some(at) = self.expires_at {
            item.insert(keys::EXPIRES_AT.into(), AttributeValue::N(at.to_string()));
        }
        if let Some(owner) = &self.owner {
            item.insert(OWNER.into(), AttributeValue::S(owner.clone()));
        }
        Ok(item)
    }
}

/// The attribute a chunk names its job's request by (its fingerprint).
const OWNER: &str = "fingerprint";

/// What a page of chunks holds: each chunk with its index, whether more may follow, and the
/// indexes of the chunks read that still carry an expiry.
pub struct ChunkPage {
    pub chunks: Vec<(usize, Chunk)>,
    pub more: bool,
    pub expiring: Vec<usize>,
}

impl Store {
    pub async fn import(&self, org_id: &str, import_id: &str) -> Result<Option<Batch>, StoreError> {
        self.get(keys::org(org_id), &keys::import_sk(import_id)).await
    }

    /// The import records of an org among `import_ids` that exist (one request for a few).
    pub async fn imports(&self, org_id: &str, import_ids: &[String]) -> Result<Vec<Batch>, StoreError> {
        let sks: Vec<String> = import_ids.iter().map(|id| keys::import_sk(id)).collect();
        self.get_many(sks.iter().map(|sk| (keys::org(org_id), sk.as_str())).collect()).await
    }

    /// Up to `limit` commits whose lease ended by `now` (records `committing`), first-ended
    /// first.
    pub async fn lapsed_commits(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<Batch>, Error> {
        self.lapsed(keys::LEASES, now, limit).await
    }

    /// Writes an import record: a new one (`expected: None`) or over the status it was read in.
    pub fn put_import(&self, record: &Batch, expected: Option<ImportStatus>) -> Result<TransactWriteItem, StoreError> {
        let mut item =
            to_item("import", record, &[(PK, keys::org(&record.org_id)), (SK, keys::import_sk(&record.import_id))])?;
        if let (ImportStatus::Committing, Some(until)) = (record.status, record.lease_until) {
            // Listed among the leases while it commits (the lease sweep's index).
            item.insert(keys::GSI2PK.into(), AttributeValue::S(keys::LEASES.into()));
            let sk = keys::lease_gsi2sk(until, &record.org_id, &record.import_id);
            item.insert(keys::GSI2SK.into(), AttributeValue::S(sk));
        }
        match expected {
            None => put_if(&self.table, item, Some("attribute_not_exists(PK)"), &[], HashMap::new()),
            Some(status) => {
                let value = status.as_str().to_string();
                put_if(
                    &self.table,
                    item,
                    Some("#status = :expected"),
                    &[("#status", "status")],
                    HashMap::from([(":expected".to_string(), AttributeValue::S(value))]),
                )
            }
        }
    }

    /// Stores chunk `index` of a set of `rows` as the review makes it: on the condition that it
    /// is new or already this job's request's (when the job has one). Another request's job
    /// holding it is an `idempotency_mismatch`, and nothing of it is overwritten.
    async fn put_chunk(&self, rows: &Rows, set: RowSet, index: usize, item: Item) -> Result<(), Error> {
        let mut put = self.client.put_item().table_name(&self.table).set_item(Some(item));
        if let Some(owner) = &rows.owner {
            put = put
                .condition_expression("attribute_not_exists(PK) OR #owner = :owner")
                .expression_attribute_names("#owner", OWNER)
                .expression_attribute_values(":owner", AttributeValue::S(owner.clone()));
        }
        match super::send(|| put.clone().send()).await {
            Ok(_) => Ok(()),
            Err(StoreError::ConditionFailed(_)) => {
                tracing::warn!(partition = %rows.partition, ?set, index, "another request's job holds these rows");
                Err(DomainError::IdempotencyMismatch.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stores chunk `index` of an import's file rows (see [`Store::put_chunk`]).
    pub async fn put_row_chunk(&self, rows: &Rows, index: usize, chunk: &[Row]) -> Result<(), Error> {
        let item = rows.row_chunk_item(index, chunk)?;
        self.put_chunk(rows, RowSet::File, index, item).await
    }

    /// Stores chunk `index` of a review's rows again, reviewed anew before its commit: while the
    /// review is unconfirmed, so a late rewrite never lands on the rows of a commit another
    /// attempt started. An import's chunks say so themselves (they still expire); a large
    /// allocation's always expire, so its record's status is checked with the write, in one
    /// transaction. `Race` when another attempt started the commit.
    pub async fn rewrite_row_chunk(&self, rows: &Rows, index: usize, chunk: &[Row]) -> Result<(), Error> {
        let item = rows.row_chunk_item(index, chunk)?;
        let sent = if let Some((pk, sk)) = &rows.awaiting {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .key(PK, AttributeValue::S(pk.clone()))
                .key(SK, AttributeValue::S(sk.clone()))
                .condition_expression("#status = :reviewed")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":reviewed", AttributeValue::S(ImportStatus::Reviewed.as_str().into()))
                .build()
                .map_err(|e| StoreError::Other(e.to_string()))?;
            let put = put_if(&self.table, item, None, &[], HashMap::new())?;
            self.transact(vec![TransactWriteItem::builder().condition_check(check).build(), put]).await
        } else {
            let mut put = self.client.put_item().table_name(&self.table).set_item(Some(item));
            if rows.expires_at.is_some() {
                put = put
                    .condition_expression("attribute_exists(#expires)")
                    .expression_attribute_names("#expires", keys::EXPIRES_AT);
            }
            super::send(|| put.clone().send()).await.map(|_| ())
        };
        match sent {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed(_)) => Err(Race::Changed(Vec::new()).into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the first `count` chunks of `set` (those a refused file had stored before its
    /// refusal was found, or those of a review whose record was never written).
    pub async fn delete_chunks(&self, rows: &Rows, set: RowSet, count: usize) -> Result<(), StoreError> {
        let indexes: Vec<usize> = (0..count).collect();
        for batch in indexes.chunks(8) {
            let deletes =
                batch.iter().map(|&i| self.delete_item(rows.partition.clone(), keys::import_chunk_sk(set.prefix(), i)));
            futures::future::try_join_all(deletes).await?;
        }
        Ok(())
    }

    async fn put_release_chunk(&self, rows: &Rows, index: usize, emails: &[String]) -> Result<(), Error> {
        let item = rows.item("import_release", &ReleaseChunk { emails: emails.to_vec() }, RowSet::Release, index)?;
        self.put_chunk(rows, RowSet::Release, index, item).await
    }

    /// Keeps the first `count` chunks of `set`: their expiry removed (a confirmed review's rows
    /// stay with its record). A chunk that is not there is left so.
    pub async fn keep_chunks(&self, rows: &Rows, set: RowSet, count: usize) -> Result<(), StoreError> {
        let indexes: Vec<usize> = (0..count).collect();
        for batch in indexes.chunks(8) {
            let keeps = batch.iter().map(|&i| self.keep_chunk(rows, set, i));
            futures::future::try_join_all(keeps).await?;
        }
        Ok(())
    }

    /// Keeps chunks of `set` from the first on until one is not there; how many it kept.
    pub async fn keep_all_chunks(&self, rows: &Rows, set: RowSet) -> Result<usize, StoreError> {
        let mut index = 0;
        while self.keep_chunk(rows, set, index).await? {
            index += 1;
        }
        Ok(index)
    }

    /// Removes one chunk's expiry; `false` when the chunk is not there.
    pub async fn keep_chunk(&self, rows: &Rows, set: RowSet, index: usize) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(rows.partition.clone()))
            .key(SK, AttributeValue::S(keys::import_chunk_sk(set.prefix(), index)))
            .update_expression("REMOVE #expires")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#expires", keys::EXPIRES_AT);
        match super::send(|| update.clone().send()).await {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Up to `count` chunks of `set`, from chunk index `from` on, in order; whether more may
    /// follow; and which of them still carry an expiry.
    pub async fn import_chunks(&self, rows: &Rows, set: RowSet, from: usize, count: i32) -> Result<ChunkPage, Error> {
        let prefix = set.prefix();
        let spec = QuerySpec::table(
            rows.partition.clone(),
            SortKey::Between(keys::import_chunk_sk(prefix, from), keys::import_chunk_sk(prefix, 999_999)),
        );
        let page = self.query_items(&spec, &PageRequest { limit: count, cursor: None }).await?;
        let more = page.next_cursor.is_some();
        let (mut chunks, mut expiring) = (Vec::with_capacity(page.items.len()), Vec::new());
        for item in page.items {
            let index = item
                .get(SK)
                .and_then(|v| v.as_s().ok())
                .and_then(|sk| sk.strip_prefix(prefix))
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| StoreError::Other("an import chunk without its index".into()))?;
            if item.contains_key(keys::EXPIRES_AT) {
                expiring.push(index);
            }
            let chunk = match set {
                RowSet::File => Chunk::File(chunk_rows(item)?),
                RowSet::Release => Chunk::Release(from_item::<ReleaseChunk>(item)?.emails),
            };
            chunks.push((index, chunk));
        }
        Ok(ChunkPage { chunks, more, expiring })
    }

    /// The first `n` rows of the file (what an answer shows), from the chunks that hold them.
    pub async fn import_rows_head(&self, rows: &Rows, n: usize) -> Result<Vec<Row>, Error> {
        let page = self.import_chunks(rows, RowSet::File, 0, n.div_ceil(ROWS_PER_CHUNK).max(1) as i32).await?;
        let head = page.chunks.into_iter().flat_map(|(_, c)| match c {
            Chunk::File(rows) => rows,
            Chunk::Release(_) => vec![],
        });
        Ok(head.take(n).collect())
    }

    pub async fn import_rows(&self, rows: &Rows) -> Result<Vec<Row>, Error> {
        let spec = QuerySpec::table(rows.partition.clone(), SortKey::BeginsWith(RowSet::File.prefix().into()));
        let mut rows = Vec::new();
        for item in self.query_all_items(&spec).await? {
            rows.extend(chunk_rows(item)?);
        }
        Ok(rows)
    }

    /// Every user of an org, by e-mail.
    pub async fn all_users(&self, org_id: &str) -> Result<HashMap<String, User>, Error> {
        let users: Vec<User> = self
            .query_all(&QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::users_prefix().into())))
            .await?;
        Ok(users.into_iter().map(|u| (u.email.clone(), u)).collect())
    }
}

/// How far a commit has come: the `renew` rows whose licence is written (`rows_done`, what its
/// readers are shown) and, since commits resume from it, where it stands (`checkpoint`). An item
/// saved before commits resumed holds `rows_done` alone: its commit starts again at the first row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub rows_done: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
    /// Under `mode = sync`, once every `renew` row is settled: how far the release of the users
    /// the file leaves out has come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseCheckpoint>,
}

/// Where the release of the users a sync leaves out resumes: the page of the org's users it was
/// working on (`None`: the first), how many pages were done before it, and how many users it
/// released before. A user of that page released already is not released again (a released
/// user is not left out any more).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReleaseCheckpoint {
    pub page: Option<String>,
    pub pages: u64,
    pub released: u64,
}

/// Where a commit resumes: the chunk it was writing, how many of that chunk's `renew` rows are
/// settled, and what the rows settled before added up to — the licences by lot (`None`: an
/// included seat) and the first e-mails licensed (for the audit entry's sample).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub chunk: usize,
    pub settled_in_chunk: usize,
    #[serde(default)]
    pub issued: Vec<(Option<String>, u32)>,
    #[serde(default)]
    pub licensed: Vec<String>,
    /// Of the licences issued, those that gave access to a user who had none.
    #[serde(default)]
    pub gave_access: u32,
}

impl Store {
    /// Records how far an import's commit is; it only moves forward (an attempt behind another
    /// does not set it back): the rows settled, then the users released.
    pub async fn save_progress(&self, rows: &Rows, progress: &Progress) -> Result<(), StoreError> {
        let mut item = to_item(
            "import_progress",
            progress,
            &[(PK, rows.partition.clone()), (SK, keys::IMPORT_PROGRESS_SK.into())],
        )?;
        if let Some(at) = rows.expires_at {
            // A large allocation's progress goes with its rows.
            item.insert(keys::EXPIRES_AT.into(), AttributeValue::N(at.to_string()));
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(rows_done) OR rows_done < :n OR (rows_done = :n AND \
                 (attribute_not_exists(#release) OR #release.pages < :p \
                 OR (#release.pages = :p AND #release.released < :r)))",
            )
            .expression_attribute_names("#release", "release")
            .expression_attribute_values(":n", AttributeValue::N(progress.rows_done.to_string()))
            .expression_attribute_values(":p", number(progress.release.as_ref().map_or(0, |r| r.pages)))
            .expression_attribute_values(":r", number(progress.release.as_ref().map_or(0, |r| r.released)));
        match super::send(|| put.clone().send()).await {
            // Another attempt saved as far or further: its progress stands.
            Ok(_) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// How far an import's commit is (one small item, not the rows); nothing saved yet: zero.
    pub async fn commit_progress(&self, rows: &Rows) -> Result<Progress, StoreError> {
        let found: Option<Progress> = self.get(rows.partition.clone(), keys::IMPORT_PROGRESS_SK).await?;
        Ok(found.unwrap_or_default())
    }

    /// The rows of an import's commit written so far.
    pub async fn progress(&self, rows: &Rows) -> Result<u64, StoreError> {
        Ok(self.commit_progress(rows).await?.rows_done)
    }
}

/// The users a sync releases, written chunk by chunk as they are found (memory holds one chunk);
/// [`ReleaseWriter::close`] empties the chunks an earlier, longer list left behind.
pub struct ReleaseWriter<'a> {
    store: &'a Store,
    rows: Rows,
    pending: Vec<String>,
    written: usize,
    previous: usize,
}

impl<'a> ReleaseWriter<'a> {
    /// A writer over a list that held `previous` e-mails before (0 for a new one).
    pub fn new(store: &'a Store, rows: &Rows, previous: usize) -> Self {
        ReleaseWriter { store, rows: rows.clone(), pending: Vec::new(), written: 0, previous }
    }

    pub async fn push(&mut self, email: String) -> Result<(), Error> {
        self.pending.push(email);
        if self.pending.len() == ROWS_PER_CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Error> {
        let chunk = std::mem::take(&mut self.pending);
        self.store.put_release_chunk(&self.rows, self.written / ROWS_PER_CHUNK, &chunk).await?;
        self.written += chunk.len();
        Ok(())
    }

    /// Writes what is left and empties the chunks past it; how many e-mails the list holds.
    pub async fn close(mut self) -> Result<usize, Error> {
        if !self.pending.is_empty() {
            self.flush().await?;
        }
        let total = self.written;
        let (from, to) = (total.div_ceil(ROWS_PER_CHUNK), self.previous.div_ceil(ROWS_PER_CHUNK));
        for index in from..to {
            self.store.put_release_chunk(&self.rows, index, &[]).await?;
        }
        Ok(total)
    }
}

fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::import::RowOutcome;

    #[test]
    fn a_chunk_unpacks_to_the_rows_it_packed() {
        let rows: Vec<Row> = (0..ROWS_PER_CHUNK as u64)
            .map(|i| Row { line: i + 2, email: format!("learner{i}@c.example"), outcome: RowOutcome::Renew })
            .collect();
        assert_eq!(unpack(&pack(&rows).unwrap()).unwrap(), rows);
    }

    #[test]
    fn a_packed_chunk_larger_than_any_chunk_unpacks_to_a_refusal() {
        use std::io::Write;
        let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        deflate.write_all(&vec![b' '; MAX_UNPACKED_BYTES as usize + 10]).unwrap();
        let bomb = deflate.finish().unwrap();
        let refused = unpack(&bomb).unwrap_err().to_string();
        assert!(refused.contains("more than"), "{refused}");
    }
}
