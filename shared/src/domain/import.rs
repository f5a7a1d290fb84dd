//! An import, as the domain sees it: the limits of a file, the review of each row against the
//! users it names (a chunk at a time), and the record that follows the import from its review
//! to its commit (docs/domain.md#the-review). Reading the file itself (CSV text, an Excel
//! workbook) is `files`'s work.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::allocation::{Need, Needs};
use super::user::User;
use super::{validate, DomainError};

/// One row's line and its e-mail cell, as read.
pub type Cell = (u64, String);

/// Rows a file sent through the API may have.
pub const MAX_ROWS: usize = 100_000;
/// Rows a CSV file dropped on S3 may have: it is read and reviewed in chunks, never whole.
pub const MAX_S3_ROWS: usize = 1_000_000;
/// The e-mail cells a streaming read hands over at a time (one stored chunk of rows).
pub const CELLS_PER_CHUNK: usize = 1000;
/// No line (record) of a sensible spreadsheet export is longer.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
pub const MAX_API_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_S3_BYTES: u64 = 100 * 1024 * 1024;

/// The media type of an Excel workbook.
pub const XLSX_MEDIA_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The first bytes of a ZIP archive; an .xlsx file is one.
pub const ZIP_SIGNATURE: &[u8] = b"PK\x03\x04";

/// The most of an invalid cell a row keeps (an e-mail has at most 254 bytes): a wrong column of
/// long notes must not make the stored rows too large.
pub const MAX_CELL_KEPT: usize = 254;

/// An invalid cell as its row keeps it: cut at a character boundary, marked with " …" (a space,
/// so the cut text can never pass for an e-mail).
pub(crate) fn kept_cell(cell: &str) -> String {
    if cell.len() <= MAX_CELL_KEPT {
        return cell.to_string();
    }
    let marker = " …";
    let mut end = MAX_CELL_KEPT - marker.len();
    while !cell.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &cell[..end])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Renew,
    Sync,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, DomainError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "renew" => Ok(Mode::Renew),
            "sync" => Ok(Mode::Sync),
            _ => Err(DomainError::invalid("mode", "must be renew or sync")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowOutcome {
    Renew,
    AlreadyActive,
    Unknown,
    Invalid,
    Duplicate,
    /// Under `mode = sync`: a user of the org missing from the file, to be released (not a row
    /// of the file).
    Release,
}

impl RowOutcome {
    pub fn parse(s: &str) -> Result<RowOutcome, DomainError> {
        serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_lowercase())).map_err(|_| {
            DomainError::invalid("outcome", "must be renew, already_active, unknown, invalid, duplicate or release")
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RowOutcome::Renew => "renew",
            RowOutcome::AlreadyActive => "already_active",
            RowOutcome::Unknown => "unknown",
            RowOutcome::Invalid => "invalid",
            RowOutcome::Duplicate => "duplicate",
            RowOutcome::Release => "release",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub line: u64,
    pub email: String,
    pub outcome: RowOutcome,
}

impl Row {
    /// A row as the API shows it.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({ "line": self.line, "email": self.email, "outcome": self.outcome })
    }

    /// A user a sync releases, as the API shows it: not a line of the file.
    pub fn release_view(email: &str) -> serde_json::Value {
        serde_json::json!({ "line": null, "email": email, "outcome": RowOutcome::Release })
    }
}

/// The review of an import (docs/domain.md#the-review).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub rows: u64,
    pub renew: u64,
    pub already_active: u64,
    pub unknown: u64,
    pub invalid: u64,
    pub duplicate: u64,
    pub available: u64,
    pub shortfall: u64,
    /// Under `mode = sync`: users of the org missing from the file, to be released.
    #[serde(default)]
    pub release: u64,
    /// Of the `renew` rows, those that give access to a user who has none: created, or restored
    /// after a release (each one more user with access, docs/domain.md#allocation).
    #[serde(default)]
    pub new_users: u64,
}

