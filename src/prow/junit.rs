//! The JUnit reader: which testcases failed in a run's `artifacts/junit*.xml`, for the
//! blocker issue ("What failed").
//!
//! Kubernetes e2e JUnit files (`<testsuites>` or a bare `<testsuite>`, holding
//! `<testcase name=.. classname=..>`; a testcase with a `<failure>` or `<error>` child
//! failed, one with `<skipped>` did not) are streamed through quick-xml's pull parser and
//! never held whole. The files come from GCS and are hostile, so everything is bounded:
//! - bytes read (`max_bytes`, 64 MiB): past it the parse stops and says "truncated";
//! - memory: text, comments, CDATA (failure messages, `<system-out>`) and any DOCTYPE
//!   are skipped in the byte stream before the XML parser sees them, so only tags are
//!   buffered, and one tag or DOCTYPE larger than `max_markup_bytes` ends the parse;
//!   names are cut at `max_name_chars` characters, and only `max_names` are kept;
//! - nesting depth (`max_depth`).
//!
//! Entities are never expanded: the DOCTYPE (where entities are declared) is skipped,
//! and names are unescaped leniently here (the five XML entities and character
//! references; any other `&name;` is kept as written), so a "billion laughs" document
//! costs its size and an unknown entity does not fail the parse. Malformed or cut-short
//! XML yields what was read before the fault plus a note; the parse never panics and
//! never errors.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::io::{self, BufRead, Read};

use quick_xml::events::{BytesStart, Event};

/// Bounds of one parse; [`Limits::default`] is what the blocker issue uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes read from one file at most; the rest is not read ("truncated").
    pub max_bytes: u64,
    /// Failed testcase names kept (all failures are still counted).
    pub max_names: usize,
    /// Characters of one name kept; a longer name is cut at a character boundary and
    /// ends with `…`.
    pub max_name_chars: usize,
    /// Element nesting deeper than this ends the parse.
    pub max_depth: usize,
    /// One tag, DOCTYPE or processing instruction larger than this ends the parse.
    pub max_markup_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 64 << 20,
            max_names: 20,
            max_name_chars: 1000,
            max_depth: 64,
            max_markup_bytes: 1 << 20,
        }
    }
}

/// Distinct failed names remembered per file to count each once; past this many, further
/// failures are counted without that check.
const MAX_DISTINCT: usize = 100_000;

/// Characters of a note kept (notes quote parser errors, which may quote the input).
const MAX_NOTE_CHARS: usize = 300;

/// The read buffer of one parse.
const READ_BUFFER: usize = 64 * 1024;

/// What one JUnit file tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JunitFile {
    /// Failed testcase names in document order, each once, at most `max_names`.
    pub names: Vec<String>,
    /// Failed testcases (distinct names), including those not kept in `names`.
    pub failed: usize,
    /// Testcases seen, failed or not.
    pub testcases: usize,
    /// Bytes of the file read.
    pub bytes_read: u64,
    /// The file was longer than `max_bytes`; the rest was not read.
    pub truncated: bool,
    /// What went wrong, if anything: malformed XML, too deep, cut short, not JUnit.
    pub notes: Vec<String>,
}

/// Failed tests of a run, merged over its JUnit files, as the blocker issue shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailedTests {
    /// Failed testcase names, file after file in document order, each once, at most
    /// `max_names`.
    pub names: Vec<String>,
    /// Failed testcases over all files read (a name failing in two files counts twice).
    pub total_failed: usize,
    /// JUnit files read, wholly or in part.
    pub files_read: usize,
    /// Why the list may be incomplete: no files, unreadable files, truncation, bad XML.
    pub notes: Vec<String>,
}

impl FailedTests {
    /// Adds one file's result (its notes prefixed with `file`).
    pub fn add_file(&mut self, file: &str, parsed: JunitFile, limits: &Limits) {
        self.files_read += 1;
        self.total_failed += parsed.failed;
        for name in parsed.names {
            if self.names.len() >= limits.max_names {
                break;
            }
            if !self.names.contains(&name) {
                self.names.push(name);
            }
        }
        if parsed.truncated {
            self.note(format!(
                "{file}: truncated at {}",
                human_bytes(limits.max_bytes)
            ));
        }
        for note in parsed.notes {
            self.note(format!("{file}: {note}"));
        }
    }

