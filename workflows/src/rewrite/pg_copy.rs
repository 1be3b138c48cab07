//! Streaming rewrite of a PostgreSQL plain-format dump (`pg_dump` output) between the dump tool and
//! `psql`, one line at a time.
//!
//! Only the data of `COPY table (columns) FROM stdin;` blocks is rewritten: each line is a row of
//! tab-separated, backslash-escaped fields (`pg_escape`); `\N` is NULL and `\.` ends the
//! block. Every other line (DDL, `SET`, comments, function bodies) passes through byte-for-byte;
//! `INSERT` statements outside COPY blocks (`pg_dump --inserts`) are passed through and counted
//! in [`DumpStats::statements_not_rewritten`]. A line without any candidate host is copied
//! without being split into fields, unless a [`RowMap`] applies to its table or the table has a
//! binary column (a `bytea` field is hex, `\\x…`, so its host cannot be seen before decoding).
//! Columns the caller names in [`ColumnKinds`] are read in their own format: `bytea` values are
//! decoded and rewritten only when UTF-8 (`binary`), arrays element by element (`pg_array`).

use std::io::{BufRead, BufWriter, Write};
use std::ops::Range;

use memchr::memchr_iter;

use super::binary::{decode_bytea, encode_bytea, reencoded, rewrite_binary};
use super::column_kind::{ColumnKind, ColumnKinds};
use super::error::RewriteError;
use super::pg_array::rewrite_array;
use super::pg_escape::{decode, encode, has_numeric_escape, NULL_FIELD};
use super::policy::{Policy, TablePlan};
use super::rewriter::Rewriter;
use super::row_map::{replacement_for, Replacement, RowMap, TableMap};
use super::stats::{DumpStats, TableStats};

/// Rewrites the `COPY` data of a `pg_dump` plain-format stream.
pub struct PgCopyRewriter<'a> {
    rewriter: &'a Rewriter,
    policy: &'a Policy,
    row_map: Option<&'a dyn RowMap>,
    freeze_into: Option<&'a str>,
    kinds: Option<&'a ColumnKinds>,
}

/// The COPY block being read.
struct Block {
    table: String,
    columns: Vec<String>,
    /// The kind of each column (all text when the caller named none).
    kinds: Vec<ColumnKind>,
    plan: TablePlan,
    map: Option<Box<dyn TableMap>>,
    counts: TableStats,
}

impl<'a> PgCopyRewriter<'a> {
    /// An adapter applying `rewriter` under `policy`.
    pub fn new(rewriter: &'a Rewriter, policy: &'a Policy) -> Self {
        PgCopyRewriter {
            rewriter,
            policy,
            row_map: None,
            freeze_into: None,
            kinds: None,
        }
    }

    /// Reads the columns `kinds` names in their own format (`bytea`, arrays of text); the
    /// others are text.
    pub fn with_column_kinds(mut self, kinds: &'a ColumnKinds) -> Self {
        self.kinds = Some(kinds);
        self
    }

    /// Loads every COPY block `WITH (FREEZE)` after `TRUNCATE <table>` (`table` already quoted):
    /// rows are written frozen, so building indexes later does not rewrite every page to set
    /// hint bits. Only for a stream that `psql --single-transaction` loads into a plain
    /// (not partitioned) table: FREEZE needs the table emptied in the same transaction.
    pub fn with_freeze_into(mut self, table: &'a str) -> Self {
        self.freeze_into = Some(table);
        self
    }

    /// Also applies `map`'s whole-field replacements (before the rewriter).
    pub fn with_row_map(mut self, map: &'a dyn RowMap) -> Self {
        self.row_map = Some(map);
        self
    }

