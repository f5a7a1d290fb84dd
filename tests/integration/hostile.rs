//! Hostile input: oversized and deeply nested bodies, invalid UTF-8, CSV cells that try to break
//! rows or smuggle formulas, odd but valid e-mails, and ids that try to reach across the key
//! layout. Each gets a clear 4xx (or is handled right) and changes nothing it should not.

use seatkeeper_tests::{cm, platform, pm, TestEnv, Who, NOW};
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

// ---- the hostile tenant ------------------------------------------------------------------------
//
// Two partners, each with a company: p1 → c1 is the victim (a lot, a user, an open order, a
// reviewed import, a large allocation's job, an order requested under an Idempotency-Key), p2 →
// c2 the attacker's own. The partner manager of p2 and the company manager of c2 try every
// cross-tenant move they could; each is refused as if the object did not exist, carries nothing
// of it, and leaves the table exactly as it was (every item compared, before and after).

/// What the victim holds, by id.
struct Victim {
    order: String,
    import: String,
    job: String,
}

const VICTIM_AT: &str = "2026-02-01T10:00:00Z";
const SHARED_KEY: &str = "order-2026-02";

async fn two_tenants(env: &TestEnv) -> Victim {
    for (id, name, kind, parent) in [
        ("p1", "Victim Partner", "partner", "vendor"),
        ("c1", "Victim Company", "company", "p1"),
        ("p2", "Attacker Partner", "partner", "vendor"),
        ("c2", "Attacker Company", "company", "p2"),
    ] {
        env.org_named(id, name, kind, parent).await;
    }
    env.order_and_assign("c1", 100, "2026-01-10T08:00:00Z", "p1", "2026-01-15T09:00:00Z").await;
    env.users("c1", ["ann@c1.example"]).by(&platform("c1")).await;
    let order = env.request("c1", 3, "2026-01-20T08:00:00Z").await;
    let keyed = env.post("/v1/orgs/c1/orders").by(&cm("c1")).key(SHARED_KEY).json(json!({"quantity": 7})).send().await;
    assert_eq!(keyed.status, 201, "{:?}", keyed.body);
    let import = env.post("/v1/orgs/c1/imports").by(&cm("c1")).raw(b"email\nann@c1.example\n").send().await;
    assert_eq!(import.status, 201, "{:?}", import.body);
    // More e-mails than one transaction licenses: a job, with its rows.
    let many: Vec<String> = (0..91).map(|i| format!("m{i}@c1.example")).collect();
    let job = env
        .allocation("c1")
        .key("victim-job")
        .json(json!({"emails": many, "create_missing": true}))
        .at(VICTIM_AT)
        .send()
        .await;
    assert_eq!((job.status, job.body["allocated"].as_u64()), (200, Some(91)), "{:?}", job.body);
    Victim {
        order,
        import: import.body["import_id"].as_str().unwrap().into(),
        job: job.body["allocation_id"].as_str().unwrap().into(),
    }
}

/// An answer that refuses as "not found" (or `status`), carrying nothing but the error, and
/// none of the victim's names.
fn refused_cleanly(case: &str, a: &seatkeeper_tests::Answer, status: u16) {
    assert_eq!(a.status, status, "{case}: {:?}", a.body);
    let keys: Vec<&String> = a.body.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, ["error"], "{case}: {:?}", a.body);
    let text = a.body.to_string();
    assert!(!text.contains("Victim") && !text.contains("ann@"), "{case}: leaked {text}");
}

