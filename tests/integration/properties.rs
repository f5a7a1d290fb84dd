//! Property-based: random sequences of orders, allocations, releases, re-allocations,
//! enrolments, expiries and automatic renewals (through the handlers and the hourly sweeps,
//! against DynamoDB Local) keep every stored count equal to a recount of what the table holds:
//! a lot never has more seats in use than its quantity nor issues more than its cap, every
//! licence a user was ever debited is one use of a lot, the org's counters equal the users
//! holding seats, and the usage report agrees.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use seatkeeper::domain::user::{LicenceStatus, User};
use seatkeeper_tests::{cm, platform, TestEnv};
use serde_json::json;

const USERS: usize = 8;

#[derive(Debug, Clone)]
enum Step {
    Order(u32),
    Allocate(Vec<usize>),
    Release(usize),
    /// An active enrolment of this many days for a user (its first one starts the licence).
    Enrol(usize, u32),
    Days(u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (1u32..6).prop_map(Step::Order),
        3 => proptest::collection::vec(0..USERS, 1..4).prop_map(Step::Allocate),
        1 => (0..USERS).prop_map(Step::Release),
        3 => (0..USERS, 30u32..800).prop_map(|(u, d)| Step::Enrol(u, d)),
        2 => (1u32..200).prop_map(Step::Days),
    ]
}

/// The conflict a request reports when it kept losing races (`RACED` in the handlers): the steps
/// run one at a time, so it only comes from a race retry that gave up, never for a real reason.
const RACED: &str = "the data changed while this request was being handled; try again";

/// The 409 codes a step may be refused with for a real reason; any other answer but a 2xx fails.
/// An order is requested afresh before it is assigned and a release finds its user, so neither
/// is ever refused; an allocation finds too few seats; an enrolment takes a seat only when the
/// term starts at activation (`automatic`), and may find none. (`seat_limit_reached` comes only
/// under `counting = active_users`, which these policies never set.)
fn refusals(step: &Step, automatic: bool) -> &'static [&'static str] {
    match step {
        Step::Allocate(_) => &["insufficient_licences"],
        Step::Enrol(..) if automatic => &["insufficient_licences"],
        Step::Order(_) | Step::Release(_) | Step::Enrol(..) | Step::Days(_) => &[],
    }
}

