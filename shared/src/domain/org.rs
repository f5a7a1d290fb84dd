//! Organisations: the tenant tree (docs/domain.md#organisations).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::policy::PolicySettings;
use super::{validate, DomainError};

/// The id of the one root org, the platform operator. It is stored from the first start
/// ([`crate::store::Store::set_up`]), so no one else can ever hold it.
pub const VENDOR_ID: &str = "vendor";

/// Org ids nobody may create, compared ignoring case: the vendor's own id, and `.` and `..`,
/// which are path segments every URL normaliser rewrites (`/v1/orgs/../policy` would reach
/// another route, and `imports/../x.csv` another S3 prefix). The contract lists them
/// (`shared/openapi.yaml`, README "Security model").
pub const RESERVED_ORG_IDS: &[&str] = &[VENDOR_ID, ".", ".."];

/// Whether `id` is one of [`RESERVED_ORG_IDS`], ignoring case.
pub fn is_reserved(id: &str) -> bool {
    RESERVED_ORG_IDS.iter().any(|r| r.eq_ignore_ascii_case(id))
}

/// The form of an id two ids share when they are equal ignoring case (ids are ASCII): no org
/// may be created whose folded id is another's.
pub fn folded_id(id: &str) -> String {
    id.to_ascii_lowercase()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Vendor,
    Partner,
    Company,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Org {
    pub org_id: String,
    pub name: String,
    pub kind: OrgKind,
    pub parent_id: Option<String>,
    /// Every org above this one, the root first. Authorisation and the order lists read it.
    #[serde(default)]
    pub ancestors: Vec<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub policy: PolicySettings,
    /// Optimistic-locking version of the org item.
    #[serde(default)]
    pub version: u64,
    /// Stored before course runs had a default access: while nobody in its chain sets
    /// `run_access_months`, its enrolments without an end stay open-ended, as they were (set by
    /// the table's setup once, `store::setup`; the vendor opts the org in by setting the knob).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub runs_open_ended: bool,
    /// Its own contacts: who, besides its managers, receives which of its notices (not
    /// inherited).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<super::contacts::Contact>,
}

/// `POST /v1/orgs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    #[serde(default)]
    pub org_id: Option<String>,
    pub name: String,
    pub kind: OrgKind,
    pub parent_id: String,
}

impl Org {
    /// The vendor root as it is first stored, at `epoch`.
    pub fn vendor_root(epoch: DateTime<Utc>) -> Org {
        Org {
            org_id: VENDOR_ID.to_string(),
            name: "Vendor".to_string(),
            kind: OrgKind::Vendor,
            parent_id: None,
            ancestors: vec![],
            created_at: epoch,
            policy: PolicySettings::default(),
            version: 0,
            runs_open_ended: false,
            contacts: Vec::new(),
        }
    }

    /// Whether this is the vendor root: the vendor's id, kind `vendor`, nothing above it.
    pub fn is_vendor_root(&self) -> bool {
        self.org_id == VENDOR_ID
            && self.kind == OrgKind::Vendor
            && self.parent_id.is_none()
            && self.ancestors.is_empty()
    }

    /// This org's chain, root first and the org itself last.
    pub fn chain(&self) -> impl Iterator<Item = &str> {
        self.ancestors.iter().map(String::as_str).chain([self.org_id.as_str()])
    }

    /// The root of this org's tree (the org itself when it has no parent).
    pub fn root(&self) -> &str {
        self.ancestors.first().unwrap_or(&self.org_id)
    }

    /// The chain of ids, root first, each followed by `/`: a prefix of the path of every org
    /// below this one and of nobody else's (ids cannot hold `/`).
    pub fn path(&self) -> String {
        self.chain().flat_map(|id| [id, "/"]).collect()
    }

    /// Whether `other` is this org or below it.
    pub fn contains(&self, other: &Org) -> bool {
        other.org_id == self.org_id || other.ancestors.contains(&self.org_id)
    }

    /// The public view (`POST /v1/orgs`, docs/api.md#routes), without internals.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "org_id": self.org_id,
            "name": self.name,
            "kind": self.kind,
            "parent_id": self.parent_id,
            "created_at": self.created_at,
        })
    }
}

