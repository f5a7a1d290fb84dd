//! The decision of an allocation from the balance (docs/domain.md#allocation): all or nothing, in one
//! transaction.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::allocation::{self, Balance, Candidate, Row};
use crate::domain::audit::AuditEntry;
use crate::domain::auth::Principal;
use crate::domain::change::{Change, Decision, MAX_CHANGES};
use crate::domain::org::Org;
use crate::domain::policy::Policy;
use crate::domain::seats::{self, CounterChange, Headcount};
use crate::domain::user::User;
use crate::domain::DomainError;

/// What an allocation answers: how many users were licensed and a row for every e-mail.
#[derive(Debug, Clone)]
pub struct Licensed {
    pub allocated: usize,
    pub rows: Vec<Row>,
}

/// Licenses the `candidates` who need a licence from `balance` (see [`allocation::plan`]): the
/// lots debited, the counters moved (the users created or restored within the `headcount`),
/// each user written over the version read (or new), and one audit entry. Nothing to license
/// changes nothing.
#[allow(clippy::too_many_arguments)]
pub fn allocate(
    org: &Org,
    candidates: Vec<Candidate>,
    create_missing: bool,
    (balance, headcount): (&Balance, &Headcount),
    policy: &Policy,
    principal: &Principal,
    now: DateTime<Utc>,
    licence_id: impl FnMut() -> String,
) -> Result<Decision<Licensed>, DomainError> {
    let plan = allocation::plan(&org.org_id, candidates, create_missing, balance, policy, now, licence_id)?;
    let allocated = Licensed { allocated: plan.licensed.len(), rows: plan.rows };
    if plan.licensed.is_empty() {
        return Ok(Decision::unchanged(allocated));
    }
    let mut change = CounterChange::default();
    let debits = plan.lot_debits.iter().map(|(lot, k)| (lot, *k));
    let mut changes = seats::take(balance, debits, plan.included_debit, plan.licensed.len() as u32, &mut change);
    headcount.admit(plan.adds, &users_named(&plan.licensed), &mut change)?;
    changes.push(Change::Counters { org: org.clone(), change });
    let emails: Vec<&str> = plan.licensed.iter().map(|(u, _)| u.email.as_str()).collect();
    let details = json!({ "count": emails.len(), "emails": emails });
    let entry = AuditEntry::new(principal, org, "licences.allocated", &format!("org/{}", org.org_id), details, now);
    for (user, created) in plan.licensed {
        changes.push(Change::User { user, created });
    }
    changes.push(Change::Audit(entry));
    if changes.len() > MAX_CHANGES {
        return Err(DomainError::invalid(
            "emails",
            "this allocation spans too many lots for one call; allocate fewer users at once",
        ));
    }
    Ok(Decision::new(changes, allocated))
}

/// Who an allocation names in a refusal: the one user, or how many.
fn users_named(licensed: &[(User, bool)]) -> String {
    match licensed {
        [(one, _)] => one.email.clone(),
        many => format!("{} users", many.len()),
    }
}
