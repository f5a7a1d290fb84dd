//! A bulk change of enrolments ("Enrolments > All", tick, SET EXPIRY DATE;
//! docs/domain.md#bulk-enrolment-changes): each enrolment decided as one change
//! ([`super::users::put_enrolment`]) on its user as the bulk leaves it so far, all applied in one
//! transaction or none.
//!
//! One transaction writes an item once, and the org's counters item is written by every user
//! whose count changes, so the users' counter changes are merged into one. That is sound for
//! what a bulk ends or moves (users counted off sum; each decided on the counters as the users
//! before left them). A learner the bulk would make active again — counted again or taking a
//! licence — is decided on the learner's page instead, where the limits are
//! decided one user at a time: the bulk is refused whole, naming the learner.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::users::{put_enrolment, EnrolmentState};
use crate::domain::allocation::Balance;
use crate::domain::audit::AuditEntry;
use crate::domain::auth::Principal;
use crate::domain::change::{Change, Decision, MAX_CHANGES};
use crate::domain::enrolment::{BulkEnrolments, BulkItem, Enrolment};
use crate::domain::org::Org;
use crate::domain::policy::Policy;
use crate::domain::seats::{CounterChange, Headcount, Reuse, ReuseChange};
use crate::domain::user::User;
use crate::domain::DomainError;

/// What a bulk change decides on: each named user with all its enrolments, and the org's
/// policy, balance, reuse count and room for users, as one enrolment change reads them.
pub struct BulkState {
    pub users: Vec<(User, Vec<Enrolment>)>,
    pub policy: Policy,
    pub balance: Balance,
    pub reuse: Reuse,
    pub headcount: Headcount,
}

/// One user as the bulk leaves it so far. Its item is written over the version read, as every
/// enrolment change writes it: two changes of its enrolments (the bulk and a single one) are
/// then never both applied on the same read, so neither writes back an enrolment the other
/// changed, and the user is never counted twice or lost.
struct Pending {
    user: User,
    enrolments: Vec<Enrolment>,
}

/// The bulk decided: every named enrolment as it is after, each user whose count may move, the
/// counters' merged change and one audit entry. Refused whole: an enrolment not there
/// (`not_found`), one the bulk would make active again or license (`conflict`), and writes
/// beyond one transaction (`invalid_request` on `items`).
pub fn bulk_enrolments(
    org: &Org,
    state: BulkState,
    input: &BulkEnrolments,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<Decision<Vec<Enrolment>>, DomainError> {
    let BulkState { users, policy, balance, reuse, headcount } = state;
    let mut bulk = Bulk { org, policy, balance, headcount, principal, now, reuse, counters: CounterChange::default() };
    let mut pending: HashMap<String, Pending> = users
        .into_iter()
        .map(|(user, enrolments)| {
            let p = Pending { user, enrolments };
            (p.user.email.clone(), p)
        })
        .collect();
    let mut after = Vec::with_capacity(input.items.len());
    for item in &input.items {
        let p = pending.get_mut(&item.email).ok_or_else(|| DomainError::not_found("user", &item.email))?;
        after.push(bulk.one(p, item, input)?);
    }
    let mut changes: Vec<Change> = after.iter().cloned().map(Change::Enrolment).collect();
    let mut written: Vec<&Pending> = pending.values().collect();
    written.sort_by(|a, b| a.user.email.cmp(&b.user.email));
    changes.extend(written.into_iter().map(|p| Change::User { user: p.user.clone(), created: false }));
    if !bulk.counters.is_empty() {
        changes.push(Change::Counters { org: org.clone(), change: bulk.counters });
    }
    let items: Vec<_> =
        input.items.iter().map(|i| json!({ "email": i.email, "enrolment_id": i.enrolment_id })).collect();
    let details = json!({ "status": input.status, "ends_at": input.ends_at, "items": items });
    changes.push(Change::Audit(AuditEntry::new(principal, org, "enrolments.bulk_set", "enrolments", details, now)));
    if changes.len() > MAX_CHANGES {
        let (n, writes) = (input.items.len(), changes.len());
        let message = format!(
            "these {n} enrolments need {writes} writes and one request holds {MAX_CHANGES} \
             (a learner whose enrolment ends takes one more): send fewer at a time"
        );
        return Err(DomainError::invalid("items", message));
    }
    Ok(Decision::new(changes, after))
}

/// What every item of a bulk is decided on, and the counters' change so far.
struct Bulk<'a> {
    org: &'a Org,
    policy: Policy,
    balance: Balance,
    headcount: Headcount,
    principal: &'a Principal,
    now: DateTime<Utc>,
    /// The reuse count's state as the users before left it.
    reuse: Reuse,
    counters: CounterChange,
}

