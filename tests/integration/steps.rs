//! Decisions larger than one transaction, applied in steps behind a plan (docs/architecture.md#steps):
//! a learner with 500 live enrolments released ends its access at once and every enrolment in
//! steps; one cut off between two steps is finished by the lease sweep (or by the next change of
//! the learner's enrolments), and no step applies twice.

use seatkeeper::domain::enrolment::{Enrolment, EnrolmentStatus};
use seatkeeper::imports::leases;
use seatkeeper::store::steps::Plan;
use seatkeeper_tests::{at, cm, platform, Item, TestEnv};
use serde_json::json;

const LICENSED: &str = "2026-02-01T00:00:00Z";
const RELEASED: &str = "2026-03-01T10:00:00Z";

/// Company `c` with learner `big@c.example`, licensed, and `runs` live enrolments written
/// straight to the table.
async fn learner_with_enrolments(env: &TestEnv, runs: usize) {
    env.company_with_lot(10).await;
    env.licensed("c", &["big@c.example"], LICENSED).await;
    let items: Vec<Item> = (0..runs)
        .map(|i| {
            let e = Enrolment {
                enrolment_id: format!("run{i:03}"),
                email: "big@c.example".into(),
                org_id: "c".into(),
                status: EnrolmentStatus::Active,
                starts_at: Some(at(LICENSED)),
                ends_at: Some(at("2027-06-01T00:00:00Z")),
                updated_at: at(LICENSED),
                refused_from: None,
                activated_at: Some(at(LICENSED)),
            };
            env.app.store.put_enrolment(&e).unwrap().put.unwrap().item
        })
        .collect();
    env.write_items(items).await;
}

/// The learner's enrolments by status: (expired, live).
async fn enrolment_states(env: &TestEnv) -> (usize, usize) {
    let all = env.app.store.enrolments("c", "big@c.example").await.unwrap();
    let expired = all.iter().filter(|e| e.status == EnrolmentStatus::Expired).count();
    (expired, all.len() - expired)
}

/// The learner's plans of steps, as stored.
async fn plans(env: &TestEnv) -> Vec<(Plan, Item)> {
    env.partition("ORG#c")
        .await
        .into_iter()
        .filter(|i| i.get("type").and_then(|t| t.as_s().ok()).is_some_and(|t| t == "steps"))
        .map(|i| (seatkeeper::store::from_item(i.clone()).unwrap(), i))
        .collect()
}

/// The learner released through a table that fails every transaction after the first `steps`:
/// the request is cut off there and fails.
async fn release_cut_after(env: &TestEnv, steps: usize) {
    let (dying, _log) = TestEnv::failing_after(env, "TransactWriteItems", steps).await;
    let cut = dying.call("DELETE", "/v1/orgs/c/users/big@c.example").by(&cm("c")).at(RELEASED).send().await;
    assert!(cut.status >= 500, "{:?}", cut.body);
}

/// Release of a learner with 500 live enrolments (issue: it answered 500 and changed nothing):
/// access ends with the first step, every enrolment is expired once, and the plan that carried
/// the rest is finished — out of the lease index, expiring a week on.
#[tokio::test]
async fn releasing_a_learner_with_500_live_enrolments_ends_every_one_in_steps() {
    let env = TestEnv::new().await;
    learner_with_enrolments(&env, 500).await;
    let released = env.call("DELETE", "/v1/orgs/c/users/big@c.example").by(&cm("c")).at(RELEASED).send().await;
    assert_eq!(released.status, 200, "{:?}", released.body);
    assert_eq!(released.body["licence"]["status"], "released", "{:?}", released.body);
    assert_eq!(enrolment_states(&env).await, (500, 0));
    let access = env.access("c", "big@c.example", RELEASED).await;
    assert_eq!(access["access"], false);
    let stored = plans(&env).await;
    let [(plan, item)] = stored.as_slice() else { panic!("one plan: {stored:?}") };
    assert!(plan.finished() && plan.step > 2, "{plan:?}");
    assert!(!item.contains_key("GSI2PK"), "a finished plan leaves the lease index");
    let week = (at(RELEASED) + chrono::Duration::days(7)).timestamp().to_string();
    assert_eq!(item.get("expires_at").map(|v| v.as_n().unwrap().clone()), Some(week));
    let audit = env.get("/v1/orgs/c/audit").by(&cm("c")).at(RELEASED).send().await;
    let releases = audit.body["items"].as_array().unwrap().iter().filter(|a| a["action"] == "user.released").count();
    assert_eq!(releases, 1, "one audit entry for the one command");
}

/// A release cut off after its first two steps: access has ended, the rest of the enrolments
/// wait under a plan with a lease. The lease sweep leaves it while the lease holds, finishes it
/// once it has passed, and a stale attempt at a step already applied writes nothing.
#[tokio::test]
async fn a_release_cut_off_between_steps_is_finished_by_the_lease_sweep_and_no_step_applies_twice() {
    let env = TestEnv::new().await;
    learner_with_enrolments(&env, 500).await;
    release_cut_after(&env, 2).await;
    assert_eq!(env.access("c", "big@c.example", RELEASED).await["access"], false, "access ended with step 1");
    let (expired, live) = enrolment_states(&env).await;
    assert!(expired > 100 && live > 0 && expired + live == 500, "two steps applied: {expired} expired, {live} live");
    let [(stale, _)] = plans(&env).await.try_into().unwrap_or_else(|p| panic!("one plan: {p:?}"));
    assert_eq!(stale.step, 3, "{stale:?}");

    let early = leases::sweep(&env.app, at("2026-03-01T10:10:00Z")).await.unwrap();
    assert_eq!(early.plans_finished, 0, "its lease still holds");
    let late = leases::sweep(&env.app, at("2026-03-01T10:20:00Z")).await.unwrap();
    assert_eq!((late.plans_finished, late.failed.len()), (1, 0), "{late:?}");
    assert_eq!(enrolment_states(&env).await, (500, 0));
    assert!(plans(&env).await[0].0.finished());
    let again = leases::sweep(&env.app, at("2026-03-01T11:20:00Z")).await.unwrap();
    assert_eq!(again.plans_finished, 0, "nothing left");

    // One of the enrolments the stale step would write is live again (a new run of the same id);
    // the stale attempt finds its step applied and writes nothing.
    let last = stale.rest.last().unwrap().enrolment_id.clone();
    let mut renewed = env.app.store.enrolments("c", "big@c.example").await.unwrap();
    renewed.retain(|e| e.enrolment_id == last);
    renewed[0].status = EnrolmentStatus::Active;
    env.write_items(vec![env.app.store.put_enrolment(&renewed[0]).unwrap().put.unwrap().item]).await;
    env.app.store.follow(stale).await.unwrap();
    assert_eq!(enrolment_states(&env).await, (499, 1), "the stale step wrote nothing");
}

/// A change of the learner's enrolments while a plan is cut off finishes the plan first, then is
/// decided on the enrolments as the plan left them.
#[tokio::test]
async fn an_enrolment_change_finishes_the_learners_plan_first() {
    let env = TestEnv::new().await;
    learner_with_enrolments(&env, 300).await;
    release_cut_after(&env, 1).await;
    assert!(!plans(&env).await[0].0.finished());
    let body = json!({"status": "expired"});
    let changed = env
        .put("/v1/orgs/c/users/big@c.example/enrolments/run000")
        .by(&platform("c"))
        .json(body)
        .at(RELEASED)
        .send()
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert!(plans(&env).await[0].0.finished(), "finished before the change");
    assert_eq!(enrolment_states(&env).await, (300, 0));
}
