//! The `import` step: an export bundle into the sandbox. Rust reads the bundle and rewrites the
//! source site's URLs to the sandbox URL; the media files go into `wp-content/uploads/` (tar
//! through the engine's archive API, owned by www-data); `import.php` inside the container
//! creates users, terms (custom taxonomies too), attachments, reusable blocks, posts, pages,
//! custom post types (and what the source had in its trash), navigation, block templates and
//! template parts, comments, classic menus with their locations, settings and the permalink
//! settings with WordPress's own functions. The site's custom post
//! types and taxonomies are registered in the sandbox by a must-use plugin
//! (`imported-types.php`, definitions from the bundle's `types` and `taxonomies`). Re-running
//! it updates what an earlier attempt imported (no duplicates).

use bollard::Docker;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

use super::bundle::{Bundle, UrlRewrite, BUILTIN_TAXONOMIES, BUILTIN_TYPES, NOT_IMPORTED};
use super::exec::{self, Archive};
use super::install::{upload_scripts, SCRIPT_DIR, WWW_UID};
use crate::StepError;

const IMPORT_PHP: &[u8] = include_bytes!("import.php");
const TYPES_PHP: &[u8] = include_bytes!("imported-types.php");
const THUMBNAILS_PHP: &[u8] = include_bytes!("thumbnails.php");
const WP_CONTENT: &str = "/var/www/html/wp-content";

/// What the import did (no secrets, no content).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportReport {
    pub source_url: String,
    /// Counts from import.php: users, terms, attachments, posts, pages, comments, settings,
    /// renumbered (posts that could not keep their source id), skipped (by reason).
    pub imported: Value,
    pub media_files: usize,
    pub media_bytes: u64,
    /// Media the bundle holds outside uploads/ or under unsafe names: not copied.
    pub media_skipped: u64,
    pub url_replacements: usize,
    pub malformed_values: usize,
    /// Collections in the bundle that this importer does not read.
    pub not_imported: Vec<String>,
}

fn io(e: std::io::Error) -> StepError {
    StepError::Permanent(format!("preparing the import archive: {e}"))
}

/// The site's custom post types and taxonomies (REST definitions without links), for the
/// must-use plugin that registers them and for import.php.
fn custom_definitions(bundle: &Bundle) -> Result<Value, StepError> {
    let pick = |collection: Value, builtin: &[&str]| -> Vec<Value> {
        let Value::Object(items) = collection else {
            return Vec::new();
        };
        items
            .into_iter()
            .filter(|(slug, def)| {
                !builtin.contains(&slug.as_str()) && def["rest_base"].as_str().is_some()
            })
            .map(|(_, mut def)| {
                if let Some(map) = def.as_object_mut() {
                    map.remove("_links");
                }
                def
            })
            .collect()
    };
    Ok(json!({
        "types": pick(bundle.collection("types")?, BUILTIN_TYPES),
        "taxonomies": pick(bundle.collection("taxonomies")?, BUILTIN_TAXONOMIES),
    }))
}

/// The collections, rewritten, and the media records import.php needs.
fn payload(
    bundle: &Bundle,
    url: &str,
    uploads: &[super::bundle::Upload],
    custom: &Value,
) -> Result<(Vec<u8>, usize, usize), StepError> {
    let mut rewrite = UrlRewrite::new(&bundle.manifest.site, url)?;
    let mut collections = Map::new();
    for name in bundle.manifest.collections.keys() {
        if NOT_IMPORTED.contains(&name.as_str()) {
            continue;
        }
        let mut value = bundle.collection(name)?;
        rewrite.value(&mut value);
        collections.insert(name.to_string(), value);
    }
    let media: Vec<Value> = uploads
        .iter()
        .map(|u| json!({"id": u.id, "file": u.file}))
        .collect();
    let body = json!({
        "collections": collections,
        "custom": custom,
        "media": media,
        "uploads_url": format!("{url}/wp-content/uploads"),
        "permalinks": bundle.manifest.permalinks,
    });
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| StepError::Permanent(format!("encoding import.json: {e}")))?;
    Ok((bytes, rewrite.replacements, rewrite.malformed))
}

