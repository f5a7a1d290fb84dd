//! The notice mailer (issue 19): every notice on the notice bus, e-mailed with Amazon SES to
//! each of its recipients — one message per recipient, so one bad address holds up nobody.
//!
//! Exactly once per (notice, recipient) as far as the store can make it: before a send, the
//! recipient's guard is claimed conditionally with a lease ([`Store::claim_delivery`]); after it,
//! it is marked `sent` with SES's message id, `refused` with SES's reason, or `failed` (retried by
//! the next delivery). A second delivery of the notice sends nothing; a send that failed is sent
//! by the next; a delivery that crashed between the send and the mark leaves a claim that runs
//! out after the lease, and the next delivery sends again (a rare duplicate rather than a lost
//! reminder). A delivery that leaves any recipient unsettled fails, so Lambda delivers again.
//!
//! Every message goes through the SES configuration set whose event destination reports
//! bounces and complaints to EventBridge, tagged with its org and notice ([`feedback`] reads
//! them back); an address suppressed after a hard bounce (everywhere) or a complaint (for the
//! notice's org) is never sent to: its delivery is recorded `suppressed` with the reason.

pub mod feedback;
pub mod lambda;
pub mod message;
pub mod render;
pub mod ses;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::ImportsBucket;
use crate::domain::notice::{self, Notice, NoticeKind};
use crate::domain::policy::Policy;
use crate::store::deliveries::{Claim, Sent};
use crate::store::{Store, StoreError};
use message::Attachment;
use render::Rendered;

/// What the mailer needs: the table (the org, its policy, the guards), SES, the bucket the
/// monthly reports are attached from, the sender and the console's address for links.
#[derive(Clone)]
pub struct Mailer {
    pub store: Store,
    pub ses: aws_sdk_sesv2::Client,
    pub reports: Option<ImportsBucket>,
    /// `MAIL_FROM`: a sender identity verified in SES.
    pub from: String,
    /// `MAIL_CONFIGURATION_SET`: the SES configuration set every message is sent through, whose
    /// event destination reports bounces and complaints.
    pub configuration_set: String,
    /// `CONSOLE_URL`: the console's origin; links are left out without it.
    pub console_url: String,
    /// The retry policy of each send (the one policy; tests shorten its pauses).
    pub backoff: crate::command::Policy,
}

/// What one delivery of a notice did, recipient by recipient.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MailReport {
    pub notice_id: String,
    pub kind: String,
    /// Sent now.
    pub sent: Vec<String>,
    /// Sent or refused by an earlier delivery: nothing to do.
    pub settled: Vec<String>,
    /// Refused by SES now, with the reason.
    pub refused: Vec<(String, String)>,
    /// Not sent now: the address is suppressed (`hard_bounce` or `complaint`).
    pub suppressed: Vec<(String, String)>,
    /// Failed now (after the back-off): the next delivery tries again.
    pub failed: Vec<(String, String)>,
    /// Claimed by another delivery still within its lease.
    pub busy: Vec<String>,
    pub no_recipient: bool,
}

