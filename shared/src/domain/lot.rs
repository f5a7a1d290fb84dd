//! Lots: the licences an assigned order created (docs/domain.md#orders-and-lots).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LotStatus {
    Active,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lot {
    pub lot_id: String,
    pub org_id: String,
    pub order_id: String,
    /// Seats now: those ordered less those reductions removed (`reduced`).
    pub quantity: u32,
    /// Seats reduction orders removed from this lot (docs/domain.md#orders-and-lots); 0 for a
    /// lot stored before reductions existed.
    #[serde(default)]
    pub reduced: u32,
    /// Seats held now.
    pub in_use: u32,
    /// Licences ever issued from this lot, renewals included; it only rises.
    pub uses: u32,
    /// The `uses_per_seat` cap in force when the lot was created (`None`: no cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_per_seat: Option<u32>,
    pub valid_from: DateTime<Utc>,
    /// `None` under `term_starts = activation`: unissued licences do not lapse.
    pub valid_until: Option<DateTime<Utc>>,
    /// `expired` once the expire sweep materialised it; access is computed from time anyway.
    pub status: LotStatus,
    /// A lot an upgrade added, to the end of the licence year: the part of that year it is
    /// charged for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pro_rata_fraction: Option<f64>,
    /// The parts a large lot's seats are spread over ([`Lot::split`]), on every part; 0 for a
    /// lot stored whole (every lot stored before parts existed): it reads as one part.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub parts: u32,
    /// On a part other than the first, the lot it is part of (the first part bears the lot's
    /// id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_of: Option<String>,
    /// The end whose reminder horizon the expire sweep has passed (the lot is then in its
    /// day's expiry summary, and in the due index at its end): see `domain::expiry_day`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded_for: Option<DateTime<Utc>>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The fewest seats a part of a lot holds: a lot of fewer than twice this is stored whole.
pub const PART_SEATS: u32 = 16;

/// The most parts one lot is spread over: each is one write of the transaction that creates the
/// lot (docs/architecture.md#seat-parts).
pub const MAX_PARTS: u32 = 32;

/// The lot `lot_id` names: itself, or the lot a part (`{lot}-p{k}`) belongs to.
pub fn family(lot_id: &str) -> &str {
    match lot_id.rsplit_once("-p") {
        Some((lot, k)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => lot,
        _ => lot_id,
    }
}

/// The number of the part `lot_id` names: `k` for `{lot}-p{k}`, 0 for a lot's first part (or a
/// lot stored whole).
pub fn part_number(lot_id: &str) -> u32 {
    match lot_id.rsplit_once("-p") {
        Some((_, k)) if family(lot_id) != lot_id => k.parse().unwrap_or(0),
        _ => 0,
    }
}

/// Folds the parts of each lot into one lot, for whoever reads lots as the vendor sold them
/// (the lots list, a report's lots, a notice): seats, reductions, seats in use and uses summed
/// under the lot's id, in the order each lot first appears. A part whose first part is not
/// among `lots` stands for its lot with what it holds.
pub fn merge(lots: Vec<Lot>) -> Vec<Lot> {
    let mut merged: Vec<Lot> = Vec::with_capacity(lots.len());
    for lot in lots {
        let id = family(&lot.lot_id).to_string();
        match merged.iter_mut().find(|m| m.lot_id == id) {
            Some(whole) => {
                whole.quantity += lot.quantity;
                whole.reduced += lot.reduced;
                whole.in_use += lot.in_use;
                whole.uses += lot.uses;
                if lot.part_of.is_none() {
                    // The first part holds the lot's own record (its status as the sweep left it).
                    whole.status = lot.status;
                }
            }
            None => merged.push(Lot { lot_id: id, part_of: None, ..lot }),
        }
    }
    merged
}

impl Lot {
    /// A new active lot of `quantity` seats of `order_id` for `org_id`, from `valid_from` to
    /// `valid_until`: nothing in use, no cap on uses, stored whole until [`Lot::split`].
    pub fn new(
        (lot_id, org_id, order_id): (String, String, String),
        quantity: u32,
        valid_from: DateTime<Utc>,
        valid_until: Option<DateTime<Utc>>,
    ) -> Lot {
        Lot {
            lot_id,
            org_id,
            order_id,
            quantity,
            reduced: 0,
            in_use: 0,
            uses: 0,
            uses_per_seat: None,
            valid_from,
            valid_until,
            status: LotStatus::Active,
            pro_rata_fraction: None,
            parts: 0,
            part_of: None,
            reminded_for: None,
        }
    }

    /// A new lot as stored: a lot of at least twice [`PART_SEATS`] seats is spread over parts
    /// (at most [`MAX_PARTS`]), each a lot of its own share of the seats under `{lot}-p{k}`
    /// (the first keeps the lot's id), so a company's allocations at the start of term take
    /// seats from different items instead of queueing on one. The seats' rules hold across the
    /// parts as they hold across lots: a licence comes from any part with room, and the lot is
    /// short only when all its parts are.
    pub fn split(self) -> Vec<Lot> {
        let n = (self.quantity / PART_SEATS).min(MAX_PARTS);
        if n < 2 || self.in_use > 0 || self.uses > 0 || self.reduced > 0 || self.parts > 0 {
            return vec![self];
        }
        (0..n)
            .map(|k| {
                let share = self.quantity / n + u32::from(k < self.quantity % n);
                let (lot_id, part_of) = match k {
                    0 => (self.lot_id.clone(), None),
                    _ => (format!("{}-p{k:02}", self.lot_id), Some(self.lot_id.clone())),
                };
                Lot { lot_id, part_of, quantity: share, parts: n, ..self.clone() }
            })
            .collect()
    }

    /// How many more users can get a licence from this lot now: `quantity − in_use`, capped by
    /// `N × quantity − uses` when `uses_per_seat` is N; nothing once the lot has ended.
    pub fn available(&self, now: DateTime<Utc>) -> u32 {
        if self.status_at(now) == LotStatus::Expired {
            return 0;
        }
        let free = self.quantity.saturating_sub(self.in_use);
        match self.uses_per_seat {
            Some(n) => free.min((n as u64 * self.quantity as u64).saturating_sub(self.uses as u64) as u32),
            None => free,
        }
    }

    /// How many seats a reduction may remove from this lot now: seats nobody holds whose
    /// licences were never issued. Free seats (`quantity − in_use`) and, under `uses_per_seat`
    /// N, no more than the whole seats the cap has left, `⌊(N × quantity − uses) / N⌋`, so the
    /// lot keeps `in_use ≤ quantity` and `uses ≤ N × quantity`; nothing once the lot has ended.
    pub fn unissued(&self, now: DateTime<Utc>) -> u32 {
        if self.status_at(now) == LotStatus::Expired {
            return 0;
        }
        let free = self.quantity.saturating_sub(self.in_use);
        match self.uses_per_seat {
            Some(n) if n > 0 => {
                let left = (n as u64 * self.quantity as u64).saturating_sub(self.uses as u64);
                free.min((left / n as u64) as u32)
            }
            Some(_) => 0,
            None => free,
        }
    }

    pub fn status_at(&self, now: DateTime<Utc>) -> LotStatus {
        match self.valid_until {
            Some(end) if end <= now => LotStatus::Expired,
            _ => self.status,
        }
    }

    /// The public view (`GET /v1/orgs/{org_id}/lots`, docs/api.md#orders-and-lots).
    pub fn view(&self, now: DateTime<Utc>) -> serde_json::Value {
        let mut v = serde_json::json!({
            "lot_id": self.lot_id,
            "order_id": self.order_id,
            "org_id": self.org_id,
            "quantity": self.quantity,
            "reduced": self.reduced,
            "in_use": self.in_use,
            "uses": self.uses,
            "available": self.available(now),
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "status": self.status_at(now),
        });
        if let Some(fraction) = self.pro_rata_fraction {
            v["pro_rata_fraction"] = serde_json::json!(fraction);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lot(quantity: u32, in_use: u32, uses: u32, cap: Option<u32>) -> Lot {
        Lot {
            lot_id: "l".into(),
            org_id: "c".into(),
            order_id: "o".into(),
            quantity,
            reduced: 0,
            in_use,
            uses,
            uses_per_seat: cap,
            valid_from: "2026-01-15T09:00:00Z".parse().unwrap(),
            valid_until: Some("2027-01-15T09:00:00Z".parse().unwrap()),
            status: LotStatus::Active,
            pro_rata_fraction: None,
            parts: 0,
            part_of: None,
            reminded_for: None,
        }
    }

    #[test]
    fn a_large_lot_is_spread_over_parts_that_merge_back_into_it() {
        let whole = lot(1000, 0, 0, Some(2));
        let parts = whole.clone().split();
        assert_eq!(parts.len(), MAX_PARTS as usize);
        assert_eq!(parts.iter().map(|p| p.quantity).sum::<u32>(), 1000);
        assert!(parts.iter().all(|p| p.quantity >= 31 && p.quantity <= 32 && p.parts == MAX_PARTS));
        assert_eq!((parts[0].lot_id.as_str(), parts[0].part_of.as_deref()), ("l", None));
        assert_eq!((parts[7].lot_id.as_str(), parts[7].part_of.as_deref()), ("l-p07", Some("l")));
        assert!(parts.iter().all(|p| family(&p.lot_id) == "l"));
        let mut used = parts;
        (used[3].in_use, used[3].uses) = (5, 6);
        used[9].in_use = 1;
        let merged = merge(used);
        assert_eq!(merged.len(), 1);
        let now = "2026-06-01T00:00:00Z".parse().unwrap();
        assert_eq!((merged[0].quantity, merged[0].in_use, merged[0].uses), (1000, 6, 6));
        assert_eq!(merged[0].view(now)["lot_id"], "l");
        assert_eq!(merged[0].available(now), 994);

        assert_eq!(lot(31, 0, 0, None).split().len(), 1, "fewer than two parts' seats stay whole");
        assert_eq!(lot(32, 0, 0, None).split().len(), 2);
        assert_eq!(lot(100, 1, 1, None).split().len(), 1, "a lot in use is never split again");
        assert_eq!(family("lot_ab-p03"), "lot_ab");
        assert_eq!(family("lot_ab-pX"), "lot_ab-pX");
        assert_eq!((part_number("lot_ab-p03"), part_number("lot_ab"), part_number("lot_ab-pX")), (3, 0, 0));
    }

    #[test]
    fn available_is_free_seats_capped_by_uses() {
        let now = "2026-06-01T00:00:00Z".parse().unwrap();
        assert_eq!(lot(10, 4, 4, None).available(now), 6);
        assert_eq!(lot(10, 4, 30, None).available(now), 6);
        assert_eq!(lot(10, 4, 28, Some(3)).available(now), 2);
        assert_eq!(lot(10, 0, 10, Some(1)).available(now), 0);
    }

    #[test]
    fn unissued_seats_are_free_seats_whose_uses_the_cap_still_holds_whole() {
        let now = "2026-06-01T00:00:00Z".parse().unwrap();
        assert_eq!(lot(25, 18, 18, None).unissued(now), 7);
        assert_eq!(lot(25, 18, 40, None).unissued(now), 7, "without a cap, past uses take no seat");
        // 10 seats × 3 uses: 28 issued leave 2 uses, not one whole seat's 3.
        assert_eq!(lot(10, 4, 28, Some(3)).unissued(now), 0);
        assert_eq!(lot(10, 4, 24, Some(3)).unissued(now), 2);
        assert_eq!(lot(10, 4, 12, Some(3)).unissued(now), 6, "no more than the free seats");
        assert_eq!(lot(10, 3, 10, Some(1)).unissued(now), 0, "a cap used up has no seat to give");
        assert_eq!(lot(10, 3, 6, Some(1)).unissued(now), 4);
        let ended = "2027-01-15T09:00:00Z".parse().unwrap();
        assert_eq!(lot(10, 0, 0, None).unissued(ended), 0);
    }

    /// Removing the unissued seats keeps every count within the lot.
    #[test]
    fn removing_the_unissued_seats_keeps_in_use_and_uses_within_the_lot() {
        let now = "2026-06-01T00:00:00Z".parse().unwrap();
        for (q, in_use, uses, cap) in
            [(10, 4, 24, Some(3)), (25, 18, 18, None), (10, 3, 6, Some(1)), (7, 0, 20, Some(5))]
        {
            let mut l = lot(q, in_use, uses, cap);
            let r = l.unissued(now);
            l.quantity -= r;
            assert!(l.in_use <= l.quantity);
            if let Some(n) = cap {
                assert!(l.uses <= n * l.quantity, "{q} {in_use} {uses} {n}: {r}");
            }
            assert_eq!(l.unissued(now), 0);
        }
    }

    /// A lot stored before reductions existed reads with none removed.
    #[test]
    fn a_lot_without_reduced_reads_as_none_removed() {
        let mut stored = serde_json::to_value(lot(10, 2, 2, None)).unwrap();
        stored.as_object_mut().unwrap().remove("reduced");
        let read: Lot = serde_json::from_value(stored).unwrap();
        assert_eq!(read.reduced, 0);
        assert_eq!(read.view("2026-06-01T00:00:00Z".parse().unwrap())["reduced"], 0);
    }

    #[test]
    fn a_lot_ends_at_its_instant() {
        let l = lot(10, 0, 0, None);
        let before = "2027-01-15T08:59:59Z".parse().unwrap();
        let at = "2027-01-15T09:00:00Z".parse().unwrap();
        assert_eq!(l.status_at(before), LotStatus::Active);
        assert_eq!(l.status_at(at), LotStatus::Expired);
        assert_eq!(l.available(at), 0);
    }
}
