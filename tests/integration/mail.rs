//! Notice e-mail (issue 19) through the real local server, DynamoDB Local and moto's SES: the
//! server runs the mailer on each notice the table's stream carries, as the bus would, and
//! `GET /dev/mail` reads back what moto sent. SES's refusals and throttling, which moto never
//! produces, with `aws-smithy-mocks`.
//!
//! moto is one server for every test of the run, so each test names its recipients uniquely and
//! reads only their mail.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sesv2::operation::send_email::{SendEmailError, SendEmailOutput};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use calamine::{Data, DataType, Reader, Xlsx};
use seatkeeper::command::Policy;
use seatkeeper::domain::notice::{Notice, NoticeKind};
use seatkeeper::mail::{MailError, Mailer};
use seatkeeper::store::deliveries::Claim;
use seatkeeper_local::{router, LocalServer};
use seatkeeper_tests::{at, cm, pm, SesReport, TestEnv, Who};
use serde_json::{json, Value};

const SECRET: &str = "mail-test-secret";
const FROM: &str = "notices@seatkeeper.test";

/// A tag no other test of the run uses, for its recipients' addresses.
fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// The mailer over `env`'s table and bucket, sending to moto's SES (`AWS_ENDPOINT_URL_SESV2`).
async fn moto_mailer(env: &TestEnv) -> Mailer {
    std::env::var("AWS_ENDPOINT_URL_SESV2").expect("AWS_ENDPOINT_URL_SESV2 must point at moto: run `make test`");
    let config = seatkeeper::app::sdk_config().await;
    let mailer = Mailer {
        store: env.app.store.clone(),
        ses: seatkeeper::mail::ses::client(&config),
        reports: env.app.imports.clone(),
        from: FROM.into(),
        configuration_set: "seatkeeper-test-notices".into(),
        console_url: "https://console.seatkeeper.test".into(),
        backoff: Policy::DEFAULT,
    };
    seatkeeper_local::mail::ensure_sender(&mailer.ses, FROM).await.unwrap();
    mailer
}

