//! The MySQL/MariaDB copy: one step per table, each `mysqldump <table> | rewrite | mysql`
//! (the dump drops and recreates the table, so a resumed step starts clean), a few at a time;
//! when anonymizing, `collect-personal-data` reads production first.

use futures::{StreamExt, TryStreamExt};
use std::sync::Arc;

use super::anonymize::Anonymization;
use super::copy_pg::{rewrite_error, stopped};
use super::mysql::{self, Credentials};
use super::ownership::{self, Mark, Owner, Role};
use super::plan::{self, Plan, TableReport};
use super::process;
use super::spec::CloneSpec;
use crate::rewrite::MysqlDumpRewriter;
use crate::sites::{DbUrl, Site};
use crate::{Job, StepError};

pub fn step_name(table: &str) -> String {
    format!("copy:{table}")
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
