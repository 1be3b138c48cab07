//! Uploads: an incremental copy of the production uploads directory into a new staging
//! directory, swapped in at the end so a failed refresh leaves the previous staging intact.
//!
//! Files unchanged since the current staging copy are hard-linked from it instead of copied.
//! "Unchanged" is the same size and modification time and, for files below
//! [`CONTENT_CHECK_BELOW`] (or every file with the spec's `checksum`, `--checksum`), the same
//! bytes: a file rewritten in place with its size and mtime kept (`touch -r`, some
//! optimisation plugins, restored backups) is copied again, as rsync's `--checksum` would.
//! Files are hard-linked unless the staging file *is* the production file (the
//! same inode): staging and production never share an inode. The rest are copied (to a
//! temporary name, then renamed). Symbolic links are never followed (the walk reads link
//! metadata) and, like special files, skipped and counted; a file or directory that cannot be
//! read is skipped and reported with its path instead of failing the copy. The incoming
//! directory carries this job's ownership mark from its creation, the swapped-in one the site's.

use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use uuid::Uuid;

use super::ownership::{self, Mark, Owner, Presence, Role};
use crate::StepError;

/// How many skipped paths a report names (the counts cover them all).
const NAMED: usize = 20;

/// Files smaller than this are compared byte for byte before they are reused (most thumbnails
/// and documents; the full-size originals above it are compared by size and mtime unless the
/// spec asks for `checksum`).
pub const CONTENT_CHECK_BELOW: u64 = 1 << 20;

/// What a sync did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SyncReport {
    pub files: u64,
    pub copied: u64,
    pub unchanged: u64,
    /// Symbolic links and special files, not copied.
    pub skipped: u64,
    pub bytes_total: u64,
    pub bytes_copied: u64,
    /// Files and directories that could not be read (not copied), the first few by path.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unreadable: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_paths: Vec<String>,
    /// Files whose content was compared before reuse.
    #[serde(default)]
    pub content_checked: u64,
    /// Of those, files with the same size and mtime but other bytes: copied again.
    #[serde(default)]
    pub content_changed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SyncReport {
    fn unreadable(&mut self, path: &Path, error: &io::Error) {
        self.unreadable += 1;
        if self.unreadable_paths.len() < NAMED {
            self.unreadable_paths
                .push(format!("{}: {error}", path.display()));
        }
    }

    fn skipped(&mut self, path: &Path) {
        self.skipped += 1;
        if self.skipped_paths.len() < NAMED {
            self.skipped_paths.push(path.display().to_string());
        }
    }
}

fn same(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
}

