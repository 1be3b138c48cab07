//! The `noop` kind: N named steps that sleep, for demos, tests and benchmarks.
//!
//! Spec: `{"steps": N, "step_ms": M, "fail_step": K?, "fail_mode": "permanent"|"retryable",
//! "fail_times": T?, "compensate": bool, "effects_dir": "/path"?}`.
//! - `fail_step` K fails: `permanent` during the job's first T attempts (default: always),
//!   `retryable` on its first T tries within an attempt (default 2), then succeeds.
//! - `compensate` registers an undo for every completed step.
//! - `effects_dir` makes each step's side effect observable: the step appends
//!   `<job> <step> <attempt>` to `<dir>/<job>.effects` when it runs, and an undo appends
//!   `<job> undo:<step> <attempt>`. Tests count these lines.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Job, SpecError, StepError, StepRun, Workflow};

/// Upper bounds that keep a noop job from being a denial of service.
const MAX_STEPS: u32 = 1_000;
const MAX_STEP_MS: u64 = 3_600_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    steps: u32,
    #[serde(default)]
    step_ms: u64,
    #[serde(default)]
    fail_step: Option<u32>,
    #[serde(default)]
    fail_mode: FailMode,
    #[serde(default)]
    fail_times: Option<u32>,
    #[serde(default)]
    compensate: bool,
    #[serde(default)]
    effects_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum FailMode {
    #[default]
    Permanent,
    Retryable,
}

impl Spec {
    fn parse(spec: &Value) -> Result<Spec, SpecError> {
        let spec: Spec = serde_json::from_value(spec.clone()).map_err(|e| {
            SpecError::new(format!(
                "noop: {e} (expected {{\"steps\": N, \"step_ms\": M, \"fail_step\": K?}})"
            ))
        })?;
        if spec.steps == 0 || spec.steps > MAX_STEPS {
            return Err(SpecError::new(format!(
                "noop: steps must be 1..={MAX_STEPS}, got {}",
                spec.steps
            )));
        }
        if spec.step_ms > MAX_STEP_MS {
            return Err(SpecError::new(format!(
                "noop: step_ms must be at most {MAX_STEP_MS}, got {}",
                spec.step_ms
            )));
        }
        if let Some(k) = spec.fail_step {
            if k == 0 || k > spec.steps {
                return Err(SpecError::new(format!(
                    "noop: fail_step must be 1..={}, got {k}",
                    spec.steps
                )));
            }
        }
        if let Some(dir) = &spec.effects_dir {
            if !dir.is_absolute() {
                return Err(SpecError::new("noop: effects_dir must be an absolute path"));
            }
        }
        Ok(spec)
    }
}

/// The `noop` workflow.
pub struct Noop;

#[async_trait]
impl Workflow for Noop {
    fn kind(&self) -> &'static str {
        "noop"
    }

    fn validate(&self, spec: &Value) -> Result<(), SpecError> {
        Spec::parse(spec).map(|_| ())
    }

    async fn run(&self, job: &Job, spec: Value) -> Result<Value, StepError> {
        let spec = Spec::parse(&spec).map_err(StepError::permanent)?;
        let attempt = job.info().attempt;
        for k in 1..=spec.steps {
            let name = format!("step-{k}");
            let done: u32 = job
                .step(&name, |run| {
                    let spec = spec.clone();
                    let name = name.clone();
                    let job_id = job.id();
                    async move {
                        sleep_or_stop(&run, spec.step_ms).await?;
                        if spec.fail_step == Some(k) && should_fail(&spec, attempt, &run) {
                            let message = format!("noop: {name} failed as asked (fail_step={k})");
                            return Err(match spec.fail_mode {
                                FailMode::Permanent => StepError::Permanent(message),
                                FailMode::Retryable => StepError::Retryable(message),
                            });
                        }
                        if let Some(dir) = &spec.effects_dir {
                            record_effect(dir, job_id, &name, attempt)?;
                        }
                        run.progress(100.0 * k as f32 / spec.steps as f32, &name);
                        Ok(k)
                    }
                })
                .await?;
            if spec.compensate {
                let dir = spec.effects_dir.clone();
                let job_id = job.id();
                let undo_name = format!("undo:{name}");
                job.on_failure(&name, move || async move {
                    if let Some(dir) = dir {
                        record_effect(&dir, job_id, &undo_name, attempt)?;
                    }
                    Ok(())
                });
            }
            debug_assert_eq!(done, k);
        }
        Ok(json!({ "steps": spec.steps }))
    }
}

fn should_fail(spec: &Spec, attempt: u32, run: &StepRun) -> bool {
    match spec.fail_mode {
        FailMode::Permanent => spec.fail_times.is_none_or(|t| attempt <= t),
        FailMode::Retryable => run.try_number <= spec.fail_times.unwrap_or(2),
    }
}

async fn sleep_or_stop(run: &StepRun, ms: u64) -> Result<(), StepError> {
    if ms == 0 {
        return Ok(());
    }
    let cancel = run.cancellation();
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => Ok(()),
        _ = cancel.cancelled() => Err(run.stop_reason()),
    }
}

/// Appends one line in a single write, so concurrent writers never interleave within a line.
fn record_effect(dir: &Path, job: uuid::Uuid, what: &str, attempt: u32) -> Result<(), StepError> {
    let path = dir.join(format!("{job}.effects"));
    let line = format!("{job} {what} {attempt}\n");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| StepError::retryable(format!("noop: cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_validation_says_what_is_wrong() {
        let noop = Noop;
        assert!(noop.validate(&json!({"steps": 5, "step_ms": 10})).is_ok());
        let err = noop.validate(&json!({"steps": 0})).unwrap_err();
        assert!(err.to_string().contains("steps must be"), "{err}");
        let err = noop.validate(&json!({"steps": "five"})).unwrap_err();
        assert!(err.to_string().contains("expected"), "{err}");
        let err = noop
            .validate(&json!({"steps": 3, "fail_step": 4}))
            .unwrap_err();
        assert!(err.to_string().contains("fail_step"), "{err}");
        let err = noop.validate(&json!({"steps": 3, "bogus": 1})).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
        let err = noop
            .validate(&json!({"steps": 1, "effects_dir": "relative"}))
            .unwrap_err();
        assert!(err.to_string().contains("absolute"), "{err}");
    }
}
