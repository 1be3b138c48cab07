//! `understudy bench clone`: a generated ~1 GB WordPress-shaped production database copied by
//! plain `pg_dump | psql` (or `mysqldump | mysql`) and by our clone job (URL rewrite in the
//! stream), on the same server; seconds, the ratio to plain, and the worker's peak RSS.
//! The generated database is kept between runs (rebuilt when the size changes).

use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use understudy_worker::contract::{JobMessage, Priority};
use understudy_worker::Settings;
use understudy_workflows::clone::process::{self, Program};
use understudy_workflows::clone::{mysql, postgres};
use understudy_workflows::sites::registry::{self, SiteInput};
use understudy_workflows::sites::{DbEngine, DbUrl, SiteError};

use super::{clone_data, peak_rss_mib, round, wait_until, Scratch};
use crate::cli::{BenchCloneArgs, BenchEngineKind};
use crate::commands::{Failure, Outcome};
use crate::output;

const SOURCE: &str = "understudy_bench_wp";
pub(super) const HOST: &str = "bench-shop.example";

/// Posts for a target size: each post is ~2.7 KB of content plus 3 meta rows.
fn posts_for(size_mb: u64) -> u64 {
    (size_mb * 1_000_000 / 3_300).max(1_000)
}

fn content_block() -> String {
    let para = format!(
        "<!-- wp:paragraph --><p>Our <a href=\"https://{HOST}/shop/item-__I__\">item __I__</a> ships fast. \
         <img class=\"wp-image-__I__\" src=\"https://{HOST}/wp-content/uploads/2026/11/p__I__.jpg\"> \
         Questions? mail help@{HOST} — ünïcödé ✓ lorem ipsum dolor sit amet, consectetur adipiscing elit, \
         sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.</p><!-- /wp:paragraph -->\n"
    );
    para.repeat(6)
}

fn meta_value() -> String {
    format!(
        "a:2:{{s:4:\"file\";s:9:\"photo.jpg\";s:3:\"src\";s:__N__:\"https://{HOST}/img/__I__\";}}"
    )
}

pub(super) fn generate_postgres(posts: u64) -> String {
    let content = content_block().replace('\'', "''");
    let meta = meta_value();
    format!(
        "CREATE TABLE wp_options (option_id bigserial PRIMARY KEY, option_name varchar(191) NOT NULL UNIQUE, option_value text NOT NULL, autoload varchar(20) NOT NULL DEFAULT 'yes');\n\
         INSERT INTO wp_options (option_name, option_value) VALUES ('siteurl', 'https://{HOST}'), ('home', 'https://{HOST}'), ('blogname', 'Bench'), ('blog_public', '1');\n\
         CREATE TABLE wp_posts (\"ID\" bigserial PRIMARY KEY, post_title text NOT NULL, post_content text NOT NULL, guid varchar(255) NOT NULL);\n\
         CREATE TABLE wp_postmeta (meta_id bigserial PRIMARY KEY, post_id bigint NOT NULL, meta_key varchar(255), meta_value text);\n\
         INSERT INTO wp_posts (post_title, post_content, guid) SELECT 'Post ' || i, replace('{content}', '__I__', i::text), 'https://{HOST}/?p=' || i FROM generate_series(1, {posts}) i;\n\
         INSERT INTO wp_postmeta (post_id, meta_key, meta_value) SELECT i, '_meta', replace(replace('{meta}', '__I__', i::text), '__N__', length('https://{HOST}/img/' || i)::text) FROM generate_series(1, {posts}) i;\n\
         INSERT INTO wp_postmeta (post_id, meta_key, meta_value) SELECT i, k, 'value ' || i FROM generate_series(1, {posts}) i, (VALUES ('_a'), ('_b')) v(k);\n\
         CREATE INDEX wp_postmeta_post ON wp_postmeta (post_id);\n\
         CREATE TABLE understudy_bench_marker (posts bigint);\n\
         INSERT INTO understudy_bench_marker VALUES ({posts});\n"
    )
}

