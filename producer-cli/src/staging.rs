//! `understudy site …` and `understudy staging …`: the site registry and clone jobs.

use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use understudy_worker::contract::{JobMessage, Priority};
use understudy_worker::producer::{Outgoing, Producer};
use understudy_worker::Settings;
use understudy_workflows::sites::backups;
use understudy_workflows::sites::registry::{self, RegistryError, SiteInput};
use understudy_workflows::sites::{DbUrl, SiteError};

use crate::cli::{
    AnonymizeArgs, CopyArgs, PromoteArgs, SiteAddArgs, SiteCommand, StagingArgs, StagingCommand,
    StagingDestroyArgs, StagingRefreshArgs,
};
use crate::commands::{check, pool, Failure, Outcome};
use crate::{output, watch};

fn registry_failure(e: RegistryError) -> Failure {
    match e {
        RegistryError::Site(SiteError::Unknown(_)) => Failure::NotFound(e.to_string()),
        RegistryError::Site(_) | RegistryError::Secrets(_) => Failure::Input(e.to_string()),
        RegistryError::Database(e) => e.into(),
    }
}

fn read_url(
    what: &'static str,
    inline: Option<&String>,
    file: Option<&Path>,
) -> Result<Option<DbUrl>, Failure> {
    let text = match (inline, file) {
        (Some(url), _) => url.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| {
                Failure::Input(format!("cannot read {what} file {}: {e}", path.display()))
            })?
            .trim()
            .to_string(),
        (None, None) => return Ok(None),
    };
    DbUrl::parse(what, &text)
        .map(Some)
        .map_err(|e| Failure::Input(e.to_string()))
}

