//! The bundle on disk: built in `<out>.partial/`, renamed to `<out>/` when complete. Every file
//! is written to a temporary name and renamed, so a crash never leaves a half-written file under
//! its real name; `manifest.json` is written last, then the directory is renamed. See BUNDLE.md.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use uuid::Uuid;

use super::error::ExportError;

/// Marks a `.partial` directory as belonging to one job.
const OWNER_FILE: &str = ".understudy-job";
/// The owner file of a partial bundle whose job failed or was cancelled: `released <job id>`.
const RELEASED: &str = "released ";

/// Where the bundle of one job is built and where it ends up.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The finished bundle.
    pub dir: PathBuf,
    /// The bundle while it is being built.
    pub partial: PathBuf,
}

/// What `prepare` found.
pub enum Prepared {
    /// The partial directory is ready (new, or this job's from an earlier attempt).
    Building,
    /// This job already completed the bundle (it crashed after the rename).
    AlreadyDone,
}

/// A file written into the bundle.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Written {
    /// Bundle-relative path.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

impl Bundle {
    pub fn new(dir: PathBuf) -> Bundle {
        let mut name = dir.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        Bundle {
            partial: dir.with_file_name(name),
            dir,
        }
    }

    /// Creates (or adopts, when it is this job's) the partial directory. Refuses a directory
    /// that belongs to someone else, so two jobs never write into one bundle.
    pub fn prepare(&self, job: Uuid) -> Result<Prepared, ExportError> {
        if self.dir.join("manifest.json").exists() {
            let marker = self.dir.join(OWNER_FILE);
            let owner = match std::fs::read_to_string(&marker) {
                Ok(owner) => owner,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(ExportError::storage(&marker, e)),
            };
            if owner.trim() == job.to_string() {
                return Ok(Prepared::AlreadyDone);
            }
            return Err(ExportError::Bundle(format!(
                "{} already holds a bundle of another export; choose another out_dir",
                self.dir.display()
            )));
        }
        if self.dir.exists() && !is_empty_dir(&self.dir)? {
            return Err(ExportError::Bundle(format!(
                "{} exists and is not empty; choose another out_dir",
                self.dir.display()
            )));
        }
        let marker = self.partial.join(OWNER_FILE);
        if self.partial.exists() {
            let owner =
                std::fs::read_to_string(&marker).map_err(|e| ExportError::storage(&marker, e))?;
            let owner = owner.trim();
            if owner == job.to_string() {
                return Ok(Prepared::Building);
            }
            match owner.strip_prefix(RELEASED) {
                // Released by this job when it failed or was cancelled: a retry resumes it.
                Some(released) if released == job.to_string() => {
                    write_atomic(&marker, job.to_string().as_bytes())?;
                    return Ok(Prepared::Building);
                }
                // Released by another job that ended: reclaimed, started afresh.
                Some(_) => std::fs::remove_dir_all(&self.partial)
                    .map_err(|e| ExportError::storage(&self.partial, e))?,
                None => {
                    return Err(ExportError::Bundle(format!(
                        "{} is being built by job {owner}; choose another out_dir",
                        self.partial.display(),
                    )))
                }
            }
        }
        std::fs::create_dir_all(&self.partial)
            .map_err(|e| ExportError::storage(&self.partial, e))?;
        write_atomic(&marker, job.to_string().as_bytes())?;
        Ok(Prepared::Building)
    }

    /// Releases this job's partial directory (the job failed or was cancelled): a retry of the
    /// same job resumes it, another job may reclaim it. Nothing to do when it is not this job's.
    pub fn release(&self, job: Uuid) -> Result<(), ExportError> {
        let marker = self.partial.join(OWNER_FILE);
        match std::fs::read_to_string(&marker) {
            Ok(owner) if owner.trim() == job.to_string() => {
                write_atomic(&marker, format!("{RELEASED}{job}").as_bytes())
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ExportError::storage(&marker, e)),
        }
    }

    /// Where page `page` of `collection` is kept until the bundle is assembled.
    pub fn page_file(&self, collection: &str, page: u32) -> PathBuf {
        self.partial
            .join("pages")
            .join(collection)
            .join(format!("{page:05}.json"))
    }

    /// The partial-directory path of a bundle-relative path.
    pub fn partial_path(&self, relative: &str) -> PathBuf {
        self.partial.join(relative)
    }

