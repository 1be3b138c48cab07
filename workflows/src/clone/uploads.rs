//! Uploads: an incremental copy of the production uploads directory into a new staging
//! directory, swapped in at the end so a failed refresh leaves the previous staging intact.
//!
//! Files unchanged since the current staging copy (same size and modification time) are
//! hard-linked from it instead of copied; the rest are copied (to a temporary name, then
//! renamed). Symbolic links and special files are skipped and counted.

use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What a sync did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SyncReport {
    pub files: u64,
    pub copied: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub bytes_total: u64,
    pub bytes_copied: u64,
}

fn same(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
}

/// Copies `source` into `incoming` (created fresh), reusing files from `current` when unchanged.
/// `progress(bytes_done, bytes_total)` is called as it goes; `stop()` aborts between files.
pub fn sync(
    source: &Path,
    current: Option<&Path>,
    incoming: &Path,
    mut progress: impl FnMut(u64, u64),
    stop: impl Fn() -> bool,
) -> io::Result<SyncReport> {
    let mut files = Vec::new();
    let mut report = SyncReport::default();
    if source.exists() {
        walk(source, Path::new(""), &mut files, &mut report)?;
    }
    report.bytes_total = files.iter().map(|(_, m)| m.len()).sum();
    if incoming.exists() {
        fs::remove_dir_all(incoming)?;
    }
    fs::create_dir_all(incoming)?;
    let mut done = 0;
    for (relative, meta) in files {
        if stop() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "stopped"));
        }
        let from = source.join(&relative);
        let to = incoming.join(&relative);
        if let Some(dir) = to.parent() {
            fs::create_dir_all(dir)?;
        }
        let reusable = current
            .map(|c| c.join(&relative))
            .filter(|c| fs::symlink_metadata(c).is_ok_and(|m| m.is_file() && same(&m, &meta)));
        match reusable {
            Some(existing) if fs::hard_link(&existing, &to).is_ok() => report.unchanged += 1,
            _ => {
                copy_file(&from, &to, meta.modified().ok())?;
                report.copied += 1;
                report.bytes_copied += meta.len();
            }
        }
        report.files += 1;
        done += meta.len();
        progress(done, report.bytes_total);
    }
    Ok(report)
}

fn walk(
    root: &Path,
    relative: &Path,
    out: &mut Vec<(PathBuf, fs::Metadata)>,
    report: &mut SyncReport,
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(root.join(relative))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let meta = entry.metadata()?;
        let path = relative.join(entry.file_name());
        if meta.is_dir() {
            walk(root, &path, out, report)?;
        } else if meta.is_file() {
            out.push((path, meta));
        } else {
            report.skipped += 1;
        }
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path, modified: Option<SystemTime>) -> io::Result<()> {
    let tmp = to.with_extension("understudy-tmp");
    fs::copy(from, &tmp)?;
    if let Some(modified) = modified {
        fs::File::options()
            .write(true)
            .open(&tmp)?
            .set_modified(modified)?;
    }
    fs::rename(&tmp, to)
}

/// Puts `incoming` in place of `live`; the previous copy is removed. Safe to repeat: when
/// `incoming` is already gone the swap happened.
pub fn swap(incoming: &Path, live: &Path) -> io::Result<()> {
    if !incoming.exists() {
        return Ok(());
    }
    let old = live.with_file_name(format!(
        "{}.understudy-old",
        live.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("uploads")
    ));
    if old.exists() {
        fs::remove_dir_all(&old)?;
    }
    if live.exists() {
        fs::rename(live, &old)?;
    }
    fs::rename(incoming, live)?;
    if old.exists() {
        fs::remove_dir_all(&old)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_files_are_reused_and_changed_ones_copied() {
        let root = std::env::temp_dir().join(format!(
            "understudy-uploads-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let source = root.join("uploads");
        let live = root.join("uploads-staging");
        let incoming = root.join("uploads-staging.incoming");
        fs::create_dir_all(source.join("2026/11")).unwrap();
        fs::write(source.join("2026/11/a.png"), b"aaaa").unwrap();
        fs::write(source.join("b.txt"), b"bb").unwrap();
        let first = sync(&source, None, &incoming, |_, _| {}, || false).unwrap();
        assert_eq!((first.files, first.copied, first.bytes_total), (2, 2, 6));
        swap(&incoming, &live).unwrap();
        assert_eq!(fs::read(live.join("2026/11/a.png")).unwrap(), b"aaaa");

        fs::write(source.join("b.txt"), b"bbbbbb").unwrap();
        let second = sync(&source, Some(&live), &incoming, |_, _| {}, || false).unwrap();
        assert_eq!(
            (second.copied, second.unchanged, second.bytes_copied),
            (1, 1, 6)
        );
        swap(&incoming, &live).unwrap();
        swap(&incoming, &live).unwrap(); // repeating a finished swap is a no-op
        assert_eq!(fs::read(live.join("b.txt")).unwrap(), b"bbbbbb");
        assert!(!incoming.exists());
        fs::remove_dir_all(&root).unwrap();
    }
}
