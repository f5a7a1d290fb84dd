//! Hostile input: oversized and deeply nested bodies, invalid UTF-8, CSV cells that try to break
//! rows or smuggle formulas, odd but valid e-mails, and ids that try to reach across the key
//! layout. Each gets a clear 4xx (or is handled right) and changes nothing it should not.

use seatkeeper_tests::{cm, platform, TestEnv, Who, NOW};
use serde_json::json;

#[tokio::test]
async fn oversized_deep_and_broken_bodies_are_refused_cleanly() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let before = env.partition("ORG#c").await.len();

    // An import over the API's 5 MB.
    let big = format!("email\n{}", "a@c.example\n".repeat(5 * 1024 * 1024 / 12 + 10));
    let a = env.post("/v1/orgs/c/imports").by(&cm("c")).raw(big.as_bytes()).send().await;
    assert_eq!((a.status, a.code()), (413, "payload_too_large"), "{:?}", a.body);

    // JSON nested far deeper than any request needs.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let a = env.allocation("c").raw(deep.as_bytes()).send().await;
    assert_eq!((a.status, a.code()), (400, "invalid_request"), "{:?}", a.body);

    // A huge but flat body: more e-mails than one call takes.
    let emails: Vec<String> = (0..50_000).map(|i| format!("u{i}@c.example")).collect();
    let a = env.allocation("c").json(json!({ "emails": emails })).send().await;
    assert_eq!((a.status, a.code()), (400, "invalid_request"), "{:?}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("emails"), "{:?}", a.body);

    // Invalid UTF-8, as JSON and as a CSV file.
    let a = env.allocation("c").raw(b"{\"emails\": [\"\xff\xfe@c.example\"]}").send().await;
    assert_eq!((a.status, a.code()), (400, "invalid_request"), "{:?}", a.body);
    let a = env.post("/v1/orgs/c/imports").by(&cm("c")).raw(b"email\nok@c.example\n\xff\xfe@c.example\n").send().await;
    assert_eq!((a.status, a.code()), (400, "invalid_request"), "{:?}", a.body);

    // Unknown fields and wrong types name the field.
    let a = env.post("/v1/orgs/c/orders").by(&cm("c")).json(json!({"quantity": "10"})).send().await;
    assert_eq!((a.status, a.code()), (400, "invalid_request"), "{:?}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("quantity"), "{:?}", a.body);

    assert_eq!(env.partition("ORG#c").await.len(), before, "nothing was written");
}

#[tokio::test]
async fn csv_cells_cannot_break_rows_or_smuggle_formulas_into_reports() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let platform = platform("c");
    // A name with a line break is refused; one with a formula is stored as given.
    let a = env
        .put_user("c", "ann@c.example")
        .by(&platform)
        .json(json!({"name": "Ann\r\nmallory@c.example,evil"}))
        .send()
        .await;
    assert!(matches!(a.status, 201 | 400), "{:?}", a.body);
    let a = env.put_user("c", "ann@c.example").by(&platform).json(json!({"name": "=cmd|' /C calc'!A0"})).send().await;
    assert!(matches!(a.status, 200 | 201), "{:?}", a.body);
    assert_eq!(a.body["name"].as_str(), Some("=cmd|' /C calc'!A0"));
    // A cell that hides a line break (a second row smuggled into one) refuses the file, naming
    // the line; a formula in the e-mail column is an invalid row, never an allocation.
    let smuggled = "email,name\n\"bob@c.example\r\nmallory@c.example\",y\nann@c.example,z\n";
    let a = env.post("/v1/orgs/c/imports").by(&cm("c")).raw(smuggled.as_bytes()).send().await;
    assert_eq!((a.status, a.code()), (400, "invalid_request"), "{:?}", a.body);
    assert_eq!(a.body["error"]["details"]["line"], 2, "{:?}", a.body);
    let file = "email,name\n\"=HYPERLINK(\"\"http://x\"\")\",x\nann@c.example,z\n";
    let a = env.post("/v1/orgs/c/imports").by(&cm("c")).raw(file.as_bytes()).send().await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let outcomes: Vec<&str> =
        a.body["rows"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["invalid", "renew"]);
    // The usage CSV of an org whose name carries separators, quotes and a formula stays one row
    // per org, the name in its own cell and inert.
    env.org_named("d", "+1+1,\"x\";y", "company", "c").await;
    let csv = env.get("/v1/orgs/c/usage?format=csv").by(&cm("c")).send().await;
    let text = csv.body.as_str().unwrap();
    let mut reader = csv::ReaderBuilder::new().from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 3, "c, d and the total: {text}");
    assert_eq!(&records[1][0], "'+1+1,\"x\";y", "the name, escaped, inside its own cell");
}

