//! E-mail in the local run: moto's server stands in for SES (`AWS_ENDPOINT_URL_SESV2`, the
//! sender identity created at start, as moto refuses unverified senders); the notice mailer runs
//! on each notice the table's stream carries (DynamoDB Local's stream, read as Lambda's event
//! source would), with the event the notice publisher puts on the bus; and `GET /dev/mail` lists
//! what was sent, from moto's own record of sent mail (`/moto-api/data.json`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use mail_parser::MimeHeaders;
use seatkeeper::domain::notice::Notice;
use seatkeeper::mail::Mailer;
use serde_json::{json, Value};

/// Creates the sender's identity in the local SES (moto answers `AlreadyExists` the second time).
pub async fn ensure_sender(ses: &aws_sdk_sesv2::Client, from: &str) -> Result<(), String> {
    match ses.create_email_identity().email_identity(from).send().await {
        Ok(_) => Ok(()),
        Err(e) if format!("{e:?}").contains("AlreadyExists") => Ok(()),
        Err(e) => {
            Err(format!("creating the sender identity {from}: {}", aws_sdk_sesv2::error::DisplayErrorContext(&e)))
        }
    }
}

/// The configuration set of the local run when `MAIL_CONFIGURATION_SET` names none.
pub const LOCAL_CONFIGURATION_SET: &str = "seatkeeper-local-notices";

/// Creates the configuration set in the local SES (moto answers `AlreadyExists` the second
/// time). moto keeps no event destinations and emits no events: `POST /dev/ses-events` stands in.
pub async fn ensure_configuration_set(ses: &aws_sdk_sesv2::Client, name: &str) -> Result<(), String> {
    match ses.create_configuration_set().configuration_set_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if format!("{e:?}").contains("AlreadyExists") => Ok(()),
        Err(e) => {
            Err(format!("creating the configuration set {name}: {}", aws_sdk_sesv2::error::DisplayErrorContext(&e)))
        }
    }
}

/// The mailer of the local run, from the environment (`MAIL_FROM`, `MAIL_CONFIGURATION_SET`,
/// `CONSOLE_URL`, the SDK's `AWS_ENDPOINT_URL_SESV2`), over `app`'s table and bucket; `None`
/// when `MAIL_FROM` is unset.
pub async fn local_mailer(app: &seatkeeper::App) -> Result<Option<Mailer>, String> {
    let Ok(from) = std::env::var("MAIL_FROM") else { return Ok(None) };
    let config = seatkeeper::app::sdk_config().await;
    let configuration_set = std::env::var("MAIL_CONFIGURATION_SET")
        .ok()
        .filter(|c| !c.is_empty())
        .unwrap_or(LOCAL_CONFIGURATION_SET.into());
    let mailer = Mailer {
        store: app.store.clone(),
        ses: seatkeeper::mail::ses::client(&config),
        reports: app.imports.clone(),
        from,
        configuration_set,
        console_url: std::env::var("CONSOLE_URL").unwrap_or_default(),
        backoff: seatkeeper::command::Policy::DEFAULT,
    };
    ensure_sender(&mailer.ses, &mailer.from).await?;
    ensure_configuration_set(&mailer.ses, &mailer.configuration_set).await?;
    Ok(Some(mailer))
}

/// The event the notice publisher puts on the bus for `notice`, as an EventBridge rule hands it
/// to its target.
pub fn bus_event(notice: &Notice) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": notice.kind.as_str(),
        "source": seatkeeper::sweeps::publish::SOURCE,
        "account": "000000000000",
        "time": notice.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        "resources": [],
        "detail": notice,
    })
}

/// How far the local mailer has got: the rounds over the table's stream it finished, and the
/// notices it is mailing now. `GET /dev/mail?settled=true` waits on it, so a test reads the mail
/// of everything written before its request, however slow the machine, with no pause of its own.
#[derive(Clone, Default)]
pub struct MailProgress(Arc<Progress>);

#[derive(Default)]
struct Progress {
    rounds: AtomicU64,
    in_flight: AtomicUsize,
}

