//! CSV import: the fixtures, worked case 5, the S3 path, duplicate delivery, a crash half-way
//! and an import process killed half-way.

use seatkeeper_tests::{cm, Answer, RequestLog, TestEnv, ASSIGNED, NOW, WRITE_OPERATIONS};
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/csv/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn upload(env: &TestEnv, org: &str, query: &str, body: &[u8], at: &str) -> Answer {
    env.post(&format!("/v1/orgs/{org}/imports{query}")).by(&cm(org)).raw(body).at(at).send().await
}

async fn lot_counts(env: &TestEnv, org: &str, at: &str) -> Vec<(u64, u64)> {
    let lots = env.lots(org, at).await;
    lots.iter().map(|l| (l["in_use"].as_u64().unwrap(), l["uses"].as_u64().unwrap())).collect()
}

fn outcomes(review: &Value) -> Vec<(u64, String, String)> {
    review["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["email"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_fixture_reads_as_expected() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.users("c", ["ann@c.example", "bob@c.example"]).await;
    let at = "2026-02-01T00:00:00Z";
    for (name, query) in [
        ("comma.csv", ""),
        ("excel-semicolon-bom.csv", ""),
        ("tab.csv", ""),
        ("named-column.csv", "?email_column=work%20ADDRESS"),
    ] {
        let r = upload(&env, "c", query, &fixture(name), at).await;
        assert_eq!(r.status, 201, "{name}: {:?}", r.body);
        assert_eq!(r.body["summary"]["renew"], 2, "{name}");
        assert_eq!(
            outcomes(&r.body),
            vec![(2, "ann@c.example".into(), "renew".into()), (3, "bob@c.example".into(), "renew".into())],
            "{name}"
        );
    }
    let dupes = upload(&env, "c", "", &fixture("duplicates-case.csv"), at).await;
    assert_eq!(
        (
            dupes.body["summary"]["renew"].as_u64(),
            dupes.body["summary"]["duplicate"].as_u64(),
            dupes.body["summary"]["rows"].as_u64()
        ),
        (Some(2), Some(2), Some(4))
    );
    let invalid = upload(&env, "c", "", &fixture("invalid-and-blank.csv"), at).await;
    assert_eq!(
        outcomes(&invalid.body).iter().map(|o| (o.0, o.2.as_str())).collect::<Vec<_>>(),
        vec![(2, "renew"), (3, "invalid"), (5, "renew")]
    );

    let imports_before = env.partition("ORG#c").await.len();
    let long_line = vec![b'x'; 10 * 1024 * 1024];
    for (name, body, want) in [
        ("wrong-column.csv", fixture("wrong-column.csv"), "line 1"),
        ("no-header.csv", fixture("no-header.csv"), "line 1"),
        ("empty.csv", fixture("empty.csv"), "empty"),
        ("binary.csv", fixture("binary.csv"), "binary"),
        ("unbalanced-quotes.csv", fixture("unbalanced-quotes.csv"), "line 2"),
        ("unclosed-quote-at-end.csv", fixture("unclosed-quote-at-end.csv"), "line 3"),
        ("named column missing", fixture("comma.csv"), "no column named"),
    ] {
        let query = if name == "named column missing" { "?email_column=Mail%20address" } else { "" };
        let r = upload(&env, "c", query, &body, at).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{name}: {:?}", r.body);
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(want), "{name}: {message}");
    }
    let too_big = upload(&env, "c", "", &long_line, at).await;
    assert_eq!((too_big.status, too_big.code()), (413, "payload_too_large"));
    let long_but_allowed = seatkeeper::files::read(&long_line[..], None).unwrap_err();
    assert!(long_but_allowed.to_string().contains("line 1"), "{long_but_allowed}");
    assert_eq!(env.partition("ORG#c").await.len(), imports_before, "a refused file leaves nothing behind");
    let bad_mode = upload(&env, "c", "?mode=replace", &fixture("comma.csv"), at).await;
    assert_eq!(bad_mode.status, 400);
}

#[test]
fn a_hundred_thousand_rows_read_and_one_more_is_refused() {
    let mut text = String::from("email\n");
    for i in 0..100_000 {
        text.push_str(&format!("user{i}@c.example\n"));
    }
    let file = seatkeeper::files::read(text.as_bytes(), None).unwrap();
    assert_eq!(file.cells.len(), 100_000);
    assert_eq!(file.cells.last().unwrap(), &(100_001, "user99999@c.example".to_string()));
    text.push_str("one.more@c.example\n");
    let err = seatkeeper::files::read(text.as_bytes(), None).unwrap_err();
    assert!(err.to_string().contains("line 100002") && err.to_string().contains("100000"), "{err}");
}

/// Worked example 5 (docs/domain.md#example-5-an-import).
#[tokio::test]
async fn worked_case_5_review_refuse_then_renew_six() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 10, ASSIGNED, "p", ASSIGNED).await;
    let learners: Vec<String> = (1..=10).map(|i| format!("learner{i}@c.example")).collect();
    env.licensed("c", &learners, "2026-02-01T00:00:00Z").await;
    // The year is over; C orders 6 more.
    env.order_and_assign("c", 6, "2027-01-20T09:00:00Z", "p", "2027-01-20T09:00:00Z").await;
    let at = "2027-02-01T10:00:00Z";
    let mut csv = String::from("Name;Email\n");
    for e in &learners[..8] {
        csv.push_str(&format!("x;{}\n", e.to_uppercase()));
    }
    csv.push_str("x;stranger@c.example\nx;learner1@c.example\n");
    let review = upload(&env, "c", "", csv.as_bytes(), at).await;
    assert_eq!(review.status, 201, "{:?}", review.body);
    let s = &review.body["summary"];
    assert_eq!(
        (
            s["rows"].as_u64(),
            s["renew"].as_u64(),
            s["unknown"].as_u64(),
            s["duplicate"].as_u64(),
            s["available"].as_u64(),
            s["shortfall"].as_u64()
        ),
        (Some(10), Some(8), Some(1), Some(1), Some(6), Some(2))
    );
    let id = review.body["import_id"].as_str().unwrap();
    let confirm = env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(at).send().await;
    assert_eq!((confirm.status, confirm.code()), (409, "insufficient_licences"));
    assert_eq!(confirm.body["error"]["details"], json!({"needed": 8, "available": 6}));
    assert_eq!(lot_counts(&env, "c", at).await[1], (0, 0), "nothing changed");
    let record = env.get(&format!("/v1/orgs/c/imports/{id}")).by(&cm("c")).send().await;
    assert_eq!(record.body["status"], "reviewed");

    // Two rows removed: six renewed.
    let fixed: String = csv
        .lines()
        .filter(|l| !l.contains("LEARNER7@") && !l.contains("LEARNER8@"))
        .map(|l| format!("{l}\n"))
        .collect();
    let review = upload(&env, "c", "", fixed.as_bytes(), at).await;
    assert_eq!(
        (review.body["summary"]["renew"].as_u64(), review.body["summary"]["shortfall"].as_u64()),
        (Some(6), Some(0))
    );
    let id = review.body["import_id"].as_str().unwrap();
    let confirm = env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(at).send().await;
    assert_eq!(confirm.status, 200, "{:?}", confirm.body);
    assert_eq!((confirm.body["status"].as_str(), confirm.body["allocated"].as_u64()), (Some("committed"), Some(6)));
    assert_eq!(lot_counts(&env, "c", at).await[1], (6, 6));
    let active = env.get("/v1/orgs/c/licences?status=active").by(&cm("c")).at(at).send().await;
    let mut renewed: Vec<&str> =
        active.body["items"].as_array().unwrap().iter().map(|l| l["email"].as_str().unwrap()).collect();
    renewed.sort();
    assert_eq!(
        renewed,
        vec![
            "learner1@c.example",
            "learner2@c.example",
            "learner3@c.example",
            "learner4@c.example",
            "learner5@c.example",
            "learner6@c.example"
        ]
    );
    assert!(active.body["items"].as_array().unwrap().iter().all(|l| l["valid_until"] == "2028-01-20T09:00:00Z"));
    // Confirming again changes nothing.
    let again = env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(at).send().await;
    assert_eq!((again.status, again.body["allocated"].as_u64()), (200, Some(6)));
    assert_eq!(lot_counts(&env, "c", at).await[1], (6, 6));
    let audit = env.get("/v1/orgs/c/audit").by(&cm("c")).send().await;
    assert!(audit.body["items"].as_array().unwrap().iter().any(|e| e["action"] == "import.committed"));
}

