//! The `media:batch:N` steps: download files with bounded concurrency, a size limit, retries
//! with backoff, and SHA-256 checksums. A file already in the bundle (from an earlier try or
//! attempt) is hashed, not fetched again. A file the site refuses is recorded as failed with its
//! production URL; a site that stops answering fails the batch (retryable) instead, so the
//! step's retries wait for it to come back.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::bundle::{ensure_parent, hash_file, hex, tmp_name, Bundle};
use super::client::{transport, WpClient};
use super::error::ExportError;
use super::media_plan::{MediaRecord, MediaStatus, MediaTask};

/// Tries per file for temporary errors (5xx, timeouts) before the file is recorded as failed.
const FILE_TRIES: u32 = 3;

/// What a batch needs besides its tasks.
#[derive(Clone)]
pub struct Downloader {
    pub client: Arc<WpClient>,
    pub bundle: Bundle,
    pub concurrency: usize,
    pub max_bytes: u64,
    pub cancel: CancellationToken,
}

/// Why a batch stopped early.
pub enum BatchStop {
    /// The site is unreachable: retry the batch later.
    Site(ExportError),
    /// The job is being cancelled or the worker stops.
    Cancelled,
}

impl Downloader {
    /// Downloads a batch; returns one record per task, in task order.
    pub async fn run(&self, tasks: &[MediaTask]) -> Result<Vec<MediaRecord>, BatchStop> {
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut set = JoinSet::new();
        for (index, task) in tasks.iter().cloned().enumerate() {
            let permits = permits.clone();
            let this = self.clone();
            set.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("semaphore never closed");
                let outcome = tokio::select! {
                    r = this.one(&task) => r,
                    _ = this.cancel.cancelled() => Err(BatchStop::Cancelled),
                };
                (index, outcome)
            });
        }
        let mut records: Vec<Option<MediaRecord>> = vec![None; tasks.len()];
        let mut stop = None;
        while let Some(joined) = set.join_next().await {
            let (index, outcome) = match joined {
                Ok(done) => done,
                // Aborted below, after another task stopped the batch.
                Err(e) if e.is_cancelled() => continue,
                Err(e) => {
                    set.abort_all();
                    let panic = ExportError::Bundle(format!("a download task panicked: {e}"));
                    stop.get_or_insert(BatchStop::Site(panic));
                    continue;
                }
            };
            match outcome {
                Ok(record) => records[index] = Some(record),
                Err(s) => {
                    // Stop the others at once; their files are re-checked on the next try.
                    set.abort_all();
                    stop.get_or_insert(s);
                }
            }
        }
        if let Some(stop) = stop {
            return Err(stop);
        }
        Ok(records
            .into_iter()
            .map(|r| r.expect("every task reported"))
            .collect())
    }

    /// One file: reuse it when present, else fetch with retries.
    async fn one(&self, task: &MediaTask) -> Result<MediaRecord, BatchStop> {
        let dest = self.bundle.partial_path(&task.path);
        let mut record = MediaRecord {
            status: MediaStatus::Downloaded,
            id: task.id,
            url: task.url.clone(),
            path: Some(task.path.clone()),
            mime: task.mime.clone(),
            bytes: None,
            sha256: None,
            reason: None,
        };
        if dest.exists() {
            let (bytes, sha) = hash_file(&dest).map_err(BatchStop::Site)?;
            record.bytes = Some(bytes);
            record.sha256 = Some(sha);
            return Ok(record);
        }
        let url = match Url::parse(&task.fetch_url) {
            Ok(u) => u,
            Err(e) => {
                return Ok(fail(
                    record,
                    MediaStatus::UnsafeName,
                    format!("bad URL: {e}"),
                ))
            }
        };
        let mut delay = Duration::from_millis(300);
        let mut try_number = 1;
        loop {
            match self.fetch(&url, &dest).await {
                Ok(Fetched::Done { bytes, sha256 }) => {
                    record.bytes = Some(bytes);
                    record.sha256 = Some(sha256);
                    return Ok(record);
                }
                Ok(Fetched::TooLarge(seen)) => {
                    let reason = format!("{seen}+ bytes is over the {}-byte limit", self.max_bytes);
                    return Ok(fail(record, MediaStatus::Oversized, reason));
                }
                Ok(Fetched::Refused(status)) => {
                    let reason = format!("HTTP {status}; fetch it from the production URL");
                    return Ok(fail(record, MediaStatus::Failed, reason));
                }
                Err(e) if e.is_retryable() && try_number < FILE_TRIES => {
                    tracing::debug!(url = %url, error = %e, "media download retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    try_number += 1;
                }
                Err(e @ ExportError::Unreachable { .. }) => return Err(BatchStop::Site(e)),
                Err(e @ ExportError::Storage { .. }) => return Err(BatchStop::Site(e)),
                Err(e) => {
                    let reason = format!("{e}; fetch it from the production URL");
                    return Ok(fail(record, MediaStatus::Failed, reason));
                }
            }
        }
    }

    /// Streams the body into a temporary file, hashing it, then renames it into place.
    async fn fetch(&self, url: &Url, dest: &Path) -> Result<Fetched, ExportError> {
        let mut response = self.client.send(url).await?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(ExportError::ServerBusy {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Ok(Fetched::Refused(status.as_u16()));
        }
        if let Some(length) = response.content_length().filter(|l| *l > self.max_bytes) {
            return Ok(Fetched::TooLarge(length));
        }
        ensure_parent(dest)?;
        let tmp = tmp_name(dest);
        let io = |e| ExportError::storage(&tmp, e);
        let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    drop(file);
                    remove(&tmp)?;
                    return Err(transport(url, &e));
                }
            };
            total += chunk.len() as u64;
            if total > self.max_bytes {
                drop(file);
                remove(&tmp)?;
                return Ok(Fetched::TooLarge(total));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(io)?;
        }
        file.into_inner()
            .map_err(|e| io(e.into_error()))?
            .sync_all()
            .map_err(io)?;
        std::fs::rename(&tmp, dest).map_err(|e| ExportError::storage(dest, e))?;
        Ok(Fetched::Done {
            bytes: total,
            sha256: hex(&hasher.finalize()),
        })
    }
}

enum Fetched {
    Done { bytes: u64, sha256: String },
    TooLarge(u64),
    Refused(u16),
}

fn fail(mut record: MediaRecord, status: MediaStatus, reason: String) -> MediaRecord {
    record.status = status;
    record.path = None;
    record.reason = Some(reason);
    record
}

fn remove(path: &Path) -> Result<(), ExportError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ExportError::storage(path, e)),
    }
}