/// The local server over `env`, with the mailer on its table's stream; its base URL.
async fn serve_with_mail(env: &TestEnv) -> String {
    let mailer = moto_mailer(env).await;
    let progress = seatkeeper_local::mail::spawn_on_stream(mailer.clone(), env.table.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(LocalServer {
        app: env.app.clone(),
        secret: SECRET.into(),
        console: None,
        mail: Some(progress),
        mailer: Some(mailer),
    });
    tokio::spawn(async move { axum::serve(listener, router(server)).await.unwrap() });
    format!("http://{addr}")
}

/// What `GET /dev/mail?to=` lists for `to`, once the mailer has mailed every notice written
/// before the call (`settled=true`: the server waits for it, however slow the machine).
async fn mail_to(base: &str, to: &str, bodies: bool) -> Vec<Value> {
    let url = format!("{base}/dev/mail?to={to}&bodies={bodies}&settled=true");
    let got: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    got["items"].as_array().unwrap_or_else(|| panic!("GET /dev/mail: {got}")).clone()
}

/// `to`'s mail of `kind`, which must be `n` messages once everything written so far is mailed.
async fn wait_for(base: &str, to: &str, kind: &str, n: usize) -> Vec<Value> {
    let of_kind: Vec<Value> = mail_to(base, to, true).await.into_iter().filter(|m| m["kind"] == kind).collect();
    assert_eq!(of_kind.len(), n, "{to}'s {kind} mail, once the mailer settled: {of_kind:?}");
    of_kind
}

async fn sweep(base: &str, name: &str, now: &str) -> Value {
    let r = reqwest::Client::new().post(format!("{base}/dev/sweeps/{name}?now={now}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Company `c` with ten licensed learners on a lot assigned 2026-01-15T09:00Z (ending
/// 2027-01-15T09:00Z), its managers `managers`, and the policy `policy`.
async fn licensed_company(env: &TestEnv, c: &str, managers: &[String], policy: Value) {
    env.org(c, "company", "p").await;
    env.set_policy(c, policy).await;
    for m in managers {
        env.manager(c, m).await;
    }
    env.lot("p", c, 10).await;
    let learners: Vec<String> = (1..=10).map(|i| format!("learner{i}@{c}.example")).collect();
    env.licensed(c, &learners, "2026-02-01T00:00:00Z").await;
}

#[tokio::test]
async fn the_expiry_walk_mails_each_manager_one_reminder_and_one_expiry_in_their_orgs_language() {
    let env = TestEnv::new().await;
    let t = tag();
    env.org("p", "partner", "vendor").await;
    let dutch = vec![format!("anne-{t}@nl.example"), format!("bram-{t}@nl.example")];
    let english = vec![format!("carol-{t}@en.example")];
    licensed_company(&env, "nl", &dutch, json!({"locale": "nl", "time_zone": "Europe/Amsterdam"})).await;
    licensed_company(&env, "en", &english, json!({})).await;
    let base = serve_with_mail(&env).await;

    assert_eq!(sweep(&base, "expire", "2027-01-12T08:59:59Z").await["notices_sent"], 0, "not yet 72 hours ahead");
    assert_eq!(sweep(&base, "expire", "2027-01-12T09:00:00Z").await["notices_sent"], 2);
    assert_eq!(sweep(&base, "expire", "2027-01-12T10:00:00Z").await["notices_sent"], 0, "the next hour: nothing new");
    for m in &dutch {
        let reminders = wait_for(&base, m, "expiry_reminder", 1).await;
        assert_eq!(reminders.len(), 1, "{m}: {reminders:?}");
        assert_eq!(reminders[0]["subject"], "10 licenties van NL verlopen op 15 januari 2027");
        let text = reminders[0]["text"].as_str().unwrap();
        assert!(text.contains("15 januari 2027, 10:00 CET") && text.contains("learner7@nl.example"), "{text}");
        assert!(text.contains("https://console.seatkeeper.test/licences/expired"), "how to renew: {text}");
    }
    let reminder = wait_for(&base, &english[0], "expiry_reminder", 1).await;
    assert_eq!(reminder[0]["subject"], "10 licences of EN expire on 15 January 2027");
    assert!(reminder[0]["text"].as_str().unwrap().contains("15 January 2027, 09:00 UTC"));

    assert_eq!(sweep(&base, "expire", "2027-01-15T09:00:00Z").await["notices_sent"], 2);
    sweep(&base, "expire", "2027-01-15T10:00:00Z").await;
    for m in dutch.iter().chain(&english) {
        let expired = wait_for(&base, m, "expired", 1).await;
        assert_eq!(expired.len(), 1, "{m}: {expired:?}");
        assert_eq!(mail_to(&base, m, false).await.iter().filter(|x| x["kind"] == "expiry_reminder").count(), 1);
    }
    let nl = wait_for(&base, &dutch[0], "expired", 1).await;
    assert_eq!(nl[0]["subject"], "10 licenties van NL zijn verlopen op 15 januari 2027");
    assert!(nl[0]["html"].as_str().unwrap().contains("<li>learner1@nl.example</li>"));

    // Each recipient's delivery is on the notice, sent with SES's message id.
    let notices = env.get("/v1/orgs/nl/notifications").by(&cm("nl")).send().await;
    let expired = notices.body["items"].as_array().unwrap().iter().find(|n| n["kind"] == "expired").unwrap().clone();
    let deliveries = expired["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2);
    for d in deliveries {
        let email = d["email"].as_str().unwrap();
        let sent = mail_to(&base, email, false).await;
        let mail = sent.iter().find(|m| m["kind"] == "expired").unwrap();
        assert_eq!((d["state"].as_str(), d["attempts"].as_u64()), (Some("sent"), Some(1)), "{d}");
        assert_eq!(d["message_id"], mail["message_id"]);
    }
}

#[tokio::test]
async fn a_requested_order_mails_the_partner_and_the_assigned_order_mails_the_company() {
    let env = TestEnv::new().await;
    let t = tag();
    let (account, boss) = (format!("account-{t}@p.example"), format!("boss-{t}@c.example"));
    env.partner_with_company("p", "c").await;
    env.set_policy("p", json!({"notify_emails": [account]})).await;
    env.set_policy("c", json!({"notify_emails": []})).await;
    env.manager("c", &boss).await;
    let base = serve_with_mail(&env).await;
    let http = reqwest::Client::new();
    let post = |path: String, who: Who, body: Value, now: &'static str| {
        http.post(format!("{base}{path}"))
            .bearer_auth(who.token(SECRET, 600))
            .header("X-Seatkeeper-Now", now)
            .json(&body)
            .send()
    };

    let order: Value =
        post("/v1/orgs/c/orders".into(), cm("c"), json!({"quantity": 25, "note": "Q3 cohort"}), "2026-01-10T08:00:00Z")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let id = order["order_id"].as_str().unwrap().to_string();
    let requested = wait_for(&base, &account, "order_requested", 1).await;
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["subject"], "C requests 25 licences");
    let text = requested[0]["text"].as_str().unwrap();
    assert!(text.contains(&id) && text.contains("Q3 cohort"), "{text}");
    assert!(text.contains("https://console.seatkeeper.test/orders?status=requested&company=c"), "{text}");
    assert!(mail_to(&base, &boss, false).await.is_empty(), "the company is not told of its own request");

    let assigned = post(format!("/v1/orders/{id}/assign"), pm("p"), json!({}), "2026-01-15T09:00:00Z").await.unwrap();
    assert_eq!(assigned.status(), 200);
    let ready = wait_for(&base, &boss, "order_assigned", 1).await;
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0]["subject"], "25 licences are ready for allocation");
    assert!(ready[0]["text"].as_str().unwrap().contains("until 15 January 2027, 09:00 UTC"), "{:?}", ready[0]["text"]);
    assert_eq!(mail_to(&base, &account, false).await.len(), 1, "the partner is told once, of the request");
}

/// Company `c` on automatic renewal, its forecast going to `admin`: learners whose renewal dates
/// fall on 2019-06-01 and 2019-06-15 (June's), and one on 2019-05-11 (May's).
async fn renewing_company(env: &TestEnv, admin: &str) {
    env.partner_with_company("p", "c").await;
    env.set_policy("c", json!({"term_starts": "activation", "renewal": "automatic", "notify_emails": [admin]})).await;
    env.order_and_assign("c", 8, "2018-04-01T08:00:00Z", "p", "2018-04-02T09:00:00Z").await;
    for (who, start) in
        [("june", "2018-06-01T09:00:00Z"), ("later", "2018-06-15T09:00:00Z"), ("may", "2018-05-11T09:00:00Z")]
    {
        env.put_user("c", &format!("{who}@c.example"))
            .json(json!({"name": who}))
            .at("2018-05-01T00:00:00Z")
            .send()
            .await;
        let run = json!({"status": "active", "starts_at": start, "ends_at": "2020-07-01T00:00:00Z"});
        env.enrol("c", &format!("{who}@c.example"), "run", run, start).await;
    }
}

#[tokio::test]
async fn the_monthly_forecast_mail_carries_an_xlsx_with_the_forecasts_rows_and_the_csv() {
    let env = TestEnv::with_s3().await;
    let t = tag();
    let admin = format!("admin-{t}@c.example");
    renewing_company(&env, &admin).await;
    let base = serve_with_mail(&env).await;
    let report = sweep(&base, "forecast", "2019-06-01T06:00:00Z").await;
    assert_eq!(report["exported"], json!(["c"]));

    let mail = wait_for(&base, &admin, "renewal_forecast", 1).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0]["subject"], "Renewal forecast of C for June 2019");
    let files = mail[0]["attachment_bodies"].as_array().unwrap();
    let body = |name: &str| {
        use base64::Engine;
        let file = files.iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("{name} in {files:?}"));
        base64::engine::general_purpose::STANDARD.decode(file["base64"].as_str().unwrap()).unwrap()
    };
    let listed: Vec<(&str, u64)> = mail[0]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["size"].as_u64().unwrap()))
        .collect();
    assert_eq!(listed.iter().map(|l| l.0).collect::<Vec<_>>(), vec!["renewals-2019-06.xlsx", "renewals-2019-06.csv"]);

    // An independent reader opens the workbook: June's rows, as the forecast has them.
    let xlsx = body("renewals-2019-06.xlsx");
    assert_eq!(listed[0].1, xlsx.len() as u64);
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(xlsx)).expect("an xlsx that opens");
    let sheet = book.worksheet_range("Renewals").unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().skip(1).map(|r| vec![cell(&r[0]), cell(&r[3])]).collect();
    let forecast = env.get("/v1/orgs/c/renewals?until=2019-06-30").by(&cm("c")).at("2019-06-01T06:00:00Z").send().await;
    let june: Vec<Vec<String>> = forecast.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["renewal_date"].as_str().unwrap() >= "2019-06-01")
        .map(|r| vec![r["email"].as_str().unwrap().to_string(), r["renewal_date"].as_str().unwrap()[..10].to_string()])
        .collect();
    assert_eq!(rows, june);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let csv = String::from_utf8(body("renewals-2019-06.csv")).unwrap();
    assert!(
        csv.contains("june@c.example") && csv.contains("later@c.example") && !csv.contains("may@c.example"),
        "{csv}"
    );
}

