//! Long commits in the background. A confirm (or a large allocation) with more licences to write
//! than `App::background_rows` reserves every seat in the request — so a shortfall is still
//! refused at once, all or nothing — marks the record `background` and `committing`, and answers
//! `202` with a `Location`. The table's stream then hands that record to the job runner
//! (`functions/job-runner`, its own timeout, retries and a dead-letter queue), which finishes the
//! commit. The commit is crash-safe and resumable (row *i* takes seat *i*, the licence id is
//! fixed per line), so a job cut off by its timeout, or delivered twice, is finished by the next
//! delivery without licensing anyone twice; the progress item tells readers how far it is.

use std::time::{Duration, Instant};

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::{DateTime, Utc};

use super::commit::{begin, commit_slice, Review, Slice};
use crate::command::Decision;
use crate::domain::auth::{Principal, Role};
use crate::domain::erasure::{Erasure, ErasureStatus};
use crate::domain::import::{Batch, ImportStatus};
use crate::domain::DomainError;
use crate::store::{Error, Store};
use crate::App;

/// Whether `record`'s commit belongs in the background: it is marked so, or it has more licences
/// to write than a request writes (`background_rows`, the app's `background_rows`).
pub fn belongs_in_background(background_rows: u64, record: &Batch) -> bool {
    record.background || (record.status == ImportStatus::Reviewed && record.summary.renew > background_rows)
}

/// Starts `record`'s commit for the background: seats reserved, `committing`. One already going
/// in the background is handed to the job runner again, so a job whose deliveries ran out (it
/// sits in the dead-letter queue with its seats reserved) is finished by a second confirm.
pub async fn start(
    store: &Store,
    org: &crate::domain::org::Org,
    mut record: Batch,
    review: Review,
    now: DateTime<Utc>,
) -> Result<Batch, Error> {
    match record.status {
        ImportStatus::Reviewed => record.background = true,
        ImportStatus::Committing if record.background => return hand_over(store, &record, now).await,
        _ => {}
    }
    begin(store, org, record, review, now).await
}

/// How long one invocation of the job runner works on its jobs before it hands what is left over
/// to the next: a fifth of the function's timeout (900 s), so a commit of any size runs as slices
/// of about this long (each ends at the first saved checkpoint after it).
pub const SLICE: Duration = Duration::from_secs(180);

/// Finishes the background commit of import `import_id` of `org_id`, if it is one still going,
/// slice after slice; the record as it ends (`None` when there is nothing to do).
pub async fn run(store: &Store, org_id: &str, import_id: &str, now: DateTime<Utc>) -> Result<Option<Batch>, Error> {
    loop {
        match run_slice(store, org_id, import_id, now, Instant::now() + SLICE).await? {
            Some(Slice::Paused(_)) => continue,
            Some(Slice::Done(record)) => return Ok(Some(record)),
            None => return Ok(None),
        }
    }
}

/// One slice of the background commit of import `import_id` of `org_id`, if it is one still
/// going: licences written until `until` has passed, then — with rows left — the progress saved
/// and the record handed over (its `handovers` counted, its lease renewed), which the table's
/// stream delivers to the job runner again as the next slice. `None` when there is nothing to do.
pub async fn run_slice(
    store: &Store,
    org_id: &str,
    import_id: &str,
    now: DateTime<Utc>,
    until: Instant,
) -> Result<Option<Slice>, Error> {
    let Some(record) = store.import(org_id, import_id).await? else { return Ok(None) };
    if !record.background || record.status != ImportStatus::Committing {
        return Ok(None);
    }
    let org = store.org(org_id).await?.ok_or_else(|| DomainError::not_found("org", org_id))?;
    let by = Principal::new("job", &record.created_by, org_id, Role::Platform);
    Ok(Some(match commit_slice(store, &org, record, &by, now, Some(until)).await? {
        Slice::Paused(record) => Slice::Paused(hand_over(store, &record, now).await?),
        done => done,
    }))
}

/// Hands a commit still going over to the next slice: the record written again (`handovers`
/// counted, the lease renewed) on the condition that it is still `committing`.
pub(crate) async fn hand_over(store: &Store, record: &Batch, now: DateTime<Utc>) -> Result<Batch, Error> {
    super::commit::step(store, record, |current, _| async move {
        Ok(match current.status {
            ImportStatus::Committing => crate::domain::decide::imports::handed_over(current, now),
            _ => Decision::unchanged(current),
        })
    })
    .await
}

/// A background commit a stream record carries: the record of an import that went `committing`
/// in the background and the instant of the change — or, for an import record that cannot be
/// read, why (it is a failure of its own, never skipped silently).
pub type StreamJob = StreamRecord<Batch>;

/// A record of the table's stream, read, with the instant of its change — or why it cannot be.
pub type StreamRecord<T> = Result<(T, DateTime<Utc>), String>;

/// The background commits a stream batch carries, each with its record's sequence number.
pub fn jobs(event: &Event) -> Vec<(String, StreamJob)> {
    records_of(event, "import", |r: &Batch| r.background && r.status == ImportStatus::Committing)
}

