//! What operators ask of the job tables: status, lists, cancel, retry, dead letters.
//! Used by the `understudy` CLI; every function is one statement and fails loudly.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::contract::Priority;
use crate::state::JobState;

/// A job as `status` and `list` show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobView {
    pub id: Uuid,
    pub kind: String,
    pub state: JobState,
    pub priority: Priority,
    pub attempt: i32,
    pub progress_percent: Option<f32>,
    pub progress_message: Option<String>,
    pub concurrency_key: Option<String>,
    pub idempotency_key: Option<String>,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub cancel_requested_at: Option<DateTime<Utc>>,
    pub enqueued_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
}

const JOB_COLUMNS: &str =
    "id, kind, state, priority, attempt, progress_percent, progress_message, \
    concurrency_key, idempotency_key, result, error, cancel_requested_at, enqueued_at, created_at, \
    started_at, finished_at, lease_owner";

/// A checkpointed step.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StepView {
    pub name: String,
    pub state: String,
    pub attempt: i32,
    pub completed_at: DateTime<Utc>,
    pub compensated_at: Option<DateTime<Utc>>,
    pub output: Value,
}

/// One row of a job's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EventView {
    pub at: DateTime<Utc>,
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub attempt: Option<i32>,
    pub step: Option<String>,
    pub message: Option<String>,
}

pub async fn job(pool: &PgPool, id: Uuid) -> Result<Option<JobView>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The job holding idempotency key `key`, if one was taken in: a producer that enqueued with a
/// key reports this id (an earlier job with the key stands; the new message was a duplicate).
pub async fn job_id_for_key(pool: &PgPool, key: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM jobs WHERE idempotency_key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
}

/// A job's spec as it was taken in.
pub async fn job_spec(pool: &PgPool, id: Uuid) -> Result<Option<serde_json::Value>, sqlx::Error> {
    sqlx::query_scalar("SELECT spec FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn steps(pool: &PgPool, id: Uuid) -> Result<Vec<StepView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, state::text AS state, attempt, completed_at, compensated_at, output \
         FROM job_steps WHERE job_id = $1 ORDER BY completed_at, name",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

/// The job's history. Facts recorded elsewhere are not written twice: `queued` is the job row's
/// creation, `started` an attempt row, `step_completed` a checkpoint; `job_events` holds the rest
/// (retries, compensation, cancellation, lease expiry, the end of each attempt).
pub async fn events(pool: &PgPool, id: Uuid) -> Result<Vec<EventView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT at, type, attempt, step, message FROM ( \
            SELECT created_at AS at, 'queued' AS type, NULL::int AS attempt, NULL::text AS step, \
                   NULL::text AS message, 0 AS phase, 0::bigint AS seq \
            FROM jobs WHERE id = $1 \
            UNION ALL \
            SELECT started_at, 'started', attempt, NULL, NULL, 1, 0 \
            FROM job_attempts WHERE job_id = $1 \
            UNION ALL \
            SELECT completed_at, 'step_completed', attempt, name, NULL, 2, 0 \
            FROM job_steps WHERE job_id = $1 \
            UNION ALL \
            SELECT at, type::text, attempt, step, message, 3, id \
            FROM job_events WHERE job_id = $1 \
         ) history ORDER BY at, phase, seq",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

/// Filters for [`list`]; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub state: Option<JobState>,
    pub kind: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: i64,
}

pub async fn list(pool: &PgPool, filter: &ListFilter) -> Result<Vec<JobView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs \
         WHERE ($1::job_state IS NULL OR state = $1) AND ($2::text IS NULL OR kind = $2) \
           AND ($3::timestamptz IS NULL OR created_at >= $3) \
         ORDER BY created_at DESC, id LIMIT $4"
    ))
    .bind(filter.state)
    .bind(filter.kind.as_deref())
    .bind(filter.since)
    .bind(filter.limit)
    .fetch_all(pool)
    .await
}

/// Jobs per state.
pub async fn counts(pool: &PgPool) -> Result<Vec<(JobState, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state")
        .fetch_all(pool)
        .await
}

