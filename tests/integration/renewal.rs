//! Automatic renewal and the forecast against DynamoDB Local: worked example 6 (docs/domain.md#example-6-renewal),
//! the forecast agreeing with the sweep, exactly-once debits, and the spreadsheet exports.

use std::io::Cursor;

use calamine::{Data, DataType, Reader, Xlsx};
use futures::future::join_all;
use seatkeeper::sweeps::renewal::renewal;
use seatkeeper_tests::{at, cm, TestEnv, NOW};
use serde_json::{json, Value};

/// Company c on automatic renewal with a lot of 8, and the people of worked case 6.
async fn worked_case_6(env: &TestEnv) {
    env.partner_with_company("p", "c").await;
    env.set_policy(
        "c",
        json!({"term_starts": "activation", "renewal": "automatic", "notify_emails": ["admin@c.example"]}),
    )
    .await;
    env.order_and_assign("c", 8, "2018-04-01T08:00:00Z", "p", "2018-04-02T09:00:00Z").await;
    for email in ["wessel", "mandy", "once", "no", "pending", "late"] {
        let named = json!({"name": email});
        env.put_user("c", &format!("{email}@c.example")).json(named).at("2018-05-01T00:00:00Z").send().await;
    }
    let start = "2018-05-11T09:00:00Z";
    for (email, run, now) in [
        // Wessel: a two-year run, started at activation.
        ("wessel", json!({"status": "active", "starts_at": start, "ends_at": "2020-05-11T09:00:00Z"}), start),
        // Mandy: enrolled, then activated by a manager by hand; she never logs in.
        ("mandy", json!({"status": "new", "ends_at": "2020-01-01T00:00:00Z"}), "2018-05-01T10:00:00Z"),
        ("mandy", json!({"status": "active", "starts_at": start, "ends_at": "2020-01-01T00:00:00Z"}), start),
        // One one-year run, started at activation.
        ("once", json!({"status": "active", "starts_at": start, "ends_at": "2019-05-11T09:00:00Z"}), start),
        // Not renewable, with a two-year run.
        ("no", json!({"status": "active", "starts_at": start, "ends_at": "2020-05-11T09:00:00Z"}), start),
    ] {
        env.enrol("c", &format!("{email}@c.example"), "run", run, now).await;
    }
    let r = env
        .post("/v1/orgs/c/users/renewable")
        .by(&cm("c"))
        .json(json!({"emails": ["no@c.example"], "renewable": false}))
        .send()
        .await;
    assert_eq!(r.body["updated"], 1);
    // Enrolled, never started: the licence stays pending.
    env.enrol("c", "pending@c.example", "run", json!({"status": "new"}), "2018-05-01T10:00:00Z").await;
    // A later start whose renewal finds the balance empty.
    let late = json!({"status": "active", "starts_at": "2018-06-01T09:00:00Z", "ends_at": "2020-06-01T09:00:00Z"});
    env.enrol("c", "late@c.example", "run", late, "2018-06-01T09:00:00Z").await;
}

async fn user(env: &TestEnv, email: &str) -> Value {
    env.get(&format!("/v1/orgs/c/users/{email}@c.example")).by(&cm("c")).at("2019-06-30T00:00:00Z").send().await.body
}

async fn lot_uses(env: &TestEnv) -> u64 {
    env.lots("c", NOW).await[0]["uses"].as_u64().unwrap()
}

