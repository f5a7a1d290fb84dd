//! Users, enrolments and the access check (DOMAIN.md §2, §5–7).

use serde::Deserialize;
use serde_json::json;

use super::{load_org, new_id, RACED};
use crate::domain::allocation::{self, Balance, Candidate};
use crate::domain::audit::AuditEntry;
use crate::domain::auth::{authorize, Action, Principal, Role};
use crate::domain::enrolment::{self, PutEnrolment};
use crate::domain::org::{Org, OrgKind};
use crate::domain::policy::{Counting, Enforcement};
use crate::domain::usage::licence_year;
use crate::domain::user::{self, LicenceStatus, UpsertUser, User};
use crate::domain::{validate, DomainError};
use crate::http::{Ctx, Reply, IDEMPOTENCY_TTL_HOURS};
use crate::store::records::{IdempotencyRecord, KeyState, PENDING};
use crate::store::users::{CounterChange, Counters};
use crate::store::{Error, Store, StoreError};
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};

fn raced(_: usize) -> DomainError {
    DomainError::Conflict(RACED.into())
}

/// The company of the path, authorised for `action`, and the e-mail of the path.
async fn company_and_email(cx: &Ctx<'_>, action: Action) -> Result<(Org, String), Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, action, &org)?;
    if org.kind != OrgKind::Company {
        return Err(DomainError::invalid("org_id", "users belong to a company").into());
    }
    let email = validate::email("email", cx.param("email"))?;
    Ok((org, email))
}

async fn existing_user(cx: &Ctx<'_>, org: &Org, email: &str) -> Result<User, Error> {
    cx.app.store.user(&org.org_id, email).await?.ok_or_else(|| DomainError::not_found("user", email).into())
}

pub async fn upsert(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let (org, email) = company_and_email(cx, Action::ManageUsers).await?;
    let input: UpsertUser =
        if cx.req.body.iter().all(u8::is_ascii_whitespace) { UpsertUser::default() } else { cx.req.json()? };
    let login_only =
        input.name.is_none() && input.role.is_none() && input.renewable.is_none() && input.last_login_at.is_some();
    let store = &cx.app.store;
    let existing = store.user(&org.org_id, &email).await?;
    let created = existing.is_none();
    let role_before = existing.as_ref().map(|u| u.role);
    let next = user::upsert(existing, &org.org_id, &email, input, cx.req.now)?;
    let mut writes = vec![store.put_user(&next, created)?];
    if role_before != Some(next.role) {
        writes.push(store.manager_marker(&next)?);
    }
    // Logins are recorded on the user; they are not changes worth an audit entry each.
    if created || !login_only {
        let details = json!({ "name": next.name, "role": next.role, "renewable": next.renewable });
        let action = if created { "user.created" } else { "user.updated" };
        let audit = AuditEntry::new(principal, &org, action, &format!("user/{email}"), details, cx.req.now);
        writes.push(store.put_audit(&audit, &new_id("aud"))?);
    }
    let mut saved = next.clone();
    saved.version += 1;
    let body = saved.view(cx.req.now);
    let reply = if created { Reply::created(body) } else { Reply::ok(body) };
    cx.commit(writes, reply, raced).await
}

pub async fn get(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let (org, email) = company_and_email(cx, Action::ReadUsers).await?;
    let user = existing_user(cx, &org, &email).await?;
    Ok(Reply::ok(user.view(cx.req.now)))
}

/// `?licence_status=`: a licence's status now, or `none` (no licence at all).
fn status_filter(raw: &str) -> Result<Option<LicenceStatus>, DomainError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "none" => Ok(None),
        s => LicenceStatus::parse(s).map(Some).ok_or_else(|| {
            DomainError::invalid("licence_status", "must be active, pending, expired, released or none")
        }),
    }
}

/// The users of a company in e-mail order: `?email_prefix=` finds those whose e-mail starts so
/// (case-insensitive; e-mails are stored lower-cased, so it is a `begins_with` on the sort key),
/// `?licence_status=` keeps those whose licence has that status now (a filter over the query: a
/// page may be short while `next_cursor` goes on).
pub async fn list(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadUsers, &org)?;
    let page = cx.req.page()?;
    let prefix = cx.req.query("email_prefix").map(|p| p.trim().to_lowercase()).unwrap_or_default();
    if prefix.chars().count() > 254 {
        return Err(DomainError::invalid("email_prefix", "must be at most 254 characters").into());
    }
    let status = cx.req.query("licence_status").map(status_filter).transpose()?;
    let now = cx.req.now;
    let store = &cx.app.store;
    let page = match status {
        None => store.users_matching(&org.org_id, &prefix, &page, |_| true).await?,
        Some(want) => store.users_matching(&org.org_id, &prefix, &page, |u| u.licence_status(now) == want).await?,
    };
    Ok(Reply::page(page, |u| u.view(now)))
}

