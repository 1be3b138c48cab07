//! What `understudy top` shows: running jobs with their progress, queue depths per priority
//! (stored in PostgreSQL and still in RabbitMQ), and the live workers. Read-only.

use chrono::{DateTime, Utc};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::Channel;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::contract::Priority;
use crate::topology::Topology;

/// Workers whose heartbeat is older than this are left out (they died without saying so).
const LIVE_WORKER_SECS: f64 = 60.0;

/// One refresh of the live view.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub at: DateTime<Utc>,
    /// Why RabbitMQ's side is missing from this snapshot (unreachable, topology not declared);
    /// `None` when it was read. PostgreSQL's side is shown either way.
    pub rabbitmq_error: Option<String>,
    pub running: Vec<RunningJob>,
    pub queues: Vec<QueueDepth>,
    pub dead_letters: DeadLetters,
    pub workers: Vec<WorkerView>,
}

/// A running job.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RunningJob {
    pub id: Uuid,
    pub kind: String,
    /// The `site:` concurrency key without its prefix, else the spec's `site`.
    pub site: Option<String>,
    pub attempt: i32,
    /// The last step checkpointed (the job is past it), and how many are done.
    pub last_step: Option<String>,
    pub steps_done: i64,
    pub progress_percent: Option<f32>,
    pub progress_message: Option<String>,
    /// The worker holding the lease.
    pub worker: Option<String>,
    pub enqueued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    /// Seconds since the job first started.
    pub age_secs: f64,
}

/// Jobs waiting in one priority.
#[derive(Debug, Clone, Serialize)]
pub struct QueueDepth {
    pub priority: Priority,
    /// Jobs stored in PostgreSQL, waiting to be claimed (what workers take work from).
    pub waiting: i64,
    /// Messages in the RabbitMQ queue not yet taken in by a worker (`None`: not read, see
    /// `rabbitmq_error`).
    pub in_rabbitmq: Option<u32>,
    /// Intake consumers on that queue (one per worker).
    pub consumers: Option<u32>,
}

/// Messages that could not become jobs.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetters {
    /// Recorded in the `dead_letters` table and not replayed (`understudy dlq list`).
    pub stored: i64,
    /// Still in RabbitMQ's dead-letter queue.
    pub in_rabbitmq: Option<u32>,
}

/// A live worker process.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct WorkerView {
    pub id: String,
    pub hostname: String,
    pub pid: i32,
    pub concurrency: i32,
    pub running: i64,
    /// Its `/healthz`, `/readyz` and `/metrics` listener, when it has one.
    pub http_address: Option<String>,
    pub started_at: DateTime<Utc>,
    pub heartbeat_age_secs: f64,
}

/// Why the view could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OverviewError {
    #[error("PostgreSQL: {0}")]
    Database(#[from] sqlx::Error),
}

/// One snapshot. `channel` is RabbitMQ's side (or why there is none): when it cannot be read the
/// snapshot still holds everything PostgreSQL knows, and says why the rest is missing.
pub async fn read(
    pool: &PgPool,
    channel: Result<&Channel, String>,
    topology: &Topology,
    limit: i64,
) -> Result<Overview, OverviewError> {
    let running = running_jobs(pool, limit).await?;
    let waiting: Vec<(Priority, i64)> = sqlx::query_as(
        "SELECT priority, count(*) FROM jobs WHERE state = 'queued' GROUP BY priority",
    )
    .fetch_all(pool)
    .await?;
    let mut rabbitmq_error = channel.as_ref().err().cloned();
    let mut queues = Vec::new();
    for priority in Priority::ALL {
        let (in_rabbitmq, consumers) =
            inspect(&channel, &topology.queue(priority), &mut rabbitmq_error).await;
        queues.push(QueueDepth {
            priority,
            waiting: waiting
                .iter()
                .find(|(p, _)| *p == priority)
                .map_or(0, |w| w.1),
            in_rabbitmq,
            consumers,
        });
    }
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL")
            .fetch_one(pool)
            .await?;
    let (dead_in_rabbitmq, _) =
        inspect(&channel, &topology.dead_queue(), &mut rabbitmq_error).await;
    let workers = sqlx::query_as(
        "SELECT w.id, w.hostname, w.pid, w.concurrency, w.http_address, w.started_at, \
                extract(epoch FROM now() - w.heartbeat_at)::float8 AS heartbeat_age_secs, \
                (SELECT count(*) FROM jobs j WHERE j.state = 'running' AND j.lease_owner = w.id) AS running \
         FROM workers w \
         WHERE w.stopped_at IS NULL AND w.heartbeat_at > now() - make_interval(secs => $1) \
         ORDER BY w.started_at, w.id",
    )
    .bind(LIVE_WORKER_SECS)
    .fetch_all(pool)
    .await?;
    Ok(Overview {
        at: Utc::now(),
        rabbitmq_error,
        running,
        queues,
        dead_letters: DeadLetters {
            stored,
            in_rabbitmq: dead_in_rabbitmq,
        },
        workers,
    })
}

async fn running_jobs(pool: &PgPool, limit: i64) -> Result<Vec<RunningJob>, sqlx::Error> {
    sqlx::query_as(
        "SELECT j.id, j.kind, j.attempt, j.progress_percent, j.progress_message, \
                j.lease_owner AS worker, j.enqueued_at, j.started_at, \
                coalesce(substring(j.concurrency_key FROM '^site:(.+)$'), j.spec->>'site') AS site, \
                coalesce(extract(epoch FROM now() - j.started_at)::float8, 0) AS age_secs, \
                s.steps_done, s.last_step \
         FROM jobs j \
         CROSS JOIN LATERAL ( \
             SELECT count(*) AS steps_done, \
                    (array_agg(name ORDER BY completed_at DESC))[1] AS last_step \
             FROM job_steps WHERE job_id = j.id AND state = 'completed' \
         ) s \
         WHERE j.state = 'running' \
         ORDER BY j.started_at, j.id \
         LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Ready messages and consumers of a queue, by a passive declare (which creates nothing);
/// `(None, None)` once RabbitMQ has failed, with the first reason kept in `error`.
async fn inspect(
    channel: &Result<&Channel, String>,
    queue: &str,
    error: &mut Option<String>,
) -> (Option<u32>, Option<u32>) {
    let Ok(channel) = channel else {
        return (None, None);
    };
    if error.is_some() {
        return (None, None);
    }
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    match channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await
    {
        Ok(declared) => (
            Some(declared.message_count()),
            Some(declared.consumer_count()),
        ),
        Err(e) => {
            *error = Some(format!(
                "queue {queue} cannot be inspected ({e}); is RabbitMQ up and the topology declared (`understudy migrate`)?"
            ));
            (None, None)
        }
    }
}
