//! Allocation: issuing licences to users from the balance (docs/domain.md#allocation).
//!
//! All or nothing: either every user who needs a licence gets one, or nobody does. Seats come
//! from the lot that ends first and still has room, then from the org's included seats (a lot
//! that never expires and is used last). A user who holds a seat already costs nothing.
//!
//! `uses_per_seat = N` caps the licences a lot of Q seats issues at N × Q (its `uses`); a
//! released seat passes to another user only while that count allows. Re-allocating a user who
//! was released counts as a use: a licence is issued again. Under `term_starts = assignment`
//! a lot's life is its licence year, so the cap is per licence year.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::lot::Lot;
use super::policy::Policy;
use super::user::{self, Licence, User};
use super::{validate, DomainError};

/// The most users one allocation call licenses (one DynamoDB transaction); CSV imports take more.
pub const MAX_USERS_PER_CALL: usize = 90;

/// `POST /v1/orgs/{org_id}/allocations`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocateRequest {
    #[serde(default)]
    pub emails: Option<Vec<String>>,
    #[serde(default)]
    pub all_expired: bool,
    #[serde(default)]
    pub create_missing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allocated,
    AlreadyActive,
    UnknownUser,
    InvalidEmail,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub email: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence: Option<serde_json::Value>,
}

/// The seats an org can issue from now: its lots (first-expiring first) and included seats.
#[derive(Debug, Clone)]
pub struct Balance {
    pub lots: Vec<Lot>,
    pub seats_included: u32,
    pub included_in_use: u32,
}

impl Balance {
    fn live_lots(&self, now: DateTime<Utc>) -> impl Iterator<Item = &Lot> {
        self.lots.iter().filter(move |l| l.status_at(now) == super::lot::LotStatus::Active)
    }

    pub fn included_free(&self) -> u32 {
        self.seats_included.saturating_sub(self.included_in_use)
    }

    /// How many more users can get a licence now (`remaining`, docs/domain.md#licences-and-the-balance).
    pub fn available(&self, now: DateTime<Utc>) -> u64 {
        self.live_lots(now).map(|l| l.available(now) as u64).sum::<u64>() + self.included_free() as u64
    }

    /// Licences in unexpired lots plus included seats.
    pub fn limit(&self, now: DateTime<Utc>) -> u64 {
        self.live_lots(now).map(|l| l.quantity as u64).sum::<u64>() + self.seats_included as u64
    }

    /// Seats held now from unexpired lots and included seats.
    pub fn used(&self, now: DateTime<Utc>) -> u64 {
        self.live_lots(now).map(|l| l.in_use as u64).sum::<u64>() + self.included_in_use as u64
    }

    /// The refusal when `needed` seats are not there, saying how to get more (docs/domain.md#allocation).
    pub fn shortfall(&self, needed: u64, now: DateTime<Utc>) -> DomainError {
        let available = self.available(now);
        let limit = self.limit(now);
        DomainError::InsufficientLicences {
            message: format!(
                "{needed} licences are needed but {available} are available: the org has {limit} seats \
                 ({} ordered, {} included) and {} are in use. Request more licences, or release \
                 users who no longer need one.",
                limit - self.seats_included as u64,
                self.seats_included,
                self.used(now)
            ),
            needed,
            available,
        }
    }
}

/// Seats set aside for `total()` users: from lots, first-expiring first, then included seats.
/// Seat `i` always comes from the same place, so a resumed import gives every row the seat the
/// first attempt gave it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub lots: Vec<ReservedLot>,
    pub included: u32,
    /// Users with access counted for the rows that give access to a user who has none; those
    /// that turn out not to go back at the finish.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub new_users: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservedLot {
    pub lot_id: String,
    pub valid_until: Option<DateTime<Utc>>,
    pub count: u32,
}

impl Reservation {
    pub fn total(&self) -> u32 {
        self.lots.iter().map(|l| l.count).sum::<u32>() + self.included
    }

    /// Where seat `i` comes from: a lot (id and end) or, with `None`, an included seat.
    pub fn seat(&self, i: usize) -> Option<(Option<&str>, Option<DateTime<Utc>>)> {
        let mut rest = i;
        for l in &self.lots {
            if rest < l.count as usize {
                return Some((Some(&l.lot_id), l.valid_until));
            }
            rest -= l.count as usize;
        }
        (rest < self.included as usize).then_some((None, None))
    }
}

