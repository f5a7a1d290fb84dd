//! Decisions of a CSV import (docs/domain.md#the-commit): the record of a review, the reservation that
//! starts a commit, one row's licence, and the finish that returns the seats left over.
//!
//! Row `i` of the `renew` rows always takes seat `i` of the reservation and gets the licence id
//! `lic_{import}_{line}`, so a retry after a crash recognises what was written and returns
//! exactly the seats left over.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::allocation::{self, Balance, Reservation};
use crate::domain::audit::AuditEntry;
use crate::domain::auth::Principal;
use crate::domain::change::{Change, Decision};
use crate::domain::import::{Batch, ImportStatus, Mode, Row, Source, Summary, REVIEW_KEPT_DAYS};
use crate::domain::org::Org;
use crate::domain::policy::Policy;
use crate::domain::seats::{self, CounterChange, Headcount};
use crate::domain::user::{self, User};
use crate::domain::DomainError;

/// How long an attempt holds a commit it moved to `committing` (or was handed): longer than any
/// function that commits runs (the job runner's 900 s). Past it, the lease sweep finishes the
/// commit; the commit is idempotent, so one still at work beside the sweep does no harm.
pub const COMMIT_LEASE_MINUTES: i64 = 20;

/// The end of a lease taken at `now`.
pub fn lease_from(now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::minutes(COMMIT_LEASE_MINUTES)
}

/// A new record, `reviewed`, with nothing read into it yet: its rows kept under its org, for
/// [`REVIEW_KEPT_DAYS`] unless it is confirmed.
pub fn new_record(import_id: String, org_id: &str, source: Source, mode: Mode, by: &str, now: DateTime<Utc>) -> Batch {
    Batch {
        import_id,
        org_id: org_id.to_string(),
        source,
        mode,
        status: ImportStatus::Reviewed,
        email_column: None,
        summary: Default::default(),
        columns: vec![],
        created_at: now,
        created_by: by.to_string(),
        committed_at: None,
        allocated: 0,
        released: 0,
        error: None,
        s3: None,
        reservation: None,
        background: false,
        handovers: 0,
        rows_in_org: true,
        fingerprint: None,
        create_missing: false,
        lease_until: None,
        review_expires_at: Some(now + chrono::Duration::days(REVIEW_KEPT_DAYS)),
    }
}

/// A review may be confirmed until its rows expire; after that it is refused as too old (its
/// rows may be gone already, or go at any moment: the table removes expired items late).
pub fn confirmable(record: &Batch, now: DateTime<Utc>) -> Result<(), DomainError> {
    let Some(until) = record.review_expires_at.filter(|_| record.review_expired(now)) else { return Ok(()) };
    let (what, again) = match record.source {
        Source::Allocation => {
            (format!("allocation {}", record.import_id), "allocate again (under a new Idempotency-Key)")
        }
        Source::Api | Source::S3 => (format!("the review of import {}", record.import_id), "send the file again"),
    };
    Err(DomainError::ReviewExpired(format!(
        "{what} is too old to confirm: it was made at {} and a review is kept {REVIEW_KEPT_DAYS} days (until {}); {again}",
        record.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )))
}

/// A large allocation's rows are read while they are kept ([`Batch::rows_expire_at`]);
/// after that the answer says so (`review_expired`) rather than a short or empty page.
pub fn rows_readable(record: &Batch, now: DateTime<Utc>) -> Result<(), DomainError> {
    let Some(until) = record.rows_expire_at().filter(|_| record.rows_gone(now)) else { return Ok(()) };
    Err(DomainError::ReviewExpired(format!(
        "the rows of allocation {} are no longer kept: an allocation's rows are kept {REVIEW_KEPT_DAYS} days (until {}); \
         its record still says what it allocated ({} licences)",
        record.import_id,
        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        record.allocated,
    )))
}