    /// Copies `input` to `output`, rewriting COPY data; returns per-table statistics. Memory use
    /// is bounded by the longest line. Output is buffered internally and flushed at the end.
    pub fn run<R: BufRead, W: Write>(
        &self,
        mut input: R,
        output: W,
    ) -> Result<DumpStats, RewriteError> {
        let mut out = BufWriter::with_capacity(1 << 20, output);
        let mut stats = DumpStats::default();
        let mut line = Vec::with_capacity(1 << 16);
        let mut scratch = Scratch::default();
        let mut block: Option<Block> = None;
        let mut line_no = 0u64;
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            line_no += 1;
            stats.bytes_in += line.len() as u64;
            let written = match block.as_mut() {
                None => {
                    if line.starts_with(b"COPY ") {
                        block = self.start_block(&line, line_no)?;
                        if let (Some(table), Some(_)) = (self.freeze_into, &block) {
                            if let Some(head) = line.strip_suffix(b";\n") {
                                out.write_all(format!("TRUNCATE {table};\n").as_bytes())?;
                                out.write_all(head)?;
                                out.write_all(b" WITH (FREEZE);\n")?;
                                stats.bytes_out += line.len() as u64;
                                continue;
                            }
                        }
                    } else if starts_with_ci(&line, b"INSERT INTO ") {
                        stats.statements_not_rewritten += 1;
                    }
                    out.write_all(&line)?;
                    line.len()
                }
                Some(b) if is_end_marker(&line) => {
                    stats.merge(&b.table, &b.counts);
                    block = None;
                    out.write_all(&line)?;
                    line.len()
                }
                Some(b) => self.data_line(b, &line, line_no, &mut scratch, &mut stats, &mut out)?,
            };
            stats.bytes_out += written as u64;
        }
        if let Some(b) = block {
            stats.merge(&b.table, &b.counts);
            return Err(RewriteError::Truncated { table: b.table });
        }
        out.flush()?;
        Ok(stats)
    }

    fn start_block(&self, line: &[u8], line_no: u64) -> Result<Option<Block>, RewriteError> {
        let Some(CopyHeader {
            table,
            name,
            columns,
        }) = parse_copy_header(line)
        else {
            return Ok(None);
        };
        let plan = self
            .policy
            .plan(&name, (!columns.is_empty()).then_some(&columns[..]))
            .map_err(|e| match e {
                RewriteError::UnknownColumns { table } => RewriteError::Syntax {
                    line: line_no,
                    table: Some(table),
                    reason: "COPY without a column list, but the policy names this table".into(),
                },
                other => other,
            })?;
        let map = match self.row_map {
            Some(m) if m.wants(&name) => {
                if columns.is_empty() {
                    return Err(RewriteError::Syntax {
                        line: line_no,
                        table: Some(table),
                        reason: "COPY without a column list, but the row map names this table"
                            .into(),
                    });
                }
                m.table(&name, &columns)
            }
            _ => None,
        };
        let kinds = match self.kinds {
            Some(k) => k.resolve(&name, &columns),
            None => Vec::new(),
        };
        Ok(Some(Block {
            table,
            columns,
            kinds,
            plan,
            map,
            counts: TableStats::default(),
        }))
    }

    /// Handles one data row; returns the number of bytes written.
    fn data_line<W: Write>(
        &self,
        b: &mut Block,
        line: &[u8],
        line_no: u64,
        s: &mut Scratch,
        stats: &mut DumpStats,
        out: &mut W,
    ) -> Result<usize, RewriteError> {
        b.counts.rows += 1;
        // COPY accepts \n, \r\n (and \r) line ends; data CRs are always escaped as `\r`.
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let has_binary = b.kinds.contains(&ColumnKind::Binary);
        if b.map.is_none()
            && !has_binary
            && !self.rewriter.may_contain_match(body)
            && !has_numeric_escape(body)
        {
            out.write_all(line)?;
            return Ok(line.len());
        }
        s.fields.clear();
        let mut start = 0;
        for tab in memchr_iter(b'\t', body) {
            s.fields.push(start..tab);
            start = tab + 1;
        }
        s.fields.push(start..body.len());
        if !b.columns.is_empty() && s.fields.len() != b.columns.len() {
            return Err(RewriteError::Syntax {
                line: line_no,
                table: Some(b.table.clone()),
                reason: format!(
                    "COPY row has {} fields but the header names {} columns",
                    s.fields.len(),
                    b.columns.len()
                ),
            });
        }
        let field = |i: usize| {
            let raw = &body[s.fields.get(i)?.clone()];
            (raw != NULL_FIELD).then(|| {
                let mut v = Vec::new();
                decode(raw, &mut v);
                v
            })
        };
        s.mapped.clear();
        if let Some(map) = &b.map {
            map.map_row(&mut { field }, &mut s.mapped);
        }
        let skip_row = b.plan.has_row_rules() && b.plan.skips_row(field);
        if skip_row {
            b.counts.rows_protected += 1;
            if s.mapped.is_empty() {
                out.write_all(line)?;
                return Ok(line.len());
            }
        }
        s.line.clear();
        let mut copied = 0;
        let mut changed = false;
        for (i, range) in s.fields.iter().enumerate() {
            if let Some(r) = replacement_for(&s.mapped, i) {
                s.line.extend_from_slice(&body[copied..range.start]);
                encode(&r.value, &mut s.line);
                copied = range.end;
                changed = true;
                b.counts.values_mapped += 1;
                stats.count_mapped(&b.table, &r.location);
                continue;
            }
            if skip_row {
                continue;
            }
            let raw = &body[range.clone()];
            let kind = b.kinds.get(i).copied().unwrap_or_default();
            if raw == NULL_FIELD
                || (kind != ColumnKind::Binary
                    && !self.rewriter.may_contain_match(raw)
                    && !has_numeric_escape(raw))
            {
                continue;
            }
            s.value.clear();
            decode(raw, &mut s.value);
            if kind == ColumnKind::Binary {
                s.bytes.clear();
                if !decode_bytea(&s.value, &mut s.bytes) {
                    // Not a bytea's text form: the column is not what the catalog said; leave it.
                    continue;
                }
            }
            let real = if kind == ColumnKind::Binary {
                &s.bytes
            } else {
                &s.value
            };
            if !self.rewriter.may_contain_match(real) {
                continue;
            }
            if b.plan.skips_column(i) {
                b.counts.values_protected += 1;
                continue;
            }
            let outcome = match kind {
                ColumnKind::Text => self.rewriter.rewrite_value(real),
                ColumnKind::TextArray => rewrite_array(self.rewriter, real),
                ColumnKind::Binary => match rewrite_binary(self.rewriter, real) {
                    Some(o) => reencoded(o, encode_bytea),
                    None => {
                        b.counts.binary_kept += 1;
                        continue;
                    }
                },
            };
            if outcome.malformed {
                b.counts.malformed += 1;
                let column = b.columns.get(i).cloned().unwrap_or_else(|| format!("#{i}"));
                stats.sample_malformed(&b.table, b.counts.rows, column);
            }
            if outcome.changed() {
                s.line.extend_from_slice(&body[copied..range.start]);
                encode(&outcome.value, &mut s.line);
                copied = range.end;
                changed = true;
                b.counts.values_changed += 1;
                b.counts.replacements += outcome.replacements as u64;
                b.counts.literal_replacements += outcome.literal_replacements as u64;
            }
        }
        if !changed {
            out.write_all(line)?;
            return Ok(line.len());
        }
        s.line.extend_from_slice(&line[copied..]);
        out.write_all(&s.line)?;
        Ok(s.line.len())
    }
}

