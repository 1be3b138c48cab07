//! The `sandboxes` table: one row per sandbox, from the `reserve` step to its end. Passwords
//! are sealed with the [`SecretBox`] before they are stored and opened only where used.

use chrono::{DateTime, Utc};
use rand::distr::{Alphanumeric, SampleString};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::secrets::SecretBox;
use crate::StepError;

/// A sandbox as stored (secrets still sealed; `Serialize` leaves them out).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Sandbox {
    pub id: String,
    pub job_id: Uuid,
    pub owner: String,
    pub site: String,
    pub source_url: Option<String>,
    pub state: String,
    pub url: Option<String>,
    pub host_port: Option<i32>,
    pub admin_user: String,
    #[serde(skip)]
    pub admin_password_sealed: Vec<u8>,
    #[serde(skip)]
    pub db_password_sealed: Vec<u8>,
    #[serde(skip)]
    pub app_password_sealed: Option<Vec<u8>>,
    pub wordpress_image: String,
    pub mariadb_image: String,
    pub containers: Value,
    pub report: Value,
    pub created_at: DateTime<Utc>,
    pub ready_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
}

const COLUMNS: &str = "id, job_id, owner, site, source_url, state::text AS state, url, host_port, \
    admin_user, admin_password_sealed, db_password_sealed, app_password_sealed, wordpress_image, \
    mariadb_image, containers, report, created_at, ready_at, expires_at, ended_at, end_reason";

/// What the `reserve` step stores for a new sandbox.
pub struct NewSandbox<'a> {
    pub id: &'a str,
    pub job_id: Uuid,
    pub owner: &'a str,
    pub site: &'a str,
    pub source_url: Option<&'a str>,
    pub admin_user: &'a str,
    pub wordpress_image: &'a str,
    pub mariadb_image: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// A random password of `len` letters and digits (safe in SQL, shell and URLs).
pub fn generate_password(len: usize) -> SecretString {
    SecretString::from(Alphanumeric.sample_string(&mut rand::rng(), len))
}

fn db_error(e: sqlx::Error) -> StepError {
    StepError::Retryable(format!("sandbox registry in PostgreSQL: {e}"))
}

/// Inserts the sandbox with freshly generated, sealed passwords, unless the job already did
/// (a re-run keeps the first passwords). Returns the row.
pub async fn reserve(
    db: &PgPool,
    secrets: &SecretBox,
    new: NewSandbox<'_>,
) -> Result<Sandbox, StepError> {
    let admin = secrets.seal(&generate_password(24));
    let database = secrets.seal(&generate_password(24));
    sqlx::query(
        "INSERT INTO sandboxes (id, job_id, owner, site, source_url, admin_user, \
         admin_password_sealed, db_password_sealed, wordpress_image, mariadb_image, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING",
    )
    .bind(new.id)
    .bind(new.job_id)
    .bind(new.owner)
    .bind(new.site)
    .bind(new.source_url)
    .bind(new.admin_user)
    .bind(admin)
    .bind(database)
    .bind(new.wordpress_image)
    .bind(new.mariadb_image)
    .bind(new.expires_at)
    .execute(db)
    .await
    .map_err(db_error)?;
    let row = get(db, new.id)
        .await?
        .ok_or_else(|| StepError::Retryable(format!("sandbox {} vanished after insert", new.id)))?;
    if row.job_id != new.job_id {
        return Err(StepError::Permanent(format!(
            "sandbox id {} already belongs to job {}",
            new.id, row.job_id
        )));
    }
    match row.state.as_str() {
        // This job's earlier attempt failed and its compensation removed the containers: a
        // retry provisions the same sandbox again (a new expiry, a port chosen anew).
        "failed" => {
            sqlx::query(
                "UPDATE sandboxes SET state = 'provisioning', ended_at = NULL, end_reason = NULL, \
                 host_port = NULL, url = NULL, ready_at = NULL, expires_at = $3 \
                 WHERE id = $1 AND job_id = $2 AND state = 'failed'",
            )
            .bind(new.id)
            .bind(new.job_id)
            .bind(new.expires_at)
            .execute(db)
            .await
            .map_err(db_error)?;
            get(db, new.id).await?.ok_or_else(|| {
                StepError::Retryable(format!("sandbox {} vanished while revived", new.id))
            })
        }
        "destroyed" => Err(StepError::Permanent(format!(
            "sandbox {} was destroyed: it is not provisioned again; enqueue a new provision",
            new.id
        ))),
        _ => Ok(row),
    }
}

