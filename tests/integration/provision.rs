//! Provision and sandbox lifecycle on the real Docker engine, with the images that
//! `scripts/images/build.sh` builds (scripts/test.sh runs it first). Every test labels its
//! sandboxes with its own owner and checks, through the engine API, that nothing is left.

use serde_json::Value;
use std::time::{Duration, Instant};
use understudy_tests::sandbox_fixture::{
    engine_objects, remove_all, sandbox_env, write_bundle, BLOCK_ID, IMAGE, NAVIGATION_ID,
    POST_TITLES, SOURCE, TEMPLATE, TEMPLATE_PART, THEME,
};
use understudy_tests::{last_json, wait_for, TestEnv, Worker};
use understudy_worker::contract::Priority;
use understudy_worker::state::JobState;
use understudy_workflows::provision::config::ProvisionConfig;
use understudy_workflows::provision::{engine, http};

const JOB_TIMEOUT: Duration = Duration::from_secs(240);

fn worker(env: &TestEnv, extra: &[(&str, &str)]) -> Worker {
    let owned = sandbox_env(env);
    let mut all: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend_from_slice(extra);
    env.worker(&all)
}

async fn get(url: &str) -> http::Response {
    http::get(url, Duration::from_secs(20), 4 << 20)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// The sandbox serves the imported posts (titles on the home page, links rewritten) and the
/// imported image.
async fn assert_serves_bundle(url: &str) {
    let home = get(&format!("{url}/")).await;
    assert_eq!(home.status, 200, "home page of {url}: {}", home.text());
    let html = home.text();
    for title in POST_TITLES {
        assert!(html.contains(title), "{url}/ lacks {title:?}");
    }
    assert!(!html.contains(SOURCE), "source URLs left in {url}/");
    // The post itself (id kept): links and the image rewritten to the sandbox.
    let post = get(&format!("{url}/?p=10")).await.text();
    assert!(
        post.contains(&format!("href=\"{url}/about/\"")),
        "link not rewritten to {url}"
    );
    assert!(
        post.contains(&format!("{url}/wp-content/uploads/{IMAGE}")),
        "image URL not rewritten"
    );
    assert!(!post.contains(SOURCE), "source URLs left in the post");
    let image = get(&format!("{url}/wp-content/uploads/{IMAGE}")).await;
    assert_eq!(image.status, 200);
    assert_eq!(image.header("content-type"), Some("image/png"));
    assert_eq!(image.body, understudy_tests::sandbox_fixture::png());
}

/// One REST answer of the sandbox, as its administrator with the Application Password.
async fn rest(url: &str, user: &str, app_password: &str, route: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{url}/"))
        .query(&[("rest_route", route), ("context", "edit")])
        .basic_auth(user, Some(app_password))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {route}: {e}"));
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "GET {route} on {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{route}: {e}: {body}"))
}

/// The bundle's block theme data is in the sandbox, as WordPress's REST API sees it: the block
/// template and the template part under the source theme (the part in its area), the block
/// navigation menu and the reusable block with their ids kept and URLs rewritten, and the
/// references between them (`ref`) intact.
async fn assert_block_theme_data(url: &str, user: &str, app_password: &str) {
    let route = format!("/wp/v2/templates/{THEME}//{TEMPLATE}");
    let template = rest(url, user, app_password, &route).await;
    assert_eq!(template["source"], "custom", "{template}");
    assert_eq!(template["theme"], THEME);
    assert_eq!(template["wp_id"], 30, "id kept: {template}");
    assert_eq!(template["title"]["raw"], "Fixture Landing");
    assert_eq!(
        template["description"],
        "Fixture Landing, made in the site editor"
    );
    let content = template["content"]["raw"].as_str().unwrap();
    assert!(
        content.contains(&format!(
            "{{\"slug\":\"{TEMPLATE_PART}\",\"theme\":\"{THEME}\""
        )) && content.contains(&format!("{{\"ref\":{BLOCK_ID}}}")),
        "{content}"
    );

    let route = format!("/wp/v2/template-parts/{THEME}//{TEMPLATE_PART}");
    let part = rest(url, user, app_password, &route).await;
    assert_eq!(part["area"], "header", "{part}");
    assert_eq!(part["wp_id"], 31);
    assert_eq!(part["title"]["raw"], "Fixture Header");
    let content = part["content"]["raw"].as_str().unwrap();
    assert!(
        content.contains(&format!("{{\"ref\":{NAVIGATION_ID}}}")),
        "{content}"
    );

    let route = format!("/wp/v2/navigation/{NAVIGATION_ID}");
    let navigation = rest(url, user, app_password, &route).await;
    assert_eq!(navigation["title"]["raw"], "Fixture Navigation");
    assert_eq!(navigation["status"], "publish");
    let content = navigation["content"]["raw"].as_str().unwrap();
    assert!(
        content.contains(&format!("\"url\":\"{url}/about/\"")) && !content.contains(SOURCE),
        "navigation link not rewritten to {url}: {content}"
    );

    let block = rest(
        url,
        user,
        app_password,
        &format!("/wp/v2/blocks/{BLOCK_ID}"),
    )
    .await;
    assert_eq!(block["title"]["raw"], "Fixture Call To Action");
    let content = block["content"]["raw"].as_str().unwrap();
    assert!(content.contains(&format!("{url}/team/")), "{content}");
}

