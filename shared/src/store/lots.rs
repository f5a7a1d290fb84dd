//! Lots: their items (in the due-by-instant index while they may end, in the usage tree while
//! not expired), the org's balance, and the conditional updates that move their seats.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};

use super::keys::{self, GSI2PK, GSI2SK, PK, SK};
use super::records::tree_keys;
use super::users::{key, update};
use super::{n, put_new, s, to_item, Error, Page, PageRequest, QuerySpec, SortKey, Store, StoreError};
use crate::domain::lot::{Lot, LotStatus};
use crate::domain::org::Org;

/// Shuffles the parts of each lot in `lots` (adjacent: they share its end and its id's start)
/// into an order `spread` picks: the allocations of one company's many callers then take their
/// seats from different parts, where in order they would all try the first; and as the lot
/// fills, the first part with room is any of those with room alike (turning the parts instead
/// would send every caller whose start fell on a full run to the one part after it). Lots
/// themselves stay first-expiring first.
pub fn spread_parts(lots: &mut [Lot], spread: u128) {
    let mut rng = fastrand::Rng::with_seed((spread as u64) ^ ((spread >> 64) as u64));
    let mut start = 0;
    while start < lots.len() {
        let family = crate::domain::lot::family(&lots[start].lot_id).to_string();
        let len = lots[start..].iter().take_while(|l| crate::domain::lot::family(&l.lot_id) == family).count();
        rng.shuffle(&mut lots[start..start + len]);
        start += len;
    }
}

/// A lot's place in the due-by-instant index while it is active and ends: its wake
/// (`domain::expiry::wake`).
pub(crate) fn lot_due_key(lot: &Lot) -> Option<(String, String)> {
    let end = lot.valid_until.filter(|_| lot.status == LotStatus::Active)?;
    let wake = crate::domain::expiry::wake(end, lot.reminded_for);
    Some((keys::due(&lot.lot_id), keys::due_sk(wake, "LOT", &format!("{}#{}", lot.org_id, lot.lot_id))))
}

impl Store {
    /// The lot item of `org`; it is in the due-by-instant index while it has an end and is not
    /// expired, and in its org's usage tree while not expired.
    pub fn lot_item(&self, lot: &Lot, org: &Org) -> Result<super::Item, StoreError> {
        let mut attrs = vec![(PK, keys::org(&lot.org_id)), (SK, keys::lot_sk(lot.valid_until, &lot.lot_id))];
        if let Some((pk, sk)) = lot_due_key(lot) {
            attrs.push((GSI2PK, pk));
            attrs.push((GSI2SK, sk));
        }
        if lot.status == LotStatus::Active {
            attrs.extend(tree_keys(org, &keys::lot_in_tree(&lot.lot_id)));
        }
        attrs.extend(ends_keys(lot, org));
        to_item("lot", lot, &attrs)
    }