/// Decides a new org under `parent`. Partners hang under the vendor; companies under the
/// vendor, a partner, or another company (a department).
pub fn create(parent: &Org, input: NewOrg, generated_id: String, now: DateTime<Utc>) -> Result<Org, DomainError> {
    let org_id = match input.org_id {
        Some(id) => {
            validate::caller_id("org_id", &id)?;
            if is_reserved(&id) {
                return Err(DomainError::invalid(
                    "org_id",
                    format!(
                        "{id:?} is reserved (reserved ids, ignoring case: {}); choose another, or leave org_id out \
                         for a generated one",
                        RESERVED_ORG_IDS.join(", ")
                    ),
                ));
            }
            id
        }
        None => generated_id,
    };
    let name = validate::text("name", &input.name, 200, true)?;
    let allowed = match input.kind {
        OrgKind::Vendor => false,
        OrgKind::Partner => parent.kind == OrgKind::Vendor,
        OrgKind::Company => true,
    };
    if !allowed {
        return Err(DomainError::invalid(
            "kind",
            match input.kind {
                OrgKind::Vendor => "there is one vendor and it exists already".to_string(),
                _ => format!("a partner must sit directly under the vendor, not under {:?}", parent.org_id),
            },
        ));
    }
    let mut ancestors = parent.ancestors.clone();
    ancestors.push(parent.org_id.clone());
    Ok(Org {
        org_id,
        name,
        kind: input.kind,
        parent_id: Some(parent.org_id.clone()),
        ancestors,
        created_at: now,
        policy: PolicySettings::default(),
        version: 0,
        runs_open_ended: false,
        contacts: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn new(kind: OrgKind, id: &str) -> NewOrg {
        NewOrg { org_id: Some(id.into()), name: id.to_uppercase(), kind, parent_id: String::new() }
    }

    #[test]
    fn the_tree_records_its_ancestors() {
        let vendor = Org::vendor_root(now());
        let p = create(&vendor, new(OrgKind::Partner, "p1"), "x".into(), now()).unwrap();
        let c = create(&p, new(OrgKind::Company, "c1"), "x".into(), now()).unwrap();
        let d = create(&c, new(OrgKind::Company, "d1"), "x".into(), now()).unwrap();
        assert_eq!(d.ancestors, vec!["vendor", "p1", "c1"]);
        assert_eq!((d.root(), vendor.root()), ("vendor", "vendor"));
        assert_eq!(d.path(), "vendor/p1/c1/d1/");
        assert!(vendor.contains(&d) && p.contains(&d) && c.contains(&d) && d.contains(&d));
        assert!(!d.contains(&c));
        assert_eq!(d.chain().collect::<Vec<_>>(), vec!["vendor", "p1", "c1", "d1"]);
    }

    #[test]
    fn a_partner_sits_only_under_the_vendor() {
        let vendor = Org::vendor_root(now());
        let p = create(&vendor, new(OrgKind::Partner, "p1"), "x".into(), now()).unwrap();
        let err = create(&p, new(OrgKind::Partner, "p2"), "x".into(), now()).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
        let err = create(&p, new(OrgKind::Vendor, "v2"), "x".into(), now()).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }

    #[test]
    fn reserved_ids_are_refused_in_any_case() {
        let vendor = Org::vendor_root(now());
        let p = create(&vendor, new(OrgKind::Partner, "p1"), "x".into(), now()).unwrap();
        for id in ["vendor", "Vendor", "VENDOR", ".", ".."] {
            let err = create(&p, new(OrgKind::Company, id), "x".into(), now()).unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{id}");
            assert!(err.to_string().starts_with("org_id: ") && err.to_string().contains("reserved"), "{err}");
        }
        for id in ["vendors", "my-vendor", "...", ".a"] {
            assert!(create(&p, new(OrgKind::Company, id), "x".into(), now()).is_ok(), "{id}");
        }
        assert!(vendor.is_vendor_root() && !p.is_vendor_root());
        assert_eq!(folded_id("AcMe.1"), "acme.1");
    }

    #[test]
    fn names_and_ids_are_checked() {
        let vendor = Org::vendor_root(now());
        let mut bad = new(OrgKind::Partner, "p#1");
        assert!(create(&vendor, bad.clone(), "x".into(), now()).is_err());
        bad.org_id = None;
        bad.name = "   ".into();
        let err = create(&vendor, bad, "x".into(), now()).unwrap_err();
        assert!(err.to_string().starts_with("name"));
    }
}