#[tokio::test]
async fn a_hostile_partner_or_company_reaches_nothing_of_another_tenant() {
    let env = TestEnv::new().await;
    let v = two_tenants(&env).await;
    let (order, import, job) = (&v.order, &v.import, &v.job);
    let ann = "ann@c1.example";
    let moves: Vec<(&str, String, Option<serde_json::Value>)> = vec![
        // create under another's parent
        ("POST", "/v1/orgs".into(), Some(json!({"name": "Mine", "kind": "company", "parent_id": "c1"}))),
        ("POST", "/v1/orgs".into(), Some(json!({"name": "Mine", "kind": "company", "parent_id": "p1"}))),
        ("POST", "/v1/orgs".into(), Some(json!({"name": "Mine", "kind": "partner", "parent_id": "vendor"}))),
        // read and list
        ("GET", "/v1/orgs/c1".into(), None),
        ("GET", "/v1/orgs/p1".into(), None),
        ("GET", "/v1/orgs/vendor".into(), None),
        ("GET", "/v1/orgs/vendor/orders".into(), None),
        ("GET", "/v1/orgs/vendor/children".into(), None),
        ("GET", "/v1/orgs/p1/children".into(), None),
        ("GET", "/v1/orgs/p1/orders?status=requested".into(), None),
        ("GET", "/v1/orgs/c1/orders".into(), None),
        ("GET", "/v1/orgs/c1/notifications".into(), None),
        ("GET", "/v1/orgs/c1/audit".into(), None),
        ("GET", "/v1/orgs/c1/lots".into(), None),
        ("GET", "/v1/orgs/c1/users".into(), None),
        ("GET", format!("/v1/orgs/c1/users/{ann}"), None),
        ("GET", format!("/v1/orgs/c1/users/{ann}/enrolments"), None),
        ("GET", format!("/v1/orgs/c1/users/{ann}/access"), None),
        ("GET", "/v1/orgs/c1/licences".into(), None),
        ("GET", "/v1/orgs/c1/usage".into(), None),
        ("GET", "/v1/orgs/c1/renewals?until=2026-12-31".into(), None),
        ("GET", format!("/v1/orders/{order}"), None),
        // change the victim's orders, users and policy
        ("POST", "/v1/orgs/c1/orders".into(), Some(json!({"quantity": 1}))),
        ("POST", format!("/v1/orders/{order}/cancel"), None),
        ("POST", format!("/v1/orders/{order}/assign"), None),
        ("POST", format!("/v1/orders/{order}/reject"), Some(json!({"reason": "mine now"}))),
        ("PUT", "/v1/orgs/c1/users/spy@c1.example".into(), Some(json!({"name": "Spy"}))),
        ("DELETE", format!("/v1/orgs/c1/users/{ann}"), None),
        ("POST", "/v1/orgs/c1/users/renewable".into(), Some(json!({"emails": [ann], "renewable": false}))),
        ("PUT", format!("/v1/orgs/c1/users/{ann}/enrolments/run"), Some(json!({"status": "active"}))),
        ("PUT", "/v1/orgs/c1/policy".into(), Some(json!({"seats_included": 1000}))),
        ("PUT", "/v1/orgs/p1/policy".into(), Some(json!({"seats_included": 1000}))),
        ("PUT", "/v1/orgs/vendor/policy".into(), Some(json!({"seats_included": 1000}))),
        // allocate and import into the victim
        ("POST", "/v1/orgs/c1/allocations".into(), Some(json!({"emails": [ann]}))),
        ("POST", "/v1/orgs/c1/allocations".into(), Some(json!({"all_expired": true}))),
        // the victim's import and job, through the victim's org and through the attacker's own
        ("GET", format!("/v1/orgs/c1/imports/{import}"), None),
        ("GET", format!("/v1/orgs/c1/imports/{import}/rows"), None),
        ("POST", format!("/v1/orgs/c1/imports/{import}/confirm"), None),
        ("GET", format!("/v1/orgs/c2/imports/{import}"), None),
        ("GET", format!("/v1/orgs/c2/imports/{import}/rows"), None),
        ("POST", format!("/v1/orgs/c2/imports/{import}/confirm"), None),
        ("GET", format!("/v1/orgs/c1/allocations/{job}"), None),
        ("GET", format!("/v1/orgs/c1/allocations/{job}/rows"), None),
        ("GET", format!("/v1/orgs/c2/allocations/{job}"), None),
        ("GET", format!("/v1/orgs/c2/allocations/{job}/rows"), None),
        ("GET", format!("/v1/orgs/c2/allocations/{job}/rows?outcome=allocated"), None),
    ];
    let mut tried = 0;
    for who in [pm("p2"), cm("c2")] {
        for (method, url, body) in &moves {
            let before = env.all_items().await;
            let mut call = env.call(method, url).by(&who).at(VICTIM_AT);
            if let Some(b) = body {
                call = call.json(b.clone());
            }
            let a = call.send().await;
            let case = format!("{method} {url} as {}@{}", who.role, who.org_id);
            // A company manager may never create an org: but out of its reach, it is not told so.
            refused_cleanly(&case, &a, 404);
            assert_eq!(env.all_items().await, before, "{case}: the table changed");
            tried += 1;
        }
        // The victim's import, posted to the victim's org as a file.
        let before = env.all_items().await;
        let a = env.post("/v1/orgs/c1/imports").by(&who).raw(b"email\nspy@c1.example\n").send().await;
        refused_cleanly(&format!("POST /v1/orgs/c1/imports as {}", who.role), &a, 404);
        assert_eq!(env.all_items().await, before, "the import changed the table");
    }
    assert!(tried >= 90, "{tried} moves tried");

    // Lists of the attacker's own orgs hold nothing of the victim, even filtered by its id.
    for (who, org) in [(pm("p2"), "p2"), (cm("c2"), "c2")] {
        let a = env.get(&format!("/v1/orgs/{org}/orders?company_id=c1")).by(&who).send().await;
        assert_eq!((a.status, a.body["items"].clone()), (200, json!([])), "{:?}", a.body);
        let usage = env.get(&format!("/v1/orgs/{org}/usage")).by(&who).send().await;
        assert!(!usage.body.to_string().contains("c1") && !usage.body.to_string().contains("Victim"), "{}", usage.body);
    }
    let kids = env.get("/v1/orgs/p2/children").by(&pm("p2")).send().await;
    let ids: Vec<&str> = kids.body["items"].as_array().unwrap().iter().map(|o| o["org_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c2"]);
}

