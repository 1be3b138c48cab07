//! `understudy bench chaos`: noop jobs with side-effect counters, and small real clone jobs
//! (PostgreSQL and MariaDB, see `chaos_clone`), across worker processes while
//! faults are injected — a worker SIGKILLed (and a new one started), RabbitMQ's application
//! restarted, PostgreSQL restarted, a worker's broker connection severed — then a report:
//! accepted, succeeded, failed (with reasons), lost, duplicated side effects, resume delays.
//! Bounded in time and count; everything it starts is stopped; loopback only.
//!
//! "Duplicated" means a step whose side effect ran again after the step was checkpointed (the
//! engine's promise). A step interrupted between its effect and its checkpoint runs again by
//! design (steps are idempotent; execution is at least once): those are counted separately as
//! `reexecuted_before_checkpoint`.

use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use understudy_worker::contract::{JobMessage, Priority};
use understudy_worker::producer::Outgoing;
use understudy_worker::Settings;
use uuid::Uuid;

use super::chaos_clone::CloneMix;
use super::{round, Scratch};
use crate::cli::BenchChaosArgs;
use crate::commands::{Failure, Outcome};
use crate::output;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum Fault {
    KillWorker,
    RestartRabbitmq,
    RestartPostgres,
    SeverConnection,
}

fn parse_faults(names: &[String]) -> Result<Vec<Fault>, Failure> {
    names
        .iter()
        .map(|name| match name.as_str() {
            "kill" => Ok(Fault::KillWorker),
            "rabbitmq" => Ok(Fault::RestartRabbitmq),
            "sever" => Ok(Fault::SeverConnection),
            "postgres" => Ok(Fault::RestartPostgres),
            other => Err(Failure::Input(format!(
                "--faults: unknown fault {other:?} (use kill, rabbitmq, sever, postgres)"
            ))),
        })
        .collect()
}