/// Reused buffers.
#[derive(Default)]
struct Scratch {
    fields: Vec<Range<usize>>,
    mapped: Vec<Replacement>,
    value: Vec<u8>,
    /// The real bytes of a `bytea` field.
    bytes: Vec<u8>,
    line: Vec<u8>,
}

fn is_end_marker(line: &[u8]) -> bool {
    matches!(line, b"\\.\n" | b"\\." | b"\\.\r\n")
}

/// What a `COPY ... FROM stdin;` line says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CopyHeader {
    /// Qualified name, unquoted, parts joined with `.` (the statistics key).
    pub(crate) table: String,
    /// Unqualified table name (what policy suffixes are matched against).
    pub(crate) name: String,
    /// Column names in data order (empty when the header has no list).
    pub(crate) columns: Vec<String>,
}

/// Parses `COPY name [(col, ...)] FROM stdin;`. Other COPY forms (`TO stdout`, `FROM 'file'`,
/// options) return `None` and pass through untouched.
pub(crate) fn parse_copy_header(line: &[u8]) -> Option<CopyHeader> {
    let text = std::str::from_utf8(line).ok()?.trim_end();
    let mut rest = text.strip_prefix("COPY ")?.trim_start();
    let mut parts = Vec::new();
    loop {
        let (ident, after) = identifier(rest)?;
        parts.push(ident);
        rest = after;
        match rest.strip_prefix('.') {
            Some(r) => rest = r,
            None => break,
        }
    }
    rest = rest.trim_start();
    let mut columns = Vec::new();
    if let Some(r) = rest.strip_prefix('(') {
        rest = r.trim_start();
        loop {
            let (ident, after) = identifier(rest)?;
            columns.push(ident);
            rest = after.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r.trim_start();
            } else {
                rest = rest.strip_prefix(')')?.trim_start();
                break;
            }
        }
    }
    let tail = rest.strip_suffix(';')?.trim_end();
    let (from, stdin) = tail.split_once(char::is_whitespace)?;
    if !from.eq_ignore_ascii_case("FROM") || !stdin.trim().eq_ignore_ascii_case("stdin") {
        return None;
    }
    Some(CopyHeader {
        table: parts.join("."),
        name: parts.pop()?,
        columns,
    })
}

/// A bare or double-quoted SQL identifier at the start of `s`.
fn identifier(s: &str) -> Option<(String, &str)> {
    if let Some(body) = s.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if body[i + 1..].starts_with('"') {
                    name.push('"');
                    chars.next();
                } else {
                    return Some((name, &body[i + 1..]));
                }
            } else {
                name.push(c);
            }
        }
        None
    } else {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(s.len());
        (end > 0).then(|| (s[..end].to_string(), &s[end..]))
    }
}

fn starts_with_ci(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len() && hay[..prefix.len()].eq_ignore_ascii_case(prefix)
}
