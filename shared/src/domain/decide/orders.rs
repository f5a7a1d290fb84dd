//! Decisions on orders and orgs (docs/domain.md#orders-and-lots): request, cancel, reject, assign (a
//! purchase's new lot, or a reduction's seats removed); a new org, a policy set.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::audit::AuditEntry;
use crate::domain::auth::Principal;
use crate::domain::change::{Change, Decision, MAX_CHANGES};
use crate::domain::lot::Lot;
use crate::domain::notice::{self, Notice, NoticeKind};
use crate::domain::order::{Order, OrderKind};
use crate::domain::org::Org;
use crate::domain::policy::{Policy, PolicySettings};
use crate::domain::DomainError;

fn audit(
    principal: &Principal,
    org: &Org,
    action: &str,
    order: &Order,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> Change {
    Change::Audit(AuditEntry::new(principal, org, action, &format!("order/{}", order.order_id), details, now))
}

/// Who an `order_requested` notice goes to: the org that decides the company's orders (the
/// partner above it) and its recipients (its managers and `notify_emails`).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountManager {
    pub org_id: String,
    pub recipients: notice::Recipients,
}

/// A requested order: the order (new) and its list entries, an audit entry, and an
/// `order_requested` notice to the partner above the company (docs/domain.md#orders-and-lots).
pub fn request(
    order: Order,
    company: &Org,
    account: &AccountManager,
    principal: &Principal,
    now: DateTime<Utc>,
    notice_id: String,
) -> Decision<Order> {
    let details = json!({ "kind": order.kind, "quantity": order.quantity, "note": order.note });
    let message = match order.kind {
        OrderKind::Purchase => format!("{} requests {} licences", company.name, order.quantity),
        OrderKind::Reduction => format!("{} asks to remove {} unissued seats", company.name, order.quantity),
    };
    let notice = Notice {
        notice_id,
        kind: NoticeKind::OrderRequested,
        org_id: account.org_id.clone(),
        created_at: now,
        recipients: account.recipients.to.clone(),
        recipients_omitted: account.recipients.omitted,
        payload: json!({
            "order_id": order.order_id,
            "kind": order.kind,
            "company_id": company.org_id,
            "company_name": company.name,
            "quantity": order.quantity,
            "note": order.note,
            "requested_by": order.requested_by,
            "message": message,
        }),
    };
    let changes = vec![
        Change::NewOrder { order: order.clone(), company: company.clone() },
        Change::Notice(notice),
        audit(principal, company, "order.requested", &order, details, now),
    ];
    Decision::new(changes, order)
}

/// A cancelled or rejected order (decided by `order::cancel` / `order::reject`): written only
/// while it is still requested, with its audit entry.
pub fn decided(order: Order, company: &Org, principal: &Principal, now: DateTime<Utc>) -> Decision<Order> {
    let (action, details) = match order.status {
        crate::domain::order::OrderStatus::Rejected => ("order.rejected", json!({ "reason": order.reason })),
        _ => ("order.cancelled", json!({})),
    };
    let changes = vec![
        Change::DecidedOrder { order: order.clone(), company: company.clone() },
        audit(principal, company, action, &order, details, now),
    ];
    Decision::new(changes, order)
}

/// A rejected order (decided by `order::reject`), written only while it is still requested,
/// with its audit entry and an `order_rejected` notice to the company that tells the requester
/// why (when the requester signed in with an e-mail address; otherwise it is listed, not mailed).
pub fn rejected(
    order: Order,
    company: &Org,
    principal: &Principal,
    now: DateTime<Utc>,
    notice_id: String,
) -> Decision<Order> {
    let to: Vec<String> = crate::domain::validate::email("requested_by", &order.requested_by).into_iter().collect();
    let notice = Notice {
        notice_id,
        kind: NoticeKind::OrderRejected,
        org_id: company.org_id.clone(),
        created_at: now,
        recipients: to,
        recipients_omitted: 0,
        payload: json!({
            "order_id": order.order_id,
            "company_id": company.org_id,
            "company_name": company.name,
            "quantity": order.quantity,
            "kind": order.kind,
            "requested_at": order.requested_at,
            "requested_by": order.requested_by,
            "rejected_by": order.rejected_by,
            "reason": order.reason,
        }),
    };
    let mut decision = decided(order, company, principal, now);
    decision.changes.push(Change::Notice(notice));
    decision
}

/// Who hears of a company's own order: its `orders` contacts, the vendor's copy
/// (`notify_emails`) and its managers.
fn company_told(company: &Org, policy: &Policy, managers: Vec<String>) -> notice::Recipients {
    let contacts = crate::domain::contacts::receiving(&company.contacts, crate::domain::contacts::Topic::Orders);
    notice::recipients_with(contacts, managers, &policy.notify_emails)
}

