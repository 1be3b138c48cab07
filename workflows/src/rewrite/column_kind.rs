//! What a column holds, as far as the rewrite cares: text (the default), bytes, or a PostgreSQL
//! array of text. The adapters read every value of a non-text column in its own format (a
//! `bytea` as `\x…` hex, a BLOB as a `0x…` literal, an array as `{…}`) and give the rewriter the
//! real bytes of the value or of each element.
//!
//! A mysqldump says its column types (`CREATE TABLE`), so the MySQL adapter finds them itself; a
//! PostgreSQL `COPY` stream does not, so its caller passes [`ColumnKinds`] read from the catalog.

use std::collections::HashMap;

/// How a column's values are rewritten.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// Text (`text`, `varchar`, `json`, `longtext` …): every value is rewritten.
    #[default]
    Text,
    /// Bytes (`bytea`, `BLOB`, `VARBINARY`): a value is rewritten like text (serialized-aware)
    /// only when its bytes are valid UTF-8; any other bytes are left exactly as they are.
    Binary,
    /// A PostgreSQL array of text (`text[]`, `varchar[]`, `json[]` …): every element is
    /// rewritten as a value of its own (serialized lengths fixed per element).
    TextArray,
}

/// The non-text columns of the tables of a PostgreSQL stream, by unqualified table name (as the
/// `COPY` header names it, so the fast path's `pg_temp` copy of a table matches it too) and
/// column name. Columns not listed are text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnKinds {
    tables: HashMap<String, HashMap<String, ColumnKind>>,
}

impl ColumnKinds {
    /// No non-text column anywhere.
    pub fn new() -> ColumnKinds {
        ColumnKinds::default()
    }

    /// Says that `table.column` holds `kind`.
    pub fn set(&mut self, table: &str, column: &str, kind: ColumnKind) {
        self.tables
            .entry(table.to_string())
            .or_default()
            .insert(column.to_string(), kind);
    }

    /// [`ColumnKinds::set`], chained.
    pub fn with(mut self, table: &str, column: &str, kind: ColumnKind) -> ColumnKinds {
        self.set(table, column, kind);
        self
    }

    /// Forgets what was said about `table` (it is being defined again).
    pub(crate) fn forget(&mut self, table: &str) {
        self.tables.remove(table);
    }

    /// The kind of each of `columns` of `table`, in order.
    pub(crate) fn resolve(&self, table: &str, columns: &[String]) -> Vec<ColumnKind> {
        let known = self.tables.get(table);
        columns
            .iter()
            .map(|c| {
                known
                    .and_then(|k| k.get(c))
                    .copied()
                    .unwrap_or(ColumnKind::Text)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlisted_columns_and_tables_are_text() {
        let kinds = ColumnKinds::new()
            .with("wp_files", "data", ColumnKind::Binary)
            .with("wp_files", "tags", ColumnKind::TextArray);
        let cols = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            kinds.resolve("wp_files", &cols(&["id", "data", "tags"])),
            [ColumnKind::Text, ColumnKind::Binary, ColumnKind::TextArray]
        );
        assert_eq!(
            kinds.resolve("wp_posts", &cols(&["data"])),
            [ColumnKind::Text]
        );
    }
}
