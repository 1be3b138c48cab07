//! The engine's states, mirrored one-to-one by the PostgreSQL enums in `migrations/`.

use serde::{Deserialize, Serialize};

/// Where a job is in its life. `succeeded`, `failed` and `cancelled` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "job_state", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one attempt (one claim) of a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "attempt_outcome", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum AttemptOutcome {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Interrupted,
    Abandoned,
}

/// What a row of `job_events` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "job_event_type", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Queued,
    Started,
    StepCompleted,
    StepRetrying,
    Compensating,
    StepCompensated,
    Succeeded,
    Failed,
    CancelRequested,
    Cancelled,
    Interrupted,
    LeaseExpired,
    Retried,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Queued => "queued",
            EventType::Started => "started",
            EventType::StepCompleted => "step_completed",
            EventType::StepRetrying => "step_retrying",
            EventType::Compensating => "compensating",
            EventType::StepCompensated => "step_compensated",
            EventType::Succeeded => "succeeded",
            EventType::Failed => "failed",
            EventType::CancelRequested => "cancel_requested",
            EventType::Cancelled => "cancelled",
            EventType::Interrupted => "interrupted",
            EventType::LeaseExpired => "lease_expired",
            EventType::Retried => "retried",
        }
    }
}
