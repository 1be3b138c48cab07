//! A MariaDB copy reads every table in one snapshot (#14 item 6): with posts and their comments
//! written to production during `staging create`, staging has no comment without its post.

use sqlx::mysql::MySqlPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use understudy_tests::wordpress_fixture::mysql_sql;
use understudy_tests::{last_json, TestEnv};

use super::clone_mysql::{my_url, mysql_exec, Scratch};

/// Comments whose post does not exist, and posts minus comments.
async fn integrity(pool: &MySqlPool) -> (i64, i64) {
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM wp_comments c LEFT JOIN wp_posts p ON p.ID = c.comment_post_ID \
         WHERE p.ID IS NULL",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let difference: i64 = sqlx::query_scalar(
        "SELECT CAST((SELECT COUNT(*) FROM wp_posts) - (SELECT COUNT(*) FROM wp_comments) AS SIGNED)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    (orphans, difference)
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_copy_is_one_snapshot_while_production_is_written() {
    let env = TestEnv::new("snapmy").await;
    let host = format!("snap-{}.example", &env.namespace[1..]);
    let source = format!("ut_snap_{}", &env.namespace[1..]);
    let _scratch = Scratch(source.clone());
    mysql_exec(
        None,
        &format!("CREATE DATABASE `{source}` CHARACTER SET utf8mb4"),
    );
    mysql_exec(Some(&source), &mysql_sql(&host, 200));
    // The largest table is dumped first: it keeps the dump going while posts and comments are
    // written.
    mysql_exec(
        Some(&source),
        "SET SESSION max_recursive_iterations = 10000; \
         CREATE TABLE wp_filler (id int PRIMARY KEY AUTO_INCREMENT, pad longtext) DEFAULT CHARSET=utf8mb4; \
         INSERT INTO wp_filler (pad) WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 3000) \
         SELECT REPEAT(CONCAT('filler ', i, ' '), 2000) FROM s;",
    );
    let uploads = env.dir.join("snap/uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    env.add_site(&[
        "snap",
        "--url",
        &format!("https://{host}"),
        "--db",
        &my_url(&source),
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    let prod = MySqlPool::connect(&my_url(&source)).await.unwrap();
    let (orphans, before) = integrity(&prod).await;
    assert_eq!(orphans, 0);

    // A post and its comment in one transaction, again and again, with the commit times.
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(Mutex::new(Vec::<chrono::DateTime<chrono::Utc>>::new()));
    let writer = {
        let (prod, stop, commits) = (prod.clone(), stop.clone(), commits.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let mut tx = prod.begin().await.unwrap();
                let post = sqlx::query(
                    "INSERT INTO wp_posts (post_title, post_content) VALUES ('live', 'written during the copy')",
                )
                .execute(&mut *tx)
                .await
                .unwrap()
                .last_insert_id();
                sqlx::query(
                    "INSERT INTO wp_comments (comment_post_ID, comment_author, comment_content) \
                     VALUES (?, 'reader', 'first!')",
                )
                .bind(post)
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                commits.lock().unwrap().push(chrono::Utc::now());
            }
        })
    };

    let _worker = env.worker(&[]);
    let out = env.cli(&["staging", "create", "snap", "--wait", "--json"]);
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let status = last_json(&out);
    assert!(out.status.success(), "create failed: {status}");
    let result = &status["job"]["result"];
    assert_eq!(result["copy"]["snapshot"], "consistent", "{result}");
    let id: uuid::Uuid = status["job"]["id"].as_str().unwrap().parse().unwrap();

    // Writes were committed while the one `copy` step ran (from the step before it to its end).
    let steps: Vec<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT name, completed_at FROM job_steps WHERE job_id = $1 ORDER BY completed_at",
    )
    .bind(id)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert!(
        !steps.iter().any(|(name, _)| name.starts_with("copy:")),
        "{steps:?}"
    );
    let copy = steps.iter().position(|(name, _)| name == "copy").unwrap();
    let (began, ended) = (steps[copy - 1].1, steps[copy].1);
    let during = commits
        .lock()
        .unwrap()
        .iter()
        .filter(|t| **t > began && **t < ended)
        .count();
    eprintln!("{during} writes during the copy ({began} → {ended})");
    assert!(
        during >= 3,
        "only {during} writes during the copy ({began} → {ended})"
    );

    let staging = MySqlPool::connect(&my_url(&format!("{source}_staging")))
        .await
        .unwrap();
    let (orphans, difference) = integrity(&staging).await;
    assert_eq!(orphans, 0, "comments without their post on staging");
    assert_eq!(
        difference, before,
        "posts and comments from different moments"
    );
    let copied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wp_posts WHERE post_title = 'live'")
        .fetch_one(&staging)
        .await
        .unwrap();
    assert!(copied >= 1, "the snapshot was taken before any write");
    staging.close().await;

    // `--per-table-snapshot` copies table by table, resumable one table at a time.
    let out = env.cli(&[
        "staging",
        "refresh",
        "snap",
        "--per-table-snapshot",
        "--wait",
        "--json",
    ]);
    let status = last_json(&out);
    assert!(out.status.success(), "refresh failed: {status}");
    assert_eq!(status["job"]["result"]["copy"]["snapshot"], "per-table");
    let id: uuid::Uuid = status["job"]["id"].as_str().unwrap().parse().unwrap();
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM job_steps WHERE job_id = $1 AND name LIKE 'copy%'")
            .bind(id)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert!(names.contains(&"copy:wp_posts".to_string()), "{names:?}");
    assert!(!names.contains(&"copy".to_string()), "{names:?}");

    let out = env.cli(&["staging", "destroy", "snap", "--wait"]);
    assert!(out.status.success());
    prod.close().await;
}
