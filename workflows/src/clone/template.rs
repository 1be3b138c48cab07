//! The same-server PostgreSQL fast path: `CREATE DATABASE incoming TEMPLATE production`
//! (`STRATEGY FILE_COPY` on PostgreSQL ≥ 15) copies the database files as they are, then URLs
//! are rewritten in place, table by table, in the rows that contain the production host.
//!
//! Automatic, unless the spec says `"template": false`. Used only when it is safe and possible:
//! production and staging on the same server, no anonymization (that happens in the stream), and
//! nobody else connected to production (PostgreSQL refuses a template in use; while the files
//! are copied, new connections to production wait). Otherwise the copy streams, and the job
//! result (`copy.method`, `copy.reason`) and a progress event say which path ran and why.
//!
//! The in-place rewrite of a table is one `psql --single-transaction`: the candidate rows
//! (`ctid` + the columns that can hold a URL — text, `bytea`, arrays of text: `clone::columns` —,
//! `COPY (SELECT …) TO STDOUT`) go through the same serialized-safe
//! rewriter as the stream into a temporary table named like the real one (so the policy —
//! `guid`, kept options — applies), then one `UPDATE … FROM` by `ctid`. A crash re-runs the
//! table's step from scratch: the update is all or nothing, and rewritten rows no longer match.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, Read};
use std::time::Instant;

use super::columns::{host_condition, kinds_of, rewrite_columns, RewriteColumn};
use super::density::{self, Density};
use super::ownership::{self, Mark, Owner, Role};
use super::plan::TableReport;
use super::postgres;
use super::process::{self, Program};
use super::spec::CloneSpec;
use crate::rewrite::{PgCopyRewriter, Policy, Rewriter};
use crate::sites::DbUrl;
use crate::StepError;

/// Which copy ran, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CopyMethod {
    /// `template` or `stream`.
    pub method: String,
    /// Why this path was taken.
    pub reason: String,
    /// Seconds of `CREATE DATABASE … TEMPLATE` (fast path only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_secs: Option<f64>,
    /// How much of production holds its host (when estimated, see `clone::density`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<Density>,
}

impl CopyMethod {
    fn stream(reason: impl Into<String>) -> CopyMethod {
        CopyMethod {
            method: "stream".into(),
            reason: reason.into(),
            template_secs: None,
            density: None,
        }
    }

    pub fn is_template(&self) -> bool {
        self.method == "template"
    }
}

