//! `understudy bench clone`: a generated ~1 GB WordPress-shaped production database copied by
//! plain `pg_dump | psql` (or `mysqldump | mysql`) and by our clone job (URL rewrite in the
//! stream), then with anonymization too (and, on PostgreSQL, through the same-server `TEMPLATE`
//! fast path), on the same server; seconds, the ratio to plain, each step's completion time and
//! the worker's peak RSS per run. The source site comes from [`clone_data`] (kept between runs).

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
use crate::cli::{BenchCloneArgs, BenchCloneRun, BenchEngineKind};
use crate::commands::{Failure, Outcome};
use crate::output;

pub(super) const HOST: &str = "bench-shop.example";

/// `x` to two decimals (ratios).
fn two_decimals(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
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
    let target = source.with_database(&format!("{}_plain", source.database));
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

/// User + system CPU seconds a process has used (`/proc/PID/stat`), if it is still running.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses: state is field 3,
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf reads a constant of the running system.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_sec > 0).then(|| ticks / per_sec as f64)
}

async fn our_clone(
    bench: &Scratch,
    source: &DbUrl,
    name: &str,
    options: Run,
) -> Result<(f64, Value), Failure> {
    let pid = bench.workers.0[0].id();
    reset_peak_rss(pid);
    let cpu_before = cpu_secs(pid);
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
        identities: None,
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
            // The fast path is measured even on this URL-dense site, where a normal job
            // would stream (the report shows the density estimate that decides it).
            spec["force_template"] = json!(options.template);
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
    // CPU seconds of the worker for this run: comparable across runs on a busy machine, where
    // the wall time also measures the other processes.
    result["worker_cpu_secs"] = json!(cpu_before
        .zip(cpu_secs(pid))
        .map(|(before, after)| round(after - before)));
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
    // The next run registers another name with the same staging database: one site at a time.
    registry::remove(pool, name)
        .await
        .map_err(|e| Failure::Other(anyhow::anyhow!("{e}")))?;
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
        let (source, posts, generated) = clone_data::ensure(&server, HOST, args.size_mb).await?;
        let size_mb = database_mb(&source).await?;
        let wanted = |run: BenchCloneRun| args.runs.contains(&run);
        let mut entry = json!({
            "posts": posts,
            "database_mb": size_mb,
            "generate_secs": round(generated),
        });
        let mut plain = None;
        if wanted(BenchCloneRun::Plain) {
            eprintln!("bench: {label}: plain copy");
            let secs = plain_copy(&source).await?;
            eprintln!("bench: {label}: plain {secs:.1} s");
            entry["plain_dump_load_secs"] = json!(round(secs));
            plain = Some(secs);
        }
        let ratio = |secs: f64| plain.map(|p| two_decimals(secs / p));
        let name = format!("bench-{label}");
        let stream = Run {
            parallel: args.parallel_tables,
            anonymize: false,
            template: false,
        };
        if wanted(BenchCloneRun::Rewrite) {
            eprintln!("bench: {label}: our clone with URL rewrite (streaming)");
            let (ours, result) = our_clone(&bench, &source, &name, stream).await?;
            track(&result);
            eprintln!(
                "bench: {label}: clone + rewrite {ours:.1} s; steps done at {}",
                result["step_done_at_secs"]
            );
            entry["clone_rewrite_secs"] = json!(round(ours));
            entry["ratio_to_plain"] = json!(ratio(ours));
            entry["replacements"] = result["replacements"].clone();
            entry["rows"] = result["rows"].clone();
            entry["clone_steps_done_at_secs"] = result["step_done_at_secs"].clone();
            entry["clone_rewrite_worker_rss_mib"] = result["worker_peak_rss_mib"].clone();
            entry["clone_rewrite_worker_cpu_secs"] = result["worker_cpu_secs"].clone();
        }
        if wanted(BenchCloneRun::Anonymize) {
            eprintln!("bench: {label}: our clone with URL rewrite and anonymization");
            let anonymize = Run {
                anonymize: true,
                ..stream
            };
            let (anon, result) = our_clone(&bench, &source, &name, anonymize).await?;
            track(&result);
            eprintln!("bench: {label}: clone + rewrite + anonymize {anon:.1} s");
            entry["clone_rewrite_anonymize_secs"] = json!(round(anon));
            entry["anonymize_ratio_to_plain"] = json!(ratio(anon));
            entry["anonymize_worker_rss_mib"] = result["worker_peak_rss_mib"].clone();
            entry["anonymize_worker_cpu_secs"] = result["worker_cpu_secs"].clone();
            entry["anonymize_steps_done_at_secs"] = result["step_done_at_secs"].clone();
            entry["anonymized"] = result["anonymization"].clone();
        }
        if server.engine == DbEngine::Postgres && wanted(BenchCloneRun::FastPath) {
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
                "density": copy["density"],
                "rewrite_in_place_secs": copy["rewrite_secs"],
                "ratio_to_plain": ratio(secs),
                "replacements": fast_result["replacements"],
                "worker_rss_mib": fast_result["worker_peak_rss_mib"],
                "worker_cpu_secs": fast_result["worker_cpu_secs"],
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
        out!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
    }
    Ok(ExitCode::SUCCESS)
}
