//! The one retry policy and the one classifier of failures. Everything that tries something
//! again goes through [`run`] or [`send`], and both through the one loop here; nothing else
//! looks at an error to decide whether to try again.
//!
//! A failure is sorted into a [`Class`] once ([`classify`], [`classify_cancellation`],
//! [`classify_sdk`]), and each class is tried again at exactly one level, so retries never nest:
//!
//! | class | what it is | tried again by |
//! |---|---|---|
//! | [`Class::Race`] | a condition failed: the state changed since it was read | [`run`]: the whole command (load, decide, apply) on what the table holds now |
//! | [`Class::Throttled`] | throttling, a request limit, unprocessed batch keys | [`send`]: the same request again |
//! | [`Class::Transient`] | a transaction conflict, a 5xx, a timeout, a dropped connection | [`send`]: the same request again |
//! | [`Class::TooLarge`] | an item, item collection or transaction over DynamoDB's size limits | never |
//! | [`Class::Permanent`] | anything else (a refusal, a malformed request) | never |
//!
//! A decision's writes (the store's `transact` and a write on its own, `write_policy`) pause
//! after a conflict for about as long as the process's transactions take now: the first pause's
//! bound at least a moving [`Latency`] of them ([`Policy::at_least`]), with as many attempts as
//! [`Policy::within`] 8 seconds of pauses allows (the requests' own time is not counted: under
//! DynamoDB Local's one queue a request of 200 concurrent ones takes seconds, and a budget that
//! counted it left two attempts). A write that conflicted finds its
//! item held for about as long as a transaction takes, so under one company's start of term,
//! with transactions slowed by their own numbers, pauses sized for DynamoDB's 10–25 ms would
//! only conflict again (docs/architecture.md#seat-parts).
//!
//! A request that gave up ([`send`]) comes back as it failed, so the command around it does not
//! try it again; a command that kept losing its race ([`run`]) comes back with its last error,
//! for the caller to answer (a `409`, a unit of a sweep left for the next run).
//!
//! The AWS SDK's own retries are off for the DynamoDB and SES clients (this module retries
//! them); the S3 and EventBridge clients, which no code here retries, use the SDK's standard
//! retry with this policy's figures ([`Policy::sdk`]).
//!
//! ```ignore
//! let user = retry::run(&Policy::DEFAULT, || async {
//!     let fresh = store.user(org_id, email).await?;   // load
//!     let decided = decide(&fresh, now);               // decide
//!     store.apply(&decided.changes, None).await?;      // apply: a failed condition is a race
//!     Ok(decided.outcome)
//! })
//! .await?; // the last error when every attempt lost its race
//! ```

use std::future::Future;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What a failure says about trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A condition failed: another writer changed what was read. Decide again on fresh state.
    Race,
    /// The service asked to slow down (or left batch keys unprocessed).
    Throttled,
    /// The request may well pass as it is: a conflict with another transaction, a 5xx, a timeout.
    Transient,
    /// It never passes as it is: a refusal, a malformed request.
    Permanent,
    /// Over one of DynamoDB's size limits (an item, an item collection, a transaction).
    TooLarge,
}

/// Where a failure is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// One request, sent again as it was ([`send`]).
    Request,
    /// A whole command — load, decide, apply — run again on fresh state ([`run`]).
    Command,
}

impl Class {
    /// The one level that tries a failure of this class again; `None`: nothing does.
    pub fn retried_by(self) -> Option<Level> {
        match self {
            Class::Race => Some(Level::Command),
            Class::Throttled | Class::Transient => Some(Level::Request),
            Class::Permanent | Class::TooLarge => None,
        }
    }
}

/// An error that knows its [`Class`] (decided by this module's classifier when it was made).
pub trait Classify {
    fn class(&self) -> Class;
}

/// Bounded attempts with exponential back-off and full jitter: the pause before retry `n`
/// (0-based) is drawn evenly from zero to `min(cap, first × 2ⁿ)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Attempts in all, the first included (at least one is made).
    pub attempts: u32,
    /// The bound of the first pause.
    pub first: Duration,
    /// The most any pause may be.
    pub cap: Duration,
}

