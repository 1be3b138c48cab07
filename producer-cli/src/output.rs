//! Printing for people (aligned text) and for programs (`--json`).

use serde::Serialize;
use understudy_worker::queries::{EventView, JobView, StepView};

/// Writes to stdout. A reader that closed the pipe (`understudy list | head -3`) ends the
/// program quietly with exit 0: what it wanted was printed. Any other write error exits 1.
pub fn write(text: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("understudy: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// One JSON document.
pub fn json(value: &impl Serialize) {
    out!(
        "{}",
        serde_json::to_string_pretty(value).expect("output serializes")
    );
}

pub fn job(job: &JobView, steps: &[StepView]) {
    out!("job       {}", job.id);
    out!("kind      {}", job.kind);
    out!(
        "state     {}{}",
        job.state,
        if job.cancel_requested_at.is_some() && !job.state.is_terminal() {
            " (cancel requested)"
        } else {
            ""
        }
    );
    out!("priority  {:?}", job.priority);
    out!("attempt   {}", job.attempt);
    if let Some(p) = job.progress_percent {
        out!(
            "progress  {:.0}% {}",
            p,
            job.progress_message.as_deref().unwrap_or("")
        );
    }
    if let Some(key) = &job.concurrency_key {
        out!("conc. key {key}");
    }
    out!("enqueued  {}", job.enqueued_at.to_rfc3339());
    if let Some(t) = job.started_at {
        out!("started   {}", t.to_rfc3339());
    }
    if let Some(t) = job.finished_at {
        out!("finished  {}", t.to_rfc3339());
    }
    if !steps.is_empty() {
        out!("steps");
        for step in steps {
            out!(
                "  {:<24} {:<11} attempt {}",
                step.name,
                step.state,
                step.attempt
            );
        }
    }
    if let Some(result) = &job.result {
        out!("result    {result}");
    }
    if let Some(error) = &job.error {
        out!("error     {error}");
    }
}

pub fn job_table(jobs: &[JobView]) {
    if jobs.is_empty() {
        out!("no jobs");
        return;
    }
    out!(
        "{:<36}  {:<10}  {:<9}  {:>4}  {:>4}  created",
        "id",
        "kind",
        "state",
        "try",
        "%"
    );
    for job in jobs {
        out!(
            "{:<36}  {:<10}  {:<9}  {:>4}  {:>4}  {}",
            job.id,
            job.kind,
            job.state.as_str(),
            job.attempt,
            job.progress_percent
                .map(|p| format!("{p:.0}"))
                .unwrap_or_default(),
            job.created_at.format("%Y-%m-%d %H:%M:%S")
        );
    }
}

pub fn events(events: &[EventView]) {
    for e in events {
        out!(
            "{}  {:<16} {:<8} {:<20} {}",
            e.at.format("%H:%M:%S%.3f"),
            e.event_type,
            e.attempt.map(|a| format!("try {a}")).unwrap_or_default(),
            e.step.as_deref().unwrap_or(""),
            e.message.as_deref().unwrap_or("")
        );
    }
}
