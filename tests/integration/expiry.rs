//! The expire sweep against DynamoDB Local: worked cases 3 and 4 at the exact instants, exactly
//! once under replays and concurrency, and a cost that follows what is due.

use futures::future::join_all;
use seatkeeper::sweeps::expire::{expire, ExpireReport};
use seatkeeper_tests::{at, cm, TestEnv};
use serde_json::{json, Value};

/// Worked cases 1 and 2: C's lot of 10, assigned 2026-01-15T09:00Z, allocated to ten learners.
async fn ten_licensed(env: &TestEnv) {
    env.partner_with_company("p", "c").await;
    env.manager("c", "boss@c.example").await;
    env.lot("p", "c", 10).await;
    let emails: Vec<String> = (1..=10).map(|i| format!("learner{i}@c.example")).collect();
    env.licensed("c", &emails, "2026-02-01T00:00:00Z").await;
}

async fn sweep(env: &TestEnv, now: &str) -> ExpireReport {
    let report = expire(&env.app, at(now)).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    report
}

async fn notices(env: &TestEnv) -> Vec<Value> {
    let n = env.get("/v1/orgs/c/notifications").by(&cm("c")).send().await;
    n.body["items"].as_array().unwrap().iter().filter(|n| n["kind"] != "order_assigned").cloned().collect()
}

async fn access(env: &TestEnv, email: &str, now: &str) -> bool {
    env.access("c", email, now).await["access"].as_bool().unwrap()
}

