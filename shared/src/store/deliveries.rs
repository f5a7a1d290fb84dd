//! The notice mailer's guards: one item per (notice, recipient) beside the notice
//! (`DELIVERY#{notice}#{email}`, [`keys::delivery_sk`]), claimed conditionally with a lease
//! before the send and marked after it, so every delivery of a notice — EventBridge delivers at
//! least once, and retries — sends each recipient's e-mail once as far as the store can tell.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::keys::{self, PK, SK};
use super::{n, s, Item, Store, StoreError};
use crate::domain::notice::{Delivery, DeliveryState, Notice};

/// What a claim found: the recipient is this delivery's to send (`attempt` counts the tries),
/// or not — it is sent or refused already, or another delivery holds a live claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    Claimed { claim: String, attempt: u32 },
    Taken(Delivery),
}

/// How a claimed send ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// SES accepted it, with its message id.
    Accepted(String),
    /// It failed for a reason that passes; the next delivery tries again.
    Failed(String),
    /// SES refused it for good.
    Refused(String),
}

fn delivery_key(notice: &Notice, email: &str) -> Item {
    super::key(keys::org(&notice.org_id), &keys::delivery_sk(&notice.notice_id, email))
}

impl Store {
    /// Claims the e-mail of `notice` to `email` until `now + lease`: on the condition that
    /// nothing was tried yet, the last try failed, or an earlier claim's lease has run out.
    pub async fn claim_delivery(
        &self,
        notice: &Notice,
        email: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let claim = crate::command::new_id("clm");
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(notice, email)))
            .update_expression(
                "SET #type = :type, notice_id = :notice, email = :email, #state = :sending, claim = :claim, \
                 lease_until = :until, updated_at = :at, attempts = if_not_exists(attempts, :zero) + :one",
            )
            .condition_expression(
                "attribute_not_exists(PK) OR #state = :failed OR (#state = :sending AND lease_until <= :now)",
            )
            .expression_attribute_names("#type", keys::TYPE)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":type", s("delivery"))
            .expression_attribute_values(":notice", s(notice.notice_id.clone()))
            .expression_attribute_values(":email", s(email))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":claim", s(claim.clone()))
            .expression_attribute_values(":until", n((now + lease).timestamp()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":at", s(keys::sort_time(now)))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        let result = super::send(|| request.clone().send()).await;
        match result {
            Ok(out) => {
                let attempt = out.attributes.as_ref().and_then(|a| a.get("attempts")).and_then(|v| v.as_n().ok());
                Ok(Claim::Claimed { claim, attempt: attempt.and_then(|n| n.parse().ok()).unwrap_or(1) })
            }
            Err(StoreError::ConditionFailed(_)) => {
                let found = self.delivery(notice, email).await?;
                Ok(Claim::Taken(found.unwrap_or_else(|| Delivery::pending(&notice.notice_id, email))))
            }
            Err(e) => Err(e),
        }
    }

    /// Marks a claimed send as it ended, on the condition that the claim is still `claim`'s (a
    /// claim that ran out and was taken over is the other delivery's to mark). `false`: it was.
    pub async fn finish_delivery(
        &self,
        notice: &Notice,
        email: &str,
        claim: &str,
        sent: &Sent,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (state, field, value) = match sent {
            Sent::Accepted(id) => ("sent", "message_id", id),
            Sent::Failed(reason) => ("failed", "reason", reason),
            Sent::Refused(reason) => ("refused", "reason", reason),
        };
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(notice, email)))
            .update_expression("SET #state = :state, #field = :value, updated_at = :at REMOVE lease_until, claim")
            .condition_expression("claim = :claim")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#field", field)
            .expression_attribute_values(":state", s(state))
            .expression_attribute_values(":value", s(value.clone()))
            .expression_attribute_values(":at", s(keys::sort_time(now)))
            .expression_attribute_values(":claim", s(claim));
        let result = super::send(|| request.clone().send()).await;
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Records that `notice` is not mailed to `email` because the address is suppressed
    /// (`reason`: `hard_bounce` or `complaint`), on the condition a claim has: nothing tried
    /// yet, the last try failed, or an earlier claim ran out. `None`: recorded now;
    /// `Some(found)`: the recipient was sent, refused or suppressed already, or is claimed.
    pub async fn suppress_delivery(
        &self,
        notice: &Notice,
        email: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(notice, email)))
            .update_expression(
                "SET #type = :type, notice_id = :notice, email = :email, #state = :suppressed, reason = :reason, \
                 updated_at = :at, attempts = if_not_exists(attempts, :zero) REMOVE claim, lease_until",
            )
            .condition_expression(
                "attribute_not_exists(PK) OR #state = :failed OR (#state = :sending AND lease_until <= :now)",
            )
            .expression_attribute_names("#type", keys::TYPE)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":type", s("delivery"))
            .expression_attribute_values(":notice", s(notice.notice_id.clone()))
            .expression_attribute_values(":email", s(email))
            .expression_attribute_values(":suppressed", s("suppressed"))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":at", s(keys::sort_time(now)))
            .expression_attribute_values(":zero", n(0));
        let result = super::send(|| request.clone().send()).await;
        match result {
            Ok(_) => Ok(None),
            Err(StoreError::ConditionFailed(_)) => {
                let found = self.delivery(notice, email).await?;
                Ok(Some(found.unwrap_or_else(|| Delivery::pending(&notice.notice_id, email))))
            }
            Err(e) => Err(e),
        }
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
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)");
        match super::send(|| put.clone().send()).await {
            Ok(_) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e),
        }
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
                    updated_at: d.updated_at,
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
    updated_at: Option<DateTime<Utc>>,
}
