//! The staging environment's life: what `validate` checks before anything is written, how the
//! copy is hardened and swapped in, and how `destroy` removes it. Every drop, rename and
//! removal checks the object's ownership mark first (see [`super::ownership`]).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

use super::harden::{self, Hardening};
use super::ownership::{self, Mark, Owner, Presence, Role};
use super::plan::{self, Plan};
use super::spec::{Action, CloneSpec};
use super::{guard, mysql, postgres, uploads};
use crate::sites::registry::{self, RegistryError};
use crate::sites::{DbEngine, DbUrl, Site, SiteError};
use crate::{Job, StepError};

pub fn registry_error(error: RegistryError) -> StepError {
    match error {
        RegistryError::Database(e) => StepError::Retryable(format!("site registry: {e}")),
        other => StepError::Permanent(other.to_string()),
    }
}

/// A registered site with its production and staging database URLs opened.
pub async fn site_and_urls(job: &Job, name: &str) -> Result<(Site, DbUrl, DbUrl), StepError> {
    let resources = job.resources();
    let site = registry::get(&resources.db, name)
        .await
        .map_err(registry_error)?;
    let production = site.db_url(&resources.secrets).map_err(registry_error)?;
    let staging = site
        .staging_db_url(&resources.secrets)
        .map_err(registry_error)?;
    Ok((site, production, staging))
}

/// Checks everything that can be checked before writing: refuses to touch production, to
/// create over an existing staging database, or to refresh what does not exist.
pub async fn validate(
    job: &Job,
    spec: &CloneSpec,
    site: &Site,
    source: &DbUrl,
    staging: &DbUrl,
) -> Result<Plan, StepError> {
    if source.same_database(staging) {
        return Err(StepError::Permanent(format!(
            "refusing to clone: the staging database {} is the production database",
            staging.display()
        )));
    }
    let db = &job.resources().db;
    guard::verify(db, site, source, staging).await?;
    guard::mu_plugins_dir(db, site).await?;
    let existing = registry::environment(db, &site.name)
        .await
        .map_err(StepError::retryable)?;
    match (spec.action, &existing) {
        (Action::Create, Some(env)) => {
            return Err(StepError::Permanent(format!(
            "site {} already has a staging environment ({}): use `understudy staging refresh {}`",
            site.name, env.url, site.name
        )))
        }
        (Action::Refresh, None) => {
            return Err(StepError::Permanent(format!(
                "site {} has no staging environment yet: use `understudy staging create {}`",
                site.name, site.name
            )))
        }
        _ => {}
    }
    let options = format!("{}options", site.table_prefix);
    let missing_wordpress = |e: &dyn std::fmt::Display| {
        StepError::Permanent(format!(
            "{} has no readable table {options} ({e}): is it a WordPress database with table prefix {:?}?",
            source.display(),
            site.table_prefix
        ))
    };
    let mut sequences = Vec::new();
    let (tables, urls) = match site.db_engine {
        DbEngine::Postgres => {
            let pool = postgres::connect(source).await?;
            let urls: Vec<(String, String)> = sqlx::query_as(&format!(
                "SELECT option_name::text, option_value::text FROM {} WHERE option_name IN ('siteurl', 'home')",
                postgres::quote_table("public", &options)
            ))
            .fetch_all(&pool)
            .await
            .map_err(|e| missing_wordpress(&e))?;
            let tables = postgres::tables(&pool)
                .await
                .map_err(|e| postgres::classify(&source.display(), e))?;
            sequences = postgres::owned_sequences(&pool)
                .await
                .map_err(|e| postgres::classify(&source.display(), e))?;
            pool.close().await;
            (tables, urls)
        }
        DbEngine::Mysql => {
            let pool = mysql::connect(source).await?;
            let urls: Vec<(String, String)> = sqlx::query_as(&format!(
                "SELECT CAST(option_name AS CHAR), CAST(option_value AS CHAR) FROM {} WHERE option_name IN ('siteurl', 'home')",
                mysql::quote_ident(&options)
            ))
            .fetch_all(&pool)
            .await
            .map_err(|e| missing_wordpress(&e))?;
            let tables = mysql::tables(&pool, &source.database)
                .await
                .map_err(|e| mysql::classify(&source.display(), e))?
                .into_iter()
                .map(|(t, bytes)| (String::new(), t, bytes))
                .collect();
            pool.close().await;
            (tables, urls)
        }
    };
    // The live staging copy is replaced at the end: it must be this site's (or not exist).
    let staging_db = ownership::database(db, staging).await?;
    let what = format!("the staging database {}", staging.display());
    match (spec.action, &staging_db) {
        (_, Presence::Unmarked) => {
            return Err(StepError::Permanent(format!(
                "{what} exists but Understudy did not make it (no ownership mark): it is never \
                 overwritten; choose another staging database for site {} (--staging-db)",
                site.name
            )))
        }
        (Action::Create, Presence::Marked(mark)) if mark.site == site.name => {
            return Err(StepError::Permanent(format!(
                "{what} already exists but no staging environment is recorded: run \
                 `understudy staging destroy {}` first",
                site.name
            )))
        }
        (_, found) => {
            ownership::check(found, Owner::Site(&site.name), &what)?;
        }
    }
    let staging_uploads = Path::new(&site.staging_uploads_dir);
    let found = ownership::directory(staging_uploads).map_err(|e| {
        StepError::Permanent(format!("cannot read {}: {e}", staging_uploads.display()))
    })?;
    if !(found == Presence::Unmarked && uploads::is_empty_dir(staging_uploads)) {
        ownership::check(
            &found,
            Owner::Site(&site.name),
            &format!(
                "the staging uploads directory {}",
                staging_uploads.display()
            ),
        )?;
    }
    let (tables, not_copied) = plan::scope(&site.table_prefix, tables);
    let not_copied_sequences = sequences
        .into_iter()
        .filter(|(_, table)| not_copied.contains(table))
        .map(|(sequence, _)| sequence)
        .collect();
    for (_, table, _) in &tables {
        plan::check_table_name(table)?;
    }
    let get = |name: &str| urls.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    Ok(Plan {
        incoming_db: plan::incoming_name(&staging.database, job.id()),
        incoming_uploads: format!(
            "{}.incoming-{}",
            site.staging_uploads_dir,
            plan::job_tag(job.id())
        ),
        tables,
        siteurl: get("siteurl"),
        home: get("home"),
        not_copied,
        not_copied_sequences,
    })
}

