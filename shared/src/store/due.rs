//! The due-by-instant index (GSI2 `DUE#{shard}`), notices sent at most once, and the expiry of a
//! lot (the expiry of licences and enrolments is decided in `domain::decide::expire`).

use std::collections::{BTreeSet, HashMap};

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
    /// The forecast's guard, keyed by the first of its month.
    pub async fn put_notice_once(&self, notice: &Notice, date: NaiveDate) -> Result<bool, StoreError> {
        self.put_guarded(notice, keys::notice_key_sk(notice.kind.as_str(), date)).await
    }

    /// [`Store::put_notice_once`] for a day's notice, `date` being the org's own date.
    pub async fn put_day_notice_once(&self, notice: &Notice, date: NaiveDate) -> Result<bool, StoreError> {
        self.put_guarded(notice, keys::notice_day_sk(notice.kind.as_str(), date)).await
    }

    /// What was told of an org's day (its own `date`) in notices of `kind`: all of it (its guard
    /// is there), or, from before notices were grouped by the org's own date, the UTC dates among
    /// `utc_dates` whose notice of that kind went out. Reads the day's guard alone once it is
    /// there.
    pub async fn day_told(
        &self,
        org_id: &str,
        kind: NoticeKind,
        date: NaiveDate,
        utc_dates: &BTreeSet<NaiveDate>,
    ) -> Result<Told, StoreError> {
        let pk = keys::org(org_id);
        if self.get::<serde_json::Value>(pk.clone(), &keys::notice_day_sk(kind.as_str(), date)).await?.is_some() {
            return Ok(Told::Day);
        }
        let mut before = BTreeSet::new();
        for utc in utc_dates {
            if self.get::<serde_json::Value>(pk.clone(), &keys::notice_key_sk(kind.as_str(), *utc)).await?.is_some() {
                before.insert(*utc);
            }
        }
        Ok(Told::Before(before))
    }

    async fn put_guarded(&self, notice: &Notice, guard_sk: String) -> Result<bool, StoreError> {
        let guard: Item = HashMap::from([
            (PK.to_string(), s(keys::org(&notice.org_id))),
            (SK.to_string(), s(guard_sk)),
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

/// What [`Store::day_told`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Told {
    /// The day's notice of that kind was sent.
    Day,
    /// Not yet; these UTC dates were told before the switch to the org's own dates.
    Before(BTreeSet<NaiveDate>),
}
