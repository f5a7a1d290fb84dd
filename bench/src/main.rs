//! Seatkeeper's benchmark: what the service costs in DynamoDB requests and capacity, how fast it
//! runs, and how small its functions are, each beside its floor or a raw baseline measured in the
//! same run. Runs against DynamoDB Local (`AWS_ENDPOINT_URL_DYNAMODB`), started as the tests
//! start it; `make bench` does all of it. Prints one table.
//!
//! Subcommands (the second is how the benchmark runs the import in its own process):
//!   bench [--skip-build] [--quick] [--million] [--only hostile-xlsx|first-answer|select-all|allocation|login|one-company|binaries|million|sweep-life|sweep-scale|enrolments|erasure]
//!                                        every measurement (`--quick`: 10,000 instead of 100,000;
//!                                        `--million`: also a 1,000,000-row file on S3;
//!                                        `--only hostile-xlsx`: the hostile workbooks alone;
//!                                        `--only first-answer`: the time to a large
//!                                        allocation's first answer alone; `--only select-all`:
//!                                        "Select all" of 10,000, its capacity by operation;
//!                                        `--only allocation`: one allocation's requests and the
//!                                        latency of 1,000; `--only login`: what recording a
//!                                        login costs; `--only one-company`: 128 callers in
//!                                        one company against 128 companies, under the model
//!                                        of DynamoDB's conflicts in `contention.rs`;
//!                                        `--only binaries`: the bootstrap sizes and their start;
//!                                        `--only million`: the 1,000,000-row file on S3 alone,
//!                                        each function invocation timed apart;
//!                                        `--only sweep-life`: the index items the hourly expire
//!                                        sweep reads per licence over its life;
//!                                        `--only sweep-scale`: one hour among many live licences,
//!                                        and a term's licences ending at one instant;
//!                                        `--only enrolments`: an enrolment's writes and a bulk
//!                                        expiry change; `--only erasure`: erasing a user of a
//!                                        company with 100,000 audit entries (10,000 `--quick`))
//!   bench import-child TABLE ORG FILE    one CSV import, review + commit; prints its figures
//!   bench sweep-child TABLE END          the expire sweep at END − 72 h and at END, run after run;
//!                                        each run's figures and its peak RSS
//!   bench import-child-s3 KEY            one S3 import (TABLE_NAME, BUCKET_NAME); its figures
//!   bench import-child-xlsx FILE KEY     one workbook through the API and on S3 (TABLE_NAME,
//!                                        BUCKET_NAME); both answers and its peak RSS

mod contention;
mod meter;
mod sweeps;
mod tenants;

// The hostile-workbook corpus of the tests, built the same way here.
#[path = "../../tests/support/hostile_xlsx.rs"]
mod hostile_xlsx;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_lambda_events::encodings::Body;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use contention::Contention;
use meter::Meter;
use seatkeeper::domain::change::Change;
use seatkeeper::domain::user::User;
use seatkeeper::store::table::TableDefinition;
use seatkeeper::store::Store;
use seatkeeper::App;
use serde_json::{json, Value};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Requests in flight while the benchmark writes its set-up data (not measured).
const SETUP_IN_FLIGHT: usize = 32;

/// Rows of the import and not-due licences of the large sweep: 100,000, or 10,000 with `--quick`
/// (a trial run; the figures of record are the full ones).
static LARGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

fn large() -> usize {
    *LARGE.get().unwrap_or(&100_000)
}
const NOT_DUE_SMALL: usize = 1_000;
const DUE: usize = 100;
const LATENCY_RUNS: usize = 1_000;

/// One row of the printed table.
struct Line {
    what: String,
    figure: String,
    baseline: String,
    goal: String,
    met: Option<bool>,
}

fn line(what: &str, figure: String, baseline: String, goal: &str, met: Option<bool>) -> Line {
    Line { what: what.into(), figure, baseline, goal: goal.into(), met }
}

/// A fresh table on DynamoDB Local, its metered client and the app over it.
struct Env {
    app: App,
    client: Client,
    table: String,
}

async fn metered_client(meter: &Meter) -> Client {
    let sdk = seatkeeper::app::sdk_config().await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(meter.clone()).build();
    Client::from_conf(conf)
}

async fn fresh_env(meter: &Meter, name: &str) -> Res<Env> {
    env_over(metered_client(meter).await, name).await
}

/// [`fresh_env`] whose client also runs the model of DynamoDB's conflicts and per-item limits.
async fn contended_env(meter: &Meter, model: &Contention, name: &str) -> Res<Env> {
    let sdk = seatkeeper::app::sdk_config().await;
    // The model's refusals are answered by its connector, never sent: without it they would be
    // written.
    let inner = sdk.http_client().ok_or("the SDK settings name no HTTP client to wrap")?;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(meter.clone())
        .interceptor(model.clone())
        .http_client(contention::Refusing { inner })
        .build();
    env_over(Client::from_conf(conf), name).await
}

async fn env_over(client: Client, name: &str) -> Res<Env> {
    let table = format!("bench-{name}-{}", Utc::now().timestamp_millis());
    // The template's table, but without its stream: DynamoDB Local writes a streamed table at
    // about 60 items a second (the stream, not the table, is then what is measured), while in
    // DynamoDB a stream costs a write nothing.
    let mut definition = TableDefinition::from_compiled_template()?;
    definition.stream_view = None;
    definition.create(&client, &table).await?;
    let store = Store::new(client.clone(), table.clone());
    store.set_up(Utc::now()).await?;
    Ok(Env { app: App::new(store), client, table })
}

async fn env_on(meter: &Meter, table: &str) -> Env {
    let client = metered_client(meter).await;
    Env { app: App::new(Store::new(client.clone(), table)), client, table: table.into() }
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("an RFC 3339 time")
}

/// Calls the API as it runs in Lambda (the same event API Gateway sends), as `role` of `org`.
async fn call(env: &Env, method: &str, target: &str, role: &str, org: &str, body: Vec<u8>, now: &str) -> (u16, Value) {
    let email = format!("{role}@{org}.example");
    let claims = HashMap::from([
        ("sub".to_string(), email.clone()),
        ("email".to_string(), email),
        ("org_id".to_string(), org.to_string()),
        ("role".to_string(), role.to_string()),
    ]);
    let event = seatkeeper_local::api_event(method, target, &[], &body, Some(claims), at(now)).expect("an event");
    let function = seatkeeper::handlers::functions::serving(method, target);
    let r = seatkeeper::http::handle(&env.app, function, event).await;
    let body = match r.body {
        Some(Body::Text(t)) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
        _ => Value::Null,
    };
    (r.status_code as u16, body)
}

async fn ok(env: &Env, method: &str, target: &str, role: &str, org: &str, body: Value, now: &str) -> Res<Value> {
    let (status, answer) = call(env, method, target, role, org, body.to_string().into_bytes(), now).await;
    if status >= 300 {
        return Err(format!("{method} {target}: {status} {answer}").into());
    }
    Ok(answer)
}

async fn org(env: &Env, id: &str, kind: &str, parent: &str) -> Res<()> {
    let body = json!({"org_id": id, "name": id.to_uppercase(), "kind": kind, "parent_id": parent});
    ok(env, "POST", "/v1/orgs", "vendor_admin", "vendor", body, "2026-01-01T00:00:00Z").await.map(|_| ())
}

/// An order of `quantity` by `company`, assigned by partner `p` at `assigned_at` (its lot ends
/// twelve months later).
async fn lot(env: &Env, company: &str, quantity: usize, assigned_at: &str) -> Res<()> {
    let order = ok(
        env,
        "POST",
        &format!("/v1/orgs/{company}/orders"),
        "company_manager",
        company,
        json!({"quantity": quantity}),
        assigned_at,
    )
    .await?;
    let id = order["order_id"].as_str().unwrap_or_default().to_string();
    ok(env, "POST", &format!("/v1/orders/{id}/assign"), "partner_manager", "p", json!({}), assigned_at).await?;
    Ok(())
}

/// A lot of `quantity` seats for `company` as it was stored before lots had parts: one item,
/// ending a year after 2026-01-15T09:00Z like [`lot`]'s.
async fn whole_lot(env: &Env, company: &str, quantity: usize) -> Res<()> {
    let store = &env.app.store;
    let org = store.org(company).await?.ok_or("the company is missing")?;
    let ids = (format!("lot_{company}_whole"), company.to_string(), format!("ord_{company}_whole"));
    let (from, until) = (at("2026-01-15T09:00:00Z"), at("2027-01-15T09:00:00Z"));
    let lot = seatkeeper::domain::lot::Lot::new(ids, quantity as u32, from, Some(until));
    let item = store.lot_item(&lot, &org)?;
    store.client.put_item().table_name(&store.table).set_item(Some(item)).send().await?;
    Ok(())
}