    /// The lots of the customers below `above` (a partner: its companies; the vendor root: every
    /// company) that end from `from` to `to`, soonest first, each whole (its other parts read by
    /// key and merged in).
    pub async fn lots_ending(
        &self,
        above: &Org,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Lot>, Error> {
        let (lo, hi) = keys::ends_between(from, to);
        let index = if above.parent_id.is_none() { keys::GSI3 } else { keys::GSI1 };
        let spec = QuerySpec::index(index, keys::ends(&above.org_id), SortKey::Between(lo, hi));
        let Page { items, next_cursor } = self.query::<Lot>(&spec, page).await?;
        let parts = self.other_parts(&items, super::Read::Eventual).await?;
        let mut whole = crate::domain::lot::merge(items.into_iter().chain(parts).collect());
        whole.sort_by(|a, b| (a.valid_until, &a.org_id, &a.lot_id).cmp(&(b.valid_until, &b.org_id, &b.lot_id)));
        Ok(Page { items: whole, next_cursor })
    }

    /// A new lot: one write per part it is spread over ([`Lot::split`]).
    pub fn put_new_lot(&self, lot: &Lot, org: &Org) -> Result<Vec<TransactWriteItem>, StoreError> {
        lot.clone().split().iter().map(|part| put_new(&self.table, self.lot_item(part, org)?)).collect()
    }

    /// Lots of an org, first-expiring first, each whole: a lot spread over parts is read with
    /// all of them (`BatchGetItem` of the keys its first part names) and merged into one.
    pub async fn lots(&self, org_id: &str, page: &PageRequest) -> Result<Page<Lot>, Error> {
        let spec = QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::lots_prefix().into()));
        let Page { items, next_cursor } = self.query::<Lot>(&spec, page).await?;
        let firsts: Vec<Lot> = items.into_iter().filter(|l| l.part_of.is_none()).collect();
        let parts = self.other_parts(&firsts, super::Read::Consistent).await?;
        Ok(Page { items: crate::domain::lot::merge(firsts.into_iter().chain(parts).collect()), next_cursor })
    }

    /// The other parts of lots read by their first parts (`BatchGetItem` of the keys each first
    /// part names: `{lot}-p01`…), to merge each lot whole.
    async fn other_parts(&self, firsts: &[Lot], read: super::Read) -> Result<Vec<Lot>, Error> {
        let rest: Vec<(String, String)> = firsts
            .iter()
            .flat_map(|l| {
                (1..l.parts)
                    .map(|k| (keys::org(&l.org_id), keys::lot_sk(l.valid_until, &format!("{}-p{k:02}", l.lot_id))))
            })
            .collect();
        Ok(self.get_many_read(rest.iter().map(|(pk, sk)| (pk.clone(), sk.as_str())).collect(), read).await?)
    }

    /// The seats an org can issue: its lots, first-expiring first, and its included seats (the
    /// counters are read only when the policy includes any).
    pub async fn balance(
        &self,
        org_id: &str,
        policy: &crate::domain::policy::Policy,
        now: DateTime<Utc>,
    ) -> Result<crate::domain::allocation::Balance, Error> {
        let mut lots = self.lots_ending_after(org_id, now).await?;
        spread_parts(&mut lots, uuid::Uuid::new_v4().as_u128());
        let included_in_use =
            if policy.seats_included > 0 { self.counters(org_id).await?.included_in_use.max(0) as u32 } else { 0 };
        Ok(crate::domain::allocation::Balance { lots, seats_included: policy.seats_included, included_in_use })
    }

    /// The lots of an org that end after `now` (or never), first-expiring first: what a balance
    /// holds. The lots' sort key starts with their end, so the lots that ended are not read —
    /// an org ten years old reads its live lots, not its forty expired ones.
    pub async fn lots_ending_after(&self, org_id: &str, now: DateTime<Utc>) -> Result<Vec<Lot>, Error> {
        let (from, to) = keys::lots_ending_after(now);
        self.query_all(&QuerySpec::table(keys::org(org_id), SortKey::Between(from, to))).await
    }

    /// Every lot of an org, first-expiring first.
    pub async fn all_lots(&self, org_id: &str) -> Result<Vec<Lot>, Error> {
        self.query_all(&QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::lots_prefix().into()))).await
    }

    /// Takes `count` seats from a lot, on the condition that it still has them: not expired,
    /// `in_use` within its quantity and `uses` within its cap afterwards.
    pub fn debit_lot(&self, lot: &Lot, count: u32) -> Result<TransactWriteItem, StoreError> {
        let in_use = (lot.quantity as i64 - count as i64, "SET in_use = in_use + :k, uses = uses + :k");
        self.take_from_lot(lot, count, Some(in_use.0), in_use.1)
    }

    /// One more licence from a seat its holder keeps (a renewal in the same lot): `uses` rises
    /// within its cap, `in_use` stays.
    pub fn use_seat_again(&self, lot: &Lot) -> Result<TransactWriteItem, StoreError> {
        self.take_from_lot(lot, 1, None, "SET uses = uses + :k")
    }

    /// `set` on an active lot of the quantity read, `count` more uses within its cap (and, with
    /// `max_in_use`, `in_use` at most that before the write). The quantity is part of the
    /// condition because the bounds are computed from it: a reduction that lowered it since the
    /// read makes this write lose its race rather than overfill the lot.
    fn take_from_lot(
        &self,
        lot: &Lot,
        count: u32,
        max_in_use: Option<i64>,
        set: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut values = HashMap::from([
            (":k".to_string(), n(count as i64)),
            (":active".to_string(), s("active")),
            (":quantity".to_string(), n(lot.quantity as i64)),
        ]);
        let mut condition = "#status = :active AND #quantity = :quantity".to_string();
        if let Some(max) = max_in_use {
            condition.push_str(" AND in_use <= :max_in_use");
            values.insert(":max_in_use".into(), n(max));
        }
        if let Some(cap) = lot.uses_per_seat {
            condition.push_str(" AND uses <= :max_uses");
            values.insert(":max_uses".into(), n(cap as i64 * lot.quantity as i64 - count as i64));
        }
        update(
            &self.table,
            key(keys::org(&lot.org_id), keys::lot_sk(lot.valid_until, &lot.lot_id)),
            set.into(),
            Some(condition),
            HashMap::from([
                ("#status".to_string(), "status".to_string()),
                ("#quantity".to_string(), "quantity".to_string()),
            ]),
            values,
        )
    }

    /// Removes `seats` unissued seats from a lot (a reduction): `quantity` falls and `reduced`
    /// rises, on the condition that the lot is active, still of the quantity read, and that what
    /// is left still holds its seats in use and, under a cap, its uses (docs/domain.md#orders-and-lots).
    pub fn reduce_lot(&self, lot: &Lot, seats: u32) -> Result<TransactWriteItem, StoreError> {
        let left = lot.quantity as i64 - seats as i64;
        let mut values = HashMap::from([
            (":k".to_string(), n(seats as i64)),
            (":zero".to_string(), n(0)),
            (":active".to_string(), s("active")),
            (":quantity".to_string(), n(lot.quantity as i64)),
            (":left".to_string(), n(left)),
        ]);
        let mut condition = "#status = :active AND #quantity = :quantity AND in_use <= :left".to_string();
        if let Some(cap) = lot.uses_per_seat {
            condition.push_str(" AND uses <= :max_uses");
            values.insert(":max_uses".into(), n(cap as i64 * left));
        }
        update(
            &self.table,
            key(keys::org(&lot.org_id), keys::lot_sk(lot.valid_until, &lot.lot_id)),
            "SET #quantity = #quantity - :k, reduced = if_not_exists(reduced, :zero) + :k".into(),
            Some(condition),
            HashMap::from([
                ("#status".to_string(), "status".to_string()),
                ("#quantity".to_string(), "quantity".to_string()),
            ]),
            values,
        )
    }

    /// Gives `count` seats back to a lot after a release: `in_use` falls, `uses` stays (a
    /// licence was issued).
    pub fn credit_lot(
        &self,
        org_id: &str,
        lot_id: &str,
        lot_valid_until: Option<DateTime<Utc>>,
        count: u32,
    ) -> Result<TransactWriteItem, StoreError> {
        self.return_seats(org_id, lot_id, lot_valid_until, count, "SET in_use = in_use - :k")
    }

    /// Returns `count` reserved seats that issued no licence: `in_use` and `uses` both fall.
    pub fn unreserve_lot(
        &self,
        org_id: &str,
        lot_id: &str,
        lot_valid_until: Option<DateTime<Utc>>,
        count: u32,
    ) -> Result<TransactWriteItem, StoreError> {
        self.return_seats(org_id, lot_id, lot_valid_until, count, "SET in_use = in_use - :k, uses = uses - :k")
    }

    fn return_seats(
        &self,
        org_id: &str,
        lot_id: &str,
        lot_valid_until: Option<DateTime<Utc>>,
        count: u32,
        expression: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        update(
            &self.table,
            key(keys::org(org_id), keys::lot_sk(lot_valid_until, lot_id)),
            expression.into(),
            Some("attribute_exists(PK) AND in_use >= :k".into()),
            HashMap::new(),
            HashMap::from([(":k".to_string(), n(count as i64))]),
        )
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

/// A lot's keys among the lots ending (its first part, when it has an end): GSI1 under the org
/// below the vendor its company sits under (its partner, also for a department of a company),
/// GSI3 under the vendor root (store/keys.rs, the renewals ahead).
pub fn ends_keys(lot: &Lot, org: &Org) -> Vec<(&'static str, String)> {
    let (Some(end), None) = (lot.valid_until, lot.part_of.as_ref()) else { return Vec::new() };
    let sk = keys::ends_sk(end, &lot.org_id, &lot.lot_id);
    let mut attrs = vec![(keys::GSI3PK, keys::ends(org.root())), (keys::GSI3SK, sk.clone())];
    if let Some(parent) = org.ancestors.get(1).or(org.parent_id.as_ref()) {
        attrs.extend([(keys::GSI1PK, keys::ends(parent)), (keys::GSI1SK, sk)]);
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lot(id: &str, end: &str) -> Lot {
        serde_json::from_value(serde_json::json!({
            "lot_id": id, "org_id": "c", "order_id": "o", "quantity": 16, "in_use": 0, "uses": 0,
            "valid_from": "2026-01-15T09:00:00Z", "valid_until": end, "status": "active",
        }))
        .unwrap()
    }

    #[test]
    fn each_lots_parts_are_shuffled_and_lots_keep_their_order() {
        let ids = |lots: &[Lot]| lots.iter().map(|l| l.lot_id.clone()).collect::<Vec<_>>();
        let early = "2026-06-01T00:00:00Z";
        let late = "2027-01-15T09:00:00Z";
        let read = || vec![lot("a", early), lot("b", late), lot("b-p01", late), lot("b-p02", late), lot("c", late)];
        let mut orders = std::collections::BTreeSet::new();
        for spread in 0..200u128 {
            let mut lots = read();
            spread_parts(&mut lots, spread * 0x1234_5678_9abc_def1);
            let got = ids(&lots);
            assert_eq!((got[0].as_str(), got[4].as_str()), ("a", "c"), "lots keep their order");
            let mut parts = got[1..4].to_vec();
            orders.insert(parts.clone());
            parts.sort();
            assert_eq!(parts, ["b", "b-p01", "b-p02"], "the lot's parts, each once");
        }
        assert_eq!(orders.len(), 6, "every order of three parts comes up");
    }

    /// With the first parts full, the first part with room is any of the others alike: turning
    /// the parts instead would pick the part after the full run three times in four.
    #[test]
    fn the_first_part_with_room_is_any_part_with_room_alike() {
        let end = "2027-01-15T09:00:00Z";
        let mut first = HashMap::new();
        for spread in 0..4000u128 {
            let mut lots: Vec<Lot> = ["b", "b-p01", "b-p02", "b-p03"].iter().map(|id| lot(id, end)).collect();
            for full in &mut lots[..2] {
                full.in_use = full.quantity;
            }
            spread_parts(&mut lots, spread.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835));
            let with_room = lots.iter().find(|l| l.in_use < l.quantity).unwrap().lot_id.clone();
            *first.entry(with_room).or_insert(0) += 1;
        }
        for part in ["b-p02", "b-p03"] {
            let share = first[part] as f64 / 4000.0;
            assert!((0.45..=0.55).contains(&share), "{part}: {share} of the picks ({first:?})");
        }
    }
}