    /// Writes a page and returns its checksum (checked again when the bundle is assembled).
    pub fn write_page(
        &self,
        collection: &str,
        page: u32,
        body: &Value,
    ) -> Result<Written, ExportError> {
        let path = self.page_file(collection, page);
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ExportError::Bundle(format!("serialising a page: {e}")))?;
        write_atomic(&path, &bytes)?;
        Ok(Written {
            path: path
                .strip_prefix(&self.partial)
                .unwrap_or(&path)
                .display()
                .to_string(),
            bytes: bytes.len() as u64,
            sha256: hex(&Sha256::digest(&bytes)),
        })
    }

    /// Reads a page back, checking it is the one the checkpoint describes.
    pub fn read_page(&self, written: &Written) -> Result<Value, ExportError> {
        let path = self.partial.join(&written.path);
        let bytes = std::fs::read(&path).map_err(|e| {
            ExportError::Bundle(format!(
                "page file {} is gone ({e}); the bundle directory must survive between attempts \
                 (same machine or shared storage). Export again into a new out_dir",
                path.display()
            ))
        })?;
        if hex(&Sha256::digest(&bytes)) != written.sha256 {
            return Err(ExportError::Bundle(format!(
                "page file {} changed since it was written",
                path.display()
            )));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ExportError::Bundle(format!("page file {}: {e}", path.display())))
    }

    /// Writes `collections/<name>.json`: one JSON array of the pages' items in page order,
    /// each item once (by `id`: an item that moved between pages while they were read is kept
    /// where it was first seen). Single-object collections are written as they came.
    pub fn assemble(
        &self,
        name: &str,
        pages: &[Written],
        paginated: bool,
    ) -> Result<(Written, u64), ExportError> {
        let relative = format!("collections/{name}.json");
        let path = self.partial.join(&relative);
        let tmp = tmp_name(&path);
        ensure_parent(&path)?;
        let file = std::fs::File::create(&tmp).map_err(|e| ExportError::storage(&tmp, e))?;
        let mut out = HashWriter::new(BufWriter::new(file));
        let io = |e| ExportError::storage(&tmp, e);
        let mut count = 0u64;
        if paginated {
            let mut seen = HashSet::new();
            out.write_all(b"[").map_err(io)?;
            for page in pages {
                let items = self.read_page(page)?;
                for item in items.as_array().into_iter().flatten() {
                    if let Some(id) = item.get("id").filter(|id| !id.is_null()) {
                        if !seen.insert(id.to_string()) {
                            continue;
                        }
                    }
                    out.write_all(if count == 0 { b"\n" } else { b",\n" })
                        .map_err(io)?;
                    serde_json::to_writer(&mut out, item)
                        .map_err(|e| ExportError::Bundle(format!("writing {relative}: {e}")))?;
                    count += 1;
                }
            }
            out.write_all(b"\n]\n").map_err(io)?;
        } else {
            let body = match pages.first() {
                Some(page) => self.read_page(page)?,
                None => Value::Null,
            };
            count = match &body {
                Value::Array(a) => a.len() as u64,
                Value::Object(o) => o.len() as u64,
                _ => 0,
            };
            serde_json::to_writer_pretty(&mut out, &body)
                .map_err(|e| ExportError::Bundle(format!("writing {relative}: {e}")))?;
        }
        let (bytes, sha256) = out.finish().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(|e| ExportError::storage(&path, e))?;
        Ok((
            Written {
                path: relative,
                bytes,
                sha256,
            },
            count,
        ))
    }

    /// Writes the manifest (last file of the bundle), drops the page files, and renames the
    /// partial directory to its final name.
    pub fn complete(&self, manifest: &Value) -> Result<(), ExportError> {
        let path = self.partial.join("manifest.json");
        let bytes = serde_json::to_vec_pretty(manifest)
            .map_err(|e| ExportError::Bundle(format!("serialising the manifest: {e}")))?;
        write_atomic(&path, &bytes)?;
        let pages = self.partial.join("pages");
        if pages.exists() {
            std::fs::remove_dir_all(&pages).map_err(|e| ExportError::storage(&pages, e))?;
        }
        if self.dir.exists() {
            // An empty directory made by a caller: rename replaces only empty directories.
            std::fs::remove_dir(&self.dir).map_err(|e| ExportError::storage(&self.dir, e))?;
        }
        std::fs::rename(&self.partial, &self.dir)
            .map_err(|e| ExportError::storage(&self.dir, e))?;
        if let Some(parent) = self.dir.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// SHA-256 and size of a file on disk.
pub fn hash_file(path: &Path) -> Result<(u64, String), ExportError> {
    let mut file = std::fs::File::open(path).map_err(|e| ExportError::storage(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| ExportError::storage(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex(&hasher.finalize())))
}

/// The temporary name a file is written under before its rename.
pub fn tmp_name(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".part");
    path.with_file_name(name)
}

pub fn ensure_parent(path: &Path) -> Result<(), ExportError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ExportError::storage(parent, e))?;
    }
    Ok(())
}

