//! `understudy watch`: a live progress bar fed by the job row, until the job ends.

use sqlx::PgPool;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use understudy_worker::queries;
use understudy_worker::state::JobState;
use uuid::Uuid;

use crate::commands::{not_found, Outcome};
use crate::output;

/// How long a job may be unknown before `watch` gives up (no worker took it in).
const NOT_FOUND_PATIENCE: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(150);

/// Follows the job; exit 0 when it succeeds, 1 when it fails or is cancelled.
pub async fn watch(pool: &PgPool, id: Uuid, json: bool) -> Outcome {
    let tty = std::io::stderr().is_terminal() && !json;
    let began = Instant::now();
    let mut last_line = String::new();
    loop {
        let Some(job) = queries::job(pool, id).await? else {
            if began.elapsed() > NOT_FOUND_PATIENCE {
                return Err(not_found(id));
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
                output::json(&serde_json::json!({ "job": job, "steps": steps }));
            } else {
                output::job(&job, &steps);
            }
            return Ok(if job.state == JobState::Succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

fn bar(percent: f32, width: usize) -> String {
    let filled = ((percent.clamp(0.0, 100.0) / 100.0) * width as f32).round() as usize;
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}
