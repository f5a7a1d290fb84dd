//! The S3 entry of the import: a partner drops `imports/{org_id}/{name}.csv` (or `.xlsx`), the
//! `ObjectCreated` event brings it here, and it is reviewed; its result goes to
//! `results/{org_id}/{name}.json`. One object version is one import, however often the event is
//! delivered.
//!
//! A file with no more licences to write than a request writes (`App::background_rows`) is
//! committed here too, and its result written at once. A larger one has every seat reserved here
//! (a shortfall refuses it whole, as ever) and goes to the job runner, which commits it in slices
//! ([`super::jobs`]); once it is committed the table's stream brings its record back here
//! ([`results_from_stream`]) and the result file is written. No invocation does the whole file.

use aws_lambda_events::s3::S3Event;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::commit::{commit, step, Review};
use super::{review_file, Reading};
use crate::app::ImportsBucket;
use crate::command::Decision;
use crate::domain::auth::{Principal, Role};
use crate::domain::decide::imports as decide;
use crate::domain::import::{self, Batch, ImportStatus, Mode, S3Object, Source};
use crate::domain::org::{Org, OrgKind};
use crate::domain::DomainError;
use crate::store::{Error, Store, StoreError};
use crate::App;

/// The extensions of the partner files S3 hands over: CSV text and Excel workbooks.
const IMPORT_EXTENSIONS: &[&str] = &[".csv", ".xlsx"];

/// `imports/{org_id}/{name}.csv` or `.xlsx`, URL-decoded as S3 events encode keys.
fn parse_key(encoded: &str) -> Option<(String, String, String)> {
    let plus_decoded = encoded.replace('+', " ");
    let key = percent_encoding::percent_decode_str(&plus_decoded).decode_utf8().ok()?.into_owned();
    key_parts(key)
}

/// A decoded key's parts: the key itself, the org and the file's name (no extension).
fn key_parts(key: String) -> Option<(String, String, String)> {
    let rest = key.strip_prefix("imports/")?;
    let (org_id, file) = rest.split_once('/')?;
    let lower = file.to_ascii_lowercase();
    let extension = IMPORT_EXTENSIONS.iter().find(|e| lower.ends_with(*e))?;
    let name = &file[..file.len() - extension.len()];
    if org_id.is_empty() || name.is_empty() || name.contains('/') {
        return None;
    }
    Some((key.clone(), org_id.to_string(), name.to_string()))
}

/// The id of the import of one object version: a second delivery of the same event finds it.
fn s3_import_id(bucket: &str, key: &str, version: &str) -> String {
    let mut h = Sha256::new();
    for part in [bucket, key, version] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("s3_{}", &format!("{:x}", h.finalize())[..32])
}

/// Handles an S3 `ObjectCreated` event: each partner file is reviewed and committed in one go,
/// its result written to `results/{org_id}/{name}.json`. A file that is refused is recorded as
/// failed (and its result says why); a store failure is returned so the invocation is retried.
pub async fn handle_s3_event(app: &App, event: S3Event) -> Result<Vec<Batch>, Error> {
    let bucket_cfg = app.imports.as_ref().ok_or_else(|| StoreError::Other("BUCKET_NAME is not set".into()))?;
    let mut done = Vec::new();
    for r in event.records {
        let bucket = r.s3.bucket.name.clone().unwrap_or_default();
        let Some((key, org_id, name)) = r.s3.object.key.as_deref().and_then(parse_key) else {
            tracing::warn!(key = ?r.s3.object.key, "not an import key; ignored");
            continue;
        };
        let version =
            r.s3.object.version_id.clone().filter(|v| !v.is_empty()).or(r.s3.object.e_tag.clone()).unwrap_or_default();
        let object = S3Object {
            bucket: bucket.clone(),
            key: key.clone(),
            version: r.s3.object.version_id.clone(),
            etag: r.s3.object.e_tag.clone(),
        };
        let record = import_object(app, bucket_cfg, object, &org_id, &version, r.event_time).await?;
        let result_key = result_key(&org_id, &name);
        if in_background(&record) {
            tracing::info!(import_id = %record.import_id, %result_key, "partner import committing in the background; its result is written once it is committed");
        } else {
            super::result::write_result(&app.store, bucket_cfg, &bucket, &result_key, &record).await?;
            tracing::info!(import_id = %record.import_id, status = ?record.status, %result_key, "partner import handled");
        }
        done.push(record);
    }
    Ok(done)
}