fn cell(d: &Data) -> String {
    match d {
        Data::DateTime(_) => d.as_date().map(|d| d.to_string()).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// A notice of `env`'s company `c` to `recipients`, stored as a sweep would store it.
async fn stored_notice(env: &TestEnv, recipients: Vec<String>) -> Notice {
    let notice = Notice {
        notice_id: seatkeeper::command::new_id("ntc"),
        kind: NoticeKind::Expired,
        org_id: "c".into(),
        created_at: at("2027-01-15T09:00:00Z"),
        recipients,
        recipients_omitted: 0,
        payload: json!({"expiry_date": "2027-01-15", "count": 1, "users": ["l@c.example"], "users_truncated": false, "lots": []}),
    };
    env.app.store.apply(&[seatkeeper::domain::change::Change::Notice(notice.clone())], None).await.unwrap();
    notice
}

async fn deliveries(env: &TestEnv, notice: &Notice) -> Value {
    let all = env.get("/v1/orgs/c/notifications").by(&cm("c")).send().await;
    all.body["items"].as_array().unwrap().iter().find(|n| n["notice_id"] == notice.notice_id.as_str()).unwrap().clone()
}

#[tokio::test]
async fn the_same_event_delivered_twice_sends_one_mail_per_recipient() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let t = tag();
    let to = vec![format!("one-{t}@c.example"), format!("two-{t}@c.example")];
    let notice = stored_notice(&env, to.clone()).await;
    let mailer = moto_mailer(&env).await;
    let event = seatkeeper_local::mail::bus_event(&notice);
    let now = at("2027-01-15T09:00:05Z");
    let first = seatkeeper::mail::lambda::handle(&mailer, &event, now).await.unwrap();
    assert_eq!(first["sent"], json!(to));
    let again = seatkeeper::mail::lambda::handle(&mailer, &event, now + chrono::Duration::minutes(10)).await.unwrap();
    assert_eq!((again["sent"].clone(), again["settled"].clone()), (json!([]), json!(to)));
    let sent =
        seatkeeper_local::mail::sent_mail(&std::env::var("AWS_ENDPOINT_URL_SESV2").unwrap(), false).await.unwrap();
    for email in &to {
        let theirs: Vec<&Value> = sent.iter().filter(|m| m["to"] == json!([email])).collect();
        assert_eq!(theirs.len(), 1, "{email}");
        assert_eq!(theirs[0]["notice_id"], notice.notice_id.as_str());
    }
    let view = deliveries(&env, &notice).await;
    assert!(
        view["deliveries"].as_array().unwrap().iter().all(|d| d["state"] == "sent" && d["attempts"] == 1),
        "{view}"
    );

    // A notice without a recipient is recorded as such, and sends nothing.
    let nobody = stored_notice(&env, vec![]).await;
    let report =
        seatkeeper::mail::lambda::handle(&mailer, &seatkeeper_local::mail::bus_event(&nobody), now).await.unwrap();
    assert_eq!(report["no_recipient"], true);
    let view = deliveries(&env, &nobody).await;
    assert_eq!((view["no_recipient"].as_bool(), view["deliveries"].as_array().map(Vec::len)), (Some(true), Some(0)));

    // Another source's event is refused in words.
    let e = seatkeeper::mail::lambda::handle(&mailer, &json!({"source": "aws.events", "detail": {}}), now)
        .await
        .unwrap_err();
    assert!(e.message.contains("source \"seatkeeper\""), "{}", e.message);
}

/// A mailer whose SES is `ses` (a mock), over `env`'s table, with a back-off of milliseconds.
fn mocked(env: &TestEnv, ses: aws_sdk_sesv2::Client) -> Mailer {
    Mailer {
        store: env.app.store.clone(),
        ses,
        reports: None,
        from: FROM.into(),
        configuration_set: "seatkeeper-test-notices".into(),
        console_url: String::new(),
        backoff: Policy { attempts: 4, first: Duration::from_millis(1), cap: Duration::from_millis(4) },
    }
}

fn throttled() -> SendEmailError {
    SendEmailError::TooManyRequestsException(
        aws_sdk_sesv2::types::error::TooManyRequestsException::builder()
            .message("Maximum sending rate exceeded.")
            .build(),
    )
}

#[tokio::test]
async fn throttling_is_retried_with_back_off_until_ses_accepts() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let notice = stored_notice(&env, vec!["boss@c.example".into()]).await;
    let rule = mock!(aws_sdk_sesv2::Client::send_email)
        .sequence()
        .error(throttled)
        .times(2)
        .output(|| SendEmailOutput::builder().message_id("ses-0001").build())
        .build();
    let mailer = mocked(&env, mock_client!(aws_sdk_sesv2, RuleMode::Sequential, [&rule]));
    let report = mailer.deliver(&notice, at("2027-01-15T09:00:05Z")).await.unwrap();
    assert_eq!(report.sent, vec!["boss@c.example".to_string()]);
    assert_eq!(rule.num_calls(), 3, "two throttled tries, then the one SES accepted");
    let d = &deliveries(&env, &notice).await["deliveries"][0];
    assert_eq!((d["state"].as_str(), d["message_id"].as_str()), (Some("sent"), Some("ses-0001")), "{d}");
}

