//! The trait every job kind implements.

use async_trait::async_trait;
use serde_json::Value;

use crate::{Job, SpecError, StepError};

/// A job kind: validates its spec at intake, then runs as named steps through a [`Job`].
#[async_trait]
pub trait Workflow: Send + Sync + 'static {
    /// The kind name producers put in the message (`noop`, `clone`, ...).
    fn kind(&self) -> &'static str;

    /// Refuses a spec that can never run. Called at intake, before the job exists.
    fn validate(&self, spec: &Value) -> Result<(), SpecError>;

    /// Runs the job. Completed steps are skipped on resume; their outputs come back from `job`.
    async fn run(&self, job: &Job, spec: Value) -> Result<Value, StepError>;
}
