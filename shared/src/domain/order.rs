//! Orders: a company's request for N more licences (a purchase) or N fewer seats (a reduction),
//! `requested` → `assigned` | `rejected` | `cancelled` (docs/domain.md#orders-and-lots).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Principal;
use super::lot::Lot;
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

/// What an order asks for: more licences (`purchase`, a new lot) or fewer seats (`reduction`:
/// unissued seats removed from the company's lots once it is assigned). Orders stored before
/// reductions existed are purchases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    #[default]
    Purchase,
    Reduction,
}

/// Who an order came from when it was not requested by a person: `upgrade`, the raise to the
/// next tier after a major overage (docs/domain.md#usage-and-overage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderOrigin {
    Upgrade,
}

/// The seats an assigned reduction removed from one lot, as the order keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LotReduction {
    pub lot_id: String,
    pub valid_until: Option<DateTime<Utc>>,
    pub seats: u32,
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
    #[serde(default)]
    pub kind: OrderKind,
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
    /// An assigned reduction: the lots it took seats from, and how many each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reduced_lots: Vec<LotReduction>,
    /// An order nobody requested (`upgrade`); absent for a requested one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<OrderOrigin>,
    /// An upgrade's part of the licence year left when it was assigned: what it is charged for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pro_rata_fraction: Option<f64>,
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
    #[serde(default)]
    pub kind: OrderKind,
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
        return Err(DomainError::invalid_as(
            "quantity",
            "range",
            format!("must be a whole number from 1 to {MAX_QUANTITY}"),
            serde_json::json!({ "min": 1, "max": MAX_QUANTITY }),
        ));
    }
    let note = match input.note {
        Some(n) => Some(validate::text("note", &n, 1000, false)?).filter(|n| !n.is_empty()),
        None => None,
    };
    Ok(Order {
        order_id,
        org_id: company.org_id.clone(),
        quantity: input.quantity as u32,
        kind: input.kind,
        note,
        status: OrderStatus::Requested,
        requested_at: now,
        requested_by: principal.actor().to_string(),
        assigned_at: None,
        assigned_by: None,
        lot: None,
        reduced_lots: Vec::new(),
        rejected_at: None,
        rejected_by: None,
        reason: None,
        cancelled_at: None,
        cancelled_by: None,
        origin: None,
        pro_rata_fraction: None,
    })
}