/// The review of a file read a chunk at a time (docs/domain.md#the-review): each chunk's rows are
/// decided against the users its e-mails name, by the one rule of who needs a licence
/// ([`Needs`]), which remembers the e-mails that came before (for duplicates and for who a sync
/// releases) as a hash each.
#[derive(Debug)]
pub struct Reviewer {
    needs: Needs,
    summary: Summary,
}

impl Reviewer {
    pub fn new(now: DateTime<Utc>) -> Self {
        Reviewer::creating(false, now)
    }

    /// A reviewer for which a missing user is one to create and license (`renew`), as a large
    /// allocation with `create_missing` asks; otherwise as [`Reviewer::new`].
    pub fn creating(creating: bool, now: DateTime<Utc>) -> Self {
        Reviewer { needs: Needs::new(creating, now), summary: Summary::default() }
    }

    /// The valid e-mails of `cells`: whose users a chunk's review reads.
    pub fn emails(cells: &[Cell]) -> Vec<String> {
        let mut emails: Vec<String> = cells.iter().filter_map(|(_, c)| validate::email("email", c).ok()).collect();
        emails.sort();
        emails.dedup();
        emails
    }

    /// Decides the rows of one chunk, in file order after the chunks before it; `users` holds
    /// (at least) the users its e-mails name. Stored rows given again as cells (a fresh review
    /// at commit) come out the same but for what changed meanwhile: an invalid row is kept in a
    /// form that never passes for an e-mail.
    pub fn chunk(&mut self, cells: &[Cell], users: &HashMap<String, User>) -> Vec<Row> {
        let rows: Vec<Row> = cells.iter().map(|(line, cell)| self.row(*line, cell, users)).collect();
        self.summary.rows += rows.len() as u64;
        rows
    }

    fn row(&mut self, line: u64, cell: &str, users: &HashMap<String, User>) -> Row {
        let (email, outcome) = match self.needs.of(cell, |email| users.get(email)) {
            (cell, Need::Invalid) => (kept_cell(&cell), RowOutcome::Invalid),
            (email, Need::Repeated) => (email, RowOutcome::Duplicate),
            (email, Need::Holds) => (email, RowOutcome::AlreadyActive),
            (email, Need::Unknown) => (email, RowOutcome::Unknown),
            (email, Need::Licence { .. }) => {
                if crate::domain::seats::adds_user(users.get(&email)) {
                    self.summary.new_users += 1;
                }
                (email, RowOutcome::Renew)
            }
        };
        let s = &mut self.summary;
        match outcome {
            RowOutcome::Renew => s.renew += 1,
            RowOutcome::AlreadyActive => s.already_active += 1,
            RowOutcome::Unknown => s.unknown += 1,
            RowOutcome::Invalid => s.invalid += 1,
            RowOutcome::Duplicate => s.duplicate += 1,
            RowOutcome::Release => s.release += 1,
        }
        Row { line, email, outcome }
    }

    /// Remembers the e-mails of rows decided before (a commit's pass over the stored rows), for
    /// [`Reviewer::releases`].
    pub fn saw(&mut self, rows: &[Row]) {
        for row in rows {
            self.needs.saw(&row.email);
        }
    }

    /// Under `mode = sync`, once every chunk is reviewed: whether `user` is one the file leaves
    /// out, to be released (a learner, not released yet). Company managers are never released by
    /// a sync: a file of learners must not lock the managers out.
    pub fn releases(&self, user: &User) -> bool {
        user.role == super::user::UserRole::Learner && user.released_at.is_none() && !self.needs.came(&user.email)
    }

