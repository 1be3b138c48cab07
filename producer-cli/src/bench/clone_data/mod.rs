//! The source database of `understudy bench clone`: a generated WordPress-shaped production site
//! of about `--size-mb` on disk, the same rows on PostgreSQL and MariaDB ([`rows`]), each engine
//! loaded its fastest way ([`postgres`], [`mysql`]). It is kept between runs, one database per
//! size (`understudy_bench_wp_<N>mb`), and rebuilt when its marker table does not name this
//! [`VERSION`] and post count.

mod mysql;
mod postgres;
mod rows;

use std::time::Instant;

use super::clone::failure;
use crate::commands::Failure;
use understudy_workflows::clone::{mysql as my, postgres as pg};
use understudy_workflows::sites::{DbEngine, DbUrl};

pub use mysql::mariadb;

/// Bumped when the generated rows or either engine's schema change, so an older bench database
/// is rebuilt (a marker without a `version` column is older still).
pub const VERSION: i64 = 2;

/// Posts for a site of `size_mb` on `engine` (calibrated per engine).
pub fn posts_for(engine: DbEngine, size_mb: u64) -> u64 {
    match engine {
        DbEngine::Postgres => postgres::posts_for(size_mb),
        DbEngine::Mysql => mysql::posts_for(size_mb),
    }
}

/// The source database's name for a size.
pub fn database_name(size_mb: u64) -> String {
    format!("understudy_bench_wp_{size_mb}mb")
}

/// Whether `source` holds this version's site of `posts` posts. The marker's `version` column
/// is looked up in the catalog first: an old marker without it means "rebuild", and any other
/// error is an error.
async fn is_current(source: &DbUrl, posts: u64) -> Result<bool, Failure> {
    let posts = posts as i64;
    match source.engine {
        DbEngine::Postgres => {
            let pool = pg::connect(source).await.map_err(failure)?;
            let versioned: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() \
                 AND table_name = 'wp_understudy_bench_marker' AND column_name = 'version')",
            )
            .fetch_one(&pool)
            .await?;
            let current = versioned
                && sqlx::query_scalar::<_, i64>(
                    "SELECT posts FROM wp_understudy_bench_marker WHERE version = $1",
                )
                .bind(VERSION)
                .fetch_optional(&pool)
                .await?
                    == Some(posts);
            pool.close().await;
            Ok(current)
        }
        DbEngine::Mysql => {
            let pool = my::connect(source).await.map_err(failure)?;
            let versioned: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() \
                 AND table_name = 'wp_understudy_bench_marker' AND column_name = 'version'",
            )
            .fetch_one(&pool)
            .await
            .map_err(mariadb)?;
            let current = versioned > 0
                && sqlx::query_scalar::<_, i64>(
                    "SELECT posts FROM wp_understudy_bench_marker WHERE version = ?",
                )
                .bind(VERSION)
                .fetch_optional(&pool)
                .await
                .map_err(mariadb)?
                    == Some(posts);
            pool.close().await;
            Ok(current)
        }
    }
}

/// The source database on `server` for `size_mb`, generated unless a current one is there;
/// returns it with its post count and the seconds spent generating (0 when reused).
pub async fn ensure(
    server: &DbUrl,
    host: &str,
    size_mb: u64,
) -> Result<(DbUrl, u64, f64), Failure> {
    let name = database_name(size_mb);
    let posts = posts_for(server.engine, size_mb);
    let source = server.with_database(&name);
    let began = Instant::now();
    match server.engine {
        DbEngine::Postgres => {
            let admin = pg::admin(server).await.map_err(failure)?;
            if pg::database_exists(&admin, &name).await? {
                if is_current(&source, posts).await? {
                    return Ok((source, posts, 0.0));
                }
                pg::drop_database(&admin, &name).await?;
            }
            eprintln!("bench: generating the PostgreSQL source {name} ({posts} posts)");
            pg::create_database(&admin, &name).await?;
            admin.close().await;
            postgres::generate(&source, host, posts).await?;
        }
        DbEngine::Mysql => {
            let admin = my::admin(server).await.map_err(failure)?;
            if my::database_exists(&admin, &name).await.map_err(mariadb)? {
                if is_current(&source, posts).await? {
                    return Ok((source, posts, 0.0));
                }
                my::drop_database(&admin, &name).await.map_err(mariadb)?;
            }
            eprintln!("bench: generating the MariaDB source {name} ({posts} posts)");
            sqlx::query(&format!(
                "CREATE DATABASE {} {}",
                my::quote_ident(&name),
                mysql::CHARSET
            ))
            .execute(&admin)
            .await
            .map_err(mariadb)?;
            admin.close().await;
            mysql::generate(&source, host, posts).await?;
        }
    }
    Ok((source, posts, began.elapsed().as_secs_f64()))
}
