//! Ownership marks: Understudy drops, renames or overwrites only the databases, schemas and
//! directories it created and marked, and checks the mark right before it does.
//!
//! A [`Mark`] says which site an object belongs to, which job made it and what it is for. It is
//! written as soon as the object exists:
//! - PostgreSQL database: `COMMENT ON DATABASE` (kept across `ALTER DATABASE … RENAME`, not
//!   copied by `CREATE DATABASE … TEMPLATE`); promote's side schema: `COMMENT ON SCHEMA`;
//! - MySQL/MariaDB database: a one-row table [`MYSQL_TABLE`] (MySQL has no database comments);
//!   it never moves with the data tables and is never copied or promoted;
//! - directory: a file [`DIR_FILE`] inside it (it moves with the directory when swapped).
//!
//! Before a destructive operation the caller says whose the object must be ([`Owner`]): an
//! object that exists without a mark, or with another site's or another job's mark, is refused
//! with a permanent error naming it. So a mistyped or hostile staging setting can at worst make
//! a job fail, never drop another site's or production's data.

use serde::{Deserialize, Serialize};
use sqlx::{MySqlPool, PgPool};
use std::path::Path;
use uuid::Uuid;

use super::{mysql, postgres};
use crate::sites::{DbEngine, DbUrl};
use crate::StepError;

/// What a marked object is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A copy being built by one job, swapped in at its end.
    Incoming,
    /// A site's live staging copy.
    Staging,
    /// The previous staging copy (or production's replaced tables), dropped after a swap.
    Park,
    /// Rows loaded aside on production's server before a promote or restore swaps them in.
    Side,
}

/// Who made an object and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub site: String,
    pub job: Uuid,
    pub role: Role,
}

impl Mark {
    pub fn new(site: &str, job: Uuid, role: Role) -> Mark {
        Mark {
            site: site.to_string(),
            job,
            role,
        }
    }

    fn encode(&self) -> String {
        format!(
            "{PG_PREFIX}{}",
            serde_json::to_string(self).expect("a mark serializes")
        )
    }

    fn decode(text: &str) -> Option<Mark> {
        serde_json::from_str(text.strip_prefix(PG_PREFIX)?).ok()
    }
}

/// Whose an object must be for a destructive operation to go ahead.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    /// Made by this very job for this site (an incoming copy, a side schema).
    Job { site: &'a str, job: Uuid },
    /// Any of this site's staging objects, whichever job made it.
    Site(&'a str),
}

/// What is found where an object is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Absent,
    /// Exists but carries no mark of ours: never touched.
    Unmarked,
    /// Exists without its mark, but `job` recorded that it was about to create it for `site`
    /// (a crash between `CREATE` and the mark): that job's and site's.
    Intended {
        site: String,
        job: Uuid,
    },
    Marked(Mark),
}

const PG_PREFIX: &str = "understudy-mark ";
/// The MySQL/MariaDB marker table's name.
pub const MYSQL_TABLE: &str = "understudy_mark";
/// The marker file in a directory Understudy made.
pub const DIR_FILE: &str = ".understudy-mark.json";

/// Ok(true) when `presence` is an object `owner` may destroy, Ok(false) when there is nothing,
/// and a permanent error saying why not otherwise.
pub fn check(presence: &Presence, owner: Owner<'_>, what: &str) -> Result<bool, StepError> {
    let site = match owner {
        Owner::Job { site, .. } | Owner::Site(site) => site,
    };
    match presence {
        Presence::Absent => Ok(false),
        Presence::Unmarked => Err(StepError::Permanent(format!(
            "refusing to remove or overwrite {what}: it exists but Understudy did not make it \
             (it carries no ownership mark, or it is a symbolic link, which is never followed), \
             so it may hold production or another site's data. \
             Check the site's staging settings (`understudy site show {site}`); if it really is \
             a leftover copy, remove it by hand"
        ))),
        Presence::Intended { site: s, job: j } => {
            let mark = Mark::new(s, *j, Role::Incoming);
            check(&Presence::Marked(mark), owner, what)
        }
        Presence::Marked(mark) if mark.site != site => Err(StepError::Permanent(format!(
            "refusing to remove or overwrite {what}: it belongs to site {:?} (made by job {}), \
             not to site {site:?}: two sites must not share a staging database or directory",
            mark.site, mark.job
        ))),
        Presence::Marked(mark) => match owner {
            Owner::Job { job, .. } if mark.job != job => Err(StepError::Permanent(format!(
                "refusing to remove {what}: it was made by job {}, not by this job {job}",
                mark.job
            ))),
            _ => Ok(true),
        },
    }
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn pg_quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// PostgreSQL: the mark of database `name`.
pub async fn pg_database(server: &PgPool, name: &str) -> Result<Presence, sqlx::Error> {
    let row: Option<Option<String>> = sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
    )
    .bind(name)
    .fetch_optional(server)
    .await?;
    Ok(presence(row))
}