impl Policy {
    /// The policy of every retry: eight attempts, pauses bounded by 25 ms doubling up to 1 s —
    /// at most about 3.2 s of pauses (half that on average), well inside every function's timeout.
    /// A decision's writes stretch it to how long transactions take and to 8 s (the module's
    /// head).
    pub const DEFAULT: Policy = Policy { attempts: 8, first: Duration::from_millis(25), cap: Duration::from_secs(1) };

    /// The longest request duration [`Policy::at_least`] scales pauses to.
    pub const MAX_TYPICAL: Duration = Duration::from_millis(500);

    /// The most the pause before retry `n` (0-based) may be.
    pub fn bound(&self, n: u32) -> Duration {
        self.first.saturating_mul(1u32 << n.min(20)).min(self.cap)
    }

    /// The pause before retry `n`: drawn evenly from zero to [`Policy::bound`] (full jitter), so
    /// racing callers spread out.
    pub fn pause(&self, n: u32) -> Duration {
        let bound = self.bound(n).as_nanos() as u64;
        let bytes = uuid::Uuid::new_v4().into_bytes();
        let draw = u64::from_le_bytes(bytes[..8].try_into().expect("eight bytes"));
        Duration::from_nanos(if bound == 0 { 0 } else { draw % (bound + 1) })
    }

    /// This policy with the first pause's bound at least `typical` (taken at most
    /// [`MAX_TYPICAL`](Policy::MAX_TYPICAL)), doubling from there to the cap. A request that
    /// conflicted with another transaction finds its items held for about as long as a
    /// transaction takes; sent again much sooner it only conflicts again.
    pub fn at_least(self, typical: Duration) -> Policy {
        Policy { first: self.first.max(typical.min(Policy::MAX_TYPICAL)), ..self }
    }

    /// This policy with as many attempts as its pauses' bounds allow within `budget`.
    pub fn within(self, budget: Duration) -> Policy {
        let mut spent = Duration::ZERO;
        let mut pauses = 0;
        while pauses < 64 && spent + self.bound(pauses) <= budget {
            spent += self.bound(pauses);
            pauses += 1;
        }
        Policy { attempts: pauses + 1, ..self }
    }

    /// The AWS SDK's standard retry with this policy's figures (the SDK's back-off is full jitter
    /// too), for clients whose calls no code here retries (S3, EventBridge).
    pub fn sdk(&self) -> aws_smithy_types::retry::RetryConfig {
        aws_smithy_types::retry::RetryConfig::standard()
            .with_max_attempts(self.attempts.max(1))
            .with_initial_backoff(self.first)
            .with_max_backoff(self.cap)
    }
}

/// How long a kind of request takes now: a moving average of its latest durations, shared by
/// every caller of a process.
#[derive(Debug)]
pub struct Latency(std::sync::atomic::AtomicU64);

impl Latency {
    pub const fn new() -> Latency {
        Latency(std::sync::atomic::AtomicU64::new(0))
    }

    /// One request of the kind took `took`: the average moves an eighth of the way to it.
    pub fn took(&self, took: Duration) {
        use std::sync::atomic::Ordering;
        let took = took.as_micros().min(u64::MAX as u128) as u64;
        let moved = |avg: u64| Some(if avg == 0 { took } else { avg - avg / 8 + took / 8 });
        self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, moved).expect("the average always moves");
    }

    /// The average (zero before any request finished).
    pub fn typical(&self) -> Duration {
        Duration::from_micros(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

/// Runs a command (`op`: load, decide, apply) again while it loses its race ([`Class::Race`]),
/// up to the policy's attempts; its outcome, or the last error (a race when every attempt lost,
/// or the first error of another class, which is never tried again here).
pub async fn run<T, E, F, Fut>(policy: &Policy, op: F) -> Result<T, E>
where
    E: Classify,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    // Boxed: the futures of a command nest deep enough to overflow the compiler's layout queries.
    Box::pin(attempt(policy, Level::Command, op)).await
}

/// Sends one request (`op`) again while it is throttled or fails transiently, up to the policy's
/// attempts; its answer, or the last error (a race or a permanent failure at once).
pub async fn send<T, E, F, Fut>(policy: &Policy, op: F) -> Result<T, E>
where
    E: Classify,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    Box::pin(attempt(policy, Level::Request, op)).await
}