/// Whether two files hold the same bytes (read in step; an unreadable one is "different", so
/// it is copied and any read error reported by the copy).
fn same_content(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (Ok(mut x), Ok(mut y)) = (fs::File::open(a), fs::File::open(b)) else {
        return false;
    };
    let (mut bx, mut by) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    loop {
        let n = match x.read(&mut bx) {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 {
            return y.read(&mut by[..1]).is_ok_and(|m| m == 0);
        }
        if y.read_exact(&mut by[..n]).is_err() || bx[..n] != by[..n] {
            return false;
        }
    }
}

/// Whether `dir` is a directory with nothing in it.
pub fn is_empty_dir(dir: &Path) -> bool {
    fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
        && fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}

/// An error that names the path it happened on.
fn at(path: &Path, what: &str, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{what} {}: {error}", path.display()))
}

/// Copies `source` into `incoming` (created fresh and marked for `site` and `job`), reusing
/// files from `current` when unchanged. `progress(bytes_done, bytes_total)` is called as it
/// goes; `stop()` aborts between files.
pub fn sync(
    source: &Path,
    current: Option<&Path>,
    incoming: &Path,
    (site, job): (&str, Uuid),
    checksum: bool,
    mut progress: impl FnMut(u64, u64),
    stop: impl Fn() -> bool,
) -> io::Result<SyncReport> {
    let mut files = Vec::new();
    let mut report = SyncReport::default();
    if source.exists() {
        walk(source, Path::new(""), &mut files, &mut report)?;
    }
    report.bytes_total = files.iter().map(|(_, m)| m.len()).sum();
    ownership::remove_directory(incoming, Owner::Job { site, job })
        .map_err(|e| io::Error::other(e.to_string()))?;
    fs::create_dir_all(incoming).map_err(|e| at(incoming, "creating", e))?;
    ownership::mark_directory(incoming, &Mark::new(site, job, Role::Incoming))
        .map_err(|e| at(incoming, "marking", e))?;
    let mut done = 0;
    for (relative, meta) in files {
        if stop() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "stopped"));
        }
        let from = source.join(&relative);
        let to = incoming.join(&relative);
        if let Some(dir) = to.parent() {
            fs::create_dir_all(dir).map_err(|e| at(dir, "creating", e))?;
        }
        let reusable = current.map(|c| c.join(&relative)).filter(|c| {
            fs::symlink_metadata(c).is_ok_and(|m| {
                m.is_file() && same(&m, &meta) && (m.dev(), m.ino()) != (meta.dev(), meta.ino())
            })
        });
        let reusable = reusable.filter(|existing| {
            if !checksum && meta.len() >= CONTENT_CHECK_BELOW {
                return true;
            }
            report.content_checked += 1;
            let same = same_content(existing, &from);
            if !same {
                report.content_changed += 1;
            }
            same
        });
        match reusable {
            Some(existing) if fs::hard_link(&existing, &to).is_ok() => report.unchanged += 1,
            _ => match copy_file(&from, &to, meta.modified().ok())? {
                Ok(()) => {
                    report.copied += 1;
                    report.bytes_copied += meta.len();
                }
                Err(e) => {
                    report.unreadable(&from, &e);
                    done += meta.len();
                    progress(done, report.bytes_total);
                    continue;
                }
            },
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
    let dir = root.join(relative);
    let listing = match fs::read_dir(&dir) {
        Ok(listing) => listing,
        Err(e) if relative.as_os_str().is_empty() => return Err(at(&dir, "reading", e)),
        Err(e) => {
            report.unreadable(&dir, &e);
            return Ok(());
        }
    };
    let mut entries: Vec<_> = listing
        .collect::<Result<_, _>>()
        .map_err(|e| at(&dir, "reading", e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        // DirEntry::metadata does not follow symbolic links.
        let meta = entry
            .metadata()
            .map_err(|e| at(&entry.path(), "reading", e))?;
        let path = relative.join(entry.file_name());
        if relative.as_os_str().is_empty() && entry.file_name() == ownership::DIR_FILE {
            continue;
        }
        if meta.is_dir() {
            walk(root, &path, out, report)?;
        } else if meta.is_file() {
            out.push((path, meta));
        } else {
            report.skipped(&path);
        }
    }
    Ok(())
}

/// Copies one file. The outer error is ours (writing staging: the copy fails); the inner one
/// is the source's (cannot be opened or read: the file is skipped and reported).
fn copy_file(from: &Path, to: &Path, modified: Option<SystemTime>) -> io::Result<io::Result<()>> {
    let mut input = match fs::File::open(from) {
        Ok(file) => file,
        Err(e) => return Ok(Err(e)),
    };
    let tmp = to.with_extension("understudy-tmp");
    let mut output = fs::File::create(&tmp).map_err(|e| at(&tmp, "creating", e))?;
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = match io::Read::read(&mut input, &mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                drop(output);
                let _ = fs::remove_file(&tmp);
                return Ok(Err(e));
            }
        };
        io::Write::write_all(&mut output, &buffer[..n]).map_err(|e| at(&tmp, "writing", e))?;
    }
    if let Some(modified) = modified {
        output
            .set_modified(modified)
            .map_err(|e| at(&tmp, "setting the time of", e))?;
    }
    drop(output);
    fs::rename(&tmp, to).map_err(|e| at(to, "renaming into", e))?;
    Ok(Ok(()))
}