fn provision_cli(env: &TestEnv, bundle: &str) -> Value {
    let out = env.cli(&["provision", "--bundle", bundle, "--wait", "--json"]);
    let status = last_json(&out);
    assert!(
        out.status.success(),
        "provision failed: {status}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    status["job"]["result"].clone()
}

#[tokio::test]
async fn provision_two_sandboxes_from_a_bundle_then_destroy_and_reap() {
    let env = TestEnv::new("provision-bundle").await;
    let _worker = worker(&env, &[]);
    env.wait_workers(1).await;
    let bundle = write_bundle(&env.dir);
    let bundle = bundle.to_str().unwrap();

    let started = Instant::now();
    let (a, b) = tokio::join!(async { provision_cli(&env, bundle) }, async {
        provision_cli(&env, bundle)
    });
    eprintln!("two sandboxes ready in {:?}", started.elapsed());
    let (url_a, url_b) = (a["url"].as_str().unwrap(), b["url"].as_str().unwrap());
    assert_ne!(url_a, url_b, "two sandboxes, two ports");
    assert!(url_a.starts_with("http://127.0.0.1:"));
    assert_serves_bundle(url_a).await;
    assert_serves_bundle(url_b).await;
    assert_eq!(a["import"]["imported"]["posts"], 2, "{a}");
    assert_eq!(a["import"]["imported"]["pages"], 2);
    assert_eq!(a["import"]["imported"]["attachments"], 1);
    assert_eq!(a["import"]["imported"]["comments"], 1);
    assert_eq!(a["import"]["imported"]["renumbered"], 0, "ids kept: {a}");
    assert_eq!(a["admin_user"], "understudy");
    let imported = &a["import"]["imported"];
    assert_eq!(
        (
            &imported["templates"],
            &imported["template_parts"],
            &imported["navigation"],
            &imported["blocks"]
        ),
        (&1.into(), &1.into(), &1.into(), &1.into()),
        "{a}"
    );

    // The password is not in the result; `sandbox show --reveal-password` gives it, and it is
    // sealed at rest.
    let id_a = a["sandbox"].as_str().unwrap().to_string();
    let shown = last_json(&env.cli(&["sandbox", "show", &id_a, "--reveal-password", "--json"]));
    let password = shown["admin_password"].as_str().unwrap().to_string();
    let app_password = shown["app_password"].as_str().unwrap().to_string();
    assert_eq!(password.len(), 24);
    assert!(!a.to_string().contains(&password));
    assert_block_theme_data(url_a, "understudy", &app_password).await;
    let plain: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_steps WHERE output::text LIKE '%' || $1 || '%' OR output::text LIKE '%' || $2 || '%'",
    )
    .bind(&password)
    .bind(&app_password)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(plain, 0, "a password in a checkpoint");
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_events WHERE message LIKE '%' || $1 || '%' OR message LIKE '%' || $2 || '%'",
    )
    .bind(&password)
    .bind(&app_password)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(events, 0, "a password in an event");
    assert!(
        !_worker.log_text().contains(&password),
        "a password in the worker log"
    );

    // Each sandbox: two containers, one network, one volume.
    let objects = engine_objects(&env).await;
    assert_eq!(
        (
            objects.containers.len(),
            objects.networks.len(),
            objects.volumes.len()
        ),
        (4, 2, 2),
        "{objects:?}"
    );

    // Destroy one: the other still serves.
    let out = env.cli(&["sandbox", "destroy", &id_a, "--wait", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        http::get(&format!("{url_a}/"), Duration::from_secs(2), 1024)
            .await
            .is_err()
    );
    assert_serves_bundle(url_b).await;
    let objects = engine_objects(&env).await;
    assert_eq!(
        (
            objects.containers.len(),
            objects.networks.len(),
            objects.volumes.len()
        ),
        (2, 1, 1),
        "{objects:?}"
    );

    // The reaper, eight days later: the other expired.
    let later = (chrono::Utc::now() + chrono::Duration::days(8)).to_rfc3339();
    let out = env.cli(&["sandbox", "reap", "--now", &later, "--wait", "--json"]);
    let status = last_json(&out);
    assert!(out.status.success(), "{status}");
    assert_eq!(status["job"]["result"]["expired"][0]["id"], b["sandbox"]);
    assert!(engine_objects(&env).await.is_empty(), "reaper left objects");
    let list = last_json(&env.cli(&["sandbox", "list", "--all", "--json"]));
    let states: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["destroyed", "destroyed"]);
    remove_all(&env).await;
}