/// A crash half-way (the store refuses every write after the 15th licence) and a retry: every
/// renew row licensed exactly once, no seat lost, and seats of rows licensed elsewhere meanwhile
/// given back.
#[tokio::test]
async fn a_commit_that_dies_half_way_resumes_and_licenses_every_row_once() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 50, ASSIGNED, "p", ASSIGNED).await;
    let emails: Vec<String> = (0..40).map(|i| format!("u{i:02}@c.example")).collect();
    env.users("c", &emails).await;
    let at = "2026-02-01T10:00:00Z";
    let csv: String = std::iter::once("email\n".to_string()).chain(emails.iter().map(|e| format!("{e}\n"))).collect();
    let review = upload(&env, "c", "", csv.as_bytes(), at).await;
    let id = review.body["import_id"].as_str().unwrap().to_string();

    let (dying, log) = TestEnv::failing_after(&env, "PutItem", 15).await;
    let crashed = dying.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(at).send().await;
    assert!(crashed.status >= 500, "{:?}", crashed.body);
    assert!(log.take().iter().filter(|op| op.as_str() == "PutItem").count() > 15);
    let record = env.get(&format!("/v1/orgs/c/imports/{id}")).by(&cm("c")).send().await;
    assert_eq!(record.body["status"], "committing");
    assert_eq!(lot_counts(&env, "c", at).await[0], (40, 40), "every seat reserved before any licence");
    let licensed = env.get("/v1/orgs/c/licences?status=active&limit=500").by(&cm("c")).at(at).send().await;
    let first_pass = licensed.body["items"].as_array().unwrap().len();
    assert!((1..40).contains(&first_pass), "part of the rows: {first_pass}");

    // Meanwhile two of the remaining users get a licence another way.
    let unlicensed: Vec<String> = emails
        .iter()
        .filter(|e| !licensed.body["items"].as_array().unwrap().iter().any(|l| l["email"] == e.as_str()))
        .take(2)
        .cloned()
        .collect();
    let other = env.allocation("c").json(json!({"emails": unlicensed})).at(at).send().await;
    assert_eq!(other.body["allocated"], 2);

    let retried = env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(at).send().await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!((retried.body["status"].as_str(), retried.body["allocated"].as_u64()), (Some("committed"), Some(38)));
    assert_eq!(
        lot_counts(&env, "c", at).await[0],
        (40, 40),
        "38 by the import + 2 by hand; the 2 reserved seats went back"
    );
    let all = env.get("/v1/orgs/c/licences?status=active&limit=500").by(&cm("c")).at(at).send().await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 40);
    for e in &emails {
        let u = env.get(&format!("/v1/orgs/c/users/{e}")).by(&cm("c")).send().await;
        assert_eq!(u.body["licence_count"], 1, "{e} licensed once");
    }
    assert_eq!(env.app.store.counters("c").await.unwrap().seats_held, 40);
}

#[tokio::test]
async fn a_partner_file_on_s3_is_reviewed_committed_and_answered_once() {
    let env = TestEnv::with_s3().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 5, ASSIGNED, "p", ASSIGNED).await;
    let emails: Vec<String> = (1..=4).map(|i| format!("s3user{i}@c.example")).collect();
    env.users("c", &emails).await;
    let mut csv = String::from("Naam;Werk e-mail\n");
    for e in &emails {
        csv.push_str(&format!("x;{e}\n"));
    }
    csv.push_str("x;nobody@c.example\n");
    let key = "imports/c/renewals march 2027.csv";
    let answers =
        env.drop_file(key, csv.into_bytes(), &[("email-column", "werk e-mail")], 2, "2026-02-01T10:00:00Z").await;
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0], answers[1], "a second delivery finds the same import");
    let record = &answers[0];
    assert_eq!(record.status, seatkeeper::domain::import::ImportStatus::Committed);
    assert_eq!((record.allocated, record.summary.renew, record.summary.unknown), (4, 4, 1));
    assert_eq!(lot_counts(&env, "c", "2026-02-01T00:00:00Z").await[0], (4, 4), "charged once");

    let result = env.object_json("results/c/renewals march 2027.json").await;
    assert_eq!((result["status"].as_str(), result["allocated"].as_u64()), (Some("committed"), Some(4)));
    assert_eq!(result["rows"].as_array().unwrap().len(), 5);
    let via_api = env.get(&format!("/v1/orgs/c/imports/{}", record.import_id)).by(&cm("c")).send().await;
    assert_eq!((via_api.status, via_api.body["source"].as_str()), (200, Some("s3")));

    // A bad file is refused whole, and its result says why.
    let bad = env.drop_file("imports/c/broken.csv", fixture("no-header.csv"), &[], 1, "2026-02-01T10:00:00Z").await;
    assert_eq!(bad[0].status, seatkeeper::domain::import::ImportStatus::Failed);
    let result = env.object_json("results/c/broken.json").await;
    assert!(result["error"].as_str().unwrap().contains("line 1"), "{result}");
    // So is one with more renewals than licences, all or nothing.
    let many: String =
        std::iter::once("email\n".to_string()).chain((1..=3).map(|i| format!("late{i}@c.example\n"))).collect();
    env.users("c", (1..=3).map(|i| format!("late{i}@c.example"))).await;
    let short = env.drop_file("imports/c/too-many.csv", many.into_bytes(), &[], 1, "2026-02-01T10:00:00Z").await;
    assert_eq!(short[0].status, seatkeeper::domain::import::ImportStatus::Failed);
    assert!(short[0].error.as_deref().unwrap().contains("3 licences are needed but 1"), "{:?}", short[0].error);
    assert_eq!(lot_counts(&env, "c", "2026-02-01T00:00:00Z").await[0], (4, 4));
}

/// A partner file's key is all that says whose licences it moves: under anything but an
/// existing company (an id no org has, no valid id, a partner, the vendor) it writes nothing to
/// the table, however often it is delivered, and its result file says why.
#[tokio::test]
async fn a_partner_file_under_anything_but_an_existing_company_writes_nothing() {
    let env = TestEnv::with_s3().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 5, ASSIGNED, "p", ASSIGNED).await;
    env.users("c", ["ann@c.example"]).await;
    let log = RequestLog::default();
    let watched = env.through(|b| b.interceptor(log.clone())).await;
    let at = "2026-02-01T10:00:00Z";
    let keys = [
        ("nobody", "no company has that id"),
        ("a#b", "which is not an org id"),
        ("p", "a partner and not a company"),
        ("vendor", "the vendor and not a company"),
    ];
    for (org, why) in keys {
        let key = format!("imports/{org}/learners.csv");
        let records = watched.drop_file(&key, b"email\nann@c.example\n".to_vec(), &[], 2, at).await;
        for record in &records {
            assert_eq!(record.status, seatkeeper::domain::import::ImportStatus::Failed, "{org}");
            let error = record.error.as_deref().unwrap_or_default();
            assert!(error.contains(why) && error.contains("nothing was imported"), "{org}: {error}");
        }
        let result = watched.object_json(&format!("results/{org}/learners.json")).await;
        assert_eq!(result["status"], "failed", "{result}");
        assert!(result["error"].as_str().unwrap().contains(why), "{result}");
        let writes: Vec<String> = log.take().into_iter().filter(|op| WRITE_OPERATIONS.contains(&op.as_str())).collect();
        assert!(writes.is_empty(), "{org}: nothing is written for it: {writes:?}");
        let imports = env.partition(&format!("ORG#{org}")).await;
        let imports: Vec<_> = imports
            .iter()
            .filter(|i| i.get("type").and_then(|t| t.as_s().ok()).is_some_and(|t| t == "import"))
            .collect();
        assert!(imports.is_empty(), "{org}: {imports:?}");
    }
    assert_eq!(lot_counts(&env, "c", at).await[0], (0, 0), "nobody licensed");
    let ann = env.app.store.user("c", "ann@c.example").await.unwrap().unwrap();
    assert!(ann.licence.is_none());
}