#[tokio::test]
async fn a_send_that_keeps_failing_is_left_for_the_next_delivery_which_sends_it() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let notice = stored_notice(&env, vec!["boss@c.example".into()]).await;
    let down = mock!(aws_sdk_sesv2::Client::send_email).sequence().error(throttled).times(4).build();
    let mailer = mocked(&env, mock_client!(aws_sdk_sesv2, RuleMode::Sequential, [&down]));
    let now = at("2027-01-15T09:00:05Z");
    match mailer.deliver(&notice, now).await {
        Err(MailError::Unfinished(report)) => assert_eq!(report.failed.len(), 1, "{report:?}"),
        other => panic!("a failed send fails the delivery, so it is delivered again: {other:?}"),
    }
    assert_eq!(down.num_calls(), 4, "every try of the back-off");
    assert_eq!(deliveries(&env, &notice).await["deliveries"][0]["state"], "failed");

    let up =
        mock!(aws_sdk_sesv2::Client::send_email).then_output(|| SendEmailOutput::builder().message_id("ses-2").build());
    let mailer = mocked(&env, mock_client!(aws_sdk_sesv2, RuleMode::Sequential, [&up]));
    let report = mailer.deliver(&notice, now + chrono::Duration::minutes(1)).await.unwrap();
    assert_eq!((report.sent.len(), up.num_calls()), (1, 1));
    let d = &deliveries(&env, &notice).await["deliveries"][0];
    assert_eq!((d["state"].as_str(), d["attempts"].as_u64()), (Some("sent"), Some(2)), "{d}");
}

