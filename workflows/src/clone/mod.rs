//! The `clone` kind: create, refresh or destroy a staging copy of a registered WordPress site.
//!
//! Create and refresh, as named steps:
//! `validate` → (`schema` | `create-database`) → (`collect-personal-data`, when anonymizing) →
//! `copy:<table>`… → (`indexes`) → `harden` → `sync-uploads` → `swap` → `record`. The copy is built in an incoming database and an incoming
//! uploads directory and only swapped in at the end, so a failed refresh leaves the previous
//! staging intact and a failed create leaves nothing (compensation drops what it made).
//!
//! Files: [`spec`] (the job spec), [`plan`] (what validate decides, rewrite rules),
//! [`anonymize`] (personal data replaced in the stream),
//! [`process`] (external programs), [`postgres`] / [`copy_pg`], [`mysql`] / [`copy_mysql`],
//! [`harden`], [`uploads`], [`environment`] (validate, swap, destroy).

pub mod anonymize;
pub mod copy_mysql;
pub mod copy_pg;
pub mod environment;
pub mod harden;
pub mod mysql;
pub mod plan;
pub mod postgres;
pub mod process;
pub mod promote;
pub mod remap;
pub mod spec;
pub mod uploads;

use async_trait::async_trait;
use serde_json::{json, Value};
use std::path::PathBuf;

use crate::sites::{registry, DbEngine};
use crate::{Job, SpecError, StepError, Workflow};
use spec::{Action, CloneSpec};

/// The `clone` workflow.
pub struct CloneSite;

#[async_trait]
impl Workflow for CloneSite {
    fn kind(&self) -> &'static str {
        "clone"
    }

    fn validate(&self, spec: &Value) -> Result<(), SpecError> {
        CloneSpec::parse(spec).map(|_| ())
    }

    async fn run(&self, job: &Job, spec: Value) -> Result<Value, StepError> {
        let spec = CloneSpec::parse(&spec).map_err(StepError::permanent)?;
        match spec.action {
            Action::Create | Action::Refresh => clone_site(job, &spec).await,
            Action::Destroy => environment::destroy(job, &spec).await,
            Action::Promote => promote::promote(job, &spec).await,
            Action::Restore => promote::restore(job, &spec).await,
        }
    }
}

async fn clone_site(job: &Job, spec: &CloneSpec) -> Result<Value, StepError> {
    let resources = job.resources();
    let site = registry::get(&resources.db, &spec.site)
        .await
        .map_err(environment::registry_error)?;
    let source = site
        .db_url(&resources.secrets)
        .map_err(environment::registry_error)?;
    let staging = site
        .staging_db_url(&resources.secrets)
        .map_err(environment::registry_error)?;

    let plan: plan::Plan = job
        .step("validate", |run| {
            let (site, source, staging) = (&site, &source, &staging);
            async move {
                let plan = environment::validate(job, spec, site, source, staging).await?;
                run.progress(2.0, &format!("{} tables to copy", plan.tables.len()));
                Ok(plan)
            }
        })
        .await?;
    let incoming = staging.with_database(&plan.incoming_db);
    {
        let incoming = incoming.clone();
        job.on_failure("validate", move || async move {
            environment::drop_database(&incoming).await
        });
    }

    let anonymization = spec
        .anonymize
        .then(|| anonymize::Anonymization::new(job, &site, &plan, spec, &source));
    let anon = anonymization.as_ref();
    let tables = match site.db_engine {
        DbEngine::Postgres => {
            copy_pg::copy(job, &site, &plan, spec, &source, &incoming, anon).await?
        }
        DbEngine::Mysql => {
            copy_mysql::copy(job, &site, &plan, spec, &source, &incoming, anon).await?
        }
    };

    let hardening: harden::Hardening = job
        .step("harden", |run| {
            let (site, incoming) = (&site, &incoming);
            async move {
                let report = environment::harden(site, incoming).await?;
                run.progress(90.0, "staging hardened");
                Ok(report)
            }
        })
        .await?;

    let incoming_uploads = PathBuf::from(&plan.incoming_uploads);
    let uploads: uploads::SyncReport = job
        .step("sync-uploads", |run| {
            let (site, incoming_uploads) = (&site, incoming_uploads.clone());
            let plan = &plan;
            async move {
                let source = PathBuf::from(&site.uploads_dir);
                let live = PathBuf::from(&site.staging_uploads_dir);
                let cancel = run.cancellation();
                let progress_run = run.clone();
                let report = tokio::task::spawn_blocking(move || {
                    let current = live.exists().then_some(live.as_path());
                    uploads::sync(
                        &source,
                        current,
                        &incoming_uploads,
                        |done, total| {
                            let pct = 90.0 + 8.0 * done as f32 / total.max(1) as f32;
                            progress_run
                                .progress(pct, &format!("uploads: {done} of {total} bytes"));
                        },
                        || cancel.is_cancelled(),
                    )
                })
                .await
                .map_err(|e| StepError::Permanent(format!("uploads sync thread: {e}")))?;
                report.map_err(|e| {
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        run.stop_reason()
                    } else {
                        StepError::Permanent(format!(
                            "syncing uploads into {}: {e}",
                            plan.incoming_uploads
                        ))
                    }
                })
            }
        })
        .await?;
    {
        let dir = incoming_uploads.clone();
        job.on_failure("sync-uploads", move || async move {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(StepError::retryable)?;
            }
            Ok(())
        });
    }

    job.step("swap", |run| {
        let (site, staging, incoming, incoming_uploads) =
            (&site, &staging, &incoming, &incoming_uploads);
        async move {
            environment::swap(spec.action, site, staging, incoming, incoming_uploads).await?;
            run.progress(99.0, "swapped in");
            Ok(true)
        }
    })
    .await?;

    let totals = tables.iter().fold((0u64, 0u64, 0u64), |acc, t| {
        (acc.0 + t.rows, acc.1 + t.replacements, acc.2 + t.malformed)
    });
    let mut report = json!({
        "site": site.name,
        "action": spec.action,
        "staging_url": site.staging_url,
        "database": site.staging_db_display,
        "uploads_dir": site.staging_uploads_dir,
        "rows": totals.0,
        "replacements": totals.1,
        "malformed": totals.2,
        "tables": tables,
        "hardening": hardening,
        "uploads": uploads,
    });
    if let Some(anonymization) = &anonymization {
        report["anonymization"] = anonymization.summary(&tables);
    }
    job.step("record", |run| {
        let (site, report) = (&site, &report);
        async move {
            registry::record_environment(&job.resources().db, site, job.id(), report)
                .await
                .map_err(StepError::retryable)?;
            run.progress(100.0, "staging ready");
            Ok(true)
        }
    })
    .await?;
    Ok(report)
}
