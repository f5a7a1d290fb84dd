//! The notice mailer's guards: one item per (notice, recipient) beside the notice
//! (`DELIVERY#{notice}#{email}`, [`keys::delivery_sk`]), claimed conditionally with a lease
//! before the send and marked after it, so every delivery of a notice — EventBridge delivers at
//! least once, and retries — sends each recipient's e-mail once as far as the store can tell.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::keys::{self, PK, SK};
use super::{n, put_if, s, Error, Store, StoreError};
use crate::command;
use crate::domain::decide::deliveries;
use crate::domain::notice::{Delivery, DeliveryState, Notice};

pub use crate::domain::decide::deliveries::{Claim, Sent};

impl Store {
    /// Claims the e-mail of `notice` to `email` until `now + lease` when nothing was tried yet,
    /// the last try failed, or an earlier claim's lease has run out — a command through the
    /// executor ([`deliveries::claim`]): a claim that lost its race finds the recipient taken.
    pub async fn claim_delivery(
        &self,
        notice: &Notice,
        email: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, Error> {
        let who = (notice.notice_id.as_str(), email);
        command::execute(self, || async move {
            let found = self.delivery(notice, email).await?;
            Ok(deliveries::claim(&notice.org_id, found, who, command::new_id("clm"), now, lease))
        })
        .await
    }

    /// Marks a claimed send as it ended, when the claim is still `claim`'s (a claim that ran out
    /// and was taken over is the other delivery's to mark): [`deliveries::mark`], through the
    /// executor. `false`: it was taken over.
    pub async fn finish_delivery(
        &self,
        notice: &Notice,
        email: &str,
        claim: &str,
        sent: &Sent,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        command::execute(self, || async move {
            let found = self.delivery(notice, email).await?;
            Ok(deliveries::mark(&notice.org_id, found, claim, sent, now))
        })
        .await
    }

    /// Records that `notice` is not mailed to `email` because the address is suppressed
    /// (`reason`: `hard_bounce` or `complaint`), when a claim could be made
    /// ([`deliveries::suppress`], through the executor). `None`: recorded now; `Some(found)`:
    /// the recipient was sent, refused or suppressed already, or is claimed.
    pub async fn suppress_delivery(
        &self,
        notice: &Notice,
        email: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, Error> {
        let who = (notice.notice_id.as_str(), email);
        command::execute(self, || async move {
            let found = self.delivery(notice, email).await?;
            Ok(deliveries::suppress(&notice.org_id, found, who, reason, now))
        })
        .await
    }

    /// One recipient's guard, written over the version read (a new one: on the condition that
    /// there is none; one from before guards had versions: that it still has none).
    pub(crate) fn put_delivery(&self, org_id: &str, delivery: &Delivery) -> Result<TransactWriteItem, StoreError> {
        let mut next = delivery.clone();
        next.version = delivery.version + 1;
        let key_attrs = [(PK, keys::org(org_id)), (SK, keys::delivery_sk(&delivery.notice_id, &delivery.email))];
        let item = super::to_item("delivery", &next, &key_attrs)?;
        if delivery.version == 0 {
            return put_if(&self.table, item, Some("attribute_not_exists(version)"), &[], HashMap::new());
        }
        let read = HashMap::from([(":v".to_string(), n(delivery.version as i64))]);
        put_if(&self.table, item, Some("version = :v"), &[], read)
    }

    /// Records that `notice` names no recipient, once (a second delivery finds it there).
    pub async fn record_no_recipient(&self, notice: &Notice, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut item = HashMap::from([
            (PK.to_string(), s(keys::org(&notice.org_id))),
            (SK.to_string(), s(keys::no_recipient_sk(&notice.notice_id))),
            (keys::TYPE.to_string(), s("delivery")),
            ("notice_id".to_string(), s(notice.notice_id.clone())),
            ("state".to_string(), s("no_recipient")),
        ]);
        item.insert("updated_at".into(), s(keys::sort_time(now)));
        self.put_once(item).await
    }

    /// One recipient's delivery of `notice`, if anything was tried.
    pub async fn delivery(&self, notice: &Notice, email: &str) -> Result<Option<Delivery>, StoreError> {
        self.get(keys::org(&notice.org_id), &keys::delivery_sk(&notice.notice_id, email)).await
    }

    /// Every recipient's delivery of each of `notices`, by key (a hundred keys a round trip),
    /// with whether the notice was recorded as having no recipient.
    pub async fn deliveries(&self, notices: &[Notice]) -> Result<(Vec<Delivery>, Vec<String>), StoreError> {
        let mut wanted: Vec<(String, String)> = Vec::new();
        for n in notices {
            let pk = keys::org(&n.org_id);
            if n.recipients.is_empty() {
                wanted.push((pk.clone(), keys::no_recipient_sk(&n.notice_id)));
            }
            wanted.extend(n.recipients.iter().map(|e| (pk.clone(), keys::delivery_sk(&n.notice_id, e))));
        }
        let found: Vec<StoredDelivery> =
            self.get_many(wanted.iter().map(|(pk, sk)| (pk.clone(), sk.as_str())).collect()).await?;
        let mut deliveries = Vec::new();
        let mut no_recipient = Vec::new();
        for d in found {
            match (d.state.as_str(), d.email) {
                ("no_recipient", _) => no_recipient.push(d.notice_id),
                (_, Some(email)) => deliveries.push(Delivery {
                    notice_id: d.notice_id,
                    email,
                    state: serde_json::from_value(serde_json::json!(d.state)).unwrap_or(DeliveryState::Pending),
                    attempts: d.attempts,
                    message_id: d.message_id,
                    reason: d.reason,
                    lease_until: d.lease_until,
                    claim: d.claim,
                    updated_at: d.updated_at,
                    version: d.version,
                }),
                _ => {}
            }
        }
        Ok((deliveries, no_recipient))
    }
}

/// A guard item as stored: a recipient's delivery, or the record of a notice without any.
#[derive(serde::Deserialize)]
struct StoredDelivery {
    notice_id: String,
    #[serde(default)]
    email: Option<String>,
    state: String,
    #[serde(default)]
    attempts: u32,
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    lease_until: Option<i64>,
    #[serde(default)]
    claim: Option<String>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    version: u64,
}
