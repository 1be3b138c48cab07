//! [`Job`]: what a workflow holds while it runs — named steps, progress, compensation.
//!
//! `job.step("name", |run| async { ... })` returns the checkpointed output when the step completed
//! in an earlier attempt; otherwise it runs the closure (retrying retryable errors with the
//! job's [`RetryPolicy`]) and checkpoints the output before returning it. Step names are the
//! identities stored in checkpoints: never derive them from positions.
//!
//! A workflow can run another workflow's steps inside its own job through [`Job::scoped`]: the
//! inner steps are checkpointed as `<prefix><name>` (e.g. `export.validate`), so two workflows
//! with a step of the same name can be chained, and the inner progress (0–100) is mapped onto a
//! part of the outer job's. An unscoped job (every plain job) uses the names as they are.
//!
//! Progress never goes backwards, for whoever follows the job (a web app's bar): a report below
//! the highest one of the job — counting what the job had reached before this attempt
//! ([`JobInfo::progress`]) — is not passed on. A resumed job replays its workflow from the top,
//! and the progress its skipped steps report (`0 %`, `export: 5 %`, …) would otherwise pull the
//! bar back into the export range before it climbs again.

use futures::future::BoxFuture;
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{Backend, Resources, RetryPolicy, StepError};

/// Who the job is, as a workflow may need to know.
#[derive(Debug, Clone)]
pub struct JobInfo {
    pub id: Uuid,
    pub kind: String,
    /// 1 for the first claim of the job, 2 after a crash, a retry or a hand-over, ...
    pub attempt: u32,
    /// True when the job exceeded its crash budget: steps not yet completed fail at once so that
    /// compensation can clean up.
    pub exhausted: bool,
    /// The job's progress (0–100) when this attempt started: what its followers saw last
    /// (0 on a first attempt). Reports below it are not passed on.
    pub progress: f32,
}

type Undo = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), StepError>> + Send>;
type UndoList = Arc<Mutex<Vec<(String, Undo)>>>;

/// Where a scoped job's steps live: a name prefix and a progress map.
#[derive(Debug, Clone, PartialEq)]
struct Scope {
    prefix: String,
    /// Piecewise-linear map of inner percent → outer percent, knots sorted by inner percent.
    knots: Vec<(f32, f32)>,
}

impl Scope {
    fn root() -> Scope {
        Scope {
            prefix: String::new(),
            knots: vec![(0.0, 0.0), (100.0, 100.0)],
        }
    }

    fn name(&self, step: &str) -> String {
        format!("{}{step}", self.prefix)
    }

    /// `inner` on the outer job's 0–100 (NaN stays NaN: not a report to pass on).
    fn percent(&self, inner: f32) -> f32 {
        if inner.is_nan() {
            return inner;
        }
        let inner = inner.clamp(0.0, 100.0);
        for pair in self.knots.windows(2) {
            let ((a, x), (b, y)) = (pair[0], pair[1]);
            if inner <= b {
                let t = if b > a { (inner - a) / (b - a) } else { 1.0 };
                return x + t * (y - x);
            }
        }
        self.knots.last().map(|k| k.1).unwrap_or(inner)
    }
}

/// The highest progress reported in a job, shared by its scopes and steps: the gate that keeps
/// progress from going backwards (see the module docs).
#[derive(Debug)]
struct Watermark(Mutex<f32>);

impl Watermark {
    fn new(start: f32) -> Watermark {
        let start = if start.is_finite() {
            start.clamp(0.0, 100.0)
        } else {
            0.0
        };
        Watermark(Mutex::new(start))
    }

    /// Passes `percent` (already on the job's 0–100) to the backend unless it is below the mark.
    /// Held while reporting, so two steps reporting at once cannot reorder their reports.
    fn report(&self, backend: &dyn Backend, percent: f32, message: &str) {
        let mut high = self.0.lock().expect("progress watermark poisoned");
        if percent.is_nan() || percent < *high {
            return;
        }
        *high = percent;
        backend.progress(percent, message);
    }
}

