//! The one adapter over the single DynamoDB table. Layout in [`keys`]; the table itself is
//! defined once, in `infra/template.yaml`, and [`table`] creates it from there for local runs.

pub mod apply;
pub mod deliveries;
pub mod due;
pub mod erasure;
pub mod idempotency;
pub mod imports;
pub mod keys;
pub mod lots;
pub mod records;
pub mod renewals;
pub mod setup;
pub mod steps;
pub mod suppressions;
pub mod table;
pub mod tree;
pub mod users;

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use apply::{Answer, Race};
pub use imports::ReleaseWriter;

use crate::command::retry::{self, Class, Policy};
use crate::domain::DomainError;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition of a conditional write or transaction failed; the indexes of the
    /// transaction's items whose condition failed (0 for a single write).
    #[error("a write condition failed (items {0:?})")]
    ConditionFailed(Vec<usize>),
    /// Throttled (or batch keys left unprocessed) after every attempt of the retry policy.
    #[error("the table is throttling: {0}")]
    Throttled(String),
    /// A transaction conflict, a 5xx, a timeout — after every attempt of the retry policy (or
    /// another service that failed for now): the caller may try again later.
    #[error("the table is busy: {0}")]
    Retryable(String),
    /// Over one of DynamoDB's size limits (an item, an item collection, a transaction).
    #[error("too large for the table: {0}")]
    TooLarge(String),
    #[error("store error: {0}")]
    Other(String),
}

impl StoreError {
    /// The store's error for a failed DynamoDB call, by the one classifier
    /// ([`retry::classify_sdk`]).
    pub(crate) fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> StoreError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let described = match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                format!("{}: {}", e.code().unwrap_or_default(), e.message().unwrap_or_default())
            }
            _ => format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&err)),
        };
        StoreError::of_class(retry::classify_sdk(&err), described)
    }

    /// The store's error of `class`, saying `described`.
    pub(crate) fn of_class(class: Class, described: String) -> StoreError {
        match class {
            Class::Race => StoreError::ConditionFailed(vec![0]),
            Class::Throttled => StoreError::Throttled(described),
            Class::Transient => StoreError::Retryable(described),
            Class::TooLarge => StoreError::TooLarge(described),
            Class::Permanent => StoreError::Other(described),
        }
    }
}

/// Sends one DynamoDB request (`request` makes it afresh each time), again while it is throttled
/// or fails transiently ([`retry::send`] with [`Policy::DEFAULT`]); a failure as the store's error.
pub(crate) async fn send<O, E, F, Fut>(request: F) -> Result<O, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<O, SdkError<E, HttpResponse>>>,
{
    retry::send(&Policy::DEFAULT, request).await.map_err(StoreError::from_sdk)
}

/// How long this process's transactions take now.
static TRANSACTIONS: retry::Latency = retry::Latency::new();

/// The most one of a decision's writes pauses between its attempts, in all (the pauses'
/// bounds; the requests' own time is not counted).
pub const WRITE_RETRY_BUDGET: std::time::Duration = std::time::Duration::from_secs(8);

/// The policy a decision's writes (a transaction, a write on its own) are tried again by:
/// [`Policy::DEFAULT`]'s pauses, the first one's bound no shorter than this process's
/// transactions take now ([`Policy::at_least`]), as many attempts as [`WRITE_RETRY_BUDGET`] of
/// pauses holds. A write that conflicted with a transaction finds its item held for about as
/// long as a transaction takes, so sending it again much sooner only conflicts again; and on a
/// hot item a write may conflict many times before it lands.
fn write_policy() -> Policy {
    Policy::DEFAULT.at_least(TRANSACTIONS.typical()).within(WRITE_RETRY_BUDGET)
}

/// Sends one of a decision's writes ([`retry::send`] under [`write_policy`]).
pub(crate) async fn send_write<O, E, F, Fut>(request: F) -> Result<O, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<O, SdkError<E, HttpResponse>>>,
{
    retry::send(&write_policy(), request).await.map_err(StoreError::from_sdk)
}

/// What a handler can fail with: a refusal for the caller, or a store failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The command's writes lost a race (typed; the executor runs the command again).
    #[error("lost a race: {0:?}")]
    Race(Race),
}

impl From<Race> for Error {
    fn from(r: Race) -> Self {
        Error::Race(r)
    }
}

