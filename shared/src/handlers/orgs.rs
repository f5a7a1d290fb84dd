//! Tenant administration: orgs, their children and policies, notices and the audit log.

use serde_json::{json, Value};

use super::{load_org, new_id};
use crate::domain::audit::AuditEntry;
use crate::domain::auth::{authorize, Action};
use crate::domain::org::{self, NewOrg, Org};
use crate::domain::policy::{Policy, PolicySettings};
use crate::domain::DomainError;
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

pub async fn create(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let input: NewOrg = cx.req.json()?;
    let parent = load_org(cx, &input.parent_id).await?;
    authorize(principal, Action::CreateOrg(input.kind), &parent)?;
    let org = org::create(&parent, input, new_id("org"), cx.req.now)?;
    let store = &cx.app.store;
    let audit = AuditEntry::new(
        principal,
        &parent,
        "org.created",
        &format!("org/{}", org.org_id),
        json!({ "name": org.name, "kind": org.kind }),
        cx.req.now,
    );
    let writes = vec![store.put_new_org(&org)?, store.put_audit(&audit, &new_id("aud"))?];
    let id = org.org_id.clone();
    cx.commit(writes, Reply::created(org.view()), |_| {
        DomainError::Conflict(format!("an org with id {id:?} exists already"))
    })
    .await
}

pub async fn get(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadOrg, &org)?;
    let policy = cx.app.store.policy(&org).await?;
    Ok(Reply::ok(org_with_policy(&org, &policy)))
}

pub async fn children(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadOrg, &org)?;
    let page = cx.app.store.children(&org.org_id, &cx.req.page()?).await?;
    Ok(Reply::page(page, Org::view))
}

pub async fn put_policy(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let mut org = load_org(cx, cx.param("org_id")).await?;
    authorize(principal, Action::SetPolicy, &org)?;
    let settings = cx.req.json::<PolicySettings>()?.validated()?;
    let store = &cx.app.store;
    org.policy = org.policy.merged_with(&settings);
    let policy = store.policy(&org).await?;
    let audit = AuditEntry::new(
        principal,
        &org,
        "policy.set",
        &format!("org/{}", org.org_id),
        serde_json::to_value(&settings).unwrap_or_default(),
        cx.req.now,
    );
    let writes = vec![store.put_org_versioned(&org)?, store.put_audit(&audit, &new_id("aud"))?];
    let mut saved = org.clone();
    saved.version += 1;
    cx.commit(writes, Reply::ok(org_with_policy(&saved, &policy)), |_| {
        DomainError::Conflict("the org changed while the policy was being set; try again".into())
    })
    .await
}

pub async fn notifications(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadNotifications, &org)?;
    let page = cx.app.store.notices(&org.org_id, &cx.req.page()?).await?;
    Ok(Reply::page(page, |n| serde_json::to_value(n).unwrap_or_default()))
}

pub async fn audit(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadAudit, &org)?;
    let page = cx.app.store.audit(&org.org_id, &cx.req.page()?).await?;
    Ok(Reply::page(page, |a| serde_json::to_value(a).unwrap_or_default()))
}
