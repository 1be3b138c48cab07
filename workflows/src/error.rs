//! Errors a step or a spec can end with, classified so the engine knows whether to retry.

use thiserror::Error;

/// How a step (or a whole job) ended when it did not succeed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum StepError {
    /// Worth trying again after a delay: a timeout, a refused connection, a 5xx.
    #[error("{0}")]
    Retryable(String),
    /// Trying again cannot help: bad credentials, a missing database, invalid data.
    #[error("{0}")]
    Permanent(String),
    /// A retryable error that kept happening until the step's retry policy gave up.
    #[error("gave up after {tries} tries: {last}")]
    Exhausted { tries: u32, last: String },
    /// The job was cancelled by a user (`understudy cancel`).
    #[error("cancelled")]
    Cancelled,
    /// This worker is shutting down; the job stays resumable and another worker takes it.
    #[error("interrupted by worker shutdown")]
    Interrupted,
    /// Another worker now holds the job's lease; this worker must stop touching it.
    #[error("lease lost: another worker owns this job now")]
    LeaseLost,
}

impl StepError {
    /// A retryable error from anything printable (the error chain is kept with `{:#}`).
    pub fn retryable(error: impl std::fmt::Display) -> Self {
        StepError::Retryable(format!("{error:#}"))
    }

    /// A permanent error from anything printable.
    pub fn permanent(error: impl std::fmt::Display) -> Self {
        StepError::Permanent(format!("{error:#}"))
    }

    /// True when the step's retry policy should try again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StepError::Retryable(_))
    }

    /// How a step or job attempt that ended with this error is reported (span `outcome`, metric
    /// label): `failed`, `cancelled`, `interrupted` or `lease_lost`.
    pub fn outcome(&self) -> &'static str {
        match self {
            StepError::Cancelled => "cancelled",
            StepError::Interrupted => "interrupted",
            StepError::LeaseLost => "lease_lost",
            StepError::Retryable(_) | StepError::Permanent(_) | StepError::Exhausted { .. } => {
                "failed"
            }
        }
    }

    /// True when the job as a whole has failed (compensation runs, state becomes `failed`).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            StepError::Retryable(_) | StepError::Permanent(_) | StepError::Exhausted { .. }
        )
    }
}

/// A job spec that a workflow refuses before any step runs: dead-lettered at intake.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("invalid spec: {0}")]
pub struct SpecError(pub String);

impl SpecError {
    pub fn new(message: impl Into<String>) -> Self {
        SpecError(message.into())
    }
}
