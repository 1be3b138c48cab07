//! The clone jobs of `understudy bench chaos`: small WordPress-shaped production databases
//! (PostgreSQL on the Understudy server, MariaDB from `UNDERSTUDY_BENCH_MYSQL_URL`), generated
//! by the run itself, one registered site per clone job, and the check of every finished copy:
//! each table has the source's row count and no production URL is left outside `guid`.
//! Everything it creates (databases named `us_chaos_<run>…`, upload directories) is removed.

use serde_json::{json, Value};
use sqlx::{MySqlPool, PgPool};
use std::path::PathBuf;
use understudy_worker::contract::{JobMessage, Priority};
use understudy_worker::producer::Outgoing;
use understudy_workflows::clone::{mysql, postgres};
use understudy_workflows::sites::registry::{self, SiteInput};
use understudy_workflows::sites::{DbEngine, DbUrl};
use uuid::Uuid;

use super::chaos_data::{generate_mysql, generate_postgres};
use super::clone::{failure, mysql_server, pg_server, HOST};
use super::Scratch;
use crate::commands::Failure;
use understudy_worker::Settings;

/// Tables of the generated source, compared row by row count.
const TABLES: &[&str] = &["wp_options", "wp_posts", "wp_postmeta"];

/// One clone job and where its copy lands.
struct CloneJob {
    id: Uuid,
    site: String,
    engine: DbEngine,
    staging: DbUrl,
}

/// The clone side of a chaos run.
pub struct CloneMix {
    prefix: String,
    /// Posts per generated source (~3.3 KB each with their meta rows).
    posts: u64,
    pg: Option<DbUrl>,
    mysql: Option<DbUrl>,
    jobs: Vec<CloneJob>,
    dir: PathBuf,
}

impl CloneMix {
    /// Nothing created yet: names for this run.
    pub fn new(posts: u64) -> CloneMix {
        let run = &Uuid::new_v4().simple().to_string()[..8];
        CloneMix {
            prefix: format!("us_chaos_{run}"),
            posts: posts.max(1),
            pg: None,
            mysql: None,
            jobs: Vec::new(),
            dir: std::env::temp_dir().join(format!("understudy-chaos-clones-{run}")),
        }
    }

