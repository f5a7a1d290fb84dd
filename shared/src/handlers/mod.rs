//! One async function per route: load the state, authorise, decide (a domain function returning
//! typed changes), and hand the decision to the executor (`Ctx::execute`), which applies it.

pub(crate) mod allocations;
pub mod imports;
mod orders;
mod orgs;
pub mod renewals;
pub mod usage;
pub(crate) mod users;

use crate::domain::org::Org;
use crate::domain::DomainError;
use crate::http::Ctx;
use crate::store::Error;

/// The handler of each operation, by the operation's name.
macro_rules! handler {
    (Health, $cx:ident) => { Ok(Reply::ok(json!({ "status": "ok" }))) };
    (CreateOrg, $cx:ident) => { orgs::create($cx).await };
    (GetOrg, $cx:ident) => { orgs::get($cx).await };
    (ListChildren, $cx:ident) => { orgs::children($cx).await };
    (PutPolicy, $cx:ident) => { orgs::put_policy($cx).await };
    (ListNotifications, $cx:ident) => { orgs::notifications($cx).await };
    (ListSuppressions, $cx:ident) => { orgs::suppressions($cx).await };
    (GetContacts, $cx:ident) => { orgs::contacts($cx).await };
    (PutContacts, $cx:ident) => { orgs::set_contacts($cx).await };
    (ClearSuppression, $cx:ident) => { orgs::clear_suppression($cx).await };
    (ListAudit, $cx:ident) => { orgs::audit($cx).await };
    (RequestOrder, $cx:ident) => { orders::request($cx).await };
    (ListOrders, $cx:ident) => { orders::list($cx).await };
    (GetOrder, $cx:ident) => { orders::get($cx).await };
    (CancelOrder, $cx:ident) => { orders::cancel($cx).await };
    (AssignOrder, $cx:ident) => { orders::assign($cx).await };
    (RejectOrder, $cx:ident) => { orders::reject($cx).await };
    (ListLots, $cx:ident) => { orders::lots($cx).await };
    (Expiring, $cx:ident) => { orders::expiring($cx).await };
    (UpsertUser, $cx:ident) => { users::upsert($cx).await };
    (ListUsers, $cx:ident) => { users::list($cx).await };
    (GetUser, $cx:ident) => { users::get($cx).await };
    (ReleaseUser, $cx:ident) => { users::release($cx).await };
    (SetRenewable, $cx:ident) => { users::set_renewable($cx).await };
    (PutEnrolment, $cx:ident) => { users::put_enrolment($cx).await };
    (ListEnrolments, $cx:ident) => { users::enrolments($cx).await };
    (ListOrgEnrolments, $cx:ident) => { users::org_enrolments($cx).await };
    (BulkEnrolments, $cx:ident) => { users::bulk_enrolments($cx).await };
    (EraseUser, $cx:ident) => { users::erase($cx).await };
    (Access, $cx:ident) => { users::access($cx).await };
    (Allocate, $cx:ident) => { allocations::allocate($cx).await };
    (GetAllocation, $cx:ident) => { allocations::get($cx).await };
    (ListAllocationRows, $cx:ident) => { allocations::rows($cx).await };
    (ListLicences, $cx:ident) => { allocations::licences($cx).await };
    (CountLicences, $cx:ident) => { allocations::count_licences($cx).await };
    (CreateImport, $cx:ident) => { imports::create($cx).await };
    (ConfirmImport, $cx:ident) => { imports::confirm($cx).await };
    (GetImport, $cx:ident) => { imports::get($cx).await };
    (ListImportRows, $cx:ident) => { imports::rows($cx).await };
    (Renewals, $cx:ident) => { renewals::get($cx).await };
    (Usage, $cx:ident) => { usage::get($cx).await };
}

/// A [`Function`](crate::http::Function) whose dispatch runs exactly the handlers of `ops`.
macro_rules! function {
    ($name:expr, $app:expr; $($op:ident),+ $(,)?) => {{
        fn dispatch<'a, 'b>(op: Op, cx: &'a Ctx<'b>) -> BoxFuture<'a, Result<Reply, Error>> {
            Box::pin(async move {
                match op {
                    $(Op::$op => handler!($op, cx),)+
                    #[allow(unreachable_patterns)]
                    other => Err(crate::store::StoreError::Other(format!("{other:?} is not served here")).into()),
                }
            })
        }
        Function { name: $name, ops: &[$(Op::$op),+], dispatch, app: $app }
    }};
}

/// Each Lambda's routes and handlers, as its `main` serves them. Tests hold each list to the
/// route table; a function's binary links only the handlers (and the clients) its list names.
pub mod functions {
    use futures::future::BoxFuture;
    use serde_json::json;

    use super::{allocations, imports, orders, orgs, renewals, usage, users};
    use crate::http::routes::{self, Op};
    use crate::http::{Ctx, Function, Reply};
    use crate::store::Error;
    use crate::App;