#[tokio::test]
async fn a_sync_releases_the_learners_missing_from_the_file() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 5, ASSIGNED, "p", ASSIGNED).await;
    let at = "2026-02-01T10:00:00Z";
    env.licensed("c", &["stay@c.example", "go@c.example"], at).await;
    env.manager("c", "boss@c.example").await;
    let review = upload(&env, "c", "?mode=sync", b"email\nstay@c.example\n", at).await;
    assert_eq!(
        (review.body["summary"]["already_active"].as_u64(), review.body["summary"]["release"].as_u64()),
        (Some(1), Some(1))
    );
    let id = review.body["import_id"].as_str().unwrap();
    let done = env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(at).send().await;
    assert_eq!((done.status, done.body["released"].as_u64()), (200, Some(1)), "{:?}", done.body);
    let gone = env.get("/v1/orgs/c/users/go@c.example").by(&cm("c")).send().await;
    assert_eq!(gone.body["licence_status"], "released");
    let boss = env.get("/v1/orgs/c/users/boss@c.example").by(&cm("c")).send().await;
    assert!(boss.body.get("released_at").is_none(), "managers are not released by a sync");
    assert_eq!(lot_counts(&env, "c", at).await[0], (1, 2));
}

#[tokio::test]
async fn a_review_writes_nothing_but_its_record() {
    let (env, log) = TestEnv::with_request_log().await;
    env.partner_with_company("p", "c").await;
    env.users("c", ["ann@c.example"]).await;
    log.take();
    let r = upload(&env, "c", "", &fixture("comma.csv"), "2026-02-01T00:00:00Z").await;
    assert_eq!(r.status, 201);
    let writes: Vec<String> = log.take().into_iter().filter(|op| WRITE_OPERATIONS.contains(&op.as_str())).collect();
    assert_eq!(writes, vec!["PutItem", "TransactWriteItems"], "one row chunk, then the record with its audit entry");
}

/// A chunk is stored packed (its rows deflated in one binary attribute, a fraction of a map per
/// row, which a confirm pays again when it removes the expiry); a chunk stored before, a map per
/// row, is still shown and committed as it is.
#[tokio::test]
async fn rows_stored_before_chunks_were_packed_are_shown_and_committed() {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 50, ASSIGNED, "p", ASSIGNED).await;
    let emails: Vec<String> = (0..30).map(|i| format!("learner{i:02}@c.example")).collect();
    env.users("c", &emails).await;
    let at = "2026-02-01T10:00:00Z";
    let csv: String = std::iter::once("email\n".to_string()).chain(emails.iter().map(|e| format!("{e}\n"))).collect();
    let review = upload(&env, "c", "", csv.as_bytes(), at).await;
    assert_eq!(review.status, 201, "{:?}", review.body);
    let id = review.body["import_id"].as_str().unwrap().to_string();
    let (pk, sk) = (format!("ORG#c#IMPORT#{id}"), "ROWS#000000".to_string());
    let mut chunk = env.item(&pk, &sk).await.expect("the chunk");
    let Some(A::B(packed)) = chunk.remove("rows_packed") else { panic!("a packed chunk: {chunk:?}") };
    assert!(!chunk.contains_key("rows"), "the rows once, packed");

    let old: Vec<A> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| {
            A::M(
                [("line", A::N((i + 2).to_string())), ("email", A::S(e.clone())), ("outcome", A::S("renew".into()))]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            )
        })
        .collect();
    chunk.insert("rows".into(), A::L(old));
    let old_size: usize = emails.iter().map(|e| "line".len() + 2 + "email".len() + e.len() + "outcome".len() + 5).sum();
    assert!(packed.as_ref().len() * 2 < old_size, "packed {} bytes, a map per row {old_size}", packed.as_ref().len());
    env.write_items(vec![chunk]).await;

    let (shown, _) = all_rows(&env, "c", &id, "").await;
    let shown: Vec<String> = shown.into_iter().map(|(_, email, outcome)| format!("{email} {outcome}")).collect();
    assert_eq!(shown, emails.iter().map(|e| format!("{e} renew")).collect::<Vec<_>>());
    let done = env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(at).send().await;
    assert_eq!((done.status, done.body["allocated"].as_u64()), (200, Some(30)), "{:?}", done.body);
    assert_eq!(lot_counts(&env, "c", at).await[0], (30, 30));
}