/// A user's enrolments, each with its status now (one whose end has passed is `expired`, sweep
/// or no sweep) and whether it is live.
pub async fn enrolments(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let (org, email) = company_and_email(cx, Action::ReadEnrolments).await?;
    existing_user(cx, &org, &email).await?;
    let page = cx.app.store.enrolments_page(&org.org_id, &email, &cx.req.page()?).await?;
    let now = cx.req.now;
    Ok(Reply::page(page, |e| e.view(now)))
}

/// Release: the licence ends as `released`, live enrolments become `expired`, records are kept,
/// and the seat goes back to its lot as `uses_per_seat` allows.
pub async fn release(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let (org, email) = company_and_email(cx, Action::ManageUsers).await?;
    let user = existing_user(cx, &org, &email).await?;
    let (writes, released) = release_writes(&cx.app.store, &org, &user, cx.principal()?, cx.req.now).await?;
    cx.commit(writes, Reply::ok(released.view(cx.req.now)), raced).await
}

/// What an active user's change needs for the reuse count: the org's counters and, under
/// `counting = active_users`, its licence year.
pub(crate) async fn reuse_context(
    store: &Store,
    org: &Org,
    now: DateTime<Utc>,
) -> Result<(Counters, Option<chrono::NaiveDate>), Error> {
    let policy = store.policy(org).await?;
    if policy.counting != Counting::ActiveUsers {
        return Ok((Counters::default(), None));
    }
    Ok((store.counters(&org.org_id).await?, licence_year(&store.all_lots(&org.org_id).await?, now)))
}

