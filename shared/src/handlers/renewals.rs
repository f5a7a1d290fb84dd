//! The renewal forecast (DOMAIN.md §7, seed 000): as JSON, CSV or Excel.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde_json::json;

use super::load_org;
use crate::domain::auth::{authorize, Action};
use crate::domain::org::Org;
use crate::domain::renewal::{self, ForecastRow};
use crate::domain::DomainError;
use crate::http::{Ctx, Reply};
use crate::report::{self, Cell};
use crate::store::{Error, Store};

const HEADER: &[&str] = &[
    "email",
    "name",
    "licence_date",
    "renewal_date",
    "licence_count",
    "renewable",
    "last_login_at",
    "will_renew",
    "reason",
];

pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The forecast of `org` for every user whose renewal date is on or before `until` (inclusive).
pub async fn forecast(store: &Store, org: &Org, until: NaiveDate) -> Result<Vec<ForecastRow>, Error> {
    let end: DateTime<Utc> =
        until.and_time(NaiveTime::from_hms_milli_opt(23, 59, 59, 999).unwrap_or_default()).and_utc();
    let users = store.renewals_until(&org.org_id, end).await?;
    let mut with_enrolments = Vec::with_capacity(users.len());
    for u in users {
        let enrolments = store.enrolments(&org.org_id, &u.email).await?;
        with_enrolments.push((u, enrolments));
    }
    let policy = store.policy(org).await?;
    let balance = store.balance(&org.org_id, &policy).await?;
    Ok(renewal::forecast(with_enrolments, balance.available(end), end))
}

pub fn cells(rows: &[ForecastRow]) -> Vec<Vec<Cell>> {
    rows.iter()
        .map(|r| {
            vec![
                Cell::Text(r.email.clone()),
                Cell::Text(r.name.clone().unwrap_or_default()),
                r.licence_date.into(),
                Cell::Date(r.renewal_date),
                Cell::Number(r.licence_count as f64),
                Cell::Bool(r.renewable),
                r.last_login_at.into(),
                Cell::Bool(r.will_renew),
                Cell::Text(r.reason.unwrap_or("").to_string()),
            ]
        })
        .collect()
}

pub fn csv(rows: &[ForecastRow]) -> Vec<u8> {
    report::csv(HEADER, &cells(rows))
}

pub fn xlsx(rows: &[ForecastRow]) -> Result<Vec<u8>, Error> {
    report::xlsx("Renewals", HEADER, &cells(rows)).map_err(|e| crate::store::StoreError::Other(e.to_string()).into())
}

pub async fn get(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadLicences, &org)?;
    let until = cx.req.query("until").ok_or_else(|| DomainError::invalid("until", "is required (YYYY-MM-DD)"))?;
    let until = NaiveDate::parse_from_str(until, "%Y-%m-%d")
        .map_err(|_| DomainError::invalid("until", "must be a date (YYYY-MM-DD)"))?;
    let rows = forecast(&cx.app.store, &org, until).await?;
    let name = format!("renewals-{}-until-{until}", org.org_id);
    match cx.req.query("format").unwrap_or("json") {
        "json" => Ok(Reply::ok(json!({ "until": until, "items": rows }))),
        "csv" => Ok(Reply::file("text/csv; charset=utf-8", format!("{name}.csv"), csv(&rows))),
        "xlsx" => Ok(Reply::file(XLSX, format!("{name}.xlsx"), xlsx(&rows)?)),
        _ => Err(DomainError::invalid("format", "must be json, csv or xlsx").into()),
    }
}
