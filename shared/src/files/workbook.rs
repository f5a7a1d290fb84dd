//! Reading the first sheet of an Excel workbook (.xlsx) under bounds: the ZIP archive with the
//! `zip` crate, each part unpacked with flate2 and read as XML with quick-xml, one token at a time.
//!
//! calamine, which read imports before, reads and keeps much more than the import needs when it
//! opens a workbook: the whole shared-strings table (reserving room for as many strings as the
//! file's own `uniqueCount` claims: a 1 KB file claiming 10^14 aborted the process), the styles
//! (each cell format holding its own copy of its font, fill, border and number format), the sheet
//! list (each sheet its own copy of its relationship's target) and every relationship. None of
//! that can be bounded from outside. So the import reads only the five parts it needs — the
//! package's relationships, the workbook, the workbook's relationships, the shared strings and
//! the first sheet — and keeps only the name and place of the first sheet, the shared strings
//! (their text in one buffer) and, as they stream by, the cells of the first sheet. Styles are
//! not needed: a date reads as the number Excel stores, as it did before.
//!
//! Every part read is bounded, and a file past a bound is refused with a sentence naming it
//! (`payload_too_large` for a size, ratio or count; `invalid_request`, naming row 1, for a file
//! that is not a well-formed workbook):
//!
//! - the archive: at most [`MAX_ZIP_ENTRIES`] parts, counted before the archive is opened;
//! - each part read: its size ([`MAX_PART_BYTES`]) and compression ratio
//!   ([`MAX_COMPRESSION_RATIO`], beyond [`RATIO_GRACE_BYTES`]) as the central directory declares
//!   them before it is unpacked, and again as it is unpacked — an entry can lie about its size,
//!   and none is unpacked past what it declared; all parts read, [`MAX_UNPACKED_BYTES`];
//! - its XML: well-formed, no `DOCTYPE` (so no entity, internal or external, is ever defined, let
//!   alone fetched), elements nested at most [`MAX_XML_DEPTH`] deep, no token (a tag, a run of
//!   text, a comment) over [`MAX_XML_TOKEN_BYTES`] — quick-xml holds a whole token —, no cell or
//!   shared string over [`MAX_VALUE_BYTES`] of text, cell references inside a sheet;
//! - the shared strings: the `uniqueCount` they claim and the strings present at most
//!   [`MAX_SHARED_STRINGS`], their text at most [`MAX_SHARED_STRING_BYTES`];
//! - the sheet: a declared `dimension` of at most [`super::MAX_SHEET_CELLS`] cells (the cells
//!   read are counted too, by the caller).
//!
//! So what an import holds of a workbook is the file, the shared strings (at most 64 MiB of
//! text and 8 MB of offsets) and the e-mail cells it keeps — far inside the import function's
//! memory, whatever the file says.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Cursor, Read};

use quick_xml::events::{BytesStart, Event};

use super::{refuse_at, DomainError, Unit, MAX_COLUMNS};

const MIB: u64 = 1024 * 1024;

/// Parts (files) a workbook's archive may hold; a workbook of a few sheets has a dozen or two.
pub const MAX_ZIP_ENTRIES: usize = 10_000;
/// The most one part may unpack to: a sheet of 20,000,000 cells (the cap on cells read) is about
/// this much XML.
pub const MAX_PART_BYTES: u64 = 512 * MIB;
/// The most the parts read may unpack to together.
pub const MAX_UNPACKED_BYTES: u64 = 1024 * MIB;
/// How many times larger than its compressed bytes a part may unpack to. Sheets and shared
/// strings compress 5 to 20 times; a ZIP bomb a thousand times.
pub const MAX_COMPRESSION_RATIO: u64 = 100;
/// Parts that unpack to no more than this are never refused for their ratio (a small part of
/// repeated markup compresses far better than 100 to 1, and costs nothing).
pub const RATIO_GRACE_BYTES: u64 = MIB;
/// Shared strings a workbook may hold (and claim in its `uniqueCount`): 100,000 rows of ten
/// distinct texts each are 1,000,000.
pub const MAX_SHARED_STRINGS: u64 = 2_000_000;
/// The text of all shared strings together.
pub const MAX_SHARED_STRING_BYTES: u64 = 64 * MIB;
/// How deep a part's elements may nest; SpreadsheetML nests a handful deep.
pub const MAX_XML_DEPTH: usize = 128;
/// The longest token (a tag with its attributes, a run of text, a comment) of an XML part; an
/// Excel cell holds at most 32,767 characters.
pub const MAX_XML_TOKEN_BYTES: u64 = MIB;
/// The most text one cell or one shared string may hold.
pub const MAX_VALUE_BYTES: u64 = MIB;
/// Rows of an Excel sheet: cell references past it are not a sheet's.
pub const SHEET_ROWS: u32 = 1_048_576;

/// The entities XML defines itself, and what they stand for; a workbook defines no other.
const PREDEFINED_ENTITIES: [(&str, char); 5] = [("lt", '<'), ("gt", '>'), ("amp", '&'), ("apos", '\''), ("quot", '"')];

/// The signature that starts each record of a ZIP archive's central directory.
const CENTRAL_DIRECTORY_RECORD: &[u8] = b"PK\x01\x02";

/// `n` with its thousands grouped (`20,000,000`), as refusals write their bounds.
pub(super) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn too_large(message: String) -> DomainError {
    DomainError::PayloadTooLarge(message)
}

fn malformed(message: impl std::fmt::Display) -> DomainError {
    refuse_at(Unit::Row, 1, message)
}

/// One cell of the first sheet as read: its row and column (from 0) and its text, as calamine
/// wrote a cell (`Data`'s `Display`): a shared or inline string, a number as Rust writes an
/// `f64`, `true` or `false`, an error or an ISO date as written; an empty cell is empty text.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub row: u32,
    pub column: u32,
    pub text: String,
}

/// Reads the first sheet of the workbook `bytes`, handing each of its cells to `on_cell` in the
/// order the sheet holds them (an error from it stops the read); see the module for the bounds.
pub fn read_first_sheet(
    bytes: &[u8],
    on_cell: &mut dyn FnMut(Cell) -> Result<(), DomainError>,
) -> Result<(), DomainError> {
    let mut archive = Archive::open(bytes)?;
    let sheet = first_sheet(&mut archive)?;
    let strings = shared_strings(&mut archive, &format!("{}sharedStrings.xml", sheet.dir))?;
    cells(&mut archive, &sheet, &strings, on_cell)
}