/// The record of a file that is refused: `failed`, saying why.
pub fn failed(mut record: Batch, refusal: &DomainError) -> Batch {
    record.status = ImportStatus::Failed;
    record.error = Some(refusal.to_string());
    record
}

/// A new record, on the condition that its id is free (a second delivery of the same object
/// finds the first one's).
pub fn recorded(record: Batch) -> Decision<Batch> {
    Decision::new(vec![Change::Import { record: record.clone(), expected: None }], record)
}

/// A reviewed file through the API: its record (new) and an audit entry.
pub fn reviewed(record: Batch, org: &Org, principal: &Principal, now: DateTime<Utc>) -> Decision<Batch> {
    let target = format!("import/{}", record.import_id);
    let audit = AuditEntry::new(principal, org, "import.reviewed", &target, json!(record.summary), now);
    let mut decided = recorded(record);
    decided.changes.push(Change::Audit(audit));
    decided
}

/// A background commit handed to the job runner again: the record, on the condition that it is
/// still `committing`, with one more handover (the change the table's stream carries to the
/// runner). The commit is idempotent, so a runner still at work beside it does no harm.
pub fn handed_over(mut record: Batch, now: DateTime<Utc>) -> Decision<Batch> {
    record.handovers += 1;
    record.lease_until = Some(lease_from(now));
    Decision::new(vec![Change::Import { record: record.clone(), expected: Some(ImportStatus::Committing) }], record)
}

/// All or nothing: a reviewed file that cannot be committed (too few licences) is refused whole,
/// on the condition that it is still `reviewed`.
pub fn refused(record: Batch, refusal: &DomainError) -> Decision<Batch> {
    let record = failed(record, refusal);
    Decision::new(vec![Change::Import { record: record.clone(), expected: Some(ImportStatus::Reviewed) }], record)
}

/// The start of a commit: a seat set aside for every `renew` row of the `fresh` review (its
/// summary; the lots debited, the counters moved, the users it gives access counted within the
/// `headcount`) in one transaction that moves the record from
/// `reviewed` to `committing` with the reservation. The outcome: the record as moved.
pub fn reserve(
    org: &Org,
    record: &Batch,
    fresh: &Summary,
    (balance, headcount): (&Balance, &Headcount),
    now: DateTime<Utc>,
) -> Result<Decision<Batch>, DomainError> {
    let mut reservation = allocation::reserve(balance, fresh.renew, now)?;
    let mut change = CounterChange::default();
    let debits = reservation.lots.iter().map(|l| (&l.lot_id, l.count));
    let mut changes = seats::take(balance, debits, reservation.included, reservation.total(), &mut change);
    let who = format!("the {} new users of this import", fresh.new_users);
    // A sync gives access to its new users in place of those it releases (counted in `release`).
    let leaving = if record.mode == Mode::Sync { fresh.release } else { 0 };
    headcount.admit_replacing(fresh.new_users, leaving, &who, &mut change)?;
    reservation.new_users = fresh.new_users as u32;
    if !change.is_empty() {
        changes.push(Change::Counters { org: org.clone(), change });
    }
    let mut next = record.clone();
    next.status = ImportStatus::Committing;
    next.summary = fresh.clone();
    next.reservation = Some(reservation);
    // Confirmed: its rows are kept (the commit clears their expiry).
    next.review_expires_at = None;
    next.lease_until = Some(lease_from(now));
    changes.push(Change::Import { record: next.clone(), expected: Some(ImportStatus::Reviewed) });
    Ok(Decision::new(changes, next))
}

/// The seat one `renew` row takes: the licence id it gets and the lot (or, with `None`, the
/// included seat) it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct RowSeat {
    pub licence_id: String,
    pub lot_id: Option<String>,
    pub lot_end: Option<DateTime<Utc>>,
}

