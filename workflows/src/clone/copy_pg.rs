//! The PostgreSQL copy: schema without indexes, then every table through the rewriter (one step
//! per table, a few at a time, all in one exported snapshot), then indexes and sequences.
//! Every step can run again after a crash: the schema step recreates the incoming database, a
//! table step empties its table first, the index step notices it already ran. When anonymizing,
//! `collect-personal-data` reads production inside the same snapshot as the table dumps.

use futures::{StreamExt, TryStreamExt};
use sqlx::{Connection, PgConnection};
use std::sync::Arc;

use super::anonymize::Anonymization;
use super::columns;
use super::ownership::{self, Mark, Owner, Role};
use super::plan::{self, Plan, TableReport};
use super::postgres;
use super::process;
use super::spec::CloneSpec;
use crate::rewrite::PgCopyRewriter;
use crate::sites::{DbUrl, Site};
use crate::{Job, StepError};

fn passthrough(
    input: &mut dyn std::io::BufRead,
    output: &mut dyn std::io::Write,
) -> Result<(), StepError> {
    std::io::copy(input, output)
        .map(|_| ())
        .map_err(|e| StepError::Retryable(format!("streaming the schema: {e}")))
}

/// A read-only transaction whose snapshot every table dump shares (consistent across tables).
/// After a crash the resumed copy gets a new snapshot for the tables still to copy.
async fn export_snapshot(source: &DbUrl) -> Result<(PgConnection, String), StepError> {
    let mut conn = PgConnection::connect_with(&postgres::options(source))
        .await
        .map_err(|e| postgres::classify(&source.display(), e))?;
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut conn)
        .await
        .map_err(|e| postgres::classify(&source.display(), e))?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| postgres::classify(&source.display(), e))?;
    Ok((conn, snapshot))
}

