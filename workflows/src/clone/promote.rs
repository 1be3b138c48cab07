//! Promote (staging → production), done safely.
//!
//! `validate` (identities, staging is this site's marked copy, only this site's tables, the same
//! columns on both sides, an anonymized copy's changed tables refused) → `load:<table>` (staging
//! rows, URLs rewritten staging → production, into a side schema of the production database on
//! PostgreSQL, a side database on MySQL) → `keep-options` (production's own values for site URL,
//! indexing, cron and secret options) → `swap` (PostgreSQL: one transaction that locks, keeps
//! and empties each table and refills it; MySQL: one atomic `RENAME TABLE`), so production is
//! never half-written, and the rows it replaced are kept, from that very moment, in a marked
//! park → `backup` (the park dumped and recorded, restorable with `understudy staging
//! restore`). Tables that change on production (users, comments, orders) are left out unless
//! asked for, and reported as warnings when included. Every side and park schema or database is
//! marked and checked before it is dropped.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

use super::backup::{self, BackupPlan};
use super::copy_pg::{rewrite_error, stopped};
use super::harden::{SECRET_OPTIONS, SECRET_OPTION_PATTERNS};
use super::mysql::{self, Credentials};
use super::ownership::{self, Mark, Owner, Role};
use super::promote_checks::{anonymized_tables, other_prefixes, recheck, same_columns};
use super::remap::CopySchemaRemap;
use super::side::{self, swap};
use super::spec::CloneSpec;
use super::{environment, guard, plan, postgres, process};
use crate::rewrite::{MysqlDumpRewriter, PgCopyRewriter};
use crate::sites::backups::BackupKind;
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
    /// Where the swap moves the production rows it replaces, until they are backed up.
    pub park: String,
    /// Production's backup of exactly `tables`.
    pub backup: BackupPlan,
    /// Production's identity (`guard::database_identity`), recorded with the backup.
    pub identity: String,
    /// The site registration and the staging copy (the job that made it) validated.
    pub site_id: uuid::Uuid,
    pub staging_job: uuid::Uuid,
}