    /// Generates the sources, registers `count` sites (alternating PostgreSQL and MariaDB) in
    /// the scratch registry, and returns the clone messages to publish with the noop jobs.
    /// On failure, [`CloneMix::cleanup`] removes what was created.
    pub async fn prepare(
        &mut self,
        settings: &Settings,
        bench: &Scratch,
        count: usize,
    ) -> Result<Vec<Outgoing>, Failure> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let prefix = self.prefix.clone();
        let mix = self;
        let pg = pg_server(settings)?.with_database(&prefix);
        let admin = postgres::admin(&pg).await.map_err(failure)?;
        postgres::create_database(&admin, &prefix).await?;
        admin.close().await;
        mix.pg = Some(pg.clone());
        let pool = postgres::connect(&pg).await.map_err(failure)?;
        sqlx::raw_sql(&generate_postgres(mix.posts))
            .execute(&pool)
            .await?;
        pool.close().await;
        if count > 1 {
            let my = mysql_server()?.with_database(&prefix);
            let admin = mysql::admin(&my).await.map_err(failure)?;
            sqlx::query(&format!("CREATE DATABASE `{prefix}` CHARACTER SET utf8mb4"))
                .execute(&admin)
                .await
                .map_err(other)?;
            admin.close().await;
            mix.mysql = Some(my.clone());
            let pool = mysql::connect(&my).await.map_err(failure)?;
            sqlx::raw_sql(&generate_mysql(mix.posts))
                .execute(&pool)
                .await
                .map_err(other)?;
            pool.close().await;
        }
        let secrets = bench
            .settings
            .secret_box()
            .map_err(|e| Failure::Input(e.to_string()))?;
        let mut outgoing = Vec::new();
        for i in 0..count {
            let source = match (i % 2, &mix.mysql) {
                (1, Some(my)) => my.clone(),
                _ => pg.clone(),
            };
            let label = match source.engine {
                DbEngine::Postgres => "pg",
                DbEngine::Mysql => "my",
            };
            let site = format!("chaos-{label}-{i}");
            let uploads = mix.dir.join(&site).join("wp-content/uploads");
            let month = uploads.join("2026/11");
            std::fs::create_dir_all(&month).map_err(|e| Failure::Other(e.into()))?;
            for n in 0..3 {
                std::fs::write(month.join(format!("p{n}.jpg")), vec![n as u8; 4096])
                    .map_err(|e| Failure::Other(e.into()))?;
            }
            let staging = source.with_database(&format!("{prefix}_s{i}"));
            let input = SiteInput {
                name: site.clone(),
                production_url: format!("https://{HOST}"),
                db_url: source.clone(),
                uploads_dir: uploads.display().to_string(),
                table_prefix: "wp_".into(),
                staging_url: None,
                staging_db_url: Some(staging.clone()),
                staging_uploads_dir: None,
                tags: vec!["chaos".into()],
                allow_same_url: false,
                identities: None,
            };
            registry::add(&bench.pool, &secrets, input)
                .await
                .map_err(|e| Failure::Other(anyhow::anyhow!("{e}")))?;
            let mut message = JobMessage::new("clone", json!({"action": "create", "site": site}));
            message.concurrency_key = Some(format!("site:{site}"));
            let (id, out) = Outgoing::job(message, Priority::Bulk);
            outgoing.push(out);
            mix.jobs.push(CloneJob {
                id,
                site,
                engine: source.engine,
                staging,
            });
        }
        Ok(outgoing)
    }

    /// The clone job ids (to wait for them with the noop jobs).
    pub fn ids(&self) -> Vec<Uuid> {
        self.jobs.iter().map(|j| j.id).collect()
    }

    /// Job outcomes and, for each succeeded clone, the check of its copy.
    pub async fn report(&self, pool: &PgPool) -> Result<Value, Failure> {
        let ids = self.ids();
        let rows: Vec<(Uuid, String, Option<String>)> =
            sqlx::query_as("SELECT id, state::text, error FROM jobs WHERE id = ANY($1)")
                .bind(&ids)
                .fetch_all(pool)
                .await?;
        let state = |id: Uuid| rows.iter().find(|r| r.0 == id);
        let (mut succeeded, mut failed, mut lost, mut verified) = (0, 0, 0, 0);
        let mut problems = Vec::new();
        for job in &self.jobs {
            match state(job.id).map(|r| r.1.as_str()) {
                Some("succeeded") => {
                    succeeded += 1;
                    match self.check(job).await {
                        Ok(()) => verified += 1,
                        Err(why) => problems.push(json!({"site": job.site, "problem": why})),
                    }
                }
                Some("failed" | "cancelled") => {
                    failed += 1;
                    let error = state(job.id).and_then(|r| r.2.clone()).unwrap_or_default();
                    problems.push(json!({"site": job.site, "problem": error}));
                }
                _ => lost += 1,
            }
        }
        // How hard the faults hit the clones: step retries and attempts taken over.
        let retries: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM job_events WHERE job_id = ANY($1) AND type = 'step_retrying'",
        )
        .bind(&ids)
        .fetch_one(pool)
        .await?;
        let takeovers: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM job_attempts WHERE job_id = ANY($1) AND outcome IN ('interrupted', 'abandoned')",
        )
        .bind(&ids)
        .fetch_one(pool)
        .await?;
        Ok(json!({
            "accepted": self.jobs.len(),
            "step_retries": retries,
            "interrupted_attempts": takeovers,
            "succeeded": succeeded,
            "failed": failed,
            "lost": lost,
            "verified": verified,
            "problems": problems,
            "posts_per_source": self.posts,
        }))
    }

    /// Row counts equal to the source's, and no `//<production host>` outside `guid`.
    async fn check(&self, job: &CloneJob) -> Result<(), String> {
        let needle = format!("%//{HOST}%");
        let mut counts = Vec::new();
        match job.engine {
            DbEngine::Postgres => {
                let source = self.pg.as_ref().ok_or("no PostgreSQL source")?;
                let (from, to) = (pg_pool(source).await?, pg_pool(&job.staging).await?);
                for table in TABLES {
                    let q = format!("SELECT count(*) FROM {table}");
                    let a: i64 = sqlx::query_scalar(&q)
                        .fetch_one(&from)
                        .await
                        .map_err(text)?;
                    let b: i64 = sqlx::query_scalar(&q).fetch_one(&to).await.map_err(text)?;
                    counts.push((table, a, b));
                    let left: i64 = sqlx::query_scalar(&format!(
                        "SELECT count(*) FROM {table} t WHERE (to_jsonb(t) - 'guid')::text LIKE $1"
                    ))
                    .bind(&needle)
                    .fetch_one(&to)
                    .await
                    .map_err(text)?;
                    if left > 0 {
                        return Err(format!("{left} rows of {table} still hold //{HOST}"));
                    }
                }
                from.close().await;
                to.close().await;
            }
            DbEngine::Mysql => {
                let source = self.mysql.as_ref().ok_or("no MariaDB source")?;
                let (from, to) = (my_pool(source).await?, my_pool(&job.staging).await?);
                for table in TABLES {
                    let q = format!("SELECT count(*) FROM {table}");
                    let a: i64 = sqlx::query_scalar(&q)
                        .fetch_one(&from)
                        .await
                        .map_err(text)?;
                    let b: i64 = sqlx::query_scalar(&q).fetch_one(&to).await.map_err(text)?;
                    counts.push((table, a, b));
                    let columns: Vec<String> = sqlx::query_scalar(
                        "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
                         WHERE table_schema = ? AND table_name = ? AND column_name <> 'guid' \
                           AND data_type IN ('char','varchar','text','mediumtext','longtext','tinytext')",
                    )
                    .bind(&job.staging.database)
                    .bind(table)
                    .fetch_all(&to)
                    .await
                    .map_err(text)?;
                    for column in columns {
                        let left: i64 = sqlx::query_scalar(&format!(
                            "SELECT count(*) FROM {table} WHERE `{column}` LIKE ?"
                        ))
                        .bind(&needle)
                        .fetch_one(&to)
                        .await
                        .map_err(text)?;
                        if left > 0 {
                            return Err(format!(
                                "{left} rows of {table}.{column} still hold //{HOST}"
                            ));
                        }
                    }
                }
                from.close().await;
                to.close().await;
            }
        }
        match counts.iter().find(|(_, a, b)| a != b) {
            Some((table, a, b)) => Err(format!("{table}: {b} rows on staging, {a} on production")),
            None => Ok(()),
        }
    }

    /// Drops every database of the run (sources, staging, incoming) and the upload directories.
    pub async fn cleanup(&self) {
        let pattern = format!("{}%", self.prefix);
        if let Some(pg) = &self.pg {
            if let Ok(admin) = postgres::admin(pg).await {
                let names: Vec<String> = sqlx::query_scalar(
                    "SELECT datname::text FROM pg_database WHERE datname LIKE $1",
                )
                .bind(&pattern)
                .fetch_all(&admin)
                .await
                .unwrap_or_default();
                for name in names {
                    let _ = postgres::drop_database(&admin, &name).await;
                }
                admin.close().await;
            }
        }
        if let Some(my) = &self.mysql {
            if let Ok(admin) = mysql::admin(my).await {
                let names: Vec<String> = sqlx::query_scalar(
                    "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE ?",
                )
                .bind(&pattern)
                .fetch_all(&admin)
                .await
                .unwrap_or_default();
                for name in names {
                    let _ = mysql::drop_database(&admin, &name).await;
                }
                admin.close().await;
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn pg_pool(url: &DbUrl) -> Result<PgPool, String> {
    postgres::connect(url).await.map_err(|e| e.to_string())
}

async fn my_pool(url: &DbUrl) -> Result<MySqlPool, String> {
    mysql::connect(url).await.map_err(|e| e.to_string())
}

fn text(e: sqlx::Error) -> String {
    e.to_string()
}

fn other(e: sqlx::Error) -> Failure {
    Failure::Other(e.into())
}
