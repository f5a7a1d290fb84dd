//! Users, enrolments and the access check (docs/domain.md#users-and-enrolments).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::load_org;
use crate::command::retry::{self, Policy};
use crate::command::{self, new_id, Decision};
use crate::domain::allocation::Balance;
use crate::domain::audit::AuditEntry;
use crate::domain::auth::{authorize, Action, Principal, Role};
use crate::domain::change::Change;
use crate::domain::decide::enrolments as decide_enrolments;
use crate::domain::decide::renewal as decide_renewal;
use crate::domain::decide::users as decide;
use crate::domain::enrolment::{BulkEnrolments, EnrolmentStatus, PutEnrolment};
use crate::domain::org::{Org, OrgKind};
use crate::domain::policy::{Counting, Policy as OrgPolicy, Renewal};
use crate::domain::renewal;
use crate::domain::seats::{Headcount, Reuse};
use crate::domain::usage::licence_year;
use crate::domain::user::{self, LicenceStatus, UpsertUser, User};
use crate::domain::{validate, DomainError};
use crate::http::{Ctx, Reply, IDEMPOTENCY_TTL_HOURS};
use crate::store::idempotency::{IdempotencyRecord, KeyState, PENDING};
use crate::store::{Answer, Error, Race, Store};

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

/// The user as it is shown: with its last login ([`User::with_login`]).
async fn shown_user(cx: &Ctx<'_>, org: &Org, email: &str) -> Result<User, Error> {
    let user = existing_user(cx, org, email).await?;
    Ok(user.with_login(cx.app.store.login(&org.org_id, email).await?))
}

pub async fn upsert(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let (org, email) = company_and_email(cx, Action::ManageUsers).await?;
    let input: UpsertUser =
        if cx.req.body.iter().all(u8::is_ascii_whitespace) { UpsertUser::default() } else { cx.req.json()? };
    let reply = cx
        .execute(|| async {
            let store = &cx.app.store;
            let existing = store.user(&org.org_id, &email).await?;
            let recorded = match &existing {
                Some(_) => store.login(&org.org_id, &email).await?,
                None => None,
            };
            if let (Some(user), Some(at)) = (&existing, input.last_login_at.filter(|_| decide::login_only(&input))) {
                let decided = decide::login(user.clone(), recorded, at, cx.req.now)?;
                return Ok(decided.map(|(user, _)| Reply::ok(user.view(cx.req.now))));
            }
            let headcount = match existing {
                Some(_) => Headcount::default(),
                None => store.headcount(&org.org_id, &store.policy(&org).await?, None, cx.req.now).await?,
            };
            let decided = decide::upsert(existing, &org, &headcount, (&email, input.clone()), principal, cx.req.now)?;
            Ok(decided.map(|(user, created)| {
                let body = user.with_login(recorded).view(cx.req.now);
                if created {
                    Reply::created(body)
                } else {
                    Reply::ok(body)
                }
            }))
        })
        .await?;
    if input.renewable != Some(true) || reply.status != 200 {
        return Ok(reply);
    }
    // Made renewable again after a refused renewal: renewed within the term, as the bulk
    // "renewable" does (docs/domain.md#automatic-renewal); the answer is the user as it is then.
    match cx.app.store.user(&org.org_id, &email).await? {
        Some(user) if user.refused_renewal_at.is_some() => {
            set_one(cx, &org, &email, true).await?;
            Ok(Reply::ok(shown_user(cx, &org, &email).await?.view(cx.req.now)))
        }
        _ => Ok(reply),
    }
}

