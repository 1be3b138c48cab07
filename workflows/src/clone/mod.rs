//! The `clone` kind: create, refresh or destroy a staging copy of a registered WordPress site.
//!
//! Create and refresh, as named steps:
//! (`register-site`, for an inline site spec) → `validate` → PostgreSQL: `template` (the
//! same-server fast path, or why not) → either `rewrite:<table>`… in place, or the streaming copy:
//! (`schema` | `create-database`) → (`collect-personal-data`, when anonymizing) →
//! `copy:<table>`… (MySQL/MariaDB: one `copy` of every table in one snapshot, unless the spec
//! says `"snapshot": "per-table"`) → (`indexes`) → `harden` → `basic-auth` → `sync-uploads` → `swap` → `record`. The copy is built in an incoming database and an incoming
//! uploads directory and only swapped in at the end, so a failed refresh leaves the previous
//! staging intact and a failed create leaves nothing (compensation drops what it made).
//!
//! Files: [`spec`] (the job spec), [`plan`] (what validate decides, rewrite rules),
//! [`anonymize`] (personal data replaced in the stream),
//! [`process`] (external programs), [`postgres`] / [`copy_pg`], [`mysql`] / [`copy_mysql`],
//! [`harden`], [`uploads`], [`environment`] (validate, swap, destroy), [`template`] (the
//! same-server fast path), [`basic_auth`], [`inline_site`], [`guard`] (identities checked first),
//! [`ownership`] (marks checked before anything is dropped or overwritten).

pub mod anonymize;
pub mod backup;
pub mod basic_auth;
pub mod columns;
pub mod copy_mysql;
pub mod copy_pg;
pub mod density;
pub mod environment;
pub mod guard;
pub mod harden;
pub mod inline_site;
pub mod meter;
pub mod mysql;
pub mod ownership;
pub mod plan;
pub mod postgres;
pub mod process;
pub mod promote;
pub mod promote_checks;
pub mod remap;
pub mod restore;
pub mod side;
pub mod spec;
pub mod template;
pub mod uploads;
pub mod views;

