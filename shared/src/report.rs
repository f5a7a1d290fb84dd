//! Spreadsheet output shared by the reports: CSV that Excel opens (UTF-8 with BOM, cells escaped
//! against formula injection per OWASP) and real .xlsx files with dates as dates.

use chrono::{DateTime, NaiveDate, Utc};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::store::StoreError;

/// One cell of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
    Bool(bool),
    Date(NaiveDate),
    Time(DateTime<Utc>),
    /// Text written exactly as it is, never made inert: a value a file must give back unchanged
    /// to be read again (a user's e-mail in the users export: `+tag@x` given back as `'+tag@x`
    /// would be another address, and a sync would release the real one).
    Verbatim(String),
    Empty,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}

impl From<Option<NaiveDate>> for Cell {
    fn from(d: Option<NaiveDate>) -> Self {
        d.map(Cell::Date).unwrap_or(Cell::Empty)
    }
}

impl From<Option<DateTime<Utc>>> for Cell {
    fn from(t: Option<DateTime<Utc>>) -> Self {
        t.map(Cell::Time).unwrap_or(Cell::Empty)
    }
}

/// A text cell made inert for spreadsheets: one that begins with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading apostrophe, so it is shown, never evaluated (OWASP CSV
/// injection).
pub fn inert(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Text(t) => inert(t),
        Cell::Verbatim(t) => t.clone(),
        Cell::Number(n) => n.to_string(),
        Cell::Bool(b) => b.to_string(),
        Cell::Date(d) => d.to_string(),
        Cell::Time(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        Cell::Empty => String::new(),
    }
}

/// CSV with a BOM so Excel reads it as UTF-8; a row that could not be written is an error,
/// never a file cut short.
pub fn csv(header: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>, StoreError> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    let written = {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(header)
            .and_then(|()| rows.iter().try_for_each(|row| w.write_record(row.iter().map(cell_text))))
            .and_then(|()| w.flush().map_err(csv::Error::from))
    };
    written.map_err(|e| StoreError::Other(format!("writing a CSV file: {e}")))?;
    Ok(out)
}

/// An .xlsx workbook with one sheet; dates are Excel dates, booleans booleans.
pub fn xlsx(sheet: &str, header: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    ws.set_name(sheet)?;
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let time = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    for (c, h) in header.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
        ws.set_column_width(c as u16, 18)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            let c = c as u16;
            match cell {
                // Text is stored as text, never as a formula, so it needs no escaping here.
                Cell::Text(t) | Cell::Verbatim(t) => ws.write_string(r, c, t)?,
                Cell::Number(n) => ws.write_number(r, c, *n)?,
                Cell::Bool(b) => ws.write_boolean(r, c, *b)?,
                Cell::Date(d) => ws.write_date_with_format(r, c, d, &date)?,
                Cell::Time(t) => ws.write_datetime_with_format(r, c, t.naive_utc(), &time)?,
                Cell::Empty => ws,
            };
        }
    }
    workbook.save_to_buffer()
}

/// The media type of an .xlsx workbook.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The renewal forecast as a report: what `GET /v1/orgs/{org_id}/renewals` answers as CSV or
/// Excel, and what the monthly export stores.
/// Who reads a file: an integration (the API's `?format=` without `?locale=`: today's machine
/// headers and values), or a person in their language (the e-mailed forecast, the console's
/// downloads): headers, yes/no, states and reasons in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Integration,
    Person(crate::domain::policy::Locale),
}

impl Reader {
    /// The reader a request's `?locale=` names (none: an integration).
    pub fn of_query(locale: Option<&str>) -> Result<Reader, crate::domain::DomainError> {
        use crate::domain::policy::Locale;
        match locale {
            None => Ok(Reader::Integration),
            Some("en") => Ok(Reader::Person(Locale::En)),
            Some("nl") => Ok(Reader::Person(Locale::Nl)),
            Some(_) => Err(crate::domain::DomainError::invalid("locale", "must be en or nl")),
        }
    }

    /// `en` words or `nl` words for a person; `machine` for an integration.
    pub fn say<'a>(self, machine: &'a str, en: &'a str, nl: &'a str) -> &'a str {
        use crate::domain::policy::Locale;
        match self {
            Reader::Integration => machine,
            Reader::Person(Locale::En) => en,
            Reader::Person(Locale::Nl) => nl,
        }
    }
}

pub mod renewals {
    use super::Cell;
    use crate::domain::policy::Locale;
    use crate::domain::renewal::ForecastRow;
    use crate::store::StoreError;

