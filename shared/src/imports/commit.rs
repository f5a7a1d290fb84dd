//! The commit of an import, a state machine that survives a crash: `reviewed` → reserve (every
//! seat set aside, the record `committing`) → each row's licence written on its own → finish
//! (the seats left over returned, the record `committed`). Each step loads what it needs, asks
//! `domain::decide::imports` what changes, and applies that with [`Store::apply`]; a step that
//! lost a race finds the record where another attempt moved it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::{LeftOut, RowChunks};
use crate::command::{self, Decision};
use crate::domain::auth::Principal;
use crate::domain::decide::imports::{self as decide, Issued, RowSeat, Seat};
use crate::domain::decide::users as decide_users;
use crate::domain::import::{Batch, Cell, ImportStatus, Mode, Reviewer, Row, RowOutcome, Summary};
use crate::domain::notice::SAMPLE;
use crate::domain::org::Org;
use crate::domain::policy::Policy;
use crate::domain::user::User;
use crate::domain::DomainError;
use crate::store::imports::{Checkpoint, Progress, ReleaseCheckpoint, RowSet, Rows, ROWS_PER_CHUNK};
use crate::store::{Error, Store, StoreError};

/// Licence writes sent at once while committing.
pub const WRITES_IN_FLIGHT: usize = 32;

/// Licences written between two saves of the commit's progress. A save rewrites the progress
/// item, about 3 WCU once it holds the audit sample's e-mails: every 256 licences that is about
/// 0.01 WCU per licence. A resume reads the chunk it stopped in again whatever the figure, and
/// writes no licence twice.
pub const PROGRESS_EVERY: usize = 8 * WRITES_IN_FLIGHT;

/// Commits an import, or resumes one that stopped half-way; a committed one is returned as is.
/// Each move of the record (the reserve, the finish) is a command through the executor: a move
/// that lost its race is decided again on the record as the other attempt left it.
pub async fn commit(
    store: &Store,
    org: &Org,
    record: Batch,
    by: &Principal,
    now: DateTime<Utc>,
) -> Result<Batch, Error> {
    match commit_slice(store, org, record, by, now, None).await? {
        Slice::Done(record) | Slice::Paused(record) => Ok(record),
    }
}

/// How far one slice of a commit got: to its end (the record as it ended), or — its time up —
/// to a saved checkpoint, the record still `committing`, for the next slice to resume.
#[derive(Debug)]
pub enum Slice {
    Done(Batch),
    Paused(Batch),
}

/// [`commit`], in a slice that stops once `until` has passed (never: `None`) at the next saved
/// checkpoint — every [`PROGRESS_EVERY`] licences — with what it wrote kept; the next slice
/// resumes there and writes no licence twice.
pub async fn commit_slice(
    store: &Store,
    org: &Org,
    record: Batch,
    by: &Principal,
    now: DateTime<Utc>,
    until: Option<Instant>,
) -> Result<Slice, Error> {
    let record = begin(store, org, record, Review::Again, now).await?;
    match record.status {
        ImportStatus::Committing => command::conflict_when_raced(finish(store, org, record, by, now, until).await),
        ImportStatus::Failed => {
            let why = record.error.clone().unwrap_or_default();
            Err(DomainError::conflict(
                "import_refused",
                format!("the import was refused and cannot be committed: {why}"),
            )
            .into())
        }
        ImportStatus::Committed | ImportStatus::Reviewed => Ok(Slice::Done(record)),
    }
}