pub(super) fn generate_mysql(posts: u64) -> String {
    let content = content_block().replace('\\', "\\\\").replace('\'', "\\'");
    let meta = meta_value();
    let series = format!(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {posts})"
    );
    format!(
        "SET SESSION max_recursive_iterations = 100000000;\n\
         CREATE TABLE wp_options (option_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, option_name varchar(191) NOT NULL UNIQUE, option_value longtext NOT NULL, autoload varchar(20) NOT NULL DEFAULT 'yes') DEFAULT CHARSET=utf8mb4;\n\
         INSERT INTO wp_options (option_name, option_value) VALUES ('siteurl', 'https://{HOST}'), ('home', 'https://{HOST}'), ('blogname', 'Bench'), ('blog_public', '1');\n\
         CREATE TABLE wp_posts (ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, post_title text NOT NULL, post_content longtext NOT NULL, guid varchar(255) NOT NULL) DEFAULT CHARSET=utf8mb4;\n\
         CREATE TABLE wp_postmeta (meta_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, post_id bigint unsigned NOT NULL, meta_key varchar(255), meta_value longtext, KEY post_id (post_id)) DEFAULT CHARSET=utf8mb4;\n\
         INSERT INTO wp_posts (post_title, post_content, guid) {series} SELECT CONCAT('Post ', i), REPLACE('{content}', '__I__', i), CONCAT('https://{HOST}/?p=', i) FROM s;\n\
         INSERT INTO wp_postmeta (post_id, meta_key, meta_value) {series} SELECT i, '_meta', REPLACE(REPLACE('{meta}', '__I__', i), '__N__', LENGTH(CONCAT('https://{HOST}/img/', i))) FROM s;\n\
         INSERT INTO wp_postmeta (post_id, meta_key, meta_value) {series} SELECT i, '_a', CONCAT('value ', i) FROM s;\n\
         INSERT INTO wp_postmeta (post_id, meta_key, meta_value) {series} SELECT i, '_b', CONCAT('value ', i) FROM s;\n\
         CREATE TABLE understudy_bench_marker (posts bigint);\n\
         INSERT INTO understudy_bench_marker VALUES ({posts});\n"
    )
}

pub(super) fn failure(e: understudy_workflows::StepError) -> Failure {
    Failure::Other(anyhow::anyhow!("{e}"))
}

fn passthrough(
    input: &mut dyn std::io::BufRead,
    output: &mut dyn std::io::Write,
) -> Result<(), understudy_workflows::StepError> {
    std::io::copy(input, output)
        .map(|_| ())
        .map_err(understudy_workflows::StepError::retryable)
}

/// The server of the Understudy database, as the bench's PostgreSQL side.
pub(super) fn pg_server(settings: &Settings) -> Result<DbUrl, Failure> {
    DbUrl::parse("database_url", settings.database_url.expose_secret())
        .map_err(|e| Failure::Input(e.to_string()))
}

/// MariaDB from `UNDERSTUDY_BENCH_MYSQL_URL`, default the local development server.
pub(super) fn mysql_server() -> Result<DbUrl, Failure> {
    let url = std::env::var("UNDERSTUDY_BENCH_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://understudy:understudy@127.0.0.1:3306/understudy_bench".into());
    DbUrl::parse("UNDERSTUDY_BENCH_MYSQL_URL", &url).map_err(|e| Failure::Input(e.to_string()))
}

