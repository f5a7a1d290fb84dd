//! Import records and their rows (kept in chunks beside the record), and the users a sync would
//! release (in chunks of their own).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::keys::{self, PK, SK};
use super::{from_item, put_if, to_item, Error, PageRequest, QuerySpec, SortKey, Store, StoreError};
use crate::domain::import::{ImportRecord, ImportStatus, Row};
use crate::domain::user::User;

/// Rows per chunk item: a chunk of the file as the review stores it. A stored row is at most
/// about 300 bytes (an e-mail has at most 254, and the review cuts an invalid cell to that), so a
/// chunk stays under DynamoDB's 400 KB item limit whatever the file holds.
pub const ROWS_PER_CHUNK: usize = crate::domain::import::CELLS_PER_CHUNK;

#[derive(Serialize, Deserialize)]
struct RowChunk {
    rows: Vec<Row>,
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
    fn prefix(self) -> &'static str {
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

impl Store {
    pub async fn import(&self, org_id: &str, import_id: &str) -> Result<Option<ImportRecord>, StoreError> {
        self.get(keys::org(org_id), &keys::import_sk(import_id)).await
    }

    /// Writes an import record: a new one (`expected: None`) or over the status it was read in.
    pub fn put_import(
        &self,
        record: &ImportRecord,
        expected: Option<ImportStatus>,
    ) -> Result<TransactWriteItem, StoreError> {
        let item =
            to_item("import", record, &[(PK, keys::org(&record.org_id)), (SK, keys::import_sk(&record.import_id))])?;
        match expected {
            None => put_if(&self.table, item, Some("attribute_not_exists(PK)"), &[], HashMap::new()),
            Some(status) => {
                let value =
                    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
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

    /// Stores chunk `index` of an import's rows (a rewrite replaces it).
    pub async fn put_row_chunk(&self, import_id: &str, index: usize, rows: &[Row]) -> Result<(), StoreError> {
        let item = to_item(
            "import_rows",
            &RowChunk { rows: rows.to_vec() },
            &[(PK, keys::import_rows(import_id)), (SK, keys::import_chunk_sk(RowSet::File.prefix(), index))],
        )?;
        self.put_item(item).await?;
        Ok(())
    }

    /// Removes the first `count` chunks of a file's rows (those a refused file had stored before
    /// its refusal was found).
    pub async fn delete_row_chunks(&self, import_id: &str, count: usize) -> Result<(), StoreError> {
        let indexes: Vec<usize> = (0..count).collect();
        for batch in indexes.chunks(8) {
            let deletes = batch.iter().map(|&i| {
                self.delete_item(keys::import_rows(import_id), keys::import_chunk_sk(RowSet::File.prefix(), i))
            });
            futures::future::try_join_all(deletes).await?;
        }
        Ok(())
    }

    async fn put_release_chunk(&self, import_id: &str, index: usize, emails: &[String]) -> Result<(), StoreError> {
        let item = to_item(
            "import_release",
            &ReleaseChunk { emails: emails.to_vec() },
            &[(PK, keys::import_rows(import_id)), (SK, keys::import_chunk_sk(RowSet::Release.prefix(), index))],
        )?;
        self.put_item(item).await?;
        Ok(())
    }

    /// Up to `count` chunks of `set`, from chunk index `from` on, in order; and whether more
    /// may follow.
    pub async fn import_chunks(
        &self,
        import_id: &str,
        set: RowSet,
        from: usize,
        count: i32,
    ) -> Result<(Vec<(usize, Chunk)>, bool), Error> {
        let prefix = set.prefix();
        let spec = QuerySpec::table(
            keys::import_rows(import_id),
            SortKey::Between(keys::import_chunk_sk(prefix, from), keys::import_chunk_sk(prefix, 999_999)),
        );
        let page = self.query_items(&spec, &PageRequest { limit: count, cursor: None }).await?;
        let more = page.next_cursor.is_some();
        let mut chunks = Vec::with_capacity(page.items.len());
        for item in page.items {
            let index = item
                .get(SK)
                .and_then(|v| v.as_s().ok())
                .and_then(|sk| sk.strip_prefix(prefix))
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| StoreError::Other("an import chunk without its index".into()))?;
            let chunk = match set {
                RowSet::File => Chunk::File(from_item::<RowChunk>(item)?.rows),
                RowSet::Release => Chunk::Release(from_item::<ReleaseChunk>(item)?.emails),
            };
            chunks.push((index, chunk));
        }
        Ok((chunks, more))
    }

    /// The first `n` rows of the file (what an answer shows), from the chunks that hold them.
    pub async fn import_rows_head(&self, import_id: &str, n: usize) -> Result<Vec<Row>, Error> {
        let (chunks, _) =
            self.import_chunks(import_id, RowSet::File, 0, n.div_ceil(ROWS_PER_CHUNK).max(1) as i32).await?;
        let rows = chunks.into_iter().flat_map(|(_, c)| match c {
            Chunk::File(rows) => rows,
            Chunk::Release(_) => vec![],
        });
        Ok(rows.take(n).collect())
    }

    pub async fn import_rows(&self, import_id: &str) -> Result<Vec<Row>, Error> {
        let spec = QuerySpec::table(keys::import_rows(import_id), SortKey::BeginsWith(RowSet::File.prefix().into()));
        let chunks: Vec<RowChunk> = self.query_all(&spec).await?;
        Ok(chunks.into_iter().flat_map(|c| c.rows).collect())
    }

    /// Every user of an org, by e-mail.
    pub async fn all_users(&self, org_id: &str) -> Result<HashMap<String, User>, Error> {
        let users: Vec<User> = self
            .query_all(&QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::users_prefix().into())))
            .await?;
        Ok(users.into_iter().map(|u| (u.email.clone(), u)).collect())
    }
}

/// How far a commit has come: the `renew` rows whose licence is written.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Progress {
    rows_done: u64,
}

