//! The due-by-instant index (GSI2 `DUE#{shard}`), notices sent at most once, and the expiry of a
//! lot (the expiry of licences and enrolments is decided in `domain::decide::expire`).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::keys::{self, GSI2, GSI2PK, GSI2SK, PK, SK};
use super::{
    from_index_item, n, put_if, put_new, s, to_item, Error, Item, PageRequest, QuerySpec, SortKey, Store, StoreError,
    Unreadable,
};
use crate::domain::enrolment::Enrolment;
use crate::domain::expiry::Ending;
use crate::domain::expiry_day::ExpiryDay;
use crate::domain::lot::Lot;
use crate::domain::notice::{Notice, NoticeKind};

/// One page of what the due-by-instant index holds for the sweep ([`Store::due_page`]).
#[derive(Debug, Default)]
pub struct DueItems {
    /// Lots and licences.
    pub due: Vec<Ending>,
    pub enrolments: Vec<Enrolment>,
    /// Days of expiries with a notice to send: (org, the org's date).
    pub days: Vec<(String, NaiveDate)>,
    /// Items the query returned.
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
            "expiry_day" => from_index_item::<ExpiryDay>(item).map(|d| self.days.push((d.org_id, d.date))),
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

/// The items a page of the due index holds at most as the sweep reads it (a page is swept before
/// the next is read, so the sweep's memory follows this, not how much falls due).
pub const DUE_PAGE: i32 = 500;

impl Store {
    /// One page of shard `shard` of the due-by-instant index: the items whose wake has come by
    /// `now` (licences and lots at their reminder horizon or their end, enrolments at their end,
    /// days of expiries at their next notice), from `cursor`; and the cursor of the next page.
    pub async fn due_page(
        &self,
        shard: u8,
        now: DateTime<Utc>,
        cursor: Option<String>,
        limit: i32,
    ) -> Result<(DueItems, Option<String>), Error> {
        let bound =
            SortKey::Between(keys::DUE_WAKE.to_string(), format!("{}{}~", keys::DUE_WAKE, keys::sort_time(now)));
        let spec = QuerySpec::index(GSI2, format!("DUE#{shard}"), bound);
        let page = self.query_items(&spec, &PageRequest { limit, cursor }).await?;
        let mut found = DueItems { read: page.items.len(), ..Default::default() };
        for item in page.items {
            found.add(item);
        }
        Ok((found, page.next_cursor))
    }

    /// Moves the items of shard `shard` still keyed by their end (as written before items were
    /// keyed by wake) and ending by `now` + 72 hours to their wake key, each on the condition
    /// that its key is still the one read, `limit` a page; how many were read, the ones that
    /// could not be (left as they are, each naming its org) and whether it got through them all
    /// (it reads no further page after `deadline`: what is left stays for the next run).
    pub async fn rekey_earlier_due(
        &self,
        shard: u8,
        now: DateTime<Utc>,
        limit: i32,
        deadline: std::time::Instant,
    ) -> Result<(usize, Vec<Unreadable>, bool), Error> {
        let until = now + chrono::Duration::hours(crate::domain::expiry::DUE_AHEAD_HOURS);
        // Keys of before start with the end's year: a digit, sorted before `W#`.
        let bound = SortKey::Between("0".to_string(), format!("{}~", keys::sort_time(until)));
        let spec = QuerySpec::index(GSI2, format!("DUE#{shard}"), bound);
        let (mut read, mut unreadable) = (0, Vec::new());
        let mut cursor = None;
        loop {
            let page = self.query_items(&spec, &PageRequest { limit, cursor }).await?;
            read += page.items.len();
            for item in page.items {
                match self.wake_key(&item) {
                    Ok(Some(key)) => self.move_due_key(&item, key).await?,
                    Ok(None) => {}
                    Err(u) => unreadable.push(u),
                }
            }
            match page.next_cursor {
                None => return Ok((read, unreadable, true)),
                Some(_) if std::time::Instant::now() >= deadline => return Ok((read, unreadable, false)),
                Some(next) => cursor = Some(next),
            }
        }
    }

