//! The staging environment's life: what `validate` checks before anything is written, how the
//! copy is hardened and swapped in, and how `destroy` removes it.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

use super::harden::{self, Hardening};
use super::plan::{self, Plan};
use super::spec::{Action, CloneSpec};
use super::{mysql, postgres};
use crate::sites::registry::{self, RegistryError};
use crate::sites::{DbEngine, DbUrl, Site, SiteError};
use crate::{Job, StepError};

pub fn registry_error(error: RegistryError) -> StepError {
    match error {
        RegistryError::Database(e) => StepError::Retryable(format!("site registry: {e}")),
        other => StepError::Permanent(other.to_string()),
    }
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
    let (tables, urls, staging_exists) = match site.db_engine {
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
            pool.close().await;
            let admin = postgres::admin(staging).await?;
            let exists = postgres::database_exists(&admin, &staging.database)
                .await
                .map_err(|e| postgres::classify(&staging.display(), e))?;
            admin.close().await;
            (tables, urls, exists)
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
            let admin = mysql::admin(staging).await?;
            let exists = mysql::database_exists(&admin, &staging.database)
                .await
                .map_err(|e| mysql::classify(&staging.display(), e))?;
            admin.close().await;
            (tables, urls, exists)
        }
    };
    if spec.action == Action::Create && staging_exists {
        return Err(StepError::Permanent(format!(
            "the staging database {} already exists but no staging environment is recorded: \
             drop it or run `understudy staging destroy {}` first",
            staging.display(),
            site.name
        )));
    }
    for (_, table, _) in &tables {
        plan::check_table_name(table)?;
    }
    let get = |name: &str| urls.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    Ok(Plan {
        incoming_db: plan::incoming_name(&staging.database, job.id()),
        incoming_uploads: format!(
            "{}.incoming-{}",
            site.staging_uploads_dir,
            &job.id().simple().to_string()[..8]
        ),
        tables,
        siteurl: get("siteurl"),
        home: get("home"),
    })
}

/// Applies the hardening statements to the incoming copy and writes the must-use plugin.
pub async fn harden(site: &Site, incoming: &DbUrl) -> Result<Hardening, StepError> {
    let options = format!("{}options", site.table_prefix);
    let mut report = Hardening::default();
    let affected: Vec<(&str, u64)> = match site.db_engine {
        DbEngine::Postgres => {
            let pool = postgres::connect(incoming).await?;
            let mut counts = Vec::new();
            for (what, sql) in harden::statements(&postgres::quote_table("public", &options)) {
                let done = sqlx::query(&sql)
                    .execute(&pool)
                    .await
                    .map_err(|e| postgres::classify(&incoming.display(), e))?;
                counts.push((what, done.rows_affected()));
            }
            pool.close().await;
            counts
        }
        DbEngine::Mysql => {
            let pool = mysql::connect(incoming).await?;
            let mut counts = Vec::new();
            for (what, sql) in harden::statements(&mysql::quote_ident(&options)) {
                let done = sqlx::query(&sql)
                    .execute(&pool)
                    .await
                    .map_err(|e| mysql::classify(&incoming.display(), e))?;
                counts.push((what, done.rows_affected()));
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
    match harden::write_mu_plugin(Path::new(&site.staging_uploads_dir)) {
        Ok(Some(path)) => report.mu_plugin = Some(path),
        Ok(None) => report.notes.push(
            "staging uploads dir is not <wp-content>/uploads: mail/cron guard plugin not installed; \
             set DISABLE_WP_CRON and a mail trap in the staging wp-config.php"
                .into(),
        ),
        Err(e) => report.notes.push(format!("could not write the staging guard plugin: {e}")),
    }
    report
        .notes
        .push("set define('WP_ENVIRONMENT_TYPE', 'staging') in the staging wp-config.php".into());
    Ok(report)
}

/// Puts the incoming database and uploads in place of the live staging ones. Repeatable.
pub async fn swap(
    action: Action,
    site: &Site,
    staging: &DbUrl,
    incoming: &DbUrl,
    incoming_uploads: &Path,
) -> Result<(), StepError> {
    let park = format!("{}_old", incoming.database);
    match site.db_engine {
        DbEngine::Postgres => {
            let admin = postgres::admin(staging).await?;
            let fail = |e| postgres::classify(&staging.display(), e);
            if postgres::database_exists(&admin, &incoming.database)
                .await
                .map_err(fail)?
            {
                if postgres::database_exists(&admin, &staging.database)
                    .await
                    .map_err(fail)?
                {
                    postgres::rename_database(&admin, &staging.database, &park)
                        .await
                        .map_err(fail)?;
                }
                postgres::rename_database(&admin, &incoming.database, &staging.database)
                    .await
                    .map_err(fail)?;
            }
            postgres::drop_database(&admin, &park).await.map_err(fail)?;
            admin.close().await;
        }
        DbEngine::Mysql => {
            let admin = mysql::admin(staging).await?;
            let fail = |e| mysql::classify(&staging.display(), e);
            if mysql::database_exists(&admin, &incoming.database)
                .await
                .map_err(fail)?
            {
                mysql::create_database(&admin, &staging.database, &incoming.database)
                    .await
                    .map_err(fail)?;
                mysql::create_database(&admin, &park, &incoming.database)
                    .await
                    .map_err(fail)?;
                mysql::move_tables(&admin, &incoming.database, &staging.database, Some(&park))
                    .await
                    .map_err(fail)?;
                mysql::drop_database(&admin, &incoming.database)
                    .await
                    .map_err(fail)?;
            }
            mysql::drop_database(&admin, &park).await.map_err(fail)?;
            admin.close().await;
        }
    }
    super::uploads::swap(incoming_uploads, Path::new(&site.staging_uploads_dir)).map_err(|e| {
        StepError::Permanent(format!(
            "swapping uploads into {} ({action:?}): {e}",
            site.staging_uploads_dir
        ))
    })
}

/// Compensation: drops a database made by this job (never production: checked in validate).
pub async fn drop_database(url: &DbUrl) -> Result<(), StepError> {
    match url.engine {
        DbEngine::Postgres => {
            let admin = postgres::admin(url).await?;
            postgres::drop_database(&admin, &url.database)
                .await
                .map_err(|e| postgres::classify(&url.display(), e))?;
            admin.close().await;
        }
        DbEngine::Mysql => {
            let admin = mysql::admin(url).await?;
            mysql::drop_database(&admin, &url.database)
                .await
                .map_err(|e| mysql::classify(&url.display(), e))?;
            admin.close().await;
        }
    }
    Ok(())
}

/// `destroy`: staging database, uploads copy and environment record, each a step.
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
    job.step("destroy-database", |run| {
        let staging = &staging;
        async move {
            drop_database(staging).await?;
            run.progress(50.0, "staging database dropped");
            Ok(true)
        }
    })
    .await?;
    job.step("destroy-uploads", |run| {
        let dir = PathBuf::from(&site.staging_uploads_dir);
        async move {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| {
                    StepError::Permanent(format!("removing {}: {e}", dir.display()))
                })?;
            }
            run.progress(90.0, "staging uploads removed");
            Ok(true)
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
    Ok(json!({ "site": site.name, "destroyed": {
        "database": site.staging_db_display, "uploads_dir": site.staging_uploads_dir } }))
}
