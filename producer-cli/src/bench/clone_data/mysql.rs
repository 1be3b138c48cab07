//! The MariaDB / MySQL loader of the generated site: WordPress's MySQL schema (InnoDB, utf8mb4,
//! `bigint unsigned AUTO_INCREMENT` keys, `longtext` values, WordPress's indexes on the generated
//! columns), each table filled by `LOAD DATA LOCAL INFILE '/dev/stdin'` through the `mysql`
//! client with the generator writing into its stdin, secondary indexes added after the load,
//! then `ANALYZE TABLE` so `information_schema`'s sizes are current. The loaded rows are counted
//! against what was generated.
//!
//! Why `LOAD DATA`: measured on this box (MariaDB 10.11, 128 MB buffer pool, 253 MB of post
//! rows, 60,000 rows, three rounds while a build ran): `LOAD DATA LOCAL` 4.6–7.0 s; the same rows
//! as 4 MB multi-row `INSERT`s 7.6–9.6 s (one transaction or autocommit alike). Setting
//! `unique_checks = 0` and `foreign_key_checks = 0` (MariaDB's bulk-insert path into an empty
//! table) made `LOAD DATA` slower, 7.5–10.3 s, so the session keeps the defaults; secondary
//! indexes are added afterwards (no slower for posts, and the buffer pool is smaller than the
//! meta tables' indexes at 1 GB). sqlx cannot answer the server's `LOCAL INFILE` request, hence
//! the client program. A server with `local_infile` off (MySQL 8's default) gets multi-row
//! `INSERT`s with bound values instead; `UNDERSTUDY_BENCH_MYSQL_LOADER=insert|load-data`
//! forces one (to measure them against each other).

use sqlx::{MySql, MySqlPool, QueryBuilder, Row};
use std::io::Write;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

use super::rows::{text_row, Generator, Table};
use super::VERSION;
use crate::commands::Failure;
use understudy_workflows::clone::mysql::{self, quote_ident, Credentials};
use understudy_workflows::clone::process::{self, Program};
use understudy_workflows::sites::DbUrl;

/// Data + index bytes per post with its meta, comments and users (`information_schema.tables`
/// after `ANALYZE TABLE`, divided by the posts: 1,550 MB for 219,780 posts). InnoDB does not
/// compress the ~4.6 KB of post content (PostgreSQL's TOAST does), and three such rows fill a
/// 16 KB page, so a post takes more room here than on PostgreSQL.
const BYTES_PER_POST: u64 = 7_050;

pub fn posts_for(size_mb: u64) -> u64 {
    (size_mb * 1_000_000 / BYTES_PER_POST).max(1_000)
}

/// The character set and collation WordPress picks on MariaDB.
pub const CHARSET: &str = "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci";

const TABLE_OPTIONS: &str = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci";

/// WordPress's column definitions for the generated columns (and the defaulted ones the
/// PostgreSQL side has), primary keys only: the other indexes come after the load.
fn ddl(table: Table) -> &'static str {
    match table {
        Table::Options => {
            "CREATE TABLE wp_options (\
             option_id bigint(20) unsigned NOT NULL AUTO_INCREMENT, \
             option_name varchar(191) NOT NULL DEFAULT '', \
             option_value longtext NOT NULL, \
             autoload varchar(20) NOT NULL DEFAULT 'yes', \
             PRIMARY KEY (option_id))"
        }
        Table::Users => {
            "CREATE TABLE wp_users (\
             ID bigint(20) unsigned NOT NULL AUTO_INCREMENT, \
             user_login varchar(60) NOT NULL DEFAULT '', \
             user_pass varchar(255) NOT NULL DEFAULT '', \
             user_nicename varchar(50) NOT NULL DEFAULT '', \
             user_email varchar(100) NOT NULL DEFAULT '', \
             user_url varchar(100) NOT NULL DEFAULT '', \
             user_activation_key varchar(255) NOT NULL DEFAULT '', \
             display_name varchar(250) NOT NULL DEFAULT '', \
             PRIMARY KEY (ID))"
        }
        Table::Usermeta => {
            "CREATE TABLE wp_usermeta (\
             umeta_id bigint(20) unsigned NOT NULL AUTO_INCREMENT, \
             user_id bigint(20) unsigned NOT NULL DEFAULT 0, \
             meta_key varchar(255) DEFAULT NULL, \
             meta_value longtext, \
             PRIMARY KEY (umeta_id))"
        }
        Table::Comments => {
            "CREATE TABLE wp_comments (\
             comment_ID bigint(20) unsigned NOT NULL AUTO_INCREMENT, \
             comment_post_ID bigint(20) unsigned NOT NULL DEFAULT 0, \
             comment_author tinytext NOT NULL, \
             comment_author_email varchar(100) NOT NULL DEFAULT '', \
             comment_author_url varchar(200) NOT NULL DEFAULT '', \
             comment_author_IP varchar(100) NOT NULL DEFAULT '', \
             comment_content text NOT NULL, \
             comment_agent varchar(255) NOT NULL DEFAULT '', \
             PRIMARY KEY (comment_ID))"
        }
        Table::Posts => {
            "CREATE TABLE wp_posts (\
             ID bigint(20) unsigned NOT NULL AUTO_INCREMENT, \
             post_author bigint(20) unsigned NOT NULL DEFAULT 0, \
             post_date datetime NOT NULL DEFAULT '2026-01-01 00:00:00', \
             post_content longtext NOT NULL, \
             post_title text NOT NULL, \
             post_excerpt text NOT NULL, \
             post_status varchar(20) NOT NULL DEFAULT 'publish', \
             post_name varchar(200) NOT NULL DEFAULT '', \
             guid varchar(255) NOT NULL DEFAULT '', \
             post_type varchar(20) NOT NULL DEFAULT 'post', \
             PRIMARY KEY (ID))"
        }
        Table::Postmeta => {
            "CREATE TABLE wp_postmeta (\
             meta_id bigint(20) unsigned NOT NULL AUTO_INCREMENT, \
             post_id bigint(20) unsigned NOT NULL DEFAULT 0, \
             meta_key varchar(255) DEFAULT NULL, \
             meta_value longtext, \
             PRIMARY KEY (meta_id))"
        }
    }
}

