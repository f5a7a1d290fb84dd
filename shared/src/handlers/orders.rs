//! Orders and lots: request, list, read, cancel, assign, reject (docs/domain.md#orders-and-lots).

use serde_json::json;

use super::load_org;
use crate::command::new_id;
use crate::domain::auth::{authorize, Action};
use crate::domain::contacts::{receiving, Topic};
use crate::domain::decide::orders as decide;
use crate::domain::notice;
use crate::domain::order::{self, Order, OrderKind, OrderStatus, RejectOrder, RequestOrder};
use crate::domain::org::Org;
use crate::domain::{validate, DomainError};
use crate::http::{Ctx, Reply};
use crate::store::records::OrderFilter;
use crate::store::Error;

fn view(order: &Order) -> serde_json::Value {
    serde_json::to_value(order).unwrap_or_default()
}

/// The order of the path and its company, authorised for `action`; an order outside the
/// caller's reach is not found, whatever the caller's role, and in the order's words (an order
/// id names no org, and the answer names none).
async fn load_order(cx: &Ctx<'_>, action: Action) -> Result<(Order, Org), Error> {
    let order_id = cx.param("order_id");
    let missing = || DomainError::not_found("order", order_id);
    let order = cx.app.store.order(order_id).await?.ok_or_else(missing)?;
    let company = cx.app.store.org(&order.org_id).await?.ok_or_else(missing)?;
    let principal = cx.principal()?;
    if !principal.reaches(&company) {
        return Err(missing().into());
    }
    authorize(principal, action, &company)?;
    Ok((order, company))
}

/// The org that decides `company`'s orders: the nearest partner above it, else the vendor.
pub(super) async fn account_org(cx: &Ctx<'_>, company: &Org) -> Result<Org, Error> {
    let store = &cx.app.store;
    let mut above = store.ancestors(company).await?;
    above.sort_by_key(|o| company.ancestors.iter().position(|a| *a == o.org_id));
    Ok(match order::account_org(&above) {
        Some(partner) => partner.clone(),
        None => store.vendor().await?,
    })
}

/// The org that decides `company`'s orders ([`account_org`]) and who its notices go to.
async fn account_manager(cx: &Ctx<'_>, company: &Org) -> Result<decide::AccountManager, Error> {
    let store = &cx.app.store;
    let account = account_org(cx, company).await?;
    let policy = store.policy(&account).await?;
    let managers = store.manager_emails(&account.org_id).await?;
    Ok(decide::AccountManager {
        recipients: notice::recipients_with(
            receiving(&account.contacts, Topic::Orders),
            managers,
            &policy.notify_emails,
        ),
        org_id: account.org_id,
    })
}

pub async fn request(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let company = load_org(cx, cx.param("org_id")).await?;
    authorize(principal, Action::RequestOrder, &company)?;
    let input: RequestOrder = cx.req.json()?;
    cx.execute(|| async {
        let order = order::request(&company, principal, input.clone(), new_id("ord"), cx.req.now)?;
        let account = account_manager(cx, &company).await?;
        let decided = decide::request(order, &company, &account, principal, cx.req.now, new_id("ntc"));
        Ok(decided.map(|o| Reply::created(view(&o))))
    })
    .await
}

pub async fn list(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadOrders, &org)?;
    let status = cx
        .req
        .query("status")
        .map(|s| {
            serde_json::from_value::<OrderStatus>(json!(s))
                .map_err(|_| DomainError::invalid("status", "must be requested, assigned, rejected or cancelled"))
        })
        .transpose()?;
    let company_id = cx.req.query("company_id").map(str::to_string);
    if let Some(c) = &company_id {
        validate::caller_id("company_id", c)?;
    }
    let filter =
        OrderFilter { status, company_id, from: cx.req.instant("from", false)?, to: cx.req.instant("to", true)? };
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if from > to {
            return Err(DomainError::invalid("from", "must not be after to").into());
        }
    }
    let page = cx.app.store.orders(&org.org_id, &filter, &cx.req.page()?).await?;
    Ok(Reply::page(page, view))
}

pub async fn get(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let (order, _) = load_order(cx, Action::ReadOrders).await?;
    Ok(Reply::ok(view(&order)))
}

pub async fn cancel(cx: &Ctx<'_>) -> Result<Reply, Error> {
    cx.execute(|| async {
        let (order, company) = load_order(cx, Action::CancelOrder).await?;
        let principal = cx.principal()?;
        let cancelled = order::cancel(&order, principal, cx.req.now)?;
        Ok(decide::decided(cancelled, &company, principal, cx.req.now).map(|o| Reply::ok(view(&o))))
    })
    .await
}

pub async fn reject(cx: &Ctx<'_>) -> Result<Reply, Error> {
    cx.execute(|| async {
        let (order, company) = load_order(cx, Action::DecideOrder).await?;
        let principal = cx.principal()?;
        let input: RejectOrder = cx.req.json()?;
        let rejected = order::reject(&order, input, principal, cx.req.now)?;
        let decided = decide::rejected(rejected, &company, principal, cx.req.now, new_id("ntc"));
        Ok(decided.map(|o| Reply::ok(view(&o))))
    })
    .await
}