use async_trait::async_trait;
use base64::Engine;
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
        if let Some(inline) = &spec.site_spec {
            let spec = &spec;
            job.step("register-site", |run| async move {
                let resources = job.resources();
                let input = inline
                    .to_input(&spec.site, &resources.secrets)
                    .map_err(StepError::Permanent)?;
                let input = guard::identify(input).await?;
                registry::upsert(&resources.db, &resources.secrets, input)
                    .await
                    .map_err(environment::registry_error)?;
                run.progress(
                    1.0,
                    &format!("site {} registered from the inline spec", spec.site),
                );
                Ok(true)
            })
            .await?;
        }
        match spec.action {
            Action::Create | Action::Refresh => clone_site(job, &spec).await,
            Action::Destroy => environment::destroy(job, &spec).await,
            Action::Promote => promote::promote(job, &spec).await,
            Action::Restore => restore::restore(job, &spec).await,
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

    if spec.basic_auth == Some(true)
        && basic_auth::mu_plugins_dir(std::path::Path::new(&site.staging_uploads_dir)).is_none()
    {
        return Err(StepError::Permanent(format!(
            "basic auth is applied as a must-use plugin in <wp-content>/mu-plugins, but the staging \
             uploads dir {} is not <wp-content>/uploads: register the site with --staging-uploads \
             <staging wp-content>/uploads, or drop --basic-auth",
            site.staging_uploads_dir
        )));
    }
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
        let (incoming, site_name, id) = (incoming.clone(), site.name.clone(), job.id());
        let db = job.resources().db.clone();
        job.on_failure("validate", move || async move {
            environment::drop_incoming(&db, id, &site_name, &incoming).await
        });
    }

    let anonymization = spec
        .anonymize
        .then(|| anonymize::Anonymization::new(job, &site, &plan, spec, &source));
    let anon = anonymization.as_ref();
    let mut method = None;
    let tables = match site.db_engine {
        DbEngine::Postgres => {
            let chosen: template::CopyMethod = job
                .step("template", |run| {
                    let (source, incoming, site, plan) = (&source, &incoming, &site, &plan);
                    async move {
                        let chosen = template::try_template(
                            &job.resources().db,
                            job.id(),
                            spec,
                            site,
                            plan,
                            source,
                            incoming,
                        )
                        .await?;
                        let message = match chosen.template_secs {
                            Some(secs) => format!(
                                "fast path: CREATE DATABASE … TEMPLATE production in {secs} s ({})",
                                chosen.reason
                            ),
                            None => format!("streaming copy: {}", chosen.reason),
                        };
                        run.progress(5.0, &message);
                        Ok(chosen)
                    }
                })
                .await?;
            let began = std::time::Instant::now();
            let tables = if chosen.is_template() {
                template::rewrite_in_place(job, &site, &plan, spec, &incoming).await?
            } else {
                copy_pg::copy(job, &site, &plan, spec, &source, &incoming, anon).await?
            };
            let mut report = serde_json::to_value(&chosen).map_err(StepError::permanent)?;
            if chosen.is_template() {
                report["rewrite_secs"] =
                    json!((began.elapsed().as_secs_f64() * 100.0).round() / 100.0);
            }
            // One exported snapshot (stream) or a copy nobody else was connected to (template).
            report["snapshot"] = json!("consistent");
            method = Some(report);
            tables
        }
        DbEngine::Mysql => {
            copy_mysql::copy(job, &site, &plan, spec, &source, &incoming, anon).await?
        }
    };

    let hardening: harden::Hardening = job
        .step("harden", |run| {
            let (site, incoming) = (&site, &incoming);
            async move {
                let report = environment::harden(&job.resources().db, site, incoming).await?;
                run.progress(90.0, "staging hardened");
                Ok(report)
            }
        })
        .await?;

    let basic: basic_auth::BasicAuth = job
        .step("basic-auth", |run| {
            let site = &site;
            async move {
                let done = apply_basic_auth(job, spec, site).await?;
                if let Some(user) = &done.user {
                    run.progress(90.0, &format!("basic auth on (user {user})"));
                }
                Ok(done)
            }
        })
        .await?;

    let incoming_uploads = PathBuf::from(&plan.incoming_uploads);
    {
        // Registered before the step runs, so a failed or cancelled copy leaves no incoming
        // directory behind; only this job's marked directory is removed.
        let (dir, site_name, id) = (incoming_uploads.clone(), site.name.clone(), job.id());
        job.on_failure("sync-uploads", move || async move {
            let owner = ownership::Owner::Job {
                site: &site_name,
                job: id,
            };
            ownership::remove_directory(&dir, owner).map(|_| ())
        });
    }
    let uploads: uploads::SyncReport = job
        .step("sync-uploads", |run| {
            let (site, incoming_uploads) = (&site, incoming_uploads.clone());
            async move {
                let source = PathBuf::from(&site.uploads_dir);
                let live = PathBuf::from(&site.staging_uploads_dir);
                let cancel = run.cancellation();
                let progress_run = run.clone();
                let owner = (site.name.clone(), job.id());
                let checksum = spec.checksum;
                let report = tokio::task::spawn_blocking(move || {
                    let current = live.exists().then_some(live.as_path());
                    uploads::sync(
                        &source,
                        current,
                        &incoming_uploads,
                        (&owner.0, owner.1),
                        checksum,
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
                let report = report.map_err(|e| {
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        run.stop_reason()
                    } else {
                        StepError::Permanent(format!("copying uploads: {e}"))
                    }
                })?;
                if report.unreadable > 0 {
                    run.progress(
                        98.0,
                        &format!(
                            "uploads: {} unreadable file(s) or folder(s) skipped, e.g. {}",
                            report.unreadable,
                            report.unreadable_paths.first().map_or("", String::as_str)
                        ),
                    );
                }
                Ok(report)
            }
        })
        .await?;

    job.pivot_step("swap", |run| {
        let (site, staging, incoming, incoming_uploads) =
            (&site, &staging, &incoming, &incoming_uploads);
        async move {
            environment::swap(job, site, staging, incoming, incoming_uploads).await?;
            run.progress(99.0, "swapped in");
            Ok(true)
        }
    })
    .await?;
    // The new copy is live staging now (the pivot): a later failure or cancel does not undo it.
    let views: Option<views::ViewsReport> = match site.db_engine {
        DbEngine::Mysql => Some(
            job.step("views", |run| {
                let (site, source, staging) = (&site, &source, &staging);
                async move {
                    let pool = mysql::connect(source).await?;
                    let admin = mysql::admin(staging).await?;
                    let made = views::recreate(
                        &pool,
                        &source.database,
                        &admin,
                        &staging.database,
                        &site.table_prefix,
                    )
                    .await
                    .map_err(|e| mysql::classify(&staging.display(), e));
                    pool.close().await;
                    admin.close().await;
                    let made = made?;
                    run.progress(99.5, &format!("{} view(s) made", made.created.len()));
                    Ok(made)
                }
            })
            .await?,
        ),
        DbEngine::Postgres => None,
    };

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
        "copy": method.unwrap_or_else(|| json!({"method": "stream", "reason": "MySQL/MariaDB", "snapshot": spec.snapshot})),
        "tables": tables,
        "tables_not_copied": plan.not_copied.iter().map(|(schema, table)| {
            if schema.is_empty() { table.clone() } else { format!("{schema}.{table}") }
        }).collect::<Vec<_>>(),
        "hardening": hardening,
        "basic_auth": basic.summary(&site.name),
        "uploads": uploads,
    });
    if let Some(anonymization) = &anonymization {
        report["anonymization"] = anonymization.summary(&tables);
    }
    if let Some(views) = &views {
        report["views"] = json!(views);
    }
    job.step("record", |run| {
        let (site, report, basic) = (&site, &report, &basic);
        async move {
            let db = &job.resources().db;
            registry::record_environment(db, site, job.id(), report, spec.anonymize)
                .await
                .map_err(StepError::retryable)?;
            let sealed = match &basic.sealed {
                Some(b64) => Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(StepError::permanent)?,
                ),
                None => None,
            };
            let credentials = basic.user.as_deref().zip(sealed.as_deref());
            registry::set_basic_auth(db, &site.name, credentials)
                .await
                .map_err(StepError::retryable)?;
            run.progress(100.0, "staging ready");
            Ok(true)
        }
    })
    .await?;
    Ok(report)
}

