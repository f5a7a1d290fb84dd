//! Apply: the one place that turns a decision's typed changes ([`Change`]) into conditional
//! writes, keys and one transaction — with the command's idempotency answer when it has one. A
//! failed condition comes back as a typed [`Race`], never as a message to compare.

use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};

use super::idempotency::IdempotencyRecord;
use super::{Error, Store, StoreError};
use crate::command::new_id;
use crate::domain::change::Change;

/// The most writes one transaction takes (DynamoDB's limit): the domain's
/// [`TRANSACTION_WRITES`](crate::domain::change::TRANSACTION_WRITES), whose
/// [`MAX_CHANGES`](crate::domain::change::MAX_CHANGES) leaves room for the idempotency answer.
pub const MAX_WRITES: usize = crate::domain::change::TRANSACTION_WRITES;

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
        // The seats held are counted on the spread item of the part the seats come from, so two
        // allocations meet on a counters item only where they meet on a part anyway.
        let part = changes.iter().find_map(|c| match c {
            Change::DebitLot { lot, .. } => Some(crate::domain::lot::part_number(&lot.lot_id)),
            _ => None,
        });
        for (i, change) in changes.iter().enumerate() {
            let written = match change {
                Change::Counters { org, change } => vec![self.change_counters(org, change, part)?],
                other => self.writes_of(other)?,
            };
            for w in written {
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
            Change::EraseUser { user, pseudonym, enrolments } => self.erase_user(user, pseudonym, enrolments)?,
            Change::Erasure(erasure) => vec![self.put_erasure(erasure)?],
            Change::Login(login) => vec![self.put_login(login)?],
            Change::Enrolment(e) => vec![self.put_enrolment(e)?],
            Change::Counters { org, change } => vec![self.change_counters(org, change, None)?],
            Change::DebitLot { lot, seats } => vec![self.debit_lot(lot, *seats)?],
            Change::UseSeatAgain(lot) => vec![self.use_seat_again(lot)?],
            Change::CreditLot { org_id, lot_id, lot_valid_until, seats } => {
                vec![self.credit_lot(org_id, lot_id, *lot_valid_until, *seats)?]
            }
            Change::UnreserveLot { org_id, lot_id, lot_valid_until, seats } => {
                vec![self.unreserve_lot(org_id, lot_id, *lot_valid_until, *seats)?]
            }
            Change::ReduceLot { lot, seats } => vec![self.reduce_lot(lot, *seats)?],
            Change::NewLot { lot, org } => self.put_new_lot(lot, org)?,
            Change::NewOrg(org) => self.put_new_org(org)?,
            Change::Org(org) => vec![self.put_org_versioned(org)?],
            Change::NewOrder { order, company } => self.put_new_order(order, company)?,
            Change::DecidedOrder { order, company } => self.put_decided_order(order, company)?,
            Change::Notice(n) => vec![self.put_notice(n)?],
            Change::Audit(entry) => vec![self.put_audit(entry, &new_id("aud"))?],
            Change::Import { record, expected } => vec![self.put_import(record, *expected)?],
            Change::ClearSuppression(s) => vec![self.clear_suppression(s)?],
            Change::Delivery { org_id, delivery } => vec![self.put_delivery(org_id, delivery)?],
            Change::UsageState { org, state, expected } => vec![self.put_usage_state_over(org, state, *expected)?],
        })
    }

    /// Writes `changes` (and `answer`) in one transaction, all or nothing. A failed condition
    /// is a [`Race`]: which changes failed, or that the key was taken. Nothing to change and no
    /// answer to store writes nothing. A decision whose writes do not fit one transaction is
    /// applied in steps ([`super::steps`]): everything but the enrolments it ends at once, they
    /// follow.
    pub async fn apply(&self, changes: &[Change], answer: Option<Answer<'_>>) -> Result<(), Error> {
        let (writes, from) = self.writes(changes)?;
        if writes.len() + usize::from(answer.is_some()) > MAX_WRITES {
            return self.apply_in_steps(changes, answer).await;
        }
        self.send_writes(writes, from, answer).await
    }

    /// Sends `writes` (and `answer`) in one transaction; `from[i]` is the index of the change
    /// write `i` came from (a write of the store's own, such as a plan of steps, has none: a
    /// failed condition of it is a race of no change).
    pub(super) async fn send_writes(
        &self,
        mut writes: Vec<TransactWriteItem>,
        from: Vec<usize>,
        answer: Option<Answer<'_>>,
    ) -> Result<(), Error> {
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
        if writes.len() == 1 {
            // One write is atomic on its own: as a plain conditional write it costs half the
            // capacity of a one-item transaction (a login recorded on its user, say).
            let only = writes.pop().expect("one write");
            return match self.write_alone(only).await {
                Err(Error::Race(_)) if answer.is_some() => Err(Race::KeyTaken.into()),
                other => other,
            };
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

    /// Writes one change as a single conditional write (no transaction); a failed condition is
    /// [`Race::Changed`]. Used for an import row's licence, each its own write.
    pub async fn apply_alone(&self, change: &Change) -> Result<(), Error> {
        let mut writes = self.writes_of(change)?;
        match (writes.pop(), writes.is_empty()) {
            (Some(only), true) => self.write_alone(only).await,
            _ => Err(StoreError::Other("a change written alone must be one write".into()).into()),
        }
    }

    /// One write of a transaction, sent on its own: a `Put`, `Update` or `Delete` with its
    /// condition.
    async fn write_alone(&self, write: TransactWriteItem) -> Result<(), Error> {
        // The condition and its names and values, as each kind of write takes them.
        macro_rules! conditional {
            ($request:expr, $w:ident) => {{
                let request = $request
                    .set_condition_expression($w.condition_expression)
                    .set_expression_attribute_names($w.expression_attribute_names)
                    .set_expression_attribute_values($w.expression_attribute_values);
                super::send_write(|| request.clone().send()).await.map(|_| ())
            }};
        }
        let c = &self.client;
        let sent = match write {
            TransactWriteItem { put: Some(w), .. } => {
                conditional!(c.put_item().table_name(w.table_name).set_item(Some(w.item)), w)
            }
            TransactWriteItem { update: Some(w), .. } => conditional!(
                c.update_item().table_name(w.table_name).set_key(Some(w.key)).update_expression(w.update_expression),
                w
            ),
            TransactWriteItem { delete: Some(w), .. } => {
                conditional!(c.delete_item().table_name(w.table_name).set_key(Some(w.key)), w)
            }
            _ => Err(StoreError::Other("a write on its own is a put, an update or a delete".into())),
        };
        match sent {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed(_)) => Err(Race::Changed(vec![0]).into()),
            Err(e) => Err(e.into()),
        }
    }
}
