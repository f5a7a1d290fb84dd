//! Apply: the one place that turns a decision's typed changes ([`Change`]) into conditional
//! writes, keys and one transaction — with the command's idempotency answer when it has one. A
//! failed condition comes back as a typed [`Race`], never as a message to compare.

use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};

use super::records::IdempotencyRecord;
use super::{Error, Store, StoreError};
use crate::command::new_id;
use crate::domain::change::Change;

/// The most writes one transaction takes (DynamoDB's limit).
pub const MAX_WRITES: usize = 100;

/// A lost race: the state a command decided on changed before its writes landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Race {
    /// The conditions of these changes (indexes into the command's changes) failed.
    Changed(Vec<usize>),
    /// A live record holds the command's `Idempotency-Key`: a twin committed first (or holds
    /// the key's claim).
    KeyTaken,
}

/// The answer a command stores under its `Idempotency-Key`, in the transaction of its changes.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// A new record: fails (as [`Race::KeyTaken`]) when a live record holds the key.
    Record { sub: &'a str, key: &'a str, record: &'a IdempotencyRecord, now: DateTime<Utc> },
    /// Completes a claim taken before the command began ([`Store::claim_idempotency_key`]):
    /// fails when the claim is no longer `claim`'s.
    Claimed { sub: &'a str, key: &'a str, claim: &'a str, record: &'a IdempotencyRecord },
}

impl Store {
    /// The writes of `changes`, and for each write the index of the change it came from.
    pub fn writes(&self, changes: &[Change]) -> Result<(Vec<TransactWriteItem>, Vec<usize>), StoreError> {
        let mut writes = Vec::with_capacity(changes.len());
        let mut from = Vec::with_capacity(changes.len());
        for (i, change) in changes.iter().enumerate() {
            for w in self.writes_of(change)? {
                writes.push(w);
                from.push(i);
            }
        }
        Ok((writes, from))
    }

    fn writes_of(&self, change: &Change) -> Result<Vec<TransactWriteItem>, StoreError> {
        Ok(match change {
            Change::User { user, created } => vec![self.put_user(user, *created)?],
            Change::ManagerMarker(user) => vec![self.manager_marker(user)?],
            Change::Enrolment(e) => vec![self.put_enrolment(e)?],
            Change::Counters { org, change } => vec![self.change_counters(org, change)?],
            Change::DebitLot { lot, seats } => vec![self.debit_lot(lot, *seats)?],
            Change::UseSeatAgain(lot) => vec![self.use_seat_again(lot)?],
            Change::CreditLot { org_id, lot_id, lot_valid_until, seats } => {
                vec![self.credit_lot(org_id, lot_id, *lot_valid_until, *seats)?]
            }
            Change::UnreserveLot { org_id, lot_id, lot_valid_until, seats } => {
                vec![self.unreserve_lot(org_id, lot_id, *lot_valid_until, *seats)?]
            }
            Change::NewLot { lot, org } => vec![self.put_new_lot(lot, org)?],
            Change::NewOrg(org) => vec![self.put_new_org(org)?],
            Change::Org(org) => vec![self.put_org_versioned(org)?],
            Change::NewOrder { order, company } => self.put_new_order(order, company)?,
            Change::DecidedOrder { order, company } => self.put_decided_order(order, company)?,
            Change::Notice(n) => vec![self.put_notice(n)?],
            Change::Audit(entry) => vec![self.put_audit(entry, &new_id("aud"))?],
            Change::Import { record, expected } => vec![self.put_import(record, *expected)?],
        })
    }

    /// Writes `changes` (and `answer`) in one transaction, all or nothing. A failed condition
    /// is a [`Race`]: which changes failed, or that the key was taken. Nothing to change and no
    /// answer to store writes nothing.
    pub async fn apply(&self, changes: &[Change], answer: Option<Answer<'_>>) -> Result<(), Error> {
        let (mut writes, from) = self.writes(changes)?;
        let answer_at = writes.len();
        match answer {
            None if writes.is_empty() => return Ok(()),
            None => {}
            Some(Answer::Record { sub, key, record, now }) => {
                writes.push(self.put_idempotency_record(sub, key, record, now)?)
            }
            Some(Answer::Claimed { sub, key, claim, record }) => {
                writes.push(self.complete_idempotency_claim(sub, key, claim, record)?)
            }
        }
        if writes.len() > MAX_WRITES {
            return Err(StoreError::Other(format!("{} writes do not fit one transaction", writes.len())).into());
        }
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed(failed)) if answer.is_some() && failed.contains(&answer_at) => {
                Err(Race::KeyTaken.into())
            }
            Err(StoreError::ConditionFailed(failed)) => {
                let mut changed: Vec<usize> = failed.iter().filter_map(|w| from.get(*w).copied()).collect();
                changed.dedup();
                Err(Race::Changed(changed).into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Store {
    /// Writes one change on its own: one conditional write, not a transaction — for the changes
    /// of a command that stand apart and are too many for one transaction (an import's
    /// licences, one write a row). A failed condition is [`Race::Changed`]; a change that is not
    /// one put is refused.
    pub async fn apply_alone(&self, change: &Change) -> Result<(), Error> {
        let mut writes = self.writes_of(change)?;
        let (Some(TransactWriteItem { put: Some(put), .. }), true) = (writes.pop(), writes.is_empty()) else {
            return Err(StoreError::Other("a change written alone must be one put".into()).into());
        };
        let result = self
            .client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values)
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match result {
            Ok(_) => Ok(()),
            Err(StoreError::ConditionFailed(_)) => Err(Race::Changed(vec![0]).into()),
            Err(e) => Err(e.into()),
        }
    }
}