/// An assigned order and its new lot: the company ([`company_told`]) is told the licences are
/// ready.
pub fn assign(
    (assigned, lot): (Order, Lot),
    company: &Org,
    policy: &Policy,
    managers: Vec<String>,
    principal: &Principal,
    now: DateTime<Utc>,
    notice_id: String,
) -> Decision<Order> {
    let to = company_told(company, policy, managers);
    let notice = Notice::new(
        notice_id,
        NoticeKind::OrderAssigned,
        &company.org_id,
        now,
        to,
        json!({
            "order_id": assigned.order_id,
            "kind": assigned.kind,
            "lot_id": lot.lot_id,
            "quantity": lot.quantity,
            "valid_from": lot.valid_from,
            "valid_until": lot.valid_until,
            "message": format!("{} licences are ready for allocation", lot.quantity),
        }),
    );
    let details = json!({
        "kind": assigned.kind,
        "lot_id": lot.lot_id,
        "quantity": lot.quantity,
        "valid_until": lot.valid_until
    });
    let changes = vec![
        Change::DecidedOrder { order: assigned.clone(), company: company.clone() },
        Change::NewLot { lot, org: company.clone() },
        Change::Notice(notice),
        audit(principal, company, "order.assigned", &assigned, details, now),
    ];
    Decision::new(changes, assigned)
}

/// The most lots one reduction takes seats from: a transaction's changes less the order's own
/// writes (the order, its list entry in every org of the company's chain), its notice and its
/// audit entry.
pub fn max_lots_reduced(company: &Org) -> usize {
    MAX_CHANGES.saturating_sub(1 + company.chain().count() + 2)
}

/// An assigned reduction (decided by `order::reduce`): each lot loses its seats on the
/// condition that it is as read, in the transaction of the order's state change; the company's
/// managers get `order_assigned`, phrased as a reduction. A reduction spread over more lots than
/// one transaction holds is refused, changing nothing.
pub fn reduce(
    (assigned, taken): (Order, Vec<(Lot, u32)>),
    company: &Org,
    policy: &Policy,
    managers: Vec<String>,
    principal: &Principal,
    now: DateTime<Utc>,
    notice_id: String,
) -> Result<Decision<Order>, DomainError> {
    let most = max_lots_reduced(company);
    if taken.len() > most {
        return Err(DomainError::conflict_with(
            "reduction_too_spread",
            format!(
                "this reduction would remove seats from {} lots, and one reduction changes at most {most} lots \
                 at once; reject it and request smaller reductions",
                taken.len()
            ),
            json!({ "lots": taken.len(), "most": most }),
        ));
    }
    let to = company_told(company, policy, managers);
    let lots = serde_json::to_value(&assigned.reduced_lots).unwrap_or_default();
    let payload = json!({
        "order_id": assigned.order_id,
        "kind": assigned.kind,
        "quantity": assigned.quantity,
        "lots": lots,
        "message": format!("{} unissued seats were removed from your licences", assigned.quantity),
    });
    let notice = Notice::new(notice_id, NoticeKind::OrderAssigned, &company.org_id, now, to, payload);
    let details = json!({ "kind": assigned.kind, "quantity": assigned.quantity, "lots": lots });
    let mut changes = vec![Change::DecidedOrder { order: assigned.clone(), company: company.clone() }];
    changes.extend(taken.into_iter().map(|(lot, seats)| Change::ReduceLot { lot, seats }));
    changes.push(Change::Notice(notice));
    changes.push(audit(principal, company, "order.assigned", &assigned, details, now));
    Ok(Decision::new(changes, assigned))
}

/// A new org below `parent`, on the condition that its id is free.
pub fn create_org(org: Org, parent: &Org, principal: &Principal, now: DateTime<Utc>) -> Decision<Org> {
    let details = json!({ "name": org.name, "kind": org.kind });
    let entry = AuditEntry::new(principal, parent, "org.created", &format!("org/{}", org.org_id), details, now);
    Decision::new(vec![Change::NewOrg(org.clone()), Change::Audit(entry)], org)
}

/// The org's own policy knobs merged with `settings`, written over the version read. The
/// outcome: the org as stored.
pub fn set_policy(org: &Org, settings: &PolicySettings, principal: &Principal, now: DateTime<Utc>) -> Decision<Org> {
    let mut next = org.clone();
    next.policy = org.policy.merged_with(settings);
    let details = serde_json::to_value(settings).unwrap_or_default();
    let entry = AuditEntry::new(principal, &next, "policy.set", &format!("org/{}", org.org_id), details, now);
    let mut saved = next.clone();
    saved.version += 1;
    Decision::new(vec![Change::Org(next), Change::Audit(entry)], saved)
}

/// The org's own contacts replaced by `contacts` (checked by `contacts::validated`), written
/// over the version read, with an audit entry naming them. The outcome: the org as stored.
pub fn set_contacts(
    org: &Org,
    contacts: Vec<crate::domain::contacts::Contact>,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Decision<Org> {
    let mut next = org.clone();
    next.contacts = contacts;
    let details = json!({ "contacts": next.contacts });
    let entry = AuditEntry::new(principal, &next, "contacts.set", &format!("org/{}", org.org_id), details, now);
    let mut saved = next.clone();
    saved.version += 1;
    Decision::new(vec![Change::Org(next), Change::Audit(entry)], saved)
}
