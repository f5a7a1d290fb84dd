//! Every route of the API, which function serves it, and whether it is a command (takes an
//! `Idempotency-Key`). The Lambdas, the local server and the template test all read this table.

use percent_encoding::percent_decode_str;

use crate::domain::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Health,
    CreateOrg,
    GetOrg,
    ListChildren,
    PutPolicy,
    ListNotifications,
    ListSuppressions,
    ClearSuppression,
    GetContacts,
    PutContacts,
    ListAudit,
    RequestOrder,
    ListOrders,
    GetOrder,
    CancelOrder,
    AssignOrder,
    RejectOrder,
    ListLots,
    Expiring,
    UpsertUser,
    ListUsers,
    GetUser,
    ReleaseUser,
    SetRenewable,
    PutEnrolment,
    ListEnrolments,
    ListOrgEnrolments,
    BulkEnrolments,
    EraseUser,
    Access,
    Allocate,
    GetAllocation,
    ListAllocationRows,
    ListLicences,
    CountLicences,
    CreateImport,
    ConfirmImport,
    GetImport,
    ListImportRows,
    Renewals,
    Usage,
}

/// The media types of a JSON command's body.
pub const JSON_BODY: &[&str] = &["application/json"];

/// The media types of a file sent to the import: CSV text, or an Excel workbook (read as one by
/// this type or by its first bytes, a ZIP archive's, whatever the header says).
pub const IMPORT_BODY: &[&str] =
    &["text/csv", "text/plain", "application/octet-stream", crate::domain::import::XLSX_MEDIA_TYPE];