/// Applies the hardening statements to the incoming copy and writes the must-use plugin.
pub async fn harden(
    db: &sqlx::PgPool,
    site: &Site,
    incoming: &DbUrl,
) -> Result<Hardening, StepError> {
    let options = format!("{}options", site.table_prefix);
    let mut report = Hardening::default();
    let affected: Vec<(&str, u64)> = match site.db_engine {
        DbEngine::Postgres => {
            let pool = postgres::connect(incoming).await?;
            let mut counts = Vec::new();
            let fail = |e| postgres::classify(&incoming.display(), e);
            for (what, update, count) in
                harden::statements(&postgres::quote_table("public", &options))
            {
                sqlx::query(&update).execute(&pool).await.map_err(fail)?;
                let n: i64 = sqlx::query_scalar(&count)
                    .fetch_one(&pool)
                    .await
                    .map_err(fail)?;
                counts.push((what, n as u64));
            }
            pool.close().await;
            counts
        }
        DbEngine::Mysql => {
            let pool = mysql::connect(incoming).await?;
            let mut counts = Vec::new();
            let fail = |e| mysql::classify(&incoming.display(), e);
            for (what, update, count) in harden::statements(&mysql::quote_ident(&options)) {
                sqlx::query(&update).execute(&pool).await.map_err(fail)?;
                let n: i64 = sqlx::query_scalar(&count)
                    .fetch_one(&pool)
                    .await
                    .map_err(fail)?;
                counts.push((what, n as u64));
            }
            pool.close().await;
            counts
        }
    };
    for (what, n) in affected {
        match what {
            "blog_public_off" => report.blog_public_off = n,
            "title_marked" => report.title_marked = n,
            "cron_emptied" => report.cron_emptied = n,
            _ => report.secret_options_cleared = n,
        }
    }
    let plugins = guard::mu_plugins_dir(db, site).await?;
    match plugins.map(|dir| harden::write_mu_plugin(&dir)) {
        Some(Ok(path)) => report.mu_plugin = Some(path),
        None => report.notes.push(
            "staging uploads dir is not <wp-content>/uploads: mail/cron guard plugin not installed; \
             set DISABLE_WP_CRON and a mail trap in the staging wp-config.php"
                .into(),
        ),
        Some(Err(e)) => report.notes.push(format!("could not write the staging guard plugin: {e}")),
    }
    report
        .notes
        .push("set define('WP_ENVIRONMENT_TYPE', 'staging') in the staging wp-config.php".into());
    Ok(report)
}

