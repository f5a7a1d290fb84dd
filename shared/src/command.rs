//! Every command — each HTTP operation, each sweep step, each import commit — is three moves:
//!
//! 1. **load** the state it needs (store reads named for what they read);
//! 2. **decide**: a pure domain function of (state, command, now) that returns a [`Decision`]:
//!    typed changes ([`Change`]) and the outcome to answer;
//! 3. **apply**: [`Store::apply`](crate::store::Store::apply) alone turns the changes into
//!    conditional writes and one transaction (with the idempotency answer when there is one).
//!
//! A lost race comes back typed ([`Race`]); this module's executor runs the command again, a few
//! times with jitter, so the next attempt loads the new state and decides anew — it succeeds or
//! is refused for the real reason. The HTTP executor (`http::Ctx::execute`) adds the replay of an
//! `Idempotency-Key` on top of the same attempts.

use uuid::Uuid;

pub use crate::domain::change::Decision;
use crate::domain::DomainError;
use crate::store::{Error, Race, StoreError};

/// Attempts after the first before a command that keeps losing races gives up.
pub const RACE_RETRIES: usize = 8;

/// The conflict a command answers when it kept losing races.
pub const RACED: &str = "the data changed while this request was being handled; try again";

/// The attempts of one command: after a failed attempt, [`Attempts::again`] says whether to run
/// it again (and waits a little, with jitter, so racing callers spread out) or what to answer.
#[derive(Debug, Default)]
pub struct Attempts {
    round: usize,
}

impl Attempts {
    pub fn new() -> Self {
        Attempts::default()
    }

    /// `Ok` (after a pause) when `failed` is a lost race or a busy table and attempts are left;
    /// otherwise the error to answer — a race that kept being lost is a conflict in words.
    pub async fn again(&mut self, failed: Error) -> Result<(), Error> {
        let retryable = matches!(failed, Error::Race(Race::Changed(_)) | Error::Store(StoreError::Retryable(_)));
        if !retryable {
            return Err(failed);
        }
        if self.round == RACE_RETRIES {
            return Err(match failed {
                Error::Race(Race::Changed(_)) => DomainError::Conflict(RACED.into()).into(),
                other => other,
            });
        }
        self.round += 1;
        let jitter = Uuid::new_v4().as_bytes()[0] as u64 % 40;
        tokio::time::sleep(std::time::Duration::from_millis(10 * self.round as u64 + jitter)).await;
        Ok(())
    }
}

/// A fresh opaque id with a readable prefix.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}
