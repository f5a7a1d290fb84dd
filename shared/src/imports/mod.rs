//! CSV import (DOMAIN.md §10): review, then an all-or-nothing commit that survives a crash.
//!
//! The API (`handlers::imports`) and S3 ([`s3`]) both review a file (`review`) and commit it
//! ([`commit`]). The commit reserves every seat it needs in one transaction (the lots' seat
//! bounds, the org's counters, and the import record moving from `reviewed` to `committing` with
//! the reservation), then writes one user item per licensed row — one write per row, not a
//! transaction per row — and finally returns the seats it did not use and marks the record
//! `committed`, again in one transaction. The decisions are `domain::decide::imports`; a retry
//! after a crash recognises what was written, writes the rest, and returns exactly the seats left
//! over: every row licensed once, no seat lost.

pub mod commit;
pub mod jobs;
pub mod many;
pub mod s3;

use chrono::{DateTime, Utc};

use crate::domain::import::{self, ImportRecord, ImportStatus};
use crate::domain::org::Org;
use crate::store::{Error, Store};

/// Reads and reviews a file into `record` (its e-mail column, columns and summary) and keeps
/// what the review found beside it: the file's rows and, under `mode = sync`, who would be
/// released. The record itself is not written; nothing is applied.
pub(crate) async fn review(
    store: &Store,
    org: &Org,
    file: import::CsvFile,
    record: &mut ImportRecord,
    now: DateTime<Utc>,
) -> Result<import::Review, Error> {
    let users = store.all_users(&org.org_id).await?;
    let policy = store.policy(org).await?;
    let available = store.balance(&org.org_id, &policy).await?.available(now);
    let reviewed = import::review(&file, &users, available, record.mode, now);
    record.email_column = Some(file.email_column);
    record.columns = file.columns;
    record.summary = reviewed.summary.clone();
    store.save_import_rows(&record.import_id, &reviewed.rows).await?;
    if !reviewed.release.is_empty() {
        store.save_release_rows(&record.import_id, &reviewed.release, 0).await?;
    }
    Ok(reviewed)
}

/// The record as its readers see it, with its progress: `rows_total`, the file's rows (an
/// allocation's e-mails), and `rows_done`, how many of them are settled — every row that needs no
/// licence, and the `renew` rows whose licence is written (read from one small progress item
/// while it commits, never from the rows).
pub async fn view(store: &Store, record: &ImportRecord) -> Result<serde_json::Value, Error> {
    let total = record.summary.rows;
    let to_license = record.summary.renew.min(total);
    let done = match record.status {
        ImportStatus::Reviewed => 0,
        ImportStatus::Committed => total,
        ImportStatus::Committing | ImportStatus::Failed => {
            total - to_license + store.progress(&record.import_id).await?.min(to_license)
        }
    };
    let mut v = record.view();
    v["rows_total"] = serde_json::json!(total);
    v["rows_done"] = serde_json::json!(done);
    Ok(v)
}