#[tokio::test]
async fn a_permanent_refusal_is_recorded_with_its_reason_and_never_tried_again() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let notice = stored_notice(&env, vec!["gone@c.example".into(), "boss@c.example".into()]).await;
    let refused = mock!(aws_sdk_sesv2::Client::send_email)
        .match_requests(|r| r.destination().is_some_and(|d| d.to_addresses() == ["gone@c.example"]))
        .then_error(|| {
            SendEmailError::MessageRejected(
                aws_sdk_sesv2::types::error::MessageRejected::builder()
                    .message("Email address is not verified. The following identities failed the check: gone@c.example")
                    .build(),
            )
        });
    let accepted = mock!(aws_sdk_sesv2::Client::send_email)
        .then_output(|| SendEmailOutput::builder().message_id("ses-ok").build());
    let mailer = mocked(&env, mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&refused, &accepted]));
    let now = at("2027-01-15T09:00:05Z");
    let report = mailer.deliver(&notice, now).await.unwrap();
    assert_eq!(report.sent, vec!["boss@c.example".to_string()], "one bad address holds up nobody");
    assert_eq!(report.refused.len(), 1);
    assert_eq!(refused.num_calls(), 1, "a refusal is not retried");
    let view = deliveries(&env, &notice).await;
    let gone = view["deliveries"].as_array().unwrap().iter().find(|d| d["email"] == "gone@c.example").unwrap().clone();
    assert_eq!(gone["state"], "refused");
    assert!(gone["reason"].as_str().unwrap().contains("not verified"), "{gone}");

    let again = mailer.deliver(&notice, now + chrono::Duration::hours(1)).await.unwrap();
    assert_eq!(again.settled.len(), 2);
    assert_eq!((refused.num_calls(), accepted.num_calls()), (1, 1), "a second delivery sends nothing");
}

#[tokio::test]
async fn a_delivery_that_died_after_claiming_is_sent_again_only_once_its_lease_has_run_out() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let notice = stored_notice(&env, vec!["boss@c.example".into()]).await;
    let claimed_at = at("2027-01-15T09:00:05Z");
    // A delivery claims the recipient, then vanishes (before or after its send).
    let lease = seatkeeper::domain::notice::lease();
    let claim = env.app.store.claim_delivery(&notice, "boss@c.example", claimed_at, lease).await.unwrap();
    assert!(matches!(claim, Claim::Claimed { attempt: 1, .. }), "{claim:?}");
    let ok =
        mock!(aws_sdk_sesv2::Client::send_email).then_output(|| SendEmailOutput::builder().message_id("ses-3").build());
    let mailer = mocked(&env, mock_client!(aws_sdk_sesv2, RuleMode::Sequential, [&ok]));
    match mailer.deliver(&notice, claimed_at + chrono::Duration::seconds(30)).await {
        Err(MailError::Unfinished(report)) => assert_eq!(report.busy, vec!["boss@c.example".to_string()]),
        other => panic!("a live claim is another delivery's: {other:?}"),
    }
    assert_eq!(ok.num_calls(), 0);
    let after = mailer.deliver(&notice, claimed_at + lease).await.unwrap();
    assert_eq!((after.sent.len(), ok.num_calls()), (1, 1));
    assert_eq!(deliveries(&env, &notice).await["deliveries"][0]["attempts"], 2);
}

#[tokio::test]
async fn two_deliveries_racing_for_the_same_recipients_send_each_mail_once() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let to: Vec<String> = (0..4).map(|i| format!("race{i}@c.example")).collect();
    let notice = stored_notice(&env, to.clone()).await;
    let ok = mock!(aws_sdk_sesv2::Client::send_email)
        .sequence()
        .output(|| SendEmailOutput::builder().message_id("ses-r").build())
        .repeatedly()
        .build();
    let ses = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&ok]);
    let (a, b) = (mocked(&env, ses.clone()), mocked(&env, ses));
    let now = at("2027-01-15T09:00:05Z");
    // Both read every guard before either writes: each claim is decided on the same reads.
    let (first, second) = tokio::join!(a.deliver(&notice, now), b.deliver(&notice, now));
    let sent: Vec<String> = [first, second]
        .into_iter()
        .flat_map(|r| match r {
            Ok(report) => report.sent,
            Err(MailError::Unfinished(report)) => report.sent,
            Err(e) => panic!("{e}"),
        })
        .collect();
    let mut sorted = sent.clone();
    sorted.sort();
    assert_eq!((sorted, ok.num_calls()), (to.clone(), 4), "each recipient mailed once");
    let view = deliveries(&env, &notice).await;
    let states: Vec<(&str, u64)> = view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["state"].as_str().unwrap(), d["attempts"].as_u64().unwrap()))
        .collect();
    assert_eq!(states, vec![("sent", 1); 4], "{view}");
    let first = view["deliveries"][0].as_object().unwrap();
    assert!(["claim", "version", "lease_until"].iter().all(|k| !first.contains_key(*k)), "{view}");
}

