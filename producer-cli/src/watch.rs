//! Following jobs: `understudy watch`, and what every enqueueing command prints and, with
//! `--wait`, follows. One invocation prints one JSON document with `--json`.

use serde_json::{Map, Value};
use sqlx::PgPool;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use understudy_worker::queries::{self, JobView};
use understudy_worker::state::JobState;
use uuid::Uuid;

use crate::commands::{not_found, Failure, Outcome};
use crate::output;

/// How long `understudy watch ID` waits for an unknown job before it says it does not exist.
const NOT_FOUND_PATIENCE: Duration = Duration::from_secs(15);
/// How long a job just enqueued may be unknown before `--wait` says it waits for a worker.
const WORKER_HINT_AFTER: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(150);

/// Whether the job being followed is known to have been published.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// This invocation published it: it exists, maybe only in the queue (no worker yet). Wait.
    Published,
    /// An id from the user: it may not exist.
    Maybe,
}

/// What an enqueueing command prints: the job id (what the worker really has when an
/// idempotency key made this a duplicate) and command-specific fields such as `out_dir`.
pub struct Enqueued {
    pub id: Uuid,
    pub extra: Map<String, Value>,
}

impl Enqueued {
    pub fn new(id: Uuid) -> Self {
        Enqueued {
            id,
            extra: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

/// After a publish: without `wait` prints the id (or `{"job_id", …}`); with `wait` follows the
/// job and prints its end state, as one JSON document with `json`.
pub async fn finish(pool: &PgPool, enqueued: Enqueued, wait: bool, json: bool) -> Outcome {
    let Enqueued { id, extra } = enqueued;
    if !json {
        out!("{id}");
    }
    if !wait {
        if json {
            let mut doc = Map::new();
            doc.insert("job_id".into(), Value::from(id.to_string()));
            doc.extend(extra);
            output::json(&doc);
        }
        return Ok(ExitCode::SUCCESS);
    }
    follow(pool, id, json, Known::Published, extra).await
}

/// The id the worker has for a message published with `key`: the earlier job's when the key
/// was used before, else the id the message was published with.
pub async fn settled_id(
    pool: &PgPool,
    key: Option<&str>,
    published: Uuid,
) -> Result<Uuid, Failure> {
    Ok(match key {
        Some(key) => queries::job_id_for_key(pool, key)
            .await?
            .unwrap_or(published),
        None => published,
    })
}

/// `understudy watch ID`.
pub async fn watch(pool: &PgPool, id: Uuid, json: bool) -> Outcome {
    follow(pool, id, json, Known::Maybe, Map::new()).await
}

/// Follows the job with a progress line on stderr; exit 0 when it succeeds, 1 when it fails or
/// is cancelled. `extra` fields go into the final JSON document.
async fn follow(
    pool: &PgPool,
    id: Uuid,
    json: bool,
    known: Known,
    extra: Map<String, Value>,
) -> Outcome {
    let tty = std::io::stderr().is_terminal() && !json;
    let began = Instant::now();
    let mut hinted = false;
    let mut last_line = String::new();
    loop {
        let Some(job) = queries::job(pool, id).await? else {
            match known {
                Known::Maybe if began.elapsed() > NOT_FOUND_PATIENCE => return Err(not_found(id)),
                Known::Published if !hinted && began.elapsed() > WORKER_HINT_AFTER => {
                    eprintln!(
                        "job {id} is queued, waiting for a worker to take it in (is understudy-worker running?)"
                    );
                    hinted = true;
                }
                _ => {}
            }
            tokio::time::sleep(POLL).await;
            continue;
        };
        let percent = job.progress_percent.unwrap_or(0.0);
        let line = format!(
            "{} {:>3.0}% {:<9} {}",
            bar(percent, 30),
            percent,
            job.state.as_str(),
            job.progress_message.as_deref().unwrap_or("")
        );
        if line != last_line && !json {
            if tty {
                eprint!("\r\x1b[2K{line}");
                let _ = std::io::stderr().flush();
            } else {
                eprintln!("{line}");
            }
            last_line = line;
        }
        if job.state.is_terminal() {
            if tty {
                eprintln!();
            }
            let steps = queries::steps(pool, id).await?;
            if json {
                let mut doc = Map::new();
                doc.insert("job_id".into(), Value::from(id.to_string()));
                doc.extend(extra);
                doc.insert(
                    "job".into(),
                    serde_json::to_value(&job).map_err(anyhow::Error::from)?,
                );
                doc.insert(
                    "steps".into(),
                    serde_json::to_value(&steps).map_err(anyhow::Error::from)?,
                );
                output::json(&doc);
            } else {
                output::job(&job, &steps);
            }
            return Ok(exit_for(&job));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn exit_for(job: &JobView) -> ExitCode {
    if job.state == JobState::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Follows many jobs (a bulk refresh) until all end: a count line on stderr, then a table (or
/// `{"enqueued", "job_ids", "jobs"}`); exit 1 when any did not succeed.
pub async fn follow_all(pool: &PgPool, ids: &[Uuid], json: bool) -> Outcome {
    let mut ended: Vec<Option<JobView>> = vec![None; ids.len()];
    let mut last_line = String::new();
    let began = Instant::now();
    let mut hinted = false;
    loop {
        let mut unknown = 0;
        for (slot, id) in ended.iter_mut().zip(ids) {
            if slot.is_some() {
                continue;
            }
            match queries::job(pool, *id).await? {
                Some(job) if job.state.is_terminal() => *slot = Some(job),
                Some(_) => {}
                None => unknown += 1,
            }
        }
        let done: Vec<&JobView> = ended.iter().flatten().collect();
        let failed = done
            .iter()
            .filter(|j| j.state != JobState::Succeeded)
            .count();
        let line = format!(
            "{}/{} ended ({failed} not succeeded)",
            done.len(),
            ids.len()
        );
        if line != last_line {
            eprintln!("{line}");
            last_line = line;
        }
        if !hinted && unknown > 0 && began.elapsed() > WORKER_HINT_AFTER {
            eprintln!("{unknown} jobs are queued, waiting for a worker to take them in (is understudy-worker running?)");
            hinted = true;
        }
        if done.len() == ids.len() {
            let jobs: Vec<JobView> = ended.into_iter().flatten().collect();
            if json {
                output::json(&serde_json::json!({
                    "enqueued": ids.len(), "job_ids": ids, "jobs": jobs,
                }));
            } else {
                output::job_table(&jobs);
            }
            return Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn bar(percent: f32, width: usize) -> String {
    let filled = ((percent.clamp(0.0, 100.0) / 100.0) * width as f32).round() as usize;
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}
