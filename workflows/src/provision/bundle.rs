//! Reading an export bundle (the export workflow's format, version 1: `manifest.json`,
//! `collections/<name>.json`, `uploads/…`; see the export branch's `workflows/src/export/BUNDLE.md`)
//! and preparing it for a sandbox: URLs of the source site rewritten to the sandbox URL (with
//! the clone's serialized-safe [`crate::rewrite::Rewriter`], `guid` left alone), and the media
//! files with safe paths. Only what the importer uses is read; unknown fields are ignored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::rewrite::{Options, Rewriter, Rule};
use crate::StepError;

pub const FORMAT: &str = "understudy-export";
pub const FORMAT_VERSION: u32 = 1;

/// Collections the importer does not read (metadata of code, spam and trash); every other
/// collection of the bundle goes to `import.php`, which imports what it knows (see its header).
pub const NOT_IMPORTED: &[&str] = &[
    "plugins",
    "themes",
    "sidebars",
    "widgets",
    "global-styles",
    "comments-spam",
    "comments-trash",
];

/// Post types WordPress itself registers: the others in the bundle's `types` are custom.
pub const BUILTIN_TYPES: &[&str] = &[
    "post",
    "page",
    "attachment",
    "revision",
    "nav_menu_item",
    "custom_css",
    "customize_changeset",
    "oembed_cache",
    "user_request",
    "wp_block",
    "wp_template",
    "wp_template_part",
    "wp_global_styles",
    "wp_navigation",
];

/// Taxonomies WordPress itself registers.
pub const BUILTIN_TAXONOMIES: &[&str] = &[
    "category",
    "post_tag",
    "nav_menu",
    "link_category",
    "post_format",
    "wp_theme",
    "wp_template_part_area",
];

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub site: Site,
    #[serde(default)]
    pub collections: BTreeMap<String, CollectionEntry>,
    #[serde(default)]
    pub media: Option<MediaSection>,
    /// The source's permalink settings (absent in bundles of earlier exports).
    #[serde(default)]
    pub permalinks: Option<Permalinks>,
}

/// `permalinks` of the manifest: what import.php sets `permalink_structure`, `category_base`
/// and `tag_base` to.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Permalinks {
    pub structure: String,
    #[serde(default)]
    pub category_base: Option<String>,
    #[serde(default)]
    pub tag_base: Option<String>,
}

