//! PostgreSQL side of a clone: catalog queries, databases, and the `pg_dump | rewrite | psql`
//! commands. Identifiers are validated (database names) or quoted (tables), never interpolated raw.

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::time::Duration;

use super::process::Program;
use crate::sites::DbUrl;
use crate::StepError;

/// Connection options for a site database.
pub fn options(url: &DbUrl) -> PgConnectOptions {
    PgConnectOptions::new()
        .host(&url.host)
        .port(url.port)
        .username(&url.user)
        .password(url.password.expose_secret())
        .database(&url.database)
        .application_name("understudy-clone")
}

/// A small pool to one database; connection failures are classified for the retry policy.
pub async fn connect(url: &DbUrl) -> Result<PgPool, StepError> {
    PgPoolOptions::new()
        .max_connections(3)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options(url))
        .await
        .map_err(|e| classify(&url.display(), e))
}

/// Maps a database error to retryable (connection trouble) or permanent (refused on merit).
/// A pool to a database a job writes (its incoming copy) and whether it has lz4, opened by the
/// first step that needs it: a resumed job whose copy steps all completed never connects — the
/// database may be gone by then, renamed into place by the swap.
pub struct Lazy {
    url: DbUrl,
    cell: tokio::sync::OnceCell<(PgPool, bool)>,
}

impl Lazy {
    pub fn new(url: &DbUrl) -> Lazy {
        Lazy {
            url: url.clone(),
            cell: tokio::sync::OnceCell::new(),
        }
    }

    /// The pool and lz4 support, connecting on first use.
    pub async fn get(&self) -> Result<(&PgPool, bool), StepError> {
        let (pool, lz4) = self
            .cell
            .get_or_try_init(|| async {
                let pool = connect(&self.url).await?;
                let lz4 = has_lz4(&pool)
                    .await
                    .map_err(|e| classify(&self.url.display(), e))?;
                Ok::<_, StepError>((pool, lz4))
            })
            .await?;
        Ok((pool, *lz4))
    }

    pub async fn close(&self) {
        if let Some((pool, _)) = self.cell.get() {
            pool.close().await;
        }
    }
}

pub fn classify(target: &str, error: sqlx::Error) -> StepError {
    let message = format!("PostgreSQL {target}: {error}");
    match &error {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some(code) if code.starts_with("08") || code.starts_with("57") || code == "53300" => {
                StepError::Retryable(message)
            }
            _ => StepError::Permanent(message),
        },
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => {
            StepError::Retryable(message)
        }
        _ => StepError::Permanent(message),
    }
}

/// `"schema"."table"`, quoted for SQL and for pg_dump's `--table` pattern.
pub fn quote_table(schema: &str, table: &str) -> String {
    format!(
        "\"{}\".\"{}\"",
        schema.replace('"', "\"\""),
        table.replace('"', "\"\"")
    )
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// User tables, largest first (so parallel copies finish together), as (schema, table, bytes).
pub async fn tables(pool: &PgPool) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT n.nspname::text, c.relname::text, pg_total_relation_size(c.oid) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' \
         ORDER BY 3 DESC, 1, 2",
    )
    .fetch_all(pool)
    .await
}

/// Sequences owned by a table column (`serial`, identity), as `((schema, sequence), (schema,
/// table))`: a table left out of a copy leaves its sequences out too.
pub async fn owned_sequences(
    pool: &PgPool,
) -> Result<Vec<((String, String), (String, String))>, sqlx::Error> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT sn.nspname::text, s.relname::text, tn.nspname::text, t.relname::text \
         FROM pg_depend d \
         JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
         JOIN pg_namespace sn ON sn.oid = s.relnamespace \
         JOIN pg_class t ON t.oid = d.refobjid \
         JOIN pg_namespace tn ON tn.oid = t.relnamespace \
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass \
           AND d.deptype IN ('a', 'i')",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(ss, sn, ts, tn)| ((ss, sn), (ts, tn)))
        .collect())
}

pub async fn database_exists(server: &PgPool, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(server)
        .await
}

