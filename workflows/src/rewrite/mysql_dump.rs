//! Streaming rewrite of a MySQL/MariaDB `mysqldump` between the dump tool and the loader, one
//! statement at a time.
//!
//! `CREATE TABLE` statements are read (and passed through) to learn each table's column order
//! and its binary columns (BLOB, VARBINARY: their `0x…` values are rewritten when UTF-8);
//! `INSERT`/`REPLACE ... VALUES` statements get their string values rewritten
//! (`mysql_insert`); every other line passes through byte-for-byte. mysqldump writes an
//! INSERT on one line however long (extended inserts); a statement whose string spans lines is
//! read until its `;`.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};

use super::column_kind::{ColumnKind, ColumnKinds};
use super::error::RewriteError;
use super::mysql_escape::has_identity_escape;
use super::mysql_insert::{parse_insert_header, rewrite_insert, InsertJob, ScanError};
use super::mysql_syntax::{create_table_column, create_table_name};
use super::policy::{Policy, TablePlan};
use super::rewriter::Rewriter;
use super::row_map::RowMap;
use super::stats::{DumpStats, TableStats};

/// Largest statement accumulated over several lines before giving up.
const MAX_STATEMENT_BYTES: usize = 1 << 30;

/// Rewrites the `INSERT` data of a mysqldump stream.
pub struct MysqlDumpRewriter<'a> {
    rewriter: &'a Rewriter,
    policy: &'a Policy,
    row_map: Option<&'a dyn RowMap>,
}

/// State of one run.
struct Session<'a, R, W: Write> {
    input: R,
    out: BufWriter<W>,
    stats: DumpStats,
    /// Column order per table, from `CREATE TABLE`.
    columns: HashMap<String, Vec<String>>,
    /// Binary columns, from `CREATE TABLE`.
    kinds: ColumnKinds,
    /// Rows seen so far per table (to number malformed values).
    rows: HashMap<String, u64>,
    /// The `CREATE TABLE` being read: name and columns so far.
    creating: Option<(String, Vec<String>)>,
    line_no: u64,
    rewriter: &'a Rewriter,
    policy: &'a Policy,
    row_map: Option<&'a dyn RowMap>,
    scratch: Vec<u8>,
}

impl<'a> MysqlDumpRewriter<'a> {
    /// An adapter applying `rewriter` under `policy`.
    pub fn new(rewriter: &'a Rewriter, policy: &'a Policy) -> Self {
        MysqlDumpRewriter {
            rewriter,
            policy,
            row_map: None,
        }
    }

    /// Also applies `map`'s whole-field replacements (before the rewriter).
    pub fn with_row_map(mut self, map: &'a dyn RowMap) -> Self {
        self.row_map = Some(map);
        self
    }

    /// Copies `input` to `output`, rewriting INSERT data; returns per-table statistics. Memory use
    /// is bounded by the longest statement. Output is buffered internally and flushed at the end.
    pub fn run<R: BufRead, W: Write>(
        &self,
        input: R,
        output: W,
    ) -> Result<DumpStats, RewriteError> {
        let mut s = Session {
            input,
            out: BufWriter::with_capacity(1 << 20, output),
            stats: DumpStats::default(),
            columns: HashMap::new(),
            kinds: ColumnKinds::new(),
            rows: HashMap::new(),
            creating: None,
            line_no: 0,
            rewriter: self.rewriter,
            policy: self.policy,
            row_map: self.row_map,
            scratch: Vec::new(),
        };
        let mut line = Vec::with_capacity(1 << 16);
        loop {
            line.clear();
            if !s.read_line(&mut line)? {
                break;
            }
            s.line(&mut line)?;
        }
        s.out.flush()?;
        Ok(s.stats)
    }
}

