//! The checks a promote makes before it writes production: only this site's tables (not those
//! of a site sharing the database under a longer prefix), the same columns on both sides, none
//! that an anonymizing copy changed, and — before every step that reads staging or writes
//! production — still the registration, staging copy and production database validated.

use serde_json::Value;

use super::promote::PromotePlan;
use super::{environment, guard, mysql, postgres};
use crate::sites::{registry, DbEngine, DbUrl, Site};
use crate::{Job, StepError};

/// Before each step that reads staging or writes production: still the registration, the
/// staging copy and the production database that `validate` checked (a retried or resumed job
/// may run long after it, and an operator may have refreshed staging or re-registered the site).
pub async fn recheck(
    job: &Job,
    site: &Site,
    production: &DbUrl,
    plan: &PromotePlan,
) -> Result<(), StepError> {
    let again = "enqueue the promote again";
    if site.id != plan.site_id {
        return Err(StepError::Permanent(format!(
            "site {} was registered again since this promote was validated; {again}",
            site.name
        )));
    }
    let environment = registry::environment(&job.resources().db, &site.name)
        .await
        .map_err(StepError::retryable)?;
    if environment.map(|e| e.last_job) != Some(plan.staging_job) {
        return Err(StepError::Permanent(format!(
            "site {}'s staging was refreshed or destroyed since this promote was validated; {again}",
            site.name
        )));
    }
    if guard::database_identity(production).await? != plan.identity {
        return Err(StepError::Permanent(format!(
            "site {}'s production database is not the one validated; {again}",
            site.name
        )));
    }
    Ok(())
}

/// Refuses tables whose columns (names and types, in order) differ between staging and
/// production: a promote moves rows, never schema changes.
pub async fn same_columns(
    staging: &DbUrl,
    production: &DbUrl,
    tables: &[String],
) -> Result<(), StepError> {
    async fn columns(url: &DbUrl, tables: &[String]) -> Result<Vec<(String, String)>, StepError> {
        let rows: Vec<(String, String, String)> = match url.engine {
            DbEngine::Postgres => {
                let pool = postgres::connect(url).await?;
                let rows = sqlx::query_as(
                    "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
                     WHERE table_schema = 'public' AND table_name = ANY($1) ORDER BY table_name, ordinal_position",
                )
                .bind(tables)
                .fetch_all(&pool)
                .await
                .map_err(|e| postgres::classify(&url.display(), e));
                pool.close().await;
                rows?
            }
            DbEngine::Mysql => {
                let pool = mysql::connect(url).await?;
                let mut rows = Vec::new();
                for table in tables {
                    let found: Vec<(String, String, String)> = sqlx::query_as(
                        "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(column_type AS CHAR) \
                         FROM information_schema.columns WHERE table_schema = ? AND table_name = ? \
                         ORDER BY ordinal_position",
                    )
                    .bind(&url.database)
                    .bind(table)
                    .fetch_all(&pool)
                    .await
                    .map_err(|e| mysql::classify(&url.display(), e))?;
                    rows.extend(found);
                }
                pool.close().await;
                rows
            }
        };
        Ok(rows
            .into_iter()
            .map(|(t, c, ty)| (t, format!("{c} {ty}")))
            .collect())
    }
    let (s, p) = (
        columns(staging, tables).await?,
        columns(production, tables).await?,
    );
    let mut differ = Vec::new();
    for table in tables {
        let of = |v: &[(String, String)]| {
            v.iter()
                .filter(|(t, _)| t == table)
                .map(|(_, c)| c.clone())
                .collect::<Vec<_>>()
        };
        let (a, b) = (of(&s), of(&p));
        if a != b {
            let only = |x: &[String], y: &[String]| {
                x.iter()
                    .filter(|c| !y.contains(c))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            differ.push(format!(
                "{table} (staging only: [{}]; production only: [{}])",
                only(&a, &b),
                only(&b, &a)
            ));
        }
    }
    if differ.is_empty() {
        Ok(())
    } else {
        Err(StepError::Permanent(format!(
            "the columns of {} differ between staging and production: a promote moves rows, not \
             schema changes. Apply the schema change to production first (or leave the table out \
             with --exclude)",
            differ.join("; ")
        )))
    }
}

/// Longer table prefixes other registered sites use in this site's production database, with
/// the site using each (by identity, else by URL spelling).
pub async fn other_prefixes(
    db: &sqlx::PgPool,
    site: &Site,
    production: &DbUrl,
) -> Result<Vec<(String, String)>, StepError> {
    let identity = guard::database_identity(production).await?;
    let this = crate::sites::identity::DbKey::new(production, Some(identity));
    Ok(registry::list(db, None)
        .await
        .map_err(environment::registry_error)?
        .into_iter()
        .filter(|o| o.name != site.name)
        .filter(|o| o.table_prefix.len() > site.table_prefix.len())
        .filter(|o| o.table_prefix.starts_with(&site.table_prefix))
        .filter(|o| o.keys().db.same(&this))
        .map(|o| (o.name, o.table_prefix))
        .collect())
}

/// The tables of `chosen` in which the anonymizer replaced anything in this copy (from the
/// environment's last report: per-table personal fields and in-text replacements).
pub fn anonymized_tables(report: &Value, chosen: &[String]) -> Vec<String> {
    let mut changed = Vec::new();
    for entry in report["tables"].as_array().into_iter().flatten() {
        let name = entry["table"].as_str().unwrap_or_default();
        let name = name.strip_prefix("public.").unwrap_or(name);
        let fields = entry["anonymized"].as_object().map_or(0, |m| m.len());
        let literal = entry["literal_replacements"].as_u64().unwrap_or(0);
        if (fields > 0 || literal > 0) && chosen.iter().any(|t| t == name) {
            changed.push(name.to_string());
        }
    }
    // A table the report does not list cannot be shown unchanged.
    for table in chosen {
        let listed = report["tables"].as_array().into_iter().flatten().any(|e| {
            let name = e["table"].as_str().unwrap_or_default();
            name.strip_prefix("public.").unwrap_or(name) == table
        });
        if !listed && !changed.contains(table) {
            changed.push(table.clone());
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_the_anonymizer_changed_or_did_not_report_are_refused() {
        let report = json!({"tables": [
            {"table": "public.wp_posts", "rows": 3, "literal_replacements": 2},
            {"table": "public.wp_users", "rows": 1, "anonymized": {"users.user_email": 1}},
            {"table": "public.wp_terms", "rows": 5},
        ]});
        let chosen = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            anonymized_tables(&report, &chosen(&["wp_posts", "wp_terms"])),
            ["wp_posts"]
        );
        assert_eq!(
            anonymized_tables(&report, &chosen(&["wp_users"])),
            ["wp_users"]
        );
        assert!(anonymized_tables(&report, &chosen(&["wp_terms"])).is_empty());
        assert_eq!(
            anonymized_tables(&report, &chosen(&["wp_links"])),
            ["wp_links"],
            "a table the report does not list is not shown unchanged"
        );
    }
}