pub async fn promote(job: &Job, spec: &CloneSpec) -> Result<Value, StepError> {
    let (site, production, staging) = environment::site_and_urls(job, &spec.site).await?;

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
    side::drop_side_on_failure(job, &production, &plan.side, &site.name);
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
            let (site, production, staging, side, plan) =
                (&site, &production, &staging, &plan.side, &plan);
            async move {
                recheck(job, site, production, plan).await?;
                let owner = (site.name.as_str(), job.id(), &job.resources().db);
                load(
                    site, production, staging, side, table, rewriter, policy, owner, &run,
                )
                .await?;
                run.progress(
                    5.0 + 75.0 * (i + 1) as f32 / total,
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
    job.pivot_step("swap", |run| {
        let (production, plan, site) = (&production, &plan, &site);
        async move {
            recheck(job, site, production, plan).await?;
            let owner = Owner::Job {
                site: &site.name,
                job: job.id(),
            };
            swap(
                &job.resources().db,
                production,
                &plan.tables,
                &plan.side,
                &plan.park,
                owner,
            )
            .await?;
            run.progress(90.0, "promoted; backing up the replaced rows");
            Ok(true)
        }
    })
    .await?;
    // Production is written (the pivot): nothing undoes that any more, and the rows it replaced
    // wait in the park until `backup` keeps them (a retry resumes there; a cancel no longer
    // stops it).
    side::drop_swapped_side(job, &site, &production, &plan.side).await?;
    backup::step(
        job,
        &site,
        &production,
        (&plan.identity, &plan.park),
        &plan.backup,
        "promoted",
    )
    .await?;
    Ok(json!({
        "site": site.name, "action": "promote", "production_url": site.production_url,
        "tables": plan.tables, "skipped": plan.skipped, "warnings": plan.warnings, "backup": plan.backup.path,
        "restore": format!("understudy staging restore {} --backup {}", site.name, plan.backup.path),
    }))
}

async fn validate(
    job: &Job,
    spec: &CloneSpec,
    site: &Site,
    production: &DbUrl,
    staging: &DbUrl,
) -> Result<PromotePlan, StepError> {
    let db = &job.resources().db;
    guard::verify(db, site, production, staging).await?;
    let Some(environment) = registry::environment(db, &site.name)
        .await
        .map_err(StepError::retryable)?
    else {
        return Err(StepError::Permanent(format!(
            "site {} has no staging environment to promote",
            site.name
        )));
    };
    let found = ownership::database(db, staging).await?;
    if !ownership::check(
        &found,
        Owner::Site(&site.name),
        &format!("the staging database {}", staging.display()),
    )? {
        return Err(StepError::Permanent(format!(
            "the staging database {} does not exist: nothing to promote",
            staging.display()
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
    let others = other_prefixes(db, site, production).await?;
    let mut tables = Vec::new();
    let mut skipped = Vec::new();
    let mut warnings = Vec::new();
    // Named tables of another site's prefix are refused by name, whether or not the staging
    // copy holds them (a copy holds the site's tables only).
    for short in spec.tables.iter().flatten() {
        let table = format!("{prefix}{short}");
        if let Some((owner, _)) = others.iter().find(|(_, p)| table.starts_with(p.as_str())) {
            warnings.push(format!(
                "{table} belongs to site {owner} (its table prefix): not promoted"
            ));
        }
    }
    for table in staging_tables {
        plan::check_table_name(&table)?;
        // Only this site's tables: its prefix, and not a longer prefix another registered
        // site uses in the same database (`wp_` must not promote `wp_b_posts`).
        if !table.starts_with(prefix.as_str()) {
            continue;
        }
        if let Some((owner, _)) = others.iter().find(|(_, p)| table.starts_with(p.as_str())) {
            let warning =
                format!("{table} belongs to site {owner} (its table prefix): not promoted");
            if spec.tables.is_some() && !warnings.contains(&warning) {
                warnings.push(warning);
            }
            continue;
        }
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
        return Err(StepError::Permanent(format!(
            "no table selected to promote (check --tables / --exclude: names go without the \
             table prefix {prefix}, e.g. posts,postmeta){}",
            if warnings.is_empty() {
                String::new()
            } else {
                format!("; {}", warnings.join("; "))
            }
        )));
    }
    same_columns(staging, production, &tables).await?;
    if environment.anonymized {
        let changed = anonymized_tables(&environment.last_report, &tables);
        if !changed.is_empty() {
            return Err(StepError::Permanent(format!(
                "site {}'s staging was made with --anonymize: the anonymizer replaced personal \
                 data in {} of this copy, so promoting {} would write fake names, e-mails and \
                 IPs into production. Promote only tables it left unchanged (--tables / \
                 --exclude), or refresh staging without --anonymize first",
                site.name,
                changed.join(", "),
                if changed.len() == 1 { "it" } else { "them" }
            )));
        }
        warnings.push(format!(
            "staging is anonymized: promoted only tables the anonymizer left unchanged in this copy ({})",
            tables.join(", ")
        ));
    }
    let identity = guard::database_identity(production).await?;
    Ok(PromotePlan {
        backup: BackupPlan::new(job, site, BackupKind::Promote, tables.clone()),
        tables,
        skipped,
        warnings,
        side: format!("understudy_promote_{}", plan::job_tag(job.id())),
        park: format!("understudy_park_{}", plan::job_tag(job.id())),
        identity,
        site_id: site.id,
        staging_job: environment.last_job,
    })
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
    (site_name, job, job_db): (&str, uuid::Uuid, &sqlx::PgPool),
    run: &crate::StepRun,
) -> Result<(), StepError> {
    let mark = Mark::new(site_name, job, Role::Side);
    let owner = Owner::Job {
        site: site_name,
        job,
    };
    match site.db_engine {
        DbEngine::Postgres => {
            let pool = postgres::connect(production).await?;
            let fail = |e| postgres::classify(&production.display(), e);
            let side_q = format!("\"{side}\"");
            let found = ownership::pg_schema(&pool, side).await.map_err(fail)?;
            ownership::check(&found, owner, &format!("schema {side} of production"))?;
            ownership::pg_create_marked_schema(&pool, side, &mark)
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
            let columns =
                super::columns::rewrite_columns(&pool, &postgres::quote_table("public", table))
                    .await
                    .map_err(fail)?;
            let kinds = super::columns::kinds_of(table, &columns);
            pool.close().await;
            let side = side.to_string();
            process::pipeline(
                postgres::dump_table(staging, &postgres::quote_table("public", table), None),
                postgres::load(production),
                move |input, output| {
                    let mut remapped = CopySchemaRemap::new(output, "public", &side);
                    let stats = PgCopyRewriter::new(&rewriter, &policy)
                        .with_column_kinds(&kinds)
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
            let side_url = production.with_database(side);
            ownership::create_marked_database(
                job_db,
                &side_url,
                &production.database,
                &mark,
                owner,
            )
            .await?;
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
