//! The MySQL/MariaDB copy, after `create-database` (and, when anonymizing,
//! `collect-personal-data`, which reads production first):
//! - [`Snapshot::Consistent`] (the default): one step `copy`, one
//!   `mysqldump --single-transaction <every table> | rewrite | mysql`, so staging holds every
//!   table as it was at one moment. A retried or resumed step starts the whole copy over (the
//!   dump drops and recreates each table): a copy resumed from a second snapshot would not be
//!   one moment any more.
//! - [`Snapshot::PerTable`]: one step per table (`copy:<table>`), each
//!   `mysqldump <table> | rewrite | mysql` in its own transaction, `parallel_tables` at a time,
//!   resumed table by table.

use futures::{StreamExt, TryStreamExt};
use std::sync::Arc;

use super::anonymize::Anonymization;
use super::copy_pg::{rewrite_error, stopped};
use super::meter::Meter;
use super::mysql::{self, Credentials};
use super::ownership::{self, Mark, Owner, Role};
use super::plan::{self, Plan, TableReport};
use super::process;
use super::spec::{CloneSpec, Snapshot};
use crate::rewrite::MysqlDumpRewriter;
use crate::sites::{DbUrl, Site};
use crate::{Job, StepError};

/// The step of a per-table copy of `table`.
pub fn step_name(table: &str) -> String {
    format!("copy:{table}")
}

/// The step of a consistent copy.
pub const CONSISTENT_STEP: &str = "copy";

pub async fn copy(
    job: &Job,
    site: &Site,
    plan: &Plan,
    spec: &CloneSpec,
    source: &DbUrl,
    incoming: &DbUrl,
    anonymization: Option<&Anonymization>,
) -> Result<Vec<TableReport>, StepError> {
    job.step("create-database", |_run| async move {
        let owner = Owner::Job {
            site: &site.name,
            job: job.id(),
        };
        let mark = Mark::new(&site.name, job.id(), Role::Incoming);
        ownership::create_marked_database(
            &job.resources().db,
            incoming,
            &source.database,
            &mark,
            owner,
        )
        .await?;
        Ok(true)
    })
    .await?;

    if let Some(anonymization) = anonymization {
        anonymization.collect_step(job, None).await?;
    }
    match spec.snapshot {
        Snapshot::Consistent => {
            consistent(job, site, plan, spec, source, incoming, anonymization).await
        }
        Snapshot::PerTable => {
            per_table(job, site, plan, spec, source, incoming, anonymization).await
        }
    }
}

/// Every table in one dump, one transaction.
async fn consistent(
    job: &Job,
    site: &Site,
    plan: &Plan,
    spec: &CloneSpec,
    source: &DbUrl,
    incoming: &DbUrl,
    anonymization: Option<&Anonymization>,
) -> Result<Vec<TableReport>, StepError> {
    let secrets_dir = job.resources().data_dir.join("run");
    let tables: Vec<String> = plan.tables.iter().map(|t| t.1.clone()).collect();
    if tables.is_empty() {
        // `mysqldump DATABASE` without table names would dump every table of the database.
        return Ok(Vec::new());
    }
    let (tables, secrets_dir) = (&tables, &secrets_dir);
    job.step(CONSISTENT_STEP, |run| async move {
        for table in tables {
            plan::check_table_name(table)?;
        }
        let (rewriter, map) = match anonymization {
            Some(a) => {
                let p = a.prepared(None).await?;
                (p.rewriter.clone(), Some(p.map.clone()))
            }
            None => (Arc::new(plan::rewriter(site, plan)?), None),
        };
        let policy = plan::policy(&spec.keep_options);
        let from = Credentials::write(secrets_dir, source)?;
        let to = Credentials::write(secrets_dir, incoming)?;
        let meter = Meter::default();
        let filter_meter = meter.clone();
        let pipeline = process::pipeline(
            mysql::dump_tables(&from, &source.database, tables),
            mysql::load(&to, &incoming.database),
            move |input, output| {
                let mut adapter = MysqlDumpRewriter::new(&rewriter, &policy);
                if let Some(map) = &map {
                    adapter = adapter.with_row_map(map.as_ref());
                }
                adapter
                    .run(filter_meter.reader(input), output)
                    .map_err(rewrite_error)
            },
            run.cancellation(),
        );
        // The dump is a little larger than the tables' data: capped below the copy's share.
        let total = plan.total_bytes() as f64;
        let stats = meter
            .while_running(pipeline, std::time::Duration::from_secs(2), |read| {
                let share = (read as f64 / total).min(0.98) as f32;
                run.progress(
                    5.0 + 83.0 * share,
                    &format!("copied {} MB in one snapshot", read / 1_000_000),
                );
            })
            .await
            .map_err(|e| stopped(e, &run))?;
        run.progress(88.0, &format!("copied {} tables", tables.len()));
        let mut reports: Vec<TableReport> = tables
            .iter()
            .map(|table| TableReport::of_table(table, &stats))
            .collect();
        reports.sort_by(|a, b| a.table.cmp(&b.table));
        Ok(reports)
    })
    .await
}

/// One dump and one transaction per table, a few at a time.
async fn per_table(
    job: &Job,
    site: &Site,
    plan: &Plan,
    spec: &CloneSpec,
    source: &DbUrl,
    incoming: &DbUrl,
    anonymization: Option<&Anonymization>,
) -> Result<Vec<TableReport>, StepError> {
    let secrets_dir = job.resources().data_dir.join("run");
    let rewriter = Arc::new(plan::rewriter(site, plan)?);
    let policy = Arc::new(plan::policy(&spec.keep_options));
    let total = plan.total_bytes() as f64;
    let copied = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let mut reports: Vec<TableReport> = futures::stream::iter(plan.tables.clone())
        .map(|(_, table, bytes)| {
            let (rewriter, policy, copied, secrets_dir) = (
                rewriter.clone(),
                policy.clone(),
                copied.clone(),
                secrets_dir.clone(),
            );
            async move {
                job.step(&step_name(&table), |run| {
                    let (rewriter, policy, copied) =
                        (rewriter.clone(), policy.clone(), copied.clone());
                    let secrets_dir = secrets_dir.clone();
                    let table = &table;
                    async move {
                        plan::check_table_name(table)?;
                        let (rewriter, map) = match anonymization {
                            Some(a) => {
                                let p = a.prepared(None).await?;
                                (p.rewriter.clone(), Some(p.map.clone()))
                            }
                            None => (rewriter, None),
                        };
                        let from = Credentials::write(&secrets_dir, source)?;
                        let to = Credentials::write(&secrets_dir, incoming)?;
                        let stats = process::pipeline(
                            mysql::dump_table(&from, &source.database, table),
                            mysql::load(&to, &incoming.database),
                            move |input, output| {
                                let mut adapter = MysqlDumpRewriter::new(&rewriter, &policy);
                                if let Some(map) = &map {
                                    adapter = adapter.with_row_map(map.as_ref());
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
                            5.0 + 83.0 * done as f32 / total as f32,
                            &format!("copied {table}"),
                        );
                        Ok(TableReport::from_stats(table.clone(), &stats))
                    }
                })
                .await
            }
        })
        .buffer_unordered(spec.parallel_tables)
        .try_collect()
        .await?;
    reports.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(reports)
}
