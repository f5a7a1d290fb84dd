//! The single-table layout — the one place it is written down.
//!
//! One table, string keys `PK`/`SK`, four overloaded global secondary indexes (`GSI1`..`GSI4`,
//! projection ALL) and a TTL attribute `expires_at`. Every item carries `type`. Times inside
//! sort keys are fixed-width UTC (`2027-01-15T09:00:00.000Z`) so they sort as text. Caller-chosen
//! ids are limited to `[A-Za-z0-9._-]` and e-mails to a domain without `#`, so no key part can
//! contain the `#` separator in a way that reaches into a neighbour's prefix.
//!
//! | type | PK | SK | GSI1 | GSI2 | GSI3 / GSI4 |
//! |---|---|---|---|---|---|
//! | `org_id` (guard: one org per id ignoring case) | `ORGID#{org folded to lower case}` | `ORGID` | | | |
//! | `org` | `ORG#{org}` | `ORG` | `ORG#{parent}#CHILDREN` / `ORG#{org}` | `ORGS` / `ORG#{org}` | GSI4 tree: `TREE#{root}` / `{path}#ORG` |
//! | `counters` (per-org running counts) | `ORG#{org}` | `COUNTERS` | | | GSI4 tree: `TREE#{root}` / `{path}#COUNTERS` |
//! | `counters` (a spread item: `seats_held` and unlimited `active_users` alone, one of 32) | `ORG#{org}` | `COUNTERS#{00..31}` | | | GSI4 tree: `TREE#{root}` / `{path}#COUNTERS#{nn}` |
//! | `usage` (overage as of the last snapshot) | `ORG#{org}` | `USAGE` | | | GSI4 tree: `TREE#{root}` / `{path}#USAGE` |
//! | `order` | `ORDER#{order}` | `ORDER` | | | |
//! | `order_entry` (one per org of the company's chain, itself included) | `ORG#{org}` | `ORDER#{requested_at}#{order}` | `ORG#{org}#ORDERS#{status}` / `{requested_at}#{order}` | | |
//! | `lot` (a large lot: one item per part, `{lot}` then `{lot}-p01`…) | `ORG#{org}` | `LOT#{valid_until or 9999}#{lot}` | its first part, when it ends: `ENDS#{the org below the vendor above it}` / `{valid_until}#{org}#{lot}` | `DUE#{shard}` / `W#{wake}#LOT#{org}#{lot}` while not expired and ending (wake: `{valid_until − 72h}`, then `{valid_until}` once in its day of expiries) | GSI4 tree: `TREE#{root}` / `{path}#LOT#{lot}` while not expired; its first part, when it ends, GSI3 `ENDS#{root}` / as GSI1 |
//! | `user` (with its current licence) | `ORG#{org}` | `USER#{email}` | `ORG#{org}#LICENCES#{status}` / `{email}` while it has a licence | `DUE#{shard}` / `W#{wake}#USER#{org}#{email}` while the licence is active and ending (wake as a lot's) | GSI3 `RENEW#{shard}` / `{renewal_at}#{org}#{email}` and GSI4 `ORG#{org}#RENEWALS` / `{renewal_at}#{email}` while a renewal date is set |
//! | `manager` (marker of a manager user, for notice recipients) | `ORG#{org}` | `MANAGER#{email}` | | | |
//! | `login` (a user's last login, at most one write a day; in no index, so one write unit) | `ORG#{org}` | `LOGIN#{email}` | | | |
//! | `enrolment` | `ORG#{org}` | `ENROLMENT#{email}#{enrolment}` | `ORG#{org}#ENROLMENTS#{enrolment}` / `{email}` | `DUE#{shard}` / `W#{ends_at}#ENROLMENT#{org}#{email}#{enrolment}` while not expired and ending | |
//! | `expiry_day` (what an org's day of expiries holds for its notices, merged as its items reach their reminder horizon) | `ORG#{org}` | `EXPIRYDAY#{the org's date}` | | `DUE#{shard}` / `W#{next notice}#DAY#{org}#{date}` while a notice of it is to send | |
//! | `notice` | `ORG#{org}` | `NOTICE#{created_at}#{notice}` | | | |
//! | `notice_key` (exactly-once guard) | `ORG#{org}` | `NOTICEDAY#{kind}#{the org's date}` (expiries, blocked renewals), `NOTICEKEY#{kind}#{date}` (the forecast's month; expiries before local dates, by UTC date) | | | |
//! | `delivery` (a notice's e-mail to one recipient: the mailer's guard) | `ORG#{org}` | `DELIVERY#{notice}#{email}`, `DELIVERY#{notice}#` when it has none | | | |
//! | `suppression` (an address not mailed: a complaint for the org; in `ORG#vendor` also a hard bounce, everywhere) | `ORG#{org}` | `SUPPRESSION#{email}`, `SUPPRESSION_GLOBAL#{email}` | | | |
//! | `feedback` (an SES bounce or complaint already recorded; TTL `expires_at`) | `ORG#{org}` | `FEEDBACK#{feedback_id}#{email}` | | | |
//! | `audit` | `ORG#{org}` | `AUDIT#{at}#{entry}` | | | |
//! | `import` | `ORG#{org}` | `IMPORT#{import}` | | `LEASE` / `{lease_until}#{org}#{import}` while `committing` under a lease | |
//! | `import_rows` (review rows in chunks of 1,000, file order; TTL `expires_at` until the review is confirmed) | `ORG#{org}#IMPORT#{import}` | `ROWS#{chunk:06}` | | | |
//! | `import_release` (users a sync releases, in chunks; TTL as the rows) | `ORG#{org}#IMPORT#{import}` | `RELEASE#{chunk:06}` | | | |
//! | `import_progress` (how many licences a commit wrote) | `ORG#{org}#IMPORT#{import}` | `PROGRESS` | | | |
//! | the same three, of an import recorded before rows moved under their org (read, never made anew) | `IMPORT#{import}` | as above | | | |
//! | `steps` (the rest of a decision too large for one transaction, applied in steps; TTL `expires_at` once finished) | `ORG#{org}` | `STEPS#{email}#{plan}` | | `STEPS` / `{lease_until}#{org}#{plan}` until finished | |
//! | `erasure` (a user's personal data erased: the job's record, the e-mail kept until it is done) | `ORG#{org}` | `ERASURE#{pseudonym}` | | `ERASURE` / `{lease_until}#{org}#{pseudonym}` while `erasing` | |
//! | `snapshot` (daily usage) | `ORG#{org}` | `SNAPSHOT#{date}` | | | |
//! | `idempotency` (TTL `expires_at`) | `IDEM#{sha256(sub, key)}` | `IDEM` | | | |
//!
//! Access patterns and the key or index that serves each:
//! - org by id: `GetItem ORG#{org}/ORG`; its chain: `BatchGetItem` of its `ancestors`.
//! - whether an id is taken ignoring case: `GetItem ORGID#{folded}/ORGID`, written with `attribute_not_exists`
//!   in the transaction that creates the org.
//! - children of an org: `Query GSI1 ORG#{parent}#CHILDREN`.
//! - every org (daily usage snapshot): `Query GSI2 ORGS`.
//! - order by id: `GetItem ORDER#{order}/ORDER`.
//! - orders of an org and everything below it, newest first, by date range:
//!   `Query ORG#{org} SK BETWEEN ORDER#{from} AND ORDER#{to}` descending; by status:
//!   `Query GSI1 ORG#{org}#ORDERS#{status}`. This serves a partner's requested orders across
//!   all its customers, and the vendor's view of everything.
//! - lots of an org, first-expiring first (allocation order): `Query ORG#{org} SK begins_with LOT#`.
//! - the lots of a partner's customers (or of every customer, for the vendor) ending in a window,
//!   soonest first (the renewals ahead): `Query GSI1 ENDS#{partner}` (`GSI3 ENDS#{vendor}`)
//!   `BETWEEN {from} AND {to}#~`, each lot's other parts then read by key. Written with the lot and
//!   kept after it ends: a window starts now, so an ended lot is never in it.
//! - items due by instant (expire sweep): `Query GSI2 DUE#{0..3} GSI2SK BETWEEN W# AND W#{now}`,
//!   page by page. An item is keyed by its next wake (`W#{wake}#{KIND}#{id}`): a licence or lot
//!   at its reminder horizon (its end − 72 h), then, once merged into its org's day of expiries
//!   (`ORG#{org}/EXPIRYDAY#{date}`, itself keyed by its next notice), at its end; an enrolment at
//!   its end. Keys written before (`{end}#…`) are read `<= {now + 72h}` and re-keyed as they are
//!   met. The attributes are removed when an item is expired, so the index holds only what may
//!   fall due.
//! - users due for renewal: `Query GSI3 RENEW#{0..3} GSI3SK <= {now}`; one org's renewal
//!   forecast: `Query GSI4 ORG#{org}#RENEWALS GSI4SK <= {until}`.
//! - a user and its licence: `GetItem ORG#{org}/USER#{email}`; users of an org, or those whose
//!   e-mail starts with a prefix: `Query ORG#{org} SK begins_with USER#{prefix}` (by licence
//!   status now: the same query, filtered as it is read); licences of an org by status:
//!   `Query GSI1 ORG#{org}#LICENCES#{status}`.
//! - a user's enrolments (all, or a page): `Query ORG#{org} SK begins_with ENROLMENT#{email}#`;
//!   every enrolment of an org ("Enrolments > All"): `... begins_with ENROLMENT#`; those of one
//!   learning experience: `Query GSI1 ORG#{org}#ENROLMENTS#{enrolment}` (by e-mail).
//! - an org's running counts (seats held, included seats in use, active users, distinct users of
//!   the licence year): `Query ORG#{org} SK begins_with COUNTERS`, the counters item and its
//!   spread items summed.
//! - managers to notify: `Query ORG#{org} SK begins_with MANAGER#`.
//! - whether the mailer may mail an address for an org: `BatchGetItem` of
//!   `ORG#{org}/SUPPRESSION#{email}` and `ORG#vendor/SUPPRESSION_GLOBAL#{email}` (two keys a
//!   recipient); an org's suppressions: `Query ORG#{org} SK begins_with SUPPRESSION`.
//! - notices, audit, imports of an org, newest first: `Query ORG#{org} SK begins_with NOTICE#|AUDIT#|IMPORT#`.
//! - an import's rows: `Query ORG#{org}#IMPORT#{import} SK begins_with ROWS#` (a page of them from
//!   a chunk on: `SK BETWEEN ROWS#{chunk} AND ROWS#999999`), who a sync releases: `... RELEASE#`
//!   (an import recorded before rows moved under their org: the same under `IMPORT#{import}`; its
//!   record says which); snapshots: `Query ORG#{org} SK begins_with SNAPSHOT#`.
//! - commits whose lease has passed (the lease sweep): `Query GSI2 LEASE GSI2SK <= {now}`; the
//!   attributes go when the record leaves `committing`, so the index holds only commits going on.
//! - plans of steps whose lease has passed (the lease sweep): `Query GSI2 STEPS GSI2SK <= {now}`;
//!   a user's unfinished plans (finished before its enrolment changes):
//!   `Query ORG#{org} SK begins_with STEPS#{email}#`.
//! - idempotency record: `GetItem IDEM#{hash}/IDEM`, written in the command's own transaction.
//! - everything a usage report of an org and all orgs below it reads (their org items, running
//!   counts, unexpired lots and overage state): one `Query GSI4 TREE#{root} GSI4SK begins_with
//!   {path}`, where `{path}` is the org's chain of ids, root first, each followed by `/` (ids
//!   cannot hold `/`, so one org's path is never the prefix of a sibling's). The partition takes
//!   every counter and lot write of the tree; each org's items sit in their own sort-key range, so
//!   DynamoDB can split the partition by range under load; the seats an allocation takes and
//!   counts are spread over a lot's parts and the counters' spread items, so no one item takes
//!   a company's every allocation (docs/architecture.md#seat-parts).
//!
//! `DUE` and `RENEW` are spread over four shards (a stable hash of the item's id) so a bulk
//! allocation does not funnel every write into one index partition.

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const GSI3: &str = "GSI3";
pub const GSI3PK: &str = "GSI3PK";
pub const GSI3SK: &str = "GSI3SK";
pub const GSI4: &str = "GSI4";
pub const GSI4PK: &str = "GSI4PK";
pub const GSI4SK: &str = "GSI4SK";
pub const TYPE: &str = "type";
pub const EXPIRES_AT: &str = "expires_at";

