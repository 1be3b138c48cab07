//! Prometheus metrics of one worker process, rendered in the text exposition format.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `understudy_jobs_started_total` | counter | kind |
//! | `understudy_jobs_finished_total` | counter | kind, outcome (succeeded, failed, cancelled, interrupted) |
//! | `understudy_step_retries_total` | counter | kind |
//! | `understudy_step_duration_seconds` | histogram | kind, step (the name up to its first `:`) |
//! | `understudy_jobs_in_flight` | gauge | |
//! | `understudy_lease_takeovers_total` | counter | |
//! | `understudy_dead_lettered_total` | counter | |
//! | `understudy_queue_depth` | gauge | priority (jobs stored and waiting to be claimed) |

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 600.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Counters and histograms, shared by the parts of a worker.
#[derive(Default)]
pub struct Metrics {
    started: Mutex<BTreeMap<String, u64>>,
    finished: Mutex<BTreeMap<(String, &'static str), u64>>,
    retries: Mutex<BTreeMap<String, u64>>,
    steps: Mutex<BTreeMap<(String, String), Histogram>>,
    pub in_flight: AtomicU64,
    pub takeovers: AtomicU64,
    pub dead_lettered: AtomicU64,
    queue_depth: Mutex<BTreeMap<String, i64>>,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *map.lock()
        .expect("metrics poisoned")
        .entry(key)
        .or_default() += 1;
}

/// `copy:public.wp_posts` → `copy`: keeps label cardinality bounded.
pub fn step_family(step: &str) -> &str {
    step.split(':').next().unwrap_or(step)
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn job_started(&self, kind: &str) {
        bump(&self.started, kind.to_string());
    }

    pub fn job_finished(&self, kind: &str, outcome: &'static str) {
        bump(&self.finished, (kind.to_string(), outcome));
    }

    pub fn step_retried(&self, kind: &str) {
        bump(&self.retries, kind.to_string());
    }

    pub fn step_took(&self, kind: &str, step: &str, seconds: f64) {
        let mut steps = self.steps.lock().expect("metrics poisoned");
        let h = steps
            .entry((kind.to_string(), step_family(step).to_string()))
            .or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    pub fn set_queue_depth(&self, priority: &str, depth: i64) {
        self.queue_depth
            .lock()
            .expect("metrics poisoned")
            .insert(priority.to_string(), depth);
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        counter(
            &mut out,
            "understudy_jobs_started_total",
            "Job attempts started, by kind.",
        );
        for (kind, n) in self.started.lock().expect("metrics poisoned").iter() {
            let _ = writeln!(
                out,
                "understudy_jobs_started_total{{kind=\"{}\"}} {n}",
                escape(kind)
            );
        }
        counter(
            &mut out,
            "understudy_jobs_finished_total",
            "Job attempts ended, by kind and outcome.",
        );
        for ((kind, outcome), n) in self.finished.lock().expect("metrics poisoned").iter() {
            let _ = writeln!(
                out,
                "understudy_jobs_finished_total{{kind=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(kind)
            );
        }
        counter(
            &mut out,
            "understudy_step_retries_total",
            "Step tries that failed with a retryable error, by kind.",
        );
        for (kind, n) in self.retries.lock().expect("metrics poisoned").iter() {
            let _ = writeln!(
                out,
                "understudy_step_retries_total{{kind=\"{}\"}} {n}",
                escape(kind)
            );
        }
        let _ = writeln!(out, "# HELP understudy_step_duration_seconds Time from a step's start to its checkpoint.\n# TYPE understudy_step_duration_seconds histogram");
        for ((kind, step), h) in self.steps.lock().expect("metrics poisoned").iter() {
            let labels = format!("kind=\"{}\",step=\"{}\"", escape(kind), escape(step));
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "understudy_step_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "understudy_step_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "understudy_step_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "understudy_step_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(
            &mut out,
            "understudy_jobs_in_flight",
            "Jobs this worker is running now.",
            self.in_flight.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "understudy_lease_takeovers_total",
            "Jobs this worker requeued because their lease expired.",
        );
        let _ = writeln!(
            out,
            "understudy_lease_takeovers_total {}",
            self.takeovers.load(Ordering::Relaxed)
        );
        counter(
            &mut out,
            "understudy_dead_lettered_total",
            "Messages this worker stored as dead letters.",
        );
        let _ = writeln!(
            out,
            "understudy_dead_lettered_total {}",
            self.dead_lettered.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP understudy_queue_depth Jobs stored and waiting to be claimed, by priority.\n# TYPE understudy_queue_depth gauge");
        for (priority, depth) in self.queue_depth.lock().expect("metrics poisoned").iter() {
            let _ = writeln!(
                out,
                "understudy_queue_depth{{priority=\"{priority}\"}} {depth}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.job_started("noop");
        m.job_finished("noop", "succeeded");
        m.step_took("clone", "copy:public.wp_posts", 0.2);
        m.set_queue_depth("bulk", 7);
        let text = m.render();
        assert!(text.contains("understudy_jobs_started_total{kind=\"noop\"} 1"));
        assert!(
            text.contains("understudy_jobs_finished_total{kind=\"noop\",outcome=\"succeeded\"} 1")
        );
        assert!(text.contains(
            "understudy_step_duration_seconds_bucket{kind=\"clone\",step=\"copy\",le=\"0.25\"} 1"
        ));
        assert!(text.contains(
            "understudy_step_duration_seconds_bucket{kind=\"clone\",step=\"copy\",le=\"0.1\"} 0"
        ));
        assert!(text.contains("understudy_queue_depth{priority=\"bulk\"} 7"));
    }
}
