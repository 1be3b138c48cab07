//! Clone workflow on real MariaDB: create and destroy, with PHP checking serialized values.

use sqlx::mysql::MySqlPool;
use std::process::{Command, Stdio};
use understudy_tests::wordpress_fixture::{look_alikes, mysql_sql};
use understudy_tests::{last_json, php_rejects, TestEnv};

pub fn my_url(database: &str) -> String {
    format!("mysql://understudy:understudy@127.0.0.1:3306/{database}")
}

/// The source and staging databases of a test, dropped on drop.
pub struct Scratch(pub String);

impl Drop for Scratch {
    fn drop(&mut self) {
        for db in [self.0.clone(), format!("{}_staging", self.0)] {
            let _ = Command::new("mysql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-u",
                    "understudy",
                    "-e",
                    &format!("DROP DATABASE IF EXISTS `{db}`"),
                ])
                .env("MYSQL_PWD", "understudy")
                .output();
        }
    }
}

pub fn mysql_exec(database: Option<&str>, sql: &str) {
    use std::io::Write;
    let mut args = vec!["-h", "127.0.0.1", "-u", "understudy"];
    if let Some(db) = database {
        args.push(db);
    }
    let mut child = Command::new("mysql")
        .args(&args)
        .env("MYSQL_PWD", "understudy")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mysql client (scripts/services/mariadb.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "mysql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_staging_is_created_with_safe_rewrites_and_destroyed() {
    let env = TestEnv::new("clonemy").await;
    let host = format!("my-{}.example", &env.namespace[1..]);
    let source = format!("ut_my_{}", &env.namespace[1..]);
    let _scratch = Scratch(source.clone());
    mysql_exec(
        None,
        &format!("CREATE DATABASE `{source}` CHARACTER SET utf8mb4"),
    );
    mysql_exec(Some(&source), &mysql_sql(&host, 300));
    let uploads = env.dir.join("my/uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    std::fs::write(uploads.join("a.jpg"), b"jpeg").unwrap();
    env.add_site(&[
        "mysite",
        "--url",
        &format!("https://{host}"),
        "--db",
        &my_url(&source),
        "--uploads",
        uploads.to_str().unwrap(),
        "--tag",
        "mytag",
    ]);
    let _worker = env.worker(&[]);
    let out = env.cli(&["staging", "create", "mysite", "--wait", "--json"]);
    let status = last_json(&out);
    assert!(out.status.success(), "create failed: {status}");
    assert_eq!(status["job"]["result"]["malformed"], 1);

    let prod = MySqlPool::connect(&my_url(&source)).await.unwrap();
    let staging = MySqlPool::connect(&my_url(&format!("{source}_staging")))
        .await
        .unwrap();
    for table in [
        "wp_options",
        "wp_posts",
        "wp_postmeta",
        "wp_users",
        "wp_comments",
    ] {
        let q = format!("SELECT COUNT(*) FROM {table}");
        let a: i64 = sqlx::query_scalar(&q).fetch_one(&prod).await.unwrap();
        let b: i64 = sqlx::query_scalar(&q).fetch_one(&staging).await.unwrap();
        assert_eq!(a, b, "{table}");
    }
    let pattern = format!(
        "(//|\\\\\\\\/\\\\\\\\/|%2[Ff]%2[Ff]){}([^.a-zA-Z0-9-]|$)",
        host.replace('.', "\\\\.")
    );
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM wp_posts WHERE post_content REGEXP ?) \
              + (SELECT COUNT(*) FROM wp_postmeta WHERE meta_value REGEXP ?) \
              + (SELECT COUNT(*) FROM wp_options WHERE option_value REGEXP ? \
                   AND option_name NOT IN ('wc_subscriptions_siteurl', 'broken_serialized'))",
    )
    .bind(&pattern)
    .bind(&pattern)
    .bind(&pattern)
    .fetch_one(&staging)
    .await
    .unwrap();
    assert_eq!(left, 0, "production URLs left in the MariaDB copy");
    let post: String =
        sqlx::query_scalar("SELECT CAST(post_content AS CHAR) FROM wp_posts WHERE ID = 3")
            .fetch_one(&staging)
            .await
            .unwrap();
    for look_alike in look_alikes(&host) {
        assert!(post.contains(&look_alike), "{look_alike} rewritten: {post}");
    }
    let serialized: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(option_value AS CHAR) FROM wp_options WHERE option_value REGEXP '^[aOs]:[0-9]' AND option_name <> 'broken_serialized' \
         UNION ALL SELECT CAST(meta_value AS CHAR) FROM wp_postmeta WHERE meta_value REGEXP '^[aOs]:[0-9]'",
    )
    .fetch_all(&staging)
    .await
    .unwrap();
    assert!(serialized.len() > 300);
    let rejected = php_rejects(&serialized);
    assert!(
        rejected.is_empty(),
        "PHP cannot unserialize: {:?}",
        &rejected[..rejected.len().min(3)]
    );
    let public: String = sqlx::query_scalar(
        "SELECT CAST(option_value AS CHAR) FROM wp_options WHERE option_name = 'blog_public'",
    )
    .fetch_one(&staging)
    .await
    .unwrap();
    assert_eq!(public, "0");

    // Promote an edit back: URLs return to production, production's own options stay.
    sqlx::query("UPDATE wp_posts SET post_content = CONCAT('edited https://staging.', ?, '/e') WHERE ID = 2")
        .bind(&host).execute(&staging).await.unwrap();
    staging.close().await;
    let out = env.cli(&[
        "staging",
        "promote",
        "mysite",
        "--tables",
        "posts,options",
        "--wait",
        "--json",
    ]);
    let status = last_json(&out);
    assert!(out.status.success(), "promote failed: {status}");
    assert!(std::path::Path::new(status["job"]["result"]["backup"].as_str().unwrap()).is_file());
    let content: String =
        sqlx::query_scalar("SELECT CAST(post_content AS CHAR) FROM wp_posts WHERE ID = 2")
            .fetch_one(&prod)
            .await
            .unwrap();
    assert_eq!(content, format!("edited https://{host}/e"));
    let public: String = sqlx::query_scalar(
        "SELECT CAST(option_value AS CHAR) FROM wp_options WHERE option_name = 'blog_public'",
    )
    .fetch_one(&prod)
    .await
    .unwrap();
    assert_eq!(public, "1", "staging hardening is not promoted");
    let posts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wp_posts")
        .fetch_one(&prod)
        .await
        .unwrap();
    assert_eq!(posts, 300);

    // A bulk refresh with --wait follows every job to its end, in one JSON document.
    let out = env.cli(&[
        "staging", "refresh", "--all", "--tag", "mytag", "--wait", "--json",
    ]);
    let doc = understudy_tests::stdout_json(&out);
    assert!(out.status.success(), "bulk refresh failed: {doc}");
    assert_eq!(doc["enqueued"], 1, "{doc}");
    assert_eq!(doc["jobs"][0]["state"], "succeeded", "{doc}");
    assert_eq!(doc["jobs"][0]["id"], doc["job_ids"][0], "{doc}");

    let out = env.cli(&["staging", "destroy", "mysite", "--wait"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE ?",
    )
    .bind(format!("{source}\\_staging%"))
    .fetch_one(&prod)
    .await
    .unwrap();
    assert_eq!(left, 0, "staging and incoming databases are gone");
}