/// A pool on the same server for administrative statements (CREATE/DROP/ALTER DATABASE).
pub async fn admin(url: &DbUrl) -> Result<PgPool, StepError> {
    for maintenance in ["postgres", "template1"] {
        match connect(&url.with_database(maintenance)).await {
            Ok(pool) => return Ok(pool),
            Err(StepError::Permanent(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    // No maintenance database reachable: the target database itself must exist.
    connect(url).await
}

pub async fn create_database(server: &PgPool, name: &str) -> Result<(), sqlx::Error> {
    if !database_exists(server, name).await? {
        sqlx::query(&format!("CREATE DATABASE {}", quote_ident(name)))
            .execute(server)
            .await?;
    }
    Ok(())
}

/// Ends the client sessions connected to database `name` (not our own). Background workers
/// are left alone: PostgreSQL stops an autovacuum worker itself when the database is dropped,
/// renamed or used as a template, and a non-superuser may not signal one (`WITH (FORCE)` fails
/// with "must be a superuser to terminate superuser process" while autovacuum runs there).
async fn end_sessions(server: &PgPool, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
    )
    .bind(name)
    .execute(server)
    .await?;
    Ok(())
}

/// The client sessions connected to database `name` (not our own), each as its application
/// name (or `user@address` when it gave none), to say who keeps a template busy.
pub async fn client_sessions(server: &PgPool, name: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(nullif(application_name, ''), usename || '@' || coalesce(host(client_addr), 'local')) \
         FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() \
         AND backend_type = 'client backend' ORDER BY backend_start",
    )
    .bind(name)
    .fetch_all(server)
    .await
}

/// Whether `error` is PostgreSQL's "database is being accessed by other users".
fn in_use(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("55006"))
}

/// Drops a database (staging and scratch copies only), ending its sessions first; a session
/// that connects meanwhile is ended on the next of a few attempts.
pub async fn drop_database(server: &PgPool, name: &str) -> Result<(), sqlx::Error> {
    let mut attempt = 0;
    loop {
        end_sessions(server, name).await?;
        match sqlx::query(&format!("DROP DATABASE IF EXISTS {}", quote_ident(name)))
            .execute(server)
            .await
        {
            Err(e) if in_use(&e) && attempt < 4 => attempt += 1,
            other => return other.map(|_| ()),
        }
    }
}

/// Renames a database, disconnecting its sessions first (staging only).
pub async fn rename_database(server: &PgPool, from: &str, to: &str) -> Result<(), sqlx::Error> {
    let mut attempt = 0;
    loop {
        end_sessions(server, from).await?;
        match sqlx::query(&format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(from),
            quote_ident(to)
        ))
        .execute(server)
        .await
        {
            Err(e) if in_use(&e) && attempt < 4 => attempt += 1,
            other => return other.map(|_| ()),
        }
    }
}

/// A PostgreSQL client program with connection arguments (password through the environment).
pub fn client_program(name: &'static str, url: &DbUrl) -> Program {
    Program::new(name)
        .args([
            "--host",
            &url.host,
            "--port",
            &url.port.to_string(),
            "--username",
            &url.user,
        ])
        .arg("--no-password")
        .secret_env("PGPASSWORD", url.password.clone())
}

/// `pg_dump` of one section of the schema (`pre-data` or `post-data`), without the tables of
/// `excluded` (`(schema, table)`; matched exactly: double-quoted patterns are literal).
pub fn dump_schema(source: &DbUrl, section: &str, excluded: &[(String, String)]) -> Program {
    let mut program = client_program("pg_dump", source)
        .args(["--schema-only", "--no-owner", "--no-privileges"])
        .arg(format!("--section={section}"));
    for (schema, table) in excluded {
        program = program.arg(format!("--exclude-table={}", quote_table(schema, table)));
    }
    program.args(["--dbname", &source.database])
}

