//! Exports of the real local WordPress: the bundle matches what the site has (counts from
//! `X-WP-Total`, a draft's raw content, referenced media byte-identical to the uploads), an
//! Editor's export skips admin-only routes with notes, oversized and skipped media are recorded.

use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use understudy_tests::{stdout_json, TestEnv};
use understudy_worker::contract::Priority;
use understudy_worker::state::JobState;
use uuid::Uuid;

use crate::export_support::{collection, manifest, retries, spec, Wp, SITE};

/// Query parameters of a REST request.
type Query<'a> = &'a [(&'a str, &'a str)];

const EXPORT_TIMEOUT: Duration = Duration::from_secs(240);

/// Runs an export to the end and returns the job id (panics with the error otherwise).
async fn export_ok(env: &TestEnv, spec: Value) -> Uuid {
    let id = env.enqueue("export", spec, Priority::Interactive).await;
    let state = env.wait_terminal(id, EXPORT_TIMEOUT).await;
    assert_eq!(
        state,
        JobState::Succeeded,
        "export failed: {}",
        crate::export_support::job_error(env, id).await
    );
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_export_through_the_cli_matches_the_site() {
    let _site = SITE.read().await;
    let wp = Wp::load();
    let env = TestEnv::new("export-full").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;
    let out = env.dir.join("bundle");
    let password_file = env.dir.join("app-password");
    std::fs::write(&password_file, wp.password("admin")).unwrap();
    let output = env.cli(&[
        "export",
        &wp.url,
        "--user",
        "admin",
        "--app-password-file",
        password_file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--wait",
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "export --wait failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !stdout.contains(&wp.password("admin")),
        "password on stdout"
    );
    let first: Value = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .next()
        .expect("a JSON object on stdout")
        .expect("JSON");
    let id: Uuid = first["job_id"].as_str().unwrap().parse().unwrap();
    let spec_text: String = sqlx::query_scalar("SELECT spec::text FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert!(
        !spec_text.contains(&wp.password("admin")),
        "password in clear in the job spec"
    );
    assert!(spec_text.contains("app_password_sealed"));
    let status = stdout_json(&env.cli(&["status", &id.to_string(), "--json"]));
    assert_eq!(status["job"]["progress_percent"], json!(100.0));

    let m = manifest(&out);
    assert!(
        !env.dir.join("bundle.partial").exists(),
        "the partial directory is renamed"
    );
    assert_eq!(m["format_version"], json!(1));
    assert_eq!(
        m["site"]["wordpress_version"]
            .as_str()
            .map(|v| v.starts_with("6.")),
        Some(true)
    );
    // Counts match what the site announces, fetched directly.
    let checks: &[(&str, &str, Query)] = &[
        (
            "posts",
            "/wp/v2/posts",
            &[("status", "any"), ("context", "edit")],
        ),
        (
            "pages",
            "/wp/v2/pages",
            &[("status", "any"), ("context", "edit")],
        ),
        (
            "books",
            "/wp/v2/books",
            &[("status", "any"), ("context", "edit")],
        ),
        ("media", "/wp/v2/media", &[]),
        (
            "comments",
            "/wp/v2/comments",
            &[("status", "all"), ("context", "edit")],
        ),
        (
            "comments-spam",
            "/wp/v2/comments",
            &[("status", "spam"), ("context", "edit")],
        ),
        (
            "comments-trash",
            "/wp/v2/comments",
            &[("status", "trash"), ("context", "edit")],
        ),
        ("categories", "/wp/v2/categories", &[]),
        ("tags", "/wp/v2/tags", &[]),
        ("genres", "/wp/v2/genres", &[]),
        ("users", "/wp/v2/users", &[("context", "edit")]),
        ("menus", "/wp/v2/menus", &[]),
        ("menu-items", "/wp/v2/menu-items", &[]),
        (
            "blocks",
            "/wp/v2/blocks",
            &[("status", "any"), ("context", "edit")],
        ),
        (
            "navigation",
            "/wp/v2/navigation",
            &[("status", "any"), ("context", "edit")],
        ),
    ];
    for (name, route, query) in checks {
        let site_total = wp.total(route, query).await;
        let entry = &m["collections"][name];
        assert_eq!(entry["items"], json!(site_total), "{name}: {entry}");
        assert_eq!(
            collection(&out, name).len() as u64,
            site_total,
            "{name} file"
        );
    }
    for name in [
        "settings",
        "types",
        "taxonomies",
        "plugins",
        "themes",
        "menu-locations",
    ] {
        assert!(
            m["collections"][name].is_object(),
            "{name} missing: {}",
            m["collections"]
        );
    }
    // A draft's raw content, exactly as the editor stores it.
    let (drafts, _) = wp
        .get(
            "/wp/v2/posts",
            &[("status", "draft"), ("context", "edit"), ("per_page", "1")],
        )
        .await;
    let draft = &drafts[0];
    let posts = collection(&out, "posts");
    let exported = posts
        .iter()
        .find(|p| p["id"] == draft["id"])
        .expect("the draft is exported");
    assert_eq!(exported["status"], json!("draft"));
    assert_eq!(exported["content"]["raw"], draft["content"]["raw"]);
    assert!(!exported["content"]["raw"].as_str().unwrap().is_empty());
    // No secrets in users.
    let users = std::fs::read_to_string(out.join("collections/users.json")).unwrap();
    assert!(!users.contains("\"password\""));

    // Media: every referenced attachment is in the bundle, byte-identical to the uploads.
    let files = m["media"]["files"].as_array().unwrap();
    let mut referenced = BTreeSet::new();
    for post in posts.iter().chain(collection(&out, "pages").iter()) {
        if let Some(id) = post["featured_media"].as_u64().filter(|id| *id > 0) {
            referenced.insert(id);
        }
        let raw = post["content"]["raw"].as_str().unwrap_or("");
        for part in raw.split("wp-image-").skip(1) {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(id) = digits.parse::<u64>() {
                referenced.insert(id);
            }
        }
    }
    assert!(
        referenced.len() > 20,
        "the seed references media: {referenced:?}"
    );
    let by_id: HashMap<u64, Vec<&Value>> =
        files
            .iter()
            .filter(|f| f["id"].is_u64())
            .fold(HashMap::new(), |mut acc, f| {
                acc.entry(f["id"].as_u64().unwrap()).or_default().push(f);
                acc
            });
    for id in &referenced {
        let records = by_id
            .get(id)
            .unwrap_or_else(|| panic!("referenced media {id} not in the manifest"));
        assert!(
            records.iter().any(|r| r["status"] == "downloaded"),
            "media {id}: {records:?}"
        );
    }
    let mut paths = BTreeSet::new();
    for f in files.iter().filter(|f| f["status"] == "downloaded") {
        let path = f["path"].as_str().unwrap();
        assert!(paths.insert(path.to_string()), "{path} twice");
        let relative = path.strip_prefix("uploads/").expect("under uploads/");
        let original =
            std::fs::read(wp.uploads.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
        let copy = std::fs::read(out.join(path)).unwrap();
        assert!(original == copy, "{path} differs from the site's file");
        assert_eq!(f["bytes"], json!(copy.len()));
    }
    assert!(paths.len() >= referenced.len());
    assert_eq!(retries(&env, id).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_editor_export_skips_admin_only_routes_with_notes() {
    let _site = SITE.read().await;
    let wp = Wp::load();
    let env = TestEnv::new("export-editor").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;
    let out = env.dir.join("bundle");
    let mut s = spec(&env, &wp.url, "editor", &wp.password("editor"), &out);
    s["media"] = json!("none");
    export_ok(&env, s).await;
    let m = manifest(&out);
    assert_eq!(m["site"]["administrator"], json!(false));
    assert!(m["site"]["notes"][0]
        .as_str()
        .unwrap()
        .contains("not an administrator"));
    let skipped: Vec<&str> = m["skipped_collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for name in ["settings", "plugins", "users"] {
        assert!(skipped.contains(&name), "{name} not skipped: {skipped:?}");
    }
    let posts = wp
        .total("/wp/v2/posts", &[("status", "any"), ("context", "edit")])
        .await;
    assert_eq!(m["collections"]["posts"]["items"], json!(posts));
    assert_eq!(m["media"]["files"], json!([]));
    assert!(!out.join("uploads").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_and_skipped_media_are_recorded_in_the_manifest() {
    let _site = SITE.read().await;
    let wp = Wp::load();
    let env = TestEnv::new("export-media-limits").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;
    let out = env.dir.join("bundle");
    let limit = 20_000u64;
    let mut s = spec(&env, &wp.url, "admin", &wp.password("admin"), &out);
    s["media"] = json!("all");
    s["skip_mime"] = json!(["application/pdf"]);
    s["max_media_bytes"] = json!(limit);
    s["media_concurrency"] = json!(3);
    export_ok(&env, s).await;
    let m = manifest(&out);
    let files = m["media"]["files"].as_array().unwrap();
    let of = |status: &str| {
        files
            .iter()
            .filter(|f| f["status"] == status)
            .collect::<Vec<_>>()
    };
    let (skipped, oversized, downloaded) = (of("skipped_mime"), of("oversized"), of("downloaded"));
    assert!(skipped.len() >= 2, "the seed has PDFs: {skipped:?}");
    assert!(skipped
        .iter()
        .all(|f| f["mime"] == "application/pdf" && f["url"].as_str().unwrap().starts_with("http")));
    assert!(
        !oversized.is_empty() && !downloaded.is_empty(),
        "{}",
        m["media"]["counts"]
    );
    for f in &oversized {
        assert!(f["reason"].as_str().unwrap().contains("limit"), "{f}");
        assert!(f["url"].as_str().unwrap().contains("/wp-content/uploads/"));
    }
    for f in &downloaded {
        assert!(f["bytes"].as_u64().unwrap() <= limit);
        assert!(out.join(f["path"].as_str().unwrap()).exists());
    }
    let total_media = wp.total("/wp/v2/media", &[]).await;
    // Every attachment has a record (content may add resized copies of the same ids).
    let ids: BTreeSet<u64> = files.iter().filter_map(|f| f["id"].as_u64()).collect();
    assert_eq!(ids.len() as u64, total_media);
    // Nothing over the limit and no temporary file made it into the bundle.
    for entry in walk(&out.join("uploads")) {
        let meta = std::fs::metadata(&entry).unwrap();
        assert!(
            meta.len() <= limit,
            "{} is {} bytes",
            entry.display(),
            meta.len()
        );
        assert!(!entry
            .file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with(".part"));
    }
}

/// Every file under `dir`.
pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