pub async fn get(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let (org, email) = company_and_email(cx, Action::ReadUsers).await?;
    let user = shown_user(cx, &org, &email).await?;
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

/// Whether a user is one the list's `?licence_status=` selects (`None`: any; `Some(None)`: those
/// without a licence).
fn selected(status: Option<Option<LicenceStatus>>, now: DateTime<Utc>) -> impl Fn(&User) -> bool {
    move |u| status.is_none_or(|want| u.licence_status(now) == want)
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
    match cx.req.query("format").unwrap_or("json") {
        "json" => {}
        "csv" => return export(cx, &org, &prefix, status).await,
        _ => return Err(DomainError::invalid("format", "must be json or csv").into()),
    }
    let now = cx.req.now;
    let store = &cx.app.store;
    let mut page = store.users_matching(&org.org_id, &prefix, &page, selected(status, now)).await?;
    page.items = store.with_logins(&org.org_id, page.items).await?;
    Ok(Reply::page(page, |u| u.view(now)))
}

/// The most bytes of rows one users export answers with: a file is answered base64-encoded, and
/// a Lambda function answers at most 6 MB.
pub const MAX_EXPORT_BYTES: usize = 4 * 1024 * 1024;

/// Users read per page of an export.
const EXPORT_PAGE: i32 = 500;

/// The columns of the users export: the e-mail the import reads (first, under the header it
/// looks for), then what a manager edits the file by.
const EXPORT_COLUMNS: [&str; 5] = ["email", "name", "licence_status", "licence_valid_until", "last_login_at"];

/// The users (those `prefix` and `status` select) as a CSV the import reads back unedited
/// (docs/api.md#users-enrolments-access): each e-mail written exactly as stored — never made inert, so `+tag@x`
/// comes back as itself — and the other cells as every report writes them. Refused before
/// reading further once the rows pass [`MAX_EXPORT_BYTES`].
async fn export(cx: &Ctx<'_>, org: &Org, prefix: &str, status: Option<Option<LicenceStatus>>) -> Result<Reply, Error> {
    use crate::report::Cell;
    let (store, now) = (&cx.app.store, cx.req.now);
    let (mut rows, mut bytes) = (Vec::new(), 0usize);
    let mut page = crate::store::PageRequest { limit: EXPORT_PAGE, cursor: None };
    loop {
        let found = store.users_matching(&org.org_id, prefix, &page, selected(status, now)).await?;
        for user in store.with_logins(&org.org_id, found.items).await? {
            let licence = user.licence.as_ref();
            let row = vec![
                Cell::Verbatim(user.email.clone()),
                Cell::Text(user.name.clone().unwrap_or_default()),
                Cell::Text(user.licence_status(now).map_or("none", LicenceStatus::as_str).to_string()),
                Cell::from(licence.and_then(|l| l.valid_until)),
                Cell::from(user.last_login_at),
            ];
            // The e-mail and name, the status and two instants with their separators.
            bytes += user.email.len() + user.name.as_deref().map_or(0, str::len) + 60;
            rows.push(row);
        }
        if bytes > MAX_EXPORT_BYTES {
            return Err(DomainError::PayloadTooLarge(format!(
                "these users come to more than one download holds ({MAX_EXPORT_BYTES} bytes); export them in parts with email_prefix or licence_status"
            ))
            .into());
        }
        match found.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    let file = crate::report::csv(&EXPORT_COLUMNS, &rows)?;
    Ok(Reply::file("text/csv; charset=utf-8", format!("users-{}.csv", org.org_id), file))
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

/// Every enrolment of a company ("Enrolments > All", docs/api.md#users-enrolments-access): all,
/// by e-mail, or those of one learning experience (`?enrolment_id=`, from its index); `?status=`
/// keeps those with that status now (filtered as they are read: a page may hold fewer), paged.
pub async fn org_enrolments(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadUsers, &org)?;
    if org.kind != OrgKind::Company {
        return Err(DomainError::invalid("org_id", "enrolments belong to a company").into());
    }
    let id = cx.req.query("enrolment_id");
    if let Some(id) = id {
        validate::caller_id("enrolment_id", id)?;
    }
    let status: Option<EnrolmentStatus> = match cx.req.query("status") {
        None => None,
        Some(s) => Some(serde_json::from_value(json!(s)).map_err(|_| {
            let values = json!({ "values": "new, active, expired" });
            DomainError::invalid_as("status", "one_of", "must be new, active or expired", values)
        })?),
    };
    let now = cx.req.now;
    let mut page = cx.app.store.org_enrolments(&org.org_id, id, &cx.req.page()?).await?;
    if let Some(wanted) = status {
        page.items.retain(|e| e.status_at(now) == wanted);
    }
    Ok(Reply::page(page, |e| {
        json!({
            "email": e.email, "enrolment_id": e.enrolment_id, "status": e.status_at(now),
            "starts_at": e.starts_at, "ends_at": e.ends_at, "live": e.live_at(now),
        })
    }))
}

/// Release (docs/domain.md#users-and-enrolments): decided by [`decide::release`] over the user, its live enrolments and
/// the reuse count.
pub async fn release(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let (org, email) = company_and_email(cx, Action::ManageUsers).await?;
    let principal = cx.principal()?;
    let now = cx.req.now;
    cx.execute(|| async {
        let user = existing_user(cx, &org, &email).await?;
        let (live, reuse) = cx.app.store.release_state(&org, &user, now).await?;
        let decided = decide::release(&org, &user, &live, &reuse, principal, now);
        Ok(decided.map(|released| Reply::ok(released.view(now))))
    })
    .await
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
const IN_PROGRESS: &str = "a request with this key is in progress; retry shortly";

/// Bulk "(not) renewable" (docs/domain.md#automatic-renewal): each user is updated on its own; the answer says which.
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
    if let Some(replay) = claim_key(cx, &key, &pending).await? {
        return Ok(replay);
    }
    let claimed = Claimed { key: &key, claim: &claim, fingerprint: &fingerprint, expires_at };
    let outcome = set_each_renewable(cx, &org, &input, Some(claimed)).await;
    if outcome.is_err() {
        // Failed here: let a retry take the job over at once (if this fails too, the claim ends
        // with its lease).
        if let Err(e) = store.release_idempotency_claim(sub, &key, &claim).await {
            tracing::error!(org_id = %org.org_id, key, error = %e, "the claim of a failed request on its key was not released; it ends with its lease");
        }
    }
    outcome
}

/// Sets one user's flag: its answer row, and whether the user was updated. Made renewable again
/// after its renewal was refused, the user is renewed then if the term allows (`renewed`), or
/// the flag is set and the shortfall said (`renewal_blocked`).
async fn set_one(cx: &Ctx<'_>, org: &Org, email: &str, renewable: bool) -> Result<(serde_json::Value, bool), Error> {
    let (store, now, by) = (&cx.app.store, cx.req.now, cx.principal()?);
    let set = command::execute(store, || async {
        let Some(user) = store.user(&org.org_id, email).await? else {
            return Ok(Decision::unchanged(FlagSet::UnknownUser));
        };
        let mut blocked = None;
        if renewable && user.refused_renewal_at.is_some() {
            match renew_refused(store, org, &user, by, now).await {
                Ok(Some(renewed)) => return Ok(renewed.map(|_| FlagSet::Renewed)),
                Ok(None) => {}
                Err(Error::Domain(refusal @ DomainError::InsufficientLicences { .. })) => {
                    blocked = Some(refusal.to_string())
                }
                Err(e) => return Err(e),
            }
        }
        Ok(decide::flagged(&user, renewable).map(|()| blocked.map_or(FlagSet::Updated, FlagSet::RenewalBlocked)))
    })
    .await;
    Ok(match command::conflict_when_raced(set)? {
        FlagSet::UnknownUser => (json!({ "email": email, "outcome": "unknown_user" }), false),
        FlagSet::Updated => (json!({ "email": email, "outcome": "updated" }), true),
        FlagSet::Renewed => (json!({ "email": email, "outcome": "renewed" }), true),
        FlagSet::RenewalBlocked(message) => {
            (json!({ "email": email, "outcome": "renewal_blocked", "message": message }), true)
        }
    })
}

/// What setting one user's flag came to (its answer row's `outcome`).
enum FlagSet {
    UnknownUser,
    Updated,
    Renewed,
    /// The flag is set; the renewal it would make is refused for the shortfall said.
    RenewalBlocked(String),
}

/// The renewal of `user`, whose renewal was refused at its date, now that it is renewable again
/// ([`decide_renewal::renew_refused`]); `None` when the term allows none (the flag alone
/// changes). A shortfall is the balance's refusal.
async fn renew_refused(
    store: &Store,
    org: &Org,
    user: &User,
    by: &Principal,
    now: DateTime<Utc>,
) -> Result<Option<Decision<decide_renewal::Renewed>>, Error> {
    let policy = store.policy(org).await?;
    let enrolments = store.enrolments(&org.org_id, &user.email).await?;
    let balance = store.balance(&org.org_id, &policy, now).await?;
    let reuse = store.reuse(org, now).await?;
    let licence_id = || new_id("lic");
    Ok(decide_renewal::renew_refused(org, &policy, user, &enrolments, &balance, &reuse, by, now, licence_id)?)
}

/// Claims the request's `key` with `pending`; `Some` answer when a twin finished under the key
/// first. A twin's live claim (or a record that went in between) is waited for as a lost race,
/// under the retry policy; still held after every attempt, it is a conflict.
async fn claim_key(cx: &Ctx<'_>, key: &str, pending: &IdempotencyRecord) -> Result<Option<Reply>, Error> {
    let (store, now, sub) = (&cx.app.store, cx.req.now, &cx.principal()?.sub);
    let until = now.timestamp() + CLAIM_LEASE_SECONDS;
    let claimed = retry::run(&Policy::DEFAULT, || async {
        if store.claim_idempotency_key(sub, key, pending, until, now).await? {
            return Ok(None);
        }
        match store.idempotency_key_state(sub, key, now).await? {
            Some(held) if held.fingerprint() != pending.fingerprint => Err(DomainError::IdempotencyMismatch.into()),
            Some(KeyState::Done(record)) => Reply::replayed(&record).map(Some),
            Some(KeyState::Pending { .. }) | None => Err(Race::Changed(Vec::new()).into()),
        }
    })
    .await;
    claimed.map_err(|e| match e {
        Error::Race(Race::Changed(_)) => DomainError::conflict("in_progress", IN_PROGRESS).into(),
        other => other,
    })
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
        let (row, set) = set_one(cx, org, &email, input.renewable).await?;
        results.push(row);
        if set {
            updated.push(email);
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
    let changes = [Change::Audit(audit)];
    let Some(c) = claimed else {
        store.apply(&changes, None).await?;
        return Ok(reply);
    };
    let record = IdempotencyRecord {
        fingerprint: c.fingerprint.to_string(),
        status: reply.status,
        body: reply.body.to_string(),
        expires_at: c.expires_at,
    };
    let answer = Answer::Claimed { sub: &principal.sub, key: c.key, claim: c.claim, record: &record };
    match store.apply(&changes, Some(answer)).await {
        Ok(()) => Ok(reply),
        // The claim was taken over (this request outlived its lease): the job is the taker's.
        Err(Error::Race(Race::KeyTaken)) => match store.idempotency_key_state(&principal.sub, c.key, cx.req.now).await?
        {
            Some(KeyState::Done(done)) if done.fingerprint == c.fingerprint => Reply::replayed(&done),
            _ => Err(DomainError::conflict("in_progress", IN_PROGRESS).into()),
        },
        Err(e) => Err(e),
    }
}

/// An enrolment changes: decided by [`decide::put_enrolment`] over the user, its enrolments,
/// the policy, the balance and the reuse count.
pub async fn put_enrolment(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let (org, email) = company_and_email(cx, Action::ManageUsers).await?;
    let input: PutEnrolment = cx.req.json()?;
    let store = &cx.app.store;
    let now = cx.req.now;
    let enrolment_id = cx.param("enrolment_id");
    // A decision on the user applied in steps and cut off between two (docs/architecture.md#steps)
    // is finished first: its enrolments are then as it decided, and this change is decided on them.
    for plan in store.unfinished_plans(&org.org_id, &email).await? {
        store.follow(plan).await?;
    }
    cx.execute(|| async {
        let user = existing_user(cx, &org, &email).await?;
        let enrolments = store.enrolments(&org.org_id, &email).await?;
        let (policy, balance, reuse, headcount) = enrolment_context(cx, &org).await?;
        let state = decide::EnrolmentState { user, enrolments, policy, balance, reuse, headcount };
        let decided =
            decide::put_enrolment(&org, state, enrolment_id, input.clone(), principal, now, || new_id("lic"))?;
        Ok(decided.map(|(enrolment, user)| Reply::ok(json!({ "enrolment": enrolment, "user": user.view(now) }))))
    })
    .await
}

/// What an enrolment change decides on besides its user: the org's policy, its balance (live
/// lots only, each lot's parts in a random order, as every balance reads them;
/// docs/architecture.md#seat-parts), the reuse count's state and the room for users.
async fn enrolment_context(cx: &Ctx<'_>, org: &Org) -> Result<(OrgPolicy, Balance, Reuse, Headcount), Error> {
    let (store, now) = (&cx.app.store, cx.req.now);
    let policy = store.policy(org).await?;
    let counters = store.counters(&org.org_id).await?;
    let mut lots = store.lots_ending_after(&org.org_id, now).await?;
    crate::store::lots::spread_parts(&mut lots, uuid::Uuid::new_v4().as_u128());
    let year = (policy.counting == Counting::ActiveUsers).then(|| licence_year(&lots, now)).flatten();
    let balance = Balance {
        lots,
        seats_included: policy.seats_included,
        included_in_use: counters.included_in_use.max(0) as u32,
    };
    let headcount = Headcount::of(&policy, &balance, &counters, now);
    Ok((policy, balance, Reuse { counters, year }, headcount))
}

/// The same change to many enrolments of a company ("Enrolments > All", tick, SET EXPIRY DATE;
/// docs/api.md#users-enrolments-access): decided by [`decide_enrolments::bulk_enrolments`] over each named user and
/// all its enrolments, all or nothing in one transaction.
pub async fn bulk_enrolments(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(principal, Action::ManageUsers, &org)?;
    if org.kind != OrgKind::Company {
        return Err(DomainError::invalid("org_id", "enrolments belong to a company").into());
    }
    let input = cx.req.json::<BulkEnrolments>()?.validated()?;
    let store = &cx.app.store;
    let now = cx.req.now;
    let mut emails: Vec<String> = input.items.iter().map(|i| i.email.clone()).collect();
    emails.sort();
    emails.dedup();
    // Each user's decisions applied in steps and cut off are finished first, as for one change.
    for email in &emails {
        for plan in store.unfinished_plans(&org.org_id, email).await? {
            store.follow(plan).await?;
        }
    }
    cx.execute(|| async {
        let read = store.users_by_email(&org.org_id, &emails).await?;
        let enrolments = futures::future::try_join_all(read.iter().map(|u| store.enrolments(&org.org_id, &u.email)));
        let users = read.iter().cloned().zip(enrolments.await?).collect();
        let (policy, balance, reuse, headcount) = enrolment_context(cx, &org).await?;
        let state = decide_enrolments::BulkState { users, policy, balance, reuse, headcount };
        let decided = decide_enrolments::bulk_enrolments(&org, state, &input, principal, now)?;
        Ok(decided.map(|after| {
            let items: Vec<_> = after.iter().map(|e| e.view(now)).collect();
            Reply::ok(json!({ "items": items }))
        }))
    })
    .await
}

/// A user's personal data erased (docs/domain.md#erasing-personal-data): decided by
/// [`decide::erase`] (409 until the user is released); the user item
/// moves to a random pseudonym at once and the job runner rewrites the rest of the org's items
/// from the erasure record the table's stream hands it.
pub async fn erase(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let (org, email) = company_and_email(cx, Action::EraseUsers).await?;
    let store = &cx.app.store;
    // Plans of the user's enrolments cut off between steps are finished first: they hold the e-mail.
    for plan in store.unfinished_plans(&org.org_id, &email).await? {
        store.follow(plan).await?;
    }
    cx.execute(|| async {
        let user = existing_user(cx, &org, &email).await?;
        // Read after the user: a change of one since bumps its version, and the erasure is refused
        // as a race and decided again.
        let enrolments = store.enrolments(&org.org_id, &email).await?;
        let pseudonym = crate::domain::erasure::pseudonym(uuid::Uuid::new_v4().as_u128());
        let decided = decide::erase(&org, user, enrolments, pseudonym, principal, cx.req.now)?;
        Ok(decided.map(|e| {
            let body = json!({ "pseudonym": e.pseudonym, "status": e.status, "org_id": e.org_id });
            Reply::accepted(body, format!("/v1/orgs/{}/users/{}", e.org_id, e.pseudonym))
        }))
    })
    .await
}

pub async fn access(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let (org, email) = company_and_email(cx, Action::ReadAccess).await?;
    if principal.role == Role::Learner && (principal.email != email || principal.org_id != org.org_id) {
        // A learner asks about itself only; another user's status is not its to know.
        return Err(DomainError::not_found("user", &email).into());
    }
    let user = cx.app.store.user(&org.org_id, &email).await?;
    let mut answer = user::access(&email, user.as_ref(), cx.req.now);
    if let Some(u) = user.as_ref().filter(|u| !answer.access && renewal::ends_at_renewal(u)) {
        if will_renew(cx, &org, u).await? {
            answer = user::access_renewing(&email, u, cx.req.now);
        }
    }
    Ok(Reply::ok(serde_json::to_value(answer).unwrap_or_default()))
}

/// Whether `user`, whose licence ended at its renewal date, will be renewed for it (automatic
/// renewal, renewable, a live enrolment at that instant, a licence in the balance): the access
/// check answers as the renewal will, before the renewal sweep has run.
async fn will_renew(cx: &Ctx<'_>, org: &Org, user: &User) -> Result<bool, Error> {
    let store = &cx.app.store;
    let policy = store.policy(org).await?;
    if policy.renewal != Renewal::Automatic {
        return Ok(false);
    }
    let enrolments = store.enrolments(&org.org_id, &user.email).await?;
    if !renewal::will_renew(&policy, user, &enrolments) {
        return Ok(false);
    }
    Ok(store.balance(&org.org_id, &policy, cx.req.now).await?.available(cx.req.now) > 0)
}
