//! Hostile bundles and specs given to provision: a manifest of another format or version, of
//! the wrong types or not JSON at all, collection files named `../…` or absolute, files that
//! are symbolic links out of the bundle (the worker's own files copied into a sandbox), a
//! `javascript:` site URL, a missing media file; specs with relative paths and shell
//! metacharacters. Each ends at `validate` (or at intake) with a readable error, before any
//! container exists; the worker never crashes.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use understudy_tests::sandbox_fixture::{sandbox_env, write_bundle};
use understudy_tests::TestEnv;
use understudy_worker::contract::Priority;
use understudy_worker::state::JobState;

/// A copy of the fixture bundle under `dir/name` with its manifest changed by `edit`.
fn hostile_bundle(dir: &Path, name: &str, edit: impl FnOnce(&Path, &mut Value)) -> PathBuf {
    let root = write_bundle(&dir.join(name));
    let path = root.join("manifest.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&root, &mut manifest);
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    root
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_bundles_fail_at_validate_with_their_reason_and_create_nothing() {
    let env = TestEnv::new("hostile-bundle").await;
    let extra = sandbox_env(&env);
    let extra: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let worker = env.worker(&extra);
    env.wait_workers(1).await;
    let secret = env.dir.join("worker-secret.txt");
    std::fs::write(&secret, "the worker's own secret").unwrap();
    let dir = env.dir.clone();
    let link = |root: &Path, relative: &str| {
        let path = root.join(relative);
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(&secret, &path).unwrap();
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            hostile_bundle(&dir, "version", |_, m| m["format_version"] = json!(99)),
            "format version 99 (this Understudy reads 1)",
        ),
        (
            hostile_bundle(&dir, "format", |_, m| m["format"] = json!("wxr")),
            "format \"wxr\", expected \"understudy-export\"",
        ),
        (
            hostile_bundle(&dir, "types", |_, m| m["format_version"] = json!("one")),
            "manifest.json: invalid type",
        ),
        (
            hostile_bundle(&dir, "collections-type", |_, m| {
                m["collections"] = json!([1, 2])
            }),
            "manifest.json: invalid type",
        ),
        (
            hostile_bundle(&dir, "traversal", |_, m| {
                m["collections"]["posts"]["file"] = json!("../../../../etc/passwd")
            }),
            "unsafe path \"../../../../etc/passwd\"",
        ),
        (
            hostile_bundle(&dir, "absolute", |_, m| {
                m["collections"]["posts"]["file"] = json!("/etc/shadow")
            }),
            "unsafe path \"/etc/shadow\"",
        ),
        (
            hostile_bundle(&dir, "nul", |_, m| {
                m["collections"]["posts"]["file"] = json!("collections/posts.json\u{0}.png")
            }),
            "unsafe path",
        ),
        (
            hostile_bundle(&dir, "link-collection", |root, _| {
                link(root, "collections/posts.json")
            }),
            "collections/posts.json leads outside the bundle",
        ),
        (
            hostile_bundle(&dir, "link-media", |root, _| {
                link(root, "uploads/2024/05/pixel.png")
            }),
            "uploads/2024/05/pixel.png leads outside the bundle",
        ),
        (
            hostile_bundle(&dir, "link-dir", |root, _| {
                std::fs::remove_dir_all(root.join("uploads/2024/05")).unwrap();
                std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
                std::fs::write(dir.join("elsewhere/pixel.png"), "outside").unwrap();
                std::os::unix::fs::symlink(dir.join("elsewhere"), root.join("uploads/2024/05"))
                    .unwrap();
            }),
            "leads outside the bundle",
        ),
        (
            hostile_bundle(&dir, "scheme", |_, m| {
                m["site"]["url"] = json!("javascript:alert(document.cookie)")
            }),
            "is not an http(s) URL",
        ),
        (
            hostile_bundle(&dir, "file-scheme", |_, m| {
                m["site"]["url"] = json!("file:///etc/")
            }),
            "is not an http(s) URL",
        ),
        (
            hostile_bundle(&dir, "missing-media", |root, _| {
                std::fs::remove_file(root.join("uploads/2024/05/pixel.png")).unwrap()
            }),
            "media file uploads/2024/05/pixel.png is missing",
        ),
    ];
    let garbage = write_bundle(&dir.join("garbage"));
    std::fs::write(garbage.join("manifest.json"), b"\xFF\xFE\x00{not json").unwrap();
    let mut cases = cases;
    cases.push((garbage, "manifest.json: "));
    cases.push((dir.join("no-such-bundle"), "cannot read manifest.json"));

    let mut jobs = Vec::new();
    for (bundle, _) in &cases {
        let spec = json!({"bundle": bundle, "ttl_hours": 1});
        jobs.push(env.enqueue("provision", spec, Priority::Interactive).await);
    }
    for ((bundle, reason), id) in cases.iter().zip(&jobs) {
        let state = env.wait_terminal(*id, Duration::from_secs(60)).await;
        assert_eq!(state, JobState::Failed, "{}", bundle.display());
        let error: String = sqlx::query_scalar("SELECT error FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .unwrap();
        assert!(error.contains(reason), "{}: {error}", bundle.display());
        assert!(error.contains("bundle "), "names the bundle: {error}");
        assert!(!error.contains("the worker's own secret"), "{error}");
        assert_eq!(env.checkpoints(*id).await, 0, "failed at validate: {error}");
    }
    let sandboxes: i64 = sqlx::query_scalar("SELECT count(*) FROM sandboxes")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(sandboxes, 0, "nothing reserved for a refused bundle");
    assert!(
        !worker.log_text().contains("panicked"),
        "{}",
        worker.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_provision_specs_never_become_jobs() {
    let env = TestEnv::new("hostile-provspec").await;
    let worker = env.worker(&[]);
    env.wait_workers(1).await;
    let pwned = env.dir.join("pwned");
    let touch = format!("$(touch {})", pwned.display());
    let specs = vec![
        json!({"bundle": "../../etc"}),
        json!({"bundle": "relative/bundle"}),
        json!({"bundle": 42}),
        json!({"bundle": "/tmp/x", "admin_user": format!("admin{touch}")}),
        json!({"bundle": "/tmp/x", "admin_user": "admin'; DROP TABLE wp_users; --"}),
        json!({"bundle": "/tmp/x", "site": "shop\u{7}\n"}),
        json!({"bundle": "/tmp/x", "ttl_hours": -1}),
        json!({"bundle": "/tmp/x", "ttl_hours": 1_000_000}),
        json!({"bundle": "/tmp/x", "admin_email": "not-an-email"}),
        json!({"bundle": "/tmp/x", "image": "attacker/wordpress:latest"}),
    ];
    for spec in &specs {
        let body =
            serde_json::to_vec(&json!({"schema": 1, "kind": "provision", "spec": spec})).unwrap();
        env.publish_raw("interactive", body).await;
    }
    let good = env
        .enqueue("noop", json!({"steps": 1}), Priority::Interactive)
        .await;
    assert_eq!(
        env.wait_terminal(good, Duration::from_secs(60)).await,
        JobState::Succeeded
    );
    let reasons = env.wait_dead_letters(specs.len()).await;
    for reason in &reasons {
        assert!(reason.contains("provision:"), "{reason}");
    }
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 1, "hostile specs never become jobs");
    assert!(!pwned.exists());
    assert!(!worker.log_text().contains("panicked"));
}

/// What a legal but hostile bundle names things: shell substitutions, SQL, markup, quotes.
const SHELL: &str = "$(touch /tmp/understudy-pwned) `touch /tmp/understudy-pwned2`";
const SQL: &str = "'; DROP TABLE wp_posts; -- \" \\ ";
const HOSTILE_FILE: &str = "2024/05/$(touch x);'y\" z.png";

/// The fixture bundle with hostile titles, a hostile category, a hostile user display name and
/// a second image whose file name is a shell payload.
fn legal_but_hostile_bundle(dir: &Path) -> PathBuf {
    let root = write_bundle(dir);
    let edit = |name: &str, change: &dyn Fn(&mut Value)| {
        let path = root.join(format!("collections/{name}.json"));
        let mut value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        change(&mut value);
        std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    };
    let title = format!("Beta {SHELL} {SQL}<script>alert(1)</script>");
    edit("posts", &|v| {
        v[1]["title"]["raw"] = json!(title);
        v[1]["content"]["raw"] = json!(format!("<p>{SHELL} {SQL}</p>"));
    });
    edit("categories", &|v| {
        v[0]["name"] = json!(format!("Sub {SQL}"))
    });
    edit("users", &|v| v[1]["name"] = json!(format!("Eddie {SHELL}")));
    edit("media", &|v| {
        let mut second = v[0].clone();
        second["id"] = json!(51);
        second["slug"] = json!("hostile");
        second["source_url"] = json!(format!(
            "{}/wp-content/uploads/{HOSTILE_FILE}",
            understudy_tests::sandbox_fixture::SOURCE
        ));
        v.as_array_mut().unwrap().push(second);
    });
    let png = understudy_tests::sandbox_fixture::png();
    std::fs::write(root.join("uploads").join(HOSTILE_FILE), &png).unwrap();
    let path = root.join("manifest.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["collections"]["media"]["items"] = json!(2);
    manifest["media"]["files"]
        .as_array_mut()
        .unwrap()
        .push(json!({"status": "downloaded", "id": 51, "url": "x",
            "path": format!("uploads/{HOSTILE_FILE}"), "mime": "image/png", "bytes": png.len()}));
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    root
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_of_hostile_but_legal_names_is_imported_literally_and_nothing_executes() {
    use understudy_workflows::provision::config::ProvisionConfig;
    use understudy_workflows::provision::{engine, exec, http};
    let env = TestEnv::new("hostile-import").await;
    let extra = sandbox_env(&env);
    let extra: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let worker = env.worker(&extra);
    env.wait_workers(1).await;
    let bundle = legal_but_hostile_bundle(&env.dir.join("legal"));
    let out = env.cli(&[
        "provision",
        "--bundle",
        bundle.to_str().unwrap(),
        "--wait",
        "--json",
    ]);
    let status = understudy_tests::last_json(&out);
    let result = status["job"]["result"].clone();
    let cleanup = || async { understudy_tests::sandbox_fixture::remove_all(&env).await };
    if !out.status.success() {
        cleanup().await;
        panic!("provision failed: {status}\n{}", worker.log_text());
    }
    let url = result["url"].as_str().unwrap().to_string();
    let sandbox = result["sandbox"].as_str().unwrap().to_string();
    let container = format!("understudy-{sandbox}-wp");
    let docker = engine::connect(&ProvisionConfig::default()).await.unwrap();
    let php = |code: String| {
        let docker = docker.clone();
        let container = container.clone();
        async move {
            exec::run(
                &docker,
                &container,
                "www-data",
                &["php", "-r", &code],
                vec![],
            )
            .await
            .unwrap()
        }
    };
    let read = php(
        "require '/var/www/html/wp-load.php'; echo json_encode([get_post(11)->post_title, \
         get_post(11)->post_content, get_term_by('slug', 'fixture-sub', 'category')->name, \
         get_user_by('login', 'editor1')->display_name, get_attached_file(51)]);"
            .into(),
    )
    .await;
    let stored: Value = serde_json::from_str(read.stdout.trim()).unwrap_or_else(|e| {
        panic!("{e}: {} {}", read.stdout, read.stderr);
    });
    let markers = php(
        "echo json_encode([file_exists('/tmp/understudy-pwned'), file_exists('/tmp/understudy-pwned2')]);"
            .into(),
    )
    .await;
    let file = http::get(
        &format!("{url}/wp-content/uploads/2024/05/%24%28touch%20x%29%3B%27y%22%20z.png"),
        Duration::from_secs(20),
        1 << 20,
    )
    .await;
    cleanup().await;

    assert!(
        stored[0].as_str().unwrap().contains(SHELL)
            && stored[0].as_str().unwrap().contains("DROP TABLE wp_posts"),
        "title stored literally: {stored}"
    );
    assert!(stored[1].as_str().unwrap().contains(SHELL), "{stored}");
    assert!(
        stored[2].as_str().unwrap().contains("DROP TABLE wp_posts"),
        "{stored}"
    );
    assert!(stored[3].as_str().unwrap_or("").contains(SHELL), "{stored}");
    assert!(
        stored[4]
            .as_str()
            .unwrap_or("")
            .ends_with("$(touch x);'y\" z.png"),
        "{stored}"
    );
    assert_eq!(
        markers.stdout.trim(),
        "[false,false]",
        "a shell ran in the sandbox"
    );
    assert!(
        !Path::new("/tmp/understudy-pwned").exists()
            && !Path::new("/tmp/understudy-pwned2").exists()
    );
    let file = file.expect("the hostile file name is served");
    assert_eq!(file.status, 200);
    assert_eq!(file.body, understudy_tests::sandbox_fixture::png());
    assert!(!worker.log_text().contains("panicked"));
}
