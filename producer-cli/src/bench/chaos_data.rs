//! The small sources of `understudy bench chaos`'s clone jobs: one repeated content block per
//! post (URLs, an image, an e-mail look-alike, multibyte text) and a serialized meta value, made
//! by the server itself (`generate_series` / a recursive CTE into `INSERT … SELECT`), so a run
//! sets up its databases in a second. `bench clone` has the large, varied generator
//! ([`super::clone_data`]).

use super::clone::HOST;

fn content_block() -> String {
    let para = format!(
        "<!-- wp:paragraph --><p>Our <a href=\"https://{HOST}/shop/item-__I__\">item __I__</a> ships fast. \
         <img class=\"wp-image-__I__\" src=\"https://{HOST}/wp-content/uploads/2026/11/p__I__.jpg\"> \
         Questions? mail help@{HOST} — ünïcödé ✓ lorem ipsum dolor sit amet, consectetur adipiscing elit, \
         sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.</p><!-- /wp:paragraph -->\n"
    );
    para.repeat(6)
}

fn meta_value() -> String {
    format!(
        "a:2:{{s:4:\"file\";s:9:\"photo.jpg\";s:3:\"src\";s:__N__:\"https://{HOST}/img/__I__\";}}"
    )
}

/// The PostgreSQL script of a source of `posts` posts.
pub fn generate_postgres(posts: u64) -> String {
    let content = content_block().replace('\'', "''");
    let meta = meta_value();
    format!(
        "CREATE TABLE wp_options (option_id bigserial PRIMARY KEY, option_name varchar(191) NOT NULL UNIQUE, option_value text NOT NULL, autoload varchar(20) NOT NULL DEFAULT 'yes');\n\
         INSERT INTO wp_options (option_name, option_value) VALUES ('siteurl', 'https://{HOST}'), ('home', 'https://{HOST}'), ('blogname', 'Bench'), ('blog_public', '1');\n\
         CREATE TABLE wp_posts (\"ID\" bigserial PRIMARY KEY, post_title text NOT NULL, post_content text NOT NULL, guid varchar(255) NOT NULL);\n\
         CREATE TABLE wp_postmeta (meta_id bigserial PRIMARY KEY, post_id bigint NOT NULL, meta_key varchar(255), meta_value text);\n\
         INSERT INTO wp_posts (post_title, post_content, guid) SELECT 'Post ' || i, replace('{content}', '__I__', i::text), 'https://{HOST}/?p=' || i FROM generate_series(1, {posts}) i;\n\
         INSERT INTO wp_postmeta (post_id, meta_key, meta_value) SELECT i, '_meta', replace(replace('{meta}', '__I__', i::text), '__N__', length('https://{HOST}/img/' || i)::text) FROM generate_series(1, {posts}) i;\n\
         INSERT INTO wp_postmeta (post_id, meta_key, meta_value) SELECT i, k, 'value ' || i FROM generate_series(1, {posts}) i, (VALUES ('_a'), ('_b')) v(k);\n\
         CREATE INDEX wp_postmeta_post ON wp_postmeta (post_id);\n\
         CREATE TABLE wp_understudy_bench_marker (posts bigint);\n\
         INSERT INTO wp_understudy_bench_marker VALUES ({posts});\n"
    )
}

/// The MariaDB script of a source of `posts` posts.
pub fn generate_mysql(posts: u64) -> String {
    let content = content_block().replace('\\', "\\\\").replace('\'', "\\'");
    let meta = meta_value();
    let series = format!(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {posts})"
    );
    format!(
        "SET SESSION max_recursive_iterations = 100000000;\n\
         CREATE TABLE wp_options (option_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, option_name varchar(191) NOT NULL UNIQUE, option_value longtext NOT NULL, autoload varchar(20) NOT NULL DEFAULT 'yes') DEFAULT CHARSET=utf8mb4;\n\
         INSERT INTO wp_options (option_name, option_value) VALUES ('siteurl', 'https://{HOST}'), ('home', 'https://{HOST}'), ('blogname', 'Bench'), ('blog_public', '1');\n\
         CREATE TABLE wp_posts (ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, post_title text NOT NULL, post_content longtext NOT NULL, guid varchar(255) NOT NULL) DEFAULT CHARSET=utf8mb4;\n\
         CREATE TABLE wp_postmeta (meta_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, post_id bigint unsigned NOT NULL, meta_key varchar(255), meta_value longtext, KEY post_id (post_id)) DEFAULT CHARSET=utf8mb4;\n\
         INSERT INTO wp_posts (post_title, post_content, guid) {series} SELECT CONCAT('Post ', i), REPLACE('{content}', '__I__', i), CONCAT('https://{HOST}/?p=', i) FROM s;\n\
         INSERT INTO wp_postmeta (post_id, meta_key, meta_value) {series} SELECT i, '_meta', REPLACE(REPLACE('{meta}', '__I__', i), '__N__', LENGTH(CONCAT('https://{HOST}/img/', i))) FROM s;\n\
         INSERT INTO wp_postmeta (post_id, meta_key, meta_value) {series} SELECT i, '_a', CONCAT('value ', i) FROM s;\n\
         INSERT INTO wp_postmeta (post_id, meta_key, meta_value) {series} SELECT i, '_b', CONCAT('value ', i) FROM s;\n\
         CREATE TABLE wp_understudy_bench_marker (posts bigint);\n\
         INSERT INTO wp_understudy_bench_marker VALUES ({posts});\n"
    )
}
