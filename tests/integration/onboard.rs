//! The onboarding chain end to end against the real local WordPress (`scripts/services/
//! wordpress.sh`, seeded by `scripts/wp-seed.py`) and the real Docker engine: `understudy
//! onboard` exports the site and provisions a sandbox in one job; the worker is SIGKILLed
//! mid-chain and another resumes it; the sandbox serves imported posts, a custom post type
//! entry, the classic menu and an image; destroy leaves nothing in the engine. Bad input is
//! refused by the CLI and an unreachable site fails the job in `export.validate`.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use understudy_tests::sandbox_fixture::{engine_objects, remove_all, sandbox_env};
use understudy_tests::{last_json, wait_for, TestEnv, Worker};
use understudy_worker::state::JobState;
use understudy_workflows::provision::http;
use uuid::Uuid;

use crate::export_support::{Wp, SITE};

const JOB_TIMEOUT: Duration = Duration::from_secs(300);

fn worker(env: &TestEnv) -> Worker {
    let owned = sandbox_env(env);
    let all: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.worker(&all)
}

/// GET, following one redirect (WordPress sends `?p=N` of a custom post type to its canonical
/// `?book=slug`).
async fn get(url: &str) -> http::Response {
    let fetch = |url: String| async move {
        http::get(&url, Duration::from_secs(20), 8 << 20)
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    };
    let response = fetch(url.to_string()).await;
    match (response.status, response.header("location")) {
        (301 | 302, Some(location)) => fetch(location.to_string()).await,
        _ => response,
    }
}

fn collection(bundle: &Path, name: &str) -> Vec<Value> {
    let text = std::fs::read(bundle.join(format!("collections/{name}.json"))).unwrap();
    serde_json::from_slice(&text).unwrap()
}

