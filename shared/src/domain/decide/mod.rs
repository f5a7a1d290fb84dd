//! The decisions, one file per capability: each is a pure function of (the state a command
//! loaded, the command, now) that returns a [`Decision`](super::change::Decision) — the typed
//! changes to apply and the outcome to answer. Every rule a command follows is here or in the
//! domain modules these call; nothing here knows DynamoDB, HTTP or the clock.

pub mod allocation;
pub mod deliveries;
pub mod enrolments;
pub mod expire;
pub mod imports;
pub mod orders;
pub mod overage;
pub mod renewal;
pub mod users;
