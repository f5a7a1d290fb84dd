//! Typed reads and write-builders for each item type of [`super::keys`].

use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{self, GSI1, GSI1PK, GSI1SK, GSI2PK, GSI2SK, PK, SK};
use super::{put, put_new, to_item, Error, Page, PageRequest, QuerySpec, SortKey, Store, StoreError};
use crate::domain::audit::AuditEntry;
use crate::domain::notice::Notice;
use crate::domain::order::{Order, OrderStatus};
use crate::domain::org::{folded_id, Org, VENDOR_ID};
use crate::domain::policy::Policy;

/// Filters of an order list (`GET /v1/orgs/{org_id}/orders`, docs/api.md#orders-and-lots).
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub company_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct ManagerMarker {
    email: String,
}

/// The item that keeps an org id unique ignoring case (`ORGID#{folded}`): the id as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgIdGuard {
    pub org_id: String,
}

impl Store {
    // ---- orgs -------------------------------------------------------------------------------

    /// An org by id, as stored. The vendor root is stored from the first start
    /// ([`Store::set_up`]); nothing here makes an org up.
    pub async fn org(&self, org_id: &str) -> Result<Option<Org>, StoreError> {
        self.get::<Org>(keys::org(org_id), keys::ORG_SK).await
    }

    /// The vendor root, which [`Store::set_up`] stores before anything else runs; a table
    /// without it was never set up, and that is said, not papered over.
    pub async fn vendor(&self) -> Result<Org, StoreError> {
        self.org(VENDOR_ID).await?.ok_or_else(|| {
            StoreError::Other(format!(
                "the vendor org ({}) is not stored: the table was never set up (the local server and the \
                 deployment's TableSetup write it)",
                keys::org(VENDOR_ID)
            ))
        })
    }

    /// The id of the org that holds `org_id` ignoring case (itself, or another spelling of it),
    /// if any: its case guard, or, for an org stored before guards were written and not yet
    /// given one, the org under exactly this id.
    pub async fn org_id_holder(&self, org_id: &str) -> Result<Option<String>, StoreError> {
        let guard = self.get::<OrgIdGuard>(keys::org_id_guard(&folded_id(org_id)), keys::ORG_ID_GUARD_SK).await?;
        if let Some(g) = guard {
            return Ok(Some(g.org_id));
        }
        Ok(self.org(org_id).await?.map(|o| o.org_id))
    }

    /// The policy in force for `org`: its ancestors' settings, then its own.
    /// The orgs above `org` (its ancestors), in one round trip.
    pub async fn ancestors(&self, org: &Org) -> Result<Vec<Org>, StoreError> {
        if org.ancestors.is_empty() {
            return Ok(Vec::new());
        }
        self.get_many(org.ancestors.iter().map(|a| (keys::org(a), keys::ORG_SK)).collect()).await
    }

    pub async fn policy(&self, org: &Org) -> Result<Policy, StoreError> {
        let mut chain: Vec<Org> = if org.ancestors.is_empty() {
            vec![]
        } else {
            self.get_many(org.ancestors.iter().map(|a| (keys::org(a), keys::ORG_SK)).collect()).await?
        };
        chain.sort_by_key(|o| org.ancestors.iter().position(|a| *a == o.org_id));
        Ok(Policy::resolve_for(org.runs_open_ended, chain.iter().map(|o| &o.policy).chain([&org.policy])))
    }

    pub fn org_item(&self, org: &Org) -> Result<super::Item, StoreError> {
        let mut attrs = vec![
            (PK, keys::org(&org.org_id)),
            (SK, keys::ORG_SK.to_string()),
            (GSI2PK, keys::ALL_ORGS.to_string()),
            (GSI2SK, keys::org(&org.org_id)),
        ];
        if let Some(parent) = &org.parent_id {
            attrs.push((GSI1PK, keys::children(parent)));
            attrs.push((GSI1SK, keys::org(&org.org_id)));
        }
        attrs.extend(tree_keys(org, "ORG"));
        to_item("org", org, &attrs)
    }

    /// Puts a new org and its case guard, each on the condition that it is new: both fail when
    /// the id is taken, the guard alone when another org holds the id in another case.
    pub fn put_new_org(&self, org: &Org) -> Result<Vec<TransactWriteItem>, StoreError> {
        Ok(vec![
            put_new(&self.table, self.org_item(org)?)?,
            put_new(&self.table, self.org_id_guard_item(&org.org_id)?)?,
        ])
    }

    /// The case guard of `org_id`: keyed by the id folded to lower case, holding the id as stored.
    pub fn org_id_guard_item(&self, org_id: &str) -> Result<super::Item, StoreError> {
        let guard = OrgIdGuard { org_id: org_id.to_string() };
        to_item(
            "org_id",
            &guard,
            &[(PK, keys::org_id_guard(&folded_id(org_id))), (SK, keys::ORG_ID_GUARD_SK.to_string())],
        )
    }

    /// Replaces an org on the condition that it is stored and nobody changed it since it was
    /// read (`org.version` is the version read; the item written carries the next one).
    pub fn put_org_versioned(&self, org: &Org) -> Result<TransactWriteItem, StoreError> {
        let mut next = org.clone();
        next.version = org.version + 1;
        let item = self.org_item(&next)?;
        let values =
            std::collections::HashMap::from([(":v".to_string(), super::AttributeValue::N(org.version.to_string()))]);
        super::put_if(&self.table, item, Some("attribute_exists(PK) AND version = :v"), &[], values)
    }