/// The import handler runs in a process of its own, as the Lambda does, and is killed with
/// SIGKILL while it writes licences. S3 delivers the event again (Lambda retries a failed
/// asynchronous event) to a fresh process, which finishes the job: every row licensed exactly
/// once, the lot charged exactly once per row, and the record committed.
#[tokio::test]
async fn an_import_process_killed_half_way_is_finished_by_the_next_delivery() {
    const N: usize = 3000;
    let env = TestEnv::with_s3().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", N as u64, ASSIGNED, "p", ASSIGNED).await;
    let at = "2026-02-01T10:00:00Z";
    let emails: Vec<String> = (0..N).map(|i| format!("k{i:05}@c.example")).collect();
    env.seed_users("c", &emails, "2026-01-20T00:00:00Z").await;
    let csv: String = std::iter::once("email\n".to_string()).chain(emails.iter().map(|e| format!("{e}\n"))).collect();
    let imports = env.imports();
    let key = "imports/c/killed.csv";
    let put = imports.client.put_object().bucket(&imports.bucket).key(key).body(csv.into_bytes().into());
    let out = put.send().await.unwrap();
    let event = seatkeeper_local::s3_event(&imports.bucket, key, out.e_tag(), out.version_id(), at.parse().unwrap());

    let mut worker = std::process::Command::new(env!("CARGO_BIN_EXE_import-worker"))
        .arg(serde_json::to_string(&event).unwrap())
        .env("TABLE_NAME", &env.table)
        .env("BUCKET_NAME", &imports.bucket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as the first licence is on a user.
    let store = &env.app.store;
    loop {
        assert!(worker.try_wait().unwrap().is_none(), "the worker ended before it could be killed");
        if store.user("c", &emails[0]).await.unwrap().is_some_and(|u| u.licence.is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    worker.kill().unwrap();
    let status = worker.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "killed, not finished");

    let licensed =
        || async { store.all_users("c").await.unwrap().into_values().map(|u| u.licence_count).collect::<Vec<_>>() };
    let half = licensed().await;
    let done = half.iter().filter(|c| **c == 1).count();
    assert!((1..N).contains(&done), "killed half-way: {done} of {N} rows licensed");

    // The next delivery, in this process: it resumes and finishes.
    let answers = seatkeeper::imports::s3::handle_s3_event(&env.app, event.clone()).await.unwrap();
    assert_eq!(answers[0].status, seatkeeper::domain::import::ImportStatus::Committed);
    assert_eq!(answers[0].allocated as usize, N);
    let counts = licensed().await;
    assert_eq!(counts.len(), N);
    assert!(counts.iter().all(|c| *c == 1), "every row licensed exactly once");
    assert_eq!(lot_counts(&env, "c", at).await, vec![(N as u64, N as u64)], "the lot charged once per row");
    let result = env.object_json("results/c/killed.json").await;
    assert_eq!((result["status"].as_str(), result["allocated"].as_u64()), (Some("committed"), Some(N as u64)));
    // A third delivery changes nothing.
    let again = seatkeeper::imports::s3::handle_s3_event(&env.app, event).await.unwrap();
    assert_eq!(again, answers);
    assert_eq!(lot_counts(&env, "c", at).await, vec![(N as u64, N as u64)]);
}

/// Every row of an import, page by page: the pages of the rows route, followed to the end.
async fn all_rows(env: &TestEnv, org: &str, id: &str, query: &str) -> (Vec<(Value, String, String)>, Vec<usize>) {
    let mut rows = Vec::new();
    let mut sizes = Vec::new();
    for page in env.pages(&format!("/v1/orgs/{org}/imports/{id}/rows?{query}"), &cm(org), NOW).await {
        let items = page.body["items"].as_array().unwrap();
        sizes.push(items.len());
        rows.extend(items.iter().map(|r| {
            assert_eq!(r.as_object().unwrap().len(), 3, "{r}");
            (r["line"].clone(), r["email"].as_str().unwrap().to_string(), r["outcome"].as_str().unwrap().to_string())
        }));
    }
    (rows, sizes)
}

/// The review names the file's columns and the column used; its rows — all of them, not only
/// the first 1,000 the answer shows — come page by page, by outcome, across the stored chunks.
#[tokio::test]
async fn the_review_names_its_columns_and_every_row_is_paged_by_outcome() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let known: Vec<String> = (0..4000).map(|i| format!("u{i:04}@c.example")).collect();
    env.seed_users("c", &known, "2026-01-20T00:00:00Z").await;
    // 4,501 rows over five chunks of 1,000: u0000..u4499 (the last 500 unknown), two invalid
    // cells far apart, and a duplicate at the end.
    let mut csv = String::from("Name,Work Email,Team\n");
    let mut expect: Vec<(u64, String, &str)> = Vec::new();
    for i in 0..4500 {
        let line = expect.len() as u64 + 2;
        if i == 10 || i == 3999 {
            csv.push_str(&format!("X{i},not an e-mail {i},T\n"));
            expect.push((line, format!("not an e-mail {i}"), "invalid"));
            continue;
        }
        csv.push_str(&format!("X{i},U{i:04}@C.example,T\n"));
        expect.push((line, format!("u{i:04}@c.example"), if i < 4000 { "renew" } else { "unknown" }));
    }
    csv.push_str("Again,u0001@c.example,T\n");
    expect.push((expect.len() as u64 + 2, "u0001@c.example".into(), "duplicate"));
    let at = "2026-02-01T00:00:00Z";
    let review = upload(&env, "c", "?email_column=work%20email", csv.as_bytes(), at).await;
    assert_eq!(review.status, 201, "{:?}", review.body);
    assert_eq!(review.body["columns"], json!(["Name", "Work Email", "Team"]));
    assert_eq!(review.body["email_column"], "Work Email");
    assert_eq!(review.body["rows"].as_array().unwrap().len(), 1000);
    assert_eq!(review.body["rows_total"], 4501);
    let s = &review.body["summary"];
    assert_eq!(
        (
            s["rows"].as_u64(),
            s["renew"].as_u64(),
            s["unknown"].as_u64(),
            s["invalid"].as_u64(),
            s["duplicate"].as_u64()
        ),
        (Some(4501), Some(3998), Some(500), Some(2), Some(1))
    );
    let id = review.body["import_id"].as_str().unwrap().to_string();
    let record = env.get(&format!("/v1/orgs/c/imports/{id}")).by(&cm("c")).send().await;
    assert_eq!(record.body["columns"], review.body["columns"]);
    assert_eq!(
        (record.body["email_column"].as_str(), record.body["rows_total"].as_u64()),
        (Some("Work Email"), Some(4501))
    );
    assert_eq!(record.body["rows"], review.body["rows"], "the record read shows the same first rows");

    let want = |outcome: Option<&str>| -> Vec<(Value, String, String)> {
        expect
            .iter()
            .filter(|(_, _, o)| outcome.is_none_or(|w| w == *o))
            .map(|(l, e, o)| (json!(l), e.clone(), o.to_string()))
            .collect()
    };
    let (every, sizes) = all_rows(&env, "c", &id, "limit=500").await;
    assert_eq!(every.len(), 4501);
    assert_eq!(every, want(None), "every row once, in file order");
    assert_eq!(sizes, [500, 500, 500, 500, 500, 500, 500, 500, 500, 1], "full pages, and no empty one at the end");
    for outcome in ["renew", "unknown", "invalid", "duplicate"] {
        let (rows, _) = all_rows(&env, "c", &id, &format!("outcome={outcome}&limit=37")).await;
        assert_eq!(rows, want(Some(outcome)), "{outcome}");
    }
    let (invalid, sizes) = all_rows(&env, "c", &id, "outcome=invalid&limit=1").await;
    assert_eq!((invalid.len(), sizes), (2, vec![1, 1]), "two rows 4,000 lines apart: two pages, then the end");
    let (none, sizes) = all_rows(&env, "c", &id, "outcome=already_active").await;
    assert_eq!((none.len(), sizes), (0, vec![0]));
    let (release, _) = all_rows(&env, "c", &id, "outcome=release").await;
    assert!(release.is_empty(), "a renew import releases nobody");

    // A cursor opens only the list it came from.
    let page = env.get(&format!("/v1/orgs/c/imports/{id}/rows?outcome=unknown&limit=5")).by(&cm("c")).send().await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();
    let other = upload(&env, "c", "", b"email\nu0001@c.example\n", at).await;
    let other_id = other.body["import_id"].as_str().unwrap();
    for url in [
        format!("/v1/orgs/c/imports/{id}/rows?outcome=renew&limit=5&cursor={cursor}"),
        format!("/v1/orgs/c/imports/{other_id}/rows?outcome=unknown&cursor={cursor}"),
        format!("/v1/orgs/c/imports/{id}/rows?cursor=not-a-cursor"),
        format!("/v1/orgs/c/imports/{id}/rows?outcome=lost"),
        format!("/v1/orgs/c/imports/{id}/rows?limit=501"),
    ] {
        let r = env.get(&url).by(&cm("c")).send().await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{url}: {:?}", r.body);
    }
    let elsewhere = env.get(&format!("/v1/orgs/c/imports/{id}/rows")).by(&cm("c2")).send().await;
    assert_eq!(elsewhere.status, 404);
}

/// Under `mode = sync` the review shows who would be released — counted and listed — before
/// anything happens; the commit releases them, and the list then shows whom it released.
#[tokio::test]
async fn a_sync_review_shows_who_would_be_released_before_anything_happens() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 5, ASSIGNED, "p", ASSIGNED).await;
    let at = "2026-02-01T10:00:00Z";
    env.licensed("c", &["stay@c.example", "go1@c.example", "go2@c.example"], at).await;
    env.manager("c", "boss@c.example").await;
    env.users("c", ["idle@c.example"]).await;
    let review = upload(&env, "c", "?mode=sync", b"email\nstay@c.example\nghost@c.example\n", at).await;
    assert_eq!(review.status, 201, "{:?}", review.body);
    assert_eq!(review.body["summary"]["release"], 3, "go1, go2 and idle; never the manager");
    let id = review.body["import_id"].as_str().unwrap().to_string();
    let (release, _) = all_rows(&env, "c", &id, "outcome=release").await;
    let released = |emails: &[&str]| -> Vec<(Value, String, String)> {
        emails.iter().map(|e| (Value::Null, e.to_string(), "release".to_string())).collect()
    };
    assert_eq!(release, released(&["go1@c.example", "go2@c.example", "idle@c.example"]));
    let (every, _) = all_rows(&env, "c", &id, "limit=2").await;
    let mut want = vec![
        (json!(2), "stay@c.example".to_string(), "already_active".to_string()),
        (json!(3), "ghost@c.example".to_string(), "unknown".to_string()),
    ];
    want.extend(released(&["go1@c.example", "go2@c.example", "idle@c.example"]));
    assert_eq!(every, want, "the file's rows, then who the sync releases");
    let go1 = env.get("/v1/orgs/c/users/go1@c.example").by(&cm("c")).at(at).send().await;
    assert_eq!(go1.body["licence_status"], "active", "nothing happened yet");

    // Someone joins before the confirm: the commit reviews again and releases them too.
    env.put_user("c", "late@c.example").send().await;
    let done = env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(at).send().await;
    assert_eq!((done.status, done.body["released"].as_u64()), (200, Some(4)), "{:?}", done.body);
    let (release, _) = all_rows(&env, "c", &id, "outcome=release").await;
    assert_eq!(release, released(&["go1@c.example", "go2@c.example", "idle@c.example", "late@c.example"]));
    let record = env.get(&format!("/v1/orgs/c/imports/{id}")).by(&cm("c")).send().await;
    assert_eq!(record.body["summary"]["release"], 4);
}