#[derive(Clone)]
pub struct Store {
    pub client: Client,
    pub table: String,
}

/// One page of a list (docs/api.md#lists-and-cursors).
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i32,
    pub cursor: Option<String>,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { limit: 50, cursor: None }
    }
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// How a read sees the table: every write before it (strongly consistent), or — at half the
/// read capacity — perhaps a moment behind (eventually consistent), for reads whose every write
/// is conditional on the version read, so a stale read costs a retry, never a lost change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Consistent,
    Eventual,
}

/// A key condition on the sort key (or the index's sort key).
#[derive(Debug, Clone)]
pub enum SortKey {
    Any,
    BeginsWith(String),
    Between(String, String),
    AtMost(String),
}

/// A `Query` against the table or one index, one partition.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    pub index: Option<&'static str>,
    pub partition: String,
    pub sort: SortKey,
    pub newest_first: bool,
    /// An extra filter: attribute name and the string value it must equal.
    pub filter_eq: Option<(&'static str, String)>,
}

impl QuerySpec {
    pub fn table(partition: String, sort: SortKey) -> Self {
        QuerySpec { index: None, partition, sort, newest_first: false, filter_eq: None }
    }

    pub fn index(index: &'static str, partition: String, sort: SortKey) -> Self {
        QuerySpec { index: Some(index), partition, sort, newest_first: false, filter_eq: None }
    }

    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }

    fn key_names(&self) -> (&'static str, &'static str) {
        match self.index {
            None => (keys::PK, keys::SK),
            Some(keys::GSI1) => (keys::GSI1PK, keys::GSI1SK),
            Some(keys::GSI2) => (keys::GSI2PK, keys::GSI2SK),
            Some(keys::GSI3) => (keys::GSI3PK, keys::GSI3SK),
            Some(_) => (keys::GSI4PK, keys::GSI4SK),
        }
    }
}

/// Serialises a domain value and adds its keys and `type`.
pub fn to_item<T: Serialize>(kind: &str, value: &T, key_attrs: &[(&str, String)]) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::aws_sdk_dynamodb_1::to_item(value).map_err(|e| StoreError::Other(e.to_string()))?;
    item.insert(keys::TYPE.into(), AttributeValue::S(kind.into()));
    for (name, value) in key_attrs {
        item.insert((*name).into(), AttributeValue::S(value.clone()));
    }
    Ok(item)
}

/// An item of an index read across every org that could not be read: its org (taken from its
/// key) and why. A sweep names that org and goes on with the others.
#[derive(Debug)]
pub struct Unreadable {
    pub org_id: String,
    pub error: StoreError,
}

/// `item` read as a `T`, or — when it cannot be — who it belongs to and why.
pub(crate) fn from_index_item<T: DeserializeOwned>(item: Item) -> Result<T, Unreadable> {
    let org_id = item
        .get(keys::PK)
        .and_then(|v| v.as_s().ok())
        .map(|pk| pk.strip_prefix("ORG#").unwrap_or(pk).to_string())
        .unwrap_or_default();
    from_item(item).map_err(|error| Unreadable { org_id, error })
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(|e| StoreError::Other(format!("unreadable item: {e}")))
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(keys::PK.to_string(), s(pk)), (keys::SK.to_string(), s(sk))])
}

/// A transaction item that puts `item` on the condition that no item has its key yet.
pub fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    put_if(table, item, Some("attribute_not_exists(PK)"), &[], HashMap::new())
}

/// A transaction item that deletes the item of `key` (nothing happens when it is not there).
pub fn delete(table: &str, key: Item) -> Result<TransactWriteItem, StoreError> {
    let d = aws_sdk_dynamodb::types::Delete::builder().table_name(table).set_key(Some(key)).build();
    Ok(TransactWriteItem::builder().delete(d.map_err(|e| StoreError::Other(e.to_string()))?).build())
}

/// A transaction item that puts `item`, overwriting whatever had its key.
pub fn put(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    put_if(table, item, None, &[], HashMap::new())
}

