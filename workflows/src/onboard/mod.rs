//! The `onboard` kind: a live WordPress site to a ready sandbox in one job —
//! `validate` → `export.*` → `provision.*` (whose `provision.import` imports the bundle and
//! `provision.record` marks the sandbox ready).
//!
//! The chain reuses the export and provision workflows' steps unchanged, run through
//! [`Job::scoped`]: their checkpoints are named `export.<step>` and `provision.<step>` (both
//! workflows have a `validate`), so a plain `export` or `provision` job keeps its own names and
//! an onboard job resumes after a crash at any step like the others. Progress 0–100 covers the
//! whole chain (weights in [`EXPORT_PROGRESS`] and [`PROVISION_PROGRESS`]).

pub mod spec;

use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;

use crate::export::Export;
use crate::provision::config::ProvisionConfig;
use crate::provision::{self, spec::ProvisionSpec};
use crate::{Job, SpecError, StepError, Workflow};
pub use spec::OnboardSpec;

/// The export's 0–100 on the chain's 0–30. An export of a site of a few hundred posts takes
/// 2–5 s of a 15–25 s chain (BENCHMARKS.md), a remote site longer: 30 keeps the bar moving
/// without stalling at the end.
pub const EXPORT_PROGRESS: &[(f32, f32)] = &[(0.0, 1.0), (100.0, 30.0)];

/// The provision's 0–100 on 30–100: containers, readiness and install (inner 0–60) on 30–60,
/// the import (inner 60–95, the longest step) on 60–98, the record on the rest.
pub const PROVISION_PROGRESS: &[(f32, f32)] =
    &[(0.0, 30.0), (60.0, 60.0), (95.0, 98.0), (100.0, 100.0)];

/// The `onboard` workflow.
pub struct Onboard {
    config: Arc<ProvisionConfig>,
}

impl Onboard {
    pub fn new(config: ProvisionConfig) -> Onboard {
        Onboard {
            config: Arc::new(config),
        }
    }
}

#[async_trait]
impl Workflow for Onboard {
    fn kind(&self) -> &'static str {
        "onboard"
    }

    fn validate(&self, spec: &Value) -> Result<(), SpecError> {
        OnboardSpec::parse(spec).map(|_| ())
    }

    async fn run(&self, job: &Job, spec: Value) -> Result<Value, StepError> {
        self.config.validate().map_err(StepError::permanent)?;
        let spec = OnboardSpec::parse(&spec).map_err(StepError::permanent)?;
        let config = &self.config;

        // Docker and the images first: a missing image fails the job before the site is read.
        job.progress(0.0, "validate: Docker engine and sandbox images");
        job.step("validate", |_| async move {
            provision::check_engine(config).await?;
            Ok(true)
        })
        .await?;

        let exported = Export
            .run(&job.scoped("export.", EXPORT_PROGRESS), spec.export.clone())
            .await?;
        let bundle = exported["bundle"].as_str().ok_or_else(|| {
            StepError::Permanent(format!("onboard: the export gave no bundle: {exported}"))
        })?;

        let provision_spec = ProvisionSpec {
            bundle: Some(bundle.to_string()),
            ..spec.provision.clone()
        };
        let sandbox = provision::provision(
            &job.scoped("provision.", PROVISION_PROGRESS),
            config,
            &provision_spec,
        )
        .await?;

        Ok(json!({
            "sandbox": sandbox["sandbox"],
            "url": sandbox["url"],
            "admin_user": sandbox["admin_user"],
            "admin_password": sandbox["admin_password"],
            "expires_at": sandbox["expires_at"],
            "site": sandbox["site"],
            "source_url": spec.export_parsed.url,
            "bundle": bundle,
            "export": {
                "collections": exported["collections"],
                "skipped_collections": exported["skipped_collections"],
                "media": exported["media"],
                "media_bytes": exported["media_bytes"],
                "wordpress_version": exported["wordpress_version"],
                "permalink_structure": exported["permalink_structure"],
            },
            "import": sandbox["import"],
            "containers": sandbox["containers"],
        }))
    }
}
