//! Restore: puts back the tables a promote (or an earlier restore) replaced, from its recorded
//! backup, and nothing else.
//!
//! `validate` (the backup is recorded for this registration of the site, was taken of this very
//! production database, by identity, and is byte for byte the file recorded; `--tables` picks
//! some of its tables) → `load` (the backup into a marked side schema/database) → `swap` (as a
//! promote's: one transaction or one `RENAME TABLE`, the replaced rows kept in a marked park) →
//! `backup` (the park dumped and recorded as `pre-restore`, so the restore can be undone too).
//! Rows that arrived on production since in other tables (comments, users, orders) are untouched.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;

use super::backup::{self, BackupPlan};
use super::copy_pg::stopped;
use super::mysql::{self, Credentials};
use super::ownership::{self, Mark, Owner, Role};
use super::remap::CopySchemaRemap;
use super::side::{self, swap};
use super::spec::CloneSpec;
use super::{environment, guard, plan, postgres, process};
use crate::sites::backups::{self, BackupKind};
use crate::sites::{DbEngine, DbUrl, Site};
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
    /// The side schema (PostgreSQL) or database (MySQL) the backup is loaded into.
    pub side: String,
    /// Where the swap moves the production rows it replaces, until they are backed up.
    pub park: String,
    /// PostgreSQL: the schema the backup's tables are in.
    pub source_schema: String,
    /// The site registration validated.
    pub site_id: uuid::Uuid,
}

/// Before each step that writes production: still the registration and the production database
/// `validate` checked, and the backup file still byte for byte the one recorded.
async fn recheck(
    job: &Job,
    site: &Site,
    production: &DbUrl,
    plan: &RestorePlan,
) -> Result<(), StepError> {
    let again = "enqueue the restore again";
    if site.id != plan.site_id {
        return Err(StepError::Permanent(format!(
            "site {} was registered again since this restore was validated; {again}",
            site.name
        )));
    }
    if guard::database_identity(production).await? != plan.identity {
        return Err(StepError::Permanent(format!(
            "site {}'s production database is not the one validated; {again}",
            site.name
        )));
    }
    let recorded = backups::by_path(&job.resources().db, &plan.from)
        .await
        .map_err(StepError::retryable)?
        .filter(|b| b.site_id == site.id)
        .ok_or_else(|| {
            StepError::Permanent(format!(
                "{} is no longer a recorded backup of site {}; {again}",
                plan.from, site.name
            ))
        })?;
    backup::verify(&recorded)
}

pub async fn restore(job: &Job, spec: &CloneSpec) -> Result<Value, StepError> {
    let (site, production, staging) = environment::site_and_urls(job, &spec.site).await?;
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
    side::drop_side_on_failure(job, &production, &plan.side, &site.name);
    let owner = Owner::Job {
        site: &site.name,
        job: job.id(),
    };
    job.step("load", |run| {
        let (site, production, plan) = (&site, &production, &plan);
        async move {
            recheck(job, site, production, plan).await?;
            match production.engine {
                DbEngine::Postgres => load_pg(job, production, plan, owner, &run).await?,
                DbEngine::Mysql => load_mysql(job, production, plan, owner, &run).await?,
            }
            run.progress(60.0, "backup loaded aside");
            Ok(true)
        }
    })
    .await?;
    job.pivot_step("swap", |run| {
        let (site, production, plan) = (&site, &production, &plan);
        async move {
            if site.id != plan.site_id
                || guard::database_identity(production).await? != plan.identity
            {
                return Err(StepError::Permanent(format!(
                    "site {} or its production changed since this restore was validated; \
                     enqueue the restore again",
                    site.name
                )));
            }
            swap(
                &job.resources().db,
                production,
                &plan.tables,
                &plan.side,
                &plan.park,
                owner,
            )
            .await?;
            run.progress(
                90.0,
                "production tables restored; backing up the replaced rows",
            );
            Ok(true)
        }
    })
    .await?;
    // Production is written (the pivot): nothing undoes that any more, and the rows it replaced
    // wait in the park until `backup` keeps them (a retry resumes there; a cancel no longer
    // stops it).
    side::drop_swapped_side(job, &site, &production, &plan.side).await?;
    backup::step(
        job,
        &site,
        &production,
        (&plan.identity, &plan.park),
        &plan.backup,
        "restored",
    )
    .await?;
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
    if PathBuf::from(path).is_file() {
        backup::verify(&recorded)?;
    } else {
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
        park: format!("understudy_park_{}", plan::job_tag(job.id())),
        source_schema: recorded
            .source_schema
            .clone()
            .unwrap_or_else(|| "public".into()),
        site_id: site.id,
    })
}

/// The backup's rows into a marked side schema of production (`pg_restore --data-only`, its
/// `COPY` lines redirected from the dump's schema to the side schema), in one transaction.
async fn load_pg(
    job: &Job,
    production: &DbUrl,
    plan: &RestorePlan,
    owner: Owner<'_>,
    run: &crate::StepRun,
) -> Result<(), StepError> {
    let site = match owner {
        Owner::Job { site, .. } | Owner::Site(site) => site,
    };
    let pool = postgres::connect(production).await?;
    let fail = |e| postgres::classify(&production.display(), e);
    let found = ownership::pg_schema(&pool, &plan.side)
        .await
        .map_err(fail)?;
    ownership::check(
        &found,
        owner,
        &format!("schema {} of production", plan.side),
    )?;
    let mark = Mark::new(site, job.id(), Role::Side);
    ownership::pg_create_marked_schema(&pool, &plan.side, &mark)
        .await
        .map_err(fail)?;
    for table in &plan.tables {
        let side_table = postgres::quote_table(&plan.side, table);
        // A resumed load starts from empty side tables.
        for sql in [
            format!("DROP TABLE IF EXISTS {side_table}"),
            format!(
                "CREATE TABLE {side_table} (LIKE {} INCLUDING DEFAULTS)",
                postgres::quote_table("public", table)
            ),
        ] {
            sqlx::query(&sql).execute(&pool).await.map_err(fail)?;
        }
    }
    pool.close().await;
    let mut dump = postgres::client_program("pg_restore", production).args([
        "--data-only",
        "--no-owner",
        "--file=-",
    ]);
    for table in &plan.tables {
        dump = dump.arg(format!("--table={table}"));
    }
    let dump = dump.arg(plan.from.clone());
    let (from, to) = (plan.source_schema.clone(), plan.side.clone());
    process::pipeline(
        dump,
        postgres::load(production),
        move |input, output| {
            let mut remapped = CopySchemaRemap::new(output, &from, &to);
            std::io::copy(input, &mut remapped)
                .and_then(|_| std::io::Write::flush(&mut remapped))
                .map_err(|e| StepError::Retryable(format!("streaming to psql: {e}")))?;
            Ok(())
        },
        run.cancellation(),
    )
    .await
    .map_err(|e| stopped(e, run))?;
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
    ownership::drop_database(&job.resources().db, &side, owner).await?;
    let mark = Mark::new(site, job.id(), Role::Side);
    ownership::create_marked_database(
        &job.resources().db,
        &side,
        &production.database,
        &mark,
        owner,
    )
    .await?;
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
