//! A WordPress-shaped production database, generated for clone tests: serialized widgets and
//! options (nested, multibyte, objects, unknown classes), JSON blocks, URLs in every spelling,
//! e-mails and look-alike hosts that must not change, and personal data where WordPress and
//! WooCommerce keep it (users, usermeta, comments, legacy order postmeta, HPOS order and customer
//! tables) plus inside a serialized option and a JSON option. Same content for PostgreSQL and
//! MariaDB.

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
         CREATE TABLE wp_users (\"ID\" bigserial PRIMARY KEY, user_login varchar(60) NOT NULL, user_pass varchar(255) NOT NULL DEFAULT '', \
           user_nicename varchar(50) NOT NULL DEFAULT '', user_email varchar(100) NOT NULL, user_url varchar(100) NOT NULL DEFAULT '', \
           user_activation_key varchar(255) NOT NULL DEFAULT '', display_name varchar(250) NOT NULL DEFAULT '');\n\
         CREATE TABLE wp_usermeta (umeta_id bigserial PRIMARY KEY, user_id bigint NOT NULL, meta_key varchar(255), meta_value text);\n\
         CREATE TABLE wp_comments (comment_ID bigserial PRIMARY KEY, comment_post_ID bigint NOT NULL, comment_author text NOT NULL DEFAULT '', \
           comment_author_email varchar(100), comment_author_url varchar(200) NOT NULL DEFAULT '', comment_author_IP varchar(100), \
           comment_content text, comment_agent varchar(255) NOT NULL DEFAULT '');\n\
         CREATE TABLE wp_wc_orders (id bigint PRIMARY KEY, status varchar(20), billing_email varchar(320), ip_address varchar(100), \
           user_agent text, customer_note text);\n\
         CREATE TABLE wp_wc_order_addresses (id bigserial PRIMARY KEY, order_id bigint NOT NULL, address_type varchar(20), \
           first_name text, last_name text, company text, address_1 text, address_2 text, city text, state text, postcode text, \
           country text, email varchar(320), phone varchar(100));\n\
         CREATE TABLE wp_wc_customer_lookup (customer_id bigserial PRIMARY KEY, user_id bigint, username varchar(60) NOT NULL DEFAULT '', \
           first_name varchar(255), last_name varchar(255), email varchar(100), city varchar(100), state varchar(100), \
           postcode varchar(20), country char(2));\n",
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
"
    ));
    sql.push_str(&personal_sql(host, pg_literal, "\"ID\""));
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
         CREATE TABLE wp_users (ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, user_login varchar(60) NOT NULL, user_pass varchar(255) NOT NULL DEFAULT '', \
           user_nicename varchar(50) NOT NULL DEFAULT '', user_email varchar(100) NOT NULL, user_url varchar(100) NOT NULL DEFAULT '', \
           user_activation_key varchar(255) NOT NULL DEFAULT '', display_name varchar(250) NOT NULL DEFAULT '') DEFAULT CHARSET=utf8mb4;\n\
         CREATE TABLE wp_usermeta (umeta_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, user_id bigint unsigned NOT NULL, \
           meta_key varchar(255), meta_value longtext) DEFAULT CHARSET=utf8mb4;\n\
         CREATE TABLE wp_comments (comment_ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, comment_post_ID bigint unsigned NOT NULL, \
           comment_author tinytext NOT NULL, comment_author_email varchar(100), comment_author_url varchar(200) NOT NULL DEFAULT '', \
           comment_author_IP varchar(100), comment_content text, comment_agent varchar(255) NOT NULL DEFAULT '') DEFAULT CHARSET=utf8mb4;\n\
         CREATE TABLE wp_wc_orders (id bigint unsigned NOT NULL PRIMARY KEY, status varchar(20), billing_email varchar(320), \
           ip_address varchar(100), user_agent text, customer_note text) DEFAULT CHARSET=utf8mb4;\n\
         CREATE TABLE wp_wc_order_addresses (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, order_id bigint unsigned NOT NULL, \
           address_type varchar(20), first_name text, last_name text, company text, address_1 text, address_2 text, city text, \
           state text, postcode text, country text, email varchar(320), phone varchar(100)) DEFAULT CHARSET=utf8mb4;\n\
         CREATE TABLE wp_wc_customer_lookup (customer_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, user_id bigint unsigned, \
           username varchar(60) NOT NULL DEFAULT '', first_name varchar(255), last_name varchar(255), email varchar(100), \
           city varchar(100), state varchar(100), postcode varchar(20), country char(2)) DEFAULT CHARSET=utf8mb4;\n",
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
"
    ));
    sql.push_str(&personal_sql(host, my_literal, "ID"));
    sql
}

