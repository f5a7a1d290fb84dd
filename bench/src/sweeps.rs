//! The expire sweep at scale (`--only sweep-scale`): what one hour costs among many live
//! licences, and a term's worth of licences ending at one instant, swept in a process of its own.

use std::process::{Command, Stdio};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use seatkeeper::domain::lot::Lot;
use seatkeeper::domain::policy::Policy;
use seatkeeper::domain::user::{self, User};
use seatkeeper::sweeps::expire::{expire, expire_within, Limits};
use serde_json::{json, Value};

use super::{
    at, batch_write, email, fresh_env, large, learners, line, lot, ok, org, step, Env, Line, Res, SETUP_IN_FLIGHT,
};
use crate::meter::Meter;

/// The instant the measured hour ends: the due company's lot (assigned a year before) ends then.
const HOUR_END: &str = "2027-01-15T09:00:00Z";
/// When the seeded licences were issued (their lots' start).
const ISSUED: &str = "2026-01-15T09:00:00Z";
/// Licences that end within the measured hour.
const DUE_IN_HOUR: usize = 1_000;
/// Licences ending at one instant (a term start's worth), swept in a process of its own.
fn at_once() -> usize {
    if large() < 100_000 {
        20_000
    } else {
        200_000
    }
}

/// `n` licences of `org` from lot `lot_id`, issued at `issued`, the i-th ending at `end(i)`, as
/// items to write.
pub fn licences(
    store: &seatkeeper::store::Store,
    (org, lot_id): (&str, &str),
    n: usize,
    end: impl Fn(usize) -> DateTime<Utc>,
    issued: &str,
) -> Res<Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>> {
    let policy = Policy::resolve(std::iter::empty());
    (0..n)
        .map(|i| {
            let fresh = User::new(org, &email(org, i), at("2026-01-02T00:00:00Z"));
            let u =
                user::issue(&fresh, format!("lic_{org}_{i}"), Some(lot_id.into()), Some(end(i)), &policy, at(issued));
            Ok(store.user_item(&u)?)
        })
        .collect()
}

/// One hour's sweep with [`DUE_IN_HOUR`] licences ending in it, among `large()` live licences
/// whose ends are spread over the year, and among as many all ending in the next 72 hours
/// (within 1 to 71 hours: their reminders went out in the runs before, as they would have). The
/// run an hour before brings each table to the state the hourly runs leave; then the hour is
/// metered.
pub async fn sweep_hour(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    let n = large();
    let end = at(HOUR_END);
    let mut hours = Vec::new();
    for (name, spread) in
        [("spread over the year", Duration::days(365)), ("all in the next 72 hours", Duration::hours(70))]
    {
        step(&format!("sweep hour: {n} live licences {name}"));
        let env = hour_table(meter, n, spread, end).await?;
        meter.take();
        let started = Instant::now();
        let before = expire(&env.app, end - Duration::hours(1)).await?;
        let warm = started.elapsed().as_secs_f64();
        let merging = meter.take();
        let report = expire(&env.app, end).await?;
        let usage = meter.take();
        if !report.failed.is_empty() || report.licences_expired != DUE_IN_HOUR {
            return Err(format!("the hour's sweep did not expire the {DUE_IN_HOUR}: {report:?}").into());
        }
        lines.push(line(
            &format!("expire sweep, the hour {DUE_IN_HOUR} licences end, among {n} live licences {name}"),
            format!(
                "{:.1} RCU, {} index items read ({} days), {} expired",
                usage.rcu(),
                report.items_read,
                report.days_read,
                report.licences_expired
            ),
            format!(
                "the run before: {} items merged in {warm:.0} s, {:.2} WCU each ({})",
                before.items_merged,
                merging.wcu() / before.items_merged.max(1) as f64,
                merging.ops()
            ),
            "-",
            None,
        ));
        hours.push(usage.rcu());
    }
    let ratio = hours[1] / hours[0].max(f64::MIN_POSITIVE);
    lines.push(line(
        "expire sweep: read units of that hour, all ending within 72 hours / spread over the year",
        format!("{ratio:.2}"),
        "-".into(),
        "≤ 1.2",
        Some(ratio <= 1.2),
    ));
    Ok(())
}

/// A table with [`DUE_IN_HOUR`] licences of company `due` ending at `end` (allocated through the
/// API from its lot) and `n` licences of company `live` ending one hour after `end` and on, spread
/// evenly over `spread`.
async fn hour_table(meter: &Meter, n: usize, spread: Duration, end: DateTime<Utc>) -> Res<Env> {
    let env = fresh_env(meter, "sweephour").await?;
    org(&env, "p", "partner", "vendor").await?;
    org(&env, "due", "company", "p").await?;
    lot(&env, "due", DUE_IN_HOUR, "2026-01-15T09:00:00Z").await?;
    learners(&env, "due", DUE_IN_HOUR).await?;
    for chunk in (0..DUE_IN_HOUR).collect::<Vec<_>>().chunks(50) {
        let emails: Vec<String> = chunk.iter().map(|i| email("due", *i)).collect();
        let body = json!({"emails": emails});
        ok(&env, "POST", "/v1/orgs/due/allocations", "company_manager", "due", body, "2026-01-15T09:00:00Z").await?;
    }
    org(&env, "live", "company", "p").await?;
    let step_of = spread / n as i32;
    let items =
        licences(&env.app.store, ("live", "lot_live"), n, |i| end + Duration::hours(1) + step_of * i as i32, ISSUED)?;
    batch_write(&env.client, &env.table, items, SETUP_IN_FLIGHT).await?;
    Ok(env)
}

