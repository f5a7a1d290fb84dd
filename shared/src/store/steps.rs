//! A decision too large for one transaction, applied in ordered, idempotent steps behind a
//! durable marker (docs/architecture.md#steps). A user with 500 live enrolments released, made
//! not renewable at its anniversary or expired ends them all; one transaction holds 100 writes.
//!
//! - The first step holds every change but the enrolments the decision ends — the user and its
//!   licence, the counters, the lots, the audit entry, the command's idempotency answer — so
//!   access ends at once, then as many of those enrolments as fit, and a **plan** item naming the
//!   rest. It is one transaction: the decision happens whole or not at all.
//! - Each following step writes the next enrolments and moves the plan on, in one transaction, on
//!   the condition that the plan is still at that step: a step never applies twice, and an
//!   attempt that finds its step applied goes on from where the plan stands.
//! - The request that decided goes through every step. One cut off between two leaves its plan,
//!   listed among the plans under way until its lease passes; the hourly lease sweep
//!   (`imports::leases`) then finishes it, and a change of one of the user's enrolments finishes
//!   the user's plans before it is decided. A finished plan leaves the index and is removed by
//!   the table's TTL a week on.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::apply::{Answer, MAX_WRITES};
use super::keys::{self, GSI2PK, GSI2SK, PK, SK};
use super::{put_if, to_item, Error, QuerySpec, Race, SortKey, Store, StoreError};
use crate::command::new_id;
use crate::command::retry::{self, Policy};
use crate::domain::change::Change;
use crate::domain::enrolment::{Enrolment, EnrolmentStatus};

/// How long a plan's steps are left to the request that decided it before the lease sweep takes
/// them over: longer than any function may run (15 minutes).
pub const PLAN_LEASE: Duration = Duration::minutes(16);

/// How long a finished plan is kept before the table's TTL removes it.
const FINISHED_KEPT: Duration = Duration::days(7);

/// The most bytes of enrolments one plan holds, well inside an item's 400 KB (the rest of the
/// plan item is a few hundred bytes): about 1,400 enrolments. A decision that would follow with
/// more is refused whole, as too large.
pub const MAX_PLAN_BYTES: usize = 350_000;

/// The rest of a decision, applied in steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub plan_id: String,
    pub org_id: String,
    /// The user whose enrolments follow.
    pub email: String,
    /// When the decision was made.
    pub decided_at: DateTime<Utc>,
    /// The step to apply next (the first step is 1; a plan exists from step 2 on).
    pub step: u32,
    /// The enrolments still to write, in order.
    pub rest: Vec<Enrolment>,
    /// Until when the request that decided it goes through its steps.
    pub lease_until: DateTime<Utc>,
}

impl Plan {
    pub fn finished(&self) -> bool {
        self.rest.is_empty()
    }
}

/// A change that may follow in a later step: an enrolment ended (the user's access ended with the
/// first step already; writing it needs no other item).
fn may_follow(change: &Change) -> Option<&Enrolment> {
    match change {
        Change::Enrolment(e) if e.status == EnrolmentStatus::Expired => Some(e),
        _ => None,
    }
}

impl Store {
    /// Applies `changes` (and `answer`) whose writes do not fit one transaction, in steps: the
    /// first with everything but the enrolments that may follow, as many of those as fit and the
    /// plan of the rest; then each following step. A lost race of the first step is a [`Race`]
    /// naming `changes` by their index, as [`Store::apply`] answers it.
    pub(super) async fn apply_in_steps(&self, changes: &[Change], answer: Option<Answer<'_>>) -> Result<(), Error> {
        let (mut first, mut origin, mut follow) = (Vec::new(), Vec::new(), Vec::new());
        for (i, change) in changes.iter().enumerate() {
            match may_follow(change) {
                Some(e) => follow.push((i, e)),
                None => {
                    first.push(change.clone());
                    origin.push(i);
                }
            }
        }
        // The first step: every change that cannot follow, then as many ended enrolments as fit
        // beside the plan item and the answer; each write named by the change it came from.
        let (mut writes, from) = self.writes(&first)?;
        let mut from: Vec<usize> = from.into_iter().map(|f| origin[f]).collect();
        let head = writes.len() + usize::from(answer.is_some()) + 1;
        let Some((_, e)) = follow.first().filter(|_| head < MAX_WRITES) else {
            let writes = self.writes(changes)?.0.len();
            return Err(StoreError::TooLarge(format!(
                "{writes} writes do not fit one transaction, and {head} of them cannot follow in steps"
            ))
            .into());
        };
        let (org_id, email, decided_at) = (e.org_id.clone(), e.email.clone(), e.updated_at);
        let room = MAX_WRITES - head;
        let rest: Vec<Enrolment> = follow.iter().skip(room).map(|(_, e)| (*e).clone()).collect();
        let bytes = serde_json::to_vec(&rest).map_err(|e| StoreError::Other(e.to_string()))?.len();
        if bytes > MAX_PLAN_BYTES {
            return Err(StoreError::TooLarge(format!(
                "the {} enrolments {email} would end take {bytes} bytes, more than one plan of steps holds ({MAX_PLAN_BYTES})",
                follow.len()
            ))
            .into());
        }
        for (i, e) in follow.iter().take(room) {
            writes.push(self.put_enrolment(e)?);
            from.push(*i);
        }
        let plan = Plan {
            plan_id: new_id("pln"),
            org_id,
            email,
            decided_at,
            step: 2,
            rest,
            lease_until: decided_at + PLAN_LEASE,
        };
        tracing::info!(org_id = %plan.org_id, email = %plan.email, plan_id = %plan.plan_id, following = plan.rest.len(), "a decision too large for one transaction is applied in steps");
        writes.push(self.put_plan(&plan, None)?);
        self.send_writes(writes, from, answer).await?;
        self.follow(plan).await
    }

