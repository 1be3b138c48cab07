//! One `INSERT`/`REPLACE ... VALUES (...),(...);` statement of a mysqldump: its header (table,
//! optional column list) and its tuples, with the string values rewritten in place.
//!
//! Quoted string literals (optionally with a charset introducer such as `_binary` or
//! `_utf8mb4`) are rewritten; so are the hex literals (`0x…` from `--hex-blob`, `X'…'`) of the
//! table's binary columns (BLOB, VARBINARY: [`ColumnKind::Binary`]), decoded, rewritten only when
//! their bytes are UTF-8 and written back as `0x…`; a `_binary '…'` string or any string of a
//! binary column follows the same UTF-8 rule. Numbers, `NULL`, `b'…'` literals and hex literals
//! of other columns are copied as they are. Unchanged bytes are copied verbatim, so a statement
//! without a change is written back byte-for-byte.

use std::ops::Range;

use memchr::memchr2;

use super::binary::{decode_hex, encode_hex, reencoded, rewrite_binary};
use super::column_kind::ColumnKind;
use super::mysql_escape::{decode, encode, has_identity_escape};
use super::mysql_syntax::Cursor;
use super::policy::TablePlan;
use super::rewriter::{Outcome, Rewriter};
use super::row_map::{replacement_for, Replacement, TableMap};
use super::stats::TableStats;

/// What the statement's head says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct InsertHeader {
    /// Table name, unquoted.
    pub(crate) table: String,
    /// Explicit column list (`mysqldump --complete-insert`), if any.
    pub(crate) columns: Option<Vec<String>>,
    /// Index just after `VALUES`.
    pub(crate) values_at: usize,
}

/// Why a statement could not be scanned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// The statement continues past the end of the buffer (read another line).
    NeedMore,
    /// Not a statement this parser understands.
    Bad(String),
}

/// A value of a tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// A quoted string: the content between the quotes (still escaped); `binary` with the
    /// `_binary` introducer.
    Str {
        content: Range<usize>,
        quote: u8,
        binary: bool,
    },
    /// A hex literal (`0x4142`, `X'4142'`): its digits.
    Hex { digits: Range<usize> },
    /// Anything else (number, NULL, bit literal).
    Other,
}

