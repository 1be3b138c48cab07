//! What a sandbox made by `understudy onboard` from the local WordPress keeps of the source
//! (issue 14, items 9–11), compared with the source itself: the permalink settings (a post's
//! pretty URL, a category archive and `/wp-json/` answer in the sandbox), every comment's author
//! IP and user agent, every user's nickname, the trash (a trashed post and a trashed child page,
//! put there for the test and deleted afterwards), and no side effects of the import (no
//! revisions, no enclosure or pingback queue, WP-Cron off).

use futures::FutureExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Duration;
use understudy_tests::sandbox_fixture::{remove_all, sandbox_env};
use understudy_tests::{last_json, TestEnv};
use understudy_workflows::provision::config::ProvisionConfig;
use understudy_workflows::provision::{engine, exec};

use crate::export_support::{Wp, SITE};

/// A REST call to the source as admin (POST and DELETE; `Wp::get` reads).
async fn send(wp: &Wp, method: reqwest::Method, route: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .request(method.clone(), format!("{}/wp-json{route}", wp.url))
        .basic_auth("admin", Some(wp.password("admin")))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the local WordPress answers");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(
        status.is_success(),
        "{method} {route}: HTTP {status}: {text}"
    );
    serde_json::from_str(&text).expect("JSON")
}

/// Every item of a REST collection of the source.
async fn all(wp: &Wp, route: &str, query: &[(&str, &str)]) -> Vec<Value> {
    let mut items = Vec::new();
    for page in 1.. {
        let page = page.to_string();
        let mut q = query.to_vec();
        q.extend([("per_page", "100"), ("page", page.as_str())]);
        let (body, _) = wp.get(route, &q).await;
        let got = body.as_array().expect("a collection").clone();
        let done = got.len() < 100;
        items.extend(got);
        if done {
            break;
        }
    }
    items
}

/// The source's trash for the test: a private post with a comment and a draft child page of a
/// published page, trashed through REST the way the editor does it (the comment is then set
/// aside as `post-trashed`).
struct Trashed {
    post: u64,
    comment: u64,
    page: u64,
    parent: u64,
}

impl Trashed {
    async fn create(wp: &Wp) -> Trashed {
        use reqwest::Method;
        let (pages, _) = wp
            .get(
                "/wp/v2/pages",
                &[("status", "publish"), ("per_page", "1"), ("parent", "0")],
            )
            .await;
        let parent = pages[0]["id"].as_u64().expect("a published top-level page");
        let post = send(
            wp,
            Method::POST,
            "/wp/v2/posts",
            json!({"title": "Understudy fidelity trashed post", "status": "private",
                   "comment_status": "open", "slug": "understudy-fidelity-trashed",
                   "content": "<p>In the trash</p>"}),
        )
        .await["id"]
            .as_u64()
            .unwrap();
        let comment = send(
            wp,
            Method::POST,
            "/wp/v2/comments",
            json!({"post": post, "content": "A comment on a post that goes to the trash",
                   "author_name": "Trash Visitor", "author_email": "trash@example.net",
                   "author_ip": "198.51.100.7", "author_user_agent": "Understudy fidelity/1.0"}),
        )
        .await["id"]
            .as_u64()
            .unwrap();
        let page = send(
            wp,
            Method::POST,
            "/wp/v2/pages",
            json!({"title": "Understudy fidelity trashed child page", "status": "draft",
                   "parent": parent, "content": "<p>Child in the trash</p>"}),
        )
        .await["id"]
            .as_u64()
            .unwrap();
        for route in [
            format!("/wp/v2/posts/{post}"),
            format!("/wp/v2/pages/{page}"),
        ] {
            let trashed = send(wp, Method::DELETE, &route, json!({})).await;
            assert_eq!(trashed["status"], "trash", "{route}: {trashed}");
        }
        Trashed {
            post,
            comment,
            page,
            parent,
        }
    }

