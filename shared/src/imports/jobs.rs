//! Long commits in the background. A confirm (or a large allocation) with more licences to write
//! than `App::background_rows` reserves every seat in the request — so a shortfall is still
//! refused at once, all or nothing — marks the record `background` and `committing`, and answers
//! `202` with a `Location`. The table's stream then hands that record to the job runner
//! (`functions/job-runner`, its own timeout, retries and a dead-letter queue), which finishes the
//! commit. The commit is crash-safe and resumable (row *i* takes seat *i*, the licence id is
//! fixed per line), so a job cut off by its timeout, or delivered twice, is finished by the next
//! delivery without licensing anyone twice; the progress item tells readers how far it is.

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::{DateTime, Utc};

use super::commit::{begin, commit};
use crate::domain::auth::{Principal, Role};
use crate::domain::import::{ImportRecord, ImportStatus, Source};
use crate::domain::DomainError;
use crate::store::{Error, Store};
use crate::App;

/// Whether `record`'s commit belongs in the background: it is marked so, or it has more licences
/// to write than a request writes (`background_rows`, the app's `background_rows`).
pub fn belongs_in_background(background_rows: u64, record: &ImportRecord) -> bool {
    record.background || (record.status == ImportStatus::Reviewed && record.summary.renew > background_rows)
}

/// Starts `record`'s commit for the background: seats reserved, `committing`. One already going
/// in the background is handed to the job runner again, so a job whose deliveries ran out (it
/// sits in the dead-letter queue with its seats reserved) is finished by a second confirm.
pub async fn start(
    store: &Store,
    org: &crate::domain::org::Org,
    mut record: ImportRecord,
    now: DateTime<Utc>,
) -> Result<ImportRecord, Error> {
    match record.status {
        ImportStatus::Reviewed => record.background = true,
        ImportStatus::Committing if record.background => {
            return super::commit::apply_or_reload(store, crate::domain::decide::imports::handed_over(record)).await
        }
        _ => {}
    }
    begin(store, org, record, now).await
}

/// Finishes the background commit of import `import_id` of `org_id`, if it is one still going;
/// the record as it ends (`None` when there is nothing to do).
pub async fn run(
    store: &Store,
    org_id: &str,
    import_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<ImportRecord>, Error> {
    let Some(record) = store.import(org_id, import_id).await? else { return Ok(None) };
    if !record.background || record.status != ImportStatus::Committing {
        return Ok(None);
    }
    let org = store.org(org_id).await?.ok_or_else(|| DomainError::not_found("org", org_id))?;
    let by = Principal::new("job", &record.created_by, org_id, Role::Platform);
    let done = commit(store, &org, record, &by, now).await?;
    if done.source == Source::Allocation && done.status == ImportStatus::Committed {
        super::many::audit_from_chunks(store, &org, &done, &by, now).await?;
    }
    Ok(Some(done))
}

/// The background commits a stream batch carries: records of an import that went `committing`
/// in the background, with their sequence number and the instant of the change.
pub fn jobs(event: &Event) -> Vec<(String, ImportRecord, DateTime<Utc>)> {
    event
        .records
        .iter()
        .filter(|r| r.event_name != "REMOVE")
        .filter_map(|r| {
            let record: ImportRecord = serde_dynamo::from_item(r.change.new_image.clone()).ok()?;
            let running = record.background && record.status == ImportStatus::Committing;
            running.then(|| {
                (r.change.sequence_number.clone().unwrap_or_default(), record, r.change.approximate_creation_date_time)
            })
        })
        .collect()
}

/// The job runner: finishes each background commit of the batch; a job that fails is reported
/// as a batch item failure, so the stream delivers it (and what follows it) again.
pub async fn run_stream(app: &App, event: &Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for (sequence, record, at) in jobs(event) {
        if let Err(e) = run(&app.store, &record.org_id, &record.import_id, at).await {
            tracing::error!(error = %e, import_id = %record.import_id, "the background commit stopped; it is delivered again");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence);
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
}