/// Imports one object version: recorded (reviewed, or failed) at its first delivery, then
/// committed; a second delivery finds the record and resumes or changes nothing.
async fn import_object(
    app: &App,
    bucket_cfg: &ImportsBucket,
    object: S3Object,
    org_id: &str,
    version: &str,
    now: DateTime<Utc>,
) -> Result<Batch, Error> {
    let store = &app.store;
    let import_id = s3_import_id(&object.bucket, &object.key, version);
    let by = Principal::new("s3", &format!("s3://{}/{}", object.bucket, object.key), org_id, Role::Platform);
    let org = match company_named(store, org_id).await? {
        Ok(org) => org,
        Err(refusal) => {
            // Nothing is written to the table for a key that names no company: the refusal is
            // logged for the operator and answered in the result file.
            tracing::error!(
                bucket = %object.bucket,
                key = %object.key,
                org_id,
                reason = %refusal,
                "partner file refused: its key names no company"
            );
            let mut record = decide::new_record(import_id, org_id, Source::S3, Mode::Renew, by.actor(), now);
            record.s3 = Some(object);
            return Ok(decide::failed(record, &refusal));
        }
    };
    let (record, review) = match store.import(org_id, &import_id).await? {
        Some(existing) => (existing, Review::Again),
        None => {
            let record = decide::new_record(import_id, org_id, Source::S3, Mode::Renew, by.actor(), now);
            (record_delivery(store, bucket_cfg, &org, record, object, now).await?, Review::JustMade)
        }
    };
    if matches!(record.status, ImportStatus::Committed | ImportStatus::Failed) {
        // A second delivery of the same object version changes nothing.
        return Ok(record);
    }
    let committed = if super::jobs::belongs_in_background(app.background_rows, &record) {
        // Seats reserved and handed to the job runner (again, if a delivery finds it going).
        super::jobs::start(store, &org, record.clone(), review, now).await
    } else {
        commit(store, &org, record.clone(), &by, now).await
    };
    match committed {
        Err(Error::Domain(refusal)) if record.status == ImportStatus::Reviewed => {
            refuse(store, &record, &refusal).await
        }
        done => done,
    }
}

/// The result file of the partner file `imports/{org_id}/{name}.csv` (or `.xlsx`).
fn result_key(org_id: &str, name: &str) -> String {
    format!("results/{org_id}/{name}.json")
}

/// Whether `record` is a commit going on in the background (its result file comes later).
fn in_background(record: &Batch) -> bool {
    record.background && record.status == ImportStatus::Committing
}