/// The live lots in the order seats are taken from them: first-expiring first and, within a lot
/// spread over parts, the parts in the order read (the store turns them to start at a random
/// part) for one seat, and those with the most room first for more, so that several seats take
/// as few parts — writes of the one transaction — as they can.
fn in_order(balance: &Balance, needed: u64, now: DateTime<Utc>) -> Vec<&Lot> {
    let mut lots: Vec<&Lot> = balance.live_lots(now).collect();
    if needed > 1 {
        // Stable: lots of different ends keep their order, parts of one lot keep theirs on ties.
        lots.sort_by_key(|l| (l.valid_until.is_none(), l.valid_until, std::cmp::Reverse(l.available(now))));
    }
    lots
}

/// Whether licensing `needed` users from `balance` fits one transaction: the users, the lots
/// and lot parts their seats come from, the counters and the audit entry (the idempotency
/// answer has its place beside them). A shortfall fits: it is answered without writing.
pub fn fits_one_transaction(balance: &Balance, needed: u64, now: DateTime<Utc>) -> bool {
    match reserve(balance, needed, now) {
        Ok(reservation) => needed as usize + reservation.lots.len() + 2 <= super::change::MAX_CHANGES,
        Err(_) => true,
    }
}

/// Sets aside `needed` seats, all or nothing.
pub fn reserve(balance: &Balance, needed: u64, now: DateTime<Utc>) -> Result<Reservation, DomainError> {
    if needed > balance.available(now) {
        return Err(balance.shortfall(needed, now));
    }
    let mut left = needed;
    let mut lots = Vec::new();
    for lot in in_order(balance, needed, now) {
        let take = (lot.available(now) as u64).min(left);
        if take > 0 {
            lots.push(ReservedLot { lot_id: lot.lot_id.clone(), valid_until: lot.valid_until, count: take as u32 });
            left -= take;
        }
    }
    Ok(Reservation { lots, included: left as u32, new_users: 0 })
}

/// What an allocation changes, for the store to commit in one transaction.
#[derive(Debug, Clone)]
pub struct Plan {
    pub rows: Vec<Row>,
    /// Users with their new licence; `created` when the user did not exist.
    pub licensed: Vec<(User, bool)>,
    /// Seats taken per lot (by lot id).
    pub lot_debits: BTreeMap<String, u32>,
    pub included_debit: u32,
    /// Users given access who had none: created, or restored after a release.
    pub adds: u64,
}

/// One requested e-mail and the user found under it.
pub struct Candidate {
    pub raw: String,
    pub user: Option<User>,
}

/// What one e-mail of a batch of licences needs — an allocation's e-mails, an import's rows, a
/// large allocation's job alike (docs/domain.md#the-review). Decided by [`Needs::of`], the one
/// place that says who needs a licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Not an e-mail.
    Invalid,
    /// The same e-mail came earlier in the batch: decided there.
    Repeated,
    /// Its user holds a seat now (a pending or active licence): it costs nothing.
    Holds,
    /// No user of the org has it, and the batch does not create users.
    Unknown,
    /// A licence, for the user found or (`create`) for a user made for it.
    Licence { create: bool },
}

/// Decides what each e-mail of one batch needs, in the batch's order. What it remembers across
/// the batch — which e-mails came before — is one 64-bit hash per e-mail, not the e-mails, so a
/// file of 1,000,000 rows is decided in a few MB. (Two e-mails share a hash with a chance of
/// about 1 in 3·10⁷ in such a file; the later one would be taken for a repeat.)
#[derive(Debug)]
pub struct Needs {
    now: DateTime<Utc>,
    create_missing: bool,
    seen: std::collections::HashSet<u64>,
}

/// The hash [`Needs`] remembers an e-mail by (SipHash with fixed keys). A set of them lives in
/// one process only: a resumed commit builds its own from the stored rows.
fn email_hash(email: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    email.hash(&mut h);
    h.finish()
}

impl Needs {
    /// For a batch that creates the users it does not find (`create_missing`), or not.
    pub fn new(create_missing: bool, now: DateTime<Utc>) -> Self {
        Needs { now, create_missing, seen: std::collections::HashSet::new() }
    }

