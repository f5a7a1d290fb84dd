//! CSV import (DOMAIN.md §10): reading a file into rows, and the review of each row.
//!
//! Header row required; delimiter `,`, `;` or tab, detected from the header; UTF-8 with or
//! without BOM; quoted fields (the `csv` crate). The e-mail column is chosen by name
//! (case-insensitive) or is the first header that reads like e-mail. Every refusal names the line.
//! An Excel workbook (.xlsx) is read the same way from its first sheet: its first row is the
//! header, and rows are numbered as the spreadsheet numbers them.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Cursor, Read};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::user::User;
use super::{validate, DomainError};

pub mod workbook;

/// Rows a file sent through the API may have.
pub const MAX_ROWS: usize = 100_000;
/// Rows a CSV file dropped on S3 may have: it is read and reviewed in chunks, never whole.
pub const MAX_S3_ROWS: usize = 1_000_000;
/// The e-mail cells a streaming read hands over at a time (one stored chunk of rows).
pub const CELLS_PER_CHUNK: usize = 1000;
/// No line (record) of a sensible spreadsheet export is longer.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
pub const MAX_API_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_S3_BYTES: u64 = 100 * 1024 * 1024;

/// The media type of an Excel workbook.
pub const XLSX_MEDIA_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The first bytes of a ZIP archive; an .xlsx file is one.
pub const ZIP_SIGNATURE: &[u8] = b"PK\x03\x04";

/// The most of an invalid cell a row keeps (an e-mail has at most 254 bytes): a wrong column of
/// long notes must not make the stored rows too large.
pub const MAX_CELL_KEPT: usize = 254;

/// An invalid cell as its row keeps it: cut at a character boundary, marked with " …" (a space,
/// so the cut text can never pass for an e-mail).
fn kept_cell(cell: &str) -> String {
    if cell.len() <= MAX_CELL_KEPT {
        return cell.to_string();
    }
    let marker = " …";
    let mut end = MAX_CELL_KEPT - marker.len();
    while !cell.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &cell[..end])
}

/// Header names taken for the e-mail column when none is named, in order of preference.
const EMAIL_HEADERS: &[&str] =
    &["email", "e-mail", "emailadres", "e-mailadres", "mail", "emailaddress", "e-mailaddress"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Renew,
    Sync,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, DomainError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "renew" => Ok(Mode::Renew),
            "sync" => Ok(Mode::Sync),
            _ => Err(DomainError::invalid("mode", "must be renew or sync")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowOutcome {
    Renew,
    AlreadyActive,
    Unknown,
    Invalid,
    Duplicate,
    /// Under `mode = sync`: a user of the org missing from the file, to be released (not a row
    /// of the file).
    Release,
}

impl RowOutcome {
    pub fn parse(s: &str) -> Result<RowOutcome, DomainError> {
        serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_lowercase())).map_err(|_| {
            DomainError::invalid("outcome", "must be renew, already_active, unknown, invalid, duplicate or release")
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RowOutcome::Renew => "renew",
            RowOutcome::AlreadyActive => "already_active",
            RowOutcome::Unknown => "unknown",
            RowOutcome::Invalid => "invalid",
            RowOutcome::Duplicate => "duplicate",
            RowOutcome::Release => "release",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub line: u64,
    pub email: String,
    pub outcome: RowOutcome,
}

impl Row {
    /// A row as the API shows it.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({ "line": self.line, "email": self.email, "outcome": self.outcome })
    }

    /// A user a sync releases, as the API shows it: not a line of the file.
    pub fn release_view(email: &str) -> serde_json::Value {
        serde_json::json!({ "line": null, "email": email, "outcome": RowOutcome::Release })
    }
}

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

/// Counts the candidate delimiters in the header line outside quotes; the most frequent wins.
fn detect_delimiter(header: &[u8]) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for &b in header {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for c in counts.iter_mut() {
                if c.0 == b {
                    c.1 += 1;
                }
            }
        }
    }
    counts.iter().max_by_key(|c| c.1).filter(|c| c.1 > 0).map(|c| c.0).unwrap_or(b',')
}

/// Where the reader stands in the quoting of the bytes it has passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// At the start of a field: a quote here opens a quoted field.
    FieldStart,
    /// In an unquoted field: a quote here is text.
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: it closes the field unless another quote follows.
    QuoteInQuoted,
}

/// Passes the bytes on to the csv reader and follows their quoting as csv-core does (a quote
/// opens a field only at its start, `""` in a quoted field is a quote, anything else after the
/// closing quote is text): the csv crate ends a quoted field still open at the end of the input
/// without complaint, so a quote left open on the last row would otherwise be read as a row.
struct QuoteWatch<R> {
    inner: R,
    delimiter: u8,
    state: Quoting,
    /// The line the next byte is on, and the line the last quoted field opened on.
    line: u64,
    opened: u64,
}

impl<R> QuoteWatch<R> {
    fn new(inner: R, delimiter: u8) -> Self {
        QuoteWatch { inner, delimiter, state: Quoting::FieldStart, line: 1, opened: 1 }
    }