/// The seat of the `i`-th `renew` row, `row`: seat `i` of the reservation. `None` when the
/// reservation has no such seat.
pub fn row_seat(record: &Batch, reservation: &Reservation, i: usize, row: &Row) -> Option<RowSeat> {
    let (lot_id, lot_end) = reservation.seat(i)?;
    Some(RowSeat { licence_id: record.licence_id(row.line), lot_id: lot_id.map(str::to_string), lot_end })
}

/// Where the seat of one `renew` row stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Seat {
    /// This import's licence is on the user (written now or by an earlier attempt), from `lot`
    /// (`None`: an included seat); `gave_access` when it gave access to a user who had none
    /// (created, or restored after a release).
    Issued { lot: Option<String>, gave_access: bool },
    /// The user holds another licence, or is gone: the seat goes back.
    Unused,
}

/// One row's licence: the user (as read; `created`: new, made for this row) written over the
/// version read with the licence of `seat` — unless this import's licence is on it already, or
/// it holds another seat, or it is gone (then nothing changes and the seat goes back).
pub fn licence(
    (user, created): (Option<&User>, bool),
    seat: &RowSeat,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Decision<Seat> {
    let Some(u) = user else { return Decision::unchanged(Seat::Unused) };
    let lot = seat.lot_id.clone();
    if let Some(l) = u.licence.as_ref().filter(|l| l.licence_id == seat.licence_id) {
        return Decision::unchanged(Seat::Issued { lot, gave_access: l.gave_access });
    }
    if u.holds_seat(now) {
        return Decision::unchanged(Seat::Unused);
    }
    let gave_access = created || u.released_at.is_some();
    let mut next = user::issue(u, seat.licence_id.clone(), seat.lot_id.clone(), seat.lot_end, policy, now);
    if let Some(l) = next.licence.as_mut() {
        l.gave_access = gave_access;
    }
    Decision::new(vec![Change::User { user: next, created }], Seat::Issued { lot, gave_access })
}

/// What a commit's licence writes add up to: the licences by lot (`None`: included seats), and
/// how many of them gave access to a user who had none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Issued {
    pub by_lot: HashMap<Option<String>, u32>,
    pub gave_access: u32,
}

/// Counts one `renew` row's seat among those issued.
pub fn tally(issued: &mut Issued, seat: &Seat) {
    if let Seat::Issued { lot, gave_access } = seat {
        *issued.by_lot.entry(lot.clone()).or_default() += 1;
        issued.gave_access += u32::from(*gave_access);
    }
}

/// The end of a commit, once every row's licence is written (`issued`, by lot; `licensed`, the
/// first e-mails licensed) and `released` users a sync left out were released: the seats that
/// issued no licence go back, the record moves from `committing` to `committed`, with the
/// command's one audit entry — `import.committed` for a file, `licences.allocated` (the count and
/// a bounded sample of e-mails) for a large allocation. The outcome: the record as committed.
pub fn finish(
    org: &Org,
    record: &Batch,
    issued: &Issued,
    licensed: &[String],
    released: u64,
    by: &Principal,
    now: DateTime<Utc>,
) -> Decision<Batch> {
    let reservation = record.reservation.clone().unwrap_or_default();
    let allocated: u32 = issued.by_lot.values().sum();
    let mut changes = unused_seats(org, &reservation, issued);
    let mut done = record.clone();
    done.status = ImportStatus::Committed;
    done.committed_at = Some(now);
    done.allocated = allocated as u64;
    done.released += released;
    done.lease_until = None;
    changes.push(Change::Import { record: done.clone(), expected: Some(ImportStatus::Committing) });
    let entry = match record.source {
        Source::Allocation => {
            let (named, truncated) = crate::domain::notice::sample(licensed);
            let details = json!({
                "count": allocated,
                "emails": named,
                "emails_truncated": truncated,
                "allocation_id": record.import_id,
            });
            AuditEntry::new(by, org, "licences.allocated", &format!("org/{}", org.org_id), details, now)
        }
        Source::Api | Source::S3 => {
            let details = json!({ "allocated": allocated, "released": done.released, "reserved": reservation.total() });
            AuditEntry::new(by, org, "import.committed", &format!("import/{}", record.import_id), details, now)
        }
    };
    changes.push(Change::Audit(entry));
    Decision::new(changes, done)
}

