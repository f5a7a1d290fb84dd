//! The monthly renewal forecast export (docs/domain.md#the-renewal-forecast): on the first of the month, for
//! every company on automatic renewal, next month's forecast as CSV and Excel under
//! `reports/{org_id}/renewals-YYYY-MM.{csv,xlsx}`, and a `renewal_forecast` notice to the org's
//! `notify_emails` — once per company per month, however often the schedule fires.
//!
//! Each company is exported on its own: one that fails is named in the report's `failed` and
//! tried again by the schedule's retry; the others are exported.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use super::{Failed, Reported};
use crate::app::ImportsBucket;
use crate::command::new_id;
use crate::domain::contacts::{self, Topic};
use crate::domain::notice::{Notice, NoticeKind, Recipients};
use crate::domain::org::{Org, OrgKind};
use crate::domain::policy::Renewal;
use crate::report::{self, XLSX};
use crate::store::{Error, Store, StoreError};
use crate::App;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ForecastReport {
    pub now: DateTime<Utc>,
    pub month: String,
    pub exported: Vec<String>,
    pub notices_sent: usize,
    /// The companies left for the next run, each with its reason.
    pub failed: Vec<Failed>,
}

crate::sweeps::reported!(ForecastReport, "forecast");

/// The month after the one `now` is in: its first and last day.
pub fn next_month(now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let first_of_this = now.date_naive().with_day(1).unwrap_or_default();
    let first = first_of_this.checked_add_months(Months::new(1)).unwrap_or(first_of_this);
    let last = first.checked_add_months(Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(first);
    (first, last)
}

pub async fn export(app: &App, now: DateTime<Utc>) -> Result<ForecastReport, Error> {
    let store = &app.store;
    let bucket = app.imports.as_ref().ok_or_else(|| StoreError::Other("BUCKET_NAME is not set".into()))?;
    let (first, _) = next_month(now);
    let mut report = ForecastReport { now, month: first.format("%Y-%m").to_string(), ..Default::default() };
    for org in store.all_orgs().await?.into_iter().filter(|o| o.kind == OrgKind::Company) {
        match export_org(store, bucket, &org, now).await {
            Ok(None) => {}
            Ok(Some(sent)) => {
                report.notices_sent += usize::from(sent);
                report.exported.push(org.org_id.clone());
            }
            Err(e) => report.failed.push(Failed::new(ForecastReport::SWEEP, &org.org_id, None, "export", &e)),
        }
    }
    tracing::info!(?report, "renewal forecast export");
    Ok(report)
}

/// One company's export: next month's forecast as CSV and xlsx, and its notice (once a month).
/// `None` when the company is not on automatic renewal; else whether the notice was sent now.
async fn export_org(
    store: &Store,
    bucket: &ImportsBucket,
    org: &Org,
    now: DateTime<Utc>,
) -> Result<Option<bool>, Error> {
    let (first, last) = next_month(now);
    let month = first.format("%Y-%m").to_string();
    let policy = store.policy(org).await?;
    if policy.renewal != Renewal::Automatic {
        return Ok(None);
    }
    let rows: Vec<_> =
        store.renewal_forecast(org, last).await?.into_iter().filter(|r| r.renewal_date >= first).collect();
    let base = format!("reports/{}/renewals-{month}", org.org_id);
    for (key, body, content_type) in [
        (format!("{base}.csv"), report::renewals::csv(&rows)?, "text/csv; charset=utf-8"),
        (format!("{base}.xlsx"), report::renewals::xlsx(&rows)?, XLSX),
    ] {
        bucket.put(&bucket.bucket, &key, content_type, body).await?;
    }
    let notice = Notice {
        notice_id: new_id("ntc"),
        kind: NoticeKind::RenewalForecast,
        org_id: org.org_id.clone(),
        created_at: now,
        // Its forecast contacts and notify_emails only, bounded.
        recipients: Recipients::bounded(
            contacts::receiving(&org.contacts, Topic::Forecast).into_iter().chain(policy.notify_emails.iter().cloned()),
        )
        .to,
        recipients_omitted: 0,
        payload: json!({
            "month": month,
            "count": rows.len(),
            "will_renew": rows.iter().filter(|r| r.will_renew).count(),
            "csv": format!("s3://{}/{base}.csv", bucket.bucket),
            "xlsx": format!("s3://{}/{base}.xlsx", bucket.bucket),
        }),
    };
    Ok(Some(store.put_notice_once(&notice, first).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_month_spans_its_days() {
        let (f, l) = next_month("2027-01-01T06:00:00Z".parse().unwrap());
        assert_eq!((f.to_string(), l.to_string()), ("2027-02-01".into(), "2027-02-28".into()));
        let (f, l) = next_month("2027-12-01T06:00:00Z".parse().unwrap());
        assert_eq!((f.to_string(), l.to_string()), ("2028-01-01".into(), "2028-01-31".into()));
    }
}