// ---- the archive -------------------------------------------------------------------------------

/// A workbook's ZIP archive, its parts found by name ignoring case (with `\` read as `/`).
struct Archive<'a> {
    zip: zip::ZipArchive<Cursor<&'a [u8]>>,
    names: HashMap<String, usize>,
    /// What the parts read so far declared, together.
    declared: u64,
}

fn normalised(name: &str) -> String {
    name.replace('\\', "/").trim_start_matches('/').to_ascii_lowercase()
}

impl<'a> Archive<'a> {
    fn open(bytes: &'a [u8]) -> Result<Archive<'a>, DomainError> {
        // Counted before the archive is opened: the zip crate holds every central-directory
        // record in memory, and each one it reads starts with this signature.
        let records = memchr::memmem::find_iter(bytes, CENTRAL_DIRECTORY_RECORD).count();
        if records > MAX_ZIP_ENTRIES {
            return Err(too_large(format!(
                "the workbook's archive lists {} parts; an import reads at most {}",
                grouped(records as u64),
                grouped(MAX_ZIP_ENTRIES as u64)
            )));
        }
        let zip = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| malformed(format!("the file is not an Excel workbook (.xlsx) that can be read: {e}")))?;
        let mut names = HashMap::new();
        for (index, name) in zip.file_names().enumerate() {
            let name = name.map_err(|e| malformed(format!("the workbook's archive names a part it cannot: {e}")))?;
            if names.insert(normalised(&name), index).is_some() {
                return Err(malformed(format!("the workbook's archive holds two parts named {name:?}")));
            }
        }
        Ok(Archive { zip, names, declared: 0 })
    }

    /// The part at `path` (relative to the archive's root) as XML, bounded; `None` if there is
    /// no such part.
    fn part(&mut self, path: &str) -> Result<Option<XmlPart<'_>>, DomainError> {
        let Some(&index) = self.names.get(&normalised(path)) else { return Ok(None) };
        let entry = self
            .zip
            .by_index_raw(index)
            .map_err(|e| malformed(format!("the workbook's part {path} cannot be read: {e}")))?;
        let declared = Declared { name: path.to_string(), size: entry.size(), compressed: entry.compressed_size() };
        if entry.encrypted() {
            return Err(malformed(format!(
                "the workbook's part {} is encrypted; send the workbook without a password",
                declared.name
            )));
        }
        if declared.size > MAX_PART_BYTES {
            return Err(declared.too_big(declared.size));
        }
        if !declared.ratio_holds(declared.size) {
            return Err(declared.too_compressed(declared.size));
        }
        self.declared = self.declared.saturating_add(declared.size);
        if self.declared > MAX_UNPACKED_BYTES {
            return Err(too_large(format!(
                "the workbook's parts unpack to more than {} bytes together; an import unpacks at most {} (1 GiB)",
                grouped(MAX_UNPACKED_BYTES),
                grouped(MAX_UNPACKED_BYTES)
            )));
        }
        let unpacked: Box<dyn Read + '_> = match entry.compression() {
            zip::CompressionMethod::Stored => Box::new(entry),
            zip::CompressionMethod::Deflated => Box::new(flate2::read::DeflateDecoder::new(entry)),
            other => {
                return Err(malformed(format!(
                    "the workbook's part {} is compressed with {other}, which an import does not read; save the workbook again from Excel",
                    declared.name
                )))
            }
        };
        Ok(Some(XmlPart::new(Part { inner: unpacked, declared, out: 0, refusal: None })))
    }
}

/// A part as the archive's central directory declares it.
struct Declared {
    name: String,
    size: u64,
    compressed: u64,
}

impl Declared {
    /// Whether `out` bytes unpacked from this part's compressed bytes pass the ratio bound.
    fn ratio_holds(&self, out: u64) -> bool {
        out <= RATIO_GRACE_BYTES || out <= self.compressed.saturating_mul(MAX_COMPRESSION_RATIO)
    }

    fn too_big(&self, size: u64) -> DomainError {
        too_large(format!(
            "the workbook's part {} unpacks to {} bytes; an import unpacks at most {} (512 MiB) of one part",
            self.name,
            grouped(size),
            grouped(MAX_PART_BYTES)
        ))
    }

    fn too_compressed(&self, size: u64) -> DomainError {
        too_large(format!(
            "the workbook's part {} unpacks from {} bytes to {}, more than {MAX_COMPRESSION_RATIO} times; an import unpacks a part at most {MAX_COMPRESSION_RATIO} times its compressed size",
            self.name,
            grouped(self.compressed),
            grouped(size)
        ))
    }
}

/// A part as it is unpacked: refused the moment it passes what it declared, its size bound or its
/// ratio bound (the refusal kept in `refusal`, the read failing).
struct Part<R> {
    inner: R,
    declared: Declared,
    out: u64,
    refusal: Option<DomainError>,
}

impl<R: Read> Read for Part<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let d = &self.declared;
        let refusal = if self.out > d.size {
            Some(too_large(format!(
                "the workbook's part {} unpacks to more than the {} bytes its archive declares; an import unpacks a part only up to its declared size",
                d.name,
                grouped(d.size)
            )))
        } else if self.out > MAX_PART_BYTES {
            Some(d.too_big(self.out))
        } else if !d.ratio_holds(self.out) {
            Some(d.too_compressed(self.out))
        } else {
            None
        };
        match refusal {
            Some(refusal) => {
                self.refusal = Some(refusal);
                Err(io::Error::other("a bound of the workbook was passed"))
            }
            None => Ok(n),
        }
    }
}

/// Passes bytes on to the XML reader and fails once one token has taken more than
/// [`MAX_XML_TOKEN_BYTES`]: quick-xml holds a whole token in memory.
struct TokenGuard<R> {
    inner: R,
    taken: u64,
    tripped: bool,
}

impl<R: BufRead> Read for TokenGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for TokenGuard<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.taken > MAX_XML_TOKEN_BYTES {
            self.tripped = true;
            return Err(io::Error::other("an XML token is too long"));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.taken += amount as u64;
        self.inner.consume(amount);
    }
}