impl Op {
    /// The media types of the body the operation reads; empty when it reads none. A body of
    /// another kind that cannot be one of them (multipart/form-data) is refused with 415.
    pub const fn accepts(self) -> &'static [&'static str] {
        match self {
            Op::CreateImport => IMPORT_BODY,
            Op::CreateOrg
            | Op::PutPolicy
            | Op::PutContacts
            | Op::RequestOrder
            | Op::RejectOrder
            | Op::UpsertUser
            | Op::SetRenewable
            | Op::PutEnrolment
            | Op::BulkEnrolments
            | Op::Allocate => JSON_BODY,
            Op::Health
            | Op::GetOrg
            | Op::ListChildren
            | Op::ListNotifications
            | Op::ListSuppressions
            | Op::ClearSuppression
            | Op::GetContacts
            | Op::ListAudit
            | Op::ListOrders
            | Op::GetOrder
            | Op::CancelOrder
            | Op::AssignOrder
            | Op::ListLots
            | Op::Expiring
            | Op::ListUsers
            | Op::GetUser
            | Op::ReleaseUser
            | Op::EraseUser
            | Op::Access
            | Op::ListEnrolments
            | Op::ListOrgEnrolments
            | Op::GetAllocation
            | Op::ListAllocationRows
            | Op::ListLicences
            | Op::CountLicences
            | Op::ConfirmImport
            | Op::GetImport
            | Op::ListImportRows
            | Op::Renewals
            | Op::Usage => &[],
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub op: Op,
    /// The Lambda function that serves the route (`functions/<name>`).
    pub function: &'static str,
    pub command: bool,
}

const fn route(method: &'static str, path: &'static str, op: Op, function: &'static str) -> Route {
    let command = !matches!(method.as_bytes(), b"GET");
    Route { method, path, op, function, command }
}

pub const TENANT_ADMIN: &str = "tenant-admin";
pub const REQUEST_ORDER: &str = "request-order";
pub const ASSIGN_ORDER: &str = "assign-order";
pub const USERS: &str = "users";
pub const ALLOCATE: &str = "allocate";
pub const IMPORT_ALLOCATION: &str = "import-allocation";
pub const RENEWALS: &str = "renewals";
pub const USAGE_REPORT: &str = "usage-report";

pub const ROUTES: &[Route] = &[
    route("GET", "/health", Op::Health, TENANT_ADMIN),
    route("POST", "/v1/orgs", Op::CreateOrg, TENANT_ADMIN),
    route("GET", "/v1/orgs/{org_id}", Op::GetOrg, TENANT_ADMIN),
    route("GET", "/v1/orgs/{org_id}/children", Op::ListChildren, TENANT_ADMIN),
    route("PUT", "/v1/orgs/{org_id}/policy", Op::PutPolicy, TENANT_ADMIN),
    route("GET", "/v1/orgs/{org_id}/notifications", Op::ListNotifications, TENANT_ADMIN),
    route("GET", "/v1/orgs/{org_id}/suppressions", Op::ListSuppressions, TENANT_ADMIN),
    route("DELETE", "/v1/orgs/{org_id}/suppressions/{email}", Op::ClearSuppression, TENANT_ADMIN),
    route("GET", "/v1/orgs/{org_id}/contacts", Op::GetContacts, TENANT_ADMIN),
    route("PUT", "/v1/orgs/{org_id}/contacts", Op::PutContacts, TENANT_ADMIN),
    route("GET", "/v1/orgs/{org_id}/audit", Op::ListAudit, TENANT_ADMIN),
    route("POST", "/v1/orgs/{org_id}/orders", Op::RequestOrder, REQUEST_ORDER),
    route("GET", "/v1/orgs/{org_id}/orders", Op::ListOrders, REQUEST_ORDER),
    route("GET", "/v1/orders/{order_id}", Op::GetOrder, REQUEST_ORDER),
    route("POST", "/v1/orders/{order_id}/cancel", Op::CancelOrder, REQUEST_ORDER),
    route("POST", "/v1/orders/{order_id}/assign", Op::AssignOrder, ASSIGN_ORDER),
    route("POST", "/v1/orders/{order_id}/reject", Op::RejectOrder, ASSIGN_ORDER),
    route("GET", "/v1/orgs/{org_id}/lots", Op::ListLots, ASSIGN_ORDER),
    route("GET", "/v1/orgs/{org_id}/expiring", Op::Expiring, ASSIGN_ORDER),
    route("GET", "/v1/orgs/{org_id}/users", Op::ListUsers, USERS),
    route("POST", "/v1/orgs/{org_id}/users/renewable", Op::SetRenewable, USERS),
    route("PUT", "/v1/orgs/{org_id}/users/{email}", Op::UpsertUser, USERS),
    route("GET", "/v1/orgs/{org_id}/users/{email}", Op::GetUser, USERS),
    route("DELETE", "/v1/orgs/{org_id}/users/{email}", Op::ReleaseUser, USERS),
    route("POST", "/v1/orgs/{org_id}/users/{email}/erase", Op::EraseUser, USERS),
    route("PUT", "/v1/orgs/{org_id}/users/{email}/enrolments/{enrolment_id}", Op::PutEnrolment, USERS),
    route("GET", "/v1/orgs/{org_id}/users/{email}/enrolments", Op::ListEnrolments, USERS),
    route("GET", "/v1/orgs/{org_id}/enrolments", Op::ListOrgEnrolments, USERS),
    route("POST", "/v1/orgs/{org_id}/enrolments/bulk", Op::BulkEnrolments, USERS),
    route("GET", "/v1/orgs/{org_id}/users/{email}/access", Op::Access, USERS),
    route("POST", "/v1/orgs/{org_id}/allocations", Op::Allocate, ALLOCATE),
    route("GET", "/v1/orgs/{org_id}/allocations/{allocation_id}", Op::GetAllocation, ALLOCATE),
    route("GET", "/v1/orgs/{org_id}/allocations/{allocation_id}/rows", Op::ListAllocationRows, ALLOCATE),
    route("GET", "/v1/orgs/{org_id}/licences", Op::ListLicences, ALLOCATE),
    route("GET", "/v1/orgs/{org_id}/licences/count", Op::CountLicences, ALLOCATE),
    route("POST", "/v1/orgs/{org_id}/imports", Op::CreateImport, IMPORT_ALLOCATION),
    route("POST", "/v1/orgs/{org_id}/imports/{import_id}/confirm", Op::ConfirmImport, IMPORT_ALLOCATION),
    route("GET", "/v1/orgs/{org_id}/imports/{import_id}", Op::GetImport, IMPORT_ALLOCATION),
    route("GET", "/v1/orgs/{org_id}/imports/{import_id}/rows", Op::ListImportRows, IMPORT_ALLOCATION),
    route("GET", "/v1/orgs/{org_id}/renewals", Op::Renewals, RENEWALS),
    route("GET", "/v1/orgs/{org_id}/usage", Op::Usage, USAGE_REPORT),
];

/// The OpenAPI 3 document of the whole API (`shared/openapi.yaml`); a test holds its paths and
/// methods to [`ROUTES`].
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// The OpenAPI document as JSON (the local server serves it at `/openapi.json`).
pub fn openapi_json() -> serde_json::Value {
    serde_yaml::from_str(OPENAPI_YAML).unwrap_or_default()
}

/// Path parameters, percent-decoded.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

fn matches(pattern: &'static str, path: &str) -> Result<Option<Params>, DomainError> {
    let want: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let got: Vec<&str> = path.trim_end_matches('/').trim_start_matches('/').split('/').collect();
    if want.len() != got.len() {
        return Ok(None);
    }
    let mut params = Vec::new();
    for (w, g) in want.iter().zip(&got) {
        if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            let value =
                percent_decode_str(g).decode_utf8().map_err(|_| DomainError::invalid(name, "is not valid UTF-8"))?;
            if value.is_empty() {
                return Ok(None);
            }
            params.push((name, value.into_owned()));
        } else if w != g {
            return Ok(None);
        }
    }
    Ok(Some(Params(params)))
}

/// Why no route was found.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    NoSuchPath,
    MethodNotAllowed,
}