/// Why the fast path cannot apply to this job, before touching any database.
pub fn not_applicable(spec: &CloneSpec, source: &DbUrl, incoming: &DbUrl) -> Option<String> {
    if !spec.template {
        return Some("the template fast path is disabled by the spec (\"template\": false)".into());
    }
    if spec.anonymize {
        return Some("anonymization runs in the stream".into());
    }
    if !source.host.eq_ignore_ascii_case(&incoming.host) || source.port != incoming.port {
        return Some(format!(
            "staging is on another server ({}:{}) than production ({}:{})",
            incoming.host, incoming.port, source.host, source.port
        ));
    }
    None
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Tries `CREATE DATABASE incoming TEMPLATE source`; falls back (returns a `stream` method)
/// when most of production holds its host (unless `force_template`), when production has other
/// sessions or the server refuses (permissions, version).
pub async fn try_template(
    db: &sqlx::PgPool,
    job: uuid::Uuid,
    spec: &CloneSpec,
    site: &crate::sites::Site,
    plan: &super::plan::Plan,
    source: &DbUrl,
    incoming: &DbUrl,
) -> Result<CopyMethod, StepError> {
    if let Some(reason) = not_applicable(spec, source, incoming) {
        return Ok(CopyMethod::stream(reason));
    }
    if !plan.not_copied.is_empty() {
        return Ok(CopyMethod::stream(format!(
            "production's database also holds {} tables that are not site {}'s (table prefix \
             {:?}): a template would copy them, the stream copies the site's tables only",
            plan.not_copied.len(),
            site.name,
            site.table_prefix
        )));
    }
    let hosts = super::plan::rewriter(site, plan)?.hosts();
    let density = density::estimate(source, plan, &hosts).await?;
    if !density.template_pays() && !spec.force_template {
        return Ok(CopyMethod {
            density: Some(density.clone()),
            ..CopyMethod::stream(format!(
                "about {:.0} % of production's data (by size, from a sample) holds its host: \
                 rewriting that in place would take longer than streaming it \
                 (\"force_template\": true uses the fast path anyway)",
                density.dense_share * 100.0
            ))
        });
    }
    let owner = Owner::Job {
        site: &site.name,
        job,
    };
    ownership::drop_database(db, incoming, owner).await?;
    // Recorded first: a crash between the copy and its mark leaves a copy known to be ours.
    let mark = Mark::new(&site.name, job, Role::Incoming);
    ownership::intend(db, incoming, &mark).await?;
    let admin = postgres::admin(incoming).await?;
    let created = create_from_template(&admin, source, incoming, patience(spec)).await;
    let fail = |e| postgres::classify(&incoming.display(), e);
    let created = created.map_err(fail)?;
    if created.is_ok() {
        ownership::pg_mark_database(&admin, &incoming.database, &mark)
            .await
            .map_err(fail)?;
    }
    admin.close().await;
    ownership::fulfilled(db, incoming).await?;
    match created {
        Ok(secs) => Ok(CopyMethod {
            method: "template".into(),
            reason: "production and staging share a server and production had no other session"
                .into(),
            template_secs: Some(secs),
            density: Some(density),
        }),
        Err(reason) => Ok(CopyMethod {
            density: Some(density),
            ..CopyMethod::stream(reason)
        }),
    }
}

/// How long production may take to become idle before the copy streams instead. Our own
/// sessions (validate, density sample) closed a moment ago and their backends may still be
/// exiting, longer on a loaded server; PostgreSQL itself waits up to 5 s for autovacuum to stop.
/// A forced fast path waits longer: whoever forced it prefers waiting to streaming.
fn patience(spec: &CloneSpec) -> std::time::Duration {
    std::time::Duration::from_secs(if spec.force_template { 30 } else { 3 })
}

/// `CREATE DATABASE incoming TEMPLATE source` once production is idle: `Ok(Ok(seconds))` when
/// made, `Ok(Err(why))` when production stayed busy or the server refused, `Err` on trouble.
async fn create_from_template(
    admin: &sqlx::PgPool,
    source: &DbUrl,
    incoming: &DbUrl,
    patience: std::time::Duration,
) -> Result<Result<f64, String>, sqlx::Error> {
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(admin)
        .await?;
    let strategy = if version >= 150_000 {
        " STRATEGY = FILE_COPY"
    } else {
        ""
    };
    let create = format!(
        "CREATE DATABASE {} TEMPLATE {}{strategy}",
        quote_ident(&incoming.database),
        quote_ident(&source.database)
    );
    let deadline = Instant::now() + patience;
    loop {
        let sessions = postgres::client_sessions(admin, &source.database).await?;
        let busy = if sessions.is_empty() {
            let began = Instant::now();
            match sqlx::query(&create).execute(admin).await {
                Ok(_) => return Ok(Ok((began.elapsed().as_secs_f64() * 100.0).round() / 100.0)),
                // 55006: a session (or an autovacuum worker that did not stop) is there.
                Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("55006") => {
                    format!("PostgreSQL refused the template copy ({})", db.message())
                }
                // 42501: not the owner of production; 3D000: production is gone.
                Err(sqlx::Error::Database(db))
                    if matches!(db.code().as_deref(), Some("42501" | "3D000")) =>
                {
                    return Ok(Err(format!(
                        "PostgreSQL refused the template copy ({}); streamed instead",
                        db.message()
                    )));
                }
                Err(e) => return Err(e),
            }
        } else {
            format!(
                "{} other session(s) connected to production {} ({}): a template must be idle",
                sessions.len(),
                source.display(),
                sessions.join(", ")
            )
        };
        if Instant::now() >= deadline {
            return Ok(Err(format!(
                "{busy}; still so after {} s, streamed instead",
                patience.as_secs()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The `COPY (SELECT ctid, cols …) TO STDOUT` reading the candidate rows of one table.
pub fn candidates_query(qualified: &str, columns: &[RewriteColumn], hosts: &[String]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    format!(
        "COPY (SELECT ctid, {} FROM {qualified} WHERE {}) TO STDOUT",
        cols.join(", "),
        host_condition(columns, hosts)
    )
}

/// A user trigger of a table that fires today, as `pg_trigger` has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub name: String,
    /// Fires in replica sessions too (`ENABLE ALWAYS`), not only in origin ones.
    pub always: bool,
}

/// The enabled user (not constraint) triggers of a table: the in-place rewrite is not a change
/// of the site's data, so a `BEFORE UPDATE` trigger (setting `post_modified`, say) must not run.
/// Disabled triggers stay as they are (so the rewrite never enables one production disabled).
pub async fn enabled_triggers(
    pool: &sqlx::PgPool,
    qualified: &str,
) -> Result<Vec<Trigger>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT tgname::text, tgenabled::text FROM pg_trigger WHERE tgrelid = $1::regclass \
         AND NOT tgisinternal AND tgenabled IN ('O', 'A') ORDER BY tgname",
    )
    .bind(qualified)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, enabled)| Trigger {
            name,
            always: enabled == "A",
        })
        .collect())
}

/// The SQL around the rewritten rows: a temporary table named like `table`, then the update,
/// with the table's enabled user triggers off around it (in the same transaction).
pub fn load_script(
    schema: &str,
    table: &str,
    columns: &[String],
    triggers: &[Trigger],
) -> (String, String) {
    let qualified = postgres::quote_table(schema, table);
    let temp = format!("pg_temp.{}", quote_ident(table));
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let list = cols.join(", ");
    let head = format!(
        "CREATE TEMP TABLE {temp} AS SELECT ctid AS understudy_ctid, {list} FROM {qualified} WITH NO DATA;\n\
         COPY {temp} (understudy_ctid, {list}) FROM stdin;\n"
    );
    let sets: Vec<String> = cols.iter().map(|c| format!("s.{c}")).collect();
    let off: String = triggers
        .iter()
        .map(|t| {
            format!(
                "ALTER TABLE {qualified} DISABLE TRIGGER {};\n",
                quote_ident(&t.name)
            )
        })
        .collect();
    let on: String = triggers
        .iter()
        .map(|t| {
            let how = if t.always { "ENABLE ALWAYS" } else { "ENABLE" };
            format!(
                "ALTER TABLE {qualified} {how} TRIGGER {};\n",
                quote_ident(&t.name)
            )
        })
        .collect();
    let tail = format!(
        "\\.\nANALYZE {temp};\n{off}\
         UPDATE {qualified} AS t SET ({list}) = ROW({}) FROM {temp} AS s WHERE t.ctid = s.understudy_ctid;\n{on}",
        sets.join(", ")
    );
    (head, tail)
}

/// Rewrites one table of the template copy in place; returns its report.
#[allow(clippy::too_many_arguments)]
pub async fn rewrite_table(
    incoming: &DbUrl,
    pool: &sqlx::PgPool,
    schema: &str,
    table: &str,
    hosts: &[String],
    rewriter: std::sync::Arc<Rewriter>,
    policy: std::sync::Arc<Policy>,
    lz4: bool,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<TableReport, StepError> {
    let qualified = postgres::quote_table(schema, table);
    let columns = rewrite_columns(pool, &qualified)
        .await
        .map_err(|e| postgres::classify(&incoming.display(), e))?;
    let name = format!("{schema}.{table}");
    if columns.is_empty() || hosts.is_empty() {
        return Ok(TableReport::from_stats(name, &Default::default()));
    }
    let read = postgres::client_program("psql", incoming)
        .args(["--quiet", "--no-psqlrc", "--set", "ON_ERROR_STOP=1"])
        .arg("--command")
        .arg(candidates_query(&qualified, &columns, hosts))
        .args(["--dbname", &incoming.database]);
    let write: Program = postgres::bulk_load(incoming, lz4);
    let triggers = enabled_triggers(pool, &qualified)
        .await
        .map_err(|e| postgres::classify(&incoming.display(), e))?;
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let (head, tail) = load_script(schema, table, &names, &triggers);
    // The temporary table's COPY header names it like the real one: the kinds apply to it.
    let kinds = kinds_of(table, &columns);
    let stats = process::pipeline(
        read,
        write,
        move |input, output| {
            let mut framed = std::io::Cursor::new(head.as_bytes())
                .chain(input)
                .chain(std::io::Cursor::new(tail.as_bytes()));
            let framed: &mut dyn BufRead = &mut framed;
            PgCopyRewriter::new(&rewriter, &policy)
                .with_column_kinds(&kinds)
                .run(framed, output)
                .map_err(super::copy_pg::rewrite_error)
        },
        cancel,
    )
    .await?;
    Ok(TableReport::from_stats(name, &stats))
}

/// The `rewrite:<schema>.<table>` steps after a template copy, a few tables at a time.
pub async fn rewrite_in_place(
    job: &crate::Job,
    site: &crate::sites::Site,
    plan: &super::plan::Plan,
    spec: &CloneSpec,
    incoming: &DbUrl,
) -> Result<Vec<TableReport>, StepError> {
    use futures::{StreamExt, TryStreamExt};
    let rewriter = std::sync::Arc::new(super::plan::rewriter(site, plan)?);
    let policy = std::sync::Arc::new(super::plan::policy(&spec.keep_options));
    let hosts = rewriter.hosts();
    let pool = std::sync::Arc::new(postgres::Lazy::new(incoming));
    let total = plan.tables.len().max(1) as f32;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut reports: Vec<TableReport> = futures::stream::iter(plan.tables.clone())
        .map(|(schema, table, _)| {
            let (rewriter, policy, pool, hosts, done) = (
                rewriter.clone(),
                policy.clone(),
                pool.clone(),
                hosts.clone(),
                &done,
            );
            async move {
                job.step(&format!("rewrite:{schema}.{table}"), |run| {
                    let (rewriter, policy, pool, hosts) = (
                        rewriter.clone(),
                        policy.clone(),
                        pool.clone(),
                        hosts.clone(),
                    );
                    let (schema, table) = (&schema, &table);
                    async move {
                        super::plan::check_table_name(table)?;
                        let (pool, lz4) = pool.get().await?;
                        let report = rewrite_table(
                            incoming,
                            pool,
                            schema,
                            table,
                            &hosts,
                            rewriter,
                            policy,
                            lz4,
                            run.cancellation(),
                        )
                        .await
                        .map_err(|e| super::copy_pg::stopped(e, &run))?;
                        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        run.progress(
                            5.0 + 80.0 * n as f32 / total,
                            &format!("rewrote {schema}.{table} in place"),
                        );
                        Ok(report)
                    }
                })
                .await
            }
        })
        .buffer_unordered(spec.parallel_tables)
        .try_collect()
        .await?;
    pool.close().await;
    reports.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_candidate_query_and_script_quote_identifiers() {
        let column = |name: &str, kind| RewriteColumn {
            name: name.into(),
            kind,
        };
        let q = candidates_query(
            "\"public\".\"wp_posts\"",
            &[
                column("post_content", crate::rewrite::ColumnKind::Text),
                column("gu\"id", crate::rewrite::ColumnKind::Text),
            ],
            &["shop.example".into()],
        );
        assert!(q.starts_with(
            "COPY (SELECT ctid, \"post_content\", \"gu\"\"id\" FROM \"public\".\"wp_posts\" WHERE "
        ));
        assert!(q.contains("strpos(\"post_content\"::text, 'shop.example') > 0 OR "));
        let modified = Trigger {
            name: "set_modified".into(),
            always: false,
        };
        let audit = Trigger {
            name: "au\"dit".into(),
            always: true,
        };
        let (head, tail) = load_script(
            "public",
            "wp_posts",
            &["post_content".into()],
            &[modified, audit],
        );
        assert!(head.ends_with(
            "COPY pg_temp.\"wp_posts\" (understudy_ctid, \"post_content\") FROM stdin;\n"
        ));
        assert!(tail.starts_with("\\.\n"));
        assert!(tail.contains("WHERE t.ctid = s.understudy_ctid"));
        let (off, rest) = tail.split_once("UPDATE").unwrap();
        assert!(
            off.contains("ALTER TABLE \"public\".\"wp_posts\" DISABLE TRIGGER \"set_modified\";\n")
        );
        assert!(off.contains("DISABLE TRIGGER \"au\"\"dit\";\n"));
        assert!(
            rest.contains("ALTER TABLE \"public\".\"wp_posts\" ENABLE TRIGGER \"set_modified\";\n")
        );
        assert!(rest.contains("ENABLE ALWAYS TRIGGER \"au\"\"dit\";\n"));
    }
}
