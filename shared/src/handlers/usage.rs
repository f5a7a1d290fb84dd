//! The usage report (docs/domain.md#usage-and-overage): per org limit, used, remaining, percent, reuse
//! and overage, for an org, each of its children and the total; also as CSV. The counts are kept
//! current by every write and sit with the org items, unexpired lots and overage states in the
//! usage tree (GSI4), so a report is one `GetItem` of the org, one `Query` of its tree and one
//! `BatchGetItem` of the orgs above it (for their policies) — never a count over users.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::load_org;
use crate::domain::auth::{authorize, Action};
use crate::domain::lot::Lot;
use crate::domain::org::Org;
use crate::domain::policy::{Counting, Policy};
use crate::domain::seats::Counters;
use crate::domain::usage::{self, licence_year, Figures, Overage};
use crate::domain::DomainError;
use crate::http::{Ctx, Reply};
use crate::report::{self, Cell, Reader};
use crate::store::{Error, StoreError};

/// Reuse under `counting = active_users`: the distinct users active in the licence year, and
/// the most the policy's `uses_per_seat` allows (N × limit). Until the year's first change of
/// an active user, the distinct users of a year that just began are those active now.
pub fn reuse(policy: &Policy, lots: &[Lot], counters: &Counters, limit: u64, now: DateTime<Utc>) -> Value {
    if policy.counting != Counting::ActiveUsers {
        return Value::Null;
    }
    let year = licence_year(lots, now);
    let distinct = usage::distinct_users(lots, counters, now);
    json!({
        "year_from": year,
        "distinct_users": distinct,
        "cap": policy.uses_per_seat.cap().map(|n| n as u64 * limit),
    })
}

/// The org's unexpired lots an upgrade added, each with the part of the licence year it is
/// charged for (docs/domain.md#usage-and-overage).
fn upgrades(lots: &[Lot], now: DateTime<Utc>) -> Value {
    let lots = crate::domain::lot::merge(lots.to_vec());
    let added = lots.iter().filter(|l| l.status_at(now) == crate::domain::lot::LotStatus::Active);
    let added: Vec<Value> = added
        .filter_map(|l| {
            let fraction = l.pro_rata_fraction?;
            Some(json!({
                "lot_id": l.lot_id, "order_id": l.order_id, "quantity": l.quantity,
                "valid_from": l.valid_from, "valid_until": l.valid_until, "pro_rata_fraction": fraction,
            }))
        })
        .collect();
    Value::Array(added)
}

fn row(org: &Org, f: Figures, overage: Option<&Overage>, reuse: Value) -> Value {
    json!({
        "org_id": org.org_id,
        "name": org.name,
        "limit": f.limit,
        "used": f.used,
        "remaining": f.remaining,
        "percent_used": usage::percent(f.used, f.limit),
        "reuse": reuse,
        "overage": overage.cloned().unwrap_or_else(Overage::none),
    })
}