#[tokio::test]
async fn worked_case_6_the_forecast_then_the_sweep_exactly_as_forecast() {
    let env = TestEnv::new().await;
    worked_case_6(&env).await;
    assert_eq!(lot_uses(&env).await, 6, "each first enrolment debited one licence");

    let forecast = env.get("/v1/orgs/c/renewals?until=2019-06-30").by(&cm("c")).at("2019-04-01T00:00:00Z").send().await;
    assert_eq!(forecast.status, 200, "{:?}", forecast.body);
    let rows: Vec<(String, bool, Option<String>)> = forecast.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["email"].as_str().unwrap().to_string(),
                r["will_renew"].as_bool().unwrap(),
                r["reason"].as_str().map(str::to_string),
            )
        })
        .collect();
    let expect = |e: &str, w: bool, r: Option<&str>| (format!("{e}@c.example"), w, r.map(str::to_string));
    assert_eq!(
        rows,
        vec![
            expect("mandy", true, None),
            expect("no", false, Some("not_renewable")),
            expect("once", false, Some("no_live_enrolment")),
            expect("wessel", true, None),
            expect("late", false, Some("balance_empty")),
        ]
    );
    let wessel_row = &forecast.body["items"][3];
    assert_eq!(
        (wessel_row["licence_date"].as_str(), wessel_row["renewal_date"].as_str()),
        (Some("2018-05-11"), Some("2019-05-11"))
    );
    assert_eq!(wessel_row["last_login_at"], Value::Null);

    let report = renewal(&env.app, at("2019-06-30T00:00:00Z")).await.unwrap();
    let mut renewed = report.renewed.clone();
    renewed.sort();
    let forecast_renew: Vec<String> = rows.iter().filter(|r| r.1).map(|r| r.0.clone()).collect();
    assert_eq!(renewed, forecast_renew, "the sweep charges exactly the forecast's will_renew users");
    assert_eq!(report.blocked, vec!["late@c.example".to_string()]);
    assert_eq!(report.notices_sent, 1);

    let wessel = user(&env, "wessel").await;
    assert_eq!(
        (wessel["licence_count"].as_u64(), wessel["licence"]["licence_date"].as_str()),
        (Some(2), Some("2019-05-11"))
    );
    assert_eq!(
        (wessel["licence"]["status"].as_str(), wessel["renewal_at"].as_str()),
        (Some("active"), Some("2020-05-11T09:00:00Z"))
    );
    assert_eq!(user(&env, "mandy").await["licence_count"], 2);
    let once = user(&env, "once").await;
    assert_eq!((once["licence_count"].as_u64(), once["licence"]["status"].as_str()), (Some(1), Some("expired")));
    let no = user(&env, "no").await;
    assert_eq!((no["licence_count"].as_u64(), no["licence"]["status"].as_str()), (Some(1), Some("expired")));
    let no_run = env.item("ORG#c", "ENROLMENT#no@c.example#run").await.unwrap();
    assert_eq!(no_run["status"].as_s().unwrap(), "expired", "the not-renewable user's enrolments expired");
    let pending = user(&env, "pending").await;
    assert_eq!((pending["licence_count"].as_u64(), pending["licence"]["status"].as_str()), (Some(1), Some("pending")));
    assert_eq!(user(&env, "late").await["licence"]["status"], "expired");
    assert_eq!(lot_uses(&env).await, 8, "two renewals debited, nothing else");
    let notices = env.get("/v1/orgs/c/notifications").by(&cm("c")).send().await;
    let blocked: Vec<&Value> =
        notices.body["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "renewal_blocked").collect();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["payload"]["users"], json!(["late@c.example"]));
    assert_eq!(blocked[0]["recipients"], json!(["admin@c.example"]));

    // Replayed: nothing is due any more.
    let again = renewal(&env.app, at("2019-06-30T00:00:00Z")).await.unwrap();
    assert!(again.renewed.is_empty() && again.blocked.is_empty() && again.notices_sent == 0, "{again:?}");
    assert_eq!(lot_uses(&env).await, 8);
}

#[tokio::test]
async fn concurrent_sweeps_debit_once() {
    let env = TestEnv::new().await;
    worked_case_6(&env).await;
    let reports = join_all((0..3).map(|_| renewal(&env.app, at("2019-05-12T00:00:00Z")))).await;
    let renewed: usize = reports.into_iter().map(|r| r.unwrap().renewed.len()).sum();
    assert_eq!(renewed, 2);
    assert_eq!(lot_uses(&env).await, 8);
    assert_eq!(user(&env, "wessel").await["licence_count"], 2);
}

