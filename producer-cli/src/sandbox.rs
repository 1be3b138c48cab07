//! `understudy provision` and `understudy sandbox list|show|destroy|reap`: sandboxes on Docker.

use secrecy::ExposeSecret;
use serde_json::json;
use std::process::ExitCode;
use understudy_worker::contract::{JobMessage, Priority};
use understudy_worker::producer::Producer;
use understudy_worker::Settings;
use understudy_workflows::provision::registry::{self, Sandbox};

use crate::cli::{ProvisionArgs, SandboxCommand};
use crate::commands::{check, pool, Failure, Outcome};
use crate::{output, watch};

fn step_failure(e: understudy_workflows::StepError) -> Failure {
    Failure::Other(anyhow::anyhow!("{e}"))
}

/// Publishes `message`; with `wait`, watches the job to its end.
async fn publish(settings: &Settings, message: JobMessage, wait: bool, json: bool) -> Outcome {
    check(&message)?;
    let pool = pool(settings).await?;
    understudy_worker::db::migrate(&pool).await?;
    let producer = Producer::connect(settings, "understudy-cli").await?;
    let id = producer.publish_job(message, Priority::Interactive).await?;
    watch::finish(&pool, watch::Enqueued::new(id), wait, json).await
}

pub async fn provision(settings: &Settings, args: ProvisionArgs) -> Outcome {
    let bundle = match &args.bundle {
        Some(dir) => {
            let dir = std::fs::canonicalize(dir)
                .map_err(|e| Failure::Input(format!("bundle {}: {e}", dir.display())))?;
            if !dir.join("manifest.json").is_file() {
                return Err(Failure::Input(format!(
                    "{} has no manifest.json: not a complete export bundle",
                    dir.display()
                )));
            }
            Some(dir.display().to_string())
        }
        None => None,
    };
    let spec = json!({
        "bundle": bundle,
        "site": args.site,
        "ttl_hours": args.ttl_hours,
        "admin_user": args.admin_user,
    });
    let mut message = JobMessage::new("provision", spec);
    message.job_id = args.job_id;
    publish(settings, message, args.wait, args.json).await
}

fn summary(s: &Sandbox) -> serde_json::Value {
    json!({
        "id": s.id, "state": s.state, "url": s.url, "site": s.site,
        "admin_user": s.admin_user, "expires_at": s.expires_at, "job_id": s.job_id,
        "created_at": s.created_at, "ended_at": s.ended_at, "end_reason": s.end_reason,
    })
}

pub async fn sandbox(settings: &Settings, command: SandboxCommand) -> Outcome {
    match command {
        SandboxCommand::List { all, json } => {
            let pool = pool(settings).await?;
            understudy_worker::db::migrate(&pool).await?;
            let sandboxes = registry::list(&pool, !all).await.map_err(step_failure)?;
            if json {
                output::json(&sandboxes.iter().map(summary).collect::<Vec<_>>());
            } else if sandboxes.is_empty() {
                out!("no sandboxes (understudy provision --bundle DIR makes one)");
            } else {
                out!(
                    "{:<16} {:<12} {:<28} {:<20} expires",
                    "id",
                    "state",
                    "url",
                    "site"
                );
                for s in &sandboxes {
                    out!(
                        "{:<16} {:<12} {:<28} {:<20} {}",
                        s.id,
                        s.state,
                        s.url.as_deref().unwrap_or("-"),
                        s.site,
                        s.expires_at.to_rfc3339()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::Show {
            id,
            reveal_password,
            json,
        } => {
            let pool = pool(settings).await?;
            understudy_worker::db::migrate(&pool).await?;
            let sandbox = registry::get(&pool, &id)
                .await
                .map_err(step_failure)?
                .ok_or_else(|| {
                    Failure::NotFound(format!("no sandbox {id} (see understudy sandbox list)"))
                })?;
            let mut view = summary(&sandbox);
            view["containers"] = sandbox.containers.clone();
            view["report"] = sandbox.report.clone();
            if reveal_password {
                let secrets = settings
                    .secret_box()
                    .map_err(|e| Failure::Input(e.to_string()))?;
                let open = |sealed: &[u8]| {
                    secrets
                        .open(sealed)
                        .map(|s| s.expose_secret().to_string())
                        .map_err(|e| Failure::Other(anyhow::anyhow!("{e}")))
                };
                view["admin_password"] = json!(open(&sandbox.admin_password_sealed)?);
                if let Some(app) = &sandbox.app_password_sealed {
                    view["app_password"] = json!(open(app)?);
                }
            }
            if json {
                output::json(&view);
            } else {
                for (key, value) in view.as_object().into_iter().flatten() {
                    if !value.is_object() {
                        out!(
                            "{key:<15} {}",
                            value
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| value.to_string())
                        );
                    }
                }
                if !reveal_password {
                    out!(
                        "{:<15} hidden (--reveal-password shows it)",
                        "admin_password"
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::Destroy { id, wait, json } => {
            // An unknown or already destroyed sandbox is answered here: no job is made for it.
            let pool = pool(settings).await?;
            understudy_worker::db::migrate(&pool).await?;
            let sandbox = registry::get(&pool, &id)
                .await
                .map_err(step_failure)?
                .ok_or_else(|| {
                    Failure::NotFound(format!(
                        "no sandbox {id} (see understudy sandbox list --all); nothing was destroyed"
                    ))
                })?;
            if sandbox.ended_at.is_some() {
                if json {
                    output::json(&json!({ "sandbox": id, "state": sandbox.state, "job_id": null }));
                } else {
                    out!(
                        "sandbox {id} already ended ({}); nothing to destroy",
                        sandbox.state
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let mut message = JobMessage::new("sandbox", json!({"action": "destroy", "id": id}));
            message.concurrency_key = Some(format!("sandbox:{id}"));
            publish(settings, message, wait, json).await
        }
        SandboxCommand::Reap { now, wait, json } => {
            let spec = match now {
                Some(now) => json!({"action": "reap", "now": now}),
                None => json!({"action": "reap"}),
            };
            let mut message = JobMessage::new("sandbox", spec);
            message.concurrency_key = Some("sandbox:reap".into());
            publish(settings, message, wait, json).await
        }
    }
}
