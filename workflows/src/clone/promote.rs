//! Promote (staging → production) and restore, done safely.
//!
//! `validate` → `backup` (production, kept, restorable with `understudy staging restore`) →
//! `load:<table>` (staging rows, URLs rewritten staging → production, into a side schema of the
//! production database on PostgreSQL, a side database on MySQL) → `keep-options` (production's
//! own values for site URL, indexing, cron and secret options) → `swap` (PostgreSQL: one
//! transaction that empties and refills each table; MySQL: one atomic `RENAME TABLE`), so
//! production is never half-written. Tables that change on production (users, comments, orders)
//! are left out unless asked for, and reported as warnings when included.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

use super::copy_pg::{rewrite_error, stopped};
use super::harden::{SECRET_OPTIONS, SECRET_OPTION_PATTERNS};
use super::mysql::{self, Credentials};
use super::remap::CopySchemaRemap;
use super::spec::CloneSpec;
use super::{environment, plan, postgres, process};
use crate::rewrite::{MysqlDumpRewriter, PgCopyRewriter};
use crate::sites::{registry, DbEngine, DbUrl, Site};
use crate::{Job, StepError};

/// Tables (without prefix) whose rows appear on production all the time.
pub const LIVE_TABLES: &[&str] = &[
    "users",
    "usermeta",
    "comments",
    "commentmeta",
    "wc_orders",
    "wc_orders_meta",
    "wc_order_addresses",
    "wc_order_operational_data",
    "woocommerce_order_items",
    "woocommerce_order_itemmeta",
    "wc_customer_lookup",
    "wc_order_stats",
    "wc_order_product_lookup",
];