/// The `basic-auth` step: keeps, creates or removes the credentials and their plugin.
async fn apply_basic_auth(
    job: &Job,
    spec: &CloneSpec,
    site: &crate::sites::Site,
) -> Result<basic_auth::BasicAuth, StepError> {
    use secrecy::ExposeSecret;
    let resources = job.resources();
    let existing = registry::basic_auth(&resources.db, &site.name)
        .await
        .map_err(StepError::retryable)?;
    let want = spec.basic_auth.unwrap_or(existing.is_some());
    let dir = guard::mu_plugins_dir(&resources.db, site).await?;
    let io = |e: std::io::Error| StepError::Permanent(format!("basic-auth plugin: {e}"));
    if !want {
        let removed = match &dir {
            Some(dir) if dir.join(basic_auth::PLUGIN_FILE).exists() => {
                basic_auth::apply(dir, None).map_err(io)?;
                true
            }
            _ => false,
        };
        return Ok(basic_auth::BasicAuth {
            removed,
            ..Default::default()
        });
    }
    let Some(dir) = dir else {
        return Err(StepError::Permanent(format!(
            "basic auth needs the staging uploads dir to be <wp-content>/uploads (it is {})",
            site.staging_uploads_dir
        )));
    };
    let (password, sealed) = match existing {
        Some((_, sealed)) => {
            let password = resources.secrets.open(&sealed).map_err(|e| {
                StepError::Permanent(format!("the stored basic-auth password: {e}"))
            })?;
            (
                password.expose_secret().to_string(),
                base64::engine::general_purpose::STANDARD.encode(&sealed),
            )
        }
        None => {
            let password = basic_auth::generate_password();
            let sealed = basic_auth::seal(&resources.secrets, &password);
            (password, sealed)
        }
    };
    let path = basic_auth::apply(&dir, Some((basic_auth::USER, &password))).map_err(io)?;
    Ok(basic_auth::BasicAuth {
        user: Some(basic_auth::USER.into()),
        sealed: Some(sealed),
        plugin: path.map(|p| p.display().to_string()),
        removed: false,
    })
}
