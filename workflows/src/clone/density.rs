//! How much of a PostgreSQL database holds the production host: decides whether the template
//! fast path pays. After `CREATE DATABASE … TEMPLATE` every row holding the host is rewritten by
//! an `UPDATE` (a new row version, its TOAST and index entries), which costs about twice what
//! streaming that row costs; a row without the host costs only a read. So the fast path wins
//! when few rows hold the host, and loses when most do (measured on the 1 GB bench, where every
//! post holds it: 0.6 s copy + 23 s rewrite against 11 s streaming).
//!
//! The estimate reads a sample of each large table (`TABLESAMPLE SYSTEM`, about
//! [`SAMPLE_BYTES`] of pages, repeatable) and weighs each table's share of rows holding a host
//! by its size. Tables under [`MIN_TABLE_BYTES`] are left out: they cost little either way.

use serde::{Deserialize, Serialize};

use super::columns::{host_condition, rewrite_columns};
use super::plan::Plan;
use super::postgres;
use crate::sites::DbUrl;
use crate::StepError;

/// Tables smaller than this are not sampled.
pub const MIN_TABLE_BYTES: i64 = 8 << 20;

/// About how much of each large table is read.
pub const SAMPLE_BYTES: i64 = 4 << 20;

/// Above this share of the data (by size) holding the host, streaming is faster.
pub const MAX_DENSE_SHARE: f64 = 0.35;

/// The estimate, as the job result reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Density {
    /// Share of the sampled tables' bytes in rows holding a production host (0 to 1).
    pub dense_share: f64,
    /// Bytes of the tables sampled (the others are under [`MIN_TABLE_BYTES`]).
    pub sampled_table_bytes: i64,
}

impl Density {
    /// Whether rewriting in place is expected to beat streaming.
    pub fn template_pays(&self) -> bool {
        self.dense_share <= MAX_DENSE_SHARE
    }

    /// Weighs each table's share of rows holding a host (`(table bytes, rows holding a host,
    /// rows sampled)`) by its size.
    pub fn from_samples(samples: &[(i64, i64, i64)]) -> Density {
        let sampled_table_bytes: i64 = samples.iter().map(|s| s.0).sum();
        let dense: f64 = samples
            .iter()
            .filter(|s| s.2 > 0)
            .map(|&(bytes, hits, rows)| bytes as f64 * hits as f64 / rows as f64)
            .sum();
        let share = if sampled_table_bytes > 0 {
            dense / sampled_table_bytes as f64
        } else {
            0.0
        };
        Density {
            dense_share: (share * 1000.0).round() / 1000.0,
            sampled_table_bytes,
        }
    }
}

/// The sampling percentage reading about [`SAMPLE_BYTES`] of a table of `bytes`.
fn sample_percent(bytes: i64) -> f64 {
    (SAMPLE_BYTES as f64 * 100.0 / bytes.max(1) as f64).clamp(0.1, 100.0)
}

/// Samples production's large tables for rows holding one of `hosts`.
pub async fn estimate(source: &DbUrl, plan: &Plan, hosts: &[String]) -> Result<Density, StepError> {
    let pool = postgres::connect(source).await?;
    let fail = |e| postgres::classify(&source.display(), e);
    let mut samples = Vec::new();
    for (schema, table, bytes) in &plan.tables {
        if *bytes < MIN_TABLE_BYTES {
            continue;
        }
        let qualified = postgres::quote_table(schema, table);
        let columns = rewrite_columns(&pool, &qualified).await.map_err(fail)?;
        if columns.is_empty() || hosts.is_empty() {
            samples.push((*bytes, 0, 1));
            continue;
        }
        let (hits, rows): (i64, i64) = sqlx::query_as(&format!(
            "SELECT count(*) FILTER (WHERE {}), count(*) FROM {qualified} \
             TABLESAMPLE SYSTEM ({:.3}) REPEATABLE (1)",
            host_condition(&columns, hosts),
            sample_percent(*bytes)
        ))
        .fetch_one(&pool)
        .await
        .map_err(fail)?;
        samples.push((*bytes, hits, rows));
    }
    pool.close().await;
    Ok(Density::from_samples(&samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_is_weighed_by_table_size() {
        // A 900 MB table where every row holds the host, a 100 MB one where none does.
        let d = Density::from_samples(&[(900, 50, 50), (100, 0, 80)]);
        assert_eq!(d.dense_share, 0.9);
        assert!(!d.template_pays());
        // Big tables without the host (orders, logs) and a small dense one: the fast path pays.
        let d = Density::from_samples(&[(800, 1, 100), (200, 40, 40)]);
        assert_eq!(d.dense_share, 0.208);
        assert!(d.template_pays());
        // Nothing large enough to sample, or an empty sample: nothing to rewrite in bulk.
        assert!(Density::from_samples(&[]).template_pays());
        assert!(Density::from_samples(&[(100, 0, 0)]).template_pays());
        assert_eq!(sample_percent(4 << 20), 100.0);
        assert_eq!(sample_percent(1 << 30), 0.390625);
    }
}