/// Options whose production values survive a promote.
const PRODUCTION_OPTIONS: &[&str] = &[
    "siteurl",
    "home",
    "blog_public",
    "blogname",
    "cron",
    "admin_email",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PromotePlan {
    /// Full table names, in both databases.
    pub tables: Vec<String>,
    /// Staging tables not in production (not promoted).
    pub skipped: Vec<String>,
    pub warnings: Vec<String>,
    /// PostgreSQL schema or MySQL database the rows are loaded into first.
    pub side: String,
    pub backup: String,
}

pub async fn promote(job: &Job, spec: &CloneSpec) -> Result<Value, StepError> {
    let resources = job.resources();
    let site = registry::get(&resources.db, &spec.site)
        .await
        .map_err(environment::registry_error)?;
    let production = site
        .db_url(&resources.secrets)
        .map_err(environment::registry_error)?;
    let staging = site
        .staging_db_url(&resources.secrets)
        .map_err(environment::registry_error)?;

    let plan: PromotePlan = job
        .step("validate", |run| {
            let (site, production, staging) = (&site, &production, &staging);
            async move {
                let plan = validate(job, spec, site, production, staging).await?;
                run.progress(3.0, &format!("{} tables to promote", plan.tables.len()));
                Ok(plan)
            }
        })
        .await?;
    job.step("backup", |run| {
        let (production, path) = (&production, PathBuf::from(&plan.backup));
        async move {
            backup(production, &path, &resources.data_dir, run.cancellation())
                .await
                .map_err(|e| stopped(e, &run))?;
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            run.progress(20.0, &format!("production backed up ({bytes} bytes)"));
            Ok(bytes)
        }
    })
    .await?;
    {
        let (production, side) = (production.clone(), plan.side.clone());
        job.on_failure("backup", move || async move {
            drop_side(&production, &side).await
        });
    }
    let rewriter = Arc::new(plan::rewriter_between(
        &site.staging_url,
        &[],
        &site.production_url,
    )?);
    let policy = Arc::new(plan::policy(&spec.keep_options));
    let total = plan.tables.len().max(1) as f32;
    for (i, table) in plan.tables.iter().enumerate() {
        let (rewriter, policy) = (rewriter.clone(), policy.clone());
        job.step(&format!("load:{table}"), |run| {
            let (rewriter, policy) = (rewriter.clone(), policy.clone());
            let (site, production, staging, side) = (&site, &production, &staging, &plan.side);
            async move {
                load(
                    site, production, staging, side, table, rewriter, policy, &run,
                )
                .await?;
                run.progress(
                    20.0 + 60.0 * (i + 1) as f32 / total,
                    &format!("loaded {table}"),
                );
                Ok(true)
            }
        })
        .await?;
    }
    let options = format!("{}options", site.table_prefix);
    if plan.tables.contains(&options) {
        job.step("keep-options", |_run| {
            let (production, side, options) = (&production, &plan.side, &options);
            async move { keep_options(production, side, options).await }
        })
        .await?;
    }
    job.step("swap", |run| {
        let (production, plan) = (&production, &plan);
        async move {
            swap(production, plan).await?;
            run.progress(100.0, "promoted");
            Ok(true)
        }
    })
    .await?;
    Ok(json!({
        "site": site.name, "action": "promote", "production_url": site.production_url,
        "tables": plan.tables, "skipped": plan.skipped, "warnings": plan.warnings, "backup": plan.backup,
        "restore": format!("understudy staging restore {} --backup {}", site.name, plan.backup),
    }))
}

async fn validate(
    job: &Job,
    spec: &CloneSpec,
    site: &Site,
    production: &DbUrl,
    staging: &DbUrl,
) -> Result<PromotePlan, StepError> {
    if registry::environment(&job.resources().db, &site.name)
        .await
        .map_err(StepError::retryable)?
        .is_none()
    {
        return Err(StepError::Permanent(format!(
            "site {} has no staging environment to promote",
            site.name
        )));
    }
    let (staging_tables, production_tables) = match site.db_engine {
        DbEngine::Postgres => {
            let (s, p) = (
                postgres::connect(staging).await?,
                postgres::connect(production).await?,
            );
            let names = |v: Vec<(String, String, i64)>| {
                v.into_iter()
                    .filter(|t| t.0 == "public")
                    .map(|t| t.1)
                    .collect::<Vec<_>>()
            };
            let st = names(
                postgres::tables(&s)
                    .await
                    .map_err(|e| postgres::classify(&staging.display(), e))?,
            );
            let pt = names(
                postgres::tables(&p)
                    .await
                    .map_err(|e| postgres::classify(&production.display(), e))?,
            );
            (st, pt)
        }
        DbEngine::Mysql => {
            let (s, p) = (
                mysql::connect(staging).await?,
                mysql::connect(production).await?,
            );
            let st = mysql::tables(&s, &staging.database)
                .await
                .map_err(|e| mysql::classify(&staging.display(), e))?;
            let pt = mysql::tables(&p, &production.database)
                .await
                .map_err(|e| mysql::classify(&production.display(), e))?;
            (
                st.into_iter().map(|t| t.0).collect(),
                pt.into_iter().map(|t| t.0).collect(),
            )
        }
    };
    let prefix = &site.table_prefix;
    let bare = |t: &str| t.strip_prefix(prefix.as_str()).unwrap_or(t).to_string();
    let mut tables = Vec::new();
    let mut skipped = Vec::new();
    let mut warnings = Vec::new();
    for table in staging_tables {
        plan::check_table_name(&table)?;
        let short = bare(&table);
        let chosen = match &spec.tables {
            Some(list) => list.contains(&short),
            None => !LIVE_TABLES.contains(&short.as_str()),
        } && !spec.exclude.contains(&short);
        if !chosen {
            continue;
        }
        if LIVE_TABLES.contains(&short.as_str()) {
            if !spec.include_live {
                return Err(StepError::Permanent(format!(
                    "{table} changes on production (users, comments, orders): promoting it overwrites what happened there since staging was made; pass include_live (--include-live-tables) to do it anyway"
                )));
            }
            warnings.push(format!("{table} changes on production: rows made there since the staging copy are replaced"));
        }
        if short == "posts" {
            warnings.push(format!("{table} may hold WooCommerce orders (legacy storage): orders placed on production since the staging copy are replaced"));
        }
        if production_tables.contains(&table) {
            tables.push(table);
        } else {
            skipped.push(table);
        }
    }
    if tables.is_empty() {
        return Err(StepError::Permanent(
            "no table selected to promote (check --tables / --exclude)".into(),
        ));
    }
    let tag = &job.id().simple().to_string()[..8];
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let ext = if site.db_engine == DbEngine::Postgres {
        "dump"
    } else {
        "sql"
    };
    let backup = job
        .resources()
        .data_dir
        .join("backups")
        .join(&site.name)
        .join(format!("{stamp}-{tag}.{ext}"));
    Ok(PromotePlan {
        tables,
        skipped,
        warnings,
        side: format!("understudy_promote_{tag}"),
        backup: backup.display().to_string(),
    })
}

/// `pg_dump -Fc` / `mysqldump` of production into `path` (written aside, renamed when complete).
async fn backup(
    production: &DbUrl,
    path: &std::path::Path,
    data_dir: &std::path::Path,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<(), StepError> {
    let dir = path.parent().expect("backup path has a directory");
    std::fs::create_dir_all(dir)
        .map_err(|e| StepError::Permanent(format!("cannot create {}: {e}", dir.display())))?;
    let partial = path.with_extension("partial");
    match production.engine {
        DbEngine::Postgres => {
            let program = postgres::client_program("pg_dump", production)
                .args(["--format=custom", "--no-owner", "--file"])
                .arg(partial.display().to_string())
                .args(["--dbname", &production.database]);
            process::run(program, cancel).await?;
        }
        DbEngine::Mysql => {
            let credentials = Credentials::write(&data_dir.join("run"), production)?;
            let program = mysql::backup(&credentials, &production.database, &partial);
            process::run(program, cancel).await?;
        }
    }
    std::fs::rename(&partial, path)
        .map_err(|e| StepError::Permanent(format!("finishing backup {}: {e}", path.display())))
}

#[allow(clippy::too_many_arguments)]
async fn load(
    site: &Site,
    production: &DbUrl,
    staging: &DbUrl,
    side: &str,
    table: &str,
    rewriter: Arc<crate::rewrite::Rewriter>,
    policy: Arc<crate::rewrite::Policy>,
    run: &crate::StepRun,
) -> Result<(), StepError> {
    match site.db_engine {
        DbEngine::Postgres => {
            let pool = postgres::connect(production).await?;
            let fail = |e| postgres::classify(&production.display(), e);
            let side_q = format!("\"{side}\"");
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {side_q}"))
                .execute(&pool)
                .await
                .map_err(fail)?;
            sqlx::query(&format!("DROP TABLE IF EXISTS {side_q}.\"{table}\""))
                .execute(&pool)
                .await
                .map_err(fail)?;
            sqlx::query(&format!(
                "CREATE TABLE {side_q}.\"{table}\" (LIKE {} INCLUDING DEFAULTS)",
                postgres::quote_table("public", table)
            ))
            .execute(&pool)
            .await
            .map_err(fail)?;
            pool.close().await;
            let side = side.to_string();
            process::pipeline(
                postgres::dump_table(staging, &postgres::quote_table("public", table), None),
                postgres::load(production),
                move |input, output| {
                    let mut remapped = CopySchemaRemap::new(output, "public", &side);
                    let stats = PgCopyRewriter::new(&rewriter, &policy)
                        .run(input, &mut remapped)
                        .map_err(rewrite_error)?;
                    std::io::Write::flush(&mut remapped)
                        .map_err(|e| StepError::Retryable(format!("streaming to psql: {e}")))?;
                    Ok(stats)
                },
                run.cancellation(),
            )
            .await
            .map_err(|e| stopped(e, run))?;
        }
        DbEngine::Mysql => {
            let admin = mysql::admin(production).await?;
            mysql::create_database(&admin, side, &production.database)
                .await
                .map_err(|e| mysql::classify(&production.display(), e))?;
            admin.close().await;
            let dir = std::env::temp_dir().join("understudy-run");
            let (from, to) = (
                Credentials::write(&dir, staging)?,
                Credentials::write(&dir, production)?,
            );
            process::pipeline(
                mysql::dump_table(&from, &staging.database, table),
                mysql::load(&to, side),
                move |input, output| {
                    MysqlDumpRewriter::new(&rewriter, &policy)
                        .run(input, output)
                        .map_err(rewrite_error)
                },
                run.cancellation(),
            )
            .await
            .map_err(|e| stopped(e, run))?;
        }
    }
    Ok(())
}

/// Production's own values of the options a staging copy changed or must not push.
fn protected_options_sql(column: &str) -> String {
    let names: Vec<String> = PRODUCTION_OPTIONS
        .iter()
        .chain(SECRET_OPTIONS)
        .map(|n| format!("'{n}'"))
        .collect();
    let patterns: Vec<String> = SECRET_OPTION_PATTERNS
        .iter()
        .map(|p| format!("{column} LIKE '{p}'"))
        .collect();
    format!(
        "({column} IN ({}) OR {})",
        names.join(", "),
        patterns.join(" OR ")
    )
}

async fn keep_options(production: &DbUrl, side: &str, options: &str) -> Result<u64, StepError> {
    match production.engine {
        DbEngine::Postgres => {
            let pool = postgres::connect(production).await?;
            let live = postgres::quote_table("public", options);
            let side_t = postgres::quote_table(side, options);
            let cond = protected_options_sql("p.option_name");
            let mut tx = pool
                .begin()
                .await
                .map_err(|e| postgres::classify(&production.display(), e))?;
            sqlx::query(&format!("DELETE FROM {side_t} s USING {live} p WHERE s.option_name = p.option_name AND {cond}"))
                .execute(&mut *tx).await.map_err(|e| postgres::classify(&production.display(), e))?;
            let kept = sqlx::query(&format!(
                "INSERT INTO {side_t} SELECT p.* FROM {live} p WHERE {cond}"
            ))
            .execute(&mut *tx)
            .await
            .map_err(|e| postgres::classify(&production.display(), e))?;
            tx.commit()
                .await
                .map_err(|e| postgres::classify(&production.display(), e))?;
            Ok(kept.rows_affected())
        }
        DbEngine::Mysql => {
            let admin = mysql::admin(production).await?;
            let live = format!(
                "{}.{}",
                mysql::quote_ident(&production.database),
                mysql::quote_ident(options)
            );
            let side_t = format!(
                "{}.{}",
                mysql::quote_ident(side),
                mysql::quote_ident(options)
            );
            let cond = protected_options_sql("p.option_name");
            sqlx::query(&format!("DELETE FROM {side_t} WHERE option_name IN (SELECT p.option_name FROM {live} p WHERE {cond})"))
                .execute(&admin).await.map_err(|e| mysql::classify(&production.display(), e))?;
            let kept = sqlx::query(&format!(
                "INSERT INTO {side_t} SELECT p.* FROM {live} p WHERE {cond}"
            ))
            .execute(&admin)
            .await
            .map_err(|e| mysql::classify(&production.display(), e))?;
            Ok(kept.rows_affected())
        }
    }
}

/// Replaces the production tables with the loaded ones in one atomic operation. Repeatable:
/// once the side schema/database is gone the swap happened.
async fn swap(production: &DbUrl, plan: &PromotePlan) -> Result<(), StepError> {
    match production.engine {
        DbEngine::Postgres => {
            let pool = postgres::connect(production).await?;
            let fail = |e| postgres::classify(&production.display(), e);
            let present: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                    .bind(&plan.side)
                    .fetch_one(&pool)
                    .await
                    .map_err(fail)?;
            if present {
                let mut tx = pool.begin().await.map_err(fail)?;
                for table in &plan.tables {
                    let live = postgres::quote_table("public", table);
                    sqlx::query(&format!("TRUNCATE {live}"))
                        .execute(&mut *tx)
                        .await
                        .map_err(fail)?;
                    sqlx::query(&format!(
                        "INSERT INTO {live} SELECT * FROM {}",
                        postgres::quote_table(&plan.side, table)
                    ))
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
                }
                sqlx::query(&format!("DROP SCHEMA \"{}\" CASCADE", plan.side))
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
                tx.commit().await.map_err(fail)?;
                postgres::advance_sequences(&pool).await.map_err(fail)?;
            }
            pool.close().await;
        }
        DbEngine::Mysql => {
            let admin = mysql::admin(production).await?;
            let fail = |e| mysql::classify(&production.display(), e);
            if mysql::database_exists(&admin, &plan.side)
                .await
                .map_err(fail)?
            {
                let park = format!("{}_old", plan.side);
                mysql::create_database(&admin, &park, &production.database)
                    .await
                    .map_err(fail)?;
                let q = mysql::quote_ident;
                let mut pairs = Vec::new();
                for t in &plan.tables {
                    pairs.push(format!(
                        "{}.{} TO {}.{}",
                        q(&production.database),
                        q(t),
                        q(&park),
                        q(t)
                    ));
                    pairs.push(format!(
                        "{}.{} TO {}.{}",
                        q(&plan.side),
                        q(t),
                        q(&production.database),
                        q(t)
                    ));
                }
                sqlx::query(&format!("RENAME TABLE {}", pairs.join(", ")))
                    .execute(&admin)
                    .await
                    .map_err(fail)?;
                mysql::drop_database(&admin, &plan.side)
                    .await
                    .map_err(fail)?;
                mysql::drop_database(&admin, &park).await.map_err(fail)?;
            }
            admin.close().await;
        }
    }
    Ok(())
}

/// Compensation: removes the side schema/database a failed promote loaded into.
async fn drop_side(production: &DbUrl, side: &str) -> Result<(), StepError> {
    match production.engine {
        DbEngine::Postgres => {
            let pool = postgres::connect(production).await?;
            sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{side}\" CASCADE"))
                .execute(&pool)
                .await
                .map_err(|e| postgres::classify(&production.display(), e))?;
            pool.close().await;
        }
        DbEngine::Mysql => {
            let admin = mysql::admin(production).await?;
            mysql::drop_database(&admin, side)
                .await
                .map_err(|e| mysql::classify(&production.display(), e))?;
        }
    }
    Ok(())
}

