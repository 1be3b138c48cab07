//! The PostgreSQL loader of the generated site: tables created and filled by `COPY … FREEZE` in
//! one transaction (FREEZE needs the table created in it, and spares the index build from
//! rewriting every page to set hint bits), indexes built after the load, then `VACUUM ANALYZE`.
//! TOAST compresses nothing much of the pseudo-random words, so the database really is about
//! `--size-mb` on disk (`pg_database_size`).

use sqlx::{Connection, PgConnection};

use super::rows::{text_row, Generator, Table};
use super::VERSION;
use understudy_workflows::clone::postgres;
use understudy_workflows::sites::DbUrl;

/// On-disk bytes per post with its meta, comments and users (measured: `pg_database_size`
/// minus an empty database's ~8 MB, divided by the posts, at 50 MB).
const BYTES_PER_POST: u64 = 4_550;

pub fn posts_for(size_mb: u64) -> u64 {
    (size_mb.saturating_sub(8) * 1_000_000 / BYTES_PER_POST).max(1_000)
}

const DDL: &str = "\
CREATE TABLE wp_options (option_id bigserial, option_name varchar(191) NOT NULL, option_value text NOT NULL, autoload varchar(20) NOT NULL DEFAULT 'yes');
CREATE TABLE wp_posts (\"ID\" bigserial, post_author bigint NOT NULL DEFAULT 0, post_date timestamp NOT NULL DEFAULT '2026-01-01', post_title text NOT NULL, post_content text NOT NULL, post_excerpt text NOT NULL DEFAULT '', post_status varchar(20) NOT NULL DEFAULT 'publish', post_name varchar(200) NOT NULL DEFAULT '', post_type varchar(20) NOT NULL DEFAULT 'post', guid varchar(255) NOT NULL DEFAULT '');
CREATE TABLE wp_postmeta (meta_id bigserial, post_id bigint NOT NULL, meta_key varchar(255), meta_value text);
CREATE TABLE wp_users (\"ID\" bigserial, user_login varchar(60) NOT NULL, user_pass varchar(255) NOT NULL DEFAULT '', user_nicename varchar(50) NOT NULL DEFAULT '', user_email varchar(100) NOT NULL, user_url varchar(100) NOT NULL DEFAULT '', user_activation_key varchar(255) NOT NULL DEFAULT '', display_name varchar(250) NOT NULL DEFAULT '');
CREATE TABLE wp_usermeta (umeta_id bigserial, user_id bigint NOT NULL, meta_key varchar(255), meta_value text);
CREATE TABLE wp_comments (\"comment_ID\" bigserial, \"comment_post_ID\" bigint NOT NULL, comment_author text NOT NULL DEFAULT '', comment_author_email varchar(100), comment_author_url varchar(200) NOT NULL DEFAULT '', \"comment_author_IP\" varchar(100), comment_content text, comment_agent varchar(255) NOT NULL DEFAULT '');
";

const INDEXES: &str = "\
ALTER TABLE wp_options ADD PRIMARY KEY (option_id);
CREATE UNIQUE INDEX wp_options_name ON wp_options (option_name);
ALTER TABLE wp_posts ADD PRIMARY KEY (\"ID\");
CREATE INDEX wp_posts_name ON wp_posts (post_name);
CREATE INDEX wp_posts_type_status_date ON wp_posts (post_type, post_status, post_date, \"ID\");
ALTER TABLE wp_postmeta ADD PRIMARY KEY (meta_id);
CREATE INDEX wp_postmeta_post ON wp_postmeta (post_id);
CREATE INDEX wp_postmeta_key ON wp_postmeta (meta_key);
ALTER TABLE wp_users ADD PRIMARY KEY (\"ID\");
CREATE INDEX wp_users_login ON wp_users (user_login);
ALTER TABLE wp_usermeta ADD PRIMARY KEY (umeta_id);
CREATE INDEX wp_usermeta_user ON wp_usermeta (user_id);
ALTER TABLE wp_comments ADD PRIMARY KEY (\"comment_ID\");
CREATE INDEX wp_comments_post ON wp_comments (\"comment_post_ID\");
SELECT setval(pg_get_serial_sequence('wp_options', 'option_id'), (SELECT max(option_id) FROM wp_options));
SELECT setval(pg_get_serial_sequence('wp_posts', 'ID'), (SELECT max(\"ID\") FROM wp_posts));
SELECT setval(pg_get_serial_sequence('wp_postmeta', 'meta_id'), (SELECT max(meta_id) FROM wp_postmeta));
SELECT setval(pg_get_serial_sequence('wp_users', 'ID'), (SELECT max(\"ID\") FROM wp_users));
SELECT setval(pg_get_serial_sequence('wp_usermeta', 'umeta_id'), (SELECT max(umeta_id) FROM wp_usermeta));
SELECT setval(pg_get_serial_sequence('wp_comments', 'comment_ID'), (SELECT max(\"comment_ID\") FROM wp_comments));
";

/// Sends the generator's current table into it with `COPY … FREEZE`, batch by batch.
async fn copy_table(
    conn: &mut PgConnection,
    generator: &mut Generator,
    table: Table,
) -> Result<(), sqlx::Error> {
    let columns: Vec<String> = table.columns().iter().map(|c| format!("\"{c}\"")).collect();
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY {} ({}) FROM STDIN WITH (FREEZE)",
            table.name(),
            columns.join(", ")
        ))
        .await?;
    let mut buf = String::with_capacity(1 << 21);
    loop {
        buf.clear();
        let more = generator.fill(&mut |fields| text_row(&mut buf, fields));
        if !buf.is_empty() {
            copy.send(buf.as_bytes()).await?;
        }
        if !more {
            break;
        }
    }
    copy.finish().await?;
    Ok(())
}

/// Creates and fills the tables of a site of `posts` posts in `source` (an empty database).
pub async fn generate(source: &DbUrl, host: &str, posts: u64) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect_with(&postgres::options(source)).await?;
    sqlx::raw_sql(&format!("BEGIN; {DDL}"))
        .execute(&mut conn)
        .await?;
    let mut generator = Generator::new(host, posts);
    while let Some(table) = generator.table() {
        copy_table(&mut conn, &mut generator, table).await?;
    }
    sqlx::raw_sql(&format!(
        "{INDEXES} CREATE TABLE wp_understudy_bench_marker (posts bigint, version bigint); \
         INSERT INTO wp_understudy_bench_marker VALUES ({posts}, {VERSION}); COMMIT;"
    ))
    .execute(&mut conn)
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}
