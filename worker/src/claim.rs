//! Claiming: queued jobs become running under a fresh lease, best priority first.
//!
//! `FOR UPDATE SKIP LOCKED` lets many workers claim at once without blocking each other. A job
//! with a concurrency key is only claimed if it can take the key's slot (`ON CONFLICT` makes
//! that safe between concurrent claimers); jobs whose key is busy are skipped, not waited on.
//! The attempt row is the record that the job started (the history reads it from there).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// A job this worker now holds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub kind: String,
    pub spec: Value,
    pub attempt: i32,
    pub lease_token: Uuid,
    pub lease_losses: i32,
    pub cancel_requested: bool,
    pub concurrency_key: Option<String>,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub enqueued_at: DateTime<Utc>,
    /// What the job's followers saw last (progress never goes backwards on resume).
    pub progress_percent: Option<f32>,
}

/// Claims up to `limit` jobs for `worker`.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    limit: usize,
    ttl: Duration,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "WITH candidates AS ( \
            SELECT j.id, j.concurrency_key, j.priority, j.run_at FROM jobs j \
            WHERE j.state = 'queued' AND j.run_at <= now() \
              AND NOT EXISTS ( \
                  SELECT 1 FROM concurrency_slots s \
                  WHERE s.key = j.concurrency_key AND s.job_id <> j.id) \
            ORDER BY j.priority, j.run_at, j.id \
            LIMIT $1 \
            FOR UPDATE SKIP LOCKED \
         ), slotted AS ( \
            INSERT INTO concurrency_slots (key, job_id) \
            SELECT DISTINCT ON (concurrency_key) concurrency_key, id FROM candidates \
            WHERE concurrency_key IS NOT NULL \
            ORDER BY concurrency_key, priority, run_at, id \
            ON CONFLICT (key) DO UPDATE SET held_at = concurrency_slots.held_at \
                WHERE concurrency_slots.job_id = EXCLUDED.job_id \
            RETURNING job_id \
         ), claimed AS ( \
            UPDATE jobs j SET state = 'running', attempt = j.attempt + 1, lease_owner = $2, \
                lease_token = gen_random_uuid(), \
                lease_expires_at = now() + make_interval(secs => $3), \
                started_at = coalesce(j.started_at, now()), updated_at = now() \
            FROM candidates c \
            WHERE j.id = c.id \
              AND (c.concurrency_key IS NULL OR c.id IN (SELECT job_id FROM slotted)) \
            RETURNING j.* \
         ), attempts AS ( \
            INSERT INTO job_attempts (job_id, attempt, worker_id, lease_token) \
            SELECT id, attempt, $2, lease_token FROM claimed \
         ) \
         SELECT id, kind, spec, attempt, lease_token, lease_losses, \
                cancel_requested_at IS NOT NULL AS cancel_requested, concurrency_key, \
                traceparent, tracestate, enqueued_at, progress_percent \
         FROM claimed ORDER BY priority, run_at, id",
    )
    .bind(limit as i64)
    .bind(worker)
    .bind(ttl.as_secs_f64())
    .fetch_all(pool)
    .await
}
