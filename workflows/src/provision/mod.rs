//! The `provision` kind: a private, disposable WordPress on a Docker engine (through bollard),
//! filled from an export bundle. Named steps, each safe to re-run (deterministic names from the
//! job id, find-or-create):
//!
//! `validate` → `reserve` → `network` → `database` → `wordpress` → `ready` → `install` →
//! `import` → `record`
//!
//! If a later step fails, compensation removes every container, network and volume labelled
//! with the sandbox id and marks the sandbox `failed`. The `sandbox` kind ([`lifecycle`])
//! destroys sandboxes and reaps expired ones.
//!
//! Files: [`config`] (settings), [`spec`], [`names`] (names and labels), [`engine`] (Docker
//! primitives), [`exec`] (exec and file copy), [`containers`] (the two containers, host port),
//! [`ready`], [`install`] (+ `install.php`), [`bundle`] (reading an export bundle),
//! [`import`] (+ `import.php`), [`registry`] (the `sandboxes` table), [`http`], [`lifecycle`].

pub mod bundle;
pub mod config;
pub mod containers;
pub mod engine;
pub mod exec;
pub mod http;
pub mod import;
pub mod install;
pub mod lifecycle;
pub mod names;
pub mod ready;
pub mod registry;
pub mod spec;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Job, SpecError, StepError, Workflow};
use config::ProvisionConfig;
use names::{Labels, Names};
use spec::ProvisionSpec;

pub use lifecycle::SandboxLifecycle;

/// The `provision` workflow.
pub struct Provision {
    config: Arc<ProvisionConfig>,
}

impl Provision {
    pub fn new(config: ProvisionConfig) -> Provision {
        Provision {
            config: Arc::new(config),
        }
    }
}

#[async_trait]
impl Workflow for Provision {
    fn kind(&self) -> &'static str {
        "provision"
    }

    fn validate(&self, spec: &Value) -> Result<(), SpecError> {
        ProvisionSpec::parse(spec).map(|_| ())
    }

    async fn run(&self, job: &Job, spec: Value) -> Result<Value, StepError> {
        self.config.validate().map_err(StepError::permanent)?;
        let spec = ProvisionSpec::parse(&spec).map_err(StepError::permanent)?;
        provision(job, &self.config, &spec).await
    }
}

/// What `validate` found.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Validated {
    site: String,
    title: String,
    source_url: Option<String>,
}

/// What `reserve` stored (no secrets: those stay sealed in the registry).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reserved {
    names: Names,
    labels: Labels,
    admin_user: String,
    expires_at: DateTime<Utc>,
}

/// The Docker engine answers and both sandbox images are there (pulled when
/// `provision.pull_missing`); otherwise a permanent error saying what to do.
pub(crate) async fn check_engine(config: &ProvisionConfig) -> Result<(), StepError> {
    let docker = engine::connect(config).await?;
    for image in [&config.wordpress_image, &config.mariadb_image] {
        if !engine::image_present(&docker, image).await? {
            if config.pull_missing {
                engine::pull(&docker, image).await?;
            } else {
                return Err(StepError::Permanent(format!(
                    "image {image} is not in the Docker engine: build it (scripts/images/build.sh) \
                     or set provision.wordpress_image / provision.mariadb_image (or provision.pull_missing)"
                )));
            }
        }
    }
    Ok(())
}

async fn validate(config: &ProvisionConfig, spec: &ProvisionSpec) -> Result<Validated, StepError> {
    let bundle = match &spec.bundle {
        Some(dir) => Some(bundle::Bundle::open(Path::new(dir))?),
        None => None,
    };
    check_engine(config).await?;
    let source_url = bundle.as_ref().map(|b| b.manifest.site.url.clone());
    let host = source_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_string));
    let site = spec.site.clone().or(host).unwrap_or_else(|| "empty".into());
    let title = bundle
        .as_ref()
        .and_then(|b| b.manifest.site.name.clone())
        .unwrap_or_else(|| format!("Sandbox of {site}"));
    Ok(Validated {
        site,
        title,
        source_url,
    })
}