    /// The summary of every chunk reviewed, against `available` seats, with `release` users a
    /// sync releases.
    pub fn summary(&self, available: u64, release: u64) -> Summary {
        let mut summary = self.summary.clone();
        summary.available = available;
        summary.shortfall = summary.renew.saturating_sub(available);
        summary.release = release;
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{read, CsvFile};

    /// A condition on the stored status compares it with `as_str`, so both must spell it alike.
    #[test]
    fn a_status_is_spelt_as_it_is_stored() {
        for status in [ImportStatus::Reviewed, ImportStatus::Committing, ImportStatus::Committed, ImportStatus::Failed]
        {
            assert_eq!(serde_json::to_value(status).unwrap(), serde_json::json!(status.as_str()));
        }
    }

    /// A whole file's review, as the import's chunks add up to.
    struct Review {
        rows: Vec<Row>,
        summary: Summary,
        release: Vec<String>,
    }

    /// Decides every row of `file` against `users` in one chunk; under `mode = sync`, who the
    /// file leaves out.
    fn review(file: &CsvFile, users: &HashMap<String, User>, available: u64, mode: Mode, now: DateTime<Utc>) -> Review {
        let mut reviewer = Reviewer::new(now);
        let rows = reviewer.chunk(&file.cells, users);
        let mut release: Vec<String> = match mode {
            Mode::Renew => vec![],
            Mode::Sync => users.values().filter(|u| reviewer.releases(u)).map(|u| u.email.clone()).collect(),
        };
        release.sort();
        let summary = reviewer.summary(available, release.len() as u64);
        Review { rows, summary, release }
    }

    #[test]
    fn a_long_invalid_cell_is_kept_cut_and_stays_invalid() {
        let long = format!("a@b.c{}", "é".repeat(400));
        let rows = Reviewer::new(Utc::now()).chunk(&[(2, long)], &HashMap::new());
        let kept = &rows[0].email;
        assert!(kept.len() <= MAX_CELL_KEPT && kept.ends_with(" …") && kept.starts_with("a@b.c"), "{kept}");
        assert_eq!(rows[0].outcome, RowOutcome::Invalid);
        // Reviewed again (as the commit does), it is still invalid.
        let cells: Vec<Cell> = rows.iter().map(|r| (r.line, r.email.clone())).collect();
        let again = Reviewer::new(Utc::now()).chunk(&cells, &HashMap::new());
        assert_eq!(again, rows);
    }

    #[test]
    fn rows_are_reviewed_against_the_users() {
        let now: DateTime<Utc> = "2027-02-01T00:00:00Z".parse().unwrap();
        let mut users = HashMap::new();
        for e in ["a@c.example", "b@c.example"] {
            users.insert(e.to_string(), User::new("c", e, now));
        }
        let file =
            read(&b"email\nA@c.example\nghost@c.example\nnot-mail\na@c.example\nb@c.example\n"[..], None).unwrap();
        let r = review(&file, &users, 1, Mode::Renew, now);
        let outcomes: Vec<_> = r.rows.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            vec![RowOutcome::Renew, RowOutcome::Unknown, RowOutcome::Invalid, RowOutcome::Duplicate, RowOutcome::Renew]
        );
        assert_eq!((r.summary.renew, r.summary.shortfall, r.summary.available), (2, 1, 1));
        assert!(r.release.is_empty());
        users.insert("gone@c.example".into(), User::new("c", "gone@c.example", now));
        let sync = review(&file, &users, 5, Mode::Sync, now);
        assert_eq!(sync.release, vec!["gone@c.example".to_string()]);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Read and reviewed; nothing applied.
    Reviewed,
    /// Seats reserved; licences being written (a retry resumes here).
    Committing,
    Committed,
    /// The file was refused; `error` says why and nothing was applied.
    Failed,
}

impl ImportStatus {
    /// The status as it is stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Reviewed => "reviewed",
            ImportStatus::Committing => "committing",
            ImportStatus::Committed => "committed",
            ImportStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Api,
    S3,
    /// An allocation too large for one transaction, committed the import's way.
    Allocation,
}

/// The S3 object an import came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// A batch of licences: an import's file, or the e-mails of an allocation too large for one
/// transaction (`source: allocation`, docs/api.md#imports). Its rows are kept beside it in
/// chunks. Stored as `type: import` (the job runner's stream filter matches it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub import_id: String,
    pub org_id: String,
    pub source: Source,
    pub mode: Mode,
    pub status: ImportStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_column: Option<String>,
    pub summary: Summary,
    /// The file's header cells, in order (for choosing the e-mail column).
    #[serde(default)]
    pub columns: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub allocated: u64,
    #[serde(default)]
    pub released: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Object>,
    /// The seats set aside when the commit started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<super::allocation::Reservation>,
    /// The commit goes on in the background (the job runner finishes it), not in a request.
    #[serde(default)]
    pub background: bool,
    /// How often the background commit was handed to the job runner again (a confirm of a job
    /// still `committing`: after its retries ran out, say).
    #[serde(default)]
    pub handovers: u32,
    /// Its rows are kept under its org. `false` (absent): a record written before rows moved
    /// there, whose rows are in the partition of the first layout (read and finished as such).
    #[serde(default)]
    pub rows_in_org: bool,
    /// The fingerprint of the request that started it (a large allocation under an
    /// `Idempotency-Key`): the job is that request's, and answers no other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Until when the review may be confirmed ([`REVIEW_KEPT_DAYS`] after it): its rows, and a
    /// refused file's, carry the table's TTL for this instant. Cleared when the commit starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_expires_at: Option<DateTime<Utc>>,
    /// A large allocation that creates the users it names who do not exist yet: each is written
    /// with its licence, by the commit (after every seat is reserved), never before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_missing: bool,
    /// While `committing`: until when the attempt that holds the commit is taken to be at work.
    /// Past it, the lease sweep finishes the commit. A record that went `committing` before
    /// leases has none and is not among the sweep's; a retry, a confirm or the job runner
    /// finishes it, as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
}