pub const DUE_SHARDS: u8 = 4;

/// Fixed-width UTC time for sort keys.
pub fn sort_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn org(org_id: &str) -> String {
    format!("ORG#{org_id}")
}

pub const ORG_SK: &str = "ORG";

/// The guard of an org id folded to lower case ([`crate::domain::org::folded_id`]): one org
/// per id ignoring case.
pub fn org_id_guard(folded: &str) -> String {
    format!("ORGID#{folded}")
}

pub const ORG_ID_GUARD_SK: &str = "ORGID";

/// The record that the table's setup ran migration `name` (in the vendor root's partition).
pub fn migration_sk(name: &str) -> String {
    format!("MIGRATION#{name}")
}

pub fn children(parent_id: &str) -> String {
    format!("ORG#{parent_id}#CHILDREN")
}

pub const ALL_ORGS: &str = "ORGS";

pub fn order(order_id: &str) -> String {
    format!("ORDER#{order_id}")
}

pub const ORDER_SK: &str = "ORDER";

pub fn order_entry_sk(requested_at: DateTime<Utc>, order_id: &str) -> String {
    format!("ORDER#{}#{order_id}", sort_time(requested_at))
}

/// The range of an org's order list entries requested from `lo` to `hi` (sort times, or the
/// bounds `0` and `~`).
pub fn order_entries_between(lo: &str, hi: &str) -> (String, String) {
    (format!("ORDER#{lo}"), format!("ORDER#{hi}"))
}

