//! "Same database" and "same directory" decided by what the servers and the filesystem say, not
//! by how a URL or a path is spelled: `localhost` and `127.0.0.1`, a symbolic link and its
//! target, a bind mount and its source are one thing.
//!
//! - A database is its server's identity (found by `clone::guard::probe`: PostgreSQL's
//!   `system_identifier`, MariaDB/MySQL's `@@hostname:@@port:@@datadir`) plus its name; when a
//!   server could not be asked, the URL's engine, host (loopback names folded), port and name.
//! - A directory is its canonical path (symbolic links resolved, for the part that exists) and
//!   the device and inode of it and of each ancestor that exists.
//!
//! [`conflicts`] lists every way one site's staging could touch production (its own or another
//! site's) or another site's staging (one production may have several registrations, each with
//! its own staging: a staging and a QA copy); `site add`, inline site specs and the first step of every
//! clone job refuse a site with any.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::DbUrl;

/// One database as identified for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbKey {
    /// `<server identity>/<database>` when the server was asked.
    pub identity: Option<String>,
    /// `engine://host:port/database` with loopback host names folded to `127.0.0.1`.
    pub spelling: String,
}

impl DbKey {
    pub fn new(url: &DbUrl, identity: Option<String>) -> DbKey {
        DbKey {
            identity,
            spelling: spelling(url),
        }
    }

    /// From a stored display string (`engine://user@host:port/db`) and identity.
    pub fn stored(display: &str, identity: Option<String>) -> DbKey {
        let spelling = match DbUrl::parse("stored database", display) {
            Ok(url) => spelling(&url),
            Err(_) => display.to_string(),
        };
        DbKey { identity, spelling }
    }

    pub fn same(&self, other: &DbKey) -> bool {
        match (&self.identity, &other.identity) {
            (Some(a), Some(b)) => a == b,
            _ => self.spelling == other.spelling,
        }
    }
}

fn spelling(url: &DbUrl) -> String {
    let host = url.host.to_ascii_lowercase();
    let host = match host.as_str() {
        "localhost" | "::1" | "[::1]" | "localhost.localdomain" => "127.0.0.1".to_string(),
        h if h.starts_with("127.") => "127.0.0.1".to_string(),
        _ => host,
    };
    let engine = match url.engine {
        super::DbEngine::Postgres => "postgres",
        super::DbEngine::Mysql => "mysql",
    };
    format!("{engine}://{host}:{}/{}", url.port, url.database)
}

/// One directory as identified for comparison.
#[derive(Debug, Clone)]
pub struct DirKey {
    /// The canonical path: symbolic links resolved in the part that exists.
    pub canonical: PathBuf,
    /// Device and inode of the directory itself, when it exists.
    own: Option<(u64, u64)>,
    /// Device and inode of every existing directory from it up to `/`.
    chain: Vec<(u64, u64)>,
}

impl DirKey {
    pub fn new(path: &Path) -> DirKey {
        let canonical = canonical(path);
        let mut chain = Vec::new();
        let mut own = None;
        let mut at = Some(canonical.as_path());
        while let Some(dir) = at {
            if let Ok(meta) = std::fs::metadata(dir) {
                let id = (meta.dev(), meta.ino());
                if dir == canonical {
                    own = Some(id);
                }
                chain.push(id);
            }
            at = dir.parent();
        }
        DirKey {
            canonical,
            own,
            chain,
        }
    }

    /// Whether the two are one directory or one lies inside the other.
    pub fn overlaps(&self, other: &DirKey) -> bool {
        self.canonical.starts_with(&other.canonical)
            || other.canonical.starts_with(&self.canonical)
            || self.own.is_some_and(|id| other.chain.contains(&id))
            || other.own.is_some_and(|id| self.chain.contains(&id))
    }
}

