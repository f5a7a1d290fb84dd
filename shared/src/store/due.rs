//! The due-by-instant index (GSI2 `DUE#{shard}`), notices sent at most once, and the expiry of a
//! lot (the expiry of licences and enrolments is decided in `domain::decide::expire`).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::keys::{self, GSI2, PK, SK};
use super::{from_index_item, put_new, s, Error, Item, QuerySpec, SortKey, Store, StoreError, Unreadable};
use crate::domain::enrolment::Enrolment;
use crate::domain::expiry::Ending;
use crate::domain::notice::{Notice, NoticeKind};

/// What the due-by-instant index holds up to an instant ([`Store::due_until`]).
#[derive(Debug, Default)]
pub struct DueItems {
    /// Lots and licences.
    pub due: Vec<Ending>,
    pub enrolments: Vec<Enrolment>,
    /// Items the queries returned.
    pub read: usize,
    /// Items that could not be read: their orgs are named, the others swept.
    pub unreadable: Vec<Unreadable>,
}

impl DueItems {
    fn add(&mut self, item: Item) {
        let kind = item.get(keys::TYPE).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let read = match kind.as_str() {
            "lot" => from_index_item(item).map(|lot| self.due.push(Ending::Lot(lot))),
            "user" => from_index_item(item).map(|user| self.due.push(Ending::User(user))),
            "enrolment" => from_index_item(item).map(|e| self.enrolments.push(e)),
            other => {
                tracing::warn!(kind = other, "unexpected item in the due index");
                Ok(())
            }
        };
        if let Err(unreadable) = read {
            self.unreadable.push(unreadable);
        }
    }
}

impl Store {
    /// Everything in the due-by-instant index ending at or before `until` — lots and licences,
    /// and enrolments apart — how many items the queries returned (the sweep reads nothing else
    /// of the index), and the items that could not be read, each with its org.
    pub async fn due_until(&self, until: DateTime<Utc>) -> Result<DueItems, Error> {
        let bound = format!("{}~", keys::sort_time(until));
        let mut found = DueItems::default();
        for shard in 0..keys::DUE_SHARDS {
            let spec = QuerySpec::index(GSI2, keys::due_shard(shard), SortKey::AtMost(bound.clone()));
            let items = self.query_all_items(&spec).await?;
            found.read += items.len();
            for item in items {
                found.add(item);
            }
        }
        Ok(found)
    }

    /// Whether a notice of `kind` was stored for the org and date (its guard is there).
    pub async fn notice_stored(&self, org_id: &str, kind: NoticeKind, date: NaiveDate) -> Result<bool, StoreError> {
        let guard: Option<serde_json::Value> =
            self.get(keys::org(org_id), &keys::notice_key_sk(kind.as_str(), date)).await?;
        Ok(guard.is_some())
    }

    /// Stores `notice` unless one of its kind was stored for the org and date already: the guard
    /// item and the notice are written together or not at all. `false` when it was sent before.
    pub async fn put_notice_once(&self, notice: &Notice, date: NaiveDate) -> Result<bool, StoreError> {
        let kind = notice.kind.as_str();
        let guard: Item = HashMap::from([
            (PK.to_string(), s(keys::org(&notice.org_id))),
            (SK.to_string(), s(keys::notice_key_sk(kind, date))),
            (keys::TYPE.to_string(), s("notice_key")),
            ("notice_id".to_string(), s(notice.notice_id.clone())),
        ]);
        match self.transact(vec![put_new(&self.table, guard)?, self.put_notice(notice)?]).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
