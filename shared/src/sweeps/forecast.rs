//! The monthly renewal forecast export (docs/domain.md#the-renewal-forecast): on the first day of
//! the month in each company's own time zone (from 06:00 there), for every company on automatic
//! renewal, the forecast of the month that starts that day as CSV and Excel under
//! `reports/{org_id}/renewals-YYYY-MM.{csv,xlsx}`, and a `renewal_forecast` notice to the org's
//! forecast contacts and `notify_emails` — once per company per month, however often the
//! (hourly) schedule fires. An hour in which no time zone is on a 1st reads nothing.
//!
//! Each company is exported on its own: one that fails is named in the report's `failed` and
//! tried again by the next hour's run; the others are exported.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Timelike, Utc};
use serde::Serialize;
use serde_json::json;

use crate::domain::zone::Zone;

use super::{Failed, Reported};
use crate::app::ImportsBucket;
use crate::command::new_id;
use crate::domain::contacts::{self, Topic};
use crate::domain::notice::{Notice, NoticeKind, Recipients};
use crate::domain::org::{Org, OrgKind};
use crate::domain::policy::{Policy, Renewal};
use crate::report::{self, XLSX};
use crate::store::{Error, Store, StoreError};
use crate::App;

/// The hour of a company's own first day of the month from which its forecast is exported.
pub const EXPORT_HOUR: u32 = 6;

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

/// The month that starts on `first`: its first and last day.
pub fn month_from(first: NaiveDate) -> (NaiveDate, NaiveDate) {
    let last = first.checked_add_months(Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(first);
    (first, last)
}

/// The month whose forecast an org in `zone` is due at `now`: the one that starts on its own day,
/// when that day is a 1st and its hour is [`EXPORT_HOUR`] or later; `None` otherwise.
pub fn month_due(now: DateTime<Utc>, zone: &Zone) -> Option<(NaiveDate, NaiveDate)> {
    let local = zone.local(now);
    (local.day() == 1 && local.hour() >= EXPORT_HOUR).then(|| month_from(local.date()))
}

/// Whether some time zone (UTC−12 to UTC+14) is on the 1st of a month at `now`.
fn some_zone_on_a_first(now: DateTime<Utc>) -> bool {
    (-12..=14).any(|h| (now + Duration::hours(h)).day() == 1)
}

pub async fn export(app: &App, now: DateTime<Utc>) -> Result<ForecastReport, Error> {
    let mut report = ForecastReport { now, ..Default::default() };
    if !some_zone_on_a_first(now) {
        return Ok(report);
    }
    let store = &app.store;
    let bucket = app.imports.as_ref().ok_or_else(|| StoreError::Other("BUCKET_NAME is not set".into()))?;
    for org in store.all_orgs().await?.into_iter().filter(|o| o.kind == OrgKind::Company) {
        match export_org(store, bucket, &org, now).await {
            Ok(None) => {}
            Ok(Some((month, sent))) => {
                report.notices_sent += usize::from(sent);
                report.exported.push(org.org_id.clone());
                report.month = month;
            }
            Err(e) => report.failed.push(Failed::new(ForecastReport::SWEEP, &org.org_id, None, "export", &e)),
        }
    }
    tracing::info!(?report, "renewal forecast export");
    Ok(report)
}

/// One company's export, when its month is due ([`month_due`] in its time zone) and not exported
/// yet: the month's forecast as CSV and xlsx, and its notice. `None` when the company is not on
/// automatic renewal, or nothing is due; else the month and whether the notice was sent now.
async fn export_org(
    store: &Store,
    bucket: &ImportsBucket,
    org: &Org,
    now: DateTime<Utc>,
) -> Result<Option<(String, bool)>, Error> {
    let policy = store.policy(org).await?;
    let Some((first, last)) = due(&policy, now) else { return Ok(None) };
    if policy.renewal != Renewal::Automatic
        || store.notice_stored(&org.org_id, NoticeKind::RenewalForecast, first).await?
    {
        return Ok(None);
    }
    let month = first.format("%Y-%m").to_string();
    let rows: Vec<_> =
        store.renewal_forecast(org, last).await?.into_iter().filter(|r| r.renewal_date >= first).collect();
    let base = format!("reports/{}/renewals-{month}", org.org_id);
    // E-mailed to people: in the org's language.
    let reader = report::renewals::Reader::Person(policy.locale);
    for (key, body, content_type) in [
        (format!("{base}.csv"), report::renewals::csv(&rows, reader)?, "text/csv; charset=utf-8"),
        (format!("{base}.xlsx"), report::renewals::xlsx(&rows, reader)?, XLSX),
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
    Ok(Some((month, store.put_notice_once(&notice, first).await?)))
}

/// The month due for an org under `policy` at `now`, in its time zone (UTC when it names none
/// that parses).
fn due(policy: &Policy, now: DateTime<Utc>) -> Option<(NaiveDate, NaiveDate)> {
    month_due(now, &policy.zone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_month_spans_its_days() {
        let (f, l) = month_from("2027-02-01".parse().unwrap());
        assert_eq!((f.to_string(), l.to_string()), ("2027-02-01".into(), "2027-02-28".into()));
        let (f, l) = month_from("2028-01-01".parse().unwrap());
        assert_eq!((f.to_string(), l.to_string()), ("2028-01-01".into(), "2028-01-31".into()));
    }

    /// The month that starts on the org's own 1st, from 06:00 there: west of UTC a day later
    /// than in UTC, east of it a day earlier.
    #[test]
    fn the_month_is_due_on_the_orgs_own_first_from_six() {
        let month = |now: &str, zone: &str| month_due(at(now), &Zone::parse(zone).unwrap()).map(|(f, _)| f.to_string());
        assert_eq!(month("2027-02-01T06:00:00Z", "UTC"), Some("2027-02-01".into()));
        assert_eq!(month("2027-02-01T05:59:59Z", "UTC"), None);
        assert_eq!(month("2027-02-01T06:00:00Z", "America/Los_Angeles"), None, "22:00 on 31 January there");
        assert_eq!(month("2027-02-01T14:00:00Z", "America/Los_Angeles"), Some("2027-02-01".into()));
        assert_eq!(
            month("2027-01-31T17:00:00Z", "Pacific/Auckland"),
            Some("2027-02-01".into()),
            "06:00 on 1 February there"
        );
        assert_eq!(month("2027-02-02T06:00:00Z", "UTC"), None);
        assert!(some_zone_on_a_first(at("2027-01-31T10:00:00Z")) && some_zone_on_a_first(at("2027-02-02T11:00:00Z")));
        assert!(!some_zone_on_a_first(at("2027-02-15T12:00:00Z")));
    }
}