/// Write to a temporary name, flush to disk, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    ensure_parent(path)?;
    let tmp = tmp_name(path);
    let io = |e| ExportError::storage(path, e);
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn sync_dir(dir: &Path) -> Result<(), ExportError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ExportError::storage(dir, e))
}

fn is_empty_dir(dir: &Path) -> Result<bool, ExportError> {
    let mut entries = std::fs::read_dir(dir).map_err(|e| ExportError::storage(dir, e))?;
    Ok(entries.next().is_none())
}

/// A writer that counts and hashes what goes through it.
pub struct HashWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Flushes and returns (bytes written, sha256 hex).
    pub fn finish(mut self) -> std::io::Result<(u64, String)> {
        self.inner.flush()?;
        Ok((self.bytes, hex(&self.hasher.finalize())))
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_job_s_partial_bundle_is_resumed_by_its_retry_and_reclaimed_by_another_job() {
        let root = std::env::temp_dir().join(format!("understudy-release-{}", Uuid::new_v4()));
        let bundle = Bundle::new(root.join("out"));
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        bundle.prepare(a).unwrap();
        bundle.write_page("posts", 1, &json!([{"id": 1}])).unwrap();
        assert!(bundle.prepare(b).is_err(), "held by a running job");
        bundle.release(b).unwrap(); // not b's: nothing happens
        assert!(bundle.prepare(b).is_err());
        bundle.release(a).unwrap();
        assert!(matches!(bundle.prepare(a).unwrap(), Prepared::Building));
        assert!(
            bundle.page_file("posts", 1).exists(),
            "the retry resumes the pages"
        );
        bundle.release(a).unwrap();
        assert!(matches!(bundle.prepare(b).unwrap(), Prepared::Building));
        assert!(!bundle.page_file("posts", 1).exists(), "reclaimed afresh");
        assert!(bundle.prepare(a).is_err(), "now b's");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn pages_assemble_into_one_array_without_duplicates_and_the_bundle_appears_at_once() {
        let root = std::env::temp_dir().join(format!("understudy-bundle-{}", Uuid::new_v4()));
        let bundle = Bundle::new(root.join("out"));
        let job = Uuid::new_v4();
        assert!(matches!(bundle.prepare(job).unwrap(), Prepared::Building));
        assert!(
            bundle.prepare(Uuid::new_v4()).is_err(),
            "another job's partial dir"
        );
        let p1 = bundle
            .write_page("posts", 1, &json!([{"id": 1}, {"id": 2}]))
            .unwrap();
        let p2 = bundle
            .write_page("posts", 2, &json!([{"id": 2}, {"id": 3}]))
            .unwrap();
        let (file, count) = bundle.assemble("posts", &[p1, p2], true).unwrap();
        assert_eq!(count, 3);
        let text = std::fs::read_to_string(bundle.partial.join(&file.path)).unwrap();
        let items: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(items, json!([{"id": 1}, {"id": 2}, {"id": 3}]));
        assert_eq!(
            hash_file(&bundle.partial.join(&file.path)).unwrap().1,
            file.sha256
        );
        assert!(!bundle.dir.exists());
        bundle.complete(&json!({"format": "test"})).unwrap();
        assert!(bundle.dir.join("manifest.json").exists());
        assert!(!bundle.partial.exists());
        assert!(!bundle.dir.join("pages").exists());
        assert!(matches!(
            bundle.prepare(job).unwrap(),
            Prepared::AlreadyDone
        ));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