fn workbook(header: &[&str], rows: &[Vec<&str>]) -> Vec<u8> {
    use seatkeeper::report::Cell;
    let rows: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| r.iter().map(|c| if c.is_empty() { Cell::Empty } else { Cell::Text(c.to_string()) }).collect())
        .collect();
    seatkeeper::report::xlsx("Leerlingen", header, &rows).unwrap()
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// An Excel workbook (made by rust_xlsxwriter) through the API, known by its media type or by
/// its first bytes: read as its CSV would be, rows numbered as the sheet numbers them, refusals
/// naming the row; committed like any import.
#[tokio::test]
async fn a_spreadsheet_is_imported_through_the_api() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 5, ASSIGNED, "p", ASSIGNED).await;
    env.users("c", ["ann@c.example", "bob@c.example"]).await;
    let at = "2026-02-01T10:00:00Z";
    let book = workbook(
        &["Naam", "Werk e-mail", "Afdeling"],
        &[
            vec!["Ann", "ANN@c.example", "HR"],
            vec!["", "", ""],
            vec!["Bob", "bob@c.example"],
            vec!["Eve", "eve@c.example"],
        ],
    );
    assert!(book.starts_with(b"PK\x03\x04"));
    let upload_book = |content_type: &str| {
        let import = env.post("/v1/orgs/c/imports?email_column=werk%20e-mail").by(&cm("c"));
        import.header("Content-Type", content_type).raw(&book).at(at).send()
    };
    for content_type in [XLSX, "application/octet-stream", "text/csv"] {
        let r = upload_book(content_type).await;
        assert_eq!(r.status, 201, "{content_type}: {:?}", r.body);
        assert_eq!(r.body["columns"], json!(["Naam", "Werk e-mail", "Afdeling"]));
        assert_eq!(r.body["email_column"], "Werk e-mail");
        assert_eq!(
            outcomes(&r.body),
            vec![
                (2, "ann@c.example".into(), "renew".into()),
                (4, "bob@c.example".into(), "renew".into()),
                (5, "eve@c.example".into(), "unknown".into())
            ],
            "{content_type}: row 3 is blank"
        );
    }
    let r = upload_book(XLSX).await;
    let id = r.body["import_id"].as_str().unwrap();
    let done = env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(at).send().await;
    assert_eq!((done.status, done.body["allocated"].as_u64()), (200, Some(2)), "{:?}", done.body);
    assert_eq!(lot_counts(&env, "c", at).await, vec![(2, 2)]);

    let before = env.partition("ORG#c").await.len();
    let no_column = workbook(&["Naam", "Telefoon"], &[vec!["Ann", "06"]]);
    let header_only = workbook(&["Email"], &[]);
    for (body, content_type, want) in [
        (no_column, XLSX, "row 1: no e-mail column found"),
        (header_only, "application/octet-stream", "row 2: the sheet has a header row but no data rows"),
        (
            b"email\nann@c.example\n".to_vec(),
            XLSX,
            "row 1: the file is sent as an Excel workbook (.xlsx) but is not one",
        ),
        (b"PK\x03\x04 but no archive".to_vec(), "text/csv", "row 1: the file is not an Excel workbook"),
    ] {
        let r = env
            .post("/v1/orgs/c/imports")
            .by(&cm("c"))
            .header("Content-Type", content_type)
            .raw(&body)
            .at(at)
            .send()
            .await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{want}: {:?}", r.body);
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(want), "{message}");
        assert!(r.body["error"]["details"]["line"].is_u64(), "{:?}", r.body);
    }
    assert_eq!(env.partition("ORG#c").await.len(), before, "a refused workbook leaves nothing behind");
}

/// A partner's workbook on S3 (`imports/{org_id}/{name}.xlsx`), and one behind a `.csv` key
/// that is a workbook all the same: reviewed and committed in one go, the result beside them.
#[tokio::test]
async fn a_partner_spreadsheet_on_s3_is_imported() {
    let env = TestEnv::with_s3().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 5, ASSIGNED, "p", ASSIGNED).await;
    let emails: Vec<String> = (1..=4).map(|i| format!("x{i}@c.example")).collect();
    env.users("c", &emails).await;
    let at = "2026-02-01T10:00:00Z";
    let book = workbook(&["E-mailadres"], &[vec![&emails[0]], vec![&emails[1]], vec!["nobody@c.example"]]);
    let answers = env.drop_file("imports/c/Maart 2027.xlsx", book, &[], 2, at).await;
    assert_eq!(answers[0], answers[1], "a second delivery finds the same import");
    let record = &answers[0];
    assert_eq!(record.status, seatkeeper::domain::import::ImportStatus::Committed, "{record:?}");
    assert_eq!((record.allocated, record.summary.renew, record.summary.unknown), (2, 2, 1));
    assert_eq!(record.columns, vec!["E-mailadres".to_string()]);
    let result = env.object_json("results/c/Maart 2027.json").await;
    assert_eq!((result["status"].as_str(), result["allocated"].as_u64()), (Some("committed"), Some(2)));
    assert_eq!(result["rows"][2], json!({"line": 4, "email": "nobody@c.example", "outcome": "unknown"}));

    let disguised = workbook(&["email"], &[vec![&emails[2]]]);
    let answers = env.drop_file("imports/c/disguised.csv", disguised, &[], 1, at).await;
    assert_eq!((answers[0].status, answers[0].allocated), (seatkeeper::domain::import::ImportStatus::Committed, 1));
    let not_a_book =
        env.drop_file("imports/c/text.xlsx", format!("email\n{}\n", emails[3]).into_bytes(), &[], 1, at).await;
    assert_eq!(not_a_book[0].status, seatkeeper::domain::import::ImportStatus::Failed);
    assert!(not_a_book[0].error.as_deref().unwrap().starts_with("row 1:"), "{:?}", not_a_book[0].error);
    assert_eq!(lot_counts(&env, "c", at).await, vec![(3, 3)]);
}

/// The wrong column chosen — long notes instead of e-mails — is reviewed as invalid rows, kept
/// cut short: the stored rows stay within DynamoDB's item size however long the cells are.
#[tokio::test]
async fn a_column_of_long_text_is_reviewed_as_invalid_rows_not_a_failure() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let note = "Lorem ipsum dolor sit amet, consectetur adipiscing elit; ".repeat(12);
    let mut csv = String::from("email,notes\n");
    for i in 0..2500 {
        csv.push_str(&format!("u{i}@c.example,\"{note}{i}\"\n"));
    }
    let r = upload(&env, "c", "?email_column=notes", csv.as_bytes(), "2026-02-01T00:00:00Z").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!((r.body["summary"]["invalid"].as_u64(), r.body["summary"]["rows"].as_u64()), (Some(2500), Some(2500)));
    let id = r.body["import_id"].as_str().unwrap();
    let (rows, _) = all_rows(&env, "c", id, "outcome=invalid&limit=500").await;
    assert_eq!(rows.len(), 2500);
    assert!(rows.iter().all(|(_, cell, _)| cell.len() <= 254 && cell.starts_with("Lorem ipsum")), "{:?}", rows[0]);
    assert_eq!(rows.last().unwrap().0, json!(2501));
}

/// When [`hundred_reviewed`] reviews its import.
const HUNDRED_AT: &str = "2026-02-01T10:00:00Z";