#[tokio::test]
async fn an_org_out_of_reach_answers_as_one_that_does_not_exist() {
    let env = TestEnv::new().await;
    two_tenants(&env).await;
    // Reach before role: a partner manager may never set a policy, but whether it is told so
    // must not depend on whether the org exists (it was 403 for c1 and 404 for nobody).
    let answer = |a: &seatkeeper_tests::Answer, id: &str| {
        (a.status, a.code().to_string(), a.body["error"]["message"].as_str().unwrap().replace(id, "<id>"))
    };
    for (who, role_never, unknown) in [
        (pm("p2"), ("PUT", "/v1/orgs/{}/policy", json!({"seats_included": 1})), "nobody"),
        (cm("c2"), ("PUT", "/v1/orgs/{}/policy", json!({"seats_included": 1})), "nobody"),
        (cm("c2"), ("POST", "/v1/orgs", json!({"name": "X", "kind": "company", "parent_id": "{}"})), "nobody"),
        (Who::new("learner", "c2"), ("GET", "/v1/orgs/{}/lots", json!(null)), "nobody"),
        (platform("c2"), ("GET", "/v1/orgs/{}/orders", json!(null)), "nobody"),
    ] {
        let (method, path, body) = role_never;
        let mut seen = Vec::new();
        for id in ["c1", "p1", unknown] {
            let mut call = env.call(method, &path.replace("{}", id)).by(&who);
            if !body.is_null() {
                call = call.json(serde_json::from_str(&body.to_string().replace("{}", id)).unwrap());
            }
            let a = call.send().await;
            seen.push(answer(&a, id));
        }
        assert_eq!(seen[0].0, 404, "{method} {path} as {}: {seen:?}", who.role);
        assert!(seen.iter().all(|s| *s == seen[0]), "{method} {path} as {}: {seen:?}", who.role);
    }
    // Within reach, the role is what refuses.
    let a = env.put("/v1/orgs/c2/policy").by(&pm("p2")).json(json!({"seats_included": 1})).send().await;
    assert_eq!((a.status, a.code()), (403, "forbidden"), "{:?}", a.body);
}