#[tokio::test]
async fn odd_but_valid_emails_work_and_ids_cannot_reach_across_keys() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let platform = platform("c");
    for (raw, stored) in [
        ("O'Brien+Tag@Sub.Example.co.uk", "o'brien+tag@sub.example.co.uk"),
        ("a%23b@c.example", "a#b@c.example"),
        ("%22quoted%22@c.example", "\"quoted\"@c.example"),
    ] {
        let a = env.put_user("c", raw).by(&platform).send().await;
        assert_eq!((a.status, a.body["email"].as_str()), (201, Some(stored)), "{raw}: {:?}", a.body);
        let got = env.get(&format!("/v1/orgs/c/users/{raw}")).by(&cm("c")).send().await;
        assert_eq!(got.body["email"].as_str(), Some(stored));
    }

    // An address whose domain carries a key separator is refused: it could reach into another
    // user's items ("a@b.example" and "a@b.example#x.example").
    for bad in ["a@b.example%23x.example", "a@b.example%2Fx.example"] {
        let a = env.put_user("c", bad).by(&platform).send().await;
        assert_eq!((a.status, a.code()), (400, "invalid_request"), "{bad}: {:?}", a.body);
    }

    // A user whose local part has '#' and one that is its prefix keep their enrolments apart.
    env.users("c", ["a@c.example"]).by(&platform).await;
    let e = env.enrolment("c", "a%23b@c.example", "run").json(json!({"status": "active"})).send().await;
    assert_eq!(e.status, 200, "{:?}", e.body);
    let mine = env.get("/v1/orgs/c/users/a@c.example").by(&cm("c")).send().await;
    assert_eq!(mine.body["active"], false, "a@c.example has no enrolment: {:?}", mine.body);
    let listed = env.get("/v1/orgs/c/users/a@c.example/enrolments").by(&cm("c")).send().await;
    assert_eq!(listed.body["items"], json!([]), "{:?}", listed.body);
    let theirs = env.get("/v1/orgs/c/users/a%23b@c.example/enrolments").by(&cm("c")).send().await;
    assert_eq!(theirs.body["items"].as_array().map(Vec::len), Some(1), "{:?}", theirs.body);

    // A search prefix is only ever the start of an e-mail among the org's users: key separators
    // and prefixes of other item types find no other item.
    for prefix in ["a%23", "%23", "a@c.example%23", "..%2F", "%25", "ENROLMENT%23", "a%00"] {
        let a = env.get(&format!("/v1/orgs/c/users?email_prefix={prefix}")).by(&cm("c")).send().await;
        assert_eq!(a.status, 200, "{prefix}: {:?}", a.body);
        for u in a.body["items"].as_array().unwrap() {
            assert!(u["email"].as_str().unwrap().contains('@') && u["org_id"] == "c", "{prefix}: {u}");
        }
    }
    // A forged rows cursor of this very import, pointing past every chunk, is refused.
    let import = env.post("/v1/orgs/c/imports").by(&cm("c")).raw(b"email\na@c.example\n").send().await;
    let id = import.body["import_id"].as_str().unwrap();
    for (chunk, row) in [(1_000_000u64, 0u64), (u64::MAX, u64::MAX)] {
        let forged = format!(r#"{{"import":"{id}","release":false,"chunk":{chunk},"row":{row},"given":0}}"#);
        let cursor = base64_url(forged.as_bytes());
        let a = env.get(&format!("/v1/orgs/c/imports/{id}/rows?cursor={cursor}")).by(&cm("c")).send().await;
        assert_eq!((a.status, a.code()), (400, "invalid_request"), "{forged}: {:?}", a.body);
    }
    let forged = format!(r#"{{"import":"{id}","release":false,"chunk":999999,"row":5,"given":0}}"#);
    let a = env
        .get(&format!("/v1/orgs/c/imports/{id}/rows?cursor={}", base64_url(forged.as_bytes())))
        .by(&cm("c"))
        .send()
        .await;
    assert_eq!((a.status, a.body["items"].clone()), (200, json!([])), "{:?}", a.body);

    let hashed = env.get("/v1/orgs/c/users?email_prefix=A%23").by(&cm("c")).send().await;
    assert_eq!(hashed.body["items"][0]["email"], "a#b@c.example");
    assert_eq!(hashed.body["items"].as_array().unwrap().len(), 1);

    // Ids with separators in the path find nothing and create nothing.
    for path in ["/v1/orgs/c%23USER/users", "/v1/orgs/c%2Fx/usage", "/v1/orders/ORDER%23x", "/v1/orgs/..%2Fc/lots"] {
        let a = env.get(path).by(&Who::vendor_admin()).send().await;
        assert!(matches!(a.status, 400 | 404), "{path}: {} {:?}", a.status, a.body);
    }
    let a = env
        .post("/v1/orgs")
        .by(&Who::vendor_admin())
        .json(json!({"org_id": "x#USER", "name": "X", "kind": "company", "parent_id": "p"}))
        .send()
        .await;
    assert_eq!((a.status, a.code()), (400, "invalid_request"), "{:?}", a.body);
}

#[tokio::test]
async fn the_same_email_twice_in_one_allocation_is_licensed_once() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 5, "2026-01-10T08:00:00Z", "p", NOW).await;
    env.users("c", ["ann@c.example"]).by(&platform("c")).await;
    let a = env
        .allocation("c")
        .json(json!({"emails": ["ann@c.example", "ANN@c.example ", "bob@c.example", "bob@c.example"]}))
        .send()
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["allocated"], 1, "{:?}", a.body);
    let lots = env.get("/v1/orgs/c/lots").by(&cm("c")).send().await;
    assert_eq!(lots.body["items"][0]["in_use"], 1);
}