pub async fn copy(
    job: &Job,
    site: &Site,
    plan: &Plan,
    spec: &CloneSpec,
    source: &DbUrl,
    incoming: &DbUrl,
    anonymization: Option<&Anonymization>,
) -> Result<Vec<TableReport>, StepError> {
    job.step("schema", |run| async move {
        // A resumed step starts from a fresh database (only this job's is dropped).
        let owner = Owner::Job {
            site: &site.name,
            job: job.id(),
        };
        ownership::drop_database(&job.resources().db, incoming, owner).await?;
        let mark = Mark::new(&site.name, job.id(), Role::Incoming);
        ownership::create_marked_database(
            &job.resources().db,
            incoming,
            &source.database,
            &mark,
            owner,
        )
        .await?;
        let dump = postgres::dump_schema(source, "pre-data", &plan.schema_exclusions());
        process::pipeline(
            dump,
            postgres::load(incoming),
            passthrough,
            run.cancellation(),
        )
        .await
        .map_err(|e| stopped(e, &run))?;
        run.progress(5.0, "schema copied");
        Ok(true)
    })
    .await?;

    let remaining = plan
        .tables
        .iter()
        .filter(|(schema, table, _)| !job.is_done(&step_name(schema, table)))
        .count();
    let snapshot = if remaining > 0 {
        Some(export_snapshot(source).await?)
    } else {
        None
    };
    let snapshot_id = snapshot.as_ref().map(|(_, id)| id.clone());
    if let Some(anonymization) = anonymization {
        anonymization
            .collect_step(job, snapshot_id.as_deref())
            .await?;
    }
    let rewriter = Arc::new(plan::rewriter(site, plan)?);
    let policy = Arc::new(plan::policy(&spec.keep_options));
    let target = Arc::new(postgres::Lazy::new(incoming));
    let total = plan.total_bytes() as f64;
    let copied = Arc::new(std::sync::atomic::AtomicI64::new(0));

    let reports: Vec<TableReport> = futures::stream::iter(plan.tables.clone())
        .map(|(schema, table, bytes)| {
            let name = step_name(&schema, &table);
            let (rewriter, policy, target, copied) = (
                rewriter.clone(),
                policy.clone(),
                target.clone(),
                copied.clone(),
            );
            let snapshot = snapshot_id.clone();
            async move {
                job.step(&name, |run| {
                    let (rewriter, policy, target, copied) = (
                        rewriter.clone(),
                        policy.clone(),
                        target.clone(),
                        copied.clone(),
                    );
                    let snapshot = snapshot.clone();
                    let (schema, table) = (&schema, &table);
                    async move {
                        plan::check_table_name(table)?;
                        let (target, lz4) = target.get().await?;
                        let (rewriter, map) = match anonymization {
                            Some(a) => {
                                let p = a.prepared(snapshot.as_deref()).await?;
                                (p.rewriter.clone(), Some(p.map.clone()))
                            }
                            None => (rewriter, None),
                        };
                        let qualified = postgres::quote_table(schema, table);
                        let classify = |e| postgres::classify(&incoming.display(), e);
                        // The stream empties the table itself and loads it frozen (one
                        // transaction); a partitioned table is emptied here and loaded plainly.
                        let freeze = !postgres::is_partitioned(target, &qualified)
                            .await
                            .map_err(classify)?;
                        postgres::truncate(target, &qualified)
                            .await
                            .map_err(classify)?;
                        // The dump does not say its column types: the schema copied first does.
                        let columns = columns::rewrite_columns(target, &qualified)
                            .await
                            .map_err(classify)?;
                        let kinds = columns::kinds_of(table, &columns);
                        let dump = postgres::dump_table(source, &qualified, snapshot.as_deref());
                        let stats = process::pipeline(
                            dump,
                            postgres::bulk_load(incoming, lz4),
                            move |input, output| {
                                let mut adapter = PgCopyRewriter::new(&rewriter, &policy)
                                    .with_column_kinds(&kinds);
                                if let Some(map) = &map {
                                    adapter = adapter.with_row_map(map.as_ref());
                                }
                                if freeze {
                                    adapter = adapter.with_freeze_into(&qualified);
                                }
                                adapter.run(input, output).map_err(rewrite_error)
                            },
                            run.cancellation(),
                        )
                        .await
                        .map_err(|e| stopped(e, &run))?;
                        let done =
                            copied.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed) + bytes;
                        run.progress(
                            5.0 + 80.0 * done as f32 / total as f32,
                            &format!("copied {schema}.{table}"),
                        );
                        Ok(TableReport::from_stats(format!("{schema}.{table}"), &stats))
                    }
                })
                .await
            }
        })
        .buffer_unordered(spec.parallel_tables)
        .try_collect()
        .await?;
    if let Some((conn, _)) = snapshot {
        let _ = conn.close().await;
    }

    job.step("indexes", |run| {
        let target = target.clone();
        async move {
            let (target, lz4) = target.get().await?;
            let indexes: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
            )
            .fetch_one(target)
            .await
            .map_err(|e| postgres::classify(&incoming.display(), e))?;
            // psql ran the post-data section in one transaction: any index means it all ran.
            if indexes == 0 {
                let dump = postgres::dump_schema(source, "post-data", &plan.schema_exclusions());
                process::pipeline(dump, postgres::bulk_load(incoming, lz4), passthrough, run.cancellation())
                    .await
                    .map_err(|e| stopped(e, &run))?;
            }
            let source_pool = postgres::connect(source).await?;
            let sequences = postgres::copy_sequences(&source_pool, target, &plan.not_copied_sequences)
                .await
                .map_err(|e| postgres::classify(&incoming.display(), e))?;
            source_pool.close().await;
            run.progress(88.0, "indexes and sequences done");
            Ok(sequences)
        }
    })
    .await?;
    target.close().await;
    let mut reports = reports;
    reports.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(reports)
}

pub fn step_name(schema: &str, table: &str) -> String {
    format!("copy:{schema}.{table}")
}

/// A killed pipeline reports `Interrupted`; the job's own reason (cancel, lease) wins.
pub fn stopped(error: StepError, run: &crate::StepRun) -> StepError {
    if error == StepError::Interrupted {
        run.stop_reason()
    } else {
        error
    }
}

pub fn rewrite_error(error: crate::rewrite::RewriteError) -> StepError {
    if error.is_retryable() {
        StepError::Retryable(format!("rewriting the stream: {error}"))
    } else {
        StepError::Permanent(format!("rewriting the stream: {error}"))
    }
}
