//! `manifest.json`: the last file written into a bundle, so its presence means the bundle is
//! complete. Versions, the site, every collection file with its count and checksum, every media
//! file with its status and checksum, and what was skipped and why. Described in BUNDLE.md.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::bundle::Written;
use super::media_plan::{MediaRecord, MediaStatus};
use super::permalinks::Permalinks;
use super::site::SiteInfo;

/// Bumped when a reader of version N could misread a bundle of version N+1.
pub const FORMAT_VERSION: u32 = 1;

/// What REST cannot give, stated in every manifest.
pub const NOT_EXPORTED: &[&str] = &[
    "plugin and theme code (only their metadata)",
    "options that WordPress does not expose in /wp/v2/settings",
    "custom database tables and post meta that is not registered for REST",
    "user passwords and Application Passwords",
];

/// One collection file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectionEntry {
    pub file: String,
    pub route: String,
    pub params: BTreeMap<String, String>,
    /// Items in the file (objects for single-object routes: their number of keys).
    pub items: u64,
    /// `X-WP-Total` as the site announced it on the first page, when it did.
    pub site_total: Option<u64>,
    pub pages: u32,
    pub bytes: u64,
    pub sha256: String,
}

/// A collection the export did not include.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkippedCollection {
    pub name: String,
    pub route: String,
    pub status: u16,
    pub reason: String,
}

/// The media part of the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaSection {
    pub mode: String,
    pub max_file_bytes: u64,
    pub skip_mime: Vec<String>,
    /// Files per status.
    pub counts: BTreeMap<String, u64>,
    /// Bytes of the downloaded files.
    pub bytes: u64,
    pub files: Vec<MediaRecord>,
}

/// The whole manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub understudy_version: String,
    pub job_id: String,
    pub created_at: String,
    pub site: SiteInfo,
    pub collections: BTreeMap<String, CollectionEntry>,
    pub skipped_collections: Vec<SkippedCollection>,
    pub media: MediaSection,
    /// The permalink settings derived from the site's links; absent when they were not
    /// derivable (a note in `site.notes` says why) and in bundles of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permalinks: Option<Permalinks>,
    pub not_exported: Vec<String>,
}

impl MediaSection {
    /// Groups the records, downloaded first, each group by path then URL.
    pub fn new(
        mode: &str,
        max_file_bytes: u64,
        skip_mime: &[String],
        mut files: Vec<MediaRecord>,
    ) -> Self {
        files.sort_by(|a, b| {
            (a.status, &a.path, &a.url, a.id).cmp(&(b.status, &b.path, &b.url, b.id))
        });
        let mut counts = BTreeMap::new();
        let mut bytes = 0;
        for f in &files {
            *counts.entry(f.status.as_str().to_string()).or_insert(0) += 1;
            if f.status == MediaStatus::Downloaded {
                bytes += f.bytes.unwrap_or(0);
            }
        }
        MediaSection {
            mode: mode.to_string(),
            max_file_bytes,
            skip_mime: skip_mime.to_vec(),
            counts,
            bytes,
            files,
        }
    }
}

impl CollectionEntry {
    /// An entry for an assembled collection file.
    pub fn new(
        file: Written,
        route: &str,
        params: &[(String, String)],
        items: u64,
        site_total: Option<u64>,
        pages: u32,
    ) -> Self {
        CollectionEntry {
            file: file.path,
            route: route.to_string(),
            params: params.iter().cloned().collect(),
            items,
            site_total,
            pages,
            bytes: file.bytes,
            sha256: file.sha256,
        }
    }
}
