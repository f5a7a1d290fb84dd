//! The first sheet of an Excel workbook, read as CSV text is read.

use super::{email_index, refuse_at, workbook, CsvFile, Unit};
use crate::domain::import::{kept_cell, MAX_RECORD_BYTES, MAX_ROWS};
use crate::domain::DomainError;

/// Columns of a spreadsheet's header row that are read (Excel's own limit).
pub(super) const MAX_COLUMNS: usize = 16_384;

/// Cells of a sheet an import reads through before it refuses the file (a workbook that
/// unpacks into far more than 100,000 rows of a few hundred columns is not a list of learners).
pub(super) const MAX_SHEET_CELLS: u64 = 20_000_000;

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
