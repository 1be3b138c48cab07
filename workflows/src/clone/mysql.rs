//! MySQL / MariaDB side of a clone: catalog queries, databases, and the
//! `mysqldump | rewrite | mysql` commands. Credentials go through a private defaults file
//! (mode 0600, removed after use), never argv or the environment of other processes.

use secrecy::ExposeSecret;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::MySqlPool;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::Program;
use crate::sites::DbUrl;
use crate::StepError;

pub fn options(url: &DbUrl) -> MySqlConnectOptions {
    MySqlConnectOptions::new()
        .host(&url.host)
        .port(url.port)
        .username(&url.user)
        .password(url.password.expose_secret())
        .database(&url.database)
        .charset("utf8mb4")
}

pub async fn connect(url: &DbUrl) -> Result<MySqlPool, StepError> {
    MySqlPoolOptions::new()
        .max_connections(3)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options(url))
        .await
        .map_err(|e| classify(&url.display(), e))
}

/// A pool without a default database, for CREATE/DROP DATABASE and cross-database RENAME.
pub async fn admin(url: &DbUrl) -> Result<MySqlPool, StepError> {
    let options = MySqlConnectOptions::new()
        .host(&url.host)
        .port(url.port)
        .username(&url.user)
        .password(url.password.expose_secret())
        .charset("utf8mb4");
    MySqlPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|e| classify(&url.display(), e))
}

pub fn classify(target: &str, error: sqlx::Error) -> StepError {
    let message = format!("MySQL {target}: {error}");
    match &error {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // Too many connections, server shutdown, lock wait timeout, deadlock.
            Some("08S01" | "HY000" | "40001") => StepError::Retryable(message),
            _ => StepError::Permanent(message),
        },
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => {
            StepError::Retryable(message)
        }
        _ => StepError::Permanent(message),
    }
}

pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Base tables, largest first, as (table, bytes); never the ownership marker table.
pub async fn tables(pool: &MySqlPool, database: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(COALESCE(data_length + index_length, 0) AS SIGNED) \
         FROM information_schema.tables \
         WHERE table_schema = ? AND table_type = 'BASE TABLE' AND table_name <> ? ORDER BY 2 DESC, 1",
    )
    .bind(database)
    .bind(super::ownership::MYSQL_TABLE)
    .fetch_all(pool)
    .await
}

pub async fn database_exists(server: &MySqlPool, name: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
    )
    .bind(name)
    .fetch_one(server)
    .await?;
    Ok(n > 0)
}

/// Creates `name` with the character set and collation of `like`.
pub async fn create_database(
    server: &MySqlPool,
    name: &str,
    like: &str,
) -> Result<(), sqlx::Error> {
    let (charset, collation): (String, String) = sqlx::query_as(
        "SELECT CAST(default_character_set_name AS CHAR), CAST(default_collation_name AS CHAR) \
         FROM information_schema.schemata WHERE schema_name = ?",
    )
    .bind(like)
    .fetch_one(server)
    .await?;
    let safe = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let (charset, collation) = if safe(&charset) && safe(&collation) {
        (charset, collation)
    } else {
        ("utf8mb4".into(), "utf8mb4_unicode_ci".into())
    };
    sqlx::query(&format!(
        "CREATE DATABASE IF NOT EXISTS {} CHARACTER SET {charset} COLLATE {collation}",
        quote_ident(name)
    ))
    .execute(server)
    .await?;
    Ok(())
}

pub async fn drop_database(server: &MySqlPool, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("DROP DATABASE IF EXISTS {}", quote_ident(name)))
        .execute(server)
        .await?;
    Ok(())
}

