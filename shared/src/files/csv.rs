//! CSV text: the delimiter from the header, quotes watched so a quote left open is named by
//! its line, and the e-mail cells handed over a chunk at a time.

use std::io::{BufRead, BufReader, Cursor, Read};

use super::{email_index, refuse, CsvFile, Header, OnChunk, Unit};
use crate::domain::import::{CELLS_PER_CHUNK, MAX_RECORD_BYTES, MAX_ROWS};
use crate::domain::{validate, DomainError};

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
pub(super) struct QuoteWatch<R> {
    inner: R,
    delimiter: u8,
    state: Quoting,
    /// The line the next byte is on, and the line the last quoted field opened on.
    line: u64,
    opened: u64,
}

impl<R> QuoteWatch<R> {
    pub(super) fn new(inner: R, delimiter: u8) -> Self {
        QuoteWatch { inner, delimiter, state: Quoting::FieldStart, line: 1, opened: 1 }
    }

    /// The line of a quote still open after the last byte read.
    pub(super) fn open_quote(&self) -> Option<u64> {
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
