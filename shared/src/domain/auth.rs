//! Who may do what where (docs/domain.md#roles-and-reach). A principal acts on its own org and everything below
//! it. Reach is checked first: anything outside the principal's reach is `not_found`, whatever
//! the role, so ids of other tenants do not leak; within its reach, an action the role may never
//! do is `forbidden`.

use serde::{Deserialize, Serialize};

use super::org::{Org, OrgKind};
use super::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    VendorAdmin,
    PartnerManager,
    CompanyManager,
    Learner,
    Platform,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    pub fn is_manager(self) -> bool {
        matches!(self, Role::VendorAdmin | Role::PartnerManager | Role::CompanyManager)
    }
}

/// The verified caller, from the JWT claims the authorizer put in the request context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub email: String,
    pub org_id: String,
    pub role: Role,
}

impl Principal {
    pub fn new(sub: &str, email: &str, org_id: &str, role: Role) -> Self {
        Principal { sub: sub.into(), email: email.to_lowercase(), org_id: org_id.into(), role }
    }

    /// The name the audit log records for this principal.
    pub fn actor(&self) -> &str {
        if self.email.is_empty() {
            &self.sub
        } else {
            &self.email
        }
    }

    /// Whether `org` is the principal's own org or below it.
    pub fn reaches(&self, org: &Org) -> bool {
        org.org_id == self.org_id || org.ancestors.contains(&self.org_id)
    }
}

/// The actions the foundation knows; later capabilities add theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ReadOrg,
    CreateOrg(OrgKind),
    SetPolicy,
    RequestOrder,
    CancelOrder,
    DecideOrder,
    ReadOrders,
    ReadLots,
    /// Read the renewals ahead of the customers below (partners and the vendor).
    ReadExpiring,
    ReadNotifications,
    /// List the addresses not mailed for an org, and clear one (managers).
    ManageSuppressions,
    /// Read and set an org's own contacts (its managers and those above).
    ManageContacts,
    ReadAudit,
    /// Create, update and release users; record logins; change enrolments.
    ManageUsers,
    /// Mark users (not) renewable in bulk: a manager's decision, not the platform's.
    SetRenewable,
    /// Erase a user's personal data: a manager's decision, not the platform's.
    EraseUsers,
    ReadUsers,
    /// Read a user's enrolments: managers, and the platform that records them.
    ReadEnrolments,
    Allocate,
    ReadLicences,
    /// Ask whether a user may log in (a learner: only itself).
    ReadAccess,
}

/// Whether the role may ever do `action`, wherever.
fn role_allows(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::VendorAdmin => true,
        Role::PartnerManager => match action {
            CreateOrg(kind) => kind == OrgKind::Company,
            SetPolicy => false,
            _ => true,
        },
        Role::CompanyManager => !matches!(action, CreateOrg(_) | SetPolicy | DecideOrder | ReadExpiring),
        Role::Platform => matches!(action, ManageUsers | ReadEnrolments | ReadAccess),
        Role::Learner => action == ReadAccess,
    }
}

/// Authorises `action` on `target`, reach before role: a target outside the principal's reach
/// is `not_found` whatever the role (so an answer never tells an org that exists elsewhere from
/// one that does not), and only within its reach is an action its role may never do
/// `forbidden`.
pub fn authorize(principal: &Principal, action: Action, target: &Org) -> Result<(), DomainError> {
    if !principal.reaches(target) {
        return Err(DomainError::not_found("org", &target.org_id));
    }
    if !role_allows(principal.role, action) {
        return Err(DomainError::Forbidden(format!(
            "a {} may not do this",
            serde_json::to_value(principal.role).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
        )));
    }
    if action == Action::DecideOrder && target.org_id == principal.org_id && principal.role != Role::VendorAdmin {
        // Orders are decided from above: nobody assigns their own org's order.
        return Err(DomainError::Forbidden("an order is assigned or rejected from above the ordering org".into()));
    }
    Ok(())
}