/// The writes that release `user` (one transaction), and the user as it will be stored.
pub(crate) async fn release_writes(
    store: &Store,
    org: &Org,
    user: &User,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<(Vec<TransactWriteItem>, User), Error> {
    let email = &user.email;
    let live: Vec<_> = store.enrolments(&org.org_id, email).await?.into_iter().filter(|e| e.live_at(now)).collect();
    let mut released = user::release(user, now);
    let mut change = CounterChange::default();
    if user.active {
        let (counters, year) = reuse_context(store, org, now).await?;
        change.set_active(&mut released, false, &counters, year);
    }
    let mut writes = vec![store.put_user(&released, false)?];
    for e in &live {
        writes.push(store.put_enrolment(&e.expired(now))?);
    }
    if let Some(l) = user.licence.as_ref().filter(|l| l.holds_seat(now)) {
        change.seats_held = -1;
        match &l.lot_id {
            Some(lot_id) => writes.push(store.credit_lot(&org.org_id, lot_id, l.lot_valid_until, 1)?),
            None => change.included_in_use = -1,
        }
    }
    if !change.is_empty() {
        writes.push(store.change_counters(org, &change)?);
    }
    let details =
        json!({ "licence_id": user.licence.as_ref().map(|l| &l.licence_id), "enrolments_expired": live.len() });
    let audit = AuditEntry::new(principal, org, "user.released", &format!("user/{email}"), details, now);
    writes.push(store.put_audit(&audit, &new_id("aud"))?);
    let mut saved = released;
    saved.version += 1;
    Ok((writes, saved))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRenewable {
    emails: Vec<String>,
    renewable: bool,
}

/// How long a claim on an `Idempotency-Key` stays live: longer than the API function may run
/// (15 s), so a claim is only taken over from a request that is surely gone.
const CLAIM_LEASE_SECONDS: i64 = 30;
/// How often, and how long each time, a twin waits for a live claim of its key to complete.
const CLAIM_WAITS: u32 = 10;
const CLAIM_WAIT_MS: u64 = 100;
const IN_PROGRESS: &str = "a request with this key is in progress; retry shortly";

/// Bulk "(not) renewable" (seed 000): each user is updated on its own; the answer says which.
/// Under an `Idempotency-Key` the key is claimed first (a pending record with the request's
/// fingerprint), then each user is set (repeating a set is harmless), then one transaction
/// writes the audit entry and the answer on the condition that the claim still holds. A retry
/// after a failure half-way takes the claim over and finishes the job; a retry after success
/// replays the answer; another request under the key is `idempotency_mismatch`.
pub async fn set_renewable(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(principal, Action::SetRenewable, &org)?;
    let input: SetRenewable = cx.req.json()?;
    if input.emails.is_empty() || input.emails.len() > 500 {
        return Err(DomainError::invalid("emails", "give 1 to 500 e-mail addresses").into());
    }
    let Some((key, fingerprint)) = cx.idempotency_key().map(|(k, f)| (k.to_string(), f.to_string())) else {
        return set_each_renewable(cx, &org, &input, None).await;
    };
    let store = &cx.app.store;
    let now = cx.req.now;
    let sub = &principal.sub;
    let claim = new_id("clm");
    let expires_at = (now + chrono::Duration::hours(IDEMPOTENCY_TTL_HOURS)).timestamp();
    let pending =
        IdempotencyRecord { fingerprint: fingerprint.clone(), status: PENDING, body: claim.clone(), expires_at };
    let mut waits = 0;
    while !store.claim_idempotency_key(sub, &key, &pending, now.timestamp() + CLAIM_LEASE_SECONDS, now).await? {
        match store.idempotency_key_state(sub, &key, now).await? {
            Some(held) if held.fingerprint() != fingerprint => return Err(DomainError::IdempotencyMismatch.into()),
            Some(KeyState::Done(record)) => return Reply::replayed(&record),
            // A live claim of a twin (or the record went in between): wait for it, a little.
            Some(KeyState::Pending { .. }) | None => {
                if waits == CLAIM_WAITS {
                    return Err(DomainError::Conflict(IN_PROGRESS.into()).into());
                }
                waits += 1;
                tokio::time::sleep(std::time::Duration::from_millis(CLAIM_WAIT_MS)).await;
            }
        }
    }
    let claimed = Claimed { key: &key, claim: &claim, fingerprint: &fingerprint, expires_at };
    let outcome = set_each_renewable(cx, &org, &input, Some(claimed)).await;
    if outcome.is_err() {
        // Failed here: let a retry take the job over at once (if this fails too, the claim ends
        // with its lease).
        let _ = store.release_idempotency_claim(sub, &key, &claim).await;
    }
    outcome
}

/// The key this request holds, claimed by [`Store::claim_idempotency_key`].
struct Claimed<'a> {
    key: &'a str,
    claim: &'a str,
    fingerprint: &'a str,
    expires_at: i64,
}

async fn set_each_renewable(
    cx: &Ctx<'_>,
    org: &Org,
    input: &SetRenewable,
    claimed: Option<Claimed<'_>>,
) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let store = &cx.app.store;
    let mut results = Vec::new();
    let mut updated = Vec::new();
    for raw in &input.emails {
        let Ok(email) = validate::email("emails", raw) else {
            results.push(json!({ "email": raw, "outcome": "invalid_email" }));
            continue;
        };
        match store.set_renewable(&org.org_id, &email, input.renewable).await {
            Ok(true) => {
                results.push(json!({ "email": email, "outcome": "updated" }));
                updated.push(email);
            }
            Ok(false) => results.push(json!({ "email": email, "outcome": "unknown_user" })),
            Err(e) => return Err(e.into()),
        }
    }
    let audit = AuditEntry::new(
        principal,
        org,
        "users.renewable_set",
        &format!("org/{}", org.org_id),
        json!({ "renewable": input.renewable, "emails": updated }),
        cx.req.now,
    );
    let reply = Reply::ok(json!({ "updated": updated.len(), "results": results }));
    let mut writes = vec![store.put_audit(&audit, &new_id("aud"))?];
    let Some(c) = claimed else {
        store.transact(writes).await?;
        return Ok(reply);
    };
    let record = IdempotencyRecord {
        fingerprint: c.fingerprint.to_string(),
        status: reply.status,
        body: reply.body.to_string(),
        expires_at: c.expires_at,
    };
    writes.push(store.complete_idempotency_claim(&principal.sub, c.key, c.claim, &record)?);
    match store.transact(writes).await {
        Ok(()) => Ok(reply),
        // The claim was taken over (this request outlived its lease): the job is the taker's.
        Err(StoreError::ConditionFailed(failed)) if failed.contains(&1) => {
            match store.idempotency_key_state(&principal.sub, c.key, cx.req.now).await? {
                Some(KeyState::Done(done)) if done.fingerprint == c.fingerprint => Reply::replayed(&done),
                _ => Err(DomainError::Conflict(IN_PROGRESS.into()).into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// An enrolment changes. Under `term_starts = activation` the first live enrolment of a user
/// without a seat debits a licence (pending), and an enrolment becoming active starts the
/// licence year. Under `counting = active_users` with hard enforcement, a user who would become
/// active beyond the limit is refused.
pub async fn put_enrolment(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let (org, email) = company_and_email(cx, Action::ManageUsers).await?;
    let input: PutEnrolment = cx.req.json()?;
    let store = &cx.app.store;
    let now = cx.req.now;
    let enrolment_id = cx.param("enrolment_id");
    let user = existing_user(cx, &org, &email).await?;
    let after = enrolment::put(&org.org_id, &email, enrolment_id, input, now)?;
    let all = store.enrolments(&org.org_id, &email).await?;
    let before = all.iter().find(|e| e.enrolment_id == enrolment_id);
    let live_after =
        all.iter().filter(|e| e.enrolment_id != enrolment_id).any(|e| e.live_at(now)) || after.live_at(now);
    let policy = store.policy(&org).await?;
    let counters = store.counters(&org.org_id).await?;
    let lots = store.all_lots(&org.org_id).await?;
    let year = (policy.counting == Counting::ActiveUsers).then(|| licence_year(&lots, now)).flatten();
    let balance = Balance {
        lots,
        seats_included: policy.seats_included,
        included_in_use: counters.included_in_use.max(0) as u32,
    };

    // Whether the user counts as active follows its enrolments; the user item remembers how it
    // was counted, so an enrolment that ended unswept is not counted off twice.
    let mut user = user;
    let mut change = CounterChange::default();
    change.set_active(&mut user, live_after, &counters, year);
    if change.active_users > 0 && policy.counting == Counting::ActiveUsers && policy.enforcement == Enforcement::Hard {
        let limit = balance.limit(now) as i64;
        if counters.active_users >= limit {
            return Err(DomainError::SeatLimitReached {
                message: format!(
                    "{email} cannot be given access: the org has {limit} seats ({} ordered, {} included) and {} are used. \
                     Request more licences, or expire the enrolments of users who no longer need access.",
                    limit - policy.seats_included as i64,
                    policy.seats_included,
                    counters.active_users,
                ),
                limit: limit.max(0) as u64,
                used: counters.active_users.max(0) as u64,
            }
            .into());
        }
        change.active_users_max = Some(limit);
    }

    let mut writes = vec![store.put_enrolment(&after)?];
    let mut next = user.clone();
    let mut debited = false;
    if policy.term_starts == crate::domain::policy::TermStarts::Activation
        && after.live_at(now)
        && !user.holds_seat(now)
    {
        let plan = allocation::plan(
            &org.org_id,
            vec![Candidate { raw: email.clone(), user: Some(user.clone()) }],
            false,
            &balance,
            &policy,
            now,
            || new_id("lic"),
        )?;
        if let Some((licensed, _)) = plan.licensed.into_iter().next() {
            for (lot_id, k) in &plan.lot_debits {
                let lot = balance.lots.iter().find(|l| &l.lot_id == lot_id).expect("planned from these lots");
                writes.push(store.debit_lot(lot, *k)?);
            }
            change.seats_held += 1;
            change.included_in_use += plan.included_debit as i64;
            change.included_max = Some(policy.seats_included as i64);
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
    writes.push(store.put_user(&next, false)?);
    if !change.is_empty() {
        writes.push(store.change_counters(&org, &change)?);
    }
    let details = json!({ "enrolment_id": enrolment_id, "status": after.status, "licence_debited": debited, "licence_status": next.licence_status(now) });
    let audit = AuditEntry::new(principal, &org, "enrolment.set", &format!("user/{email}"), details, now);
    writes.push(store.put_audit(&audit, &new_id("aud"))?);
    let mut saved = next.clone();
    saved.version += 1;
    let body = json!({ "enrolment": after, "user": saved.view(now) });
    cx.commit(writes, Reply::ok(body), raced).await
}

pub async fn access(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let (org, email) = company_and_email(cx, Action::ReadAccess).await?;
    if principal.role == Role::Learner && (principal.email != email || principal.org_id != org.org_id) {
        // A learner asks about itself only; another user's status is not its to know.
        return Err(DomainError::not_found("user", &email).into());
    }
    let user = cx.app.store.user(&org.org_id, &email).await?;
    let answer = user::access(&email, user.as_ref(), cx.req.now);
    Ok(Reply::ok(serde_json::to_value(answer).unwrap_or_default()))
}