    /// Adds a note (cut to a few hundred characters).
    pub fn note(&mut self, note: impl AsRef<str>) {
        self.notes.push(cut(note.as_ref(), MAX_NOTE_CHARS));
    }
}

/// `64 MiB`, `1 KiB`, `12 bytes`.
fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// `s` cut to `max` characters at a character boundary, with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_string(),
    }
}

/// Parses one JUnit file from `reader` (any [`Read`], so any [`BufRead`]; it is read
/// through a buffer of its own). Never fails: faults become notes on what was read.
pub fn parse_junit<R: Read>(reader: R, limits: &Limits) -> JunitFile {
    let mut parse = Parse {
        limits,
        out: JunitFile::default(),
        seen: HashSet::new(),
        hasher: std::collections::hash_map::RandomState::new(),
        depth: 0,
        case: None,
        root_seen: false,
    };
    let mut xml = quick_xml::Reader::from_reader(Source::new(reader, limits));
    let mut buf = Vec::new();
    loop {
        if let Err(e) = xml.get_mut().skip_to_markup() {
            let source = xml.get_ref();
            let why = if source.oversized {
                too_large(limits)
            } else {
                format!("read error: {e}")
            };
            parse.stop(source, &why);
            break;
        }
        xml.get_mut().mark();
        buf.clear();
        let event = match xml.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(e) => {
                let source = xml.get_ref();
                let why = if source.oversized {
                    too_large(limits)
                } else {
                    format!("malformed XML: {e}")
                };
                parse.stop(source, &why);
                break;
            }
        };
        match event {
            Event::Start(e) => {
                parse.depth += 1;
                if parse.depth > limits.max_depth {
                    let why = format!("nested deeper than {} elements", limits.max_depth);
                    parse.stop(xml.get_ref(), &why);
                    break;
                }
                parse.element(&e, parse.depth, true);
            }
            Event::Empty(e) => parse.element(&e, parse.depth + 1, false),
            Event::End(_) => {
                if parse.case.as_ref().is_some_and(|c| c.depth == parse.depth) {
                    parse.finish_case();
                }
                parse.depth = parse.depth.saturating_sub(1);
            }
            Event::Eof => {
                if parse.depth > 0 {
                    parse.stop(xml.get_ref(), "the file ends inside an open element");
                }
                break;
            }
            _ => {}
        }
    }
    let source = xml.get_ref();
    parse.out.bytes_read = source.position();
    parse.out.truncated = source.truncated;
    // A testcase cut short that already showed its failure still failed.
    if parse.case.as_ref().is_some_and(|c| c.failed) {
        parse.finish_case();
    }
    parse.out
}

fn too_large(limits: &Limits) -> String {
    format!(
        "a tag or declaration larger than {}",
        human_bytes(limits.max_markup_bytes as u64)
    )
}

/// The testcase being read.
struct Case {
    depth: usize,
    name: String,
    failed: bool,
}

struct Parse<'a> {
    limits: &'a Limits,
    out: JunitFile,
    /// Hashes of the failed names counted (random keys: input cannot aim collisions).
    seen: HashSet<u64>,
    hasher: std::collections::hash_map::RandomState,
    depth: usize,
    case: Option<Case>,
    root_seen: bool,
}

impl Parse<'_> {
    /// Ends the parse with a note, unless the file was truncated (then the fault is the
    /// cut, which `truncated` already tells).
    fn stop<R: Read>(&mut self, source: &Source<R>, why: &str) {
        if !source.truncated {
            self.out.notes.push(cut(
                &format!("{why} (at byte {})", source.position()),
                MAX_NOTE_CHARS,
            ));
        }
    }

    /// An element opened at `depth` (`start`: it has content, else `<x/>`).
    fn element(&mut self, e: &BytesStart, depth: usize, start: bool) {
        let local = e.local_name();
        let local = local.as_ref();
        if !self.root_seen {
            self.root_seen = true;
            if local != b"testsuites" && local != b"testsuite" {
                self.out
                    .notes
                    .push("the root element is neither <testsuites> nor <testsuite>".into());
            }
        }
        match local {
            b"testcase" => {
                self.out.testcases += 1;
                // A testcase inside a testcase is not JUnit; only the outer one counts.
                if start && self.case.is_none() {
                    self.case = Some(Case {
                        depth,
                        name: testcase_name(e),
                        failed: false,
                    });
                }
            }
            b"failure" | b"error" => {
                if let Some(case) = &mut self.case
                    && depth == case.depth + 1
                {
                    case.failed = true;
                }
            }
            _ => {}
        }
    }

    /// Closes the current testcase, counting it if it failed.
    fn finish_case(&mut self) {
        let Some(case) = self.case.take() else {
            return;
        };
        if !case.failed {
            return;
        }
        let new = if self.seen.len() < MAX_DISTINCT {
            self.seen.insert(self.hasher.hash_one(&case.name))
        } else {
            true
        };
        if !new {
            return;
        }
        self.out.failed += 1;
        if self.out.names.len() < self.limits.max_names {
            // Two long names may differ only past the cut: show that name once.
            let shown = cut(&case.name, self.limits.max_name_chars);
            if !self.out.names.contains(&shown) {
                self.out.names.push(shown);
            }
        }
    }
}