    pub use super::Reader;

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
    const HEADER_EN: &[&str] = &[
        "E-mail",
        "Name",
        "Licence date",
        "Renewal date",
        "Licences",
        "Renewable",
        "Last login",
        "Will renew",
        "Why not",
    ];
    const HEADER_NL: &[&str] = &[
        "E-mailadres",
        "Naam",
        "Licentiedatum",
        "Verlengdatum",
        "Licenties",
        "Verlengbaar",
        "Laatste login",
        "Wordt verlengd",
        "Waarom niet",
    ];

    fn header(reader: Reader) -> &'static [&'static str] {
        match reader {
            Reader::Integration => HEADER,
            Reader::Person(Locale::En) => HEADER_EN,
            Reader::Person(Locale::Nl) => HEADER_NL,
        }
    }

    /// A reason in the reader's words (an integration reads the code).
    fn reason(code: Option<&'static str>, reader: Reader) -> String {
        let Some(code) = code else { return String::new() };
        let words = match (reader, code) {
            (Reader::Integration, c) => c,
            (Reader::Person(Locale::En), "not_renewable") => "not renewable",
            (Reader::Person(Locale::En), "no_live_enrolment") => "no course running at the renewal date",
            (Reader::Person(Locale::En), "pending") => "has not started yet",
            (Reader::Person(Locale::En), "balance_empty") => "no licence left to renew with",
            (Reader::Person(Locale::Nl), "not_renewable") => "niet verlengbaar",
            (Reader::Person(Locale::Nl), "no_live_enrolment") => "geen lopende uitvoering op de verlengdatum",
            (Reader::Person(Locale::Nl), "pending") => "nog niet begonnen",
            (Reader::Person(Locale::Nl), "balance_empty") => "geen licentie meer om mee te verlengen",
            (_, c) => c,
        };
        words.to_string()
    }

    /// A yes or no: a boolean cell for an integration, words for a person.
    fn yes_no(v: bool, reader: Reader) -> Cell {
        match reader {
            Reader::Integration => Cell::Bool(v),
            Reader::Person(Locale::En) => Cell::Text(if v { "yes" } else { "no" }.into()),
            Reader::Person(Locale::Nl) => Cell::Text(if v { "ja" } else { "nee" }.into()),
        }
    }

    fn cells(rows: &[ForecastRow], reader: Reader) -> Vec<Vec<Cell>> {
        rows.iter()
            .map(|r| {
                vec![
                    Cell::Text(r.email.clone()),
                    Cell::Text(r.name.clone().unwrap_or_default()),
                    r.licence_date.into(),
                    Cell::Date(r.renewal_date),
                    Cell::Number(r.licence_count as f64),
                    yes_no(r.renewable, reader),
                    r.last_login_at.into(),
                    yes_no(r.will_renew, reader),
                    Cell::Text(reason(r.reason, reader)),
                ]
            })
            .collect()
    }

    pub fn csv(rows: &[ForecastRow], reader: Reader) -> Result<Vec<u8>, StoreError> {
        super::csv(header(reader), &cells(rows, reader))
    }

    pub fn xlsx(rows: &[ForecastRow], reader: Reader) -> Result<Vec<u8>, StoreError> {
        let sheet = match reader {
            Reader::Person(Locale::Nl) => "Verlengingen",
            _ => "Renewals",
        };
        super::xlsx(sheet, header(reader), &cells(rows, reader)).map_err(|e| StoreError::Other(e.to_string()))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_person_reads_headers_yes_no_and_reasons_in_their_language() {
            let rows = vec![ForecastRow {
                email: "a@c.example".into(),
                name: None,
                licence_date: None,
                renewal_date: "2027-02-11".parse().unwrap(),
                renewal_at: "2027-02-11T09:00:00Z".parse().unwrap(),
                licence_count: 1,
                renewable: false,
                last_login_at: None,
                will_renew: false,
                reason: Some("not_renewable"),
            }];
            let text = |reader| String::from_utf8(csv(&rows, reader).unwrap()).unwrap();
            let machine = text(Reader::Integration);
            assert!(
                machine.contains("email,name,licence_date") && machine.contains("false,,false,not_renewable"),
                "{machine}"
            );
            let nl = text(Reader::Person(Locale::Nl));
            assert!(nl.contains("E-mailadres,Naam,Licentiedatum") && nl.contains("nee,,nee,niet verlengbaar"), "{nl}");
            let en = text(Reader::Person(Locale::En));
            assert!(en.contains("E-mail,Name,Licence date") && en.contains("no,,no,not renewable"), "{en}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_escaped() {
        for bad in ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(inert(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(inert("Acme"), "Acme");
        let out = csv(&["name"], &[vec![Cell::Text("=1+1".into())]]).unwrap();
        assert!(out.starts_with(b"\xEF\xBB\xBF"));
        assert_eq!(String::from_utf8_lossy(&out[3..]), "name\n'=1+1\n");
    }
}
