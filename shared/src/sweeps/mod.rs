//! Scheduled sweeps and stream consumers. "Now" is the triggering event's time, never the clock.

pub mod expire;
pub mod forecast;
pub mod publish;
pub mod renewal;
pub mod snapshot;

use crate::domain::policy::Policy;
use crate::lambda::Sweep;
use crate::store::{Error, Race, Store};

/// Whether a sweep's changes lost their race: a condition failed, the state changed since it
/// was read, and the step is read and decided again.
pub(crate) fn raced(e: &Error) -> bool {
    matches!(e, Error::Race(Race::Changed(_)))
}

/// The e-mails a company's notices go to: its manager users and the policy's `notify_emails`,
/// at most [`MAX_RECIPIENTS`](crate::domain::notice::MAX_RECIPIENTS) of them.
pub(crate) async fn recipients(
    store: &Store,
    org_id: &str,
    policy: &Policy,
) -> Result<crate::domain::notice::Recipients, Error> {
    Ok(crate::domain::notice::recipients(store.manager_emails(org_id).await?, &policy.notify_emails))
}

fn report<R: serde::Serialize>(r: Result<R, Error>) -> Result<serde_json::Value, Error> {
    r.map(|r| serde_json::to_value(r).unwrap_or_default())
}

/// The sweeps as the schedules run them; each function names its own, so its binary links only
/// that one.
pub const EXPIRE: Sweep = |app, now| Box::pin(async move { report(expire::expire(&app, now).await) });
pub const RENEWAL: Sweep = |app, now| Box::pin(async move { report(renewal::renewal(&app, now).await) });
pub const FORECAST: Sweep = |app, now| Box::pin(async move { report(forecast::export(&app, now).await) });
pub const SNAPSHOT: Sweep = |app, now| Box::pin(async move { report(snapshot::snapshot(&app, now).await) });

/// The sweeps by name, as the local server runs them.
pub fn by_name(name: &str) -> Option<Sweep> {
    Some(match name {
        "expire" => EXPIRE,
        "renewal" => RENEWAL,
        "forecast" => FORECAST,
        "snapshot" => SNAPSHOT,
        _ => return None,
    })
}
