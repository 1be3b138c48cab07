//! The `export` kind: a whole WordPress site, through its REST API, into a bundle on disk.
//!
//! Steps, in order (names are the checkpoint identities):
//! 1. `validate` — reachable, WordPress, REST on, credentials valid, role sufficient;
//! 2. `plan` — the collections, with custom post types and taxonomies from `/types` and
//!    `/taxonomies`;
//! 3. `collection:<name>:page:<n>` (or `collection:<name>`) — one step per page, so a crash
//!    resumes at the next page;
//! 4. `media:plan` — which files to download (referenced, all or none);
//! 5. `media:batch:<n>` — downloads, a batch per step, files already on disk not fetched again;
//! 6. `bundle` — collection files, manifest last, `<out>.partial` renamed to `<out>`.
//!
//! The bundle format is described in `BUNDLE.md` beside this file.

mod bundle;
mod catalog;
mod client;
mod collection;
mod error;
mod manifest;
mod media;
mod media_plan;
mod paths;
mod permalinks;
mod references;
mod site;
mod spec;

pub use error::ExportError;
pub use manifest::{Manifest, FORMAT_VERSION};
pub use media_plan::{MediaRecord, MediaStatus};
pub use permalinks::Permalinks;
pub use spec::{ExportSpec, MediaMode};

use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

use crate::{Job, RetryPolicy, SpecError, StepError, Workflow};
use bundle::{Bundle, Prepared};
use catalog::Collection;
use client::WpClient;
use collection::PageOutcome;
use manifest::{CollectionEntry, MediaSection, SkippedCollection, NOT_EXPORTED};
use media::{BatchStop, Downloader};
use media_plan::MediaPlan;
use references::MediaRefs;
use site::SiteInfo;

/// Files per `media:batch:<n>` step.
const MEDIA_BATCH: usize = 40;

/// The `export` workflow.
pub struct Export;

/// The pages of one collection, as their steps returned them.
struct Exported {
    collection: Collection,
    pages: Vec<PageOutcome>,
}