#[tokio::test]
async fn nobody_becomes_the_vendor_or_another_spelling_of_an_org() {
    let env = TestEnv::new().await;
    two_tenants(&env).await;
    let vendor_before = env.item("ORG#vendor", "ORG").await.expect("the vendor is stored from the first start");
    for id in ["vendor", "Vendor", "VENDOR", ".", ".."] {
        for (who, parent) in [(pm("p2"), "p2"), (Who::vendor_admin(), "vendor")] {
            let before = env.all_items().await;
            let kind = if parent == "vendor" { "partner" } else { "company" };
            let a = env
                .post("/v1/orgs")
                .by(&who)
                .json(json!({"org_id": id, "name": "The Vendor", "kind": kind, "parent_id": parent}))
                .send()
                .await;
            assert_eq!((a.status, a.code()), (400, "invalid_request"), "{id} as {}: {:?}", who.role, a.body);
            let message = a.body["error"]["message"].as_str().unwrap();
            assert!(message.starts_with("org_id: ") && message.contains("reserved"), "{message}");
            assert_eq!(env.all_items().await, before, "{id}: the table changed");
        }
    }
    // A company manager may create no org at all: within its reach that is the role's refusal.
    let a = env
        .post("/v1/orgs")
        .by(&cm("c2"))
        .json(json!({"org_id": "vendor", "name": "V", "kind": "company", "parent_id": "c2"}))
        .send()
        .await;
    assert_eq!((a.status, a.code()), (403, "forbidden"), "{:?}", a.body);

    // An id equal to another's ignoring case is taken, whoever holds it; the answer names nothing
    // of its holder. Ids stay as stored: `P1` is not `p1`.
    for (id, holder) in [("C1", "c1"), ("c1", "c1"), ("P1", "p1"), ("p2", "p2")] {
        let before = env.all_items().await;
        let a = env
            .post("/v1/orgs")
            .by(&pm("p2"))
            .json(json!({"org_id": id, "name": "Twin", "kind": "company", "parent_id": "p2"}))
            .send()
            .await;
        assert_eq!((a.status, a.code()), (409, "conflict"), "{id}: {:?}", a.body);
        let message = a.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("taken") && !message.contains("Victim"), "{message}");
        assert!(id == holder || !message.contains(&format!("{holder:?}")), "the holder's spelling: {message}");
        assert_eq!(env.all_items().await, before, "{id}: the table changed");
    }
    let a = env.get("/v1/orgs/P1").by(&Who::vendor_admin()).send().await;
    assert_eq!(a.status, 404, "{:?}", a.body);

    // The vendor stays the vendor, and the vendor admin's reads of it work.
    assert_eq!(env.item("ORG#vendor", "ORG").await, Some(vendor_before));
    let orders = env.get("/v1/orgs/vendor/orders").by(&Who::vendor_admin()).send().await;
    assert_eq!(orders.status, 200, "{:?}", orders.body);
    assert_eq!(orders.body["items"].as_array().unwrap().len(), 3, "every order of the platform: {:?}", orders.body);
    for who in [pm("p2"), cm("c2")] {
        let a = env.get("/v1/orgs/vendor/orders").by(&who).send().await;
        refused_cleanly("GET /v1/orgs/vendor/orders", &a, 404);
    }
}

