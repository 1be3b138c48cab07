//! The engine side of a running job, as a workflow sees it.
//!
//! The worker implements this trait over PostgreSQL; a workflow only calls it through [`crate::Job`].

use async_trait::async_trait;
use serde_json::Value;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::StepError;

/// What the engine provides to one attempt of one job.
#[async_trait]
pub trait Backend: Send + Sync {
    /// The checkpointed output of `step` if it completed in an earlier attempt (and was not
    /// compensated since).
    fn completed(&self, step: &str) -> Option<Value>;

    /// True when `step`'s compensation already ran (it is not run twice).
    fn compensated(&self, step: &str) -> bool;

    /// Called before a step runs: fails with `Cancelled`, `Interrupted` or `LeaseLost` when the
    /// job must not start another step.
    async fn before_step(&self, step: &str) -> Result<(), StepError>;

    /// Durably records `step` as completed with `output`, fenced on this attempt's lease.
    /// Returns only once the checkpoint is committed.
    async fn checkpoint(&self, step: &str, output: Value) -> Result<(), StepError>;

    /// A retryable error happened; the step runs again after `delay`.
    async fn retrying(&self, step: &str, try_number: u32, error: &StepError, delay: Duration);

    /// Durably records that `step`'s compensation ran — and that every step completed at or
    /// after `step` was undone with it (their effects may rest on it: the clone's dropped
    /// incoming database holds every later step's copy), so a retried job re-runs them all
    /// instead of skipping steps whose output no longer exists.
    async fn mark_compensated(&self, step: &str) -> Result<(), StepError>;

    /// Reports progress of the job (0–100) with a short message. Cheap; never blocks.
    fn progress(&self, percent: f32, message: &str);

    /// Fires when a long step should stop early: the job was cancelled, its lease was lost, or the
    /// worker's shutdown grace ran out.
    fn cancellation(&self) -> CancellationToken;

    /// Why `cancellation()` fired, as the error the step should return.
    fn stop_reason(&self) -> StepError;

    /// The span of one run of `step` (its tries and its checkpoint), a child of the job's span,
    /// with `outcome` and `otel.status_code` fields left empty for [`crate::Job`] to record.
    /// `Span::none()` (the default) when the engine does not trace steps: nothing is built then.
    fn step_span(&self, _step: &str) -> tracing::Span {
        tracing::Span::none()
    }
}