/// Parses `INSERT [IGNORE] INTO name [(cols)] VALUES` or `REPLACE INTO name [(cols)] VALUES`.
pub(crate) fn parse_insert_header(stmt: &[u8]) -> Option<InsertHeader> {
    let mut p = Cursor { s: stmt, i: 0 };
    let verb = p.word()?;
    if verb.eq_ignore_ascii_case(b"INSERT") {
        let mut w = p.word()?;
        for modifier in [
            &b"LOW_PRIORITY"[..],
            b"DELAYED",
            b"HIGH_PRIORITY",
            b"IGNORE",
        ] {
            if w.eq_ignore_ascii_case(modifier) {
                w = p.word()?;
            }
        }
        if !w.eq_ignore_ascii_case(b"INTO") {
            return None;
        }
    } else if verb.eq_ignore_ascii_case(b"REPLACE") {
        if !p.word()?.eq_ignore_ascii_case(b"INTO") {
            return None;
        }
    } else {
        return None;
    }
    let mut table = p.ident()?;
    // `db`.`table`: keep the table part.
    while p.peek() == Some(b'.') {
        p.i += 1;
        table = p.ident()?;
    }
    p.ws();
    let mut columns = None;
    if p.peek() == Some(b'(') {
        p.i += 1;
        let mut cols = Vec::new();
        loop {
            cols.push(p.ident()?);
            p.ws();
            match p.peek()? {
                b',' => p.i += 1,
                b')' => {
                    p.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        columns = Some(cols);
    }
    let values = p.word()?;
    if !values.eq_ignore_ascii_case(b"VALUES") && !values.eq_ignore_ascii_case(b"VALUE") {
        return None;
    }
    Some(InsertHeader {
        table,
        columns,
        values_at: p.i,
    })
}

/// Everything a statement rewrite needs besides the statement.
pub(crate) struct InsertJob<'a> {
    pub(crate) rewriter: &'a Rewriter,
    pub(crate) plan: &'a TablePlan,
    /// Whole-field replacements for this table, if any.
    pub(crate) map: Option<&'a dyn TableMap>,
    pub(crate) columns: Option<&'a [String]>,
    /// The kind of each column, in value order (empty when the columns are unknown: all text).
    pub(crate) kinds: &'a [ColumnKind],
    /// Whether any value may need rewriting; when false the tuples are only counted.
    pub(crate) may_match: bool,
}

/// The outcome of one statement.
#[derive(Debug, Default)]
pub(crate) struct InsertResult {
    pub(crate) counts: TableStats,
    /// `(row number within this statement, column index)` of malformed values.
    pub(crate) malformed: Vec<(u64, usize)>,
    /// The location of every field the row map replaced.
    pub(crate) mapped: Vec<std::borrow::Cow<'static, str>>,
    /// Whether `out` holds a rewritten statement (otherwise the input is to be written as is).
    pub(crate) changed: bool,
}

/// Scans the tuples after `header.values_at`, rewriting string values into `out` (which receives
/// the whole statement when something changed).
pub(crate) fn rewrite_insert(
    stmt: &[u8],
    header: &InsertHeader,
    job: &InsertJob<'_>,
    out: &mut Vec<u8>,
) -> Result<InsertResult, ScanError> {
    let mut res = InsertResult::default();
    let mut p = Cursor {
        s: stmt,
        i: header.values_at,
    };
    let mut items: Vec<(Item, Range<usize>)> = Vec::new();
    let mut value = Vec::new();
    let mut mapped = Vec::new();
    let mut copied = 0;
    loop {
        p.ws();
        if p.peek().ok_or(ScanError::NeedMore)? != b'(' {
            return Err(bad("expected '(' before a row"));
        }
        p.i += 1;
        items.clear();
        tuple(&mut p, &mut items)?;
        res.counts.rows += 1;
        if job.may_match {
            if let Some(cols) = job.columns {
                if cols.len() != items.len() {
                    return Err(ScanError::Bad(format!(
                        "a row has {} values but the table has {} columns",
                        items.len(),
                        cols.len()
                    )));
                }
            }
            let row = res.counts.rows;
            process_row(
                stmt,
                &items,
                job,
                &mut res,
                row,
                Buffers {
                    value: &mut value,
                    mapped: &mut mapped,
                    out,
                    copied: &mut copied,
                },
            );
        }
        p.ws();
        match p.peek().ok_or(ScanError::NeedMore)? {
            b',' => p.i += 1,
            b';' => break,
            _ => return Err(bad("expected ',' or ';' after a row")),
        }
    }
    if res.changed {
        out.extend_from_slice(&stmt[copied..]);
    }
    Ok(res)
}

/// Reused buffers and the output position of one statement.
struct Buffers<'b> {
    value: &'b mut Vec<u8>,
    mapped: &'b mut Vec<Replacement>,
    out: &'b mut Vec<u8>,
    /// Bytes of the statement before this index are in `out` (when it changed).
    copied: &'b mut usize,
}

/// Applies the row map, then rewrites the string values of one row (unless the policy
/// protects it).
fn process_row(
    stmt: &[u8],
    items: &[(Item, Range<usize>)],
    job: &InsertJob<'_>,
    res: &mut InsertResult,
    row: u64,
    buf: Buffers<'_>,
) {
    let Buffers {
        value,
        mapped,
        out,
        copied,
    } = buf;
    let field = |i: usize| match &items.get(i)?.0 {
        Item::Str { content, quote, .. } => {
            let mut v = Vec::new();
            decode(&stmt[content.clone()], *quote, &mut v);
            Some(v)
        }
        // Numbers and hex as written; NULL is NULL.
        Item::Hex { .. } | Item::Other => {
            let raw = &stmt[items[i].1.clone()];
            (!raw.eq_ignore_ascii_case(b"NULL")).then(|| raw.to_vec())
        }
    };
    mapped.clear();
    if let Some(map) = job.map {
        map.map_row(&mut { field }, mapped);
    }
    let binary_column = |i: usize| job.kinds.get(i) == Some(&ColumnKind::Binary);
    let row_has_candidate = items.iter().enumerate().any(|(i, (item, _))| match item {
        Item::Str { content, .. } => needs_look(job.rewriter, &stmt[content.clone()]),
        Item::Hex { digits } => binary_column(i) && hex_holds_candidate(job.rewriter, stmt, digits),
        Item::Other => false,
    });
    if !row_has_candidate && mapped.is_empty() {
        return;
    }
    let skip_row = row_has_candidate
        && job.plan.has_row_rules()
        && job.plan.skips_row(|i| match &items.get(i)?.0 {
            Item::Str { .. } => field(i),
            Item::Hex { .. } | Item::Other => None,
        });
    if skip_row {
        res.counts.rows_protected += 1;
    }
    for (i, (item, token)) in items.iter().enumerate() {
        // The bytes to replace, and the value's real bytes decoded into `value`.
        let (span, binary) = match item {
            Item::Str {
                content, binary, ..
            } => (content.clone(), *binary || binary_column(i)),
            Item::Hex { .. } if binary_column(i) => (token.clone(), true),
            _ => continue,
        };
        if let (Some(r), Item::Str { content, .. }) = (replacement_for(mapped, i), item) {
            out.extend_from_slice(&stmt[*copied..content.start]);
            encode(&r.value, out);
            *copied = content.end;
            res.changed = true;
            res.counts.values_mapped += 1;
            res.mapped.push(r.location.clone());
            continue;
        }
        if skip_row || !row_has_candidate {
            continue;
        }
        value.clear();
        match item {
            Item::Str { content, quote, .. } => {
                let raw = &stmt[content.clone()];
                if !needs_look(job.rewriter, raw) {
                    continue;
                }
                decode(raw, *quote, value);
            }
            Item::Hex { digits } => {
                if !decode_hex(&stmt[digits.clone()], value) {
                    continue;
                }
            }
            Item::Other => continue,
        }
        if !job.rewriter.may_contain_match(value) {
            continue;
        }
        if job.plan.skips_column(i) {
            res.counts.values_protected += 1;
            continue;
        }
        let outcome = if binary {
            match rewrite_binary(job.rewriter, value) {
                Some(o) if matches!(item, Item::Hex { .. }) => reencoded(o, hex_literal),
                Some(o) => o,
                None => {
                    res.counts.binary_kept += 1;
                    continue;
                }
            }
        } else {
            job.rewriter.rewrite_value(value)
        };
        if outcome.malformed {
            res.counts.malformed += 1;
            res.malformed.push((row, i));
        }
        if outcome.changed() {
            out.extend_from_slice(&stmt[*copied..span.start]);
            write_value(item, &outcome, out);
            *copied = span.end;
            res.changed = true;
            res.counts.values_changed += 1;
            res.counts.replacements += outcome.replacements as u64;
            res.counts.literal_replacements += outcome.literal_replacements as u64;
        }
    }
}

/// Writes a changed value in its literal's form: string content escaped, hex as it came.
fn write_value(item: &Item, outcome: &Outcome<'_>, out: &mut Vec<u8>) {
    match item {
        Item::Hex { .. } => out.extend_from_slice(&outcome.value),
        _ => encode(&outcome.value, out),
    }
}

/// `0x` + upper-case hex, as `mysqldump --hex-blob` writes bytes.
fn hex_literal(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"0x");
    encode_hex(bytes, true, out);
}