/// Assigns an order: a purchase creates its lot; a reduction removes its seats from the
/// company's lots that have not ended (read afresh on every attempt, so a lost race decides
/// again on what the lots hold then).
pub async fn assign(cx: &Ctx<'_>) -> Result<Reply, Error> {
    cx.execute(|| async {
        let (order, company) = load_order(cx, Action::DecideOrder).await?;
        let principal = cx.principal()?;
        let store = &cx.app.store;
        let policy = store.policy(&company).await?;
        let now = cx.req.now;
        let managers = store.manager_emails(&company.org_id).await?;
        let decided = match order.kind {
            OrderKind::Purchase => {
                let assigned = order::assign(&order, &policy, principal, new_id("lot"), now)?;
                decide::assign(assigned, &company, &policy, managers, principal, now, new_id("ntc"))
            }
            OrderKind::Reduction => {
                let lots = store.lots_ending_after(&company.org_id, now).await?;
                let reduced = order::reduce(&order, &lots, principal, now)?;
                decide::reduce(reduced, &company, &policy, managers, principal, now, new_id("ntc"))?
            }
        };
        Ok(decided.map(|o| Reply::ok(view(&o))))
    })
    .await
}

pub async fn lots(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadLots, &org)?;
    let page = cx.app.store.lots(&org.org_id, &cx.req.page()?).await?;
    let now = cx.req.now;
    Ok(Reply::page(page, |l| l.view(now)))
}

/// The windows the renewals ahead are asked for, in days.
pub const EXPIRING_WINDOWS: [i64; 3] = [30, 60, 90];

/// The customers whose licences end ahead (docs/api.md#orders-and-lots): the lots of the
/// companies below a partner (the vendor: below every partner) that end within `within_days`,
/// soonest first, one row a lot with its seats, in use, and whether the company has an order
/// requested already. Read from the lots by their end (store/keys.rs), never company by company.
pub async fn expiring(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadExpiring, &org)?;
    if org.kind == crate::domain::org::OrgKind::Company {
        let message = "is a company: the renewals ahead are its partner's (its own lots are under /lots)";
        return Err(DomainError::invalid("org_id", message).into());
    }
    let days = match cx.req.query("within_days").unwrap_or("30").parse::<i64>() {
        Ok(d) if EXPIRING_WINDOWS.contains(&d) => d,
        _ => {
            let values = json!({ "values": "30, 60, 90" });
            return Err(DomainError::invalid_as("within_days", "one_of", "must be 30, 60 or 90", values).into());
        }
    };
    let (store, now) = (&cx.app.store, cx.req.now);
    let page = store.lots_ending(&org, now, now + chrono::Duration::days(days), &cx.req.page()?).await?;
    let mut companies: Vec<String> = page.items.iter().map(|l| l.org_id.clone()).collect();
    companies.sort_unstable();
    companies.dedup();
    let orgs: Vec<Org> = store
        .get_many(companies.iter().map(|c| (crate::store::keys::org(c), crate::store::keys::ORG_SK)).collect())
        .await?;
    let requested = orders_requested(store, &companies).await?;
    let live = live_lot_ends(store, &companies, now).await?;
    Ok(Reply::page(page, |l| {
        let name = orgs.iter().find(|o| o.org_id == l.org_id).map(|o| o.name.as_str()).unwrap_or_default();
        json!({
            "org_id": l.org_id, "name": name, "lot_id": l.lot_id, "valid_until": l.valid_until,
            "quantity": l.quantity, "in_use": l.in_use,
            "order_requested": requested.get(&l.org_id).copied().unwrap_or(false),
            "renewed_until": renewed_until(live.get(&l.org_id).map(Vec::as_slice).unwrap_or_default(), l),
        })
    }))
}

/// Whether each company has its own order for more requested (a department's and a reduction
/// are not a renewal), among its chain's requested orders: at most 100 read a company.
async fn orders_requested(
    store: &crate::store::Store,
    companies: &[String],
) -> Result<std::collections::HashMap<String, bool>, Error> {
    let answers = futures::future::try_join_all(companies.iter().map(|c| async move {
        let filter =
            OrderFilter { status: Some(OrderStatus::Requested), company_id: Some(c.clone()), ..Default::default() };
        let some = crate::store::PageRequest { limit: 100, cursor: None };
        let page = store.orders(c, &filter, &some).await?;
        Ok::<_, Error>((c.clone(), page.items.iter().any(|o| o.kind == OrderKind::Purchase)))
    }))
    .await?;
    Ok(answers.into_iter().collect())
}

/// Each company's live lots that have an end, as (lot, end): what shows a lot renewed already.
async fn live_lot_ends(
    store: &crate::store::Store,
    companies: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<std::collections::HashMap<String, Vec<(String, chrono::DateTime<chrono::Utc>)>>, Error> {
    let answers = futures::future::try_join_all(companies.iter().map(|c| async move {
        let lots = store.lots_ending_after(c, now).await?;
        let ends =
            lots.into_iter().filter_map(|l| Some((crate::domain::lot::family(&l.lot_id).to_string(), l.valid_until?)));
        Ok::<_, Error>((c.clone(), ends.collect()))
    }))
    .await?;
    Ok(answers.into_iter().collect())
}

/// The latest end among the company's other live lots that end after `lot` (a renewal assigned
/// already, or a lot bought later), or none: the row shows it, so nobody renews twice.
fn renewed_until(
    live: &[(String, chrono::DateTime<chrono::Utc>)],
    lot: &crate::domain::lot::Lot,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let end = lot.valid_until?;
    live.iter().filter(|(id, until)| *id != lot.lot_id && *until > end).map(|(_, until)| *until).max()
}