#[tokio::test]
async fn worker_killed_mid_provision_resumes_without_duplicates_and_reaper_cleans_drift() {
    let env = TestEnv::new("provision-crash").await;
    let mut first = worker(&env, &[]);
    env.wait_workers(1).await;
    let bundle = write_bundle(&env.dir);
    let spec = serde_json::json!({"bundle": bundle.to_str().unwrap()});
    let id = env.enqueue("provision", spec, Priority::Interactive).await;

    // Kill the worker once the WordPress container exists but before the sandbox is ready.
    let pool = env.pool.clone();
    wait_for("the wordpress step", JOB_TIMEOUT, || {
        let pool = pool.clone();
        async move {
            let done: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM job_steps WHERE job_id = $1 AND name = 'wordpress' AND state = 'completed'",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .ok()?;
            (done == 1).then_some(())
        }
    })
    .await;
    first.kill9();
    assert_ne!(env.state(id).await, Some(JobState::Succeeded));

    let _second = worker(&env, &[]);
    assert_eq!(
        env.wait_terminal(id, JOB_TIMEOUT).await,
        JobState::Succeeded
    );
    let objects = engine_objects(&env).await;
    assert_eq!(
        objects.containers.len(),
        2,
        "duplicate containers: {objects:?}"
    );
    assert_eq!(
        (objects.networks.len(), objects.volumes.len()),
        (1, 1),
        "{objects:?}"
    );
    let result: Value = sqlx::query_scalar("SELECT result FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_serves_bundle(result["url"].as_str().unwrap()).await;

    // Drift: the WordPress container removed by hand, and an orphan network of ours.
    let docker = engine::connect(&ProvisionConfig::default()).await.unwrap();
    let wp = result["containers"]["wordpress"]["name"].as_str().unwrap();
    engine::remove_container(&docker, wp).await.unwrap();
    let orphan_labels = std::collections::HashMap::from([
        (
            "understudy.sandbox".to_string(),
            "sb-0rphan000000".to_string(),
        ),
        ("understudy.owner".to_string(), env.namespace.clone()),
    ]);
    let orphan = format!("understudy-orphan-{}", env.namespace);
    engine::ensure_network(&docker, &orphan, orphan_labels)
        .await
        .unwrap();

    let out = env.cli(&["sandbox", "reap", "--wait", "--json"]);
    let status = last_json(&out);
    assert!(out.status.success(), "{status}");
    let reasons: Vec<String> = status["job"]["result"]["reconciled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons.len(), 2, "{status}");
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("containers removed out of band")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("orphan")),
        "{reasons:?}"
    );
    assert!(engine_objects(&env).await.is_empty(), "drift left objects");
    remove_all(&env).await;
}