/// The provision steps in `job` (also run, scoped as `provision.*`, by the `onboard` kind).
pub(crate) async fn provision(
    job: &Job,
    config: &Arc<ProvisionConfig>,
    spec: &ProvisionSpec,
) -> Result<Value, StepError> {
    let started = Instant::now();
    let resources = job.resources();
    let (db, secrets) = (&resources.db, &resources.secrets);

    let validated: Validated = job
        .step("validate", |run| async move {
            let v = validate(config, spec).await?;
            run.progress(5.0, "bundle and images checked");
            Ok(v)
        })
        .await?;

    let reserved: Reserved = job
        .step("reserve", |run| {
            let validated = &validated;
            async move {
                let id = names::sandbox_id(job.id());
                let ttl = spec.ttl_hours.unwrap_or(config.default_ttl_hours);
                let expires_at = Utc::now() + chrono::Duration::hours(ttl as i64);
                let row = registry::reserve(
                    db,
                    secrets,
                    registry::NewSandbox {
                        id: &id,
                        job_id: job.id(),
                        owner: &config.owner,
                        site: &validated.site,
                        source_url: validated.source_url.as_deref(),
                        admin_user: &spec.admin_user,
                        wordpress_image: &config.wordpress_image,
                        mariadb_image: &config.mariadb_image,
                        expires_at,
                    },
                )
                .await?;
                run.progress(8.0, &format!("sandbox {id} reserved"));
                Ok(Reserved {
                    names: Names::new(&id),
                    labels: Labels {
                        sandbox: id.clone(),
                        owner: config.owner.clone(),
                        job: job.id(),
                        site: validated.site.clone(),
                        expires_at: row.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    },
                    admin_user: row.admin_user,
                    expires_at: row.expires_at,
                })
            }
        })
        .await?;
    let id = reserved.names.sandbox.clone();
    {
        let (config, db, id) = (config.clone(), db.clone(), id.clone());
        job.on_failure("reserve", move || async move {
            let docker = engine::connect(&config).await?;
            engine::remove_sandbox(&docker, &id).await?;
            registry::mark_ended(
                &db,
                &id,
                "failed",
                "provisioning failed; containers removed",
            )
            .await
        });
    }
    let names = &reserved.names;
    let labels = &reserved.labels;
    let docker = engine::connect(config).await?;
    let docker = &docker;

    job.step("network", |run| async move {
        let network =
            engine::ensure_network(docker, &names.network, labels.with_role("network")).await?;
        run.progress(12.0, "network ready");
        Ok(network)
    })
    .await?;

    let row = registry::get(db, &id).await?.ok_or_else(|| {
        StepError::Permanent(format!("sandbox {id} disappeared from the registry"))
    })?;
    let db_password = secrets
        .open(&row.db_password_sealed)
        .map_err(StepError::permanent)?;
    let admin_password = secrets
        .open(&row.admin_password_sealed)
        .map_err(StepError::permanent)?;

    let database: engine::ContainerRef = job
        .step("database", |run| {
            let db_password = &db_password;
            async move {
                let c =
                    containers::ensure_database(docker, config, names, labels, db_password).await?;
                run.progress(18.0, "database container started");
                Ok(c)
            }
        })
        .await?;

    let wordpress: containers::WordPressContainer = job
        .step("wordpress", |run| {
            let db_password = &db_password;
            async move {
                let c =
                    containers::ensure_wordpress(docker, db, config, names, labels, db_password)
                        .await?;
                run.progress(25.0, &format!("WordPress container on {}", c.url));
                Ok(c)
            }
        })
        .await?;
    let url = wordpress.url.clone();

    let readiness: ready::Readiness = job
        .step("ready", |run| {
            let url = &url;
            async move {
                let timeout = Duration::from_secs(config.ready_timeout_secs);
                let r = ready::wait(
                    docker,
                    &run,
                    &names.wp_container,
                    &names.db_container,
                    url,
                    timeout,
                )
                .await?;
                run.progress(50.0, "database and HTTP answer");
                Ok(r)
            }
        })
        .await?;

    let installed: install::Installed = job
        .step("install", |run| {
            let (url, admin_password, validated) = (&url, &admin_password, &validated);
            let id = &id;
            async move {
                let admin = install::Admin {
                    url,
                    title: &validated.title,
                    user: &spec.admin_user,
                    email: &spec.admin_email,
                    password: admin_password,
                };
                let (installed, app_password) =
                    install::install(docker, &names.wp_container, admin).await?;
                registry::set_app_password(db, secrets, id, &app_password).await?;
                run.progress(60.0, "WordPress installed");
                Ok(installed)
            }
        })
        .await?;

    let imported: Option<import::ImportReport> = job
        .step("import", |run| {
            let url = &url;
            async move {
                let Some(dir) = &spec.bundle else {
                    return Ok(None);
                };
                let bundle = bundle::Bundle::open(Path::new(dir))?;
                let report =
                    import::import(docker, &names.wp_container, &bundle, url, &spec.admin_user)
                        .await?;
                run.progress(95.0, "bundle imported");
                Ok(Some(report))
            }
        })
        .await?;

    let containers = json!({
        "network": names.network,
        "database": {"name": database.name, "id": database.id, "volume": names.db_volume},
        "wordpress": {"name": wordpress.container.name, "id": wordpress.container.id,
                      "port": wordpress.port},
    });
    let report = json!({
        "sandbox": id,
        "url": url,
        "site": validated.site,
        "admin_user": installed.admin_user,
        "admin_password": format!("understudy sandbox show {id} --reveal-password"),
        "expires_at": reserved.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "containers": containers,
        "readiness_ms": readiness,
        "import": imported,
    });
    job.step("record", |run| {
        let (containers, report, id) = (&containers, &report, &id);
        async move {
            registry::mark_ready(db, id, containers, report).await?;
            run.progress(
                100.0,
                &format!("sandbox ready at {}", report["url"].as_str().unwrap_or("")),
            );
            Ok(true)
        }
    })
    .await?;
    tracing::info!(sandbox = %id, url = %url, elapsed_ms = started.elapsed().as_millis() as u64, "sandbox ready");
    Ok(report)
}