/// A testcase's `name` (else its `classname`), unescaped leniently.
fn testcase_name(e: &BytesStart) -> String {
    let mut name = None;
    let mut classname = None;
    // No duplicate-attribute checks: they cost time quadratic in the attributes.
    for attr in e.attributes().with_checks(false).flatten() {
        let slot = match attr.key.local_name().as_ref() {
            b"name" => &mut name,
            b"classname" => &mut classname,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(unescape_lenient(&String::from_utf8_lossy(&attr.value)));
        }
        if name.is_some() && classname.is_some() {
            break;
        }
    }
    [name, classname]
        .into_iter()
        .flatten()
        .find(|n| !n.is_empty())
        .unwrap_or_else(|| "(unnamed testcase)".to_string())
}

/// Unescapes an attribute value: the five XML entities and character references are
/// resolved, anything else (`&custom;`, a lone `&`) is kept as written, never expanded;
/// literal tabs and line breaks become spaces, as XML normalises attribute values.
pub fn unescape_lenient(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        push_normalised(&mut out, &rest[..amp]);
        let after = &rest[amp + 1..];
        let resolved = after
            .find(';')
            .filter(|&semi| semi <= 32)
            .and_then(|semi| Some((resolve_entity(&after[..semi])?, semi)));
        match resolved {
            Some((text, semi)) => {
                out.push_str(&text);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    push_normalised(&mut out, rest);
    out
}

fn push_normalised(out: &mut String, text: &str) {
    out.extend(text.chars().map(|c| {
        if matches!(c, '\t' | '\n' | '\r') {
            ' '
        } else {
            c
        }
    }));
}

/// `lt`, `#x41`, `#65` → the text; `None` for anything else.
fn resolve_entity(entity: &str) -> Option<String> {
    if let Some(number) = entity.strip_prefix('#') {
        let code = match number.strip_prefix('x') {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).map(String::from);
    }
    quick_xml::escape::resolve_xml_entity(entity).map(String::from)
}

/// The byte stream under the XML parser: its own buffer, the byte cap, the markup cap,
/// and the skipping of text, comments, CDATA and DOCTYPEs that the parse never needs.
struct Source<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Bytes taken from `inner`.
    taken: u64,
    max_bytes: u64,
    max_markup: u64,
    /// Where the current piece of markup began.
    mark: u64,
    eof: bool,
    /// `inner` had more than `max_bytes`.
    truncated: bool,
    /// A piece of markup went past `max_markup`.
    oversized: bool,
}

impl<R: Read> Source<R> {
    fn new(inner: R, limits: &Limits) -> Self {
        Self {
            inner,
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            pos: 0,
            end: 0,
            taken: 0,
            max_bytes: limits.max_bytes,
            max_markup: limits.max_markup_bytes as u64,
            mark: 0,
            eof: false,
            truncated: false,
            oversized: false,
        }
    }

    /// Bytes consumed so far.
    fn position(&self) -> u64 {
        self.taken - (self.end - self.pos) as u64
    }

    /// Starts a new piece of markup (for the markup cap).
    fn mark(&mut self) {
        self.mark = self.position();
    }

    /// Reads more after the unread bytes (moved to the front); 0 at the end of input or
    /// at the byte cap.
    fn read_more(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        let room = self.max_bytes.saturating_sub(self.taken);
        if room == 0 {
            // At the cap: one more byte tells whether anything was left unread.
            let mut probe = [0u8; 1];
            self.eof = true;
            self.truncated = loop {
                match self.inner.read(&mut probe) {
                    Ok(n) => break n > 0,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            return Ok(0);
        }
        let want = (self.buf.len() - self.end).min(usize::try_from(room).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..self.end + want]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.end += n;
                    self.taken += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// At least `n` unread bytes buffered, unless the input ends first.
    fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.end - self.pos < n {
            if self.read_more()? == 0 {
                break;
            }
        }
        Ok(&self.buf[self.pos..self.end])
    }

    /// Skips text, comments, CDATA sections and declarations up to the next tag or
    /// processing instruction, or to the end of input.
    fn skip_to_markup(&mut self) -> io::Result<()> {
        loop {
            // Text: up to the next '<'.
            loop {
                if self.pos == self.end && self.read_more()? == 0 {
                    return Ok(());
                }
                match memchr::memchr(b'<', &self.buf[self.pos..self.end]) {
                    Some(i) => {
                        self.pos += i;
                        break;
                    }
                    None => self.pos = self.end,
                }
            }
            let ahead = self.peek(9)?;
            if ahead.starts_with(b"<!--") {
                self.pos += 4;
                self.skip_past(b"-->")?;
            } else if ahead.starts_with(b"<![CDATA[") {
                self.pos += 9;
                self.skip_past(b"]]>")?;
            } else if ahead.starts_with(b"<!") {
                // `<!DOCTYPE`, and anything else of that form, valid or not.
                self.skip_declaration()?;
            } else {
                return Ok(());
            }
        }
    }

    /// Skips a `<!DOCTYPE ..>` or other `<!..>` declaration (an internal subset, with the
    /// entity declarations of a "billion laughs", included): it is never needed, and read
    /// here byte by byte it ends at the same place however the input was cut into reads
    /// (quick-xml's own scanner does not, for some malformed ones). Longer than the
    /// markup cap, it ends the parse.
    fn skip_declaration(&mut self) -> io::Result<()> {
        #[derive(Clone, Copy)]
        enum State {
            Outside,
            Subset,
            Quoted(u8, bool),
        }
        let start = self.position();
        self.pos += 2;
        let mut state = State::Outside;
        loop {
            if self.pos == self.end && self.read_more()? == 0 {
                return Ok(());
            }
            let byte = self.buf[self.pos];
            self.pos += 1;
            if self.position() - start > self.max_markup {
                self.oversized = true;
                return Err(io::Error::other("declaration too large"));
            }
            state = match (state, byte) {
                (State::Outside, b'>') => return Ok(()),
                (State::Outside, b'[') => State::Subset,
                (State::Subset, b']') => State::Outside,
                (State::Outside, b'"' | b'\'') => State::Quoted(byte, false),
                (State::Subset, b'"' | b'\'') => State::Quoted(byte, true),
                (State::Quoted(quote, in_subset), b) if b == quote => {
                    if in_subset {
                        State::Subset
                    } else {
                        State::Outside
                    }
                }
                (state, _) => state,
            };
        }
    }

    /// Skips past the next `end`, or to the end of input.
    fn skip_past(&mut self, end: &[u8]) -> io::Result<()> {
        let finder = memchr::memmem::Finder::new(end);
        loop {
            if let Some(i) = finder.find(&self.buf[self.pos..self.end]) {
                self.pos += i + end.len();
                return Ok(());
            }
            // Keep the last bytes: `end` may straddle two reads.
            let keep = (end.len() - 1).min(self.end - self.pos);
            self.pos = self.end - keep;
            if self.read_more()? == 0 {
                self.pos = self.end;
                return Ok(());
            }
        }
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let used = self.position() - self.mark;
        if used > self.max_markup {
            self.oversized = true;
            return Err(io::Error::other("markup too large"));
        }
        if self.pos == self.end {
            self.read_more()?;
        }
        // Never more than one byte past the cap: where the parse stops does not depend
        // on how the input was cut into reads.
        let allowed = usize::try_from(self.max_markup + 1 - used).unwrap_or(usize::MAX);
        let end = self.end.min(self.pos.saturating_add(allowed));
        Ok(&self.buf[self.pos..end])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.end);
    }
}

#[cfg(test)]
mod tests;
