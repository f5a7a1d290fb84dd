//! The renewal forecast (docs/domain.md#the-renewal-forecast): as JSON, CSV or Excel.

use chrono::NaiveDate;
use serde_json::json;

use super::load_org;
use crate::domain::auth::{authorize, Action};
use crate::domain::DomainError;
use crate::http::{Ctx, Reply};
use crate::report::renewals::Reader;
use crate::report::{self, XLSX};
use crate::store::Error;

pub async fn get(cx: &Ctx<'_>) -> Result<Reply, Error> {
    let org = load_org(cx, cx.param("org_id")).await?;
    authorize(cx.principal()?, Action::ReadLicences, &org)?;
    let until = cx.req.query("until").ok_or_else(|| DomainError::invalid("until", "is required (YYYY-MM-DD)"))?;
    let until = NaiveDate::parse_from_str(until, "%Y-%m-%d")
        .map_err(|_| DomainError::invalid("until", "must be a date (YYYY-MM-DD)"))?;
    let rows = cx.app.store.renewal_forecast(&org, until).await?;
    let name = format!("renewals-{}-until-{until}", org.org_id);
    // A person's download names its language (`?locale=`); without it the file is an
    // integration's, as it always was.
    let reader = Reader::of_query(cx.req.query("locale"))?;
    match cx.req.query("format").unwrap_or("json") {
        "json" => Ok(Reply::ok(json!({ "until": until, "items": rows }))),
        "csv" => {
            Ok(Reply::file("text/csv; charset=utf-8", format!("{name}.csv"), report::renewals::csv(&rows, reader)?))
        }
        "xlsx" => Ok(Reply::file(XLSX, format!("{name}.xlsx"), report::renewals::xlsx(&rows, reader)?)),
        _ => Err(DomainError::invalid("format", "must be json, csv or xlsx").into()),
    }
}