    /// What `raw` needs, given the user found under its e-mail (`user`, looked up by the e-mail
    /// as [`validate::email`] spells it); with that e-mail, or `raw` trimmed when it is none.
    pub fn of<'u>(&mut self, raw: &str, user: impl FnOnce(&str) -> Option<&'u User>) -> (String, Need) {
        let Ok(email) = validate::email("email", raw) else {
            return (raw.trim().to_string(), Need::Invalid);
        };
        if !self.seen.insert(email_hash(&email)) {
            return (email, Need::Repeated);
        }
        let need = match user(&email) {
            Some(u) if u.holds_seat(self.now) => Need::Holds,
            Some(_) => Need::Licence { create: false },
            None if self.create_missing => Need::Licence { create: true },
            None => Need::Unknown,
        };
        (email, need)
    }

    /// Remembers `email` as one that came before (rows decided by an earlier pass).
    pub fn saw(&mut self, email: &str) {
        self.seen.insert(email_hash(email));
    }

    /// Whether `email` came in the batch.
    pub fn came(&self, email: &str) -> bool {
        self.seen.contains(&email_hash(email))
    }
}

/// Who of `candidates` an allocation would license ([`Needs::of`]): the e-mail, and `true`
/// beside it for a user to create.
pub fn needing(candidates: &[Candidate], create_missing: bool, now: DateTime<Utc>) -> Vec<(String, bool)> {
    let mut needs = Needs::new(create_missing, now);
    candidates
        .iter()
        .filter_map(|c| match needs.of(&c.raw, |_| c.user.as_ref()) {
            (email, Need::Licence { create }) => Some((email, create)),
            _ => None,
        })
        .collect()
}