/// The one retry loop.
async fn attempt<T, E, F, Fut>(policy: &Policy, level: Level, mut op: F) -> Result<T, E>
where
    E: Classify,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut n: u32 = 0;
    loop {
        let failed = match op().await {
            Ok(done) => return Ok(done),
            Err(e) => e,
        };
        let class = failed.class();
        n += 1;
        if class.retried_by() != Some(level) || n >= policy.attempts {
            if class.retried_by() == Some(level) {
                tracing::warn!(?class, ?level, attempts = n, "gave up after every attempt of the retry policy");
            }
            return Err(failed);
        }
        tokio::time::sleep(policy.pause(n - 1)).await;
    }
}

/// The class of a service's error from its code, its HTTP status and its message: the one table
/// of which failures pass (DynamoDB's and SES's codes; a code of another AWS service reads the
/// same way by its status).
pub fn classify(code: &str, status: Option<u16>, message: &str) -> Class {
    match code {
        "ConditionalCheckFailedException" | "ConditionalCheckFailed" => Class::Race,
        "ProvisionedThroughputExceededException"
        | "ProvisionedThroughputExceeded"
        | "ThrottlingException"
        | "ThrottlingError"
        | "Throttling"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "LimitExceededException"
        | "SlowDown" => Class::Throttled,
        "TransactionConflictException"
        | "TransactionConflict"
        | "TransactionInProgressException"
        | "InternalServerError"
        | "InternalFailure"
        | "InternalError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        // SES: account-wide, nothing about the message; they pass when the account is fixed.
        | "AccountSuspendedException"
        | "SendingPausedException" => Class::Transient,
        "ItemCollectionSizeLimitExceededException" | "ItemCollectionSizeLimitExceeded" => Class::TooLarge,
        "ValidationException" | "ValidationError" if too_large(message) => Class::TooLarge,
        _ if code.contains("Throttl") || status == Some(429) => Class::Throttled,
        _ if status == Some(413) => Class::TooLarge,
        _ if status.is_some_and(|s| s >= 500) => Class::Transient,
        _ => Class::Permanent,
    }
}

/// Whether a validation message says a size limit was passed ("Item size has exceeded the
/// maximum allowed size", "Transaction request size exceeds …").
fn too_large(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("size") && (m.contains("exceed") || m.contains("maximum") || m.contains("too large"))
}

/// The class of a cancelled transaction from its items' reasons: a race when a condition failed
/// (what the command must decide again), else the worst of the others — too large, then
/// permanent, then throttled, then transient (a conflict with another transaction).
pub fn classify_cancellation<'a>(reasons: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> Class {
    let classes: Vec<Class> = reasons
        .into_iter()
        .filter_map(|(code, message)| code.filter(|c| *c != "None").map(|c| classify(c, None, message.unwrap_or(""))))
        .collect();
    let order = [Class::Race, Class::TooLarge, Class::Permanent, Class::Throttled, Class::Transient];
    order.into_iter().find(|c| classes.contains(c)).unwrap_or(Class::Transient)
}

/// The class of any AWS SDK call's failure: a service's answer by [`classify`]; a timeout, a
/// connection that failed or dropped, or an answer that could not be read is transient; a
/// request that could not be built is permanent.
pub fn classify_sdk<E: ProvideErrorMetadata + std::fmt::Debug>(err: &SdkError<E, HttpResponse>) -> Class {
    match err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let e = se.err();
            // A modeled error made without its response's metadata (a stubbed client) has no
            // code: its variant's name is the code.
            let variant = format!("{e:?}");
            let code = e.code().unwrap_or_else(|| variant.split(['(', ' ', '{']).next().unwrap_or_default());
            classify(code, Some(status), e.message().unwrap_or_default())
        }
        SdkError::ConstructionFailure(_) => Class::Permanent,
        _ => Class::Transient,
    }
}

