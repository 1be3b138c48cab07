//! The `backups` table: each backup a promote or a restore took of production before it
//! overwrote anything, with exactly the tables it holds and the identity of the database it
//! came from. A backup belongs to one registration of a site ([`super::Site::id`]): it is never
//! listed for, nor loaded into, a site registered again under the same name.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::DbEngine;

/// Why the backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "backup_kind", rename_all = "kebab-case")]
#[serde(rename_all = "kebab-case")]
pub enum BackupKind {
    /// Before a promote replaced these tables.
    Promote,
    /// Before a restore replaced these tables (so a restore can be undone too).
    PreRestore,
}

/// One recorded backup.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Backup {
    pub id: Uuid,
    pub site: String,
    pub site_id: Uuid,
    pub kind: BackupKind,
    pub db_engine: DbEngine,
    pub path: String,
    pub production_identity: String,
    pub production_display: String,
    pub tables: Vec<String>,
    /// PostgreSQL: the schema the dump's tables are in (loaded back into `public`).
    pub source_schema: Option<String>,
    pub bytes: i64,
    /// SHA-256 (hex) of the file as written.
    pub sha256: String,
    pub job_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub site_removed_at: Option<DateTime<Utc>>,
}

/// Records a finished backup (idempotent on the id: a resumed step records it once).
pub async fn record(pool: &PgPool, backup: &Backup) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO backups (id, site, site_id, kind, db_engine, path, production_identity, \
             production_display, tables, bytes, sha256, job_id, source_schema) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING",
    )
    .bind(backup.id)
    .bind(&backup.site)
    .bind(backup.site_id)
    .bind(backup.kind)
    .bind(backup.db_engine)
    .bind(&backup.path)
    .bind(&backup.production_identity)
    .bind(&backup.production_display)
    .bind(&backup.tables)
    .bind(backup.bytes)
    .bind(&backup.sha256)
    .bind(backup.job_id)
    .bind(&backup.source_schema)
    .execute(pool)
    .await?;
    Ok(())
}

/// The backups of one registration of a site, newest first.
pub async fn of_site(pool: &PgPool, site_id: Uuid) -> Result<Vec<Backup>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM backups WHERE site_id = $1 ORDER BY created_at DESC, id DESC")
        .bind(site_id)
        .fetch_all(pool)
        .await
}

/// Backups kept from removed registrations of the site name `site`.
pub async fn of_removed(pool: &PgPool, site: &str) -> Result<Vec<Backup>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM backups WHERE site = $1 AND site_removed_at IS NOT NULL \
         ORDER BY created_at DESC, id DESC",
    )
    .bind(site)
    .fetch_all(pool)
    .await
}

/// The backup with this id.
pub async fn by_id(pool: &PgPool, id: Uuid) -> Result<Option<Backup>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM backups WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The backup stored at `path`, whichever site it belongs to.
pub async fn by_path(pool: &PgPool, path: &str) -> Result<Option<Backup>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM backups WHERE path = $1")
        .bind(path)
        .fetch_optional(pool)
        .await
}

/// Marks a registration's backups as kept from a removed site (listed with `--removed`, never
/// restorable into another registration); their files get `paths` (moved aside).
pub async fn keep_removed(
    pool: &PgPool,
    site_id: Uuid,
    moved: &[(String, String)],
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    for (from, to) in moved {
        sqlx::query("UPDATE backups SET path = $2 WHERE site_id = $1 AND path = $3")
            .bind(site_id)
            .bind(to)
            .bind(from)
            .execute(&mut *tx)
            .await?;
    }
    let kept = sqlx::query(
        "UPDATE backups SET site_removed_at = now() WHERE site_id = $1 AND site_removed_at IS NULL",
    )
    .bind(site_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(kept)
}

/// Forgets a registration's backups (their files are deleted by the caller).
pub async fn delete_of_site(pool: &PgPool, site_id: Uuid) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM backups WHERE site_id = $1")
        .bind(site_id)
        .execute(pool)
        .await?
        .rows_affected())
}