    pub async fn children(&self, parent_id: &str, page: &PageRequest) -> Result<Page<Org>, Error> {
        self.query(&QuerySpec::index(GSI1, keys::children(parent_id), SortKey::Any), page).await
    }

    /// The e-mails of an org's manager users (`MANAGER#` markers).
    pub async fn manager_emails(&self, org_id: &str) -> Result<Vec<String>, Error> {
        let spec = QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::manager_prefix().into()));
        Ok(self.query_all::<ManagerMarker>(&spec).await?.into_iter().map(|m| m.email).collect())
    }

    // ---- orders -----------------------------------------------------------------------------

    pub async fn order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        self.get(keys::order(order_id), keys::ORDER_SK).await
    }

    /// The order item and one list entry for every org of the company's chain, so each of them
    /// lists the order in one query, by date and by status.
    pub fn order_items(&self, order: &Order, company: &Org) -> Result<Vec<super::Item>, StoreError> {
        let mut items =
            vec![to_item("order", order, &[(PK, keys::order(&order.order_id)), (SK, keys::ORDER_SK.into())])?];
        for org_id in company.chain() {
            items.push(to_item(
                "order_entry",
                order,
                &[
                    (PK, keys::org(org_id)),
                    (SK, keys::order_entry_sk(order.requested_at, &order.order_id)),
                    (GSI1PK, keys::orders_by_status(org_id, order.status.as_str())),
                    (GSI1SK, keys::order_entry_gsi1sk(order.requested_at, &order.order_id)),
                ],
            )?);
        }
        Ok(items)
    }

    /// Writes for a new order: the order on the condition it is new, and its list entries.
    pub fn put_new_order(&self, order: &Order, company: &Org) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = self.order_items(order, company)?.into_iter();
        let mut writes = vec![put_new(&self.table, items.next().expect("order item"))?];
        for entry in items {
            writes.push(put(&self.table, entry)?);
        }
        Ok(writes)
    }

    /// Writes for a decided order: the order on the condition that it is still requested (the
    /// first write, index 0), and its refreshed list entries.
    pub fn put_decided_order(&self, order: &Order, company: &Org) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = self.order_items(order, company)?.into_iter();
        let values = std::collections::HashMap::from([(":requested".to_string(), super::s("requested"))]);
        let mut writes = vec![super::put_if(
            &self.table,
            items.next().expect("order item"),
            Some("#status = :requested"),
            // `status` is a reserved word in expressions.
            &[("#status", "status")],
            values,
        )?];
        for entry in items {
            writes.push(put(&self.table, entry)?);
        }
        Ok(writes)
    }

    /// Orders of `org_id` and every company below it, newest first.
    pub async fn orders(&self, org_id: &str, filter: &OrderFilter, page: &PageRequest) -> Result<Page<Order>, Error> {
        // "0" sorts below any time and keeps an index key condition non-empty.
        let lo = filter.from.map(keys::sort_time).unwrap_or_else(|| "0".into());
        let hi = filter.to.map(|t| format!("{}~", keys::sort_time(t))).unwrap_or_else(|| "~".into());
        let mut spec = match filter.status {
            Some(status) => {
                QuerySpec::index(GSI1, keys::orders_by_status(org_id, status.as_str()), SortKey::Between(lo, hi))
            }
            None => {
                let (from, to) = keys::order_entries_between(&lo, &hi);
                QuerySpec::table(keys::org(org_id), SortKey::Between(from, to))
            }
        }
        .newest_first();
        if let Some(company) = &filter.company_id {
            spec.filter_eq = Some(("org_id", company.clone()));
        }
        self.query(&spec, page).await
    }

    // ---- notices and audit ------------------------------------------------------------------

    /// A new notice. One naming more than [`MAX_RECIPIENTS`](crate::domain::notice::MAX_RECIPIENTS)
    /// addresses is refused here, whatever decided them: every path bounds its recipients first.
    pub fn put_notice(&self, notice: &Notice) -> Result<TransactWriteItem, StoreError> {
        let max = crate::domain::notice::MAX_RECIPIENTS;
        if notice.recipients.len() > max {
            return Err(StoreError::Other(format!(
                "notice {} names {} recipients; a notice mails at most {max} and counts the rest",
                notice.notice_id,
                notice.recipients.len()
            )));
        }
        let attrs = [(PK, keys::org(&notice.org_id)), (SK, keys::notice_sk(notice.created_at, &notice.notice_id))];
        put_new(&self.table, to_item("notice", notice, &attrs)?)
    }

    pub async fn notices(&self, org_id: &str, page: &PageRequest) -> Result<Page<Notice>, Error> {
        let spec =
            QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::notices_prefix().into())).newest_first();
        self.query(&spec, page).await
    }

    pub fn put_audit(&self, entry: &AuditEntry, entry_id: &str) -> Result<TransactWriteItem, StoreError> {
        let attrs = [(PK, keys::org(&entry.org_id)), (SK, keys::audit_sk(entry.at, entry_id))];
        put_new(&self.table, to_item("audit", entry, &attrs)?)
    }

    pub async fn audit(&self, org_id: &str, page: &PageRequest) -> Result<Page<AuditEntry>, Error> {
        let spec = QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::audit_prefix().into())).newest_first();
        self.query(&spec, page).await
    }
}

/// The usage-tree index keys (GSI4) of one of `org`'s items: `what` is `ORG`, `COUNTERS`,
/// `USAGE` or `LOT#{lot}`.
pub fn tree_keys(org: &Org, what: &str) -> [(&'static str, String); 2] {
    [(keys::GSI4PK, keys::tree(org.root())), (keys::GSI4SK, format!("{}#{what}", org.path()))]
}