/// The personal values of the fixture that must not survive anonymization anywhere.
pub struct Personal {
    pub emails: Vec<String>,
    pub ips: Vec<&'static str>,
    pub phones: Vec<&'static str>,
    pub names: Vec<&'static str>,
}

/// Every e-mail, IP, phone and name the fixture stores (`owner@host` is the admin's).
pub fn personal_values(host: &str) -> Personal {
    Personal {
        emails: vec![
            format!("owner@{host}"),
            "philippa.marchbanks@mail.test".into(),
            "Octavia.F@mail.test".into(),
            "fan@mail.test".into(),
        ],
        ips: vec!["81.2.69.142", "88.198.14.2", "2a02:8071:3e1::7"],
        phones: vec!["+44 20 7946 0958", "+49 30 901820"],
        names: vec![
            "Zebulon",
            "Quartermaine",
            "Philippa",
            "Marchbanks",
            "Octavia",
            "Featherstonehaugh",
            "Quentin Blackwood",
            "Zebby",
        ],
    }
}

/// A PHP-serialized string (byte length).
fn ser(s: &str) -> String {
    format!("s:{}:\"{s}\";", s.len())
}

/// Users (the admin `owner`, a customer, a second administrator), their meta, comments, a
/// legacy WooCommerce order (postmeta), HPOS order/address/customer rows and options that hold
/// personal data inside serialized and JSON values. `lit` quotes a literal, `id` is the users'
/// ID column as the engine spells it.
pub fn personal_sql(host: &str, lit: fn(&str) -> String, id: &str) -> String {
    let philippa = "philippa.marchbanks@mail.test";
    let agent = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    let admin_caps = "a:1:{s:13:\"administrator\";b:1;}";
    let customer_caps = "a:1:{s:8:\"customer\";b:1;}";
    let session = format!(
        "a:1:{{s:64:\"{}\";a:3:{{{}i:1700000000;{}{}{}{}}}}}",
        "ab".repeat(32),
        ser("expiration"),
        ser("ip"),
        ser("81.2.69.142"),
        ser("ua"),
        ser(agent)
    );
    let inner = format!(
        "a:1:{{{}{}}}",
        ser("to"),
        ser(&format!("Philippa Marchbanks <{philippa}>"))
    );
    let notifications = format!(
        "a:3:{{{}{}{}{}{}{}}}",
        ser("email"),
        ser("fan@mail.test"),
        ser("nested"),
        ser(&inner),
        ser("admin"),
        ser(&format!("owner@{host}"))
    );
    let json = "{\"customer\":{\"email\":\"Octavia.F@mail.test\",\"ip\":\"81.2.69.142\",\"name\":\"Octavia Featherstonehaugh\"},\"n\":2}";
    let mut sql = String::new();
    let mut insert = |table: &str, columns: &str, rows: Vec<Vec<String>>| {
        let rows: Vec<String> = rows
            .into_iter()
            .map(|r| {
                let values: Vec<String> = r.iter().map(|v| lit(v)).collect();
                format!("({})", values.join(", "))
            })
            .collect();
        sql.push_str(&format!(
            "INSERT INTO {table} ({columns}) VALUES {};\n",
            rows.join(", ")
        ));
    };
    let row = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
    insert(
        "wp_users",
        &format!("{id}, user_login, user_pass, user_nicename, user_email, user_url, user_activation_key, display_name"),
        vec![
            row(&["1", "owner", "$P$BownerHashXXXXXXXXXXXXXXXXXXXX", "owner", &format!("owner@{host}"), &format!("https://{host}"), "", "Zebulon Quartermaine"]),
            row(&["2", "philippa", "$P$BphilippaHashXXXXXXXXXXXXXXXX", "philippa", philippa, "https://philippa.blog.test", "1700000000:$P$Bkey", "Philippa Marchbanks"]),
            row(&["3", "octavia", "$P$BoctaviaHashXXXXXXXXXXXXXXXXX", "octavia", "Octavia.F@mail.test", "", "", "Octavia Featherstonehaugh"]),
        ],
    );
    let meta = |user: &str, key: &str, value: &str| row(&[user, key, value]);
    insert(
        "wp_usermeta",
        "user_id, meta_key, meta_value",
        vec![
            meta("1", "wp_capabilities", admin_caps),
            meta("1", "first_name", "Zebulon"),
            meta("1", "last_name", "Quartermaine"),
            meta("1", "nickname", "Zebby"),
            meta("2", "wp_capabilities", customer_caps),
            meta("2", "first_name", "Philippa"),
            meta("2", "last_name", "Marchbanks"),
            meta("2", "description", "Philippa Marchbanks loves hats"),
            meta("2", "billing_email", philippa),
            meta("2", "billing_phone", "+44 20 7946 0958"),
            meta("2", "billing_first_name", "Philippa"),
            meta("2", "billing_country", "GB"),
            meta("2", "session_tokens", &session),
            meta("3", "wp_capabilities", admin_caps),
            meta("3", "first_name", "Octavia"),
            meta("3", "last_name", "Featherstonehaugh"),
        ],
    );
    insert(
        "wp_comments",
        "comment_post_ID, comment_author, comment_author_email, comment_author_url, comment_author_IP, comment_content, comment_agent",
        vec![
            row(&["1", "Quentin Blackwood", "fan@mail.test", "", "88.198.14.2", &format!("Nice! https://{host}/p/1"), agent]),
            row(&["1", "Philippa Marchbanks", philippa, "https://philippa.blog.test", "81.2.69.142", "Love it", agent]),
            row(&["2", "Octavia Featherstonehaugh", "Octavia.F@mail.test", "", "2a02:8071:3e1::7", "Thanks", agent]),
        ],
    );
    let address_index = format!(
        "Philippa Marchbanks 221B Baker Street London NW1 6XE GB {philippa} +44 20 7946 0958"
    );
    let order = |key: &str, value: &str| row(&["1", key, value]);
    insert(
        "wp_postmeta",
        "post_id, meta_key, meta_value",
        vec![
            order("_billing_first_name", "Philippa"),
            order("_billing_last_name", "Marchbanks"),
            order("_billing_company", "Hats Ltd"),
            order("_billing_address_1", "221B Baker Street"),
            order("_billing_city", "London"),
            order("_billing_postcode", "NW1 6XE"),
            order("_billing_country", "GB"),
            order("_billing_email", philippa),
            order("_billing_phone", "+44 20 7946 0958"),
            order("_shipping_first_name", "Philippa"),
            order("_shipping_last_name", "Marchbanks"),
            order("_shipping_address_1", "221B Baker Street"),
            order("_customer_ip_address", "81.2.69.142"),
            order("_customer_user_agent", agent),
            order("_billing_address_index", &address_index),
            order(
                "_shipping_address_index",
                "Philippa Marchbanks 221B Baker Street London",
            ),
            order("_order_total", "42.00"),
        ],
    );
    insert(
        "wp_wc_orders",
        "id, status, billing_email, ip_address, user_agent, customer_note",
        vec![row(&[
            "10",
            "wc-completed",
            philippa,
            "81.2.69.142",
            agent,
            "Ring twice, ask for Philippa Marchbanks",
        ])],
    );
    insert(
        "wp_wc_order_addresses",
        "order_id, address_type, first_name, last_name, company, address_1, address_2, city, state, postcode, country, email, phone",
        vec![
            row(&["10", "billing", "Philippa", "Marchbanks", "Hats Ltd", "221B Baker Street", "", "London", "", "NW1 6XE", "GB", philippa, "+44 20 7946 0958"]),
            row(&["10", "shipping", "Octavia", "Featherstonehaugh", "", "1 Unter den Linden", "", "Berlin", "BE", "10117", "DE", "Octavia.F@mail.test", "+49 30 901820"]),
        ],
    );
    insert(
        "wp_wc_customer_lookup",
        "user_id, username, first_name, last_name, email, city, state, postcode, country",
        vec![row(&[
            "2",
            "philippa",
            "Philippa",
            "Marchbanks",
            philippa,
            "London",
            "",
            "NW1 6XE",
            "GB",
        ])],
    );
    insert(
        "wp_options",
        "option_name, option_value",
        vec![
            row(&["wpforms_notifications", &notifications]),
            row(&["customer_json", json]),
            row(&[
                "newsletter_link",
                &format!("https://{host}/unsubscribe?email=fan%40mail.test"),
            ]),
        ],
    );
    sql
}

fn pg_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn my_literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}
