//! [`Job`]: what a workflow holds while it runs — named steps, progress, compensation.
//!
//! `job.step("name", |run| async { ... })` returns the checkpointed output when the step completed
//! in an earlier attempt; otherwise it runs the closure (retrying retryable errors with the
//! job's [`RetryPolicy`]) and checkpoints the output before returning it. Step names are the
//! identities stored in checkpoints: never derive them from positions.

use futures::future::BoxFuture;
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{Backend, Resources, RetryPolicy, StepError};

/// Who the job is, as a workflow may need to know.
#[derive(Debug, Clone)]
pub struct JobInfo {
    pub id: Uuid,
    pub kind: String,
    /// 1 for the first claim of the job, 2 after a crash, a retry or a hand-over, ...
    pub attempt: u32,
    /// True when the job exceeded its crash budget: steps not yet completed fail at once so that
    /// compensation can clean up.
    pub exhausted: bool,
}

type Undo = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), StepError>> + Send>;

/// One attempt of one job, handed to [`crate::Workflow::run`].
pub struct Job {
    info: JobInfo,
    backend: Arc<dyn Backend>,
    resources: Arc<Resources>,
    retry: RetryPolicy,
    undo: Mutex<Vec<(String, Undo)>>,
}

/// What a step body gets on each try.
#[derive(Clone)]
pub struct StepRun {
    /// 1 on the first try of this step in this attempt.
    pub try_number: u32,
    backend: Arc<dyn Backend>,
}

impl StepRun {
    /// Fires when the step should stop early (cancel, lost lease, shutdown deadline).
    pub fn cancellation(&self) -> CancellationToken {
        self.backend.cancellation()
    }

    /// The error to return after noticing `cancellation()`.
    pub fn stop_reason(&self) -> StepError {
        self.backend.stop_reason()
    }

    /// Reports job progress from inside a long step.
    pub fn progress(&self, percent: f32, message: &str) {
        self.backend.progress(percent, message);
    }
}

impl Job {
    pub fn new(
        info: JobInfo,
        backend: Arc<dyn Backend>,
        resources: Arc<Resources>,
        retry: RetryPolicy,
    ) -> Self {
        Job {
            info,
            backend,
            resources,
            retry,
            undo: Mutex::new(Vec::new()),
        }
    }

    pub fn info(&self) -> &JobInfo {
        &self.info
    }

    pub fn id(&self) -> Uuid {
        self.info.id
    }

    /// Database, secrets and data directory for the workflow's own use.
    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    /// True when step `name` completed in an earlier attempt (its output will be replayed).
    pub fn is_done(&self, name: &str) -> bool {
        self.backend.completed(name).is_some()
    }

    /// Runs the step called `name` once per job, durably (see the module docs).
    pub async fn step<T, F, Fut>(&self, name: &str, body: F) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(StepRun) -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        self.step_with(name, self.retry, body).await
    }

    /// [`Job::step`] with a retry policy of its own.
    pub async fn step_with<T, F, Fut>(
        &self,
        name: &str,
        retry: RetryPolicy,
        body: F,
    ) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(StepRun) -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        if let Some(saved) = self.backend.completed(name) {
            return serde_json::from_value(saved).map_err(|e| {
                StepError::Permanent(format!(
                    "checkpoint of step {name:?} does not match this version of the workflow: {e}"
                ))
            });
        }
        self.backend.before_step(name).await?;
        if self.info.exhausted {
            return Err(StepError::Permanent(format!(
                "step {name:?} not started: the job's workers died too many times"
            )));
        }
        let span = self.backend.step_span(name);
        let ran = self
            .run_step(name, retry, body)
            .instrument(span.clone())
            .await;
        if !span.is_none() {
            match &ran {
                Ok(_) => span.record("outcome", "succeeded"),
                Err(error) => span
                    .record("outcome", error.outcome())
                    .record("otel.status_code", "error"),
            };
        }
        ran
    }

    /// A step's tries, then its checkpoint.
    async fn run_step<T, F, Fut>(
        &self,
        name: &str,
        retry: RetryPolicy,
        mut body: F,
    ) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(StepRun) -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let mut delays = retry.delays();
        let mut try_number = 1;
        let output = loop {
            let run = StepRun {
                try_number,
                backend: self.backend.clone(),
            };
            match body(run).await {
                Ok(output) => break output,
                Err(error) if error.is_retryable() => {
                    let Some(delay) = delays.next() else {
                        return Err(StepError::Exhausted {
                            tries: try_number,
                            last: error.to_string(),
                        });
                    };
                    self.backend.retrying(name, try_number, &error, delay).await;
                    let cancel = self.backend.cancellation();
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = cancel.cancelled() => return Err(self.backend.stop_reason()),
                    }
                    try_number += 1;
                }
                Err(error) => return Err(error),
            }
        };
        let value = serde_json::to_value(&output).map_err(|e| {
            StepError::Permanent(format!("output of step {name:?} is not serializable: {e}"))
        })?;
        self.backend.checkpoint(name, value).await?;
        Ok(output)
    }

    /// Registers how to undo step `name` if the job later fails or is cancelled. Call it right
    /// after the step (also when the step was skipped on resume: registration is not durable,
    /// the code path is). Compensations run in reverse order of registration, each at most once.
    pub fn on_failure<F, Fut>(&self, name: &str, undo: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), StepError>> + Send + 'static,
    {
        let undo: Undo = Box::new(move || Box::pin(undo()));
        self.undo
            .lock()
            .expect("undo list poisoned")
            .push((name.to_string(), undo));
    }

    /// Runs the registered compensations, last first, skipping those already done. A compensation
    /// that fails stops the chain: the job ends `failed` with that error, and `understudy retry`
    /// runs the remaining ones later.
    pub async fn compensate(&self) -> Result<usize, StepError> {
        let registered = std::mem::take(&mut *self.undo.lock().expect("undo list poisoned"));
        let mut done = 0;
        for (name, undo) in registered.into_iter().rev() {
            if self.backend.compensated(&name) {
                continue;
            }
            undo().await.map_err(|e| {
                StepError::Permanent(format!("compensation of step {name:?} failed: {e}"))
            })?;
            self.backend.mark_compensated(&name).await?;
            done += 1;
        }
        Ok(done)
    }

    /// Reports job progress (0–100) with a short message.
    pub fn progress(&self, percent: f32, message: &str) {
        self.backend.progress(percent, message);
    }

    /// Fires when the job should stop early.
    pub fn cancellation(&self) -> CancellationToken {
        self.backend.cancellation()
    }
}