pub async fn site(settings: &Settings, command: SiteCommand) -> Outcome {
    let pool = pool(settings).await?;
    understudy_worker::db::migrate(&pool).await?;
    match command {
        SiteCommand::Add(args) => add(settings, &pool, *args).await,
        SiteCommand::List { tag, json } => {
            let sites = registry::list(&pool, tag.as_deref())
                .await
                .map_err(registry_failure)?;
            if json {
                output::json(&sites);
            } else if sites.is_empty() {
                out!("no sites (add one with `understudy site add`)");
            } else {
                for s in &sites {
                    out!(
                        "{:<20} {:<32} {:<40} {}",
                        s.name,
                        s.production_url,
                        s.db_display,
                        s.tags.join(",")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SiteCommand::Show { name, json } => {
            let site = registry::get(&pool, &name)
                .await
                .map_err(registry_failure)?;
            let environment = registry::environment(&pool, &name).await?;
            if json {
                output::json(&json!({ "site": site, "staging": environment }));
            } else {
                out!("site            {}", site.name);
                out!(
                    "production      {}  db {}  uploads {}",
                    site.production_url,
                    site.db_display,
                    site.uploads_dir
                );
                out!(
                    "staging         {}  db {}  uploads {}",
                    site.staging_url,
                    site.staging_db_display,
                    site.staging_uploads_dir
                );
                out!("table prefix    {}", site.table_prefix);
                match environment {
                    Some(env) => out!(
                        "staging exists  refreshed {} by job {}",
                        env.refreshed_at.to_rfc3339(),
                        env.last_job
                    ),
                    None => out!("staging exists  no"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SiteCommand::Backups {
            name,
            removed,
            json,
        } => {
            let list = if removed {
                backups::of_removed(&pool, &name).await?
            } else {
                let site = registry::get(&pool, &name)
                    .await
                    .map_err(registry_failure)?;
                backups::of_site(&pool, site.id).await?
            };
            if json {
                output::json(&list);
            } else if list.is_empty() {
                out!("no backups of {name}");
            } else {
                for b in &list {
                    out!(
                        "{}  {:<11} {} bytes  {}  tables {}",
                        b.path,
                        serde_json::to_value(b.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        b.bytes,
                        b.created_at.format("%Y-%m-%d %H:%M UTC"),
                        b.tables.join(",")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SiteCommand::Remove {
            name,
            delete_backups,
        } => {
            if registry::environment(&pool, &name).await?.is_some() {
                return Err(Failure::Input(format!(
                    "site {name} still has a staging environment: run `understudy staging destroy {name} --wait` first"
                )));
            }
            let site = registry::get(&pool, &name)
                .await
                .map_err(registry_failure)?;
            let kept = backups::of_site(&pool, site.id).await?;
            let note = if kept.is_empty() {
                String::new()
            } else if delete_backups {
                for b in &kept {
                    match std::fs::remove_file(&b.path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(Failure::Input(format!(
                                "cannot delete backup {}: {e}; nothing was removed",
                                b.path
                            )))
                        }
                    }
                }
                backups::delete_of_site(&pool, site.id).await?;
                format!("; {} backup(s) deleted", kept.len())
            } else {
                let moved = keep_aside(settings, &site, &kept)?;
                backups::keep_removed(&pool, site.id, &moved).await?;
                format!(
                    "; {} backup(s) kept in {} (`understudy site backups {name} --removed`; they \
                     never load into another registration)",
                    kept.len(),
                    removed_dir(settings, &site).display()
                )
            };
            registry::remove(&pool, &name)
                .await
                .map_err(registry_failure)?;
            out!("site {name} removed{note}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `<data_dir>/backups/<site>.removed-<registration>`: where a removed site's backups are kept.
fn removed_dir(settings: &Settings, site: &registry::Site) -> std::path::PathBuf {
    settings.data_dir.join("backups").join(format!(
        "{}.removed-{}",
        site.name,
        &site.id.simple().to_string()[..12]
    ))
}

/// Moves a removed site's backup files out of `backups/<site>/`; returns (from, to) paths.
fn keep_aside(
    settings: &Settings,
    site: &registry::Site,
    kept: &[backups::Backup],
) -> Result<Vec<(String, String)>, Failure> {
    let dir = removed_dir(settings, site);
    let mut moved = Vec::new();
    for b in kept {
        let from = Path::new(&b.path);
        if !from.exists() {
            continue;
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| Failure::Input(format!("cannot create {}: {e}", dir.display())))?;
        let to = dir.join(from.file_name().unwrap_or_default());
        std::fs::rename(from, &to).map_err(|e| {
            Failure::Input(format!("cannot move backup {} aside: {e}", from.display()))
        })?;
        moved.push((b.path.clone(), to.display().to_string()));
    }
    Ok(moved)
}

async fn add(settings: &Settings, pool: &sqlx::PgPool, args: SiteAddArgs) -> Outcome {
    let db_url = read_url("database URL", args.db.as_ref(), args.db_file.as_deref())?
        .ok_or_else(|| Failure::Input("give --db or --db-file".into()))?;
    let staging_db_url = read_url(
        "staging database URL",
        args.staging_db.as_ref(),
        args.staging_db_file.as_deref(),
    )?;
    let input = SiteInput {
        name: args.name,
        production_url: args.url,
        db_url,
        uploads_dir: args.uploads,
        table_prefix: args.table_prefix,
        staging_url: args.staging_url,
        staging_db_url,
        staging_uploads_dir: args.staging_uploads,
        tags: args.tags,
        allow_same_url: args.allow_same_url,
        identities: None,
    };
    let input = input.resolve().map_err(|e| Failure::Input(e.to_string()))?;
    // Clone copies production's uploads from this directory: a typo would make every staging
    // copy an empty media library, so it must exist now (as the workers, which share this
    // machine's view of it, will read it).
    if !Path::new(&input.uploads_dir).is_dir() {
        return Err(Failure::Input(format!(
            "--uploads {}: no such directory; give production's wp-content/uploads directory",
            input.uploads_dir
        )));
    }
    // Ask the servers who the databases are, so that another spelling of production (or of
    // another site's database) is refused now; every job checks again before it writes.
    let input = match understudy_workflows::clone::guard::identify(input.clone()).await {
        Ok(identified) => identified,
        Err(e) => {
            eprintln!(
                "warning: could not ask the database servers who they are ({e}); the site is \
                 checked by its URLs now and by identity before every job"
            );
            input
        }
    };
    let secrets = settings
        .secret_box()
        .map_err(|e| Failure::Input(e.to_string()))?;
    let site = registry::add(pool, &secrets, input)
        .await
        .map_err(registry_failure)?;
    if args.json {
        output::json(&site);
    } else {
        out!(
            "site {} added: production {} ({}), staging {} ({}, uploads {})",
            site.name,
            site.production_url,
            site.db_display,
            site.staging_url,
            site.staging_db_display,
            site.staging_uploads_dir
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn clone_message(
    action: &str,
    site: &str,
    parallel_tables: usize,
    keep_options: &[String],
    anonymize: &AnonymizeArgs,
    copy: &CopyArgs,
) -> Result<JobMessage, Failure> {
    let mut spec = json!({ "action": action, "site": site, "parallel_tables": parallel_tables, "keep_options": keep_options });
    if copy.basic_auth || copy.no_basic_auth {
        if action == "destroy" {
            return Err(Failure::Input(
                "--basic-auth applies to `staging create` and `staging refresh`".into(),
            ));
        }
        spec["basic_auth"] = json!(copy.basic_auth);
    }
    if copy.no_template {
        spec["template"] = json!(false);
    }
    if copy.force_template {
        spec["force_template"] = json!(true);
    }
    if copy.checksum {
        spec["checksum"] = json!(true);
    }
    if copy.per_table_snapshot {
        spec["snapshot"] = json!("per-table");
    }
    if anonymize.anonymize {
        spec["anonymize"] = json!(true);
        if let Some(login) = &anonymize.keep_admin {
            spec["keep_admin"] = json!(login);
        }
    }
    clone_job(spec, site)
}

/// A clone job for `site`, checked as a worker would check it.
fn clone_job(spec: serde_json::Value, site: &str) -> Result<JobMessage, Failure> {
    let mut message = JobMessage::new("clone", spec);
    message.concurrency_key = Some(format!("site:{site}"));
    check(&message)?;
    Ok(message)
}

#[allow(clippy::too_many_arguments)]
async fn enqueue_one(
    settings: &Settings,
    action: &str,
    site: &str,
    parallel: usize,
    keep: &[String],
    anonymize: &AnonymizeArgs,
    copy: &CopyArgs,
    wait: bool,
    json: bool,
) -> Outcome {
    let message = clone_message(action, site, parallel, keep, anonymize, copy)?;
    enqueue_message(settings, site, message, wait, json).await
}

/// Publishes a clone job for a registered site; with `wait`, watches it.
async fn enqueue_message(
    settings: &Settings,
    site: &str,
    message: JobMessage,
    wait: bool,
    json: bool,
) -> Outcome {
    let pool = pool(settings).await?;
    understudy_worker::db::migrate(&pool).await?;
    registry::get(&pool, site).await.map_err(registry_failure)?;
    let producer = Producer::connect(settings, "understudy-cli").await?;
    let id = producer.publish_job(message, Priority::Interactive).await?;
    watch::finish(&pool, watch::Enqueued::new(id), wait, json).await
}

pub async fn staging(settings: &Settings, command: StagingCommand) -> Outcome {
    match command {
        StagingCommand::Create(StagingArgs {
            site,
            wait,
            parallel_tables,
            keep_options,
            anonymize,
            copy,
            json,
        }) => {
            enqueue_one(
                settings,
                "create",
                &site,
                parallel_tables,
                &keep_options,
                &anonymize,
                &copy,
                wait,
                json,
            )
            .await
        }
        StagingCommand::Destroy(StagingDestroyArgs { site, wait, json }) => {
            enqueue_one(
                settings,
                "destroy",
                &site,
                2,
                &[],
                &AnonymizeArgs::default(),
                &CopyArgs::default(),
                wait,
                json,
            )
            .await
        }
        StagingCommand::Refresh(args) => refresh(settings, args).await,
        StagingCommand::Promote(args) => promote(settings, args).await,
        StagingCommand::Restore {
            site,
            backup,
            tables,
            wait,
            json,
        } => {
            let backup = recorded_backup(settings, &site, &backup).await?;
            let mut spec = json!({ "action": "restore", "site": site, "backup": backup });
            if let Some(tables) = tables {
                spec["tables"] = json!(tables);
            }
            let message = clone_job(spec, &site)?;
            enqueue_message(settings, &site, message, wait, json).await
        }
        StagingCommand::Credentials { site, json } => credentials(settings, &site, json).await,
        StagingCommand::List { json } => {
            let pool = pool(settings).await?;
            understudy_worker::db::migrate(&pool).await?;
            let environments = registry::environments(&pool).await?;
            if json {
                output::json(&environments);
            } else if environments.is_empty() {
                out!("no staging environments");
            } else {
                for e in &environments {
                    out!(
                        "{:<20} {:<36} {:<40} refreshed {}",
                        e.site,
                        e.url,
                        e.db_display,
                        e.refreshed_at.format("%Y-%m-%d %H:%M")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn refresh(settings: &Settings, args: StagingRefreshArgs) -> Outcome {
    if let Some(site) = &args.site {
        return enqueue_one(
            settings,
            "refresh",
            site,
            args.parallel_tables,
            &args.keep_options,
            &args.anonymize,
            &args.copy,
            args.wait,
            args.json,
        )
        .await;
    }
    let pool = pool(settings).await?;
    understudy_worker::db::migrate(&pool).await?;
    let sites = registry::list(&pool, args.tag.as_deref())
        .await
        .map_err(registry_failure)?;
    let mut outgoing = Vec::new();
    let mut ids = Vec::new();
    for site in sites {
        if registry::environment(&pool, &site.name).await?.is_none() {
            continue;
        }
        let message = clone_message(
            "refresh",
            &site.name,
            args.parallel_tables,
            &args.keep_options,
            &args.anonymize,
            &args.copy,
        )?;
        let (id, message) = Outgoing::job(message, Priority::Bulk);
        ids.push(id);
        outgoing.push(message);
    }
    if !outgoing.is_empty() {
        let producer = Producer::connect(settings, "understudy-cli").await?;
        for chunk in outgoing.chunks(500) {
            producer.publish(chunk).await?;
        }
    }
    if args.wait {
        eprintln!(
            "enqueued {} refresh jobs; waiting for them to end",
            ids.len()
        );
        return watch::follow_all(&pool, &ids, args.json).await;
    }
    if args.json {
        output::json(&json!({ "enqueued": ids.len(), "job_ids": ids }));
    } else {
        for id in &ids {
            out!("{id}");
        }
        eprintln!("enqueued {} refresh jobs", ids.len());
    }
    Ok(ExitCode::SUCCESS)
}

async fn promote(settings: &Settings, args: PromoteArgs) -> Outcome {
    if args.include_live_tables && !args.yes {
        return Err(Failure::Input(
            "--include-live-tables overwrites users, comments and orders made on production since the staging copy; add --yes to confirm".into(),
        ));
    }
    let spec = json!({
        "action": "promote", "site": args.site, "tables": args.tables, "exclude": args.exclude,
        "include_live": args.include_live_tables,
    });
    let message = clone_job(spec, &args.site)?;
    enqueue_message(settings, &args.site, message, args.wait, args.json).await
}

/// The recorded path of the backup `given` names: the same file spelled relative to the
/// current directory, through a symlink or by its file name alone. A file that is not one of
/// the site's recorded backups is refused here, before any job exists.
async fn recorded_backup(settings: &Settings, site: &str, given: &str) -> Result<String, Failure> {
    let pool = pool(settings).await?;
    understudy_worker::db::migrate(&pool).await?;
    let record = registry::get(&pool, site).await.map_err(registry_failure)?;
    let recorded = backups::of_site(&pool, record.id).await?;
    let lexical = std::path::absolute(given)
        .map_err(|e| Failure::Input(format!("--backup {given:?}: {e}")))?;
    let real = std::fs::canonicalize(&lexical).ok();
    let bare_name = !given.contains('/');
    let matches = |path: &str| {
        let path = std::path::Path::new(path);
        path == lexical
            || (real.is_some() && std::fs::canonicalize(path).ok() == real)
            || (bare_name && path.file_name().is_some_and(|n| n == given))
    };
    match recorded.iter().filter(|b| matches(&b.path)).collect::<Vec<_>>()[..] {
        [one] => Ok(one.path.clone()),
        // Another site's (or a removed registration's) backup: the job's validation says whose
        // it is and refuses it without touching anything.
        [] if backups::by_path(&pool, &lexical.display().to_string())
            .await?
            .is_some() =>
        {
            Ok(lexical.display().to_string())
        }
        [] => Err(Failure::Input(format!(
            "--backup {given}: not a recorded backup of site {site}{} (`understudy site backups {site}` lists them)",
            if real.is_none() && !bare_name { ": no such file" } else { "" }
        ))),
        _ => Err(Failure::Input(format!(
            "--backup {given} names more than one backup of site {site}; give its full path (`understudy site backups {site}`)"
        ))),
    }
}

/// `staging credentials SITE`: opens the sealed basic-auth password (the only place it is shown).
async fn credentials(settings: &Settings, site: &str, json: bool) -> Outcome {
    use secrecy::ExposeSecret;
    let pool = pool(settings).await?;
    understudy_worker::db::migrate(&pool).await?;
    registry::get(&pool, site).await.map_err(registry_failure)?;
    let Some((user, sealed)) = registry::basic_auth(&pool, site).await? else {
        return Err(Failure::NotFound(format!(
            "site {site} has no staging basic auth: `understudy staging refresh {site} --basic-auth` adds it"
        )));
    };
    let secrets = settings
        .secret_box()
        .map_err(|e| Failure::Input(e.to_string()))?;
    let password = secrets
        .open(&sealed)
        .map_err(|e| Failure::Input(e.to_string()))?;
    if json {
        output::json(&json!({ "site": site, "user": user, "password": password.expose_secret() }));
    } else {
        out!("user: {user}\npassword: {}", password.expose_secret());
    }
    Ok(ExitCode::SUCCESS)
}