pub async fn get(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadLicences, &org)?;
    let store = &cx.app.store;
    let now = cx.req.now;
    let format = cx.req.query("format").unwrap_or("json");
    if !matches!(format, "json" | "csv") {
        return Err(DomainError::invalid("format", "must be json or csv").into());
    }
    let mut tree = store.tree(&org).await?;
    // The org read first stands for itself (strongly read, where the index may lag a moment).
    tree.orgs.retain(|o| o.org_id != org.org_id);
    tree.orgs.insert(0, org.clone());
    let above = store.ancestors(&org).await?;
    let figures = usage::tree_figures(&above, &tree.orgs, &tree.counters, &tree.lots, now);
    let own = figures.own.get(&org.org_id).copied().unwrap_or_default();
    let state = tree.usage.get(&org.org_id);
    let own_reuse = match figures.policies.get(&org.org_id) {
        Some(policy) => reuse(
            policy,
            tree.lots.get(&org.org_id).map(Vec::as_slice).unwrap_or_default(),
            tree.counters.get(&org.org_id).unwrap_or(&Counters::default()),
            own.limit,
            now,
        ),
        None => Value::Null,
    };
    let mut org_row = row(&org, own, state.map(|s| &s.own), own_reuse);
    org_row["upgrades"] = upgrades(tree.lots.get(&org.org_id).map(Vec::as_slice).unwrap_or_default(), now);
    let mut children: Vec<&Org> =
        tree.orgs.iter().filter(|o| o.parent_id.as_deref() == Some(org.org_id.as_str())).collect();
    children.sort_by(|a, b| a.org_id.cmp(&b.org_id));
    let child_rows: Vec<Value> = children
        .iter()
        .map(|c| {
            let f = figures.subtree.get(&c.org_id).copied().unwrap_or_default();
            row(c, f, tree.usage.get(&c.org_id).map(|s| &s.subtree), Value::Null)
        })
        .collect();
    let total = figures.subtree.get(&org.org_id).copied().unwrap_or_default();
    let mut total_row = row(&org, total, state.map(|s| &s.subtree), Value::Null);
    total_row["org_id"] = Value::Null;
    total_row["name"] = json!("Total");
    if format == "json" {
        // The report in the vendor's words: what it calls its licences (the console's headings).
        let naming = figures.policies.get(&org.org_id).map(|p| p.licence_name.clone()).unwrap_or_default();
        let report = json!({ "org": org_row, "children": child_rows, "total": total_row, "licence_name": naming });
        return Ok(Reply::ok(report));
    }
    let rows: Vec<&Value> = std::iter::once(&org_row).chain(&child_rows).chain(std::iter::once(&total_row)).collect();
    let reader = Reader::of_query(cx.req.query("locale"))?;
    Ok(Reply::file("text/csv; charset=utf-8", format!("usage-{}.csv", org.org_id), csv(&rows, reader)?))
}

/// The report's rows (the org, its children, the total) as CSV, for `reader`.
fn csv(rows: &[&Value], reader: Reader) -> Result<Vec<u8>, StoreError> {
    let header: Vec<&str> = [
        ("name", "Name", "Naam"),
        ("org_id", "Organisation", "Organisatie"),
        ("limit", "Limit", "Limiet"),
        ("used", "Used", "In gebruik"),
        ("remaining", "Remaining", "Resterend"),
        ("percent_used", "% used", "% in gebruik"),
        ("overage_state", "Overage", "Overschrijding"),
        ("overage_since", "Overage since", "Overschrijding sinds"),
        ("business_days", "Business days", "Werkdagen"),
    ]
    .iter()
    .map(|(m, en, nl)| reader.say(m, en, nl))
    .collect();
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap_or_default();
            let name = if r["org_id"].is_null() { reader.say(name, "Total", "Totaal") } else { name };
            vec![
                Cell::Text(name.to_string()),
                Cell::Text(r["org_id"].as_str().unwrap_or_default().to_string()),
                Cell::Number(r["limit"].as_f64().unwrap_or_default()),
                Cell::Number(r["used"].as_f64().unwrap_or_default()),
                Cell::Number(r["remaining"].as_f64().unwrap_or_default()),
                Cell::Number(r["percent_used"].as_f64().unwrap_or_default()),
                Cell::Text(state_words(r["overage"]["state"].as_str().unwrap_or_default(), reader).to_string()),
                Cell::Text(r["overage"]["since"].as_str().unwrap_or_default().to_string()),
                Cell::Number(r["overage"]["business_days"].as_f64().unwrap_or_default()),
            ]
        })
        .collect();
    report::csv(&header, &cells)
}

/// An overage state in the reader's words (an integration reads the state).
fn state_words(state: &str, reader: Reader) -> &str {
    match state {
        "none" => reader.say(state, "none", "geen"),
        "minor" => reader.say(state, "minor", "klein"),
        "minor_action_due" => reader.say(state, "minor, action due", "klein, actie nodig"),
        "major" => reader.say(state, "major", "groot"),
        other => other,
    }
}