/// One attempt of one job, handed to [`crate::Workflow::run`].
pub struct Job {
    info: JobInfo,
    backend: Arc<dyn Backend>,
    resources: Arc<Resources>,
    retry: RetryPolicy,
    undo: UndoList,
    /// Set by [`Job::point_of_no_return`]: nothing before it is undone any more.
    committed: Arc<std::sync::atomic::AtomicBool>,
    scope: Scope,
    progress: Arc<Watermark>,
}

/// What a step body gets on each try.
#[derive(Clone)]
pub struct StepRun {
    /// 1 on the first try of this step in this attempt.
    pub try_number: u32,
    backend: Arc<dyn Backend>,
    scope: Arc<Scope>,
    progress: Arc<Watermark>,
}

impl StepRun {
    /// Fires when the step should stop early (cancel, lost lease, shutdown deadline).
    pub fn cancellation(&self) -> CancellationToken {
        self.backend.cancellation()
    }

    /// The error to return after noticing `cancellation()`.
    pub fn stop_reason(&self) -> StepError {
        self.backend.stop_reason()
    }

    /// Reports job progress from inside a long step.
    pub fn progress(&self, percent: f32, message: &str) {
        self.progress
            .report(&*self.backend, self.scope.percent(percent), message);
    }
}

impl Job {
    pub fn new(
        info: JobInfo,
        backend: Arc<dyn Backend>,
        resources: Arc<Resources>,
        retry: RetryPolicy,
    ) -> Self {
        Job {
            progress: Arc::new(Watermark::new(info.progress)),
            info,
            backend,
            resources,
            retry,
            undo: Arc::new(Mutex::new(Vec::new())),
            committed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            scope: Scope::root(),
        }
    }

    /// The same job, for running another workflow's steps inside it: step names get `prefix`
    /// (after this job's own), and the inner progress is mapped through `knots` — pairs of
    /// (inner percent, outer percent), e.g. `&[(0.0, 0.0), (100.0, 40.0)]` puts the inner
    /// 0–100 on 0–40. Compensations registered through the scoped job are the outer job's.
    pub fn scoped(&self, prefix: &str, knots: &[(f32, f32)]) -> Job {
        let mut knots: Vec<(f32, f32)> = knots
            .iter()
            .map(|&(inner, outer)| (inner, self.scope.percent(outer)))
            .collect();
        knots.sort_by(|a, b| a.0.total_cmp(&b.0));
        if knots.is_empty() {
            knots = Scope::root().knots;
        }
        Job {
            info: self.info.clone(),
            backend: self.backend.clone(),
            resources: self.resources.clone(),
            retry: self.retry,
            undo: self.undo.clone(),
            committed: self.committed.clone(),
            progress: self.progress.clone(),
            scope: Scope {
                prefix: self.scope.name(prefix),
                knots,
            },
        }
    }

    /// The checkpoint name of step `name` in this (possibly scoped) job.
    pub fn step_name(&self, name: &str) -> String {
        self.scope.name(name)
    }

    pub fn info(&self) -> &JobInfo {
        &self.info
    }

    pub fn id(&self) -> Uuid {
        self.info.id
    }

    /// Database, secrets and data directory for the workflow's own use.
    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    /// True when step `name` completed in an earlier attempt (its output will be replayed).
    pub fn is_done(&self, name: &str) -> bool {
        self.backend.completed(&self.scope.name(name)).is_some()
    }