#[tokio::test]
async fn bad_image_and_failed_readiness_leave_nothing_behind() {
    let env = TestEnv::new("provision-fail").await;
    let _w = worker(
        &env,
        &[(
            "UNDERSTUDY_PROVISION__WORDPRESS_IMAGE",
            "understudy/no-such-image:none",
        )],
    );
    env.wait_workers(1).await;
    let bundle = write_bundle(&env.dir);
    let spec = serde_json::json!({"bundle": bundle.to_str().unwrap()});
    let id = env
        .enqueue("provision", spec.clone(), Priority::Interactive)
        .await;
    assert_eq!(env.wait_terminal(id, JOB_TIMEOUT).await, JobState::Failed);
    let error: String = sqlx::query_scalar("SELECT error FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert!(error.contains("understudy/no-such-image:none"), "{error}");
    assert!(engine_objects(&env).await.is_empty());
    drop(_w);

    // A sandbox that cannot become ready in time: compensation removes what was created. The
    // "WordPress" container runs the database image, which never answers HTTP, so readiness
    // fails by its deadline however fast the machine is.
    let database_image = ProvisionConfig::default().mariadb_image;
    let _w = worker(
        &env,
        &[
            ("UNDERSTUDY_PROVISION__READY_TIMEOUT_SECS", "1"),
            (
                "UNDERSTUDY_PROVISION__WORDPRESS_IMAGE",
                database_image.as_str(),
            ),
        ],
    );
    let id = env.enqueue("provision", spec, Priority::Interactive).await;
    assert_eq!(env.wait_terminal(id, JOB_TIMEOUT).await, JobState::Failed);
    let error: String = sqlx::query_scalar("SELECT error FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert!(error.contains("not ready after 1s"), "{error}");
    let objects = engine_objects(&env).await;
    assert!(objects.is_empty(), "compensation left {objects:?}");
    let state: String = sqlx::query_scalar("SELECT state::text FROM sandboxes")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(state, "failed");

    // Issue #13: the cause fixed (a WordPress image that answers), `understudy retry` provisions
    // the same sandbox again: the compensation of `reserve` removed the containers, so every step
    // it undid runs again instead of being skipped as completed.
    drop(_w);
    let _w = worker(&env, &[]);
    let out = env.cli(&["retry", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.wait_terminal(id, JOB_TIMEOUT).await,
        JobState::Succeeded
    );
    let (state, url): (String, String) =
        sqlx::query_as("SELECT state::text, url FROM sandboxes WHERE job_id = $1")
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(state, "ready");
    assert_serves_bundle(&url).await;
    remove_all(&env).await;
}

/// Milliseconds per step of a job (from the previous checkpoint, the first from the job start).
async fn step_times(env: &TestEnv, id: uuid::Uuid) -> Vec<(String, f64)> {
    sqlx::query_as(
        "SELECT name, extract(epoch FROM completed_at - coalesce(lag(completed_at) \
         OVER (ORDER BY completed_at), (SELECT started_at FROM jobs WHERE id = $1)))::float8 * 1000 \
         FROM job_steps WHERE job_id = $1 ORDER BY completed_at",
    )
    .bind(id)
    .fetch_all(&env.pool)
    .await
    .expect("step times")
}

/// The provision benchmark (BENCHMARKS.md): from job start to a sandbox serving the imported
/// content, images already built, one job at a time. Run with
/// `cargo test -p understudy-tests --test integration provision_benchmark -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "benchmark: run explicitly"]
async fn provision_benchmark() {
    let env = TestEnv::new("provision-bench").await;
    let _worker = worker(&env, &[]);
    env.wait_workers(1).await;
    let bundle = write_bundle(&env.dir);
    let spec = serde_json::json!({"bundle": bundle.to_str().unwrap()});
    let mut runs = Vec::new();
    for _ in 0..3 {
        let enqueued = Instant::now();
        let id = env
            .enqueue("provision", spec.clone(), Priority::Interactive)
            .await;
        assert_eq!(
            env.wait_terminal(id, JOB_TIMEOUT).await,
            JobState::Succeeded
        );
        let result: Value = sqlx::query_scalar("SELECT result FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .unwrap();
        assert_serves_bundle(result["url"].as_str().unwrap()).await;
        let serving = enqueued.elapsed();
        let (run_ms, queue_ms): (f64, f64) = sqlx::query_as(
            "SELECT extract(epoch FROM finished_at - started_at)::float8 * 1000, \
                    extract(epoch FROM started_at - enqueued_at)::float8 * 1000 FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap();
        let steps = step_times(&env, id).await;
        runs.push(serde_json::json!({
            "job_start_to_ready_ms": run_ms.round(), "queue_ms": queue_ms.round(),
            "enqueue_to_serving_checked_ms": serving.as_millis(),
            "readiness_ms": result["readiness_ms"], "steps_ms": steps,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&runs).unwrap());
    remove_all(&env).await;
}

/// A real export bundle (from the export workflow), e.g. of the local WordPress:
/// `UNDERSTUDY_PROVISION_BUNDLE=/path cargo test ... provision_real_bundle -- --ignored`.
#[tokio::test]
#[ignore = "needs UNDERSTUDY_PROVISION_BUNDLE: an export bundle directory"]
async fn provision_real_bundle() {
    let bundle = std::env::var("UNDERSTUDY_PROVISION_BUNDLE").expect("UNDERSTUDY_PROVISION_BUNDLE");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(format!("{bundle}/manifest.json")).unwrap()).unwrap();
    let env = TestEnv::new("provision-real").await;
    let _worker = worker(&env, &[]);
    env.wait_workers(1).await;
    let started = Instant::now();
    let result = provision_cli(&env, &bundle);
    println!(
        "provisioned in {:?}: {}",
        started.elapsed(),
        serde_json::to_string_pretty(&result["import"]).unwrap()
    );
    let job: uuid::Uuid = sqlx::query_scalar("SELECT job_id FROM sandboxes")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    println!("steps (ms): {:?}", step_times(&env, job).await);
    let imported = &result["import"]["imported"];
    assert_eq!(imported["posts"], manifest["collections"]["posts"]["items"]);
    assert_eq!(imported["pages"], manifest["collections"]["pages"]["items"]);
    let url = result["url"].as_str().unwrap();
    let home = get(&format!("{url}/")).await;
    assert_eq!(home.status, 200);
    let source = manifest["site"]["url"]
        .as_str()
        .unwrap()
        .trim_end_matches('/');
    assert!(
        !home.text().contains(source),
        "source URL {source} left on the home page"
    );
    remove_all(&env).await;
}
