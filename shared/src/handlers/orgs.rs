//! Tenant administration: orgs, their children, policies and contacts, notices, the addresses
//! the mailer does not mail (suppressions) and the audit log.

use serde_json::{json, Value};

use super::load_org;
use crate::command::new_id;
use crate::domain::auth::{authorize, Action};
use crate::domain::contacts::{SetContacts, Topic};
use crate::domain::decide::orders as decide;
use crate::domain::notice::{self, Delivery, Notice};
use crate::domain::org::{self, NewOrg, Org, OrgKind};
use crate::domain::policy::{Policy, PolicySettings};
use crate::domain::{suppression, validate, DomainError};
use crate::http::{Ctx, Reply};
use crate::store::Error;

/// The org with the policy in force (inherited knobs resolved) and `own_policy`: only the knobs
/// set on this org itself, so a form can change just what its user changed. (`policy_settings`
/// is the same object under its earlier name.)
fn org_with_policy(org: &Org, policy: &Policy) -> Value {
    let mut v = org.view();
    let own = serde_json::to_value(&org.policy).unwrap_or_default();
    v["policy"] = serde_json::to_value(policy).unwrap_or_default();
    v["own_policy"] = own.clone();
    v["policy_settings"] = own;
    v
}

/// A new org under a parent within the caller's reach. Its id is new, also ignoring case: the
/// transaction writes the org and its case guard, each on the condition that it is new, so of
/// two creations racing for one id (in any spelling) one wins and the other, run again, is
/// refused here in words. The refusal names nothing of the org that holds the id.
pub async fn create(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let input: NewOrg = cx.req.json()?;
    let parent = load_org(cx, &input.parent_id).await?;
    authorize(principal, Action::CreateOrg(input.kind), &parent)?;
    cx.execute(|| async {
        let org = org::create(&parent, input.clone(), new_id("org"), cx.req.now)?;
        if cx.app.store.org_id_holder(&org.org_id).await?.is_some() {
            return Err(DomainError::conflict(
                "org_id_taken",
                format!(
                "org_id: {:?} is taken (org ids are unique ignoring case); choose another, or leave org_id out for a \
                 generated one",
                org.org_id
            ),
            )
            .into());
        }
        Ok(decide::create_org(org, &parent, principal, cx.req.now).map(|o| Reply::created(o.view())))
    })
    .await
}

pub async fn get(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadOrg, &org)?;
    let policy = cx.app.store.policy(&org).await?;
    let mut body = org_with_policy(&org, &policy);
    if org.kind == OrgKind::Company {
        body["account_contacts"] = account_contacts(cx, &org).await?;
    }
    Ok(Reply::ok(body))
}

/// Who a company's managers reach about orders: the `orders` contacts (names and e-mails) of
/// the nearest partner above it, or of the vendor when it has none.
async fn account_contacts(cx: &Ctx<'_>, company: &Org) -> Result<Value, Error> {
    let account = super::orders::account_org(cx, company).await?;
    let orders = account.contacts.into_iter().filter(|c| c.receives.contains(&Topic::Orders));
    Ok(Value::Array(orders.map(|c| json!({ "email": c.email, "name": c.name })).collect()))
}

/// `GET …/contacts`: the org's own contacts (its managers and those above).
pub async fn contacts(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ManageContacts, &org)?;
    Ok(Reply::ok(json!({ "contacts": org.contacts })))
}

/// `PUT …/contacts`: the org's whole list, replaced (docs/domain.md#who-is-told).
pub async fn set_contacts(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let input: SetContacts = cx.req.json()?;
    let contacts = crate::domain::contacts::validated(input)?;
    cx.execute(|| async {
        let org = load_org(cx, cx.param("org_id")).await?;
        authorize(principal, Action::ManageContacts, &org)?;
        let decided = decide::set_contacts(&org, contacts.clone(), principal, cx.req.now);
        Ok(decided.map(|o| Reply::ok(json!({ "contacts": o.contacts }))))
    })
    .await
}

pub async fn children(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadOrg, &org)?;
    let page = cx.app.store.children(&org.org_id, &cx.req.page()?).await?;
    Ok(Reply::page(page, Org::view))
}

pub async fn put_policy(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    cx.execute(|| async {
        let org = load_org(cx, cx.param("org_id")).await?;
        authorize(principal, Action::SetPolicy, &org)?;
        let settings = cx.req.json::<PolicySettings>()?.validated()?;
        let decided = decide::set_policy(&org, &settings, principal, cx.req.now);
        // The policy in force is resolved over the org as it will be stored.
        let policy = cx.app.store.policy(&decided.outcome).await?;
        Ok(decided.map(|saved| Reply::ok(org_with_policy(&saved, &policy))))
    })
    .await
}

pub async fn notifications(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadNotifications, &org)?;
    let page = cx.app.store.notices(&org.org_id, &cx.req.page()?).await?;
    let (found, no_recipient) = cx.app.store.deliveries(&page.items).await?;
    Ok(Reply::page(page, |n| notice_view(n, &found, &no_recipient)))
}

/// A notice with each recipient's e-mail delivery (`pending` until the mailer tried), and
/// whether the mailer recorded it as having no recipient.
fn notice_view(n: &Notice, found: &[Delivery], no_recipient: &[String]) -> Value {
    let mut v = serde_json::to_value(n).unwrap_or_default();
    let deliveries: Vec<Value> = notice::deliveries_of(n, found)
        .into_iter()
        .map(|d| {
            let mut d = serde_json::to_value(d).unwrap_or_default();
            if let Some(o) = d.as_object_mut() {
                // The guard's bookkeeping (whose claim, its lease, its version) stays inside.
                for internal in ["notice_id", "lease_until", "claim", "version"] {
                    o.remove(internal);
                }
            }
            d
        })
        .collect();
    v["deliveries"] = Value::Array(deliveries);
    v["no_recipient"] = Value::Bool(no_recipient.contains(&n.notice_id));
    v
}

/// The addresses not mailed for the org (on the vendor org: also those not mailed anywhere).
pub async fn suppressions(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ManageSuppressions, &org)?;
    let page = cx.app.store.suppressions(&org.org_id, &cx.req.page()?).await?;
    Ok(Reply::page(page, |s| serde_json::to_value(s).unwrap_or_default()))
}

/// Clears an address's suppression for the org (on the vendor org: its global one too), so the
/// mailer mails it again; `not_found` when it is not suppressed there.
pub async fn clear_suppression(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(principal, Action::ManageSuppressions, &org)?;
    let email = validate::email("email", cx.param("email"))?;
    cx.execute(|| async {
        let found = cx.app.store.suppressions_of(&org.org_id, &email).await?;
        if found.is_empty() {
            return Err(DomainError::not_found("suppression", &email).into());
        }
        let decided = suppression::clear(&org, found, principal, cx.req.now);
        Ok(decided.map(|cleared| Reply::ok(json!({ "email": email, "cleared": cleared }))))
    })
    .await
}

pub async fn audit(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadAudit, &org)?;
    let page = cx.app.store.audit(&org.org_id, &cx.req.page()?).await?;
    Ok(Reply::page(page, |a| serde_json::to_value(a).unwrap_or_default()))
}