/// Published items of a collection whose titles need no HTML escaping.
fn plain_published(items: &[Value], n: usize) -> Vec<(u64, String)> {
    items
        .iter()
        .filter(|p| p["status"] == "publish" && p["password"].as_str().unwrap_or("").is_empty())
        .filter_map(|p| {
            let title = p["title"]["raw"].as_str()?;
            let plain =
                !title.is_empty() && title.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ');
            plain.then(|| (p["id"].as_u64().unwrap(), title.to_string()))
        })
        .take(n)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn onboard_a_live_site_resumes_after_sigkill_serves_it_and_destroys_cleanly() {
    let _site = SITE.read().await;
    let wp = Wp::load();
    let env = TestEnv::new("onboard").await;
    let mut first = worker(&env);
    env.wait_workers(1).await;
    let password_file = env.dir.join("app-password");
    std::fs::write(&password_file, wp.password("admin")).unwrap();

    // A web app's view: the chain's events on the events exchange.
    let (_connection, mut consumer) = env.listen_events("onboard.#").await;
    let events = tokio::spawn(async move {
        use futures::StreamExt;
        let mut seen: Vec<(String, Option<f64>)> = Vec::new();
        let _ = tokio::time::timeout(JOB_TIMEOUT, async {
            while let Some(Ok(delivery)) = consumer.next().await {
                let event: Value = serde_json::from_slice(&delivery.data).expect("event JSON");
                let kind = event["type"].as_str().unwrap_or("").to_string();
                seen.push((kind.clone(), event["percent"].as_f64()));
                if kind == "succeeded" {
                    return;
                }
            }
        })
        .await;
        seen
    });

    // Enqueue without --wait, kill the worker once the chain is inside the provision half.
    let out = env.cli(&[
        "onboard",
        &wp.url,
        "--user",
        "admin",
        "--app-password-file",
        password_file.to_str().unwrap(),
        "--ttl",
        "2h",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id: Uuid = last_json(&out)["job_id"].as_str().unwrap().parse().unwrap();
    let pool = env.pool.clone();
    wait_for("provision.database", JOB_TIMEOUT, || {
        let pool = pool.clone();
        async move {
            let done: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM job_steps WHERE job_id = $1 AND name = 'provision.database' AND state = 'completed'",
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
    let _second = worker(&env);
    let status = last_json(&env.cli(&["watch", &id.to_string(), "--json"]));
    assert_eq!(
        env.wait_terminal(id, JOB_TIMEOUT).await,
        JobState::Succeeded,
        "{status}"
    );
    let result: Value = sqlx::query_scalar("SELECT result FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap();

    // Steps: the chain's own validate, then prefixed export and provision steps, each once.
    let steps: Vec<(String, i32)> = sqlx::query_as(
        "SELECT name, attempt FROM job_steps WHERE job_id = $1 AND state = 'completed' ORDER BY completed_at",
    )
    .bind(id)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "validate", "{names:?}");
    assert_eq!(names[1], "export.validate", "{names:?}");
    for want in [
        "export.bundle",
        "provision.validate",
        "provision.import",
        "provision.record",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert_eq!(names.last(), Some(&"provision.record"));
    assert!(
        steps
            .iter()
            .any(|(n, a)| n == "provision.record" && *a >= 2),
        "the last steps ran on the second worker: {steps:?}"
    );
    // Progress for a web app: the whole chain on 0–100, ending at 100.
    let job_progress: Option<f32> =
        sqlx::query_scalar("SELECT progress_percent FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(job_progress, Some(100.0));
    let seen = tokio::time::timeout(Duration::from_secs(30), events)
        .await
        .expect("events listener")
        .unwrap();
    // The feed is live only: a RabbitMQ restart by a concurrent chaos run ends the listener
    // early; then only what it saw before is checked.
    let complete = seen.iter().any(|(t, _)| t == "succeeded");
    let percents: Vec<f64> = seen
        .iter()
        .filter(|(t, _)| t == "progress")
        .filter_map(|(_, p)| *p)
        .collect();
    if complete {
        assert!(
            percents.iter().any(|p| *p < 30.0),
            "export part: {percents:?}"
        );
        assert!(
            percents.iter().any(|p| (30.0..100.0).contains(p)),
            "provision part: {percents:?}"
        );
        // Never backwards, across the resume too: the second worker replays the chain from the
        // top, and the skipped steps' progress stays below what the bar had reached.
        assert!(
            percents.windows(2).all(|w| w[1] >= w[0]),
            "progress goes back: {percents:?}"
        );
    } else {
        eprintln!("events listener ended early (RabbitMQ restarted?): {seen:?}");
    }

    // The result: URL and admin login, the password only by reference.
    let url = result["url"].as_str().unwrap().to_string();
    let sandbox = result["sandbox"].as_str().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{result}");
    assert_eq!(result["admin_user"], "understudy");
    assert!(result["admin_password"]
        .as_str()
        .unwrap()
        .contains("--reveal-password"));
    let shown = last_json(&env.cli(&["sandbox", "show", &sandbox, "--reveal-password", "--json"]));
    let admin_password = shown["admin_password"].as_str().unwrap();
    assert!(!result.to_string().contains(admin_password));

    // What the sandbox serves: posts, a book (custom post type), the menu, an image.
    let bundle = Path::new(result["bundle"].as_str().unwrap());
    let imported = &result["import"]["imported"];
    assert_eq!(
        imported["posts"],
        collection(bundle, "posts").len(),
        "{result}"
    );
    for (post_id, title) in plain_published(&collection(bundle, "posts"), 3) {
        let page = get(&format!("{url}/?p={post_id}")).await;
        assert_eq!(page.status, 200, "post {post_id}");
        assert!(
            page.text().contains(&title),
            "post {post_id} lacks {title:?}"
        );
        assert!(
            !page.text().contains(&wp.url),
            "source URL left in post {post_id}"
        );
    }
    let books = collection(bundle, "books");
    if let Some((book_id, title)) = plain_published(&books, 1).pop() {
        let page = get(&format!("{url}/?p={book_id}")).await;
        assert_eq!(page.status, 200, "book {book_id}");
        assert!(
            page.text().contains(&title),
            "book {book_id} lacks {title:?}"
        );
    }
    let home = get(&format!("{url}/")).await;
    assert_eq!(home.status, 200);
    let menu_items = collection(bundle, "menu-items");
    let child = menu_items
        .iter()
        .find(|i| i["parent"].as_u64().unwrap_or(0) != 0 && i["type"] == "post_type")
        .expect("a nested menu item in the seed");
    let child_title = child["title"]["raw"].as_str().unwrap();
    assert!(
        home.text().contains(child_title),
        "the primary menu lacks {child_title:?}"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let image = manifest["media"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["status"] == "downloaded" && f["mime"] == "image/png")
        .expect("a downloaded PNG");
    let path = image["path"].as_str().unwrap();
    let served = get(&format!("{url}/wp-content/{path}")).await;
    assert_eq!(served.status, 200, "{path}");
    assert_eq!(served.body, std::fs::read(bundle.join(path)).unwrap());

    // Two containers, one network, one volume — no duplicates from the resumed attempt.
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
    let out = env.cli(&["sandbox", "destroy", &sandbox, "--wait", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        engine_objects(&env).await.is_empty(),
        "destroy left objects"
    );
    remove_all(&env).await;
}

#[tokio::test]
async fn onboard_refuses_bad_input_and_fails_in_validate_when_the_site_is_unreachable() {
    let env = TestEnv::new("onboard-bad").await;
    let password_file = env.dir.join("app-password");
    std::fs::write(&password_file, "abcd efgh ijkl mnop qrst uvwx").unwrap();
    let pw = password_file.to_str().unwrap();
    let missing = env.dir.join("nope");

    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "onboard",
                "not a url",
                "--user",
                "a",
                "--app-password-file",
                pw,
            ],
            "not a URL",
        ),
        (
            &[
                "onboard",
                "http://127.0.0.1:9",
                "--user",
                "a",
                "--app-password-file",
                missing.to_str().unwrap(),
            ],
            "cannot read the Application Password file",
        ),
        (
            &[
                "onboard",
                "http://127.0.0.1:9",
                "--user",
                "a",
                "--app-password-file",
                pw,
                "--ttl",
                "1w",
            ],
            "--ttl",
        ),
    ];
    for (args, want) in cases {
        let out = env.cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }

    // Nothing listens on port 9: the job fails in export.validate, saying so.
    let _worker = worker(&env);
    env.wait_workers(1).await;
    let out = env.cli(&[
        "onboard",
        "http://127.0.0.1:9",
        "--user",
        "a",
        "--app-password-file",
        pw,
        "--wait",
        "--json",
    ]);
    let status = last_json(&out);
    assert_eq!(out.status.code(), Some(1), "{status}");
    let error = status["job"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(error.contains("unreachable"), "{status}");
    let failed: Vec<String> = status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] != "completed")
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect();
    assert!(
        failed.is_empty() || failed == ["export.validate"],
        "{failed:?}"
    );
    assert!(engine_objects(&env).await.is_empty());
}