/// Sets a commit going without finishing it: every seat reserved and the record `committing`
/// (or as another attempt left it), for the job runner to finish. The reserve is a command
/// through the executor; after a lost race it reviews the rows again.
pub async fn begin(
    store: &Store,
    org: &Org,
    record: Batch,
    review: Review,
    now: DateTime<Utc>,
) -> Result<Batch, Error> {
    let begun = step(store, &record, |current, again| async move {
        if current.status != ImportStatus::Reviewed {
            return Ok(Decision::unchanged(Begun::As(current)));
        }
        // A retry reviews again: the rows were reviewed before the race was lost.
        let reserved = reserve(store, org, current.clone(), if again { Review::Again } else { review }, now).await;
        if reserved.is_ok() {
            return reserved;
        }
        // A refusal (a shortfall, say) may only mean that another attempt took the seats for
        // this very import first: the record, read again, says whether it moved on.
        let stored = reload(store, &current).await?;
        if stored.status != ImportStatus::Reviewed {
            return Ok(Decision::unchanged(Begun::As(stored)));
        }
        reserved
    })
    .await;
    match command::conflict_when_raced(begun)? {
        Begun::As(record) => Ok(record),
        Begun::Reserved { before, record, reviewer } => {
            keep_reviewed(store, org, &before, &record, reviewer.as_ref()).await?;
            Ok(record)
        }
    }
}

/// One move of an import's record, as a command through the executor: `decide` is given the
/// record — as given on the first attempt, as stored after a lost race (`again`) — and decides
/// the move, or nothing when the record is no longer where the move starts.
pub(crate) async fn step<T, F, Fut>(store: &Store, given: &Batch, decide: F) -> Result<T, Error>
where
    F: Fn(Batch, bool) -> Fut,
    Fut: Future<Output = Result<Decision<T>, Error>>,
{
    let (decide, first) = (&decide, &AtomicBool::new(true));
    command::execute(store, || {
        let again = !first.swap(false, Ordering::SeqCst);
        async move {
            let record = if again { reload(store, given).await? } else { given.clone() };
            decide(record, again).await
        }
    })
    .await
}

/// The record as it is stored now.
pub(crate) async fn reload(store: &Store, record: &Batch) -> Result<Batch, Error> {
    Ok(store
        .import(&record.org_id, &record.import_id)
        .await?
        .ok_or_else(|| DomainError::not_found("import", &record.import_id))?)
}

/// What a commit's start found: the record, left as it was (another attempt moved it first), or
/// moved to `committing` from `before` by the reserve, with the reviewer that saw every row
/// again (none when the review was just made).
enum Begun {
    As(Batch),
    Reserved { before: Box<Batch>, record: Batch, reviewer: Option<Reviewer> },
}

/// How the reserve knows the rows' outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Review {
    /// Reviewed again as things are now (a confirm, a retry, a resumed job).
    Again,
    /// As the review made by this very request left them, an instant ago (a large allocation
    /// setting its job going): not read again. Each licence is written over its user's version,
    /// so a user licensed meanwhile gives its seat back at the finish.
    JustMade,
}

/// Reviews the rows again as things are now (unless `review` says they were just reviewed),
/// and decides a seat set aside for every `renew` row in one transaction that also moves the
/// record to `committing` under a lease. A chunk that no longer awaits its confirm is a lost
/// race (another attempt started the commit). A review too old to confirm is refused
/// (`review_expired`), changing nothing.
async fn reserve(
    store: &Store,
    org: &Org,
    record: Batch,
    review: Review,
    now: DateTime<Utc>,
) -> Result<Decision<Begun>, Error> {
    decide::confirmable(&record, now)?;
    let policy = store.policy(org).await?;
    let balance = store.balance(&org.org_id, &policy, now).await?;
    let reviewer = match review {
        Review::JustMade if record.mode == Mode::Renew => None,
        _ => Some(review_again(store, &org.org_id, &record, now).await?),
    };
    let fresh = match &reviewer {
        Some(r) if record.mode == Mode::Sync => {
            r.summary(balance.available(now), count_leaving(store, &org.org_id, r).await?)
        }
        Some(r) => r.summary(balance.available(now), 0),
        None => Summary { available: balance.available(now), ..record.summary.clone() },
    };
    let headcount = store.headcount(&org.org_id, &policy, Some(&balance), now).await?;
    let decided = decide::reserve(org, &record, &fresh, (&balance, &headcount), now)?;
    Ok(decided.map(|moved| Begun::Reserved { before: Box::new(record), record: moved, reviewer }))
}

