//! Restore: puts back the tables a promote (or an earlier restore) replaced, from its recorded
//! backup, and nothing else.
//!
//! `validate` (the backup is recorded for this registration of the site and was taken of this
//! very production database, by identity; `--tables` picks some of its tables) → `backup`
//! (production's current state of exactly those tables, so the restore can be undone too) →
//! PostgreSQL: `restore` (`TRUNCATE` and the backup's rows in one transaction); MySQL/MariaDB:
//! `load` (the backup into a marked side database) → `swap` (one atomic `RENAME TABLE`).
//! Rows that arrived on production since in other tables (comments, users, orders) are untouched.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;

use super::backup::{self, BackupPlan};
use super::copy_pg::stopped;
use super::mysql::{self, Credentials};
use super::ownership::{self, Mark, Owner, Role};
use super::promote::{drop_side, swap};
use super::spec::CloneSpec;
use super::{environment, guard, plan, postgres, process};
use crate::sites::backups::{self, BackupKind};
use crate::sites::{registry, DbEngine, DbUrl, Site};
use crate::{Job, StepError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestorePlan {
    /// The recorded backup loaded back.
    pub from: String,
    /// Full table names restored (all of the backup's, or those asked for).
    pub tables: Vec<String>,
    /// Production's current state of `tables`, taken first.
    pub backup: BackupPlan,
    pub identity: String,
    /// MySQL: the side database the backup is loaded into.
    pub side: String,
}

pub async fn restore(job: &Job, spec: &CloneSpec) -> Result<Value, StepError> {
    let resources = job.resources();
    let site = registry::get(&resources.db, &spec.site)
        .await
        .map_err(environment::registry_error)?;
    let production = site
        .db_url(&resources.secrets)
        .map_err(environment::registry_error)?;
    let staging = site
        .staging_db_url(&resources.secrets)
        .map_err(environment::registry_error)?;
    let plan: RestorePlan = job
        .step("validate", |run| {
            let (site, production, staging) = (&site, &production, &staging);
            async move {
                let plan = validate(job, spec, site, production, staging).await?;
                run.progress(5.0, &format!("{} tables to restore", plan.tables.len()));
                Ok(plan)
            }
        })
        .await?;
    job.step("backup", |run| {
        let (site, production, plan) = (&site, &production, &plan);
        async move {
            let bytes =
                backup::take(job, site, production, &plan.identity, &plan.backup, &run).await?;
            run.progress(30.0, &format!("current tables backed up ({bytes} bytes)"));
            Ok(bytes)
        }
    })
    .await?;
    let owner = Owner::Job {
        site: &site.name,
        job: job.id(),
    };
    match site.db_engine {
        DbEngine::Postgres => {
            job.step("restore", |run| {
                let (production, plan) = (&production, &plan);
                async move {
                    restore_pg(production, plan, &run).await?;
                    run.progress(100.0, "production tables restored");
                    Ok(true)
                }
            })
            .await?;
        }
        DbEngine::Mysql => {
            {
                let (production, side, site_name, id) = (
                    production.clone(),
                    plan.side.clone(),
                    site.name.clone(),
                    job.id(),
                );
                job.on_failure("backup", move || async move {
                    drop_side(
                        &production,
                        &side,
                        Owner::Job {
                            site: &site_name,
                            job: id,
                        },
                    )
                    .await
                });
            }
            job.step("load", |run| {
                let (production, plan) = (&production, &plan);
                async move {
                    load_mysql(job, production, plan, owner, &run).await?;
                    run.progress(70.0, "backup loaded aside");
                    Ok(true)
                }
            })
            .await?;
            job.step("swap", |run| {
                let (production, plan) = (&production, &plan);
                async move {
                    swap(production, &plan.tables, &plan.side, owner).await?;
                    run.progress(100.0, "production tables restored");
                    Ok(true)
                }
            })
            .await?;
        }
    }
    Ok(json!({
        "site": site.name, "action": "restore", "backup": plan.from, "tables": plan.tables,
        "backup_of_replaced": plan.backup.path,
        "undo": format!("understudy staging restore {} --backup {}", site.name, plan.backup.path),
    }))
}

async fn validate(
    job: &Job,
    spec: &CloneSpec,
    site: &Site,
    production: &DbUrl,
    staging: &DbUrl,
) -> Result<RestorePlan, StepError> {
    let db = &job.resources().db;
    guard::verify(db, site, production, staging).await?;
    let path = spec.backup.as_deref().unwrap_or_default();
    let list = format!("`understudy site backups {}` lists them", site.name);
    let Some(recorded) = backups::by_path(db, path)
        .await
        .map_err(StepError::retryable)?
    else {
        return Err(StepError::Permanent(format!(
            "{path} is not a recorded backup of site {} ({list})",
            site.name
        )));
    };
    if recorded.site_id != site.id {
        let whose = match recorded.site_removed_at {
            Some(at) if recorded.site == site.name => format!(
                "an earlier registration of site {} (removed {})",
                site.name,
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            _ => format!("site {}", recorded.site),
        };
        return Err(StepError::Permanent(format!(
            "{path} is a backup of {whose}, not of this site {}'s production: it is never \
             loaded into another database ({list})",
            site.name
        )));
    }
    let identity = guard::database_identity(production).await?;
    if recorded.production_identity != identity {
        return Err(StepError::Permanent(format!(
            "{path} was taken of database {} ({}), but site {}'s production is now {} ({identity}): \
             it is never loaded into another database",
            recorded.production_display,
            recorded.production_identity,
            site.name,
            production.display()
        )));
    }
    if !PathBuf::from(path).is_file() {
        return Err(StepError::Permanent(format!(
            "the backup file {path} is missing on this worker (recorded {}, {} bytes)",
            recorded.created_at.format("%Y-%m-%d %H:%M UTC"),
            recorded.bytes
        )));
    }
    let tables = match &spec.tables {
        None => recorded.tables.clone(),
        Some(asked) => {
            let mut tables = Vec::new();
            for bare in asked {
                let full = format!("{}{bare}", site.table_prefix);
                if !recorded.tables.contains(&full) {
                    return Err(StepError::Permanent(format!(
                        "{full} is not in the backup {path} (it holds {})",
                        recorded.tables.join(", ")
                    )));
                }
                tables.push(full);
            }
            tables
        }
    };
    for table in &tables {
        plan::check_table_name(table)?;
    }
    Ok(RestorePlan {
        from: path.to_string(),
        backup: BackupPlan::new(job, site, BackupKind::PreRestore, tables.clone()),
        tables,
        identity,
        side: format!("understudy_restore_{}", plan::job_tag(job.id())),
    })
}

/// `TRUNCATE` the tables, then `pg_restore --data-only` of them, all in one `psql` transaction.
async fn restore_pg(
    production: &DbUrl,
    plan: &RestorePlan,
    run: &crate::StepRun,
) -> Result<(), StepError> {
    let mut dump = postgres::client_program("pg_restore", production).args([
        "--data-only",
        "--no-owner",
        "--file=-",
    ]);
    for table in &plan.tables {
        dump = dump.arg(format!("--table={table}"));
    }
    let dump = dump.arg(plan.from.clone());
    let truncate = format!(
        "TRUNCATE {};\n",
        plan.tables
            .iter()
            .map(|t| postgres::quote_table("public", t))
            .collect::<Vec<_>>()
            .join(", ")
    );
    process::pipeline(
        dump,
        postgres::load(production),
        move |input, output| {
            let io = |e: std::io::Error| StepError::Retryable(format!("streaming to psql: {e}"));
            output.write_all(truncate.as_bytes()).map_err(io)?;
            std::io::copy(input, output).map_err(io)?;
            Ok(())
        },
        run.cancellation(),
    )
    .await
    .map_err(|e| stopped(e, run))?;
    let pool = postgres::connect(production).await?;
    postgres::advance_sequences(&pool)
        .await
        .map_err(|e| postgres::classify(&production.display(), e))?;
    pool.close().await;
    Ok(())
}

/// The backup file into a marked side database on production's server.
async fn load_mysql(
    job: &Job,
    production: &DbUrl,
    plan: &RestorePlan,
    owner: Owner<'_>,
    run: &crate::StepRun,
) -> Result<(), StepError> {
    let site = match owner {
        Owner::Job { site, .. } | Owner::Site(site) => site,
    };
    let side = production.with_database(&plan.side);
    // A resumed load starts from an empty side database.
    ownership::drop_database(&side, owner).await?;
    let mark = Mark::new(site, job.id(), Role::Side);
    ownership::create_marked_database(&side, &production.database, &mark, owner).await?;
    let credentials = Credentials::write(&job.resources().data_dir.join("run"), production)?;
    process::run_with_input(
        mysql::load(&credentials, &plan.side),
        Some(PathBuf::from(&plan.from)),
        run.cancellation(),
    )
    .await
    .map_err(|e| stopped(e, run))?;
    let admin = mysql::admin(production).await?;
    let loaded = mysql::tables(&admin, &plan.side)
        .await
        .map_err(|e| mysql::classify(&production.display(), e))?;
    admin.close().await;
    for table in &plan.tables {
        if !loaded.iter().any(|(t, _)| t == table) {
            return Err(StepError::Permanent(format!(
                "the backup {} holds no table {table}",
                plan.from
            )));
        }
    }
    Ok(())
}
