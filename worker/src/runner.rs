//! The runner: one attempt of one claimed job, from checkpoints to its final state.
//!
//! It hands the workflow a [`Job`] backed by [`JobBackend`] (checkpoints through the ledger,
//! fenced on the lease), and turns the workflow's outcome into the job's state: succeeded;
//! failed or cancelled after compensation; handed back on shutdown; or dropped silently when the
//! lease was lost (another worker owns the job now).

use async_trait::async_trait;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::{Instrument, Span};
use understudy_workflows::{Backend, Job, JobInfo, Registry, Resources, RetryPolicy, StepError};

use crate::claim::Claimed;
use crate::events::{Events, JobEvent};
use crate::faults::{Fault, Faults};
use crate::lease::{Leases, Signals};
use crate::ledger::{Fence, Finish, Lease, Ledger, LedgerError};
use crate::metrics::Metrics;
use crate::state::EventType;
use crate::telemetry;

/// Progress is stored and published at most this often per job (100% always is).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What every runner of a worker shares.
pub struct Shared {
    pub pool: PgPool,
    pub ledger: Ledger,
    pub leases: Leases,
    pub events: Events,
    pub metrics: Arc<Metrics>,
    pub registry: Arc<Registry>,
    /// Handed to workflows as is; the engine does not look inside.
    pub resources: Arc<Resources>,
    pub retry: RetryPolicy,
    pub max_lease_losses: u32,
    /// Fires when the worker starts shutting down: no new step starts.
    pub draining: CancellationToken,
    /// Notified when a job ends (a concurrency slot or a permit may be free).
    pub wake: Arc<Notify>,
    /// Injected faults (tests only; `worker.fault_dir`).
    pub faults: Option<Faults>,
}

/// Runs one claimed job to the end of this attempt.
pub async fn run(shared: Arc<Shared>, claimed: Claimed) {
    let span = job_span(&claimed);
    shared.metrics.job_started(&claimed.kind);
    shared.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let outcome = run_attempt(shared.clone(), claimed, span.clone())
        .instrument(span.clone())
        .await;
    if telemetry::enabled() {
        span.record("outcome", outcome);
        if outcome == "failed" {
            span.record("otel.status_code", "error");
        }
    }
    shared.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    shared.wake.notify_one();
}

/// The span of one attempt: the logging context of everything the job does and, with traces
/// on, an OpenTelemetry span continuing (first attempt) or linking (later) the producer's trace.
fn job_span(claimed: &Claimed) -> Span {
    let concurrency_key = claimed.concurrency_key.as_deref().unwrap_or("");
    if !telemetry::enabled() {
        return tracing::info_span!(
            "job",
            job_id = %claimed.id,
            kind = %claimed.kind,
            attempt = claimed.attempt,
            concurrency_key,
        );
    }
    let span = tracing::info_span!(
        parent: None,
        "job",
        otel.name = format!("job {}", claimed.kind),
        otel.kind = "consumer",
        otel.status_code = Empty,
        job_id = %claimed.id,
        kind = %claimed.kind,
        attempt = claimed.attempt,
        concurrency_key,
        site = site(claimed),
        outcome = Empty,
    );
    telemetry::adopt(
        &span,
        claimed.attempt,
        claimed.traceparent.as_deref(),
        claimed.tracestate.as_deref(),
    );
    span
}

/// The site a job works on, for traces: its `site:` concurrency key, else its spec's `site`
/// (a registered site's name; never a URL, which may carry credentials).
fn site(claimed: &Claimed) -> &str {
    claimed
        .concurrency_key
        .as_deref()
        .and_then(|key| key.strip_prefix("site:"))
        .or_else(|| claimed.spec.get("site").and_then(Value::as_str))
        .unwrap_or("")
}