    /// The line of a quote still open after the last byte read.
    fn open_quote(&self) -> Option<u64> {
        (self.state == Quoting::Quoted).then_some(self.opened)
    }
}

impl<R: Read> Read for QuoteWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            self.state = match (self.state, b) {
                (Quoting::Quoted, b'"') => Quoting::QuoteInQuoted,
                (Quoting::Quoted, _) | (Quoting::QuoteInQuoted, b'"') => Quoting::Quoted,
                (Quoting::FieldStart, b'"') => {
                    self.opened = self.line;
                    Quoting::Quoted
                }
                (_, b'\n') => Quoting::FieldStart,
                (_, b) if b == self.delimiter => Quoting::FieldStart,
                _ => Quoting::Unquoted,
            };
            if b == b'\n' {
                self.line += 1;
            }
        }
        Ok(n)
    }
}

/// The header line of a CSV file, read with a bound so a 10 MB single line is refused, not
/// buffered; a file that is binary (a NUL byte near the start) or empty is refused.
fn read_header(reader: &mut BufReader<impl Read>) -> Result<Vec<u8>, DomainError> {
    let start = reader.fill_buf().map_err(|e| refuse(1, format!("could not be read: {e}")))?;
    if start.iter().take(8192).any(|&b| b == 0) {
        return Err(refuse(1, "the file is binary, not CSV text (save the spreadsheet as CSV or .xlsx)"));
    }
    let mut header = Vec::new();
    let read = reader
        .take(MAX_RECORD_BYTES as u64 + 1)
        .read_until(b'\n', &mut header)
        .map_err(|e| refuse(1, format!("could not be read: {e}")))?;
    if read == 0 || header.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(refuse(1, "the file is empty; it needs a header row naming the columns"));
    }
    if header.len() > MAX_RECORD_BYTES && !header.ends_with(b"\n") {
        return Err(refuse(1, format!("the line is longer than {MAX_RECORD_BYTES} bytes; this is not a CSV export")));
    }
    if header.contains(&0) {
        return Err(refuse(1, "the file is binary, not CSV text"));
    }
    Ok(header)
}

/// Whether the record that starts on `line` is blank; a record too long to be a row is refused.
fn blank_row(record: &csv::ByteRecord, line: u64) -> Result<bool, DomainError> {
    if record.as_slice().len() > MAX_RECORD_BYTES {
        return Err(refuse(
            line,
            format!("the row is longer than {MAX_RECORD_BYTES} bytes; is a quote left open above it?"),
        ));
    }
    Ok(record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)))
}

/// The e-mail cell of one (not blank) record that starts on `line`.
fn email_cell(record: &csv::ByteRecord, line: u64, index: usize, delimiter: u8) -> Result<String, DomainError> {
    let cell = record.get(index).unwrap_or_default();
    if cell.contains(&0) {
        return Err(refuse(line, "the file is binary, not CSV text"));
    }
    let cell = std::str::from_utf8(cell).map_err(|_| refuse(line, "the row is not UTF-8 text"))?.trim_end_matches('\r');
    // A quoted cell holding line breaks followed by more delimited text is a quote left open:
    // the rows after it were swallowed into one cell.
    let swallowed =
        record.iter().any(|f| f.splitn(2, |&b| b == b'\n').nth(1).is_some_and(|rest| rest.contains(&delimiter)));
    if swallowed || (cell.contains('\n') && validate::email("", cell).is_err()) {
        return Err(refuse(line, "a quoted field runs over several lines; is a closing quote missing?"));
    }
    Ok(cell.to_string())
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

/// One row's line and its e-mail cell, as read.
pub type Cell = (u64, String);

/// Hands over the cells of a file, [`CELLS_PER_CHUNK`] at a time; an error from it stops the read.
pub type OnChunk<'a> = dyn FnMut(Vec<Cell>) -> Result<(), DomainError> + 'a;

/// Reads a CSV export from any reader, streaming: only the e-mail cells are kept.
pub fn read(input: impl Read, email_column: Option<&str>) -> Result<CsvFile, DomainError> {
    let mut cells = Vec::new();
    let header = read_chunks(input, email_column, MAX_ROWS, &mut |chunk| {
        cells.extend(chunk);
        Ok(())
    })?;
    Ok(CsvFile { delimiter: header.delimiter, columns: header.columns, email_column: header.email_column, cells })
}

/// Reads a CSV export from any reader, streaming, handing its e-mail cells to `on_chunk` a chunk
/// at a time: memory holds one chunk, whatever the file's size. A file of more than `max_rows`
/// rows is refused at the row past the limit.
pub fn read_chunks(
    input: impl Read,
    email_column: Option<&str>,
    max_rows: usize,
    on_chunk: &mut OnChunk<'_>,
) -> Result<Header, DomainError> {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let header = read_header(&mut reader)?;
    let body = header.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&header).to_vec();
    let delimiter = detect_delimiter(&body);
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        // Rows end at '\n'; a '\r' before it is trimmed off the last cell. (With CRLF as the
        // terminator the reader's line numbers run one short, and refusals must name the line.)
        .terminator(csv::Terminator::Any(b'\n'))
        .has_headers(true)
        .flexible(true)
        .from_reader(QuoteWatch::new(Cursor::new(body).chain(reader), delimiter));
    let headers = csv.byte_headers().map_err(|e| refuse(1, format!("the header row cannot be read: {e}")))?.clone();
    let names: Vec<String> = headers
        .iter()
        .map(|h| {
            String::from_utf8(h.to_vec()).map_err(|_| {
                refuse(1, "the header row is not UTF-8 text; is the file binary, or saved in another encoding?")
            })
        })
        .collect::<Result<_, _>>()?;
    let index = email_index(&names, email_column, Unit::Line, 1)?;
    let mut cells = Vec::with_capacity(CELLS_PER_CHUNK);
    let mut rows = 0u64;
    let mut record = csv::ByteRecord::new();
    while let Some(line) = next_record(&mut csv, &mut record)? {
        if blank_row(&record, line)? {
            continue;
        }
        if rows == max_rows as u64 {
            return Err(refuse(line, format!("the file has more than {max_rows} rows; split it")));
        }
        rows += 1;
        cells.push((line, email_cell(&record, line, index, delimiter)?));
        if cells.len() == CELLS_PER_CHUNK {
            // A refusal further on (a quote left open at the end) comes after chunks were
            // handed over: whoever took them drops them then.
            let full = std::mem::replace(&mut cells, Vec::with_capacity(CELLS_PER_CHUNK));
            on_chunk(full)?;
        }
    }
    // The reader has seen every byte now: a quote still open swallowed the end of the file.
    if let Some(opened) = csv.get_ref().open_quote() {
        return Err(refuse(opened, "a quote opened on this line is never closed; is a closing quote missing?"));
    }
    if rows == 0 {
        return Err(refuse(2, "the file has a header row but no data rows"));
    }
    if !cells.is_empty() {
        on_chunk(cells)?;
    }
    let columns: Vec<String> = names.iter().map(|n| n.trim().to_string()).collect();
    Ok(Header { delimiter, email_column: columns[index].clone(), columns, rows })
}

