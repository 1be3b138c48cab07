//! The ledger: group commit of checkpoints, job completions and progress.
//!
//! Every write is fenced on the job's lease token: a worker that lost its lease cannot record a
//! checkpoint or finish the job. Writes from all running jobs of this worker are gathered while
//! the previous transaction commits and written together in one transaction (group commit), so a
//! checkpoint is durable before its step returns without paying one fsync per step.

use serde_json::Value;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::state::JobState;

/// Most writes in one transaction.
const BATCH: usize = 1024;

/// The answer to a fenced write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    /// Written; the job still belongs to this attempt.
    Held { cancel_requested: bool },
    /// Not written: the lease moved on (expired and taken over, or the job was finished).
    Lost,
}

/// How an attempt ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    Succeeded(Value),
    Failed(String),
    Cancelled,
    /// Handed back to the queue (worker shutdown): the job resumes elsewhere.
    Interrupted,
}

impl Finish {
    fn state(&self) -> JobState {
        match self {
            Finish::Succeeded(_) => JobState::Succeeded,
            Finish::Failed(_) => JobState::Failed,
            Finish::Cancelled => JobState::Cancelled,
            Finish::Interrupted => JobState::Queued,
        }
    }
}

/// Which attempt of which job a write belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    pub job: Uuid,
    pub token: Uuid,
    pub attempt: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("recording to PostgreSQL failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the worker is stopping; the write was not made")]
    Stopped,
}

type Reply = oneshot::Sender<Result<Fence, LedgerError>>;

enum Write {
    Checkpoint {
        lease: Lease,
        step: String,
        output: Value,
        reply: Reply,
    },
    Finish {
        lease: Lease,
        finish: Finish,
        reply: Reply,
    },
    Progress {
        lease: Lease,
        percent: f32,
        message: String,
    },
}

impl Write {
    fn lease(&self) -> &Lease {
        match self {
            Write::Checkpoint { lease, .. }
            | Write::Finish { lease, .. }
            | Write::Progress { lease, .. } => lease,
        }
    }
}

/// Handle to the worker's ledger task.
#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<Write>,
}

impl Ledger {
    /// Starts the writer. It retries transient database errors until `stop` fires.
    pub fn spawn(pool: PgPool, stop: CancellationToken) -> (Ledger, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(BATCH * 4);
        let task = tokio::spawn(write_loop(pool, rx, stop));
        (Ledger { tx }, task)
    }

    /// Records `step` as completed with `output`; returns once committed.
    pub async fn checkpoint(
        &self,
        lease: Lease,
        step: &str,
        output: Value,
    ) -> Result<Fence, LedgerError> {
        let (reply, rx) = oneshot::channel();
        self.send(Write::Checkpoint {
            lease,
            step: step.to_string(),
            output,
            reply,
        })
        .await?;
        rx.await.map_err(|_| LedgerError::Stopped)?
    }

    /// Ends the attempt (and the job, unless interrupted); returns once committed.
    pub async fn finish(&self, lease: Lease, finish: Finish) -> Result<Fence, LedgerError> {
        let (reply, rx) = oneshot::channel();
        self.send(Write::Finish {
            lease,
            finish,
            reply,
        })
        .await?;
        rx.await.map_err(|_| LedgerError::Stopped)?
    }

    /// Stores the job's latest progress; fire and forget.
    pub fn progress(&self, lease: Lease, percent: f32, message: &str) {
        let _ = self.tx.try_send(Write::Progress {
            lease,
            percent: percent.clamp(0.0, 100.0),
            message: message.chars().take(500).collect(),
        });
    }

    async fn send(&self, write: Write) -> Result<(), LedgerError> {
        self.tx.send(write).await.map_err(|_| LedgerError::Stopped)
    }
}

async fn write_loop(pool: PgPool, mut rx: mpsc::Receiver<Write>, stop: CancellationToken) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let writes = std::mem::take(&mut batch);
        write_batch(&pool, writes, &stop).await;
    }
}

