//! The same-server `CREATE DATABASE … TEMPLATE` fast path (and its fallback to streaming when
//! production has a session or its bulk holds its URL), generated basic-auth credentials, and a clone job published over
//! AMQP with an inline site spec (database URL sealed), on real PostgreSQL.

use serde_json::{json, Value};
use sqlx::PgPool;
use std::process::Command;
use std::time::Duration;
use understudy_tests::wordpress_fixture::look_alikes;
use understudy_tests::{last_json, php_rejects, wait_for, TestEnv};
use understudy_worker::contract::Priority;
use understudy_worker::state::JobState;

use super::clone_pg::{add_pg_site, make_source, make_uploads, pg_url, PgSite};

async fn steps(env: &TestEnv, job: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM job_steps WHERE job_id = $1::uuid ORDER BY name")
        .bind(job)
        .fetch_all(&env.pool)
        .await
        .unwrap()
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Runs the basic-auth plugin under php-cli with `user:password`; true when it lets through.
fn plugin_admits(plugin: &std::path::Path, user: &str, password: &str) -> bool {
    let script = format!(
        "$_SERVER['PHP_AUTH_USER'] = $argv[1]; $_SERVER['PHP_AUTH_PW'] = $argv[2]; include '{}'; echo 'ADMITTED';",
        plugin.display()
    );
    let out = Command::new("php")
        .args(["-r", &script, user, password])
        .output()
        .expect("php-cli");
    String::from_utf8_lossy(&out.stdout).contains("ADMITTED")
}

#[tokio::test(flavor = "multi_thread")]
async fn same_server_template_fast_path_falls_back_when_busy_and_basic_auth_is_generated() {
    let env = TestEnv::new("clonefast").await;
    let host = format!("fast-{}.example", &env.namespace[1..]);
    let PgSite {
        source,
        scratch: _scratch,
        staging_uploads,
        ..
    } = add_pg_site(&env, "fast", &host, 200, &[]).await;
    let _worker = env.worker(&[]);
    let (_connection, mut events) = env.listen_events("clone.*.progress").await;

    // Idle production on the same server: the template copy, then the in-place rewrite.
    let out = env.cli(&[
        "staging",
        "create",
        "fast",
        "--basic-auth",
        "--wait",
        "--json",
    ]);
    let status = last_json(&out);
    assert!(out.status.success(), "create failed: {status}");
    let job = status["job"]["id"].as_str().unwrap().to_string();
    let result = &status["job"]["result"];
    assert_eq!(result["copy"]["method"], "template", "{result}");
    assert!(result["copy"]["template_secs"].as_f64().is_some());
    // The live event feed says which path ran, too.
    let said = tokio::time::timeout(Duration::from_secs(10), async {
        use futures::StreamExt;
        while let Some(Ok(delivery)) = events.next().await {
            let event: Value = serde_json::from_slice(&delivery.data).unwrap();
            let message = event["message"].as_str().unwrap_or_default().to_string();
            if message.contains("fast path: CREATE DATABASE") {
                return message;
            }
        }
        String::new()
    })
    .await;
    assert!(
        said.is_ok_and(|m| !m.is_empty()),
        "no progress event named the path"
    );
    let names = steps(&env, &job).await;
    assert!(names.contains(&"template".to_string()), "{names:?}");
    assert!(
        names.contains(&"rewrite:public.wp_posts".to_string()),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.starts_with("copy:")), "{names:?}");

    // One named connection, so a busy reason (and pg_stat_activity) shows it is ours.
    let prod = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            pg_url(&source)
                .parse::<sqlx::postgres::PgConnectOptions>()
                .unwrap()
                .application_name("understudy-test-production"),
        )
        .await
        .unwrap();
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
            "{table}"
        );
    }
    let regex = format!(
        "(//|\\\\/\\\\/|%2[Ff]%2[Ff]){}([^.a-zA-Z0-9-]|$)",
        host.replace('.', "\\.")
    );
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM wp_posts WHERE post_content ~ $1) \
              + (SELECT count(*) FROM wp_postmeta WHERE meta_value ~ $1) \
              + (SELECT count(*) FROM wp_options WHERE option_value ~ $1 \
                 AND option_name NOT IN ('wc_subscriptions_siteurl', 'broken_serialized'))",
    )
    .bind(&regex)
    .fetch_one(&staging)
    .await
    .unwrap();
    assert_eq!(left, 0, "production URLs left after the in-place rewrite");
    let (post, guid): (String, String) =
        sqlx::query_as("SELECT post_content, guid FROM wp_posts WHERE \"ID\" = 7")
            .fetch_one(&staging)
            .await
            .unwrap();
    assert_eq!(guid, format!("https://{host}/?p=7"), "guid is left alone");
    for look_alike in look_alikes(&host) {
        assert!(post.contains(&look_alike), "{look_alike} was rewritten");
    }
    let serialized: Vec<String> = sqlx::query_scalar(
        "SELECT option_value FROM wp_options WHERE option_value ~ '^[aOs]:[0-9]' AND option_name <> 'broken_serialized' \
         UNION ALL SELECT meta_value FROM wp_postmeta WHERE meta_value ~ '^[aOs]:[0-9]'",
    )
    .fetch_all(&staging)
    .await
    .unwrap();
    assert!(serialized.len() > 200);
    assert!(php_rejects(&serialized).is_empty());
    let blog_public: String =
        sqlx::query_scalar("SELECT option_value FROM wp_options WHERE option_name = 'blog_public'")
            .fetch_one(&staging)
            .await
            .unwrap();
    assert_eq!(blog_public, "0", "hardened after the template copy");
    let prod_public: String =
        sqlx::query_scalar("SELECT option_value FROM wp_options WHERE option_name = 'blog_public'")
            .fetch_one(&prod)
            .await
            .unwrap();
    assert_eq!(prod_public, "1", "production untouched");

    // Basic auth: login in the result, password only through `staging credentials`.
    assert_eq!(result["basic_auth"]["user"], "staging", "{result}");
    let creds = last_json(&env.cli(&["staging", "credentials", "fast", "--json"]));
    let password = creds["password"].as_str().unwrap().to_string();
    assert_eq!(password.len(), 24);
    assert!(
        !status.to_string().contains(&password),
        "password in the job status"
    );
    let plugin = staging_uploads
        .parent()
        .unwrap()
        .join("mu-plugins/understudy-basic-auth.php");
    let source_text = std::fs::read_to_string(&plugin).unwrap();
    assert!(
        !source_text.contains(&password),
        "password in clear in the plugin"
    );
    assert!(plugin_admits(&plugin, "staging", &password));
    assert!(!plugin_admits(&plugin, "staging", "wrong"));
    assert!(!plugin_admits(&plugin, "admin", &password));
    let stored: Vec<u8> = sqlx::query_scalar(
        "SELECT basic_auth_sealed FROM staging_environments WHERE site = 'fast'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(&password));

    // Production busy (our `prod` pool is connected): the refresh streams and says why; the
    // credentials are kept.
    let out = env.cli(&["staging", "refresh", "fast", "--wait", "--json"]);
    let status = last_json(&out);
    assert!(out.status.success(), "refresh failed: {status}");
    let result = &status["job"]["result"];
    assert_eq!(result["copy"]["method"], "stream", "{result}");
    assert!(
        result["copy"]["reason"]
            .as_str()
            .unwrap()
            .contains("session"),
        "{result}"
    );
    let names = steps(&env, status["job"]["id"].as_str().unwrap()).await;
    assert!(
        names.contains(&"copy:public.wp_posts".to_string()),
        "{names:?}"
    );
    let again = last_json(&env.cli(&["staging", "credentials", "fast", "--json"]));
    assert_eq!(
        again["password"],
        password.as_str(),
        "refresh keeps the credentials"
    );
    assert!(plugin_admits(&plugin, "staging", &password));

    // Removing basic auth removes the plugin and the stored credentials.
    let out = env.cli(&[
        "staging",
        "refresh",
        "fast",
        "--no-basic-auth",
        "--no-template",
        "--wait",
        "--json",
    ]);
    assert!(out.status.success(), "{}", last_json(&out));
    assert!(!plugin.exists());
    let gone = env.cli(&["staging", "credentials", "fast"]);
    assert_eq!(gone.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("--basic-auth"));

    // Production's bulk holds its URL (a ~20 MB table where every row does): rewriting that in
    // place costs more than streaming it, so the copy streams and says why; --force-template
    // takes the fast path anyway.
    sqlx::query(&format!(
        "INSERT INTO wp_posts (post_title, post_content, guid) \
         SELECT 'bulk ' || i, 'see https://{host}/p/' || i || ' ' || \
         (SELECT string_agg(md5(i::text || '-' || j::text), ' ') FROM generate_series(1, 80) j), '' \
         FROM generate_series(1, 8000) i"
    ))
    .execute(&prod)
    .await
    .unwrap();
    prod.close().await;
    drop(prod);
    staging.close().await;
    // Production is idle only once our session's backend has exited.
    let pool = env.pool.clone();
    let database = source.clone();
    wait_for(
        "our production session to end",
        Duration::from_secs(30),
        || {
            let (pool, database) = (pool.clone(), database.clone());
            async move {
                let sessions: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
                 AND application_name = 'understudy-test-production'",
                )
                .bind(&database)
                .fetch_one(&pool)
                .await
                .ok()?;
                (sessions == 0).then_some(())
            }
        },
    )
    .await;
    let out = env.cli(&["staging", "refresh", "fast", "--wait", "--json"]);
    let status = last_json(&out);
    assert!(out.status.success(), "refresh failed: {status}");
    let copy = &status["job"]["result"]["copy"];
    assert_eq!(copy["method"], "stream", "{copy}");
    assert!(
        copy["reason"].as_str().unwrap().contains("holds its host"),
        "{copy}"
    );
    assert!(
        copy["density"]["dense_share"].as_f64().unwrap() > 0.35,
        "{copy}"
    );
    let out = env.cli(&[
        "staging",
        "refresh",
        "fast",
        "--force-template",
        "--wait",
        "--json",
    ]);
    let status = last_json(&out);
    assert!(out.status.success(), "refresh failed: {status}");
    let copy = &status["job"]["result"]["copy"];
    assert_eq!(copy["method"], "template", "{copy}");
    let out = env.cli(&["staging", "destroy", "fast", "--wait", "--json"]);
    assert!(out.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clone_job_over_amqp_with_an_inline_site_spec_registers_and_clones() {
    let env = TestEnv::new("cloneinline").await;
    let host = format!("inline-{}.example", &env.namespace[1..]);
    let (source, _scratch) = make_source(&env, &host, 50).await;
    let uploads = make_uploads(&env);
    let staging_uploads = env.dir.join("staging/wp-content/uploads");
    let secrets = env.settings.secret_box().unwrap();
    let sealed = understudy_workflows::clone::inline_site::seal_base64(&secrets, &pg_url(&source));
    let site_spec = json!({
        "production_url": format!("https://{host}"),
        "db_url_sealed": sealed,
        "uploads_dir": uploads.to_str().unwrap(),
        "staging_uploads_dir": staging_uploads.to_str().unwrap(),
        "tags": ["web-app"],
    });
    let _worker = env.worker(&[]);

    // A clear-text URL never becomes a job: dead-lettered with the reason.
    let mut bad = site_spec.clone();
    bad["db_url"] = json!(pg_url(&source));
    let refused = env
        .enqueue(
            "clone",
            json!({"action": "create", "site": "inline", "site_spec": bad}),
            Priority::Interactive,
        )
        .await;
    let reason: String = understudy_tests::wait_for(
        "the clear-text spec to be dead-lettered",
        Duration::from_secs(30),
        || {
            let pool = env.pool.clone();
            async move {
                sqlx::query_scalar::<_, String>(
                    "SELECT reason FROM dead_letters ORDER BY id DESC LIMIT 1",
                )
                .fetch_optional(&pool)
                .await
                .ok()
                .flatten()
            }
        },
    )
    .await;
    assert!(reason.contains("db_url_sealed"), "{reason}");
    assert!(
        !reason.contains("understudy:understudy"),
        "the secret leaked: {reason}"
    );
    assert!(env.state(refused).await.is_none());

    let id = env
        .enqueue(
            "clone",
            json!({"action": "create", "site": "inline", "site_spec": site_spec}),
            Priority::Interactive,
        )
        .await;
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(120)).await,
        JobState::Succeeded,
        "{}",
        last_json(&env.cli(&["status", &id.to_string(), "--json"]))
    );
    let (result, spec): (Value, Value) =
        sqlx::query_as("SELECT result, spec FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(result["staging_url"], format!("https://staging.{host}"));
    assert!(
        !spec.to_string().contains("understudy:understudy"),
        "clear URL stored"
    );
    let shown = last_json(&env.cli(&["site", "show", "inline", "--json"]));
    assert_eq!(
        shown["site"]["production_url"],
        format!("https://{host}"),
        "{shown}"
    );
    assert!(!shown.to_string().contains("understudy:understudy"));
    let staging = PgPool::connect(&pg_url(&format!("{source}_staging")))
        .await
        .unwrap();
    assert_eq!(count(&staging, "wp_posts").await, 50);
    staging.close().await;

    // A spec sealed with another key fails with what to do, permanently.
    let other = understudy_workflows::secrets::SecretBox::from_base64(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    )
    .unwrap();
    let mut wrong = site_spec_with(&other, &source, &host, &uploads, &staging_uploads);
    wrong["tags"] = json!([]);
    let id = env
        .enqueue(
            "clone",
            json!({"action": "refresh", "site": "inline", "site_spec": wrong}),
            Priority::Interactive,
        )
        .await;
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(60)).await,
        JobState::Failed
    );
    let error: String = sqlx::query_scalar("SELECT error FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert!(error.contains("secrets key"), "{error}");
    let out = env.cli(&["staging", "destroy", "inline", "--wait", "--json"]);
    assert!(out.status.success());
}