fn presence(row: Option<Option<String>>) -> Presence {
    match row {
        None => Presence::Absent,
        Some(comment) => comment
            .as_deref()
            .and_then(Mark::decode)
            .map_or(Presence::Unmarked, Presence::Marked),
    }
}

/// PostgreSQL: marks database `name` (which this role owns: it created it).
pub async fn pg_mark_database(server: &PgPool, name: &str, mark: &Mark) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "COMMENT ON DATABASE {} IS {}",
        pg_quote(name),
        quote_literal(&mark.encode())
    ))
    .execute(server)
    .await?;
    Ok(())
}

/// PostgreSQL: the mark of schema `name` in the database `pool` is connected to.
pub async fn pg_schema<'e, E>(executor: E, name: &str) -> Result<Presence, sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    let row: Option<Option<String>> = sqlx::query_scalar(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
    )
    .bind(name)
    .fetch_optional(executor)
    .await?;
    Ok(presence(row))
}

/// PostgreSQL: the statements that create schema `name` if missing and mark it.
pub fn pg_marked_schema_sql(name: &str, mark: &Mark) -> [String; 2] {
    [
        format!("CREATE SCHEMA IF NOT EXISTS {}", pg_quote(name)),
        format!(
            "COMMENT ON SCHEMA {} IS {}",
            pg_quote(name),
            quote_literal(&mark.encode())
        ),
    ]
}

/// PostgreSQL: creates schema `name` if missing and marks it, atomically.
pub async fn pg_create_marked_schema(
    pool: &PgPool,
    name: &str,
    mark: &Mark,
) -> Result<(), sqlx::Error> {
    // One transaction: the schema never exists without its mark.
    let mut tx = pool.begin().await?;
    for sql in pg_marked_schema_sql(name, mark) {
        sqlx::query(&sql).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// MySQL/MariaDB: the mark of database `name`.
pub async fn mysql_database(server: &MySqlPool, name: &str) -> Result<Presence, sqlx::Error> {
    if !mysql::database_exists(server, name).await? {
        return Ok(Presence::Absent);
    }
    let has_table: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
    )
    .bind(name)
    .bind(MYSQL_TABLE)
    .fetch_one(server)
    .await?;
    if has_table == 0 {
        return Ok(Presence::Unmarked);
    }
    let text: Option<String> = sqlx::query_scalar(&format!(
        "SELECT CAST(mark AS CHAR) FROM {}.{} LIMIT 1",
        mysql::quote_ident(name),
        mysql::quote_ident(MYSQL_TABLE)
    ))
    .fetch_optional(server)
    .await?;
    Ok(text
        .as_deref()
        .and_then(Mark::decode)
        .map_or(Presence::Unmarked, Presence::Marked))
}

/// MySQL/MariaDB: writes (or rewrites) the mark of database `name`.
pub async fn mysql_mark_database(
    server: &MySqlPool,
    name: &str,
    mark: &Mark,
) -> Result<(), sqlx::Error> {
    let table = format!(
        "{}.{}",
        mysql::quote_ident(name),
        mysql::quote_ident(MYSQL_TABLE)
    );
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (mark TEXT NOT NULL) CHARACTER SET utf8mb4"
    ))
    .execute(server)
    .await?;
    sqlx::query(&format!("DELETE FROM {table}"))
        .execute(server)
        .await?;
    sqlx::query(&format!("INSERT INTO {table} (mark) VALUES (?)"))
        .bind(mark.encode())
        .execute(server)
        .await?;
    Ok(())
}

/// The key of a creation intent: the database as its URL spells it (written and read by the
/// same job, from the same settings).
fn intent_key(url: &DbUrl) -> String {
    crate::sites::identity::DbKey::new(url, None).spelling
}

/// Records that this job is about to create the database `url` names (which is absent).
pub async fn intend(db: &PgPool, url: &DbUrl, mark: &Mark) -> Result<(), StepError> {
    sqlx::query(
        "INSERT INTO creation_intents (target, site, job_id) VALUES ($1, $2, $3) \
         ON CONFLICT (target) DO UPDATE SET site = EXCLUDED.site, job_id = EXCLUDED.job_id, created_at = now()",
    )
    .bind(intent_key(url))
    .bind(&mark.site)
    .bind(mark.job)
    .execute(db)
    .await
    .map_err(StepError::retryable)?;
    Ok(())
}

