//! The hourly usage check (docs/domain.md#usage-and-overage): each org's used and limit for the
//! day (the latest of the day's checks), and from the daily snapshots the overage state. An
//! `overage` notice at every change of a company's state, back to `none` included; after 24
//! clock hours of major, the upgrade to the next tier (`domain::decide::overage`). Each state is
//! written over the one read, with its notices and upgrade in the same transaction, so nothing
//! is told or raised twice.
//!
//! Each org is snapshot on its own (and each usage tree read on its own): an org that fails is
//! named in the report's `failed` and tried again by the next run; the others are done.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{recipients, Failed, Reported};
use crate::command::{self, new_id};
use crate::domain::contacts::Topic;
use crate::domain::decide::overage;
use crate::domain::org::{Org, OrgKind};
use crate::domain::usage::{self, Figures, OverageState, Snapshot, UsageState};
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
    let (own, subtree, states) = figures(store, &orgs, now, &mut report).await;
    let by_id: HashMap<&str, &Org> = orgs.iter().map(|o| (o.org_id.as_str(), o)).collect();
    for org in &orgs {
        if report.failed.iter().any(|f| f.org_id == org.org_id) {
            continue; // its usage tree could not be read: named in the report already
        }
        let own = own.get(&org.org_id).copied().unwrap_or_default();
        let subtree = subtree.get(&org.org_id).copied().unwrap_or_default();
        // The partner above a company, as read with every org (told of its upgrades).
        let partner = org.parent_id.as_ref().and_then(|id| by_id.get(id.as_str())).copied();
        let partner = partner.filter(|p| p.kind == OrgKind::Partner);
        match snapshot_org(store, (org, partner), (own, subtree), states.get(&org.org_id), now).await {
            Ok(sent) => report.notices_sent += sent,
            Err(e) => report.failed.push(Failed::new(SnapshotReport::SWEEP, &org.org_id, None, "snapshot", &e)),
        }
    }
    tracing::info!(?report, "usage snapshot");
    Ok(report)
}

/// Every org's own and subtree figures and overage state as read, one usage tree at a time; the
/// orgs of a tree that cannot be read are named in `report` (and have no figures).
async fn figures(
    store: &Store,
    orgs: &[Org],
    now: DateTime<Utc>,
    report: &mut SnapshotReport,
) -> (HashMap<String, Figures>, HashMap<String, Figures>, HashMap<String, UsageState>) {
    let mut roots: Vec<&str> = orgs.iter().map(|o| o.root()).collect();
    roots.sort();
    roots.dedup();
    let mut own = HashMap::new();
    let mut subtree = HashMap::new();
    let mut states = HashMap::new();
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
        states.extend(tree.usage);
    }
    (own, subtree, states)
}

/// One org's hourly check: the day's snapshot recorded with the latest figures, and its overage
/// state decided from the snapshots ([`overage::check`]: a notice at each change of state, the
/// upgrade after 24 hours of major), through the executor over the state as stored. An org
/// within its limit whose state is `none` and was recorded today costs nothing more this hour.
/// How many notices it sent.
async fn snapshot_org(
    store: &Store,
    (org, partner): (&Org, Option<&Org>),
    (own, subtree): (Figures, Figures),
    read: Option<&UsageState>,
    now: DateTime<Utc>,
) -> Result<usize, Error> {
    let today = now.date_naive();
    let quiet = |f: Figures| f.used <= f.limit;
    let settled = read
        .is_some_and(|r| r.date == today && r.subtree.state == OverageState::None && r.own.state == OverageState::None);
    if settled && quiet(own) && quiet(subtree) {
        return Ok(0);
    }
    store.put_snapshot(&Snapshot { org_id: org.org_id.clone(), date: today, own, subtree }).await?;
    let snaps = store.snapshots(&org.org_id).await?;
    let series =
        |f: fn(&Snapshot) -> Figures| snaps.iter().map(|s| (s.date, f(s).used, f(s).limit)).collect::<Vec<_>>();
    let next = UsageState {
        org_id: org.org_id.clone(),
        date: today,
        own: usage::overage(&series(|s| s.own)),
        subtree: usage::overage(&series(|s| s.subtree)),
        major_since: None,
        upgraded_at: None,
        version: 0,
    };
    let policy = store.policy(org).await?;
    let lots = store.all_lots(&org.org_id).await?;
    let recipients = recipients(store, org, &policy, Topic::Usage).await?;
    let partner = match partner.filter(|_| org.kind == OrgKind::Company) {
        Some(p) => Some((p, recipients_of(store, p).await?)),
        None => None,
    };
    let cx = overage::Check { org, policy: &policy, lots: &lots, figures: subtree, recipients, partner };
    let (cx, next) = (&cx, &next);
    command::execute(store, || async move {
        let prev = store.usage_state(&org.org_id).await?;
        Ok(overage::check(prev.as_ref(), next.clone(), cx, now, &mut |p: &str| new_id(p)))
    })
    .await
}

/// Who of `org` (a partner) is told of its customers' upgrades.
async fn recipients_of(store: &Store, org: &Org) -> Result<crate::domain::notice::Recipients, Error> {
    let policy = store.policy(org).await?;
    recipients(store, org, &policy, Topic::Usage).await
}
