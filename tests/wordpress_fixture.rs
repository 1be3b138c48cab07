//! A WordPress-shaped production database, generated for clone tests: serialized widgets and
//! options (nested, multibyte, objects, unknown classes), JSON blocks, URLs in every spelling,
//! e-mails and look-alike hosts that must not change. Same content for PostgreSQL and MariaDB.

/// The rows every fixture has, apart from the bulk generated posts/postmeta.
pub fn seed_rows(host: &str) -> Vec<(&'static str, String, String)> {
    let url = format!("https://{host}");
    let len = |s: &str| s.len();
    let text = format!("Visit {url}/sale — ünïcödé ✓");
    let inner = format!(
        "a:1:{{s:3:\"url\";s:{}:\"{url}/x\";}}",
        len(&format!("{url}/x"))
    );
    let nested = format!("a:1:{{s:5:\"inner\";s:{}:\"{inner}\";}}", inner.len());
    let object = format!(
        "O:8:\"stdClass\":2:{{s:3:\"url\";s:{}:\"{url}/obj\";s:4:\"name\";s:5:\"Ünï\";}}",
        len(&format!("{url}/obj"))
    );
    let unknown = format!(
        "O:12:\"Acme_Widget_\":1:{{s:4:\"link\";s:{}:\"http://{host}/w\";}}",
        len(&format!("http://{host}/w"))
    );
    let widget = format!(
        "a:2:{{i:2;a:2:{{s:5:\"title\";s:4:\"Shop\";s:4:\"text\";s:{}:\"{text}\";}}s:12:\"_multiwidget\";i:1;}}",
        text.len()
    );
    let json =
        format!("{{\"logo\":\"https:\\/\\/{host}\\/wp-content\\/uploads\\/logo.png\",\"n\":1}}");
    let options = [
        ("siteurl", url.clone()),
        ("home", url.clone()),
        ("blogname", "Shop".to_string()),
        ("blog_public", "1".to_string()),
        ("admin_email", format!("owner@{host}")),
        ("widget_text", widget),
        ("nested_option", nested),
        ("object_option", object),
        ("unknown_class_option", unknown),
        ("json_option", json),
        (
            "broken_serialized",
            format!("a:1:{{s:3:\"url\";s:99:\"{url}/broken\";}}"),
        ),
        ("wc_subscriptions_siteurl", url.clone()),
        (
            "woocommerce_stripe_settings",
            "a:1:{s:10:\"secret_key\";s:7:\"sk_live\";}".to_string(),
        ),
        (
            "cron",
            "a:1:{i:1700000000;a:1:{s:16:\"wc_renew_orders\";a:0:{}}}".to_string(),
        ),
    ];
    options
        .into_iter()
        .map(|(k, v)| ("options", k.to_string(), v))
        .collect()
}

/// Post content with every spelling and every look-alike; `{i}` is replaced per row.
pub fn post_content(host: &str) -> String {
    format!(
        "<!-- wp:image {{\"url\":\"https://{host}/wp-content/uploads/{{i}}.png\"}} --><img src=\"//{host}/a.png\"> \
         <a href=\"http://{host}/p/{{i}}\">p</a> json https:\\/\\/{host}\\/q enc https%3A%2F%2F{host}%2Fr \
         look-alikes: admin@{host} https://{host}.au/x https://cdn.{host}/y https://{host}-shop.com"
    )
}

/// Look-alike strings that must survive a clone unchanged.
pub fn look_alikes(host: &str) -> Vec<String> {
    vec![
        format!("admin@{host}"),
        format!("https://{host}.au/x"),
        format!("https://cdn.{host}/y"),
        format!("https://{host}-shop.com"),
    ]
}

