//! The `sandbox` kind: the life after provisioning.
//!
//! * `{"action": "destroy", "id": "sb-…"}` — step `destroy`: removes the sandbox's containers,
//!   network and volume (everything labelled with its id) and marks it `destroyed`.
//! * `{"action": "reap"}` — step `expire`: destroys every ready sandbox past its `expires_at`;
//!   step `reconcile`: objects labelled with this deployment's owner whose sandbox is unknown or
//!   ended are removed (orphans), and a ready sandbox whose containers were removed out of band
//!   has its remains removed and is marked `destroyed` with that reason.
//!
//! Scheduling: `understudy sandbox reap` enqueues one reap job; run it from cron or a systemd
//! timer (e.g. every 15 minutes). A reap is idempotent, so overlapping runs are harmless.

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

use super::config::ProvisionConfig;
use super::engine::{self, Objects};
use super::names::Names;
use super::registry;
use super::spec::SandboxSpec;
use crate::{Job, SpecError, StepError, Workflow};

/// The `sandbox` workflow (destroy, reap).
pub struct SandboxLifecycle {
    config: Arc<ProvisionConfig>,
}

impl SandboxLifecycle {
    pub fn new(config: ProvisionConfig) -> SandboxLifecycle {
        SandboxLifecycle {
            config: Arc::new(config),
        }
    }
}

#[async_trait]
impl Workflow for SandboxLifecycle {
    fn kind(&self) -> &'static str {
        "sandbox"
    }

    fn validate(&self, spec: &Value) -> Result<(), SpecError> {
        SandboxSpec::parse(spec).map(|_| ())
    }

    async fn run(&self, job: &Job, spec: Value) -> Result<Value, StepError> {
        match SandboxSpec::parse(&spec).map_err(StepError::permanent)? {
            SandboxSpec::Destroy { id } => destroy(job, &self.config, &id).await,
            SandboxSpec::Reap { now } => {
                reap(job, &self.config, now.unwrap_or_else(Utc::now)).await
            }
        }
    }
}

/// One sandbox removed, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Removed {
    pub id: String,
    pub reason: String,
    pub objects: Objects,
}

async fn destroy(job: &Job, config: &ProvisionConfig, id: &str) -> Result<Value, StepError> {
    let db = &job.resources().db;
    let removed: Removed = job
        .step("destroy", |run| async move {
            let row = registry::get(db, id)
                .await?
                .ok_or_else(|| StepError::Permanent(format!("no sandbox {id}")))?;
            if row.state == "provisioning" {
                return Err(StepError::Permanent(format!(
                    "sandbox {id} is still being provisioned by job {}; cancel that job instead \
                     (its compensation removes the sandbox)",
                    row.job_id
                )));
            }
            let docker = engine::connect(config).await?;
            let objects = engine::remove_sandbox(&docker, id).await?;
            registry::mark_ended(db, id, "destroyed", "destroyed on request").await?;
            run.progress(100.0, &format!("sandbox {id} destroyed"));
            Ok(Removed {
                id: id.to_string(),
                reason: "destroyed on request".into(),
                objects,
            })
        })
        .await?;
    Ok(json!(removed))
}

async fn reap(
    job: &Job,
    config: &ProvisionConfig,
    now: chrono::DateTime<Utc>,
) -> Result<Value, StepError> {
    let db = &job.resources().db;
    let expired: Vec<Removed> = job
        .step("expire", |run| async move {
            let docker = engine::connect(config).await?;
            let mut removed = Vec::new();
            for sandbox in registry::expired(db, now).await? {
                let objects = engine::remove_sandbox(&docker, &sandbox.id).await?;
                let reason = format!("expired at {}", sandbox.expires_at.to_rfc3339());
                registry::mark_ended(db, &sandbox.id, "destroyed", &reason).await?;
                removed.push(Removed {
                    id: sandbox.id,
                    reason,
                    objects,
                });
            }
            run.progress(
                50.0,
                &format!("{} expired sandboxes destroyed", removed.len()),
            );
            Ok(removed)
        })
        .await?;

    let reconciled: Vec<Removed> = job
        .step("reconcile", |run| async move {
            let docker = engine::connect(config).await?;
            let mut removed = Vec::new();
            // Objects of ours whose sandbox is unknown here or already ended.
            for (id, _objects) in engine::sandboxes_of_owner(&docker, &config.owner).await? {
                let row = registry::get(db, &id).await?;
                if row.as_ref().is_some_and(|r| r.ended_at.is_none()) {
                    continue;
                }
                let objects = engine::remove_sandbox(&docker, &id).await?;
                removed.push(Removed {
                    id,
                    reason: if row.is_some() {
                        "orphan: the sandbox had ended".into()
                    } else {
                        "orphan: no such sandbox in the registry".into()
                    },
                    objects,
                });
            }
            // Ready sandboxes whose containers are gone.
            for sandbox in registry::list(db, true).await? {
                if sandbox.state != "ready" {
                    continue;
                }
                let names = Names::new(&sandbox.id);
                let mut missing = Vec::new();
                for name in [&names.wp_container, &names.db_container] {
                    if engine::inspect_id(&docker, name).await?.is_none() {
                        missing.push(name.clone());
                    }
                }
                if missing.is_empty() {
                    continue;
                }
                let objects = engine::remove_sandbox(&docker, &sandbox.id).await?;
                let reason = format!("containers removed out of band: {}", missing.join(", "));
                registry::mark_ended(db, &sandbox.id, "destroyed", &reason).await?;
                removed.push(Removed {
                    id: sandbox.id,
                    reason,
                    objects,
                });
            }
            run.progress(
                100.0,
                &format!("{} drifted sandboxes cleaned", removed.len()),
            );
            Ok(removed)
        })
        .await?;
    Ok(json!({"now": now, "expired": expired, "reconciled": reconciled}))
}