/// [`at_once`] licences of one company ending at one instant: seeded (a lot stored whole, its
/// seats all in use, the org's counters holding them), then swept in a process of its own at
/// the reminder horizon and at the end, run after run until each is done.
pub async fn sweep_at_once(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    let n = at_once();
    step(&format!("sweep at once: {n} licences ending at one instant"));
    let env = fresh_env(meter, "sweeponce").await?;
    org(&env, "p", "partner", "vendor").await?;
    org(&env, "big", "company", "p").await?;
    let end = at(HOUR_END);
    let store = &env.app.store;
    let company = store.org("big").await?.ok_or("the company is missing")?;
    let ids = ("lot_big".to_string(), "big".to_string(), "ord_big".to_string());
    let mut whole = Lot::new(ids, n as u32, at("2026-01-15T09:00:00Z"), Some(end));
    whole.in_use = n as u32;
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let counters = [("PK", A::S("ORG#big".into())), ("SK", A::S("COUNTERS".into())), ("type", A::S("counters".into()))]
        .into_iter()
        .chain([("seats_held", A::N(n.to_string()))])
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let mut items = vec![store.lot_item(&whole, &company)?, counters];
    items.extend(licences(store, ("big", "lot_big"), n, |_| end, ISSUED)?);
    batch_write(&env.client, &env.table, items, SETUP_IN_FLIGHT).await?;
    meter.take();
    step("sweep at once: the sweep in its own process");
    let out = Command::new(std::env::current_exe()?)
        .args(["sweep-child", &env.table, HOUR_END])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err("the sweep process failed".into());
    }
    let figures: Value = serde_json::from_slice(&out.stdout)?;
    at_once_lines(&figures, n, lines);
    Ok(())
}

/// The lines of [`sweep_at_once`] from the sweep process's `figures`.
fn at_once_lines(figures: &Value, n: usize, lines: &mut Vec<Line>) {
    let runs = figures["runs"].as_array().cloned().unwrap_or_default();
    let longest = runs.iter().max_by(|a, b| a["secs"].as_f64().partial_cmp(&b["secs"].as_f64()).unwrap());
    let expired: u64 = runs.iter().filter_map(|r| r["licences_expired"].as_u64()).sum();
    let sent: u64 = runs.iter().filter_map(|r| r["notices_sent"].as_u64()).sum();
    let peak_mib = figures["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0;
    lines.push(line(
        &format!("{n} licences ending at one instant: expired and told"),
        format!("{expired} expired, {sent} notices (reminder and expired) in {} runs", runs.len()),
        "-".into(),
        "all, 2 notices",
        Some(expired == n as u64 && sent == 2),
    ));
    lines.push(line(
        &format!("{n} licences ending at one instant: the longest run"),
        longest.map_or("-".into(), |r| {
            format!(
                "{:.0} s, {} items read ({} merged, {} expired)",
                r["secs"].as_f64().unwrap_or(0.0),
                r["items_read"],
                r["items_merged"],
                r["licences_expired"]
            )
        }),
        format!("budget {} s a run", seatkeeper::sweeps::expire::SWEEP_SECONDS),
        "-",
        None,
    ));
    lines.push(line(
        &format!("{n} licences ending at one instant: peak RSS of the sweep process"),
        format!("{peak_mib:.1} MiB"),
        "-".into(),
        "≤ 64 MiB",
        Some(peak_mib <= 64.0),
    ));
}

/// Runs in its own process: the expire sweep over TABLE at 72 hours before END and at END, each
/// run after run until it finished; prints each run's figures and the process's peak RSS.
pub async fn sweep_child(table: &str, end: &str) -> Res<()> {
    let client = aws_sdk_dynamodb::Client::new(&seatkeeper::app::sdk_config().await);
    let app = seatkeeper::App::new(seatkeeper::store::Store::new(client, table));
    let end = at(end);
    let mut runs = Vec::new();
    for now in [end - Duration::hours(72), end] {
        loop {
            let started = Instant::now();
            let r = expire_within(&app, now, None, Limits::DEFAULT).await?;
            runs.push(json!({
                "now": now, "secs": started.elapsed().as_secs_f64(), "items_read": r.items_read,
                "items_merged": r.items_merged, "licences_expired": r.licences_expired,
                "notices_sent": r.notices_sent, "finished": r.finished, "failed": r.failed.len(),
            }));
            if !r.failed.is_empty() {
                return Err(format!("the sweep failed: {:?}", r.failed).into());
            }
            if r.finished {
                break;
            }
        }
    }
    println!("{}", json!({ "runs": runs, "peak_rss_kib": super::peak_rss_kib() }));
    Ok(())
}