// ---- one XML part --------------------------------------------------------------------------------

/// A part's bytes as they are unpacked, under its bounds.
type Unpacked<'z> = Part<Box<dyn Read + 'z>>;

/// One part read as XML, a token at a time, under the bounds of the module: [`XmlPart::next`]
/// answers the next event, or the refusal of the first bound passed.
struct XmlPart<'z> {
    reader: quick_xml::Reader<TokenGuard<BufReader<Unpacked<'z>>>>,
    buf: Vec<u8>,
    name: String,
    /// How deep the reader is: the elements open around the next event.
    depth: usize,
}

impl<'z> XmlPart<'z> {
    fn new(part: Unpacked<'z>) -> XmlPart<'z> {
        let name = part.declared.name.clone();
        let guard = TokenGuard { inner: BufReader::with_capacity(64 * 1024, part), taken: 0, tripped: false };
        let mut reader = quick_xml::Reader::from_reader(guard);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = true;
        config.trim_text(false);
        XmlPart { reader, buf: Vec::new(), name, depth: 0 }
    }

    /// The next event and how deep the reader is after it: `Start` (an empty element comes as
    /// `Start` and `End`), `End`, `Text`, `CData`, `GeneralRef` (a character reference or one of
    /// XML's five entities), declarations, instructions and comments (to pass over), `Eof`.
    fn next(&mut self) -> Result<(Event<'_>, usize), DomainError> {
        let name = &self.name;
        self.buf.clear();
        self.reader.get_mut().taken = 0;
        let event = match self.reader.read_event_into(&mut self.buf) {
            Ok(event) => event,
            Err(e) => {
                let at = self.reader.error_position();
                let guard = self.reader.get_mut();
                if let Some(refusal) = guard.inner.get_mut().refusal.take() {
                    return Err(refusal);
                }
                if guard.tripped {
                    return Err(too_large(format!(
                        "the workbook's part {name} has an XML token (a tag or a run of text) longer than {} bytes; an import reads at most {} (1 MiB) at a time",
                        grouped(MAX_XML_TOKEN_BYTES),
                        grouped(MAX_XML_TOKEN_BYTES)
                    )));
                }
                return Err(malformed(format!(
                    "the workbook's part {name} is not well-formed XML (at byte {at}): {e}"
                )));
            }
        };
        match &event {
            Event::Start(_) => {
                self.depth += 1;
                if self.depth > MAX_XML_DEPTH {
                    return Err(malformed(format!(
                        "the workbook's part {name} nests its XML elements more than {MAX_XML_DEPTH} deep; a workbook nests a handful deep"
                    )));
                }
            }
            Event::End(_) => self.depth = self.depth.saturating_sub(1),
            Event::GeneralRef(r) if !r.is_char_ref() && !PREDEFINED_ENTITIES.iter().any(|(e, _)| *e == &**r) => {
                return Err(malformed(format!(
                    "the workbook's part {name} refers to the entity &{}; which XML does not define (a workbook defines no entities of its own)",
                    &**r
                )));
            }
            Event::DocType(_) => {
                return Err(malformed(format!(
                "the workbook's part {name} declares a DOCTYPE; a workbook has none, and no entity of one is ever read"
            )))
            }
            Event::Eof if self.depth != 0 => {
                return Err(malformed(format!("the workbook's part {name} ends before its XML elements are closed")))
            }
            Event::Eof => {
                let part = self.reader.get_ref().inner.get_ref();
                if part.out < part.declared.size {
                    return Err(malformed(format!(
                        "the workbook's part {name} holds fewer bytes than its archive declares; the file is damaged"
                    )));
                }
            }
            _ => {}
        }
        Ok((event, self.depth))
    }

    /// Reads the text of the element just opened (at the current depth) until it closes, at most
    /// [`MAX_VALUE_BYTES`] of it, as XML 1.0 reads it (line ends as `\n`, references resolved).
    fn text(&mut self, what: &str) -> Result<String, DomainError> {
        let opened = self.depth;
        let mut text = String::new();
        loop {
            match self.next()? {
                (Event::End(_), depth) if depth < opened => return Ok(text),
                (Event::Text(t), _) => text.push_str(&t.xml10_content()),
                (Event::CData(t), _) => text.push_str(&t.xml10_content()),
                (Event::GeneralRef(r), _) => text.push(resolve(&r)?),
                (Event::Eof, _) => return Ok(text),
                _ => {}
            }
            if text.len() as u64 > MAX_VALUE_BYTES {
                return Err(self.too_long(what));
            }
        }
    }

    /// The refusal of a `what` (a cell, a shared string) holding more than [`MAX_VALUE_BYTES`].
    fn too_long(&self, what: &str) -> DomainError {
        too_large(format!(
            "a {what} in the workbook's part {} holds more than {} bytes of text; an import reads at most {} (1 MiB) of one",
            self.name,
            grouped(MAX_VALUE_BYTES),
            grouped(MAX_VALUE_BYTES)
        ))
    }
}

/// The character a reference stands for (`next` let through only XML's own entities).
fn resolve(r: &quick_xml::events::BytesRef<'_>) -> Result<char, DomainError> {
    if let Some((_, c)) = PREDEFINED_ENTITIES.iter().find(|(e, _)| *e == &**r) {
        return Ok(*c);
    }
    match r.resolve_char_ref() {
        Ok(Some(c)) => Ok(c),
        _ => Err(malformed(format!("the workbook refers to the character &{}; which is not one", &**r))),
    }
}

/// The value of the attribute `key` of `e` (entities resolved); a key given as `:name` matches
/// it with any prefix or none (`r:id`).
fn attribute(e: &BytesStart<'_>, key: &str, part: &str) -> Result<Option<String>, DomainError> {
    for attr in e.attributes().with_checks(false) {
        let attr =
            attr.map_err(|err| malformed(format!("the workbook's part {part} has a tag that cannot be read: {err}")))?;
        let name: &str = attr.key.as_ref();
        let matches = match key.strip_prefix(':') {
            Some(local) => name.rsplit(':').next() == Some(local),
            None => name == key,
        };
        if matches {
            let value = quick_xml::escape::unescape(&attr.value).map_err(|err| {
                malformed(format!("the workbook's part {part} has an attribute {name} that cannot be read: {err}"))
            })?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

/// Whether the element `e` is named `name` (whatever its prefix).
fn is(e: &BytesStart<'_>, name: &str) -> bool {
    let local = e.local_name();
    let local: &str = local.as_ref();
    local == name
}

// ---- which part is the first sheet ------------------------------------------------------------------

/// The first sheet: its name, its part and the folder of the workbook (where its shared strings
/// are).
struct FirstSheet {
    name: String,
    path: String,
    dir: String,
}

/// Resolves `target` (a relationship's) against the folder `dir`: absolute from the root when it
/// starts with `/`; `.` and `..` taken away.
fn resolved(dir: &str, target: &str) -> String {
    let joined = match target.strip_prefix('/') {
        Some(absolute) => absolute.to_string(),
        None => format!("{dir}{target}"),
    };
    let mut parts: Vec<&str> = Vec::new();
    for segment in joined.split('/') {
        match segment {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// The `Relationship` elements of the `.rels` part at `path` (if there is one): each one's id,
/// type and target, handed to `keep` until it answers that it has what it wants.
fn relationships(
    archive: &mut Archive<'_>,
    path: &str,
    keep: &mut dyn FnMut(String, String, String) -> bool,
) -> Result<(), DomainError> {
    let Some(mut part) = archive.part(path)? else { return Ok(()) };
    let name = part.name.clone();
    loop {
        match part.next()? {
            (Event::Start(e), _) if is(&e, "Relationship") => {
                let id = attribute(&e, "Id", &name)?.unwrap_or_default();
                let kind = attribute(&e, "Type", &name)?.unwrap_or_default();
                let target = attribute(&e, "Target", &name)?.unwrap_or_default();
                if keep(id, kind, target) {
                    return Ok(());
                }
            }
            (Event::Eof, _) => return Ok(()),
            _ => {}
        }
    }
}

/// Finds the first sheet as Excel (and calamine) do: the package's relationships name the
/// workbook, the workbook lists its sheets, the workbook's relationships name each one's part.
fn first_sheet(archive: &mut Archive<'_>) -> Result<FirstSheet, DomainError> {
    let mut workbook = None;
    relationships(archive, "_rels/.rels", &mut |_, kind, target| {
        if kind.ends_with("/relationships/officeDocument") {
            workbook = Some(target);
        }
        false
    })?;
    let not_a_workbook =
        || malformed("the file is not an Excel workbook (.xlsx): its archive names no workbook (_rels/.rels)");
    let workbook = resolved("", &workbook.ok_or_else(not_a_workbook)?);
    let (dir, file) = match workbook.rfind('/') {
        Some(i) => (workbook[..=i].to_string(), workbook[i + 1..].to_string()),
        None => (String::new(), workbook.clone()),
    };
    let (sheet, id) = {
        let Some(mut part) = archive.part(&workbook)? else { return Err(not_a_workbook()) };
        let name = part.name.clone();
        loop {
            match part.next()? {
                (Event::Start(e), _) if is(&e, "sheet") => {
                    let sheet = attribute(&e, "name", &name)?.unwrap_or_default();
                    let id = attribute(&e, ":id", &name)?.unwrap_or_default();
                    break (sheet, id);
                }
                (Event::Eof, _) => return Err(refuse_at(Unit::Row, 1, "the workbook has no sheet")),
                _ => {}
            }
        }
    };
    let mut found = None;
    let rels = format!("{dir}_rels/{file}.rels");
    relationships(archive, &rels, &mut |rel, kind, target| {
        if rel == id {
            found = Some((kind, target));
        }
        found.is_some()
    })?;
    let Some((kind, target)) = found else {
        return Err(malformed(format!(
            "the workbook's first sheet {sheet:?} has no part: {rels} names none for {id:?}"
        )));
    };
    if !(kind.ends_with("/worksheet") || kind.ends_with("/dialogsheet")) {
        return Err(malformed(format!(
            "the workbook's first sheet {sheet:?} is a chart, not a sheet of cells; put the learners on the first sheet"
        )));
    }
    Ok(FirstSheet { name: sheet, path: resolved(&dir, &target), dir })
}

// ---- the shared strings --------------------------------------------------------------------------

/// The shared strings of a workbook: their text in one buffer, and where each one ends.
#[derive(Default)]
struct SharedStrings {
    text: String,
    ends: Vec<u32>,
}

impl SharedStrings {
    fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)? as usize;
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i] as usize);
        self.text.get(start..end)
    }
}

/// Reads the shared strings at `path` (none if the workbook has none), as calamine read them: each
/// `si` is the text of its `t` elements, phonetic runs (`rPh`) left out.
fn shared_strings(archive: &mut Archive<'_>, path: &str) -> Result<SharedStrings, DomainError> {
    let mut strings = SharedStrings::default();
    let Some(mut part) = archive.part(path)? else { return Ok(strings) };
    let name = part.name.clone();
    let too_many = || {
        too_large(format!(
            "the workbook holds more than {} shared strings; an import reads at most {}",
            grouped(MAX_SHARED_STRINGS),
            grouped(MAX_SHARED_STRINGS)
        ))
    };
    loop {
        match part.next()? {
            (Event::Start(e), _) if is(&e, "sst") => {
                if let Some(claimed) = attribute(&e, "uniqueCount", &name)? {
                    let count = claimed.trim();
                    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(malformed(format!(
                            "the workbook's part {name} gives uniqueCount {claimed:?}, which is not a number"
                        )));
                    }
                    let n = count.parse::<u64>().unwrap_or(u64::MAX);
                    if n > MAX_SHARED_STRINGS {
                        let claimed = if n == u64::MAX { count.to_string() } else { grouped(n) };
                        return Err(too_large(format!(
                            "the workbook's shared strings claim {claimed} strings (uniqueCount); an import reads at most {}",
                            grouped(MAX_SHARED_STRINGS)
                        )));
                    }
                    strings.ends.reserve(n as usize);
                }
            }
            (Event::Start(e), _) if is(&e, "si") => {
                if strings.ends.len() as u64 == MAX_SHARED_STRINGS {
                    return Err(too_many());
                }
                drop(e);
                let text = rich_text(&mut part, "shared string")?;
                strings.text.push_str(&text);
                if strings.text.len() as u64 > MAX_SHARED_STRING_BYTES {
                    return Err(too_large(format!(
                        "the workbook's shared strings hold more than {} bytes of text; an import reads at most {} (64 MiB)",
                        grouped(MAX_SHARED_STRING_BYTES),
                        grouped(MAX_SHARED_STRING_BYTES)
                    )));
                }
                strings.ends.push(strings.text.len() as u32);
            }
            (Event::Eof, _) => return Ok(strings),
            _ => {}
        }
    }
}

/// The text of a rich string (a shared string's `si` or a cell's `is`, just opened) as calamine
/// read it: the `t` elements' text, each trimmed of ASCII white space unless it keeps its space
/// (`xml:space="preserve"`), Excel's `_xHHHH_` escapes undone, phonetic runs (`rPh`) left out.
fn rich_text(part: &mut XmlPart<'_>, what: &str) -> Result<String, DomainError> {
    let opened = part.depth;
    let mut text = String::new();
    let mut phonetic = None;
    loop {
        match part.next()? {
            (Event::End(_), depth) if depth < opened => return Ok(text),
            (Event::End(_), depth) if phonetic.is_some_and(|d| depth < d) => phonetic = None,
            (Event::Start(e), depth) if is(&e, "rPh") => phonetic = phonetic.or(Some(depth)),
            (Event::Start(e), _) if is(&e, "t") && phonetic.is_none() => {
                let preserve = preserves_space(&e);
                drop(e);
                let run = part.text(what)?;
                let run = if preserve { run.as_str() } else { run.trim_matches([' ', '\t', '\r', '\n']) };
                text.push_str(&unescape_excel(run));
                if text.len() as u64 > MAX_VALUE_BYTES {
                    return Err(part.too_long(what));
                }
            }
            (Event::Eof, _) => return Ok(text),
            _ => {}
        }
    }
}

/// Whether a `t` element keeps its white space (`xml:space="preserve"`).
fn preserves_space(e: &BytesStart<'_>) -> bool {
    e.attributes().with_checks(false).flatten().any(|a| {
        let key: &str = a.key.as_ref();
        key == "xml:space" && &*a.value == "preserve"
    })
}

/// Undoes Excel's escapes of characters XML cannot hold (`_x000D_` for a carriage return, a
/// surrogate pair for a character outside the BMP, `_x005F_` for a `_`); an unpaired surrogate
/// reads as U+FFFD.
fn unescape_excel(text: &str) -> Cow<'_, str> {
    if !text.contains("_x") {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let unit_at = |i: usize| -> Option<u32> {
        let escape = bytes.get(i..i + 7)?;
        let hex = &escape[2..6];
        if !(escape.starts_with(b"_x") && escape[6] == b'_' && hex.iter().all(u8::is_ascii_hexdigit)) {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let (mut out, mut i, mut copied) = (String::with_capacity(text.len()), 0, 0);
    while i < bytes.len() {
        let Some(unit) = unit_at(i) else {
            i += 1;
            continue;
        };
        out.push_str(&text[copied..i]);
        i += 7;
        let c = match unit {
            0xD800..=0xDBFF => match unit_at(i) {
                Some(low @ 0xDC00..=0xDFFF) => {
                    i += 7;
                    char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                }
                _ => None,
            },
            unit => char::from_u32(unit),
        };
        out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
        copied = i;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

// ---- the cells of the first sheet ------------------------------------------------------------------

/// A cell reference (`B12`): a column of Excel's (`A` to `XFD`) and a row of its; the row and the
/// column from 0.
fn cell_reference(part: &str, r: &str) -> Result<(u32, u32), DomainError> {
    let outside = || {
        malformed(format!(
            "the workbook's part {part} names the cell {r:?}, which is not a cell of a sheet (A1 to XFD{SHEET_ROWS})"
        ))
    };
    let letters = r.bytes().take_while(u8::is_ascii_alphabetic).count();
    if !(1..=3).contains(&letters) {
        return Err(outside());
    }
    let column = r[..letters].bytes().fold(0u32, |c, b| c * 26 + u32::from(b.to_ascii_uppercase() - b'A') + 1);
    if column as usize > MAX_COLUMNS {
        return Err(outside());
    }
    let row = row_number(part, &r[letters..]).map_err(|_| outside())?;
    Ok((row, column - 1))
}

/// A row number (`12`, 1 to [`SHEET_ROWS`]), from 0.
fn row_number(part: &str, r: &str) -> Result<u32, DomainError> {
    let digits = !r.is_empty() && r.len() <= 7 && r.bytes().all(|b| b.is_ascii_digit());
    match r.parse::<u32>() {
        Ok(row) if digits && (1..=SHEET_ROWS).contains(&row) => Ok(row - 1),
        _ => Err(malformed(format!(
            "the workbook's part {part} names the row {r:?}, which is not a row of a sheet (1 to {SHEET_ROWS})"
        ))),
    }
}

/// The cells a sheet's `dimension` (`A1` or `A1:C20`) declares; refused unless both corners are
/// cells and the first is above and left of the last.
fn declared_cells(part: &str, range: &str) -> Result<u64, DomainError> {
    let mut corners = range.split(':').map(|c| cell_reference(part, c));
    let first = corners.next().transpose()?;
    let last = corners.next().transpose()?;
    match (first, last, corners.next()) {
        (Some(_), None, None) => Ok(1),
        (Some((r1, c1)), Some((r2, c2)), None) if r1 <= r2 && c1 <= c2 => {
            Ok(u64::from(r2 - r1 + 1) * u64::from(c2 - c1 + 1))
        }
        _ => {
            Err(malformed(format!("the workbook's part {part} gives the sheet the range {range:?}, which is not one")))
        }
    }
}

/// What a cell holds before its type is applied: a `<v>` value, or an inline rich string.
enum Raw {
    Value(String),
    Inline(String),
}

/// Streams the cells of the first sheet to `on_cell`, as calamine's cell reader did: a cell's
/// place from its reference, or the one after the cell before it (the first of its row when a
/// row begins).
fn cells(
    archive: &mut Archive<'_>,
    sheet: &FirstSheet,
    strings: &SharedStrings,
    on_cell: &mut dyn FnMut(Cell) -> Result<(), DomainError>,
) -> Result<(), DomainError> {
    let Some(mut part) = archive.part(&sheet.path)? else {
        return Err(malformed(format!("the workbook's first sheet {:?} has no part {}", sheet.name, sheet.path)));
    };
    let name = part.name.clone();
    let mut sheet_data = None;
    let (mut row, mut column) = (0u32, 0u32);
    loop {
        match part.next()? {
            (Event::Start(e), depth) => match (element_name(&e), sheet_data) {
                (SheetElement::Dimension, None) => {
                    let Some(range) = attribute(&e, "ref", &name)? else { continue };
                    let declared = declared_cells(&name, &range)?;
                    if declared > super::MAX_SHEET_CELLS {
                        return Err(too_large(format!(
                            "the sheet {:?} declares the range {range} ({} cells); an import reads at most {} cells of a sheet",
                            sheet.name,
                            grouped(declared),
                            grouped(super::MAX_SHEET_CELLS)
                        )));
                    }
                }
                (SheetElement::SheetData, None) => sheet_data = Some(depth),
                (SheetElement::Row, Some(_)) => {
                    if let Some(r) = attribute(&e, "r", &name)? {
                        row = row_number(&name, &r)?;
                    }
                }
                (SheetElement::Cell, Some(_)) => {
                    if let Some(r) = attribute(&e, "r", &name)? {
                        (row, column) = cell_reference(&name, &r)?;
                    }
                    let kind = attribute(&e, "t", &name)?;
                    let reference = (row, column);
                    drop(e);
                    let raw = cell_value(&mut part)?;
                    let text = cell_text(&name, reference, kind.as_deref(), raw, strings)?;
                    on_cell(Cell { row: reference.0, column: reference.1, text })?;
                    column = column.saturating_add(1);
                }
                _ => {}
            },
            (Event::End(_), depth) if sheet_data.is_some_and(|d| depth < d) => return Ok(()),
            (Event::End(e), _) if sheet_data.is_some() && is_row_end(&e) => {
                row = row.saturating_add(1);
                column = 0;
            }
            (Event::Eof, _) => return Ok(()),
            _ => {}
        }
    }
}

/// The name of the element `e` without its prefix, when it is one a sheet's cells are read
/// from (and nothing otherwise, sparing an allocation a cell).
fn element_name(e: &BytesStart<'_>) -> SheetElement {
    let local = e.local_name();
    match local.as_ref() {
        "dimension" => SheetElement::Dimension,
        "sheetData" => SheetElement::SheetData,
        "row" => SheetElement::Row,
        "c" => SheetElement::Cell,
        "v" => SheetElement::Value,
        "is" => SheetElement::Inline,
        _ => SheetElement::Other,
    }
}

/// The elements of a sheet its cells are read from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SheetElement {
    Dimension,
    SheetData,
    Row,
    Cell,
    Value,
    Inline,
    Other,
}

fn is_row_end(e: &quick_xml::events::BytesEnd<'_>) -> bool {
    let local = e.local_name();
    let local: &str = local.as_ref();
    local == "row"
}

/// Reads the children of a cell (`c`, just opened): its last `v` or `is`; its formula (`f`) and
/// anything else are passed over.
fn cell_value(part: &mut XmlPart<'_>) -> Result<Option<Raw>, DomainError> {
    let opened = part.depth;
    let mut raw = None;
    loop {
        match part.next()? {
            (Event::End(_), depth) if depth < opened => return Ok(raw),
            (Event::Start(e), depth) if depth == opened + 1 => match element_name(&e) {
                SheetElement::Value => {
                    drop(e);
                    raw = Some(Raw::Value(part.text("cell")?));
                }
                SheetElement::Inline => {
                    drop(e);
                    raw = Some(Raw::Inline(rich_text(part, "cell")?));
                }
                _ => {}
            },
            (Event::Eof, _) => return Ok(raw),
            _ => {}
        }
    }
}

/// A cell's text by its type (`t`), as calamine's `Data` wrote it.
fn cell_text(
    part: &str,
    (row, column): (u32, u32),
    kind: Option<&str>,
    raw: Option<Raw>,
    strings: &SharedStrings,
) -> Result<String, DomainError> {
    let at = |message: String| refuse_at(Unit::Row, u64::from(row) + 1, message);
    let value = match raw {
        None => return Ok(String::new()),
        Some(Raw::Inline(text)) => return Ok(text),
        Some(Raw::Value(value)) => value,
    };
    Ok(match kind {
        Some("inlineStr") => String::new(),
        Some("s") if value.trim().is_empty() => String::new(),
        Some("s") => {
            let index = value.trim().parse::<usize>().ok();
            match index.and_then(|i| strings.get(i)) {
                Some(text) => text.to_string(),
                None => {
                    return Err(at(format!(
                        "the cell in column {} refers to shared string {value:?}, which the workbook does not have ({part})",
                        column + 1
                    )))
                }
            }
        }
        Some("b") => match value.trim() {
            "" => String::new(),
            "0" => "false".into(),
            "1" => "true".into(),
            v if v.eq_ignore_ascii_case("false") => "false".into(),
            v if v.eq_ignore_ascii_case("true") => "true".into(),
            v => return Err(at(format!("the cell in column {} holds {v:?}, which is not true or false", column + 1))),
        },
        Some("str") => unescape_excel(&value).into_owned(),
        Some("e") | Some("d") => value,
        Some("n") | None => match value.parse::<f64>() {
            Ok(number) => number.to_string(),
            Err(_) => value,
        },
        Some(other) => {
            return Err(at(format!(
                "the cell in column {} has the type {other:?}, which a sheet's cells do not have",
                column + 1
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_references_bounded() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(20_000_000), "20,000,000");
        assert_eq!(cell_reference("p", "A1").unwrap(), (0, 0));
        assert_eq!(cell_reference("p", "xfd1048576").unwrap(), (SHEET_ROWS - 1, 16_383));
        for bad in ["XFE1", "A0", "A1048577", "AAAA1", "1", "A", "A1B", "ZZZZZZZZZZZZZZ1", "A99999999999", "A+1"] {
            assert_eq!(cell_reference("p", bad).unwrap_err().code(), "invalid_request", "{bad}");
        }
        assert_eq!(declared_cells("p", "A1:XFD1048576").unwrap(), 17_179_869_184);
        assert_eq!(declared_cells("p", "B2").unwrap(), 1);
        assert_eq!(declared_cells("p", "B2:C4").unwrap(), 6);
        for bad in ["C3:A1", "A1:B2:C3", "", "A1:"] {
            assert!(declared_cells("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn excel_escapes_and_relationship_targets_read_as_calamine_read_them() {
        assert_eq!(unescape_excel("a_x000D_b"), "a\rb");
        assert_eq!(unescape_excel("_x005F_x000D_"), "_x000D_");
        assert_eq!(unescape_excel("_xD83D__xDCF7_"), "📷");
        assert_eq!(unescape_excel("_xD83D_x"), "\u{FFFD}x");
        assert_eq!(unescape_excel("_x12G4_ and _x"), "_x12G4_ and _x");
        assert_eq!(resolved("xl/", "worksheets/sheet1.xml"), "xl/worksheets/sheet1.xml");
        assert_eq!(resolved("xl/", "/xl/worksheets/sheet1.xml"), "xl/worksheets/sheet1.xml");
        assert_eq!(resolved("xl/sub/", "../worksheets/./sheet1.xml"), "xl/worksheets/sheet1.xml");
        assert_eq!(resolved("", "../../x.xml"), "x.xml");
    }

    /// An archive of these parts (deflated), as any ZIP writer makes one.
    fn archive(parts: &[(&str, &str)]) -> Vec<u8> {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, text) in parts {
            zip.start_file(*name, options).unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    const MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

    /// A workbook whose first sheet's `sheetData` is `rows` and whose shared strings are `strings`
    /// (`si` elements), as Excel names its parts.
    fn book(rows: &str, strings: &str) -> Vec<u8> {
        let rels = format!(
            r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
        );
        let workbook = format!(
            r#"<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets><sheet name="First" sheetId="1" r:id="rId7"/><sheet name="Second" sheetId="2" r:id="rId8"/></sheets></workbook>"#
        );
        let workbook_rels = format!(
            r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId8" Type="{REL}/worksheet" Target="worksheets/sheet2.xml"/><Relationship Id="rId7" Type="{REL}/worksheet" Target="/xl/worksheets/sheet1.xml"/></Relationships>"#
        );
        let sheet = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}"><sheetData>{rows}</sheetData></worksheet>"#
        );
        let second = format!(
            r#"<worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1"><v>2</v></c></row></sheetData></worksheet>"#
        );
        let sst = format!(r#"<sst xmlns="{MAIN}">{strings}</sst>"#);
        archive(&[
            ("_rels/.rels", &rels),
            ("xl/workbook.xml", &workbook),
            ("xl/_rels/workbook.xml.rels", &workbook_rels),
            ("xl/worksheets/sheet1.xml", &sheet),
            ("xl/worksheets/sheet2.xml", &second),
            ("xl/sharedStrings.xml", &sst),
        ])
    }

    fn read(bytes: &[u8]) -> Result<Vec<(u32, u32, String)>, DomainError> {
        let mut cells = Vec::new();
        read_first_sheet(bytes, &mut |c| {
            cells.push((c.row, c.column, c.text));
            Ok(())
        })?;
        Ok(cells)
    }

    /// The first sheet's cells as calamine reads them (`Data`'s text).
    fn calamine_cells(bytes: &[u8]) -> Vec<(u32, u32, String)> {
        use calamine::Reader;
        let mut book = calamine::Xlsx::new(Cursor::new(bytes)).unwrap();
        let first = book.sheet_names()[0].clone();
        let mut reader = book.worksheet_cells_reader(&first).unwrap();
        let mut cells = Vec::new();
        while let Some(cell) = reader.next_cell().unwrap() {
            let (row, column) = cell.get_position();
            cells.push((row, column, calamine::Data::from(cell.get_value().clone()).to_string()));
        }
        cells
    }

    #[test]
    fn every_cell_reads_as_calamine_read_it() {
        // A workbook as rust_xlsxwriter writes one: every kind of cell, formats, a second sheet.
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let bold = rust_xlsxwriter::Format::new().set_bold();
        let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        let sheet = workbook.add_worksheet();
        sheet.write_string(0, 0, "email").unwrap();
        sheet.write_string_with_format(0, 1, "Name", &bold).unwrap();
        sheet.write_string(1, 0, "  ann@c.example  ").unwrap();
        sheet.write_string(1, 1, "Ann\r\nline\u{1}_x000D_").unwrap();
        sheet.write_number(1, 2, 31_612_345_678.0).unwrap();
        sheet.write_number(1, 3, -0.125).unwrap();
        sheet.write_number(1, 4, 1e21).unwrap();
        sheet.write_boolean(2, 0, true).unwrap();
        sheet.write_boolean(2, 1, false).unwrap();
        sheet.write_formula(2, 2, "=1+1").unwrap();
        sheet.set_formula_result(2, 2, "2");
        sheet.write_formula(2, 3, "=\"a\"&\"b\"").unwrap();
        sheet.set_formula_result(2, 3, "ab");
        let when = rust_xlsxwriter::ExcelDateTime::from_ymd(2027, 1, 15).unwrap();
        sheet.write_datetime_with_format(3, 0, &when, &date).unwrap();
        sheet.write_rich_string(3, 1, &[(&bold, "Bo"), (&rust_xlsxwriter::Format::default(), "b 😀")]).unwrap();
        sheet.write_blank(3, 2, &bold).unwrap();
        sheet.write_url(4, 5, "mailto:bob@c.example").unwrap();
        // Far down and right, the sheet's range still within the cells an import reads.
        sheet.write_string(1_048_575, 18, "corner").unwrap();
        workbook.add_worksheet().write_string(0, 0, "not read").unwrap();
        let written = workbook.save_to_buffer().unwrap();
        // A workbook written by hand: inline strings, cells without references, phonetic runs,
        // escapes, CDATA, character references, every type of cell.
        let rows = r#"<row r="2"><c r="B2" t="inlineStr"><is><t xml:space="preserve"> kept </t></is></c><c t="inlineStr"><is><r><t>ri</t></r><r><t>ch</t></r><rPh sb="0" eb="1"><t>PHON</t></rPh></is></c><c><v>3.50</v></c><c t="s"><v>1</v></c></row><row><c t="e"><v>#N/A</v></c><c t="d"><v>2027-01-15T00:00:00</v></c><c t="str"><v>x_x0009_y &amp; &#x41;&#66;</v></c><c t="n"/><c t="s"><v></v></c><c><v>abc</v></c><c t="b"><v>1</v></c></row><row r="9"><c r="C9"><f>SUM(A1)</f><v>12</v></c><c r="D9" t="inlineStr"><is><t><![CDATA[<cdata>]]></t></is></c></row>"#;
        let strings = r#"<si><t>first</t></si><si><r><t xml:space="preserve">two </t></r><r><t>runs</t></r></si><si/>"#;
        for bytes in [written, book(rows, strings)] {
            let theirs = calamine_cells(&bytes);
            assert!(theirs.len() > 8, "{theirs:?}");
            assert_eq!(read(&bytes).unwrap(), theirs);
        }
    }

    /// Letters that compress about as well as text does.
    fn letters(n: usize) -> String {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (b'a' + (state % 26) as u8) as char
            })
            .collect()
    }

    /// `text` as rich-text runs of 1,000 bytes.
    fn runs(text: &str) -> String {
        text.as_bytes().chunks(1000).map(|c| format!("<r><t>{}</t></r>", std::str::from_utf8(c).unwrap())).collect()
    }

    /// The first message of a refusal, and its code.
    fn refusal(bytes: &[u8]) -> (String, String) {
        let err = read(bytes).unwrap_err();
        (err.code().to_string(), err.to_string())
    }

    #[test]
    fn every_bound_refuses_with_a_sentence_naming_it() {
        let ok = r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#;
        let deep = format!("{}{}", "<x>".repeat(200), "</x>".repeat(200));
        let cases: Vec<(Vec<u8>, &str, &str)> = vec![
            (
                book(ok, "<si><t>email</t></si>").replace_claim(),
                "payload_too_large",
                "claim 99,999,999,999,999 strings",
            ),
            (book(&deep, ""), "invalid_request", "row 1: the workbook's part xl/worksheets/sheet1.xml nests"),
            (book(ok, r#"<si><t>&xxe;</t></si>"#), "invalid_request", "the entity &xxe;"),
            (book(r#"<row r="0"><c r="A1"/></row>"#, ""), "invalid_request", "the row \"0\""),
            (book(r#"<row><c r="A1" t="s"><v>3</v></c></row>"#, "<si/>"), "invalid_request", "shared string \"3\""),
            (book(r#"<row><c r="A1" t="q"><v>3</v></c></row>"#, ""), "invalid_request", "the type \"q\""),
            (
                book(ok, &format!("<si><t>{}</t></si>", letters(1_100_000))),
                "payload_too_large",
                "longer than 1,048,576 bytes",
            ),
            (book(ok, &format!("<si>{}</si>", runs(&letters(1_100_000)))), "payload_too_large", "a shared string in"),
            (b"PK\x03\x04 not an archive".to_vec(), "invalid_request", "row 1: the file is not an Excel workbook"),
            (archive(&[("xl/workbook.xml", "<workbook/>")]), "invalid_request", "names no workbook"),
        ];
        for (bytes, code, says) in cases {
            let (got, message) = refusal(&bytes);
            assert_eq!(got, code, "{says}: {message}");
            assert!(message.contains(says), "{says}: {message}");
        }
        let doctype = book(ok, "").with_text("<worksheet", r#"<!DOCTYPE worksheet [<!ENTITY e "x">]><worksheet"#);
        assert!(refusal(&doctype).1.contains("declares a DOCTYPE"), "{}", refusal(&doctype).1);
        let huge = book(ok, "").with_text("<sheetData>", r#"<dimension ref="A1:XFD1048576"/><sheetData>"#);
        assert!(refusal(&huge).1.contains("(17,179,869,184 cells)"), "{}", refusal(&huge).1);
    }

    /// Changes text inside a workbook's (stored) parts: rebuilt from its parts.
    trait Edit {
        fn replace_claim(self) -> Vec<u8>;
        fn with_text(self, from: &str, to: &str) -> Vec<u8>;
    }

    impl Edit for Vec<u8> {
        fn replace_claim(self) -> Vec<u8> {
            self.with_text("<sst ", r#"<sst uniqueCount="99999999999999" "#)
        }

        fn with_text(self, from: &str, to: &str) -> Vec<u8> {
            let mut zip = zip::ZipArchive::new(Cursor::new(self)).unwrap();
            let mut parts = Vec::new();
            for i in 0..zip.len() {
                let mut f = zip.by_index(i).unwrap();
                let mut text = String::new();
                f.read_to_string(&mut text).unwrap();
                parts.push((f.name().unwrap().to_string(), text.replacen(from, to, 1)));
            }
            let parts: Vec<(&str, &str)> = parts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
            archive(&parts)
        }
    }

    #[test]
    fn a_part_is_unpacked_only_up_to_its_declared_size_and_ratio() {
        // A sheet of 3 MB of one repeated row: 3 MB from a few KB, more than 100 to 1.
        let rows = r#"<row><c><v>1</v></c></row>"#.repeat(120_000);
        let (code, message) = refusal(&book(&rows, ""));
        assert_eq!(code, "payload_too_large", "{message}");
        assert!(message.contains("times its compressed size"), "{message}");
        // The same sheet declaring 1,000 bytes in its headers (central and local): refused at
        // byte 1,001 while unpacking, its declared ratio harmless.
        let mut bytes = book(&rows, "");
        let name = b"xl/worksheets/sheet1.xml";
        let mut at = 0;
        while let Some(i) = bytes[at..].windows(name.len()).position(|w| w == name) {
            let start = at + i;
            let header =
                if bytes[start - 46..start - 42] == *b"PK\x01\x02" { start - 46 + 24 } else { start - 30 + 22 };
            bytes[header..header + 4].copy_from_slice(&1_000u32.to_le_bytes());
            at = start + name.len();
        }
        let (code, message) = refusal(&bytes);
        assert_eq!(code, "payload_too_large", "{message}");
        assert!(message.contains("more than the 1,000 bytes its archive declares"), "{message}");
    }
}
