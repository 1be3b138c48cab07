//! The `media:plan` step: which files to download, from the media library's metadata and the
//! references found in content. Files that will not be downloaded (skipped MIME type, declared
//! size over the limit, unsafe name, reference to a missing attachment) are recorded here.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use url::Url;

use super::paths::bundle_path;
use super::references::MediaRefs;
use super::spec::{ExportSpec, MediaMode};

/// What happened to one media file.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum MediaStatus {
    /// In the bundle, with its checksum.
    Downloaded,
    /// Its MIME type is on the skip list.
    SkippedMime,
    /// Larger than `max_media_bytes` (declared by the site or found while downloading).
    Oversized,
    /// The name from the site is not safe as a path.
    UnsafeName,
    /// Content refers to an attachment id the site does not list.
    Missing,
    /// The download failed for good; `url` stays the place to get it from.
    Failed,
}

impl MediaStatus {
    /// The name used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaStatus::Downloaded => "downloaded",
            MediaStatus::SkippedMime => "skipped_mime",
            MediaStatus::Oversized => "oversized",
            MediaStatus::UnsafeName => "unsafe_name",
            MediaStatus::Missing => "missing",
            MediaStatus::Failed => "failed",
        }
    }
}

/// One media file of the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MediaRecord {
    pub status: MediaStatus,
    /// Attachment id, when the file is an attachment (or one of its sizes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The production URL: where the file is (the fallback when it is not in the bundle).
    pub url: String,
    /// Bundle-relative path (`uploads/2024/05/a.png`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl MediaRecord {
    fn new(status: MediaStatus, task: &MediaTask, reason: String) -> MediaRecord {
        MediaRecord {
            status,
            id: task.id,
            url: task.url.clone(),
            path: (!task.path.is_empty()).then(|| task.path.clone()),
            mime: task.mime.clone(),
            bytes: task.declared_bytes,
            sha256: None,
            reason: Some(reason),
        }
    }
}

/// One file to download.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MediaTask {
    pub id: Option<u64>,
    /// The production URL.
    pub url: String,
    /// Where to fetch it: the production URL moved onto the origin the export was given.
    pub fetch_url: String,
    pub path: String,
    pub mime: Option<String>,
    pub declared_bytes: Option<u64>,
}

/// The plan's output: files to fetch, and files recorded without fetching.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MediaPlan {
    pub tasks: Vec<MediaTask>,
    pub records: Vec<MediaRecord>,
}

struct Attachment {
    url: String,
    mime: Option<String>,
    bytes: Option<u64>,
}

/// Builds the plan. `site_origins` are the origins the site calls itself by (its home and the
/// URL the export was given); `base` is the URL the export was given.
pub fn plan(
    spec: &ExportSpec,
    media_items: &[Value],
    refs: &MediaRefs,
    base: &Url,
    site_origins: &[Url],
) -> MediaPlan {
    let mut attachments = BTreeMap::new();
    // uploads-relative URL path -> (attachment id, is the original)
    let mut by_path: BTreeMap<String, (u64, bool)> = BTreeMap::new();
    for item in media_items {
        let Some(id) = item.get("id").and_then(Value::as_u64) else {
            continue;
        };
        let Some(url) = item.get("source_url").and_then(Value::as_str) else {
            continue;
        };
        let details = item.get("media_details");
        let bytes = details
            .and_then(|d| d.get("filesize"))
            .and_then(Value::as_u64);
        if let Ok(u) = Url::parse(url) {
            by_path.insert(u.path().to_string(), (id, true));
        }
        let sizes = details
            .and_then(|d| d.get("sizes"))
            .and_then(Value::as_object);
        for size in sizes.into_iter().flat_map(|s| s.values()) {
            if let Some(Ok(u)) = size
                .get("source_url")
                .and_then(Value::as_str)
                .map(Url::parse)
            {
                by_path.entry(u.path().to_string()).or_insert((id, false));
            }
        }
        let mime = item
            .get("mime_type")
            .and_then(Value::as_str)
            .map(str::to_string);
        attachments.insert(
            id,
            Attachment {
                url: url.to_string(),
                mime,
                bytes,
            },
        );
    }

    let mut wanted: BTreeSet<u64> = BTreeSet::new();
    let mut extra: BTreeMap<String, (Option<u64>, Url)> = BTreeMap::new();
    let mut out = MediaPlan::default();
    match spec.media {
        MediaMode::None => return out,
        MediaMode::All => wanted.extend(attachments.keys().copied()),
        MediaMode::Referenced => {
            for id in &refs.ids {
                if attachments.contains_key(id) {
                    wanted.insert(*id);
                } else {
                    out.records.push(MediaRecord {
                        status: MediaStatus::Missing,
                        id: Some(*id),
                        url: String::new(),
                        path: None,
                        mime: None,
                        bytes: None,
                        sha256: None,
                        reason: Some(
                            "content refers to this attachment id, but the site does not list it"
                                .into(),
                        ),
                    });
                }
            }
        }
    }
    if spec.media == MediaMode::Referenced || spec.media == MediaMode::All {
        for raw in &refs.urls {
            let Ok(url) = base.join(raw) else { continue };
            if !site_origins.iter().any(|o| same_origin_host(o, &url)) {
                continue; // another site's uploads: not ours to copy
            }
            match by_path.get(url.path()) {
                Some((id, true)) => {
                    wanted.insert(*id);
                }
                Some((id, false)) => {
                    extra.insert(url.path().to_string(), (Some(*id), url));
                }
                None => {
                    extra.insert(url.path().to_string(), (None, url));
                }
            }
        }
    }
    let mut seen_paths = BTreeSet::new();
    let originals = wanted.iter().filter_map(|id| {
        let a = attachments.get(id)?;
        Some((Some(*id), a.url.clone(), a.mime.clone(), a.bytes))
    });
    let variants = extra.into_values().map(|(id, url)| {
        let mime = id
            .and_then(|id| attachments.get(&id))
            .and_then(|a| a.mime.clone());
        (id, url.to_string(), mime, None)
    });
    for (id, url, mime, declared_bytes) in originals.chain(variants) {
        let mut task = MediaTask {
            id,
            url: url.clone(),
            fetch_url: url.clone(),
            path: String::new(),
            mime,
            declared_bytes,
        };
        let parsed = match Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => {
                out.records.push(MediaRecord::new(
                    MediaStatus::UnsafeName,
                    &task,
                    "not an http(s) URL".into(),
                ));
                continue;
            }
        };
        task.fetch_url = on_base_origin(&parsed, base, site_origins).to_string();
        match bundle_path(&parsed) {
            Ok(path) => task.path = path,
            Err(e) => {
                out.records.push(MediaRecord::new(
                    MediaStatus::UnsafeName,
                    &task,
                    e.to_string(),
                ));
                continue;
            }
        }
        if !seen_paths.insert(task.path.clone()) {
            continue;
        }
        if let Some(mime) = task.mime.as_deref().filter(|m| spec.skips_mime(m)) {
            let reason = format!("MIME type {mime} is on the skip list");
            out.records
                .push(MediaRecord::new(MediaStatus::SkippedMime, &task, reason));
            continue;
        }
        if let Some(bytes) = task.declared_bytes.filter(|b| *b > spec.max_media_bytes) {
            let reason = format!(
                "{bytes} bytes is over the {}-byte limit",
                spec.max_media_bytes
            );
            out.records
                .push(MediaRecord::new(MediaStatus::Oversized, &task, reason));
            continue;
        }
        out.tasks.push(task);
    }
    out
}

