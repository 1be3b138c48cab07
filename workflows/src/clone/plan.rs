//! What `validate` finds out and every later step relies on, plus the per-table report.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::rewrite::{DumpStats, Options, Policy, Rewriter, Rule, TableStats};
use crate::sites::Site;
use crate::StepError;

/// The output of the `validate` step (checkpointed, so a resumed job copies the same tables
/// into the same incoming database).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// `(schema, table, bytes)`; the schema is empty for MySQL.
    pub tables: Vec<(String, String, i64)>,
    /// Where the copy is built before it is swapped in.
    pub incoming_db: String,
    pub incoming_uploads: String,
    /// `siteurl` and `home` as stored in the production database.
    pub siteurl: Option<String>,
    pub home: Option<String>,
    /// Tables of the production database that are not this site's (another install's, or
    /// without the site's table prefix): never copied, listed in the job result.
    #[serde(default)]
    pub not_copied: Vec<(String, String)>,
    /// PostgreSQL: the sequences those tables own (left out with them).
    #[serde(default)]
    pub not_copied_sequences: Vec<(String, String)>,
}

impl Plan {
    /// What the schema copy leaves out: the tables not copied and their sequences.
    pub fn schema_exclusions(&self) -> Vec<(String, String)> {
        self.not_copied
            .iter()
            .chain(&self.not_copied_sequences)
            .cloned()
            .collect()
    }
}

/// `(schema, table, bytes)`; the schema is empty for MySQL.
pub type SizedTable = (String, String, i64);

/// Splits a database's tables into the site's (`prefix…`, its multisite `prefix<N>_…` tables
/// included) and the others: tables without the prefix, and those of another install whose
/// prefix extends this one's (`wp_shop_options` + `wp_shop_posts` beside a `wp_` site).
pub fn scope(prefix: &str, tables: Vec<SizedTable>) -> (Vec<SizedTable>, Vec<(String, String)>) {
    let names: std::collections::HashSet<&str> = tables.iter().map(|t| t.1.as_str()).collect();
    let blog_table = |rest: &str| {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && rest.as_bytes().get(digits) == Some(&b'_')
    };
    let nested: Vec<String> = tables
        .iter()
        .filter_map(|t| t.1.strip_suffix("options"))
        .filter(|p| p.len() > prefix.len() && p.starts_with(prefix))
        .filter(|p| {
            !(blog_table(&p[prefix.len()..]) && names.contains(format!("{prefix}blogs").as_str()))
        })
        .filter(|p| names.contains(format!("{p}posts").as_str()))
        .map(str::to_string)
        .collect();
    let (mine, others): (Vec<_>, Vec<_>) = tables.into_iter().partition(|t| {
        t.1.starts_with(prefix) && !nested.iter().any(|p| t.1.starts_with(p.as_str()))
    });
    (mine, others.into_iter().map(|t| (t.0, t.1)).collect())
}

impl Plan {
    pub fn total_bytes(&self) -> i64 {
        self.tables.iter().map(|t| t.2).sum::<i64>().max(1)
    }
}

/// One table's copy, as reported in the job result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TableReport {
    pub table: String,
    pub rows: u64,
    pub values_changed: u64,
    pub replacements: u64,
    pub malformed: u64,
    /// Anonymization: collected values replaced inside other values.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub literal_replacements: u64,
    /// Anonymization: personal fields replaced, per location (e.g. `users.user_email`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub anonymized: BTreeMap<String, u64>,
    /// Binary values (`bytea`, BLOB) holding a production host left as they were: their bytes
    /// are not UTF-8 text.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub binary_kept: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TableReport {
    /// The report of one table's copy from its dump statistics.
    pub fn from_stats(table: String, stats: &DumpStats) -> TableReport {
        let mut anonymized = BTreeMap::new();
        for locations in stats.mapped.values() {
            for (location, n) in locations {
                *anonymized.entry(location.clone()).or_default() += n;
            }
        }
        TableReport::new(table, &stats.total(), anonymized)
    }

    /// The report of `table` from the statistics of a dump of several tables (a table with no
    /// rows has none).
    pub fn of_table(table: &str, stats: &DumpStats) -> TableReport {
        let counts = stats.tables.get(table).cloned().unwrap_or_default();
        let anonymized = stats.mapped.get(table).cloned().unwrap_or_default();
        TableReport::new(table.to_string(), &counts, anonymized)
    }

    fn new(table: String, t: &TableStats, anonymized: BTreeMap<String, u64>) -> TableReport {
        TableReport {
            table,
            rows: t.rows,
            values_changed: t.values_changed,
            replacements: t.replacements,
            malformed: t.malformed,
            literal_replacements: t.literal_replacements,
            anonymized,
            binary_kept: t.binary_kept,
        }
    }
}

/// Names we pass to dump tools and quote in SQL: letters, digits, `_`, `$`, `-`.
pub fn check_table_name(name: &str) -> Result<(), StepError> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-'));
    if ok {
        Ok(())
    } else {
        Err(StepError::Permanent(format!(
            "table name {name:?} is not supported (letters, digits, '_', '$', '-' only)"
        )))
    }
}