    /// Deletes both for good: the site is as it was (but for its id counter).
    async fn delete(&self, wp: &Wp) {
        for route in [
            format!("/wp/v2/posts/{}", self.post),
            format!("/wp/v2/pages/{}", self.page),
        ] {
            send(wp, reqwest::Method::DELETE, &route, json!({"force": true})).await;
        }
    }
}

/// What the sandbox's database holds, read by PHP inside its WordPress container.
async fn sandbox_facts(container: &str) -> Value {
    let script = r#"require '/var/www/html/wp-load.php'; global $wpdb;
$mark = '_understudy_import';
echo json_encode([
  'permalink_structure' => get_option('permalink_structure'),
  'category_base' => get_option('category_base'),
  'tag_base' => get_option('tag_base'),
  'cron_disabled' => defined('DISABLE_WP_CRON') && DISABLE_WP_CRON,
  'revisions' => (int) $wpdb->get_var("SELECT COUNT(*) FROM {$wpdb->posts} WHERE post_type = 'revision'"),
  'queued' => (int) $wpdb->get_var("SELECT COUNT(*) FROM {$wpdb->postmeta} WHERE meta_key IN ('_encloseme', '_pingme')"),
  'pings_scheduled' => (bool) wp_next_scheduled('do_pings'),
  'comments' => $wpdb->get_results($wpdb->prepare("SELECT m.meta_value AS source, c.comment_author_IP AS ip, c.comment_agent AS agent, c.comment_approved AS approved FROM {$wpdb->comments} c JOIN {$wpdb->commentmeta} m ON m.comment_id = c.comment_ID AND m.meta_key = %s", $mark)),
  'nicknames' => $wpdb->get_results($wpdb->prepare("SELECT m.meta_value AS source, n.meta_value AS nickname FROM {$wpdb->usermeta} m JOIN {$wpdb->usermeta} n ON n.user_id = m.user_id AND n.meta_key = 'nickname' WHERE m.meta_key = %s", $mark)),
  'trash' => $wpdb->get_results($wpdb->prepare("SELECT m.meta_value AS source, p.post_type AS type, p.post_parent AS parent, p.post_name AS slug, d.meta_value AS desired FROM {$wpdb->posts} p JOIN {$wpdb->postmeta} m ON m.post_id = p.ID AND m.meta_key = %s LEFT JOIN {$wpdb->postmeta} d ON d.post_id = p.ID AND d.meta_key = '_wp_desired_post_slug' WHERE p.post_status = 'trash' ORDER BY p.ID", $mark)),
]);"#;
    let docker = engine::connect(&ProvisionConfig::default())
        .await
        .expect("Docker engine");
    let out = exec::run(
        &docker,
        container,
        "www-data",
        &["php", "-r", script],
        vec![],
    )
    .await
    .expect("php in the sandbox");
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {} {}", out.stdout, out.stderr))
}

/// `source id → value` from rows of `sandbox_facts`.
fn by_source(rows: &Value, field: &str) -> BTreeMap<u64, String> {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let id = r["source"].as_str().unwrap().parse().unwrap();
            (id, r[field].as_str().unwrap_or("").to_string())
        })
        .collect()
}