/// Puts the incoming database and uploads in place of the live staging ones. Repeatable: a
/// resumed swap finishes what a crashed one began. Only this job's incoming copy and this site's
/// marked staging copy are renamed or dropped.
pub async fn swap(
    job: &Job,
    site: &Site,
    staging: &DbUrl,
    incoming: &DbUrl,
    incoming_uploads: &Path,
) -> Result<(), StepError> {
    let mine = Owner::Job {
        site: &site.name,
        job: job.id(),
    };
    let ours = Owner::Site(&site.name);
    let staging_mark = Mark::new(&site.name, job.id(), Role::Staging);
    let db = &job.resources().db;
    let park = plan::park_name(&incoming.database);
    let what = |db: &str| format!("database {db} on {}", staging.display());
    match site.db_engine {
        DbEngine::Postgres => {
            let admin = postgres::admin(staging).await?;
            let fail = |e| postgres::classify(&staging.display(), e);
            let found = ownership::pg_database(&admin, &incoming.database)
                .await
                .map_err(fail)?;
            if ownership::check(&found, mine, &what(&incoming.database))? {
                let live = ownership::pg_database(&admin, &staging.database)
                    .await
                    .map_err(fail)?;
                if ownership::check(&live, ours, &what(&staging.database))? {
                    let parked = ownership::pg_database(&admin, &park).await.map_err(fail)?;
                    if ownership::check(&parked, ours, &what(&park))? {
                        postgres::drop_database(&admin, &park).await.map_err(fail)?;
                    }
                    postgres::rename_database(&admin, &staging.database, &park)
                        .await
                        .map_err(fail)?;
                }
                postgres::rename_database(&admin, &incoming.database, &staging.database)
                    .await
                    .map_err(fail)?;
            }
            let live = ownership::pg_database(&admin, &staging.database)
                .await
                .map_err(fail)?;
            if ownership::check(&live, ours, &what(&staging.database))? {
                ownership::pg_mark_database(&admin, &staging.database, &staging_mark)
                    .await
                    .map_err(fail)?;
            }
            let parked = ownership::pg_database(&admin, &park).await.map_err(fail)?;
            if ownership::check(&parked, ours, &what(&park))? {
                postgres::drop_database(&admin, &park).await.map_err(fail)?;
            }
            admin.close().await;
        }
        DbEngine::Mysql => {
            let admin = mysql::admin(staging).await?;
            let fail = |e| mysql::classify(&staging.display(), e);
            let found = ownership::mysql_database(&admin, &incoming.database)
                .await
                .map_err(fail)?;
            if ownership::check(&found, mine, &what(&incoming.database))? {
                // Tables still in the incoming database: the move has not happened yet.
                let moving = !mysql::tables(&admin, &incoming.database)
                    .await
                    .map_err(fail)?
                    .is_empty();
                if moving {
                    let live = ownership::mysql_database(&admin, &staging.database)
                        .await
                        .map_err(fail)?;
                    let live = ownership::with_intent(db, staging, live).await?;
                    if !ownership::check(&live, ours, &what(&staging.database))? {
                        ownership::intend(db, staging, &staging_mark).await?;
                        mysql::create_database(&admin, &staging.database, &incoming.database)
                            .await
                            .map_err(fail)?;
                    }
                    ownership::mysql_mark_database(&admin, &staging.database, &staging_mark)
                        .await
                        .map_err(fail)?;
                    ownership::fulfilled(db, staging).await?;
                    // Views cannot be renamed into another database: the `views` step after
                    // the swap makes the new copy's.
                    super::views::drop_all(&admin, &staging.database)
                        .await
                        .map_err(fail)?;
                    let park_url = staging.with_database(&park);
                    ownership::drop_database(db, &park_url, ours).await?;
                    let park_mark = Mark::new(&site.name, job.id(), Role::Park);
                    ownership::create_marked_database(
                        db,
                        &park_url,
                        &incoming.database,
                        &park_mark,
                        ours,
                    )
                    .await?;
                    mysql::move_tables(&admin, &incoming.database, &staging.database, Some(&park))
                        .await
                        .map_err(fail)?;
                }
                mysql::drop_database(&admin, &incoming.database)
                    .await
                    .map_err(fail)?;
            }
            admin.close().await;
            ownership::drop_database(db, &staging.with_database(&park), ours).await?;
        }
    }
    uploads::swap(
        incoming_uploads,
        Path::new(&site.staging_uploads_dir),
        &site.name,
        job.id(),
    )
}

