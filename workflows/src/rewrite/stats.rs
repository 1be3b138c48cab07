//! Statistics of one dump rewrite, per table, for the step's progress report and the clone log.

use std::collections::BTreeMap;

/// How many malformed values are remembered individually (all are counted).
pub const MALFORMED_SAMPLE_LIMIT: usize = 100;

/// Counters for one table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Data rows seen.
    pub rows: u64,
    /// Values (fields) whose bytes changed.
    pub values_changed: u64,
    /// URL occurrences rewritten.
    pub replacements: u64,
    /// Literal pairs replaced inside values ([`super::Literals`], e.g. collected e-mails).
    pub literal_replacements: u64,
    /// Whole fields replaced by a [`super::RowMap`] (e.g. anonymized personal columns).
    pub values_mapped: u64,
    /// Values that looked serialized but were malformed and were left unchanged. Only values
    /// containing a candidate host are inspected, so this counts the ones that mattered.
    pub malformed: u64,
    /// Rows containing a candidate host that the policy's row rules left alone.
    pub rows_protected: u64,
    /// Values containing a candidate host that the policy's column rules left alone.
    pub values_protected: u64,
    /// Binary values (`bytea`, BLOB) containing a candidate host left unchanged because their
    /// bytes are not UTF-8 text.
    pub binary_kept: u64,
}

impl TableStats {
    pub(crate) fn add(&mut self, other: &TableStats) {
        self.rows += other.rows;
        self.values_changed += other.values_changed;
        self.replacements += other.replacements;
        self.literal_replacements += other.literal_replacements;
        self.values_mapped += other.values_mapped;
        self.malformed += other.malformed;
        self.rows_protected += other.rows_protected;
        self.values_protected += other.values_protected;
        self.binary_kept += other.binary_kept;
    }
}

/// Where a malformed value was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedValue {
    /// Table name as written in the dump (schema-qualified for PostgreSQL).
    pub table: String,
    /// 1-based row number within the table's data in this dump.
    pub row: u64,
    /// Column name (or `#index` when the dump gives no names).
    pub column: String,
}

/// Statistics of one dump rewrite.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DumpStats {
    /// Counters per table, by name as written in the dump.
    pub tables: BTreeMap<String, TableStats>,
    /// The first [`MALFORMED_SAMPLE_LIMIT`] malformed values.
    pub malformed_samples: Vec<MalformedValue>,
    /// Data statements the adapter passes through without looking inside, e.g. `INSERT`s in a
    /// PostgreSQL dump made with `--inserts` (the PostgreSQL adapter rewrites `COPY` data only).
    /// Non-zero means URLs may have been left unrewritten.
    pub statements_not_rewritten: u64,
    /// Fields replaced by a [`super::RowMap`], per table and location (e.g. `users.user_email`).
    pub mapped: BTreeMap<String, BTreeMap<String, u64>>,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
}

impl DumpStats {
    /// Sum over all tables.
    pub fn total(&self) -> TableStats {
        let mut total = TableStats::default();
        for t in self.tables.values() {
            total.add(t);
        }
        total
    }

    /// The counters of `table`, created on first use.
    pub(crate) fn table_mut(&mut self, table: &str) -> &mut TableStats {
        if !self.tables.contains_key(table) {
            self.tables.insert(table.to_string(), TableStats::default());
        }
        self.tables.get_mut(table).expect("inserted above")
    }

    /// Adds `counts` to the counters of `table`.
    pub(crate) fn merge(&mut self, table: &str, counts: &TableStats) {
        self.table_mut(table).add(counts);
    }

    /// Counts one field of `table` replaced by a row map at `location`.
    pub(crate) fn count_mapped(&mut self, table: &str, location: &str) {
        if !self.mapped.contains_key(table) {
            self.mapped.insert(table.to_string(), BTreeMap::new());
        }
        let locations = self.mapped.get_mut(table).expect("inserted above");
        match locations.get_mut(location) {
            Some(n) => *n += 1,
            None => {
                locations.insert(location.to_string(), 1);
            }
        }
    }

    /// Remembers where a malformed value was (the caller counts it in its [`TableStats`]).
    pub(crate) fn sample_malformed(&mut self, table: &str, row: u64, column: String) {
        if self.malformed_samples.len() < MALFORMED_SAMPLE_LIMIT {
            self.malformed_samples.push(MalformedValue {
                table: table.to_string(),
                row,
                column,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_and_samples() {
        let mut s = DumpStats::default();
        s.table_mut("a").rows = 3;
        s.table_mut("b").rows = 4;
        for row in 0..(MALFORMED_SAMPLE_LIMIT as u64 + 5) {
            s.sample_malformed("b", row, "meta_value".into());
        }
        let counts = TableStats {
            malformed: MALFORMED_SAMPLE_LIMIT as u64 + 5,
            ..TableStats::default()
        };
        s.merge("b", &counts);
        let t = s.total();
        assert_eq!(t.rows, 7);
        assert_eq!(t.malformed, MALFORMED_SAMPLE_LIMIT as u64 + 5);
        assert_eq!(s.malformed_samples.len(), MALFORMED_SAMPLE_LIMIT);
    }
}
