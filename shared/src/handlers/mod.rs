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
use crate::http::routes::{serves, ALL};
use crate::http::{Ctx, Op, Reply};
use crate::store::Error;

pub async fn dispatch(op: Op, cx: &Ctx<'_>) -> Result<Reply, Error> {
    dispatch_in::<ALL>(op, cx).await
}

/// The handlers of function `F` (see [`crate::http::routes::serves`]): the arms of other
/// functions' routes are compiled out, so a function's binary links only its own handlers.
pub async fn dispatch_in<const F: usize>(op: Op, cx: &Ctx<'_>) -> Result<Reply, Error> {
    match op {
        Op::Health => Ok(Reply::ok(json!({ "status": "ok" }))),
        Op::CreateOrg if const { serves(F, Op::CreateOrg) } => orgs::create(cx).await,
        Op::GetOrg if const { serves(F, Op::GetOrg) } => orgs::get(cx).await,
        Op::ListChildren if const { serves(F, Op::ListChildren) } => orgs::children(cx).await,
        Op::PutPolicy if const { serves(F, Op::PutPolicy) } => orgs::put_policy(cx).await,
        Op::ListNotifications if const { serves(F, Op::ListNotifications) } => orgs::notifications(cx).await,
        Op::ListAudit if const { serves(F, Op::ListAudit) } => orgs::audit(cx).await,
        Op::RequestOrder if const { serves(F, Op::RequestOrder) } => orders::request(cx).await,
        Op::ListOrders if const { serves(F, Op::ListOrders) } => orders::list(cx).await,
        Op::GetOrder if const { serves(F, Op::GetOrder) } => orders::get(cx).await,
        Op::CancelOrder if const { serves(F, Op::CancelOrder) } => orders::cancel(cx).await,
        Op::AssignOrder if const { serves(F, Op::AssignOrder) } => orders::assign(cx).await,
        Op::RejectOrder if const { serves(F, Op::RejectOrder) } => orders::reject(cx).await,
        Op::ListLots if const { serves(F, Op::ListLots) } => orders::lots(cx).await,
        Op::UpsertUser if const { serves(F, Op::UpsertUser) } => retry_races(|| users::upsert(cx)).await,
        Op::ListUsers if const { serves(F, Op::ListUsers) } => users::list(cx).await,
        Op::GetUser if const { serves(F, Op::GetUser) } => users::get(cx).await,
        Op::ReleaseUser if const { serves(F, Op::ReleaseUser) } => retry_races(|| users::release(cx)).await,
        Op::SetRenewable if const { serves(F, Op::SetRenewable) } => users::set_renewable(cx).await,
        Op::PutEnrolment if const { serves(F, Op::PutEnrolment) } => retry_races(|| users::put_enrolment(cx)).await,
        Op::Access if const { serves(F, Op::Access) } => users::access(cx).await,
        Op::Allocate if const { serves(F, Op::Allocate) } => retry_races(|| allocations::allocate(cx)).await,
        Op::ListLicences if const { serves(F, Op::ListLicences) } => allocations::licences(cx).await,
        Op::CreateImport if const { serves(F, Op::CreateImport) } => imports::create(cx).await,
        Op::ConfirmImport if const { serves(F, Op::ConfirmImport) } => imports::confirm(cx).await,
        Op::GetImport if const { serves(F, Op::GetImport) } => imports::get(cx).await,
        Op::Renewals if const { serves(F, Op::Renewals) } => renewals::get(cx).await,
        Op::Usage if const { serves(F, Op::Usage) } => usage::get(cx).await,
        _ => Err(DomainError::NotFound(format!("{op:?} is not served by this function")).into()),
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