/// Once the reserve is applied: the confirmed review's release list, then its rows, are kept
/// from now on (a commit cut off before the last is healed by its finish, see `keep_expiring`);
/// a large allocation's rows keep their expiry, nothing is rewritten. Under `mode = sync`, who
/// the fresh review releases is written for the record's readers, by the attempt that moved the
/// record alone, so racing attempts do not overwrite each other's list.
async fn keep_reviewed(
    store: &Store,
    org: &Org,
    before: &Batch,
    moved: &Batch,
    reviewer: Option<&Reviewer>,
) -> Result<(), Error> {
    let kept = Rows::of(moved);
    if before.review_expires_at.is_some() && !kept.expire_for_good() {
        let release_chunks = (before.summary.release as usize).div_ceil(ROWS_PER_CHUNK);
        store.keep_chunks(&kept, RowSet::Release, release_chunks).await?;
        store.keep_chunks(&kept, RowSet::File, (before.summary.rows as usize).div_ceil(ROWS_PER_CHUNK).max(1)).await?;
    }
    if let (Some(reviewer), Mode::Sync) = (reviewer, before.mode) {
        let previous = before.summary.release as usize;
        if let Err(e) = super::write_release(store, &org.org_id, &kept, reviewer, previous).await {
            tracing::warn!(error = %e, import_id = %before.import_id, "the release list was not rewritten");
        }
    }
    Ok(())
}

/// Every stored chunk of rows reviewed again as things are now, a chunk at a time; a chunk
/// whose outcomes changed is stored again (while the review awaits its confirm: a `Race` when
/// another attempt started the commit meanwhile). The reviewer that has seen every row.
async fn review_again(store: &Store, org_id: &str, record: &Batch, now: DateTime<Utc>) -> Result<Reviewer, Error> {
    let mut reviewer = Reviewer::creating(record.create_missing, now);
    let (mut chunks, rows_at) = (RowChunks::new(record), Rows::of(record));
    while let Some((index, rows)) = chunks.next(store).await? {
        let cells: Vec<Cell> = rows.iter().map(|r| (r.line, r.email.clone())).collect();
        let fresh = super::review_chunk(store, org_id, &mut reviewer, &cells).await?;
        if fresh != rows {
            store.rewrite_row_chunk(&rows_at, index, &fresh).await?;
        }
    }
    Ok(reviewer)
}

/// The chunks a commit read that still expire — its reserve was cut off before it kept them
/// all — are kept now, and the release list with them.
async fn keep_expiring(store: &Store, record: &Batch, expiring: &[usize]) -> Result<(), Error> {
    if expiring.is_empty() || Rows::of(record).expire_for_good() {
        return Ok(());
    }
    tracing::warn!(import_id = %record.import_id, chunks = expiring.len(), "a committing import's rows still expired; kept now");
    let kept = Rows::of(record);
    for &index in expiring {
        store.keep_chunk(&kept, RowSet::File, index).await?;
    }
    store.keep_all_chunks(&kept, RowSet::Release).await?;
    Ok(())
}

/// Under `mode = sync`: how many of the org's users the file leaves out.
async fn count_leaving(store: &Store, org_id: &str, reviewer: &Reviewer) -> Result<u64, Error> {
    let (mut pages, mut count) = (LeftOut::new(org_id), 0);
    while let Some(users) = pages.next(store, reviewer).await? {
        count += users.len() as u64;
    }
    Ok(count)
}