/// Runs a command by argv; returns a one-line error on failure.
fn run(argv: &[&str]) -> Result<String, String> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| format!("{}: {e}", argv[0]))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{} failed: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Closes the broker connection of one of our workers (named `<host>:<pid>:<id>`).
fn sever(pids: &[u32]) -> Result<String, String> {
    let listing = run(&[
        "rabbitmqctl",
        "list_connections",
        "client_properties",
        "pid",
        "--quiet",
        "--no-table-headers",
    ])?;
    for line in listing.lines() {
        let Some(name) = line
            .split("{\"connection_name\",\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        let owned = name.split(':').nth(1).and_then(|p| p.parse::<u32>().ok());
        if owned.is_some_and(|p| pids.contains(&p)) {
            let pid = line.rsplit('\t').next().unwrap_or_default().trim();
            run(&["rabbitmqctl", "close_connection", pid, "understudy chaos"])?;
            return Ok(name.to_string());
        }
    }
    Err("no worker connection to sever (workers reconnecting?)".into())
}

pub async fn chaos(settings: &Settings, args: BenchChaosArgs) -> Outcome {
    let schedule = parse_faults(&args.faults)?;
    let effects =
        std::env::temp_dir().join(format!("understudy-chaos-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&effects).map_err(|e| Failure::Other(e.into()))?;
    let mut bench = Scratch::start(settings, "understudy-chaos", args.workers, 4).await?;
    let mut clones = CloneMix::new(args.clone_posts);
    let clone_batch = match clones.prepare(settings, &bench, args.clones).await {
        Ok(batch) => batch,
        Err(e) => {
            clones.cleanup().await;
            return Err(e);
        }
    };
    let mut rng = rand::rng();

    let mut accepted = Vec::new();
    let mut batch = Vec::new();
    for i in 0..args.jobs {
        let steps = rng.random_range(2..=6);
        let mut spec = json!({ "steps": steps, "step_ms": rng.random_range(100..=1200), "effects_dir": effects });
        if i % 5 == 0 {
            // A transient failure on the way, retried with backoff.
            spec["fail_step"] = json!(rng.random_range(1..=steps));
            spec["fail_mode"] = json!("retryable");
            spec["fail_times"] = json!(1);
        }
        let mut message = JobMessage::new("noop", spec);
        if i % 7 == 0 {
            message.concurrency_key = Some(format!("site-{}", i % 3));
        }
        let priority = if i % 10 == 0 {
            Priority::Interactive
        } else {
            Priority::Bulk
        };
        let (id, outgoing) = Outgoing::job(message, priority);
        accepted.push(id);
        batch.push(outgoing);
    }
    // Clones spread through the noop jobs, so that faults land on them too (not only on a
    // backlog's tail after the faults stopped).
    let stride = (batch.len() / clone_batch.len().max(1)).max(1);
    for (k, clone) in clone_batch.into_iter().enumerate().rev() {
        batch.insert((k * stride + stride / 2).min(batch.len()), clone);
    }
    bench.producer.publish(&batch).await?;
    let every: Vec<Uuid> = accepted.iter().copied().chain(clones.ids()).collect();
    eprintln!(
        "chaos: {} noop and {} clone jobs accepted; injecting faults every {} s for {} min",
        accepted.len(),
        every.len() - accepted.len(),
        args.fault_every,
        args.minutes
    );

    let started = Instant::now();
    let fault_until = started + Duration::from_secs_f64(args.minutes * 60.0);
    let mut faults: Vec<(Fault, chrono::DateTime<chrono::Utc>, Result<String, String>)> =
        Vec::new();
    let mut kills: Vec<(u32, chrono::DateTime<chrono::Utc>)> = Vec::new();
    let pg_restart: Vec<&str> = args.postgres_restart.split_whitespace().collect();
    let mut next = 0;
    while Instant::now() < fault_until && terminal(&bench, &every).await < every.len() {
        tokio::time::sleep(Duration::from_secs(args.fault_every)).await;
        let Some(&fault) = schedule.get(next % schedule.len().max(1)) else {
            continue;
        };
        next += 1;
        let at = chrono::Utc::now();
        let outcome = match fault {
            Fault::KillWorker => {
                let victim = rng.random_range(0..bench.workers.0.len());
                let mut child = bench.workers.0.remove(victim);
                let pid = child.id();
                let _ = child.kill();
                let _ = child.wait();
                kills.push((pid, at));
                bench
                    .spawn_worker()
                    .map(|new| format!("killed {pid}, started {new}"))
                    .map_err(|e| e.to_string())
            }
            Fault::RestartRabbitmq => run(&["rabbitmqctl", "stop_app"])
                .and_then(|_| run(&["rabbitmqctl", "start_app"]))
                .map(|_| "restarted".into()),
            Fault::RestartPostgres => run(&pg_restart).map(|_| "restarted".into()),
            Fault::SeverConnection => {
                let pids: Vec<u32> = bench.workers.0.iter().map(|c| c.id()).collect();
                sever(&pids)
            }
        };
        eprintln!(
            "chaos: {:?} {}",
            fault,
            match &outcome {
                Ok(s) => s.clone(),
                Err(e) => format!("FAILED: {e}"),
            }
        );
        faults.push((fault, at, outcome));
    }
    // No more faults: give every job the chance to end.
    let settle_until = Instant::now() + Duration::from_secs(180);
    while Instant::now() < settle_until && terminal(&bench, &every).await < every.len() {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let report = report(
        &bench,
        &accepted,
        &effects,
        &faults,
        &kills,
        started.elapsed(),
    )
    .await;
    let clone_report = clones.report(&bench.pool).await;
    clones.cleanup().await;
    let (mut report, clone_report) = (report?, clone_report?);
    report["clones"] = clone_report;
    let (admin, scratch) = bench.admin();
    drop(bench);
    Scratch::finish(admin, &scratch).await?;
    let _ = std::fs::remove_dir_all(&effects);
    let clean = |v: &Value| v["lost"] == 0 && v["failed"] == 0;
    let healthy = clean(&report)
        && report["duplicated_side_effects"] == 0
        && clean(&report["clones"])
        && report["clones"]["problems"]
            .as_array()
            .is_none_or(|p| p.is_empty());
    if args.json {
        output::json(&report);
    } else {
        out!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Jobs in a terminal state (0 while PostgreSQL is away).
async fn terminal(bench: &Scratch, ids: &[Uuid]) -> usize {
    sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM jobs WHERE id = ANY($1) AND finished_at IS NOT NULL",
    )
    .bind(ids)
    .fetch_one(&bench.pool)
    .await
    .map(|n| n as usize)
    .unwrap_or(0)
}

async fn report(
    bench: &Scratch,
    ids: &[Uuid],
    effects: &std::path::Path,
    faults: &[(Fault, chrono::DateTime<chrono::Utc>, Result<String, String>)],
    kills: &[(u32, chrono::DateTime<chrono::Utc>)],
    elapsed: Duration,
) -> Result<Value, Failure> {
    let pool = &bench.pool;
    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT state::text, count(*) FROM jobs WHERE id = ANY($1) GROUP BY 1")
            .bind(ids)
            .fetch_all(pool)
            .await?;
    let count = |s: &str| states.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    let reasons: Vec<(String, i64)> = sqlx::query_as(
        "SELECT error, count(*) FROM jobs WHERE id = ANY($1) AND state = 'failed' GROUP BY 1",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    let terminal: i64 = states
        .iter()
        .filter(|(s, _)| s != "queued" && s != "running")
        .map(|(_, n)| n)
        .sum();
    // Checkpoint attempt of every completed step.
    let steps: Vec<(Uuid, String, i32)> = sqlx::query_as("SELECT job_id, name, attempt FROM job_steps WHERE job_id = ANY($1) AND state = 'completed'")
        .bind(ids).fetch_all(pool).await?;
    let checkpointed: HashMap<(Uuid, String), i32> =
        steps.into_iter().map(|(j, n, a)| ((j, n), a)).collect();
    let (mut duplicated, mut reexecuted, mut effect_lines) = (0u64, 0u64, 0u64);
    for id in ids {
        let Ok(text) = std::fs::read_to_string(effects.join(format!("{id}.effects"))) else {
            continue;
        };
        for line in text.lines() {
            let mut parts = line.split(' ');
            let (_, step, attempt) = (
                parts.next(),
                parts.next().unwrap_or_default(),
                parts
                    .next()
                    .and_then(|a| a.parse::<i32>().ok())
                    .unwrap_or(0),
            );
            effect_lines += 1;
            match checkpointed.get(&(*id, step.to_string())) {
                Some(&at) if attempt > at => duplicated += 1,
                Some(&at) if attempt < at => reexecuted += 1,
                _ => {}
            }
        }
    }
    // Resume delay: from a SIGKILL to the next attempt of each job its worker was running.
    let mut max_resume_ms = 0f64;
    for (pid, at) in kills {
        let next: Vec<(Option<f64>,)> = sqlx::query_as(
            "SELECT extract(epoch FROM (SELECT min(n.started_at) FROM job_attempts n WHERE n.job_id = a.job_id AND n.attempt > a.attempt) - $2)::float8 * 1000 \
             FROM job_attempts a WHERE a.worker_id LIKE $1 AND a.outcome = 'abandoned'",
        )
        .bind(format!("%:{pid}:%"))
        .bind(at)
        .fetch_all(pool)
        .await?;
        for (ms,) in next {
            max_resume_ms = max_resume_ms.max(ms.unwrap_or(0.0));
        }
    }
    let mut tried: BTreeMap<Fault, (u32, u32)> = BTreeMap::new();
    for (fault, _, outcome) in faults {
        let entry = tried.entry(*fault).or_default();
        entry.0 += 1;
        if outcome.is_err() {
            entry.1 += 1;
        }
    }
    let takeovers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_attempts WHERE job_id = ANY($1) AND outcome = 'abandoned'",
    )
    .bind(ids)
    .fetch_one(pool)
    .await?;
    Ok(json!({
        "bench": "chaos",
        "seconds": round(elapsed.as_secs_f64()),
        "accepted": ids.len(),
        "succeeded": count("succeeded"),
        "failed": count("failed"),
        "failure_reasons": reasons.into_iter().map(|(r, n)| json!({"reason": r, "jobs": n})).collect::<Vec<_>>(),
        "cancelled": count("cancelled"),
        "lost": ids.len() as i64 - terminal,
        "duplicated_side_effects": duplicated,
        "reexecuted_before_checkpoint": reexecuted,
        "side_effects_recorded": effect_lines,
        "lease_takeovers": takeovers,
        "max_resume_after_kill_ms": round(max_resume_ms),
        "faults": tried.into_iter().map(|(f, (n, failed))| json!({"fault": f, "times": n, "could_not_apply": failed})).collect::<Vec<_>>(),
    }))
}
