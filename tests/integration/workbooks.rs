//! Hostile workbooks (`tests/support/hostile_xlsx.rs`): each is refused with a sentence naming
//! the bound it passed — 413 `payload_too_large` for a size, ratio or count, 400 for a file that
//! is not well-formed — through the API and on S3, the process goes on serving, and nothing of
//! them is left in the table (no import record, no audit entry, no rows, no seat).

use std::sync::OnceLock;

use seatkeeper::domain::import::ImportStatus;
use seatkeeper_tests::hostile_xlsx::{corpus, Book, Hostile};
use seatkeeper_tests::{cm, TestEnv, ASSIGNED};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const AT: &str = "2026-02-01T10:00:00Z";

/// The corpus, built once for every test of this file.
fn hostile() -> &'static [Hostile] {
    static CORPUS: OnceLock<Vec<Hostile>> = OnceLock::new();
    CORPUS.get_or_init(corpus)
}

/// A company `c` with five seats and the one learner every hostile workbook names.
async fn company(env: &TestEnv) {
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 5, ASSIGNED, "p", ASSIGNED).await;
    env.users("c", ["ann@c.example"]).await;
}

async fn seats_in_use(env: &TestEnv) -> Vec<u64> {
    env.lots("c", AT).await.iter().map(|l| l["in_use"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn every_hostile_workbook_is_refused_through_the_api_with_a_sentence() {
    let env = TestEnv::new().await;
    company(&env).await;
    let before = env.partition("ORG#c").await;
    for (i, case) in hostile().iter().enumerate() {
        assert!(
            case.bytes.len() <= 5 * 1024 * 1024,
            "{}: {} bytes is over the API's 5 MB",
            case.name,
            case.bytes.len()
        );
        // Known by its media type, or by its first bytes whatever it is sent as.
        let sent_as: &[&str] = if i == 0 { &[XLSX, "text/csv"] } else { &[XLSX] };
        for &content_type in sent_as {
            let r = env
                .post("/v1/orgs/c/imports")
                .by(&cm("c"))
                .header("Content-Type", content_type)
                .raw(&case.bytes)
                .at(AT)
                .send()
                .await;
            assert_eq!((r.status, r.code()), (case.status, case.code), "{} ({content_type}): {:?}", case.name, r.body);
            let message = r.body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(case.says), "{}: {message:?} does not say {:?}", case.name, case.says);
        }
    }
    assert_eq!(env.partition("ORG#c").await, before, "a refused workbook leaves nothing behind");
    assert_eq!(seats_in_use(&env).await, vec![0]);

    // The same process goes on importing workbooks.
    let book = Book::new(&["ann@c.example"]).zip();
    let r = env.post("/v1/orgs/c/imports").by(&cm("c")).header("Content-Type", XLSX).raw(&book).at(AT).send().await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!((r.body["summary"]["rows"].as_u64(), r.body["summary"]["renew"].as_u64()), (Some(1), Some(1)));
    let id = r.body["import_id"].as_str().unwrap();
    let done = env.post(&format!("/v1/orgs/c/imports/{id}/confirm")).by(&cm("c")).at(AT).send().await;
    assert_eq!((done.status, done.body["allocated"].as_u64()), (200, Some(1)), "{:?}", done.body);
    assert_eq!(seats_in_use(&env).await, vec![1]);
}

#[tokio::test]
async fn every_hostile_workbook_on_s3_is_recorded_as_failed_with_the_sentence() {
    let env = TestEnv::with_s3().await;
    company(&env).await;
    for (i, case) in hostile().iter().enumerate() {
        let answers = env.drop_file(&format!("imports/c/hostile-{i}.xlsx"), case.bytes.clone(), &[], 1, AT).await;
        let record = &answers[0];
        assert_eq!(record.status, ImportStatus::Failed, "{}: {record:?}", case.name);
        let error = record.error.as_deref().unwrap_or_default();
        assert!(error.contains(case.says), "{}: {error:?} does not say {:?}", case.name, case.says);
        assert_eq!((record.summary.rows, record.allocated), (0, 0), "{}", case.name);
        let result = env.object_json(&format!("results/c/hostile-{i}.json")).await;
        assert_eq!(
            (result["status"].as_str(), result["error"].as_str()),
            (Some("failed"), Some(error)),
            "{}",
            case.name
        );
        let stored = env.get(&format!("/v1/orgs/c/imports/{}", record.import_id)).by(&cm("c")).send().await;
        assert_eq!((stored.body["status"].as_str(), stored.body["rows_total"].as_u64()), (Some("failed"), Some(0)));
    }
    assert_eq!(seats_in_use(&env).await, vec![0]);
}