#[async_trait]
impl Workflow for Export {
    fn kind(&self) -> &'static str {
        "export"
    }

    fn validate(&self, spec: &Value) -> Result<(), SpecError> {
        ExportSpec::parse(spec).map(|_| ())
    }

    async fn run(&self, job: &Job, spec: Value) -> Result<Value, StepError> {
        let spec = ExportSpec::parse(&spec).map_err(StepError::permanent)?;
        let base = spec.site_url().map_err(StepError::permanent)?;
        let sealed = spec.sealed_password().map_err(StepError::permanent)?;
        let password = job
            .resources()
            .secrets
            .open(&sealed)
            .map_err(|e| StepError::from(ExportError::Secret(e.to_string())))?;
        let timeout = Duration::from_secs(spec.request_timeout_secs);
        let new_client = |root: Url| {
            WpClient::new(
                root,
                &spec.user,
                password.clone(),
                timeout,
                spec.max_json_bytes,
            )
        };
        let retry = spec.retry_policy();
        let validate_retry = RetryPolicy {
            max_tries: retry.max_tries.min(4),
            ..retry
        };

        job.progress(1.0, "validate: checking the site and the credentials");
        let site: SiteInfo = job
            .step_with("validate", validate_retry, |_| {
                let base = base.clone();
                let client = new_client(base.clone());
                async move {
                    let (_, info) = site::validate(client?, &base).await?;
                    Ok::<_, StepError>(info)
                }
            })
            .await?;
        let api_root = Url::parse(&site.api_root)
            .map_err(|e| StepError::permanent(format!("export: checkpointed api_root: {e}")))?;
        let client = Arc::new(new_client(api_root)?);

        let out_dir = spec.out_dir.clone().unwrap_or_else(|| {
            job.resources()
                .data_dir
                .join("exports")
                .join(job.id().to_string())
        });
        let bundle = Bundle::new(out_dir);
        let already_done = matches!(bundle.prepare(job.id())?, Prepared::AlreadyDone);
        {
            // A failed or cancelled export releases its out_dir: `retry` resumes the partial
            // bundle, another job may reclaim it. Not a step's undo: no checkpoint is undone.
            let (bundle, id) = (bundle.clone(), job.id());
            job.on_failure("release-out-dir", move || async move {
                bundle
                    .release(id)
                    .map_err(|e| StepError::Permanent(e.to_string()))
            });
        }

        let collections: Vec<Collection> = job
            .step_with("plan", retry, |_| {
                let client = client.clone();
                async move { Ok::<_, StepError>(catalog::plan(&client).await?) }
            })
            .await?;

        let mut exported = Vec::new();
        let n = collections.len() as f32;
        for (i, collection) in collections.into_iter().enumerate() {
            let mut pages = Vec::new();
            let mut page = 1;
            let mut total_pages = 1;
            while page <= total_pages {
                let name = collection::step_name(&collection, page);
                let outcome: PageOutcome = job
                    .step_with(&name, retry, |_| {
                        let (client, bundle, collection) =
                            (client.clone(), bundle.clone(), collection.clone());
                        async move {
                            Ok::<_, StepError>(
                                collection::fetch_page(&client, &bundle, &collection, page).await?,
                            )
                        }
                    })
                    .await?;
                if let PageOutcome::Saved { total_pages: t, .. } = &outcome {
                    if page == 1 && collection.paginated {
                        total_pages = (*t).max(1);
                    }
                }
                let done = (i as f32 + page as f32 / total_pages as f32) / n;
                job.progress(
                    3.0 + 57.0 * done,
                    &format!(
                        "collections: {} page {page}/{total_pages} ({}/{} collections)",
                        collection.name,
                        i + 1,
                        n as usize
                    ),
                );
                pages.push(outcome);
                page += 1;
            }
            exported.push(Exported { collection, pages });
        }

        let media_plan: MediaPlan = job
            .step("media:plan", |_| {
                let (bundle, spec, site, base) = (bundle.clone(), spec.clone(), site.clone(), base.clone());
                let exported = &exported;
                async move { Ok::<_, StepError>(plan_media(&bundle, &spec, &site, &base, exported)?) }
            })
            .await?;

        let mut records = media_plan.records.clone();
        let batches: Vec<&[media_plan::MediaTask]> = media_plan.tasks.chunks(MEDIA_BATCH).collect();
        let files = media_plan.tasks.len();
        for (k, batch) in batches.iter().enumerate() {
            let done: Vec<MediaRecord> = job
                .step_with(&format!("media:batch:{}", k + 1), retry, |run| {
                    let downloader = Downloader {
                        client: client.clone(),
                        bundle: bundle.clone(),
                        concurrency: spec.media_concurrency,
                        max_bytes: spec.max_media_bytes,
                        cancel: run.cancellation(),
                    };
                    async move {
                        match downloader.run(batch).await {
                            Ok(records) => Ok(records),
                            Err(BatchStop::Site(e)) => Err(StepError::from(e)),
                            Err(BatchStop::Cancelled) => Err(run.stop_reason()),
                        }
                    }
                })
                .await?;
            records.extend(done);
            let fetched = ((k + 1) * MEDIA_BATCH).min(files);
            job.progress(
                60.0 + 37.0 * fetched as f32 / files.max(1) as f32,
                &format!("media: {fetched}/{files} files"),
            );
        }

        job.progress(97.0, "bundle: writing collection files and the manifest");
        let summary: Value = job
            .step("bundle", |_| {
                let (bundle, spec, site) = (bundle.clone(), spec.clone(), site.clone());
                let (exported, records) = (&exported, records.clone());
                let job_id = job.id();
                async move {
                    if already_done {
                        return Ok::<_, StepError>(read_summary(&bundle)?);
                    }
                    Ok(write_bundle(
                        &bundle, &spec, site, exported, records, job_id,
                    )?)
                }
            })
            .await?;
        job.progress(100.0, "export complete");
        let mut result = summary;
        result["http_requests"] = json!(client.requests());
        Ok(result)
    }
}

/// Reads the media pages back and decides which files to fetch.
fn plan_media(
    bundle: &Bundle,
    spec: &ExportSpec,
    site: &SiteInfo,
    base: &Url,
    exported: &[Exported],
) -> Result<MediaPlan, ExportError> {
    if spec.media == MediaMode::None {
        return Ok(MediaPlan::default());
    }
    let mut refs = MediaRefs::default();
    let mut media_items = Vec::new();
    for e in exported {
        for page in &e.pages {
            let PageOutcome::Saved { file, refs: r, .. } = page else {
                continue;
            };
            refs.merge(r);
            if e.collection.name == "media" {
                if let serde_json::Value::Array(items) = bundle.read_page(file)? {
                    media_items.extend(items);
                }
            }
        }
    }
    let mut origins = vec![base.clone()];
    if let Ok(home) = Url::parse(&site.home) {
        origins.push(home);
    }
    Ok(media_plan::plan(spec, &media_items, &refs, base, &origins))
}