/// Reads the next record into `record`; the line it starts on, or `None` at the end.
fn next_record<R: Read>(csv: &mut csv::Reader<R>, record: &mut csv::ByteRecord) -> Result<Option<u64>, DomainError> {
    let line = csv.position().line();
    match csv.read_byte_record(record) {
        Ok(false) => return Ok(None),
        Ok(true) => {}
        Err(e) => {
            return Err(refuse(e.position().map(|p| p.line()).unwrap_or(line), format!("cannot be read as CSV: {e}")))
        }
    }
    // The line the row starts on, from where the reader stands after it: a record's own start
    // position counts from the end of the row before, blank lines and all.
    let embedded = record.iter().map(|f| f.iter().filter(|&&b| b == b'\n').count() as u64).sum::<u64>();
    Ok(Some(csv.position().line().saturating_sub(embedded + u64::from(!csv.is_done())).max(line)))
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

/// Columns of a spreadsheet's header row that are read (Excel's own limit).
const MAX_COLUMNS: usize = 16_384;

/// Cells of a sheet an import reads through before it refuses the file (a workbook that
/// unpacks into far more than 100,000 rows of a few hundred columns is not a list of learners).
const MAX_SHEET_CELLS: u64 = 20_000_000;

/// The row of a sheet being read: its index (0-based), whether anything is in it, and the cells
/// it keeps — all of the header row, only the e-mail cell of a data row.
struct SheetRow {
    index: u32,
    filled: bool,
    bytes: usize,
    cells: Vec<(u32, String)>,
}

/// What has been read of a sheet: the header (its row number, names and the e-mail column)
/// once found, and the e-mail cells of the rows after it.
struct Sheet<'a> {
    email_column: Option<&'a str>,
    header: Option<(u64, Vec<String>, usize)>,
    cells: Vec<(u64, String)>,
}

impl Sheet<'_> {
    fn take(&mut self, row: SheetRow) -> Result<(), DomainError> {
        let number = u64::from(row.index) + 1;
        if !row.filled {
            return Ok(());
        }
        match &self.header {
            None => {
                let width = row.cells.iter().map(|(c, _)| *c as usize + 1).max().unwrap_or(0);
                let mut names = vec![String::new(); width];
                for (c, t) in row.cells {
                    names[c as usize] = t.trim().to_string();
                }
                let index = email_index(&names, self.email_column, Unit::Row, number)?;
                self.header = Some((number, names, index));
            }
            Some(_) => {
                if self.cells.len() == MAX_ROWS {
                    return Err(refuse_at(
                        Unit::Row,
                        number,
                        format!("the sheet has more than {MAX_ROWS} rows; split it"),
                    ));
                }
                let cell = row.cells.into_iter().next().map(|(_, t)| t).unwrap_or_default();
                self.cells.push((number, cell));
            }
        }
        Ok(())
    }
}