#[tokio::test]
async fn the_forecast_downloads_as_csv_and_as_an_xlsx_that_opens() {
    let env = TestEnv::new().await;
    worked_case_6(&env).await;
    let csv = env.get("/v1/orgs/c/renewals?until=2019-06-30&format=csv").by(&cm("c")).send().await;
    assert_eq!(csv.status, 200);
    assert!(csv.headers["content-type"].starts_with("text/csv"));
    let text = csv.body.as_str().unwrap();
    assert!(text.starts_with('\u{feff}'));
    assert!(text
        .lines()
        .next()
        .unwrap()
        .ends_with("email,name,licence_date,renewal_date,licence_count,renewable,last_login_at,will_renew,reason"));
    assert_eq!(text.lines().count(), 6);

    let xlsx = env.get("/v1/orgs/c/renewals?until=2019-06-30&format=xlsx").by(&cm("c"));
    let r = xlsx.at("2019-04-01T00:00:00Z").response().await;
    assert!(r.is_base64_encoded);
    let bytes = match r.body {
        Some(aws_lambda_events::encodings::Body::Binary(b)) => b,
        other => panic!("{other:?}"),
    };
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).expect("an xlsx that opens");
    let sheet = book.worksheet_range("Renewals").unwrap();
    let rows: Vec<_> = sheet.rows().collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0][0], Data::String("email".into()));
    assert!(matches!(rows[4][3], Data::DateTime(_)), "renewal dates are dates: {:?}", rows[4][3]);
    assert_eq!(rows[4][3].as_date().map(|d| d.to_string()), Some("2019-05-11".into()));
    assert_eq!(rows[4][7], Data::Bool(true));
    let bad = env.get("/v1/orgs/c/renewals").by(&cm("c")).send().await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn the_monthly_export_writes_both_files_and_notifies_once() {
    let env = TestEnv::with_s3().await;
    worked_case_6(&env).await;
    for want in [vec!["c".to_string()], vec![]] {
        let report = seatkeeper::sweeps::forecast::export(&env.app, at("2019-06-01T06:00:00Z")).await.unwrap();
        assert_eq!(report.exported, want, "exported once");
    }
    let imports = env.imports();
    for key in ["reports/c/renewals-2019-06.csv", "reports/c/renewals-2019-06.xlsx"] {
        let got = imports.client.get_object().bucket(&imports.bucket).key(key).send().await;
        assert!(got.is_ok(), "{key}");
    }
    let csv =
        imports.client.get_object().bucket(&imports.bucket).key("reports/c/renewals-2019-06.csv").send().await.unwrap();
    let text = String::from_utf8(csv.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(text.contains("late@c.example") && !text.contains("wessel@c.example"), "June's renewals only: {text}");
    let notices = env.get("/v1/orgs/c/notifications").by(&cm("c")).send().await;
    let forecast: Vec<&Value> =
        notices.body["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "renewal_forecast").collect();
    assert_eq!(forecast.len(), 1);
    assert_eq!(forecast[0]["payload"]["month"], "2019-06");
}

/// The export follows the company's own day: in Los Angeles (UTC−7 in June) 06:00 UTC on 1 June
/// is still 31 May, so nothing goes; 06:00 there (13:00 UTC) exports June, once, however often
/// the hourly schedule fires after it.
#[tokio::test]
async fn the_monthly_export_goes_out_on_the_companys_own_first() {
    let env = TestEnv::with_s3().await;
    worked_case_6(&env).await;
    env.set_policy("c", json!({"time_zone": "America/Los_Angeles", "locale": "nl"})).await;
    let export = |when: &'static str| seatkeeper::sweeps::forecast::export(&env.app, at(when));
    assert!(export("2019-06-01T06:00:00Z").await.unwrap().exported.is_empty(), "31 May there");
    assert!(export("2019-06-01T12:59:59Z").await.unwrap().exported.is_empty(), "05:59 there");
    let due = export("2019-06-01T13:00:00Z").await.unwrap();
    assert_eq!((due.exported.clone(), due.month.as_str(), due.notices_sent), (vec!["c".to_string()], "2019-06", 1));
    for later in ["2019-06-01T14:00:00Z", "2019-06-02T06:00:00Z"] {
        assert!(export(later).await.unwrap().exported.is_empty(), "once: {later}");
    }
    let quiet = export("2019-06-15T12:00:00Z").await.unwrap();
    assert!(quiet.exported.is_empty() && quiet.failed.is_empty());
    let notices = env.get("/v1/orgs/c/notifications").by(&cm("c")).send().await;
    let forecast = notices.body["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "renewal_forecast").count();
    assert_eq!(forecast, 1);
    // A file a person receives reads in the org's language.
    let imports = env.imports();
    let csv =
        imports.client.get_object().bucket(&imports.bucket).key("reports/c/renewals-2019-06.csv").send().await.unwrap();
    let text = String::from_utf8(csv.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(text.contains("E-mailadres,Naam,Licentiedatum,Verlengdatum") && text.contains(",ja,"), "{text}");
}

/// The org's notices of `kind` for `date` (its `expiry_date` or `renewal_date`).
async fn notices_of(env: &TestEnv, kind: &str, date: &str) -> Vec<Value> {
    let n = env.get("/v1/orgs/c/notifications").by(&cm("c")).send().await;
    let items = n.body["items"].as_array().unwrap().iter();
    let on = |n: &Value| n["payload"]["expiry_date"] == date || n["payload"]["renewal_date"] == date;
    items.filter(|n| n["kind"] == kind && on(n)).cloned().collect()
}

async fn access(env: &TestEnv, email: &str, now: &str) -> (bool, String) {
    let a = env.access("c", &format!("{email}@c.example"), now).await;
    (a["access"].as_bool().unwrap(), a["reason"].as_str().unwrap().to_string())
}

async fn expire_sweep(env: &TestEnv, now: &str) {
    let report = seatkeeper::sweeps::expire::expire(&env.app, at(now)).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
}

/// Worked case 9 (docs/domain.md#example-9-a-renewal-is-not-an-expiry), on worked case 6's
/// company: Wessel and Mandy, due for renewal at 2019-05-11T09:00Z with live enrolments and
/// licences in the balance, get no reminder and no `expired`, and have access at the instant and
/// a second after, with the sweeps run in either order; only the learners who will not be renewed
/// are told. Late's renewal on 06-01 finds the balance empty: the reminder names it as blocked,
/// and at the instant it is `renewal_blocked`, not also `expired`.
#[tokio::test]
async fn worked_case_9_a_renewal_is_not_an_expiry_whichever_sweep_runs_first() {
    for expire_first in [true, false] {
        let env = TestEnv::new().await;
        worked_case_6(&env).await;
        expire_sweep(&env, "2019-05-08T09:00:00Z").await;
        let reminder = notices_of(&env, "expiry_reminder", "2019-05-11").await;
        assert_eq!(reminder.len(), 1, "{reminder:?}");
        assert_eq!(
            reminder[0]["payload"]["users"],
            json!(["no@c.example", "once@c.example"]),
            "only who will not renew"
        );
        assert!(reminder[0]["payload"].get("renewal_blocked").is_none(), "{}", reminder[0]["payload"]);

        assert_eq!(access(&env, "wessel", "2019-05-11T08:59:59Z").await, (true, "active".into()));
        for now in ["2019-05-11T09:00:00Z", "2019-05-11T09:00:01Z"] {
            assert_eq!(access(&env, "wessel", now).await, (true, "renewing".into()), "{now}, before any sweep");
            assert_eq!(access(&env, "mandy", now).await, (true, "renewing".into()), "{now}");
            assert_eq!(access(&env, "once", now).await, (false, "expired".into()), "{now}");
        }
        let instant = "2019-05-11T09:00:00Z";
        if expire_first {
            expire_sweep(&env, instant).await;
            assert_eq!(access(&env, "wessel", instant).await, (true, "renewing".into()), "not expired by the sweep");
            renewal(&env.app, at(instant)).await.unwrap();
        } else {
            renewal(&env.app, at(instant)).await.unwrap();
            expire_sweep(&env, instant).await;
        }
        assert_eq!(access(&env, "wessel", "2019-05-11T09:00:01Z").await, (true, "active".into()));
        let wessel = user(&env, "wessel").await;
        assert_eq!((wessel["licence_count"].as_u64(), wessel["licence"]["status"].as_str()), (Some(2), Some("active")));
        let expired = notices_of(&env, "expired", "2019-05-11").await;
        assert_eq!(expired.len(), 1, "expire first: {expire_first}: {expired:?}");
        assert_eq!(
            expired[0]["payload"]["users"],
            json!(["no@c.example", "once@c.example"]),
            "expire first: {expire_first}"
        );

        // Late renews on 06-01; the renewals above took the last two licences.
        expire_sweep(&env, "2019-05-29T09:00:00Z").await;
        let reminder = notices_of(&env, "expiry_reminder", "2019-06-01").await;
        assert_eq!(reminder.len(), 1, "{reminder:?}");
        let blocked = &reminder[0]["payload"]["renewal_blocked"];
        assert_eq!((blocked["count"].as_u64(), blocked["missing"].as_u64()), (Some(1), Some(1)), "{blocked}");
        assert_eq!(blocked["users"], json!(["late@c.example"]));
        assert_eq!(reminder[0]["payload"]["count"], 0);
        assert_eq!(
            access(&env, "late", "2019-06-01T09:00:00Z").await,
            (false, "expired".into()),
            "no licence to renew with"
        );
        let june = "2019-06-01T09:00:00Z";
        if expire_first {
            expire_sweep(&env, june).await;
            renewal(&env.app, at(june)).await.unwrap();
        } else {
            renewal(&env.app, at(june)).await.unwrap();
            expire_sweep(&env, june).await;
        }
        assert!(notices_of(&env, "expired", "2019-06-01").await.is_empty(), "expire first: {expire_first}");
        assert_eq!(notices_of(&env, "renewal_blocked", "2019-06-01").await.len(), 1);
        assert_eq!(user(&env, "late").await["licence"]["status"], "expired");
    }
}

async fn set_renewable(env: &TestEnv, email: &str, on: bool, now: &str) -> Value {
    let r = env
        .post("/v1/orgs/c/users/renewable")
        .by(&cm("c"))
        .json(json!({"emails": [format!("{email}@c.example")], "renewable": on}))
        .at(now)
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["results"][0].clone()
}

/// "Mocht je de deelnemer daarna alsnog willen verlengen, dan kun je Verlengbaar weer aanzetten"
/// (docs/domain.md#automatic-renewal): No's renewal at 2019-05-11T09:00Z was refused (not
/// renewable), his run expired with it. Made renewable again within the term, he is renewed
/// then: one licence, the year from the refused date, his run back as it was. With no licence
/// in the balance the flag is set and the shortfall said; set again once licences are there, it
/// renews; set again after that, it changes the flag alone.
#[tokio::test]
async fn renewable_again_within_the_term_renews_from_the_refused_date() {
    let env = TestEnv::new().await;
    worked_case_6(&env).await;
    renewal(&env.app, at("2019-06-30T00:00:00Z")).await.unwrap();
    let no = user(&env, "no").await;
    assert_eq!((no["licence_count"].as_u64(), no["licence"]["status"].as_str()), (Some(1), Some("expired")));
    assert_eq!(env.item("ORG#c", "ENROLMENT#no@c.example#run").await.unwrap()["status"].as_s().unwrap(), "expired");

    let blocked = set_renewable(&env, "no", true, "2019-07-01T00:00:00Z").await;
    assert_eq!(blocked["outcome"], "renewal_blocked", "{blocked}");
    assert!(blocked["message"].as_str().unwrap().contains("Request more licences"), "{blocked}");
    assert_eq!(user(&env, "no").await["licence_count"], 1, "nothing charged");
    assert_eq!(lot_uses(&env).await, 8);

    env.order_and_assign("c", 2, "2019-07-01T08:00:00Z", "p", "2019-07-01T09:00:00Z").await;
    let renewed = set_renewable(&env, "no", true, "2019-07-02T00:00:00Z").await;
    assert_eq!(renewed["outcome"], "renewed", "{renewed}");
    let no = user(&env, "no").await;
    assert_eq!(
        (no["licence_count"].as_u64(), no["licence"]["status"].as_str(), no["renewable"].as_bool()),
        (Some(2), Some("active"), Some(true))
    );
    assert_eq!(
        (no["licence"]["licence_date"].as_str(), no["renewal_at"].as_str()),
        (Some("2019-05-11"), Some("2020-05-11T09:00:00Z")),
        "the year counted from the refused renewal date"
    );
    let run = env.item("ORG#c", "ENROLMENT#no@c.example#run").await.unwrap();
    assert_eq!(run["status"].as_s().unwrap(), "active", "the run the refusal expired is back");
    assert!(env.access("c", "no@c.example", "2019-07-02T00:00:00Z").await["access"].as_bool().unwrap());

    let again = set_renewable(&env, "no", true, "2019-07-03T00:00:00Z").await;
    assert_eq!(again["outcome"], "updated", "renewed once: {again}");
    assert_eq!(user(&env, "no").await["licence_count"], 2);
}

/// Past one term after the refused renewal date, being made renewable changes the flag alone.
#[tokio::test]
async fn renewable_again_after_the_term_changes_the_flag_alone() {
    let env = TestEnv::new().await;
    worked_case_6(&env).await;
    renewal(&env.app, at("2019-06-30T00:00:00Z")).await.unwrap();
    env.order_and_assign("c", 2, "2020-05-12T08:00:00Z", "p", "2020-05-12T09:00:00Z").await;
    let late = set_renewable(&env, "no", true, "2020-05-12T10:00:00Z").await;
    assert_eq!(late["outcome"], "updated", "{late}");
    let no = user(&env, "no").await;
    assert_eq!((no["licence_count"].as_u64(), no["licence"]["status"].as_str()), (Some(1), Some("expired")));
}

/// The user's own "Verlengbaar" (`PUT …/users/{email}` with `renewable: true`) does what the
/// bulk route does: within the term, the refused learner is renewed from the refused date.
#[tokio::test]
async fn renewable_again_through_the_users_own_put_renews_within_the_term() {
    let env = TestEnv::new().await;
    worked_case_6(&env).await;
    renewal(&env.app, at("2019-06-30T00:00:00Z")).await.unwrap();
    env.order_and_assign("c", 2, "2019-07-01T08:00:00Z", "p", "2019-07-01T09:00:00Z").await;
    let put =
        env.put_user("c", "no@c.example").json(json!({"renewable": true})).at("2019-07-02T00:00:00Z").send().await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    assert_eq!(
        (put.body["licence_count"].as_u64(), put.body["licence"]["status"].as_str(), put.body["renewable"].as_bool()),
        (Some(2), Some("active"), Some(true)),
        "{:?}",
        put.body
    );
    assert_eq!(put.body["renewal_at"], "2020-05-11T09:00:00Z", "the year counted from the refused renewal date");
    let again =
        env.put_user("c", "no@c.example").json(json!({"renewable": true})).at("2019-07-03T00:00:00Z").send().await;
    assert_eq!((again.status, again.body["licence_count"].as_u64()), (200, Some(2)), "renewed once");
}

// ---- a course run is open for one year by default (run_access_months) ----

/// Company c on activation and automatic renewal, with `policy` on top, a lot of 5 and Lisa
/// enrolled in one run sent without an end, activated 2026-03-01 09:00.
async fn one_run_without_an_end(env: &TestEnv, policy: Value) -> Value {
    env.partner_with_company("p", "c").await;
    let mut settings = json!({"term_starts": "activation", "renewal": "automatic"});
    settings.as_object_mut().unwrap().extend(policy.as_object().unwrap().clone());
    env.set_policy("c", settings).await;
    env.order_and_assign("c", 5, "2026-02-01T08:00:00Z", "p", "2026-02-02T09:00:00Z").await;
    env.put_user("c", "lisa@c.example").json(json!({"name": "Lisa"})).at("2026-02-10T00:00:00Z").send().await;
    let start = "2026-03-01T09:00:00Z";
    env.enrol("c", "lisa@c.example", "run", json!({"status": "new"}), "2026-02-10T00:00:00Z").await;
    let active = env.enrol("c", "lisa@c.example", "run", json!({"status": "active"}), start).await;
    active.body["enrolment"].clone()
}

async fn lisa(env: &TestEnv, now: &str) -> Value {
    env.get("/v1/orgs/c/users/lisa@c.example").by(&cm("c")).at(now).send().await.body
}

#[tokio::test]
async fn worked_case_10_one_run_with_the_default_access_is_never_charged_a_second_licence() {
    let env = TestEnv::new().await;
    let run = one_run_without_an_end(&env, json!({})).await;
    assert_eq!(
        (run["activated_at"].as_str(), run["ends_at"].as_str()),
        (Some("2026-03-01T09:00:00Z"), Some("2027-03-01T09:00:00Z")),
        "{run}"
    );
    // The platform sends the run again later, still without an end: the end stays.
    let again = env.enrol("c", "lisa@c.example", "run", json!({"status": "active"}), "2026-09-01T00:00:00Z").await;
    assert_eq!(again.body["enrolment"]["ends_at"], "2027-03-01T09:00:00Z");
    let forecast = env.get("/v1/orgs/c/renewals?until=2027-03-31").by(&cm("c")).at("2027-02-01T00:00:00Z").send().await;
    let row = &forecast.body["items"][0];
    assert_eq!((row["will_renew"].as_bool(), row["reason"].as_str()), (Some(false), Some("no_live_enrolment")));

    for now in ["2027-03-01T09:00:00Z", "2027-03-01T10:00:00Z"] {
        renewal(&env.app, at(now)).await.unwrap();
        seatkeeper::sweeps::expire::expire(&env.app, at(now)).await.unwrap();
    }
    let after = lisa(&env, "2027-03-02T00:00:00Z").await;
    assert_eq!(
        (after["licence_count"].as_u64(), after["licence"]["status"].as_str()),
        (Some(1), Some("expired")),
        "{after}"
    );
    assert_eq!(lot_uses(&env).await, 1, "one licence in all");
    let runs =
        env.get("/v1/orgs/c/users/lisa@c.example/enrolments").by(&cm("c")).at("2027-03-02T00:00:00Z").send().await;
    assert_eq!(runs.body["items"][0]["status"], "expired", "{:?}", runs.body);
}

#[tokio::test]
async fn a_run_open_eighteen_months_is_renewed_once() {
    let env = TestEnv::new().await;
    let run = one_run_without_an_end(&env, json!({"run_access_months": 18})).await;
    assert_eq!(run["ends_at"], "2027-09-01T09:00:00Z");
    for now in ["2027-03-01T09:00:00Z", "2028-03-01T09:00:00Z"] {
        renewal(&env.app, at(now)).await.unwrap();
        seatkeeper::sweeps::expire::expire(&env.app, at(now)).await.unwrap();
    }
    let after = lisa(&env, "2028-03-02T00:00:00Z").await;
    assert_eq!(
        (after["licence_count"].as_u64(), after["licence"]["status"].as_str()),
        (Some(2), Some("expired")),
        "renewed in 2027, not in 2028: {after}"
    );
}

#[tokio::test]
async fn runs_without_an_end_stay_open_ended_when_the_knob_is_0() {
    let env = TestEnv::new().await;
    let run = one_run_without_an_end(&env, json!({"run_access_months": 0})).await;
    assert_eq!((run["activated_at"].as_str(), run.get("ends_at")), (Some("2026-03-01T09:00:00Z"), None));
    renewal(&env.app, at("2027-03-01T09:00:00Z")).await.unwrap();
    assert_eq!(lisa(&env, "2027-03-02T00:00:00Z").await["licence_count"], 2, "renewed: the run is still live");
}