/// The `bundle` step: collection files, manifest, rename. Returns the job's result.
fn write_bundle(
    bundle: &Bundle,
    spec: &ExportSpec,
    mut site: SiteInfo,
    exported: &[Exported],
    records: Vec<MediaRecord>,
    job_id: uuid::Uuid,
) -> Result<Value, ExportError> {
    let mut collections = BTreeMap::new();
    let mut skipped = Vec::new();
    for e in exported {
        let c = &e.collection;
        let mut files = Vec::new();
        let mut site_total = None;
        for (n, page) in e.pages.iter().enumerate() {
            match page {
                PageOutcome::Saved { file, total, .. } => {
                    if n == 0 {
                        site_total = *total;
                    }
                    files.push(file.clone());
                }
                PageOutcome::Skipped { status, reason } => skipped.push(SkippedCollection {
                    name: c.name.clone(),
                    route: c.route.clone(),
                    status: *status,
                    reason: reason.clone(),
                }),
            }
        }
        if files.is_empty() {
            continue;
        }
        let (file, items) = bundle.assemble(&c.name, &files, c.paginated)?;
        let entry = CollectionEntry::new(
            file,
            &c.route,
            &c.params,
            items,
            site_total,
            files.len() as u32,
        );
        collections.insert(c.name.clone(), entry);
    }
    let home = if site.home.is_empty() {
        site.url.clone()
    } else {
        site.home.clone()
    };
    let permalinks = match permalinks::from_pages(
        bundle,
        &home,
        &saved_pages(exported, "posts"),
        &saved_pages(exported, "categories"),
        &saved_pages(exported, "tags"),
        &saved_pages(exported, "users"),
    )? {
        Ok(permalinks) => Some(permalinks),
        Err(why) => {
            site.notes.push(format!(
                "permalink structure not derivable from the posts' links ({why}); an import \
                 keeps the target's own"
            ));
            None
        }
    };
    let media = MediaSection::new(
        spec.media.as_str(),
        spec.max_media_bytes,
        &spec.skip_mime,
        records,
    );
    let manifest = Manifest {
        format: "understudy-export".into(),
        format_version: FORMAT_VERSION,
        understudy_version: env!("CARGO_PKG_VERSION").into(),
        job_id: job_id.to_string(),
        created_at: chrono::Utc::now().to_rfc3339(),
        site,
        collections,
        skipped_collections: skipped,
        media,
        permalinks,
        not_exported: NOT_EXPORTED.iter().map(|s| s.to_string()).collect(),
    };
    let value = serde_json::to_value(&manifest)
        .map_err(|e| ExportError::Bundle(format!("serialising the manifest: {e}")))?;
    bundle.complete(&value)?;
    Ok(summary(&bundle.dir, &manifest))
}

/// The page files of a collection, as its steps saved them (none when it was skipped).
fn saved_pages(exported: &[Exported], name: &str) -> Vec<bundle::Written> {
    exported
        .iter()
        .filter(|e| e.collection.name == name)
        .flat_map(|e| &e.pages)
        .filter_map(|page| match page {
            PageOutcome::Saved { file, .. } => Some(file.clone()),
            PageOutcome::Skipped { .. } => None,
        })
        .collect()
}

/// The job's result when the bundle was already complete (crash after the rename).
fn read_summary(bundle: &Bundle) -> Result<Value, ExportError> {
    let path = bundle.dir.join("manifest.json");
    let bytes = std::fs::read(&path).map_err(|e| ExportError::storage(&path, e))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| ExportError::Bundle(format!("{}: {e}", path.display())))?;
    Ok(summary(&bundle.dir, &manifest))
}

fn summary(dir: &std::path::Path, manifest: &Manifest) -> Value {
    let counts: BTreeMap<&str, u64> = manifest
        .collections
        .iter()
        .map(|(name, c)| (name.as_str(), c.items))
        .collect();
    json!({
        "bundle": dir.display().to_string(),
        "manifest": dir.join("manifest.json").display().to_string(),
        "format_version": manifest.format_version,
        "wordpress_version": manifest.site.wordpress_version,
        "collections": counts,
        "skipped_collections": manifest.skipped_collections.iter().map(|s| &s.name).collect::<Vec<_>>(),
        "media": manifest.media.counts,
        "media_bytes": manifest.media.bytes,
        "permalink_structure": manifest.permalinks.as_ref().map(|p| &p.structure),
    })
}