fn same_origin_host(a: &Url, b: &Url) -> bool {
    a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

/// A URL of the site's own origin, moved onto the origin the export was given (the site may call
/// itself `https://www.x` while we were given `https://x`, or be reached through a proxy).
fn on_base_origin(url: &Url, base: &Url, site_origins: &[Url]) -> Url {
    if !site_origins.iter().any(|o| same_origin_host(o, url)) || same_origin_host(url, base) {
        return url.clone();
    }
    let mut moved = base.clone();
    moved.set_path(url.path());
    moved.set_query(url.query());
    moved
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn referenced_files_sizes_orphans_skips_and_limits() {
        let spec = ExportSpec::parse(&json!({"url": "http://127.0.0.1:9000", "user": "a",
            "app_password_sealed": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB",
            "skip_mime": ["application/pdf"], "max_media_bytes": 1000}))
        .unwrap();
        let site = "http://127.0.0.1:8081/wp-content/uploads/2024/05";
        let media = vec![
            json!({"id": 1, "source_url": format!("{site}/a.png"), "mime_type": "image/png",
                   "media_details": {"filesize": 10, "sizes": {"medium": {"source_url": format!("{site}/a-300x200.png")}}}}),
            json!({"id": 2, "source_url": format!("{site}/big.png"), "mime_type": "image/png", "media_details": {"filesize": 5000}}),
            json!({"id": 3, "source_url": format!("{site}/r.pdf"), "mime_type": "application/pdf"}),
            json!({"id": 4, "source_url": format!("{site}/unused.png"), "mime_type": "image/png"}),
        ];
        let mut refs = MediaRefs::default();
        refs.ids.extend([1, 2, 3, 99]);
        refs.urls.insert(format!("{site}/a-300x200.png"));
        refs.urls
            .insert("/wp-content/uploads/2020/01/orphan.jpg".into());
        refs.urls
            .insert("https://other.test/wp-content/uploads/x.png".into());
        let base = Url::parse("http://127.0.0.1:9000/").unwrap();
        let home = Url::parse("http://127.0.0.1:8081/").unwrap();
        let plan = plan(&spec, &media, &refs, &base, &[home, base.clone()]);
        let paths: Vec<_> = plan.tasks.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "uploads/2024/05/a.png",
                "uploads/2020/01/orphan.jpg",
                "uploads/2024/05/a-300x200.png"
            ]
        );
        assert_eq!(
            plan.tasks[0].fetch_url,
            "http://127.0.0.1:9000/wp-content/uploads/2024/05/a.png"
        );
        assert_eq!(plan.tasks[0].url, format!("{site}/a.png"));
        let statuses: Vec<_> = plan.records.iter().map(|r| (r.status, r.id)).collect();
        assert_eq!(
            statuses,
            vec![
                (MediaStatus::Missing, Some(99)),
                (MediaStatus::Oversized, Some(2)),
                (MediaStatus::SkippedMime, Some(3))
            ]
        );
    }
}