/// The records of `kind` a stream batch carries as they are after a change (an item removed is
/// none) that `wanted` keeps, each with its sequence number and the instant of the change; one
/// that cannot be read is a failure of its own, never skipped silently.
fn records_of<T: serde::de::DeserializeOwned>(
    event: &Event,
    kind: &str,
    wanted: impl Fn(&T) -> bool,
) -> Vec<(String, StreamRecord<T>)> {
    let typed = |r: &&aws_lambda_events::dynamodb::EventRecord| {
        r.event_name != "REMOVE"
            && r.change
                .new_image
                .get("type")
                .is_some_and(|t| matches!(t, serde_dynamo::AttributeValue::S(s) if s == kind))
    };
    event
        .records
        .iter()
        .filter(typed)
        .filter_map(|r| {
            let sequence = r.change.sequence_number.clone().unwrap_or_default();
            let job = match serde_dynamo::from_item::<_, T>(r.change.new_image.clone()) {
                Ok(record) if wanted(&record) => Ok((record, r.change.approximate_creation_date_time)),
                Ok(_) => return None,
                Err(e) => Err(format!("an {kind} record that cannot be read: {e}")),
            };
            Some((sequence, job))
        })
        .collect()
}

/// The batch item failure that has the stream deliver record `sequence` again.
pub(crate) fn item_failure(sequence: String) -> DynamoDbBatchItemFailure {
    let mut failure = DynamoDbBatchItemFailure::default();
    failure.item_identifier = Some(sequence);
    failure
}

/// The job runner: works each background commit of the batch on its own, for one [`SLICE`] in
/// all (a commit left over is handed over to the next invocation, see [`run_slice`]). A job that fails
/// (or a record that cannot be read) is logged at ERROR and reported as a batch item failure,
/// so the stream delivers it again (up to the function's retries, then the dead-letter queue);
/// the other jobs of the batch are finished all the same.
pub async fn run_stream(app: &App, event: &Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    // One slice for the whole invocation: a job met after it is up writes one saved stretch of
    // licences, then is handed over.
    let until = Instant::now() + SLICE;
    for (sequence, job) in jobs(event) {
        let failed = match job {
            Ok((record, at)) => match run_slice(&app.store, &record.org_id, &record.import_id, at, until).await {
                Ok(_) => None,
                Err(e) => Some((format!("{}/{}", record.org_id, record.import_id), e.to_string())),
            },
            Err(unreadable) => Some((String::new(), unreadable)),
        };
        if let Some((job, error)) = failed {
            tracing::error!(%sequence, job, error, "a background commit failed; the stream delivers it again, the others go on");
            response.batch_item_failures.push(item_failure(sequence));
        }
    }
    // Erasures of personal data (docs/domain.md#erasing-personal-data), each within the same slice.
    for (sequence, job) in erasures(event) {
        let failed = match job {
            Ok((e, at)) => app.store.run_erasure(&e.org_id, &e.pseudonym, at, until).await.err().map(|x| x.to_string()),
            Err(unreadable) => Some(unreadable),
        };
        if let Some(error) = failed {
            tracing::error!(%sequence, error, "an erasure failed; the stream delivers it again, the others go on");
            response.batch_item_failures.push(item_failure(sequence));
        }
    }
    response
}

/// An erasure a stream record carries, with the instant of the change, or why it cannot be read.
pub type StreamErasure = StreamRecord<Erasure>;

/// The erasures still going that a stream batch carries (a record new, or handed over), each
/// with its sequence number; one that cannot be read is a failure of its own.
pub fn erasures(event: &Event) -> Vec<(String, StreamErasure)> {
    records_of(event, "erasure", |e: &Erasure| e.status == ErasureStatus::Erasing)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_import_record_that_cannot_be_read_is_a_failure_and_records_of_other_types_are_skipped() {
        let record = crate::sweeps::publish::tests::record;
        let unreadable = json!({"PK": {"S": "ORG#c"}, "SK": {"S": "IMPORT#imp_1"}, "type": {"S": "import"},
            "status": {"S": "committing"}, "background": {"BOOL": true}});
        let notice = json!({"PK": {"S": "ORG#c"}, "SK": {"S": "NOTICE#1"}, "type": {"S": "notice"}});
        let rows = json!({"PK": {"S": "ORG#c#IMPORT#imp_1"}, "SK": {"S": "ROWS#000000"}, "type": {"S": "import_rows"}});
        let records = [
            record("1", "MODIFY", unreadable.clone()),
            record("2", "INSERT", notice),
            record("3", "INSERT", rows),
            record("4", "REMOVE", unreadable),
        ];
        let event: Event = serde_json::from_value(json!({ "Records": records })).unwrap();
        let found = jobs(&event);
        assert_eq!(found.len(), 1, "only the import record, as it changed: {found:?}");
        let (sequence, job) = &found[0];
        assert_eq!(sequence, "1");
        assert!(job.as_ref().unwrap_err().contains("cannot be read"), "a failure of its own, never skipped: {job:?}");
    }
}
