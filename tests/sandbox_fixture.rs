//! Sandbox test helpers: a small export bundle in the export workflow's format (version 1),
//! workers configured for a test's own sandbox owner, and what the Docker engine holds for it.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use understudy_workflows::provision::config::ProvisionConfig;
use understudy_workflows::provision::engine::{self, Objects};
use understudy_workflows::provision::names::LABEL_OWNER;

use crate::TestEnv;

/// The source site of the fixture bundle.
pub const SOURCE: &str = "http://shop.example.test";
/// Titles the sandbox must serve.
pub const POST_TITLES: [&str; 2] = [
    "Understudy fixture post alpha",
    "Understudy fixture post beta",
];
/// The imported image, below uploads/.
pub const IMAGE: &str = "2024/05/pixel.png";
/// The block theme the fixture's templates belong to (a source site's theme; the sandbox image
/// has only a classic theme, so the templates are data kept for that theme).
pub const THEME: &str = "twentytwentythree";
/// Slug of the fixture's block template (a custom one stored in the source site's database).
pub const TEMPLATE: &str = "fixture-landing";
/// Slug of the fixture's template part (a header).
pub const TEMPLATE_PART: &str = "fixture-header";
/// Source id (kept) of the fixture's block navigation menu.
pub const NAVIGATION_ID: u64 = 40;
/// Source id (kept) of the fixture's reusable block.
pub const BLOCK_ID: u64 = 60;

/// A 1×1 PNG.
pub fn png() -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
        .unwrap()
}

fn post(id: u64, title: &str, slug: &str, body: &str) -> Value {
    json!({"id": id, "title": {"raw": title, "rendered": title}, "content": {"raw": body},
        "excerpt": {"raw": ""}, "status": "publish", "slug": slug, "date": "2024-05-01T10:00:00",
        "date_gmt": "2024-05-01T10:00:00", "author": 2, "categories": [3, 5], "tags": [4],
        "featured_media": if id == 10 { 50 } else { 0 }, "comment_status": "open",
        "ping_status": "closed", "sticky": false, "format": "standard",
        "guid": {"raw": format!("{SOURCE}/?p={id}")}})
}

/// A block template or template part as `/wp/v2/templates` and `/wp/v2/template-parts` give
/// one stored in the database (`wp_id`), of the fixture's theme [`THEME`].
fn template(kind: &str, wp_id: u64, slug: &str, title: &str, content: &str) -> Value {
    let mut t = json!({"id": format!("{THEME}//{slug}"), "theme": THEME, "slug": slug,
        "content": {"raw": content, "block_version": 1}, "source": "custom", "origin": null,
        "type": kind, "description": format!("{title}, made in the site editor"),
        "title": {"raw": title, "rendered": title}, "status": "publish", "wp_id": wp_id,
        "has_theme_file": false, "is_custom": true, "author": 1});
    if kind == "wp_template_part" {
        t["area"] = json!("header");
    }
    t
}