    /// Goes through the rest of `plan`, a step at a time, each under the one retry policy.
    pub async fn follow(&self, mut plan: Plan) -> Result<(), Error> {
        while !plan.finished() {
            let at = &plan;
            plan = retry::run(&Policy::DEFAULT, || async move { self.next_step(at).await }).await?;
        }
        Ok(())
    }

    /// Applies the plan's next step; the plan as it then stands. When another attempt applied
    /// that step first, the plan as that attempt left it.
    async fn next_step(&self, plan: &Plan) -> Result<Plan, Error> {
        let take = plan.rest.len().min(MAX_WRITES - 1);
        let next = Plan { step: plan.step + 1, rest: plan.rest[take..].to_vec(), ..plan.clone() };
        let mut writes = plan.rest[..take].iter().map(|e| self.put_enrolment(e)).collect::<Result<Vec<_>, _>>()?;
        writes.push(self.put_plan(&next, Some(plan.step))?);
        match self.transact(writes).await {
            Ok(()) => Ok(next),
            Err(StoreError::ConditionFailed(_)) => match self.plan(&plan.org_id, &plan.email, &plan.plan_id).await? {
                Some(moved) if moved.step > plan.step => Ok(moved),
                _ => Err(Race::Changed(Vec::new()).into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// The plan item: new (`at_step: None`), or over the step it was read at. Listed among the
    /// plans under way (GSI2 `STEPS`) until it is finished; then it expires.
    fn put_plan(&self, plan: &Plan, at_step: Option<u32>) -> Result<TransactWriteItem, StoreError> {
        let mut item =
            to_item("steps", plan, &[(PK, keys::org(&plan.org_id)), (SK, keys::steps_sk(&plan.email, &plan.plan_id))])?;
        if plan.finished() {
            let gone = (plan.decided_at + FINISHED_KEPT).timestamp();
            item.insert(keys::EXPIRES_AT.into(), AttributeValue::N(gone.to_string()));
        } else {
            item.insert(GSI2PK.into(), AttributeValue::S(keys::STEPS.into()));
            let sk = keys::lease_gsi2sk(plan.lease_until, &plan.org_id, &plan.plan_id);
            item.insert(GSI2SK.into(), AttributeValue::S(sk));
        }
        match at_step {
            None => put_if(&self.table, item, Some("attribute_not_exists(PK)"), &[], HashMap::new()),
            Some(step) => {
                let values = HashMap::from([(":step".to_string(), AttributeValue::N(step.to_string()))]);
                put_if(&self.table, item, Some("#step = :step"), &[("#step", "step")], values)
            }
        }
    }

    /// A plan, read strongly consistent.
    pub async fn plan(&self, org_id: &str, email: &str, plan_id: &str) -> Result<Option<Plan>, StoreError> {
        self.get(keys::org(org_id), &keys::steps_sk(email, plan_id)).await
    }

    /// The unfinished plans of one user (its enrolments are changed only once they are done).
    pub async fn unfinished_plans(&self, org_id: &str, email: &str) -> Result<Vec<Plan>, Error> {
        let spec = QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::steps_prefix(email)));
        let plans: Vec<Plan> = self.query_all(&spec).await?;
        Ok(plans.into_iter().filter(|p| !p.finished()).collect())
    }

    /// Up to `limit` unfinished plans whose lease passed by `now`, first-lapsed first.
    pub async fn lapsed_plans(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<Plan>, Error> {
        self.lapsed(keys::STEPS, now, limit).await
    }
}