impl Permalinks {
    /// Refuses values that are not a URL path WordPress could have made (a hostile bundle
    /// would otherwise write them into the sandbox's options).
    fn check(&self) -> Result<(), String> {
        let fields = [
            ("structure", Some(&self.structure)),
            ("category_base", self.category_base.as_ref()),
            ("tag_base", self.tag_base.as_ref()),
        ];
        for (name, value) in fields {
            let Some(value) = value else { continue };
            let path_like = value.is_empty()
                || (value.starts_with('/')
                    && value.len() <= 255
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "/%-_.~+!$&()*,;=:@".contains(c)));
            if !path_like {
                return Err(format!(
                    "permalinks.{name} {value:?} is not a permalink path"
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Site {
    pub url: String,
    #[serde(default)]
    pub home: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CollectionEntry {
    pub file: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MediaSection {
    #[serde(default)]
    pub files: Vec<MediaFile>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MediaFile {
    pub status: String,
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub bytes: Option<u64>,
}

/// A bundle directory with its manifest read and checked.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

fn permanent(dir: &Path, what: impl std::fmt::Display) -> StepError {
    StepError::Permanent(format!("bundle {}: {what}", dir.display()))
}

impl Bundle {
    /// Opens `dir`: a complete bundle (its `manifest.json` exists) of a format this version reads.
    pub fn open(dir: &Path) -> Result<Bundle, StepError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read(&path).map_err(|e| {
            permanent(
                dir,
                format!("cannot read manifest.json ({e}); is it a complete export bundle?"),
            )
        })?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| permanent(dir, format!("manifest.json: {e}")))?;
        if manifest.format != FORMAT {
            return Err(permanent(
                dir,
                format!("format {:?}, expected {FORMAT:?}", manifest.format),
            ));
        }
        if manifest.format_version != FORMAT_VERSION {
            return Err(permanent(
                dir,
                format!(
                    "format version {} (this Understudy reads {FORMAT_VERSION})",
                    manifest.format_version
                ),
            ));
        }
        let site_url = url::Url::parse(&manifest.site.url).ok();
        if !site_url.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
            return Err(permanent(
                dir,
                format!(
                    "site.url {:?} is not an http(s) URL of the exported site",
                    manifest.site.url
                ),
            ));
        }
        if let Some(permalinks) = &manifest.permalinks {
            permalinks.check().map_err(|why| permanent(dir, why))?;
        }
        let bundle = Bundle {
            dir: dir.to_path_buf(),
            manifest,
        };
        for entry in bundle.manifest.collections.values() {
            safe_relative(&entry.file).map_err(|why| permanent(dir, why))?;
            bundle.inside(&entry.file)?;
        }
        // Every media file the importer will copy is checked now, before a container exists.
        bundle.uploads()?;
        Ok(bundle)
    }

    /// `relative` resolved inside the bundle: a file (or directory on its way) that is a
    /// symbolic link leading out of the bundle is refused, so a bundle cannot make the worker
    /// read and copy its own files (`/etc/...`, keys) into a sandbox.
    fn inside(&self, relative: &str) -> Result<PathBuf, StepError> {
        let path = self.dir.join(relative);
        let (Ok(root), Ok(real)) = (self.dir.canonicalize(), path.canonicalize()) else {
            return Ok(path); // missing: reported by whoever reads it
        };
        if real.starts_with(&root) {
            Ok(real)
        } else {
            Err(permanent(
                &self.dir,
                format!("{relative} leads outside the bundle (a symbolic link); refused"),
            ))
        }
    }

    /// One collection's JSON (`Value::Null` when the bundle has none of that name).
    pub fn collection(&self, name: &str) -> Result<Value, StepError> {
        let Some(entry) = self.manifest.collections.get(name) else {
            return Ok(Value::Null);
        };
        let path = self.inside(&entry.file)?;
        let bytes = std::fs::read(&path)
            .map_err(|e| permanent(&self.dir, format!("{}: {e}", entry.file)))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| permanent(&self.dir, format!("{}: {e}", entry.file)))
    }

    /// Downloaded media under `uploads/`: (attachment id, path below uploads/, file on disk).
    /// Files elsewhere (`external/`) and unsafe paths are counted in `skipped`.
    pub fn uploads(&self) -> Result<(Vec<Upload>, u64), StepError> {
        let mut files = Vec::new();
        let mut skipped = 0;
        let records = self.manifest.media.as_ref().map(|m| m.files.as_slice());
        for record in records.unwrap_or_default() {
            let Some(path) = record.path.as_deref() else {
                continue;
            };
            if record.status != "downloaded" {
                continue;
            }
            let Some(below) = path.strip_prefix("uploads/") else {
                skipped += 1;
                continue;
            };
            if safe_relative(below).is_err() {
                skipped += 1;
                continue;
            }
            let on_disk = self.inside(path)?;
            if !on_disk.is_file() {
                return Err(permanent(
                    &self.dir,
                    format!("media file {path} is missing"),
                ));
            }
            files.push(Upload {
                id: record.id,
                file: below.to_string(),
                on_disk,
                bytes: record.bytes.unwrap_or(0),
            });
        }
        Ok((files, skipped))
    }
}

/// One media file to copy into the sandbox's uploads.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: Option<u64>,
    /// Path below `wp-content/uploads/`, e.g. `2024/05/a.png`.
    pub file: String,
    pub on_disk: PathBuf,
    pub bytes: u64,
}

/// Refuses absolute paths, `.`/`..`, empty segments, backslashes and control characters.
pub fn safe_relative(path: &str) -> Result<(), String> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.chars().any(char::is_control)
        || path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        Err(format!("unsafe path {path:?} in the bundle"))
    } else {
        Ok(())
    }
}

/// Rewrites the source site's URLs to `target` in every string of a collection (not in `guid`).
pub struct UrlRewrite {
    rewriter: Rewriter,
    pub replacements: usize,
    pub malformed: usize,
}

impl UrlRewrite {
    /// Rules from the site's URL and home (when they differ) to `target`.
    pub fn new(site: &Site, target: &str) -> Result<UrlRewrite, StepError> {
        let mut rules = Vec::new();
        for from in std::iter::once(&site.url).chain(site.home.iter()) {
            let from = from.trim_end_matches('/');
            let rule = Rule::parse(from, target).map_err(|e| {
                StepError::Permanent(format!("cannot rewrite {from} to {target}: {e}"))
            })?;
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
        Ok(UrlRewrite {
            rewriter: Rewriter::new(&rules, Options::default()),
            replacements: 0,
            malformed: 0,
        })
    }

    pub fn value(&mut self, value: &mut Value) {
        match value {
            Value::String(s) => {
                let outcome = self.rewriter.rewrite_value(s.as_bytes());
                self.replacements += outcome.replacements;
                self.malformed += usize::from(outcome.malformed);
                if outcome.changed() {
                    *s = String::from_utf8_lossy(&outcome.value).into_owned();
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => self.object(map),
            _ => {}
        }
    }

    fn object(&mut self, map: &mut Map<String, Value>) {
        for (key, v) in map.iter_mut() {
            if key != "guid" {
                self.value(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rewrites_site_urls_but_not_guids() {
        let site = Site {
            url: "http://127.0.0.1:8081/".into(),
            home: None,
            name: None,
        };
        let mut rw = UrlRewrite::new(&site, "http://127.0.0.1:20005").unwrap();
        let mut v = json!([{"guid": {"raw": "http://127.0.0.1:8081/?p=1"},
            "content": {"raw": "<img src=\"http://127.0.0.1:8081/wp-content/uploads/a.png\"> http://127.0.0.1:80812/x"}}]);
        rw.value(&mut v);
        assert_eq!(v[0]["guid"]["raw"], "http://127.0.0.1:8081/?p=1");
        assert_eq!(
            v[0]["content"]["raw"],
            "<img src=\"http://127.0.0.1:20005/wp-content/uploads/a.png\"> http://127.0.0.1:80812/x"
        );
        assert_eq!(rw.replacements, 1);
    }

    #[test]
    fn links_out_of_the_bundle_and_bad_site_urls_are_refused_at_open() {
        let root = std::env::temp_dir().join(format!("understudy-bundle-{}", uuid::Uuid::new_v4()));
        let dir = root.join("b");
        std::fs::create_dir_all(dir.join("collections")).unwrap();
        std::fs::create_dir_all(dir.join("uploads/2024")).unwrap();
        std::fs::write(root.join("secret.txt"), "key").unwrap();
        std::fs::write(dir.join("collections/posts.json"), "[]").unwrap();
        std::os::unix::fs::symlink(root.join("secret.txt"), dir.join("uploads/2024/a.png"))
            .unwrap();
        std::os::unix::fs::symlink(root.join("secret.txt"), dir.join("collections/pages.json"))
            .unwrap();
        let write = |site: &str, collections: Value, files: Value| {
            let manifest = json!({"format": FORMAT, "format_version": 1, "site": {"url": site},
                "collections": collections, "media": {"files": files}});
            std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
        };
        let posts = json!({"posts": {"file": "collections/posts.json"}});
        write("http://s.test/", posts.clone(), json!([]));
        assert!(Bundle::open(&dir).is_ok());
        write("javascript:alert(1)", posts.clone(), json!([]));
        let err = Bundle::open(&dir).unwrap_err().to_string();
        assert!(err.contains("not an http(s) URL"), "{err}");
        write(
            "http://s.test/",
            json!({"pages": {"file": "collections/pages.json"}}),
            json!([]),
        );
        let err = Bundle::open(&dir).unwrap_err().to_string();
        assert!(err.contains("leads outside the bundle"), "{err}");
        let media = json!([{"status": "downloaded", "path": "uploads/2024/a.png"}]);
        write("http://s.test/", posts.clone(), media);
        let err = Bundle::open(&dir).unwrap_err().to_string();
        assert!(err.contains("leads outside the bundle"), "{err}");
        let missing = json!([{"status": "downloaded", "path": "uploads/2024/gone.png"}]);
        write("http://s.test/", posts.clone(), missing);
        let err = Bundle::open(&dir).unwrap_err().to_string();
        assert!(err.contains("is missing"), "{err}");
        let permalinks = |links: Value| {
            let manifest = json!({"format": FORMAT, "format_version": 1,
                "site": {"url": "http://s.test/"}, "collections": posts, "permalinks": links});
            std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
            Bundle::open(&dir).map(|b| b.manifest.permalinks.unwrap().structure)
        };
        let fine = permalinks(json!({"structure": "/%year%/%postname%/", "tag_base": "/topic"}));
        assert_eq!(fine.unwrap(), "/%year%/%postname%/");
        let err = permalinks(json!({"structure": "/%postname%/\"><script>"})).unwrap_err();
        assert!(err.to_string().contains("not a permalink path"), "{err}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for bad in ["", "/etc/passwd", "a/../b", "a//b", "a\\b", "./a"] {
            assert!(safe_relative(bad).is_err(), "{bad}");
        }
        assert!(safe_relative("2024/05/a.png").is_ok());
    }
}
