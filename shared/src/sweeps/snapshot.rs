//! The daily usage snapshot (DOMAIN.md §8): each org's used and limit for the day, and from the
//! snapshots the overage state. An `overage` notice when an overage starts; an `upgrade_due`
//! notice when a major overage has lasted 24 hours, with the next tier and the pro-rata fraction
//! of the licence year left. Both at most once per overage (guarded by the day it began).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::recipients;
use crate::command::new_id;
use crate::domain::notice::{Notice, NoticeKind};
use crate::domain::policy::Policy;
use crate::domain::term::term_end;
use crate::domain::usage::{self, OverageState, Snapshot, UsageState};
use crate::handlers::usage::tree_figures;
use crate::store::Error;
use crate::App;

#[derive(Debug, Clone, Default, Serialize)]
pub struct SnapshotReport {
    pub now: DateTime<Utc>,
    pub orgs: usize,
    pub notices_sent: usize,
}

pub async fn snapshot(app: &App, now: DateTime<Utc>) -> Result<SnapshotReport, Error> {
    let store = &app.store;
    let today = now.date_naive();
    let orgs = store.all_orgs().await?;
    let mut roots: Vec<&str> = orgs.iter().map(|o| o.root()).collect();
    roots.sort();
    roots.dedup();
    let mut own = HashMap::new();
    let mut subtree = HashMap::new();
    for root in roots {
        let figures = tree_figures(&[], &store.whole_tree(root).await?, now);
        own.extend(figures.own);
        subtree.extend(figures.subtree);
    }
    let mut report = SnapshotReport { now, orgs: orgs.len(), notices_sent: 0 };
    for org in &orgs {
        let own = own.get(&org.org_id).copied().unwrap_or_default();
        let subtree = subtree.get(&org.org_id).copied().unwrap_or_default();
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
        let Some(since) = overage.since.filter(|_| org.kind == crate::domain::org::OrgKind::Company) else { continue };
        let before = usage::overage(&series.iter().copied().filter(|d| d.0 < today).collect::<Vec<_>>());
        let policy: Policy = store.policy(org).await?;
        let mut notices = Vec::new();
        if since == today {
            notices.push((NoticeKind::Overage, json!({
                "state": overage.state, "since": since, "used": subtree.used, "limit": subtree.limit,
                "percent_used": usage::percent(subtree.used, subtree.limit),
                "message": "More users are in use than the licence allows. Lower the count within 10 business days, or upgrade to the next tier.",
            })));
        }
        if overage.state == OverageState::Major && before.state == OverageState::Major && before.since == Some(since) {
            let lots = store.all_lots(&org.org_id).await?;
            let year_start = lots
                .iter()
                .filter(|l| l.status_at(now) == crate::domain::lot::LotStatus::Active)
                .map(|l| l.valid_from)
                .min();
            let fraction = year_start.map(|start| {
                let end = term_end(start, policy.term_months);
                let left = (end - now).num_seconds().max(0) as f64 / (end - start).num_seconds().max(1) as f64;
                (left.min(1.0) * 1000.0).round() / 1000.0
            });
            notices.push((NoticeKind::UpgradeDue, json!({
                "since": since, "used": subtree.used, "limit": subtree.limit,
                "next_tier": usage::next_tier(&policy.tiers, subtree.used),
                "pro_rata_fraction": fraction,
                "message": "A major overage has lasted 24 hours: the subscription is upgraded to the next tier, pro rata for the rest of the licence year.",
            })));
        }
        for (kind, payload) in notices {
            let notice = Notice {
                notice_id: new_id("ntc"),
                kind,
                org_id: org.org_id.clone(),
                created_at: now,
                recipients: recipients(store, &org.org_id, &policy).await?,
                payload,
            };
            if store.put_notice_once(&notice, since).await? {
                report.notices_sent += 1;
            }
        }
    }
    tracing::info!(?report, "usage snapshot");
    Ok(report)
}