/// The partner files the job runner committed in the background that a batch of the table's
/// stream carries (their records, `committed`, as the event source's filter hands them over):
/// each one's result file is written, as it would have been at once for a smaller file. One
/// that fails is reported as a batch item failure, delivered again (rewriting a result file
/// changes nothing), the others written all the same.
pub async fn results_from_stream(
    app: &App,
    event: &aws_lambda_events::dynamodb::Event,
) -> aws_lambda_events::streams::DynamoDbEventResponse {
    let mut response = aws_lambda_events::streams::DynamoDbEventResponse::default();
    for r in &event.records {
        let sequence = r.change.sequence_number.clone().unwrap_or_default();
        let written = match serde_dynamo::from_item::<_, Batch>(r.change.new_image.clone()) {
            Ok(record) if record.background && record.status == ImportStatus::Committed => {
                write_result_of(app, &record).await.map_err(|e| e.to_string())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(format!("an import record that cannot be read: {e}")),
        };
        if let Err(error) = written {
            tracing::error!(%sequence, error, "a result file was not written; the stream delivers it again");
            response.batch_item_failures.push(super::jobs::item_failure(sequence));
        }
    }
    response
}

/// Writes the result file of a partner file's import, as it stands (`results/{org_id}/{name}.json`
/// beside the file's `imports/{org_id}/{name}.csv`); an import of no partner file has none.
pub async fn write_result_of(app: &App, record: &Batch) -> Result<(), Error> {
    let Some(object) = record.s3.as_ref().filter(|_| record.source == Source::S3) else { return Ok(()) };
    let bucket_cfg = app.imports.as_ref().ok_or_else(|| StoreError::Other("BUCKET_NAME is not set".into()))?;
    let Some((_, org_id, name)) = key_parts(object.key.clone()) else {
        return Err(StoreError::Other(format!("{} is not an import key", object.key)).into());
    };
    let result_key = result_key(&org_id, &name);
    super::result::write_result(&app.store, bucket_cfg, &object.bucket, &result_key, record).await?;
    tracing::info!(import_id = %record.import_id, status = ?record.status, %result_key, "partner import's result written");
    Ok(())
}

/// The company a key's `imports/{org_id}/` names: the key is all that says whose file it is (who
/// may write under which prefix is the bucket's IAM's business, see the README), so anything but
/// an existing company — an id no org has, or that is no valid id, a partner, the vendor — is
/// refused (`Ok(Err(refusal))`).
async fn company_named(store: &Store, org_id: &str) -> Result<Result<Org, DomainError>, Error> {
    let named = format!("the key names {org_id:?}");
    if crate::domain::validate::caller_id("org_id", org_id).is_err() {
        return Ok(Err(DomainError::NotFound(format!("{named}, which is not an org id; nothing was imported"))));
    }
    Ok(match store.org(org_id).await? {
        Some(org) if org.kind == OrgKind::Company => Ok(org),
        Some(org) => {
            let what = if org.kind == OrgKind::Vendor { "the vendor" } else { "a partner" };
            Err(DomainError::NotFound(format!(
                "{named}, {what} and not a company; files go under imports/{{company_id}}/ and nothing was imported"
            )))
        }
        None => Err(DomainError::NotFound(format!("{named}, and no company has that id; nothing was imported"))),
    })
}

/// The first delivery of an object: its file read and reviewed, or refused, and its record
/// written (the first of racing deliveries writes it; the others find it). S3 that cannot be
/// read for now stores nothing.
async fn record_delivery(
    store: &Store,
    bucket_cfg: &ImportsBucket,
    org: &Org,
    mut record: Batch,
    object: S3Object,
    now: DateTime<Utc>,
) -> Result<Batch, Error> {
    record.s3 = Some(object.clone());
    let read = match review_object(store, org, bucket_cfg, &object, &mut record, now).await {
        Ok(()) => Ok(()),
        Err(Error::Domain(refusal)) => Err(refusal),
        // S3 could not be read for now (throttling, 5xx, a timeout, a dropped connection), or
        // the table refused a write: nothing is stored, so the retried event imports the file.
        Err(transient) => return Err(transient),
    };
    let record = match read {
        Ok(()) => record,
        Err(refusal) => decide::failed(record, &refusal),
    };
    created(store, &record).await
}

/// Writes `record`, new; when another delivery of the event wrote it first, that record is the
/// answer (a command through the executor: the lost race reloads it).
async fn created(store: &Store, record: &Batch) -> Result<Batch, Error> {
    step(store, record, |current, again| async move {
        Ok(if again { Decision::unchanged(current) } else { decide::recorded(current) })
    })
    .await
}

/// All or nothing: a reviewed file that cannot be committed (too few licences) is refused whole
/// — unless another delivery moved its record meanwhile.
async fn refuse(store: &Store, record: &Batch, refusal: &DomainError) -> Result<Batch, Error> {
    step(store, record, |current, _| async move {
        Ok(match current.status {
            ImportStatus::Reviewed => decide::refused(current, refusal),
            _ => Decision::unchanged(current),
        })
    })
    .await
}

/// Why a `GetObject` failed: a missing object (`NoSuchKey`) or a refusal (`AccessDenied`, 403)
/// refuses the import for good; anything else (throttling, 5xx, a timeout, a dropped connection)
/// is retryable, and nothing is stored for it.
fn get_object_failure(object: &S3Object, err: &SdkError<GetObjectError, HttpResponse>) -> Error {
    let detail = aws_sdk_s3::error::DisplayErrorContext(err);
    if let SdkError::ServiceError(se) = err {
        let code = se.err().code().unwrap_or_default();
        let message = se.err().message().unwrap_or_default();
        if se.err().is_no_such_key() || code == "NoSuchKey" {
            return DomainError::NotFound(format!("the object cannot be read: NoSuchKey: {message}")).into();
        }
        if code == "AccessDenied" || se.raw().status().as_u16() == 403 {
            let code = if code.is_empty() { "403" } else { code };
            return DomainError::Forbidden(format!("the object cannot be read: {code}: {message}")).into();
        }
    }
    StoreError::Retryable(format!("reading s3://{}/{}: {detail}", object.bucket, object.key)).into()
}

/// The object's body, noting whether reading it failed (a dropped connection): that is S3's
/// failure, retried, not the file's.
struct NotingReader<R> {
    inner: R,
    failed: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl<R: std::io::Read> std::io::Read for NotingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if let Ok(mut failed) = self.failed.lock() {
                failed.get_or_insert_with(|| e.to_string());
            }
        })
    }
}