/// A notice being mailed: counted in flight until its task ends, however it ends.
struct InFlight(MailProgress);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0 .0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl MailProgress {
    fn mailing(&self) -> InFlight {
        self.0.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    fn round_done(&self) {
        self.0.rounds.fetch_add(1, Ordering::SeqCst);
    }

    /// Waits until every notice written before this call has been mailed (or its retries given
    /// up): a round over the stream begun after the call has finished, and nothing is in flight.
    /// `Err` says what was still awaited when `budget` ran out.
    pub async fn settled(&self, budget: Duration) -> Result<(), String> {
        // The round under way may have read its shard before the caller's notice was written;
        // the one after it began after this call.
        let start = self.0.rounds.load(Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + budget;
        loop {
            let rounds = self.0.rounds.load(Ordering::SeqCst) - start;
            let in_flight = self.0.in_flight.load(Ordering::SeqCst);
            if rounds >= 2 && in_flight == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "the local mailer did not settle within {} s: {} of 2 rounds over the stream, {in_flight} notices in flight",
                    budget.as_secs(),
                    rounds.min(2),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Hands the mailer one notice as the bus would: a failed invocation is retried twice, a
/// little later each time (Lambda's asynchronous retries, shortened).
pub fn mail_notice(mailer: &Mailer, notice: Notice, progress: &MailProgress) {
    let mailer = mailer.clone();
    let in_flight = progress.mailing();
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let event = bus_event(&notice);
        for attempt in 0..3u64 {
            match seatkeeper::mail::lambda::handle(&mailer, &event, Utc::now()).await {
                Ok(report) => return tracing::info!(%report, "notice mailed"),
                Err(e) => tracing::warn!(notice_id = %notice.notice_id, attempt, error = %e, "notice mail unfinished"),
            }
            tokio::time::sleep(Duration::from_secs(1 + attempt)).await;
        }
    });
}

/// DynamoDB Local's stream API, spoken as JSON over HTTP: the SDK's stream client refuses the
/// records DynamoDB Local writes for an empty map (`"policy": {}` on every new org), so a batch
/// is read as plain JSON and only its notices are turned into items.
struct LocalStreams {
    http: reqwest::Client,
    endpoint: String,
}

impl LocalStreams {
    fn from_env() -> Option<Self> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok()?;
        Some(LocalStreams { http: reqwest::Client::new(), endpoint })
    }

    async fn call(&self, target: &str, body: Value) -> Result<Value, String> {
        // DynamoDB Local (-sharedDb) wants a credential to be named, and checks no signature.
        let auth = "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00";
        let answer = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDBStreams_20120810.{target}"))
            .header("authorization", auth)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("{target}: {e}"))?;
        let status = answer.status();
        let value: Value = answer.json().await.map_err(|e| format!("{target}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{target}: {status} {value}"));
        }
        Ok(value)
    }
}

/// The notices among a batch of stream records (their JSON): new items of type `notice`.
pub fn notices_of(records: &[Value]) -> Vec<Notice> {
    records
        .iter()
        .filter(|r| r["eventName"] == "INSERT" && r["dynamodb"]["NewImage"]["type"]["S"] == "notice")
        .filter_map(|r| {
            let item: serde_dynamo::Item = serde_json::from_value(r["dynamodb"]["NewImage"].clone()).ok()?;
            serde_dynamo::from_item(item).ok()
        })
        .collect()
}

/// Starts [`run_on_stream`] in a task of its own; its progress, for `GET /dev/mail?settled=true`.
pub fn spawn_on_stream(mailer: Mailer, table: String) -> MailProgress {
    let progress = MailProgress::default();
    tokio::spawn(run_on_stream(mailer, table, progress.clone()));
    progress
}