async fn ensure_source(server: &DbUrl, posts: u64) -> Result<(DbUrl, f64), Failure> {
    let source = server.with_database(SOURCE);
    let began = Instant::now();
    match server.engine {
        DbEngine::Postgres => {
            let admin = postgres::admin(server).await.map_err(failure)?;
            if postgres::database_exists(&admin, SOURCE).await? {
                let pool = postgres::connect(&source).await.map_err(failure)?;
                // An older generator's marker has no version column: the query fails, rebuild.
                let have: Option<i64> = sqlx::query_scalar(
                    "SELECT posts FROM understudy_bench_marker WHERE version = $1",
                )
                .bind(clone_data::VERSION)
                .fetch_optional(&pool)
                .await
                .ok()
                .flatten();
                pool.close().await;
                if have == Some(posts as i64) {
                    return Ok((source, 0.0));
                }
                postgres::drop_database(&admin, SOURCE).await?;
            }
            eprintln!("bench: generating the PostgreSQL source ({posts} posts)");
            postgres::create_database(&admin, SOURCE).await?;
            clone_data::generate(&source, HOST, posts).await?;
        }
        DbEngine::Mysql => {
            let admin = mysql::admin(server).await.map_err(failure)?;
            if mysql::database_exists(&admin, SOURCE)
                .await
                .map_err(|e| Failure::Other(e.into()))?
            {
                let pool = mysql::connect(&source).await.map_err(failure)?;
                let have: Option<i64> =
                    sqlx::query_scalar("SELECT posts FROM understudy_bench_marker")
                        .fetch_optional(&pool)
                        .await
                        .ok()
                        .flatten();
                pool.close().await;
                if have == Some(posts as i64) {
                    return Ok((source, 0.0));
                }
                mysql::drop_database(&admin, SOURCE)
                    .await
                    .map_err(|e| Failure::Other(e.into()))?;
            }
            eprintln!("bench: generating the MariaDB source ({posts} posts)");
            sqlx::query(&format!("CREATE DATABASE `{SOURCE}` CHARACTER SET utf8mb4"))
                .execute(&admin)
                .await
                .map_err(|e| Failure::Other(e.into()))?;
            let pool = mysql::connect(&source).await.map_err(failure)?;
            sqlx::raw_sql(&generate_mysql(posts))
                .execute(&pool)
                .await
                .map_err(|e| Failure::Other(e.into()))?;
            pool.close().await;
        }
    }
    Ok((source, began.elapsed().as_secs_f64()))
}

/// The source's size on disk in MB (PostgreSQL: `pg_database_size`; MariaDB: data + indexes).
async fn database_mb(source: &DbUrl) -> Result<f64, Failure> {
    let bytes: i64 = match source.engine {
        DbEngine::Postgres => {
            let pool = postgres::connect(source).await.map_err(failure)?;
            let bytes = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(&pool)
                .await?;
            pool.close().await;
            bytes
        }
        DbEngine::Mysql => {
            let pool = mysql::connect(source).await.map_err(failure)?;
            let bytes: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(SUM(data_length + index_length) AS SIGNED) FROM information_schema.tables WHERE table_schema = DATABASE()",
            )
            .fetch_one(&pool)
            .await
            .map_err(|e| Failure::Other(e.into()))?;
            pool.close().await;
            bytes.unwrap_or(0)
        }
    };
    Ok(round(bytes as f64 / 1e6))
}

/// Plain `pg_dump | psql` / `mysqldump | mysql` into a throwaway database; seconds.
async fn plain_copy(source: &DbUrl) -> Result<f64, Failure> {
    let target = source.with_database(&format!("{SOURCE}_plain"));
    let cancel = tokio_util::sync::CancellationToken::new();
    let began;
    match source.engine {
        DbEngine::Postgres => {
            let admin = postgres::admin(source).await.map_err(failure)?;
            postgres::drop_database(&admin, &target.database).await?;
            postgres::create_database(&admin, &target.database).await?;
            let dump = postgres::client_program("pg_dump", source).args([
                "--no-owner",
                "--no-privileges",
                "--dbname",
                &source.database,
            ]);
            let load = postgres::client_program("psql", &target).args([
                "--quiet",
                "--no-psqlrc",
                "--set",
                "ON_ERROR_STOP=1",
                "--dbname",
                &target.database,
            ]);
            began = Instant::now();
            process::pipeline(dump, load, passthrough, cancel)
                .await
                .map_err(failure)?;
            let secs = began.elapsed().as_secs_f64();
            postgres::drop_database(&admin, &target.database).await?;
            Ok(secs)
        }
        DbEngine::Mysql => {
            let admin = mysql::admin(source).await.map_err(failure)?;
            mysql::drop_database(&admin, &target.database)
                .await
                .map_err(|e| Failure::Other(e.into()))?;
            mysql::create_database(&admin, &target.database, &source.database)
                .await
                .map_err(|e| Failure::Other(e.into()))?;
            let dir = std::env::temp_dir().join("understudy-bench");
            let (from, to) = (
                mysql::Credentials::write(&dir, source).map_err(failure)?,
                mysql::Credentials::write(&dir, &target).map_err(failure)?,
            );
            let dump = Program::new("mysqldump").arg(from.arg()).args([
                "--single-transaction",
                "--quick",
                "--hex-blob",
                "--default-character-set=utf8mb4",
                "--no-tablespaces",
                &source.database,
            ]);
            began = Instant::now();
            process::pipeline(
                dump,
                mysql::load(&to, &target.database),
                passthrough,
                cancel,
            )
            .await
            .map_err(failure)?;
            let secs = began.elapsed().as_secs_f64();
            mysql::drop_database(&admin, &target.database)
                .await
                .map_err(|e| Failure::Other(e.into()))?;
            Ok(secs)
        }
    }
}

