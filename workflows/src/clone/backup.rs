//! Production backups of promote and restore: exactly the rows they replaced, captured by the
//! swap itself (into a marked park schema/database, in the same transaction or `RENAME TABLE`
//! that replaced them, so nothing written to production before the swap escapes the backup),
//! dumped, written aside and renamed when complete, then recorded (`backups` table) with the
//! site's registration, production's identity and the file's SHA-256, so a backup is only ever
//! loaded back, unchanged, into the database it came from.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::mysql::{self, Credentials};
use super::ownership::{self, Owner};
use super::{plan, postgres, process, side};
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

/// Dumps the rows a swap replaced — kept in `park` (this job's schema on PostgreSQL, database
/// on MySQL) — into `plan.path`, records the backup, then drops `park`; returns the file's size.
/// Repeatable: a backup already recorded is not taken again.
pub async fn take(
    job: &Job,
    site: &Site,
    production: &DbUrl,
    production_identity: &str,
    park: &str,
    plan: &BackupPlan,
    run: &StepRun,
) -> Result<u64, StepError> {
    let db = &job.resources().db;
    let id = uuid::Uuid::new_v5(&job.id(), plan.path.as_bytes());
    let owner = Owner::Job {
        site: &site.name,
        job: job.id(),
    };
    if let Some(done) = backups::by_id(db, id).await.map_err(StepError::retryable)? {
        side::drop_park(db, production, park, owner).await?;
        return Ok(done.bytes as u64);
    }
    let kept = match production.engine {
        DbEngine::Postgres => {
            let pool = postgres::connect(production).await?;
            let found = ownership::pg_schema(&pool, park)
                .await
                .map_err(|e| postgres::classify(&production.display(), e));
            pool.close().await;
            found?
        }
        DbEngine::Mysql => ownership::database(db, &production.with_database(park)).await?,
    };
    if !ownership::check(&kept, owner, &format!("{park} beside production"))? {
        return Err(StepError::Permanent(format!(
            "the production rows this job replaced were kept in {park} beside {}, which is gone \
             before they were backed up",
            production.display()
        )));
    }
    let path = PathBuf::from(&plan.path);
    let safe = |e: StepError| {
        let say = |m: &str| {
            format!(
                "{m} — production was already written; the rows it replaced are safe in {park} \
                 beside {}: fix the cause, then `understudy retry {}` backs them up",
                production.display(),
                job.id()
            )
        };
        match e {
            StepError::Permanent(m) => StepError::Permanent(say(&m)),
            StepError::Exhausted { tries, last } => StepError::Exhausted {
                tries,
                last: say(&last),
            },
            other => other,
        }
    };
    let data_dir = &job.resources().data_dir;
    dump(production, park, &plan.tables, &path, data_dir, run)
        .await
        .map_err(safe)?;
    let (bytes, sha256) = digest(&path).map_err(safe)?;
    let record = Backup {
        // One record per backup file: a resumed step records it once, a re-validated retry anew.
        id,
        site: site.name.clone(),
        site_id: site.id,
        kind: plan.kind,
        db_engine: site.db_engine,
        path: plan.path.clone(),
        production_identity: production_identity.to_string(),
        production_display: production.display(),
        tables: plan.tables.clone(),
        source_schema: (production.engine == DbEngine::Postgres).then(|| park.to_string()),
        bytes: bytes as i64,
        sha256,
        job_id: job.id(),
        created_at: chrono::Utc::now(),
        site_removed_at: None,
    };
    backups::record(db, &record)
        .await
        .map_err(StepError::retryable)?;
    side::drop_park(db, production, park, owner).await?;
    Ok(bytes)
}

/// Size and SHA-256 (hex) of a file.
fn digest(path: &Path) -> Result<(u64, String), StepError> {
    use sha2::Digest;
    let fail =
        |e: std::io::Error| StepError::Permanent(format!("reading backup {}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(fail)?;
    let mut hasher = sha2::Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher).map_err(fail)?;
    let hash = hasher.finalize();
    Ok((bytes, hash.iter().map(|b| format!("{b:02x}")).collect()))
}

/// Refuses a backup file that is not, byte for byte, the one recorded (edited, replaced by
/// another dump, truncated): a restore loads only what Understudy itself wrote.
pub fn verify(recorded: &Backup) -> Result<(), StepError> {
    let path = Path::new(&recorded.path);
    let (bytes, sha256) = digest(path)?;
    if sha256 != recorded.sha256 {
        return Err(StepError::Permanent(format!(
            "the backup file {} is not the one recorded ({bytes} bytes now, {} recorded; its \
             SHA-256 differs): it was changed or replaced since {}, so it is not loaded",
            path.display(),
            recorded.bytes,
            recorded.created_at.format("%Y-%m-%d %H:%M UTC")
        )));
    }
    Ok(())
}

/// The `backup` step of promote and restore: [`take`], then `done` as the last progress message.
pub async fn step(
    job: &Job,
    site: &Site,
    production: &DbUrl,
    (identity, park): (&str, &str),
    plan: &BackupPlan,
    done: &str,
) -> Result<u64, StepError> {
    job.step("backup", |run| async move {
        let bytes = take(job, site, production, identity, park, plan, &run).await?;
        run.progress(
            100.0,
            &format!("{done}; the replaced rows backed up ({bytes} bytes)"),
        );
        Ok(bytes)
    })
    .await
}

/// `pg_dump -Fc --table <park>.…` / `mysqldump --single-transaction <park> TABLE…`.
async fn dump(
    production: &DbUrl,
    park: &str,
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
                program = program.arg(format!("--table={}", postgres::quote_table(park, table)));
            }
            let program = program.args(["--dbname", &production.database]);
            process::run(program, run.cancellation())
                .await
                .map_err(|e| super::copy_pg::stopped(e, run))?;
        }
        DbEngine::Mysql => {
            let credentials = Credentials::write(&data_dir.join("run"), production)?;
            let program = mysql::backup(&credentials, park, tables, &partial);
            process::run(program, run.cancellation())
                .await
                .map_err(|e| super::copy_pg::stopped(e, run))?;
        }
    }
    std::fs::rename(&partial, path)
        .map_err(|e| StepError::Permanent(format!("finishing backup {}: {e}", path.display())))
}