pub fn orders_by_status(org_id: &str, status: &str) -> String {
    format!("ORG#{org_id}#ORDERS#{status}")
}

pub fn order_entry_gsi1sk(requested_at: DateTime<Utc>, order_id: &str) -> String {
    format!("{}#{order_id}", sort_time(requested_at))
}

pub fn lot_sk(valid_until: Option<DateTime<Utc>>, lot_id: &str) -> String {
    let end = valid_until.map(sort_time).unwrap_or_else(|| "9999".to_string());
    format!("LOT#{end}#{lot_id}")
}

/// The lots of the customers below `org_id` by their end (a lot's first part, in GSI1 under its
/// company's parent, in GSI3 under the vendor root): `ENDS#{org}`.
pub fn ends(org_id: &str) -> String {
    format!("ENDS#{org_id}")
}

/// A lot's place among those ending: `{valid_until}#{org}#{lot}`, so a window of ends is one range.
pub fn ends_sk(valid_until: DateTime<Utc>, org_id: &str, lot_id: &str) -> String {
    format!("{}#{org_id}#{lot_id}", sort_time(valid_until))
}

/// The sort keys of the lots ending from `from` to `to`: `{from}` up to just after `{to}`.
pub fn ends_between(from: DateTime<Utc>, to: DateTime<Utc>) -> (String, String) {
    (sort_time(from), format!("{}#~", sort_time(to)))
}