/// Company `c` with a lot of 120 seats and 100 users, and the review of an import licensing
/// them all (at [`HUNDRED_AT`]): its id.
async fn hundred_reviewed(env: &TestEnv) -> String {
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 120, ASSIGNED, "p", ASSIGNED).await;
    let emails: Vec<String> = (0..100).map(|i| format!("v{i:03}@c.example")).collect();
    env.users("c", &emails).await;
    let csv: String = std::iter::once("email\n".to_string()).chain(emails.iter().map(|e| format!("{e}\n"))).collect();
    let review = upload(env, "c", "", csv.as_bytes(), HUNDRED_AT).await;
    review.body["import_id"].as_str().unwrap().to_string()
}

/// Two confirms of one import at the same moment (a double click, a retried request racing the
/// first): the import is applied once — every row licensed once, the seats taken once, one
/// `import.committed` entry — and both answer the committed import.
#[tokio::test]
async fn two_concurrent_confirms_of_one_import_apply_once() {
    let env = TestEnv::new().await;
    let (id, at) = (hundred_reviewed(&env).await, HUNDRED_AT);
    let confirm = || env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(at).send();
    let (a, b) = tokio::join!(confirm(), confirm());
    for r in [&a, &b] {
        assert_eq!(
            (r.status, r.body["status"].as_str(), r.body["allocated"].as_u64()),
            (200, Some("committed"), Some(100)),
            "{:?}",
            r.body
        );
    }
    assert_eq!(lot_counts(&env, "c", at).await[0], (100, 100), "the seats were taken once");
    let active = env.get("/v1/orgs/c/licences?status=active&limit=500").by(&cm("c")).at(at).send().await;
    assert_eq!(active.body["items"].as_array().unwrap().len(), 100);
    let audit = env.get("/v1/orgs/c/audit?limit=100").by(&cm("c")).at(at).send().await;
    let committed =
        audit.body["items"].as_array().unwrap().iter().filter(|e| e["action"] == "import.committed").count();
    assert_eq!(committed, 1, "{:?}", audit.body);
}

/// The slow side of two confirms, made certain: one confirm has set the seats aside (the import
/// `committing`, no licence written yet) when another, which read the import before that, finds
/// 100 rows to license and 20 seats left. That is the first confirm's doing, not a shortfall: the
/// second finishes the commit and answers it committed, each seat taken once.
#[tokio::test]
async fn a_confirm_that_read_the_import_before_another_set_its_seats_aside_finishes_it() {
    use seatkeeper::domain::auth::{Principal, Role};
    use seatkeeper::imports::commit::{begin, commit, Review};
    let env = TestEnv::new().await;
    let (id, at) = (hundred_reviewed(&env).await, HUNDRED_AT);
    let (store, now) = (&env.app.store, seatkeeper_tests::at(at));
    let org = store.org("c").await.unwrap().unwrap();
    let read_before = store.import("c", &id).await.unwrap().unwrap();
    let first = begin(store, &org, read_before.clone(), Review::Again, now).await.unwrap();
    assert_eq!(first.status.as_str(), "committing", "the first confirm set the seats aside");

    let by = Principal::new("cm-sub", "cm@c.example", "c", Role::CompanyManager);
    let late = commit(store, &org, read_before, &by, now).await.expect("the import committed, not a shortfall");
    assert_eq!((late.status.as_str(), late.allocated), ("committed", 100));
    assert_eq!(lot_counts(&env, "c", at).await[0], (100, 100), "the seats were taken once");
}

/// The stream record the table sends when `import_id` of `org` changed: its new image, as the
/// job runner receives it.
async fn stream_event(env: &TestEnv, org: &str, import_id: &str) -> aws_lambda_events::dynamodb::Event {
    let item = env.item(&format!("ORG#{org}"), &format!("IMPORT#{import_id}")).await.expect("the import record");
    let mut record = aws_lambda_events::dynamodb::EventRecord::default();
    record.event_name = "MODIFY".into();
    record.change.new_image = serde_dynamo::Item::from(item);
    record.change.sequence_number = Some("100".into());
    record.change.approximate_creation_date_time = seatkeeper_tests::at("2026-02-01T10:00:05Z");
    let mut event = aws_lambda_events::dynamodb::Event::default();
    event.records.push(record);
    event
}

/// A confirm with more licences to write than a request waits for: `202` with a `Location` at
/// once (every seat already reserved), finished by the job runner from the table's stream, and
/// a second delivery of the same record changes nothing.
#[tokio::test]
async fn a_long_confirm_answers_202_and_the_job_runner_finishes_it_once() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 60, ASSIGNED, "p", ASSIGNED).await;
    let emails: Vec<String> = (0..50).map(|i| format!("b{i:02}@c.example")).collect();
    env.users("c", &emails).await;
    let at = "2026-02-01T10:00:00Z";
    let csv: String = std::iter::once("email\n".to_string()).chain(emails.iter().map(|e| format!("{e}\n"))).collect();
    let id = upload(&env, "c", "", csv.as_bytes(), at).await.body["import_id"].as_str().unwrap().to_string();

    let mut app = env.app.clone();
    app.background_rows = 10;
    let url = format!("/v1/orgs/c/imports/{id}/confirm");
    let accepted = seatkeeper_tests::Call::new(&app, "POST", &url).by(&cm("c")).at(at).send().await;
    assert_eq!((accepted.status, accepted.body["status"].as_str()), (202, Some("committing")), "{:?}", accepted.body);
    let location = format!("/v1/orgs/c/imports/{id}");
    assert_eq!(accepted.headers.get("location"), Some(&location));
    assert_eq!((accepted.body["rows_done"].as_u64(), accepted.body["rows_total"].as_u64()), (Some(0), Some(50)));
    assert_eq!(lot_counts(&env, "c", at).await[0], (50, 50), "every seat reserved before the answer");
    let active = env.get("/v1/orgs/c/licences?status=active&limit=500").by(&cm("c")).at(at).send().await;
    assert!(active.body["items"].as_array().unwrap().is_empty(), "nothing licensed in the request");

    // A second confirm while it is going hands the job to the runner again (as after its
    // deliveries ran out), changing nothing else.
    let handed = seatkeeper_tests::Call::new(&app, "POST", &url).by(&cm("c")).at(at).send().await;
    assert_eq!((handed.status, handed.body["handovers"].as_u64()), (202, Some(1)), "{:?}", handed.body);
    assert_eq!(lot_counts(&env, "c", at).await[0], (50, 50));

    let event = stream_event(&env, "c", &id).await;
    assert_eq!(seatkeeper::imports::jobs::jobs(&event).len(), 1, "a background commit");
    let first = seatkeeper::imports::jobs::run_stream(&env.app, &event).await;
    assert!(first.batch_item_failures.is_empty());
    let done = env.get(&location).by(&cm("c")).at(at).send().await;
    let progress = (done.body["status"].as_str(), done.body["rows_done"].as_u64(), done.body["rows_total"].as_u64());
    assert_eq!(progress, (Some("committed"), Some(50), Some(50)), "{:?}", done.body);
    assert_eq!(done.body["allocated"], 50);

    // The same record delivered again finds the job done.
    let again = seatkeeper::imports::jobs::run_stream(&env.app, &event).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(lot_counts(&env, "c", at).await[0], (50, 50));
    let active = env.get("/v1/orgs/c/licences?status=active&limit=500").by(&cm("c")).at(at).send().await;
    assert_eq!(active.body["items"].as_array().unwrap().len(), 50);
    let audit = env.get("/v1/orgs/c/audit?limit=100").by(&cm("c")).at(at).send().await;
    let committed =
        audit.body["items"].as_array().unwrap().iter().filter(|e| e["action"] == "import.committed").count();
    assert_eq!(committed, 1);
    // A confirm after the job answers the committed import.
    let late = env.post(&url).by(&cm("c")).at(at).send().await;
    assert_eq!((late.status, late.body["status"].as_str()), (200, Some("committed")));
}

