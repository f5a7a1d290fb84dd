//! Orders: a company's request for N licences, `requested` → `assigned` | `rejected` |
//! `cancelled` (docs/domain.md#orders-and-lots).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Principal;
use super::lot::{Lot, LotStatus};
use super::org::{Org, OrgKind};
use super::policy::{Policy, TermStarts};
use super::term::term_end;
use super::{validate, DomainError};

pub const MAX_QUANTITY: i64 = 100_000;

/// Who decides a company's orders (docs/domain.md#orders-and-lots: "your account manager receives the requested
/// order"): the nearest partner above it among `above` (its ancestors, root first); `None` when
/// none is, and the vendor decides.
pub fn account_org(above: &[Org]) -> Option<&Org> {
    above.iter().rev().find(|o| o.kind == OrgKind::Partner)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Requested,
    Assigned,
    Rejected,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Requested => "requested",
            OrderStatus::Assigned => "assigned",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

/// The lot an assignment created, as the order shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LotSummary {
    pub lot_id: String,
    pub quantity: u32,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub org_id: String,
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub status: OrderStatus,
    pub requested_at: DateTime<Utc>,
    pub requested_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<LotSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
}

/// `POST /v1/orgs/{org_id}/orders`. The quantity is read wide so a negative or huge number gets
/// the range message rather than a type error.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestOrder {
    pub quantity: i64,
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/orders/{order_id}/reject`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectOrder {
    pub reason: String,
}

/// Decides a new order for `company`.
pub fn request(
    company: &Org,
    principal: &Principal,
    input: RequestOrder,
    order_id: String,
    now: DateTime<Utc>,
) -> Result<Order, DomainError> {
    if company.kind != OrgKind::Company {
        return Err(DomainError::invalid("org_id", "licences are ordered for a company"));
    }
    if !(1..=MAX_QUANTITY).contains(&input.quantity) {
        return Err(DomainError::invalid("quantity", format!("must be a whole number from 1 to {MAX_QUANTITY}")));
    }
    let note = match input.note {
        Some(n) => Some(validate::text("note", &n, 1000, false)?).filter(|n| !n.is_empty()),
        None => None,
    };
    Ok(Order {
        order_id,
        org_id: company.org_id.clone(),
        quantity: input.quantity as u32,
        note,
        status: OrderStatus::Requested,
        requested_at: now,
        requested_by: principal.actor().to_string(),
        assigned_at: None,
        assigned_by: None,
        lot: None,
        rejected_at: None,
        rejected_by: None,
        reason: None,
        cancelled_at: None,
        cancelled_by: None,
    })
}

fn still_requested(order: &Order, verb: &str) -> Result<(), DomainError> {
    if order.status == OrderStatus::Requested {
        Ok(())
    } else {
        Err(DomainError::Conflict(format!(
            "order {} is {}; only a requested order can be {verb}",
            order.order_id,
            order.status.as_str()
        )))
    }
}

/// Assigns the order: it becomes `assigned` and a lot of `quantity` licences is created, valid
/// from now for the policy's term (calendar months). Under `term_starts = activation` the lot has
/// no end: each licence's year starts when its user starts.
pub fn assign(
    order: &Order,
    policy: &Policy,
    principal: &Principal,
    lot_id: String,
    now: DateTime<Utc>,
) -> Result<(Order, Lot), DomainError> {
    still_requested(order, "assigned")?;
    let valid_until = match policy.term_starts {
        TermStarts::Assignment => Some(term_end(now, policy.term_months)),
        TermStarts::Activation => None,
    };
    let lot = Lot {
        lot_id,
        org_id: order.org_id.clone(),
        order_id: order.order_id.clone(),
        quantity: order.quantity,
        in_use: 0,
        uses: 0,
        uses_per_seat: policy.uses_per_seat.cap(),
        valid_from: now,
        valid_until,
        status: LotStatus::Active,
    };
    let mut assigned = order.clone();
    assigned.status = OrderStatus::Assigned;
    assigned.assigned_at = Some(now);
    assigned.assigned_by = Some(principal.actor().to_string());
    assigned.lot = Some(LotSummary {
        lot_id: lot.lot_id.clone(),
        quantity: lot.quantity,
        valid_from: lot.valid_from,
        valid_until: lot.valid_until,
    });
    Ok((assigned, lot))
}

pub fn reject(
    order: &Order,
    input: RejectOrder,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<Order, DomainError> {
    let reason = validate::text("reason", &input.reason, 1000, true)?;
    still_requested(order, "rejected")?;
    let mut rejected = order.clone();
    rejected.status = OrderStatus::Rejected;
    rejected.rejected_at = Some(now);
    rejected.rejected_by = Some(principal.actor().to_string());
    rejected.reason = Some(reason);
    Ok(rejected)
}

pub fn cancel(order: &Order, principal: &Principal, now: DateTime<Utc>) -> Result<Order, DomainError> {
    still_requested(order, "cancelled")?;
    let mut cancelled = order.clone();
    cancelled.status = OrderStatus::Cancelled;
    cancelled.cancelled_at = Some(now);
    cancelled.cancelled_by = Some(principal.actor().to_string());
    Ok(cancelled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::auth::Role;
    use crate::domain::org::{create, NewOrg};
    use crate::domain::policy::{PolicySettings, UsesPerSeat};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn company() -> Org {
        let vendor = Org::vendor_root(at("2026-01-01T00:00:00Z"));
        let new = |id: &str, kind, parent: &str| NewOrg {
            org_id: Some(id.into()),
            name: id.into(),
            kind,
            parent_id: parent.into(),
        };
        let p = create(&vendor, new("p", OrgKind::Partner, "vendor"), "x".into(), at("2026-01-01T00:00:00Z")).unwrap();
        create(&p, new("c", OrgKind::Company, "p"), "x".into(), at("2026-01-01T00:00:00Z")).unwrap()
    }

    fn manager() -> Principal {
        Principal::new("s", "cm@c.test", "c", Role::CompanyManager)
    }

    fn partner() -> Principal {
        Principal::new("s", "pm@p.test", "p", Role::PartnerManager)
    }

    fn ten() -> RequestOrder {
        RequestOrder { quantity: 10, note: None }
    }

    /// Worked example 1 (docs/domain.md#example-1-an-order).
    #[test]
    fn worked_case_1_a_lot_of_ten_for_one_calendar_year() {
        let order = request(&company(), &manager(), ten(), "o1".into(), at("2026-01-10T12:00:00Z")).unwrap();
        assert_eq!(order.status, OrderStatus::Requested);
        let (assigned, lot) =
            assign(&order, &Policy::resolve([]), &partner(), "l1".into(), at("2026-01-15T09:00:00Z")).unwrap();
        assert_eq!(assigned.status, OrderStatus::Assigned);
        assert_eq!(assigned.assigned_by.as_deref(), Some("pm@p.test"));
        assert_eq!(lot.quantity, 10);
        assert_eq!(lot.valid_from, at("2026-01-15T09:00:00Z"));
        assert_eq!(lot.valid_until, Some(at("2027-01-15T09:00:00Z")));
        assert_eq!(lot.available(at("2026-01-15T09:00:00Z")), 10);
        assert_eq!(assigned.lot.unwrap().valid_until, lot.valid_until);
    }

    #[test]
    fn a_lot_assigned_on_the_last_of_march_runs_to_the_last_of_march() {
        let order = request(&company(), &manager(), ten(), "o".into(), at("2026-03-01T00:00:00Z")).unwrap();
        let (_, lot) =
            assign(&order, &Policy::resolve([]), &partner(), "l".into(), at("2026-03-31T10:00:00Z")).unwrap();
        assert_eq!(lot.valid_until, Some(at("2027-03-31T10:00:00Z")));
    }

    #[test]
    fn under_activation_the_lot_does_not_lapse() {
        let settings = PolicySettings { term_starts: Some(TermStarts::Activation), ..Default::default() };
        let order = request(&company(), &manager(), ten(), "o".into(), at("2026-03-01T00:00:00Z")).unwrap();
        let (_, lot) =
            assign(&order, &Policy::resolve([&settings]), &partner(), "l".into(), at("2026-03-31T10:00:00Z")).unwrap();
        assert_eq!(lot.valid_until, None);
        assert_eq!(lot.uses_per_seat, Some(1));
        let _ = UsesPerSeat::Capped(1);
    }

    #[test]
    fn quantities_outside_one_to_a_hundred_thousand_are_refused() {
        for q in [0, -1, 100_001] {
            let err = request(
                &company(),
                &manager(),
                RequestOrder { quantity: q, note: None },
                "o".into(),
                at("2026-01-01T00:00:00Z"),
            )
            .unwrap_err();
            assert_eq!(err.code(), "invalid_request");
            assert!(err.to_string().starts_with("quantity"), "{err}");
        }
        assert!(request(
            &company(),
            &manager(),
            RequestOrder { quantity: 100_000, note: None },
            "o".into(),
            at("2026-01-01T00:00:00Z")
        )
        .is_ok());
    }

    #[test]
    fn only_a_requested_order_changes_state() {
        let now = at("2026-01-15T09:00:00Z");
        let order = request(&company(), &manager(), ten(), "o".into(), now).unwrap();
        let (assigned, _) = assign(&order, &Policy::resolve([]), &partner(), "l".into(), now).unwrap();
        assert_eq!(
            assign(&assigned, &Policy::resolve([]), &partner(), "l2".into(), now).unwrap_err().code(),
            "conflict"
        );
        assert_eq!(cancel(&assigned, &manager(), now).unwrap_err().code(), "conflict");
        let rejected = reject(&order, RejectOrder { reason: "budget".into() }, &partner(), now).unwrap();
        assert_eq!(rejected.status, OrderStatus::Rejected);
        assert_eq!(rejected.reason.as_deref(), Some("budget"));
        assert_eq!(
            reject(&order, RejectOrder { reason: " ".into() }, &partner(), now).unwrap_err().code(),
            "invalid_request"
        );
        let cancelled = cancel(&order, &manager(), now).unwrap();
        assert_eq!(cancelled.status, OrderStatus::Cancelled);
        assert_eq!(
            reject(&cancelled, RejectOrder { reason: "x".into() }, &partner(), now).unwrap_err().code(),
            "conflict"
        );
    }

    #[test]
    fn orders_are_for_companies() {
        let vendor = Org::vendor_root(at("2026-01-01T00:00:00Z"));
        let err = request(&vendor, &manager(), ten(), "o".into(), at("2026-01-01T00:00:00Z")).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }
}