impl MailReport {
    /// Whether something is left for a later delivery.
    pub fn unfinished(&self) -> bool {
        !self.failed.is_empty() || !self.busy.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A guard's claim or mark that failed (a race lost every time comes back as one).
    #[error(transparent)]
    Guard(#[from] crate::store::Error),
    #[error("the notice could not be written as an e-mail: {0}")]
    Render(String),
    #[error("an attachment could not be read: {0}")]
    Attachment(String),
    #[error("notice {}: not every recipient is done yet (failed: {:?}, busy: {:?}); the next delivery goes on", .0.notice_id, .0.failed, .0.busy)]
    Unfinished(Box<MailReport>),
}

/// A notice as every recipient's message shares it.
struct Composed {
    rendered: Rendered,
    attachments: Vec<Attachment>,
}

impl Mailer {
    /// From the environment: `TABLE_NAME`, `BUCKET_NAME` (the reports), `MAIL_FROM`,
    /// `MAIL_CONFIGURATION_SET`, `CONSOLE_URL`, and the SDK's own settings
    /// (`AWS_ENDPOINT_URL_SESV2`).
    pub async fn from_env() -> Result<Self, String> {
        let from = std::env::var("MAIL_FROM").map_err(|_| "MAIL_FROM is not set (a sender verified in SES)")?;
        let configuration_set = std::env::var("MAIL_CONFIGURATION_SET").ok().filter(|c| !c.is_empty()).ok_or(
            "MAIL_CONFIGURATION_SET is not set (the SES configuration set that reports bounces and complaints)",
        )?;
        let app = crate::App::from_env_with_bucket().await?;
        let config = crate::app::sdk_config().await;
        let console_url = std::env::var("CONSOLE_URL").unwrap_or_default();
        Ok(Mailer {
            store: app.store,
            ses: ses::client(&config),
            reports: app.imports,
            from,
            configuration_set,
            console_url,
            backoff: crate::command::Policy::DEFAULT,
        })
    }

    /// Delivers `notice` to each recipient not yet settled, at `now` (the wall clock of the
    /// invocation: leases are about real time). `Err(Unfinished)` when a recipient is left for
    /// the next delivery.
    pub async fn deliver(&self, notice: &Notice, now: DateTime<Utc>) -> Result<MailReport, MailError> {
        let mut report = MailReport {
            notice_id: notice.notice_id.clone(),
            kind: notice.kind.as_str().to_string(),
            ..Default::default()
        };
        if notice.recipients.is_empty() {
            self.store.record_no_recipient(notice, now).await?;
            tracing::warn!(notice_id = %notice.notice_id, org_id = %notice.org_id, kind = notice.kind.as_str(), "a notice without recipients: recorded, nothing sent");
            report.no_recipient = true;
            return Ok(report);
        }
        let composed = self.compose(notice).await?;
        let suppressed = self.store.suppressed(&notice.org_id, &notice.recipients).await?;
        for email in &notice.recipients {
            if let Some(s) = suppressed.get(email) {
                let reason = s.reason.as_str();
                match self.store.suppress_delivery(notice, email, reason, now).await? {
                    None => {
                        tracing::info!(notice_id = %notice.notice_id, %email, reason, scope = ?s.scope, "not mailed: the address is suppressed");
                        report.suppressed.push((email.clone(), reason.to_string()));
                    }
                    Some(d) if d.settled() => report.settled.push(email.clone()),
                    Some(_) => report.busy.push(email.clone()),
                }
                continue;
            }
            match self.store.claim_delivery(notice, email, now, notice::lease()).await? {
                Claim::Taken(d) if d.settled() => report.settled.push(email.clone()),
                Claim::Taken(_) => report.busy.push(email.clone()),
                Claim::Claimed { claim, attempt } => {
                    let sent = self.send_one(notice, &composed, email, now).await;
                    if let Sent::Failed(reason) = &sent {
                        tracing::error!(org_id = %notice.org_id, notice_id = %notice.notice_id, %email, attempt, %reason, "a notice e-mail gave up after every attempt of the retry policy; the next delivery tries it again");
                    } else {
                        tracing::info!(notice_id = %notice.notice_id, %email, attempt, outcome = ?sent, "notice e-mail");
                    }
                    if !self.store.finish_delivery(notice, email, &claim, &sent, now).await? {
                        tracing::warn!(notice_id = %notice.notice_id, %email, "the claim ran out before the send was marked");
                    }
                    match sent {
                        Sent::Accepted(_) => report.sent.push(email.clone()),
                        Sent::Refused(reason) => report.refused.push((email.clone(), reason)),
                        Sent::Failed(reason) => report.failed.push((email.clone(), reason)),
                    }
                }
            }
        }
        if report.unfinished() {
            return Err(MailError::Unfinished(Box::new(report)));
        }
        Ok(report)
    }

    async fn send_one(&self, notice: &Notice, composed: &Composed, to: &str, now: DateTime<Utc>) -> Sent {
        let envelope = ses::Envelope {
            from: &self.from,
            to,
            configuration_set: &self.configuration_set,
            org_id: &notice.org_id,
            notice_id: &notice.notice_id,
        };
        match message::build(notice, &composed.rendered, &composed.attachments, &self.from, to, now) {
            Ok(raw) => ses::send(&self.ses, &envelope, &raw, self.backoff).await,
            Err(e) => Sent::Refused(format!("the message could not be built: {e}")),
        }
    }

    /// The message every recipient of `notice` gets: rendered in the org's locale and time zone,
    /// with the month's report attached to a renewal forecast.
    async fn compose(&self, notice: &Notice) -> Result<Composed, MailError> {
        let org = self.store.org(&notice.org_id).await?;
        let (name, policy) = match &org {
            Some(org) => (org.name.clone(), self.store.policy(org).await?),
            None => (notice.org_id.clone(), Policy::resolve([])),
        };
        let rendered = render::render(notice, &name, &policy, &self.console_url).map_err(MailError::Render)?;
        let attachments = match notice.kind {
            NoticeKind::RenewalForecast => self.reports_of(notice).await?,
            _ => Vec::new(),
        };
        Ok(Composed { rendered, attachments })
    }

    /// The files a renewal forecast names (`xlsx`, `csv`: `s3://{bucket}/reports/…`), read from
    /// the reports bucket; only keys under `reports/` are read.
    async fn reports_of(&self, notice: &Notice) -> Result<Vec<Attachment>, MailError> {
        let bucket = self.reports.as_ref().ok_or_else(|| MailError::Attachment("BUCKET_NAME is not set".into()))?;
        let mut files = Vec::new();
        for (field, content_type) in [("xlsx", crate::report::XLSX), ("csv", "text/csv; charset=utf-8")] {
            let Some(uri) = notice.payload[field].as_str() else { continue };
            let key =
                report_key(uri, &bucket.bucket).ok_or_else(|| MailError::Attachment(format!("{field}: {uri}")))?;
            let got =
                bucket.client.get_object().bucket(&bucket.bucket).key(key).send().await.map_err(|e| {
                    MailError::Attachment(format!("{key}: {}", aws_sdk_s3::error::DisplayErrorContext(&e)))
                })?;
            let body = got.body.collect().await.map_err(|e| MailError::Attachment(format!("{key}: {e}")))?;
            let name = key.rsplit('/').next().unwrap_or(key).to_string();
            files.push(Attachment { name, content_type: content_type.into(), body: body.into_bytes().to_vec() });
        }
        Ok(files)
    }
}

/// The key of `uri` (`s3://{bucket}/{key}`) when it is a report of `bucket` (under `reports/`).
pub fn report_key<'a>(uri: &'a str, bucket: &str) -> Option<&'a str> {
    let key = uri.strip_prefix("s3://")?.strip_prefix(bucket)?.strip_prefix('/')?;
    (key.starts_with("reports/") && !key.contains("..")).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::report_key;

    #[test]
    fn only_reports_of_the_bucket_are_attached() {
        assert_eq!(report_key("s3://b/reports/c/renewals-2027-02.xlsx", "b"), Some("reports/c/renewals-2027-02.xlsx"));
        assert_eq!(report_key("s3://other/reports/c/x.csv", "b"), None);
        assert_eq!(report_key("s3://b/imports/c/x.csv", "b"), None);
        assert_eq!(report_key("s3://bb/reports/x.csv", "b"), None);
        assert_eq!(report_key("s3://b/reports/../imports/x.csv", "b"), None);
    }
}