/// How long the rows of a review nobody confirmed (and of a refused file) are kept: the table's
/// TTL removes them after this many days, and a confirm after it is refused as too old.
pub const REVIEW_KEPT_DAYS: i64 = 14;

impl Batch {
    /// The licence id an import gives the user of one line: the same on every retry, so a
    /// resumed commit recognises what it wrote before.
    pub fn licence_id(&self, line: u64) -> String {
        format!("lic_{}_{line}", self.import_id)
    }

    pub fn view(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            for internal in ["reservation", "rows_in_org", "fingerprint", "create_missing", "lease_until"] {
                o.remove(internal);
            }
        }
        v
    }

    /// Until when its rows (and release list and progress) are kept, `None` for ever: an
    /// import's while its review awaits a confirm or its file was refused (kept with the record
    /// once confirmed); a large allocation's always [`REVIEW_KEPT_DAYS`] after it was made — its
    /// rows are its answer, read while it runs and just after, so they are written once, with
    /// their expiry, and never rewritten to keep them.
    pub fn rows_expire_at(&self) -> Option<DateTime<Utc>> {
        match (self.source, self.status) {
            (Source::Allocation, _) => Some(self.created_at + chrono::Duration::days(REVIEW_KEPT_DAYS)),
            (_, ImportStatus::Reviewed | ImportStatus::Failed) => self.review_expires_at,
            (_, ImportStatus::Committing | ImportStatus::Committed) => None,
        }
    }

    /// Whether a large allocation's rows are past their keeping at `now` (they may be gone or
    /// go at any moment); an import's never are once confirmed.
    pub fn rows_gone(&self, now: DateTime<Utc>) -> bool {
        self.source == Source::Allocation && self.rows_expire_at().is_some_and(|until| until <= now)
    }

    /// Whether the review is too old to be confirmed at `now` (its rows may be gone already:
    /// the table removes expired items late, at no fixed time).
    pub fn review_expired(&self, now: DateTime<Utc>) -> bool {
        self.status == ImportStatus::Reviewed && self.review_expires_at.is_some_and(|until| until <= now)
    }
}
