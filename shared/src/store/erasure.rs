//! The erasure of a user's personal data, written (docs/domain.md#erasing-personal-data): the
//! request's move of the user item, and the job that rewrites the rest of the org's own
//! partitions under the pseudonym.
//!
//! The job reads by key prefix only (no `Scan`): the user's enrolments, login and plans by their
//! keys (`ENROLMENT#{email}#`, `LOGIN#{email}`, `STEPS#{email}#`); the org's audit entries,
//! notices, their e-mail guards and days of expiries by theirs, each item rewritten when it holds
//! the e-mail as a whole address (and then the user's name too); the rows of the org's imports
//! chunk by chunk. An item whose key holds the e-mail moves: put under the new key and deleted
//! under the old in one transaction. Every step is idempotent — what is rewritten no longer holds
//! the e-mail — so a run cut off, or delivered twice, is finished by the next. Suppressions
//! (`SUPPRESSION#{email}`: the address is kept so it is never mailed again), SES feedback records
//! (removed by their TTL) and stored idempotent answers (`IDEM#`, TTL) are not rewritten.
//!
//! A user created again under the same address while the job runs keeps what is its own: the
//! job then reaches only what was written up to the request ([`Reach`]).

use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::imports::Rows;
use super::keys::{self, PK, SK};
use super::{
    delete, key, put, put_if, put_new, s, to_item, Error, Item, PageRequest, QuerySpec, SortKey, Store, StoreError,
};
use crate::domain::enrolment::Enrolment;
use crate::domain::erasure::{replace_name, replace_whole, Erasure, ErasureStatus};
use crate::domain::import::{Batch, ImportStatus};
use crate::domain::user::User;

/// What an erased user's name becomes where an entry that held its e-mail quoted it.
pub const ERASED_NAME: &str = "(erased)";

/// The org's items read for the e-mail, by the prefix of their sort keys.
const WALKED: &[&str] = &["AUDIT#", "NOTICE#", "DELIVERY#", "EXPIRYDAY#"];

/// Days after the request whose days of expiries may still name the erased user: a licence is
/// merged into its day 72 hours before its end at most, and the erased user was released before
/// the request; one more day for the org's time zone.
const DAYS_AFTER_REQUEST: i64 = crate::domain::expiry::DUE_AHEAD_HOURS / 24 + 1;

/// What a run of an erasure reaches. Nothing written after the request can name the erased
/// user under its address (the user and everything keyed by it moved to the pseudonym), so the
/// audit entries and notices are read up to the request's instant and the days of expiries up to
/// [`DAYS_AFTER_REQUEST`] after it, every run alike (their pages stay within one range). The
/// items keyed by the address are reached when written up to the request — an enrolment by its
/// `updated_at`, a login by its `last_login_at`, a plan by its `decided_at`, an e-mail guard by
/// its `updated_at`, an import by its `created_at` — since with no user under the address nothing
/// writes them (a released user's enrolments are expired, out of the sweep's index), and one
/// written after is a user's created again under the address.
#[derive(Debug, Clone, Copy)]
struct Reach {
    requested: DateTime<Utc>,
}

impl Reach {
    /// The query of the walked prefix `prefix` within what the erasure reaches.
    fn walk(self, org_id: &str, prefix: &str) -> QuerySpec {
        let upto = |last: String| SortKey::Between(prefix.to_string(), last);
        let sort = match prefix {
            // `$` sorts just after the `#` that follows the instant: everything up to it.
            "AUDIT#" | "NOTICE#" => upto(format!("{prefix}{}$", keys::sort_time(self.requested))),
            "EXPIRYDAY#" => {
                let last = self.requested + chrono::Duration::days(DAYS_AFTER_REQUEST);
                upto(keys::expiry_day_sk(last.date_naive()))
            }
            _ => SortKey::BeginsWith(prefix.to_string()),
        };
        QuerySpec::table(keys::org(org_id), sort)
    }