impl Store {
    /// Records that `rows_done` rows of an import's commit are written; it only moves forward
    /// (a retry that starts again from the first row does not set it back).
    pub async fn save_progress(&self, import_id: &str, rows_done: u64) -> Result<(), StoreError> {
        let item = to_item(
            "import_progress",
            &Progress { rows_done },
            &[(PK, keys::import_rows(import_id)), (SK, keys::IMPORT_PROGRESS_SK.into())],
        )?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(rows_done) OR rows_done < :n")
            .expression_attribute_values(":n", AttributeValue::N(rows_done.to_string()));
        match put.send().await.map_err(StoreError::from_sdk) {
            Ok(_) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The rows of an import's commit written so far (one small item, not the rows).
    pub async fn progress(&self, import_id: &str) -> Result<u64, StoreError> {
        let found: Option<Progress> = self.get(keys::import_rows(import_id), keys::IMPORT_PROGRESS_SK).await?;
        Ok(found.map(|p| p.rows_done).unwrap_or(0))
    }
}

/// The users a sync releases, written chunk by chunk as they are found (memory holds one chunk);
/// [`ReleaseWriter::close`] empties the chunks an earlier, longer list left behind.
pub struct ReleaseWriter<'a> {
    store: &'a Store,
    import_id: String,
    pending: Vec<String>,
    written: usize,
    previous: usize,
}

impl<'a> ReleaseWriter<'a> {
    /// A writer over a list that held `previous` e-mails before (0 for a new one).
    pub fn new(store: &'a Store, import_id: &str, previous: usize) -> Self {
        ReleaseWriter { store, import_id: import_id.into(), pending: Vec::new(), written: 0, previous }
    }

    pub async fn push(&mut self, email: String) -> Result<(), StoreError> {
        self.pending.push(email);
        if self.pending.len() == ROWS_PER_CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        let chunk = std::mem::take(&mut self.pending);
        self.store.put_release_chunk(&self.import_id, self.written / ROWS_PER_CHUNK, &chunk).await?;
        self.written += chunk.len();
        Ok(())
    }

    /// Writes what is left and empties the chunks past it; how many e-mails the list holds.
    pub async fn close(mut self) -> Result<usize, StoreError> {
        if !self.pending.is_empty() {
            self.flush().await?;
        }
        let total = self.written;
        let (from, to) = (total.div_ceil(ROWS_PER_CHUNK), self.previous.div_ceil(ROWS_PER_CHUNK));
        for index in from..to {
            self.store.put_release_chunk(&self.import_id, index, &[]).await?;
        }
        Ok(total)
    }
}