    /// Runs the step called `name` once per job, durably (see the module docs).
    pub async fn step<T, F, Fut>(&self, name: &str, body: F) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(StepRun) -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        self.step_with(name, self.retry, body).await
    }

    /// [`Job::step`] with a retry policy of its own.
    pub async fn step_with<T, F, Fut>(
        &self,
        name: &str,
        retry: RetryPolicy,
        body: F,
    ) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(StepRun) -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let full = self.scope.name(name);
        let name = full.as_str();
        if let Some(saved) = self.backend.completed(name) {
            return serde_json::from_value(saved).map_err(|e| {
                StepError::Permanent(format!(
                    "checkpoint of step {name:?} does not match this version of the workflow: {e}"
                ))
            });
        }
        match self.backend.before_step(name).await {
            // Past the point of no return a cancel no longer stops the job: what remains
            // finishes the change that has taken effect (see `point_of_no_return`).
            Err(StepError::Cancelled) if self.is_committed() => {}
            other => other?,
        }
        if self.info.exhausted {
            return Err(StepError::Permanent(format!(
                "step {name:?} not started: the job's workers died too many times"
            )));
        }
        let span = self.backend.step_span(name);
        let ran = self
            .run_step(name, retry, body)
            .instrument(span.clone())
            .await;
        if !span.is_none() {
            match &ran {
                Ok(_) => span.record("outcome", "succeeded"),
                Err(error) => span
                    .record("outcome", error.outcome())
                    .record("otel.status_code", "error"),
            };
        }
        ran
    }

    /// A step's tries, then its checkpoint.
    async fn run_step<T, F, Fut>(
        &self,
        name: &str,
        retry: RetryPolicy,
        mut body: F,
    ) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(StepRun) -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let mut delays = retry.delays();
        let mut try_number = 1;
        let scope = Arc::new(self.scope.clone());
        let output = loop {
            let run = StepRun {
                try_number,
                backend: self.backend.clone(),
                scope: scope.clone(),
                progress: self.progress.clone(),
            };
            match body(run).await {
                Ok(output) => break output,
                Err(error) if error.is_retryable() => {
                    let Some(delay) = delays.next() else {
                        return Err(StepError::Exhausted {
                            tries: try_number,
                            last: error.to_string(),
                        });
                    };
                    self.backend.retrying(name, try_number, &error, delay).await;
                    let cancel = self.backend.cancellation();
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = cancel.cancelled() => return Err(self.backend.stop_reason()),
                    }
                    try_number += 1;
                }
                Err(error) => return Err(error),
            }
        };
        let value = serde_json::to_value(&output).map_err(|e| {
            StepError::Permanent(format!("output of step {name:?} is not serializable: {e}"))
        })?;
        self.backend.checkpoint(name, value).await?;
        Ok(output)
    }

    /// Registers how to undo step `name` if the job later fails or is cancelled. Call it right
    /// after the step (also when the step was skipped on resume: registration is not durable,
    /// the code path is). Compensations run in reverse order of registration, each at most once.
    pub fn on_failure<F, Fut>(&self, name: &str, undo: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), StepError>> + Send + 'static,
    {
        let undo: Undo = Box::new(move || Box::pin(undo()));
        self.undo
            .lock()
            .expect("undo list poisoned")
            .push((self.scope.name(name), undo));
    }

    /// [`Job::step`] for the job's point of no return (a saga's pivot, e.g. a swap into
    /// production): the moment its body returns `Ok`, before its checkpoint is written,
    /// [`Job::point_of_no_return`] is declared — so a checkpoint that cannot be written, a
    /// cancel or a failure arriving right then undoes nothing before it, and the retry re-runs
    /// the (idempotent) pivot instead of compensating a change that has taken effect. Its body
    /// must return `Err` only when its change did not happen; cleanup after the change belongs in
    /// a later step. Also declared when the step completed in an earlier attempt.
    pub async fn pivot_step<T, F, Fut>(&self, name: &str, mut body: F) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(StepRun) -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let output = self
            .step(name, |run| {
                let done = body(run);
                async move {
                    let output = done.await?;
                    self.point_of_no_return();
                    Ok(output)
                }
            })
            .await?;
        self.point_of_no_return();
        Ok(output)
    }

    /// Declares the step just completed the job's point of no return (a saga's pivot): its
    /// change has taken effect where nothing undoes it (a swap into production or staging).
    /// Every compensation registered so far is dropped — a later failure undoes nothing before
    /// this point, so a retry resumes after it instead of re-running it — and a cancel asked
    /// for from now on no longer stops the job. Call it right after that step, on every path
    /// (also when the step was skipped on resume).
    pub fn point_of_no_return(&self) {
        self.undo.lock().expect("undo list poisoned").clear();
        self.committed
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn is_committed(&self) -> bool {
        self.committed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs the registered compensations, last first, skipping those already done. A compensation
    /// that fails stops the chain: the job ends `failed` with that error, and `understudy retry`
    /// runs the remaining ones later.
    pub async fn compensate(&self) -> Result<usize, StepError> {
        let registered = std::mem::take(&mut *self.undo.lock().expect("undo list poisoned"));
        let mut done = 0;
        for (name, undo) in registered.into_iter().rev() {
            if self.backend.compensated(&name) {
                continue;
            }
            undo().await.map_err(|e| {
                StepError::Permanent(format!("compensation of step {name:?} failed: {e}"))
            })?;
            self.backend.mark_compensated(&name).await?;
            done += 1;
        }
        Ok(done)
    }

    /// Reports job progress (0–100) with a short message.
    pub fn progress(&self, percent: f32, message: &str) {
        self.progress
            .report(&*self.backend, self.scope.percent(percent), message);
    }

    /// Fires when the job should stop early.
    pub fn cancellation(&self) -> CancellationToken {
        self.backend.cancellation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use serde_json::Value;
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// Checkpoints and progress in memory.
    #[derive(Default)]
    struct Memory {
        done: Mutex<BTreeMap<String, Value>>,
        compensated: Mutex<Vec<String>>,
        progress: Mutex<Vec<f32>>,
        cancel: CancellationToken,
    }

    #[async_trait]
    impl Backend for Memory {
        fn completed(&self, step: &str) -> Option<Value> {
            self.done.lock().unwrap().get(step).cloned()
        }
        fn compensated(&self, step: &str) -> bool {
            self.compensated.lock().unwrap().iter().any(|s| s == step)
        }
        async fn before_step(&self, _: &str) -> Result<(), StepError> {
            Ok(())
        }
        async fn checkpoint(&self, step: &str, output: Value) -> Result<(), StepError> {
            self.done.lock().unwrap().insert(step.to_string(), output);
            Ok(())
        }
        async fn retrying(&self, _: &str, _: u32, _: &StepError, _: Duration) {}
        async fn mark_compensated(&self, step: &str) -> Result<(), StepError> {
            self.compensated.lock().unwrap().push(step.to_string());
            Ok(())
        }
        fn progress(&self, percent: f32, _: &str) {
            self.progress.lock().unwrap().push(percent);
        }
        fn cancellation(&self) -> CancellationToken {
            self.cancel.clone()
        }
        fn stop_reason(&self) -> StepError {
            StepError::Permanent("stopped".into())
        }
    }

    fn job(backend: Arc<Memory>) -> Job {
        attempt(backend, 1, 0.0)
    }

    /// Attempt `number` of the job, which had reached `progress` before it.
    fn attempt(backend: Arc<Memory>, number: u32, progress: f32) -> Job {
        let info = JobInfo {
            id: Uuid::nil(),
            kind: "test".into(),
            attempt: number,
            exhausted: false,
            progress,
        };
        let db = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://localhost/unused")
            .unwrap();
        let resources = Resources {
            db,
            secrets: crate::secrets::SecretBox::from_base64(&base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                [7u8; 32],
            ))
            .unwrap(),
            data_dir: "/tmp".into(),
        };
        Job::new(info, backend, Arc::new(resources), RetryPolicy::default())
    }

    #[tokio::test]
    async fn nothing_before_the_point_of_no_return_is_undone() {
        let memory = Arc::new(Memory::default());
        let job = job(memory.clone());
        job.step("validate", |_| async { Ok(1) }).await.unwrap();
        job.on_failure("validate", || async { Ok(()) });
        job.step("swap", |_| async { Ok(2) }).await.unwrap();
        job.point_of_no_return();
        job.on_failure("backup", || async { Ok(()) });
        assert_eq!(
            job.compensate().await.unwrap(),
            1,
            "only what follows the pivot"
        );
        assert_eq!(*memory.compensated.lock().unwrap(), ["backup"]);
    }

    #[tokio::test]
    async fn scoped_steps_are_prefixed_resumed_and_their_progress_mapped() {
        let memory = Arc::new(Memory::default());
        let outer = job(memory.clone());
        let a: u32 = outer.step("validate", |_| async { Ok(1) }).await.unwrap();
        let inner = outer.scoped("export.", &[(0.0, 0.0), (100.0, 40.0)]);
        let b: u32 = inner
            .step("validate", |run| async move {
                run.progress(50.0, "half");
                Ok(2)
            })
            .await
            .unwrap();
        assert_eq!((a, b), (1, 2));
        let names: Vec<String> = memory.done.lock().unwrap().keys().cloned().collect();
        assert_eq!(names, ["export.validate", "validate"]);
        assert!(inner.is_done("validate") && outer.is_done("export.validate"));
        // Resumed: the checkpoint is replayed, the body does not run.
        let again: u32 = outer
            .scoped("export.", &[(0.0, 0.0), (100.0, 40.0)])
            .step("validate", |_| async { Ok(99) })
            .await
            .unwrap();
        assert_eq!(again, 2);
        // Piecewise progress, nested scopes compose.
        let provision = outer.scoped("provision.", &[(0.0, 40.0), (60.0, 70.0), (100.0, 100.0)]);
        provision.progress(30.0, "");
        provision
            .scoped("x.", &[(0.0, 0.0), (100.0, 60.0)])
            .progress(100.0, "");
        provision.progress(80.0, "");
        assert_eq!(*memory.progress.lock().unwrap(), [20.0, 55.0, 70.0, 85.0]);
        // Compensations registered in a scope run from the outer job, under the scoped name.
        provision.on_failure("reserve", || async { Ok(()) });
        assert_eq!(outer.compensate().await.unwrap(), 1);
        assert_eq!(*memory.compensated.lock().unwrap(), ["provision.reserve"]);
    }

    /// An onboard-like chain: a step of its own, then two scoped workflows whose steps each
    /// report progress before they run and from inside; `crash_in` makes that step fail.
    async fn chain(job: &Job, crash_in: &str) -> Result<(), StepError> {
        async fn step(
            job: &Job,
            name: &'static str,
            at: f32,
            fails: bool,
        ) -> Result<(), StepError> {
            job.progress(at, name);
            job.step(name, |run| async move {
                run.progress(at + 10.0, name);
                if fails {
                    return Err(StepError::Permanent("worker died".into()));
                }
                Ok(true)
            })
            .await
            .map(|_: bool| ())
        }
        step(job, "validate", 0.0, crash_in == "validate").await?;
        let export = job.scoped("export.", &[(0.0, 1.0), (100.0, 30.0)]);
        for (name, at) in [("site", 0.0), ("posts", 40.0), ("media", 80.0)] {
            step(&export, name, at, crash_in == name).await?;
        }
        let provision = job.scoped("provision.", &[(0.0, 30.0), (100.0, 100.0)]);
        for (name, at) in [("containers", 0.0), ("import", 60.0), ("record", 90.0)] {
            step(&provision, name, at, crash_in == name).await?;
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_resumed_job_s_progress_never_goes_backwards() {
        let memory = Arc::new(Memory::default());
        let first = attempt(memory.clone(), 1, 0.0);
        assert!(chain(&first, "import").await.is_err());
        let reached = *memory.progress.lock().unwrap().last().unwrap();
        assert_eq!(
            reached, 79.0,
            "the import's report from inside, before it died"
        );
        assert!(memory.progress.lock().unwrap().is_sorted());

        // The next attempt replays the chain from the top: the skipped steps' reports (0 %,
        // the export's 1–30 %, ...) are not passed on; the bar goes on from where it was.
        memory.progress.lock().unwrap().clear();
        let second = attempt(memory.clone(), 2, reached);
        chain(&second, "").await.unwrap();
        let seen = memory.progress.lock().unwrap().clone();
        assert!(!seen.is_empty() && seen.is_sorted(), "{seen:?}");
        assert!(seen.iter().all(|&p| p >= reached), "{seen:?}");
        assert_eq!(seen, [79.0, 93.0, 100.0]);

        // Inside a step too: a lower report is dropped, an equal one (a new message) passes.
        memory.progress.lock().unwrap().clear();
        let job = attempt(memory.clone(), 1, 0.0);
        job.step("a", |run| async move {
            run.progress(50.0, "half");
            run.progress(40.0, "restarted below");
            run.progress(50.0, "still half");
            run.progress(f32::NAN, "nonsense");
            Ok(true)
        })
        .await
        .unwrap();
        assert_eq!(*memory.progress.lock().unwrap(), [50.0, 50.0]);
    }
}