/// Reads the first sheet of an Excel workbook (.xlsx) as [`read`] reads CSV text: the first row
/// with anything in it is the header, blank rows are skipped, and every row keeps the number
/// the spreadsheet gives it (a refusal names it). The workbook is read under the bounds of
/// [`workbook`]; cells stream from the sheet, and only the header and the e-mail cells (each cut
/// as a row keeps it) are kept.
pub fn read_xlsx(bytes: &[u8], email_column: Option<&str>) -> Result<CsvFile, DomainError> {
    let mut sheet = Sheet { email_column, header: None, cells: Vec::new() };
    let mut row: Option<SheetRow> = None;
    let mut seen = 0u64;
    workbook::read_first_sheet(bytes, &mut |cell| {
        if let Some(done) = row.take_if(|r| r.index != cell.row) {
            sheet.take(done)?;
        }
        seen += 1;
        let number = u64::from(cell.row) + 1;
        if seen > MAX_SHEET_CELLS {
            return Err(refuse_at(
                Unit::Row,
                number,
                "the sheet holds far more cells than a list of learners; is it the right file?",
            ));
        }
        let workbook::Cell { row: r, column: c, text } = cell;
        let current = row.get_or_insert_with(|| SheetRow { index: r, filled: false, bytes: 0, cells: Vec::new() });
        current.filled |= !text.trim().is_empty();
        match &sheet.header {
            None => {
                current.bytes += text.len();
                if current.bytes > MAX_RECORD_BYTES {
                    return Err(refuse_at(
                        Unit::Row,
                        number,
                        format!("the header row is longer than {MAX_RECORD_BYTES} bytes"),
                    ));
                }
                if (c as usize) < MAX_COLUMNS {
                    current.cells.push((c, text));
                }
            }
            // A longer cell is no e-mail: it is kept as an invalid row keeps it.
            Some((_, _, index)) if c as usize == *index => current.cells.push((c, kept_cell(&text))),
            Some(_) => {}
        }
        Ok(())
    })?;
    if let Some(done) = row.take() {
        sheet.take(done)?;
    }
    let Sheet { header, cells, .. } = sheet;
    let Some((line, names, index)) = header else {
        return Err(refuse_at(Unit::Row, 1, "the sheet is empty; it needs a header row naming the columns"));
    };
    if cells.is_empty() {
        return Err(refuse_at(Unit::Row, line + 1, "the sheet has a header row but no data rows"));
    }
    Ok(CsvFile { delimiter: b',', email_column: names[index].clone(), columns: names, cells })
}

/// The review of an import (API.md `POST /v1/orgs/{org_id}/imports`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub rows: u64,
    pub renew: u64,
    pub already_active: u64,
    pub unknown: u64,
    pub invalid: u64,
    pub duplicate: u64,
    pub available: u64,
    pub shortfall: u64,
    /// Under `mode = sync`: users of the org missing from the file, to be released.
    #[serde(default)]
    pub release: u64,
}

/// The review of a file read a chunk at a time (DOMAIN.md §10): each chunk's rows are decided
/// against the users its e-mails name, and what must be remembered across chunks — which
/// e-mails came before, for duplicates and for who a sync releases — is one 64-bit hash per
/// e-mail, not the e-mails. (Two different e-mails share a hash with a chance of about 1 in
/// 3·10⁷ in a file of 1,000,000 rows; the later one would be called a duplicate.)
#[derive(Debug)]
pub struct Reviewer {
    now: DateTime<Utc>,
    seen: HashSet<u64>,
    summary: Summary,
    /// A missing user is one to create and license (`renew`), not `unknown`.
    creating: bool,
}

/// The hash a [`Reviewer`] remembers an e-mail by (SipHash with fixed keys). A set of them
/// lives in one process only: a resumed commit builds its own from the stored rows.
fn email_hash(email: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    email.hash(&mut h);
    h.finish()
}

impl Reviewer {
    pub fn new(now: DateTime<Utc>) -> Self {
        Reviewer { now, seen: HashSet::new(), summary: Summary::default(), creating: false }
    }

    /// A reviewer for which a missing user is one to create and license (`renew`), as a large
    /// allocation with `create_missing` asks; otherwise as [`Reviewer::new`].
    pub fn creating(mut self, creating: bool) -> Self {
        self.creating = creating;
        self
    }

    /// The valid e-mails of `cells`: whose users a chunk's review reads.
    pub fn emails(cells: &[Cell]) -> Vec<String> {
        let mut emails: Vec<String> = cells.iter().filter_map(|(_, c)| validate::email("email", c).ok()).collect();
        emails.sort();
        emails.dedup();
        emails
    }

    /// Decides the rows of one chunk, in file order after the chunks before it; `users` holds
    /// (at least) the users its e-mails name. Stored rows given again as cells (a fresh review
    /// at commit) come out the same but for what changed meanwhile: an invalid row is kept in a
    /// form that never passes for an e-mail.
    pub fn chunk(&mut self, cells: &[Cell], users: &HashMap<String, User>) -> Vec<Row> {
        let rows: Vec<Row> = cells.iter().map(|(line, cell)| self.row(*line, cell, users)).collect();
        self.summary.rows += rows.len() as u64;
        rows
    }

