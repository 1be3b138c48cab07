//! Which columns of a PostgreSQL table the rewrite reads, and how: text-like columns (`text`,
//! `varchar`, `char`, `json`, `jsonb`) as text, `bytea` as bytes (rewritten only when they are
//! UTF-8), arrays of text-like values (`text[]`, `varchar[]` …) element by element. The streaming
//! copy hands the kinds to the `COPY` adapter (a dump does not say its column types); the
//! in-place fast path also selects its candidate rows with them. A MySQL dump says its column
//! types itself (`CREATE TABLE`), so nothing here is needed for MariaDB.

use crate::rewrite::{ColumnKind, ColumnKinds};

/// A column that can hold a URL, and how its values are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteColumn {
    pub name: String,
    pub kind: ColumnKind,
}

/// The columns of `qualified` that can hold a URL, in order.
pub async fn rewrite_columns(
    pool: &sqlx::PgPool,
    qualified: &str,
) -> Result<Vec<RewriteColumn>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT attname::text, CASE WHEN atttypid = 'bytea'::regtype THEN 'binary' \
                WHEN atttypid IN ('text[]'::regtype, 'varchar[]'::regtype, 'bpchar[]'::regtype, \
                                  'json[]'::regtype, 'jsonb[]'::regtype) THEN 'array' \
                ELSE 'text' END \
         FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped \
         AND atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, \
                          'json'::regtype, 'jsonb'::regtype, 'bytea'::regtype, \
                          'text[]'::regtype, 'varchar[]'::regtype, 'bpchar[]'::regtype, \
                          'json[]'::regtype, 'jsonb[]'::regtype) \
         ORDER BY attnum",
    )
    .bind(qualified)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, kind)| RewriteColumn {
            name,
            kind: match kind.as_str() {
                "binary" => ColumnKind::Binary,
                "array" => ColumnKind::TextArray,
                _ => ColumnKind::Text,
            },
        })
        .collect())
}

/// The non-text columns of `table` (unqualified, as a `COPY` header names it) for the adapter.
pub fn kinds_of(table: &str, columns: &[RewriteColumn]) -> ColumnKinds {
    let mut kinds = ColumnKinds::new();
    for c in columns.iter().filter(|c| c.kind != ColumnKind::Text) {
        kinds.set(table, &c.name, c.kind);
    }
    kinds
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SQL condition true for rows where one of `columns` contains one of `hosts` (in a
/// `bytea`, as bytes; in an array, in its text form, where a host is never escaped).
pub fn host_condition(columns: &[RewriteColumn], hosts: &[String]) -> String {
    let mut tests = Vec::new();
    for c in columns {
        for h in hosts {
            let (column, host) = (quote_ident(&c.name), h.replace('\'', "''"));
            tests.push(match c.kind {
                ColumnKind::Binary => format!("position('{host}'::bytea IN {column}) > 0"),
                _ => format!("strpos({column}::text, '{host}') > 0"),
            });
        }
    }
    tests.join(" OR ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_columns_are_searched_as_bytes() {
        let columns = [
            RewriteColumn {
                name: "data".into(),
                kind: ColumnKind::Binary,
            },
            RewriteColumn {
                name: "ta\"gs".into(),
                kind: ColumnKind::TextArray,
            },
        ];
        assert_eq!(
            host_condition(&columns, &["shop.example".into()]),
            "position('shop.example'::bytea IN \"data\") > 0 OR strpos(\"ta\"\"gs\"::text, 'shop.example') > 0"
        );
        let kinds = kinds_of("wp_files", &columns);
        assert_eq!(
            kinds,
            ColumnKinds::new()
                .with("wp_files", "data", ColumnKind::Binary)
                .with("wp_files", "ta\"gs", ColumnKind::TextArray)
        );
    }
}
