use std::collections::HashMap;

use chrono::Utc;

use super::csv::QuoteWatch;
use super::*;
use crate::domain::import::{Reviewer, RowOutcome, MAX_API_BYTES, MAX_RECORD_BYTES, MAX_ROWS, XLSX_MEDIA_TYPE};
use crate::domain::user::User;

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
        let mut csv = ::csv::ReaderBuilder::new()
            .terminator(::csv::Terminator::Any(b'\n'))
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
    let rows = Reviewer::new(Utc::now()).chunk(&csv.cells, &users);
    assert_eq!(rows[0].outcome, RowOutcome::Renew);
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
