//! Allocation of licences from the balance (docs/domain.md#allocation) and the licence list.

use std::collections::HashMap;

use serde_json::json;

use super::load_org;
use crate::command::new_id;
use crate::domain::allocation::{self, AllocateRequest, Candidate, MAX_USERS_PER_CALL};
use crate::domain::auth::{authorize, Action};
use crate::domain::decide::allocation as decide;
use crate::domain::import::{Batch, ImportStatus, Source};
use crate::domain::org::{Org, OrgKind};
use crate::domain::user::{self, LicenceStatus, User};
use crate::domain::{validate, DomainError};
use crate::http::{Ctx, Reply};
use crate::imports::large;
use crate::store::{Error, PageRequest, Store};

/// The most e-mails one allocation names (`all_expired` takes however many the balance covers).
const MAX_EMAILS: usize = 10_000;

/// Every user of the org whose licence is expired now, swept or not (the list's own rule, so
/// "Select all" licenses exactly who the Expired tab lists).
async fn expired_users(cx: &Ctx<'_>, org_id: &str) -> Result<Vec<User>, Error> {
    let mut found = Vec::new();
    let mut page = PageRequest { limit: 500, cursor: None };
    loop {
        let p = cx.app.store.users_expired_now(org_id, cx.req.now, &page).await?;
        found.extend(p.items);
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(found),
        }
    }
}

/// An allocation: what fits one transaction (up to [`MAX_USERS_PER_CALL`] users to license) is
/// decided and applied at once; a larger one goes the import's way ([`crate::imports::large`]),
/// all or nothing alike.
pub async fn allocate(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let principal = cx.principal()?;
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(principal, Action::Allocate, &org)?;
    if org.kind != OrgKind::Company {
        return Err(DomainError::invalid("org_id", "licences are allocated in a company").into());
    }
    let input: AllocateRequest = cx.req.json()?;
    let store = &cx.app.store;
    let now = cx.req.now;
    if let (Some(emails), false) = (&input.emails, input.all_expired) {
        if emails.is_empty() || emails.len() > MAX_EMAILS {
            return Err(DomainError::invalid("emails", format!("give 1 to {MAX_EMAILS} e-mail addresses")).into());
        }
    }
    // A list of up to one transaction's users is decided at once. A longer list, or every
    // expired user, may be a retry of a large allocation — the job its `Idempotency-Key` started
    // in this org, which answers only the request that started it (however long ago the key's own
    // record expired), and is resumed however few users it has left to license — or is counted
    // first.
    let short = input.emails.as_ref().is_some_and(|e| e.len() <= MAX_USERS_PER_CALL);
    // A short list of more than a few users may take its seats from more lots and lot parts than
    // one transaction holds beside them (seats scattered over parts): it is committed as a job.
    let may_spread = input.emails.as_ref().is_some_and(|e| e.len() > SPREAD_CHECKED_FROM);
    if !short || may_spread {
        let keyed = match cx.idempotency_key() {
            Some((key, fingerprint)) => {
                let job = large::keyed_job(store, &org.org_id, &principal.sub, key).await?;
                if let Some(job) = &job {
                    large::bound_to(job, Some(fingerprint))?;
                }
                job
            }
            None => None,
        };
        let candidates = candidates(cx, &org, &input).await?;
        let needed = allocation::needing(&candidates, input.create_missing, now).len();
        let spread = short && !fits_one_transaction(cx, &org, needed as u64).await?;
        if keyed.is_some() || needed > MAX_USERS_PER_CALL || spread {
            let users = candidates.iter().filter_map(|c| c.user.clone()).map(|u| (u.email.clone(), u)).collect();
            let emails = candidates.into_iter().map(|c| c.raw).collect();
            let job = Large { emails, users, needed: needed as u64, existing: keyed.map(|j| j.import_id) };
            return allocate_many(cx, &org, &input, job).await;
        }
    }
    cx.execute(|| async {
        let candidates = candidates(cx, &org, &input).await?;
        let policy = store.policy(&org).await?;
        let balance = store.balance(&org.org_id, &policy, now).await?;
        let headcount = store.headcount(&org.org_id, &policy, Some(&balance), now).await?;
        let seats = (&balance, &headcount);
        let decided =
            decide::allocate(&org, candidates, input.create_missing, seats, &policy, principal, now, || new_id("lic"))?;
        Ok(decided.map(|a| Reply::ok(json!({ "allocated": a.allocated, "results": a.rows }))))
    })
    .await
}

/// The most users a list names that always fit one transaction: each user's seat comes from one
/// lot (or lot part), so 48 users, at most 48 lots, the counters and the audit entry are 98
/// writes. A longer short list is checked against the balance first.
const SPREAD_CHECKED_FROM: usize = 48;

/// Whether licensing `needed` users of `org` fits one transaction as the balance stands
/// ([`allocation::fits_one_transaction`]).
async fn fits_one_transaction(cx: &Ctx<'_>, org: &Org, needed: u64) -> Result<bool, Error> {
    let store = &cx.app.store;
    let balance = store.balance(&org.org_id, &store.policy(org).await?, cx.req.now).await?;
    Ok(allocation::fits_one_transaction(&balance, needed, cx.req.now))
}

