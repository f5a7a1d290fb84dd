//! Hostile workbooks: a ZIP writer that writes what it is told (a part's declared size
//! included), a minimal workbook whose parts can be swapped, and the corpus every import path is
//! tried with — each case with the answer it must get. The benchmark includes this file too
//! (`bench/src/main.rs`), to measure the import process's memory under the worst of them.

use std::io::Write;

use flate2::write::DeflateEncoder;
use flate2::{Compression, Crc};

/// One part of an archive, as stored (deflated or not), with its real size and checksum, and the
/// size its headers declare (the real one unless told otherwise).
pub struct Entry {
    pub name: String,
    pub stored: Vec<u8>,
    pub deflate: bool,
    pub crc: u32,
    pub size: u32,
    pub declared_size: Option<u32>,
}

impl Entry {
    /// A part deflated from the pieces of its text, one at a time: a part of hundreds of MB
    /// never sits in memory unpacked.
    pub fn streamed<I: IntoIterator<Item = String>>(name: &str, pieces: I) -> Entry {
        Entry::streamed_at(name, pieces, Compression::fast())
    }

    /// [`Entry::streamed`] at a compression level.
    pub fn streamed_at<I: IntoIterator<Item = String>>(name: &str, pieces: I, level: Compression) -> Entry {
        let mut encoder = DeflateEncoder::new(Vec::new(), level);
        let (mut crc, mut size) = (Crc::new(), 0u64);
        for piece in pieces {
            crc.update(piece.as_bytes());
            size += piece.len() as u64;
            encoder.write_all(piece.as_bytes()).expect("deflating into memory");
        }
        let stored = encoder.finish().expect("deflating into memory");
        let size = u32::try_from(size).expect("a part under 4 GiB");
        Entry { name: name.into(), stored, deflate: true, crc: crc.sum(), size, declared_size: None }
    }

    pub fn deflated(name: &str, text: String) -> Entry {
        Entry::streamed(name, [text])
    }

    /// A part stored as it is (no compression).
    pub fn stored(name: &str, data: &[u8]) -> Entry {
        let mut crc = Crc::new();
        crc.update(data);
        let size = data.len() as u32;
        Entry { name: name.into(), stored: data.to_vec(), deflate: false, crc: crc.sum(), size, declared_size: None }
    }
}

/// A ZIP archive of `entries`, headers written as told (no ZIP64: every size fits 32 bits).
pub fn zip(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let size = entry.declared_size.unwrap_or(entry.size);
        let method: u16 = if entry.deflate { 8 } else { 0 };
        let offset = out.len() as u32;
        let fields = |header: &mut Vec<u8>| {
            for v in [20u16, 0, method, 0, 0x21] {
                header.extend(v.to_le_bytes());
            }
            for v in [entry.crc, entry.stored.len() as u32, size] {
                header.extend(v.to_le_bytes());
            }
            header.extend((entry.name.len() as u16).to_le_bytes());
            header.extend(0u16.to_le_bytes());
        };
        out.extend(b"PK\x03\x04");
        fields(&mut out);
        out.extend(entry.name.as_bytes());
        out.extend(&entry.stored);
        central.extend(b"PK\x01\x02");
        central.extend(20u16.to_le_bytes());
        fields(&mut central);
        for v in [0u16, 0, 0] {
            central.extend(v.to_le_bytes());
        }
        central.extend(0u32.to_le_bytes());
        central.extend(offset.to_le_bytes());
        central.extend(entry.name.as_bytes());
    }
    let directory_at = out.len() as u32;
    out.extend(&central);
    out.extend(b"PK\x05\x06");
    for v in [0u16, 0, entries.len() as u16, entries.len() as u16] {
        out.extend(v.to_le_bytes());
    }
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(directory_at.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

const MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const RELS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
const REL_TYPE: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const SHEET_PART: &str = "xl/worksheets/sheet1.xml";
const STRINGS_PART: &str = "xl/sharedStrings.xml";

/// The workbook's relationships, its first sheet at `sheet` (relative to `xl/`).
fn workbook_rels(sheet: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{REL_TYPE}/worksheet" Target="{sheet}"/><Relationship Id="rId2" Type="{REL_TYPE}/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#
    )
}

/// A minimal workbook as Excel lays one out: a header `email` and one learner per e-mail, the
/// texts in the shared strings. Any part can be swapped before it is zipped.
pub struct Book {
    pub entries: Vec<Entry>,
}

