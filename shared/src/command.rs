//! Every command — each HTTP operation, each sweep step, each import commit — is three moves:
//!
//! 1. **load** the state it needs (store reads named for what they read);
//! 2. **decide**: a pure domain function of (state, command, now) that returns a [`Decision`]:
//!    typed changes ([`Change`]) and the outcome to answer;
//! 3. **apply**: [`Store::apply`](crate::store::Store::apply) alone turns the changes into
//!    conditional writes and one transaction (with the idempotency answer when there is one).
//!
//! A lost race comes back typed ([`Race`]); the executor ([`execute`]) runs the command again
//! under the one retry policy ([`retry`]: bounded attempts, exponential back-off with full
//! jitter), so the next attempt loads the new state and decides anew — it succeeds or is refused
//! for the real reason. Throttling and transient failures are retried once, by the request that
//! met them ([`retry::send`]), never again by the command around it. Every path runs its
//! commands through it: the HTTP adapter (`http::Ctx::execute`, which adds the replay of an
//! `Idempotency-Key` by applying the changes with the key's answer, [`execute_with`]), the
//! sweeps' per-user steps, the import commit's and the step plans' writes.

pub mod retry;

use std::future::Future;

use uuid::Uuid;

pub use crate::domain::change::Decision;
use crate::store::{Error, Race, Store, StoreError};
pub use retry::{Class, Classify, Policy};

/// Attempts after the first before a command that keeps losing races gives up (the policy's).
pub const RACE_RETRIES: usize = Policy::DEFAULT.attempts as usize - 1;

/// The conflict a command answers when it kept losing races.
pub const RACED: &str = "the data changed while this request was being handled; try again";

impl Classify for StoreError {
    fn class(&self) -> Class {
        match self {
            StoreError::ConditionFailed(_) => Class::Race,
            StoreError::Throttled(_) => Class::Throttled,
            StoreError::Retryable(_) => Class::Transient,
            StoreError::TooLarge(_) => Class::TooLarge,
            StoreError::Other(_) => Class::Permanent,
        }
    }
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::Race(Race::Changed(_)) => Class::Race,
            // Answered by the replay of the key's record, not by running the command again.
            Error::Race(Race::KeyTaken) => Class::Permanent,
            Error::Store(e) => e.class(),
            Error::Domain(_) => Class::Permanent,
        }
    }
}

/// The executor: runs `decide` (load the state, decide) and applies its changes in one
/// transaction (or in steps, when they are more than one holds: `Store::apply`); when the apply
/// loses its race, all of it again, under the retry policy. A decision that changes nothing is
/// its outcome at once. A race lost every time comes back as the race.
pub async fn execute<T, F, Fut>(store: &Store, decide: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Decision<T>, Error>>,
{
    execute_with(decide, |decided: Decision<T>| async move {
        store.apply(&decided.changes, None).await?;
        Ok(decided.outcome)
    })
    .await
}

/// [`execute`], with the changes applied by `apply` (the HTTP adapter's: with the answer stored
/// under the request's `Idempotency-Key`, in the same transaction).
pub async fn execute_with<T, F, Fut, A, AFut>(mut decide: F, apply: A) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Decision<T>, Error>>,
    A: Fn(Decision<T>) -> AFut,
    AFut: Future<Output = Result<T, Error>>,
{
    let apply = &apply;
    retry::run(&Policy::DEFAULT, || {
        let decided = decide();
        async move {
            let decided = decided.await?;
            if decided.changes.is_empty() {
                return Ok(decided.outcome);
            }
            apply(decided).await
        }
    })
    .await
}

/// A command that kept losing its race, in words: the conflict [`RACED`] (to try again later).
/// Any other outcome is left as it is.
pub fn conflict_when_raced<T>(outcome: Result<T, Error>) -> Result<T, Error> {
    match outcome {
        Err(Error::Race(Race::Changed(_))) => {
            Err(crate::domain::DomainError::conflict("changed_meanwhile", RACED).into())
        }
        other => other,
    }
}

/// A fresh opaque id with a readable prefix.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}