/// `restore`: loads a promote backup back into production (one command undoes a promote).
pub async fn restore(job: &Job, spec: &CloneSpec) -> Result<Value, StepError> {
    let resources = job.resources();
    let site = registry::get(&resources.db, &spec.site)
        .await
        .map_err(environment::registry_error)?;
    let production = site
        .db_url(&resources.secrets)
        .map_err(environment::registry_error)?;
    let path = PathBuf::from(spec.backup.as_deref().unwrap_or_default());
    let backups = resources.data_dir.join("backups").join(&site.name);
    if !path.starts_with(&backups) || !path.is_file() {
        return Err(StepError::Permanent(format!(
            "{} is not a backup of site {} (backups live in {})",
            path.display(),
            site.name,
            backups.display()
        )));
    }
    job.step("restore", |run| {
        let (production, path) = (&production, path.clone());
        async move {
            match production.engine {
                DbEngine::Postgres => {
                    let program = postgres::client_program("pg_restore", production)
                        .args([
                            "--clean",
                            "--if-exists",
                            "--no-owner",
                            "--single-transaction",
                            "--exit-on-error",
                        ])
                        .args(["--dbname", &production.database])
                        .arg(path.display().to_string());
                    process::run(program, run.cancellation())
                        .await
                        .map_err(|e| stopped(e, &run))?;
                }
                DbEngine::Mysql => {
                    let credentials =
                        Credentials::write(&resources.data_dir.join("run"), production)?;
                    process::run_with_input(
                        mysql::load(&credentials, &production.database),
                        Some(path),
                        run.cancellation(),
                    )
                    .await
                    .map_err(|e| stopped(e, &run))?;
                }
            }
            run.progress(100.0, "production restored");
            Ok(true)
        }
    })
    .await?;
    Ok(json!({ "site": site.name, "action": "restore", "backup": path.display().to_string() }))
}