/// Forgets the intent once the database is marked (or gone).
pub async fn fulfilled(db: &PgPool, url: &DbUrl) -> Result<(), StepError> {
    sqlx::query("DELETE FROM creation_intents WHERE target = $1")
        .bind(intent_key(url))
        .execute(db)
        .await
        .map_err(StepError::retryable)?;
    Ok(())
}

/// `presence` of the database `url` names, with an unmarked one that a job recorded it was
/// creating reported as [`Presence::Intended`].
pub async fn with_intent(
    db: &PgPool,
    url: &DbUrl,
    presence: Presence,
) -> Result<Presence, StepError> {
    if presence != Presence::Unmarked {
        return Ok(presence);
    }
    let row: Option<(String, Uuid)> =
        sqlx::query_as("SELECT site, job_id FROM creation_intents WHERE target = $1")
            .bind(intent_key(url))
            .fetch_optional(db)
            .await
            .map_err(StepError::retryable)?;
    Ok(match row {
        Some((site, job)) => Presence::Intended { site, job },
        None => Presence::Unmarked,
    })
}

/// Runs `create` (which makes the database `url` names, unmarked) under a recorded intent, then
/// marks it: a crash in between leaves a database [`with_intent`] still knows is this job's.
pub async fn create_then_mark<F, Fut>(
    db: &PgPool,
    url: &DbUrl,
    mark: &Mark,
    create: F,
) -> Result<(), StepError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), StepError>>,
{
    intend(db, url, mark).await?;
    create().await?;
    mark_database(url, mark).await?;
    fulfilled(db, url).await
}

/// Writes the mark of the database `url` names (which exists), on either engine.
pub async fn mark_database(url: &DbUrl, mark: &Mark) -> Result<(), StepError> {
    match url.engine {
        DbEngine::Postgres => {
            let admin = postgres::admin(url).await?;
            let done = pg_mark_database(&admin, &url.database, mark)
                .await
                .map_err(|e| postgres::classify(&url.display(), e));
            admin.close().await;
            done
        }
        DbEngine::Mysql => {
            let admin = mysql::admin(url).await?;
            let done = mysql_mark_database(&admin, &url.database, mark)
                .await
                .map_err(|e| mysql::classify(&url.display(), e));
            admin.close().await;
            done
        }
    }
}

/// The mark of the database `url` names, on either engine.
pub async fn database(db: &PgPool, url: &DbUrl) -> Result<Presence, StepError> {
    let found = match url.engine {
        DbEngine::Postgres => {
            let admin = postgres::admin(url).await?;
            let found = pg_database(&admin, &url.database)
                .await
                .map_err(|e| postgres::classify(&url.display(), e));
            admin.close().await;
            found
        }
        DbEngine::Mysql => {
            let admin = mysql::admin(url).await?;
            let found = mysql_database(&admin, &url.database)
                .await
                .map_err(|e| mysql::classify(&url.display(), e));
            admin.close().await;
            found
        }
    }?;
    with_intent(db, url, found).await
}

/// Creates the database `url` names (MySQL: with `like`'s character set) and marks it; an
/// existing one must already be `owner`'s.
pub async fn create_marked_database(
    db: &PgPool,
    url: &DbUrl,
    like: &str,
    mark: &Mark,
    owner: Owner<'_>,
) -> Result<(), StepError> {
    let what = format!("database {}", url.display());
    let found = database(db, url).await?;
    if check(&found, owner, &what)? {
        mark_database(url, mark).await?;
        return fulfilled(db, url).await;
    }
    create_then_mark(db, url, mark, || async {
        match url.engine {
            DbEngine::Postgres => {
                let admin = postgres::admin(url).await?;
                let done = postgres::create_database(&admin, &url.database)
                    .await
                    .map_err(|e| postgres::classify(&url.display(), e));
                admin.close().await;
                done
            }
            DbEngine::Mysql => {
                let admin = mysql::admin(url).await?;
                let done = mysql::create_database(&admin, &url.database, like)
                    .await
                    .map_err(|e| mysql::classify(&url.display(), e));
                admin.close().await;
                done
            }
        }
    })
    .await
}

