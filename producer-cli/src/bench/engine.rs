//! `understudy bench engine`: throughput, latency and resume time of the engine, measured on a
//! scratch database and RabbitMQ namespace with real worker processes.

use serde_json::json;
use sqlx::PgPool;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use understudy_worker::contract::{JobMessage, Priority};
use understudy_worker::producer::{Outgoing, Producer};
use understudy_worker::Settings;

use super::{round, wait_until, Scratch, Workers};
use crate::cli::BenchEngineArgs;
use crate::commands::{Failure, Outcome};
use crate::output;

const NAMESPACE: &str = "understudy-bench";

pub async fn engine(settings: &Settings, args: BenchEngineArgs) -> Outcome {
    let bench = Scratch::start(settings, NAMESPACE, args.workers, args.concurrency).await?;
    let (admin, scratch) = bench.admin();
    let Scratch {
        pool,
        producer,
        mut workers,
        ..
    } = bench;
    eprintln!(
        "bench: {} workers up; idle latency ({} single jobs)",
        args.workers, args.idle_samples
    );

    let spec = json!({ "steps": args.steps, "step_ms": 0 });
    // Idle: one job at a time on an otherwise idle system.
    let mut idle_first_step = Vec::new();
    let mut idle_total = Vec::new();
    for _ in 0..args.idle_samples {
        let id = producer
            .publish_job(JobMessage::new("noop", spec.clone()), Priority::Interactive)
            .await?;
        wait_until("an idle job", Duration::from_secs(30), || async {
            let done: Option<bool> = sqlx::query_scalar(
                "SELECT state IN ('succeeded','failed','cancelled') FROM jobs WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&pool)
            .await?;
            Ok(done == Some(true))
        })
        .await?;
        let (first, total): (f64, f64) = sqlx::query_as(
            "SELECT extract(epoch FROM started_at - enqueued_at)::float8 * 1000, \
                    extract(epoch FROM finished_at - enqueued_at)::float8 * 1000 FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await?;
        idle_first_step.push(first);
        idle_total.push(total);
    }

    eprintln!(
        "bench: throughput ({} jobs × {} steps)",
        args.jobs, args.steps
    );
    sqlx::query("TRUNCATE jobs CASCADE").execute(&pool).await?;
    let began = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for _ in 0..args.jobs {
        let (_, outgoing) = Outgoing::job(JobMessage::new("noop", spec.clone()), Priority::Bulk);
        batch.push(outgoing);
        if batch.len() == 1000 {
            producer.publish(&batch).await?;
            batch.clear();
        }
    }
    producer.publish(&batch).await?;
    let published_secs = began.elapsed().as_secs_f64();
    let total = args.jobs as i64;
    wait_until("all jobs to end", Duration::from_secs(1800), || async {
        tokio::time::sleep(Duration::from_millis(45)).await;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM jobs WHERE state IN ('succeeded','failed','cancelled')",
        )
        .fetch_one(&pool)
        .await?;
        Ok(n >= total)
    })
    .await?;
    let wall = began.elapsed().as_secs_f64();
    let (p50, p99, failed, checkpoints): (f64, f64, i64, i64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - enqueued_at) * 1000), \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - enqueued_at) * 1000), \
                count(*) FILTER (WHERE state <> 'succeeded'), \
                (SELECT count(*) FROM job_steps) \
         FROM jobs",
    )
    .fetch_one(&pool)
    .await?;

    let resume_ms = if args.no_kill {
        None
    } else {
        eprintln!("bench: resume after SIGKILL");
        Some(resume_after_kill(&producer, &pool, &mut workers).await?)
    };
    drop(workers);
    drop(producer);
    pool.close().await;
    Scratch::finish(admin, &scratch).await?;

    let report = json!({
        "bench": "engine",
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
        "jobs": args.jobs,
        "steps": args.steps,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "publish_secs": round(published_secs),
        "wall_secs": round(wall),
        "jobs_per_sec": round(args.jobs as f64 / wall),
        "checkpoints_per_sec": round(checkpoints as f64 / wall),
        "latency_p50_ms": round(p50),
        "latency_p99_ms": round(p99),
        "not_succeeded": failed,
        "idle": {
            "samples": args.idle_samples,
            "latency_p50_ms": round(percentile(&mut idle_first_step, 0.5)),
            "latency_p99_ms": round(percentile(&mut idle_first_step, 0.99)),
            "job_total_p50_ms": round(percentile(&mut idle_total, 0.5)),
        },
        "resume_after_kill_ms": resume_ms.map(round),
    });
    if args.json {
        output::json(&report);
    } else {
        out!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// SIGKILLs the worker running a job mid-way; returns ms until another worker resumed it.
async fn resume_after_kill(
    producer: &Producer,
    pool: &PgPool,
    workers: &mut Workers,
) -> Result<f64, Failure> {
    let id = producer
        .publish_job(
            JobMessage::new("noop", json!({ "steps": 6, "step_ms": 500 })),
            Priority::Interactive,
        )
        .await?;
    wait_until(
        "the long job's 2nd checkpoint",
        Duration::from_secs(60),
        || async {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM job_steps WHERE job_id = $1")
                .bind(id)
                .fetch_one(pool)
                .await?;
            Ok(n >= 2)
        },
    )
    .await?;
    let owner: String = sqlx::query_scalar("SELECT lease_owner FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?;
    let pid: u32 = owner
        .split(':')
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let Some(index) = workers.0.iter().position(|c| c.id() == pid) else {
        return Err(Failure::Other(anyhow::anyhow!(
            "job owner {owner} is not one of the bench's workers"
        )));
    };
    let mut victim = workers.0.remove(index);
    let killed = victim.kill();
    let _ = victim.wait();
    killed.map_err(|e| Failure::Other(e.into()))?;
    let killed_at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT now()").fetch_one(pool).await?;
    wait_until("the job to resume", Duration::from_secs(60), || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM job_attempts WHERE job_id = $1 AND attempt = 2",
        )
        .bind(id)
        .fetch_one(pool)
        .await?;
        Ok(n == 1)
    })
    .await?;
    let resumed_at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT started_at FROM job_attempts WHERE job_id = $1 AND attempt = 2")
            .bind(id)
            .fetch_one(pool)
            .await?;
    Ok((resumed_at - killed_at).num_microseconds().unwrap_or(0) as f64 / 1000.0)
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((values.len() - 1) as f64 * q).round() as usize;
    values[rank]
}