/// Worked examples 3 and 4 (docs/domain.md#worked-examples), a second before, at and after each instant.
#[tokio::test]
async fn worked_cases_3_and_4_reminder_then_expiry_exactly_once() {
    let env = TestEnv::new().await;
    ten_licensed(&env).await;

    let early = sweep(&env, "2027-01-12T08:59:59Z").await;
    assert_eq!(early.notices_sent, 0);
    assert!(notices(&env).await.is_empty());

    let reminder = sweep(&env, "2027-01-12T09:00:00Z").await;
    assert_eq!((reminder.notices_sent, reminder.licences_expired), (1, 0));
    let sent = notices(&env).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["kind"], "expiry_reminder");
    assert_eq!(sent[0]["payload"]["count"], 10);
    assert_eq!(sent[0]["payload"]["expiry_date"], "2027-01-15");
    assert_eq!(sent[0]["recipients"], json!(["boss@c.example"]));
    assert_eq!(sweep(&env, "2027-01-12T09:00:01Z").await.notices_sent, 0, "run again: nothing new");
    let user = env.get("/v1/orgs/c/users/learner1@c.example").by(&cm("c")).at("2027-01-12T10:00:00Z").send().await;
    let licence = user.body["licence"].as_object().unwrap();
    assert!(!licence.contains_key("reminded_for"), "the sweep's bookkeeping stays out of the answer: {licence:?}");
    assert_eq!(sweep(&env, "2027-01-15T08:59:59Z").await.notices_sent, 0);
    assert!(access(&env, "learner1@c.example", "2027-01-15T08:59:59Z").await);

    // At the end the ten lose access at once, before any sweep has run.
    assert!(!access(&env, "learner1@c.example", "2027-01-15T09:00:00Z").await);
    let expired = sweep(&env, "2027-01-15T09:00:00Z").await;
    assert_eq!((expired.notices_sent, expired.licences_expired, expired.lots_expired), (1, 10, 1));
    let sent = notices(&env).await;
    assert_eq!(
        sent.iter().map(|n| n["kind"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["expired", "expiry_reminder"]
    );
    assert_eq!(sent[0]["payload"]["users"].as_array().unwrap().len(), 10);
    let again = sweep(&env, "2027-01-15T09:00:01Z").await;
    assert_eq!((again.notices_sent, again.licences_expired, again.lots_expired, again.items_read), (0, 0, 0, 0));

    let licences = env.get("/v1/orgs/c/licences?status=expired").by(&cm("c")).at("2027-01-15T09:00:01Z").send().await;
    assert_eq!(licences.body["items"].as_array().unwrap().len(), 10);
    let lots = env.get("/v1/orgs/c/lots").by(&cm("c")).at("2027-01-15T09:00:01Z").send().await;
    assert_eq!(
        (lots.body["items"][0]["status"].as_str(), lots.body["items"][0]["in_use"].as_u64()),
        (Some("expired"), Some(0))
    );
    // The materialised state agrees with the time-computed one, and with the counters.
    assert_eq!(env.app.store.counters("c").await.unwrap().seats_held, 0);
}

#[tokio::test]
async fn two_sweeps_at_once_and_a_replay_send_each_notice_once() {
    let env = TestEnv::new().await;
    ten_licensed(&env).await;
    let reports = join_all((0..3).map(|_| sweep(&env, "2027-01-13T00:00:00Z"))).await;
    assert_eq!(reports.iter().map(|r| r.notices_sent).sum::<usize>(), 1);
    let reports = join_all((0..3).map(|_| sweep(&env, "2027-01-15T10:00:00Z"))).await;
    assert_eq!(reports.iter().map(|r| r.notices_sent).sum::<usize>(), 1);
    assert_eq!(reports.iter().map(|r| r.licences_expired).sum::<usize>(), 10, "each licence expired once");
    assert_eq!(reports.iter().map(|r| r.lots_expired).sum::<usize>(), 1);
    assert_eq!(notices(&env).await.len(), 2);
    assert_eq!(sweep(&env, "2027-01-15T10:00:00Z").await.notices_sent, 0, "the same event replayed");
}

#[tokio::test]
async fn the_sweep_reads_what_is_due_however_much_is_not() {
    let mut reads = Vec::new();
    for not_due in [100, 10_000] {
        let env = TestEnv::new().await;
        env.partner_with_company("p", "c").await;
        env.seed_licensed("c", "due", 100, "2027-01-15T09:00:00Z").await;
        env.seed_licensed("c", "later", not_due, "2027-06-15T09:00:00Z").await;
        let report = sweep(&env, "2027-01-14T00:00:00Z").await;
        assert_eq!(report.notices_sent, 1);
        reads.push(report.items_read);
        // At their end (the seeded licences name a lot that is not stored, so their expiry
        // itself is refused: what counts here is what the sweep read).
        let expired = expire(&env.app, at("2027-01-15T09:00:00Z")).await.unwrap();
        assert_eq!(expired.notices_sent, 1);
        reads.push(expired.items_read);
    }
    // Each due licence is read twice in its life (at its reminder horizon, at its end), and
    // its day once at each notice; the not-yet-due licences are never read.
    assert_eq!(reads, vec![101, 101, 101, 101], "the not-yet-due licences are never read");
}

/// The step of the sweep a transaction belongs to, told from its items: the enrolment step's
/// writes enrolments, the licence step's users (and lots and counters) without enrolments.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Licences,
    Enrolments,
}

/// How an org's step fails: it loses every race (a concurrent change wins each time), or the
/// table refuses it outright.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    LosesRace,
    Refused,
}

/// Breaks one step of one org's sweep: each of its transactions either carries an extra condition
/// check that DynamoDB Local finds false (a real lost race: nothing written, the transaction
/// cancelled with `ConditionalCheckFailed`), or is refused before it is sent. Every other
/// request passes untouched. Counts what it broke.
#[derive(Debug, Clone)]
struct BreakOrgStep {
    table: String,
    pk: String,
    step: Step,
    fault: Fault,
    broken: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl BreakOrgStep {
    fn new(env: &TestEnv, org: &str, step: Step, fault: Fault) -> Self {
        BreakOrgStep { table: env.table.clone(), pk: format!("ORG#{org}"), step, fault, broken: Default::default() }
    }

    fn broken(&self) -> usize {
        self.broken.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn matches(&self, items: &[aws_sdk_dynamodb::types::TransactWriteItem]) -> bool {
        let keys: Vec<(String, String)> = items
            .iter()
            .filter_map(|t| {
                let key = t.put().map(|p| p.item()).or(t.update().map(|u| u.key()))?;
                Some((key.get("PK")?.as_s().ok()?.clone(), key.get("SK")?.as_s().ok()?.clone()))
            })
            .collect();
        let ours = |prefix: &str| keys.iter().any(|(pk, sk)| *pk == self.pk && sk.starts_with(prefix));
        match self.step {
            Step::Enrolments => ours("ENROLMENT#"),
            // A day's merge (users with their day of expiries) is the reminder step's.
            Step::Licences => ours("USER#") && !ours("ENROLMENT#") && !ours("EXPIRYDAY#"),
        }
    }
}

impl aws_sdk_dynamodb::config::Intercept for BreakOrgStep {
    fn name(&self) -> &'static str {
        "BreakOrgStep"
    }

    fn modify_before_serialization(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
        use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};
        let Some(input) = context.input_mut().downcast_mut::<TransactWriteItemsInput>() else { return Ok(()) };
        let Some(items) = input.transact_items.as_mut().filter(|items| self.matches(items)) else { return Ok(()) };
        self.broken.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.fault == Fault::Refused {
            return Err("injected failure: the table refused this org's write".into());
        }
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(self.pk.clone()))
            .key("SK", AttributeValue::S("RACE#a concurrent change won".into()))
            .condition_expression("attribute_exists(PK)")
            .build()?;
        items.push(TransactWriteItem::builder().condition_check(check).build());
        Ok(())
    }
}