/// Writes the licences of the `renew` rows (one conditional write each), releases the users a
/// sync leaves out, returns the unused seats and marks the record committed, with the command's
/// one audit entry in the same transaction. Once `until` has passed it stops at the next saved
/// checkpoint instead (`Paused`).
async fn finish(
    store: &Store,
    org: &Org,
    record: Batch,
    by: &Principal,
    now: DateTime<Utc>,
    until: Option<Instant>,
) -> Result<Slice, Error> {
    let policy = store.policy(org).await?;
    let issuing = Issuing { store, org, record: &record, policy: &policy, now, until };
    let Some((tally, reviewer)) = issuing.rows().await? else { return Ok(Slice::Paused(record)) };
    let released = match record.mode {
        Mode::Sync => match (Releasing { issuing: &issuing, reviewer: &reviewer, by }).run().await? {
            Some(released) => released,
            None => return Ok(Slice::Paused(record)),
        },
        Mode::Renew => 0,
    };
    let (issued, licensed) = (&tally.issued, &tally.licensed);
    step(store, &record, |current, _| async move {
        Ok(match current.status {
            ImportStatus::Committing => decide::finish(org, &current, issued, licensed, released, by, now),
            _ => Decision::unchanged(current),
        })
    })
    .await
    .map(Slice::Done)
}

/// What a commit's licence writes add up to: the `renew` rows settled (row `i` of them takes seat
/// `i`), the licences by lot, and the first e-mails licensed (one more than an audit entry names,
/// so that it can say it left some out).
#[derive(Debug, Default)]
struct Tally {
    settled: usize,
    issued: Issued,
    licensed: Vec<String>,
}

impl Tally {
    /// The tally a commit resumes with, the chunk it resumes at and how many of that chunk's
    /// `renew` rows are settled; from the first row when nothing says where (an item saved
    /// before commits resumed holds only a count).
    fn resumed(progress: Progress) -> (Tally, usize, usize) {
        let Some(c) = progress.checkpoint else { return (Tally::default(), 0, 0) };
        let tally = Tally {
            settled: progress.rows_done as usize,
            issued: Issued { by_lot: c.issued.into_iter().collect(), gave_access: c.gave_access },
            licensed: c.licensed,
        };
        (tally, c.chunk, c.settled_in_chunk)
    }

    /// One `renew` row settled: its seat (`None`: the reservation had none for it).
    fn count(&mut self, email: &str, seat: Option<&Seat>) {
        if let Some(seat) = seat {
            decide::tally(&mut self.issued, seat);
            if matches!(seat, Seat::Issued { .. }) && self.licensed.len() <= SAMPLE {
                self.licensed.push(email.to_string());
            }
        }
        self.settled += 1;
    }

    /// The progress to save once `settled_in_chunk` `renew` rows of chunk `chunk` are settled.
    fn saved(&self, chunk: usize, settled_in_chunk: usize) -> Progress {
        let mut issued: Vec<(Option<String>, u32)> = self.issued.by_lot.iter().map(|(l, n)| (l.clone(), *n)).collect();
        issued.sort();
        let gave_access = self.issued.gave_access;
        let checkpoint = Checkpoint { chunk, settled_in_chunk, issued, licensed: self.licensed.clone(), gave_access };
        Progress { rows_done: self.settled as u64, checkpoint: Some(checkpoint), release: None }
    }
}

/// What the licence writes of one commit work with.
struct Issuing<'a> {
    store: &'a Store,
    org: &'a Org,
    record: &'a Batch,
    policy: &'a Policy,
    now: DateTime<Utc>,
    /// When this slice stops, at the next saved checkpoint (`None`: it writes every licence).
    until: Option<Instant>,
}