    /// The wake key an item in the due index has under today's keys.
    fn wake_key(&self, item: &Item) -> Result<Option<String>, Unreadable> {
        let kind = item.get(keys::TYPE).and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or_default();
        Ok(match kind {
            "user" => super::users::user_due_key(&from_index_item(item.clone())?),
            "lot" => super::lots::lot_due_key(&from_index_item(item.clone())?),
            "enrolment" => super::users::enrolment_due_key(&from_index_item(item.clone())?),
            _ => None,
        }
        .map(|(_, sk)| sk))
    }

    async fn move_due_key(&self, item: &Item, key: String) -> Result<(), StoreError> {
        let Some(old) = item.get(keys::GSI2SK).cloned() else { return Ok(()) };
        let (Some(pk), Some(sk)) = (item.get(PK), item.get(SK)) else { return Ok(()) };
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, pk.clone())
            .key(SK, sk.clone())
            .update_expression("SET GSI2SK = :new")
            .condition_expression("GSI2SK = :old")
            .expression_attribute_values(":new", s(key))
            .expression_attribute_values(":old", old);
        match super::send(|| update.clone().send()).await {
            // Rewritten meanwhile: the writer keyed it by its wake.
            Ok(_) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// An org's day of expiries (its own `date`), read strongly consistent.
    pub async fn expiry_day(&self, org_id: &str, date: NaiveDate) -> Result<Option<ExpiryDay>, StoreError> {
        self.get(keys::org(org_id), &keys::expiry_day_sk(date)).await
    }

    /// Writes `day` over the version that was read (a day not stored yet: while none is),
    /// bumping it; it is in the due index at its next notice while it has one.
    pub fn put_expiry_day(&self, day: &ExpiryDay) -> Result<TransactWriteItem, StoreError> {
        let mut next = day.clone();
        next.version = day.version + 1;
        let id = format!("{}#{}", day.org_id, day.date);
        let mut attrs = vec![(PK, keys::org(&day.org_id)), (SK, keys::expiry_day_sk(day.date))];
        if let Some(wake) = next.wake() {
            attrs.push((GSI2PK, keys::due(&id)));
            attrs.push((GSI2SK, keys::due_sk(wake, "DAY", &id)));
        }
        let item = to_item("expiry_day", &next, &attrs)?;
        if day.version == 0 {
            return put_if(&self.table, item, Some("attribute_not_exists(PK)"), &[], HashMap::new());
        }
        let values = HashMap::from([(":v".to_string(), n(day.version as i64))]);
        put_if(&self.table, item, Some("version = :v"), &[], values)
    }

    /// Marks a lot as merged into its day of expiries: in the due index at its end from now on.
    /// On the condition that it is still active and not merged (its end never changes), so a
    /// lot is merged once; its seats in use, changed by allocations meanwhile, are left alone.
    pub fn mark_lot_reminded(&self, lot: &Lot) -> Result<TransactWriteItem, StoreError> {
        let mut marked = lot.clone();
        marked.reminded_for = lot.valid_until;
        let Some((_, due_sk)) = super::lots::lot_due_key(&marked) else {
            return Err(StoreError::Other(format!("lot {} has no end to be reminded of", lot.lot_id)));
        };
        let end = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(lot.valid_until)
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let key = HashMap::from([
            (PK.to_string(), s(keys::org(&lot.org_id))),
            (SK.to_string(), s(keys::lot_sk(lot.valid_until, &lot.lot_id))),
        ]);
        super::users::update(
            &self.table,
            key,
            "SET reminded_for = :end, GSI2SK = :sk".into(),
            Some("#status = :active AND attribute_not_exists(reminded_for)".into()),
            HashMap::from([("#status".to_string(), "status".to_string())]),
            HashMap::from([
                (":end".to_string(), end),
                (":sk".to_string(), s(due_sk)),
                (":active".to_string(), s("active")),
            ]),
        )
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
