//! Pure decisions: functions of (current state, command, now) that return what to change.
//! Nothing here knows DynamoDB, HTTP or the clock.

pub mod allocation;
pub mod audit;
pub mod auth;
pub mod change;
pub mod contacts;
pub mod decide;
pub mod enrolment;
pub mod erasure;
pub mod error;
pub mod expiry;
pub mod expiry_day;
pub mod import;
pub mod lot;
pub mod notice;
pub mod order;
pub mod org;
pub mod policy;
pub mod renewal;
pub mod seats;
pub mod suppression;
pub mod term;
pub mod usage;
pub mod user;
pub mod validate;
pub mod zone;

pub use error::DomainError;
