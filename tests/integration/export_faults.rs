//! Exports that go wrong: bad credentials, an insufficient role, a URL that is not WordPress,
//! a REST API that is off, a site that is unreachable — each fails fast with its own message and
//! no retry when retrying cannot help; a site that goes away mid-export is retried and the
//! export resumes when it returns; a SIGKILLed worker's export resumes at the next page.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use understudy_tests::{wait_for, TestEnv};
use understudy_worker::contract::Priority;
use understudy_worker::state::JobState;

use crate::export::walk;
use crate::export_support::{
    closed_port, collection, endless_server, html_server, job_error, manifest, retries, spec,
    step_attempts, Proxy, Wp, SITE,
};

/// Enqueues an export that must fail; returns (error, seconds it took, retries recorded).
async fn export_fails(env: &TestEnv, spec: Value) -> (String, f64, i64) {
    let started = Instant::now();
    let id = env.enqueue("export", spec, Priority::Interactive).await;
    let state = env.wait_terminal(id, Duration::from_secs(60)).await;
    assert_eq!(state, JobState::Failed, "expected a failure");
    (
        job_error(env, id).await,
        started.elapsed().as_secs_f64(),
        retries(env, id).await,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_credentials_and_insufficient_roles_fail_fast_without_retries() {
    let _site = SITE.read().await;
    let wp = Wp::load();
    let env = TestEnv::new("export-creds").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;
    let out = env.dir.join("bad");
    let (error, secs, tries) = export_fails(
        &env,
        spec(
            &env,
            &wp.url,
            "admin",
            "abcd efgh ijkl mnop qrst uvwx",
            &out,
        ),
    )
    .await;
    assert!(error.contains("bad credentials"), "{error}");
    assert!(error.contains("\"admin\""), "{error}");
    assert!(
        !error.contains("abcd"),
        "the password leaked into the error: {error}"
    );
    assert_eq!(tries, 0, "no retry for bad credentials");
    assert!(secs < 20.0, "took {secs}s");
    assert!(
        !out.exists() && !env.dir.join("bad.partial").exists(),
        "nothing written"
    );

    let (error, _, tries) = export_fails(
        &env,
        spec(
            &env,
            &wp.url,
            "subscriber",
            &wp.password("subscriber"),
            &out,
        ),
    )
    .await;
    assert!(error.contains("insufficient role"), "{error}");
    assert!(
        error.contains("subscriber") && error.contains("edit_others_posts"),
        "{error}"
    );
    assert_eq!(tries, 0);
    let logs = std::fs::read_to_string(&_worker.log).unwrap();
    assert!(
        !logs.contains(&wp.password("subscriber")),
        "password in the worker log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_that_is_not_wordpress_fails_fast_with_its_message() {
    let (url, server) = html_server().await;
    let env = TestEnv::new("export-notwp").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;
    let (error, secs, tries) =
        export_fails(&env, spec(&env, &url, "admin", "x", &env.dir.join("b"))).await;
    assert!(error.contains("not a WordPress site"), "{error}");
    assert!(error.contains("HTML instead of JSON"), "{error}");
    assert_eq!(tries, 0);
    assert!(secs < 20.0);
    server.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_response_is_cut_at_the_size_limit_and_fails_permanently() {
    let (url, server) = endless_server().await;
    let env = TestEnv::new("export-endless").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;
    let (error, secs, tries) =
        export_fails(&env, spec(&env, &url, "admin", "x", &env.dir.join("b"))).await;
    assert!(error.contains("unexpected response"), "{error}");
    assert!(error.contains("larger than the"), "{error}");
    assert_eq!(tries, 0);
    assert!(secs < 30.0, "{secs}s");
    server.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_site_is_retried_a_few_times_then_fails_as_unreachable() {
    let port = closed_port().await;
    let env = TestEnv::new("export-unreachable").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;
    let mut s = spec(
        &env,
        &format!("http://127.0.0.1:{port}"),
        "admin",
        "x",
        &env.dir.join("b"),
    );
    s["retry"] = json!({"max_tries": 3, "min_delay_ms": 100, "max_delay_ms": 300});
    let (error, _, tries) = export_fails(&env, s).await;
    assert!(error.contains("site unreachable"), "{error}");
    assert!(error.contains("gave up after 3 tries"), "{error}");
    assert_eq!(tries, 2);
}

/// Turns the shared site's REST API back on even when the test panics.
struct RestOn;
impl Drop for RestOn {
    fn drop(&mut self) {
        wordpress_sh(&["rest-on"]);
    }
}

fn wordpress_sh(args: &[&str]) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/services/wordpress.sh"
    );
    let status = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .status()
        .expect("run wordpress.sh");
    assert!(status.success(), "wordpress.sh {args:?} failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_rest_api_fails_fast_with_its_message() {
    let wp = Wp::load();
    let env = TestEnv::new("export-restoff").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;
    let admin = wp.password("admin");
    // Exclusive use of the site, as briefly as possible.
    let _site = SITE.write().await;
    let _restore = RestOn;
    for (mode, expect) in [
        ("forbidden", "rest_disabled"),
        ("notfound", "home page is WordPress"),
    ] {
        wordpress_sh(&["rest-off", mode]);
        let (error, secs, tries) = export_fails(
            &env,
            spec(&env, &wp.url, "admin", &admin, &env.dir.join(mode)),
        )
        .await;
        assert!(error.contains("REST API is disabled"), "{mode}: {error}");
        assert!(error.contains(expect), "{mode}: {error}");
        assert_eq!(tries, 0, "{mode}");
        assert!(secs < 20.0, "{mode}: {secs}s");
    }
}

/// `(path without query, page)` of the collection-page requests a proxy forwarded.
fn page_requests(proxy: &Proxy) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for line in proxy.requests() {
        let target = line.split(' ').nth(1).unwrap_or("");
        if target.contains("per_page=100") {
            *out.entry(target.to_string()).or_default() += 1;
        }
    }
    out
}

/// The request target of a `collection:<name>:page:<n>` step, as the proxy saw it.
fn page_target(
    requests: &HashMap<String, usize>,
    route: &str,
    params: &str,
    page: u32,
) -> Vec<usize> {
    requests
        .iter()
        .filter(|(t, _)| {
            t.starts_with(&format!("/wp-json/wp/v2/{route}?"))
                && t.contains(params)
                && t.ends_with(&format!("&page={page}"))
        })
        .map(|(_, n)| *n)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_site_that_goes_away_mid_export_is_retried_and_the_export_resumes_when_it_returns() {
    let _site = SITE.read().await;
    let wp = Wp::load();
    let proxy = Proxy::start(&wp.host_port, Duration::from_millis(20)).await;
    let env = TestEnv::new("export-siteaway").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;
    let out = env.dir.join("bundle");
    let mut s = spec(&env, &proxy.url(), "admin", &wp.password("admin"), &out);
    s["retry"] = json!({"max_tries": 30, "min_delay_ms": 200, "max_delay_ms": 1000});
    let id = env.enqueue("export", s, Priority::Interactive).await;
    wait_for("the first posts page", Duration::from_secs(60), || async {
        step_attempts(&env, id)
            .await
            .contains_key("collection:posts:page:1")
            .then_some(())
    })
    .await;
    proxy.stop();
    let before = step_attempts(&env, id).await;
    wait_for(
        "a retry while the site is gone",
        Duration::from_secs(30),
        || async { (retries(&env, id).await >= 2).then_some(()) },
    )
    .await;
    assert_eq!(
        env.state(id).await,
        Some(JobState::Running),
        "still running, waiting for the site"
    );
    proxy.restart().await;
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(240)).await,
        JobState::Succeeded,
        "{}",
        job_error(&env, id).await
    );

    // Pages done before the outage were not fetched again.
    let requests = page_requests(&proxy);
    for page in 1..=3 {
        let name = format!("collection:posts:page:{page}");
        let counts = page_target(&requests, "posts", "status=any", page);
        if before.contains_key(&name) {
            assert_eq!(counts, vec![1], "{name} fetched again after the outage");
        }
    }
    // A complete bundle, each file once, no temporary file left.
    let m = manifest(&out);
    let posts = wp
        .total("/wp/v2/posts", &[("status", "any"), ("context", "edit")])
        .await;
    assert_eq!(collection(&out, "posts").len() as u64, posts);
    let listed: Vec<&str> = m["media"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    let mut files: Vec<String> = walk(&out.join("uploads"))
        .iter()
        .map(|p| p.strip_prefix(&out).unwrap().display().to_string())
        .collect();
    files.sort();
    let mut listed_sorted: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    listed_sorted.sort();
    assert_eq!(
        files, listed_sorted,
        "files on disk = files in the manifest, once each"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkilled_workers_export_resumes_from_the_last_page() {
    let _site = SITE.read().await;
    let wp = Wp::load();
    // A slow site, so that the kill lands in the middle of the collections.
    let proxy = Proxy::start(&wp.host_port, Duration::from_millis(150)).await;
    let env = TestEnv::new("export-sigkill").await;
    let mut worker = env.worker(&[]);
    env.wait_workers(1).await;
    let out = env.dir.join("bundle");
    let mut s = spec(&env, &proxy.url(), "admin", &wp.password("admin"), &out);
    s["media"] = json!("none");
    let id = env.enqueue("export", s, Priority::Interactive).await;
    wait_for("comments page 2", Duration::from_secs(120), || async {
        step_attempts(&env, id)
            .await
            .contains_key("collection:comments:page:2")
            .then_some(())
    })
    .await;
    worker.kill9();
    let before = step_attempts(&env, id).await;
    let _next = env.worker(&[]);
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(240)).await,
        JobState::Succeeded,
        "{}",
        job_error(&env, id).await
    );

    let after = step_attempts(&env, id).await;
    let attempts: Vec<i32> =
        sqlx::query_scalar("SELECT attempt FROM job_attempts WHERE job_id = $1 ORDER BY attempt")
            .bind(id)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(attempts, vec![1, 2]);
    // Steps completed before the kill kept their checkpoint from attempt 1; the rest ran in 2.
    for (name, attempt) in &after {
        let expected = if before.contains_key(name) { 1 } else { 2 };
        assert_eq!(*attempt, expected, "{name}");
    }
    assert!(after.len() > before.len(), "work was left after the kill");
    // Each page checkpointed before the kill was requested exactly once; the comments pages
    // after it at most twice (the one in flight when the worker died).
    let requests = page_requests(&proxy);
    for page in 1..=2 {
        assert_eq!(
            page_target(&requests, "comments", "status=all", page),
            vec![1],
            "comments page {page}"
        );
    }
    for page in 1..=3 {
        assert_eq!(
            page_target(&requests, "posts", "status=any", page),
            vec![1],
            "posts page {page}"
        );
    }
    for (target, n) in &requests {
        assert!(*n <= 2, "{target} fetched {n} times");
    }
    let comments = wp
        .total("/wp/v2/comments", &[("status", "all"), ("context", "edit")])
        .await;
    assert_eq!(collection(&out, "comments").len() as u64, comments);
    assert_eq!(manifest(&out)["job_id"], json!(id.to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn media_already_downloaded_is_not_fetched_again_when_the_site_returns() {
    let _site = SITE.read().await;
    let wp = Wp::load();
    // Slow enough that the outage lands in the middle of the downloads.
    let proxy = Proxy::start(&wp.host_port, Duration::from_millis(60)).await;
    let env = TestEnv::new("export-mediaresume").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;
    let out = env.dir.join("bundle");
    let mut s = spec(&env, &proxy.url(), "admin", &wp.password("admin"), &out);
    s["retry"] = json!({"max_tries": 30, "min_delay_ms": 200, "max_delay_ms": 1000});
    s["media_concurrency"] = json!(2);
    let id = env.enqueue("export", s, Priority::Interactive).await;
    wait_for(
        "the first media batch",
        Duration::from_secs(120),
        || async {
            step_attempts(&env, id)
                .await
                .contains_key("media:batch:1")
                .then_some(())
        },
    )
    .await;
    proxy.stop();
    let partial = env.dir.join("bundle.partial");
    let on_disk: Vec<String> = walk(&partial.join("uploads"))
        .iter()
        .filter(|p| !p.file_name().unwrap().to_string_lossy().ends_with(".part"))
        .map(|p| p.strip_prefix(&partial).unwrap().display().to_string())
        .collect();
    wait_for(
        "a retry while the site is gone",
        Duration::from_secs(30),
        || async { (retries(&env, id).await >= 1).then_some(()) },
    )
    .await;
    proxy.restart().await;
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(240)).await,
        JobState::Succeeded,
        "{}",
        job_error(&env, id).await
    );
    assert!(
        on_disk.len() >= 40,
        "batch 1 was on disk: {}",
        on_disk.len()
    );
    let mut gets: HashMap<String, usize> = HashMap::new();
    for line in proxy.requests() {
        let target = line.split(' ').nth(1).unwrap_or("").to_string();
        if target.starts_with("/wp-content/uploads/") {
            *gets.entry(target).or_default() += 1;
        }
    }
    let m = manifest(&out);
    let origin = wp.url.trim_end_matches('/');
    for f in m["media"]["files"].as_array().unwrap() {
        let (Some(path), Some(url)) = (f["path"].as_str(), f["url"].as_str()) else {
            continue;
        };
        let target = url.strip_prefix(origin).expect("a URL of the site");
        let n = gets.get(target).copied().unwrap_or(0);
        if on_disk.iter().any(|p| p == path) {
            assert_eq!(
                n, 1,
                "{path} was on disk before the outage but fetched {n} times"
            );
        } else {
            assert!((1..=2).contains(&n), "{path} fetched {n} times");
        }
    }
}

/// Issue #13: a cancelled export releases its `--out`: a new export to the same directory
/// reclaims the partial bundle instead of failing with "is being built by job …".
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_export_releases_its_out_dir_for_the_next_export() {
    let _site = SITE.read().await;
    let wp = Wp::load();
    let proxy = Proxy::start(&wp.host_port, Duration::from_millis(40)).await;
    let env = TestEnv::new("export-release").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;
    let out = env.dir.join("bundle");
    let first = env
        .enqueue(
            "export",
            spec(&env, &proxy.url(), "admin", &wp.password("admin"), &out),
            Priority::Interactive,
        )
        .await;
    wait_for("the first page", Duration::from_secs(60), || async {
        step_attempts(&env, first)
            .await
            .keys()
            .any(|k| k.starts_with("collection:"))
            .then_some(())
    })
    .await;
    let cancel = env.cli(&["cancel", &first.to_string()]);
    assert!(
        cancel.status.success(),
        "{}",
        String::from_utf8_lossy(&cancel.stderr)
    );
    assert_eq!(
        env.wait_terminal(first, Duration::from_secs(60)).await,
        JobState::Cancelled
    );
    assert!(
        env.dir.join("bundle.partial").exists(),
        "the partial bundle stays for a retry"
    );
    let second = env
        .enqueue(
            "export",
            spec(&env, &wp.url, "admin", &wp.password("admin"), &out),
            Priority::Interactive,
        )
        .await;
    assert_eq!(
        env.wait_terminal(second, Duration::from_secs(240)).await,
        JobState::Succeeded,
        "{}",
        job_error(&env, second).await
    );
    assert!(out.join("manifest.json").exists());
}
