//! Rescue: jobs whose lease expired (their worker died or was cut off) go back to the queue.
//!
//! Only the lease decides: a job is never rescued because it has run "too long". The rescued
//! job keeps its concurrency slot and its checkpoints, so the next claim resumes it.

use sqlx::PgPool;
use uuid::Uuid;

/// Requeues up to 500 expired jobs; returns their ids.
pub async fn requeue_expired(pool: &PgPool) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH expired AS ( \
            SELECT id, lease_token FROM jobs \
            WHERE state = 'running' AND lease_expires_at < now() \
            ORDER BY lease_expires_at LIMIT 500 \
            FOR UPDATE SKIP LOCKED \
         ), requeued AS ( \
            UPDATE jobs j SET state = 'queued', lease_owner = NULL, lease_token = NULL, \
                lease_expires_at = NULL, lease_losses = j.lease_losses + 1, run_at = now(), \
                updated_at = now() \
            FROM expired e WHERE j.id = e.id \
            RETURNING j.id, j.attempt, e.lease_token \
         ), attempts AS ( \
            UPDATE job_attempts a SET outcome = 'abandoned', finished_at = now(), \
                error = 'lease expired: the worker died, hung or lost PostgreSQL' \
            FROM requeued r WHERE a.lease_token = r.lease_token \
         ), events AS ( \
            INSERT INTO job_events (job_id, type, attempt, message) \
            SELECT id, 'lease_expired', attempt, 'lease expired; the job goes back to the queue' \
            FROM requeued \
         ) \
         SELECT id FROM requeued",
    )
    .fetch_all(pool)
    .await
}