impl<R: BufRead, W: Write> Session<'_, R, W> {
    /// Appends the next line to `buf`; false at end of input.
    fn read_line(&mut self, buf: &mut Vec<u8>) -> Result<bool, RewriteError> {
        let n = self.input.read_until(b'\n', buf)?;
        if n > 0 {
            self.line_no += 1;
            self.stats.bytes_in += n as u64;
        }
        Ok(n > 0)
    }

    /// Appends lines until one ends with `;` (so a statement written one row per line is parsed
    /// once, not once per line); false when the input had no more lines.
    fn read_until_semicolon(&mut self, stmt: &mut Vec<u8>) -> Result<bool, RewriteError> {
        let mut got = false;
        loop {
            let before = stmt.len();
            if !self.read_line(stmt)? {
                return Ok(got);
            }
            got = true;
            if stmt[before..].trim_ascii_end().ends_with(b";") || stmt.len() > MAX_STATEMENT_BYTES {
                return Ok(true);
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), RewriteError> {
        self.out.write_all(bytes)?;
        self.stats.bytes_out += bytes.len() as u64;
        Ok(())
    }

    fn line(&mut self, line: &mut Vec<u8>) -> Result<(), RewriteError> {
        if let Some((table, cols)) = self.creating.as_mut() {
            if let Some((col, kind)) = create_table_column(line) {
                if kind != ColumnKind::Text {
                    self.kinds.set(table, &col, kind);
                }
                cols.push(col);
            } else if line.trim_ascii_start().starts_with(b")") {
                let (name, cols) = self.creating.take().expect("checked above");
                self.columns.insert(name, cols);
            }
            return self.write(line);
        }
        let head = line.trim_ascii_start();
        if starts_with_ci(head, b"CREATE TABLE") {
            self.creating = create_table_name(line).map(|name| (name, Vec::new()));
            if let Some((name, _)) = &self.creating {
                self.kinds.forget(name);
            }
            return self.write(line);
        }
        if starts_with_ci(head, b"INSERT") || starts_with_ci(head, b"REPLACE") {
            return self.statement(line);
        }
        self.write(line)
    }

    /// One INSERT/REPLACE statement starting in `stmt` (more lines are appended if needed).
    fn statement(&mut self, stmt: &mut Vec<u8>) -> Result<(), RewriteError> {
        let first_line = self.line_no;
        let Some(header) = parse_insert_header(stmt) else {
            self.stats.statements_not_rewritten += 1;
            return self.write(stmt);
        };
        let columns = header
            .columns
            .clone()
            .or_else(|| self.columns.get(&header.table).cloned());
        let syntax = |reason: String| RewriteError::Syntax {
            line: first_line,
            table: Some(header.table.clone()),
            reason,
        };
        let kinds = columns
            .as_deref()
            .map(|c| self.kinds.resolve(&header.table, c))
            .unwrap_or_default();
        let has_binary = kinds.contains(&ColumnKind::Binary);
        let map = match self.row_map {
            Some(m) if m.wants(&header.table) => match columns.as_deref() {
                Some(cols) => m.table(&header.table, cols),
                None => {
                    return Err(RewriteError::UnknownColumns {
                        table: header.table.clone(),
                    })
                }
            },
            _ => None,
        };
        loop {
            let may_match = map.is_some()
                || has_binary
                || self.rewriter.may_contain_match(stmt)
                || has_identity_escape(stmt);
            let plan = if may_match {
                self.policy.plan(&header.table, columns.as_deref())?
            } else {
                TablePlan::default()
            };
            let job = InsertJob {
                rewriter: self.rewriter,
                plan: &plan,
                map: map.as_deref(),
                columns: columns.as_deref(),
                kinds: &kinds,
                may_match,
            };
            self.scratch.clear();
            let mut scratch = std::mem::take(&mut self.scratch);
            let result = rewrite_insert(stmt, &header, &job, &mut scratch);
            let outcome = match result {
                Ok(res) => {
                    self.record(
                        &header.table,
                        &res.counts,
                        &res.malformed,
                        columns.as_deref(),
                    );
                    for location in &res.mapped {
                        self.stats.count_mapped(&header.table, location);
                    }
                    if res.changed {
                        self.write(&scratch)
                    } else {
                        self.write(stmt)
                    }
                }
                Err(ScanError::NeedMore) => {
                    if stmt.len() > MAX_STATEMENT_BYTES {
                        Err(syntax("statement longer than 1 GiB".into()))
                    } else if self.read_until_semicolon(stmt)? {
                        self.scratch = scratch;
                        continue;
                    } else if may_match {
                        Err(syntax("the dump ended inside an INSERT statement".into()))
                    } else {
                        self.stats.statements_not_rewritten += 1;
                        self.write(stmt)
                    }
                }
                Err(ScanError::Bad(reason)) if may_match => Err(syntax(reason)),
                Err(ScanError::Bad(_)) => {
                    self.stats.statements_not_rewritten += 1;
                    self.write(stmt)
                }
            };
            self.scratch = scratch;
            return outcome;
        }
    }

    fn record(
        &mut self,
        table: &str,
        counts: &TableStats,
        malformed: &[(u64, usize)],
        columns: Option<&[String]>,
    ) {
        let seen = self.rows.entry(table.to_string()).or_insert(0);
        let base = *seen;
        *seen += counts.rows;
        for &(row, col) in malformed {
            let column = columns
                .and_then(|c| c.get(col).cloned())
                .unwrap_or_else(|| format!("#{col}"));
            self.stats.sample_malformed(table, base + row, column);
        }
        self.stats.merge(table, counts);
    }
}

fn starts_with_ci(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len() && hay[..prefix.len()].eq_ignore_ascii_case(prefix)
}