    fn table() -> BoxFuture<'static, Result<App, String>> {
        Box::pin(App::from_env())
    }

    fn table_and_bucket() -> BoxFuture<'static, Result<App, String>> {
        Box::pin(App::from_env_with_bucket())
    }

    pub const TENANT_ADMIN: Function = function!(Some(routes::TENANT_ADMIN), table;
        Health, CreateOrg, GetOrg, ListChildren, PutPolicy, ListNotifications, ListSuppressions, ClearSuppression,
        GetContacts, PutContacts, ListAudit);
    pub const REQUEST_ORDER: Function =
        function!(Some(routes::REQUEST_ORDER), table; RequestOrder, ListOrders, GetOrder, CancelOrder);
    pub const ASSIGN_ORDER: Function =
        function!(Some(routes::ASSIGN_ORDER), table; AssignOrder, RejectOrder, ListLots, Expiring);
    pub const USERS: Function = function!(Some(routes::USERS), table;
        ListUsers, SetRenewable, UpsertUser, GetUser, ReleaseUser, PutEnrolment, ListEnrolments, ListOrgEnrolments, BulkEnrolments, EraseUser, Access);
    pub const ALLOCATE: Function = function!(Some(routes::ALLOCATE), table; Allocate, GetAllocation, ListAllocationRows, ListLicences, CountLicences);
    pub const IMPORT_ALLOCATION: Function = function!(Some(routes::IMPORT_ALLOCATION), table_and_bucket; CreateImport, ConfirmImport, GetImport, ListImportRows);
    pub const RENEWALS: Function = function!(Some(routes::RENEWALS), table_and_bucket; Renewals);
    pub const USAGE_REPORT: Function = function!(Some(routes::USAGE_REPORT), table; Usage);

    /// Every route, as the local server serves them.
    pub const ALL: Function = function!(None, table_and_bucket;
        Health, CreateOrg, GetOrg, ListChildren, PutPolicy, ListNotifications, ListSuppressions, ClearSuppression,
        GetContacts, PutContacts, ListAudit, RequestOrder, ListOrders, GetOrder, CancelOrder, AssignOrder, RejectOrder, ListLots, Expiring,
        ListUsers, SetRenewable, UpsertUser, GetUser, ReleaseUser, PutEnrolment, ListEnrolments, ListOrgEnrolments, BulkEnrolments, EraseUser, Access,
        Allocate, GetAllocation, ListAllocationRows, ListLicences, CountLicences, CreateImport, ConfirmImport, GetImport, ListImportRows, Renewals, Usage);

    /// The functions that serve routes.
    pub const EACH: &[Function] =
        &[TENANT_ADMIN, REQUEST_ORDER, ASSIGN_ORDER, USERS, ALLOCATE, IMPORT_ALLOCATION, RENEWALS, USAGE_REPORT];

    /// The function that serves `method` `target` (a path, with or without its query), as API
    /// Gateway routes it; [`ALL`] for a request no route matches (its 404 or 405 is the same
    /// everywhere).
    pub fn serving(method: &str, target: &str) -> &'static Function {
        let path = target.split('?').next().unwrap_or_default();
        let name = match routes::find(method, path, None) {
            Ok(Ok((route, _))) => route.function,
            _ => return &ALL,
        };
        EACH.iter().find(|f| f.name == Some(name)).unwrap_or(&ALL)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::http::ROUTES;

        #[test]
        fn each_function_dispatches_exactly_the_operations_of_its_routes() {
            let mut named: Vec<&str> = EACH.iter().filter_map(|f| f.name).collect();
            let mut in_table: Vec<&str> = ROUTES.iter().map(|r| r.function).collect();
            named.sort();
            in_table.sort();
            in_table.dedup();
            assert_eq!(named, in_table, "one Function per function of the route table");
            for f in EACH {
                let mut want: Vec<String> =
                    ROUTES.iter().filter(|r| Some(r.function) == f.name).map(|r| format!("{:?}", r.op)).collect();
                let mut have: Vec<String> = f.ops.iter().map(|op| format!("{op:?}")).collect();
                want.sort();
                have.sort();
                assert_eq!(have, want, "{:?}", f.name);
            }
            let mut all: Vec<String> = ALL.ops.iter().map(|op| format!("{op:?}")).collect();
            let mut every: Vec<String> = ROUTES.iter().map(|r| format!("{:?}", r.op)).collect();
            all.sort();
            every.sort();
            assert_eq!(all, every);
        }

        #[test]
        fn a_request_goes_to_the_function_of_its_route() {
            assert_eq!(serving("POST", "/v1/orgs/c/allocations").name, Some(routes::ALLOCATE));
            assert_eq!(serving("get", "/v1/orgs/c/imports/imp_1").name, Some(routes::IMPORT_ALLOCATION));
            assert_eq!(serving("GET", "/v1/nowhere").name, None);
        }
    }
}

/// The org of a path parameter, or a 404.
pub(crate) async fn load_org(cx: &Ctx<'_>, org_id: &str) -> Result<Org, Error> {
    cx.app.store.org(org_id).await?.ok_or_else(|| DomainError::not_found("org", org_id).into())
}