#[tokio::test]
async fn a_guard_written_before_guards_had_versions_is_claimed_and_marked() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let notice = stored_notice(&env, vec!["old@c.example".into()]).await;
    // As the mailer wrote a failed try before: no version, no claim.
    let sk = format!("DELIVERY#{}#old@c.example", notice.notice_id);
    let item = std::collections::HashMap::from([
        ("PK".to_string(), s("ORG#c")),
        ("SK".to_string(), s(&sk)),
        ("type".to_string(), s("delivery")),
        ("notice_id".to_string(), s(&notice.notice_id)),
        ("email".to_string(), s("old@c.example")),
        ("state".to_string(), s("failed")),
        ("reason".to_string(), s("throttled")),
        ("attempts".to_string(), aws_sdk_dynamodb::types::AttributeValue::N("1".into())),
        ("updated_at".to_string(), s("2027-01-15T08:00:00.000Z")),
    ]);
    env.app.store.client.put_item().table_name(&env.app.store.table).set_item(Some(item)).send().await.unwrap();
    let ok =
        mock!(aws_sdk_sesv2::Client::send_email).then_output(|| SendEmailOutput::builder().message_id("ses-o").build());
    let mailer = mocked(&env, mock_client!(aws_sdk_sesv2, RuleMode::Sequential, [&ok]));
    let report = mailer.deliver(&notice, at("2027-01-15T09:00:05Z")).await.unwrap();
    assert_eq!((report.sent, ok.num_calls()), (vec!["old@c.example".to_string()], 1));
    let view = deliveries(&env, &notice).await;
    assert_eq!(
        (view["deliveries"][0]["state"].as_str(), view["deliveries"][0]["attempts"].as_u64()),
        (Some("sent"), Some(2))
    );
}

fn s(v: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(v.to_string())
}

// ---- issue 25: bounded recipients, the configuration set and tags, bounces and complaints ----

/// The stored notices of `org`, newest first, as its managers read them.
async fn notices_of(env: &TestEnv, org: &str) -> Vec<Value> {
    let page = env.get(&format!("/v1/orgs/{org}/notifications")).by(&cm(org)).send().await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_notice_mails_at_most_fifty_of_an_orgs_many_managers_and_says_how_many_it_left_out() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.set_policy("c", json!({"notify_emails": ["copy@vendor.example"]})).await;
    let managers: Vec<String> = (0..60).map(|i| format!("m{i:02}@c.example")).collect();
    env.users("c", &managers).json(json!({"role": "company_manager"})).await;
    env.lot("p", "c", 10).await;

    let assigned: Vec<Value> =
        notices_of(&env, "c").await.into_iter().filter(|n| n["kind"] == "order_assigned").collect();
    assert_eq!(assigned.len(), 1);
    let notice = &assigned[0];
    let to: Vec<&str> = notice["recipients"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert_eq!(to.len(), 50, "{notice}");
    assert_eq!(notice["recipients_omitted"], 11, "60 managers and the vendor's copy: 61, 50 mailed");
    assert!(to.contains(&"copy@vendor.example"), "the policy's own addresses come first");
    assert_eq!(notice["deliveries"].as_array().unwrap().len(), 50);

    // The mailer sends what the notice names: 50 messages, no more.
    let stored: Notice = serde_json::from_value(notice.clone()).unwrap();
    let ok =
        mock!(aws_sdk_sesv2::Client::send_email).then_output(|| SendEmailOutput::builder().message_id("ses-m").build());
    let mailer = mocked(&env, mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&ok]));
    let report = mailer.deliver(&stored, at("2027-01-15T09:00:05Z")).await.unwrap();
    assert_eq!((report.sent.len(), ok.num_calls()), (50, 50));

    // Whatever decided the recipients, the store refuses a notice naming more.
    let mut too_many = stored.clone();
    too_many.notice_id = "ntc_too_many".into();
    too_many.recipients = managers.clone();
    let refused = env.app.store.apply(&[seatkeeper::domain::change::Change::Notice(too_many)], None).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("at most 50")));
    assert_eq!(env.count("ORG#c", "notice").await, 1, "nothing stored");
}

#[tokio::test]
async fn every_message_goes_through_the_configuration_set_tagged_with_its_org_and_notice() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let notice = stored_notice(&env, vec!["boss@c.example".into()]).await;
    let notice_id = notice.notice_id.clone();
    let tagged = mock!(aws_sdk_sesv2::Client::send_email)
        .match_requests(move |r| {
            let tag = |name: &str| {
                let t = r.email_tags().iter().find(|t| t.name() == name)?;
                seatkeeper::mail::ses::from_tag_value(t.value())
            };
            r.configuration_set_name() == Some("seatkeeper-test-notices")
                && tag("org_id").as_deref() == Some("c")
                && tag("notice_id").as_deref() == Some(notice_id.as_str())
        })
        .then_output(|| SendEmailOutput::builder().message_id("ses-tagged").build());
    let mailer = mocked(&env, mock_client!(aws_sdk_sesv2, RuleMode::Sequential, [&tagged]));
    let report = mailer.deliver(&notice, at("2027-01-15T09:00:05Z")).await.unwrap();
    assert_eq!((report.sent.len(), tagged.num_calls()), (1, 1), "sent through the set, with both tags: {report:?}");
}