/// Our clone job through a real worker; seconds from enqueue to end, and the job's result.
/// What one measured clone run asks for.
#[derive(Clone, Copy)]
struct Run {
    parallel: usize,
    anonymize: bool,
    template: bool,
}

/// Resets the worker's peak RSS (`VmHWM`) so the next reading covers one run only.
fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

async fn our_clone(
    bench: &Scratch,
    source: &DbUrl,
    name: &str,
    options: Run,
) -> Result<(f64, Value), Failure> {
    let pid = bench.workers.0[0].id();
    reset_peak_rss(pid);
    let secrets = bench
        .settings
        .secret_box()
        .map_err(|e| Failure::Input(e.to_string()))?;
    let uploads = std::env::temp_dir().join(format!("understudy-bench-{name}/wp-content/uploads"));
    std::fs::create_dir_all(&uploads).map_err(|e| Failure::Other(e.into()))?;
    let staging_uploads = uploads.with_file_name("uploads-staging");
    let _ = std::fs::remove_dir_all(&staging_uploads);
    let input = SiteInput {
        name: name.into(),
        production_url: format!("https://{HOST}"),
        db_url: source.clone(),
        uploads_dir: uploads.display().to_string(),
        table_prefix: "wp_".into(),
        staging_url: None,
        staging_db_url: None,
        staging_uploads_dir: None,
        tags: vec![],
        allow_same_url: false,
    };
    match registry::add(&bench.pool, &secrets, input).await {
        Ok(_) | Err(registry::RegistryError::Site(SiteError::Exists(_))) => {}
        Err(e) => return Err(Failure::Other(anyhow::anyhow!("{e}"))),
    }
    let run = |action: &'static str| {
        let mut spec =
            json!({ "action": action, "site": name, "parallel_tables": options.parallel });
        if action == "create" {
            spec["template"] = json!(options.template);
            if options.anonymize {
                spec["anonymize"] = json!(true);
            }
        }
        let mut m = JobMessage::new("clone", spec);
        m.concurrency_key = Some(format!("site:{name}"));
        m
    };
    let began = Instant::now();
    let id = bench
        .producer
        .publish_job(run("create"), Priority::Interactive)
        .await?;
    let pool = &bench.pool;
    wait_until(
        "the clone to end",
        Duration::from_secs(3600),
        || async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let state: Option<String> =
                sqlx::query_scalar("SELECT state::text FROM jobs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
            Ok(matches!(
                state.as_deref(),
                Some("succeeded" | "failed" | "cancelled")
            ))
        },
    )
    .await?;
    let secs = began.elapsed().as_secs_f64();
    let (state, result, error): (String, Option<Value>, Option<String>) =
        sqlx::query_as("SELECT state::text, result, error FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await?;
    if state != "succeeded" {
        return Err(Failure::Other(anyhow::anyhow!(
            "the bench clone {state}: {}",
            error.unwrap_or_default()
        )));
    }
    // Where the time went: each step's completion, seconds after the job started.
    let steps: Vec<(String, f64)> = sqlx::query_as(
        "SELECT s.name, extract(epoch FROM s.completed_at - j.started_at)::float8 \
         FROM job_steps s JOIN jobs j ON j.id = s.job_id WHERE s.job_id = $1 ORDER BY s.completed_at",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let mut result = result.unwrap_or(Value::Null);
    result["worker_peak_rss_mib"] = json!(peak_rss_mib(pid));
    result["step_done_at_secs"] = steps
        .into_iter()
        .map(|(name, secs)| (name, json!(round(secs))))
        .collect::<serde_json::Map<String, Value>>()
        .into();
    let destroy = bench
        .producer
        .publish_job(run("destroy"), Priority::Interactive)
        .await?;
    wait_until(
        "the destroy to end",
        Duration::from_secs(600),
        || async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let done: Option<bool> =
                sqlx::query_scalar("SELECT finished_at IS NOT NULL FROM jobs WHERE id = $1")
                    .bind(destroy)
                    .fetch_optional(pool)
                    .await?;
            Ok(done == Some(true))
        },
    )
    .await?;
    Ok((secs, result))
}