/// Runs the attempt; returns its outcome (`succeeded`, `failed`, `cancelled`, `interrupted`,
/// `lease_lost`).
async fn run_attempt(shared: Arc<Shared>, claimed: Claimed, span: Span) -> &'static str {
    let lease = Lease {
        job: claimed.id,
        token: claimed.lease_token,
        attempt: claimed.attempt,
    };
    let (completed, compensated) = if claimed.attempt > 1 {
        match load_checkpoints(&shared.pool, claimed.id).await {
            Ok(saved) => saved,
            Err(e) => {
                // Leave the job to lease expiry: another attempt will load them.
                tracing::error!(error = %e, "cannot load checkpoints; giving the job back");
                finish(&shared, lease, &claimed.kind, Finish::Interrupted).await;
                return "interrupted";
            }
        }
    } else {
        Default::default()
    };
    let signals = Arc::new(Signals::default());
    shared
        .leases
        .hold(claimed.id, claimed.lease_token, signals.clone());
    let traced = telemetry::enabled().then(|| StepTracing {
        job_span: span,
        site: site(&claimed).to_string(),
    });
    let backend = Arc::new(JobBackend {
        shared: shared.clone(),
        lease,
        kind: claimed.kind.clone(),
        completed,
        compensated: Mutex::new(compensated),
        signals: signals.clone(),
        cancel_requested: AtomicBool::new(claimed.cancel_requested),
        last_progress: Mutex::new(None),
        step_started: Mutex::new(HashMap::new()),
        traced,
    });
    let mut started = JobEvent::new(claimed.id, &claimed.kind, "started");
    started.attempt = Some(claimed.attempt);
    shared.events.emit(started);

    let outcome = match shared.registry.get(&claimed.kind) {
        None => Err(StepError::Permanent(format!(
            "this worker does not know the kind {:?}; deploy a worker that does, then `understudy retry`",
            claimed.kind
        ))),
        Some(workflow) => {
            let info = JobInfo {
                id: claimed.id,
                kind: claimed.kind.clone(),
                attempt: claimed.attempt.max(1) as u32,
                exhausted: claimed.lease_losses >= shared.max_lease_losses as i32,
                progress: claimed.progress_percent.unwrap_or(0.0),
            };
            let job = Arc::new(Job::new(
                info,
                backend.clone(),
                shared.resources.clone(),
                shared.retry,
            ));
            let outcome = {
                let job = job.clone();
                let spec = claimed.spec.clone();
                tokio::spawn(async move { workflow.run(&job, spec).await }.in_current_span()).await
            };
            let outcome = outcome.unwrap_or_else(|e| {
                Err(StepError::Permanent(format!("the workflow panicked: {e}")))
            });
            settle(&shared, &backend, &job, outcome).await
        }
    };
    let name = match &outcome {
        Ok(_) => "succeeded",
        Err(error) => error.outcome(),
    };
    let finish_with = match outcome {
        Ok(result) => Some(Finish::Succeeded(result)),
        Err(StepError::LeaseLost) => None,
        Err(StepError::Interrupted) => Some(Finish::Interrupted),
        Err(StepError::Cancelled) => Some(Finish::Cancelled),
        Err(error) => Some(Finish::Failed(error.to_string())),
    };
    let held = match finish_with {
        Some(f) => finish(&shared, lease, &claimed.kind, f).await,
        None => {
            tracing::warn!("lease lost; another worker continues this job");
            false
        }
    };
    shared.leases.release(claimed.id);
    if held {
        name
    } else {
        "lease_lost"
    }
}

/// Runs compensation when the job failed or was cancelled; returns the final outcome.
async fn settle(
    shared: &Shared,
    backend: &JobBackend,
    job: &Job,
    outcome: Result<Value, StepError>,
) -> Result<Value, StepError> {
    let error = match outcome {
        Ok(result) => return Ok(result),
        Err(e) if e.is_failure() || e == StepError::Cancelled => e,
        Err(other) => return Err(other),
    };
    backend
        .record(EventType::Compensating, None, Some(&error.to_string()))
        .await;
    let mut event = backend.event("compensating");
    event.message = Some(error.to_string());
    shared.events.emit(event);
    match job.compensate().await {
        Ok(_) => Err(error),
        Err(StepError::LeaseLost) => Err(StepError::LeaseLost),
        Err(compensation) => Err(StepError::Permanent(format!(
            "{error}; then {compensation}"
        ))),
    }
}

/// Records the end of the attempt; false when the lease was lost first.
async fn finish(shared: &Shared, lease: Lease, kind: &str, finish: Finish) -> bool {
    let (event_type, message) = match &finish {
        Finish::Succeeded(_) => ("succeeded", None),
        Finish::Failed(e) => ("failed", Some(e.clone())),
        Finish::Cancelled => ("cancelled", None),
        Finish::Interrupted => ("interrupted", None),
    };
    match shared.ledger.finish(lease, finish).await {
        Ok(Fence::Held { .. }) => {
            shared.metrics.job_finished(kind, event_type);
            match &message {
                Some(error) => tracing::warn!(%error, "job {event_type}"),
                None => tracing::info!("job {event_type}"),
            }
            let mut event = JobEvent::new(lease.job, kind, event_type);
            event.attempt = Some(lease.attempt);
            event.message = message;
            shared.events.emit(event);
            true
        }
        Ok(Fence::Lost) => {
            tracing::warn!("lease lost before the job could be finished");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "could not record the end of the job; its lease will expire and another worker resumes it");
            false
        }
    }
}