    /// Whether a user created again owns what was written at `at`: after the request.
    fn theirs(self, at: DateTime<Utc>) -> bool {
        at > self.requested
    }

    /// [`Self::theirs`] of `item`, by the instant in its attribute `field` (RFC 3339); an item
    /// without one is the erased user's.
    fn theirs_item(self, item: &Item, field: &str) -> bool {
        let at = item.get(field).and_then(|v| v.as_s().ok()).and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        at.is_some_and(|t| self.theirs(t.with_timezone(&Utc)))
    }
}

/// Attributes an erased user's name is never looked for in (besides the index keys).
const KEPT_AS_IS: &[&str] = &[PK, SK, "type", "org_id", "version", "expires_at"];

/// Moves per transaction: each a put and a delete, within one transaction's 100 writes.
const MOVES_PER_TRANSACTION: usize = 45;

impl Store {
    /// The writes of [`Change::EraseUser`](crate::domain::change::Change::EraseUser): the user
    /// deleted under its e-mail over the version read, new under the pseudonym without its name,
    /// its manager marker deleted, and `enrolments` moved (put under the pseudonym, deleted under
    /// the e-mail: the user's version guards them).
    pub fn erase_user(
        &self,
        user: &User,
        pseudonym: &str,
        enrolments: &[Enrolment],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let old = key(keys::org(&user.org_id), &keys::user_sk(&user.email));
        let values = HashMap::from([(":v".to_string(), super::n(user.version as i64))]);
        let versioned = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(old))
            .condition_expression("version = :v")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        // No renewal date left: a pseudonym is never renewed (nor in the renewal indexes).
        let moved = User {
            email: pseudonym.to_string(),
            name: None,
            renewal_at: None,
            refused_renewal_at: None,
            version: user.version + 1,
            ..user.clone()
        };
        let marker = key(keys::org(&user.org_id), &keys::manager_sk(&user.email));
        let mut writes = vec![
            TransactWriteItem::builder().delete(versioned).build(),
            put_new(&self.table, self.user_item(&moved)?)?,
            delete(&self.table, marker)?,
        ];
        for e in enrolments {
            let old = key(keys::org(&e.org_id), &keys::enrolment_sk(&e.email, &e.enrolment_id));
            writes.push(self.put_enrolment(&Enrolment { email: pseudonym.to_string(), ..e.clone() })?);
            writes.push(delete(&self.table, old)?);
        }
        Ok(writes)
    }

    /// The write of a new erasure record.
    pub fn put_erasure(&self, erasure: &Erasure) -> Result<TransactWriteItem, StoreError> {
        put_new(&self.table, erasure_item(erasure)?)
    }

    pub async fn erasure(&self, org_id: &str, pseudonym: &str) -> Result<Option<Erasure>, StoreError> {
        self.get(keys::org(org_id), &keys::erasure_sk(pseudonym)).await
    }

    /// Runs the erasure `pseudonym` of `org_id` until it is done or `until` has passed: then it
    /// is handed over (its `handovers` counted, a change the table's stream delivers to the job
    /// runner again). The record as it ends; `None` when there is nothing to do.
    pub async fn run_erasure(
        &self,
        org_id: &str,
        pseudonym: &str,
        now: DateTime<Utc>,
        until: Instant,
    ) -> Result<Option<Erasure>, Error> {
        let Some(mut erasure) = self.erasure(org_id, pseudonym).await? else { return Ok(None) };
        let Some(email) = erasure.email.clone().filter(|_| erasure.status == ErasureStatus::Erasing) else {
            return Ok(None);
        };
        // A user created again under the address keeps what is its own.
        let reach = Reach { requested: erasure.requested_at };
        self.move_enrolments(org_id, &email, pseudonym, reach).await?;
        let before = erasure.clone();
        let stopped = match self.rewrite_prefixes(&erasure, &email, reach, until).await? {
            None => {
                // The imports' stage: `walked` names the last import a run finished.
                let after = erasure.walked.as_ref().filter(|(i, c)| *i == WALKED.len() && !c.is_empty());
                let after = after.map(|(_, c)| c.as_str());
                let last = self.rewrite_import_rows(org_id, &email, pseudonym, after, reach, until).await?;
                last.map(|id| (WALKED.len(), id))
            }
            at => at,
        };
        match stopped {
            None => {
                erasure.status = ErasureStatus::Erased;
                (erasure.email, erasure.name, erasure.finished_at, erasure.walked) = (None, None, Some(now), None);
                erasure.lease_until = None;
            }
            // The lease from the clock: a record delivered again late is held from now.
            at => erasure = Erasure { walked: at, ..erasure.handed_over(Utc::now().max(now)) },
        }
        if self.put_erasure_over(&erasure, &before).await? {
            return Ok(Some(erasure));
        }
        // Another run (or the lease sweep) wrote the record first: it stands as that one left it.
        Ok(self.erasure(org_id, pseudonym).await?)
    }

    /// Runs the erasure `pseudonym` of `org_id` to its end, run after run (the local server's and
    /// the tests' way; the job runner runs one at a time, handed over by the stream).
    pub async fn finish_erasure(
        &self,
        org_id: &str,
        pseudonym: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Erasure>, Error> {
        loop {
            let until = Instant::now() + crate::imports::jobs::SLICE;
            match self.run_erasure(org_id, pseudonym, now, until).await? {
                Some(e) if e.status == ErasureStatus::Erasing => continue,
                done => return Ok(done),
            }
        }
    }

    /// Up to `limit` erasures still going whose lease passed by `now` (their stream deliveries
    /// ran out, or a run died), first-lapsed first.
    pub async fn lapsed_erasures(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<Erasure>, Error> {
        self.lapsed(keys::ERASURES, now, limit).await
    }

    /// Hands an erasure whose lease passed to the job runner again: written over the record
    /// read with one more handover and a new lease — a change the table's stream delivers.
    /// Whether it was handed over (`false`: a run wrote the record since it was read).
    pub async fn hand_over_erasure(&self, read: &Erasure, now: DateTime<Utc>) -> Result<bool, Error> {
        self.put_erasure_over(&read.clone().handed_over(now), read).await
    }

    /// The record written over the one read (the same status and handovers): whether it was.
    /// A twin run that got there first has done the same, and that is not a failure.
    async fn put_erasure_over(&self, erasure: &Erasure, read: &Erasure) -> Result<bool, Error> {
        let item = erasure_item(erasure)?;
        let values =
            HashMap::from([(":s".to_string(), s("erasing")), (":h".to_string(), super::n(i64::from(read.handovers)))]);
        let write = put_if(&self.table, item, Some("#s = :s AND handovers = :h"), &[("#s", "status")], values)?;
        match self.send_writes(vec![write], vec![0], None).await {
            Ok(()) => Ok(true),
            Err(Error::Race(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The user's enrolments moved to the pseudonym, with their indexes (typed: their keys are
    /// made as every enrolment's), then its login and plans — those written up to the request.
    async fn move_enrolments(&self, org_id: &str, email: &str, pseudonym: &str, reach: Reach) -> Result<(), Error> {
        let mut moves = Vec::new();
        for e in self.enrolments(org_id, email).await?.into_iter().filter(|e| !reach.theirs(e.updated_at)) {
            let old = key(keys::org(org_id), &keys::enrolment_sk(email, &e.enrolment_id));
            let moved = Enrolment { email: pseudonym.to_string(), ..e };
            moves.push((self.put_enrolment(&moved)?, old));
        }
        for (prefix, written) in [(keys::login_sk(email), "last_login_at"), (keys::steps_prefix(email), "decided_at")] {
            let spec = QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(prefix));
            for item in self.query_all_items(&spec).await?.into_iter().filter(|i| !reach.theirs_item(i, written)) {
                if let Some((moved, old)) = rewritten(&item, email, pseudonym, None) {
                    moves.push((put(&self.table, moved)?, old));
                }
            }
        }
        self.send_moves(moves).await
    }

    /// Puts and deletes in pairs, [`MOVES_PER_TRANSACTION`] at a time.
    async fn send_moves(&self, moves: Vec<(TransactWriteItem, Item)>) -> Result<(), Error> {
        for batch in moves.chunks(MOVES_PER_TRANSACTION) {
            let mut writes = Vec::with_capacity(batch.len() * 2);
            for (put, old) in batch {
                writes.push(put.clone());
                writes.push(delete(&self.table, old.clone())?);
            }
            let from = (0..writes.len()).collect();
            self.send_writes(writes, from, None).await?;
        }
        Ok(())
    }

    /// The org's audit entries, notices, e-mail guards and days of expiries that hold the e-mail,
    /// rewritten page by page from where the last run stopped (`erasure.walked`): `None` when
    /// every page was read, else where this run stopped once `until` had passed.
    async fn rewrite_prefixes(
        &self,
        erasure: &Erasure,
        email: &str,
        reach: Reach,
        until: Instant,
    ) -> Result<Option<(usize, String)>, Error> {
        let name = erasure.name.as_deref();
        let (first, mut cursor) =
            erasure.walked.clone().map_or((0, None), |(i, c)| (i, Some(c).filter(|c| !c.is_empty())));
        for (i, prefix) in WALKED.iter().enumerate().skip(first) {
            let spec = reach.walk(&erasure.org_id, prefix);
            loop {
                let found = self.query_items(&spec, &PageRequest { limit: 500, cursor: cursor.take() }).await?;
                let mut moves = Vec::new();
                // An e-mail guard is keyed by its notice: when it was written is in the item.
                let guard = *prefix == "DELIVERY#";
                for item in found.items.iter().filter(|i| !(guard && reach.theirs_item(i, "updated_at"))) {
                    match rewritten(item, email, &erasure.pseudonym, name) {
                        Some((new, old)) if new.get(SK) != old.get(SK) => moves.push((put(&self.table, new)?, old)),
                        Some((new, _)) => self.put_over(item, new).await?,
                        None => {}
                    }
                }
                self.send_moves(moves).await?;
                match found.next_cursor {
                    Some(next) if Instant::now() >= until => return Ok(Some((i, next))),
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            if Instant::now() >= until && i + 1 < WALKED.len() {
                return Ok(Some((i + 1, String::new())));
            }
        }
        Ok(None)
    }

    /// `new` written over `read` in place: over its `version` where it has one (a day of expiries,
    /// an e-mail guard), bumped, so a concurrent change is not lost — the run fails, and the next
    /// reads the item again.
    async fn put_over(&self, read: &Item, mut new: Item) -> Result<(), Error> {
        let Some(version) = read.get("version").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok()) else {
            return Ok(self.put_item(new).await?);
        };
        new.insert("version".into(), super::n(version + 1));
        let values = HashMap::from([(":v".to_string(), super::n(version))]);
        let write = put_if(&self.table, new, Some("version = :v"), &[], values)?;
        self.send_writes(vec![write], vec![0], None).await
    }

    /// The rows of every finished import of the org that name the e-mail, chunk by chunk, from
    /// the import after `after`: `None` when every one was read, else the last one this run
    /// finished once `until` had passed.
    async fn rewrite_import_rows(
        &self,
        org_id: &str,
        email: &str,
        pseudonym: &str,
        after: Option<&str>,
        reach: Reach,
        until: Instant,
    ) -> Result<Option<String>, Error> {
        let spec = QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::import_sk("")));
        for item in self.query_all_items(&spec).await? {
            let record: Batch = super::from_item(item)?;
            // From the import after the last one a run finished (they are read in id order).
            if after.is_some_and(|done| record.import_id.as_str() <= done) {
                continue;
            }
            // A review not yet confirmed or a commit going on keeps its rows: rewritten, they
            // would license the pseudonym. Unconfirmed rows are removed by their TTL.
            // An import made after the request names a user created again, not the one erased.
            if matches!(record.status, ImportStatus::Reviewed | ImportStatus::Committing)
                || reach.theirs(record.created_at)
            {
                continue;
            }
            let rows = Rows::of(&record);
            let chunks = QuerySpec::table(rows.partition().to_string(), SortKey::Any);
            for chunk in self.query_all_items(&chunks).await? {
                let sk = chunk.get(SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                if let Some(index) = sk.strip_prefix("ROWS#").and_then(|i| i.parse::<usize>().ok()) {
                    let mut found = super::imports::chunk_rows(chunk)?;
                    let mut hit = false;
                    for row in found.iter_mut().filter(|r| r.email.eq_ignore_ascii_case(email)) {
                        (row.email, hit) = (pseudonym.to_string(), true);
                    }
                    if hit {
                        self.rewrite_row_chunk(&rows, index, &found).await?;
                    }
                } else if let Some((new, _)) = rewritten(&chunk, email, pseudonym, None) {
                    self.put_item(new).await?;
                }
            }
            if Instant::now() >= until {
                return Ok(Some(record.import_id));
            }
        }
        Ok(None)
    }
}

/// An erasure's item: in its org's partition, and among the leases (GSI2 `ERASURE`) while it
/// is going on.
fn erasure_item(erasure: &Erasure) -> Result<Item, StoreError> {
    let mut item =
        to_item("erasure", erasure, &[(PK, keys::org(&erasure.org_id)), (SK, keys::erasure_sk(&erasure.pseudonym))])?;
    if let (ErasureStatus::Erasing, Some(until)) = (erasure.status, erasure.lease_until) {
        item.insert(keys::GSI2PK.into(), s(keys::ERASURES));
        item.insert(keys::GSI2SK.into(), s(keys::lease_gsi2sk(until, &erasure.org_id, &erasure.pseudonym)));
    }
    Ok(item)
}

/// `item` with every whole occurrence of `email` replaced by `pseudonym` (and, when it held the
/// e-mail, of `name` by [`ERASED_NAME`]) in each string, keys included; with the key it had.
/// `None` when it holds no such e-mail.
fn rewritten(item: &Item, email: &str, pseudonym: &str, name: Option<&str>) -> Option<(Item, Item)> {
    let mut hit = false;
    let mut new: Item = item
        .iter()
        .map(|(k, v)| (k.clone(), replace_in(v, &mut |t| replace_whole(t, email, pseudonym), &mut hit)))
        .collect();
    if !hit {
        return None;
    }
    if let Some(name) = name {
        // The name in what the item says, never in its keys, type or ids.
        let mut named = false;
        new = new
            .into_iter()
            .map(|(k, v)| match KEPT_AS_IS.contains(&k.as_str()) || k.starts_with("GSI") {
                true => (k, v),
                false => (k, replace_in(&v, &mut |t| replace_name(t, name, ERASED_NAME), &mut named)),
            })
            .collect();
    }
    let old = [PK, SK].iter().filter_map(|k| Some((k.to_string(), item.get(*k)?.clone()))).collect();
    Some((new, old))
}

/// `value` with `replace` applied to each string in it, however deep; `hit` set when it changed one.
fn replace_in(
    value: &AttributeValue,
    replace: &mut dyn FnMut(&str) -> Option<String>,
    hit: &mut bool,
) -> AttributeValue {
    match value {
        AttributeValue::S(t) => match replace(t) {
            Some(r) => {
                *hit = true;
                AttributeValue::S(r)
            }
            None => value.clone(),
        },
        AttributeValue::Ss(list) => AttributeValue::Ss(
            list.iter()
                .map(|t| {
                    replace(t).map_or_else(
                        || t.clone(),
                        |r| {
                            *hit = true;
                            r
                        },
                    )
                })
                .collect(),
        ),
        AttributeValue::L(list) => AttributeValue::L(list.iter().map(|v| replace_in(v, replace, hit)).collect()),
        AttributeValue::M(map) => {
            AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), replace_in(v, replace, hit))).collect())
        }
        other => other.clone(),
    }
}