fn site_spec_with(
    secrets: &understudy_workflows::secrets::SecretBox,
    source: &str,
    host: &str,
    uploads: &std::path::Path,
    staging_uploads: &std::path::Path,
) -> Value {
    json!({
        "production_url": format!("https://{host}"),
        "db_url_sealed": understudy_workflows::clone::inline_site::seal_base64(secrets, &pg_url(source)),
        "uploads_dir": uploads.to_str().unwrap(),
        "staging_uploads_dir": staging_uploads.to_str().unwrap(),
    })
}

/// `(trigger, tgenabled)` of `wp_posts`' user triggers.
async fn trigger_states(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT tgname::text, tgenabled::text FROM pg_trigger \
         WHERE tgrelid = 'wp_posts'::regclass AND NOT tgisinternal ORDER BY tgname",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// `ID → post_modified` of every post.
async fn modified(pool: &PgPool) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT \"ID\", post_modified::text FROM wp_posts ORDER BY \"ID\"")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn production_triggers_views_and_functions_are_on_staging_and_triggers_do_not_fire_on_either_path(
) {
    let env = TestEnv::new("clonetrig").await;
    let host = format!("trig-{}.example", &env.namespace[1..]);
    let PgSite {
        source,
        scratch: _scratch,
        ..
    } = add_pg_site(&env, "trig", &host, 60, &[]).await;
    // A plugin's trigger stamping every update, the same one ALWAYS-enabled, and one disabled.
    let prod = PgPool::connect(&pg_url(&source)).await.unwrap();
    sqlx::raw_sql(
        "ALTER TABLE wp_posts ADD COLUMN post_modified timestamptz NOT NULL DEFAULT '2020-01-01 00:00:00+00';
         CREATE FUNCTION us_touch() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN NEW.post_modified := clock_timestamp(); RETURN NEW; END $$;
         CREATE TRIGGER touch BEFORE UPDATE ON wp_posts FOR EACH ROW EXECUTE FUNCTION us_touch();
         CREATE TRIGGER touch_always BEFORE UPDATE ON wp_posts FOR EACH ROW EXECUTE FUNCTION us_touch();
         ALTER TABLE wp_posts ENABLE ALWAYS TRIGGER touch_always;
         CREATE TRIGGER touch_off BEFORE UPDATE ON wp_posts FOR EACH ROW EXECUTE FUNCTION us_touch();
         ALTER TABLE wp_posts DISABLE TRIGGER touch_off;
         CREATE VIEW wp_published AS SELECT \"ID\", post_title FROM wp_posts WHERE post_status = 'publish';",
    )
    .execute(&prod)
    .await
    .unwrap();
    let production = (modified(&prod).await, trigger_states(&prod).await);
    prod.close().await;
    let _worker = env.worker(&[]);
    // Forced: on a loaded machine a just-closed session can outlive the default patience.
    for (method, extra) in [
        ("template", "--force-template"),
        ("stream", "--no-template"),
    ] {
        // Production idle first (the test's own sessions gone), as the fast path needs.
        let sessions = || async {
            sqlx::query_as::<_, (String, String, String)>(
                "SELECT coalesce(application_name, ''), coalesce(state, ''), coalesce(left(query, 120), '') \
                 FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            )
            .bind(&source)
            .fetch_all(&env.pool)
            .await
            .unwrap()
        };
        wait_for("production idle", Duration::from_secs(30), || async {
            sessions().await.is_empty().then_some(())
        })
        .await;
        let out = env.cli(&["staging", "create", "trig", extra, "--wait", "--json"]);
        let status = last_json(&out);
        assert!(out.status.success(), "{method}: {status}");
        let result = &status["job"]["result"];
        assert_eq!(
            result["copy"]["method"],
            method,
            "{result}\nsessions on production now: {:?}",
            sessions().await
        );
        let rewritten: i64 = result["tables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["table"].as_str().is_some_and(|n| n.ends_with("wp_posts")))
            .map(|t| t["values_changed"].as_i64().unwrap_or(0))
            .sum();
        assert!(
            rewritten > 0,
            "{method}: no wp_posts row rewritten: {result}"
        );
        let staging = PgPool::connect(&pg_url(&format!("{source}_staging")))
            .await
            .unwrap();
        let copy = (modified(&staging).await, trigger_states(&staging).await);
        let through_view: i64 = sqlx::query_scalar("SELECT count(*) FROM wp_published")
            .fetch_one(&staging)
            .await
            .unwrap_or_else(|e| panic!("{method}: the view is missing on staging: {e}"));
        assert_eq!(through_view, 60, "{method}");
        staging.close().await;
        assert_eq!(
            copy.1, production.1,
            "{method}: trigger states differ from production"
        );
        assert!(
            copy.0 == production.0,
            "{method}: post_modified differs from production on {} rows (a trigger fired)",
            copy.0
                .iter()
                .zip(&production.0)
                .filter(|(a, b)| a != b)
                .count()
        );
        let out = env.cli(&["staging", "destroy", "trig", "--wait"]);
        assert!(
            out.status.success(),
            "destroy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_install_in_the_same_postgres_database_is_neither_copied_nor_templated() {
    let env = TestEnv::new("clonescope").await;
    let host = format!("scope-{}.example", &env.namespace[1..]);
    let PgSite {
        source,
        scratch: _scratch,
        ..
    } = add_pg_site(&env, "scope", &host, 20, &[]).await;
    let prod = PgPool::connect(&pg_url(&source)).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE other_options (option_id bigserial PRIMARY KEY, option_name text UNIQUE, option_value text);
         CREATE TABLE other_posts (\"ID\" bigserial PRIMARY KEY, post_content text);
         CREATE INDEX other_posts_content ON other_posts (post_content);
         INSERT INTO other_options (option_name, option_value) VALUES ('mailserver_pass', 'hunter2'), ('blog_public', '1');
         INSERT INTO other_posts (post_content) VALUES ('another site');",
    )
    .execute(&prod)
    .await
    .unwrap();
    prod.close().await;
    let _worker = env.worker(&[]);
    let out = env.cli(&["staging", "create", "scope", "--wait", "--json"]);
    let status = last_json(&out);
    assert!(out.status.success(), "{status}");
    let result = &status["job"]["result"];
    assert_eq!(result["copy"]["method"], "stream", "{result}");
    assert!(
        result["copy"]["reason"]
            .as_str()
            .unwrap()
            .contains("not site scope's"),
        "{result}"
    );
    assert_eq!(
        result["tables_not_copied"],
        json!(["public.other_options", "public.other_posts"]),
        "{result}"
    );
    let staging = PgPool::connect(&pg_url(&format!("{source}_staging")))
        .await
        .unwrap();
    let others: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_class WHERE relname LIKE 'other\\_%'")
            .fetch_one(&staging)
            .await
            .unwrap();
    assert_eq!(
        others, 0,
        "another install's tables or indexes reached staging"
    );
    assert_eq!(count(&staging, "wp_posts").await, 20);
    staging.close().await;
}
