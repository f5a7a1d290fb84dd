//! What a company's everyday enrolment work and the erasure of a user cost: an enrolment's
//! writes with the index of enrolments by their id (each write one more index entry), a bulk
//! expiry change, and erasing one user of a company with a long audit history — the job reads
//! the company's whole history by key prefix (no index by e-mail), so its reads grow with it.

use std::time::Instant;

use serde_json::json;

use super::{batch_write, email, fresh_env, learners, line, lot, ok, org, step, Line, Meter, Res, SETUP_IN_FLIGHT};
use seatkeeper::store::{keys, to_item};

/// Learners in the bulk change: each with one enrolment (an enrolment and its learner are two
/// writes of the one transaction).
const BULK: usize = 40;

/// Enrolments of the user erased.
const ERASED_ENROLMENTS: usize = 20;

/// One audit entry in this many of the synthetic history names the user erased.
const NAMING_ONE_IN: usize = 100;

/// An enrolment's first write, a later change of it, and one bulk expiry change of [`BULK`].
pub async fn enrolments(meter: &Meter, lines: &mut Vec<Line>) -> Res<()> {
    step("enrolments: setting up");
    let env = fresh_env(meter, "enrol").await?;
    org(&env, "p", "partner", "vendor").await?;
    org(&env, "c", "company", "p").await?;
    lot(&env, "c", BULK, "2026-01-15T09:00:00Z").await?;
    learners(&env, "c", BULK).await?;
    let emails: Vec<String> = (0..BULK).map(|i| email("c", i)).collect();
    let body = json!({"emails": emails});
    ok(&env, "POST", "/v1/orgs/c/allocations", "company_manager", "c", body, "2026-02-01T00:00:00Z").await?;
    let enrol = |i: usize, body: serde_json::Value| {
        let (env, path) = (&env, format!("/v1/orgs/c/users/{}/enrolments/course", email("c", i)));
        async move { ok(env, "PUT", &path, "platform", "c", body, "2026-02-02T08:00:00Z").await }
    };
    meter.take();
    enrol(0, json!({"status": "active"})).await?;
    let first = meter.take();
    enrol(0, json!({"status": "active", "ends_at": "2026-09-01T00:00:00Z"})).await?;
    let later = meter.take();
    for i in 1..BULK {
        enrol(i, json!({"status": "active"})).await?;
    }
    let items: Vec<_> = emails.iter().map(|e| json!({"email": e, "enrolment_id": "course"})).collect();
    let body = json!({"items": items, "ends_at": "2026-10-01T00:00:00Z"});
    meter.take();
    ok(&env, "POST", "/v1/orgs/c/enrolments/bulk", "company_manager", "c", body, "2026-02-03T08:00:00Z").await?;
    let bulk = meter.take();
    let usage = |u: &super::meter::Usage| {
        let items = u.transact_items;
        format!("{items} items in one transaction, {:.1} WCU reported, {:.1} RCU ({})", u.wcu(), u.rcu(), u.ops())
    };
    lines.push(line("an enrolment's first write (its learner licensed)", usage(&first), "-".into(), "-", None));
    lines.push(line("a later change of the enrolment (its end)", usage(&later), "-".into(), "-", None));
    lines.push(line(
        &format!("set expiry date on {BULK} enrolments of {BULK} learners, one bulk"),
        format!("{} — {:.2} items an enrolment", usage(&bulk), bulk.transact_items as f64 / BULK as f64),
        format!("{BULK} changes one at a time: {} items", later.transact_items * BULK),
        "-",
        None,
    ));
    Ok(())
}

/// Erasing one released user with [`ERASED_ENROLMENTS`] enrolments from a company whose audit
/// history holds `history` entries (one in [`NAMING_ONE_IN`] naming the user): the request, then
/// the job to its end.
pub async fn erasure(meter: &Meter, lines: &mut Vec<Line>, history: usize) -> Res<()> {
    step("erasure: setting up");
    let env = fresh_env(meter, "erase").await?;
    org(&env, "p", "partner", "vendor").await?;
    org(&env, "c", "company", "p").await?;
    lot(&env, "c", 1, "2026-01-15T09:00:00Z").await?;
    learners(&env, "c", 1).await?;
    let ann = email("c", 0);
    let body = json!({"emails": [ann]});
    ok(&env, "POST", "/v1/orgs/c/allocations", "company_manager", "c", body, "2026-02-01T00:00:00Z").await?;
    for run in 0..ERASED_ENROLMENTS {
        let path = format!("/v1/orgs/c/users/{ann}/enrolments/run{run:02}");
        ok(&env, "PUT", &path, "platform", "c", json!({"status": "active"}), "2026-02-02T08:00:00Z").await?;
    }
    bodiless(&env, "DELETE", &format!("/v1/orgs/c/users/{ann}"), "2026-03-01T00:00:00Z").await?;
    step(&format!("erasure: writing a history of {history} audit entries"));
    let base = super::at("2026-02-01T00:00:00Z");
    let entries = (0..history)
        .map(|i| {
            let at = base + chrono::Duration::seconds(i as i64);
            let subject =
                if i % NAMING_ONE_IN == 0 { format!("user/{ann}") } else { format!("user/{}", email("c", i + 1)) };
            let entry = json!({"at": at, "org_id": "c", "actor": "cm@c.example", "action": "user.updated",
                "subject": subject, "details": {"role": "learner"}});
            let keys = [("PK", keys::org("c")), ("SK", keys::audit_sk(at, &format!("aud_{i:08}")))];
            to_item("audit", &entry, &keys)
        })
        .collect::<Result<Vec<_>, _>>()?;
    batch_write(&env.client, &env.table, entries, SETUP_IN_FLIGHT).await?;

    step("erasure: the request and the job");
    meter.take();
    let target = format!("/v1/orgs/c/users/{ann}/erase");
    let erased = bodiless(&env, "POST", &target, "2026-03-01T01:00:00Z").await?;
    let request = meter.take();
    let pseudonym = erased["pseudonym"].as_str().ok_or("no pseudonym in the answer")?;
    let began = Instant::now();
    let done = env.app.store.finish_erasure("c", pseudonym, super::at("2026-03-01T01:00:00Z")).await?;
    let (seconds, job) = (began.elapsed().as_secs_f64(), meter.take());
    let done = done.ok_or("the erasure is gone")?;
    lines.push(line(
        "erasing a user: the request (user moved, record, audit)",
        format!("{:.1} WCU, {:.1} RCU ({})", request.wcu(), request.rcu(), request.ops()),
        "-".into(),
        "-",
        None,
    ));
    lines.push(line(
        &format!("erasing a user: the job, {ERASED_ENROLMENTS} enrolments and {history} audit entries"),
        format!(
            "{seconds:.1} s, {:.0} RCU, {:.0} WCU ({}; {} handovers; {:.1} RCU per 10,000 entries)",
            job.rcu(),
            job.wcu(),
            job.ops(),
            done.handovers,
            job.rcu() * 10_000.0 / history.max(1) as f64
        ),
        "-".into(),
        "-",
        Some(done.email.is_none()),
    ));
    Ok(())
}

/// A request without a body, as company c's manager; its answer, or what went wrong.
async fn bodiless(env: &super::Env, method: &str, target: &str, now: &str) -> Res<serde_json::Value> {
    let (status, answer) = super::call(env, method, target, "company_manager", "c", Vec::new(), now).await;
    if status >= 300 {
        return Err(format!("{method} {target}: {status} {answer}").into());
    }
    Ok(answer)
}