/// Writes one batch, retrying transient errors; a permanent error is answered to every writer
/// after isolating the write that caused it.
async fn write_batch(pool: &PgPool, writes: Vec<Write>, stop: &CancellationToken) {
    let mut delays = understudy_workflows::RetryPolicy {
        max_tries: u32::MAX,
        min_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(2),
        factor: 2.0,
    }
    .delays();
    loop {
        match commit(pool, &writes).await {
            Ok(fences) => return answer(writes, |i| Ok(fences[i])),
            Err(e) if is_transient(&e) && !stop.is_cancelled() => {
                tracing::warn!(error = %e, writes = writes.len(), "ledger write failed; retrying");
                let delay = delays.next().unwrap_or(Duration::from_secs(2));
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.cancelled() => {}
                }
            }
            Err(e) if writes.len() > 1 && !is_transient(&e) => {
                // One bad write must not fail the others: write them one by one.
                for write in writes {
                    Box::pin(write_batch(pool, vec![write], stop)).await;
                }
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "ledger write failed");
                let message = e.to_string();
                return answer(writes, |_| {
                    Err(LedgerError::Database(sqlx::Error::Protocol(
                        message.clone(),
                    )))
                });
            }
        }
    }
}

fn answer(writes: Vec<Write>, result: impl Fn(usize) -> Result<Fence, LedgerError>) {
    for (i, write) in writes.into_iter().enumerate() {
        match write {
            Write::Checkpoint { reply, .. } | Write::Finish { reply, .. } => {
                let _ = reply.send(result(i));
            }
            Write::Progress { .. } => {}
        }
    }
}

/// Connection trouble and serialization failures are worth retrying; anything the server
/// refused on its merits (constraint, data, syntax) is not.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") // connection exception
                || code.starts_with("53") // insufficient resources
                || code.starts_with("57") // operator intervention (shutdown)
                || code == "40001" // serialization failure
                || code == "40P01" // deadlock
        }),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        _ => false,
    }
}