/// DDL + data for PostgreSQL; `posts` rows, each with 3 postmeta rows (one serialized).
pub fn postgres_sql(host: &str, posts: u32) -> String {
    let mut sql = String::from(
        "CREATE TABLE wp_options (option_id bigserial PRIMARY KEY, option_name varchar(191) NOT NULL UNIQUE, \
           option_value text NOT NULL, autoload varchar(20) NOT NULL DEFAULT 'yes');\n\
         CREATE TABLE wp_posts (\"ID\" bigserial PRIMARY KEY, post_title text NOT NULL, post_content text NOT NULL, \
           post_status varchar(20) NOT NULL DEFAULT 'publish', guid varchar(255) NOT NULL DEFAULT '');\n\
         CREATE INDEX wp_posts_status ON wp_posts (post_status);\n\
         CREATE TABLE wp_postmeta (meta_id bigserial PRIMARY KEY, post_id bigint NOT NULL, meta_key varchar(255), meta_value text);\n\
         CREATE INDEX wp_postmeta_post ON wp_postmeta (post_id);\n\
         CREATE TABLE wp_users (\"ID\" bigserial PRIMARY KEY, user_login varchar(60) NOT NULL, user_email varchar(100) NOT NULL, user_url varchar(100) NOT NULL DEFAULT '');\n\
         CREATE TABLE wp_comments (comment_ID bigserial PRIMARY KEY, comment_post_ID bigint NOT NULL, comment_author_email varchar(100), comment_author_IP varchar(100), comment_content text);\n",
    );
    for (_, name, value) in seed_rows(host) {
        sql.push_str(&format!(
            "INSERT INTO wp_options (option_name, option_value) VALUES ({}, {});\n",
            pg_literal(&name),
            pg_literal(&value)
        ));
    }
    let content = pg_literal(&post_content(host));
    let meta = pg_literal(&format!(
        "a:2:{{s:4:\"file\";s:9:\"photo.png\";s:3:\"src\";s:{{n}}:\"https://{host}/img/{{i}}\";}}"
    ));
    sql.push_str(&format!(
        "INSERT INTO wp_posts (post_title, post_content, guid) \
         SELECT 'Post ' || i, replace({content}, '{{i}}', i::text), 'https://{host}/?p=' || i \
         FROM generate_series(1, {posts}) AS i;\n\
         INSERT INTO wp_postmeta (post_id, meta_key, meta_value) \
         SELECT i, '_meta', replace(replace({meta}, '{{i}}', i::text), '{{n}}', length('https://{host}/img/' || i)::text) \
         FROM generate_series(1, {posts}) AS i;\n\
         INSERT INTO wp_postmeta (post_id, meta_key, meta_value) \
         SELECT i, k, 'plain value ' || i FROM generate_series(1, {posts}) AS i, (VALUES ('_a'), ('_b')) AS v(k);\n\
         INSERT INTO wp_users (user_login, user_email, user_url) VALUES ('owner', 'owner@{host}', 'https://{host}');\n\
         INSERT INTO wp_comments (comment_post_ID, comment_author_email, comment_author_IP, comment_content) \
         VALUES (1, 'fan@mail.test', '203.0.113.9', 'Nice! https://{host}/p/1');\n"
    ));
    sql
}

/// The same for MariaDB.
pub fn mysql_sql(host: &str, posts: u32) -> String {
    let mut sql = String::from(
        "CREATE TABLE wp_options (option_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, \
           option_name varchar(191) NOT NULL UNIQUE, option_value longtext NOT NULL, autoload varchar(20) NOT NULL DEFAULT 'yes') DEFAULT CHARSET=utf8mb4;\n\
         CREATE TABLE wp_posts (ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, post_title text NOT NULL, \
           post_content longtext NOT NULL, post_status varchar(20) NOT NULL DEFAULT 'publish', guid varchar(255) NOT NULL DEFAULT '', KEY post_status (post_status)) DEFAULT CHARSET=utf8mb4;\n\
         CREATE TABLE wp_postmeta (meta_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, post_id bigint unsigned NOT NULL, \
           meta_key varchar(255), meta_value longtext, KEY post_id (post_id)) DEFAULT CHARSET=utf8mb4;\n\
         CREATE TABLE wp_users (ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, user_login varchar(60) NOT NULL, user_email varchar(100) NOT NULL, user_url varchar(100) NOT NULL DEFAULT '') DEFAULT CHARSET=utf8mb4;\n\
         CREATE TABLE wp_comments (comment_ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, comment_post_ID bigint unsigned NOT NULL, comment_author_email varchar(100), comment_author_IP varchar(100), comment_content text) DEFAULT CHARSET=utf8mb4;\n",
    );
    for (_, name, value) in seed_rows(host) {
        sql.push_str(&format!(
            "INSERT INTO wp_options (option_name, option_value) VALUES ({}, {});\n",
            my_literal(&name),
            my_literal(&value)
        ));
    }
    let content = my_literal(&post_content(host));
    let meta = my_literal(&format!(
        "a:2:{{s:4:\"file\";s:9:\"photo.png\";s:3:\"src\";s:{{n}}:\"https://{host}/img/{{i}}\";}}"
    ));
    sql.push_str(&format!(
        "INSERT INTO wp_posts (post_title, post_content, guid) \
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {posts}) \
         SELECT CONCAT('Post ', i), REPLACE({content}, '{{i}}', i), CONCAT('https://{host}/?p=', i) FROM s;\n\
         INSERT INTO wp_postmeta (post_id, meta_key, meta_value) \
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {posts}) \
         SELECT i, '_meta', REPLACE(REPLACE({meta}, '{{i}}', i), '{{n}}', LENGTH(CONCAT('https://{host}/img/', i))) FROM s;\n\
         INSERT INTO wp_users (user_login, user_email, user_url) VALUES ('owner', 'owner@{host}', 'https://{host}');\n\
         INSERT INTO wp_comments (comment_post_ID, comment_author_email, comment_author_IP, comment_content) \
         VALUES (1, 'fan@mail.test', '203.0.113.9', 'Nice! https://{host}/p/1');\n"
    ));
    sql
}

fn pg_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn my_literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}