fn email(org: &str, i: usize) -> String {
    format!("u{i:06}@{org}.example")
}

/// Writes items with `BatchWriteItem`, 25 a call, `in_flight` calls at once, retrying what
/// comes back unprocessed.
async fn batch_write(
    client: &Client,
    table: &str,
    items: Vec<HashMap<String, AttributeValue>>,
    in_flight: usize,
) -> Res<()> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let chunks: Vec<Vec<HashMap<String, AttributeValue>>> = items.chunks(25).map(<[_]>::to_vec).collect();
    stream::iter(chunks)
        .map(|chunk| async move {
            let mut pending: Vec<WriteRequest> = chunk
                .into_iter()
                .map(|item| {
                    let put = PutRequest::builder().set_item(Some(item)).build().expect("an item");
                    WriteRequest::builder().put_request(put).build()
                })
                .collect();
            while !pending.is_empty() {
                let out = client.batch_write_item().request_items(table, pending).send().await?;
                pending = out.unprocessed_items.and_then(|mut u| u.remove(table)).unwrap_or_default();
            }
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
        .buffer_unordered(in_flight)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Writes items one conditional `PutItem` each (on the condition that the key is new), `in_flight`
/// at once.
async fn conditional_puts(
    client: &Client,
    table: &str,
    items: Vec<HashMap<String, AttributeValue>>,
    in_flight: usize,
) -> Res<()> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    stream::iter(items)
        .map(|item| async move {
            let put = client.put_item().table_name(table).set_item(Some(item));
            put.condition_expression("attribute_not_exists(PK)").send().await?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
        .buffer_unordered(in_flight)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// `n` learners of `org`, written straight to the table.
async fn learners(env: &Env, org: &str, n: usize) -> Res<()> {
    let store = &env.app.store;
    let items = (0..n)
        .map(|i| store.user_item(&User::new(org, &email(org, i), at("2026-01-02T00:00:00Z"))))
        .collect::<Result<Vec<_>, _>>()?;
    batch_write(&env.client, &env.table, items, SETUP_IN_FLIGHT).await
}

/// `n` users of `org` holding an active licence that ends at `end`: the items an import writes.
fn licensed_items(store: &Store, org: &str, n: usize, end: &str) -> Res<Vec<HashMap<String, AttributeValue>>> {
    sweeps::licences(store, (org, "lot_bench"), n, |_| at(end), "2026-02-15T00:00:00Z")
}

/// Progress on stderr, with the time since the benchmark began.
fn step(what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(Instant::now);
    eprintln!("[{:>6.1} s] {what}", start.elapsed().as_secs_f64());
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

// ---- single allocation and its latency ------------------------------------------------------

/// Concurrent callers of the contention model (bench/RESULTS.md).
const CALLERS: usize = 128;
/// Allocations each caller makes, one after the other.
const ALLOCATIONS_EACH: usize = 4;

/// What one caller's allocations came to: done, refused for want of seats, sent again after a
/// `503`, and the answers of the others.
#[derive(Default)]
struct Caller {
    allocated: usize,
    short: usize,
    resent: usize,
    failures: Vec<String>,
}

/// How often a caller sends a request again that was answered `503 unavailable` ("retry
/// shortly", docs/api.md#errors), as a platform following the contract does, before it counts
/// the request failed.
const RESENDS: usize = 3;

/// The pause before a caller sends a request again after a `503`: 0.5 to 1.5 seconds, drawn.
fn shortly() -> std::time::Duration {
    std::time::Duration::from_millis(500 + fastrand::u64(0..1000))
}

/// What the callers of one run achieved.
struct Contended {
    allocated: usize,
    short: usize,
    failed: usize,
    /// The answers of the failed ones, by status and code.
    failures: std::collections::BTreeMap<String, usize>,
    seconds: f64,
    conflicts: usize,
    throttles: usize,
    /// Requests sent again by their caller after a `503`.
    resent: usize,
    /// The conflicts by the kind of item they met held, most first.
    met: Vec<(String, usize)>,
}

/// What each caller sends for one learner: an allocation by the company's manager, or the
/// learner's first enrolment by a platform that licenses at enrolment (at the start of term):
/// under `term_starts = activation` it debits the licence and makes the learner an active user.
#[derive(Clone, Copy)]
enum Work {
    Allocate,
    Enrol,
}

impl Work {
    /// The method, target, role and body of the request for `learner` of `org`.
    fn request(self, org: &str, learner: &str) -> (&'static str, String, &'static str, Value) {
        match self {
            Work::Allocate => {
                ("POST", format!("/v1/orgs/{org}/allocations"), "company_manager", json!({"emails": [learner]}))
            }
            Work::Enrol => (
                "PUT",
                format!("/v1/orgs/{org}/users/{learner}/enrolments/term"),
                "platform",
                json!({"status": "active"}),
            ),
        }
    }
}

/// `CALLERS` callers, each allocating `ALLOCATIONS_EACH` learners one at a time; caller `i`
/// works in `company(i)` on its learners `i * ALLOCATIONS_EACH ..`.
async fn contend(env: &Env, model: &Contention, company: impl Fn(usize) -> String) -> Contended {
    contend_with(env, model, Work::Allocate, company).await
}

/// [`contend`], each learner's request being `work`'s.
async fn contend_with(env: &Env, model: &Contention, work: Work, company: impl Fn(usize) -> String) -> Contended {
    model.take();
    model.take_met();
    let started = Instant::now();
    let callers = (0..CALLERS).map(|i| {
        let org = company(i);
        async move {
            let mut outcome = Caller::default();
            for k in 0..ALLOCATIONS_EACH {
                let (method, path, role, body) = work.request(&org, &email(&org, i * ALLOCATIONS_EACH + k));
                let body = body.to_string().into_bytes();
                let mut sent = 0;
                let (status, answer) = loop {
                    let (status, answer) =
                        call(env, method, &path, role, &org, body.clone(), "2026-02-01T00:00:00Z").await;
                    if status != 503 || sent == RESENDS {
                        break (status, answer);
                    }
                    sent += 1;
                    outcome.resent += 1;
                    tokio::time::sleep(shortly()).await;
                };
                match (status, answer["error"]["code"].as_str()) {
                    (200, _) => outcome.allocated += 1,
                    (409, Some("insufficient_licences")) => outcome.short += 1,
                    (status, code) => outcome.failures.push(format!("{status} {}", code.unwrap_or("-"))),
                }
            }
            outcome
        }
    });
    let outcomes = futures::future::join_all(callers).await;
    let seconds = started.elapsed().as_secs_f64();
    let (conflicts, throttles) = model.take();
    let met = model.take_met();
    let mut failures = std::collections::BTreeMap::new();
    for answer in outcomes.iter().flat_map(|o| o.failures.iter()) {
        *failures.entry(answer.clone()).or_default() += 1;
    }
    let allocated = outcomes.iter().map(|o| o.allocated).sum();
    let short = outcomes.iter().map(|o| o.short).sum();
    let failed = outcomes.iter().map(|o| o.failures.len()).sum();
    let resent = outcomes.iter().map(|o| o.resent).sum();
    Contended { allocated, short, failed, failures, seconds, conflicts, throttles, resent, met }
}

/// Allocations a second and retries per allocation for `CALLERS` concurrent callers
/// in one company against the same callers spread over `CALLERS` companies (the ceiling), under
/// the model of DynamoDB's transaction conflicts and per-item limits ([`contention`]); and a
/// company whose callers want twice its seats: never oversold. A round in which callers gave up
/// does not meet the goal however fast it was: a caller that gives up leaves the round early,
/// which only raises the rate of the rest.
async fn one_company(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    step("one company at the start of term: setting up");
    let model = Contention::default();
    let env = contended_env(meter, &model, "term").await?;
    org(&env, "p", "partner", "vendor").await?;
    let wanted = CALLERS * ALLOCATIONS_EACH;
    for (company, seats) in [("one", wanted), ("short", wanted / 2)] {
        org(&env, company, "company", "p").await?;
        lot(&env, company, seats, "2026-01-15T09:00:00Z").await?;
        learners(&env, company, wanted).await?;
    }
    // The shape before parts, in the same run: the same lot stored whole, one item.
    org(&env, "whole", "company", "p").await?;
    whole_lot(&env, "whole", wanted).await?;
    learners(&env, "whole", wanted).await?;
    // A platform that licenses at enrolment: licences start at a learner's first enrolment.
    org(&env, "term", "company", "p").await?;
    let activation = json!({"term_starts": "activation"});
    ok(&env, "PUT", "/v1/orgs/term/policy", "vendor_admin", "vendor", activation.clone(), "2026-01-01T00:00:00Z")
        .await?;
    lot(&env, "term", wanted, "2026-01-15T09:00:00Z").await?;
    learners(&env, "term", wanted).await?;
    // The ceiling: the same callers, each in a company of its own whose lot has the same shape
    // as the one company's (its seats in parts, read whole by each allocation), so the ratio is
    // what sharing the lot costs and not what reading a larger lot costs (the lot stored whole
    // below shows that).
    let spread = |i: usize| format!("s{i:03}");
    for i in 0..CALLERS {
        org(&env, &spread(i), "company", "p").await?;
        lot(&env, &spread(i), wanted, "2026-01-15T09:00:00Z").await?;
        learners(&env, &spread(i), (i + 1) * ALLOCATIONS_EACH).await?;
    }
    // The enrolments' ceiling: the same platform callers, each in a company of its own that
    // licenses at enrolment, with the same lot. A first enrolment reads more than an allocation
    // (the user's enrolments, the counters), so it has a ceiling of its own.
    let spread_term = |i: usize| format!("t{i:03}");
    for i in 0..CALLERS {
        org(&env, &spread_term(i), "company", "p").await?;
        let policy = format!("/v1/orgs/{}/policy", spread_term(i));
        ok(&env, "PUT", &policy, "vendor_admin", "vendor", activation.clone(), "2026-01-01T00:00:00Z").await?;
        lot(&env, &spread_term(i), wanted, "2026-01-15T09:00:00Z").await?;
        learners(&env, &spread_term(i), (i + 1) * ALLOCATIONS_EACH).await?;
    }
    // A first round on a company of its own, so that no measured round pays for DynamoDB Local
    // warming up (its first requests of a kind are slower).
    org(&env, "warm", "company", "p").await?;
    lot(&env, "warm", wanted, "2026-01-15T09:00:00Z").await?;
    learners(&env, "warm", wanted).await?;
    step("one company at the start of term: warming up");
    contend(&env, &model, |_| "warm".to_string()).await;
    step("one company at the start of term: measuring");
    let ceiling = contend(&env, &model, spread).await;
    let hot = contend(&env, &model, |_| "one".to_string()).await;
    let whole = contend(&env, &model, |_| "whole".to_string()).await;
    let enrol_ceiling = contend_with(&env, &model, Work::Enrol, spread_term).await;
    let enrolled = contend_with(&env, &model, Work::Enrol, |_| "term".to_string()).await;
    let rate = |c: &Contended| c.allocated as f64 / c.seconds;
    let retries = |c: &Contended| (c.conflicts + c.throttles + c.resent) as f64 / c.allocated.max(1) as f64;
    let said = |c: &Contended| {
        format!(
            "{:.1}/s, {:.2} retries each ({} conflicts{}, {} throttled, {} sent again after a 503); {} of {} allocated, {} failed {:?}",
            rate(c),
            retries(c),
            c.conflicts,
            met_on(&c.met),
            c.throttles,
            c.resent,
            c.allocated,
            wanted,
            c.failed,
            c.failures
        )
    };
    lines.push(line(
        &format!("{CALLERS} callers in one company (model of conflicts), its lot in parts"),
        said(&hot),
        format!("spread over {CALLERS} companies: {} (×{:.2})", said(&ceiling), rate(&hot) / rate(&ceiling).max(0.001)),
        "≥ 0.8× the ceiling, none failed",
        Some(rate(&hot) >= 0.8 * rate(&ceiling) && hot.failed == 0),
    ));
    lines.push(line(
        &format!("{CALLERS} platform callers in one company, each learner's first enrolment"),
        said(&enrolled),
        format!(
            "spread over {CALLERS} companies: {} (×{:.2})",
            said(&enrol_ceiling),
            rate(&enrolled) / rate(&enrol_ceiling).max(0.001)
        ),
        "≥ 0.8× the ceiling, none failed",
        Some(rate(&enrolled) >= 0.8 * rate(&enrol_ceiling) && enrolled.failed == 0),
    ));
    lines.push(line(
        &format!("{CALLERS} callers in one company, its lot stored whole (before parts)"),
        said(&whole),
        format!("×{:.2} the ceiling", rate(&whole) / rate(&ceiling).max(0.001)),
        "-",
        None,
    ));
    let over = contend(&env, &model, |_| "short".to_string()).await;
    let lots =
        ok(&env, "GET", "/v1/orgs/short/lots", "company_manager", "short", json!(null), "2026-02-01T00:00:00Z").await?;
    let in_use = lots["items"][0]["in_use"].as_u64().unwrap_or(u64::MAX);
    lines.push(line(
        &format!("{CALLERS} callers wanting {wanted} of {} seats: oversold", wanted / 2),
        format!(
            "{} ({} allocated, {} refused short, {} failed; the lot's in_use {in_use})",
            (in_use as usize).saturating_sub(wanted / 2),
            over.allocated,
            over.short,
            over.failed
        ),
        "-".into(),
        "0",
        Some(in_use as usize <= wanted / 2 && over.allocated <= wanted / 2),
    ));
    Ok(())
}

/// The kinds of item conflicts met held, as a figure says them: " on LOT 900, COUNTERS 200".
fn met_on(met: &[(String, usize)]) -> String {
    if met.is_empty() {
        return String::new();
    }
    let said: Vec<String> = met.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
    format!(" on {}", said.join(", "))
}

/// What recording a login costs: the day's first, written to the user's login item; a later
/// one the same day; and, for the ratio, the user item itself written as a login once was (a
/// licensed learner's user item, in its index entries).
async fn logins(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    step("logins: setting up");
    let env = fresh_env(meter, "login").await?;
    org(&env, "p", "partner", "vendor").await?;
    org(&env, "c", "company", "p").await?;
    lot(&env, "c", 1, "2026-01-15T09:00:00Z").await?;
    learners(&env, "c", 1).await?;
    let body = json!({"emails": [email("c", 0)]});
    ok(&env, "POST", "/v1/orgs/c/allocations", "company_manager", "c", body, "2026-02-01T00:00:00Z").await?;
    let path = format!("/v1/orgs/c/users/{}", email("c", 0));
    let login = |at: &'static str| (json!({"last_login_at": at}), at);
    let mut measured = Vec::new();
    for (body, at) in [login("2026-02-02T08:00:00Z"), login("2026-02-02T17:00:00Z")] {
        meter.take();
        ok(&env, "PUT", &path, "platform", "c", body, at).await?;
        measured.push(meter.take());
    }
    // The earlier shape: the login written on the user item (one plain conditional write of it,
    // over its index entries), as the store wrote it.
    let store = &env.app.store;
    let mut user = store.user("c", &email("c", 0)).await?.ok_or("the learner is gone")?;
    user.last_login_at = Some(at("2026-02-03T08:00:00Z"));
    meter.take();
    store.apply(&[Change::User { user, created: false }], None).await?;
    measured.push(meter.take());
    let (first, later, whole) = (&measured[0], &measured[1], &measured[2]);
    lines.push(line(
        "recorded login (the day's first): consumed WCU",
        format!(
            "{:.1} ({} write request; {:.1} RCU; {})",
            first.wcu(),
            first.write_requests(),
            first.rcu(),
            first.ops()
        ),
        format!(
            "the user item written, as a login was: {:.1} WCU (×{:.1})",
            whole.wcu(),
            whole.wcu() / first.wcu().max(0.1)
        ),
        "≤ 1",
        Some(first.wcu() <= 1.0 && first.write_requests() == 1),
    ));
    lines.push(line(
        "a later login the same day: write requests",
        format!("{} ({:.1} RCU)", later.write_requests(), later.rcu()),
        "-".into(),
        "0",
        Some(later.write_requests() == 0),
    ));
    Ok(())
}

async fn allocation(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    step("single allocation: setting up");
    let env = fresh_env(meter, "alloc").await?;
    org(&env, "p", "partner", "vendor").await?;
    org(&env, "c", "company", "p").await?;
    lot(&env, "c", LATENCY_RUNS + 1, "2026-01-15T09:00:00Z").await?;
    learners(&env, "c", LATENCY_RUNS + 1).await?;
    meter.take();
    let body = json!({"emails": [email("c", LATENCY_RUNS)]});
    ok(&env, "POST", "/v1/orgs/c/allocations", "company_manager", "c", body, "2026-02-01T00:00:00Z").await?;
    let one = meter.take();
    lines.push(line(
        "single allocation: write requests",
        format!("{} ({} requests in all: {})", one.write_requests(), one.total_requests(), one.ops()),
        "floor 1".into(),
        "1",
        Some(one.write_requests() == 1),
    ));
    lines.push(line("single allocation: consumed WCU", format!("{:.1}", one.wcu()), "-".into(), "-", None));
    lines.push(line("single allocation: consumed RCU", format!("{:.1}", one.rcu()), "-".into(), "-", None));
    old_company_allocation(&env, meter, one.rcu(), lines).await?;

    step("allocation latency");
    let mut alloc = Vec::with_capacity(LATENCY_RUNS);
    for i in 0..LATENCY_RUNS {
        let body = json!({"emails": [email("c", i)]}).to_string().into_bytes();
        let started = Instant::now();
        let (status, answer) =
            call(&env, "POST", "/v1/orgs/c/allocations", "company_manager", "c", body, "2026-02-01T00:00:00Z").await;
        alloc.push(started.elapsed());
        if status != 200 {
            return Err(format!("allocation {i}: {status} {answer}").into());
        }
    }
    let mut bare = Vec::with_capacity(LATENCY_RUNS);
    for _ in 0..LATENCY_RUNS {
        let started = Instant::now();
        env.client
            .update_item()
            .table_name(&env.table)
            .key("PK", AttributeValue::S("BENCH".into()))
            .key("SK", AttributeValue::S("BENCH".into()))
            .update_expression("ADD n :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await?;
        bare.push(started.elapsed());
    }
    meter.take();
    alloc.sort();
    bare.sort();
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (a, b) = (percentile(&alloc, p), percentile(&bare, p));
        lines.push(line(
            &format!("allocate latency {name} ({LATENCY_RUNS} sequential)"),
            ms(a),
            format!("bare UpdateItem {} (×{:.1})", ms(b), a.as_secs_f64() / b.as_secs_f64()),
            "-",
            None,
        ));
    }
    Ok(())
}

/// Lots a company ten years old had: one a quarter, all ended.
const EXPIRED_LOTS: usize = 200;

/// The read units of one allocation for a company with [`EXPIRED_LOTS`] ended lots and one live
/// one, against `one_lot` (the same allocation for a company with its one lot, measured just
/// before in the same run): the balance reads what is live.
async fn old_company_allocation(env: &Env, meter: &Meter, one_lot: f64, lines: &mut Vec<Line>) -> Res<()> {
    step("single allocation: a company with 200 ended lots");
    org(env, "old", "company", "p").await?;
    let start = at("1970-01-15T09:00:00Z"); // the last ended in 2020
    for i in 0..EXPIRED_LOTS {
        let assigned = start + chrono::Months::new(3 * i as u32);
        lot(env, "old", 1, &assigned.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).await?;
    }
    lot(env, "old", 2, "2026-01-15T09:00:00Z").await?;
    learners(env, "old", 1).await?;
    meter.take();
    let body = json!({"emails": [email("old", 0)]});
    ok(env, "POST", "/v1/orgs/old/allocations", "company_manager", "old", body, "2026-02-01T00:00:00Z").await?;
    let old = meter.take();
    let ratio = old.rcu() / one_lot;
    lines.push(line(
        &format!("single allocation: consumed RCU with {EXPIRED_LOTS} ended lots + 1 live"),
        format!("{:.1} (×{ratio:.2} of one lot's {one_lot:.1})", old.rcu()),
        "ratio ≤ 1.2".into(),
        "1.2",
        Some(ratio <= 1.2),
    ));
    Ok(())
}

/// An answer `202` names a job the job runner finishes: finish it (as the runner does, in this
/// process) and answer as the job ended; any other answer is returned as it is.
async fn finish_in_background(env: &Env, org: &str, status: u16, answer: Value, now: &str) -> Res<(u16, Value)> {
    if status != 202 || answer["status"] != "committing" {
        return Ok((status, answer));
    }
    let id = answer["import_id"].as_str().or(answer["allocation_id"].as_str()).unwrap_or_default().to_string();
    let done = seatkeeper::imports::jobs::run(&env.app.store, org, &id, at(now)).await?;
    let done = done.ok_or_else(|| format!("job {id} was not running"))?;
    Ok((200, json!({ "status": done.status, "allocated": done.allocated, "import_id": id })))
}

// ---- "Select all" for 10,000 learners -------------------------------------------------------

/// Learners in the large allocation.
const SELECT_ALL: usize = 10_000;

/// One `POST /allocations {"all_expired": true}` for a company of 10,000 learners whose licences
/// have ended: its time, its requests and its capacity per learner.
async fn select_all(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    step("select all: setting up 10000 expired learners");
    let env = fresh_env(meter, "select").await?;
    org(&env, "p", "partner", "vendor").await?;
    org(&env, "c", "company", "p").await?;
    lot(&env, "c", SELECT_ALL, "2026-03-01T09:00:00Z").await?;
    let items = licensed_items(&env.app.store, "c", SELECT_ALL, "2026-02-20T00:00:00Z")?;
    batch_write(&env.client, &env.table, items, SETUP_IN_FLIGHT).await?;
    meter.take();
    step("select all: allocating");
    let started = Instant::now();
    let answer = ok(
        &env,
        "POST",
        "/v1/orgs/c/allocations",
        "company_manager",
        "c",
        json!({"all_expired": true}),
        "2026-03-02T00:00:00Z",
    )
    .await?;
    let (_, answer) = finish_in_background(&env, "c", 202, answer, "2026-03-02T00:00:00Z").await?;
    let took = started.elapsed();
    let used = meter.take();
    if answer["allocated"] != SELECT_ALL {
        return Err(format!("select all allocated {} of {SELECT_ALL}", answer["allocated"]).into());
    }
    lines.push(line(
        &format!("select all, {SELECT_ALL} expired learners: one request (202) + the job runner"),
        format!(
            "{:.1} s ({:.0} learners/s), {} DynamoDB requests ({} writes)",
            took.as_secs_f64(),
            SELECT_ALL as f64 / took.as_secs_f64(),
            used.total_requests(),
            used.write_requests()
        ),
        "-".into(),
        "one request",
        Some(true),
    ));
    lines.push(line(
        "select all: consumed WCU / RCU per learner",
        format!(
            "{:.2} / {:.2} (WCU by operation: {})",
            used.wcu() / SELECT_ALL as f64,
            used.rcu() / SELECT_ALL as f64,
            used.units
                .iter()
                .filter(|(op, _)| meter::WRITES.contains(&op.as_str()))
                .map(|(op, u)| format!("{op} {u:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "-".into(),
        "-",
        None,
    ));
    Ok(())
}

// ---- the time to the first answer of a large allocation --------------------------------------

/// The allocate function is stopped after this long (its `Timeout`, the HTTP API's wait).
const ALLOCATE_TIMEOUT: Duration = Duration::from_secs(29);

/// How long a request waits for the first answer of a large allocation (the `202` that names
/// its job): 10,000 new e-mails with `create_missing`, and "Select all" for 10,000 learners
/// whose licences have ended. The job runner then finishes each (timed apart).
async fn first_answers(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    step("first answer: 10000 new e-mails");
    let env = fresh_env(meter, "first-new").await?;
    org(&env, "p", "partner", "vendor").await?;
    org(&env, "c", "company", "p").await?;
    lot(&env, "c", SELECT_ALL, "2026-03-01T09:00:00Z").await?;
    let emails: Vec<String> = (0..SELECT_ALL).map(|i| email("c", i)).collect();
    let body = json!({"emails": emails, "create_missing": true});
    first_answer(&env, lines, &format!("{SELECT_ALL} new e-mails, create_missing"), body).await?;

    step("first answer: select all of 10000 expired learners");
    let env = fresh_env(meter, "first-select").await?;
    org(&env, "p", "partner", "vendor").await?;
    org(&env, "c", "company", "p").await?;
    lot(&env, "c", SELECT_ALL, "2026-03-01T09:00:00Z").await?;
    let items = licensed_items(&env.app.store, "c", SELECT_ALL, "2026-02-20T00:00:00Z")?;
    batch_write(&env.client, &env.table, items, SETUP_IN_FLIGHT).await?;
    first_answer(&env, lines, &format!("select all, {SELECT_ALL} expired learners"), json!({"all_expired": true})).await
}

/// One large allocation of `body` in company `c`: the time to its first answer, then the job
/// finished as the job runner would, every learner licensed.
async fn first_answer(env: &Env, lines: &mut Vec<Line>, what: &str, body: Value) -> Res<()> {
    let now = "2026-03-02T00:00:00Z";
    let started = Instant::now();
    let (status, answer) =
        call(env, "POST", "/v1/orgs/c/allocations", "company_manager", "c", body.to_string().into_bytes(), now).await;
    let answered = started.elapsed();
    if status >= 300 {
        return Err(format!("{what}: {status} {answer}").into());
    }
    let (_, done) = finish_in_background(env, "c", status, answer, now).await?;
    let job = started.elapsed() - answered;
    if done["allocated"] != SELECT_ALL {
        return Err(format!("{what}: allocated {} of {SELECT_ALL}", done["allocated"]).into());
    }
    lines.push(line(
        &format!("first answer, {what} ({status}); then the job"),
        format!("{:.1} s; the job {:.1} s", answered.as_secs_f64(), job.as_secs_f64()),
        format!("allocate stops at {} s", ALLOCATE_TIMEOUT.as_secs()),
        "a few seconds",
        Some(answered < ALLOCATE_TIMEOUT / 4),
    ));
    Ok(())
}

// ---- the 100k import, its baseline, and the sweep -------------------------------------------

/// Runs in its own process: reviews and commits one CSV through the API and prints its figures.
async fn import_child(table: &str, org_id: &str, file: &Path) -> Res<()> {
    let meter = Meter::default();
    let env = env_on(&meter, table).await;
    let csv = std::fs::read(file)?;
    let (status, review) = call(
        &env,
        "POST",
        &format!("/v1/orgs/{org_id}/imports"),
        "company_manager",
        org_id,
        csv,
        "2026-02-15T00:00:00Z",
    )
    .await;
    if status != 201 {
        return Err(format!("review: {status} {review}").into());
    }
    let id = review["import_id"].as_str().unwrap_or_default().to_string();
    let review_usage = meter.take();
    let started = Instant::now();
    let (status, done) = call(
        &env,
        "POST",
        &format!("/v1/orgs/{org_id}/imports/{id}/confirm"),
        "company_manager",
        org_id,
        vec![],
        "2026-02-15T00:00:00Z",
    )
    .await;
    // A commit this large is answered 202 and finished by the job runner: run it here, as the
    // runner would, so the figures are the whole commit's.
    let (status, done) = finish_in_background(&env, org_id, status, done, "2026-02-15T00:00:00Z").await?;
    let secs = started.elapsed().as_secs_f64();
    if status != 200 {
        return Err(format!("commit: {status} {done}").into());
    }
    let commit = meter.take();
    let peak_kib = peak_rss_kib();
    println!(
        "{}",
        json!({
            "allocated": done["allocated"],
            "commit_secs": secs,
            "commit_wcu": commit.wcu(),
            "commit_write_requests": commit.write_requests(),
            "review_requests": review_usage.total_requests(),
            "peak_rss_kib": peak_kib,
        })
    );
    Ok(())
}

/// This process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status_text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status_text
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs in its own process: one partner file on S3 (`key` in `BUCKET_NAME`, the table
/// `TABLE_NAME`) imported as the deployed functions handle it — the import function's
/// `ObjectCreated` invocation, then (a file too large for one request) the job runner's slices as
/// the stream would deliver them, then the import function's invocation that writes the result
/// file; each invocation timed apart. Prints its figures.
async fn import_child_s3(key: &str) -> Res<()> {
    let app = App::from_env_with_bucket().await?;
    let bucket = app.imports.as_ref().map(|b| b.bucket.clone()).ok_or("BUCKET_NAME is not set")?;
    let now = at("2026-02-15T00:00:00Z");
    let event = seatkeeper_local::s3_event(&bucket, key, Some("bench-million"), None, now);
    let started = Instant::now();
    let records = seatkeeper::imports::s3::handle_s3_event(&app, event).await?;
    let first_secs = started.elapsed().as_secs_f64();
    let mut record = records.into_iter().next().ok_or("no import was handled")?;
    let mut slices = Vec::new();
    while record.background && record.status == seatkeeper::domain::import::ImportStatus::Committing {
        let slice_started = Instant::now();
        let until = Instant::now() + seatkeeper::imports::jobs::SLICE;
        let slice =
            seatkeeper::imports::jobs::run_slice(&app.store, &record.org_id, &record.import_id, now, until).await?;
        slices.push(slice_started.elapsed().as_secs_f64());
        record = match slice.ok_or("the job runner found nothing to do")? {
            seatkeeper::imports::commit::Slice::Paused(r) | seatkeeper::imports::commit::Slice::Done(r) => r,
        };
    }
    let result_started = Instant::now();
    if record.background {
        seatkeeper::imports::s3::write_result_of(&app, &record).await?;
    }
    let result_secs = result_started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "status": record.status,
            "error": record.error,
            "rows": record.summary.rows,
            "allocated": record.allocated,
            "secs": started.elapsed().as_secs_f64(),
            "s3_invocation_secs": first_secs,
            "slice_secs": slices,
            "result_secs": result_secs,
            "peak_rss_kib": peak_rss_kib(),
        })
    );
    Ok(())
}

/// Rows of the S3 import behind `--million`.
const MILLION: usize = 1_000_000;

/// `--million`: a 1,000,000-row partner file on S3 (as many learners, ten lots of 100,000),
/// imported in a process of its own; its peak RSS and rows/s.
async fn million(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    step("million: setting up 1,000,000 learners");
    let env = fresh_env(meter, "million").await?;
    org(&env, "p", "partner", "vendor").await?;
    org(&env, "c", "company", "p").await?;
    for _ in 0..MILLION / 100_000 {
        lot(&env, "c", 100_000, "2026-02-15T00:00:00Z").await?;
    }
    learners(&env, "c", MILLION).await?;
    let mut csv = String::from("email\n");
    for i in 0..MILLION {
        csv.push_str(&email("c", i));
        csv.push('\n');
    }
    let sdk = seatkeeper::app::sdk_config().await;
    let s3 = seatkeeper::app::s3_client(&sdk);
    let bucket = format!("bench-million-{}", Utc::now().timestamp_millis());
    s3.create_bucket().bucket(&bucket).send().await?;
    let key = "imports/c/million.csv";
    s3.put_object().bucket(&bucket).key(key).body(csv.into_bytes().into()).send().await?;
    meter.take();
    step("million: the S3 import in its own process");
    let out = Command::new(std::env::current_exe()?)
        .args(["import-child-s3", key])
        .env("TABLE_NAME", &env.table)
        .env("BUCKET_NAME", &bucket)
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err("the S3 import process failed".into());
    }
    let figures: Value = serde_json::from_slice(&out.stdout)?;
    if figures["status"] != "committed" {
        return Err(format!("the S3 import did not commit: {figures}").into());
    }
    let rows = figures["allocated"].as_f64().unwrap_or(0.0);
    let secs = figures["secs"].as_f64().unwrap_or(f64::NAN);
    lines.push(line(
        "1,000,000-row CSV on S3: review + commit + result file",
        format!("{rows} licensed in {secs:.0} s ({:.0} rows/s)", rows / secs),
        "-".into(),
        "-",
        None,
    ));
    let first = figures["s3_invocation_secs"].as_f64().unwrap_or(f64::NAN);
    let slices: Vec<f64> = figures["slice_secs"].as_array().into_iter().flatten().filter_map(Value::as_f64).collect();
    let result = figures["result_secs"].as_f64().unwrap_or(f64::NAN);
    let longest = slices.iter().copied().chain([first, result]).fold(0.0, f64::max);
    lines.push(line(
        "1,000,000-row CSV on S3: the longest invocation",
        format!(
            "{longest:.0} s (S3 review and reservation {first:.0} s; {} job-runner slices, longest {:.0} s; result file {result:.1} s)",
            slices.len(),
            slices.iter().copied().fold(0.0, f64::max)
        ),
        "849 s in one invocation".into(),
        "≤ 300 s",
        Some(longest <= 300.0),
    ));
    let peak_mib = figures["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0;
    lines.push(line(
        "1,000,000-row CSV on S3: peak RSS of the import process",
        format!("{peak_mib:.1} MiB"),
        "-".into(),
        "≤ 64 MiB",
        Some(peak_mib <= 64.0),
    ));
    Ok(())
}

async fn import_and_sweep(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    step("import: setting up learners");
    let big = fresh_env(meter, "import").await?;
    org(&big, "p", "partner", "vendor").await?;
    org(&big, "c", "company", "p").await?;
    lot(&big, "c", large(), "2026-02-15T00:00:00Z").await?;
    learners(&big, "c", large()).await?;
    let mut csv = String::from("email\n");
    for i in 0..large() {
        csv.push_str(&email("c", i));
        csv.push('\n');
    }
    let file = std::env::temp_dir().join(format!("bench-import-{}.csv", std::process::id()));
    std::fs::write(&file, csv)?;
    step("import: review and commit in its own process");
    let out = Command::new(std::env::current_exe()?)
        .args(["import-child", &big.table, "c", &file.to_string_lossy()])
        .stderr(Stdio::inherit())
        .output()?;
    let _ = std::fs::remove_file(&file);
    if !out.status.success() {
        return Err("the import process failed".into());
    }
    let figures: Value = serde_json::from_slice(&out.stdout)?;
    let rows = figures["allocated"].as_f64().unwrap_or(0.0);
    let secs = figures["commit_secs"].as_f64().unwrap_or(f64::NAN);
    let import_rate = rows / secs;

    // The raw baseline: the same 100k licence items, plain BatchWriteItem, same requests in flight.
    step("import: raw BatchWriteItem baseline");
    let raw = fresh_env(meter, "raw").await?;
    let items = licensed_items(&raw.app.store, "c", large(), "2027-02-15T00:00:00Z")?;
    meter.take();
    let started = Instant::now();
    batch_write(&raw.client, &raw.table, items, seatkeeper::imports::commit::WRITES_IN_FLIGHT).await?;
    let raw_secs = started.elapsed().as_secs_f64();
    let raw_usage = meter.take();
    let raw_rate = large() as f64 / raw_secs;
    // The floor of one conditional write per row: the same items, one conditional PutItem each,
    // the same requests in flight. A row's write must hold its user's version, and
    // BatchWriteItem takes no condition.
    step("import: raw conditional PutItem baseline");
    let single = fresh_env(meter, "single").await?;
    let items = licensed_items(&single.app.store, "c", large(), "2027-02-15T00:00:00Z")?;
    let started = Instant::now();
    conditional_puts(&single.client, &single.table, items, seatkeeper::imports::commit::WRITES_IN_FLIGHT).await?;
    let single_rate = large() as f64 / started.elapsed().as_secs_f64();
    meter.take();
    lines.push(line(
        "raw conditional PutItem of the same items (the floor of a write per row)",
        format!("{single_rate:.0} rows/s (×{:.2} raw BatchWriteItem)", single_rate / raw_rate),
        format!("the import ×{:.2} of it", import_rate / single_rate),
        "-",
        None,
    ));
    lines.push(line(
        &format!("{}-row CSV import commit: rows/s", large()),
        format!("{import_rate:.0} ({rows} rows in {secs:.1} s)"),
        format!("raw BatchWriteItem {raw_rate:.0} rows/s (×{:.2})", import_rate / raw_rate),
        "≥ 0.8× raw",
        Some(import_rate >= 0.8 * raw_rate),
    ));
    let wcu_per_row = figures["commit_wcu"].as_f64().unwrap_or(0.0) / rows.max(1.0);
    lines.push(line(
        "import commit: consumed WCU per licensed row",
        format!("{wcu_per_row:.2}"),
        format!("raw BatchWriteItem {:.2}", raw_usage.wcu() / large() as f64),
        "≤ 3.0",
        Some(wcu_per_row <= 3.0 + 0.005),
    ));
    let peak_mib = figures["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0;
    lines.push(line(
        "import process: peak RSS (review + commit)",
        format!("{peak_mib:.1} MiB"),
        "-".into(),
        "≤ 64 MiB",
        Some(peak_mib <= 64.0),
    ));

    // The sweep: 100 licences due among 1,000 and among 100,000 not due.
    step("expire sweep");
    let small = fresh_env(meter, "sweep").await?;
    org(&small, "p", "partner", "vendor").await?;
    let items = licensed_items(&small.app.store, "c", NOT_DUE_SMALL, "2027-02-15T00:00:00Z")?;
    batch_write(&small.client, &small.table, items, SETUP_IN_FLIGHT).await?;
    let mut sweeps = Vec::new();
    for (env, not_due) in [(&small, NOT_DUE_SMALL), (&big, large())] {
        org(env, "due", "company", "p").await?;
        lot(env, "due", DUE, "2026-01-10T00:00:00Z").await?;
        learners(env, "due", DUE).await?;
        for chunk in (0..DUE).collect::<Vec<_>>().chunks(50) {
            let emails: Vec<String> = chunk.iter().map(|i| email("due", *i)).collect();
            let body = json!({"emails": emails});
            ok(env, "POST", "/v1/orgs/due/allocations", "company_manager", "due", body, "2026-02-01T00:00:00Z").await?;
        }
        meter.take();
        let report = seatkeeper::sweeps::expire::expire(&env.app, at("2027-01-10T01:00:00Z")).await?;
        let usage = meter.take();
        sweeps.push((not_due, report, usage));
    }
    let [(_, r1, u1), (_, r2, u2)] = [&sweeps[0], &sweeps[1]];
    let ratio = r2.items_read as f64 / r1.items_read.max(1) as f64;
    for (not_due, r, u) in &sweeps {
        lines.push(line(
            &format!("expire sweep, {DUE} due among {not_due} not due"),
            format!("{} index items read, {:.1} RCU, {} licences expired", r.items_read, u.rcu(), r.licences_expired),
            "-".into(),
            "-",
            None,
        ));
    }
    lines.push(line(
        "expire sweep read ratio (100k / 1k not due)",
        format!("{ratio:.2} items, {:.2} RCU", u2.rcu() / u1.rcu().max(f64::MIN_POSITIVE)),
        "-".into(),
        "≤ 1.2",
        Some(ratio <= 1.2 && r1.licences_expired == DUE && r2.licences_expired == DUE),
    ));
    Ok(())
}

// ---- the expire sweep over a licence's life ---------------------------------------------------

/// Companies of the sweep's life, one per end: their licences end 4 hours apart, over 96 hours.
const LIFE_ORGS: usize = 24;
/// Licences of each.
const LIFE_EACH: usize = 40;
/// How far ahead the sweep reads: the first licence ends this long after the first sweep, so
/// each is swept over its whole approach.
const AHEAD: i64 = seatkeeper::domain::expiry::DUE_AHEAD_HOURS;

/// `--only sweep-life`: 960 licences whose ends are spread over 96 hours, the expire sweep run
/// every hour from before the first comes within its reach until after the last has ended; the
/// index items it read in all, per licence (what a licence costs the sweep over its life).
async fn sweep_life(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    step("sweep life: 24 companies, their licences ending 4 hours apart");
    let env = fresh_env(meter, "sweeplife").await?;
    org(&env, "p", "partner", "vendor").await?;
    let t0 = at("2027-01-01T00:00:00Z");
    for h in 0..LIFE_ORGS {
        let name = format!("l{h}");
        org(&env, &name, "company", "p").await?;
        // A lot assigned a year before its end lasts the year (the default term).
        let end = t0 + chrono::Duration::hours(AHEAD + 1 + 4 * h as i64);
        let assigned = (end - chrono::Months::new(12)).to_rfc3339();
        lot(&env, &name, LIFE_EACH, &assigned).await?;
        learners(&env, &name, LIFE_EACH).await?;
        let emails: Vec<String> = (0..LIFE_EACH).map(|i| email(&name, i)).collect();
        let body = json!({"emails": emails});
        ok(&env, "POST", &format!("/v1/orgs/{name}/allocations"), "company_manager", &name, body, &assigned).await?;
    }
    meter.take();
    step("sweep life: every hour from 72 hours before the first end to after the last");
    let (mut read, mut expired, mut longest, mut days, mut lots) = (0, 0, 0, 0, 0);
    let last = AHEAD + 1 + 4 * LIFE_ORGS as i64;
    for hour in 0..=last {
        let report = seatkeeper::sweeps::expire::expire(&env.app, t0 + chrono::Duration::hours(hour)).await?;
        read += report.items_read;
        days += report.days_read;
        lots += report.lots_expired;
        expired += report.licences_expired;
        longest = longest.max(report.items_read);
        if !report.failed.is_empty() {
            return Err(format!("the sweep failed: {:?}", report.failed).into());
        }
    }
    let usage = meter.take();
    let licences = LIFE_ORGS * LIFE_EACH;
    // Lots are stored as parts (each an item of the index), counted as each is expired.
    let per = (read - days) as f64 / (licences + lots) as f64;
    lines.push(line(
        "expire sweep, hourly: index items read per licence or lot over its life",
        format!(
            "{per:.2} ({} items for {licences} licences and {lots} lot parts, and {days} reads of their {LIFE_ORGS} days of expiries, one per notice; {:.0} RCU over {} sweeps; the most in one sweep {longest}; {expired} expired)",
            read - days,
            usage.rcu(),
            last + 1
        ),
        "before: 74.8 (71,832 items read)".into(),
        "≤ 2",
        Some(per <= 2.0 && expired == licences),
    ));
    Ok(())
}

/// `--only sweep-scale`: [`sweeps::sweep_hour`] and [`sweeps::sweep_at_once`].
async fn sweep_scale(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    sweeps::sweep_hour(meter, lines).await?;
    sweeps::sweep_at_once(meter, lines).await
}

// ---- hostile workbooks ------------------------------------------------------------------------

/// Runs in its own process: one workbook (FILE) sent through the API and, already in the bucket
/// under KEY, handed over as S3's event — as the import function takes each; prints both
/// answers and the process's peak RSS.
async fn import_child_xlsx(file: &Path, key: &str) -> Res<()> {
    let app = App::from_env_with_bucket().await?;
    let bucket = app.imports.as_ref().map(|b| b.bucket.clone()).ok_or("BUCKET_NAME is not set")?;
    let table = std::env::var("TABLE_NAME")?;
    let env = Env { client: app.store.client.clone(), table, app };
    let book = std::fs::read(file)?;
    let now = "2026-02-15T00:00:00Z";
    let (status, answer) = call(&env, "POST", "/v1/orgs/c/imports", "company_manager", "c", book, now).await;
    let event = seatkeeper_local::s3_event(&bucket, key, Some("bench-hostile"), None, at(now));
    let records = seatkeeper::imports::s3::handle_s3_event(&env.app, event).await?;
    let record = records.first().ok_or("no import was handled")?;
    println!(
        "{}",
        json!({
            "api_status": status,
            "api_code": answer["error"]["code"],
            "api_message": answer["error"]["message"],
            "s3_status": record.status,
            "s3_error": record.error,
            "peak_rss_kib": peak_rss_kib(),
        })
    );
    Ok(())
}

/// Every workbook of the hostile corpus (and a plain one, the baseline) imported through the API
/// and on S3, each in a process of its own: each must be refused with its sentence, and the
/// worst peak RSS is the figure.
async fn hostile_workbooks(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    step("hostile workbooks: building the corpus");
    let env = fresh_env(meter, "hostile").await?;
    org(&env, "p", "partner", "vendor").await?;
    org(&env, "c", "company", "p").await?;
    lot(&env, "c", 5, "2026-02-15T00:00:00Z").await?;
    let sdk = seatkeeper::app::sdk_config().await;
    let s3 = seatkeeper::app::s3_client(&sdk);
    let bucket = format!("bench-hostile-{}", Utc::now().timestamp_millis());
    s3.create_bucket().bucket(&bucket).send().await?;
    let plain = hostile_xlsx::Book::new(&["ann@c.example"]).zip();
    // Each workbook, and the status, code and words of the refusal it must get (none: imported).
    type Expected = Option<(u16, &'static str, &'static str)>;
    let mut cases: Vec<(String, Vec<u8>, Expected)> = vec![("a plain workbook".into(), plain, None)];
    for case in hostile_xlsx::corpus() {
        cases.push((case.name.into(), case.bytes, Some((case.status, case.code, case.says))));
    }
    let count = cases.len() - 1;
    let mut figures = Vec::new();
    for (i, (name, bytes, expected)) in cases.into_iter().enumerate() {
        step(&format!("hostile workbooks: {name}"));
        let key = format!("imports/c/hostile-{i}.xlsx");
        s3.put_object().bucket(&bucket).key(&key).body(bytes.clone().into()).send().await?;
        let file = std::env::temp_dir().join(format!("bench-hostile-{}-{i}.xlsx", std::process::id()));
        std::fs::write(&file, &bytes)?;
        let out = Command::new(std::env::current_exe()?)
            .args(["import-child-xlsx", &file.to_string_lossy(), &key])
            .env("TABLE_NAME", &env.table)
            .env("BUCKET_NAME", &bucket)
            .stderr(Stdio::inherit())
            .output()?;
        let _ = std::fs::remove_file(&file);
        if !out.status.success() {
            return Err(format!("the import process stopped on {name}: {}", out.status).into());
        }
        let got: Value = serde_json::from_slice(&out.stdout)?;
        let answered = match expected {
            None => got["api_status"] == 201 && got["s3_status"] == "committed",
            Some((status, code, says)) => {
                got["api_status"] == status
                    && got["api_code"] == code
                    && got["api_message"].as_str().is_some_and(|m| m.contains(says))
                    && got["s3_status"] == "failed"
                    && got["s3_error"].as_str().is_some_and(|m| m.contains(says))
            }
        };
        if !answered {
            return Err(format!("{name} was not answered as expected: {got}").into());
        }
        let peak = got["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0;
        let answer = got["api_message"].as_str().unwrap_or("imported");
        step(&format!("hostile workbooks: {name}: {peak:.1} MiB; {} {answer}", got["api_status"]));
        figures.push((name, peak));
    }
    let (baseline, hostile) = figures.split_first().ok_or("no workbook was imported")?;
    let (worst, peak) = hostile.iter().max_by(|a, b| a.1.total_cmp(&b.1)).ok_or("no hostile workbook")?;
    lines.push(line(
        &format!("{count} hostile workbooks, API + S3: peak RSS of the import process, the worst"),
        format!("{peak:.1} MiB ({worst}); every one refused with its sentence"),
        format!("{} {:.1} MiB", baseline.0, baseline.1),
        // The file, 64 MiB of shared strings at most and their offsets: far under the 1,024 MB
        // the import function is given.
        "≤ 128 MiB",
        Some(*peak <= 128.0),
    ));
    Ok(())
}

// ---- usage report ---------------------------------------------------------------------------

async fn usage_report(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    step("usage report: setting up 100 children");
    let env = fresh_env(meter, "usage").await?;
    org(&env, "p", "partner", "vendor").await?;
    for i in 0..100 {
        org(&env, &format!("c{i:03}"), "company", "p").await?;
    }
    for i in (0..100).step_by(10) {
        let c = format!("c{i:03}");
        lot(&env, &c, 5, "2026-01-15T00:00:00Z").await?;
        learners(&env, &c, 3).await?;
        let body = json!({"emails": (0..3).map(|j| email(&c, j)).collect::<Vec<_>>()});
        ok(&env, "POST", &format!("/v1/orgs/{c}/allocations"), "company_manager", &c, body, "2026-02-01T00:00:00Z")
            .await?;
    }
    meter.take();
    let report =
        ok(&env, "GET", "/v1/orgs/p/usage", "partner_manager", "p", Value::Null, "2026-03-01T00:00:00Z").await?;
    let u = meter.take();
    let children = report["children"].as_array().map(Vec::len).unwrap_or(0);
    lines.push(line(
        "usage report, org with 100 children: requests",
        format!("{} ({}; {children} child rows, total used {})", u.total_requests(), u.ops(), report["total"]["used"]),
        "-".into(),
        "≤ 3",
        Some(u.total_requests() <= 3 && children == 100),
    ));
    lines.push(line("usage report, org with 100 children: RCU", format!("{:.1}", u.rcu()), "-".into(), "-", None));
    Ok(())
}

// ---- release binaries -----------------------------------------------------------------------

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn functions(root: &Path) -> Res<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("functions"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Time from spawning `binary` to its first poll of a Lambda runtime API stub on loopback.
fn first_poll(binary: &Path) -> Res<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("TABLE_NAME", "bench")
        .env("BUCKET_NAME", "bench")
        .env("EVENT_BUS_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    listener.set_nonblocking(false)?;
    let (mut socket, _) = listener.accept()?;
    let mut buf = [0u8; 512];
    let n = socket.read(&mut buf)?;
    let elapsed = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    let request = String::from_utf8_lossy(&buf[..n]);
    if !request.contains("/runtime/invocation/next") {
        return Err(format!("unexpected first request: {request}").into());
    }
    let _ = socket.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
    Ok(elapsed)
}

fn binaries(skip_build: bool, lines: &mut Vec<Line>) -> Res<()> {
    let root = workspace_root();
    let names = functions(&root)?;
    step("release binaries");
    if !skip_build {
        let started = Instant::now();
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo.current_dir(&root).args(["build", "--release", "--bins"]);
        for name in &names {
            cargo.args(["-p", name]);
        }
        if !cargo.status()?.success() {
            return Err("the release build failed".into());
        }
        eprintln!("release build of {} functions: {:.0} s", names.len(), started.elapsed().as_secs_f64());
    }
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    // In MB (10^6 bytes), the goal's unit.
    const GOAL: u64 = 6_000_000;
    let mut sizes = Vec::new();
    for name in &names {
        let path = target.join("release").join(name);
        let size = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?.len();
        sizes.push((size, name.as_str()));
    }
    let within = sizes.iter().filter(|(size, _)| *size <= GOAL).count();
    let (largest, largest_name) = sizes.iter().max().copied().unwrap_or((0, "-"));
    lines.push(line(
        "bootstrap size, stripped (MB)",
        format!("largest {:.2} ({largest_name}); {within} of {} within the goal", largest as f64 / 1e6, sizes.len()),
        sizes.iter().map(|(size, name)| format!("{name} {:.2}", *size as f64 / 1e6)).collect::<Vec<_>>().join(", "),
        "≤ 6 MB each",
        Some(within == sizes.len()),
    ));
    // usage-report, as measured since the start; and the largest bootstrap, the slowest to load.
    let mut timed = vec!["usage-report"];
    if largest_name != "usage-report" {
        timed.push(largest_name);
    }
    for name in timed {
        let binary = target.join("release").join(name);
        let mut polls: Vec<Duration> = (0..5).map(|_| first_poll(&binary)).collect::<Res<_>>()?;
        polls.sort();
        let what = format!("start to first runtime-API poll ({name}, median of 5)");
        lines.push(line(&what, ms(polls[2]), "-".into(), "-", None));
    }
    Ok(())
}

fn print(lines: &[Line]) {
    let w0 = lines.iter().map(|l| l.what.chars().count()).max().unwrap_or(0);
    let w1 = lines.iter().map(|l| l.figure.chars().count()).max().unwrap_or(0);
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    println!("| {} | {} | goal | met | baseline in the same run |", pad("measure", w0), pad("figure", w1));
    println!("|{}|{}|---|---|---|", "-".repeat(w0 + 2), "-".repeat(w1 + 2));
    for l in lines {
        let met = match l.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!("| {} | {} | {} | {met} | {} |", pad(&l.what, w0), pad(&l.figure, w1), l.goal, l.baseline);
    }
}

/// `--only PART`: one part of the benchmark alone (`hostile-xlsx`, `first-answer`, `select-all`,
/// `allocation`: the single allocation and its latency; `binaries`: the bootstrap sizes and their
/// start, built unless `--skip-build`).
async fn run_only(part: &str, skip_build: bool, meter: &Meter) -> Res<()> {
    let mut lines = Vec::new();
    let (ran, what) = match part {
        "hostile-xlsx" => (hostile_workbooks(meter, &mut lines).await, "hostile workbooks"),
        "first-answer" => (first_answers(meter, &mut lines).await, "first answers"),
        "select-all" => (select_all(meter, &mut lines).await, "select all"),
        "allocation" => (allocation(meter, &mut lines).await, "single allocation"),
        "login" => (logins(meter, &mut lines).await, "login"),
        "one-company" => (one_company(meter, &mut lines).await, "one company at the start of term"),
        "binaries" => (binaries(skip_build, &mut lines), "bootstrap binaries"),
        "million" => (million(meter, &mut lines).await, "1,000,000-row S3 import"),
        "sweep-life" => (sweep_life(meter, &mut lines).await, "the expire sweep over a licence's life"),
        "sweep-scale" => (sweep_scale(meter, &mut lines).await, "the expire sweep at scale"),
        "enrolments" => (tenants::enrolments(meter, &mut lines).await, "enrolments"),
        "erasure" => (tenants::erasure(meter, &mut lines, large()).await, "erasing a user"),
        other => {
            return Err(format!(
            "--only takes hostile-xlsx, first-answer, select-all, allocation, login, one-company, binaries, million, \
                 sweep-life, sweep-scale, enrolments or erasure, \
                 not {other:?}"
        )
            .into())
        }
    };
    if let Err(e) = ran {
        lines.push(line(what, format!("FAILED: {e}"), "-".into(), "-", Some(false)));
    }
    println!("Seatkeeper benchmark ({what} only), {} UTC, DynamoDB Local", Utc::now().format("%Y-%m-%d %H:%M"));
    print(&lines);
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err() {
        return Err("AWS_ENDPOINT_URL_DYNAMODB must point at DynamoDB Local: run `make bench`".into());
    }
    if args.first().map(String::as_str) == Some("import-child") {
        if args.iter().any(|a| a == "--quick") {
            let _ = LARGE.set(10_000);
        }
        let [_, table, org, file, ..] = args.as_slice() else { return Err("import-child TABLE ORG FILE".into()) };
        return import_child(table, org, Path::new(file)).await;
    }
    if args.first().map(String::as_str) == Some("import-child-xlsx") {
        let [_, file, key, ..] = args.as_slice() else { return Err("import-child-xlsx FILE KEY".into()) };
        return import_child_xlsx(Path::new(file), key).await;
    }
    if args.first().map(String::as_str) == Some("sweep-child") {
        let [_, table, end, ..] = args.as_slice() else { return Err("sweep-child TABLE END".into()) };
        return sweeps::sweep_child(table, end).await;
    }
    if args.first().map(String::as_str) == Some("import-child-s3") {
        let [_, key, ..] = args.as_slice() else { return Err("import-child-s3 KEY".into()) };
        return import_child_s3(key).await;
    }
    let skip_build = args.iter().any(|a| a == "--skip-build");
    if args.iter().any(|a| a == "--quick") {
        let _ = LARGE.set(10_000);
    }
    let meter = Meter::default();
    let mut lines = Vec::new();
    let started = Instant::now();
    // A part that fails is reported in its row; the others still run.
    let failed = |lines: &mut Vec<Line>, part: &str, e: Box<dyn std::error::Error + Send + Sync>| {
        lines.push(line(part, format!("FAILED: {e}"), "-".into(), "-", Some(false)));
    };
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).map(String::as_str);
    if let Some(part) = only {
        return run_only(part, skip_build, &meter).await;
    }
    if let Err(e) = allocation(&meter, &mut lines).await {
        failed(&mut lines, "single allocation", e);
    }
    if let Err(e) = logins(&meter, &mut lines).await {
        failed(&mut lines, "login", e);
    }
    if let Err(e) = one_company(&meter, &mut lines).await {
        failed(&mut lines, "one company at the start of term", e);
    }
    if let Err(e) = select_all(&meter, &mut lines).await {
        failed(&mut lines, "select all", e);
    }
    if let Err(e) = first_answers(&meter, &mut lines).await {
        failed(&mut lines, "first answer of a large allocation", e);
    }
    if let Err(e) = usage_report(&meter, &mut lines).await {
        failed(&mut lines, "usage report", e);
    }
    if let Err(e) = import_and_sweep(&meter, &mut lines).await {
        failed(&mut lines, "import and sweep", e);
    }
    if let Err(e) = sweep_life(&meter, &mut lines).await {
        failed(&mut lines, "the expire sweep over a licence's life", e);
    }
    if let Err(e) = sweep_scale(&meter, &mut lines).await {
        failed(&mut lines, "the expire sweep at scale", e);
    }
    if let Err(e) = tenants::enrolments(&meter, &mut lines).await {
        failed(&mut lines, "enrolments", e);
    }
    if let Err(e) = tenants::erasure(&meter, &mut lines, large()).await {
        failed(&mut lines, "erasing a user", e);
    }
    if let Err(e) = hostile_workbooks(&meter, &mut lines).await {
        failed(&mut lines, "hostile workbooks", e);
    }
    if args.iter().any(|a| a == "--million") {
        if let Err(e) = million(&meter, &mut lines).await {
            failed(&mut lines, "1,000,000-row S3 import", e);
        }
    }
    if let Err(e) = binaries(skip_build, &mut lines) {
        failed(&mut lines, "release binaries", e);
    }
    println!("Seatkeeper benchmark, {} UTC, DynamoDB Local", Utc::now().format("%Y-%m-%d %H:%M"));
    print(&lines);
    println!("({:.0} s in all)", started.elapsed().as_secs_f64());
    Ok(())
}
