//! The renewal sweep (DOMAIN.md §7): users whose renewal date has come, found through the
//! by-renewal-date index (users not due are never read), decided one by one in date order.
//! Every write is conditional on the user's version, so a replayed or concurrent sweep finds the
//! user renewed (its next date a year on) or ended, and never debits twice.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use super::recipients;
use crate::command::new_id;
use crate::domain::allocation;
use crate::domain::audit::AuditEntry;
use crate::domain::auth::{Principal, Role};
use crate::domain::lot::Lot;
use crate::domain::notice::{Notice, NoticeKind};
use crate::domain::org::Org;
use crate::domain::policy::Policy;
use crate::domain::renewal::{self, Decision};
use crate::domain::seats::CounterChange;
use crate::domain::user::{LicenceStatus, User};
use crate::store::{Error, Store, StoreError};
use crate::App;

#[derive(Debug, Clone, Default, Serialize)]
pub struct RenewalReport {
    pub now: DateTime<Utc>,
    pub due: usize,
    pub renewed: Vec<String>,
    pub ended: Vec<String>,
    pub not_renewable: Vec<String>,
    pub blocked: Vec<String>,
    pub notices_sent: usize,
}

fn sweeper(org_id: &str) -> Principal {
    Principal::new("renewal-sweep", "renewal-sweep", org_id, Role::Platform)
}

pub async fn renewal(app: &App, now: DateTime<Utc>) -> Result<RenewalReport, Error> {
    let store = &app.store;
    let mut due = store.renewals_due(now).await?;
    due.sort_by_key(|u| (u.renewal_at, u.email.clone()));
    let mut report = RenewalReport { now, due: due.len(), ..Default::default() };
    let mut by_org: BTreeMap<String, Vec<User>> = BTreeMap::new();
    for u in due {
        by_org.entry(u.org_id.clone()).or_default().push(u);
    }
    for (org_id, users) in by_org {
        let Some(org) = store.org(&org_id).await? else { continue };
        let policy = store.policy(&org).await?;
        let mut blocked: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
        for user in users {
            // A lost race means another sweep decided this user: read it again and decide anew.
            let mut current = user;
            for _ in 0..3 {
                match decide_one(store, &org, &policy, &current, now, &mut report, &mut blocked).await {
                    Err(Error::Store(StoreError::ConditionFailed(_))) => {
                        match store.user(&org_id, &current.email).await? {
                            Some(fresh) => current = fresh,
                            None => break,
                        }
                    }
                    other => {
                        other?;
                        break;
                    }
                }
            }
        }
        for (date, emails) in blocked {
            let notice = Notice {
                notice_id: new_id("ntc"),
                kind: NoticeKind::RenewalBlocked,
                org_id: org.org_id.clone(),
                created_at: now,
                recipients: recipients(store, &org.org_id, &policy).await?,
                payload: json!({
                    "renewal_date": date,
                    "count": emails.len(),
                    "users": emails,
                    "message": "These learners still have live courses but could not be renewed: the licence balance is empty. Order licences, then allocate them.",
                }),
            };
            if store.put_notice_once(&notice, date).await? {
                report.notices_sent += 1;
            }
        }
    }
    tracing::info!(?report, "renewal sweep");
    Ok(report)
}

async fn decide_one(
    store: &Store,
    org: &Org,
    policy: &Policy,
    user: &User,
    now: DateTime<Utc>,
    report: &mut RenewalReport,
    blocked: &mut BTreeMap<NaiveDate, Vec<String>>,
) -> Result<(), Error> {
    let enrolments = store.enrolments(&org.org_id, &user.email).await?;
    let decision = renewal::decide(user, &enrolments, now);
    let Some(renewal_at) = user.renewal_at else { return Ok(()) };
    let mut writes = Vec::new();
    let mut change = CounterChange::default();
    // The seat the new year takes: a lot, or an included seat (`None`).
    let mut new_seat: Option<Option<Lot>> = None;
    let (next, action) = match decision {
        Decision::Pending | Decision::NotDue => return Ok(()),
        Decision::Renew => {
            let balance = store.balance(&org.org_id, policy).await?;
            match allocation::reserve(&balance, 1, renewal_at.max(now)) {
                Ok(reservation) => {
                    let (lot_id, lot_end) = reservation.seat(0).expect("one seat reserved");
                    new_seat = Some(lot_id.and_then(|id| balance.lots.iter().find(|l| l.lot_id == id).cloned()));
                    let renewed =
                        renewal::renew(user, new_id("lic"), lot_id.map(str::to_string), lot_end, policy).expect("due");
                    (renewed, "licence.renewed")
                }
                Err(_) => (renewal::end_year(user), "renewal.blocked"),
            }
        }
        Decision::NotRenewable => {
            for e in enrolments.iter().filter(|e| e.live_at(now) || e.live_at(renewal_at)) {
                writes.push(store.put_enrolment(&e.expired(now))?);
            }
            let mut ended = renewal::end_year(user);
            if user.active {
                let reuse = store.reuse(org, now).await?;
                change.set_active(&mut ended, false, &reuse);
            }
            (ended, "renewal.not_renewable")
        }
        Decision::NoLiveEnrolment => (renewal::end_year(user), "renewal.ended"),
    };
    // The old licence's seat, unless the expire sweep gave it back already.
    let old_seat = user.licence.as_ref().filter(|l| l.status == LicenceStatus::Active);
    match (old_seat, &new_seat) {
        (Some(old), Some(Some(lot))) if old.lot_id.as_ref() == Some(&lot.lot_id) => {
            // The new year takes its seat from the lot the old one held: one more use of the
            // same seat (one write to the lot, not a debit and a credit).
            writes.push(store.use_seat_again(lot)?);
        }
        (old, new) => {
            if let Some(old) = old {
                if let Some(w) = store.return_seat(&org.org_id, old, &mut change)? {
                    writes.push(w);
                }
            }
            match new {
                Some(Some(lot)) => writes.push(store.debit_lot(lot, 1)?),
                Some(None) => {
                    change.included_in_use += 1;
                    change.included_max = Some(policy.seats_included as i64);
                }
                None => {}
            }
            if new.is_some() {
                change.seats_held += 1;
            }
        }
    }
    writes.push(store.put_user(&next, false)?);
    if !change.is_empty() {
        writes.push(store.change_counters(org, &change)?);
    }
    let details = json!({ "renewal_at": renewal_at, "licence_count": next.licence_count });
    let audit = AuditEntry::new(&sweeper(&org.org_id), org, action, &format!("user/{}", user.email), details, now);
    writes.push(store.put_audit(&audit, &new_id("aud"))?);
    store.transact(writes).await?;
    // Counted once written: a lost race is decided again by the caller.
    let email = user.email.clone();
    match action {
        "licence.renewed" => report.renewed.push(email),
        "renewal.blocked" => {
            blocked.entry(renewal_at.date_naive()).or_default().push(email.clone());
            report.blocked.push(email);
        }
        "renewal.not_renewable" => report.not_renewable.push(email),
        _ => report.ended.push(email),
    }
    Ok(())
}