#[test]
fn a_file_on_s3_may_have_a_million_rows_read_a_chunk_at_a_time() {
    use seatkeeper::domain::import::{CELLS_PER_CHUNK, MAX_ROWS, MAX_S3_ROWS};
    use seatkeeper::files::read_chunks;
    let mut text = String::from("email\n");
    for i in 0..MAX_S3_ROWS {
        text.push_str(&format!("u{i}@c.example\n"));
    }
    let (mut chunks, mut rows, mut largest) = (0, 0, 0);
    let header = read_chunks(text.as_bytes(), None, MAX_S3_ROWS, &mut |chunk| {
        (chunks, rows, largest) = (chunks + 1, rows + chunk.len(), largest.max(chunk.len()));
        Ok(())
    })
    .unwrap();
    assert_eq!((header.rows, rows, chunks, largest), (1_000_000, 1_000_000, 1000, CELLS_PER_CHUNK));
    // The API's limit stays: the same file through it is refused at the row past 100,000.
    let err = read_chunks(text.as_bytes(), None, MAX_ROWS, &mut |_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("line 100002"), "{err}");
    text.push_str("one.more@c.example\n");
    let err = read_chunks(text.as_bytes(), None, MAX_S3_ROWS, &mut |_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("line 1000002") && err.to_string().contains("1000000"), "{err}");
}

/// The items of the table whose key starts with `prefix` (a test may scan; a handler never does).
/// How many chunks of import rows the table holds (a scan: a test's own table).
async fn row_chunks(env: &TestEnv) -> usize {
    let scan = env.app.store.client.scan().table_name(&env.table).filter_expression("#t = :t");
    let out = scan
        .expression_attribute_names("#t", "type")
        .expression_attribute_values(":t", aws_sdk_dynamodb::types::AttributeValue::S("import_rows".into()));
    out.send().await.unwrap().count() as usize
}

#[tokio::test]
async fn a_file_refused_after_chunks_were_stored_leaves_no_rows_behind() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let mut csv = String::from("name,email\n");
    for i in 0..2500 {
        csv.push_str(&format!("x,u{i}@c.example\n"));
    }
    // The last row opens a quote that never closes: found only at the end of the file, after
    // two chunks of rows were reviewed and stored.
    csv.push_str("y,\"late@c.example\n");
    let r = upload(&env, "c", "", csv.as_bytes(), "2026-02-01T00:00:00Z").await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (400, Some("invalid_request")), "{:?}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("line 2502"), "{:?}", r.body);
    assert_eq!(row_chunks(&env).await, 0, "no chunk of rows is left behind");
    // The same file closed properly stores its three chunks.
    let r = upload(&env, "c", "", format!("{csv}\"").as_bytes(), "2026-02-01T00:00:00Z").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(row_chunks(&env).await, 3);
}

#[tokio::test]
async fn a_partner_file_larger_than_the_api_takes_is_imported_and_its_result_streamed_in_parts() {
    // One row more than the API takes; the e-mails are long enough that the result passes one
    // part of PART_BYTES (8 MiB), so it is written in two.
    const ROWS: usize = seatkeeper::domain::import::MAX_ROWS + 1;
    let env = TestEnv::with_s3().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 3, ASSIGNED, "p", ASSIGNED).await;
    env.users("c", ["ann@c.example", "bob@c.example", "cat@c.example"]).await;
    let mut csv = String::from("email\nann@c.example\nbob@c.example\nann@c.example\n");
    for i in 3..ROWS - 1 {
        csv.push_str(&format!("nobody-who-works-at-c-{i:06}@c.example\n"));
    }
    csv.push_str("cat@c.example\n");
    let records = env.drop_file("imports/c/everyone.csv", csv.into_bytes(), &[], 1, "2026-02-01T10:00:00Z").await;
    let record = &records[0];
    assert_eq!(record.status, seatkeeper::domain::import::ImportStatus::Committed, "{:?}", record.error);
    let s = &record.summary;
    assert_eq!((s.rows, s.renew, s.duplicate, s.unknown), (ROWS as u64, 3, 1, ROWS as u64 - 4));
    assert_eq!(record.allocated, 3);
    let cat = env.get("/v1/orgs/c/users/cat@c.example").by(&cm("c")).send().await;
    assert_eq!(cat.body["licence_status"], "active", "the last row, in the last chunk, is licensed");

    // The result holds every row, and was written as a multipart upload (S3 gives such an
    // object an ETag ending in the number of its parts).
    let key = "results/c/everyone.json";
    let result = env.object_json(key).await;
    let rows = result["rows"].as_array().unwrap();
    assert_eq!((rows.len(), result["status"].as_str()), (ROWS, Some("committed")));
    assert_eq!((rows[2]["line"].as_u64(), rows[2]["outcome"].as_str()), (Some(4), Some("duplicate")));
    assert_eq!(rows[ROWS - 1]["email"], "cat@c.example");
    let imports = env.imports();
    let head = imports.client.head_object().bucket(&imports.bucket).key(key).send().await.unwrap();
    let etag = head.e_tag().unwrap_or_default().trim_matches('"').to_string();
    assert!(etag.ends_with("-2"), "a result of over 8 MiB goes in two parts: {etag}");
}

/// A partner file with more licences to write than a request writes is not committed in the
/// invocation S3 starts: every seat is reserved there, and the job runner commits it in slices,
/// each handing what is left to the next (its progress saved, the record handed over); the
/// result file is written once it is committed, from the table's stream — by the import
/// function, as the template's filters route the records. Every row licensed once.
#[tokio::test]
async fn a_large_partner_file_is_committed_in_slices_and_its_result_written_from_the_stream() {
    use seatkeeper::imports::commit::Slice;
    const N: usize = 600;
    let env = TestEnv::with_s3().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", N as u64, ASSIGNED, "p", ASSIGNED).await;
    let at = "2026-02-01T10:00:00Z";
    let emails: Vec<String> = (0..N).map(|i| format!("s{i:04}@c.example")).collect();
    env.seed_users("c", &emails, "2026-01-20T00:00:00Z").await;
    let csv: String = std::iter::once("email\n".to_string()).chain(emails.iter().map(|e| format!("{e}\n"))).collect();
    let imports = env.imports();
    let key = "imports/c/sliced.csv";
    let put = imports.client.put_object().bucket(&imports.bucket).key(key).body(csv.into_bytes().into());
    let out = put.send().await.unwrap();
    let event = seatkeeper_local::s3_event(&imports.bucket, key, out.e_tag(), out.version_id(), at.parse().unwrap());
    let mut app = env.app.clone();
    app.background_rows = 100;

    let answers = seatkeeper::imports::s3::handle_s3_event(&app, event.clone()).await.unwrap();
    let record = &answers[0];
    assert_eq!((record.status, record.background), (seatkeeper::domain::import::ImportStatus::Committing, true));
    assert_eq!(lot_counts(&env, "c", at).await, vec![(N as u64, N as u64)], "every seat reserved at once");
    let head = imports.client.head_object().bucket(&imports.bucket).key("results/c/sliced.json").send().await;
    assert!(head.is_err(), "no result file while it commits");
    let id = record.import_id.clone();
    let stream = stream_event(&env, "c", &id).await;
    assert!(routed(&stream, "JobRunnerFunction", "Jobs"), "the job runner's filter takes the committing record");
    assert!(!routed(&stream, "ImportAllocationFunction", "BackgroundResults"), "not yet a result");

    // Slices whose time is up at once: each writes one saved stretch of licences and hands over.
    let (store, mut slices, mut handovers) = (&env.app.store, 0, Vec::new());
    let done = loop {
        slices += 1;
        let until = std::time::Instant::now();
        match seatkeeper::imports::jobs::run_slice(store, "c", &id, at.parse().unwrap(), until).await.unwrap() {
            Some(Slice::Paused(record)) => {
                let licensed = store.progress(&seatkeeper::store::imports::Rows::of(&record)).await.unwrap();
                assert!(licensed > 0 && (licensed as usize) < N, "part of it: {licensed}");
                handovers.push(record.handovers);
            }
            Some(Slice::Done(record)) => break record,
            None => panic!("the job went missing"),
        }
        assert!(slices < 10, "a slice must get on");
    };
    assert_eq!(slices, N.div_ceil(seatkeeper::imports::commit::PROGRESS_EVERY), "one saved stretch per slice");
    assert_eq!(handovers, (1..slices as u32).collect::<Vec<_>>(), "each slice handed over to the next");
    assert_eq!((done.allocated as usize, done.status), (N, seatkeeper::domain::import::ImportStatus::Committed));
    let counts: Vec<u32> = store.all_users("c").await.unwrap().into_values().map(|u| u.licence_count).collect();
    assert!(counts.len() == N && counts.iter().all(|c| *c == 1), "every row licensed exactly once");
    assert_eq!(lot_counts(&env, "c", at).await, vec![(N as u64, N as u64)]);

    let committed = stream_event(&env, "c", &id).await;
    assert!(routed(&committed, "ImportAllocationFunction", "BackgroundResults"), "the result's turn");
    assert!(!routed(&committed, "JobRunnerFunction", "Jobs"));
    let written = seatkeeper::imports::s3::results_from_stream(&app, &committed).await;
    assert!(written.batch_item_failures.is_empty());
    let result = env.object_json("results/c/sliced.json").await;
    assert_eq!((result["status"].as_str(), result["allocated"].as_u64()), (Some("committed"), Some(N as u64)));
    // A second delivery of the S3 event changes nothing.
    let again = seatkeeper::imports::s3::handle_s3_event(&app, event).await.unwrap();
    assert_eq!(again[0].status, seatkeeper::domain::import::ImportStatus::Committed);
    assert_eq!(lot_counts(&env, "c", at).await, vec![(N as u64, N as u64)]);
}