/// Companies `c` and `d` below partner `p`, each with a lot of 3 assigned 2026-01-15T09:00Z and
/// allocated to three learners, the first of whom also has an enrolment that ended 2027-01-10.
async fn two_companies(env: &TestEnv) {
    env.partner_with_company("p", "c").await;
    env.org("d", "company", "p").await;
    for org in ["c", "d"] {
        env.manager(org, &format!("boss@{org}.example")).await;
        env.lot("p", org, 3).await;
        let emails: Vec<String> = (1..=3).map(|i| format!("learner{i}@{org}.example")).collect();
        env.licensed(org, &emails, "2026-02-01T00:00:00Z").await;
        let run = json!({"status": "active", "ends_at": "2027-01-10T00:00:00Z"});
        env.enrol(org, &format!("learner1@{org}.example"), "run", run, "2026-02-01T00:00:00Z").await;
    }
}

/// What the sweep left of one org: licences and enrolments stored as expired, and the kinds of
/// its notices.
async fn swept_state(env: &TestEnv, org: &str) -> (usize, usize, Vec<String>) {
    // As stored (the API answers a licence's and an enrolment's status from the time).
    let items = env.partition(&format!("ORG#{org}")).await;
    let licences = items
        .iter()
        .filter_map(|i| i.get("licence").and_then(|l| l.as_m().ok()))
        .filter(|l| l.get("status").and_then(|s| s.as_s().ok()).map(String::as_str) == Some("expired"))
        .count();
    let ended = items
        .iter()
        .filter(|i| i["SK"].as_s().unwrap().starts_with("ENROLMENT#"))
        .filter(|i| i.get("status").and_then(|s| s.as_s().ok()).map(String::as_str) == Some("expired"))
        .count();
    let n = env.get(&format!("/v1/orgs/{org}/notifications")).by(&cm(org)).send().await;
    let kinds = n.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] != "order_assigned")
        .map(|n| n["kind"].as_str().unwrap().to_string())
        .collect();
    (licences, ended, kinds)
}

