//! Scheduled sweeps and stream consumers. "Now" is the triggering event's time, never the clock.

pub mod expire;
pub mod forecast;
pub mod publish;
pub mod renewal;
pub mod snapshot;

use crate::domain::policy::Policy;
use crate::store::{Error, Store};

/// The e-mails a company's notices go to: its manager users and the policy's `notify_emails`.
pub(crate) async fn recipients(store: &Store, org_id: &str, policy: &Policy) -> Result<Vec<String>, Error> {
    let mut to = store.manager_emails(org_id).await?;
    to.extend(policy.notify_emails.iter().cloned());
    to.sort();
    to.dedup();
    Ok(to)
}

/// The sweeps by name, as the schedules (and the local server) run them.
pub fn by_name(name: &str) -> Option<crate::lambda::Sweep> {
    fn report<R: serde::Serialize>(r: Result<R, Error>) -> Result<serde_json::Value, Error> {
        r.map(|r| serde_json::to_value(r).unwrap_or_default())
    }
    Some(match name {
        "expire" => |app, now| Box::pin(async move { report(expire::expire(&app, now).await) }),
        "renewal" => |app, now| Box::pin(async move { report(renewal::renewal(&app, now).await) }),
        "forecast" => |app, now| Box::pin(async move { report(forecast::export(&app, now).await) }),
        "snapshot" => |app, now| Box::pin(async move { report(snapshot::snapshot(&app, now).await) }),
        _ => return None,
    })
}