/// One transaction for the whole batch. Returns a fence per write (progress: always held).
///
/// The fence is read while the batch holds the job rows locked (`FOR UPDATE`, in id order, so
/// two transactions touching the same jobs never wait on each other in a cycle): a write is held
/// when its job is still `running` under its lease token. A checkpoint then costs one row in
/// `job_steps` and no update of the job row; the history derives step completions from there.
async fn commit(pool: &PgPool, writes: &[Write]) -> Result<Vec<Fence>, sqlx::Error> {
    let mut tx = pool.begin().await?;

    let mut touched: Vec<Uuid> = writes.iter().map(|w| w.lease().job).collect();
    touched.sort_unstable();
    touched.dedup();
    // job -> (its current lease token, cancel requested), for running jobs only.
    let running: HashMap<Uuid, (Uuid, bool)> = sqlx::query_as::<_, (Uuid, Uuid, bool)>(
        "SELECT id, lease_token, cancel_requested_at IS NOT NULL FROM jobs \
         WHERE id = ANY($1) AND state = 'running' ORDER BY id FOR UPDATE",
    )
    .bind(&touched)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(id, token, cancel)| (id, (token, cancel)))
    .collect();
    let mut fences: Vec<Fence> = writes
        .iter()
        .map(|w| {
            let lease = w.lease();
            match running.get(&lease.job) {
                Some(&(token, cancel_requested)) if token == lease.token => {
                    Fence::Held { cancel_requested }
                }
                _ => Fence::Lost,
            }
        })
        .collect();
    let held = |i: &usize| matches!(fences[*i], Fence::Held { .. });

    // Progress: the last report per job wins; a job succeeding in this batch ends at 100%.
    let finishing: HashSet<Uuid> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Finish {
                lease,
                finish: Finish::Succeeded(_),
                ..
            } => Some(lease.job),
            _ => None,
        })
        .collect();
    let mut latest: HashMap<Uuid, (f32, &str)> = HashMap::new();
    for (i, write) in writes.iter().enumerate() {
        if let Write::Progress {
            lease,
            percent,
            message,
        } = write
        {
            if held(&i) && !finishing.contains(&lease.job) {
                latest.insert(lease.job, (*percent, message));
            }
        }
    }
    if !latest.is_empty() {
        let (mut jobs, mut percents, mut messages) = (Vec::new(), Vec::new(), Vec::new());
        for (job, (percent, message)) in latest {
            jobs.push(job);
            percents.push(percent);
            messages.push(message.to_string());
        }
        sqlx::query(
            "UPDATE jobs j SET progress_percent = i.percent, progress_message = i.message, \
                    updated_at = now() \
             FROM unnest($1::uuid[], $2::real[], $3::text[]) AS i(id, percent, message) \
             WHERE j.id = i.id",
        )
        .bind(&jobs)
        .bind(&percents)
        .bind(&messages)
        .execute(&mut *tx)
        .await?;
    }

    let checkpoints: Vec<(&Lease, &String, &Value)> = writes
        .iter()
        .enumerate()
        .filter(|(i, _)| held(i))
        .filter_map(|(_, w)| match w {
            Write::Checkpoint {
                lease,
                step,
                output,
                ..
            } => Some((lease, step, output)),
            _ => None,
        })
        .collect();
    if !checkpoints.is_empty() {
        sqlx::query(
            "INSERT INTO job_steps (job_id, name, state, output, attempt, completed_at) \
             SELECT i.job_id, i.step, 'completed', i.output, i.attempt, now() \
             FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::int[]) \
                 AS i(job_id, step, output, attempt) \
             ON CONFLICT (job_id, name) DO UPDATE \
                 SET state = 'completed', output = EXCLUDED.output, attempt = EXCLUDED.attempt, \
                     completed_at = EXCLUDED.completed_at, compensated_at = NULL",
        )
        .bind(checkpoints.iter().map(|c| c.0.job).collect::<Vec<_>>())
        .bind(checkpoints.iter().map(|c| c.1.as_str()).collect::<Vec<_>>())
        .bind(checkpoints.iter().map(|c| c.2).collect::<Vec<_>>())
        .bind(checkpoints.iter().map(|c| c.0.attempt).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }

    let finishes: Vec<(usize, &Lease, &Finish)> = writes
        .iter()
        .enumerate()
        .filter(|(i, _)| held(i))
        .filter_map(|(i, w)| match w {
            Write::Finish { lease, finish, .. } => Some((i, lease, finish)),
            _ => None,
        })
        .collect();
    if !finishes.is_empty() {
        let done: Vec<Uuid> = sqlx::query_scalar(
            "WITH input AS ( \
                SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::job_state[], $4::jsonb[], $5::text[], $6::int[]) \
                    AS i(job_id, token, state, result, error, attempt) \
             ), done AS ( \
                UPDATE jobs j SET state = i.state, result = i.result, error = i.error, \
                    finished_at = CASE WHEN i.state = 'queued' THEN NULL ELSE now() END, \
                    run_at = now(), \
                    progress_percent = CASE WHEN i.state = 'succeeded' THEN 100 ELSE j.progress_percent END, \
                    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = now() \
                FROM input i \
                WHERE j.id = i.job_id AND j.lease_token = i.token AND j.state = 'running' \
                RETURNING j.id, i.token, i.state, i.error, i.attempt \
             ), slots AS ( \
                DELETE FROM concurrency_slots s USING done d \
                WHERE s.job_id = d.id AND d.state <> 'queued' \
             ), attempts AS ( \
                UPDATE job_attempts a SET finished_at = now(), error = d.error, \
                    outcome = (CASE WHEN d.state = 'queued' THEN 'interrupted' ELSE d.state::text END)::attempt_outcome \
                FROM done d WHERE a.lease_token = d.token \
             ), events AS ( \
                INSERT INTO job_events (job_id, type, attempt, message) \
                SELECT d.id, (CASE WHEN d.state = 'queued' THEN 'interrupted' ELSE d.state::text END)::job_event_type, \
                       d.attempt, d.error \
                FROM done d \
             ) \
             SELECT id FROM done",
        )
        .bind(finishes.iter().map(|f| f.1.job).collect::<Vec<_>>())
        .bind(finishes.iter().map(|f| f.1.token).collect::<Vec<_>>())
        .bind(finishes.iter().map(|f| f.2.state()).collect::<Vec<_>>())
        .bind(
            finishes
                .iter()
                .map(|f| match f.2 {
                    Finish::Succeeded(v) => Some(v.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )
        .bind(
            finishes
                .iter()
                .map(|f| match f.2 {
                    Finish::Failed(e) => Some(e.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )
        .bind(finishes.iter().map(|f| f.1.attempt).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        for (i, lease, _) in &finishes {
            if !done.contains(&lease.job) {
                fences[*i] = Fence::Lost;
            }
        }
    }
    tx.commit().await?;
    Ok(fences)
}