/// Who an allocation names: the e-mails given, each with its user if there is one, or every
/// user whose licence has expired.
async fn candidates(cx: &Ctx<'_>, org: &Org, input: &AllocateRequest) -> Result<Vec<Candidate>, Error> {
    match (&input.emails, input.all_expired) {
        (Some(_), true) | (None, false) => {
            Err(DomainError::invalid("emails", "give either emails or all_expired: true").into())
        }
        (Some(emails), false) => {
            let valid: Vec<String> = emails.iter().filter_map(|e| validate::email("emails", e).ok()).collect();
            let found: HashMap<String, User> = cx
                .app
                .store
                .users_by_email(&org.org_id, &valid)
                .await?
                .into_iter()
                .map(|u| (u.email.clone(), u))
                .collect();
            Ok(emails
                .iter()
                .map(|raw| Candidate {
                    raw: raw.clone(),
                    user: validate::email("emails", raw).ok().and_then(|e| found.get(&e).cloned()),
                })
                .collect())
        }
        (None, true) => Ok(expired_users(cx, &org.org_id)
            .await?
            .into_iter()
            .map(|u| Candidate { raw: u.email.clone(), user: Some(u) })
            .collect()),
    }
}

/// A large allocation as the request names it: the e-mails, the users they name and how many
/// licences they need (as read), and the job its `Idempotency-Key` started already, if any.
struct Large {
    emails: Vec<String>,
    users: HashMap<String, User>,
    needed: u64,
    existing: Option<String>,
}

/// The large allocation: one job — `existing` (the job the `Idempotency-Key` started), or one
/// whose id is taken from the caller, the org and the key when there is a key, so a retry resumes
/// (or answers) the same job, bound to this request's fingerprint. A job finished in the request
/// answers a row per e-mail, stored under the key by reference to the job (its rows can be
/// larger than any one item), never whole.
async fn allocate_many(cx: &Ctx<'_>, org: &Org, input: &AllocateRequest, large: Large) -> Result<Reply, Error> {
    let store = &cx.app.store;
    let principal = cx.principal()?;
    let keyed = cx.idempotency_key();
    let allocation_id = large
        .existing
        .or_else(|| keyed.map(|(key, _)| large::job_id(&principal.sub, &org.org_id, key)))
        .unwrap_or_else(|| new_id("alc"));
    let policy = store.policy(org).await?;
    let balance = store.balance(&org.org_id, &policy, cx.req.now).await?;
    let job = large::Job {
        org,
        allocation_id,
        fingerprint: keyed.map(|(_, fingerprint)| fingerprint.to_string()),
        emails: &large.emails,
        users: &large.users,
        create_missing: input.create_missing,
        needed: large.needed,
        balance: &balance,
        by: principal,
        now: cx.req.now,
    };
    let done = large::allocate(store, cx.app.background_rows, job).await?;
    if done.record.status == ImportStatus::Committing {
        let location = format!("/v1/orgs/{}/allocations/{}", org.org_id, done.record.import_id);
        return cx.answer(Reply::accepted(job_view(store, &done.record).await?, location)).await;
    }
    let reference = json!({ "allocation": { "org_id": org.org_id, "allocation_id": done.record.import_id } });
    cx.answer_by_reference(Reply::ok(finished_view(&done.record, done.results)), reference).await
}

/// What a large allocation finished in its request answers: its count, id and status, and a
/// row per e-mail (a repeated e-mail once).
fn finished_view(record: &Batch, results: Vec<serde_json::Value>) -> serde_json::Value {
    json!({
        "allocated": record.allocated,
        "allocation_id": record.import_id,
        "status": record.status,
        "results": results,
    })
}

/// The answer an `Idempotency-Key` holds by `reference` (see [`allocate_many`]), made again from
/// the job it names: the same answer, from the same rows.
pub async fn replay_by_reference(cx: &Ctx<'_>, reference: &serde_json::Value) -> Result<Reply, Error> {
    let named = &reference["allocation"];
    let (Some(org_id), Some(id)) = (named["org_id"].as_str(), named["allocation_id"].as_str()) else {
        return Err(crate::store::StoreError::Other(format!("a stored answer names no allocation: {reference}")).into());
    };
    let record = cx.app.store.import(org_id, id).await?.ok_or_else(|| DomainError::not_found("allocation", id))?;
    crate::domain::decide::imports::rows_readable(&record, cx.req.now)?;
    let results = large::results(&cx.app.store, &record).await?;
    let mut reply = Reply::ok(finished_view(&record, results));
    reply.replayed = true;
    Ok(reply)
}

/// A large allocation's job: its status, how many rows it has written of how many, what it
/// allocated, or why it failed (read from the record and its small progress item).
pub async fn get(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let record = load_job(cx).await?;
    Ok(Reply::ok(job_view(&cx.app.store, &record).await?))
}