#[tokio::test]
async fn a_multipart_form_is_refused_with_415_naming_the_accepted_types() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    let before = env.partition("ORG#c").await.len();
    let form = b"--b1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"learners.csv\"\r\n\
Content-Type: text/csv\r\n\r\nemail\r\nann@c.example\r\n--b1--\r\n";
    let multipart = "multipart/form-data; boundary=b1";

    let a = env.post("/v1/orgs/c/imports").by(&cm("c")).header("Content-Type", multipart).raw(form).send().await;
    assert_eq!((a.status, a.code()), (415, "unsupported_media_type"), "{:?}", a.body);
    let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    assert_eq!(
        a.body["error"]["details"],
        json!({"accepted": ["text/csv", "text/plain", "application/octet-stream", xlsx]})
    );
    let message = a.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("text/csv") && message.contains("application/octet-stream") && message.contains(xlsx),
        "{message}"
    );

    let a = env
        .post("/v1/orgs/c/orders")
        .by(&cm("c"))
        .header("Content-Type", "MULTIPART/FORM-DATA; boundary=b1")
        .raw(b"--b1\r\nContent-Disposition: form-data; name=\"quantity\"\r\n\r\n10\r\n--b1--\r\n")
        .send()
        .await;
    assert_eq!((a.status, a.code()), (415, "unsupported_media_type"), "{:?}", a.body);
    assert_eq!(a.body["error"]["details"], json!({"accepted": ["application/json"]}));
    assert!(a.body["error"]["message"].as_str().unwrap().contains("application/json"), "{:?}", a.body);
    assert_eq!(env.partition("ORG#c").await.len(), before, "nothing was written");

    // The same file as text/csv is read.
    let csv = env
        .post("/v1/orgs/c/imports")
        .by(&cm("c"))
        .header("Content-Type", "text/csv")
        .raw(b"email\nann@c.example\n")
        .send()
        .await;
    assert_eq!(csv.status, 201, "{:?}", csv.body);
}

/// Base64url without padding, as the API's cursors are written.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}
