//! Production backups taken by promote and restore before they overwrite anything: exactly the
//! tables they replace, in one consistent dump, written aside and renamed when complete, then
//! recorded (`backups` table) with the site's registration and production's identity, so a
//! backup is only ever loaded back into the database it came from.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::mysql::{self, Credentials};
use super::{plan, postgres, process};
use crate::sites::backups::{self, Backup, BackupKind};
use crate::sites::{DbEngine, DbUrl, Site};
use crate::{Job, StepError, StepRun};

/// Where a job's backup goes and what it holds (decided in `validate`, so a resumed job writes
/// the same file).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupPlan {
    pub path: String,
    pub kind: BackupKind,
    /// Full table names.
    pub tables: Vec<String>,
}

impl BackupPlan {
    /// `<data_dir>/backups/<site>/<UTC stamp>-<job tag>[-pre-restore].{dump|sql}`.
    pub fn new(job: &Job, site: &Site, kind: BackupKind, tables: Vec<String>) -> BackupPlan {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let ext = match site.db_engine {
            DbEngine::Postgres => "dump",
            DbEngine::Mysql => "sql",
        };
        let suffix = match kind {
            BackupKind::Promote => "",
            BackupKind::PreRestore => "-pre-restore",
        };
        let path = job
            .resources()
            .data_dir
            .join("backups")
            .join(&site.name)
            .join(format!("{stamp}-{}{suffix}.{ext}", plan::job_tag(job.id())));
        BackupPlan {
            path: path.display().to_string(),
            kind,
            tables,
        }
    }
}

/// Dumps `plan.tables` of production into `plan.path` and records the backup; returns its size.
pub async fn take(
    job: &Job,
    site: &Site,
    production: &DbUrl,
    production_identity: &str,
    plan: &BackupPlan,
    run: &StepRun,
) -> Result<u64, StepError> {
    let path = PathBuf::from(&plan.path);
    dump(
        production,
        &plan.tables,
        &path,
        &job.resources().data_dir,
        run,
    )
    .await?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let record = Backup {
        id: job.id(),
        site: site.name.clone(),
        site_id: site.id,
        kind: plan.kind,
        db_engine: site.db_engine,
        path: plan.path.clone(),
        production_identity: production_identity.to_string(),
        production_display: production.display(),
        tables: plan.tables.clone(),
        bytes: bytes as i64,
        job_id: job.id(),
        created_at: chrono::Utc::now(),
        site_removed_at: None,
    };
    backups::record(&job.resources().db, &record)
        .await
        .map_err(StepError::retryable)?;
    Ok(bytes)
}

/// `pg_dump -Fc --table …` / `mysqldump --single-transaction DB TABLE…` (one snapshot).
async fn dump(
    production: &DbUrl,
    tables: &[String],
    path: &Path,
    data_dir: &Path,
    run: &StepRun,
) -> Result<(), StepError> {
    let dir = path.parent().expect("backup path has a directory");
    std::fs::create_dir_all(dir)
        .map_err(|e| StepError::Permanent(format!("cannot create {}: {e}", dir.display())))?;
    let partial = path.with_extension("partial");
    match production.engine {
        DbEngine::Postgres => {
            let mut program = postgres::client_program("pg_dump", production)
                .args(["--format=custom", "--no-owner", "--file"])
                .arg(partial.display().to_string());
            for table in tables {
                program = program.arg(format!(
                    "--table={}",
                    postgres::quote_table("public", table)
                ));
            }
            let program = program.args(["--dbname", &production.database]);
            process::run(program, run.cancellation())
                .await
                .map_err(|e| super::copy_pg::stopped(e, run))?;
        }
        DbEngine::Mysql => {
            let credentials = Credentials::write(&data_dir.join("run"), production)?;
            let program = mysql::backup(&credentials, &production.database, tables, &partial);
            process::run(program, run.cancellation())
                .await
                .map_err(|e| super::copy_pg::stopped(e, run))?;
        }
    }
    std::fs::rename(&partial, path)
        .map_err(|e| StepError::Permanent(format!("finishing backup {}: {e}", path.display())))
}
