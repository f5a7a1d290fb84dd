//! Typed reads and write-builders for each item type of [`super::keys`].

use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{self, GSI1, GSI1PK, GSI1SK, GSI2PK, GSI2SK, PK, SK};
use super::{put, put_new, to_item, Error, Page, PageRequest, QuerySpec, SortKey, Store, StoreError};
use crate::domain::audit::AuditEntry;
use crate::domain::lot::{Lot, LotStatus};
use crate::domain::notice::Notice;
use crate::domain::order::{Order, OrderStatus};
use crate::domain::org::{folded_id, Org, VENDOR_ID};
use crate::domain::policy::Policy;

/// Filters of an order list (API.md `GET /v1/orgs/{org_id}/orders`).
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub company_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A stored answer to a command, replayed for a repeat with the same `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
    /// Epoch seconds; DynamoDB's TTL removes the record some time after.
    pub expires_at: i64,
}

/// The `status` of a key claimed by a command still being worked on (a pending record): its
/// `body` is the claim's id, and the item's `claimed_until` (epoch seconds) says how long the
/// claim is live. A pending record is never replayed.
pub const PENDING: u16 = 0;

/// What a caller's key holds: a command being worked on, or a stored answer.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyState {
    Pending { fingerprint: String, claim: String, claimed_until: i64 },
    Done(IdempotencyRecord),
}

impl KeyState {
    pub fn fingerprint(&self) -> &str {
        match self {
            KeyState::Pending { fingerprint, .. } => fingerprint,
            KeyState::Done(r) => &r.fingerprint,
        }
    }
}

/// An idempotency item as stored, pending or done.
#[derive(Deserialize)]
struct StoredKey {
    fingerprint: String,
    status: u16,
    body: String,
    expires_at: i64,
    #[serde(default)]
    claimed_until: i64,
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
        Ok(Policy::resolve(chain.iter().map(|o| &o.policy).chain([&org.policy])))
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

    // ---- lots -------------------------------------------------------------------------------

    /// The lot item of `org`; it is in the due-by-instant index while it has an end and is not
    /// expired, and in its org's usage tree while not expired.
    pub fn lot_item(&self, lot: &Lot, org: &Org) -> Result<super::Item, StoreError> {
        let mut attrs = vec![(PK, keys::org(&lot.org_id)), (SK, keys::lot_sk(lot.valid_until, &lot.lot_id))];
        if let (Some(end), LotStatus::Active) = (lot.valid_until, lot.status) {
            attrs.push((GSI2PK, keys::due(&lot.lot_id)));
            attrs.push((GSI2SK, format!("{}#LOT#{}#{}", keys::sort_time(end), lot.org_id, lot.lot_id)));
        }
        if lot.status == LotStatus::Active {
            attrs.extend(tree_keys(org, &keys::lot_in_tree(&lot.lot_id)));
        }
        to_item("lot", lot, &attrs)
    }

    pub fn put_new_lot(&self, lot: &Lot, org: &Org) -> Result<TransactWriteItem, StoreError> {
        put_new(&self.table, self.lot_item(lot, org)?)
    }

    /// Lots of an org, first-expiring first.
    pub async fn lots(&self, org_id: &str, page: &PageRequest) -> Result<Page<Lot>, Error> {
        self.query(&QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::lots_prefix().into())), page).await
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

    // ---- idempotency ------------------------------------------------------------------------

    /// The record of an earlier command with this caller's key, unless it has expired.
    pub async fn idempotency_record(
        &self,
        sub: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let found: Option<IdempotencyRecord> = self.get(keys::idempotency(sub, key), keys::IDEMPOTENCY_SK).await?;
        // A pending claim has no answer yet; the command that claimed the key deals with it.
        Ok(found.filter(|r| r.expires_at > now.timestamp() && r.status != PENDING))
    }

    /// What this caller's key holds, pending claims included, unless it has expired.
    pub async fn idempotency_key_state(
        &self,
        sub: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<KeyState>, StoreError> {
        let found: Option<StoredKey> = self.get(keys::idempotency(sub, key), keys::IDEMPOTENCY_SK).await?;
        Ok(found.filter(|k| k.expires_at > now.timestamp()).map(|k| match k.status {
            PENDING => KeyState::Pending { fingerprint: k.fingerprint, claim: k.body, claimed_until: k.claimed_until },
            status => KeyState::Done(IdempotencyRecord {
                fingerprint: k.fingerprint,
                status,
                body: k.body,
                expires_at: k.expires_at,
            }),
        }))
    }

    /// Claims a key before a command that takes several writes: a pending record holding the
    /// request's fingerprint and `claim`, live until `claimed_until`. It succeeds (`true`) when
    /// no live record holds the key, or when the one there is a claim for the same request whose
    /// holder is gone (its claim ended or was released): that retry takes the job over.
    pub async fn claim_idempotency_key(
        &self,
        sub: &str,
        key: &str,
        pending: &IdempotencyRecord,
        claimed_until: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut item =
            to_item("idempotency", pending, &[(PK, keys::idempotency(sub, key)), (SK, keys::IDEMPOTENCY_SK.into())])?;
        item.insert("claimed_until".into(), super::n(claimed_until));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(PK) OR expires_at <= :now \
                 OR (#status = :pending AND fingerprint = :fp AND claimed_until <= :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", super::n(now.timestamp()))
            .expression_attribute_values(":pending", super::n(PENDING as i64))
            .expression_attribute_values(":fp", super::s(pending.fingerprint.clone()));
        let result = super::send(|| request.clone().send()).await;
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The answer of a claimed command, as one write of its last transaction: it replaces the
    /// pending record on the condition that the key is still held by `claim`.
    pub fn complete_idempotency_claim(
        &self,
        sub: &str,
        key: &str,
        claim: &str,
        record: &IdempotencyRecord,
    ) -> Result<TransactWriteItem, StoreError> {
        let item =
            to_item("idempotency", record, &[(PK, keys::idempotency(sub, key)), (SK, keys::IDEMPOTENCY_SK.into())])?;
        let values = std::collections::HashMap::from([
            (":pending".to_string(), super::n(PENDING as i64)),
            (":claim".to_string(), super::s(claim)),
        ]);
        super::put_if(
            &self.table,
            item,
            Some("#status = :pending AND #body = :claim"),
            &[("#status", "status"), ("#body", "body")],
            values,
        )
    }

    /// Ends `claim` early (its command failed), so a retry may take the job over at once; does
    /// nothing when the key is no longer held by `claim`.
    pub async fn release_idempotency_claim(&self, sub: &str, key: &str, claim: &str) -> Result<(), StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(std::collections::HashMap::from([
                (PK.to_string(), super::s(keys::idempotency(sub, key))),
                (SK.to_string(), super::s(keys::IDEMPOTENCY_SK)),
            ])))
            .update_expression("SET claimed_until = :zero")
            .condition_expression("#status = :pending AND #body = :claim")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#body", "body")
            .expression_attribute_values(":zero", super::n(0))
            .expression_attribute_values(":pending", super::n(PENDING as i64))
            .expression_attribute_values(":claim", super::s(claim));
        let result = super::send(|| request.clone().send()).await;
        match result {
            Ok(_) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The record as one more write of the command's transaction: it commits with the command
    /// or not at all, and fails its condition when a live record holds the key already.
    pub fn put_idempotency_record(
        &self,
        sub: &str,
        key: &str,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let item =
            to_item("idempotency", record, &[(PK, keys::idempotency(sub, key)), (SK, keys::IDEMPOTENCY_SK.into())])?;
        let values = std::collections::HashMap::from([(
            ":now".to_string(),
            super::AttributeValue::N(now.timestamp().to_string()),
        )]);
        super::put_if(&self.table, item, Some("attribute_not_exists(PK) OR expires_at <= :now"), &[], values)
    }
}

/// The usage-tree index keys (GSI4) of one of `org`'s items: `what` is `ORG`, `COUNTERS`,
/// `USAGE` or `LOT#{lot}`.
pub fn tree_keys(org: &Org, what: &str) -> [(&'static str, String); 2] {
    [(keys::GSI4PK, keys::tree(org.root())), (keys::GSI4SK, format!("{}#{what}", org.path()))]
}