async fn load_checkpoints(
    pool: &PgPool,
    job: uuid::Uuid,
) -> Result<(HashMap<String, Value>, HashSet<String>), sqlx::Error> {
    let rows: Vec<(String, bool, Value)> =
        sqlx::query_as("SELECT name, state = 'completed', output FROM job_steps WHERE job_id = $1")
            .bind(job)
            .fetch_all(pool)
            .await?;
    let mut completed = HashMap::new();
    let mut compensated = HashSet::new();
    for (name, is_completed, output) in rows {
        if is_completed {
            completed.insert(name, output);
        } else {
            compensated.insert(name);
        }
    }
    Ok((completed, compensated))
}

/// The engine behind one attempt's [`Job`].
struct JobBackend {
    shared: Arc<Shared>,
    lease: Lease,
    kind: String,
    completed: HashMap<String, Value>,
    compensated: Mutex<HashSet<String>>,
    signals: Arc<Signals>,
    cancel_requested: AtomicBool,
    last_progress: Mutex<Option<Instant>>,
    /// When each step of this attempt started, for the step duration histogram.
    step_started: Mutex<HashMap<String, Instant>>,
    /// Set only when traces are on: steps then get spans of their own.
    traced: Option<StepTracing>,
}

/// What a step's span needs from its job.
struct StepTracing {
    job_span: Span,
    site: String,
}

impl JobBackend {
    fn event(&self, event_type: &str) -> JobEvent {
        let mut event = JobEvent::new(self.lease.job, &self.kind, event_type);
        event.attempt = Some(self.lease.attempt);
        event
    }

    /// Appends to the job's history (best effort: the history is not worth failing a job over).
    async fn record(&self, event_type: EventType, step: Option<&str>, message: Option<&str>) {
        let result = sqlx::query(
            "INSERT INTO job_events (job_id, type, attempt, step, message) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(self.lease.job)
        .bind(event_type)
        .bind(self.lease.attempt)
        .bind(step)
        .bind(message)
        .execute(&self.shared.pool)
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, event = event_type.as_str(), "could not record job event");
        }
    }

    /// The fault armed for `step` in `worker.fault_dir`, if any (see `faults.rs`).
    async fn injected_fault(&self, step: &str) -> Result<(), StepError> {
        match self.shared.faults.as_ref().and_then(|f| f.take(step)) {
            None => Ok(()),
            Some(Fault::Fail) => Err(StepError::Permanent(format!(
                "injected fault: step {step:?} failed after its body ran (worker.fault_dir)"
            ))),
            Some(Fault::Hold) => {
                Faults::hold(self.signals.token()).await;
                match self.signals.reason() {
                    Some(reason) => Err(reason),
                    None => Ok(()),
                }
            }
        }
    }

    fn ledger_error(&self, error: LedgerError) -> StepError {
        match error {
            LedgerError::Stopped => StepError::Interrupted,
            LedgerError::Database(e) => {
                StepError::Permanent(format!("recording the checkpoint failed: {e}"))
            }
        }
    }
}

#[async_trait]
impl Backend for JobBackend {
    fn completed(&self, step: &str) -> Option<Value> {
        self.completed.get(step).cloned()
    }

    fn compensated(&self, step: &str) -> bool {
        self.compensated
            .lock()
            .expect("compensated set poisoned")
            .contains(step)
    }

    async fn before_step(&self, step: &str) -> Result<(), StepError> {
        self.step_started
            .lock()
            .expect("step timer poisoned")
            .insert(step.to_string(), Instant::now());
        // A step's first progress report is never throttled away (it often says what the step
        // decided, e.g. which copy path a clone takes).
        *self.last_progress.lock().expect("progress poisoned") = None;
        if let Some(reason) = self.signals.reason() {
            return Err(reason);
        }
        if self.cancel_requested.load(Ordering::Relaxed) {
            return Err(StepError::Cancelled);
        }
        if self.shared.draining.is_cancelled() {
            return Err(StepError::Interrupted);
        }
        Ok(())
    }