/// Moves every table of `from` into `to` in one atomic `RENAME TABLE` (MySQL has no RENAME
/// DATABASE). With `park`, `to`'s current tables first move to `park` in the same statement.
/// Ownership marker tables stay where they are.
pub async fn move_tables(
    server: &MySqlPool,
    from: &str,
    to: &str,
    park: Option<&str>,
) -> Result<(), sqlx::Error> {
    let names = |db: &str| {
        sqlx::query_scalar::<_, String>(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = ? AND table_name <> ?",
        )
        .bind(db.to_string())
        .bind(super::ownership::MYSQL_TABLE)
        .fetch_all(server)
    };
    let incoming = names(from).await?;
    let mut pairs = Vec::new();
    if let Some(park) = park {
        for table in names(to).await? {
            pairs.push(format!(
                "{}.{} TO {}.{}",
                quote_ident(to),
                quote_ident(&table),
                quote_ident(park),
                quote_ident(&table)
            ));
        }
    }
    for table in &incoming {
        pairs.push(format!(
            "{}.{} TO {}.{}",
            quote_ident(from),
            quote_ident(table),
            quote_ident(to),
            quote_ident(table)
        ));
    }
    if !pairs.is_empty() {
        sqlx::query(&format!("RENAME TABLE {}", pairs.join(", ")))
            .execute(server)
            .await?;
    }
    Ok(())
}

/// A `[client]` defaults file with the credentials, readable by us only; removed on drop.
pub struct Credentials {
    path: PathBuf,
}

impl Credentials {
    pub fn write(dir: &Path, url: &DbUrl) -> Result<Credentials, StepError> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(dir).map_err(StepError::permanent)?;
        let path = dir.join(format!("my-{}.cnf", uuid::Uuid::new_v4().simple()));
        let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let body = format!(
            "[client]\nuser=\"{}\"\npassword=\"{}\"\nhost=\"{}\"\nport={}\n",
            escape(&url.user),
            escape(url.password.expose_secret()),
            escape(&url.host),
            url.port
        );
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(body.as_bytes()))
            .map_err(|e| {
                StepError::Permanent(format!(
                    "cannot write a credentials file in {}: {e}",
                    dir.display()
                ))
            })?;
        Ok(Credentials { path })
    }

    pub fn arg(&self) -> String {
        format!("--defaults-extra-file={}", self.path.display())
    }
}

impl Drop for Credentials {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `mysqldump` of one table: DROP + CREATE + extended INSERTs, consistent, blobs as hex.
pub fn dump_table(credentials: &Credentials, database: &str, table: &str) -> Program {
    Program::new("mysqldump")
        .arg(credentials.arg())
        .args([
            "--single-transaction",
            "--quick",
            "--hex-blob",
            "--skip-lock-tables",
            "--skip-triggers",
            "--default-character-set=utf8mb4",
            "--no-tablespaces",
        ])
        .args([database, table])
}

/// `mysqldump` of `tables` of `database` to stdout in one transaction: every table as it was
/// at one moment, each dropped and recreated by the stream.
pub fn dump_tables(credentials: &Credentials, database: &str, tables: &[String]) -> Program {
    Program::new("mysqldump")
        .arg(credentials.arg())
        .args([
            "--single-transaction",
            "--quick",
            "--hex-blob",
            "--skip-lock-tables",
            "--skip-triggers",
            "--default-character-set=utf8mb4",
            "--no-tablespaces",
        ])
        .arg(database)
        .args(tables.iter().cloned())
}

/// `mysql` loading a stream into `database`.
pub fn load(credentials: &Credentials, database: &str) -> Program {
    Program::new("mysql").arg(credentials.arg()).args([
        "--default-character-set=utf8mb4",
        "--batch",
        database,
    ])
}

/// `mysqldump` of `tables` of `database` into `file`, in one consistent snapshot.
pub fn backup(
    credentials: &Credentials,
    database: &str,
    tables: &[String],
    file: &Path,
) -> Program {
    Program::new("mysqldump")
        .arg(credentials.arg())
        .args([
            "--single-transaction",
            "--quick",
            "--hex-blob",
            "--skip-triggers",
            "--default-character-set=utf8mb4",
            "--no-tablespaces",
        ])
        .arg(format!("--result-file={}", file.display()))
        .arg(database)
        .args(tables.iter().cloned())
}