fn email(i: usize) -> String {
    format!("u{i}@c.example")
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

async fn run(uses_per_seat: Option<u32>, automatic: bool, steps: Vec<Step>) -> Result<(), String> {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let mut policy = json!({});
    if let Some(n) = uses_per_seat {
        policy["uses_per_seat"] = json!(n);
    }
    if automatic {
        policy["renewal"] = json!("automatic");
        policy["term_starts"] = json!("activation");
    }
    env.set_policy("c", policy).await;
    let cm = cm("c");
    env.users("c", (0..USERS).map(email)).by(&platform("c")).await;
    let mut now: DateTime<Utc> = "2026-01-15T00:00:00Z".parse().unwrap();
    // Every sequence starts with seats in use and one learner on a long course, so that time
    // passing meets anniversaries, expiries and renewals.
    let start = [Step::Order(3), Step::Allocate(vec![0, 1]), Step::Enrol(0, 800)];
    for s in start.iter().chain(&steps) {
        now += Duration::hours(1);
        let answer = match s {
            Step::Order(q) => {
                let order = env.request("c", *q as u64, &at(now)).await;
                env.assign(&order, "p").at(&at(now)).send().await
            }
            Step::Allocate(users) => {
                let emails: Vec<String> = users.iter().map(|i| email(*i)).collect();
                env.allocate("c", json!({ "emails": emails }), &at(now)).await
            }
            Step::Release(i) => {
                env.call("DELETE", &format!("/v1/orgs/c/users/{}", email(*i))).by(&cm).at(&at(now)).send().await
            }
            Step::Enrol(i, days) => {
                let run = json!({"status": "active", "starts_at": at(now), "ends_at": at(now + Duration::days(*days as i64))});
                env.enrolment("c", &email(*i), &format!("run{}", now.timestamp())).json(run).at(&at(now)).send().await
            }
            Step::Days(d) => {
                now += Duration::days(*d as i64);
                let renewed = seatkeeper::sweeps::renewal::renewal(&env.app, now).await;
                seatkeeper::sweeps::report(renewed).map_err(|e| e.to_string())?;
                let expired = seatkeeper::sweeps::expire::expire(&env.app, now).await;
                seatkeeper::sweeps::report(expired).map_err(|e| e.to_string())?;
                continue;
            }
        };
        if answer.status == 409 && answer.body["error"]["message"].as_str() == Some(RACED) {
            return Err(format!(
                "{s:?} at {now}: lost a race with nothing racing it (retries exhausted): {}",
                answer.body
            ));
        }
        let refused_for_a_reason = answer.status == 409 && refusals(s, automatic).contains(&answer.code());
        if !(200..=299).contains(&answer.status) && !refused_for_a_reason {
            return Err(format!("{s:?} at {now}: {} {}", answer.status, answer.body));
        }
    }
    // Settle what time has ended, then recount from the table.
    let expired = seatkeeper::sweeps::expire::expire(&env.app, now).await;
    seatkeeper::sweeps::report(expired).map_err(|e| e.to_string())?;
    let store = &env.app.store;
    let lots = store.all_lots("c").await.map_err(|e| e.to_string())?;
    let users: Vec<User> = store.all_users("c").await.map_err(|e| e.to_string())?.into_values().collect();
    let counters = store.counters("c").await.map_err(|e| e.to_string())?;
    let holding: Vec<&User> = users
        .iter()
        .filter(|u| {
            u.licence.as_ref().is_some_and(|l| matches!(l.status, LicenceStatus::Active | LicenceStatus::Pending))
        })
        .collect();
    let mut per_lot: HashMap<String, u32> = HashMap::new();
    for u in &holding {
        if let Some(lot) = u.licence.as_ref().and_then(|l| l.lot_id.clone()) {
            *per_lot.entry(lot).or_default() += 1;
        }
    }
    for lot in &lots {
        let held = per_lot.get(&lot.lot_id).copied().unwrap_or(0);
        if lot.in_use > lot.quantity {
            return Err(format!("lot {} has {} in use of {}", lot.lot_id, lot.in_use, lot.quantity));
        }
        if lot.status == seatkeeper::domain::lot::LotStatus::Active && lot.in_use != held {
            return Err(format!("lot {} counts {} in use, the users hold {held}", lot.lot_id, lot.in_use));
        }
        if let Some(n) = lot.uses_per_seat {
            if lot.uses > n * lot.quantity {
                return Err(format!("lot {} issued {} of at most {}", lot.lot_id, lot.uses, n * lot.quantity));
            }
        }
    }
    let debited: u64 = users.iter().map(|u| u.licence_count as u64).sum();
    let issued: u64 = lots.iter().map(|l| l.uses as u64).sum();
    if debited != issued {
        return Err(format!("users were debited {debited} licences, the lots issued {issued}"));
    }
    if counters.seats_held != holding.len() as i64 {
        return Err(format!("counters say {} seats held, the users hold {}", counters.seats_held, holding.len()));
    }
    let report = env.get("/v1/orgs/c/usage").by(&cm).at(&at(now)).send().await;
    let used = report.body["org"]["used"].as_u64().unwrap_or(u64::MAX);
    let remaining = report.body["org"]["remaining"].as_u64().unwrap_or(u64::MAX);
    let recount_available: u64 = lots.iter().map(|l| l.available(now) as u64).sum();
    if used != holding.len() as u64 || remaining != recount_available {
        return Err(format!(
            "report used {used} remaining {remaining}; recount {} and {recount_available}",
            holding.len()
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 20, ..ProptestConfig::default() })]

    #[test]
    fn stored_counts_always_equal_a_recount(
        uses_per_seat in prop_oneof![Just(None), (1u32..3).prop_map(Some)],
        automatic in any::<bool>(),
        steps in proptest::collection::vec(step(), 1..30),
    ) {
        let outcome = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(uses_per_seat, automatic, steps));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}