async fn load_job(cx: &Ctx<'_>) -> Result<Batch, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadLicences, &org)?;
    let id = cx.param("allocation_id");
    let missing = || DomainError::not_found("allocation", id);
    let record = cx.app.store.import(&org.org_id, id).await?.ok_or_else(missing)?;
    if record.source != Source::Allocation {
        return Err(missing().into());
    }
    Ok(record)
}

/// `GET …/allocations/{allocation_id}/rows`: each e-mail of a large allocation with its outcome
/// (`outcome=allocated|already_active|unknown_user|invalid_email|duplicate`), page by page, in
/// the order given.
pub async fn rows(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let record = load_job(cx).await?;
    crate::domain::decide::imports::rows_readable(&record, cx.req.now)?;
    let outcome = match cx.req.query("outcome") {
        None => None,
        Some(name) => {
            Some(large::OUTCOMES.iter().find(|(_, n)| *n == name.trim()).map(|(o, _)| *o).ok_or_else(|| {
                DomainError::invalid(
                    "outcome",
                    "must be allocated, already_active, unknown_user, invalid_email or duplicate",
                )
            })?)
        }
    };
    super::imports::rows_page(cx, &record, outcome, large::row_view).await
}

/// A large allocation's job as the API shows it, with its progress.
async fn job_view(store: &Store, record: &Batch) -> Result<serde_json::Value, Error> {
    let v = crate::imports::view(store, record).await?;
    Ok(json!({
        "allocation_id": record.import_id,
        "org_id": record.org_id,
        "status": record.status,
        "rows_done": v["rows_done"],
        "rows_total": v["rows_total"],
        "allocated": record.allocated,
        "error": record.error,
        "created_at": record.created_at,
        "committed_at": record.committed_at,
    }))
}

pub async fn licences(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadLicences, &org)?;
    let now = cx.req.now;
    let status = licence_status(cx)?;
    let page = licence_page(cx, &org.org_id, status, &cx.req.page()?).await?;
    // Every licence is shown (and filtered) by its status now.
    let items: Vec<_> = page
        .items
        .iter()
        .filter(|u| listed(u, status, now))
        .filter_map(|u| {
            let mut v = user::licence_view(u.licence.as_ref()?, now);
            v["email"] = json!(u.email);
            v["name"] = json!(u.name);
            Some(v)
        })
        .collect();
    Ok(Reply::ok(json!({ "items": items, "next_cursor": page.next_cursor })))
}

/// How many pages of the list a count reads ([`count_licences`]), each of at most
/// [`COUNT_PAGE`] licences (an expired page reads at most ten index pages of as many users to
/// fill it): past them the count says it is not complete.
pub const MAX_COUNT_PAGES: usize = 10;
/// The licences in one page a count reads.
pub const COUNT_PAGE: i32 = 1000;

/// How many licences the list of [`licences`] holds with the same `status` (all its pages): "Select
/// all" says how many it will license. Read page by page, at most [`MAX_COUNT_PAGES`] pages;
/// `complete` is false when there were more.
pub async fn count_licences(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadLicences, &org)?;
    let (now, status) = (cx.req.now, licence_status(cx)?);
    let mut page = PageRequest { limit: COUNT_PAGE, cursor: None };
    let mut count = 0usize;
    for _ in 0..MAX_COUNT_PAGES {
        let p = licence_page(cx, &org.org_id, status, &page).await?;
        count += p.items.iter().filter(|u| listed(u, status, now)).count();
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(Reply::ok(json!({ "count": count, "complete": true }))),
        }
    }
    Ok(Reply::ok(json!({ "count": count, "complete": false })))
}

/// The `status` a list of licences asks for, if any.
fn licence_status(cx: &Ctx<'_>) -> Result<Option<LicenceStatus>, DomainError> {
    cx.req
        .query("status")
        .map(|s| {
            LicenceStatus::parse(s)
                .ok_or_else(|| DomainError::invalid("status", "must be active, pending, expired or released"))
        })
        .transpose()
}

/// A page of the users whose licences a list with `status` shows.
async fn licence_page(
    cx: &Ctx<'_>,
    org_id: &str,
    status: Option<LicenceStatus>,
    page: &PageRequest,
) -> Result<crate::store::Page<User>, Error> {
    let store = &cx.app.store;
    Ok(match status {
        // Expired now: the stored `active` ones past their end too, which the sweep has not reached.
        Some(LicenceStatus::Expired) => store.users_expired_now(org_id, cx.req.now, page).await?,
        Some(s) => store.users_by_licence_status(org_id, s, page).await?,
        None => store.users(org_id, page).await?,
    })
}

/// Whether `user` is in a list of licences with `status`: it has a licence, of that status now.
fn listed(user: &User, status: Option<LicenceStatus>, now: chrono::DateTime<chrono::Utc>) -> bool {
    user.licence.as_ref().is_some_and(|l| status.is_none_or(|s| l.status_at(now) == s))
}