impl<E: ProvideErrorMetadata + std::fmt::Debug> Classify for SdkError<E, HttpResponse> {
    fn class(&self) -> Class {
        classify_sdk(self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[derive(Debug, PartialEq)]
    struct Failed(Class);

    impl Classify for Failed {
        fn class(&self) -> Class {
            self.0
        }
    }

    const QUICK: Policy = Policy { attempts: 5, first: Duration::from_millis(1), cap: Duration::from_millis(4) };

    /// Runs `op` failing with `class` every time, at `level`; how many attempts were made.
    async fn tries(level: Level, class: Class) -> u32 {
        let calls = AtomicU32::new(0);
        let op = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Failed(class))
        };
        let out = match level {
            Level::Command => run(&QUICK, op).await,
            Level::Request => send(&QUICK, op).await,
        };
        assert_eq!(out, Err(Failed(class)), "the last error comes back");
        calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn each_class_is_tried_again_at_one_level_only_and_at_most_the_policys_attempts() {
        for class in [Class::Race, Class::Throttled, Class::Transient, Class::Permanent, Class::TooLarge] {
            for level in [Level::Command, Level::Request] {
                let expected = if class.retried_by() == Some(level) { QUICK.attempts } else { 1 };
                assert_eq!(tries(level, class).await, expected, "{class:?} at {level:?}");
            }
        }
        assert_eq!(Class::Race.retried_by(), Some(Level::Command));
        assert_eq!(Class::Throttled.retried_by(), Some(Level::Request));
        assert_eq!(Class::Transient.retried_by(), Some(Level::Request));
        assert_eq!((Class::Permanent.retried_by(), Class::TooLarge.retried_by()), (None, None));
    }

    #[tokio::test]
    async fn a_command_that_wins_on_its_third_attempt_returns_its_outcome() {
        let calls = AtomicU32::new(0);
        let out = run(&QUICK, || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(Failed(Class::Race)),
                n => Ok(n),
            }
        })
        .await;
        assert_eq!(out, Ok(2));
        let one = Policy { attempts: 0, ..QUICK };
        assert_eq!(run(&one, || async { Err::<(), _>(Failed(Class::Race)) }).await, Err(Failed(Class::Race)));
    }

    #[test]
    fn every_pause_is_within_the_full_jitter_bound_and_they_spread() {
        let p = Policy::DEFAULT;
        let bounds: Vec<u128> = (0..8).map(|n| p.bound(n).as_millis()).collect();
        assert_eq!(bounds, vec![25, 50, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.bound(40), p.cap, "no overflow far out");
        for n in 0..10 {
            let draws: Vec<Duration> = (0..200).map(|_| p.pause(n)).collect();
            assert!(draws.iter().all(|d| *d <= p.bound(n)), "retry {n}: {draws:?}");
            let least = draws.iter().min().unwrap();
            assert!(*least < p.bound(n) / 4, "full jitter draws from zero: retry {n}, least {least:?}");
            let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
            assert!(distinct.len() > 100, "racing callers spread out: retry {n}");
        }
        let total: Duration = (0..p.attempts - 1).map(|n| p.bound(n)).sum();
        assert!(total <= Duration::from_millis(3_300), "{total:?}");
    }

    #[test]
    fn pauses_follow_how_long_requests_take_and_attempts_fill_the_budget() {
        let p = Policy::DEFAULT;
        assert_eq!(p.at_least(Duration::ZERO), p, "fast requests: the policy as it is");
        assert_eq!(p.at_least(Duration::from_millis(10)), p, "pauses are never shortened");
        let slow = p.at_least(Duration::from_millis(300));
        assert_eq!((slow.first, slow.cap), (Duration::from_millis(300), Duration::from_secs(1)));
        let slower = p.at_least(Duration::from_secs(30));
        assert_eq!((slower.first, slower.cap), (Policy::MAX_TYPICAL, Duration::from_secs(1)));

        let budget = Duration::from_secs(8);
        for policy in [p, slow, slower] {
            let within = policy.within(budget);
            let pauses: Duration = (0..within.attempts - 1).map(|n| within.bound(n)).sum();
            assert!(pauses <= budget, "{within:?}: {pauses:?}");
            assert!(pauses + within.bound(within.attempts - 1) > budget, "{within:?}: one more would pass the budget");
        }
        // 25 + 50 + … + 800 ms, then 1 s pauses: 12 pauses fit 8 s.
        assert_eq!(p.within(budget).attempts, 13);
        assert_eq!(slower.within(budget).attempts, 8 + 1, "0.5 s, then 1 s pauses: 7.5 s");
        assert_eq!(p.within(Duration::ZERO).attempts, 1, "no budget: one attempt");
    }

    #[test]
    fn the_typical_duration_follows_the_latest_requests() {
        let latency = Latency::new();
        assert_eq!(latency.typical(), Duration::ZERO);
        latency.took(Duration::from_millis(800));
        assert_eq!(latency.typical(), Duration::from_millis(800), "the first request sets it");
        for _ in 0..60 {
            latency.took(Duration::from_millis(20));
        }
        let now = latency.typical();
        assert!(now >= Duration::from_millis(20) && now < Duration::from_millis(25), "{now:?}");
    }

    #[test]
    fn the_classification_table() {
        let table = [
            ("ConditionalCheckFailedException", 400, "The conditional request failed", Class::Race),
            ("ProvisionedThroughputExceededException", 400, "", Class::Throttled),
            ("ThrottlingException", 400, "Rate exceeded", Class::Throttled),
            ("RequestLimitExceeded", 400, "", Class::Throttled),
            ("TooManyRequestsException", 429, "", Class::Throttled),
            ("LimitExceededException", 400, "", Class::Throttled),
            ("SomethingThrottled", 400, "", Class::Throttled),
            ("", 429, "", Class::Throttled),
            ("TransactionConflictException", 400, "", Class::Transient),
            ("TransactionInProgressException", 400, "", Class::Transient),
            ("InternalServerError", 500, "", Class::Transient),
            ("ServiceUnavailable", 503, "", Class::Transient),
            ("", 502, "", Class::Transient),
            ("AccountSuspendedException", 400, "", Class::Transient),
            ("ItemCollectionSizeLimitExceededException", 400, "", Class::TooLarge),
            ("ValidationException", 400, "Item size has exceeded the maximum allowed size", Class::TooLarge),
            ("ValidationException", 400, "Transaction request cannot include multiple operations", Class::Permanent),
            ("", 413, "", Class::TooLarge),
            ("MessageRejected", 400, "Email address is not verified", Class::Permanent),
            ("ResourceNotFoundException", 400, "", Class::Permanent),
            ("AccessDeniedException", 400, "", Class::Permanent),
        ];
        for (code, status, message, class) in table {
            assert_eq!(classify(code, Some(status), message), class, "{code} {status} {message}");
        }
    }

    #[test]
    fn a_cancelled_transaction_is_a_race_when_a_condition_failed_else_as_its_worst_reason() {
        let c = |codes: &[&'static str]| classify_cancellation(codes.iter().map(|c| (Some(*c), None)));
        assert_eq!(c(&["None", "ConditionalCheckFailed", "TransactionConflict"]), Class::Race);
        assert_eq!(c(&["None", "TransactionConflict"]), Class::Transient);
        assert_eq!(c(&["ThrottlingError", "None"]), Class::Throttled);
        assert_eq!(c(&["ProvisionedThroughputExceeded", "TransactionConflict"]), Class::Throttled);
        assert_eq!(c(&["ItemCollectionSizeLimitExceeded", "ThrottlingError"]), Class::TooLarge);
        assert_eq!(c(&["ValidationError", "None"]), Class::Permanent);
        let too_big = [(Some("ValidationError"), Some("Item size has exceeded the maximum allowed size"))];
        assert_eq!(classify_cancellation(too_big), Class::TooLarge);
        assert_eq!(c(&[]), Class::Transient, "cancelled without a reason: as a conflict");
    }
}
