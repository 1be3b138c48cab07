//! Leases: this worker's claim on each job it runs, renewed by one heartbeat for all of them.
//!
//! A lease is (job, token). Every write about a job is fenced on the token (see `ledger.rs`), so
//! a worker whose lease expired can no longer change the job. The heartbeat also delivers cancel
//! requests, and a worker that cannot renew for a whole lease period stops its jobs itself, since
//! another worker may already have taken them over.

use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use understudy_workflows::StepError;
use uuid::Uuid;

/// Why a running job must stop, shared between its runner, the heartbeat and shutdown.
#[derive(Default)]
pub struct Signals {
    stop: CancellationToken,
    reason: Mutex<Option<StepError>>,
}

impl Signals {
    /// Asks the job to stop for `reason`; the first reason wins.
    pub fn raise(&self, reason: StepError) {
        let mut current = self.reason.lock().expect("signals poisoned");
        if current.is_none() {
            *current = Some(reason);
        }
        self.stop.cancel();
    }

    /// The reason the job was asked to stop, if it was.
    pub fn reason(&self) -> Option<StepError> {
        self.reason.lock().expect("signals poisoned").clone()
    }

    pub fn token(&self) -> CancellationToken {
        self.stop.clone()
    }
}

/// Job id → (lease token, the job's signals).
type Held = HashMap<Uuid, (Uuid, Arc<Signals>)>;

/// The running jobs of this worker and their leases.
#[derive(Clone, Default)]
pub struct Leases {
    held: Arc<Mutex<Held>>,
}

impl Leases {
    pub fn hold(&self, job: Uuid, token: Uuid, signals: Arc<Signals>) {
        self.held
            .lock()
            .expect("leases poisoned")
            .insert(job, (token, signals));
    }

    pub fn release(&self, job: Uuid) {
        self.held.lock().expect("leases poisoned").remove(&job);
    }

    pub fn len(&self) -> usize {
        self.held.lock().expect("leases poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Raises `reason` on every running job (shutdown deadline, self-fencing).
    pub fn raise_all(&self, reason: StepError) {
        for (_, signals) in self.held.lock().expect("leases poisoned").values() {
            signals.raise(reason.clone());
        }
    }

    fn snapshot(&self) -> Vec<(Uuid, Uuid, Arc<Signals>)> {
        self.held
            .lock()
            .expect("leases poisoned")
            .iter()
            .map(|(job, (token, signals))| (*job, *token, signals.clone()))
            .collect()
    }

    /// Checks every lease once and renews those not renewed for more than `heartbeat` × 1.5 (a
    /// job shorter than that is never renewed, so the job row is not rewritten every second for
    /// nothing; with a TTL of at least 4 heartbeats one failed renewal still loses no lease); raises
    /// `LeaseLost` or `Cancelled` where the database says so. Lease loss seen here is an early
    /// warning; the guarantee is the fence on every checkpoint and on completion.
    pub async fn renew(
        &self,
        pool: &PgPool,
        worker: &str,
        heartbeat: Duration,
        ttl: Duration,
    ) -> Result<(), sqlx::Error> {
        let held = self.snapshot();
        let jobs: Vec<Uuid> = held.iter().map(|h| h.0).collect();
        let tokens: Vec<Uuid> = held.iter().map(|h| h.1).collect();
        // job -> cancel requested, for every lease still ours (renewed or not).
        let still_ours: HashMap<Uuid, bool> = sqlx::query_as::<_, (Uuid, bool)>(
            "WITH held AS ( \
                SELECT j.id, j.cancel_requested_at IS NOT NULL AS cancel_requested, \
                       j.lease_expires_at < now() + make_interval(secs => $5) AS due \
                FROM jobs j JOIN unnest($1::uuid[], $2::uuid[]) AS i(id, token) \
                    ON j.id = i.id AND j.lease_token = i.token \
                WHERE j.state = 'running' \
             ), locked AS ( \
                SELECT j.id FROM jobs j JOIN unnest($1::uuid[], $2::uuid[]) AS i(id, token) \
                    ON j.id = i.id AND j.lease_token = i.token \
                WHERE j.state = 'running' AND j.id IN (SELECT id FROM held WHERE due) \
                ORDER BY j.id FOR UPDATE OF j \
             ), renewed AS ( \
                UPDATE jobs j SET lease_expires_at = now() + make_interval(secs => $3) \
                FROM locked l WHERE j.id = l.id \
             ), beat AS ( \
                UPDATE workers SET heartbeat_at = now() WHERE id = $4 \
             ) \
             SELECT id, cancel_requested FROM held",
        )
        .bind(&jobs)
        .bind(&tokens)
        .bind(ttl.as_secs_f64())
        .bind(worker)
        .bind((ttl.as_secs_f64() - 1.5 * heartbeat.as_secs_f64()).max(0.0))
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();
        for (job, _, signals) in held {
            match still_ours.get(&job) {
                None => signals.raise(StepError::LeaseLost),
                Some(true) => signals.raise(StepError::Cancelled),
                Some(false) => {}
            }
        }
        Ok(())
    }
}

/// Renews leases every `interval` until `stop`; stops every job itself when renewal has failed
/// for a whole `ttl` (it must assume another worker took them over).
pub async fn heartbeat(
    leases: Leases,
    pool: PgPool,
    worker: String,
    interval: Duration,
    ttl: Duration,
    stop: CancellationToken,
) {
    let mut last_ok = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        match tokio::time::timeout(interval, leases.renew(&pool, &worker, interval, ttl)).await {
            Ok(Ok(())) => last_ok = Instant::now(),
            Ok(Err(e)) => tracing::warn!(error = %e, "lease renewal failed"),
            Err(_) => tracing::warn!("lease renewal timed out"),
        }
        if last_ok.elapsed() >= ttl && !leases.is_empty() {
            tracing::error!(
                jobs = leases.len(),
                "leases not renewed for a whole lease period; stopping this worker's jobs"
            );
            leases.raise_all(StepError::LeaseLost);
        }
    }
}