/// WordPress's secondary indexes on the generated columns.
fn indexes(table: Table) -> &'static str {
    match table {
        Table::Options => {
            "ALTER TABLE wp_options ADD UNIQUE KEY option_name (option_name), ADD KEY autoload (autoload)"
        }
        Table::Users => {
            "ALTER TABLE wp_users ADD KEY user_login_key (user_login), \
             ADD KEY user_nicename (user_nicename), ADD KEY user_email (user_email)"
        }
        Table::Usermeta => {
            "ALTER TABLE wp_usermeta ADD KEY user_id (user_id), ADD KEY meta_key (meta_key(191))"
        }
        Table::Comments => {
            "ALTER TABLE wp_comments ADD KEY comment_post_ID (comment_post_ID), \
             ADD KEY comment_author_email (comment_author_email(10))"
        }
        Table::Posts => {
            "ALTER TABLE wp_posts ADD KEY post_name (post_name(191)), \
             ADD KEY type_status_date (post_type, post_status, post_date, ID), \
             ADD KEY post_author (post_author)"
        }
        Table::Postmeta => {
            "ALTER TABLE wp_postmeta ADD KEY post_id (post_id), ADD KEY meta_key (meta_key(191))"
        }
    }
}

/// How the rows reach the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loader {
    /// `mysql --local-infile=1 -e "LOAD DATA LOCAL INFILE '/dev/stdin' …"`, fed by the generator.
    LoadData,
    /// Multi-row `INSERT`s with bound values, through sqlx.
    Insert,
}

impl Loader {
    /// `UNDERSTUDY_BENCH_MYSQL_LOADER` if set, else `LOAD DATA` when the server allows it.
    async fn choose(pool: &MySqlPool) -> Result<Loader, Failure> {
        match std::env::var("UNDERSTUDY_BENCH_MYSQL_LOADER").as_deref() {
            Ok("load-data") => return Ok(Loader::LoadData),
            Ok("insert") => return Ok(Loader::Insert),
            Ok(other) => {
                return Err(Failure::Input(format!(
                    "UNDERSTUDY_BENCH_MYSQL_LOADER={other:?}: expected load-data or insert"
                )))
            }
            Err(_) => {}
        }
        let local_infile: i64 = sqlx::query_scalar("SELECT CAST(@@GLOBAL.local_infile AS SIGNED)")
            .fetch_one(pool)
            .await
            .map_err(mariadb)?;
        Ok(if local_infile == 1 {
            Loader::LoadData
        } else {
            Loader::Insert
        })
    }
}

pub fn mariadb(e: sqlx::Error) -> Failure {
    Failure::Other(anyhow::anyhow!("MariaDB: {e}"))
}

fn column_list(table: Table) -> String {
    let columns: Vec<String> = table.columns().iter().map(|c| quote_ident(c)).collect();
    columns.join(", ")
}

