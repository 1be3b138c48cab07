//! A worker process from start to exit: wiring the parts, then a graceful drain.
//!
//! Start: connect to PostgreSQL (waiting for it if needed), migrate, register the worker, start
//! the ledger, heartbeat, rescuer, scheduler and RabbitMQ side. Stop (the token fires): stop
//! taking work, let running steps finish within the grace period, hand unfinished jobs back to
//! the queue (their checkpoints stay), and return.

use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use understudy_workflows::{Registry, Resources, StepError};

use crate::config::Settings;
use crate::events::Events;
use crate::faults::Faults;
use crate::health::{self, Readiness};
use crate::intake::Intake;
use crate::lease::{self, Leases};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::runner::Shared;
use crate::scheduler::Scheduler;
use crate::topology::Topology;
use crate::{broker, db, rescue};

/// After the grace period, how long interrupted steps get to notice before they are dropped.
const ABORT_AFTER_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("registering the worker failed: {0}")]
    Register(sqlx::Error),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// A unique, readable id: `host:pid:random`.
pub fn new_worker_id() -> String {
    let host = hostname();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("{host}:{}:{suffix}", std::process::id())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Connects to PostgreSQL, retrying until it answers or `stop` fires.
async fn connect_patiently(
    settings: &Settings,
    stop: &CancellationToken,
) -> Result<Option<PgPool>, WorkerError> {
    let mut delay = Duration::from_millis(200);
    loop {
        match db::connect(settings, settings.worker.db_pool_size).await {
            Ok(pool) => return Ok(Some(pool)),
            Err(db::DbError::Unreachable { target, source }) => {
                tracing::warn!(%target, error = %source, "PostgreSQL not reachable yet; retrying");
            }
            Err(other) => return Err(other.into()),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return Ok(None),
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Runs a worker until `shutdown` fires, then drains and returns.
pub async fn run(
    settings: Settings,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), WorkerError> {
    let settings = Arc::new(settings);
    let Some(pool) = connect_patiently(&settings, &shutdown).await? else {
        return Ok(());
    };
    db::migrate(&pool).await?;
    let resources = Arc::new(Resources {
        db: pool.clone(),
        secrets: settings.secret_box()?,
        data_dir: settings.data_dir.clone(),
    });
    let worker_id = new_worker_id();
    sqlx::query("INSERT INTO workers (id, hostname, pid, concurrency) VALUES ($1, $2, $3, $4)")
        .bind(&worker_id)
        .bind(hostname())
        .bind(std::process::id() as i32)
        .bind(settings.worker.concurrency as i32)
        .execute(&pool)
        .await
        .map_err(WorkerError::Register)?;
    tracing::info!(worker = %worker_id, database = %db::describe(&settings), concurrency = settings.worker.concurrency, kinds = ?registry.kinds(), "worker started");

    // `background` stops the helpers only after the runners are done with them.
    let background = CancellationToken::new();
    let intake_stop = CancellationToken::new();
    let registry = Arc::new(registry);
    let wake = Arc::new(Notify::new());
    let (ledger, ledger_task) = Ledger::spawn(pool.clone(), background.clone());
    let (events_channel, events_rx) = watch::channel(None);
    let topology = Topology::new(&settings.amqp.namespace, settings.amqp.delivery_limit);
    let events = Events::spawn(topology.events_exchange(), events_rx);
    let metrics = Arc::new(Metrics::default());
    let readiness = Readiness::default();
    let (intake, intake_task) = Intake::spawn(
        pool.clone(),
        registry.clone(),
        settings.amqp.max_body_bytes,
        events.clone(),
        metrics.clone(),
        wake.clone(),
        background.clone(),
    );
    if !settings.observability.listen.is_empty() {
        match health::serve(
            &settings.observability.listen,
            pool.clone(),
            metrics.clone(),
            readiness.clone(),
            background.clone(),
        )
        .await
        {
            Ok(address) => {
                tracing::info!(%address, "serving /healthz, /readyz and /metrics");
                sqlx::query("UPDATE workers SET http_address = $2 WHERE id = $1")
                    .bind(&worker_id)
                    .bind(address.to_string())
                    .execute(&pool)
                    .await
                    .map_err(WorkerError::Register)?;
            }
            Err(e) => tracing::warn!(
                listen = %settings.observability.listen,
                error = %e,
                "health and metrics listener not started (set observability.listen to a free address, or empty)"
            ),
        }
    }
    let leases = Leases::default();
    let shared = Arc::new(Shared {
        pool: pool.clone(),
        ledger,
        leases: leases.clone(),
        events,
        metrics: metrics.clone(),
        registry,
        resources,
        retry: settings.retry_policy(),
        max_lease_losses: settings.worker.max_lease_losses,
        draining: CancellationToken::new(),
        wake: wake.clone(),
        faults: settings.worker.fault_dir.as_deref().map(Faults::new),
    });

    // Lease renewal and rescue get their own connections: under load the ledger and the claimer
    // keep the main pool busy, and a heartbeat waiting for a connection would let leases expire
    // under a healthy worker.
    let control_pool = match db::connect(&settings, 2).await {
        Ok(control) => control,
        Err(e) => {
            tracing::warn!(error = %e, "no separate connections for lease renewal; sharing the main pool");
            pool.clone()
        }
    };
    let heartbeat = tokio::spawn(lease::heartbeat(
        leases.clone(),
        control_pool.clone(),
        worker_id.clone(),
        settings.heartbeat(),
        settings.lease_ttl(),
        background.clone(),
    ));
    let rescuer = tokio::spawn(rescue_loop(
        control_pool,
        settings.heartbeat(),
        wake.clone(),
        metrics.clone(),
        intake_stop.clone(),
    ));
    let runners = TaskTracker::new();
    let scheduler = tokio::spawn(
        Scheduler {
            shared: shared.clone(),
            worker_id: worker_id.clone(),
            concurrency: settings.worker.concurrency,
            lease_ttl: settings.lease_ttl(),
            poll: settings.poll_interval(),
            runners: runners.clone(),
        }
        .run(intake_stop.clone()),
    );
    let broker = tokio::spawn(broker::run(
        settings.clone(),
        worker_id.clone(),
        intake,
        events_channel,
        readiness,
        intake_stop.clone(),
    ));

    shutdown.cancelled().await;
    tracing::info!(
        running = leases.len(),
        grace_secs = settings.worker.shutdown_grace_secs,
        "draining: no new work; running steps may finish"
    );
    intake_stop.cancel();
    shared.draining.cancel();
    let _ = scheduler.await;
    let _ = rescuer.await;
    let _ = broker.await;
    runners.close();
    if tokio::time::timeout(settings.shutdown_grace(), runners.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            running = leases.len(),
            "grace period over; interrupting running steps"
        );
        leases.raise_all(StepError::Interrupted);
        let _ = tokio::time::timeout(ABORT_AFTER_GRACE, runners.wait()).await;
    }
    drop(shared);
    background.cancel();
    let _ = heartbeat.await;
    let _ = intake_task.await;
    let _ = ledger_task.await;
    // Whatever is still ours goes back to the queue now rather than after lease expiry.
    match hand_back(&pool, &worker_id).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "handed unfinished jobs back to the queue"),
        Err(e) => tracing::warn!(error = %e, "could not hand jobs back; their leases will expire"),
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// Requeues expired leases every `every`, and refreshes the queue-depth gauge.
async fn rescue_loop(
    pool: PgPool,
    every: Duration,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        let depth: Result<Vec<(String, i64)>, _> = sqlx::query_as(
            "SELECT priority::text, count(*) FROM jobs WHERE state = 'queued' GROUP BY 1",
        )
        .fetch_all(&pool)
        .await;
        match depth {
            Ok(depth) => {
                for priority in ["interactive", "bulk"] {
                    let n = depth.iter().find(|(p, _)| p == priority).map_or(0, |d| d.1);
                    metrics.set_queue_depth(priority, n);
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading the queue depth failed"),
        }
        match rescue::requeue_expired(&pool).await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(jobs = ids.len(), "requeued jobs whose lease expired");
                metrics
                    .takeovers
                    .fetch_add(ids.len() as u64, std::sync::atomic::Ordering::Relaxed);
                wake.notify_one();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "looking for expired leases failed"),
        }
    }
}

/// Requeues every job this worker still holds and marks the worker stopped.
async fn hand_back(pool: &PgPool, worker_id: &str) -> Result<u64, sqlx::Error> {
    let handed: i64 = sqlx::query_scalar(
        "WITH mine AS ( \
            SELECT id, lease_token FROM jobs WHERE lease_owner = $1 AND state = 'running' \
            ORDER BY id FOR UPDATE \
         ), requeued AS ( \
            UPDATE jobs j SET state = 'queued', lease_owner = NULL, lease_token = NULL, \
                lease_expires_at = NULL, run_at = now(), updated_at = now() \
            FROM mine m WHERE j.id = m.id RETURNING j.id, j.attempt, m.lease_token \
         ), attempts AS ( \
            UPDATE job_attempts a SET outcome = 'interrupted', finished_at = now() \
            FROM requeued r WHERE a.lease_token = r.lease_token \
         ), events AS ( \
            INSERT INTO job_events (job_id, type, attempt, message) \
            SELECT id, 'interrupted', attempt, 'worker shut down; handed back to the queue' FROM requeued \
         ), stopped AS ( \
            UPDATE workers SET stopped_at = now() WHERE id = $1 \
         ) \
         SELECT count(*) FROM requeued",
    )
    .bind(worker_id)
    .fetch_one(pool)
    .await?;
    Ok(handed as u64)
}