/// The sort keys of the lots that end after `now`, and of those that never end (a lot's key
/// starts with its end, [`lot_sk`]): from just after `now`'s instant to the end of the lots.
pub fn lots_ending_after(now: DateTime<Utc>) -> (String, String) {
    (format!("LOT#{}#", sort_time(now)), "LOT#~".to_string())
}

/// Every lot of an org, first-expiring first.
pub fn lots_prefix() -> &'static str {
    "LOT#"
}

/// A lot's place in its org's usage tree (GSI4SK after the org's path).
pub fn lot_in_tree(lot_id: &str) -> String {
    format!("LOT#{lot_id}")
}

/// The shard of the due-by-instant and renewal indexes an id falls in.
pub fn shard(id: &str) -> u8 {
    Sha256::digest(id.as_bytes())[0] % DUE_SHARDS
}

pub fn due(id: &str) -> String {
    format!("DUE#{}", shard(id))
}

/// The prefix of a due-index sort key written by wake instant ([`due_sk`]); keys written
/// before (`{end}#{KIND}#…`, starting with a digit) sort before it.
pub const DUE_WAKE: &str = "W#";

/// The due-index sort key of an item: the instant the expire sweep next has work for it (its
/// reminder horizon, then its end: `domain::expiry::wake`), its kind and id.
pub fn due_sk(wake: DateTime<Utc>, kind: &str, id: &str) -> String {
    format!("{DUE_WAKE}{}#{kind}#{id}", sort_time(wake))
}

/// An org's day of expiries (its own date), the summary its notices are written from.
pub fn expiry_day_sk(date: chrono::NaiveDate) -> String {
    format!("EXPIRYDAY#{date}")
}

pub fn manager_prefix() -> &'static str {
    "MANAGER#"
}

pub fn manager_sk(email: &str) -> String {
    format!("MANAGER#{email}")
}

pub const COUNTERS_SK: &str = "COUNTERS";

pub const USAGE_SK: &str = "USAGE";

