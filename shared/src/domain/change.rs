//! What a decision changes, typed: the one vocabulary between `decide` (the domain) and `apply`
//! (`store::apply`, which alone turns changes into conditional writes, keys and transactions).
//!
//! Each change carries the condition it is written under, as a fact of the domain: a user over
//! the version that was read, a lot debited only while it has the seats, an order decided only
//! while it is still requested. When a condition fails, the state changed since it was read:
//! the command lost a race (`store::Race`) and the executor (`crate::command`) runs it again.

use chrono::{DateTime, Utc};

use super::audit::AuditEntry;
use super::enrolment::Enrolment;
use super::import::{Batch, ImportStatus};
use super::lot::Lot;
use super::notice::{Delivery, Notice};
use super::order::Order;
use super::org::Org;
use super::seats::CounterChange;
use super::suppression::Suppression;
use super::usage::UsageState;
use super::user::User;

/// The most writes one DynamoDB transaction takes: the one figure for what a decision applied
/// at once may hold (`store::apply::MAX_WRITES` is this constant).
pub const TRANSACTION_WRITES: usize = 100;

/// The most changes one decision applied in one transaction holds: a transaction's writes, less
/// one for the command's idempotency answer, which goes in the same transaction.
pub const MAX_CHANGES: usize = TRANSACTION_WRITES - 1;

#[derive(Debug, Clone)]
pub enum Change {
    /// A user written over the version read (`user.version`, bumped by the write), or a new
    /// user (`created`) that must not be there yet.
    User { user: User, created: bool },
    /// The manager marker follows the user's role (written when the role changes).
    ManagerMarker(User),
    /// A user moved to `pseudonym` without its name (its personal data erased): the item under
    /// its e-mail deleted over the version read, the same user under the pseudonym new, its
    /// manager marker gone, and `enrolments` (as read with that version) moved to the pseudonym.
    EraseUser { user: User, pseudonym: String, enrolments: Vec<super::enrolment::Enrolment> },
    /// A new erasure record, for the job that rewrites the rest.
    Erasure(super::erasure::Erasure),
    /// A user's login recorded in its own item, on the condition that none of its UTC day or
    /// later is there ([`Login::due`](super::user::Login::due)).
    Login(super::user::Login),
    /// An enrolment, written as it is.
    Enrolment(Enrolment),
    /// The org's counters move by `change`, within the limits it names.
    Counters { org: Org, change: CounterChange },
    /// `seats` taken from a lot that still has them (`in_use` and `uses` rise).
    DebitLot { lot: Lot, seats: u32 },
    /// One more licence from a seat its holder keeps (`uses` rises within its cap).
    UseSeatAgain(Lot),
    /// Seats given back after a release or an expiry (`in_use` falls, `uses` stays).
    CreditLot { org_id: String, lot_id: String, lot_valid_until: Option<DateTime<Utc>>, seats: u32 },
    /// Reserved seats that issued no licence (`in_use` and `uses` fall).
    UnreserveLot { org_id: String, lot_id: String, lot_valid_until: Option<DateTime<Utc>>, seats: u32 },
    /// `seats` unissued seats removed from a lot by a reduction (`quantity` falls, `reduced`
    /// rises), on the condition that the lot is as read: active, of the quantity read, and still
    /// holding `in_use` and `uses` within what is left.
    ReduceLot { lot: Lot, seats: u32 },
    /// A new lot of `org`.
    NewLot { lot: Lot, org: Org },
    /// A new org, on the condition that its id is free, also ignoring case (its case guard).
    NewOrg(Org),
    /// An org written over the version read.
    Org(Org),
    /// A new order and its list entries in every org of the company's chain.
    NewOrder { order: Order, company: Org },
    /// A decided order, on the condition that it is still requested, and its list entries.
    DecidedOrder { order: Order, company: Org },
    /// A new notice.
    Notice(Notice),
    /// A new audit entry.
    Audit(AuditEntry),
    /// An import record: new (`expected: None`) or over the status it was read in.
    Import { record: Batch, expected: Option<ImportStatus> },
    /// A suppressed address cleared, on the condition that it is still suppressed.
    ClearSuppression(Suppression),
    /// An org's overage state, written over the version read (`expected`; `None`: the first).
    UsageState { org: Org, state: UsageState, expected: Option<u64> },
    /// One recipient's guard of a notice's e-mail, written over the version read
    /// (`delivery.version`, bumped by the write; 0: none, or one from before guards had
    /// versions).
    Delivery { org_id: String, delivery: Delivery },
}

/// What a command decided: the changes to apply and the outcome to answer once they are.
#[derive(Debug, Clone)]
pub struct Decision<T> {
    pub changes: Vec<Change>,
    pub outcome: T,
}

impl<T> Decision<T> {
    pub fn new(changes: Vec<Change>, outcome: T) -> Self {
        Decision { changes, outcome }
    }

    /// The same changes with the outcome mapped (to an answer, say).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Decision<U> {
        Decision { changes: self.changes, outcome: f(self.outcome) }
    }

    /// An outcome that changes nothing.
    pub fn unchanged(outcome: T) -> Self {
        Decision { changes: Vec::new(), outcome }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_decision_of_the_most_changes_and_its_idempotency_answer_fill_one_transaction() {
        assert_eq!(super::MAX_CHANGES + 1, crate::store::apply::MAX_WRITES);
        assert_eq!(crate::store::apply::MAX_WRITES, 100, "DynamoDB's limit");
    }
}