#[tokio::test]
async fn someone_elses_idempotency_key_replays_nothing_of_theirs() {
    let env = TestEnv::new().await;
    two_tenants(&env).await;
    let victims: Vec<_> = env.all_items().await;
    // The same key, on the victim's org: not the victim's answer, and nothing done.
    let a = env.post("/v1/orgs/c1/orders").by(&cm("c2")).key(SHARED_KEY).json(json!({"quantity": 7})).send().await;
    refused_cleanly("the victim's key on the victim's org", &a, 404);
    assert!(!a.headers.contains_key("idempotent-replayed"));
    assert_eq!(env.all_items().await, victims);
    // The same key and body on the attacker's own org: a new order of its own, not a replay.
    let a = env.post("/v1/orgs/c2/orders").by(&cm("c2")).key(SHARED_KEY).json(json!({"quantity": 7})).send().await;
    assert_eq!((a.status, a.body["org_id"].as_str()), (201, Some("c2")), "{:?}", a.body);
    assert!(!a.headers.contains_key("idempotent-replayed"), "{:?}", a.headers);
    let after = env.all_items().await;
    let gone: Vec<_> = victims.iter().filter(|i| !after.contains(i)).collect();
    assert!(gone.is_empty(), "the victim's items changed: {gone:?}");
    let order = a.body["order_id"].as_str().unwrap();
    let chain = ["ORG#c2".to_string(), "ORG#p2".into(), "ORG#vendor".into(), format!("ORDER#{order}")];
    for item in after.iter().filter(|i| !victims.contains(i)) {
        let pk = item["PK"].as_s().unwrap();
        assert!(chain.contains(pk) || pk.starts_with("IDEM#"), "a new item outside the attacker's chain: {pk}");
    }
    // And the large allocation's key: the attacker's job is its own.
    let many: Vec<String> = (0..91).map(|i| format!("m{i}@c2.example")).collect();
    env.order_and_assign("c2", 100, "2026-01-10T08:00:00Z", "p2", "2026-01-15T09:00:00Z").await;
    let before = env.all_items().await;
    let job = env
        .allocation("c2")
        .key("victim-job")
        .json(json!({"emails": many, "create_missing": true}))
        .at(VICTIM_AT)
        .send()
        .await;
    assert_eq!((job.status, job.body["allocated"].as_u64()), (200, Some(91)), "{:?}", job.body);
    let after = env.all_items().await;
    let changed: Vec<_> =
        before.iter().filter(|i| !after.contains(i)).map(|i| i["PK"].as_s().unwrap().clone()).collect();
    assert!(changed.iter().all(|pk| pk == "ORG#c2" || pk == "ORG#p2"), "changed outside c2: {changed:?}");
    let c1_licensed = env.get("/v1/orgs/c1/licences?status=active").by(&cm("c1")).at(VICTIM_AT).send().await;
    assert!(!c1_licensed.body.to_string().contains("@c2.example"), "{}", c1_licensed.body);
}

#[tokio::test]
async fn a_partner_file_naming_an_org_that_is_no_company_licenses_nobody() {
    // S3 keys name their org (`imports/{org_id}/…`); who may write under which prefix is the
    // bucket policy's. Here: a key naming the vendor, a partner, an unknown org or another
    // spelling of a company licenses nobody and touches none of those orgs' items.
    let env = TestEnv::with_s3().await;
    two_tenants(&env).await;
    let watched = ["ORG#vendor", "ORG#p1", "ORG#c1", "ORG#p2"];
    let mut before = Vec::new();
    for pk in watched {
        before.push(env.partition(pk).await.into_iter().filter(|i| i["type"].as_s().unwrap() != "import").count());
    }
    for key in ["imports/vendor/x.csv", "imports/p1/x.csv", "imports/ghost/x.csv", "imports/C1/x.csv"] {
        let done = env.drop_file(key, b"email\nspy@c1.example\n".to_vec(), &[], 1, VICTIM_AT).await;
        for r in &done {
            assert_eq!(r.allocated, 0, "{key}: {r:?}");
        }
    }
    for (pk, n) in watched.iter().zip(before) {
        let now = env.partition(pk).await.into_iter().filter(|i| i["type"].as_s().unwrap() != "import").count();
        assert_eq!(now, n, "{pk} changed");
    }
    let spy = env.get("/v1/orgs/c1/users/spy@c1.example").by(&cm("c1")).send().await;
    assert_eq!(spy.status, 404, "{:?}", spy.body);
}
