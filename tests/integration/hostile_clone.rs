//! Hostile input to the clone side: site definitions with SQL and shell metacharacters, URLs of
//! other schemes or with credentials, clone specs over AMQP naming impossible sites, and
//! databases whose bytes are not UTF-8 (a LATIN1 PostgreSQL database, latin1 MariaDB tables,
//! bytea and blob columns holding every byte value). Each ends in a readable error or in a copy
//! whose bytes equal the source's; nothing executes and the worker never crashes.

use serde_json::json;
use sqlx::mysql::MySqlPool;
use sqlx::PgPool;
use std::time::Duration;
use understudy_tests::{last_json, stdout_json, TestEnv};
use understudy_worker::contract::Priority;
use understudy_worker::state::JobState;

use crate::clone_mysql::{my_url, mysql_exec, Scratch as MyScratch};
use crate::clone_pg::pg_url;

/// A file the hostile inputs try to create through a shell; it must never appear.
fn marker(env: &TestEnv) -> std::path::PathBuf {
    env.dir.join("pwned")
}

/// One refused `site add`: name, URL, database URL, table prefix, extra arguments, and the
/// words the error must contain.
type SiteCase = (String, String, String, String, Vec<String>, &'static str);

#[tokio::test(flavor = "multi_thread")]
async fn hostile_site_definitions_are_refused_readably_and_nothing_executes() {
    let env = TestEnv::new("hostile-site").await;
    let pwned = marker(&env);
    let touch = format!("$(touch {})", pwned.display());
    let tick = format!("`touch {}`", pwned.display());
    let uploads = env.dir.join("site/wp-content/uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    let up = uploads.to_str().unwrap().to_string();
    let db = pg_url("ut_nosuch_source");
    let url = "https://shop.example".to_string();
    let secret = "S3cretPw0rd";
    let cases: Vec<SiteCase> = vec![
        (
            format!("x{touch}"),
            url.clone(),
            db.clone(),
            "wp_".into(),
            vec![],
            "site name",
        ),
        (
            format!("x{tick}"),
            url.clone(),
            db.clone(),
            "wp_".into(),
            vec![],
            "site name",
        ),
        (
            "x;drop table sites;--".into(),
            url.clone(),
            db.clone(),
            "wp_".into(),
            vec![],
            "site name",
        ),
        (
            "shop".into(),
            url.clone(),
            db.clone(),
            format!("wp_{touch}"),
            vec![],
            "table prefix",
        ),
        (
            "shop".into(),
            url.clone(),
            db.clone(),
            "wp_'; DROP TABLE wp_users; --".into(),
            vec![],
            "table prefix",
        ),
        (
            "shop".into(),
            url.clone(),
            db.clone(),
            "wp_\"x\"".into(),
            vec![],
            "table prefix",
        ),
        (
            "shop".into(),
            url.clone(),
            pg_url(&format!("x{touch}")),
            "wp_".into(),
            vec![],
            "database name",
        ),
        (
            "shop".into(),
            url.clone(),
            pg_url("x';DROP DATABASE understudy;--"),
            "wp_".into(),
            vec![],
            "database name",
        ),
        (
            "shop".into(),
            url.clone(),
            "file:///etc/passwd".into(),
            "wp_".into(),
            vec![],
            "use postgres://",
        ),
        (
            "shop".into(),
            "file:///etc/passwd".into(),
            db.clone(),
            "wp_".into(),
            vec![],
            "use http:// or https://",
        ),
        (
            "shop".into(),
            "gopher://shop.example:70/1".into(),
            db.clone(),
            "wp_".into(),
            vec![],
            "use http:// or https://",
        ),
        (
            "shop".into(),
            "javascript:alert(document.cookie)".into(),
            db.clone(),
            "wp_".into(),
            vec![],
            "use http:// or https://",
        ),
        (
            "shop".into(),
            format!("https://admin:{secret}@shop.example"),
            db.clone(),
            "wp_".into(),
            vec![],
            "credentials do not belong",
        ),
        (
            "shop".into(),
            url.clone(),
            db.clone(),
            "wp_".into(),
            vec![
                "--staging-url".into(),
                format!("https://deploy:{secret}@staging.shop.example"),
            ],
            "credentials do not belong",
        ),
        (
            "shop".into(),
            url.clone(),
            db.clone(),
            "wp_".into(),
            vec!["--staging-uploads".into(), "/srv/../etc".into()],
            "no '..'",
        ),
        (
            "shop".into(),
            url.clone(),
            db.clone(),
            "wp_".into(),
            vec!["--tag".into(), format!("t{touch}")],
            "tag",
        ),
    ];
    for (name, url, db, prefix, extra, message) in &cases {
        let mut args: Vec<&str> = vec![
            "site",
            "add",
            name,
            "--url",
            url,
            "--db",
            db,
            "--uploads",
            &up,
            "--table-prefix",
            prefix,
        ];
        args.extend(extra.iter().map(String::as_str));
        let out = env.cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(!stderr.contains(secret), "a password was printed: {stderr}");
        assert!(!stderr.contains("understudy:understudy@"), "{stderr}");
    }
    let sites: i64 = sqlx::query_scalar("SELECT count(*) FROM sites")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(sites, 0, "nothing registered by refused input");
    assert!(!pwned.exists(), "a shell ran the input");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_clone_specs_over_amqp_are_dead_lettered_and_the_worker_carries_on() {
    let env = TestEnv::new("hostile-spec").await;
    let worker = env.worker(&[]);
    env.wait_workers(1).await;
    let pwned = marker(&env);
    let touch = format!("$(touch {})", pwned.display());
    let specs = vec![
        json!({"action": "create", "site": format!("x{touch}")}),
        json!({"action": "create", "site": "../../etc/passwd"}),
        json!({"action": "create", "site": "shop'; DROP TABLE sites; --"}),
        json!({"action": "create", "site": "shop\u{0}x"}),
        // An inline site definition where a registered name is expected.
        json!({"action": "create", "site": {"url": "file:///etc/passwd", "db": "postgres://u:p@h/x"}}),
        json!({"action": "create", "site": "shop", "parallel_tables": "many"}),
        json!({"action": "create", "site": "shop", "parallel_tables": 1_000_000}),
        json!({"action": "promote", "site": "shop", "tables": ["posts; DROP TABLE wp_users"]}),
        json!({"action": "create", "site": "shop", "keep_options": ["siteurl\n"]}),
        json!({"action": "restore", "site": "shop", "backup": null}),
        json!({"action": "teleport", "site": "shop"}),
        json!({"action": "create", "site": "shop", "shell": "rm -rf /"}),
    ];
    for spec in &specs {
        let body =
            serde_json::to_vec(&json!({"schema": 1, "kind": "clone", "spec": spec})).unwrap();
        env.publish_raw("interactive", body).await;
    }
    let good = env
        .enqueue("noop", json!({"steps": 1}), Priority::Interactive)
        .await;
    assert_eq!(
        env.wait_terminal(good, Duration::from_secs(60)).await,
        JobState::Succeeded
    );
    env.wait_dead_letters(specs.len()).await;
    let listed = stdout_json(&env.cli(&["dlq", "list", "--json"]));
    for dead in listed.as_array().unwrap() {
        let reason = dead["reason"].as_str().unwrap();
        assert!(reason.contains("clone:"), "reason names the kind: {reason}");
        assert!(!reason.contains("u:p@"), "credentials echoed: {reason}");
    }
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 1, "hostile specs never become jobs");
    assert!(!pwned.exists(), "a shell ran the input");
    assert!(
        !worker.log_text().contains("panicked"),
        "{}",
        worker.log_text()
    );
}

/// Drops a test's PostgreSQL databases (`<prefix>%`: source, staging, incoming) on drop.
struct PgDatabases(String);

impl Drop for PgDatabases {
    fn drop(&mut self) {
        let prefix = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let Ok(pool) = PgPool::connect(&pg_url("understudy")).await else {
                    return;
                };
                let names: Vec<String> = sqlx::query_scalar(
                    "SELECT datname::text FROM pg_database WHERE datname LIKE $1",
                )
                .bind(format!("{prefix}%"))
                .fetch_all(&pool)
                .await
                .unwrap_or_default();
                for name in names {
                    let _ =
                        understudy_workflows::clone::postgres::drop_database(&pool, &name).await;
                }
            });
        })
        .join();
    }
}

