//! The scheduler: claims jobs while this worker has free capacity, and starts their runners.
//!
//! It claims when woken (intake committed new jobs, a job ended, a lease was rescued) or every
//! poll interval, in batches as large as the free capacity. Capacity is a semaphore of
//! `worker.concurrency` permits; each runner holds one until its attempt ends.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::claim;
use crate::runner::{self, Shared};

/// Most jobs claimed in one statement.
const CLAIM_BATCH: usize = 256;

pub struct Scheduler {
    pub shared: Arc<Shared>,
    pub worker_id: String,
    pub concurrency: usize,
    pub lease_ttl: Duration,
    pub poll: Duration,
    pub runners: TaskTracker,
}

impl Scheduler {
    /// Claims and starts jobs until `stop` fires.
    pub async fn run(self, stop: CancellationToken) {
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut backlog = true;
        loop {
            if !backlog {
                tokio::select! {
                    _ = self.shared.wake.notified() => {}
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = stop.cancelled() => return,
                }
            }
            let first = tokio::select! {
                permit = permits.clone().acquire_owned() => permit.expect("semaphore never closed"),
                _ = stop.cancelled() => return,
            };
            let want = (1 + permits.available_permits()).min(CLAIM_BATCH);
            let claimed = match claim::claim(
                &self.shared.pool,
                &self.worker_id,
                want,
                self.lease_ttl,
            )
            .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming jobs failed");
                    backlog = false;
                    continue;
                }
            };
            backlog = claimed.len() == want;
            let mut first = Some(first);
            for job in claimed {
                let permit = match first.take() {
                    Some(permit) => permit,
                    None => permits
                        .clone()
                        .try_acquire_owned()
                        .expect("only the scheduler takes permits"),
                };
                let shared = self.shared.clone();
                self.runners.spawn(async move {
                    runner::run(shared, job).await;
                    drop(permit);
                });
            }
        }
    }
}
