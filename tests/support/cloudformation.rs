//! CloudFormation's side of a custom resource, for the tests of the deployment's `TableSetup`
//! (`seatkeeper::deploy`): the request it sends, and a stand-in for its pre-signed `ResponseURL`.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// An answer PUT to the `ResponseURL`: its `Content-Type` header, if any, and its JSON body.
pub type Put = (Option<String>, Value);

/// A loopback server standing in for CloudFormation's pre-signed `ResponseURL`: it keeps every
/// answer PUT to it, with its `Content-Type` (the URL is signed for none).
pub struct ResponseUrl {
    pub url: String,
    answers: Arc<Mutex<Vec<Put>>>,
}

impl ResponseUrl {
    pub async fn start() -> ResponseUrl {
        let answers: Arc<Mutex<Vec<Put>>> = Arc::default();
        let kept = answers.clone();
        let app = axum::Router::new().route(
            "/cr-response-key",
            axum::routing::put(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let content_type = headers.get("content-type").map(|v| v.to_str().unwrap().to_string());
                    kept.lock().unwrap().push((content_type, serde_json::from_slice(&body).unwrap()));
                    ""
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/cr-response-key?X-Amz-Signature=abc", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ResponseUrl { url, answers }
    }

    pub fn answers(&self) -> Vec<Put> {
        self.answers.lock().unwrap().clone()
    }
}

/// The `TableSetup` request CloudFormation sends (AWS's documented custom resource request).
pub fn setup_request(kind: &str, response_url: &str, table: &str) -> Value {
    let text = include_str!("../fixtures/events/cloudformation-table-setup.json")
        .replace("${REQUEST_TYPE}", kind)
        .replace("${RESPONSE_URL}", response_url)
        .replace("${TABLE}", table)
        .replace("${PHYSICAL_ID}", &format!("{table}-setup"));
    let mut request: Value = serde_json::from_str(&text).unwrap();
    match kind {
        "Create" => drop(request.as_object_mut().unwrap().remove("PhysicalResourceId")),
        "Update" => {
            let mut old = request["ResourceProperties"].clone();
            old["SetupVersion"] = json!("0");
            request["OldResourceProperties"] = old;
        }
        _ => {}
    }
    request
}