/// Drops the database `url` names if it is `owner`'s; nothing to do when it is absent.
pub async fn drop_database(db: &PgPool, url: &DbUrl, owner: Owner<'_>) -> Result<bool, StepError> {
    let what = format!("database {}", url.display());
    let found = database(db, url).await?;
    let exists = check(&found, owner, &what)?;
    if exists {
        match url.engine {
            DbEngine::Postgres => {
                let admin = postgres::admin(url).await?;
                let done = postgres::drop_database(&admin, &url.database)
                    .await
                    .map_err(|e| postgres::classify(&url.display(), e));
                admin.close().await;
                done?;
            }
            DbEngine::Mysql => {
                let admin = mysql::admin(url).await?;
                let done = mysql::drop_database(&admin, &url.database)
                    .await
                    .map_err(|e| mysql::classify(&url.display(), e));
                admin.close().await;
                done?;
            }
        }
    }
    fulfilled(db, url).await?;
    Ok(exists)
}

/// The mark of directory `dir`.
pub fn directory(dir: &Path) -> std::io::Result<Presence> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Presence::Absent),
        Err(e) => return Err(e),
        // A symbolic link is never ours: we make directories, and follow no link to remove one.
        Ok(meta) if !meta.is_dir() => return Ok(Presence::Unmarked),
        Ok(_) => {}
    }
    match std::fs::read_to_string(dir.join(DIR_FILE)) {
        Ok(text) => Ok(serde_json::from_str(&text)
            .map(Presence::Marked)
            .unwrap_or(Presence::Unmarked)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Presence::Unmarked),
        Err(e) => Err(e),
    }
}

/// Writes the mark of directory `dir` (which exists).
pub fn mark_directory(dir: &Path, mark: &Mark) -> std::io::Result<()> {
    let tmp = dir.join(format!("{DIR_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(mark).expect("a mark serializes"))?;
    std::fs::rename(tmp, dir.join(DIR_FILE))
}

/// Removes directory `dir` if it is `owner`'s; nothing to do when it is absent.
pub fn remove_directory(dir: &Path, owner: Owner<'_>) -> Result<bool, StepError> {
    let what = format!("directory {}", dir.display());
    let found =
        directory(dir).map_err(|e| StepError::Permanent(format!("cannot read {what}: {e}")))?;
    let exists = check(&found, owner, &what)?;
    if exists {
        std::fs::remove_dir_all(dir)
            .map_err(|e| StepError::Permanent(format!("removing {what}: {e}")))?;
    }
    Ok(exists)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_s_marked_objects_may_be_destroyed() {
        let job = Uuid::now_v7();
        let mine = Presence::Marked(Mark::new("shop", job, Role::Incoming));
        assert!(check(&mine, Owner::Job { site: "shop", job }, "x").unwrap());
        assert!(check(&mine, Owner::Site("shop"), "x").unwrap());
        assert!(!check(&Presence::Absent, Owner::Site("shop"), "x").unwrap());
        let other_job = Owner::Job {
            site: "shop",
            job: Uuid::now_v7(),
        };
        assert!(check(&mine, other_job, "x").is_err());
        let err = check(&mine, Owner::Site("blog"), "database d").unwrap_err();
        assert!(
            err.to_string().contains("belongs to site \"shop\""),
            "{err}"
        );
        let err = check(&Presence::Unmarked, Owner::Site("shop"), "database d").unwrap_err();
        assert!(err.to_string().contains("did not make it"), "{err}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn marks_round_trip_and_foreign_comments_are_not_marks() {
        let mark = Mark::new("shop", Uuid::now_v7(), Role::Staging);
        assert_eq!(Mark::decode(&mark.encode()), Some(mark));
        assert_eq!(Mark::decode("production database of shop"), None);
        assert_eq!(presence(Some(Some("hello".into()))), Presence::Unmarked);
        assert_eq!(presence(None), Presence::Absent);
    }

    #[test]
    fn directories_are_marked_inside_and_links_are_never_ours() {
        let root = std::env::temp_dir().join(format!("understudy-mark-{}", Uuid::new_v4()));
        let dir = root.join("staging");
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(directory(&dir).unwrap(), Presence::Unmarked);
        assert!(remove_directory(&dir, Owner::Site("shop")).is_err());
        let mark = Mark::new("shop", Uuid::now_v7(), Role::Staging);
        mark_directory(&dir, &mark).unwrap();
        std::os::unix::fs::symlink(&dir, root.join("link")).unwrap();
        assert_eq!(directory(&root.join("link")).unwrap(), Presence::Unmarked);
        assert!(remove_directory(&root.join("link"), Owner::Site("shop")).is_err());
        assert!(remove_directory(&dir, Owner::Site("shop")).unwrap());
        assert!(!dir.exists());
        assert!(!remove_directory(&dir, Owner::Site("shop")).unwrap());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