impl Book {
    pub fn new(emails: &[&str]) -> Book {
        let strings: String =
            std::iter::once("email").chain(emails.iter().copied()).map(|s| format!("<si><t>{s}</t></si>")).collect();
        let rows: String = (0..=emails.len())
            .map(|i| format!(r#"<row r="{n}"><c r="A{n}" t="s"><v>{i}</v></c></row>"#, n = i + 1))
            .collect();
        let sheet = format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{MAIN}"><dimension ref="A1:A{}"/><sheetData>{rows}</sheetData></worksheet>"#,
            emails.len() + 1
        );
        let parts = [
            (
                "[Content_Types].xml",
                r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#.to_string(),
            ),
            (
                "_rels/.rels",
                format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{REL_TYPE}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#),
            ),
            (
                "xl/workbook.xml",
                format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="{MAIN}" xmlns:r="{REL_TYPE}"><sheets><sheet name="Learners" sheetId="1" r:id="rId1"/></sheets></workbook>"#),
            ),
            ("xl/_rels/workbook.xml.rels", workbook_rels("worksheets/sheet1.xml")),
            (SHEET_PART, sheet),
            (STRINGS_PART, Book::shared_strings(emails.len() + 1, &strings)),
        ];
        Book { entries: parts.into_iter().map(|(name, text)| Entry::deflated(name, text)).collect() }
    }

    /// The shared-strings part around `items` (`<si>` elements), claiming `count` strings.
    pub fn shared_strings(count: usize, items: &str) -> String {
        format!("{}{items}</sst>", strings_head(count))
    }

    /// Adds or replaces a part.
    pub fn put(mut self, entry: Entry) -> Book {
        self.entries.retain(|e| e.name != entry.name);
        self.entries.push(entry);
        self
    }

    /// Adds or replaces the part `name`, deflated from `text`.
    pub fn with(self, name: &str, text: String) -> Book {
        self.put(Entry::deflated(name, text))
    }

    pub fn zip(&self) -> Vec<u8> {
        zip(&self.entries)
    }
}

fn strings_head(count: usize) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="{MAIN}" count="{count}" uniqueCount="{count}">"#
    )
}

/// The shared-strings part, deflated from its strings one at a time.
fn streamed_strings(count: usize, items: impl IntoIterator<Item = String>, level: Compression) -> Entry {
    let pieces = std::iter::once(strings_head(count)).chain(items).chain(std::iter::once("</sst>".to_string()));
    Entry::streamed_at(STRINGS_PART, pieces, level)
}

/// Letters that look random and compress poorly (a fixed sequence from `seed`: the corpus is the
/// same on every run).
pub fn noise(len: usize, seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (b'a' + (state % 26) as u8) as char
        })
        .collect()
}

/// One hostile workbook and what an import must answer: its status and error code, and words
/// the refusal's sentence holds (the bound it names).
pub struct Hostile {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub status: u16,
    pub code: &'static str,
    pub says: &'static str,
}

fn hostile(name: &'static str, book: Book, status: u16, says: &'static str) -> Hostile {
    let code = if status == 413 { "payload_too_large" } else { "invalid_request" };
    Hostile { name, bytes: book.zip(), status, code, says }
}

/// A first sheet of a header and one learner written inline, `rows` appended inside its
/// `sheetData`, under the declared range `dimension`.
fn sheet(dimension: &str, rows: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{MAIN}"><dimension ref="{dimension}"/><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>ann@c.example</t></is></c></row>{rows}</sheetData></worksheet>"#
    )
}