/// The media files as a tar archive rooted at wp-content (`uploads/YYYY/MM/file`), with the
/// must-use plugin registering the site's custom types and taxonomies.
fn media_archive(uploads: &[super::bundle::Upload], custom: &Value) -> Result<Vec<u8>, StepError> {
    let mut dirs = BTreeSet::from(["mu-plugins".to_string()]);
    for u in uploads {
        let mut prefix = String::from("uploads");
        dirs.insert(prefix.clone());
        let segments: Vec<&str> = u.file.split('/').collect();
        for segment in &segments[..segments.len() - 1] {
            prefix = format!("{prefix}/{segment}");
            dirs.insert(prefix.clone());
        }
    }
    let mut archive = Archive::new(WWW_UID, WWW_UID);
    // BTreeSet order puts every parent before its children.
    for dir in &dirs {
        archive.dir(dir).map_err(io)?;
    }
    let definitions = serde_json::to_vec(custom)
        .map_err(|e| StepError::Permanent(format!("encoding the type definitions: {e}")))?;
    archive
        .file("mu-plugins/understudy-imported-types.php", TYPES_PHP, 0o644)
        .map_err(io)?;
    archive
        .file(
            "mu-plugins/understudy-imported-types.json",
            &definitions,
            0o644,
        )
        .map_err(io)?;
    for u in uploads {
        let bytes = std::fs::read(&u.on_disk)
            .map_err(|e| StepError::Permanent(format!("reading {}: {e}", u.on_disk.display())))?;
        archive
            .file(&format!("uploads/{}", u.file), &bytes, 0o644)
            .map_err(io)?;
    }
    archive.finish().map_err(io)
}

/// Imports `bundle` into the WordPress of `container`, served at `url`.
pub async fn import(
    docker: &Docker,
    container: &str,
    bundle: &Bundle,
    url: &str,
    admin_user: &str,
) -> Result<ImportReport, StepError> {
    let (uploads, media_skipped) = bundle.uploads()?;
    let custom = custom_definitions(bundle)?;
    let (payload, url_replacements, malformed_values) = {
        let bundle = bundle.clone();
        let url = url.to_string();
        let uploads = uploads.clone();
        let custom = custom.clone();
        tokio::task::spawn_blocking(move || payload(&bundle, &url, &uploads, &custom))
            .await
            .map_err(|e| StepError::Permanent(format!("import preparation thread: {e}")))??
    };
    let media = {
        let uploads = uploads.clone();
        tokio::task::spawn_blocking(move || media_archive(&uploads, &custom))
            .await
            .map_err(|e| StepError::Permanent(format!("media archive thread: {e}")))??
    };
    exec::upload(docker, container, WP_CONTENT, media).await?;
    upload_scripts(
        docker,
        container,
        &[
            ("import.php", IMPORT_PHP),
            ("thumbnails.php", THUMBNAILS_PHP),
            ("import.json", &payload),
        ],
    )
    .await?;
    let script = format!("{SCRIPT_DIR}/import.php");
    let env = vec![
        format!("US_URL={url}"),
        format!("US_ADMIN_USER={admin_user}"),
    ];
    let out = exec::run(docker, container, "www-data", &["php", &script], env).await?;
    if out.exit_code != 0 {
        return Err(StepError::Permanent(format!(
            "importing the bundle failed (exit {}): {}",
            out.exit_code,
            out.tail()
        )));
    }
    let line = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("");
    let imported: Value = serde_json::from_str(line).map_err(|e| {
        StepError::Permanent(format!(
            "the importer printed no report ({e}): {}",
            out.tail()
        ))
    })?;
    // Image sizes the bundle lacks are made after the step, in the background: the sandbox
    // serves the full images meanwhile (see thumbnails.php).
    if imported["thumbnails_deferred"].as_u64().unwrap_or(0) > 0 {
        let script = format!("{SCRIPT_DIR}/thumbnails.php");
        exec::spawn_detached(
            docker,
            container,
            "www-data",
            &["php", &script],
            vec![format!("US_URL={url}")],
        )
        .await?;
    }
    let not_imported = bundle
        .manifest
        .collections
        .keys()
        .filter(|k| NOT_IMPORTED.contains(&k.as_str()))
        .cloned()
        .collect();
    Ok(ImportReport {
        source_url: bundle.manifest.site.url.clone(),
        imported,
        media_files: uploads.len(),
        media_bytes: uploads.iter().map(|u| u.bytes).sum(),
        media_skipped,
        url_replacements,
        malformed_values,
        not_imported,
    })
}