/// Streams the object through the CSV reader into the review (never the whole file in memory),
/// or reads it as an Excel workbook when its key ends in `.xlsx` or its bytes are a ZIP
/// archive's; object metadata `email-column` and `mode` steer it. A refusal is `Error::Domain`;
/// a failure of S3 itself is a retryable `Error::Store`.
async fn review_object(
    store: &Store,
    org: &Org,
    bucket_cfg: &ImportsBucket,
    object: &S3Object,
    record: &mut Batch,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let got = bucket_cfg
        .client
        .get_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .set_version_id(object.version.clone())
        .send()
        .await
        .map_err(|e| get_object_failure(object, &e))?;
    if got.content_length().unwrap_or(0) as u64 > import::MAX_S3_BYTES {
        return Err(DomainError::PayloadTooLarge(format!(
            "the file is {} bytes; at most 100 MB are imported",
            got.content_length().unwrap_or(0)
        ))
        .into());
    }
    let metadata = got.metadata().cloned().unwrap_or_default();
    if let Some(mode) = metadata.get("mode") {
        record.mode = Mode::parse(mode)?;
    }
    let reading = Reading {
        media_type: object.key.to_ascii_lowercase().ends_with(".xlsx").then(|| import::XLSX_MEDIA_TYPE.to_string()),
        email_column: metadata.get("email-column").cloned(),
        max_bytes: import::MAX_S3_BYTES,
        max_rows: import::MAX_S3_ROWS,
    };
    let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
    let reader =
        NotingReader { inner: tokio_util::io::SyncIoBridge::new(got.body.into_async_read()), failed: failed.clone() };
    let reviewed = review_file(store, org, reader, reading, record, now).await;
    if let Some(e) = failed.lock().ok().and_then(|f| f.clone()) {
        return Err(StoreError::Retryable(format!("reading s3://{}/{}: {e}", object.bucket, object.key)).into());
    }
    reviewed.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_decoded_and_must_be_imports() {
        assert_eq!(
            parse_key("imports/acme/renewals+march%202027.csv"),
            Some(("imports/acme/renewals march 2027.csv".into(), "acme".into(), "renewals march 2027".into()))
        );
        assert_eq!(parse_key("imports/acme/x.txt"), None);
        assert_eq!(
            parse_key("imports/acme/Leerlingen.XLSX"),
            Some(("imports/acme/Leerlingen.XLSX".into(), "acme".into(), "Leerlingen".into()))
        );
        assert_eq!(parse_key("imports/acme/x.xlsx").map(|k| k.2), Some("x".into()));
        assert_eq!(parse_key("imports/acme/.xlsx"), None);
        assert_eq!(parse_key("results/acme/x.csv"), None);
        assert_eq!(parse_key("imports/acme/deep/x.csv"), None);
    }

    #[test]
    fn one_object_version_is_one_import() {
        assert_eq!(s3_import_id("b", "k", "v1"), s3_import_id("b", "k", "v1"));
        assert_ne!(s3_import_id("b", "k", "v1"), s3_import_id("b", "k", "v2"));
    }
}
