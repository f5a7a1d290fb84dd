//! Decisions on users and enrolments (docs/domain.md#users-and-enrolments): upsert, release, an enrolment change.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::allocation::{self, Balance, Candidate};
use crate::domain::audit::AuditEntry;
use crate::domain::auth::Principal;
use crate::domain::change::{Change, Decision};
use crate::domain::enrolment::{self, Enrolment, PutEnrolment};
use crate::domain::erasure::{Erasure, ErasureStatus};
use crate::domain::org::Org;
use crate::domain::policy::{Counting, Enforcement, Policy, TermStarts};
use crate::domain::seats::{self, CounterChange, Headcount, Reuse, ReuseChange};
use crate::domain::user::{self, Login, UpsertUser, User};
use crate::domain::DomainError;

/// The user as it is stored after a decision's write (which bumps the version).
pub fn saved(user: &User) -> User {
    let mut saved = user.clone();
    saved.version += 1;
    saved
}

/// Whether a `PUT user` reports a login and nothing else.
pub fn login_only(input: &UpsertUser) -> bool {
    input.name.is_none() && input.role.is_none() && input.renewable.is_none() && input.last_login_at.is_some()
}

/// A login alone reported for an existing user (docs/domain.md#users-and-enrolments): its own login item
/// written, one write unit, at most once per UTC day ([`Login::due`] over the user's last login
/// as read, `recorded` being its login item's); the user item untouched. The outcome: the user
/// with its last login.
pub fn login(
    user: User,
    recorded: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Decision<(User, bool)>, DomainError> {
    if at > now {
        return Err(DomainError::invalid("last_login_at", "must not be in the future"));
    }
    let user = user.with_login(recorded);
    if !Login::due(user.last_login_at, at) {
        return Ok(Decision::unchanged((user, false)));
    }
    let login = Login { org_id: user.org_id.clone(), email: user.email.clone(), last_login_at: at };
    Ok(Decision::new(vec![Change::Login(login)], (user.with_login(Some(at)), false)))
}

/// `PUT user`: the user written over the version read (or new: one more user with access,
/// within the `headcount`'s limit); the manager marker follows a changed role; an audit entry,
/// except for a login alone. The outcome: the user as stored, and whether it was created. (A
/// login alone of an existing user is [`login`].)
pub fn upsert(
    existing: Option<User>,
    org: &Org,
    headcount: &Headcount,
    (email, input): (&str, UpsertUser),
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<Decision<(User, bool)>, DomainError> {
    let login_only = login_only(&input);
    let created = existing.is_none();
    let role_before = existing.as_ref().map(|u| u.role);
    let next = user::upsert(existing, &org.org_id, email, input, now)?;
    let mut changes = vec![Change::User { user: next.clone(), created }];
    if created {
        let mut change = CounterChange::default();
        headcount.admit(1, email, &mut change)?;
        changes.push(Change::Counters { org: org.clone(), change });
    }
    if role_before != Some(next.role) {
        changes.push(Change::ManagerMarker(next.clone()));
    }
    // Logins are recorded on the user; they are not changes worth an audit entry each.
    if created || !login_only {
        let details = json!({ "name": next.name, "role": next.role, "renewable": next.renewable });
        let action = if created { "user.created" } else { "user.updated" };
        changes.push(Change::Audit(AuditEntry::new(principal, org, action, &format!("user/{email}"), details, now)));
    }
    Ok(Decision::new(changes, (saved(&next), created)))
}

/// The bulk "(not) renewable" of one user (docs/domain.md#automatic-renewal): the flag, written
/// over the version read; nothing when it is set so already.
pub fn flagged(user: &User, renewable: bool) -> Decision<()> {
    if user.renewable == renewable {
        return Decision::unchanged(());
    }
    let next = User { renewable, ..user.clone() };
    Decision::new(vec![Change::User { user: next, created: false }], ())
}

/// Release: the licence ends as `released`, the user's `live` enrolments become `expired`,
/// records are kept, and the seat goes back to its lot as `uses_per_seat` allows. The outcome:
/// the user as stored.
pub fn release(
    org: &Org,
    user: &User,
    live: &[Enrolment],
    reuse: &Reuse,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Decision<User> {
    let mut released = user::release(user, now);
    let mut change = CounterChange::default();
    if user.active {
        change.set_active(&mut released, false, reuse);
    }
    if user.released_at.is_none() {
        change.with_access -= 1;
    }
    let mut changes = vec![Change::User { user: released.clone(), created: false }];
    changes.extend(live.iter().map(|e| Change::Enrolment(e.expired(now))));
    if let Some(l) = user.licence.as_ref().filter(|l| l.holds_seat(now)) {
        changes.extend(seats::give_back(&org.org_id, l, &mut change));
    }
    if !change.is_empty() {
        changes.push(Change::Counters { org: org.clone(), change });
    }
    let details =
        json!({ "licence_id": user.licence.as_ref().map(|l| &l.licence_id), "enrolments_expired": live.len() });
    changes.push(Change::Audit(AuditEntry::new(
        principal,
        org,
        "user.released",
        &format!("user/{}", user.email),
        details,
        now,
    )));
    Decision::new(changes, saved(&released))
}

/// The seat limit a user who becomes active must fit in (hard enforcement under `counting =
/// active_users`), or the refusal naming the seats and what to do.
fn within_limit(
    email: &str,
    policy: &Policy,
    balance: &Balance,
    reuse: &Reuse,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    let limit = balance.limit(now) as i64;
    let used = reuse.counters.active_users;
    if used < limit {
        return Ok(limit);
    }
    Err(DomainError::SeatLimitReached {
        message: format!(
            "{email} cannot be given access: the org has {limit} seats ({} ordered, {} included) and {used} are used. \
             Request more licences, or expire the enrolments of users who no longer need access.",
            limit - policy.seats_included as i64,
            policy.seats_included,
        ),
        limit: limit.max(0) as u64,
        used: used.max(0) as u64,
    })
}

/// Under `counting = active_users` with `uses_per_seat = N` and hard enforcement, the distinct
/// users active in the licence year may be at most N × limit (docs/domain.md#active-users-and-reuse):
/// the bound the counters' write holds `reuse` to, or the refusal of the next one. Users counted
/// this year already are never refused.
fn within_reuse_cap(
    email: &str,
    policy: &Policy,
    balance: &Balance,
    reuse: &Reuse,
    change: &CounterChange,
    now: DateTime<Utc>,
) -> Result<Option<i64>, DomainError> {
    let after = match &change.reuse {
        ReuseChange::Add { .. } => reuse.counters.reuse + 1,
        ReuseChange::Start { value, .. } => *value,
        ReuseChange::None => return Ok(None),
    };
    let Some(cap) = policy.uses_per_seat.cap() else { return Ok(None) };
    if policy.counting != Counting::ActiveUsers || policy.enforcement != Enforcement::Hard {
        return Ok(None);
    }
    let limit = balance.limit(now) as i64;
    let max = cap as i64 * limit;
    if after <= max {
        return Ok(Some(max));
    }
    let used = (after - 1).max(0);
    Err(DomainError::SeatLimitReached {
        message: format!(
            "{email} cannot be given access: {used} different users have been active this licence year, \
             and {limit} seats allow at most {max} ({cap} per seat). Request more licences."
        ),
        limit: max.max(0) as u64,
        used: used as u64,
    })
}

/// What an enrolment change decides on: the user, all its enrolments, the org's policy, its
/// balance, the reuse count's state and the room for users with access.
pub struct EnrolmentState {
    pub user: User,
    pub enrolments: Vec<Enrolment>,
    pub policy: Policy,
    pub balance: Balance,
    pub reuse: Reuse,
    pub headcount: Headcount,
}

/// An enrolment changes. Whether the user counts as active follows its enrolments (the user item
/// remembers how it was counted, so an enrolment that ended unswept is not counted off twice).
/// Under `counting = active_users` with hard enforcement, a user who would become active beyond
/// the limit is refused. Under `term_starts = activation` the first live enrolment of a user
/// without a seat debits a licence (pending), and an enrolment becoming active starts the
/// licence year. The outcome: the enrolment and the user as stored.
pub fn put_enrolment(
    org: &Org,
    state: EnrolmentState,
    enrolment_id: &str,
    input: PutEnrolment,
    principal: &Principal,
    now: DateTime<Utc>,
    licence_id: impl FnMut() -> String,
) -> Result<Decision<(Enrolment, User)>, DomainError> {
    let EnrolmentState { mut user, enrolments, policy, balance, reuse, headcount } = state;
    let email = user.email.clone();
    let before = enrolments.iter().find(|e| e.enrolment_id == enrolment_id);
    let after = enrolment::put(&org.org_id, &email, enrolment_id, input, now)?;
    let after = enrolment::with_run_access(after, before, policy.run_access_months, now);
    let live_after =
        enrolments.iter().filter(|e| e.enrolment_id != enrolment_id).any(|e| e.live_at(now)) || after.live_at(now);

    let mut change = CounterChange::default();
    change.set_active(&mut user, live_after, &reuse);
    if change.active_users > 0 && policy.counting == Counting::ActiveUsers && policy.enforcement == Enforcement::Hard {
        change.active_users_max = Some(within_limit(&email, &policy, &balance, &reuse, now)?);
    }
    change.reuse_max = within_reuse_cap(&email, &policy, &balance, &reuse, &change, now)?;

    let mut changes = vec![Change::Enrolment(after.clone())];
    let mut next = user.clone();
    let mut debited = false;
    if policy.term_starts == TermStarts::Activation && after.live_at(now) && !user.holds_seat(now) {
        let candidate = Candidate { raw: email.clone(), user: Some(user.clone()) };
        let plan = allocation::plan(&org.org_id, vec![candidate], false, &balance, &policy, now, licence_id)?;
        if let Some((licensed, _)) = plan.licensed.into_iter().next() {
            let debits = plan.lot_debits.iter().map(|(lot, k)| (lot, *k));
            changes.extend(seats::take(&balance, debits, plan.included_debit, 1, &mut change));
            headcount.admit(plan.adds, &email, &mut change)?;
            next = licensed;
            debited = true;
        }
    }
    if let Some(start) = enrolment::start_of_year(before, &after, now) {
        if let Some(activated) = user::activate(&next, &policy, start) {
            next = activated;
        }
    }
    // The user item is written (and its version checked) on every enrolment change, so two
    // changes for one user never both count the user as newly active.
    changes.push(Change::User { user: next.clone(), created: false });
    if !change.is_empty() {
        changes.push(Change::Counters { org: org.clone(), change });
    }
    let details = json!({ "enrolment_id": enrolment_id, "status": after.status, "licence_debited": debited, "licence_status": next.licence_status(now) });
    changes.push(Change::Audit(AuditEntry::new(
        principal,
        org,
        "enrolment.set",
        &format!("user/{email}"),
        details,
        now,
    )));
    Ok(Decision::new(changes, (after, saved(&next))))
}

/// A user's personal data erased (docs/domain.md#erasing-personal-data): refused until it is
/// released (so the counts it leaves are final) and while it is one of the org's contacts; otherwise
/// the user item moves to `pseudonym` without its name, with its `enrolments` when there are
/// at most [`ENROLMENTS_MOVED_BY_THE_REQUEST`](crate::domain::erasure::ENROLMENTS_MOVED_BY_THE_REQUEST)
/// (more are the job's), the erasure is recorded for the job that rewrites the rest, and the
/// audit entry names the pseudonym alone.
pub fn erase(
    org: &Org,
    user: User,
    enrolments: Vec<Enrolment>,
    pseudonym: String,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<Decision<Erasure>, DomainError> {
    if user.email.ends_with(&format!("@{}", crate::domain::erasure::PSEUDONYM_DOMAIN)) {
        return Err(DomainError::conflict(
            "already_erased",
            format!("{} is a pseudonym: its data is erased already", user.email),
        ));
    }
    if user.released_at.is_none() || user.holds_seat(now) || user.active {
        return Err(DomainError::conflict(
            "licence_active",
            format!("{} is not released: release the user first (its records are kept), then erase", user.email),
        ));
    }
    if org.contacts.iter().any(|c| c.email == user.email) {
        return Err(DomainError::conflict(
            "contact",
            format!("{} is one of the org's contacts: remove it from the contacts first, then erase", user.email),
        ));
    }
    let erasure = Erasure {
        org_id: org.org_id.clone(),
        pseudonym: pseudonym.clone(),
        email: Some(user.email.clone()),
        name: user.name.clone(),
        status: ErasureStatus::Erasing,
        requested_at: now,
        finished_at: None,
        handovers: 0,
        walked: None,
        lease_until: Some(now + chrono::Duration::minutes(crate::domain::erasure::ERASURE_LEASE_MINUTES)),
    };
    let audit = AuditEntry::new(principal, org, "user.erased", &format!("user/{pseudonym}"), json!({}), now);
    let moved = match enrolments.len() <= crate::domain::erasure::ENROLMENTS_MOVED_BY_THE_REQUEST {
        true => enrolments,
        false => Vec::new(),
    };
    let erase = Change::EraseUser { user, pseudonym, enrolments: moved };
    let changes = vec![erase, Change::Erasure(erasure.clone()), Change::Audit(audit)];
    Ok(Decision::new(changes, erasure))
}