/// Every byte value, invalid UTF-8 sequences, and a production URL inside binary data.
fn binary_blob(host: &str) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..=255u8).collect();
    bytes.extend_from_slice(b"\xC3\x28 \xA0\xA1 \xF0\x28\x8C\xBC \xFF\xFE\x00 ");
    bytes.extend_from_slice(format!("https://{host}/wp-content/uploads/x.png").as_bytes());
    bytes.extend_from_slice(b"\x00\\\\'\"\n\r\t");
    bytes
}

/// Latin-1 text (every character from U+0080 to U+00FF, as one byte each in the database).
fn latin1_text() -> String {
    (0x80u32..=0xFF).filter_map(char::from_u32).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_latin1_postgres_database_with_binary_columns_is_cloned_byte_for_byte() {
    let env = TestEnv::new("hostile-pg-latin1").await;
    let host = format!("latin-{}.example", &env.namespace[1..]);
    let source = format!("ut_l1_{}", &env.namespace[1..]);
    let _drop = PgDatabases(source.clone());
    sqlx::query(&format!(
        "CREATE DATABASE \"{source}\" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
    ))
    .execute(&env.pool)
    .await
    .unwrap();
    let prod = PgPool::connect(&pg_url(&source)).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE wp_options (option_id bigserial PRIMARY KEY, option_name varchar(191) NOT NULL UNIQUE, option_value text NOT NULL, autoload varchar(20) NOT NULL DEFAULT 'yes');
         CREATE TABLE wp_posts (\"ID\" bigserial PRIMARY KEY, post_title text NOT NULL, post_content text NOT NULL, guid varchar(255) NOT NULL);
         CREATE TABLE wp_binary (id bigserial PRIMARY KEY, data bytea NOT NULL);",
    )
    .execute(&prod)
    .await
    .unwrap();
    let latin = latin1_text();
    let serialized_url = format!("https://{host}/caf\u{e9}");
    // Byte length in the database's encoding (LATIN1: one byte per character).
    let serialized = format!(
        "a:1:{{s:3:\"url\";s:{}:\"{serialized_url}\";}}",
        serialized_url.chars().count()
    );
    for (name, value) in [
        ("siteurl", format!("https://{host}")),
        ("home", format!("https://{host}")),
        ("blogname", format!("Caf\u{e9} {latin}")),
        ("blog_public", "1".into()),
        ("latin_serialized", serialized.clone()),
    ] {
        sqlx::query("INSERT INTO wp_options (option_name, option_value) VALUES ($1, $2)")
            .bind(name)
            .bind(value)
            .execute(&prod)
            .await
            .unwrap();
    }
    let content = format!("{latin} <a href=\"https://{host}/about/\">\u{e0} propos</a> {latin}");
    for (title, body) in [("plain", latin.clone()), ("linked", content.clone())] {
        sqlx::query("INSERT INTO wp_posts (post_title, post_content, guid) VALUES ($1, $2, $3)")
            .bind(format!("{title} \u{ff}"))
            .bind(body)
            .bind(format!("https://{host}/?p={title}"))
            .execute(&prod)
            .await
            .unwrap();
    }
    let blob = binary_blob(&host);
    sqlx::query("INSERT INTO wp_binary (data) VALUES ($1)")
        .bind(&blob)
        .execute(&prod)
        .await
        .unwrap();
    let uploads = env.dir.join("l1/wp-content/uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    env.add_site(&[
        "latin",
        "--url",
        &format!("https://{host}"),
        "--db",
        &pg_url(&source),
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    let worker = env.worker(&[]);
    let out = env.cli(&["staging", "create", "latin", "--wait", "--json"]);
    let status = last_json(&out);
    assert!(
        out.status.success(),
        "create failed: {status}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        worker.log_text()
    );

    let staging = PgPool::connect(&pg_url(&format!("{source}_staging")))
        .await
        .unwrap();
    let copied: Vec<u8> = sqlx::query_scalar("SELECT data FROM wp_binary")
        .fetch_one(&staging)
        .await
        .unwrap();
    assert_eq!(copied, blob, "bytea changed");
    let posts: Vec<(String, String, String)> =
        sqlx::query_as("SELECT post_title, post_content, guid FROM wp_posts ORDER BY \"ID\"")
            .fetch_all(&staging)
            .await
            .unwrap();
    assert_eq!(posts[0].0, "plain \u{ff}");
    assert_eq!(posts[0].1, latin, "latin-1 text changed");
    assert_eq!(
        posts[1].1,
        content.replace(&format!("//{host}"), &format!("//staging.{host}")),
        "only the URL changes"
    );
    assert_eq!(posts[1].2, format!("https://{host}/?p=linked"), "guid kept");
    let option = |name: &'static str| {
        let staging = staging.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT option_value FROM wp_options WHERE option_name = $1",
            )
            .bind(name)
            .fetch_one(&staging)
            .await
            .unwrap()
        }
    };
    assert!(option("blogname")
        .await
        .ends_with(&format!("Caf\u{e9} {latin}")));
    let moved = serialized_url.replace(&format!("//{host}"), &format!("//staging.{host}"));
    assert_eq!(
        option("latin_serialized").await,
        format!(
            "a:1:{{s:3:\"url\";s:{}:\"{moved}\";}}",
            moved.chars().count()
        ),
        "serialized length counted in the database's bytes"
    );
    assert!(!worker.log_text().contains("panicked"));
}