    fn row(&mut self, line: u64, cell: &str, users: &HashMap<String, User>) -> Row {
        let (email, outcome) = match validate::email("email", cell) {
            Err(_) => (kept_cell(cell.trim()), RowOutcome::Invalid),
            Ok(email) if !self.seen.insert(email_hash(&email)) => (email, RowOutcome::Duplicate),
            Ok(email) => match users.get(&email) {
                None if self.creating => (email, RowOutcome::Renew),
                None => (email, RowOutcome::Unknown),
                Some(u) if u.holds_seat(self.now) => (email, RowOutcome::AlreadyActive),
                Some(_) => (email, RowOutcome::Renew),
            },
        };
        let s = &mut self.summary;
        match outcome {
            RowOutcome::Renew => s.renew += 1,
            RowOutcome::AlreadyActive => s.already_active += 1,
            RowOutcome::Unknown => s.unknown += 1,
            RowOutcome::Invalid => s.invalid += 1,
            RowOutcome::Duplicate => s.duplicate += 1,
            RowOutcome::Release => s.release += 1,
        }
        Row { line, email, outcome }
    }

    /// Remembers the e-mails of rows decided before (a commit's pass over the stored rows), for
    /// [`Reviewer::releases`].
    pub fn saw(&mut self, rows: &[Row]) {
        self.seen.extend(rows.iter().map(|r| email_hash(&r.email)));
    }

    /// Under `mode = sync`, once every chunk is reviewed: whether `user` is one the file leaves
    /// out, to be released (a learner, not released yet). Company managers are never released by
    /// a sync: a file of learners must not lock the managers out.
    pub fn releases(&self, user: &User) -> bool {
        user.role == super::user::UserRole::Learner
            && user.released_at.is_none()
            && !self.seen.contains(&email_hash(&user.email))
    }