/// Compensation: drops the incoming database this job made (checked by its mark).
pub async fn drop_incoming(
    db: &sqlx::PgPool,
    job_id: uuid::Uuid,
    site: &str,
    url: &DbUrl,
) -> Result<(), StepError> {
    ownership::drop_database(db, url, Owner::Job { site, job: job_id })
        .await
        .map(|_| ())
}

/// `destroy`: `validate` (identities, and that what is there is this site's marked staging),
/// then staging database, uploads copy and environment record, each a step. Nothing that
/// Understudy did not make and mark for this site is removed: an unmarked staging database or
/// directory fails the job with the reason, and a site with no staging at all ends at once.
pub async fn destroy(job: &Job, spec: &CloneSpec) -> Result<Value, StepError> {
    let resources = job.resources();
    let site = registry::get(&resources.db, &spec.site)
        .await
        .map_err(|e| match e {
            RegistryError::Site(SiteError::Unknown(name)) => StepError::Permanent(format!(
                "site {name:?} is not registered; nothing to destroy"
            )),
            other => registry_error(other),
        })?;
    let source = site.db_url(&resources.secrets).map_err(registry_error)?;
    let staging = site
        .staging_db_url(&resources.secrets)
        .map_err(registry_error)?;
    if source.same_database(&staging) {
        return Err(StepError::Permanent(
            "refusing to destroy: staging database is production".into(),
        ));
    }
    let dir = PathBuf::from(&site.staging_uploads_dir);
    let found: (bool, bool) = job
        .step("validate", |_run| {
            let (site, source, staging, dir) = (&site, &source, &staging, &dir);
            async move {
                guard::verify(&resources.db, site, source, staging).await?;
                let ours = Owner::Site(&site.name);
                let db = ownership::database(&resources.db, staging).await?;
                let db = ownership::check(
                    &db,
                    ours,
                    &format!("the staging database {}", staging.display()),
                )?;
                let files = ownership::directory(dir).map_err(|e| {
                    StepError::Permanent(format!("cannot read {}: {e}", dir.display()))
                })?;
                let files = ownership::check(
                    &files,
                    ours,
                    &format!("the staging uploads directory {}", dir.display()),
                )?;
                Ok((db, files))
            }
        })
        .await?;
    job.step("destroy-database", |run| {
        let (site, staging) = (&site, &staging);
        async move {
            let dropped =
                ownership::drop_database(&resources.db, staging, Owner::Site(&site.name)).await?;
            run.progress(
                50.0,
                if dropped {
                    "staging database dropped"
                } else {
                    "no staging database"
                },
            );
            Ok(dropped)
        }
    })
    .await?;
    job.step("destroy-uploads", |run| {
        let (site, dir) = (&site, &dir);
        async move {
            let removed = ownership::remove_directory(dir, Owner::Site(&site.name))?;
            run.progress(90.0, "staging uploads removed");
            Ok(removed)
        }
    })
    .await?;
    job.step("forget", |run| async move {
        registry::forget_environment(&resources.db, &spec.site)
            .await
            .map_err(StepError::retryable)?;
        run.progress(100.0, "staging environment destroyed");
        Ok(true)
    })
    .await?;
    let (database, uploads) = found;
    Ok(json!({ "site": site.name, "destroyed": {
        "database": database.then_some(&site.staging_db_display),
        "uploads_dir": uploads.then_some(&site.staging_uploads_dir) } }))
}
