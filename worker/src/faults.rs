//! Injected faults, for the fault matrix tests (`worker.fault_dir`, off unless set).
//!
//! A step is faulted by a file in the fault directory named after the step, read right after the
//! step's body returned and before its checkpoint — the moment where its effect exists and the
//! ledger does not know it yet, so the retry, the compensation or the next worker must cope:
//! - `<step>.fail`: the step fails permanently (once: the file is renamed `<step>.failed`);
//! - `<step>.hold`: the step waits (the file is renamed `<step>.held`) until the job is asked to
//!   stop — a cancel, a lost lease, a shutdown deadline — or the worker is killed.
//!
//! Step names are checkpoint names (`export.validate`); `/` is written as `_`. Nothing here runs
//! when the setting is absent, which it is in every shipped configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a held step waits at most before going on (tests stop it far earlier).
const HOLD_AT_MOST: Duration = Duration::from_secs(300);

/// What a fault file asks of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Fail,
    Hold,
}

/// The fault directory of a worker.
#[derive(Debug, Clone)]
pub struct Faults {
    dir: PathBuf,
}

impl Faults {
    pub fn new(dir: &Path) -> Faults {
        Faults {
            dir: dir.to_path_buf(),
        }
    }

    /// The fault armed for `step`, consumed (renamed) so it fires once.
    pub fn take(&self, step: &str) -> Option<Fault> {
        let base = step.replace('/', "_");
        for (fault, armed, fired) in [
            (Fault::Fail, "fail", "failed"),
            (Fault::Hold, "hold", "held"),
        ] {
            let from = self.dir.join(format!("{base}.{armed}"));
            let to = self.dir.join(format!("{base}.{fired}"));
            if std::fs::rename(&from, &to).is_ok() {
                tracing::warn!(step, ?fault, "injected fault");
                return Some(fault);
            }
        }
        None
    }

    /// Waits for `stop` (or [`HOLD_AT_MOST`]).
    pub async fn hold(stop: CancellationToken) {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(HOLD_AT_MOST) => {}
        }
    }
}