/// Puts `incoming` (this job's) in place of `live` (the site's, or absent, or an empty
/// directory); the previous copy is removed. Safe to repeat: when `incoming` is already gone
/// the swap happened. The error says which directory was not ours, or what failed where.
pub fn swap(incoming: &Path, live: &Path, site: &str, job: Uuid) -> Result<(), StepError> {
    let io = |e: io::Error| {
        StepError::Permanent(format!("swapping uploads into {}: {e}", live.display()))
    };
    let ours = Owner::Site(site);
    let found = ownership::directory(incoming).map_err(io)?;
    if !ownership::check(&found, Owner::Job { site, job }, &shown(incoming))? {
        return Ok(());
    }
    let old = live.with_file_name(format!(
        "{}.understudy-old",
        live.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("uploads")
    ));
    ownership::remove_directory(&old, ours)?;
    let current = ownership::directory(live).map_err(io)?;
    let empty = current == Presence::Unmarked && is_empty_dir(live);
    if !empty {
        ownership::check(&current, ours, &shown(live))?;
    }
    if current != Presence::Absent {
        fs::rename(live, &old).map_err(io)?;
    }
    fs::rename(incoming, live).map_err(io)?;
    ownership::mark_directory(live, &Mark::new(site, job, Role::Staging)).map_err(io)?;
    if empty {
        fs::remove_dir(&old).map_err(io)?;
    } else {
        ownership::remove_directory(&old, ours)?;
    }
    Ok(())
}

