//! Allocation of licences from the balance (DOMAIN.md §5) and the licence list.

use std::collections::HashMap;

use serde_json::json;

use super::load_org;
use crate::command::new_id;
use crate::domain::allocation::{AllocateRequest, Candidate};
use crate::domain::auth::{authorize, Action};
use crate::domain::decide::allocation as decide;
use crate::domain::org::OrgKind;
use crate::domain::user::{self, LicenceStatus, User};
use crate::domain::{validate, DomainError};
use crate::http::{Ctx, Reply};
use crate::store::{Error, Page, PageRequest};

const MAX_EMAILS: usize = 1000;

/// Every user of the org whose licence has expired (by time, swept or not) and who holds none now.
async fn expired_users(cx: &Ctx<'_>, org_id: &str) -> Result<Vec<User>, Error> {
    let now = cx.req.now;
    let mut found = Vec::new();
    for status in [LicenceStatus::Expired, LicenceStatus::Active] {
        let mut page = PageRequest { limit: 500, cursor: None };
        loop {
            let p: Page<User> = cx.app.store.users_by_licence_status(org_id, status, &page).await?;
            found.extend(p.items.into_iter().filter(|u| u.licence_status(now) == Some(LicenceStatus::Expired)));
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(found)
}

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
    cx.execute(|| async {
        let candidates: Vec<Candidate> = match (&input.emails, input.all_expired) {
            (Some(_), true) | (None, false) => {
                return Err(DomainError::invalid("emails", "give either emails or all_expired: true").into());
            }
            (Some(emails), false) => {
                if emails.is_empty() || emails.len() > MAX_EMAILS {
                    return Err(
                        DomainError::invalid("emails", format!("give 1 to {MAX_EMAILS} e-mail addresses")).into()
                    );
                }
                let valid: Vec<String> = emails.iter().filter_map(|e| validate::email("emails", e).ok()).collect();
                let found: HashMap<String, User> = store
                    .users_by_email(&org.org_id, &valid)
                    .await?
                    .into_iter()
                    .map(|u| (u.email.clone(), u))
                    .collect();
                emails
                    .iter()
                    .map(|raw| Candidate {
                        raw: raw.clone(),
                        user: validate::email("emails", raw).ok().and_then(|e| found.get(&e).cloned()),
                    })
                    .collect()
            }
            (None, true) => expired_users(cx, &org.org_id)
                .await?
                .into_iter()
                .map(|u| Candidate { raw: u.email.clone(), user: Some(u) })
                .collect(),
        };
        let policy = store.policy(&org).await?;
        let balance = store.balance(&org.org_id, &policy).await?;
        let decided =
            decide::allocate(&org, candidates, input.create_missing, &balance, &policy, principal, now, || {
                new_id("lic")
            })?;
        Ok(decided.map(|a| Reply::ok(json!({ "allocated": a.allocated, "results": a.rows }))))
    })
    .await
}

pub async fn licences(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadLicences, &org)?;
    let now = cx.req.now;
    let page_request = cx.req.page()?;
    let status = cx
        .req
        .query("status")
        .map(|s| {
            LicenceStatus::parse(s)
                .ok_or_else(|| DomainError::invalid("status", "must be active, pending, expired or released"))
        })
        .transpose()?;
    let page = match status {
        Some(s) => cx.app.store.users_by_licence_status(&org.org_id, s, &page_request).await?,
        None => cx.app.store.users(&org.org_id, &page_request).await?,
    };
    // Listed by stored status; a licence whose end passed before the sweep materialised it is
    // shown (and filtered) by its status now.
    let items: Vec<_> = page
        .items
        .iter()
        .filter_map(|u| {
            let l = u.licence.as_ref()?;
            if status.is_some_and(|s| l.status_at(now) != s) {
                return None;
            }
            let mut v = user::licence_view(l, now);
            v["email"] = json!(u.email);
            v["name"] = json!(u.name);
            Some(v)
        })
        .collect();
    Ok(Reply::ok(json!({ "items": items, "next_cursor": page.next_cursor })))
}
