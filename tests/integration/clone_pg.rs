//! Clone workflow on real PostgreSQL: create, refresh, destroy a staging copy of a generated
//! WordPress-shaped database, checking every rewritten value with PHP itself.

use serde_json::Value;
use sqlx::PgPool;
use std::time::Duration;
use understudy_tests::wordpress_fixture::{look_alikes, postgres_sql};
use understudy_tests::{last_json, php_rejects, wait_for, TestEnv};
use understudy_worker::state::JobState;

/// Databases a test made on the shared server; dropped (with any leftover incoming copy) on drop.
pub struct Scratch {
    admin_url: String,
    prefix: String,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let (url, prefix) = (self.admin_url.clone(), self.prefix.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let Ok(pool) = PgPool::connect(&url).await else {
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

pub fn pg_url(database: &str) -> String {
    format!("postgres://understudy:understudy@127.0.0.1:5432/{database}")
}

pub async fn make_source(env: &TestEnv, host: &str, posts: u32) -> (String, Scratch) {
    let name = format!("ut_src_{}", &env.namespace[1..]);
    let scratch = Scratch {
        admin_url: pg_url("understudy"),
        prefix: name.clone(),
    };
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&env.pool)
        .await
        .unwrap();
    let pool = PgPool::connect(&pg_url(&name)).await.unwrap();
    sqlx::raw_sql(&postgres_sql(host, posts))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    (name, scratch)
}

/// A generated production site registered as `name`: its database (dropped with `scratch`),
/// uploads, and the staging uploads directory the registry points at.
pub struct PgSite {
    pub source: String,
    pub scratch: Scratch,
    pub uploads: std::path::PathBuf,
    pub staging_uploads: std::path::PathBuf,
}

/// Generates `posts` posts for `host` and registers them with `site add NAME`, plus `extra`.
pub async fn add_pg_site(
    env: &TestEnv,
    name: &str,
    host: &str,
    posts: u32,
    extra: &[&str],
) -> PgSite {
    let (source, scratch) = make_source(env, host, posts).await;
    let uploads = make_uploads(env);
    let staging_uploads = env.dir.join("staging/wp-content/uploads");
    let url = format!("https://{host}");
    let db = pg_url(&source);
    let mut args = vec![
        name,
        "--url",
        &url,
        "--db",
        &db,
        "--uploads",
        uploads.to_str().unwrap(),
        "--staging-uploads",
        staging_uploads.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    env.add_site(&args);
    PgSite {
        source,
        scratch,
        uploads,
        staging_uploads,
    }
}

pub fn make_uploads(env: &TestEnv) -> std::path::PathBuf {
    let uploads = env.dir.join("site/wp-content/uploads");
    std::fs::create_dir_all(uploads.join("2026/11")).unwrap();
    std::fs::write(uploads.join("2026/11/photo.png"), vec![7u8; 50_000]).unwrap();
    std::fs::write(uploads.join("2026/11/doc.pdf"), b"%PDF-1.4 test").unwrap();
    uploads
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn option(pool: &PgPool, name: &str) -> String {
    sqlx::query_scalar("SELECT option_value FROM wp_options WHERE option_name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A remaining production URL: `//host`, `\/\/host` or `%2F%2Fhost` followed by a URL boundary.
fn prod_url_regex(host: &str) -> String {
    format!(
        "(//|\\\\/\\\\/|%2[Ff]%2[Ff]){}([^.a-zA-Z0-9-]|$)",
        host.replace('.', "\\.")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_staging_is_created_refreshed_and_destroyed_with_safe_rewrites() {
    let env = TestEnv::new("clonepg").await;
    let host = format!("shop-{}.example", &env.namespace[1..]);
    let PgSite {
        source,
        scratch: _scratch,
        uploads,
        staging_uploads,
    } = add_pg_site(&env, "shop", &host, 300, &["--tag", "client-a"]).await;
    let _worker = env.worker(&[]);

    let out = env.cli(&["staging", "create", "shop", "--wait", "--json"]);
    let status = last_json(&out);
    assert!(out.status.success(), "create failed: {status}");
    let result = &status["job"]["result"];
    assert_eq!(result["staging_url"], format!("https://staging.{host}"));
    assert!(
        result["replacements"].as_u64().unwrap() >= 300 * 6,
        "{result}"
    );
    assert_eq!(
        result["malformed"], 1,
        "the one broken serialized option is counted: {result}"
    );
    assert!(
        result.get("anonymization").is_none(),
        "not asked for: {result}"
    );

    let prod = PgPool::connect(&pg_url(&source)).await.unwrap();
    let staging = PgPool::connect(&pg_url(&format!("{source}_staging")))
        .await
        .unwrap();
    for table in [
        "wp_options",
        "wp_posts",
        "wp_postmeta",
        "wp_users",
        "wp_comments",
    ] {
        assert_eq!(
            count(&prod, table).await,
            count(&staging, table).await,
            "{table} row count"
        );
    }
    // No production URL is left, except where it must stay.
    let regex = prod_url_regex(&host);
    let leftovers: Vec<(String, String)> = sqlx::query_as(
        "SELECT 'option ' || option_name, option_value FROM wp_options WHERE option_value ~ $1 \
           AND option_name NOT IN ('wc_subscriptions_siteurl', 'broken_serialized') \
         UNION ALL SELECT 'post', post_content FROM wp_posts WHERE post_content ~ $1 \
         UNION ALL SELECT 'meta', meta_value FROM wp_postmeta WHERE meta_value ~ $1 \
         UNION ALL SELECT 'user', user_url FROM wp_users WHERE user_url ~ $1 \
         UNION ALL SELECT 'comment', comment_content FROM wp_comments WHERE comment_content ~ $1",
    )
    .bind(&regex)
    .fetch_all(&staging)
    .await
    .unwrap();
    assert!(
        leftovers.is_empty(),
        "production URLs left: {:?}",
        &leftovers[..leftovers.len().min(3)]
    );
    // ...and nothing else was touched (no anonymization unless asked for).
    let emails = "SELECT string_agg(user_email || user_pass || display_name, ',' ORDER BY \"ID\") FROM wp_users";
    let (a, b): (String, String) = (
        sqlx::query_scalar(emails).fetch_one(&prod).await.unwrap(),
        sqlx::query_scalar(emails)
            .fetch_one(&staging)
            .await
            .unwrap(),
    );
    assert_eq!(a, b);
    let post: String = sqlx::query_scalar("SELECT post_content FROM wp_posts WHERE \"ID\" = 7")
        .fetch_one(&staging)
        .await
        .unwrap();
    for look_alike in look_alikes(&host) {
        assert!(
            post.contains(&look_alike),
            "{look_alike} was rewritten: {post}"
        );
    }
    assert!(
        post.contains(&format!("https:\\/\\/staging.{host}\\/q")),
        "{post}"
    );
    assert!(
        post.contains(&format!("https%3A%2F%2Fstaging.{host}%2Fr")),
        "{post}"
    );
    let guid: String = sqlx::query_scalar("SELECT guid FROM wp_posts WHERE \"ID\" = 7")
        .fetch_one(&staging)
        .await
        .unwrap();
    assert_eq!(guid, format!("https://{host}/?p=7"), "guid is left alone");
    assert_eq!(
        option(&staging, "wc_subscriptions_siteurl").await,
        format!("https://{host}")
    );
    assert_eq!(
        option(&staging, "broken_serialized").await,
        option(&prod, "broken_serialized").await
    );
    // Every serialized value still unserializes in PHP.
    let serialized: Vec<String> = sqlx::query_scalar(
        "SELECT option_value FROM wp_options WHERE option_value ~ '^[aOs]:[0-9]' AND option_name <> 'broken_serialized' \
         UNION ALL SELECT meta_value FROM wp_postmeta WHERE meta_value ~ '^[aOs]:[0-9]'",
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
    assert!(option(&staging, "nested_option")
        .await
        .contains(&format!("staging.{host}/x")));
    // Hardened.
    assert_eq!(option(&staging, "blog_public").await, "0");
    assert_eq!(option(&staging, "blogname").await, "[staging] Shop");
    assert_eq!(option(&staging, "woocommerce_stripe_settings").await, "");
    assert!(staging_uploads
        .parent()
        .unwrap()
        .join("mu-plugins/understudy-staging.php")
        .exists());
    // Production is untouched.
    assert_eq!(option(&prod, "siteurl").await, format!("https://{host}"));
    assert_eq!(option(&prod, "blog_public").await, "1");
    // Uploads copied byte for byte.
    assert_eq!(
        std::fs::read(staging_uploads.join("2026/11/photo.png")).unwrap(),
        std::fs::read(uploads.join("2026/11/photo.png")).unwrap()
    );
    let listed = last_json(&env.cli(&["staging", "list", "--json"]));
    assert_eq!(listed[0]["site"], "shop");

    // Creating again is refused and changes nothing.
    let out = env.cli(&["staging", "create", "shop", "--wait", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(last_json(&out)["job"]["error"]
        .as_str()
        .unwrap()
        .contains("already has a staging environment"));

    // Refresh picks up production changes and swaps them in.
    sqlx::query("INSERT INTO wp_posts (post_title, post_content, guid) VALUES ('New', 'see https://' || $1 || '/new', 'g')")
        .bind(&host)
        .execute(&prod)
        .await
        .unwrap();
    std::fs::write(uploads.join("new.txt"), b"fresh").unwrap();
    staging.close().await;
    let out = env.cli(&["staging", "refresh", "shop", "--wait", "--json"]);
    let status = last_json(&out);
    assert!(out.status.success(), "refresh failed: {status}");
    assert_eq!(
        status["job"]["result"]["uploads"]["unchanged"], 2,
        "{status}"
    );
    let staging = PgPool::connect(&pg_url(&format!("{source}_staging")))
        .await
        .unwrap();
    let fresh: String =
        sqlx::query_scalar("SELECT post_content FROM wp_posts WHERE post_title = 'New'")
            .fetch_one(&staging)
            .await
            .unwrap();
    assert_eq!(fresh, format!("see https://staging.{host}/new"));
    assert_eq!(
        std::fs::read(staging_uploads.join("new.txt")).unwrap(),
        b"fresh"
    );
    staging.close().await;
    let leftover: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{source}_staging_in%"))
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(leftover, 0, "no incoming database left behind");

    // Destroy removes database, uploads copy and the record.
    let out = env.cli(&["staging", "destroy", "shop", "--wait"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(format!("{source}_staging"))
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert!(!exists);
    assert!(!staging_uploads.exists());
    assert_eq!(
        last_json(&env.cli(&["staging", "list", "--json"])),
        Value::Array(vec![])
    );
    assert_eq!(
        count(&prod, "wp_posts").await,
        301,
        "production keeps its rows"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_clone_input_gets_a_clear_error_and_changes_nothing() {
    let env = TestEnv::new("clonebad").await;
    let host = format!("bad-{}.example", &env.namespace[1..]);
    let (source, _scratch) = make_source(&env, &host, 5).await;
    let uploads = make_uploads(&env);
    let up = uploads.to_str().unwrap();
    let url = format!("https://{host}");
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec![
                "site".into(),
                "add".into(),
                "bad;name".into(),
                "--url".into(),
                url.clone(),
                "--db".into(),
                pg_url(&source),
                "--uploads".into(),
                up.into(),
            ],
            2,
            "site name",
        ),
        (
            vec![
                "site".into(),
                "add".into(),
                "same".into(),
                "--url".into(),
                url.clone(),
                "--db".into(),
                pg_url(&source),
                "--uploads".into(),
                up.into(),
                "--staging-db".into(),
                pg_url(&source),
            ],
            2,
            "is the production database",
        ),
        (
            vec![
                "site".into(),
                "add".into(),
                "prefix".into(),
                "--url".into(),
                url.clone(),
                "--db".into(),
                pg_url(&source),
                "--uploads".into(),
                up.into(),
                "--table-prefix".into(),
                "wp_;drop".into(),
            ],
            2,
            "table prefix",
        ),
        (
            vec![
                "site".into(),
                "add".into(),
                "dbname".into(),
                "--url".into(),
                url.clone(),
                "--db".into(),
                pg_url("x;drop table y"),
                "--uploads".into(),
                up.into(),
            ],
            2,
            "database name",
        ),
        (
            vec![
                "site".into(),
                "add".into(),
                "sameurl".into(),
                "--url".into(),
                url.clone(),
                "--db".into(),
                pg_url(&source),
                "--uploads".into(),
                up.into(),
                "--staging-url".into(),
                url.clone(),
            ],
            2,
            "staging URL is the production URL",
        ),
        (
            vec!["staging".into(), "create".into(), "nosuchsite".into()],
            3,
            "not registered",
        ),
    ];
    for (args, code, message) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("understudy:understudy@"),
            "password printed: {stderr}"
        );
    }
    let sites: i64 = sqlx::query_scalar("SELECT count(*) FROM sites")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(sites, 0, "nothing registered by refused input");

    let _worker = env.worker(&[
        ("UNDERSTUDY_RETRY__MIN_DELAY_MS", "20"),
        ("UNDERSTUDY_RETRY__MAX_TRIES", "2"),
    ]);
    // Unreachable database: fails with the reason, creates nothing.
    let out = env.cli(&[
        "site",
        "add",
        "down",
        "--url",
        "https://down.example",
        "--db",
        "postgres://understudy:understudy@127.0.0.1:1/nothere",
        "--uploads",
        up,
    ]);
    assert!(out.status.success());
    let out = env.cli(&["staging", "create", "down", "--wait", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let error = last_json(&out)["job"]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("127.0.0.1:1/nothere"), "{error}");
    // Not a WordPress database (no wp_options): refused before anything is made.
    let out = env.cli(&[
        "site",
        "add",
        "notwp",
        "--url",
        "https://notwp.example",
        "--db",
        &pg_url("understudy"),
        "--uploads",
        up,
        // Its own staging directory: two sites never share one (the default would be `down`'s).
        "--staging-uploads",
        &format!("{up}-notwp-staging"),
        "--table-prefix",
        "zz_",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env.cli(&["staging", "create", "notwp", "--wait", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let error = last_json(&out)["job"]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("zz_options") && error.contains("WordPress database"),
        "{error}"
    );
    let made: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE 'understudy_staging%' OR datname LIKE 'nothere%'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(made, 0);
    let envs: i64 = sqlx::query_scalar("SELECT count(*) FROM staging_environments")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(envs, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_copy_resumes_at_the_unfinished_table() {
    let env = TestEnv::new("clonekill").await;
    let host = format!("kill-{}.example", &env.namespace[1..]);
    let (source, _scratch) = make_source(&env, &host, 60_000).await;
    let uploads = make_uploads(&env);
    env.add_site(&[
        "big",
        "--url",
        &format!("https://{host}"),
        "--db",
        &pg_url(&source),
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    let mut first = env.worker(&[]);
    let out = env.cli(&[
        "staging",
        "create",
        "big",
        "--parallel-tables",
        "1",
        "--no-template",
        "--json",
    ]);
    let id: uuid::Uuid = last_json(&out)["job_id"].as_str().unwrap().parse().unwrap();
    // Tables are copied largest first: kill once the first one is checkpointed.
    wait_for(
        "the first table copied",
        Duration::from_secs(60),
        || async {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM job_steps WHERE job_id = $1 AND name LIKE 'copy:%'",
            )
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .ok()?;
            (n >= 1).then_some(())
        },
    )
    .await;
    first.kill9();
    let copied_before: Vec<String> =
        sqlx::query_scalar("SELECT name FROM job_steps WHERE job_id = $1 AND name LIKE 'copy:%'")
            .bind(id)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    let _second = env.worker(&[]);
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(120)).await,
        JobState::Succeeded
    );
    let attempts: Vec<(String, i32)> = sqlx::query_as(
        "SELECT name, attempt FROM job_steps WHERE job_id = $1 AND name LIKE 'copy:%'",
    )
    .bind(id)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    for (name, attempt) in &attempts {
        let expected = if copied_before.contains(name) { 1 } else { 2 };
        assert_eq!(*attempt, expected, "{name} copied in attempt {attempt}");
    }
    let prod = PgPool::connect(&pg_url(&source)).await.unwrap();
    let staging = PgPool::connect(&pg_url(&format!("{source}_staging")))
        .await
        .unwrap();
    for table in ["wp_options", "wp_posts", "wp_postmeta"] {
        assert_eq!(
            count(&prod, table).await,
            count(&staging, table).await,
            "{table}"
        );
    }
    staging.close().await;
    let out = env.cli(&["staging", "destroy", "big", "--wait"]);
    assert!(out.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn promote_backs_up_production_swaps_atomically_and_restore_undoes_it() {
    let env = TestEnv::new("promote").await;
    let host = format!("promo-{}.example", &env.namespace[1..]);
    let (source, _scratch) = make_source(&env, &host, 50).await;
    let uploads = make_uploads(&env);
    env.add_site(&[
        "promo",
        "--url",
        &format!("https://{host}"),
        "--db",
        &pg_url(&source),
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    let _worker = env.worker(&[]);
    let out = env.cli(&["staging", "create", "promo", "--wait"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let prod = PgPool::connect(&pg_url(&source)).await.unwrap();
    let staging = PgPool::connect(&pg_url(&format!("{source}_staging")))
        .await
        .unwrap();
    // Work done on staging...
    sqlx::query("UPDATE wp_posts SET post_title = 'Edited on staging', post_content = 'see https://staging.' || $1 || '/edited' WHERE \"ID\" = 3")
        .bind(&host).execute(&staging).await.unwrap();
    sqlx::query(
        "INSERT INTO wp_options (option_name, option_value) VALUES ('posts_per_page', '25')",
    )
    .execute(&staging)
    .await
    .unwrap();
    // ...while production lives on: a new comment arrives.
    sqlx::query("INSERT INTO wp_comments (comment_post_ID, comment_author_email, comment_content) VALUES (3, 'late@mail.test', 'arrived after the copy')")
        .execute(&prod).await.unwrap();
    staging.close().await;

    let out = env.cli(&["staging", "promote", "promo", "--include-live-tables"]);
    assert_eq!(out.status.code(), Some(2), "live tables need --yes");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));

    let out = env.cli(&["staging", "promote", "promo", "--wait", "--json"]);
    let status = last_json(&out);
    assert!(out.status.success(), "promote failed: {status}");
    let result = &status["job"]["result"];
    let backup = result["backup"].as_str().unwrap().to_string();
    assert!(
        std::path::Path::new(&backup).is_file(),
        "backup kept at {backup}"
    );
    assert!(
        result["warnings"]
            .to_string()
            .contains("WooCommerce orders"),
        "{result}"
    );

    let (title, content): (String, String) =
        sqlx::query_as("SELECT post_title, post_content FROM wp_posts WHERE \"ID\" = 3")
            .fetch_one(&prod)
            .await
            .unwrap();
    assert_eq!(title, "Edited on staging");
    assert_eq!(
        content,
        format!("see https://{host}/edited"),
        "URLs rewritten back to production"
    );
    assert_eq!(option(&prod, "posts_per_page").await, "25");
    assert_eq!(option(&prod, "siteurl").await, format!("https://{host}"));
    assert_eq!(
        option(&prod, "blog_public").await,
        "1",
        "staging hardening is not promoted"
    );
    assert_eq!(option(&prod, "blogname").await, "Shop");
    assert_eq!(
        option(&prod, "woocommerce_stripe_settings").await,
        "a:1:{s:10:\"secret_key\";s:7:\"sk_live\";}"
    );
    let late: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM wp_comments WHERE comment_author_email = 'late@mail.test'",
    )
    .fetch_one(&prod)
    .await
    .unwrap();
    assert_eq!(late, 1, "live tables are left alone by default");
    let leftovers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'understudy_promote%'",
    )
    .fetch_one(&prod)
    .await
    .unwrap();
    assert_eq!(leftovers, 0);
    // New rows on production still get fresh ids.
    sqlx::query("INSERT INTO wp_posts (post_title, post_content) VALUES ('after', 'x')")
        .execute(&prod)
        .await
        .unwrap();

    let listed = last_json(&env.cli(&["site", "backups", "promo", "--json"]));
    assert_eq!(listed[0]["path"], backup.as_str());
    let out = env.cli(&["staging", "restore", "promo", "--backup", &backup, "--wait"]);
    assert!(
        out.status.success(),
        "restore failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let title: String = sqlx::query_scalar("SELECT post_title FROM wp_posts WHERE \"ID\" = 3")
        .fetch_one(&prod)
        .await
        .unwrap();
    assert_eq!(
        title, "Post 3",
        "restore brings production back to before the promote"
    );
    let out = env.cli(&[
        "staging",
        "restore",
        "promo",
        "--backup",
        "/etc/passwd",
        "--wait",
    ]);
    // Refused by the CLI before any job exists (bad input, exit 2).
    assert_eq!(
        out.status.code(),
        Some(2),
        "only this site's backups can be restored"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a recorded backup of site promo"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    prod.close().await;
    let out = env.cli(&["staging", "destroy", "promo", "--wait"]);
    assert!(out.status.success());
}

/// A promote whose backup step fails after the swap (the backups folder cannot be made): the
/// job says production was written and where the replaced rows wait; after the fix `retry`
/// resumes at the backup — it never swaps again — and the backup holds a row only production had.
#[tokio::test(flavor = "multi_thread")]
async fn a_promote_failing_after_its_swap_keeps_the_replaced_rows_and_retry_backs_them_up() {
    let env = TestEnv::new("promote-pivot").await;
    let host = format!("pivot-{}.example", &env.namespace[1..]);
    let site = add_pg_site(&env, "pivot", &host, 20, &[]).await;
    let _worker = env.worker(&[("UNDERSTUDY_RETRY__MAX_TRIES", "1")]);
    let out = env.cli(&["staging", "create", "pivot", "--wait"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let prod = PgPool::connect(&pg_url(&site.source)).await.unwrap();
    sqlx::query(
        "INSERT INTO wp_posts (post_title, post_content, guid) VALUES ('PROD-ONLY', 'x', 'g')",
    )
    .execute(&prod)
    .await
    .unwrap();
    // The site's backups folder is a file: the backup cannot be written.
    let backups = env.dir.join("data/backups");
    std::fs::create_dir_all(&backups).unwrap();
    std::fs::write(backups.join("pivot"), b"in the way").unwrap();
    let out = env.cli(&[
        "staging", "promote", "pivot", "--tables", "posts", "--wait", "--json",
    ]);
    let status = last_json(&out);
    assert_eq!(out.status.code(), Some(1), "{status}");
    let error = status["job"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("production was already written") && error.contains("understudy_park_"),
        "{error}"
    );
    let states: Vec<(String, String)> = status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        states.contains(&("swap".into(), "completed".into())),
        "{states:?}"
    );
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM wp_posts WHERE post_title = 'PROD-ONLY'")
            .fetch_one(&prod)
            .await
            .unwrap();
    assert_eq!(left, 0, "the promote replaced wp_posts");

    let id = status["job"]["id"].as_str().unwrap().to_string();
    // Retried before the fix: the resumed job (swap skipped) fails at the backup again, and
    // still swaps nothing and compensates nothing.
    let out = env.cli(&["retry", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = env
        .wait_terminal(id.parse().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(state, JobState::Failed);
    let undone: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_steps WHERE job_id = $1::uuid AND state = 'compensated'",
    )
    .bind(&id)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(undone, 0, "nothing before the point of no return is undone");
    std::fs::remove_file(backups.join("pivot")).unwrap();
    let out = env.cli(&["retry", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = env
        .wait_terminal(id.parse().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(state, JobState::Succeeded);
    let listed = last_json(&env.cli(&["site", "backups", "pivot", "--json"]));
    let backup = listed[0]["path"].as_str().unwrap().to_string();
    let rows = std::process::Command::new("pg_restore")
        .args(["--data-only", "--file=-", &backup])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&rows.stdout).contains("PROD-ONLY"),
        "the replaced row is not in the backup"
    );
    let parks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'understudy_park_%'",
    )
    .fetch_one(&prod)
    .await
    .unwrap();
    assert_eq!(parks, 0, "the park is dropped once backed up");
}