pub fn put_if(
    table: &str,
    item: Item,
    condition: Option<&str>,
    names: &[(&str, &str)],
    values: HashMap<String, AttributeValue>,
) -> Result<TransactWriteItem, StoreError> {
    let names: HashMap<String, String> = names.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_string))
        .set_expression_attribute_names((!names.is_empty()).then_some(names))
        .set_expression_attribute_values((!values.is_empty()).then_some(values))
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Store { client, table: table.into() }
    }

    /// Deletes one item by key (nothing happens when it is not there).
    pub async fn delete_item(&self, pk: String, sk: String) -> Result<(), StoreError> {
        let key = key(pk, &sk);
        let delete = self.client.delete_item().table_name(&self.table).set_key(Some(key));
        send(|| delete.clone().send()).await?;
        Ok(())
    }

    /// Puts one item as it is, unconditionally (for items no other write races: row chunks,
    /// snapshots, states recomputed whole).
    pub async fn put_item(&self, item: Item) -> Result<(), StoreError> {
        let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
        send(|| put.clone().send()).await?;
        Ok(())
    }

    /// A strongly consistent read of one item.
    /// Puts a record written once: on the condition that it is not there yet; one already there
    /// (written by a twin run or delivery) is the same record, and that is not a failure.
    pub async fn put_once(&self, item: Item) -> Result<(), StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)");
        match send(|| put.clone().send()).await {
            Ok(_) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, pk: String, sk: &str) -> Result<Option<T>, StoreError> {
        let get = self.client.get_item().table_name(&self.table).set_key(Some(key(pk, sk))).consistent_read(true);
        let out = send(|| get.clone().send()).await?;
        out.item.map(from_item).transpose()
    }

    /// Reads several items by key, 100 keys a `BatchGetItem` and up to ten of them at once (plus
    /// retries of unprocessed keys); a key named twice is read once.
    pub async fn get_many<T: DeserializeOwned>(&self, keys_: Vec<(String, &str)>) -> Result<Vec<T>, StoreError> {
        self.get_many_read(keys_, Read::Consistent).await
    }

    /// [`Store::get_many`], strongly consistent or (at half the capacity) eventually.
    pub async fn get_many_read<T: DeserializeOwned>(
        &self,
        keys_: Vec<(String, &str)>,
        read: Read,
    ) -> Result<Vec<T>, StoreError> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        // DynamoDB refuses a batch that names one key twice, or more than 100 keys.
        let mut unique = keys_;
        unique.sort();
        unique.dedup();
        let items: Vec<Item> = unique.into_iter().map(|(pk, sk)| key(pk, sk)).collect();
        // Made before the stream takes them (a stream of a lazy closure is not `Send` here).
        let batches: Vec<_> = items.chunks(100).map(|batch| self.get_batch(batch.to_vec(), read)).collect();
        let found: Vec<Vec<T>> = stream::iter(batches).buffered(10).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// One `BatchGetItem` of at most 100 distinct keys. Keys DynamoDB leaves unprocessed (it
    /// was throttled) are asked for again under the retry policy, with its back-off, as a
    /// throttled request is; what was found is kept across the attempts.
    async fn get_batch<T: DeserializeOwned>(&self, keys_: Vec<Item>, read: Read) -> Result<Vec<T>, StoreError> {
        use std::sync::Mutex;
        let pending = Mutex::new(keys_);
        let found = Mutex::new(Vec::new());
        retry::send(&Policy::DEFAULT, || async {
            // A request that failed leaves the pending keys as they were, for the next attempt.
            let keys_ = pending.lock().expect("the pending keys").clone();
            let (left, items) = self.get_batch_once(keys_, read).await?;
            found.lock().expect("the items found").extend(items);
            let count = left.len();
            *pending.lock().expect("the pending keys") = left;
            match count {
                0 => Ok(()),
                _ => Err(StoreError::Throttled(format!("{count} keys left unprocessed"))),
            }
        })
        .await?;
        let found = found.into_inner().expect("the items found");
        found.into_iter().map(from_item).collect()
    }

    /// One `BatchGetItem` request: the keys left unprocessed and the items found.
    async fn get_batch_once(&self, keys_: Vec<Item>, read: Read) -> Result<(Vec<Item>, Vec<Item>), StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys_))
            .consistent_read(read == Read::Consistent)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let batch = self.client.batch_get_item().request_items(&self.table, request);
        let out = batch.send().await.map_err(StoreError::from_sdk)?;
        let found = out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default();
        let left = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
        Ok((left, found))
    }

    /// Writes every item or none. A failed condition reports which items failed. A transaction
    /// cancelled without a failed condition (a conflict with another transaction, throttling) is
    /// sent again under the retry policy: its conditions still guard it.
    pub async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        retry::send(&write_policy(), || async {
            let sent = std::time::Instant::now();
            let out = self.transact_once(items.clone()).await;
            if out.is_ok() {
                TRANSACTIONS.took(sent.elapsed());
            }
            out
        })
        .await
    }

    async fn transact_once(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let SdkError::ServiceError(se) = &err else { return Err(StoreError::from_sdk(err)) };
        let TransactWriteItemsError::TransactionCanceledException(e) = se.err() else {
            return Err(StoreError::from_sdk(err));
        };
        let reasons = e.cancellation_reasons();
        match retry::classify_cancellation(reasons.iter().map(|r| (r.code(), r.message()))) {
            Class::Race => Err(StoreError::ConditionFailed(
                reasons
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                    .map(|(i, _)| i)
                    .collect(),
            )),
            class => {
                let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).collect();
                Err(StoreError::of_class(class, format!("transaction cancelled: {codes:?}")))
            }
        }
    }

    /// Up to `limit` items of the GSI2 lease partition `partition` (commits, plans of steps,
    /// erasures) whose lease ended by `now`, first-ended first: their GSI2 sort key starts with
    /// the instant the lease ends (`keys::lease_gsi2sk`).
    pub async fn lapsed<T: DeserializeOwned>(
        &self,
        partition: &str,
        now: chrono::DateTime<chrono::Utc>,
        limit: i32,
    ) -> Result<Vec<T>, Error> {
        // `$` sorts just after the `#` that follows the instant: every lease ended by `now`.
        let until = format!("{}$", keys::sort_time(now));
        let spec = QuerySpec::index(keys::GSI2, partition.into(), SortKey::AtMost(until));
        Ok(self.query(&spec, &PageRequest { limit, cursor: None }).await?.items)
    }

    /// One page of a query. The cursor is the last key seen, and must belong to the partition
    /// asked for, so a cursor cannot be used to read another tenant's partition.
    pub async fn query<T: DeserializeOwned>(&self, spec: &QuerySpec, page: &PageRequest) -> Result<Page<T>, Error> {
        let raw = self.query_items(spec, page).await?;
        let items = raw.items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor: raw.next_cursor })
    }

    /// One page of a query whose items must also pass `keep`, for a filter no key condition can
    /// say (one that depends on the time, say). It reads on, query page after query page, until
    /// `page.limit` items are kept, the query ends or `max_reads` pages were read: a page may hold
    /// fewer items than asked — none, even — while its `next_cursor` goes on, and a cursor always
    /// continues right after the last item read.
    pub async fn query_matching<T: DeserializeOwned>(
        &self,
        spec: &QuerySpec,
        page: &PageRequest,
        keep: impl Fn(&T) -> bool,
        max_reads: usize,
    ) -> Result<Page<T>, Error> {
        let (pk_name, sk_name) = spec.key_names();
        let key_names = [keys::PK, keys::SK, pk_name, sk_name];
        let mut cursor = page.cursor.clone();
        let mut kept = Vec::new();
        for _ in 0..max_reads.max(1) {
            let read = PageRequest { limit: page.limit.max(100), cursor: cursor.take() };
            let raw = self.query_items(spec, &read).await?;
            let count = raw.items.len();
            for (i, item) in raw.items.into_iter().enumerate() {
                let key: Item = item
                    .iter()
                    .filter(|(k, _)| key_names.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let value: T = from_item(item)?;
                if !keep(&value) {
                    continue;
                }
                kept.push(value);
                if kept.len() >= page.limit as usize {
                    let next_cursor = if i + 1 == count { raw.next_cursor } else { Some(encode_cursor(&key)) };
                    return Ok(Page { items: kept, next_cursor });
                }
            }
            cursor = raw.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        Ok(Page { items: kept, next_cursor: cursor })
    }

    /// Every item a query matches, page after page.
    pub async fn query_all<T: DeserializeOwned>(&self, spec: &QuerySpec) -> Result<Vec<T>, Error> {
        let items = self.query_all_items(spec).await?;
        Ok(items.into_iter().map(from_item).collect::<Result<_, _>>()?)
    }

    /// Every item a query matches, page after page, as the table holds them (for a reader that
    /// reads each on its own terms: an item it cannot read names its org, see [`Unreadable`]).
    pub async fn query_all_items(&self, spec: &QuerySpec) -> Result<Vec<Item>, Error> {
        let mut page = PageRequest { limit: 1000, cursor: None };
        let mut all = Vec::new();
        loop {
            let found = self.query_items(spec, &page).await?;
            all.extend(found.items);
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    /// One page of a query, as the items the table holds.
    pub async fn query_items(&self, spec: &QuerySpec, page: &PageRequest) -> Result<Page<Item>, Error> {
        let (pk_name, sk_name) = spec.key_names();
        let mut names = HashMap::from([("#pk".to_string(), pk_name.to_string())]);
        let mut values = HashMap::from([(":pk".to_string(), s(spec.partition.clone()))]);
        let mut condition = "#pk = :pk".to_string();
        match &spec.sort {
            SortKey::Any => {}
            SortKey::BeginsWith(prefix) => {
                condition.push_str(" AND begins_with(#sk, :sk)");
                values.insert(":sk".into(), s(prefix.clone()));
            }
            SortKey::Between(lo, hi) => {
                condition.push_str(" AND #sk BETWEEN :lo AND :hi");
                values.insert(":lo".into(), s(lo.clone()));
                values.insert(":hi".into(), s(hi.clone()));
            }
            SortKey::AtMost(hi) => {
                condition.push_str(" AND #sk <= :hi");
                values.insert(":hi".into(), s(hi.clone()));
            }
        }
        if !matches!(spec.sort, SortKey::Any) {
            names.insert("#sk".into(), sk_name.into());
        }
        let mut filter = None;
        if let Some((attr, value)) = &spec.filter_eq {
            names.insert("#f".into(), (*attr).into());
            values.insert(":f".into(), s(value.clone()));
            filter = Some("#f = :f".to_string());
        }
        let start = match &page.cursor {
            Some(c) => Some(decode_cursor(c, pk_name, &spec.partition)?),
            None => None,
        };
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(spec.index.map(str::to_string))
            .key_condition_expression(condition)
            .set_filter_expression(filter)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(!spec.newest_first)
            .limit(page.limit)
            .set_exclusive_start_key(start)
            .set_consistent_read(spec.index.is_none().then_some(true));
        let out = send(|| query.clone().send()).await?;
        let next_cursor = out.last_evaluated_key.as_ref().map(encode_cursor);
        Ok(Page { items: out.items.unwrap_or_default(), next_cursor })
    }
}

fn encode_cursor(key: &Item) -> String {
    let plain: HashMap<&str, &str> =
        key.iter().filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str()))).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&plain).unwrap_or_default())
}

