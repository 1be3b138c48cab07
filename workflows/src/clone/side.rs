//! Swapping rows loaded aside into production, shared by promote and restore: PostgreSQL in
//! one transaction that empties and refills each table; MySQL/MariaDB in one atomic
//! `RENAME TABLE` through a marked park database. Repeatable after a crash, and only this job's
//! marked side schema/database is ever dropped.

use super::mysql;
use super::ownership::{self, Mark, Owner, Role};
use super::postgres;
use crate::sites::{DbEngine, DbUrl};
use crate::{Job, StepError};

/// Replaces the production `tables` with the ones loaded into `side` (this job's) in one
/// atomic operation, moving exactly the rows it overwrites into `park` (marked, this job's) in
/// the same operation: the backup step dumps `park`, so rows written to production until the
/// very moment of the swap are in the backup. Repeatable: once the side schema is gone
/// (PostgreSQL) or the side database empty (MySQL; [`drop_swapped_side`] drops it next) the swap
/// happened. Fails only when it did not happen (the job's pivot, see `Job::pivot_step`).
pub async fn swap(
    db: &sqlx::PgPool,
    production: &DbUrl,
    tables: &[String],
    side: &str,
    park: &str,
    owner: Owner<'_>,
) -> Result<(), StepError> {
    let what = format!("{side} beside production {}", production.display());
    let (site, job) = match owner {
        Owner::Job { site, job } => (site, job),
        Owner::Site(_) => unreachable!("a swap is one job's"),
    };
    let park_mark = Mark::new(site, job, Role::Park);
    match production.engine {
        DbEngine::Postgres => {
            let pool = postgres::connect(production).await?;
            let fail = |e| postgres::classify(&production.display(), e);
            let mut tx = pool.begin().await.map_err(fail)?;
            let found = ownership::pg_schema(&mut *tx, side).await.map_err(fail)?;
            if ownership::check(&found, owner, &what)? {
                let parked = ownership::pg_schema(&mut *tx, park).await.map_err(fail)?;
                ownership::check(&parked, owner, &format!("schema {park} of production"))?;
                for sql in ownership::pg_marked_schema_sql(park, &park_mark) {
                    sqlx::query(&sql).execute(&mut *tx).await.map_err(fail)?;
                }
                for table in tables {
                    let live = postgres::quote_table("public", table);
                    let kept = postgres::quote_table(park, table);
                    // CREATE TABLE below fails if the park already holds this table: rows an
                    // earlier swap replaced are never overwritten before they are backed up.
                    for sql in [
                        format!("LOCK TABLE {live} IN ACCESS EXCLUSIVE MODE"),
                        format!("CREATE TABLE {kept} AS TABLE {live}"),
                        format!("TRUNCATE {live}"),
                        format!(
                            "INSERT INTO {live} SELECT * FROM {}",
                            postgres::quote_table(side, table)
                        ),
                    ] {
                        sqlx::query(&sql).execute(&mut *tx).await.map_err(fail)?;
                    }
                }
                sqlx::query(&format!("DROP SCHEMA \"{side}\" CASCADE"))
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
                // Sequences past the new ids before anyone can insert (never moved backwards).
                postgres::advance_sequences(&mut tx).await.map_err(fail)?;
                tx.commit().await.map_err(fail)?;
            }
            pool.close().await;
        }
        DbEngine::Mysql => {
            let admin = mysql::admin(production).await?;
            let fail = |e| mysql::classify(&production.display(), e);
            let park_url = production.with_database(park);
            let found = ownership::mysql_database(&admin, side)
                .await
                .map_err(fail)?;
            // Tables still in the side database: the RENAME has not happened yet.
            let pending = ownership::check(&found, owner, &what)?
                && !mysql::tables(&admin, side).await.map_err(fail)?.is_empty();
            if pending {
                ownership::create_marked_database(
                    db,
                    &park_url,
                    &production.database,
                    &park_mark,
                    owner,
                )
                .await?;
                let q = mysql::quote_ident;
                let mut pairs = Vec::new();
                for t in tables {
                    pairs.push(format!(
                        "{}.{} TO {}.{}",
                        q(&production.database),
                        q(t),
                        q(park),
                        q(t)
                    ));
                    pairs.push(format!(
                        "{}.{} TO {}.{}",
                        q(side),
                        q(t),
                        q(&production.database),
                        q(t)
                    ));
                }
                sqlx::query(&format!("RENAME TABLE {}", pairs.join(", ")))
                    .execute(&admin)
                    .await
                    .map_err(fail)?;
            }
            admin.close().await;
        }
    }
    Ok(())
}

/// The step after a swap: drops the side database the MySQL swap emptied (only this job's;
/// PostgreSQL's swap dropped its side schema in its transaction). Kept out of the swap so that
/// the swap, the job's pivot, fails only when it did not happen.
pub async fn drop_swapped_side(
    job: &Job,
    site: &crate::sites::Site,
    production: &DbUrl,
    side: &str,
) -> Result<(), StepError> {
    if production.engine != DbEngine::Mysql {
        return Ok(());
    }
    job.step("drop-side", |_run| async move {
        let owner = Owner::Job {
            site: &site.name,
            job: job.id(),
        };
        ownership::drop_database(&job.resources().db, &production.with_database(side), owner)
            .await?;
        Ok(true)
    })
    .await?;
    Ok(())
}

/// Drops this job's park (schema on PostgreSQL, database on MySQL) once its backup is recorded.
pub async fn drop_park(
    db: &sqlx::PgPool,
    production: &DbUrl,
    park: &str,
    owner: Owner<'_>,
) -> Result<(), StepError> {
    drop_side(db, production, park, owner).await
}

/// Compensation: removes the side schema/database a failed promote or restore loaded into
/// (only this job's). Never the park: after a swap it holds production's replaced rows.
pub async fn drop_side(
    db: &sqlx::PgPool,
    production: &DbUrl,
    side: &str,
    owner: Owner<'_>,
) -> Result<(), StepError> {
    match production.engine {
        DbEngine::Postgres => {
            let pool = postgres::connect(production).await?;
            let fail = |e| postgres::classify(&production.display(), e);
            let found = ownership::pg_schema(&pool, side).await.map_err(fail)?;
            if ownership::check(&found, owner, &format!("schema {side} of production"))? {
                sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{side}\" CASCADE"))
                    .execute(&pool)
                    .await
                    .map_err(fail)?;
            }
            pool.close().await;
        }
        DbEngine::Mysql => {
            ownership::drop_database(db, &production.with_database(side), owner).await?;
        }
    }
    Ok(())
}

/// Registers, right after `validate`, what a failed or cancelled promote or restore undoes: its
/// side schema or database (never the park: after the swap it holds production's replaced rows,
/// and the swap is the job's point of no return). Being `validate`'s compensation, it also makes
/// `understudy retry` validate again from the start (staging, the registration or production may
/// have changed meanwhile).
pub fn drop_side_on_failure(job: &Job, production: &DbUrl, side: &str, site: &str) {
    let (production, side, site, id, db) = (
        production.clone(),
        side.to_string(),
        site.to_string(),
        job.id(),
        job.resources().db.clone(),
    );
    job.on_failure("validate", move || async move {
        let owner = Owner::Job {
            site: &site,
            job: id,
        };
        drop_side(&db, &production, &side, owner).await
    });
}