pub async fn get(db: &PgPool, id: &str) -> Result<Option<Sandbox>, StepError> {
    sqlx::query_as::<_, Sandbox>(&format!("SELECT {COLUMNS} FROM sandboxes WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
        .map_err(db_error)
}

/// Sandboxes, newest first; `live` only those not ended.
pub async fn list(db: &PgPool, live: bool) -> Result<Vec<Sandbox>, StepError> {
    let filter = if live { "WHERE ended_at IS NULL" } else { "" };
    sqlx::query_as::<_, Sandbox>(&format!(
        "SELECT {COLUMNS} FROM sandboxes {filter} ORDER BY created_at DESC"
    ))
    .fetch_all(db)
    .await
    .map_err(db_error)
}

/// Live sandboxes whose expiry is before `now`.
pub async fn expired(db: &PgPool, now: DateTime<Utc>) -> Result<Vec<Sandbox>, StepError> {
    sqlx::query_as::<_, Sandbox>(&format!(
        "SELECT {COLUMNS} FROM sandboxes WHERE ended_at IS NULL AND state = 'ready' \
         AND expires_at < $1 ORDER BY expires_at"
    ))
    .bind(now)
    .fetch_all(db)
    .await
    .map_err(db_error)
}

/// Host ports held by live sandboxes.
pub async fn ports_in_use(db: &PgPool) -> Result<Vec<u16>, StepError> {
    let ports: Vec<i32> = sqlx::query_scalar(
        "SELECT host_port FROM sandboxes WHERE ended_at IS NULL AND host_port IS NOT NULL",
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(ports.into_iter().map(|p| p as u16).collect())
}

/// Claims `port` for the sandbox; false when another live sandbox holds it.
pub async fn claim_port(db: &PgPool, id: &str, port: u16, url: &str) -> Result<bool, StepError> {
    let result = sqlx::query("UPDATE sandboxes SET host_port = $2, url = $3 WHERE id = $1")
        .bind(id)
        .bind(port as i32)
        .bind(url)
        .execute(db)
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(db_error(e)),
    }
}

pub async fn set_app_password(
    db: &PgPool,
    secrets: &SecretBox,
    id: &str,
    password: &SecretString,
) -> Result<(), StepError> {
    sqlx::query("UPDATE sandboxes SET app_password_sealed = $2 WHERE id = $1")
        .bind(id)
        .bind(secrets.seal(password))
        .execute(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Marks the sandbox ready with its containers and import report.
pub async fn mark_ready(
    db: &PgPool,
    id: &str,
    containers: &Value,
    report: &Value,
) -> Result<(), StepError> {
    sqlx::query(
        "UPDATE sandboxes SET state = 'ready', ready_at = coalesce(ready_at, now()), \
         containers = $2, report = $3 WHERE id = $1 AND ended_at IS NULL",
    )
    .bind(id)
    .bind(containers)
    .bind(report)
    .execute(db)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Ends the sandbox (`failed` or `destroyed`) with a reason; an ended one stays as it was.
pub async fn mark_ended(db: &PgPool, id: &str, state: &str, reason: &str) -> Result<(), StepError> {
    sqlx::query(
        "UPDATE sandboxes SET state = $2::sandbox_state, ended_at = now(), end_reason = $3 \
         WHERE id = $1 AND ended_at IS NULL",
    )
    .bind(id)
    .bind(state)
    .bind(reason)
    .execute(db)
    .await
    .map_err(db_error)?;
    Ok(())
}