/// Decides an allocation. `next_id` names each new licence.
pub fn plan(
    org_id: &str,
    candidates: Vec<Candidate>,
    create_missing: bool,
    balance: &Balance,
    policy: &Policy,
    now: DateTime<Utc>,
    mut next_id: impl FnMut() -> String,
) -> Result<Plan, DomainError> {
    let mut rows = Vec::new();
    let mut needing: Vec<(User, bool)> = Vec::new();
    let mut needs = Needs::new(create_missing, now);
    for c in candidates {
        let (email, need) = needs.of(&c.raw, |_| c.user.as_ref());
        match (need, c.user) {
            (Need::Invalid, _) => rows.push(Row { email, outcome: Outcome::InvalidEmail, licence: None }),
            (Need::Repeated, _) => {}
            (Need::Holds, u) => {
                let licence = u.as_ref().and_then(|u| u.licence.as_ref()).map(|l| user::licence_view(l, now));
                rows.push(Row { email, outcome: Outcome::AlreadyActive, licence });
            }
            (Need::Unknown, _) => rows.push(Row { email, outcome: Outcome::UnknownUser, licence: None }),
            (Need::Licence { create: false }, Some(u)) => needing.push((u, false)),
            (Need::Licence { .. }, _) => needing.push((User::new(org_id, &email, now), true)),
        }
    }
    if needing.len() > MAX_USERS_PER_CALL {
        return Err(DomainError::invalid(
            "emails",
            format!("at most {MAX_USERS_PER_CALL} users can be licensed in one call; use an import for more"),
        ));
    }
    let reservation = reserve(balance, needing.len() as u64, now)?;
    let adds = needing.iter().filter(|(u, created)| *created || u.released_at.is_some()).count() as u64;
    let mut licensed = Vec::new();
    for (i, (u, created)) in needing.into_iter().enumerate() {
        let (lot_id, end) = reservation.seat(i).expect("reserved one seat per user");
        let next = user::issue(&u, next_id(), lot_id.map(str::to_string), end, policy, now);
        rows.push(Row {
            email: next.email.clone(),
            outcome: Outcome::Allocated,
            licence: next.licence.as_ref().map(|l: &Licence| user::licence_view(l, now)),
        });
        licensed.push((next, created));
    }
    let lot_debits = reservation.lots.iter().map(|l| (l.lot_id.clone(), l.count)).collect();
    Ok(Plan { rows, licensed, lot_debits, included_debit: reservation.included, adds })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lot::LotStatus;
    use crate::domain::user::LicenceStatus;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn lot(id: &str, quantity: u32, in_use: u32, uses: u32, cap: Option<u32>, end: &str) -> Lot {
        Lot {
            lot_id: id.into(),
            org_id: "c".into(),
            order_id: "o".into(),
            quantity,
            reduced: 0,
            in_use,
            uses,
            uses_per_seat: cap,
            valid_from: at("2026-01-15T09:00:00Z"),
            valid_until: Some(at(end)),
            status: LotStatus::Active,
            pro_rata_fraction: None,
            parts: 0,
            part_of: None,
            reminded_for: None,
        }
    }

    fn learners(n: usize, now: DateTime<Utc>) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                raw: format!("l{i}@c.example"),
                user: Some(User::new("c", &format!("l{i}@c.example"), now)),
            })
            .collect()
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("lic{n}")
        }
    }

    /// A lot in parts: one seat comes from the part read first (the store turns the parts to
    /// start at a random one), several from the parts with most room first, so as few parts
    /// as can be are written; short only when every part together is.
    #[test]
    fn several_seats_take_the_roomiest_parts_first_and_only_every_part_together_is_short() {
        let now = at("2026-02-01T00:00:00Z");
        let end = "2027-01-15T09:00:00Z";
        let part = |id: &str, in_use: u32| Lot {
            part_of: Some("l".into()),
            parts: 3,
            ..lot(id, 16, in_use, in_use, None, end)
        };
        let first = Lot { parts: 3, ..lot("l", 16, 10, 10, None, end) };
        let balance =
            Balance { lots: vec![first, part("l-p01", 0), part("l-p02", 4)], seats_included: 0, included_in_use: 0 };
        let taken = |r: Reservation| r.lots.into_iter().map(|l| (l.lot_id, l.count)).collect::<Vec<_>>();
        assert_eq!(taken(reserve(&balance, 1, now).unwrap()), vec![("l".to_string(), 1)]);
        assert_eq!(
            taken(reserve(&balance, 20, now).unwrap()),
            vec![("l-p01".to_string(), 16), ("l-p02".to_string(), 4)]
        );
        assert_eq!(reserve(&balance, 34, now).unwrap().total(), 34);
        let short = reserve(&balance, 35, now).unwrap_err();
        assert_eq!(short.details(), serde_json::json!({"needed": 35, "available": 34}));
    }

    #[test]
    fn a_list_fits_one_transaction_while_its_users_and_their_lots_do() {
        let now = at("2026-02-01T00:00:00Z");
        let lots = (0..20).map(|i| lot(&format!("l{i:02}"), 5, 0, 0, None, "2027-01-15T09:00:00Z")).collect();
        let balance = Balance { lots, seats_included: 0, included_in_use: 0 };
        assert!(fits_one_transaction(&balance, 48, now), "48 users, 10 lots");
        assert!(fits_one_transaction(&balance, 80, now), "80 users, 16 lots: 98 writes");
        assert!(!fits_one_transaction(&balance, 90, now), "90 users, 18 lots: 110 writes");
        assert!(fits_one_transaction(&balance, 101, now), "a shortfall writes nothing");
    }

    /// Worked example 2 (docs/domain.md#example-2-all-or-nothing).
    #[test]
    fn worked_case_2_twelve_learners_with_ten_in_the_balance_is_refused_ten_are_licensed() {
        let now = at("2026-02-01T00:00:00Z");
        let balance = Balance {
            lots: vec![lot("l1", 10, 0, 0, None, "2027-01-15T09:00:00Z")],
            seats_included: 0,
            included_in_use: 0,
        };
        let err = plan("c", learners(12, now), false, &balance, &Policy::resolve([]), now, ids()).unwrap_err();
        assert_eq!(err.details(), serde_json::json!({"needed": 12, "available": 10}));
        assert_eq!(err.code(), "insufficient_licences");
        let p = plan("c", learners(10, now), false, &balance, &Policy::resolve([]), now, ids()).unwrap();
        assert_eq!(p.licensed.len(), 10);
        assert!(p.licensed.iter().all(|(u, _)| {
            let l = u.licence.as_ref().unwrap();
            l.status == LicenceStatus::Active && l.valid_until == Some(at("2027-01-15T09:00:00Z"))
        }));
        assert_eq!(p.lot_debits.get("l1"), Some(&10));
    }

    #[test]
    fn the_lot_that_ends_first_goes_first_then_included_seats() {
        let now = at("2026-02-01T00:00:00Z");
        let balance = Balance {
            lots: vec![
                lot("early", 2, 1, 1, None, "2026-06-01T00:00:00Z"),
                lot("late", 3, 0, 0, None, "2027-01-01T00:00:00Z"),
            ],
            seats_included: 1,
            included_in_use: 0,
        };
        let p = plan("c", learners(5, now), false, &balance, &Policy::resolve([]), now, ids()).unwrap();
        assert_eq!(p.lot_debits.get("early"), Some(&1));
        assert_eq!(p.lot_debits.get("late"), Some(&3));
        assert_eq!(p.included_debit, 1);
        let included = p.licensed.iter().filter(|(u, _)| u.licence.as_ref().unwrap().lot_id.is_none()).count();
        assert_eq!(included, 1);
        assert!(plan("c", learners(6, now), false, &balance, &Policy::resolve([]), now, ids()).is_err());
    }

    #[test]
    fn rows_report_already_active_unknown_and_invalid_and_cost_nothing() {
        let now = at("2026-02-01T00:00:00Z");
        let balance = Balance {
            lots: vec![lot("l1", 1, 0, 0, None, "2027-01-01T00:00:00Z")],
            seats_included: 0,
            included_in_use: 0,
        };
        let holder = user::issue(
            &User::new("c", "has@c.example", now),
            "x".into(),
            Some("l0".into()),
            Some(at("2027-01-01T00:00:00Z")),
            &Policy::resolve([]),
            now,
        );
        let candidates = vec![
            Candidate { raw: " HAS@c.example ".into(), user: Some(holder) },
            Candidate { raw: "ghost@c.example".into(), user: None },
            Candidate { raw: "not-an-email".into(), user: None },
            Candidate { raw: "new@c.example".into(), user: Some(User::new("c", "new@c.example", now)) },
            Candidate { raw: "NEW@c.example".into(), user: Some(User::new("c", "new@c.example", now)) },
        ];
        let p = plan("c", candidates, false, &balance, &Policy::resolve([]), now, ids()).unwrap();
        let outcomes: Vec<_> = p.rows.iter().map(|r| (r.email.as_str(), r.outcome)).collect();
        assert_eq!(
            outcomes,
            vec![
                ("has@c.example", Outcome::AlreadyActive),
                ("ghost@c.example", Outcome::UnknownUser),
                ("not-an-email", Outcome::InvalidEmail),
                ("new@c.example", Outcome::Allocated),
            ]
        );
        assert_eq!(p.licensed.len(), 1);
    }

    #[test]
    fn create_missing_makes_the_user() {
        let now = at("2026-02-01T00:00:00Z");
        let balance = Balance {
            lots: vec![lot("l1", 1, 0, 0, None, "2027-01-01T00:00:00Z")],
            seats_included: 0,
            included_in_use: 0,
        };
        let p = plan(
            "c",
            vec![Candidate { raw: "fresh@c.example".into(), user: None }],
            true,
            &balance,
            &Policy::resolve([]),
            now,
            ids(),
        )
        .unwrap();
        assert!(p.licensed[0].1);
        assert_eq!(p.licensed[0].0.licence_count, 1);
    }

    #[test]
    fn a_lot_capped_at_three_uses_per_seat_stops_at_three_times_its_quantity() {
        let now = at("2026-02-01T00:00:00Z");
        // 2 seats, all free again after 5 licences were issued: one more use is left.
        let balance = Balance {
            lots: vec![lot("l1", 2, 0, 5, Some(3), "2027-01-01T00:00:00Z")],
            seats_included: 0,
            included_in_use: 0,
        };
        assert_eq!(balance.available(now), 1);
        assert!(plan("c", learners(1, now), false, &balance, &Policy::resolve([]), now, ids()).is_ok());
        let err = plan("c", learners(2, now), false, &balance, &Policy::resolve([]), now, ids()).unwrap_err();
        assert_eq!(err.details()["available"], 1);
    }

    /// Example 7 (docs/domain.md#example-7-the-26th-user): 24 ordered + 1 included = 25; the 26th is refused with
    /// the seats, the used count and how to get more.
    #[test]
    fn worked_case_7_the_26th_user_is_refused_with_a_clear_message() {
        let now = at("2026-02-01T00:00:00Z");
        let balance = Balance {
            lots: vec![lot("l1", 24, 24, 24, None, "2027-01-01T00:00:00Z")],
            seats_included: 1,
            included_in_use: 1,
        };
        assert_eq!((balance.limit(now), balance.used(now), balance.available(now)), (25, 25, 0));
        let err = plan("c", learners(1, now), false, &balance, &Policy::resolve([]), now, ids()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("25 seats (24 ordered, 1 included)")
                && message.contains("25 are in use")
                && message.contains("Request more licences")
                && !message.contains("/v1"),
            "{message}"
        );
    }

    #[test]
    fn an_expired_lot_gives_nothing() {
        let now = at("2027-02-01T00:00:00Z");
        let balance = Balance {
            lots: vec![lot("l1", 10, 0, 0, None, "2027-01-15T09:00:00Z")],
            seats_included: 0,
            included_in_use: 0,
        };
        assert_eq!(balance.available(now), 0);
        assert_eq!(balance.limit(now), 0);
    }
}