/// The URL rules: the production URL, its `www.` twin, and `siteurl`/`home` when they differ.
pub fn rewriter(site: &Site, plan: &Plan) -> Result<Rewriter, StepError> {
    let stored = [plan.siteurl.clone(), plan.home.clone()];
    rewriter_between(&site.production_url, &stored, &site.staging_url)
}

/// Rules from `main` (and its `www.` twin, and the `stored` URLs when they differ) to `to`.
pub fn rewriter_between(
    main: &str,
    stored: &[Option<String>],
    to: &str,
) -> Result<Rewriter, StepError> {
    let mut froms = vec![main.to_string()];
    if let Some((scheme, rest)) = main.split_once("://") {
        if !rest.starts_with("www.") {
            froms.push(format!("{scheme}://www.{rest}"));
        }
    }
    for stored in stored.iter().flatten() {
        let stored = stored.trim_end_matches('/').to_string();
        if !stored.is_empty() && !froms.contains(&stored) && stored != to {
            froms.push(stored);
        }
    }
    let mut rules = Vec::new();
    for from in &froms {
        match Rule::parse(from, to) {
            Ok(rule) => rules.push(rule),
            // A stored siteurl we cannot parse is not worth failing the clone over.
            Err(e) if from != main => {
                tracing::warn!(%from, error = %e, "URL not rewritten")
            }
            Err(e) => return Err(StepError::Permanent(format!("cannot rewrite {from}: {e}"))),
        }
    }
    Ok(Rewriter::new(&rules, Options::default()))
}

pub fn policy(keep_options: &[String]) -> Policy {
    let policy = Policy::wordpress();
    if keep_options.is_empty() {
        policy
    } else {
        policy.skip_rows(
            "options",
            "option_name",
            keep_options.iter().map(String::as_str),
        )
    }
}

/// The part of a job id that names what the job makes: its last 16 hex digits, which are random
/// in a UUIDv7 (its first digits are a timestamp, equal for all jobs within about a minute).
pub fn job_tag(job: uuid::Uuid) -> String {
    let hex = job.simple().to_string();
    hex[hex.len() - 16..].to_string()
}

/// `<staging>_in<16 hex>`, unique per job, within PostgreSQL's and MySQL's 63/64-character
/// limits (leaving room for [`park_name`]).
pub fn incoming_name(staging: &str, job: uuid::Uuid) -> String {
    let base: String = staging.chars().take(63 - 4 - 19).collect();
    format!("{base}_in{}", job_tag(job))
}

/// Where a swap parks the copy it replaces: `<incoming>_old`, at most 63 characters.
pub fn park_name(incoming: &str) -> String {
    let base: String = incoming.chars().take(63 - 4).collect();
    format!("{base}_old")
}

#[cfg(test)]
mod tests {
    fn t(name: &str) -> (String, String, i64) {
        ("public".into(), name.into(), 1)
    }

    fn names(tables: &[(String, String, i64)]) -> Vec<&str> {
        tables.iter().map(|t| t.1.as_str()).collect()
    }

    #[test]
    fn scope_keeps_the_site_and_its_network_and_leaves_other_installs() {
        let all = [
            "wp_options",
            "wp_posts",
            "wp_blogs",
            "wp_2_options",
            "wp_2_posts",
            "wp_shop_options",
            "wp_shop_posts",
            "wp_shop_woocommerce_orders",
            "wpx7_options",
            "wpx7_posts",
            "legacy",
            "wp_yoast_indexable",
        ];
        let (mine, others) = super::scope("wp_", all.iter().map(|n| t(n)).collect());
        assert_eq!(
            names(&mine),
            [
                "wp_options",
                "wp_posts",
                "wp_blogs",
                "wp_2_options",
                "wp_2_posts",
                "wp_yoast_indexable"
            ]
        );
        let others: Vec<&str> = others.iter().map(|o| o.1.as_str()).collect();
        assert_eq!(
            others,
            [
                "wp_shop_options",
                "wp_shop_posts",
                "wp_shop_woocommerce_orders",
                "wpx7_options",
                "wpx7_posts",
                "legacy"
            ]
        );
        // Without wp_blogs, wp_2_ is another install, not a network's site.
        let (mine, _) = super::scope(
            "wp_",
            ["wp_options", "wp_posts", "wp_2_options", "wp_2_posts"]
                .iter()
                .map(|n| t(n))
                .collect(),
        );
        assert_eq!(names(&mine), ["wp_options", "wp_posts"]);
        let (mine, others) = super::scope("wpx7_", all.iter().map(|n| t(n)).collect());
        assert_eq!(names(&mine), ["wpx7_options", "wpx7_posts"]);
        assert_eq!(others.len(), all.len() - 2);
    }

    use super::*;

    #[test]
    fn names_are_unique_per_job_and_fit_the_limits() {
        let a = uuid::Uuid::now_v7();
        let b = uuid::Uuid::now_v7();
        let long = "s".repeat(63);
        assert_ne!(
            incoming_name("shop_staging", a),
            incoming_name("shop_staging", b)
        );
        assert!(incoming_name(&long, a).len() <= 63);
        assert!(park_name(&incoming_name(&long, a)).len() <= 63);
        assert!(incoming_name("shop_staging", a).starts_with("shop_staging_in"));
    }
}