/// A cursor that starts `partition` from its first item: a list that goes on from one partition
/// into another gives it out where the first one ends.
pub(crate) fn start_of(pk_name: &str, partition: &str) -> String {
    encode_cursor(&HashMap::from([(pk_name.to_string(), s(partition))]))
}

/// Whether `cursor` goes on in `partition` (a page of it, or its start).
pub(crate) fn continues_in(cursor: &str, pk_name: &str, partition: &str) -> bool {
    decode_cursor(cursor, pk_name, partition).is_ok()
}

fn decode_cursor(cursor: &str, pk_name: &str, partition: &str) -> Result<Item, DomainError> {
    let bad = || DomainError::invalid("cursor", "is not a cursor this list gave out");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let plain: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if plain.get(pk_name).map(String::as_str) != Some(partition) || plain.len() > 4 {
        return Err(bad());
    }
    Ok(plain.into_iter().map(|(k, v)| (k, s(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_only_opens_its_own_partition() {
        let key: Item = HashMap::from([(keys::PK.to_string(), s(keys::org("c1"))), (keys::SK.to_string(), s("x"))]);
        let c = encode_cursor(&key);
        assert!(decode_cursor(&c, keys::PK, &keys::org("c1")).is_ok());
        assert_eq!(decode_cursor(&c, keys::PK, &keys::org("c2")).unwrap_err().code(), "invalid_request");
        assert!(decode_cursor("%%%", keys::PK, &keys::org("c1")).is_err());
    }
}
