//! Partner files as text and workbooks: reading a CSV export or the first sheet of an Excel
//! workbook (.xlsx) into its header and the e-mail cell of each row, a chunk at a time, under the
//! bounds of an import. Nothing here decides anything about a row: the review's rules are the
//! domain's (`domain::import`); docs/domain.md#reading-a-file says what is read and refused.
//!
//! Header row required; delimiter `,`, `;` or tab, detected from the header; UTF-8 with or
//! without BOM; quoted fields (the `csv` crate). The e-mail column is chosen by name
//! (case-insensitive) or is the first header that reads like e-mail. Every refusal names the line.
//! An Excel workbook is read the same way from its first sheet: its first row is the header, and
//! rows are numbered as the spreadsheet numbers them.

use std::io::{Cursor, Read};

use crate::domain::validate;

use crate::domain::import::{Cell, CELLS_PER_CHUNK, MAX_ROWS, XLSX_MEDIA_TYPE, ZIP_SIGNATURE};
use crate::domain::DomainError;

mod csv;
pub mod workbook;
mod xlsx;

pub use csv::{read, read_chunks};
pub use xlsx::read_xlsx;
use xlsx::{MAX_COLUMNS, MAX_SHEET_CELLS};

/// Header names taken for the e-mail column when none is named, in order of preference.
const EMAIL_HEADERS: &[&str] =
    &["email", "e-mail", "emailadres", "e-mailadres", "mail", "emailaddress", "e-mailaddress"];

/// What the file says: its header and its rows (line number and the e-mail cell), nothing
/// decided yet.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvFile {
    /// The CSV delimiter (`,` for a spreadsheet).
    pub delimiter: u8,
    /// The header's cells, in order.
    pub columns: Vec<String>,
    pub email_column: String,
    pub cells: Vec<(u64, String)>,
}

/// What a file's header says, and how many rows it had: what a streaming read answers once the
/// last chunk of cells is handed over.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub delimiter: u8,
    pub columns: Vec<String>,
    pub email_column: String,
    pub rows: u64,
}

/// Hands over the cells of a file, [`CELLS_PER_CHUNK`] at a time; an error from it stops the read.
pub type OnChunk<'a> = dyn FnMut(Vec<Cell>) -> Result<(), DomainError> + 'a;

/// What a refusal calls a row of the file: a line of CSV text, a row of a spreadsheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Line,
    Row,
}

fn refuse_at(unit: Unit, line: u64, message: impl std::fmt::Display) -> DomainError {
    let word = match unit {
        Unit::Line => "line",
        Unit::Row => "row",
    };
    DomainError::InvalidRequest {
        message: format!("{word} {line}: {message}"),
        details: serde_json::json!({ "line": line }),
    }
}

/// A refusal of the header row that names its columns in `details.columns`, so a client can
/// offer them to choose the e-mail column from.
fn refuse_header(unit: Unit, line: u64, message: impl std::fmt::Display, names: &[String]) -> DomainError {
    match refuse_at(unit, line, message) {
        DomainError::InvalidRequest { message, mut details } => {
            details["columns"] = serde_json::json!(names.iter().map(|n| n.trim()).collect::<Vec<_>>());
            DomainError::InvalidRequest { message, details }
        }
        other => other,
    }
}

fn refuse(line: u64, message: impl std::fmt::Display) -> DomainError {
    refuse_at(Unit::Line, line, message)
}

fn listed(names: &[String]) -> String {
    names.iter().map(|n| format!("{:?}", n.trim())).collect::<Vec<_>>().join(", ")
}