/// The org a principal acted for, when it is not its own (a partner manager in "manage mode").
pub fn on_behalf_of(principal: &Principal, target: &Org) -> Option<String> {
    (principal.org_id != target.org_id).then(|| target.org_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::org::{create, NewOrg, Org};

    fn tree() -> (Org, Org, Org, Org) {
        let now = "2026-01-01T00:00:00Z".parse().unwrap();
        let vendor = Org::vendor_root(now);
        let mk = |parent: &Org, id: &str, kind| {
            create(
                parent,
                NewOrg { org_id: Some(id.into()), name: id.into(), kind, parent_id: parent.org_id.clone() },
                id.into(),
                now,
            )
            .unwrap()
        };
        let p1 = mk(&vendor, "p1", OrgKind::Partner);
        let p2 = mk(&vendor, "p2", OrgKind::Partner);
        let c1 = mk(&p1, "c1", OrgKind::Company);
        (vendor, p1, p2, c1)
    }

    #[test]
    fn a_partner_manager_acts_below_itself_only() {
        let (vendor, p1, p2, c1) = tree();
        let pm = Principal::new("s", "pm@p1.test", "p1", Role::PartnerManager);
        assert!(authorize(&pm, Action::DecideOrder, &c1).is_ok());
        assert!(authorize(&pm, Action::ReadOrg, &p1).is_ok());
        assert_eq!(authorize(&pm, Action::ReadOrg, &p2).unwrap_err().code(), "not_found");
        assert_eq!(authorize(&pm, Action::ReadOrg, &vendor).unwrap_err().code(), "not_found");
        assert_eq!(authorize(&pm, Action::SetPolicy, &c1).unwrap_err().code(), "forbidden");
        assert_eq!(authorize(&pm, Action::CreateOrg(OrgKind::Partner), &p1).unwrap_err().code(), "forbidden");
        assert!(authorize(&pm, Action::CreateOrg(OrgKind::Company), &p1).is_ok());
    }

    #[test]
    fn reach_is_checked_before_role() {
        let (vendor, _, p2, c1) = tree();
        // Out of reach: not found, whatever the role could do there.
        let pm = Principal::new("s", "pm@p1.test", "p1", Role::PartnerManager);
        for (action, target) in [
            (Action::SetPolicy, &p2),
            (Action::CreateOrg(OrgKind::Partner), &vendor),
            (Action::SetPolicy, &vendor),
            (Action::ReadOrg, &p2),
        ] {
            assert_eq!(authorize(&pm, action, target).unwrap_err().code(), "not_found", "{action:?}");
        }
        let learner = Principal::new("s", "l@c9.test", "c9", Role::Learner);
        assert_eq!(authorize(&learner, Action::ReadOrders, &c1).unwrap_err().code(), "not_found");
        // Within reach: what the role may never do is forbidden.
        let learner = Principal::new("s", "l@c1.test", "c1", Role::Learner);
        assert_eq!(authorize(&learner, Action::ReadOrders, &c1).unwrap_err().code(), "forbidden");
    }

    #[test]
    fn a_company_manager_never_decides_orders() {
        let (_, p1, _, c1) = tree();
        let cm = Principal::new("s", "cm@c1.test", "c1", Role::CompanyManager);
        assert!(authorize(&cm, Action::RequestOrder, &c1).is_ok());
        assert!(authorize(&cm, Action::CancelOrder, &c1).is_ok());
        assert_eq!(authorize(&cm, Action::DecideOrder, &c1).unwrap_err().code(), "forbidden");
        assert_eq!(authorize(&cm, Action::ReadOrg, &p1).unwrap_err().code(), "not_found");
    }

    #[test]
    fn learners_and_platforms_read_no_org_data() {
        let (_, _, _, c1) = tree();
        for role in [Role::Learner, Role::Platform] {
            let p = Principal::new("s", "x@c1.test", "c1", role);
            assert_eq!(authorize(&p, Action::ReadOrders, &c1).unwrap_err().code(), "forbidden");
        }
    }

    #[test]
    fn enrolments_are_read_by_managers_and_the_platform_only() {
        let (_, _, _, c1) = tree();
        for role in [Role::VendorAdmin, Role::PartnerManager, Role::CompanyManager, Role::Platform] {
            let org = if role == Role::VendorAdmin {
                "vendor"
            } else if role == Role::PartnerManager {
                "p1"
            } else {
                "c1"
            };
            let p = Principal::new("s", "x@c1.test", org, role);
            assert!(authorize(&p, Action::ReadEnrolments, &c1).is_ok(), "{role:?}");
        }
        let learner = Principal::new("s", "x@c1.test", "c1", Role::Learner);
        assert_eq!(authorize(&learner, Action::ReadEnrolments, &c1).unwrap_err().code(), "forbidden");
        let platform = Principal::new("s", "x@c1.test", "c1", Role::Platform);
        assert_eq!(authorize(&platform, Action::ReadUsers, &c1).unwrap_err().code(), "forbidden");
    }

    #[test]
    fn manage_mode_is_recorded_as_on_behalf_of() {
        let (_, _, _, c1) = tree();
        let pm = Principal::new("s", "pm@p1.test", "p1", Role::PartnerManager);
        assert_eq!(on_behalf_of(&pm, &c1), Some("c1".into()));
        let cm = Principal::new("s", "cm@c1.test", "c1", Role::CompanyManager);
        assert_eq!(on_behalf_of(&cm, &c1), None);
    }
}
