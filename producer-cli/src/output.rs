//! Printing for people (aligned text) and for programs (`--json`).

use serde::Serialize;
use understudy_worker::queries::{EventView, JobView, StepView};

pub fn json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("output serializes")
    );
}

pub fn job(job: &JobView, steps: &[StepView]) {
    println!("job       {}", job.id);
    println!("kind      {}", job.kind);
    println!(
        "state     {}{}",
        job.state,
        if job.cancel_requested_at.is_some() && !job.state.is_terminal() {
            " (cancel requested)"
        } else {
            ""
        }
    );
    println!("priority  {:?}", job.priority);
    println!("attempt   {}", job.attempt);
    if let Some(p) = job.progress_percent {
        println!(
            "progress  {:.0}% {}",
            p,
            job.progress_message.as_deref().unwrap_or("")
        );
    }
    if let Some(key) = &job.concurrency_key {
        println!("conc. key {key}");
    }
    println!("enqueued  {}", job.enqueued_at.to_rfc3339());
    if let Some(t) = job.started_at {
        println!("started   {}", t.to_rfc3339());
    }
    if let Some(t) = job.finished_at {
        println!("finished  {}", t.to_rfc3339());
    }
    if !steps.is_empty() {
        println!("steps");
        for step in steps {
            println!(
                "  {:<24} {:<11} attempt {}",
                step.name, step.state, step.attempt
            );
        }
    }
    if let Some(result) = &job.result {
        println!("result    {result}");
    }
    if let Some(error) = &job.error {
        println!("error     {error}");
    }
}

pub fn job_table(jobs: &[JobView]) {
    if jobs.is_empty() {
        println!("no jobs");
        return;
    }
    println!(
        "{:<36}  {:<10}  {:<9}  {:>4}  {:>4}  created",
        "id", "kind", "state", "try", "%"
    );
    for job in jobs {
        println!(
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
        println!(
            "{}  {:<16} {:<8} {:<20} {}",
            e.at.format("%H:%M:%S%.3f"),
            e.event_type,
            e.attempt.map(|a| format!("try {a}")).unwrap_or_default(),
            e.step.as_deref().unwrap_or(""),
            e.message.as_deref().unwrap_or("")
        );
    }
}