/// A notice of `org` to `recipients`, stored as a sweep would store it (the local server's
/// mailer picks it up from the table's stream).
async fn notice_in(env: &TestEnv, org: &str, recipients: &[&String]) -> Notice {
    let notice = Notice {
        notice_id: seatkeeper::command::new_id("ntc"),
        kind: NoticeKind::OrderAssigned,
        org_id: org.into(),
        created_at: at("2027-01-15T09:00:00Z"),
        recipients: recipients.iter().map(|e| e.to_string()).collect(),
        recipients_omitted: 0,
        payload: json!({"order_id": "ord_1", "lot_id": "lot_1", "quantity": 5, "valid_from": "2027-01-15T09:00:00Z",
                        "valid_until": "2028-01-15T09:00:00Z", "message": "5 licences are ready for allocation"}),
    };
    env.app.store.apply(&[seatkeeper::domain::change::Change::Notice(notice.clone())], None).await.unwrap();
    notice
}

/// `POST /dev/ses-events` with `event`: the mailer's answer.
async fn ses_event_posted(base: &str, event: &Value) -> Value {
    let r = reqwest::Client::new().post(format!("{base}/dev/ses-events")).json(event).send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// Each recipient's delivery state (and reason) of `notice`, as its org's managers read it.
async fn states(env: &TestEnv, notice: &Notice) -> Vec<(String, String, Option<String>)> {
    let page = env.get(&format!("/v1/orgs/{}/notifications", notice.org_id)).by(&cm(&notice.org_id)).send().await;
    let n =
        page.body["items"].as_array().unwrap().iter().find(|n| n["notice_id"] == notice.notice_id.as_str()).cloned();
    let n = n.unwrap_or_else(|| panic!("{} in {}", notice.notice_id, page.body));
    n["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let reason = d["reason"].as_str().map(str::to_string);
            (d["email"].as_str().unwrap().to_string(), d["state"].as_str().unwrap().to_string(), reason)
        })
        .collect()
}

#[tokio::test]
async fn a_hard_bounce_suppresses_everywhere_a_complaint_for_its_org_and_each_is_cleared_by_who_may() {
    let env = TestEnv::new().await;
    env.org("p", "partner", "vendor").await;
    env.org("c1", "company", "p").await;
    env.org("c2", "company", "p").await;
    let t = tag();
    let (gone, angry, fine) =
        (format!("gone-{t}@x.example"), format!("angry-{t}@x.example"), format!("fine-{t}@x.example"));
    let base = serve_with_mail(&env).await;

    // SES reports, as the configuration set's event destination delivers them to the mailer.
    let bounce = seatkeeper_tests::ses_event(SesReport::HardBounce, &gone, "c1", "ntc_earlier", &format!("fb-b-{t}"));
    let first = ses_event_posted(&base, &bounce).await;
    assert_eq!(first["suppressed"], json!([[gone, "global", "vendor"]]), "{first}");
    let replayed = ses_event_posted(&base, &bounce).await;
    assert_eq!((replayed["suppressed"].clone(), replayed["replayed"].clone()), (json!([]), json!([gone])));
    let complaint =
        seatkeeper_tests::ses_event(SesReport::Complaint("abuse"), &angry, "c1", "ntc_earlier", &format!("fb-c-{t}"));
    assert_eq!(ses_event_posted(&base, &complaint).await["suppressed"], json!([[angry, "org", "c1"]]));
    let soft = seatkeeper_tests::ses_event(SesReport::SoftBounce, &fine, "c1", "ntc_earlier", &format!("fb-s-{t}"));
    assert_eq!(
        ses_event_posted(&base, &soft).await["ignored"][0][0],
        fine.as_str(),
        "a soft bounce suppresses nothing"
    );
    let not_spam =
        seatkeeper_tests::ses_event(SesReport::Complaint("not-spam"), &fine, "c1", "ntc_earlier", &format!("fb-n-{t}"));
    assert_eq!(ses_event_posted(&base, &not_spam).await["suppressed"], json!([]));
    // What the table holds: one global suppression (one report, the replay not counted), one
    // for c1, none for the soft bounce or the "not spam".
    let global = env.item("ORG#vendor", &format!("SUPPRESSION_GLOBAL#{gone}")).await.expect("a global suppression");
    assert_eq!(global["reports"].as_n().unwrap(), "1");
    assert_eq!(global["reason"].as_s().unwrap(), "hard_bounce");
    assert!(env.item("ORG#c1", &format!("SUPPRESSION#{angry}")).await.is_some());
    assert!(env.item("ORG#c2", &format!("SUPPRESSION#{angry}")).await.is_none(), "a complaint holds for its org only");
    assert_eq!(env.count("ORG#c1", "suppression").await, 1);

    // The mailer mails neither address where it is suppressed, and says why.
    let (n1, n2) =
        (notice_in(&env, "c1", &[&gone, &angry, &fine]).await, notice_in(&env, "c2", &[&gone, &angry]).await);
    assert!(mail_to(&base, &gone, false).await.is_empty(), "a hard bounce is not mailed anywhere");
    let angry_mail = mail_to(&base, &angry, false).await;
    assert_eq!(angry_mail.iter().map(|m| m["notice_id"].clone()).collect::<Vec<_>>(), vec![json!(n2.notice_id)]);
    assert_eq!(mail_to(&base, &fine, false).await.len(), 1);
    let s = |e: &String, st: &str, r: Option<&str>| (e.clone(), st.to_string(), r.map(str::to_string));
    let mut got = states(&env, &n1).await;
    got.sort();
    let mut want = vec![
        s(&angry, "suppressed", Some("complaint")),
        s(&fine, "sent", None),
        s(&gone, "suppressed", Some("hard_bounce")),
    ];
    want.sort();
    assert_eq!(got, want);
    let mut got2 = states(&env, &n2).await;
    got2.sort();
    let mut want2 = vec![s(&angry, "sent", None), s(&gone, "suppressed", Some("hard_bounce"))];
    want2.sort();
    assert_eq!(got2, want2);

    // Who sees and clears what: c1's manager lists and clears c1's; the global one is the vendor's.
    let listed = env.get("/v1/orgs/c1/suppressions").by(&cm("c1")).send().await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", listed.body);
    assert_eq!(
        (items[0]["email"].as_str(), items[0]["reason"].as_str(), items[0]["scope"].as_str()),
        (Some(angry.as_str()), Some("complaint"), Some("org"))
    );
    assert_eq!(items[0]["since"], "2017-08-05T00:41:02.669Z");
    let vendor = env.get("/v1/orgs/vendor/suppressions").by(&Who::vendor_admin()).send().await;
    assert_eq!(
        vendor.body["items"].as_array().unwrap().iter().map(|i| i["email"].clone()).collect::<Vec<_>>(),
        vec![json!(gone)]
    );
    let not_theirs = env.call("DELETE", &format!("/v1/orgs/c1/suppressions/{gone}")).by(&cm("c1")).send().await;
    assert_eq!(not_theirs.status, 404, "a global suppression is not c1's to clear: {}", not_theirs.body);
    assert!(env.item("ORG#vendor", &format!("SUPPRESSION_GLOBAL#{gone}")).await.is_some());
    let cleared = env.call("DELETE", &format!("/v1/orgs/c1/suppressions/{angry}")).by(&cm("c1")).send().await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(cleared.body["cleared"][0]["reason"], "complaint");
    assert!(env.item("ORG#c1", &format!("SUPPRESSION#{angry}")).await.is_none());
    let audit = env.get("/v1/orgs/c1/audit").by(&cm("c1")).send().await;
    assert_eq!(audit.body["items"][0]["action"], "suppression.cleared", "{}", audit.body);
    // The same complaint delivered again changes nothing: it was recorded once already.
    assert_eq!(ses_event_posted(&base, &complaint).await["replayed"], json!([angry]));
    assert!(env.item("ORG#c1", &format!("SUPPRESSION#{angry}")).await.is_none(), "a replay does not suppress again");
    let again = env.call("DELETE", &format!("/v1/orgs/c1/suppressions/{angry}")).by(&cm("c1")).send().await;
    assert_eq!(again.status, 404, "nothing left to clear");
    let by_vendor =
        env.call("DELETE", &format!("/v1/orgs/vendor/suppressions/{gone}")).by(&Who::vendor_admin()).send().await;
    assert_eq!(
        (by_vendor.status, by_vendor.body["cleared"][0]["scope"].as_str()),
        (200, Some("global")),
        "{}",
        by_vendor.body
    );

    // Cleared, both are mailed again.
    let n3 = notice_in(&env, "c1", &[&gone, &angry]).await;
    for e in [&gone, &angry] {
        assert!(mail_to(&base, e, false).await.iter().any(|m| m["notice_id"] == n3.notice_id.as_str()), "{e}");
    }
}

