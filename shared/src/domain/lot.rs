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
}

impl Lot {
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
        }
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