/// One org's step failing, by `fault`: the other org is swept in full, the sweep's report (and
/// the `expire` function's invocation, which fails) names the org and step, and a retry at the same
/// instant without the fault finishes it, each licence and enrolment expired once and each
/// notice sent once.
async fn one_org_fails_then_the_retry_finishes(step: Step, fault: Fault) {
    let env = TestEnv::new().await;
    two_companies(&env).await;
    let now = "2027-01-15T09:00:00Z";
    let breaker = BreakOrgStep::new(&env, "c", step, fault);
    let retries = aws_sdk_dynamodb::config::retry::RetryConfig::disabled();
    let faulty = env.through(|b| b.interceptor(breaker.clone()).retry_config(retries)).await;

    let report = expire(&faulty.app, at(now)).await.unwrap();
    assert_eq!(report.failed.len(), 1, "c's step failed: {:?}", report.failed);
    let error = seatkeeper::sweeps::failure_message(&report);
    let step_name = match step {
        Step::Licences => "licences",
        Step::Enrolments => "enrolments",
    };
    assert!(error.contains(&format!("org c at its {step_name} step")), "{error}");
    assert!(!error.contains("org d"), "{error}");
    if fault == Fault::LosesRace {
        assert!(error.contains("lost its race"), "{error}");
    }
    assert!(breaker.broken() >= 1);

    // d was swept in full although c (before it) failed.
    assert_eq!(swept_state(&env, "d").await, (3, 1, vec!["expired".to_string()]));
    let c = swept_state(&env, "c").await;
    assert_eq!(c.2, vec!["expired".to_string()], "c's notice went out before its failed step");
    match step {
        Step::Licences => assert_eq!((c.0, c.1), (0, 0), "c stopped at its licences"),
        Step::Enrolments => assert_eq!((c.0, c.1), (3, 0), "c's licences expired, its enrolment left"),
    }

    // The function's invocation fails the same way, for the schedule to retry.
    let event = seatkeeper::lambda::scheduled_event("expire", at(now));
    let failed = seatkeeper::lambda::invoke(&faulty.app, &seatkeeper::lambda::entries::EXPIRE, event.clone())
        .await
        .expect_err("the invocation fails");
    assert_eq!(failed.kind, "SweepFailed");
    assert!(failed.message.contains(&format!("org c at its {step_name} step")), "{}", failed.message);

    // The retry, the fault gone, finishes c and does nothing twice.
    let retry =
        seatkeeper::lambda::invoke(&env.app, &seatkeeper::lambda::entries::EXPIRE, event.clone()).await.unwrap();
    assert_eq!(retry["notices_sent"], 0, "{retry}");
    assert_eq!(retry["enrolments_ended"], 1, "{retry}");
    assert_eq!(retry["licences_expired"], if step == Step::Licences { 3 } else { 0 }, "{retry}");
    for org in ["c", "d"] {
        assert_eq!(swept_state(&env, org).await, (3, 1, vec!["expired".to_string()]), "{org}");
        let counters = env.app.store.counters(org).await.unwrap();
        assert_eq!(counters.seats_held, 0, "{org}: each seat given back once");
    }
    let again = seatkeeper::lambda::invoke(&env.app, &seatkeeper::lambda::entries::EXPIRE, event).await.unwrap();
    assert_eq!(
        (&again["notices_sent"], &again["licences_expired"], &again["enrolments_ended"], &again["lots_expired"]),
        (&json!(0), &json!(0), &json!(0), &json!(0)),
        "{again}"
    );
}

#[tokio::test]
async fn an_org_whose_enrolments_keep_losing_their_race_fails_the_sweep_after_the_others() {
    one_org_fails_then_the_retry_finishes(Step::Enrolments, Fault::LosesRace).await;
}

#[tokio::test]
async fn an_org_whose_licences_keep_losing_their_race_fails_the_sweep_after_the_others() {
    one_org_fails_then_the_retry_finishes(Step::Licences, Fault::LosesRace).await;
}

#[tokio::test]
async fn an_org_whose_write_is_refused_does_not_stop_the_other_orgs() {
    one_org_fails_then_the_retry_finishes(Step::Licences, Fault::Refused).await;
}

/// A lot is one item: its expiry is one conditional `UpdateItem` (half a one-item
/// transaction's capacity), written once, and never when the lot changed under its key.
#[tokio::test]
async fn a_lot_expires_once_with_one_conditional_update_and_not_after_it_changed() {
    let (env, log) = TestEnv::with_request_log().await;
    env.company_with_lot(3).await;
    let lot = env.app.store.all_lots("c").await.unwrap().remove(0);
    log.take();

    assert!(env.app.store.expire_lot(&lot).await.unwrap(), "the active lot expires");
    assert_eq!(log.take(), ["UpdateItem"], "one conditional write, no transaction");
    let sk = seatkeeper::store::keys::lot_sk(lot.valid_until, &lot.lot_id);
    let stored = env.item("ORG#c", &sk).await.unwrap();
    assert_eq!(stored["status"].as_s().unwrap(), "expired");
    assert!(!stored.contains_key("GSI2PK") && !stored.contains_key("GSI4PK"), "out of the due index and the tree");

    log.take();
    assert!(!env.app.store.expire_lot(&lot).await.unwrap(), "a second expiry finds it expired: once");
    assert_eq!(log.take(), ["UpdateItem"]);

    // The lot as a sweep read it before its end moved: its key names no lot now.
    let mut moved = lot.clone();
    moved.valid_until = moved.valid_until.map(|end| end - chrono::Duration::days(1));
    assert!(!env.app.store.expire_lot(&moved).await.unwrap(), "a changed lot is refused");
    let moved_sk = seatkeeper::store::keys::lot_sk(moved.valid_until, &moved.lot_id);
    assert!(env.item("ORG#c", &moved_sk).await.is_none(), "nothing is written under a key no lot has");
}

