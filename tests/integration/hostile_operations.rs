//! Hostile *operations* on the clone side (issue #12), on the real MariaDB: settings that point
//! staging at production (another site's, or this site's under another spelling or through a
//! symbolic link), destroy with nothing recorded, restore after production moved on, backups of
//! a removed site, promote from an anonymized copy, two sites' copies made at once on one
//! server. After each, every production database and directory is byte-identical to before.

use sqlx::mysql::MySqlPool;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use understudy_tests::wordpress_fixture::mysql_sql;
use understudy_tests::{last_json, stdout_json, TestEnv};
use understudy_worker::state::JobState;

use crate::clone_mysql::{my_url, mysql_exec};

/// MariaDB databases of a test (every name starting with the prefix), dropped on drop.
struct Databases(String);

impl Drop for Databases {
    fn drop(&mut self) {
        let list = Command::new("mysql")
            .args(["-h", "127.0.0.1", "-u", "understudy", "-N", "-B", "-e"])
            .arg(format!(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{}%'",
                self.0
            ))
            .env("MYSQL_PWD", "understudy")
            .output();
        if let Ok(out) = list {
            for db in String::from_utf8_lossy(&out.stdout).lines() {
                mysql_exec(None, &format!("DROP DATABASE IF EXISTS `{db}`"));
            }
        }
    }
}

/// The whole database as `mysqldump` prints it (no dump date): equal bytes, equal database.
fn fingerprint(database: &str) -> Vec<u8> {
    let out = Command::new("mysqldump")
        .args(["-h", "127.0.0.1", "-u", "understudy"])
        .args([
            "--skip-dump-date",
            "--single-transaction",
            "--hex-blob",
            "--routines",
        ])
        .arg(database)
        .env("MYSQL_PWD", "understudy")
        .output()
        .expect("mysqldump (scripts/services/mariadb.sh)");
    assert!(
        out.status.success(),
        "mysqldump {database}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every path below `dir` with its mode and content (links with their target).
fn tree(dir: &Path) -> Vec<(PathBuf, u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&at) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let content = if meta.is_symlink() {
                std::fs::read_link(&path)
                    .unwrap()
                    .display()
                    .to_string()
                    .into_bytes()
            } else if meta.is_file() {
                std::fs::read(&path).unwrap()
            } else {
                stack.push(path.clone());
                Vec::new()
            };
            out.push((
                path.strip_prefix(dir).unwrap().to_path_buf(),
                meta.permissions().mode(),
                content,
            ));
        }
    }
    out.sort();
    out
}

/// A generated production site on MariaDB: database `name` with `posts` posts for `host`, and
/// an uploads directory with two files.
fn production(env: &TestEnv, name: &str, host: &str, posts: u32) -> PathBuf {
    mysql_exec(
        None,
        &format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"),
    );
    mysql_exec(Some(name), &mysql_sql(host, posts));
    let uploads = env.dir.join(format!("up/{name}"));
    std::fs::create_dir_all(uploads.join("2026/12")).unwrap();
    std::fs::write(uploads.join("2026/12/a.jpg"), vec![3u8; 4096]).unwrap();
    std::fs::write(uploads.join("b.txt"), b"production file").unwrap();
    uploads
}

fn refused(env: &TestEnv, args: &[&str], code: i32, words: &str) {
    let out = env.cli(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(words), "{args:?}: {stderr}");
}

/// Runs a clone command with `--wait --json`; returns (exit code, final status document).
fn run(env: &TestEnv, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut all = args.to_vec();
    all.extend(["--wait", "--json"]);
    let out = env.cli(&all);
    (out.status.code(), last_json(&out))
}