/// What `cancel` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It had not started: cancelled at once.
    Cancelled,
    /// It is running: it stops at its next step boundary, compensates, ends `cancelled`.
    Requested,
    /// Already over; nothing changed.
    AlreadyTerminal(JobState),
    NotFound,
}

pub async fn cancel(pool: &PgPool, id: Uuid) -> Result<CancelOutcome, sqlx::Error> {
    let before: Option<JobState> = sqlx::query_scalar(
        "WITH target AS ( \
            SELECT id, state FROM jobs WHERE id = $1 FOR UPDATE \
         ), queued AS ( \
            UPDATE jobs SET state = 'cancelled', finished_at = now(), \
                cancel_requested_at = now(), updated_at = now() \
            WHERE id IN (SELECT id FROM target WHERE state = 'queued') RETURNING id \
         ), running AS ( \
            UPDATE jobs SET cancel_requested_at = coalesce(cancel_requested_at, now()), \
                updated_at = now() \
            WHERE id IN (SELECT id FROM target WHERE state = 'running') RETURNING id \
         ), slots AS ( \
            DELETE FROM concurrency_slots WHERE job_id IN (SELECT id FROM queued) \
         ), events AS ( \
            INSERT INTO job_events (job_id, type) \
            SELECT id, 'cancelled'::job_event_type FROM queued \
            UNION ALL SELECT id, 'cancel_requested'::job_event_type FROM running \
         ) \
         SELECT state FROM target",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(match before {
        None => CancelOutcome::NotFound,
        Some(JobState::Queued) => CancelOutcome::Cancelled,
        Some(JobState::Running) => CancelOutcome::Requested,
        Some(state) => CancelOutcome::AlreadyTerminal(state),
    })
}

/// What `retry` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Back in the queue; it resumes from its last checkpoint.
    Requeued,
    /// Only failed or cancelled jobs can be retried.
    NotRetryable(JobState),
    NotFound,
}

pub async fn retry(pool: &PgPool, id: Uuid) -> Result<RetryOutcome, sqlx::Error> {
    let before: Option<JobState> = sqlx::query_scalar(
        "WITH target AS ( \
            SELECT id, state FROM jobs WHERE id = $1 FOR UPDATE \
         ), requeued AS ( \
            UPDATE jobs SET state = 'queued', error = NULL, result = NULL, finished_at = NULL, \
                cancel_requested_at = NULL, lease_losses = 0, run_at = now(), updated_at = now() \
            WHERE id IN (SELECT id FROM target WHERE state IN ('failed', 'cancelled')) \
            RETURNING id \
         ), events AS ( \
            INSERT INTO job_events (job_id, type) SELECT id, 'retried' FROM requeued \
         ) \
         SELECT state FROM target",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(match before {
        None => RetryOutcome::NotFound,
        Some(JobState::Failed | JobState::Cancelled) => RetryOutcome::Requeued,
        Some(state) => RetryOutcome::NotRetryable(state),
    })
}

/// A dead-lettered message.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeadLetterView {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub routing_key: String,
    pub reason: String,
    pub message_id: Option<String>,
    pub headers: Value,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub body_size: i32,
    pub replayed_at: Option<DateTime<Utc>>,
    pub replay_count: i32,
}

impl DeadLetterView {
    /// The body as text for display, cut to `max` characters.
    pub fn preview(&self, max: usize) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut preview: String = text.chars().take(max).collect();
        if text.chars().count() > max {
            preview.push('…');
        }
        preview
    }
}

pub async fn dead_letters(
    pool: &PgPool,
    include_replayed: bool,
    limit: i64,
) -> Result<Vec<DeadLetterView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, received_at, routing_key, reason, message_id, headers, body, body_size, \
                replayed_at, replay_count \
         FROM dead_letters WHERE $1 OR replayed_at IS NULL ORDER BY id LIMIT $2",
    )
    .bind(include_replayed)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn dead_letter(pool: &PgPool, id: i64) -> Result<Option<DeadLetterView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, received_at, routing_key, reason, message_id, headers, body, body_size, \
                replayed_at, replay_count \
         FROM dead_letters WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn mark_replayed(pool: &PgPool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE dead_letters SET replayed_at = now(), replay_count = replay_count + 1 WHERE id = $1",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}
