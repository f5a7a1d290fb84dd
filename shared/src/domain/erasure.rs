//! Erasing a user's personal data (docs/domain.md#erasing-personal-data): the e-mail and the
//! name replaced by a random pseudonym wherever the company's own items hold them, the counts
//! kept, so the usage history still adds up.
//!
//! The request moves the user item to the pseudonym at once (no name) and records the erasure;
//! the rest — the enrolments, the login, the org's audit entries, notices, their e-mail guards,
//! its days of expiries and its imports' rows — hold the e-mail in keys or text without an index
//! by e-mail, so a background job walks the org's own partitions and rewrites them
//! ([`crate::store::erasure`]). The record keeps the e-mail only until that job is done.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The domain every pseudonym is in: reserved, never delivered (RFC 2606).
pub const PSEUDONYM_DOMAIN: &str = "erased.invalid";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStatus {
    /// The user item is moved; the job rewrites the rest.
    Erasing,
    /// Every item the job reaches holds the pseudonym; the e-mail is gone from the record too.
    Erased,
}

/// The most enrolments the request moves to the pseudonym itself, in its transaction (each a put
/// and a delete, beside the user's three writes, the record and the audit entry, within one
/// transaction's 100): a user with more has them moved by the job, seconds later.
pub const ENROLMENTS_MOVED_BY_THE_REQUEST: usize = 40;

/// How long a run of the job holds an erasure: longer than a run (the job runner's slice) and
/// its redeliveries' pauses. Once it has passed with the erasure still going (the stream's
/// deliveries ran out, or a run died), the lease sweep hands it over to the job runner again.
pub const ERASURE_LEASE_MINUTES: i64 = 20;

/// An erasure of one user of `org_id`, by its pseudonym.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Erasure {
    pub org_id: String,
    pub pseudonym: String,
    /// The e-mail erased, kept only while the job still has items to rewrite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's name, as long as the e-mail (an audit entry of the user may quote it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub status: ErasureStatus,
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// How many times the job handed what was left to its next run (each run is bounded).
    #[serde(default)]
    pub handovers: u32,
    /// Where the walk of the org's items stands for the next run: the prefix being read
    /// (an index into the job's list) and the page to read next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walked: Option<(usize, String)>,
    /// While it is going on: until when its last run (or the request) holds it
    /// ([`ERASURE_LEASE_MINUTES`]); the lease sweep's index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
}

impl Erasure {
    /// This erasure handed to the job runner's next run at `now`: one more handover, a new lease.
    pub fn handed_over(mut self, now: DateTime<Utc>) -> Erasure {
        self.handovers += 1;
        self.lease_until = Some(now + chrono::Duration::minutes(ERASURE_LEASE_MINUTES));
        self
    }
}

/// A pseudonym from 80 random bits, never from the e-mail: `erased-{20 hex}@erased.invalid`.
pub fn pseudonym(random: u128) -> String {
    format!("erased-{:020x}@{PSEUDONYM_DOMAIN}", random & ((1u128 << 80) - 1))
}

/// Characters that may stand next to an e-mail inside a longer one: an occurrence preceded or
/// followed by one of these is part of another address (`a@c.example` in `aa@c.example` or in
/// `a@c.example.org`), not this one.
fn joins_address(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-'".contains(c)
}

/// Characters that may stand next to a name inside a longer word or an address: a name is
/// replaced only as words of its own (never `bob` in `bob@x`).
fn joins_word(c: char) -> bool {
    c.is_alphanumeric() || joins_address(c) || c == '@'
}

/// The shortest name rewritten where an erased user's entries quote it: a shorter one is too
/// likely to be part of other text.
pub const MIN_NAME_CHARS: usize = 3;

/// `text` with every whole occurrence of `name` as words of their own (ASCII case ignored)
/// replaced by `with`; `None` when there is none, or the name is shorter than [`MIN_NAME_CHARS`].
pub fn replace_name(text: &str, name: &str, with: &str) -> Option<String> {
    let name = name.trim();
    if name.chars().count() < MIN_NAME_CHARS {
        return None;
    }
    replace_bounded(text, name, with, joins_word)
}

/// `text` with every whole occurrence of `needle` (ASCII case ignored) replaced by `with`;
/// `None` when there is none. Whole: not part of a longer address or word on either side.
pub fn replace_whole(text: &str, needle: &str, with: &str) -> Option<String> {
    replace_bounded(text, needle, with, joins_address)
}

fn replace_bounded(text: &str, needle: &str, with: &str, joins: fn(char) -> bool) -> Option<String> {
    if needle.is_empty() || text.len() < needle.len() {
        return None;
    }
    // ASCII lower-casing keeps every byte where it is, so positions carry over to `text`.
    let (hay, pin) = (text.to_ascii_lowercase(), needle.to_ascii_lowercase());
    let mut out = String::with_capacity(text.len());
    let (mut from, mut last, mut found) = (0, 0, false);
    while let Some(at) = hay[from..].find(&pin).map(|i| i + from) {
        let end = at + pin.len();
        let before = text[..at].chars().next_back();
        let after = text[end..].chars().next();
        if before.is_none_or(|c| !joins(c)) && after.is_none_or(|c| !joins(c)) {
            out.push_str(&text[last..at]);
            out.push_str(with);
            (last, found) = (end, true);
        }
        from = at + pin.chars().next().map_or(1, char::len_utf8);
    }
    found.then(|| out + &text[last..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pseudonym_is_random_and_never_mailed() {
        let (a, b) = (pseudonym(1), pseudonym(u128::MAX));
        assert_eq!(a, "erased-00000000000000000001@erased.invalid");
        assert_eq!(b.len(), a.len());
        assert!(crate::domain::validate::email("email", &a).is_ok(), "a pseudonym is a valid key");
    }

    #[test]
    fn only_whole_addresses_are_replaced_whatever_their_case() {
        let r = |t: &str| replace_whole(t, "a@c.example", "X");
        assert_eq!(r("USER#a@c.example").as_deref(), Some("USER#X"));
        assert_eq!(r("ENROLMENT#A@C.example#run").as_deref(), Some("ENROLMENT#X#run"));
        assert_eq!(r("user/a@c.example").as_deref(), Some("user/X"));
        assert_eq!(
            r(r#"{"emails":["a@c.example","b@c.example"]}"#).as_deref(),
            Some(r#"{"emails":["X","b@c.example"]}"#)
        );
        assert_eq!(r("a@c.example, a@c.example").as_deref(), Some("X, X"));
        for other in ["aa@c.example", "a@c.example.org", "ba@c.example", "a@c.examples", "x.a@c.example"] {
            assert_eq!(r(other), None, "{other} is another address");
        }
        assert_eq!(replace_name("Ann Smith signed", "Ann Smith", "").as_deref(), Some(" signed"));
        assert_eq!(replace_name("Annie Smithson", "Ann Smith", ""), None);
        assert_eq!(replace_name("bob@c.example and Bob", "Bob", "X").as_deref(), Some("bob@c.example and X"));
        assert_eq!(replace_name("Al is here", "Al", "X"), None, "too short to tell from other text");
        assert_eq!(replace_whole("é a@c.example é", "a@c.example", "X").as_deref(), Some("é X é"));
    }
}