/// Streams the generator's current table through `LOAD DATA LOCAL`; gives the generator back.
async fn load_data(
    credentials: &Credentials,
    database: &str,
    mut generator: Generator,
    table: Table,
) -> Result<Generator, Failure> {
    let statement = format!(
        "LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE {} CHARACTER SET utf8mb4 ({})",
        quote_ident(table.name()),
        column_list(table)
    );
    let client = Program::new("mysql").arg(credentials.arg()).args([
        "--local-infile=1",
        "--default-character-set=utf8mb4",
        "--batch",
        "--execute",
        &statement,
        database,
    ]);
    process::feed(
        client,
        move |out: &mut dyn Write| {
            let mut buf = String::with_capacity(1 << 21);
            loop {
                buf.clear();
                let more = generator.fill(&mut |fields| text_row(&mut buf, fields));
                out.write_all(buf.as_bytes())?;
                if !more {
                    return Ok(generator);
                }
            }
        },
        CancellationToken::new(),
    )
    .await
    .map_err(|e| Failure::Other(anyhow::anyhow!("loading {}: {e}", table.name())))
}

/// The generator's current table as multi-row `INSERT`s with bound values.
async fn insert(
    pool: &MySqlPool,
    generator: &mut Generator,
    table: Table,
) -> Result<(), sqlx::Error> {
    let head = format!(
        "INSERT INTO {} ({}) ",
        quote_ident(table.name()),
        column_list(table)
    );
    loop {
        let mut rows: Vec<Vec<String>> = Vec::new();
        let more = generator.fill(&mut |fields| {
            rows.push(fields.iter().map(|f| f.to_string()).collect());
        });
        if !rows.is_empty() {
            let mut query = QueryBuilder::<MySql>::new(&head);
            query.push_values(rows, |mut values, row| {
                for field in row {
                    values.push_bind(field);
                }
            });
            query.build().persistent(false).execute(pool).await?;
        }
        if !more {
            return Ok(());
        }
    }
}

/// Creates and fills the tables of a site of `posts` posts in `source` (an empty database).
pub async fn generate(source: &DbUrl, host: &str, posts: u64) -> Result<(), Failure> {
    let pool = mysql::connect(source)
        .await
        .map_err(|e| Failure::Other(anyhow::anyhow!("{e}")))?;
    let loader = Loader::choose(&pool).await?;
    for table in Table::ALL {
        sqlx::raw_sql(&format!("{} {TABLE_OPTIONS}", ddl(table)))
            .execute(&pool)
            .await
            .map_err(mariadb)?;
    }
    let began = Instant::now();
    let mut generator = Generator::new(host, posts);
    let counts = generator.counts();
    let credentials = Credentials::write(&std::env::temp_dir().join("understudy-bench"), source)
        .map_err(|e| Failure::Other(anyhow::anyhow!("{e}")))?;
    while let Some(table) = generator.table() {
        match loader {
            Loader::LoadData => {
                generator = load_data(&credentials, &source.database, generator, table).await?
            }
            Loader::Insert => insert(&pool, &mut generator, table)
                .await
                .map_err(mariadb)?,
        }
    }
    let loaded = began.elapsed().as_secs_f64();
    for table in Table::ALL {
        sqlx::raw_sql(indexes(table))
            .execute(&pool)
            .await
            .map_err(mariadb)?;
    }
    let indexed = began.elapsed().as_secs_f64() - loaded;
    for table in Table::ALL {
        let name = quote_ident(table.name());
        // ANALYZE answers with rows (Table, Op, Msg_type, Msg_text): an error is one of them.
        let status = sqlx::raw_sql(&format!("ANALYZE TABLE {name}"))
            .fetch_all(&pool)
            .await
            .map_err(mariadb)?;
        for row in status {
            let (kind, text): (String, String) = (
                row.try_get("Msg_type").map_err(mariadb)?,
                row.try_get("Msg_text").map_err(mariadb)?,
            );
            if kind.eq_ignore_ascii_case("error") {
                return Err(Failure::Other(anyhow::anyhow!(
                    "ANALYZE TABLE {name}: {text}"
                )));
            }
        }
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {name}"))
            .fetch_one(&pool)
            .await
            .map_err(mariadb)?;
        if rows as u64 != counts.rows(table) {
            return Err(Failure::Other(anyhow::anyhow!(
                "{name}: {rows} rows loaded, {} generated",
                counts.rows(table)
            )));
        }
    }
    sqlx::raw_sql(&format!(
        "CREATE TABLE wp_understudy_bench_marker (posts bigint, version bigint) {TABLE_OPTIONS}; \
         INSERT INTO wp_understudy_bench_marker VALUES ({posts}, {VERSION});"
    ))
    .execute(&pool)
    .await
    .map_err(mariadb)?;
    pool.close().await;
    eprintln!(
        "bench: MariaDB source: rows loaded in {loaded:.1} s ({loader:?}), indexes in {indexed:.1} s"
    );
    Ok(())
}
