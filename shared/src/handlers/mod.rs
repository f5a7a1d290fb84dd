//! One async function per route: load state, authorise, decide (domain), commit (store).

mod orders;
mod orgs;

use serde_json::json;
use uuid::Uuid;

use crate::domain::org::Org;
use crate::domain::DomainError;
use crate::http::{Ctx, Op, Reply};
use crate::store::Error;

pub async fn dispatch(op: Op, cx: &Ctx<'_>) -> Result<Reply, Error> {
    match op {
        Op::Health => Ok(Reply::ok(json!({ "status": "ok" }))),
        Op::CreateOrg => orgs::create(cx).await,
        Op::GetOrg => orgs::get(cx).await,
        Op::ListChildren => orgs::children(cx).await,
        Op::PutPolicy => orgs::put_policy(cx).await,
        Op::ListNotifications => orgs::notifications(cx).await,
        Op::ListAudit => orgs::audit(cx).await,
        Op::RequestOrder => orders::request(cx).await,
        Op::ListOrders => orders::list(cx).await,
        Op::GetOrder => orders::get(cx).await,
        Op::CancelOrder => orders::cancel(cx).await,
        Op::AssignOrder => orders::assign(cx).await,
        Op::RejectOrder => orders::reject(cx).await,
        Op::ListLots => orders::lots(cx).await,
    }
}

/// A fresh opaque id with a readable prefix.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}

/// The org of a path parameter, or a 404.
pub(crate) async fn load_org(cx: &Ctx<'_>, org_id: &str) -> Result<Org, Error> {
    cx.app
        .store
        .org(org_id)
        .await?
        .ok_or_else(|| DomainError::not_found("org", org_id).into())
}