/// Whether the bytes of the hex digits `stmt[digits]` hold a candidate host.
fn hex_holds_candidate(rewriter: &Rewriter, stmt: &[u8], digits: &Range<usize>) -> bool {
    let mut bytes = Vec::new();
    decode_hex(&stmt[digits.clone()], &mut bytes) && rewriter.may_contain_match(&bytes)
}

fn needs_look(rewriter: &Rewriter, raw: &[u8]) -> bool {
    rewriter.may_contain_match(raw) || has_identity_escape(raw)
}

/// The values of one tuple, after its `(`; consumes the closing `)`.
fn tuple(p: &mut Cursor<'_>, items: &mut Vec<(Item, Range<usize>)>) -> Result<(), ScanError> {
    p.ws();
    if p.peek().ok_or(ScanError::NeedMore)? == b')' {
        p.i += 1;
        return Ok(());
    }
    loop {
        p.ws();
        let start = p.i;
        let item = value(p)?;
        items.push((item, start..p.i));
        p.ws();
        match p.peek().ok_or(ScanError::NeedMore)? {
            b',' => p.i += 1,
            b')' => {
                p.i += 1;
                return Ok(());
            }
            _ => return Err(bad("expected ',' or ')' after a value")),
        }
    }
}

/// One value.
fn value(p: &mut Cursor<'_>) -> Result<Item, ScanError> {
    let s = p.s;
    let c = p.peek().ok_or(ScanError::NeedMore)?;
    let next = s.get(p.i + 1).copied();
    match c {
        b'\'' | b'"' => {
            let end = string_end(s, p.i, c)?;
            let content = p.i + 1..end - 1;
            p.i = end;
            Ok(Item::Str {
                content,
                quote: c,
                binary: false,
            })
        }
        b'_' => {
            // Charset introducer: `_binary 'x'`, `_utf8mb4'x'`.
            let introducer = p.i;
            p.i += 1;
            while p
                .peek()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                p.i += 1;
            }
            let binary = s[introducer..p.i].eq_ignore_ascii_case(b"_binary");
            p.ws();
            match p.peek().ok_or(ScanError::NeedMore)? {
                q @ (b'\'' | b'"') => {
                    let end = string_end(s, p.i, q)?;
                    let content = p.i + 1..end - 1;
                    p.i = end;
                    Ok(Item::Str {
                        content,
                        quote: q,
                        binary,
                    })
                }
                _ => Err(bad("charset introducer without a string")),
            }
        }
        b'x' | b'X' if next == Some(b'\'') => {
            let open = p.i + 1;
            p.i = string_end(s, open, b'\'')?;
            Ok(Item::Hex {
                digits: open + 1..p.i - 1,
            })
        }
        b'b' | b'B' if next == Some(b'\'') => {
            p.i = string_end(s, p.i + 1, b'\'')?;
            Ok(Item::Other)
        }
        _ => {
            let start = p.i;
            while let Some(b) = p.peek() {
                match b {
                    b',' | b')' | b' ' | b'\t' | b'\r' | b'\n' => break,
                    b'\'' | b'"' | b'(' | b';' | b'`' => {
                        return Err(bad("unexpected character in a value"))
                    }
                    _ => p.i += 1,
                }
            }
            if p.i == start {
                return Err(bad("empty value"));
            }
            if s[start..].starts_with(b"0x") {
                return Ok(Item::Hex {
                    digits: start + 2..p.i,
                });
            }
            Ok(Item::Other)
        }
    }
}

/// Index just after the quote that closes the literal opened at `open`.
fn string_end(s: &[u8], open: usize, quote: u8) -> Result<usize, ScanError> {
    let mut i = open + 1;
    loop {
        let off = memchr2(b'\\', quote, s.get(i..).ok_or(ScanError::NeedMore)?)
            .ok_or(ScanError::NeedMore)?;
        let at = i + off;
        // A backslash escapes the next byte; a doubled quote stands for one quote.
        if s[at] == b'\\' || s.get(at + 1) == Some(&quote) {
            i = at + 2;
        } else {
            return Ok(at + 1);
        }
    }
}

fn bad(reason: &str) -> ScanError {
    ScanError::Bad(reason.to_string())
}