/// The day the notices moved from the UTC date to the org's own date: an Amsterdam company whose
/// learner ending at 23:30 UTC on the 15th was told under the UTC date (the guard an earlier
/// version wrote) is not told again under the 16th, Amsterdam's date for that instant; the
/// learner ending on the morning of the 16th is. Nothing is sent twice on a replay, and the day's
/// `expired` comes once.
#[tokio::test]
async fn notices_move_to_the_orgs_own_date_without_telling_anyone_twice() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.set_policy("c", json!({"time_zone": "Europe/Amsterdam"})).await;
    env.manager("c", "boss@c.example").await;
    env.order_and_assign("c", 1, "2026-01-10T08:00:00Z", "p", "2026-01-15T23:30:00Z").await;
    env.licensed("c", &["late@c.example"], "2026-02-01T00:00:00Z").await;
    env.order_and_assign("c", 1, "2026-01-10T08:00:00Z", "p", "2026-01-16T08:00:00Z").await;
    env.licensed("c", &["morning@c.example"], "2026-02-01T00:00:00Z").await;
    // What the earlier version's sweep wrote at 2027-01-12T23:30Z, telling of the UTC 15th.
    let legacy = [("PK", "ORG#c"), ("SK", "NOTICEKEY#expiry_reminder#2027-01-15"), ("type", "notice_key")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
        .collect();
    env.write_items(vec![legacy]).await;

    assert_eq!(sweep(&env, "2027-01-13T09:00:00Z").await.notices_sent, 1);
    let sent = notices(&env).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let reminder = &sent[0]["payload"];
    assert_eq!(reminder["expiry_date"], "2027-01-16", "Amsterdam's date: {reminder}");
    assert_eq!((reminder["count"].clone(), reminder["users"].clone()), (json!(1), json!(["morning@c.example"])));
    assert_eq!(reminder["lots"].as_array().unwrap().len(), 1, "the lot told before is not named again");
    assert_eq!(sweep(&env, "2027-01-13T10:00:00Z").await.notices_sent, 0, "run again: nothing new");

    // At 23:30 UTC on the 15th it is the 16th in Amsterdam: that day's `expired`, once.
    assert_eq!(sweep(&env, "2027-01-15T23:29:59Z").await.notices_sent, 0);
    let expired = sweep(&env, "2027-01-15T23:30:00Z").await;
    assert_eq!((expired.notices_sent, expired.licences_expired), (1, 1));
    let sent = notices(&env).await;
    assert_eq!(
        (sent[0]["kind"].as_str(), sent[0]["payload"]["expiry_date"].as_str()),
        (Some("expired"), Some("2027-01-16"))
    );
    assert_eq!(sweep(&env, "2027-01-16T08:00:00Z").await.notices_sent, 0, "the same day: told already");
    assert_eq!(notices(&env).await.len(), 2);
}