/// GET without following redirects: the status and the body.
async fn get(url: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn collection(bundle: &Path, name: &str) -> Vec<Value> {
    let text = std::fs::read(bundle.join(format!("collections/{name}.json")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_slice(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_onboarded_sandbox_keeps_permalinks_comment_metadata_nicknames_and_the_trash() {
    let _site = SITE.write().await;
    let wp = Wp::load();
    let env = TestEnv::new("import-fidelity").await;
    let trashed = Trashed::create(&wp).await;
    let outcome = AssertUnwindSafe(onboard_and_compare(&env, &wp, &trashed))
        .catch_unwind()
        .await;
    trashed.delete(&wp).await;
    remove_all(&env).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn onboard_and_compare(env: &TestEnv, wp: &Wp, trashed: &Trashed) {
    let owned = sandbox_env(env);
    let extra: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let worker = env.worker(&extra);
    env.wait_workers(1).await;
    let password_file = env.dir.join("app-password");
    std::fs::write(&password_file, wp.password("admin")).unwrap();
    let out = env.cli(&[
        "onboard",
        &wp.url,
        "--user",
        "admin",
        "--app-password-file",
        password_file.to_str().unwrap(),
        "--ttl",
        "1h",
        "--wait",
        "--json",
    ]);
    let status = last_json(&out);
    assert!(
        out.status.success(),
        "onboard failed: {status}\n{}",
        worker.log_text()
    );
    let result = &status["job"]["result"];
    let url = result["url"].as_str().unwrap().trim_end_matches('/');
    let bundle = Path::new(result["bundle"].as_str().unwrap());
    let container = result["containers"]["wordpress"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("no WordPress container in {result}"));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let sandbox = sandbox_facts(container).await;

    // 9. Permalinks: derived by the export, set by the import, served by the sandbox.
    let source_structure =
        wp.sql("SELECT option_value FROM wp_options WHERE option_name = 'permalink_structure'");
    assert!(
        !source_structure.is_empty(),
        "the seeded site uses pretty permalinks"
    );
    assert_eq!(
        manifest["permalinks"]["structure"], source_structure,
        "{}",
        manifest["permalinks"]
    );
    assert_eq!(sandbox["permalink_structure"], source_structure);
    for option in ["category_base", "tag_base"] {
        let source = wp.sql(&format!(
            "SELECT option_value FROM wp_options WHERE option_name = '{option}'"
        ));
        assert_eq!(sandbox[option], source, "{option}");
    }
    let post = collection(bundle, "posts")
        .into_iter()
        .find(|p| {
            p["status"] == "publish"
                && p["password"].as_str().unwrap_or("").is_empty()
                && p["title"]["raw"].as_str().is_some_and(|t| {
                    !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
                })
        })
        .expect("a published post with a plain title");
    let link = post["link"].as_str().unwrap();
    assert!(!link.contains("?p="), "a pretty link: {link}");
    let title = post["title"]["raw"].as_str().unwrap();
    let (source_status, _) = get(link).await;
    assert_eq!(source_status, 200, "{link} on the source");
    let pretty = link.replacen(wp.url.trim_end_matches('/'), url, 1);
    let (status, html) = get(&pretty).await;
    assert_eq!(status, 200, "{pretty}");
    assert!(html.contains(title), "{pretty} lacks {title:?}");
    let category = collection(bundle, "categories")
        .into_iter()
        .find(|c| c["count"].as_u64().unwrap_or(0) > 0 && c["parent"].as_u64().unwrap_or(0) > 0)
        .expect("a nested category in use");
    let archive = category["link"]
        .as_str()
        .unwrap()
        .replacen(wp.url.trim_end_matches('/'), url, 1);
    assert_eq!(get(&archive).await.0, 200, "{archive}");
    let (status, index) = get(&format!("{url}/wp-json/")).await;
    assert_eq!(status, 200, "{url}/wp-json/: {index}");
    let index: Value = serde_json::from_str(&index).expect("the REST index is JSON");
    assert!(
        index["namespaces"]
            .as_array()
            .is_some_and(|n| n.iter().any(|n| n == "wp/v2")),
        "{index}"
    );
    let id = post["id"].as_u64().unwrap();
    let (status, one) = get(&format!("{url}/wp-json/wp/v2/posts/{id}")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(serde_json::from_str::<Value>(&one).unwrap()["link"], pretty);

    // 10. Comment author IP and user agent, user nicknames: equal for every one.
    let mut source_comments = all(
        wp,
        "/wp/v2/comments",
        &[("status", "all"), ("context", "edit")],
    )
    .await;
    let set_aside = all(
        wp,
        "/wp/v2/comments",
        &[("status", "post-trashed"), ("context", "edit")],
    )
    .await;
    assert!(
        set_aside.iter().any(|c| c["id"] == trashed.comment),
        "the trashed post's comment is post-trashed: {set_aside:?}"
    );
    source_comments.extend(set_aside);
    let ips = by_source(&sandbox["comments"], "ip");
    let agents = by_source(&sandbox["comments"], "agent");
    assert_eq!(ips.len(), source_comments.len(), "every comment imported");
    let mut with_ip = 0;
    for c in &source_comments {
        let id = c["id"].as_u64().unwrap();
        assert_eq!(
            Some(&c["author_ip"]),
            ips.get(&id).map(|v| json!(v)).as_ref(),
            "comment {id}'s IP"
        );
        assert_eq!(
            Some(&c["author_user_agent"]),
            agents.get(&id).map(|v| json!(v)).as_ref(),
            "comment {id}'s user agent"
        );
        with_ip += usize::from(!c["author_ip"].as_str().unwrap_or("").is_empty());
    }
    assert!(with_ip > 0, "the seeded comments carry IPs");
    let approved = by_source(&sandbox["comments"], "approved");
    assert_eq!(
        approved.get(&trashed.comment).map(String::as_str),
        Some("post-trashed"),
        "the trashed post's comment stays set aside"
    );
    let users = all(wp, "/wp/v2/users", &[("context", "edit")]).await;
    let nicknames = by_source(&sandbox["nicknames"], "nickname");
    assert_eq!(nicknames.len(), users.len(), "every user imported");
    let mut differ = 0;
    for u in &users {
        let id = u["id"].as_u64().unwrap();
        assert_eq!(
            nicknames.get(&id).map(String::as_str),
            u["nickname"].as_str(),
            "user {id}'s nickname"
        );
        differ += usize::from(u["nickname"] != u["username"]);
    }
    assert!(
        differ > 0,
        "the seeded users have nicknames that are not their logins"
    );

    // 11. The trash: exported as its own collections, imported into the sandbox's trash with the
    // child page under its parent and the slug WordPress restores on untrash.
    let source_trash: BTreeSet<u64> = [
        all(
            wp,
            "/wp/v2/posts",
            &[("status", "trash"), ("context", "edit")],
        )
        .await,
        all(
            wp,
            "/wp/v2/pages",
            &[("status", "trash"), ("context", "edit")],
        )
        .await,
    ]
    .concat()
    .iter()
    .filter_map(|p| p["id"].as_u64())
    .collect();
    assert!(source_trash.contains(&trashed.post) && source_trash.contains(&trashed.page));
    assert_eq!(manifest["collections"]["posts-trash"]["items"], json!(1));
    assert_eq!(manifest["collections"]["pages-trash"]["items"], json!(1));
    let rows = sandbox["trash"].as_array().unwrap();
    let sandbox_trash: BTreeSet<u64> = by_source(&sandbox["trash"], "type").into_keys().collect();
    assert_eq!(sandbox_trash, source_trash, "{rows:?}");
    let row = |id: u64| {
        rows.iter()
            .find(|r| r["source"].as_str() == Some(id.to_string().as_str()))
            .unwrap_or_else(|| panic!("{id} not in the sandbox's trash: {rows:?}"))
    };
    let page = row(trashed.page);
    assert_eq!(page["type"], "page");
    assert_eq!(page["parent"], trashed.parent.to_string(), "{page}");
    let post = row(trashed.post);
    assert_eq!(
        post["slug"], "understudy-fidelity-trashed__trashed",
        "{post}"
    );
    assert_eq!(post["desired"], "understudy-fidelity-trashed", "{post}");
    assert_eq!(
        result["import"]["imported"]["trashed"],
        json!(2),
        "{result}"
    );

    // No side effects of the import itself, and nothing scheduled to act on the world.
    assert_eq!(sandbox["revisions"], 0, "the import made revisions");
    assert_eq!(
        sandbox["queued"], 0,
        "the import queued enclosures or pingbacks"
    );
    assert_eq!(sandbox["pings_scheduled"], false);
    assert_eq!(
        sandbox["cron_disabled"], true,
        "WP-Cron runs in the sandbox"
    );

    let sandbox_id = result["sandbox"].as_str().unwrap();
    let out = env.cli(&["sandbox", "destroy", sandbox_id, "--wait", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