/// `path` with symbolic links resolved in its longest existing prefix, the rest appended.
pub fn canonical(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(&existing) {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// A site as [`conflicts`] compares it.
#[derive(Debug, Clone)]
pub struct SiteKeys {
    pub name: String,
    pub table_prefix: String,
    pub db: DbKey,
    pub staging_db: DbKey,
    pub uploads: DirKey,
    pub staging_uploads: DirKey,
}

/// Every reason `this` site's staging could touch production or another site's staging.
pub fn conflicts(this: &SiteKeys, others: &[SiteKeys]) -> Vec<String> {
    let mut found = Vec::new();
    let staging_db = &this.staging_db;
    if staging_db.same(&this.db) {
        found.push(format!(
            "the staging database ({}) is this site's production database",
            shown(staging_db)
        ));
    }
    if this.staging_uploads.overlaps(&this.uploads) {
        found.push(format!(
            "the staging uploads directory {} is (or is inside, or contains) the production \
             uploads directory {}",
            this.staging_uploads.canonical.display(),
            this.uploads.canonical.display()
        ));
    }
    for other in others.iter().filter(|o| o.name != this.name) {
        let name = &other.name;
        if staging_db.same(&other.db) {
            found.push(format!(
                "the staging database ({}) is the production database of site {name}",
                shown(staging_db)
            ));
        }
        if staging_db.same(&other.staging_db) {
            found.push(format!(
                "the staging database ({}) is already the staging database of site {name}",
                shown(staging_db)
            ));
        }
        if this.db.same(&other.staging_db) {
            found.push(format!(
                "the production database ({}) is the staging database of site {name}",
                shown(&this.db)
            ));
        }
        for (what, dir) in [
            ("production", &other.uploads),
            ("staging", &other.staging_uploads),
        ] {
            if this.staging_uploads.overlaps(dir) {
                found.push(format!(
                    "the staging uploads directory {} overlaps the {what} uploads directory of site {name} ({})",
                    this.staging_uploads.canonical.display(),
                    dir.canonical.display()
                ));
            }
        }
        if this.uploads.overlaps(&other.staging_uploads) {
            found.push(format!(
                "the production uploads directory {} overlaps the staging uploads directory of site {name}",
                this.uploads.canonical.display()
            ));
        }
    }
    found
}

fn shown(key: &DbKey) -> String {
    match &key.identity {
        Some(identity) => format!("{} = {identity}", key.spelling),
        None => key.spelling.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> DbUrl {
        DbUrl::parse("db", text).unwrap()
    }

    fn site(name: &str, db: DbKey, staging_db: DbKey, up: &Path, staging_up: &Path) -> SiteKeys {
        SiteKeys {
            name: name.into(),
            table_prefix: "wp_".into(),
            db,
            staging_db,
            uploads: DirKey::new(up),
            staging_uploads: DirKey::new(staging_up),
        }
    }

    #[test]
    fn loopback_spellings_and_server_identities_are_one_database() {
        let a = DbKey::new(&url("mysql://u@127.0.0.1:3306/w_prod"), None);
        let b = DbKey::new(&url("mysql://other@localhost:3306/w_prod"), None);
        assert!(a.same(&b));
        let c = DbKey::new(
            &url("mysql://u@db.internal:3306/w_prod"),
            Some("m:x/w_prod".into()),
        );
        let d = DbKey::new(
            &url("mysql://u@10.1.2.3:3306/w_prod"),
            Some("m:x/w_prod".into()),
        );
        assert!(c.same(&d), "one server by identity, two spellings");
        let e = DbKey::new(
            &url("mysql://u@127.0.0.1:3306/w_prod"),
            Some("m:y/w_prod".into()),
        );
        assert!(!c.same(&e));
        assert!(DbKey::stored("mysql://u@localhost:3306/w_prod", None).same(&a));
    }

    #[test]
    fn symlinks_and_nesting_make_directories_overlap() {
        let root = std::env::temp_dir().join(format!("understudy-dirs-{}", uuid::Uuid::new_v4()));
        let prod = root.join("up/prod");
        std::fs::create_dir_all(&prod).unwrap();
        std::os::unix::fs::symlink(&prod, root.join("up/link")).unwrap();
        let link = DirKey::new(&root.join("up/link"));
        assert!(link.overlaps(&DirKey::new(&prod)), "a link to production");
        assert!(DirKey::new(&root.join("up/link/sub/new")).overlaps(&DirKey::new(&prod)));
        assert!(!DirKey::new(&root.join("up/prod-staging")).overlaps(&DirKey::new(&prod)));
        assert!(DirKey::new(&root.join("up")).overlaps(&DirKey::new(&prod)));

        let db = |n: &str| DbKey::new(&url(&format!("mysql://u@127.0.0.1/{n}")), None);
        let victim = site(
            "victim",
            db("victim_prod"),
            db("victim_staging"),
            &prod,
            &root.join("s1"),
        );
        let hostile = site(
            "w",
            db("w_prod"),
            db("victim_prod"),
            &root.join("w"),
            &root.join("up/link"),
        );
        let found = conflicts(&hostile, std::slice::from_ref(&victim));
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("production database of site victim"));
        assert!(found[1].contains("production uploads directory of site victim"));
        let own = site("x", db("x"), db("x"), &prod, &root.join("up/link"));
        assert_eq!(conflicts(&own, &[]).len(), 2);
        let fine = site(
            "ok",
            db("ok"),
            db("ok_staging"),
            &root.join("ok"),
            &root.join("ok-s"),
        );
        assert!(conflicts(&fine, &[victim]).is_empty());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