/// `reminder_hours = 24`, set by the vendor on the company: no reminder 72 hours ahead, one 24
/// hours ahead; a lead time outside 24, 48 and 72 is refused, naming the knob.
#[tokio::test]
async fn the_reminder_goes_out_as_many_hours_ahead_as_the_policy_says() {
    let env = TestEnv::new().await;
    ten_licensed(&env).await;
    env.set_policy("c", json!({"reminder_hours": 24})).await;
    let refused = env
        .put("/v1/orgs/c/policy")
        .by(&seatkeeper_tests::Who::vendor_admin())
        .json(json!({"reminder_hours": 36}))
        .send()
        .await;
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (400, Some("invalid_request")));
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("reminder_hours"), "{:?}", refused.body);

    assert_eq!(sweep(&env, "2027-01-12T09:00:00Z").await.notices_sent, 0, "72 hours ahead: not yet");
    assert_eq!(sweep(&env, "2027-01-14T08:59:59Z").await.notices_sent, 0);
    assert_eq!(sweep(&env, "2027-01-14T09:00:00Z").await.notices_sent, 1);
    let sent = notices(&env).await;
    assert_eq!((sent.len(), sent[0]["kind"].as_str()), (1, Some("expiry_reminder")));
}

/// Each licence's next wake in the due index, as the table holds it (`GSI2SK`).
async fn due_keys(env: &TestEnv) -> Vec<String> {
    let items = env.partition("ORG#c").await;
    let key = |i: &seatkeeper_tests::Item| i.get("GSI2SK").and_then(|v| v.as_s().ok()).cloned();
    items.iter().filter(|i| i["SK"].as_s().unwrap().starts_with("USER#")).filter_map(key).collect()
}

/// A sweep that did not run for days (the schedule was off from before the reminder until
/// after the end) catches up from the index alone: one `expired` (a reminder after the end
/// would tell nothing new), every licence and the lot expired, nothing read again after.
#[tokio::test]
async fn a_sweep_missed_for_days_catches_up_at_its_next_run() {
    let env = TestEnv::new().await;
    ten_licensed(&env).await;
    let late = sweep(&env, "2027-01-15T11:00:00Z").await;
    assert_eq!((late.notices_sent, late.licences_expired, late.lots_expired), (1, 10, 1));
    let sent = notices(&env).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!((sent[0]["kind"].as_str(), sent[0]["payload"]["count"].as_u64()), (Some("expired"), Some(10)));
    assert!(due_keys(&env).await.is_empty(), "nothing left in the due index");
    let again = sweep(&env, "2027-01-15T12:00:00Z").await;
    assert_eq!((again.items_read, again.notices_sent), (0, 0));
}

/// A licence issued within 72 hours of its lot's end, after the day's reminder went out: its
/// reminder horizon is already behind the sweep, so the next run merges it into its day, and the
/// day's `expired` names all eleven; the reminder is not sent again.
#[tokio::test]
async fn a_licence_issued_after_its_days_reminder_is_named_in_the_days_expired() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.manager("c", "boss@c.example").await;
    env.lot("p", "c", 11).await;
    let emails: Vec<String> = (1..=10).map(|i| format!("learner{i}@c.example")).collect();
    env.licensed("c", &emails, "2026-02-01T00:00:00Z").await;
    assert_eq!(sweep(&env, "2027-01-12T09:00:00Z").await.notices_sent, 1);
    env.licensed("c", &["eleventh@c.example"], "2027-01-15T00:00:00Z").await;
    let merged = sweep(&env, "2027-01-15T01:00:00Z").await;
    assert_eq!((merged.items_merged, merged.notices_sent), (1, 0), "merged, no second reminder");
    let expired = sweep(&env, "2027-01-15T09:00:00Z").await;
    assert_eq!((expired.notices_sent, expired.licences_expired), (1, 11));
    let sent = notices(&env).await;
    assert_eq!(sent[0]["kind"], "expired");
    assert_eq!(sent[0]["payload"]["count"], 11);
    assert!(sent[0]["payload"]["users"].as_array().unwrap().contains(&json!("eleventh@c.example")));
    assert_eq!(sent[1]["payload"]["count"], 10, "the reminder named the ten");
}