/// The reserved seats that issued no licence (`issued`: licences by lot, `None` for included
/// seats), given back to their lots and the counters.
fn unused_seats(org: &Org, reservation: &Reservation, issued: &Issued) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut change = CounterChange::default();
    for reserved in &reservation.lots {
        let used = issued.by_lot.get(&Some(reserved.lot_id.clone())).copied().unwrap_or(0).min(reserved.count);
        let unused = reserved.count - used;
        if unused > 0 {
            changes.push(Change::UnreserveLot {
                org_id: org.org_id.clone(),
                lot_id: reserved.lot_id.clone(),
                lot_valid_until: reserved.valid_until,
                seats: unused,
            });
            change.seats_held -= unused as i64;
        }
    }
    let unused_included =
        reservation.included - issued.by_lot.get(&None).copied().unwrap_or(0).min(reservation.included);
    change.included_in_use -= unused_included as i64;
    change.seats_held -= unused_included as i64;
    // Users counted at the reserve whose licence gave no one access after all (they were
    // created or restored meanwhile, or hold another seat).
    change.with_access -= reservation.new_users.saturating_sub(issued.gave_access) as i64;
    if !change.is_empty() {
        changes.push(Change::Counters { org: org.clone(), change });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::allocation::ReservedLot;
    use crate::domain::auth::Role;
    use crate::domain::org::OrgKind;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// A company (the vendor's root, renamed: only its id and kind matter here).
    fn company() -> Org {
        let mut org = Org::vendor_root(at("2026-01-01T00:00:00Z"));
        (org.org_id, org.kind) = ("c".into(), OrgKind::Company);
        org
    }

    fn committing(reservation: Reservation) -> Batch {
        let by = "cm@c.test";
        let mut record = new_record("imp_1".into(), "c", Source::Api, Mode::Renew, by, at("2026-02-01T00:00:00Z"));
        record.status = ImportStatus::Committing;
        record.reservation = Some(reservation);
        record
    }

    #[test]
    fn a_review_is_confirmable_until_its_rows_expire_and_then_refused_as_too_old() {
        let made = at("2026-02-01T00:00:00Z");
        let record = new_record("imp_1".into(), "c", Source::Api, Mode::Renew, "cm@c.test", made);
        let until = made + chrono::Duration::days(REVIEW_KEPT_DAYS);
        assert_eq!(record.review_expires_at, Some(until));
        assert!(record.rows_in_org);
        assert_eq!(confirmable(&record, until - chrono::Duration::seconds(1)), Ok(()));
        let e = confirmable(&record, until).unwrap_err();
        assert_eq!(e.code(), "review_expired");
        assert!(e.to_string().contains("too old") && e.to_string().contains("14 days"), "{e}");
        // A record written before reviews expired has no such bound.
        let legacy = Batch { review_expires_at: None, rows_in_org: false, ..record };
        assert_eq!(confirmable(&legacy, until + chrono::Duration::days(400)), Ok(()));
    }

    #[test]
    fn a_row_is_licensed_once_and_a_seat_held_elsewhere_goes_back() {
        let now = at("2026-02-01T10:00:00Z");
        let policy = Policy::resolve(std::iter::empty());
        let seat = RowSeat { licence_id: "lic_imp_1_2".into(), lot_id: Some("l1".into()), lot_end: None };
        let ann = User::new("c", "ann@c.example", now);

        let first = licence((Some(&ann), false), &seat, &policy, now);
        assert_eq!(first.outcome, Seat::Issued { lot: Some("l1".into()), gave_access: false });
        let [Change::User { user: licensed, created: false }] = first.changes.as_slice() else { panic!() };
        assert_eq!(licensed.licence.as_ref().map(|l| l.licence_id.as_str()), Some("lic_imp_1_2"));

        // A retry finds its own licence on the user: the seat is used, nothing is written.
        let again = licence((Some(licensed), false), &seat, &policy, now);
        assert_eq!(
            (again.changes.len(), again.outcome),
            (0, Seat::Issued { lot: Some("l1".into()), gave_access: false })
        );
        // Another licence on the user, or no user: the seat goes back.
        let other = RowSeat { licence_id: "lic_other".into(), ..seat.clone() };
        assert_eq!(licence((Some(licensed), false), &other, &policy, now).outcome, Seat::Unused);
        assert_eq!(licence((None, false), &seat, &policy, now).outcome, Seat::Unused);
    }

    #[test]
    fn a_row_that_gives_a_user_access_says_so_again_when_resumed() {
        let now = at("2026-02-01T10:00:00Z");
        let policy = Policy::resolve(std::iter::empty());
        let seat = RowSeat { licence_id: "lic_imp_1_2".into(), lot_id: None, lot_end: None };
        let new = User::new("c", "new@c.example", now);
        let released = User { released_at: Some(now), ..User::new("c", "gone@c.example", now) };
        for (user, created) in [(&new, true), (&released, false)] {
            let first = licence((Some(user), created), &seat, &policy, now);
            assert_eq!(first.outcome, Seat::Issued { lot: None, gave_access: true });
            let [Change::User { user: licensed, created: c }] = first.changes.as_slice() else { panic!() };
            assert_eq!((*c, licensed.released_at), (created, None));
            // Resumed after the write: the licence on the user still says it gave access.
            assert_eq!(licence((Some(licensed), false), &seat, &policy, now).outcome, first.outcome);
        }
    }

    #[test]
    fn the_finish_gives_back_the_users_counted_for_rows_that_gave_no_one_access() {
        let record = committing(Reservation { lots: vec![], included: 3, new_users: 3 });
        let mut issued = Issued::default();
        let seats = [
            Seat::Issued { lot: None, gave_access: true },
            Seat::Issued { lot: None, gave_access: false },
            Seat::Unused,
        ];
        for seat in &seats {
            tally(&mut issued, seat);
        }
        let by = Principal::new("s", "cm@c.test", "c", Role::CompanyManager);
        let done = finish(&company(), &record, &issued, &[], 0, &by, at("2026-02-01T10:00:00Z"));
        let Some(Change::Counters { change, .. }) = done.changes.first() else { panic!("{:?}", done.changes) };
        assert_eq!((change.with_access, change.included_in_use, change.seats_held), (-2, -1, -1));
    }

    #[test]
    fn the_finish_gives_back_exactly_the_seats_that_issued_no_licence() {
        let lot = ReservedLot { lot_id: "l1".into(), valid_until: None, count: 3 };
        let record = committing(Reservation { lots: vec![lot], included: 1, new_users: 0 });
        let mut issued = Issued::default();
        let one = Seat::Issued { lot: Some("l1".into()), gave_access: false };
        for seat in [one.clone(), one, Seat::Unused, Seat::Unused] {
            tally(&mut issued, &seat);
        }
        let by = Principal::new("s", "cm@c.test", "c", Role::CompanyManager);
        let now = at("2026-02-01T10:00:00Z");
        let done = finish(&company(), &record, &issued, &[], 0, &by, now);
        assert_eq!((done.outcome.status, done.outcome.allocated), (ImportStatus::Committed, 2));
        let [Change::UnreserveLot { lot_id, seats: 1, .. }, Change::Counters { change, .. }, Change::Import { expected: Some(ImportStatus::Committing), .. }, Change::Audit(_)] =
            done.changes.as_slice()
        else {
            panic!("{:?}", done.changes)
        };
        assert_eq!((lot_id.as_str(), change.seats_held, change.included_in_use), ("l1", -2, -1));
    }
}