/// Writes the fixture bundle under `dir` and returns its path.
pub fn write_bundle(dir: &Path) -> PathBuf {
    let root = dir.join("bundle");
    std::fs::create_dir_all(root.join("collections")).unwrap();
    std::fs::create_dir_all(root.join("uploads/2024/05")).unwrap();
    let image = png();
    std::fs::write(root.join("uploads").join(IMAGE), &image).unwrap();
    let alpha_body = format!(
        "<!-- wp:paragraph --><p>Alpha links to <a href=\"{SOURCE}/about/\">about</a>.</p><!-- /wp:paragraph -->\
         <!-- wp:image {{\"id\":50}} --><figure class=\"wp-block-image\"><img src=\"{SOURCE}/wp-content/uploads/{IMAGE}\" class=\"wp-image-50\"/></figure><!-- /wp:image -->"
    );
    let collections: Vec<(&str, Value)> = vec![
        (
            "posts",
            json!([
                post(10, POST_TITLES[0], "alpha", &alpha_body),
                post(11, POST_TITLES[1], "beta", "<p>Beta body</p>")
            ]),
        ),
        (
            "pages",
            json!([
            {"id": 20, "title": {"raw": "Fixture About Page"}, "content": {"raw": "<p>About us</p>"},
             "status": "publish", "slug": "about", "parent": 0, "author": 1, "menu_order": 0},
            {"id": 21, "title": {"raw": "Fixture Team Page"}, "content": {"raw": "<p>Team</p>"},
             "status": "publish", "slug": "team", "parent": 20, "author": 1, "menu_order": 1}]),
        ),
        (
            "categories",
            json!([
            {"id": 5, "name": "Fixture Sub", "slug": "fixture-sub", "parent": 3, "description": ""},
            {"id": 3, "name": "Fixture News", "slug": "fixture-news", "parent": 0, "description": "News"}]),
        ),
        (
            "tags",
            json!([{"id": 4, "name": "fixture-tag", "slug": "fixture-tag", "description": ""}]),
        ),
        (
            "media",
            json!([{"id": 50, "title": {"raw": "Pixel"}, "mime_type": "image/png", "slug": "pixel",
            "date": "2024-05-01T09:00:00", "date_gmt": "2024-05-01T09:00:00", "author": 1, "post": 10,
            "alt_text": "a pixel", "caption": {"raw": ""}, "description": {"raw": ""},
            "source_url": format!("{SOURCE}/wp-content/uploads/{IMAGE}")}]),
        ),
        (
            "users",
            json!([
            {"id": 1, "username": "admin", "name": "Admin", "email": "admin@shop.example.test", "slug": "admin", "roles": ["administrator"]},
            {"id": 2, "username": "editor1", "name": "Eddie Editor", "email": "eddie@shop.example.test", "slug": "editor1", "roles": ["editor"]}]),
        ),
        (
            "comments",
            json!([{"id": 7, "post": 10, "parent": 0, "author": 0, "author_name": "Visitor",
            "author_email": "v@example.test", "author_url": "", "content": {"raw": "Nice post"},
            "date": "2024-05-02T10:00:00", "date_gmt": "2024-05-02T10:00:00", "status": "approved"}]),
        ),
        (
            "settings",
            json!({"title": "Fixture Shop", "description": "Tagline from the bundle",
            "url": SOURCE, "email": "admin@shop.example.test", "posts_per_page": 10,
            "show_on_front": "posts", "default_category": 3, "start_of_week": 1}),
        ),
        ("menus", json!([])),
        (
            "blocks",
            json!([{"id": BLOCK_ID, "title": {"raw": "Fixture Call To Action"}, "slug": "fixture-cta",
            "status": "publish", "date": "2024-05-01T08:00:00", "date_gmt": "2024-05-01T08:00:00",
            "content": {"raw": format!("<!-- wp:paragraph --><p>Call <a href=\"{SOURCE}/team/\">the team</a></p><!-- /wp:paragraph -->")}}]),
        ),
        (
            "navigation",
            json!([{"id": NAVIGATION_ID, "title": {"raw": "Fixture Navigation", "rendered": "Fixture Navigation"},
            "slug": "fixture-navigation", "status": "publish", "type": "wp_navigation",
            "date": "2024-05-01T08:00:00", "date_gmt": "2024-05-01T08:00:00",
            "content": {"raw": format!("<!-- wp:navigation-link {{\"label\":\"About\",\"type\":\"page\",\"id\":20,\"url\":\"{SOURCE}/about/\",\"kind\":\"post-type\"}} /-->"),
                        "block_version": 1}}]),
        ),
        (
            "templates",
            json!([template("wp_template", 30, TEMPLATE, "Fixture Landing", &format!(
                "<!-- wp:template-part {{\"slug\":\"{TEMPLATE_PART}\",\"theme\":\"{THEME}\",\"tagName\":\"header\"}} /-->\
                 <!-- wp:block {{\"ref\":{BLOCK_ID}}} /-->"))]),
        ),
        (
            "template-parts",
            json!([template("wp_template_part", 31, TEMPLATE_PART, "Fixture Header", &format!(
                "<!-- wp:site-title /--><!-- wp:navigation {{\"ref\":{NAVIGATION_ID}}} /-->"))]),
        ),
    ];
    let mut entries = serde_json::Map::new();
    for (name, value) in collections {
        let file = format!("collections/{name}.json");
        let bytes = serde_json::to_vec(&value).unwrap();
        std::fs::write(root.join(&file), &bytes).unwrap();
        entries.insert(
            name.into(),
            json!({"file": file, "route": format!("/wp/v2/{name}"),
            "params": {"context": "edit"}, "items": value.as_array().map_or(1, |a| a.len()),
            "site_total": null, "pages": 1, "bytes": bytes.len(), "sha256": ""}),
        );
    }
    let manifest = json!({
        "format": "understudy-export", "format_version": 1, "understudy_version": "0.1.0",
        "job_id": "fixture", "created_at": "2026-11-21T00:00:00+00:00",
        "site": {"url": format!("{SOURCE}/"), "api_root": format!("{SOURCE}/wp-json/"),
                 "name": "Fixture Shop", "home": format!("{SOURCE}/"), "wordpress_version": "6.1.1",
                 "namespaces": ["wp/v2"], "user_id": 1, "user_roles": ["administrator"],
                 "administrator": true, "notes": []},
        "collections": entries, "skipped_collections": [],
        "media": {"mode": "referenced", "max_file_bytes": 104857600, "skip_mime": [],
                  "counts": {"downloaded": 1}, "bytes": image.len(),
                  "files": [{"status": "downloaded", "id": 50,
                             "url": format!("{SOURCE}/wp-content/uploads/{IMAGE}"),
                             "path": format!("uploads/{IMAGE}"), "mime": "image/png",
                             "bytes": image.len(), "sha256": ""}]},
        "not_exported": []
    });
    std::fs::write(
        root.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    root
}

/// The test's sandbox owner: its RabbitMQ namespace (unique per test).
pub fn owner(env: &TestEnv) -> String {
    env.namespace.clone()
}

/// Settings for a worker (or CLI) that makes this test's sandboxes, plus `extra`.
pub fn sandbox_env(env: &TestEnv) -> Vec<(String, String)> {
    vec![("UNDERSTUDY_PROVISION__OWNER".into(), owner(env))]
}

/// Everything in the Docker engine labelled with this test's owner.
pub async fn engine_objects(env: &TestEnv) -> Objects {
    let docker = engine::connect(&ProvisionConfig::default())
        .await
        .expect("Docker engine");
    engine::labelled(&docker, LABEL_OWNER, Some(&owner(env)))
        .await
        .expect("list objects")
}

/// Removes whatever this test's owner left in the engine (after a failed assertion too).
pub async fn remove_all(env: &TestEnv) {
    let docker = engine::connect(&ProvisionConfig::default())
        .await
        .expect("Docker engine");
    let found = engine::sandboxes_of_owner(&docker, &owner(env))
        .await
        .expect("list");
    for id in found.keys() {
        let _ = engine::remove_sandbox(&docker, id).await;
    }
}