pub async fn clone(settings: &Settings, args: BenchCloneArgs) -> Outcome {
    let bench = Scratch::start(settings, "understudy-bench-clone", 1, 4).await?;
    let mut peak = 0f64;
    let mut track = |result: &Value| {
        peak = peak.max(result["worker_peak_rss_mib"].as_f64().unwrap_or(0.0));
    };
    let mut report = json!({
        "bench": "clone", "size_mb": args.size_mb, "parallel_tables": args.parallel_tables,
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
    });
    let mut engines = Vec::new();
    if args.engine != BenchEngineKind::Mysql {
        engines.push(("postgres", pg_server(settings)?));
    }
    if args.engine != BenchEngineKind::Postgres {
        engines.push(("mysql", mysql_server()?));
    }
    for (label, server) in engines {
        let posts = match server.engine {
            DbEngine::Postgres => clone_data::posts_for(args.size_mb),
            DbEngine::Mysql => posts_for(args.size_mb),
        };
        let (source, generated) = ensure_source(&server, posts).await?;
        let size_mb = database_mb(&source).await?;
        eprintln!("bench: {label}: plain copy");
        let plain = plain_copy(&source).await?;
        let name = format!("bench-{label}");
        let stream = Run {
            parallel: args.parallel_tables,
            anonymize: false,
            template: false,
        };
        eprintln!("bench: {label}: our clone with URL rewrite (streaming)");
        eprintln!("bench: {label}: plain {plain:.1} s");
        let (ours, result) = our_clone(&bench, &source, &name, stream).await?;
        track(&result);
        eprintln!(
            "bench: {label}: clone + rewrite {ours:.1} s; steps done at {}",
            result["step_done_at_secs"]
        );
        eprintln!("bench: {label}: our clone with URL rewrite and anonymization");
        let anonymize = Run {
            anonymize: true,
            ..stream
        };
        let (anon, anon_result) = our_clone(&bench, &source, &name, anonymize).await?;
        track(&anon_result);
        eprintln!("bench: {label}: clone + rewrite + anonymize {anon:.1} s");
        let mut entry = json!({
            "posts": posts,
            "database_mb": size_mb,
            "generate_secs": round(generated),
            "plain_dump_load_secs": round(plain),
            "clone_rewrite_secs": round(ours),
            "ratio_to_plain": round(ours / plain * 100.0) / 100.0,
            "replacements": result["replacements"],
            "rows": result["rows"],
            "clone_steps_done_at_secs": result["step_done_at_secs"],
            "clone_rewrite_worker_rss_mib": result["worker_peak_rss_mib"],
            "anonymize_worker_rss_mib": anon_result["worker_peak_rss_mib"],
            "clone_rewrite_anonymize_secs": round(anon),
            "anonymize_ratio_to_plain": round(anon / plain * 100.0) / 100.0,
            "anonymized": anon_result["anonymization"],
        });
        if server.engine == DbEngine::Postgres {
            eprintln!("bench: {label}: same-server fast path (CREATE DATABASE … TEMPLATE)");
            let fast = Run {
                template: true,
                ..stream
            };
            let (secs, fast_result) = our_clone(&bench, &source, &name, fast).await?;
            track(&fast_result);
            eprintln!(
                "bench: {label}: fast path {secs:.1} s: {}",
                fast_result["copy"]
            );
            let copy = &fast_result["copy"];
            entry["fast_path"] = json!({
                "method": copy["method"],
                "reason": copy["reason"],
                "job_secs": round(secs),
                "template_copy_secs": copy["template_secs"],
                "rewrite_in_place_secs": copy["rewrite_secs"],
                "ratio_to_plain": round(secs / plain * 100.0) / 100.0,
                "replacements": fast_result["replacements"],
                "worker_rss_mib": fast_result["worker_peak_rss_mib"],
            });
        }
        report[label] = entry;
    }
    report["worker_peak_rss_mib"] = json!(peak);
    let (admin, scratch) = bench.admin();
    drop(bench);
    Scratch::finish(admin, &scratch).await?;
    if args.json {
        output::json(&report);
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
    }
    Ok(ExitCode::SUCCESS)
}