/// Under `mode = sync` the users a file leaves out are released in slices as well: a slice whose
/// time is up stops at the next saved stretch of releases, the next resumes after it, and every
/// user left out is released exactly once, the record counting each once.
#[tokio::test]
async fn a_sync_releases_the_users_it_leaves_out_in_slices_too() {
    use seatkeeper::imports::commit::{Slice, PROGRESS_EVERY};
    const KEPT: usize = 10;
    const LEFT: usize = 600;
    let env = TestEnv::with_s3().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", KEPT as u64, ASSIGNED, "p", ASSIGNED).await;
    let at = "2026-02-01T10:00:00Z";
    let kept: Vec<String> = (0..KEPT).map(|i| format!("k{i:04}@c.example")).collect();
    let left: Vec<String> = (0..LEFT).map(|i| format!("l{i:04}@c.example")).collect();
    env.seed_users("c", &[kept.clone(), left.clone()].concat(), "2026-01-20T00:00:00Z").await;
    let csv: String = std::iter::once("email\n".to_string()).chain(kept.iter().map(|e| format!("{e}\n"))).collect();
    let imports = env.imports();
    let key = "imports/c/sync.csv";
    let put = imports.client.put_object().bucket(&imports.bucket).key(key).metadata("mode", "sync");
    let out = put.body(csv.into_bytes().into()).send().await.unwrap();
    let event = seatkeeper_local::s3_event(&imports.bucket, key, out.e_tag(), out.version_id(), at.parse().unwrap());
    let mut app = env.app.clone();
    app.background_rows = 5;
    let answers = seatkeeper::imports::s3::handle_s3_event(&app, event).await.unwrap();
    assert_eq!((answers[0].background, answers[0].summary.release), (true, LEFT as u64), "{:?}", answers[0]);
    let id = answers[0].import_id.clone();

    let (store, mut slices) = (&env.app.store, 0);
    let done = loop {
        slices += 1;
        let until = std::time::Instant::now();
        match seatkeeper::imports::jobs::run_slice(store, "c", &id, at.parse().unwrap(), until).await.unwrap() {
            Some(Slice::Paused(_)) => {
                let users = store.all_users("c").await.unwrap();
                let released = users.values().filter(|u| u.released_at.is_some()).count();
                assert_eq!(released, slices * PROGRESS_EVERY, "one saved stretch of releases per slice");
            }
            Some(Slice::Done(record)) => break record,
            None => panic!("the job went missing"),
        }
        assert!(slices < 10, "a slice must get on");
    };
    assert_eq!(slices, LEFT.div_ceil(PROGRESS_EVERY), "the releases took {slices} slices");
    assert_eq!((done.allocated, done.released), (KEPT as u64, LEFT as u64), "each counted once: {done:?}");
    let users = store.all_users("c").await.unwrap();
    assert!(left.iter().all(|e| users[e].released_at.is_some()), "every user left out is released");
    assert!(
        kept.iter().all(|e| users[e].released_at.is_none() && users[e].licence_count == 1),
        "the file's users kept"
    );
}

/// Whether the filter of the template's stream event `event` of `function` lets the (single)
/// record of `stream` through: each field of the pattern names the values it takes.
fn routed(stream: &aws_lambda_events::dynamodb::Event, function: &str, event: &str) -> bool {
    let template: serde_yaml::Value = serde_yaml::from_str(seatkeeper::store::table::TEMPLATE).unwrap();
    let filters = &template["Resources"][function]["Properties"]["Events"][event]["Properties"]["FilterCriteria"];
    let pattern: Value = serde_json::from_str(filters["Filters"][0]["Pattern"].as_str().unwrap()).unwrap();
    let record = serde_json::to_value(&stream.records[0]).unwrap();
    let record = json!({"eventName": record["eventName"], "dynamodb": {"NewImage": record["dynamodb"]["NewImage"]}});
    matches_pattern(&pattern, &record)
}

fn matches_pattern(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Array(allowed) => allowed.contains(value),
        Value::Object(fields) => fields.iter().all(|(k, p)| matches_pattern(p, &value[k])),
        other => other == value,
    }
}

/// The users export is a file the import reads back unedited: synchronised as it is, it releases
/// no one, and e-mails that begin with `+` or `-` come back as themselves — written with an
/// apostrophe in front, as report cells are, they would be other addresses and the sync would
/// release the real ones.
#[tokio::test]
async fn the_users_export_synchronised_unedited_releases_no_one() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 5, ASSIGNED, "p", ASSIGNED).await;
    let at = "2026-02-01T10:00:00Z";
    let learners = ["+a@c.example", "-a@c.example", "plain@c.example"];
    env.licensed("c", &learners, at).await;
    let csv = env.get("/v1/orgs/c/users?format=csv").by(&cm("c")).at(at).send().await;
    assert_eq!(csv.status, 200, "{:?}", csv.body);
    assert!(csv.headers["content-type"].starts_with("text/csv"));
    let text = csv.body.as_str().unwrap();
    assert!(text.starts_with("\u{feff}email,name,licence_status,licence_valid_until,last_login_at"), "{text}");
    for email in learners {
        assert!(text.lines().any(|l| l.starts_with(&format!("{email},,active,"))), "{email} as it is: {text}");
    }
    assert!(!text.contains('\''), "no cell made inert here: {text}");

    let review = upload(&env, "c", "?mode=sync", text.as_bytes(), at).await;
    assert_eq!(review.status, 201, "{:?}", review.body);
    let summary = &review.body["summary"];
    assert_eq!((summary["already_active"].as_u64(), summary["release"].as_u64()), (Some(3), Some(0)), "{summary}");
    let id = review.body["import_id"].as_str().unwrap();
    let done = env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(at).send().await;
    assert_eq!((done.status, done.body["released"].as_u64()), (200, Some(0)), "{:?}", done.body);
    for email in learners {
        let user = env.get(&format!("/v1/orgs/c/users/{}", urlencoding(email))).by(&cm("c")).at(at).send().await;
        assert_eq!(user.body["licence_status"], "active", "{email}");
    }
    let other = env.get("/v1/orgs/c/users?format=xml").by(&cm("c")).send().await;
    assert_eq!((other.status, other.code()), (400, "invalid_request"), "{:?}", other.body);
}

fn urlencoding(email: &str) -> String {
    email.replace('+', "%2B")
}
