//! Scheduled sweeps and stream consumers. "Now" is the triggering event's time, never the clock.

pub mod expire;
pub mod publish;

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