fn shown(dir: &Path) -> String {
    format!("directory {}", dir.display())
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
        let job = Uuid::now_v7();
        let first = sync(
            &source,
            None,
            &incoming,
            ("s", job),
            false,
            |_, _| {},
            || false,
        )
        .unwrap();
        assert_eq!((first.files, first.copied, first.bytes_total), (2, 2, 6));
        swap(&incoming, &live, "s", job).unwrap();
        assert_eq!(fs::read(live.join("2026/11/a.png")).unwrap(), b"aaaa");

        fs::write(source.join("b.txt"), b"bbbbbb").unwrap();
        let second = sync(
            &source,
            Some(&live),
            &incoming,
            ("s", job),
            false,
            |_, _| {},
            || false,
        )
        .unwrap();
        assert_eq!(
            (second.copied, second.unchanged, second.bytes_copied),
            (1, 1, 6)
        );
        swap(&incoming, &live, "s", job).unwrap();
        swap(&incoming, &live, "s", job).unwrap(); // repeating a finished swap is a no-op
        assert_eq!(fs::read(live.join("b.txt")).unwrap(), b"bbbbbb");
        assert!(!incoming.exists());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_file_changed_with_its_size_and_mtime_kept_is_copied_again() {
        let root = std::env::temp_dir().join(format!("understudy-same-stat-{}", Uuid::new_v4()));
        let (source, live, incoming) = (root.join("p"), root.join("s"), root.join("s.in"));
        fs::create_dir_all(&source).unwrap();
        let big = vec![7u8; CONTENT_CHECK_BELOW as usize + 10];
        fs::write(source.join("small.css"), b"body{color:red}").unwrap();
        fs::write(source.join("big.bin"), &big).unwrap();
        let job = Uuid::now_v7();
        sync(
            &source,
            None,
            &incoming,
            ("s", job),
            false,
            |_, _| {},
            || false,
        )
        .unwrap();
        swap(&incoming, &live, "s", job).unwrap();
        // Same length, same mtime, other bytes (as `touch -r` after an in-place edit leaves it).
        let rewrite = |name: &str, bytes: &[u8]| {
            let path = source.join(name);
            let mtime = fs::metadata(&path).unwrap().modified().unwrap();
            fs::write(&path, bytes).unwrap();
            fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(mtime)
                .unwrap();
        };
        rewrite("small.css", b"body{color:blu}");
        let mut other = big.clone();
        other[5] = 8;
        rewrite("big.bin", &other);
        let quick = sync(
            &source,
            Some(&live),
            &incoming,
            ("s", job),
            false,
            |_, _| {},
            || false,
        )
        .unwrap();
        assert_eq!(
            (quick.content_checked, quick.content_changed, quick.copied),
            (1, 1, 1)
        );
        assert_eq!(
            fs::read(incoming.join("small.css")).unwrap(),
            b"body{color:blu}"
        );
        assert_eq!(
            fs::read(incoming.join("big.bin")).unwrap(),
            big,
            "big files go by size+mtime"
        );
        let full = sync(
            &source,
            Some(&live),
            &incoming,
            ("s", job),
            true,
            |_, _| {},
            || false,
        )
        .unwrap();
        assert_eq!(
            (full.content_checked, full.content_changed, full.copied),
            (2, 2, 2)
        );
        assert_eq!(fs::read(incoming.join("big.bin")).unwrap(), other);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn staging_never_shares_an_inode_with_production_nor_follows_links() {
        let root = std::env::temp_dir().join(format!("understudy-inodes-{}", Uuid::new_v4()));
        let source = root.join("prod");
        fs::create_dir_all(source.join("sub")).unwrap();
        fs::write(source.join("a.txt"), b"production").unwrap();
        fs::create_dir_all(root.join("outside")).unwrap();
        fs::write(root.join("outside/secret"), b"x").unwrap();
        std::os::unix::fs::symlink(root.join("outside"), source.join("sub/out")).unwrap();
        // A "current staging" whose file is production's own inode (made by an older tool).
        let live = root.join("staging");
        fs::create_dir_all(&live).unwrap();
        fs::hard_link(source.join("a.txt"), live.join("a.txt")).unwrap();
        let incoming = root.join("staging.incoming");
        let job = Uuid::now_v7();
        let report = sync(
            &source,
            Some(&live),
            &incoming,
            ("s", job),
            false,
            |_, _| {},
            || false,
        )
        .unwrap();
        assert_eq!((report.copied, report.unchanged, report.skipped), (1, 0, 1));
        assert_eq!(report.skipped_paths, ["sub/out"]);
        let copied = fs::metadata(incoming.join("a.txt")).unwrap();
        let prod = fs::metadata(source.join("a.txt")).unwrap();
        assert_ne!(copied.ino(), prod.ino(), "hard-linked to production");
        assert!(!incoming.join("sub/out").exists());
        // The unmarked "staging" is not ours: the swap refuses to replace it.
        let err = swap(&incoming, &live, "s", job).unwrap_err();
        assert!(err.to_string().contains("did not make it"), "{err}");
        assert!(live.join("a.txt").exists() && incoming.exists());
        fs::remove_dir_all(&root).unwrap();
    }

    /// Run as root, it re-runs itself as `nobody` (root reads a mode-000 file anyway).
    #[test]
    fn an_unreadable_file_is_skipped_and_named() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("understudy-unreadable-{}", Uuid::new_v4()));
        let source = root.join("prod");
        fs::create_dir_all(source.join("locked")).unwrap();
        fs::write(source.join("ok.txt"), b"ok").unwrap();
        fs::write(source.join("secret.txt"), b"no").unwrap();
        fs::set_permissions(source.join("secret.txt"), fs::Permissions::from_mode(0o000)).unwrap();
        fs::set_permissions(source.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
        let as_root = unsafe { libc::geteuid() } == 0;
        let status = if as_root {
            std::process::Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "clone::uploads::tests::unreadable_inner",
                    "--ignored",
                ])
                .env("UNDERSTUDY_UNREADABLE_ROOT", &root)
                .status()
        } else {
            std::env::set_var("UNDERSTUDY_UNREADABLE_ROOT", &root);
            unreadable_inner();
            Ok(std::process::ExitStatus::default())
        };
        let result = fs::read_to_string(root.join("result"));
        fs::set_permissions(source.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::remove_dir_all(&root).unwrap();
        assert!(status.expect("setpriv (util-linux)").success());
        assert_eq!(result.unwrap(), "ok");
    }

    #[test]
    #[ignore = "run by an_unreadable_file_is_skipped_and_named"]
    fn unreadable_inner() {
        let root = PathBuf::from(std::env::var_os("UNDERSTUDY_UNREADABLE_ROOT").unwrap());
        let report = sync(
            &root.join("prod"),
            None,
            &root.join("incoming"),
            ("s", Uuid::now_v7()),
            false,
            |_, _| {},
            || false,
        )
        .unwrap();
        assert_eq!((report.files, report.copied, report.unreadable), (1, 1, 2));
        assert!(report
            .unreadable_paths
            .iter()
            .any(|p| p.contains("secret.txt")));
        assert!(report.unreadable_paths.iter().any(|p| p.contains("locked")));
        assert!(root.join("incoming/ok.txt").exists());
        fs::write(root.join("result"), "ok").unwrap();
    }
}