/// Licences written before items were keyed by their wake (`{end}#USER#…`) are re-keyed as the
/// sweep comes within 72 hours of their end, and told and expired as any other: the reminder
/// names all ten, and afterwards each is keyed by its end.
#[tokio::test]
async fn licences_keyed_by_their_end_as_before_are_re_keyed_and_still_told() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let env = TestEnv::new().await;
    ten_licensed(&env).await;
    for item in env.partition("ORG#c").await {
        let sk = item["SK"].as_s().unwrap().clone();
        let Some(email) = sk.strip_prefix("USER#").filter(|_| item.contains_key("GSI2SK")) else { continue };
        let before = format!("2027-01-15T09:00:00.000Z#USER#c#{email}");
        env.app
            .store
            .client
            .update_item()
            .table_name(&env.table)
            .key("PK", AttributeValue::S("ORG#c".into()))
            .key("SK", AttributeValue::S(sk.clone()))
            .update_expression("SET GSI2SK = :k")
            .expression_attribute_values(":k", AttributeValue::S(before))
            .send()
            .await
            .unwrap();
    }
    assert!(due_keys(&env).await.iter().all(|k| k.starts_with("2027-01-15T09")), "keyed as before");
    assert_eq!(sweep(&env, "2027-01-11T09:00:00Z").await.notices_sent, 0, "beyond 72 hours: left as it is");
    assert!(due_keys(&env).await.iter().all(|k| k.starts_with("2027-01-15T09")));

    let reminder = sweep(&env, "2027-01-12T09:00:00Z").await;
    assert_eq!((reminder.notices_sent, reminder.items_merged), (1, 11), "ten licences and their lot");
    assert_eq!(notices(&env).await[0]["payload"]["count"], 10);
    let keys = due_keys(&env).await;
    assert_eq!(keys.len(), 10, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("W#2027-01-15T09:00:00.000Z#USER#")), "{keys:?}");
    let expired = sweep(&env, "2027-01-15T09:00:00Z").await;
    assert_eq!((expired.notices_sent, expired.licences_expired), (1, 10));
}

/// A run that reaches its time budget stops reading, and tells no day yet (a day is told once
/// all its items were merged); the next run goes on from the index itself, and the one that
/// reads to the end sends the day's reminder once, naming all ten.
#[tokio::test]
async fn a_run_at_its_time_budget_leaves_the_rest_to_the_next_and_no_day_half_told() {
    use seatkeeper::sweeps::expire::{expire_within, Limits};
    let env = TestEnv::new().await;
    ten_licensed(&env).await;
    let tight = Limits { page: 3, seconds: std::time::Duration::ZERO };
    let (mut runs, mut merged, mut sent) = (0, 0, 0);
    loop {
        let run = expire_within(&env.app, at("2027-01-12T09:00:00Z"), None, tight).await.unwrap();
        assert!(run.failed.is_empty(), "{:?}", run.failed);
        runs += 1;
        merged += run.items_merged;
        sent += run.notices_sent;
        if run.finished {
            break;
        }
        assert_eq!(run.notices_sent, 0, "run {runs} stopped at its budget: no day told yet");
        assert!(runs < 30, "the runs go on from where the last stopped");
    }
    assert!(runs > 1, "the budget stopped a run");
    assert_eq!((merged, sent), (11, 1), "ten licences and their lot merged once, one reminder");
    let reminder = &notices(&env).await[0]["payload"];
    assert_eq!((reminder["count"].as_u64(), reminder["users"].as_array().unwrap().len()), (Some(10), 10));
}

/// A learner released after the day's reminder no longer ends on that day: the day's
/// `expired` names and counts the nine who do (each named user is read again when told).
#[tokio::test]
async fn a_learner_released_after_the_reminder_is_not_named_expired() {
    let env = TestEnv::new().await;
    ten_licensed(&env).await;
    assert_eq!(sweep(&env, "2027-01-12T09:00:00Z").await.notices_sent, 1);
    let released =
        env.call("DELETE", "/v1/orgs/c/users/learner1@c.example").by(&cm("c")).at("2027-01-13T00:00:00Z").send().await;
    assert_eq!(released.status, 200, "{:?}", released.body);
    let expired = sweep(&env, "2027-01-15T09:00:00Z").await;
    assert_eq!((expired.notices_sent, expired.licences_expired), (1, 9));
    let sent = notices(&env).await;
    assert_eq!((sent[0]["kind"].as_str(), sent[0]["payload"]["count"].as_u64()), (Some("expired"), Some(9)));
    assert!(!sent[0]["payload"]["users"].as_array().unwrap().contains(&json!("learner1@c.example")));
    assert_eq!(sent[1]["payload"]["count"], 10, "the reminder named the ten");
}