/// The usage tree of a root org (GSI4).
pub fn tree(root_id: &str) -> String {
    format!("TREE#{root_id}")
}

/// A user's last login (an item of its own, in no index).
pub fn login_sk(email: &str) -> String {
    format!("LOGIN#{email}")
}

/// Every user of an org.
pub fn users_prefix() -> &'static str {
    "USER#"
}

pub fn user_sk(email: &str) -> String {
    format!("USER#{email}")
}

pub fn licences_by_status(org_id: &str, status: &str) -> String {
    format!("ORG#{org_id}#LICENCES#{status}")
}

pub fn enrolment_sk(email: &str, enrolment_id: &str) -> String {
    format!("ENROLMENT#{email}#{enrolment_id}")
}

/// An org's enrolments in one learning experience (GSI1), each under its user's e-mail.
pub fn enrolments_by_id(org_id: &str, enrolment_id: &str) -> String {
    format!("ORG#{org_id}#ENROLMENTS#{enrolment_id}")
}

/// Every enrolment of an org (`Query ORG#{org} SK begins_with`), by e-mail then enrolment id.
pub const ENROLMENTS_PREFIX: &str = "ENROLMENT#";

pub fn enrolments_of(email: &str) -> String {
    format!("ENROLMENT#{email}#")
}

pub fn renew(id: &str) -> String {
    format!("RENEW#{}", shard(id))
}

pub fn org_renewals(org_id: &str) -> String {
    format!("ORG#{org_id}#RENEWALS")
}

pub fn notices_prefix() -> &'static str {
    "NOTICE#"
}

pub fn notice_sk(created_at: DateTime<Utc>, notice_id: &str) -> String {
    format!("NOTICE#{}#{notice_id}", sort_time(created_at))
}

pub fn audit_prefix() -> &'static str {
    "AUDIT#"
}

pub fn audit_sk(at: DateTime<Utc>, entry_id: &str) -> String {
    format!("AUDIT#{}#{entry_id}", sort_time(at))
}

/// Idempotency records are keyed by caller and key; hashed so neither can shape the key.
pub fn idempotency(sub: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(sub.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    format!("IDEM#{:x}", h.finalize())
}

pub const IDEMPOTENCY_SK: &str = "IDEM";

/// The index partition of every commit going on under a lease (GSI2).
pub const LEASES: &str = "LEASE";

/// A commit's place among the leases: when its lease ends, then whose it is.
pub fn lease_gsi2sk(lease_until: DateTime<Utc>, org_id: &str, import_id: &str) -> String {
    format!("{}#{org_id}#{import_id}", sort_time(lease_until))
}

/// The index partition of every erasure of personal data going on (GSI2), by when its lease
/// ends: one whose stream deliveries ran out is handed over again by the lease sweep.
pub const ERASURES: &str = "ERASURE";

/// The index partition of every plan of steps not yet finished (GSI2).
pub const STEPS: &str = "STEPS";

/// A plan of steps in its org's partition, under the user it is about.
pub fn steps_sk(email: &str, plan_id: &str) -> String {
    format!("STEPS#{email}#{plan_id}")
}

/// The plans of steps of one user.
pub fn steps_prefix(email: &str) -> String {
    format!("STEPS#{email}#")
}

/// An import record's place in its org's partition.
pub fn erasure_sk(pseudonym: &str) -> String {
    format!("ERASURE#{pseudonym}")
}

pub fn import_sk(import_id: &str) -> String {
    format!("IMPORT#{import_id}")
}

/// The partition of an import's rows (its file's rows, the users a sync releases and the
/// commit's progress), under its org: two orgs' imports never share one, whatever their ids.
pub fn import_rows(org_id: &str, import_id: &str) -> String {
    format!("ORG#{org_id}#IMPORT#{import_id}")
}

/// The partition the rows of an import recorded before rows moved under their org were kept in
/// (still read, and finished, for those imports; never made for a new one).
pub fn legacy_import_rows(import_id: &str) -> String {
    format!("IMPORT#{import_id}")
}

/// The chunks of an import's file rows, in file order.
pub fn import_rows_prefix() -> &'static str {
    "ROWS#"
}

/// The chunks of the users an import's sync releases.
pub fn import_release_prefix() -> &'static str {
    "RELEASE#"
}

/// The small item a commit's progress is read from (`rows_done`), beside the import's rows.
pub const IMPORT_PROGRESS_SK: &str = "PROGRESS";