impl Issuing<'_> {
    /// Whether this slice's time is up.
    fn time_up(&self) -> bool {
        self.until.is_some_and(|until| Instant::now() >= until)
    }

    /// Writes the licence of every `renew` row, a chunk of rows at a time, from where the saved
    /// progress says an earlier attempt stopped (at most one chunk is read again, no licence is
    /// written again); the next chunk (its rows and users) read while this one is written. The
    /// answer: the tally, and, under `mode = sync`, a reviewer that has seen every row (for who
    /// the file leaves out: the chunks before the resumed one are read for it, nothing else).
    /// `None` when the slice's time was up first, its progress saved.
    async fn rows(&self) -> Result<Option<(Tally, Reviewer)>, Error> {
        let (store, record) = (self.store, self.record);
        let (mut tally, first, mut skip) = Tally::resumed(store.commit_progress(&Rows::of(record)).await?);
        let mut reviewer = Reviewer::new(self.now);
        let mut chunks = RowChunks::new(record);
        if record.mode == Mode::Sync {
            while chunks.position() < first {
                let Some((_, rows)) = chunks.next(store).await? else { break };
                reviewer.saw(&rows);
            }
        }
        chunks = chunks.at(first);
        let mut next = renew_chunk(store, &self.org.org_id, &mut chunks).await?;
        while let Some((index, rows, users)) = next {
            if record.mode == Mode::Sync {
                reviewer.saw(&rows);
            }
            let renew: Vec<&Row> = rows.iter().filter(|r| r.outcome == RowOutcome::Renew).collect();
            let writing = self.chunk(index, &renew, skip, &users, &mut tally);
            let (written, following) = tokio::join!(writing, renew_chunk(store, &self.org.org_id, &mut chunks));
            let paused = written?;
            keep_expiring(store, record, &chunks.take_expiring()).await?;
            if paused {
                return Ok(None);
            }
            (next, skip) = (following?, 0);
        }
        keep_expiring(store, record, &chunks.take_expiring()).await?;
        Ok(Some((tally, reviewer)))
    }

    /// Writes the licences of chunk `index`'s `renew` rows after the first `skip` (settled
    /// before), [`WRITES_IN_FLIGHT`] at a time, the progress saved every [`PROGRESS_EVERY`].
    /// `true` when the slice's time was up at a save with rows of the commit still to settle.
    async fn chunk(
        &self,
        index: usize,
        renew: &[&Row],
        skip: usize,
        users: &HashMap<String, User>,
        tally: &mut Tally,
    ) -> Result<bool, Error> {
        use futures::stream::{self, StreamExt};
        let reservation = self.record.reservation.clone().unwrap_or_default();
        let mut settled_in_chunk = skip;
        for part in renew[skip.min(renew.len())..].chunks(PROGRESS_EVERY) {
            // Made before the stream takes them (a stream of a lazy closure is not `Send`).
            let writes: Vec<_> = part
                .iter()
                .enumerate()
                .map(|(j, row)| {
                    let seat = decide::row_seat(self.record, &reservation, tally.settled + j, row);
                    let user = users.get(&row.email).cloned();
                    async move {
                        match seat {
                            Some(seat) => self.one(&row.email, user, seat).await.map(Some),
                            None => Ok(None),
                        }
                    }
                })
                .collect();
            let seats: Vec<Result<Option<Seat>, Error>> =
                stream::iter(writes).buffered(WRITES_IN_FLIGHT).collect().await;
            for (row, seat) in part.iter().zip(seats) {
                tally.count(&row.email, seat?.as_ref());
            }
            settled_in_chunk += part.len();
            // A chunk settled to its end is a resume at the next one: not read again.
            let at = if settled_in_chunk == renew.len() { (index + 1, 0) } else { (index, settled_in_chunk) };
            self.store.save_progress(&Rows::of(self.record), &tally.saved(at.0, at.1)).await?;
            if self.time_up() && (tally.settled as u64) < self.record.summary.renew {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One row's licence, written on its own over the version of `user` (the row's `email`)
    /// read — or, for a job that creates missing users, with the user, on the condition that it
    /// is new; when the user changed meanwhile, it is read again and decided anew.
    async fn one(&self, email: &str, user: Option<User>, seat: RowSeat) -> Result<Seat, Error> {
        let read = std::sync::Mutex::new(Some(user));
        let (read, seat) = (&read, &seat);
        // Through the executor, with the one write sent on its own (not as a transaction).
        let written = command::execute_with(
            || async move {
                let first = read.lock().map_err(|_| StoreError::Other("a row's user was poisoned".into()))?.take();
                let user = match first {
                    Some(user) => user,
                    None => self.store.user(&self.org.org_id, email).await?,
                };
                let created = user.is_none() && self.record.create_missing;
                let subject = if created { Some(User::new(&self.org.org_id, email, self.now)) } else { user };
                Ok(decide::licence((subject.as_ref(), created), seat, self.policy, self.now))
            },
            |decided: Decision<Seat>| async move {
                match decided.changes.as_slice() {
                    [change] => self.store.apply_alone(change).await.map(|()| decided.outcome),
                    _ => Err(StoreError::Other("a row's licence must be one write".into()).into()),
                }
            },
        )
        .await;
        match written {
            // The commit around it is not run again for this: it fails, to resume later.
            Err(Error::Race(_)) => Err(DomainError::conflict_with(
                "changed_meanwhile",
                format!("{email} kept changing while its licence was written"),
                serde_json::json!({ "email": email }),
            )
            .into()),
            other => other,
        }
    }
}

/// The next chunk of rows (its index and rows), with the users of its `renew` rows.
async fn renew_chunk(
    store: &Store,
    org_id: &str,
    chunks: &mut RowChunks,
) -> Result<Option<(usize, Vec<Row>, HashMap<String, User>)>, Error> {
    let Some((index, rows)) = chunks.next(store).await? else { return Ok(None) };
    let emails = rows.iter().filter(|r| r.outcome == RowOutcome::Renew).map(|r| r.email.clone()).collect();
    let users = super::named_users(store, org_id, emails).await?;
    Ok(Some((index, rows, users)))
}

/// Under `mode = sync`: the release of the users the file (every row seen by `reviewer`) leaves
/// out (`decide::users::release`, as a release through the API), read page by page.
struct Releasing<'a> {
    issuing: &'a Issuing<'a>,
    reviewer: &'a Reviewer,
    by: &'a Principal,
}

