//! The usage report (DOMAIN.md §8–9, seed 001): per org limit, used, remaining, percent and
//! overage, for an org, each of its children and the total; also as CSV. A report costs a few
//! requests per org — the counters are kept current by every write — never a count over users.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use super::load_org;
use crate::domain::allocation::Balance;
use crate::domain::auth::{authorize, Action};
use crate::domain::org::Org;
use crate::domain::policy::{Counting, Policy};
use crate::domain::usage::{self, Figures, Overage, Snapshot};
use crate::domain::DomainError;
use crate::http::{Ctx, Reply};
use crate::report::{self, Cell};
use crate::store::{keys, Error, QuerySpec, SortKey, Store};

/// An org's own figures at `now`: `limit` = seats in unexpired lots + included seats; `used` by
/// the policy's counting; `remaining` = what can still be given (never below 0).
pub async fn own_figures(store: &Store, org: &Org, policy: &Policy, now: DateTime<Utc>) -> Result<Figures, Error> {
    let lots = store.all_lots(&org.org_id).await?;
    let counters = store.counters(&org.org_id).await?;
    let balance = Balance {
        lots,
        seats_included: policy.seats_included,
        included_in_use: counters.included_in_use.max(0) as u32,
    };
    let limit = balance.limit(now);
    let (used, remaining) = match policy.counting {
        Counting::Licences => (counters.seats_held.max(0) as u64, balance.available(now)),
        Counting::ActiveUsers => {
            let used = counters.active_users.max(0) as u64;
            (used, limit.saturating_sub(used))
        }
    };
    Ok(Figures { limit, used, remaining })
}

/// `org` and every org below it.
async fn subtree(store: &Store, org: &Org) -> Result<Vec<Org>, Error> {
    let mut all = vec![org.clone()];
    let mut i = 0;
    while i < all.len() {
        let children: Vec<Org> =
            store.query_all(&QuerySpec::index(keys::GSI1, keys::children(&all[i].org_id), SortKey::Any)).await?;
        all.extend(children);
        i += 1;
    }
    Ok(all)
}

async fn subtree_figures(store: &Store, org: &Org, now: DateTime<Utc>) -> Result<Figures, Error> {
    let mut sum = Figures::default();
    for o in subtree(store, org).await? {
        let policy = store.policy(&o).await?;
        sum = sum + own_figures(store, &o, &policy, now).await?;
    }
    Ok(sum)
}

fn series(snapshots: &[Snapshot], own: bool) -> Vec<(NaiveDate, u64, u64)> {
    snapshots
        .iter()
        .map(|s| if own { (s.date, s.own.used, s.own.limit) } else { (s.date, s.subtree.used, s.subtree.limit) })
        .collect()
}

fn row(org: &Org, f: Figures, overage: Overage) -> Value {
    json!({
        "org_id": org.org_id,
        "name": org.name,
        "limit": f.limit,
        "used": f.used,
        "remaining": f.remaining,
        "percent_used": usage::percent(f.used, f.limit),
        "overage": overage,
    })
}

pub async fn get(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadLicences, &org)?;
    let store = &cx.app.store;
    let now = cx.req.now;
    let policy = store.policy(&org).await?;
    let own = own_figures(store, &org, &policy, now).await?;
    let own_snapshots = store.snapshots(&org.org_id).await?;
    let children: Vec<Org> =
        store.query_all(&QuerySpec::index(keys::GSI1, keys::children(&org.org_id), SortKey::Any)).await?;
    let mut total = own;
    let mut child_rows = Vec::new();
    for child in &children {
        let f = subtree_figures(store, child, now).await?;
        total = total + f;
        let snaps = store.snapshots(&child.org_id).await?;
        child_rows.push(row(child, f, usage::overage(&series(&snaps, false))));
    }
    let org_row = row(&org, own, usage::overage(&series(&own_snapshots, true)));
    let mut total_row = row(&org, total, usage::overage(&series(&own_snapshots, false)));
    total_row["org_id"] = Value::Null;
    total_row["name"] = json!("Total");
    match cx.req.query("format").unwrap_or("json") {
        "json" => Ok(Reply::ok(json!({ "org": org_row, "children": child_rows, "total": total_row }))),
        "csv" => {
            let header = [
                "name",
                "org_id",
                "limit",
                "used",
                "remaining",
                "percent_used",
                "overage_state",
                "overage_since",
                "business_days",
            ];
            let cells: Vec<Vec<Cell>> = std::iter::once(&org_row)
                .chain(child_rows.iter())
                .chain(std::iter::once(&total_row))
                .map(|r| {
                    vec![
                        Cell::Text(r["name"].as_str().unwrap_or_default().to_string()),
                        Cell::Text(r["org_id"].as_str().unwrap_or_default().to_string()),
                        Cell::Number(r["limit"].as_f64().unwrap_or_default()),
                        Cell::Number(r["used"].as_f64().unwrap_or_default()),
                        Cell::Number(r["remaining"].as_f64().unwrap_or_default()),
                        Cell::Number(r["percent_used"].as_f64().unwrap_or_default()),
                        Cell::Text(r["overage"]["state"].as_str().unwrap_or_default().to_string()),
                        Cell::Text(r["overage"]["since"].as_str().unwrap_or_default().to_string()),
                        Cell::Number(r["overage"]["business_days"].as_f64().unwrap_or_default()),
                    ]
                })
                .collect();
            Ok(Reply::file(
                "text/csv; charset=utf-8",
                format!("usage-{}.csv", org.org_id),
                report::csv(&header, &cells),
            ))
        }
        _ => Err(DomainError::invalid("format", "must be json or csv").into()),
    }
}

/// Own and subtree figures of every org at `now`, computed from the org list in one pass.
pub async fn all_figures(
    store: &Store,
    orgs: &[Org],
    now: DateTime<Utc>,
) -> Result<HashMap<String, (Figures, Figures)>, Error> {
    let by_id: HashMap<&str, &Org> = orgs.iter().map(|o| (o.org_id.as_str(), o)).collect();
    let mut out: HashMap<String, (Figures, Figures)> = HashMap::new();
    for org in orgs {
        let chain = org.ancestors.iter().filter_map(|a| by_id.get(a.as_str())).map(|o| &o.policy).chain([&org.policy]);
        let policy = Policy::resolve(chain);
        let own = own_figures(store, org, &policy, now).await?;
        out.entry(org.org_id.clone()).or_default().0 = own;
        for id in org.ancestors.iter().chain([&org.org_id]) {
            let e = out.entry(id.clone()).or_default();
            e.1 = e.1 + own;
        }
    }
    Ok(out)
}