impl Bulk<'_> {
    /// One item decided as one enrolment change on its user as the bulk leaves it so far: the
    /// enrolment after. Anything but the enrolment, its user and counts going down refuses it.
    fn one(&mut self, p: &mut Pending, item: &BulkItem, input: &BulkEnrolments) -> Result<Enrolment, DomainError> {
        let Some(before) = p.enrolments.iter().find(|e| e.enrolment_id == item.enrolment_id).cloned() else {
            return Err(DomainError::not_found("enrolment", &format!("{} of {}", item.enrolment_id, item.email)));
        };
        let now = self.now;
        let state = EnrolmentState {
            user: p.user.clone(),
            enrolments: p.enrolments.clone(),
            policy: self.policy.clone(),
            balance: self.balance.clone(),
            reuse: self.reuse.clone(),
            headcount: self.headcount.clone(),
        };
        let put = input.put_for(&before, now);
        let decided = put_enrolment(self.org, state, &item.enrolment_id, put, self.principal, now, String::new)
            .map_err(|e| for_learner(e, item))?;
        for change in decided.changes {
            match change {
                Change::Enrolment(_) | Change::Audit(_) => {}
                Change::User { user, .. } => p.user = user,
                Change::Counters { change, .. } if counts_down(&change) => {
                    fold(&mut self.reuse, &change);
                    self.counters.absorb(&change).ok_or_else(|| makes_active(item))?;
                }
                _ => return Err(makes_active(item)),
            }
        }
        let (enrolment, _) = decided.outcome;
        p.enrolments.retain(|e| e.enrolment_id != item.enrolment_id);
        p.enrolments.push(enrolment.clone());
        Ok(enrolment)
    }
}

/// Whether `change` only counts down (or leaves as they are) the org's counts: what a bulk
/// merges. A seat, an included seat or a user with access taken is the learner's page's.
fn counts_down(change: &CounterChange) -> bool {
    change.active_users <= 0 && change.seats_held <= 0 && change.included_in_use <= 0 && change.with_access <= 0
}

/// The counters as `change` leaves them, for the next user's decision: its count, and the
/// licence year the reuse count now counts.
fn fold(reuse: &mut Reuse, change: &CounterChange) {
    reuse.counters.active_users += change.active_users;
    if let ReuseChange::Start { year, value, .. } = change.reuse {
        reuse.counters.reuse_year = Some(year);
        reuse.counters.reuse = value;
    }
}

fn makes_active(item: &BulkItem) -> DomainError {
    DomainError::conflict(
        "bulk_makes_active",
        format!(
            "{}'s enrolment {} would make the learner active again; change it on the learner's page, \
             where the licence and the limits are decided",
            item.email, item.enrolment_id
        ),
    )
}

/// An enrolment's own refusal, saying whose.
fn for_learner(error: DomainError, item: &BulkItem) -> DomainError {
    match error {
        DomainError::InvalidRequest { message, details } => DomainError::InvalidRequest {
            message: format!("{}'s enrolment {}: {message}", item.email, item.enrolment_id),
            details,
        },
        other => other,
    }
}