/// Chunk `index` of an import's rows under `prefix` ([`import_rows_prefix`] or
/// [`import_release_prefix`]): six digits, so chunks sort in order.
pub fn import_chunk_sk(prefix: &str, index: usize) -> String {
    format!("{prefix}{index:06}")
}

// ---- the sweeps' keys: index shards, notice guards, snapshots -----------------------------

/// One shard of the due-by-instant index (GSI2 `DUE#{shard}`).
pub fn due_shard(shard: u8) -> String {
    format!("DUE#{shard}")
}

/// One shard of the renewal index (GSI3 `RENEW#{shard}`).
pub fn renew_shard(shard: u8) -> String {
    format!("RENEW#{shard}")
}

/// The exactly-once guard of an org's notice of `kind` for `date`.
pub fn notice_key_sk(kind: &str, date: chrono::NaiveDate) -> String {
    format!("NOTICEKEY#{kind}#{date}")
}

/// The guard of a day's notice, the day being the org's own date in its time zone (the
/// `NOTICEKEY#` guards of expiries and blocked renewals from before were keyed by the UTC date).
pub fn notice_day_sk(kind: &str, date: chrono::NaiveDate) -> String {
    format!("NOTICEDAY#{kind}#{date}")
}

/// Every usage snapshot of an org.
pub fn snapshots_prefix() -> &'static str {
    "SNAPSHOT#"
}

/// An org's usage snapshot of one day.
pub fn snapshot_sk(date: chrono::NaiveDate) -> String {
    format!("SNAPSHOT#{date}")
}

/// The e-mail guard of a notice to one recipient (`email`), beside the notice in its org's
/// partition; a notice's deliveries are read by key, as many as it names recipients.
pub fn delivery_sk(notice_id: &str, email: &str) -> String {
    format!("DELIVERY#{notice_id}#{email}")
}

/// The record that a notice named no recipient at all.
pub fn no_recipient_sk(notice_id: &str) -> String {
    format!("DELIVERY#{notice_id}#")
}

/// An address not mailed for the org of the partition (a complaint), and — in the vendor's
/// partition — one not mailed anywhere (a hard bounce). The two prefixes never prefix each
/// other's keys; both start with [`SUPPRESSIONS_PREFIX`], so one query lists an org's.
pub fn suppression_sk(email: &str) -> String {
    format!("SUPPRESSION#{email}")
}

pub fn global_suppression_sk(email: &str) -> String {
    format!("SUPPRESSION_GLOBAL#{email}")
}

pub fn suppressions_prefix() -> &'static str {
    "SUPPRESSION"
}

/// The guard of one SES feedback report (its `feedbackId`) about one address, beside the
/// suppression it wrote, so a replayed event changes nothing; it expires (TTL).
pub fn feedback_sk(feedback_id: &str, email: &str) -> String {
    format!("FEEDBACK#{feedback_id}#{email}")
}

/// The org id of an org's partition key (`ORG#{org}`).
pub fn org_of(pk: &str) -> Option<&str> {
    pk.strip_prefix("ORG#")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_times_sort_as_text() {
        let a = sort_time("2026-01-15T09:00:00Z".parse().unwrap());
        let b = sort_time("2026-01-15T09:00:00.5Z".parse().unwrap());
        let c = sort_time("2026-01-15T10:00:00Z".parse().unwrap());
        assert_eq!(a, "2026-01-15T09:00:00.000Z");
        assert!(a < b && b < c);
    }

    #[test]
    fn lots_without_an_end_sort_last() {
        assert!(lot_sk(Some("2099-01-01T00:00:00Z".parse().unwrap()), "a") < lot_sk(None, "a"));
    }

    #[test]
    fn shards_are_stable_and_bounded() {
        assert_eq!(shard("lot-1"), shard("lot-1"));
        assert!((0..200).all(|i| shard(&format!("id{i}")) < DUE_SHARDS));
    }

    #[test]
    fn two_orgs_never_share_an_import_partition() {
        assert_ne!(import_rows("a", "imp_1"), import_rows("b", "imp_1"));
        assert_ne!(import_rows("a", "imp_1"), org("a"));
        assert_eq!(legacy_import_rows("imp_1"), "IMPORT#imp_1");
    }

    #[test]
    fn idempotency_keys_do_not_collide_across_callers() {
        assert_ne!(idempotency("a", "bc"), idempotency("ab", "c"));
    }
}
