//! PostgreSQL connections and migrations.

use secrecy::ExposeSecret;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

use crate::config::Settings;

/// The forward-only migrations in `migrations/`, embedded in every binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database_url is not a valid PostgreSQL URL: {0}")]
    BadUrl(String),
    #[error(
        "cannot reach PostgreSQL at {target}: {source} (start it with scripts/services-up.sh, or \
         set UNDERSTUDY_DATABASE_URL)"
    )]
    Unreachable {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    /// The server answered and refused the login (password, user, database): fixing the URL,
    /// not starting anything, is what helps.
    #[error(
        "PostgreSQL at {target} refused the connection: {reason} (the server is up; fix the user, \
         password or database name in database_url / UNDERSTUDY_DATABASE_URL)"
    )]
    Refused { target: String, reason: String },
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// `host:port/database` of the configured URL, never the password: for messages and logs.
pub fn describe(settings: &Settings) -> String {
    match PgConnectOptions::from_str(settings.database_url.expose_secret()) {
        Ok(o) => format!(
            "{}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or("postgres")
        ),
        Err(_) => "<invalid database_url>".to_string(),
    }
}

/// The same PostgreSQL URL with another database name (for scratch and test databases).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// Opens a pool; fails fast (a few seconds) when the server is not there.
pub async fn connect(settings: &Settings, max_connections: u32) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(settings.database_url.expose_secret())
        .map_err(|e| DbError::BadUrl(e.to_string()))?
        .application_name("understudy");
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|source| classify(describe(settings), source))
}

/// A refused login (SQLSTATE class 28, or 3D000 no such database) is not an unreachable server.
fn classify(target: String, source: sqlx::Error) -> DbError {
    if let sqlx::Error::Database(e) = &source {
        let code = e.code().unwrap_or_default();
        if code.starts_with("28") || code == "3D000" {
            return DbError::Refused {
                target,
                reason: e.message().to_string(),
            };
        }
    }
    DbError::Unreachable { target, source }
}

/// Applies pending migrations (idempotent; concurrent callers serialize on an advisory lock).
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// True when every embedded migration has been applied (for readiness checks).
pub async fn migrations_current(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await?;
    Ok(applied as usize >= MIGRATOR.iter().count())
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            super::with_database("postgres://u:p@h:5432/app?sslmode=disable", "app_bench"),
            "postgres://u:p@h:5432/app_bench?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://h", "x"), "postgres://h/x");
    }
}
