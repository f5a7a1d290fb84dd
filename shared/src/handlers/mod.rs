//! One async function per route: load state, authorise, decide (domain), commit (store).

mod allocations;
pub mod imports;
mod orders;
mod orgs;
pub mod renewals;
pub mod usage;
pub(crate) mod users;

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
        Op::UpsertUser => retry_races(|| users::upsert(cx)).await,
        Op::ListUsers => users::list(cx).await,
        Op::GetUser => users::get(cx).await,
        Op::ReleaseUser => retry_races(|| users::release(cx)).await,
        Op::SetRenewable => users::set_renewable(cx).await,
        Op::PutEnrolment => retry_races(|| users::put_enrolment(cx)).await,
        Op::Access => users::access(cx).await,
        Op::Allocate => retry_races(|| allocations::allocate(cx)).await,
        Op::ListLicences => allocations::licences(cx).await,
        Op::CreateImport => imports::create(cx).await,
        Op::ConfirmImport => imports::confirm(cx).await,
        Op::GetImport => imports::get(cx).await,
        Op::Renewals => renewals::get(cx).await,
        Op::Usage => usage::get(cx).await,
    }
}

/// Runs a read-decide-write handler again when its write lost a race (a version or a bound
/// changed between the read and the write, or another transaction held the same item): the next
/// attempt reads the new state and decides anew, so it either succeeds or refuses for the real
/// reason. Waits a little, with jitter, before each new attempt so racing callers spread out.
async fn retry_races<F, Fut>(mut attempt: F) -> Result<Reply, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Reply, Error>>,
{
    for round in 0..RACE_RETRIES {
        match attempt().await {
            Err(Error::Domain(DomainError::Conflict(m))) if m == RACED => {}
            Err(Error::Store(crate::store::StoreError::Retryable(_))) => {}
            other => return other,
        }
        let jitter = Uuid::new_v4().as_bytes()[0] as u64 % 40;
        tokio::time::sleep(std::time::Duration::from_millis(10 * (round as u64 + 1) + jitter)).await;
    }
    attempt().await
}

const RACE_RETRIES: usize = 8;

/// The conflict a lost race reports (and [`retry_races`] retries).
pub(crate) const RACED: &str = "the data changed while this request was being handled; try again";

/// A fresh opaque id with a readable prefix.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}

/// The org of a path parameter, or a 404.
pub(crate) async fn load_org(cx: &Ctx<'_>, org_id: &str) -> Result<Org, Error> {
    cx.app.store.org(org_id).await?.ok_or_else(|| DomainError::not_found("org", org_id).into())
}