fn still_requested(order: &Order, verb: &str) -> Result<(), DomainError> {
    if order.status == OrderStatus::Requested {
        Ok(())
    } else {
        Err(DomainError::conflict_with(
            "order_not_requested",
            format!("order {} is {}; only a requested order can be {verb}", order.order_id, order.status.as_str()),
            serde_json::json!({ "order_id": order.order_id, "status": order.status.as_str() }),
        ))
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
    if order.kind == OrderKind::Reduction {
        return Err(DomainError::conflict(
            "reduction_has_no_lot",
            format!("order {} is a reduction: it creates no lot", order.order_id),
        ));
    }
    let valid_until = match policy.term_starts {
        TermStarts::Assignment => Some(term_end(now, policy.term_months)),
        TermStarts::Activation => None,
    };
    let ids = (lot_id, order.org_id.clone(), order.order_id.clone());
    let lot = Lot { uses_per_seat: policy.uses_per_seat.cap(), ..Lot::new(ids, order.quantity, now, valid_until) };
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

/// Assigns a reduction: it becomes `assigned` and removes `quantity` unissued seats
/// ([`Lot::unissued`]) from `lots` (the company's lots that have not ended), from the lot that
/// ends last on, never an issued licence. Refused, changing nothing, when fewer seats are
/// unissued than it removes. The outcome: the assigned order and each lot with the seats it
/// loses.
pub fn reduce(
    order: &Order,
    lots: &[Lot],
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<(Order, Vec<(Lot, u32)>), DomainError> {
    still_requested(order, "assigned")?;
    let reduce = order.quantity as u64;
    let unissued: u64 = lots.iter().map(|l| l.unissued(now) as u64).sum();
    if unissued < reduce {
        return Err(DomainError::TooFewUnissued {
            message: format!(
                "this reduction removes {reduce} seats but only {unissued} unissued seats remain; a reduction \
                 never takes back a licence already issued"
            ),
            reduce,
            unissued,
        });
    }
    let mut last_first: Vec<&Lot> = lots.iter().collect();
    // The lot that ends last first; a lot without an end ends after every other.
    last_first.sort_by_key(|l| std::cmp::Reverse((l.valid_until.is_none(), l.valid_until)));
    let mut left = order.quantity;
    let mut taken = Vec::new();
    for lot in last_first {
        let seats = lot.unissued(now).min(left);
        if seats > 0 {
            taken.push((lot.clone(), seats));
            left -= seats;
        }
    }
    let mut assigned = order.clone();
    assigned.status = OrderStatus::Assigned;
    assigned.assigned_at = Some(now);
    assigned.assigned_by = Some(principal.actor().to_string());
    // Said per lot as the vendor sold it: the seats taken from a lot's parts are summed.
    assigned.reduced_lots.clear();
    for (l, seats) in &taken {
        let lot_id = crate::domain::lot::family(&l.lot_id);
        match assigned.reduced_lots.iter_mut().find(|r| r.lot_id == lot_id) {
            Some(r) => r.seats += seats,
            None => assigned.reduced_lots.push(LotReduction {
                lot_id: lot_id.to_string(),
                valid_until: l.valid_until,
                seats: *seats,
            }),
        }
    }
    Ok((assigned, taken))
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
        RequestOrder { quantity: 10, note: None, kind: OrderKind::Purchase }
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
        for (q, kind) in
            [0, -1, 100_001].into_iter().flat_map(|q| [(q, OrderKind::Purchase), (q, OrderKind::Reduction)])
        {
            let err = request(
                &company(),
                &manager(),
                RequestOrder { quantity: q, note: None, kind },
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
            RequestOrder { quantity: 100_000, note: None, kind: OrderKind::Reduction },
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

    fn reduction(quantity: i64) -> Order {
        let input = RequestOrder { quantity, note: None, kind: OrderKind::Reduction };
        request(&company(), &manager(), input, "r".into(), at("2026-05-20T08:00:00Z")).unwrap()
    }

    /// A lot of `quantity` assigned at `assigned`, with `in_use` seats held.
    fn lot_of(quantity: u32, in_use: u32, assigned: &str, id: &str) -> Lot {
        let input = RequestOrder { quantity: quantity as i64, note: None, kind: OrderKind::Purchase };
        let order = request(&company(), &manager(), input, id.into(), at(assigned)).unwrap();
        let (_, mut lot) = assign(&order, &Policy::resolve([]), &partner(), id.into(), at(assigned)).unwrap();
        (lot.in_use, lot.uses) = (in_use, in_use);
        lot
    }

    /// Worked example 12 (docs/domain.md#example-12-a-reduction).
    #[test]
    fn worked_case_12_a_reduction_removes_unissued_seats_only() {
        let now = at("2026-06-01T00:00:00Z");
        let lots = [lot_of(25, 18, "2026-01-15T09:00:00Z", "l1")];
        let err = reduce(&reduction(8), &lots, &partner(), now).unwrap_err();
        assert_eq!(err.code(), "conflict");
        assert_eq!(err.details(), serde_json::json!({"reason": "too_few_unissued", "reduce": 8, "unissued": 7}));
        assert!(
            err.to_string().starts_with("this reduction removes 8 seats but only 7 unissued seats remain"),
            "{err}"
        );
        let (assigned, taken) = reduce(&reduction(5), &lots, &partner(), now).unwrap();
        assert_eq!(assigned.status, OrderStatus::Assigned);
        assert_eq!(assigned.kind, OrderKind::Reduction);
        assert_eq!(assigned.lot, None);
        assert_eq!(
            assigned.reduced_lots,
            vec![LotReduction { lot_id: "l1".into(), valid_until: lots[0].valid_until, seats: 5 }]
        );
        assert_eq!(taken.iter().map(|(l, k)| (l.lot_id.as_str(), *k)).collect::<Vec<_>>(), vec![("l1", 5)]);
    }

    #[test]
    fn a_reduction_takes_from_the_lot_that_ends_last_first() {
        let now = at("2026-06-01T00:00:00Z");
        let lots = [lot_of(10, 8, "2026-01-15T09:00:00Z", "early"), lot_of(6, 3, "2026-04-01T09:00:00Z", "late")];
        let (assigned, taken) = reduce(&reduction(4), &lots, &partner(), now).unwrap();
        assert_eq!(
            taken.iter().map(|(l, k)| (l.lot_id.as_str(), *k)).collect::<Vec<_>>(),
            vec![("late", 3), ("early", 1)]
        );
        assert_eq!(assigned.reduced_lots.iter().map(|r| r.seats).sum::<u32>(), 4);
        let (_, only_late) = reduce(&reduction(2), &lots, &partner(), now).unwrap();
        assert_eq!(only_late.len(), 1);
    }

    #[test]
    fn a_reduction_is_assigned_only_while_requested_and_creates_no_lot() {
        let now = at("2026-06-01T00:00:00Z");
        let lots = [lot_of(10, 0, "2026-01-15T09:00:00Z", "l1")];
        let (assigned, _) = reduce(&reduction(2), &lots, &partner(), now).unwrap();
        assert_eq!(reduce(&assigned, &lots, &partner(), now).unwrap_err().code(), "conflict");
        let err = assign(&reduction(2), &Policy::resolve([]), &partner(), "l".into(), now).unwrap_err();
        assert_eq!(err.code(), "conflict");
    }

    /// An order stored before kinds existed reads as a purchase; a purchase says so.
    #[test]
    fn an_order_without_a_kind_is_a_purchase() {
        let stored = serde_json::json!({"order_id": "o", "org_id": "c", "quantity": 3, "status": "requested",
            "requested_at": "2026-01-01T00:00:00Z", "requested_by": "x"});
        let order: Order = serde_json::from_value(stored).unwrap();
        assert_eq!(order.kind, OrderKind::Purchase);
        assert_eq!(serde_json::to_value(&order).unwrap()["kind"], "purchase");
        assert!(serde_json::to_value(&order).unwrap().get("reduced_lots").is_none());
    }

    #[test]
    fn orders_are_for_companies() {
        let vendor = Org::vendor_root(at("2026-01-01T00:00:00Z"));
        let err = request(&vendor, &manager(), ten(), "o".into(), at("2026-01-01T00:00:00Z")).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }
}
