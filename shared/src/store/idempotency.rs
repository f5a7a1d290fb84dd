//! The idempotency records: a caller's `Idempotency-Key` claimed while its command is worked
//! on, then holding the stored answer a repeat is given (docs/api.md#idempotency-key).

use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{self, PK, SK};
use super::{to_item, Store, StoreError};

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

impl Store {
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