#[tokio::test(flavor = "multi_thread")]
async fn latin1_mariadb_tables_and_blobs_are_cloned_byte_for_byte() {
    let env = TestEnv::new("hostile-my-latin1").await;
    let host = format!("latmy-{}.example", &env.namespace[1..]);
    let source = format!("ut_l1my_{}", &env.namespace[1..]);
    let _scratch = MyScratch(source.clone());
    mysql_exec(
        None,
        &format!("CREATE DATABASE `{source}` CHARACTER SET utf8mb4"),
    );
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    // Every byte from 0x80 to 0xFF in a latin1 column, and a production URL between them.
    let high: Vec<u8> = (0x80..=0xFFu8).collect();
    let mut linked = high.clone();
    linked.extend_from_slice(format!(" <a href=\"https://{host}/about/\">").as_bytes());
    linked.extend_from_slice(b"\xE0 propos</a> ");
    linked.extend_from_slice(&high);
    let blob = binary_blob(&host);
    mysql_exec(
        Some(&source),
        &format!(
            "CREATE TABLE wp_options (option_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, option_name varchar(191) NOT NULL UNIQUE, option_value longtext NOT NULL, autoload varchar(20) NOT NULL DEFAULT 'yes') DEFAULT CHARSET=latin1;
             INSERT INTO wp_options (option_name, option_value) VALUES ('siteurl', 'https://{host}'), ('home', 'https://{host}'), ('blogname', UNHEX('{name}')), ('blog_public', '1');
             CREATE TABLE wp_posts (ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, post_title text NOT NULL, post_content longtext NOT NULL, guid varchar(255) NOT NULL) DEFAULT CHARSET=latin1;
             INSERT INTO wp_posts (post_title, post_content, guid) VALUES ('plain', UNHEX('{plain}'), 'https://{host}/?p=1'), ('linked', UNHEX('{linked}'), 'https://{host}/?p=2');
             CREATE TABLE wp_blobs (id int PRIMARY KEY, data longblob NOT NULL, note varbinary(255)) DEFAULT CHARSET=utf8mb4;
             INSERT INTO wp_blobs VALUES (1, UNHEX('{blob}'), UNHEX('C328A0A1FF00'));",
            name = hex(b"Caf\xE9 \xFF"),
            plain = hex(&high),
            linked = hex(&linked),
            blob = hex(&blob),
        ),
    );
    let uploads = env.dir.join("l1my/uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    env.add_site(&[
        "latmy",
        "--url",
        &format!("https://{host}"),
        "--db",
        &my_url(&source),
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    let worker = env.worker(&[]);
    let out = env.cli(&["staging", "create", "latmy", "--wait", "--json"]);
    let status = last_json(&out);
    assert!(
        out.status.success(),
        "create failed: {status}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        worker.log_text()
    );
    let staging = MySqlPool::connect(&my_url(&format!("{source}_staging")))
        .await
        .unwrap();
    let hexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(HEX(data) AS CHAR), CAST(HEX(note) AS CHAR) FROM wp_blobs WHERE id = 1",
    )
    .fetch_all(&staging)
    .await
    .unwrap();
    assert_eq!(hexes[0].0, hex(&blob), "blob changed");
    assert_eq!(hexes[0].1, "C328A0A1FF00", "varbinary changed");
    let posts: Vec<String> =
        sqlx::query_scalar("SELECT CAST(HEX(post_content) AS CHAR) FROM wp_posts ORDER BY ID")
            .fetch_all(&staging)
            .await
            .unwrap();
    assert_eq!(posts[0], hex(&high), "latin1 bytes changed");
    let (needle, to) = (format!("//{host}"), format!("//staging.{host}"));
    let at = linked
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap();
    let moved = [&linked[..at], to.as_bytes(), &linked[at + needle.len()..]].concat();
    assert_eq!(posts[1], hex(&moved), "only the URL changes");
    let name: String = sqlx::query_scalar(
        "SELECT CAST(HEX(option_value) AS CHAR) FROM wp_options WHERE option_name = 'blogname'",
    )
    .fetch_one(&staging)
    .await
    .unwrap();
    assert!(name.ends_with(&hex(b"Caf\xE9 \xFF")), "{name}");
    assert!(!worker.log_text().contains("panicked"));
}