#[tokio::test]
async fn an_event_that_is_not_a_bounce_or_complaint_of_ours_is_refused_in_words_and_changes_nothing() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let mailer = moto_mailer(&env).await;
    let now = at("2027-01-15T09:00:05Z");
    let mut untagged = seatkeeper_tests::ses_event(SesReport::Complaint("abuse"), "a@c.example", "c", "ntc_1", "fb-1");
    untagged["detail"]["mail"]["tags"].as_object_mut().unwrap().remove("org_id");
    let mut foreign_tag = untagged.clone();
    foreign_tag["detail"]["mail"]["tags"]["org_id"] = json!(["acme.co"]);
    let mut delivery = untagged.clone();
    delivery["detail-type"] = json!("Email Delivered");
    let mut mismatch = seatkeeper_tests::ses_event(SesReport::HardBounce, "a@c.example", "c", "ntc_1", "fb-2");
    mismatch["detail-type"] = json!("Email Complaint Received");
    for (event, says) in [
        (&untagged, "without the org_id tag"),
        (&foreign_tag, "not a value the mailer writes"),
        (&delivery, "\"Email Delivered\""),
        (&mismatch, "eventType \"Bounce\""),
    ] {
        let e = seatkeeper::mail::lambda::handle(&mailer, event, now).await.unwrap_err();
        assert_eq!(e.kind, "Refused");
        assert!(e.message.contains(says), "{says}: {}", e.message);
    }
    assert_eq!(env.count("ORG#c", "suppression").await + env.count("ORG#vendor", "suppression").await, 0);
    assert_eq!(env.count("ORG#c", "feedback").await + env.count("ORG#vendor", "feedback").await, 0);
}
