//! Through the local server over real HTTP, with minted tokens.

use std::sync::Arc;

use seatkeeper_local::{router, LocalServer};
use seatkeeper_tests::{cm, pm, TestEnv, Who};
use serde_json::{json, Value};

const SECRET: &str = "test-secret";

async fn serve(env: TestEnv) -> String {
    serve_with_console(env, None).await
}

async fn serve_with_console(env: TestEnv, console: Option<std::path::PathBuf>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(LocalServer { app: env.app, secret: SECRET.into(), console, mail: None, mailer: None });
    tokio::spawn(async move { axum::serve(listener, router(server)).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_order_flow_over_http_with_minted_tokens() {
    let base = serve(TestEnv::new().await).await;
    let http = reqwest::Client::new();
    let admin = Who::vendor_admin().token(SECRET, 600);
    let post = |path: &str, tok: &str, body: Value, now: &str| {
        http.post(format!("{base}{path}")).bearer_auth(tok).header("X-Seatkeeper-Now", now).json(&body).send()
    };

    assert_eq!(http.get(format!("{base}/health")).send().await.unwrap().status(), 200);
    let doc: Value = http.get(format!("{base}/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/v1/orgs/{org_id}/usage"]["get"].is_object());
    for org in [
        json!({"org_id": "p", "name": "P", "kind": "partner", "parent_id": "vendor"}),
        json!({"org_id": "c", "name": "C", "kind": "company", "parent_id": "p"}),
    ] {
        let r = post("/v1/orgs", &admin, org, "2026-01-01T00:00:00Z").await.unwrap();
        assert_eq!(r.status(), 201);
    }

    let cm = cm("c").token(SECRET, 600);
    let order: Value = post("/v1/orgs/c/orders", &cm, json!({"quantity": 10}), "2026-01-10T00:00:00Z")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = order["order_id"].as_str().unwrap();
    assert_eq!(order["requested_at"], "2026-01-10T00:00:00Z");

    let pm = pm("p").token(SECRET, 600);
    let assigned = post(&format!("/v1/orders/{id}/assign"), &pm, json!({}), "2026-01-15T09:00:00Z").await.unwrap();
    assert_eq!(assigned.status(), 200);
    assert_eq!(assigned.headers()["content-type"], "application/json");
    let assigned: Value = assigned.json().await.unwrap();
    assert_eq!(assigned["lot"]["valid_until"], "2027-01-15T09:00:00Z");

    let lots: Value =
        http.get(format!("{base}/v1/orgs/c/lots")).bearer_auth(&cm).send().await.unwrap().json().await.unwrap();
    assert_eq!(lots["items"][0]["quantity"], 10);
}

#[tokio::test]
async fn tokens_that_are_missing_forged_expired_or_malformed_are_refused() {
    let base = serve(TestEnv::new().await).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/v1/orgs/vendor");
    let status = |req: reqwest::RequestBuilder| async move { req.send().await.unwrap().status().as_u16() };
    assert_eq!(status(http.get(&url)).await, 401);
    assert_eq!(status(http.get(&url).bearer_auth(Who::vendor_admin().token("another-secret", 600))).await, 401);
    assert_eq!(status(http.get(&url).bearer_auth(Who::vendor_admin().token(SECRET, -60))).await, 401);
    assert_eq!(status(http.get(&url).bearer_auth("not.a.token")).await, 401);
    // An unsigned token (alg "none") is refused.
    let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4Iiwib3JnX2lkIjoidmVuZG9yIiwicm9sZSI6InZlbmRvcl9hZG1pbiIsImV4cCI6OTk5OTk5OTk5OX0.";
    assert_eq!(status(http.get(&url).bearer_auth(unsigned)).await, 401);
    assert_eq!(status(http.get(&url).bearer_auth(Who::vendor_admin().token(SECRET, 600))).await, 200);
    // A signed token without a known role is no principal.
    let r = http.get(&url).bearer_auth(Who::new("superuser", "vendor").token(SECRET, 600)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    let bad_now = http
        .get(&url)
        .bearer_auth(Who::vendor_admin().token(SECRET, 600))
        .header("X-Seatkeeper-Now", "soon")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_now.status(), 400);
}

/// The console beside the API on one origin: its files, its index for its own routes, the
/// local sign-in's token, while the API's paths stay the API's.
#[tokio::test]
async fn the_console_is_served_beside_the_api_and_signs_in_locally() {
    let dir = std::env::temp_dir().join(format!("console-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>Seatkeeper</title>").unwrap();
    std::fs::write(dir.join("assets/app.js"), "console.log(1)").unwrap();
    let base = serve_with_console(TestEnv::new().await, Some(dir)).await;
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{base}{path}")).send();

    let index = get("/").await.unwrap();
    assert_eq!(index.status(), 200);
    assert!(index.text().await.unwrap().contains("<title>Seatkeeper</title>"));
    assert_eq!(get("/assets/app.js").await.unwrap().text().await.unwrap(), "console.log(1)");
    let route = get("/companies/globex/licences?tab=expired").await.unwrap();
    assert_eq!(route.status(), 200, "a console route answers the console's index");
    assert!(route.text().await.unwrap().contains("Seatkeeper"));
    let config: Value = get("/config.json").await.unwrap().json().await.unwrap();
    assert_eq!(config["mode"], "local");
    // The API's own 404 stays the API's.
    let missing = get("/v1/nowhere").await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"]["code"], "unauthenticated");

    let minted: Value = http
        .post(format!("{base}/dev/token"))
        .json(&json!({"role": "vendor_admin", "org_id": "vendor", "email": "Ann@Vendor.Example"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = minted["token"].as_str().unwrap();
    let org = http.get(format!("{base}/v1/orgs/vendor")).bearer_auth(token).send().await.unwrap();
    assert_eq!(org.status(), 200, "the minted token signs in");
    let refused =
        http.post(format!("{base}/dev/token")).json(&json!({"role": "root", "org_id": "vendor"})).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().starts_with("role:"));
}