impl Releasing<'_> {
    /// Releases them from where the saved progress says an earlier slice stopped, the progress
    /// saved every [`PROGRESS_EVERY`] releases and after each page; how many the commit released
    /// in all, or `None` when the slice's time was up at a save with pages left.
    async fn run(&self) -> Result<Option<u64>, Error> {
        let Issuing { store, org, record, now, .. } = *self.issuing;
        let rows = Rows::of(record);
        let mut progress = store.commit_progress(&rows).await?;
        let mut at = progress.release.clone().unwrap_or_default();
        let mut pages = LeftOut::from(&org.org_id, at.page.clone());
        while let Some(users) = pages.next(store, self.reviewer).await? {
            for (i, listed) in users.iter().enumerate() {
                if release_one(store, org, &listed.email, self.by, now).await? {
                    at.released += 1;
                }
                let mid_page = i + 1 < users.len() && (i + 1) % PROGRESS_EVERY == 0;
                if mid_page && self.saved(&rows, &mut progress, &at).await? {
                    return Ok(None);
                }
            }
            (at.page, at.pages) = (pages.cursor(), at.pages + 1);
            if !users.is_empty() && self.saved(&rows, &mut progress, &at).await? && pages.more() {
                return Ok(None);
            }
        }
        Ok(Some(at.released))
    }

    /// Saves how far the release is (`at`, with the rest of `progress`); whether the slice's
    /// time is up.
    async fn saved(&self, rows: &Rows, progress: &mut Progress, at: &ReleaseCheckpoint) -> Result<bool, Error> {
        progress.release = Some(at.clone());
        self.issuing.store.save_progress(rows, progress).await?;
        Ok(self.issuing.time_up())
    }
}

/// Releases one user a sync leaves out, as it is now; a release that lost a race is loaded and
/// decided again, like every command. Whether this call released them (one released meanwhile,
/// or gone, is left so).
async fn release_one(store: &Store, org: &Org, email: &str, by: &Principal, now: DateTime<Utc>) -> Result<bool, Error> {
    command::conflict_when_raced(
        command::execute(store, || async move {
            let Some(u) = store.user(&org.org_id, email).await? else { return Ok(Decision::unchanged(false)) };
            if u.released_at.is_some() {
                return Ok(Decision::unchanged(false));
            }
            let (live, reuse) = store.release_state(org, &u, now).await?;
            Ok(decide_users::release(org, &u, &live, &reuse, by, now).map(|_| true))
        })
        .await,
    )
}