    async fn checkpoint(&self, step: &str, output: Value) -> Result<(), StepError> {
        self.injected_fault(step).await?;
        match self
            .shared
            .ledger
            .checkpoint(self.lease, step, output)
            .await
        {
            Ok(Fence::Held { cancel_requested }) => {
                // Done again after a compensation undid it: its undo may run again.
                self.compensated
                    .lock()
                    .expect("compensated set poisoned")
                    .remove(step);
                let began = self
                    .step_started
                    .lock()
                    .expect("step timer poisoned")
                    .remove(step);
                if let Some(began) = began {
                    self.shared
                        .metrics
                        .step_took(&self.kind, step, began.elapsed().as_secs_f64());
                }
                if cancel_requested {
                    self.cancel_requested.store(true, Ordering::Relaxed);
                }
                let mut event = self.event("step_completed");
                event.step = Some(step.to_string());
                self.shared.events.emit(event);
                Ok(())
            }
            Ok(Fence::Lost) => {
                self.signals.raise(StepError::LeaseLost);
                Err(StepError::LeaseLost)
            }
            Err(e) => Err(self.ledger_error(e)),
        }
    }

    async fn retrying(&self, step: &str, try_number: u32, error: &StepError, delay: Duration) {
        let message = format!(
            "try {try_number} failed: {error}; retrying in {} ms",
            delay.as_millis()
        );
        tracing::warn!(step, "{message}");
        self.shared.metrics.step_retried(&self.kind);
        self.record(EventType::StepRetrying, Some(step), Some(&message))
            .await;
        let mut event = self.event("step_retrying");
        event.step = Some(step.to_string());
        event.message = Some(message);
        self.shared.events.emit(event);
    }

    async fn mark_compensated(&self, step: &str) -> Result<(), StepError> {
        let held: bool = sqlx::query_scalar(
            "WITH fenced AS ( \
                SELECT id FROM jobs WHERE id = $1 AND lease_token = $2 AND state = 'running' \
                FOR UPDATE \
             ), undone AS ( \
                SELECT completed_at FROM job_steps \
                WHERE job_id IN (SELECT id FROM fenced) AND name = $3 \
             ), marked AS ( \
                UPDATE job_steps SET state = 'compensated', compensated_at = now() \
                WHERE job_id IN (SELECT id FROM fenced) AND state = 'completed' \
                  AND (name = $3 OR completed_at >= (SELECT completed_at FROM undone)) \
                RETURNING job_id, name \
             ), events AS ( \
                INSERT INTO job_events (job_id, type, attempt, step) \
                SELECT job_id, 'step_compensated', $4, name FROM marked \
             ) \
             SELECT EXISTS (SELECT 1 FROM fenced)",
        )
        .bind(self.lease.job)
        .bind(self.lease.token)
        .bind(step)
        .bind(self.lease.attempt)
        .fetch_one(&self.shared.pool)
        .await
        .map_err(|e| StepError::Permanent(format!("recording compensation failed: {e}")))?;
        if !held {
            return Err(StepError::LeaseLost);
        }
        self.compensated
            .lock()
            .expect("compensated set poisoned")
            .insert(step.to_string());
        let mut event = self.event("step_compensated");
        event.step = Some(step.to_string());
        self.shared.events.emit(event);
        Ok(())
    }

    fn progress(&self, percent: f32, message: &str) {
        {
            let mut last = self.last_progress.lock().expect("progress poisoned");
            if percent < 100.0 && last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.shared.ledger.progress(self.lease, percent, message);
        let mut event = self.event("progress");
        event.percent = Some(percent);
        event.message = Some(message.to_string());
        self.shared.events.emit(event);
    }

    fn cancellation(&self) -> CancellationToken {
        self.signals.token()
    }

    fn stop_reason(&self) -> StepError {
        self.signals.reason().unwrap_or(StepError::Interrupted)
    }

    fn step_span(&self, step: &str) -> Span {
        let Some(traced) = &self.traced else {
            return Span::none();
        };
        tracing::info_span!(
            parent: &traced.job_span,
            "step",
            otel.name = format!("step {step}"),
            otel.status_code = Empty,
            step,
            job_id = %self.lease.job,
            kind = %self.kind,
            attempt = self.lease.attempt,
            site = traced.site.as_str(),
            outcome = Empty,
        )
    }
}