/// The e-mail column among the header's `names` (on `line`): the one named, or the first that
/// reads like e-mail.
fn email_index(names: &[String], email_column: Option<&str>, unit: Unit, line: u64) -> Result<usize, DomainError> {
    match email_column {
        Some(wanted) => names.iter().position(|h| normalise_header(h) == normalise_header(wanted)).ok_or_else(|| {
            refuse_header(
                unit,
                line,
                format!("there is no column named {wanted:?}; the header row has {}", listed(names)),
                names,
            )
        }),
        None => EMAIL_HEADERS
            .iter()
            .find_map(|want| names.iter().position(|h| normalise_header(h) == *want))
            .ok_or_else(|| {
                if names.iter().any(|h| validate::email("", h).is_ok()) {
                    refuse_at(
                        unit,
                        line,
                        "this looks like data, not a header row; the first row must name the columns (e.g. Email)",
                    )
                } else {
                    refuse_header(
                        unit,
                        line,
                        format!(
                            "no e-mail column found; name one with email_column (the header row has {})",
                            listed(names)
                        ),
                        names,
                    )
                }
            }),
    }
}

fn normalise_header(h: &str) -> String {
    h.trim().trim_matches('"').to_lowercase().replace([' ', '_'], "")
}

/// Whether a `Content-Type` names an Excel workbook.
pub fn is_xlsx_media_type(content_type: &str) -> bool {
    content_type.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case(XLSX_MEDIA_TYPE)
}

/// Reads an import file, CSV or Excel: a workbook when `media_type` says so or the file starts
/// as a ZIP archive does, CSV text otherwise. A workbook is read whole (a ZIP archive is read
/// from its end), up to `max_bytes`; CSV streams.
pub fn read_any(
    input: impl Read,
    media_type: Option<&str>,
    email_column: Option<&str>,
    max_bytes: u64,
) -> Result<CsvFile, DomainError> {
    let mut cells = Vec::new();
    let header = read_any_chunks(input, media_type, email_column, max_bytes, MAX_ROWS, &mut |chunk| {
        cells.extend(chunk);
        Ok(())
    })?;
    Ok(CsvFile { delimiter: header.delimiter, columns: header.columns, email_column: header.email_column, cells })
}

/// [`read_any`], handing the cells over a chunk at a time as [`read_chunks`] does: CSV text
/// streams (up to `max_rows` rows); a workbook is read whole (a ZIP archive is read from its
/// end), up to [`MAX_ROWS`], and then handed over in chunks.
pub fn read_any_chunks(
    mut input: impl Read,
    media_type: Option<&str>,
    email_column: Option<&str>,
    max_bytes: u64,
    max_rows: usize,
    on_chunk: &mut OnChunk<'_>,
) -> Result<Header, DomainError> {
    let mut head = Vec::with_capacity(ZIP_SIGNATURE.len());
    (&mut input)
        .take(ZIP_SIGNATURE.len() as u64)
        .read_to_end(&mut head)
        .map_err(|e| refuse(1, format!("could not be read: {e}")))?;
    let zip = head.starts_with(ZIP_SIGNATURE);
    let says_xlsx = media_type.is_some_and(is_xlsx_media_type);
    let input = Cursor::new(head).chain(input);
    if !zip && !says_xlsx {
        return read_chunks(input, email_column, max_rows, on_chunk);
    }
    if !zip {
        return Err(refuse_at(
            Unit::Row,
            1,
            "the file is sent as an Excel workbook (.xlsx) but is not one; send the .xlsx file itself, or the sheet saved as CSV",
        ));
    }
    let mut bytes = Vec::new();
    input
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| refuse_at(Unit::Row, 1, format!("could not be read: {e}")))?;
    if bytes.len() as u64 > max_bytes {
        return Err(DomainError::PayloadTooLarge(format!("the workbook is larger than {max_bytes} bytes")));
    }
    let CsvFile { delimiter, columns, email_column, cells } = read_xlsx(&bytes, email_column)?;
    let rows = cells.len() as u64;
    let mut cells = cells.into_iter().peekable();
    while cells.peek().is_some() {
        on_chunk(cells.by_ref().take(CELLS_PER_CHUNK).collect())?;
    }
    Ok(Header { delimiter, columns, email_column, rows })
}

#[cfg(test)]
mod tests;