/// `pg_dump` of one table's rows (COPY format), inside an exported snapshot when given.
pub fn dump_table(source: &DbUrl, qualified: &str, snapshot: Option<&str>) -> Program {
    let mut program = client_program("pg_dump", source)
        .args(["--data-only", "--no-owner", "--no-privileges"])
        .arg(format!("--table={qualified}"));
    if let Some(snapshot) = snapshot {
        program = program.arg(format!("--snapshot={snapshot}"));
    }
    program.args(["--dbname", &source.database])
}

/// `psql` loading a stream into `target`, all or nothing.
pub fn load(target: &DbUrl) -> Program {
    client_program("psql", target)
        .args(["--quiet", "--no-psqlrc", "--single-transaction"])
        .args(["--set", "ON_ERROR_STOP=1"])
        .args(["--dbname", &target.database])
}

/// Session settings for the bulk loads of a copy (`PGOPTIONS` of `psql`): no wait for the WAL
/// flush at commit (a crash mid-copy re-runs the table anyway), more memory for index builds,
/// and, when the server has it, LZ4 for newly TOASTed values (much cheaper than pglz; the
/// staging copy need not compress like production).
pub fn bulk_load_options(lz4: bool) -> String {
    let mut options = String::from("-c synchronous_commit=off -c maintenance_work_mem=256MB");
    if lz4 {
        options.push_str(" -c default_toast_compression=lz4");
    }
    options
}

/// `psql` loading a stream into `target` in one transaction, with [`bulk_load_options`].
pub fn bulk_load(target: &DbUrl, lz4: bool) -> Program {
    load(target).secret_env("PGOPTIONS", bulk_load_options(lz4).into())
}

/// Whether the server can compress TOAST with LZ4 (PostgreSQL ≥ 14 built `--with-lz4`).
pub async fn has_lz4(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let has: Option<bool> = sqlx::query_scalar(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'",
    )
    .fetch_optional(pool)
    .await?;
    Ok(has.unwrap_or(false))
}

/// Whether `qualified` is a partitioned table (COPY FREEZE cannot load those).
pub async fn is_partitioned(pool: &PgPool, qualified: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT relkind = 'p' FROM pg_class WHERE oid = $1::regclass")
        .bind(qualified)
        .fetch_one(pool)
        .await
}

/// Copies every sequence's position from source to target (a per-table data dump omits them).
pub async fn copy_sequences(
    source: &PgPool,
    target: &PgPool,
    excluded: &[(String, String)],
) -> Result<usize, sqlx::Error> {
    let sequences: Vec<(String, String, Option<i64>, bool)> = sqlx::query_as(
        "SELECT schemaname::text, sequencename::text, last_value, last_value IS NOT NULL FROM pg_sequences \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(source)
    .await?;
    let sequences: Vec<_> = sequences
        .into_iter()
        .filter(|(schema, name, _, _)| !excluded.iter().any(|e| (&e.0, &e.1) == (schema, name)))
        .collect();
    for (schema, name, last, called) in &sequences {
        if let Some(last) = last {
            sqlx::query("SELECT setval($1::regclass, $2, $3)")
                .bind(quote_table(schema, name))
                .bind(last)
                .bind(called)
                .execute(target)
                .await?;
        }
    }
    Ok(sequences.len())
}

/// Empties a table before its copy is (re)loaded, so a resumed copy never duplicates rows.
pub async fn truncate(target: &PgPool, qualified: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("TRUNCATE {qualified}"))
        .execute(target)
        .await?;
    Ok(())
}

/// Moves every sequence owned by a column to at least the column's maximum (after rows were
/// replaced by a promote, the sequence must not hand out ids that exist), never backwards (ids
/// handed out before stay unused: rows in a backup may carry them).
pub async fn advance_sequences(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    let owned: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT s.oid::regclass::text, t.oid::regclass::text, quote_ident(a.attname) \
         FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.deptype = 'a' \
         JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
         WHERE s.relkind = 'S'",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (sequence, table, column) in owned {
        sqlx::query(&format!(
            "SELECT setval($1::regclass, GREATEST((SELECT COALESCE(max({column}), 0) FROM {table}), \
                    (SELECT last_value FROM {sequence}), 1))"
        ))
        .bind(&sequence)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
