//! `understudy bench export`: one export of a real site by a real worker process, on a scratch
//! database and RabbitMQ namespace; prints wall time, HTTP requests/s and what was exported.

use clap::Args as ClapArgs;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;
use understudy_worker::contract::{JobMessage, Priority};
use understudy_worker::producer::Producer;
use understudy_worker::{db, Settings};
use uuid::Uuid;

use crate::bench::{wait_until, worker_binary, Workers};
use crate::commands::{Failure, Outcome};
use crate::export::{read_password, seal};
use crate::output;

const NAMESPACE: &str = "understudy-bench-export";

/// Arguments of `understudy bench export`.
#[derive(ClapArgs, Clone)]
pub struct BenchExportArgs {
    /// The site to export (default: the local WordPress of scripts/services/wordpress.sh).
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub url: String,
    #[arg(long, default_value = "admin")]
    pub user: String,
    #[arg(long, default_value = "/var/lib/understudy-dev/wordpress/app-password")]
    pub app_password_file: PathBuf,
    /// referenced, all or none.
    #[arg(long, default_value = "referenced")]
    pub media: String,
    #[arg(long, default_value_t = 5)]
    pub media_concurrency: usize,
    /// Keep the bundle (printed in the result) instead of deleting it.
    #[arg(long)]
    pub keep: bool,
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark.
pub async fn run(settings: &Settings, args: BenchExportArgs) -> Outcome {
    let admin = db::connect(settings, 2).await?;
    let current: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&admin)
        .await?;
    let scratch = format!("{current}_bench_export");
    if !scratch
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(Failure::Input(format!(
            "database name {current:?} cannot be extended safely"
        )));
    }
    understudy_workflows::clone::postgres::drop_database(&admin, &scratch).await?;
    sqlx::query(&format!("CREATE DATABASE \"{scratch}\""))
        .execute(&admin)
        .await?;
    let url = db::with_database(settings.database_url.expose_secret(), &scratch);
    let mut bench = settings.clone();
    bench.database_url = url.clone().into();
    bench.amqp.namespace = NAMESPACE.into();
    let pool = db::connect(&bench, 4).await?;
    db::migrate(&pool).await?;
    let producer = Producer::connect(&bench, "understudy-bench-export").await?;

    let binary = worker_binary()?;
    let child = Command::new(&binary)
        .env("UNDERSTUDY_DATABASE_URL", &url)
        .env("UNDERSTUDY_AMQP__NAMESPACE", NAMESPACE)
        .env("UNDERSTUDY_LOG__LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| Failure::Other(anyhow::anyhow!("cannot start {}: {e}", binary.display())))?;
    let workers = Workers(vec![child]);
    wait_until("the worker to start", Duration::from_secs(60), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM workers WHERE stopped_at IS NULL")
            .fetch_one(&pool)
            .await?;
        Ok(n >= 1)
    })
    .await?;

    let job_id = Uuid::now_v7();
    let out = settings
        .data_dir
        .join("bench-exports")
        .join(job_id.to_string());
    let password = read_password(&args.app_password_file)?;
    let spec = json!({
        "url": args.url, "user": args.user, "app_password_sealed": seal(settings, &password)?,
        "media": args.media, "media_concurrency": args.media_concurrency, "out_dir": out,
    });
    let mut message = JobMessage::new("export", spec);
    message.job_id = Some(job_id);
    crate::commands::check(&message)?;
    eprintln!("bench: exporting {} into {}", args.url, out.display());
    let id = producer.publish_job(message, Priority::Interactive).await?;
    wait_until("the export to end", Duration::from_secs(1800), || async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let done: Option<bool> = sqlx::query_scalar(
            "SELECT state IN ('succeeded','failed','cancelled') FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&pool)
        .await?;
        Ok(done == Some(true))
    })
    .await?;
    let (state, result, error, wall, run): (String, Option<Value>, Option<String>, f64, f64) =
        sqlx::query_as(
            "SELECT state::text, result, error, \
                    extract(epoch FROM finished_at - enqueued_at)::float8, \
                    extract(epoch FROM finished_at - started_at)::float8 FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await?;
    if state != "succeeded" {
        return Err(Failure::Other(anyhow::anyhow!(
            "the export {state}: {}",
            error.unwrap_or_default()
        )));
    }
    let result = result.unwrap_or(Value::Null);
    let requests = result["http_requests"].as_u64().unwrap_or(0);
    let steps: i64 = sqlx::query_scalar("SELECT count(*) FROM job_steps WHERE job_id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await?;
    let report = json!({
        "url": args.url,
        "media": args.media,
        "media_concurrency": args.media_concurrency,
        "wall_secs": round(wall),
        "run_secs": round(run),
        "http_requests": requests,
        "requests_per_sec": round(requests as f64 / run.max(0.001)),
        "checkpointed_steps": steps,
        "collections": result["collections"],
        "media_files": result["media"],
        "media_bytes": result["media_bytes"],
        "bundle": if args.keep { json!(out) } else { Value::Null },
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    });
    if !args.keep {
        std::fs::remove_dir_all(&out)
            .map_err(|e| Failure::Other(anyhow::anyhow!("cannot remove {}: {e}", out.display())))?;
    }
    // Stop the worker before its database goes.
    drop(workers);
    drop(pool);
    understudy_workflows::clone::postgres::drop_database(&admin, &scratch).await?;
    if args.json {
        output::json(&report);
    } else {
        out!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