    /// The summary of every chunk reviewed, against `available` seats, with `release` users a
    /// sync releases.
    pub fn summary(&self, available: u64, release: u64) -> Summary {
        let mut summary = self.summary.clone();
        summary.available = available;
        summary.shortfall = summary.renew.saturating_sub(available);
        summary.release = release;
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole file's review, as the import's chunks add up to.
    struct Review {
        rows: Vec<Row>,
        summary: Summary,
        release: Vec<String>,
    }

    /// Decides every row of `file` against `users` in one chunk; under `mode = sync`, who the
    /// file leaves out.
    fn review(file: &CsvFile, users: &HashMap<String, User>, available: u64, mode: Mode, now: DateTime<Utc>) -> Review {
        let mut reviewer = Reviewer::new(now);
        let rows = reviewer.chunk(&file.cells, users);
        let mut release: Vec<String> = match mode {
            Mode::Renew => vec![],
            Mode::Sync => users.values().filter(|u| reviewer.releases(u)).map(|u| u.email.clone()).collect(),
        };
        release.sort();
        let summary = reviewer.summary(available, release.len() as u64);
        Review { rows, summary, release }
    }

    fn cells(text: &[u8]) -> Vec<(u64, String)> {
        read(text, None).unwrap().cells
    }

    #[test]
    fn delimiters_are_detected_and_quotes_honoured() {
        let comma = b"Name,Email\n\"Doe, Ann\",ann@c.example\nBob,bob@c.example\n";
        assert_eq!(cells(comma), vec![(2, "ann@c.example".into()), (3, "bob@c.example".into())]);
        let semi = b"\xEF\xBB\xBFNaam;E-mailadres\r\nAnn;ann@c.example\r\n";
        let f = read(&semi[..], None).unwrap();
        assert_eq!((f.delimiter, f.email_column.as_str()), (b';', "E-mailadres"));
        assert_eq!(f.cells, vec![(2, "ann@c.example".to_string())], "CRLF rows keep their line numbers");
        let tab = b"email\tname\nann@c.example\tAnn\n";
        assert_eq!(read(&tab[..], None).unwrap().delimiter, b'\t');
    }

    #[test]
    fn line_numbers_count_blank_lines_crlf_and_quoted_line_breaks() {
        let text = b"name,email\r\nA,a@c.example\r\n\r\n\"Multi\nline\",b@c.example\r\nC,c@c.example";
        assert_eq!(cells(text), vec![(2, "a@c.example".into()), (4, "b@c.example".into()), (6, "c@c.example".into())]);
        let text = b"email\na@c.example\n\n\nb@c.example\n";
        assert_eq!(cells(text), vec![(2, "a@c.example".into()), (5, "b@c.example".into())]);
    }

    #[test]
    fn the_email_column_is_found_by_name() {
        let f = read(&b"Work Mail,Private Mail\na@c.example,b@home.example\n"[..], Some("private mail")).unwrap();
        assert_eq!(f.cells[0].1, "b@home.example");
        let err = read(&b"name,email\nx,a@c.example\n"[..], Some("mail address")).unwrap_err();
        assert!(err.to_string().contains("line 1") && err.to_string().contains("\"email\""), "{err}");
    }

    #[test]
    fn a_header_without_an_e_mail_column_is_refused_naming_its_columns() {
        let err = read(&b"Name,Work address\nAnn,ann@c.example\n"[..], None).unwrap_err();
        let DomainError::InvalidRequest { details, .. } = &err else { panic!("{err:?}") };
        assert_eq!(details, &serde_json::json!({"line": 1, "columns": ["Name", "Work address"]}));
        let err = read(&b"Name,Work address\nAnn,ann@c.example\n"[..], Some("Mail")).unwrap_err();
        let DomainError::InvalidRequest { details, .. } = &err else { panic!("{err:?}") };
        assert_eq!(details["columns"], serde_json::json!(["Name", "Work address"]));
        assert!(read(&b"Name,Work address\nAnn,ann@c.example\n"[..], Some("work address")).is_ok());
    }

    #[test]
    fn bad_files_are_refused_naming_the_line() {
        let cases: Vec<(&[u8], &str)> = vec![
            (b"", "line 1"),
            (b"name,phone\nx,1\n", "no e-mail column"),
            (b"ann@c.example\nbob@c.example\n", "looks like data"),
            (b"email\n", "no data rows"),
            (b"\x00\x01\x02binary", "binary"),
            (b"email\nann@c.example\n\"bob@c.example\nrest,of,file\n", "line 3"),
            (b"email\nann@c.example\n\xff\xfe@c.example\n", "line 3"),
        ];
        for (text, want) in cases {
            let err = read(text, None).unwrap_err();
            assert_eq!(err.code(), "invalid_request");
            assert!(err.to_string().contains(want), "{:?}: {err}", String::from_utf8_lossy(text));
        }
        let long = vec![b'a'; MAX_RECORD_BYTES + 10];
        assert!(read(&long[..], None).unwrap_err().to_string().contains("longer than"));
    }

    #[test]
    fn a_quote_left_open_at_the_end_of_the_file_is_refused_naming_its_line() {
        let cases: Vec<(&[u8], &str)> = vec![
            (b"email\n\"a@b.test\n", "line 2:"),
            (b"email\n\"a@b.test", "line 2:"),
            (b"email\r\n\"a@b.test\r\n", "line 2:"),
            (b"email\nann@c.example\n\n\"a@b.test\n", "line 4:"),
            (b"name,email\nAnn,ann@c.example\nBob,\"bob@c.example\n", "line 3:"),
            (b"name,email\n\"Multi\nline\",\"b@c.example\n", "line 3:"),
            (b"name,email\n\"Say \"\"hi\"\"\",a@c.example\nC,\"c@c.example\"\"\n", "line 3:"),
            (b"email\n\"", "line 2:"),
        ];
        for (text, want) in cases {
            let err = read(text, None).unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{:?}", String::from_utf8_lossy(text));
            let message = err.to_string();
            assert!(
                message.contains(want) && message.contains("never closed"),
                "{:?}: {message}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn closed_quotes_and_quotes_inside_unquoted_fields_read_as_before() {
        assert_eq!(cells(b"email\n\"a@b.test\"\n"), vec![(2, "a@b.test".into())]);
        assert_eq!(cells(b"email\n\"a@b.test\""), vec![(2, "a@b.test".into())]);
        assert_eq!(cells(b"name,email\n\"Say \"\"hi\"\"\",a@c.example\r\n"), vec![(2, "a@c.example".into())]);
        assert_eq!(cells(b"name,email\n\"Multi\nline\",\"b@c.example\""), vec![(2, "b@c.example".into())]);
        // A quote that does not open a field is text, as the csv crate reads it.
        assert_eq!(cells(b"name,email\nO\"Brien,ob@c.example\n"), vec![(2, "ob@c.example".into())]);
        assert_eq!(cells(b"email\nann\"@c.example\n"), vec![(2, "ann\"@c.example".into())]);
        assert_eq!(cells(b"email\nann@c.example\""), vec![(2, "ann@c.example\"".into())]);
        assert_eq!(cells(b"name,email\n\"Ann\"x \",a@c.example\n"), vec![(2, "a@c.example".into())]);
    }

    #[test]
    fn the_quote_watch_agrees_with_the_csv_reader() {
        // Every text of up to 7 bytes of quotes, delimiters, line breaks and letters: the watch
        // says a quote is open exactly when the csv crate would read ",Z" appended to the text
        // into the last field rather than as a field of its own.
        let mut texts: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..7 {
            let longer: Vec<Vec<u8>> = texts
                .iter()
                .filter(|t| t.len() == texts.last().unwrap().len())
                .flat_map(|t| b"\",\na".iter().map(move |&b| [t.as_slice(), &[b]].concat()))
                .collect();
            texts.extend(longer);
        }
        for text in texts {
            let mut watch = QuoteWatch::new(&text[..], b',');
            std::io::copy(&mut watch, &mut std::io::sink()).unwrap();
            let mut csv = csv::ReaderBuilder::new()
                .terminator(csv::Terminator::Any(b'\n'))
                .has_headers(false)
                .flexible(true)
                .from_reader(Cursor::new([text.as_slice(), b",Z"].concat()));
            let last = csv.byte_records().last().unwrap().unwrap();
            let swallowed = last.iter().next_back() != Some(&b"Z"[..]);
            assert_eq!(watch.open_quote().is_some(), swallowed, "{:?}", String::from_utf8_lossy(&text));
        }
    }

    /// A workbook made by rust_xlsxwriter: each row's cells from column A, `None` left empty.
    fn workbook(rows: &[(u32, Vec<Option<&str>>)]) -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (row, cells) in rows {
            for (col, cell) in cells.iter().enumerate() {
                if let Some(text) = cell {
                    sheet.write_string(*row, col as u16, *text).unwrap();
                }
            }
        }
        book.save_to_buffer().unwrap()
    }

    #[test]
    fn a_long_invalid_cell_is_kept_cut_and_stays_invalid() {
        let long = format!("a@b.c{}", "é".repeat(400));
        let rows = Reviewer::new(Utc::now()).chunk(&[(2, long)], &HashMap::new());
        let kept = &rows[0].email;
        assert!(kept.len() <= MAX_CELL_KEPT && kept.ends_with(" …") && kept.starts_with("a@b.c"), "{kept}");
        assert_eq!(rows[0].outcome, RowOutcome::Invalid);
        // Reviewed again (as the commit does), it is still invalid.
        let cells: Vec<Cell> = rows.iter().map(|r| (r.line, r.email.clone())).collect();
        let again = Reviewer::new(Utc::now()).chunk(&cells, &HashMap::new());
        assert_eq!(again, rows);
    }

    #[test]
    fn the_header_is_kept_in_order() {
        let f = read(&b"Naam;E-mail;Afdeling\r\nAnn;ann@c.example;HR\r\n"[..], None).unwrap();
        assert_eq!(f.columns, vec!["Naam", "E-mail", "Afdeling"]);
        assert_eq!(f.email_column, "E-mail");
    }

    #[test]
    fn a_workbook_reads_as_its_csv_would_with_the_rows_it_numbers() {
        let bytes = workbook(&[
            (0, vec![Some("Name"), Some("Work e-mail"), Some("Team")]),
            (1, vec![Some("Ann"), Some("Ann@C.example"), Some("HR")]),
            // Row 3 is blank; row 4 has no e-mail cell at all.
            (3, vec![Some("Bob")]),
            (4, vec![None, Some("bob@c.example")]),
        ]);
        let f = read_any(&bytes[..], None, Some("work E-MAIL"), MAX_API_BYTES as u64).unwrap();
        assert_eq!(f.columns, vec!["Name", "Work e-mail", "Team"]);
        assert_eq!(f.email_column, "Work e-mail");
        assert_eq!(f.cells, vec![(2, "Ann@C.example".into()), (4, String::new()), (5, "bob@c.example".into())]);
        // The same file named by its media type, and a header below blank rows.
        let lower = workbook(&[(2, vec![Some("email")]), (3, vec![Some("a@c.example")])]);
        let f = read_any(&lower[..], Some(XLSX_MEDIA_TYPE), None, MAX_API_BYTES as u64).unwrap();
        assert_eq!(f.cells, vec![(4, "a@c.example".into())]);
        let users = HashMap::from([("ann@c.example".to_string(), User::new("c", "ann@c.example", Utc::now()))]);
        // "Work e-mail" is not a name taken for the e-mail column unasked.
        let err = read_xlsx(&bytes, None).unwrap_err();
        assert!(err.to_string().starts_with("row 1: no e-mail column"), "{err}");
        let csv = read_any(&b"email\nann@c.example\n"[..], None, None, 10).unwrap();
        let r = review(&csv, &users, 1, Mode::Renew, Utc::now());
        assert_eq!(r.rows[0].outcome, RowOutcome::Renew);
    }

    #[test]
    fn a_workbook_is_refused_naming_the_row() {
        let cases: Vec<(Vec<u8>, Option<&str>, &str)> = vec![
            (
                workbook(&[(0, vec![Some("name"), Some("phone")]), (1, vec![Some("x"), Some("1")])]),
                None,
                "row 1: no e-mail column",
            ),
            (
                workbook(&[(0, vec![Some("ann@c.example")]), (1, vec![Some("bob@c.example")])]),
                None,
                "row 1: this looks like data",
            ),
            (workbook(&[(1, vec![Some("Email")])]), None, "row 3: the sheet has a header row but no data rows"),
            (workbook(&[]), None, "row 1: the sheet is empty"),
            (
                workbook(&[(0, vec![Some("email")]), (1, vec![Some("a@c.example")])]),
                Some("mail address"),
                "row 1: there is no column named",
            ),
            (b"PK\x03\x04 not really a zip".to_vec(), None, "row 1: the file is not an Excel workbook"),
            (b"email\na@c.example\n".to_vec(), Some(XLSX_MEDIA_TYPE), "row 1: the file is sent as an Excel workbook"),
        ];
        for (bytes, column_or_type, want) in cases {
            let (media, column) = match column_or_type {
                Some(t) if t == XLSX_MEDIA_TYPE => (Some(t), None),
                other => (None, other),
            };
            let err = read_any(&bytes[..], media, column, MAX_API_BYTES as u64).unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{want}");
            assert!(err.to_string().starts_with(want), "{want}: {err}");
        }
        let big = workbook(&[(0, vec![Some("email")]), (1, vec![Some("a@c.example")])]);
        assert_eq!(read_any(&big[..], None, None, 100).unwrap_err().code(), "payload_too_large");
        let mut rows = vec![(0, vec![Some("email")])];
        let emails: Vec<String> = (0..=MAX_ROWS).map(|i| format!("u{i}@c.example")).collect();
        rows.extend(emails.iter().enumerate().map(|(i, e)| (i as u32 + 1, vec![Some(e.as_str())])));
        let err = read_any(&workbook(&rows)[..], None, None, u64::MAX / 2).unwrap_err();
        assert!(err.to_string().starts_with(&format!("row {}: the sheet has more than", MAX_ROWS + 2)), "{err}");
    }

    #[test]
    fn rows_are_reviewed_against_the_users() {
        let now: DateTime<Utc> = "2027-02-01T00:00:00Z".parse().unwrap();
        let mut users = HashMap::new();
        for e in ["a@c.example", "b@c.example"] {
            users.insert(e.to_string(), User::new("c", e, now));
        }
        let file =
            read(&b"email\nA@c.example\nghost@c.example\nnot-mail\na@c.example\nb@c.example\n"[..], None).unwrap();
        let r = review(&file, &users, 1, Mode::Renew, now);
        let outcomes: Vec<_> = r.rows.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            vec![RowOutcome::Renew, RowOutcome::Unknown, RowOutcome::Invalid, RowOutcome::Duplicate, RowOutcome::Renew]
        );
        assert_eq!((r.summary.renew, r.summary.shortfall, r.summary.available), (2, 1, 1));
        assert!(r.release.is_empty());
        users.insert("gone@c.example".into(), User::new("c", "gone@c.example", now));
        let sync = review(&file, &users, 5, Mode::Sync, now);
        assert_eq!(sync.release, vec!["gone@c.example".to_string()]);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Read and reviewed; nothing applied.
    Reviewed,
    /// Seats reserved; licences being written (a retry resumes here).
    Committing,
    Committed,
    /// The file was refused; `error` says why and nothing was applied.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Api,
    S3,
    /// An allocation too large for one transaction, committed the import's way.
    Allocation,
}

/// The S3 object an import came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// The import record (API.md `GET /v1/orgs/{org_id}/imports/{import_id}`); its rows are kept
/// beside it in chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRecord {
    pub import_id: String,
    pub org_id: String,
    pub source: Source,
    pub mode: Mode,
    pub status: ImportStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_column: Option<String>,
    pub summary: Summary,
    /// The file's header cells, in order (for choosing the e-mail column).
    #[serde(default)]
    pub columns: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub allocated: u64,
    #[serde(default)]
    pub released: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Object>,
    /// The seats set aside when the commit started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<super::allocation::Reservation>,
    /// The commit goes on in the background (the job runner finishes it), not in a request.
    #[serde(default)]
    pub background: bool,
    /// How often the background commit was handed to the job runner again (a confirm of a job
    /// still `committing`: after its retries ran out, say).
    #[serde(default)]
    pub handovers: u32,
    /// Its rows are kept under its org. `false` (absent): a record written before rows moved
    /// there, whose rows are in the partition of the first layout (read and finished as such).
    #[serde(default)]
    pub rows_in_org: bool,
    /// The fingerprint of the request that started it (a large allocation under an
    /// `Idempotency-Key`): the job is that request's, and answers no other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Until when the review may be confirmed ([`REVIEW_KEPT_DAYS`] after it): its rows, and a
    /// refused file's, carry the table's TTL for this instant. Cleared when the commit starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_expires_at: Option<DateTime<Utc>>,
    /// A large allocation that creates the users it names who do not exist yet: each is written
    /// with its licence, by the commit (after every seat is reserved), never before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_missing: bool,
    /// While `committing`: until when the attempt that holds the commit is taken to be at work.
    /// Past it, the lease sweep finishes the commit. A record that went `committing` before
    /// leases has none and is not among the sweep's; a retry, a confirm or the job runner
    /// finishes it, as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
}

/// How long the rows of a review nobody confirmed (and of a refused file) are kept: the table's
/// TTL removes them after this many days, and a confirm after it is refused as too old.
pub const REVIEW_KEPT_DAYS: i64 = 14;

impl ImportRecord {
    /// The licence id an import gives the user of one line: the same on every retry, so a
    /// resumed commit recognises what it wrote before.
    pub fn licence_id(&self, line: u64) -> String {
        format!("lic_{}_{line}", self.import_id)
    }

    pub fn view(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            for internal in ["reservation", "rows_in_org", "fingerprint", "create_missing", "lease_until"] {
                o.remove(internal);
            }
        }
        v
    }

    /// Whether the review is too old to be confirmed at `now` (its rows may be gone already:
    /// the table removes expired items late, at no fixed time).
    pub fn review_expired(&self, now: DateTime<Utc>) -> bool {
        self.status == ImportStatus::Reviewed && self.review_expires_at.is_some_and(|until| until <= now)
    }
}