fn job_error(status: &serde_json::Value) -> String {
    status["job"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn staging_settings_that_reach_production_are_refused_and_unmarked_data_is_never_dropped() {
    let env = TestEnv::new("hostile-ops").await;
    let p = format!("ut_ho_{}", &env.namespace[1..]);
    let _dbs = Databases(p.clone());
    let victim_db = format!("{p}_victim");
    let victim_up = production(&env, &victim_db, "victim.example", 20);
    // `site add` wants an uploads directory that exists.
    let up = |name: &str| {
        let dir = env.dir.join(format!("up/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        dir.display().to_string()
    };
    env.add_site(&[
        "victim",
        "--url",
        "https://victim.example",
        "--db",
        &my_url(&victim_db),
        "--uploads",
        victim_up.to_str().unwrap(),
    ]);
    let bystander = format!("{p}_bystander");
    mysql_exec(None, &format!("CREATE DATABASE `{bystander}`"));
    mysql_exec(
        Some(&bystander),
        "CREATE TABLE keep (id int PRIMARY KEY, note text); INSERT INTO keep VALUES (1, 'not ours');",
    );
    let before = (
        fingerprint(&victim_db),
        fingerprint(&bystander),
        tree(&victim_up),
    );
    let w_db = format!("{p}_w");
    production(&env, &w_db, "w.example", 5);
    let localhost = |db: &str| format!("mysql://understudy:understudy@localhost:3306/{db}");

    // 1. Staging = another site's production: refused at `site add`, by database and directory.
    refused(
        &env,
        &[
            "site",
            "add",
            "w",
            "--url",
            "https://w.example",
            "--db",
            &my_url(&w_db),
            "--uploads",
            &up(&w_db),
            "--staging-db",
            &my_url(&victim_db),
            "--staging-uploads",
            victim_up.to_str().unwrap(),
        ],
        2,
        "production database of site victim",
    );
    // 2. The site's own production under another spelling of the host.
    refused(
        &env,
        &[
            "site",
            "add",
            "w",
            "--url",
            "https://w.example",
            "--db",
            &my_url(&w_db),
            "--uploads",
            &up(&w_db),
            "--staging-db",
            &localhost(&w_db),
        ],
        2,
        "this site's production database",
    );
    //    …and another site's production again under another spelling: allowed (a second copy,
    //    e.g. for QA), but its default staging database is victim's, spelled `localhost`.
    refused(
        &env,
        &[
            "site",
            "add",
            "again",
            "--url",
            "https://again.example",
            "--db",
            &localhost(&victim_db),
            "--uploads",
            &up("again"),
        ],
        2,
        "already the staging database of site victim",
    );
    // 6. Staging uploads through a symbolic link into production's.
    let link = env.dir.join("up/link");
    std::os::unix::fs::symlink(&victim_up, &link).unwrap();
    refused(
        &env,
        &[
            "site",
            "add",
            "w",
            "--url",
            "https://w.example",
            "--db",
            &my_url(&w_db),
            "--uploads",
            &up(&w_db),
            "--staging-uploads",
            link.to_str().unwrap(),
        ],
        2,
        "production uploads directory of site victim",
    );
    // Two sites sharing one staging database or directory.
    refused(
        &env,
        &[
            "site",
            "add",
            "w",
            "--url",
            "https://w.example",
            "--db",
            &my_url(&w_db),
            "--uploads",
            &up(&w_db),
            "--staging-uploads",
            &format!("{}-staging", victim_up.display()),
        ],
        2,
        "staging uploads directory of site victim",
    );
    // Production that is another site's staging (a promote there would write into it).
    refused(
        &env,
        &[
            "site",
            "add",
            "w",
            "--url",
            "https://w.example",
            "--db",
            &my_url(&format!("{victim_db}_staging")),
            "--uploads",
            &up(&w_db),
        ],
        2,
        "staging database of site victim",
    );

    // A staging database that exists but that Understudy never made (no site owns it): the site
    // is accepted, but create and destroy refuse to overwrite or drop it — nothing recorded.
    env.add_site(&[
        "w",
        "--url",
        "https://w.example",
        "--db",
        &my_url(&w_db),
        "--uploads",
        &up(&w_db),
        "--staging-db",
        &my_url(&bystander),
    ]);
    let _worker = env.worker(&[("UNDERSTUDY_RETRY__MAX_TRIES", "2")]);
    let (code, status) = run(&env, &["staging", "create", "w"]);
    assert_eq!(code, Some(1), "{status}");
    assert!(
        job_error(&status).contains("Understudy did not make it"),
        "{status}"
    );
    let (code, status) = run(&env, &["staging", "destroy", "w"]);
    assert_eq!(code, Some(1), "{status}");
    assert!(
        job_error(&status).contains("Understudy did not make it"),
        "{status}"
    );
    // A site with no staging at all: destroy is a no-op that says so.
    let (code, status) = run(&env, &["staging", "destroy", "victim"]);
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(
        status["job"]["result"]["destroyed"]["database"],
        serde_json::Value::Null
    );

    // A real staging copy, then a refresh and a destroy: only its own marked copy goes.
    let (code, status) = run(&env, &["staging", "create", "victim"]);
    assert_eq!(code, Some(0), "{status}");
    let (code, status) = run(&env, &["staging", "refresh", "victim"]);
    assert_eq!(code, Some(0), "{status}");
    let (code, status) = run(&env, &["staging", "destroy", "victim"]);
    assert_eq!(code, Some(0), "{status}");
    assert!(!Path::new(&format!("{}-staging", victim_up.display())).exists());

    let after = (
        fingerprint(&victim_db),
        fingerprint(&bystander),
        tree(&victim_up),
    );
    assert!(before.0 == after.0, "victim's production database changed");
    assert!(
        before.1 == after.1,
        "the unmarked bystander database changed"
    );
    assert!(before.2 == after.2, "victim's production uploads changed");
    let left: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE ?",
    )
    .bind(format!("{victim_db}\\_staging%"))
    .fetch_all(&MySqlPool::connect(&my_url(&victim_db)).await.unwrap())
    .await
    .unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_puts_back_only_the_promoted_tables_and_backups_never_cross_registrations() {
    let env = TestEnv::new("hostile-restore").await;
    let p = format!("ut_hr_{}", &env.namespace[1..]);
    let _dbs = Databases(p.clone());
    let prod_db = format!("{p}_s");
    let uploads = production(&env, &prod_db, "s.example", 10);
    env.add_site(&[
        "s",
        "--url",
        "https://s.example",
        "--db",
        &my_url(&prod_db),
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    let _worker = env.worker(&[]);
    let (code, status) = run(&env, &["staging", "create", "s"]);
    assert_eq!(code, Some(0), "{status}");
    let prod = MySqlPool::connect(&my_url(&prod_db)).await.unwrap();
    let staging = MySqlPool::connect(&my_url(&format!("{prod_db}_staging")))
        .await
        .unwrap();
    let post = |pool: MySqlPool| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT CAST(post_content AS CHAR) FROM wp_posts WHERE ID = 2",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let original = post(prod.clone()).await;
    sqlx::query("UPDATE wp_posts SET post_content = 'edited on staging' WHERE ID = 2")
        .execute(&staging)
        .await
        .unwrap();
    staging.close().await;
    let (code, status) = run(&env, &["staging", "promote", "s", "--tables", "posts"]);
    assert_eq!(code, Some(0), "{status}");
    let backup = status["job"]["result"]["backup"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(post(prod.clone()).await, "edited on staging");

    // Production moves on: a comment and a user arrive after the promote.
    sqlx::query("INSERT INTO wp_comments (comment_post_ID, comment_author, comment_content) VALUES (2, 'New Reader', 'arrived after the promote')")
        .execute(&prod).await.unwrap();
    sqlx::query(
        "INSERT INTO wp_users (user_login, user_email) VALUES ('newcomer', 'newcomer@mail.test')",
    )
    .execute(&prod)
    .await
    .unwrap();
    let live = |pool: MySqlPool| async move {
        let comments: Vec<String> = sqlx::query_scalar("SELECT CONCAT(comment_ID, ':', comment_author, ':', comment_content) FROM wp_comments ORDER BY comment_ID").fetch_all(&pool).await.unwrap();
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT CONCAT(ID, ':', user_login, ':', user_email) FROM wp_users ORDER BY ID",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        (comments, users)
    };
    let live_before = live(prod.clone()).await;

    // 3. Restore puts back exactly the promoted table, after backing up its current state.
    let (code, status) = run(&env, &["staging", "restore", "s", "--backup", &backup]);
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(
        status["job"]["result"]["tables"],
        serde_json::json!(["wp_posts"])
    );
    assert_eq!(post(prod.clone()).await, original);
    assert_eq!(
        live(prod.clone()).await,
        live_before,
        "restore wiped live rows"
    );
    let listed = stdout_json(&env.cli(&["site", "backups", "s", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    // A table the backup does not hold is refused by name.
    let (code, status) = run(
        &env,
        &[
            "staging", "restore", "s", "--backup", &backup, "--tables", "comments",
        ],
    );
    assert_eq!(code, Some(1), "{status}");
    assert!(
        job_error(&status).contains("wp_comments is not in the backup"),
        "{status}"
    );
    // The restore can be undone with its own backup, named relative to the current directory
    // (the CLI runs in env.dir); a path that is no recorded backup is refused before any job.
    let undo = status_of_undo(&env, &listed);
    let jobs = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM jobs")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let before_jobs = jobs(env.pool.clone()).await;
    for bogus in ["data/backups/s/nope.sql.zst", "nope.sql.zst"] {
        let out = env.cli(&["staging", "restore", "s", "--backup", bogus, "--wait"]);
        assert_eq!(out.status.code(), Some(2), "{bogus}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not a recorded backup of site s"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        jobs(env.pool.clone()).await,
        before_jobs,
        "a refused restore made a job"
    );
    let relative = Path::new(&undo)
        .strip_prefix(&env.dir)
        .expect("backups live under the data dir")
        .display()
        .to_string();
    let (code, status) = run(&env, &["staging", "restore", "s", "--backup", &relative]);
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(post(prod.clone()).await, "edited on staging");
    prod.close().await;

    // 4. Backups outlive the site only as a removed registration's: never restorable elsewhere.
    let (code, status) = run(&env, &["staging", "destroy", "s"]);
    assert_eq!(code, Some(0), "{status}");
    let out = env.cli(&["site", "remove", "s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("backup(s) kept"));
    let kept = stdout_json(&env.cli(&["site", "backups", "s", "--removed", "--json"]));
    assert_eq!(kept.as_array().unwrap().len(), 3, "{kept}");
    let moved = kept[0]["path"].as_str().unwrap().to_string();
    assert!(
        Path::new(&moved).is_file() && moved.contains(".removed-"),
        "{moved}"
    );
    let other_db = format!("{p}_other");
    let other_up = production(&env, &other_db, "other.example", 4);
    env.add_site(&[
        "s",
        "--url",
        "https://other.example",
        "--db",
        &my_url(&other_db),
        "--uploads",
        other_up.to_str().unwrap(),
    ]);
    let fresh = stdout_json(&env.cli(&["site", "backups", "s", "--json"]));
    assert_eq!(
        fresh,
        serde_json::json!([]),
        "an earlier registration's backups listed"
    );
    let before = fingerprint(&other_db);
    let (code, status) = run(&env, &["staging", "restore", "s", "--backup", &moved]);
    assert_eq!(code, Some(1), "{status}");
    assert!(
        job_error(&status).contains("earlier registration of site s"),
        "{status}"
    );
    assert!(
        before == fingerprint(&other_db),
        "another database got the old site's backup"
    );
}

/// The pre-restore backup's path from a `site backups --json` listing.
fn status_of_undo(_env: &TestEnv, listed: &serde_json::Value) -> String {
    listed
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "pre-restore")
        .and_then(|b| b["path"].as_str())
        .expect("a pre-restore backup")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anonymized_staging_is_never_promoted_over_production() {
    let env = TestEnv::new("hostile-anon").await;
    let p = format!("ut_ha_{}", &env.namespace[1..]);
    let _dbs = Databases(p.clone());
    let prod_db = format!("{p}_s");
    let uploads = production(&env, &prod_db, "anon.example", 5);
    // A post that names a customer: the anonymizer replaces the name and e-mail in its text.
    mysql_exec(
        Some(&prod_db),
        "INSERT INTO wp_posts (ID, post_title, post_content) VALUES (900, 'Contact', \
         'Contact Philippa Marchbanks at philippa.marchbanks@mail.test')",
    );
    env.add_site(&[
        "anon",
        "--url",
        "https://anon.example",
        "--db",
        &my_url(&prod_db),
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    let _worker = env.worker(&[]);
    let (code, status) = run(&env, &["staging", "create", "anon", "--anonymize"]);
    assert_eq!(code, Some(0), "{status}");
    let staging = MySqlPool::connect(&my_url(&format!("{prod_db}_staging")))
        .await
        .unwrap();
    sqlx::query("UPDATE wp_posts SET post_title = 'edited' WHERE ID = 1")
        .execute(&staging)
        .await
        .unwrap();
    staging.close().await;
    let before = fingerprint(&prod_db);
    for tables in ["posts", "users,usermeta"] {
        let mut args = vec!["staging", "promote", "anon", "--tables", tables];
        if tables.contains("users") {
            args.extend(["--include-live-tables", "--yes"]);
        }
        let (code, status) = run(&env, &args);
        assert_eq!(code, Some(1), "{tables}: {status}");
        assert!(job_error(&status).contains("--anonymize"), "{status}");
    }
    assert!(before == fingerprint(&prod_db), "fakes reached production");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sites_copied_at_once_on_one_server_each_get_their_own_incoming_database() {
    let env = TestEnv::new("hostile-pair").await;
    let p = format!("ut_hp_{}", &env.namespace[1..]);
    let _dbs = Databases(p.clone());
    let mut before = Vec::new();
    for name in ["a", "b"] {
        let db = format!("{p}_{name}");
        let up = production(&env, &db, &format!("{name}.example"), 30);
        env.add_site(&[
            name,
            "--url",
            &format!("https://{name}.example"),
            "--db",
            &my_url(&db),
            "--uploads",
            up.to_str().unwrap(),
        ]);
        before.push((db.clone(), fingerprint(&db), up.clone(), tree(&up)));
    }
    let _worker = env.worker(&[]);
    let ids: Vec<uuid::Uuid> = ["a", "b"]
        .iter()
        .map(|site| {
            let out = env.cli(&["staging", "create", site, "--json"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            stdout_json(&out)["job_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    for id in ids {
        let state = env.wait_terminal(id, Duration::from_secs(120)).await;
        assert_eq!(state, JobState::Succeeded, "{id}");
    }
    for (db, dump, up, files) in before {
        assert!(dump == fingerprint(&db), "{db} changed");
        assert!(files == tree(&up), "{} changed", up.display());
        let staging = MySqlPool::connect(&my_url(&format!("{db}_staging")))
            .await
            .unwrap();
        let posts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wp_posts")
            .fetch_one(&staging)
            .await
            .unwrap();
        assert_eq!(posts, 30, "{db}_staging");
    }
}

/// Issue #13 on the clone: a create that fails late (its uploads cannot be read), then the cause
/// fixed and `understudy retry` — the failure's cleanup dropped the incoming copy, so every step
/// it undid runs again and the retry ends with a complete staging copy.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_create_retried_after_the_fix_rebuilds_what_its_cleanup_dropped() {
    let env = TestEnv::new("hostile-retry").await;
    let p = format!("ut_hy_{}", &env.namespace[1..]);
    let _dbs = Databases(p.clone());
    let prod_db = format!("{p}_s");
    production(&env, &prod_db, "retry.example", 12);
    // The uploads directory is replaced by a file after the site was registered: the copy
    // fails at sync-uploads, permanently.
    let uploads = env.dir.join("retry-uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    env.add_site(&[
        "retry",
        "--url",
        "https://retry.example",
        "--db",
        &my_url(&prod_db),
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    std::fs::remove_dir(&uploads).unwrap();
    std::fs::write(&uploads, b"not a directory").unwrap();
    let _worker = env.worker(&[("UNDERSTUDY_RETRY__MAX_TRIES", "1")]);
    let (code, status) = run(&env, &["staging", "create", "retry"]);
    assert_eq!(code, Some(1), "{status}");
    assert!(job_error(&status).contains("retry-uploads"), "{status}");
    let id = status["job"]["id"].as_str().unwrap().to_string();
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE ?",
    )
    .bind(format!("{prod_db}\\_staging%"))
    .fetch_one(&MySqlPool::connect(&my_url(&prod_db)).await.unwrap())
    .await
    .unwrap();
    assert_eq!(left, 0, "the failed create left a database behind");

    std::fs::remove_file(&uploads).unwrap();
    std::fs::create_dir_all(&uploads).unwrap();
    std::fs::write(uploads.join("x.txt"), b"x").unwrap();
    let out = env.cli(&["retry", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = env
        .wait_terminal(id.parse().unwrap(), Duration::from_secs(120))
        .await;
    let status = last_json(&env.cli(&["status", &id, "--json"]));
    assert_eq!(state, JobState::Succeeded, "{status}");
    let staging = MySqlPool::connect(&my_url(&format!("{prod_db}_staging")))
        .await
        .unwrap();
    let posts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wp_posts")
        .fetch_one(&staging)
        .await
        .unwrap();
    assert_eq!(posts, 12);
    let staging_up = PathBuf::from(format!("{}-staging", uploads.display()));
    assert_eq!(std::fs::read(staging_up.join("x.txt")).unwrap(), b"x");
}

/// What the careless-operator review found around promote and restore (MariaDB): a backup file
/// edited after it was written, a second site in the same database under a longer table prefix,
/// a column added on staging, and a staging wp-content that is production's.
#[tokio::test(flavor = "multi_thread")]
async fn promote_and_restore_refuse_edited_backups_other_prefixes_schema_changes_and_shared_wp_content(
) {
    let env = TestEnv::new("hostile-guards").await;
    let p = format!("ut_hg_{}", &env.namespace[1..]);
    let _dbs = Databases(p.clone());
    let prod_db = format!("{p}_s");
    let uploads = production(&env, &prod_db, "g.example", 6);
    // A second WordPress in the same database, prefix wp_b_ (which starts with wp_).
    mysql_exec(
        Some(&prod_db),
        "CREATE TABLE wp_b_posts (ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, post_title text NOT NULL);\
         INSERT INTO wp_b_posts (post_title) VALUES ('B live');\
         CREATE TABLE wp_b_options (option_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, option_name varchar(191) NOT NULL UNIQUE, option_value longtext NOT NULL);\
         INSERT INTO wp_b_options (option_name, option_value) VALUES ('siteurl', 'https://b.example'), ('home', 'https://b.example');",
    );
    let db = my_url(&prod_db);
    env.add_site(&[
        "g",
        "--url",
        "https://g.example",
        "--db",
        &db,
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    let b_up = env.dir.join("b/wp-content/uploads");
    std::fs::create_dir_all(&b_up).unwrap();
    env.add_site(&[
        "gb",
        "--url",
        "https://b.example",
        "--db",
        &db,
        "--table-prefix",
        "wp_b_",
        "--uploads",
        b_up.to_str().unwrap(),
        "--staging-db",
        &my_url(&format!("{p}_b_staging")),
    ]);
    let _worker = env.worker(&[]);
    let (code, status) = run(&env, &["staging", "create", "g"]);
    assert_eq!(code, Some(0), "{status}");
    let staging = MySqlPool::connect(&my_url(&format!("{prod_db}_staging")))
        .await
        .unwrap();
    sqlx::query("UPDATE wp_posts SET post_title = 'edited' WHERE ID = 1")
        .execute(&staging)
        .await
        .unwrap();
    mysql_exec(
        Some(&prod_db),
        "INSERT INTO wp_b_posts (post_title) VALUES ('B after the copy')",
    );
    let b_before = fingerprint_tables(&prod_db, &["wp_b_posts", "wp_b_options"]);

    // The other site's tables are never promoted, also when named.
    let (code, status) = run(&env, &["staging", "promote", "g"]);
    assert_eq!(code, Some(0), "{status}");
    let promoted = status["job"]["result"]["tables"].to_string();
    assert!(!promoted.contains("wp_b_"), "{promoted}");
    let (code, status) = run(&env, &["staging", "promote", "g", "--tables", "b_posts"]);
    assert_eq!(code, Some(1), "{status}");
    assert!(
        job_error(&status).contains("belongs to site gb"),
        "{status}"
    );
    assert!(b_before == fingerprint_tables(&prod_db, &["wp_b_posts", "wp_b_options"]));

    // A column added on staging: refused, production unchanged.
    sqlx::query("ALTER TABLE wp_posts ADD COLUMN extra int")
        .execute(&staging)
        .await
        .unwrap();
    staging.close().await;
    let before = fingerprint(&prod_db);
    let (code, status) = run(&env, &["staging", "promote", "g", "--tables", "posts"]);
    assert_eq!(code, Some(1), "{status}");
    assert!(
        job_error(&status).contains("columns of wp_posts (staging only: [extra"),
        "{status}"
    );
    assert!(
        before == fingerprint(&prod_db),
        "a refused promote wrote production"
    );

    // A recorded backup edited afterwards (one line that writes elsewhere) is never loaded.
    let listed = stdout_json(&env.cli(&["site", "backups", "g", "--json"]));
    let backup = listed[0]["path"].as_str().unwrap().to_string();
    let bystander = format!("{p}_bystander");
    mysql_exec(None, &format!("CREATE DATABASE `{bystander}`"));
    mysql_exec(
        Some(&bystander),
        "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept');",
    );
    let mut text = std::fs::read(&backup).unwrap();
    text.extend_from_slice(format!("\nINSERT INTO `{bystander}`.t VALUES ('pwned');\n").as_bytes());
    std::fs::write(&backup, text).unwrap();
    let others = (fingerprint(&bystander), fingerprint(&prod_db));
    let (code, status) = run(&env, &["staging", "restore", "g", "--backup", &backup]);
    assert_eq!(code, Some(1), "{status}");
    assert!(
        job_error(&status).contains("not the one recorded"),
        "{status}"
    );
    assert!(others == (fingerprint(&bystander), fingerprint(&prod_db)));

    // A staging wp-content that is production's: no staging plugin is written into it.
    let shared = env.dir.join("p2/wp-content");
    std::fs::create_dir_all(shared.join("media")).unwrap();
    let p2_db = format!("{p}_p2");
    production(&env, &p2_db, "p2.example", 2);
    env.add_site(&[
        "p2",
        "--url",
        "https://p2.example",
        "--db",
        &my_url(&p2_db),
        "--uploads",
        shared.join("media").to_str().unwrap(),
        "--staging-uploads",
        shared.join("uploads").to_str().unwrap(),
    ]);
    let (code, status) = run(&env, &["staging", "create", "p2", "--basic-auth"]);
    assert_eq!(code, Some(1), "{status}");
    assert!(
        job_error(&status).contains("production wp-content of site p2"),
        "{status}"
    );
    assert!(
        !shared.join("mu-plugins").exists(),
        "plugins written into production"
    );
}

/// Only some tables of a database, as `mysqldump` prints them.
fn fingerprint_tables(database: &str, tables: &[&str]) -> Vec<u8> {
    let out = Command::new("mysqldump")
        .args(["-h", "127.0.0.1", "-u", "understudy", "--skip-dump-date"])
        .arg(database)
        .args(tables)
        .env("MYSQL_PWD", "understudy")
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// Issue #14: a site registered with `--table-prefix wpx7_` in a database that also holds a
/// `wp_` install: staging gets the site's tables only, hardened; the other install's tables are
/// listed as not copied; production is byte-identical.
#[tokio::test(flavor = "multi_thread")]
async fn a_site_sharing_its_database_with_another_install_gets_only_its_own_tables() {
    let env = TestEnv::new("hostile-scope").await;
    let p = format!("ut_hs_{}", &env.namespace[1..]);
    let _dbs = Databases(p.clone());
    let db = format!("{p}_shared");
    let up = production(&env, &db, "other.example", 20);
    mysql_exec(
        Some(&db),
        &mysql_sql("x7.example", 25).replace("wp_", "wpx7_"),
    );
    let all_tables = |database: &str| -> Vec<String> {
        let out = Command::new("mysql")
            .args(["-h", "127.0.0.1", "-u", "understudy", "-N", "-B", database])
            .args(["-e", "SHOW TABLES"])
            .env("MYSQL_PWD", "understudy")
            .output()
            .unwrap();
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .filter(|t| !t.starts_with("understudy"))
            .collect();
        names.sort();
        names
    };
    let (mine, theirs): (Vec<String>, Vec<String>) = all_tables(&db)
        .into_iter()
        .partition(|t| t.starts_with("wpx7_"));
    assert!(!mine.is_empty() && !theirs.is_empty());
    let staging_up = env.dir.join("x7-staging-uploads");
    env.add_site(&[
        "x7",
        "--url",
        "https://x7.example",
        "--db",
        &my_url(&db),
        "--table-prefix",
        "wpx7_",
        "--uploads",
        up.to_str().unwrap(),
        "--staging-uploads",
        staging_up.to_str().unwrap(),
    ]);
    let before = fingerprint(&db);
    let _worker = env.worker(&[]);
    let (code, status) = run(&env, &["staging", "create", "x7"]);
    assert_eq!(code, Some(0), "{status}");
    let result = &status["job"]["result"];
    let staging_db = format!("{db}_staging");
    assert_eq!(all_tables(&staging_db), mine, "staging holds other tables");
    let listed: Vec<String> = result["tables_not_copied"]
        .as_array()
        .unwrap_or_else(|| panic!("no tables_not_copied in {result}"))
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(listed_sorted, theirs, "{result}");
    let staging = MySqlPool::connect(&my_url(&staging_db)).await.unwrap();
    let public: String = sqlx::query_scalar(
        "SELECT CAST(option_value AS CHAR) FROM wpx7_options WHERE option_name = 'blog_public'",
    )
    .fetch_one(&staging)
    .await
    .unwrap();
    assert_eq!(public, "0");
    staging.close().await;
    assert!(before == fingerprint(&db), "production changed");
    let (code, status) = run(&env, &["staging", "destroy", "x7"]);
    assert_eq!(code, Some(0), "{status}");
    assert!(before == fingerprint(&db), "production changed by destroy");
}

/// Issue #14: an upload rewritten with its size and mtime kept reaches staging on refresh
/// (content compared below 1 MiB; every file with `--checksum`).
#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_copies_uploads_changed_with_the_same_size_and_mtime() {
    let env = TestEnv::new("hostile-samestat").await;
    let p = format!("ut_hq_{}", &env.namespace[1..]);
    let _dbs = Databases(p.clone());
    let db = format!("{p}_s");
    let up = production(&env, &db, "q.example", 5);
    let big = vec![1u8; (1 << 20) + 100];
    std::fs::write(up.join("big.bin"), &big).unwrap();
    let staging_up = env.dir.join("q-staging");
    env.add_site(&[
        "q",
        "--url",
        "https://q.example",
        "--db",
        &my_url(&db),
        "--uploads",
        up.to_str().unwrap(),
        "--staging-uploads",
        staging_up.to_str().unwrap(),
    ]);
    let _worker = env.worker(&[]);
    let (code, status) = run(&env, &["staging", "create", "q"]);
    assert_eq!(code, Some(0), "{status}");
    let keep_stat = |path: &Path, bytes: &[u8]| {
        let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
        std::fs::write(path, bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    };
    keep_stat(&up.join("2026/12/a.jpg"), &[4u8; 4096]);
    let mut other = big.clone();
    other[7] = 2;
    keep_stat(&up.join("big.bin"), &other);
    let (code, status) = run(&env, &["staging", "refresh", "q"]);
    assert_eq!(code, Some(0), "{status}");
    let uploads = &status["job"]["result"]["uploads"];
    assert_eq!(uploads["content_changed"], 1, "{uploads}");
    assert_eq!(
        std::fs::read(staging_up.join("2026/12/a.jpg")).unwrap(),
        vec![4u8; 4096]
    );
    assert_eq!(std::fs::read(staging_up.join("big.bin")).unwrap(), big);
    let (code, status) = run(&env, &["staging", "refresh", "q", "--checksum"]);
    assert_eq!(code, Some(0), "{status}");
    let uploads = &status["job"]["result"]["uploads"];
    assert_eq!(uploads["content_changed"], 1, "{uploads}");
    assert_eq!(std::fs::read(staging_up.join("big.bin")).unwrap(), other);
    let (code, status) = run(&env, &["staging", "destroy", "q"]);
    assert_eq!(code, Some(0), "{status}");
}

/// Issue #14: production's views of the site are on staging, reading staging's tables; a
/// refresh (which parks the previous copy) keeps them; production is byte-identical.
#[tokio::test(flavor = "multi_thread")]
async fn mariadb_views_of_the_site_are_made_on_staging_and_read_staging() {
    let env = TestEnv::new("hostile-views").await;
    let p = format!("ut_hv_{}", &env.namespace[1..]);
    let _dbs = Databases(p.clone());
    let db = format!("{p}_s");
    let up = production(&env, &db, "v.example", 8);
    mysql_exec(
        Some(&db),
        "CREATE SQL SECURITY INVOKER VIEW wp_published AS SELECT ID, post_title FROM wp_posts WHERE post_status = 'publish';\
         CREATE VIEW legacy_report AS SELECT COUNT(*) AS n FROM wp_posts;",
    );
    env.add_site(&[
        "v",
        "--url",
        "https://v.example",
        "--db",
        &my_url(&db),
        "--uploads",
        up.to_str().unwrap(),
        "--staging-uploads",
        env.dir.join("v-staging").to_str().unwrap(),
    ]);
    let before = fingerprint(&db);
    let _worker = env.worker(&[]);
    for action in ["create", "refresh"] {
        let (code, status) = run(&env, &["staging", action, "v"]);
        assert_eq!(code, Some(0), "{action}: {status}");
        let views = &status["job"]["result"]["views"];
        assert_eq!(
            views["created"],
            serde_json::json!(["wp_published"]),
            "{views}"
        );
        let staging = MySqlPool::connect(&my_url(&format!("{db}_staging")))
            .await
            .unwrap();
        sqlx::query("UPDATE wp_posts SET post_title = 'only on staging' WHERE ID = 1")
            .execute(&staging)
            .await
            .unwrap();
        let title: String =
            sqlx::query_scalar("SELECT CAST(post_title AS CHAR) FROM wp_published WHERE ID = 1")
                .fetch_one(&staging)
                .await
                .unwrap();
        assert_eq!(
            title, "only on staging",
            "{action}: the view reads another database"
        );
        staging.close().await;
        assert!(before == fingerprint(&db), "{action}: production changed");
    }
    let (code, status) = run(&env, &["staging", "destroy", "v"]);
    assert_eq!(code, Some(0), "{status}");
    assert!(before == fingerprint(&db), "production changed by destroy");
}