/// The corpus: every way a workbook was found (or can be thought) to exhaust the import, each a
/// file of at most 5 MB, so the API takes it as S3 does.
pub fn corpus() -> Vec<Hostile> {
    let plain = || Book::new(&["ann@c.example"]);
    let mut cases = Vec::new();

    // 1 KB that claims 10^14 shared strings: calamine reserved room for all of them on open, and
    // the process aborted.
    let claim = Book::shared_strings(2, "<si><t>email</t></si><si><t>ann@c.example</t></si>")
        .replace(r#"uniqueCount="2""#, r#"uniqueCount="99999999999999""#);
    cases.push(hostile("shared strings claiming 10^14", plain().with(STRINGS_PART, claim), 413, "uniqueCount"));

    // A shared-strings bomb: 64 MiB of one string repeated, deflated some 700 times over (a
    // 5 MB one would unpack to 3.5 GB, the same way).
    let repeats = 64 * 1024 * 1024 / 17 / 4096;
    let bomb = streamed_strings(1, (0..repeats).map(|_| "<si><t>a</t></si>".repeat(4096)), Compression::best());
    cases.push(hostile("a shared-strings bomb", plain().put(bomb), 413, "times its compressed size"));

    // More shared strings than the bound (claiming one), compressed no more than a real table
    // is (under 100 to 1).
    let count = 2_000_001;
    let letters = noise(count, 1).into_bytes();
    let items = letters.chunks(4096).map(|c| c.iter().map(|&b| format!("<si><t>{}</t></si>", b as char)).collect());
    let many = streamed_strings(1, items, Compression::fast());
    cases.push(hostile(
        "2,000,001 shared strings",
        plain().put(many),
        413,
        "shared strings; an import reads at most 2,000,000",
    ));

    // More shared-string text than the bound, in strings each within a cell's bound.
    let items = (0..140u64).map(|i| format!("<si><t>{}{}</t></si>", "x".repeat(500_000), noise(10_000, i)));
    let long = streamed_strings(140, items, Compression::fast());
    cases.push(hostile("71 MB of shared-string text", plain().put(long), 413, "an import reads at most 67,108,864"));

    // A sheet that declares every cell a sheet can have (17 billion) and holds two.
    let book = plain().with(SHEET_PART, sheet("A1:XFD1048576", ""));
    cases.push(hostile("a sheet whose dimension is A1:XFD1048576", book, 413, "20,000,000 cells"));

    // A part that declares 2 KB and unpacks to 2 MB (its declared ratio looks harmless; it
    // could as well unpack to gigabytes).
    let rows: String = (3..=50_000).map(|n| format!(r#"<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>"#)).collect();
    let mut lying = Entry::deflated(SHEET_PART, sheet("A1:A50000", &rows));
    lying.declared_size = Some(2_048);
    cases.push(hostile(
        "a sheet that lies about its size",
        plain().put(lying),
        413,
        "more than the 2,048 bytes its archive declares",
    ));

    // Elements nested 100,000 deep.
    let deep = format!("{}{}", "<x>".repeat(100_000), "</x>".repeat(100_000));
    cases.push(hostile(
        "XML nested 100,000 deep",
        plain().with(SHEET_PART, sheet("A1:A2", &deep)),
        400,
        "more than 128 deep",
    ));

    // An external entity (XXE): a DOCTYPE that would read a file of the server into a cell.
    let xxe = format!(
        r#"<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><sst xmlns="{MAIN}" count="2" uniqueCount="2"><si><t>email</t></si><si><t>&xxe;</t></si></sst>"#
    );
    cases.push(hostile("an external entity (XXE)", plain().with(STRINGS_PART, xxe), 400, "DOCTYPE"));

    // Entities that expand a billion times (the internal kind): the DOCTYPE again.
    let laughs = format!(
        r#"<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><sst xmlns="{MAIN}"><si><t>email</t></si><si><t>&c;</t></si></sst>"#
    );
    cases.push(hostile("entities that expand (billion laughs)", plain().with(STRINGS_PART, laughs), 400, "DOCTYPE"));

    // More parts than the archive bound.
    let mut book = plain();
    book.entries.extend((0..10_000).map(|i| Entry::stored(&format!("p/{i}"), b"")));
    cases.push(hostile("10,006 parts", book, 413, "an import reads at most 10,000"));

    // One run of text of 2 MB (quick-xml holds a whole token).
    let cell = format!(r#"<row r="3"><c r="A3" t="inlineStr"><is><t>{}</t></is></c></row>"#, noise(2_000_000, 7));
    cases.push(hostile(
        "a 2 MB run of text",
        plain().with(SHEET_PART, sheet("A1:A3", &cell)),
        413,
        "longer than 1,048,576 bytes",
    ));

    // One cell of 1.2 MB of text in short runs (a cell's runs are joined).
    let runs: String = (0..300u64).map(|i| format!("<r><t>{}</t></r>", noise(4_000, i))).collect();
    let cell = format!(r#"<row r="3"><c r="A3" t="inlineStr"><is>{runs}</is></c></row>"#);
    cases.push(hostile(
        "a cell of 1.2 MB of text",
        plain().with(SHEET_PART, sheet("A1:A3", &cell)),
        413,
        "a cell in the workbook's part",
    ));

    // A cell reference past any sheet (calamine's arithmetic on it overflowed).
    let cell = r#"<row r="3"><c r="ZZZZZZZZZZZZZZ3" t="inlineStr"><is><t>x</t></is></c></row>"#;
    cases.push(hostile(
        "a cell reference past any sheet",
        plain().with(SHEET_PART, sheet("A1:A3", cell)),
        400,
        "not a cell of a sheet",
    ));

    cases
}
