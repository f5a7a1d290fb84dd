//! The daily usage snapshot (docs/domain.md#usage-and-overage): each org's used and limit for the day, and from the
//! snapshots the overage state. An `overage` notice when an overage starts; an `upgrade_due`
//! notice when a major overage has lasted 24 hours, with the next tier and the pro-rata fraction
//! of the licence year left. Both at most once per overage (guarded by the day it began).
//!
//! Each org is snapshot on its own (and each usage tree read on its own): an org that fails is
//! named in the report's `failed` and tried again by the next run; the others are done.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::{recipients, Failed, Reported};
use crate::command::new_id;
use crate::domain::notice::{Notice, NoticeKind};
use crate::domain::org::{Org, OrgKind};
use crate::domain::usage::{self, Figures, Overage, OverageState, Snapshot, UsageState};
use crate::store::{Error, Store};
use crate::App;

#[derive(Debug, Clone, Default, Serialize)]
pub struct SnapshotReport {
    pub now: DateTime<Utc>,
    pub orgs: usize,
    pub notices_sent: usize,
    /// The orgs left for the next run, each with its step and reason.
    pub failed: Vec<Failed>,
}

crate::sweeps::reported!(SnapshotReport, "snapshot");

pub async fn snapshot(app: &App, now: DateTime<Utc>) -> Result<SnapshotReport, Error> {
    let store = &app.store;
    let orgs = store.all_orgs().await?;
    let mut report = SnapshotReport { now, orgs: orgs.len(), ..Default::default() };
    let (own, subtree) = figures(store, &orgs, now, &mut report).await;
    for org in &orgs {
        if report.failed.iter().any(|f| f.org_id == org.org_id) {
            continue; // its usage tree could not be read: named in the report already
        }
        let own = own.get(&org.org_id).copied().unwrap_or_default();
        let subtree = subtree.get(&org.org_id).copied().unwrap_or_default();
        match snapshot_org(store, org, own, subtree, now).await {
            Ok(sent) => report.notices_sent += sent,
            Err(e) => report.failed.push(Failed::new(SnapshotReport::SWEEP, &org.org_id, None, "snapshot", &e)),
        }
    }
    tracing::info!(?report, "usage snapshot");
    Ok(report)
}

/// Every org's own and subtree figures, one usage tree at a time; the orgs of a tree that
/// cannot be read are named in `report` (and have no figures).
async fn figures(
    store: &Store,
    orgs: &[Org],
    now: DateTime<Utc>,
    report: &mut SnapshotReport,
) -> (HashMap<String, Figures>, HashMap<String, Figures>) {
    let mut roots: Vec<&str> = orgs.iter().map(|o| o.root()).collect();
    roots.sort();
    roots.dedup();
    let mut own = HashMap::new();
    let mut subtree = HashMap::new();
    for root in roots {
        let tree = match store.whole_tree(root).await {
            Ok(tree) => tree,
            Err(e) => {
                for org in orgs.iter().filter(|o| o.root() == root) {
                    report.failed.push(Failed::new(SnapshotReport::SWEEP, &org.org_id, None, "usage tree", &e));
                }
                continue;
            }
        };
        let figures = usage::tree_figures(&[], &tree.orgs, &tree.counters, &tree.lots, now);
        own.extend(figures.own);
        subtree.extend(figures.subtree);
    }
    (own, subtree)
}

/// Records one org's snapshot of the day and its overage state, and sends the notices a
/// company's overage calls for; how many were sent.
async fn snapshot_org(
    store: &Store,
    org: &Org,
    own: Figures,
    subtree: Figures,
    now: DateTime<Utc>,
) -> Result<usize, Error> {
    let today = now.date_naive();
    store.put_snapshot(&Snapshot { org_id: org.org_id.clone(), date: today, own, subtree }).await?;
    let snaps = store.snapshots(&org.org_id).await?;
    let series: Vec<_> = snaps.iter().map(|s| (s.date, s.subtree.used, s.subtree.limit)).collect();
    let overage = usage::overage(&series);
    let own_series: Vec<_> = snaps.iter().map(|s| (s.date, s.own.used, s.own.limit)).collect();
    let state = UsageState {
        org_id: org.org_id.clone(),
        date: today,
        own: usage::overage(&own_series),
        subtree: overage.clone(),
    };
    store.put_usage_state(org, &state).await?;
    // Overage is a customer's matter: partners' subtrees are recorded, not notified.
    let Some(since) = overage.since.filter(|_| org.kind == OrgKind::Company) else { return Ok(0) };
    let before = usage::overage(&series.iter().copied().filter(|d| d.0 < today).collect::<Vec<_>>());
    let policy = store.policy(org).await?;
    let mut notices = Vec::new();
    if since == today {
        notices.push((NoticeKind::Overage, overage_payload(&overage, since, subtree)));
    }
    if overage.state == OverageState::Major && before.state == OverageState::Major && before.since == Some(since) {
        let lots = store.all_lots(&org.org_id).await?;
        let fraction = usage::pro_rata_fraction(&lots, policy.term_months, now);
        notices.push((NoticeKind::UpgradeDue, json!({
            "since": since, "used": subtree.used, "limit": subtree.limit,
            "next_tier": usage::next_tier(&policy.tiers, subtree.used),
            "pro_rata_fraction": fraction,
            "message": "A major overage has lasted 24 hours: the subscription is upgraded to the next tier, pro rata for the rest of the licence year.",
        })));
    }
    let mut sent = 0;
    for (kind, payload) in notices {
        let to = recipients(store, &org.org_id, &policy).await?;
        let notice = Notice {
            notice_id: new_id("ntc"),
            kind,
            org_id: org.org_id.clone(),
            created_at: now,
            recipients: to.to,
            recipients_omitted: to.omitted,
            payload,
        };
        if store.put_notice_once(&notice, since).await? {
            sent += 1;
        }
    }
    Ok(sent)
}

/// The `overage` notice's payload: an overage began `since`.
fn overage_payload(overage: &Overage, since: NaiveDate, subtree: Figures) -> Value {
    json!({
        "state": overage.state, "since": since, "used": subtree.used, "limit": subtree.limit,
        "percent_used": usage::percent(subtree.used, subtree.limit),
        "message": "More users are in use than the licence allows. Lower the count within 10 business days, or upgrade to the next tier.",
    })
}
