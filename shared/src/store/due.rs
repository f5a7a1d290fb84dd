//! The due-by-instant index (GSI2 `DUE#{shard}`), notices sent at most once, and the expiry of a
//! lot (the expiry of licences and enrolments is decided in `domain::decide::expire`).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::keys::{self, GSI2, PK, SK};
use super::{from_item, put_new, s, Error, Item, PageRequest, QuerySpec, SortKey, Store, StoreError};
use crate::domain::enrolment::Enrolment;
use crate::domain::expiry::Due;
use crate::domain::lot::Lot;
use crate::domain::notice::Notice;

impl Store {
    /// Everything in the due-by-instant index ending at or before `until` — lots and licences,
    /// and enrolments apart — and how many items the queries returned (the sweep reads nothing
    /// else of the index).
    pub async fn due_until(&self, until: DateTime<Utc>) -> Result<(Vec<Due>, Vec<Enrolment>, usize), Error> {
        let bound = format!("{}~", keys::sort_time(until));
        let mut due = Vec::new();
        let mut enrolments = Vec::new();
        let mut read = 0;
        for shard in 0..keys::DUE_SHARDS {
            let spec = QuerySpec::index(GSI2, keys::due_shard(shard), SortKey::AtMost(bound.clone()));
            let mut page = PageRequest { limit: 1000, cursor: None };
            loop {
                let found = self.query_items(&spec, &page).await?;
                read += found.items.len();
                for item in found.items {
                    let kind = item.get(keys::TYPE).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                    match kind.as_str() {
                        "lot" => due.push(Due::Lot(from_item(item)?)),
                        "user" => due.push(Due::User(from_item(item)?)),
                        "enrolment" => enrolments.push(from_item(item)?),
                        other => tracing::warn!(kind = other, "unexpected item in the due index"),
                    }
                }
                match found.next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok((due, enrolments, read))
    }

    /// Stores `notice` unless one of its kind was stored for the org and date already: the guard
    /// item and the notice are written together or not at all. `false` when it was sent before.
    pub async fn put_notice_once(&self, notice: &Notice, date: NaiveDate) -> Result<bool, StoreError> {
        let kind =
            serde_json::to_value(notice.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let guard: Item = HashMap::from([
            (PK.to_string(), s(keys::org(&notice.org_id))),
            (SK.to_string(), s(keys::notice_key_sk(&kind, date))),
            (keys::TYPE.to_string(), s("notice_key")),
            ("notice_id".to_string(), s(notice.notice_id.clone())),
        ]);
        match self.transact(vec![put_new(&self.table, guard)?, self.put_notice(notice)?]).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Marks a lot expired (its unissued licences lapse) and takes it out of the due index, once:
    /// one conditional `UpdateItem` (the lot is one item; a one-item transaction costs twice the
    /// capacity). `false` when the lot is not active any more, or not under this key (its end
    /// changed): nothing is written then.
    pub async fn expire_lot(&self, lot: &Lot) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(keys::org(&lot.org_id)))
            .key(SK, s(keys::lot_sk(lot.valid_until, &lot.lot_id)))
            .update_expression("SET #status = :expired REMOVE GSI2PK, GSI2SK, GSI4PK, GSI4SK")
            .condition_expression("#status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":expired", s("expired"))
            .expression_attribute_values(":active", s("active"));
        match super::send(|| update.clone().send()).await {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