/// Runs the mailer on every notice written to `table`, from its stream (from the oldest record
/// kept: notices mailed before are settled, so nothing is sent twice), until the process ends.
async fn run_on_stream(mailer: Mailer, table: String, progress: MailProgress) {
    let Some(streams) = LocalStreams::from_env() else {
        return tracing::warn!("AWS_ENDPOINT_URL_DYNAMODB is not set: no stream to mail notices from");
    };
    let arn = loop {
        match mailer.store.client.describe_table().table_name(&table).send().await {
            Ok(out) => {
                if let Some(arn) = out.table().and_then(|t| t.latest_stream_arn()) {
                    break arn.to_string();
                }
            }
            Err(e) => tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "no stream yet"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let mut iterators: HashMap<String, Option<String>> = HashMap::new();
    loop {
        match follow_shards(&streams, &arn, &mut iterators, &mailer, &progress).await {
            Ok(()) => progress.round_done(),
            Err(e) => {
                tracing::warn!(error = %e, "reading the table's stream");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One round over the stream's shards: new shards from their oldest record, then each open
/// shard's records up to its end (as many `GetRecords` as it takes), each notice handed to the
/// mailer.
async fn follow_shards(
    streams: &LocalStreams,
    arn: &str,
    iterators: &mut HashMap<String, Option<String>>,
    mailer: &Mailer,
    progress: &MailProgress,
) -> Result<(), String> {
    let described = streams.call("DescribeStream", json!({ "StreamArn": arn })).await?;
    for shard in described["StreamDescription"]["Shards"].as_array().cloned().unwrap_or_default() {
        let Some(id) = shard["ShardId"].as_str() else { continue };
        if iterators.contains_key(id) {
            continue;
        }
        let it = streams
            .call("GetShardIterator", json!({ "StreamArn": arn, "ShardId": id, "ShardIteratorType": "TRIM_HORIZON" }))
            .await?;
        iterators.insert(id.to_string(), it["ShardIterator"].as_str().map(str::to_string));
    }
    for iterator in iterators.values_mut() {
        while let Some(current) = iterator.clone() {
            let out = streams.call("GetRecords", json!({ "ShardIterator": current })).await?;
            let records = out["Records"].as_array().map(Vec::as_slice).unwrap_or_default();
            for notice in notices_of(records) {
                mail_notice(mailer, notice, progress);
            }
            *iterator = out["NextShardIterator"].as_str().map(str::to_string);
            if records.is_empty() {
                break;
            }
        }
    }
    Ok(())
}

// ---- GET /dev/mail ------------------------------------------------------------------------

/// One message moto's SES accepted, as `GET /dev/mail` lists it.
pub fn sent_message(raw: &str) -> Option<Value> {
    let message = mail_parser::MessageParser::default().parse(raw.as_bytes())?;
    let to: Vec<String> = message
        .to()
        .map(|a| a.iter().filter_map(|addr| addr.address().map(str::to_string)).collect())
        .unwrap_or_default();
    let header = |name: &str| message.header(name).and_then(|h| h.as_text()).map(str::to_string);
    let attachments: Vec<Value> = message
        .attachments()
        .map(|a| json!({ "name": a.attachment_name(), "size": a.contents().len(),
            "content_type": a.content_type().map(|c| match c.subtype() { Some(sub) => format!("{}/{sub}", c.ctype()), None => c.ctype().to_string() }) }))
        .collect();
    Some(json!({
        "to": to,
        "from": message.from().and_then(|a| a.first()).and_then(|a| a.address()),
        "subject": message.subject(),
        "text": message.body_text(0),
        "html": message.body_html(0),
        "attachments": attachments,
        "notice_id": header(seatkeeper::mail::message::NOTICE_HEADER),
        "kind": header(seatkeeper::mail::message::KIND_HEADER),
    }))
}

/// Every message the local SES (moto, at `endpoint`) has sent, oldest first, with the attachment
/// bodies base64-encoded when `with_bodies`.
pub async fn sent_mail(endpoint: &str, with_bodies: bool) -> Result<Vec<Value>, String> {
    let url = format!("{}/moto-api/data.json", endpoint.trim_end_matches('/'));
    let data: Value = reqwest::get(&url).await.map_err(|e| e.to_string())?.json().await.map_err(|e| e.to_string())?;
    let raws = data["ses"]["RawMessage"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for raw in raws {
        let Some(text) = raw["raw_data"].as_str() else { continue };
        let Some(mut m) = sent_message(text) else { continue };
        m["message_id"] = raw["id"].clone();
        if with_bodies {
            m["attachment_bodies"] = attachment_bodies(text);
        }
        out.push(m);
    }
    Ok(out)
}

fn attachment_bodies(raw: &str) -> Value {
    use base64::Engine;
    let Some(message) = mail_parser::MessageParser::default().parse(raw.as_bytes()) else { return Value::Null };
    message
        .attachments()
        .map(|a| {
            json!({ "name": a.attachment_name(), "base64": base64::engine::general_purpose::STANDARD.encode(a.contents()) })
        })
        .collect()
}