/// The route for a method and raw path, among those served by `function` (all when `None`).
pub fn find(
    method: &str,
    path: &str,
    function: Option<&str>,
) -> Result<Result<(&'static Route, Params), Miss>, DomainError> {
    let mut path_known = false;
    for r in ROUTES.iter().filter(|r| function.is_none_or(|f| f == r.function)) {
        if let Some(params) = matches(r.path, path)? {
            if r.method.eq_ignore_ascii_case(method) {
                return Ok(Ok((r, params)));
            }
            path_known = true;
        }
    }
    Ok(Err(if path_known { Miss::MethodNotAllowed } else { Miss::NoSuchPath }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_document_has_exactly_the_implemented_routes() {
        let doc = openapi_json();
        assert_eq!(doc["openapi"], "3.0.3");
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                documented.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
        let mut implemented: Vec<(String, String)> =
            ROUTES.iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
        documented.sort();
        implemented.sort();
        assert_eq!(documented, implemented);
    }

    use super::*;

    /// The operation of the document's `method` `path`, as the route table has it.
    fn op_of(method: &str, path: &str) -> Op {
        ROUTES.iter().find(|r| r.method.eq_ignore_ascii_case(method) && r.path == path).expect("a route").op
    }

    #[test]
    fn the_openapi_document_gives_each_operation_its_bodies_and_answers() {
        let doc = openapi_json();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                let op = op_of(method, path);
                let at = format!("{method} {path}");
                assert!(operation["summary"].as_str().is_some_and(|s| !s.is_empty()), "{at}: a summary");
                let responses = operation["responses"].as_object().expect("responses");
                // The media types documented for the body are exactly those the operation reads.
                let mut documented: Vec<&str> = operation["requestBody"]["content"]
                    .as_object()
                    .map(|c| c.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                let mut accepted = op.accepts().to_vec();
                documented.sort();
                accepted.sort();
                assert_eq!(documented, accepted, "{at}: the body's media types");
                let mut want: Vec<&str> = match op {
                    Op::Health => vec![],
                    _ => vec!["400", "401", "403", "404", "503"],
                };
                if ROUTES.iter().any(|r| r.op == op && r.command) {
                    want.push("409");
                }
                if !op.accepts().is_empty() {
                    want.extend(["413", "415"]);
                }
                for status in want {
                    assert!(responses.contains_key(status), "{at}: documents {status}");
                }
                assert_eq!(responses.contains_key("415"), !op.accepts().is_empty(), "{at}: 415 only with a body");
                for (status, response) in responses {
                    if status.starts_with('2') {
                        let content = response["content"].as_object().expect("a success has content");
                        let schema = &content.get("application/json").expect("a JSON answer")["schema"];
                        assert!(schema.is_object(), "{at} {status}: a schema");
                        continue;
                    }
                    let r = response["$ref"].as_str().unwrap_or_default();
                    let name = r.strip_prefix("#/components/responses/").expect("an error answer refers to a response");
                    let schema = &doc["components"]["responses"][name]["content"]["application/json"]["schema"];
                    assert_eq!(schema["$ref"], "#/components/schemas/Error", "{at} {status}");
                }
            }
        }
        let codes = &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"];
        let refusal = DomainError::UnsupportedMediaType { message: String::new(), accepted: JSON_BODY };
        assert!(codes.as_array().expect("codes").iter().any(|c| c == refusal.code()));
    }

    #[test]
    fn every_list_documents_its_items() {
        let doc = openapi_json();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let Some(get) = item.get("get") else { continue };
            let has_limit = get["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["$ref"] == "#/components/parameters/Limit"));
            if !has_limit {
                continue;
            }
            let schema = &get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
            let name = schema.as_str().and_then(|s| s.strip_prefix("#/components/schemas/")).expect("a page schema");
            let page = &doc["components"]["schemas"][name];
            assert_eq!(page["required"], serde_json::json!(["items", "next_cursor"]), "{path}");
            let items = page["properties"]["items"]["items"]["$ref"].as_str().unwrap_or_default();
            let item = items.strip_prefix("#/components/schemas/").unwrap_or_default();
            assert!(doc["components"]["schemas"][item].is_object(), "{path}: the items of {name} have a schema");
        }
    }

    #[test]
    fn paths_match_with_decoded_parameters() {
        let (r, p) = find("GET", "/v1/orgs/acme%2Dco/orders", None).unwrap().unwrap();
        assert_eq!(r.op, Op::ListOrders);
        assert_eq!(p.get("org_id"), "acme-co");
        let (r, _) = find("POST", "/v1/orders/o1/assign", None).unwrap().unwrap();
        assert_eq!((r.op, r.function, r.command), (Op::AssignOrder, ASSIGN_ORDER, true));
    }

    #[test]
    fn an_encoded_slash_stays_inside_its_parameter() {
        let (r, p) = find("GET", "/v1/orgs/a%2Fb", None).unwrap().unwrap();
        assert_eq!(r.op, Op::GetOrg);
        assert_eq!(p.get("org_id"), "a/b");
    }

    #[test]
    fn misses_say_why() {
        assert_eq!(find("DELETE", "/v1/orgs", None).unwrap().unwrap_err(), Miss::MethodNotAllowed);
        assert_eq!(find("GET", "/v2/nothing", None).unwrap().unwrap_err(), Miss::NoSuchPath);
        // A function serves only its own routes.
        assert_eq!(find("POST", "/v1/orders/o1/assign", Some(REQUEST_ORDER)).unwrap().unwrap_err(), Miss::NoSuchPath);
    }
}
