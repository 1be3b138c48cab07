//! An export from a hostile WordPress look-alike on loopback: a REST API whose media library
//! names files with `../`, encoded slashes, absolute paths, NUL bytes, backslashes, shell
//! metacharacters and other URL schemes, and points one attachment at another host. The
//! export ends with every hostile name recorded as `unsafe_name` (with the reason), nothing
//! written outside the bundle directory, nothing executed, no credentials sent to the other
//! host, and a worker that never crashed.

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use understudy_tests::TestEnv;
use understudy_worker::contract::Priority;
use understudy_worker::state::JobState;

use crate::export::walk;
use crate::export_support::{job_error, manifest, spec};

/// Request heads (request line and headers) a server received.
type Seen = Arc<Mutex<Vec<String>>>;

/// A loopback HTTP server answering every request with `answer(target, port)`:
/// (status, extra headers, body). Returns its port and what it received.
async fn serve<F>(answer: F) -> (u16, Seen, tokio::task::JoinHandle<()>)
where
    F: Fn(&str, u16) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen: Seen = Arc::default();
    let (answer, log) = (Arc::new(answer), seen.clone());
    let handle = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (answer, log) = (answer.clone(), log.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = vec![0u8; 8192];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split(' ').nth(1).unwrap_or("/").to_string();
                log.lock().unwrap().push(head);
                let (status, headers, body) = answer(&target, port);
                let mut response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    response.push_str(&format!("{k}: {v}\r\n"));
                }
                response.push_str("\r\n");
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, seen, handle)
}

fn json_answer(body: Value) -> (u16, Vec<(String, String)>, Vec<u8>) {
    (
        200,
        vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-WP-Total".into(), "1".into()),
            ("X-WP-TotalPages".into(), "1".into()),
        ],
        serde_json::to_vec(&body).unwrap(),
    )
}

/// The hostile media library: (source_url, expected status, words of the expected reason).
fn media_library(base: &str, cdn: &str, escape: &str) -> Vec<(String, &'static str, &'static str)> {
    vec![
        (format!("{base}/wp-content/uploads/2024/05/ok.png"), "downloaded", ""),
        (
            format!("{base}/wp-content/uploads/2024/05/%24%28touch%20pwned%29%3B%27%20DROP%20TABLE%20x%3B--.png"),
            "downloaded",
            "",
        ),
        (format!("{cdn}/wp-content/uploads/2024/05/cdn.png"), "downloaded", ""),
        (format!("{base}/wp-content/uploads/..%2F..%2F..%2F..%2Fescape.png"), "unsafe_name", "slash"),
        (format!("{base}/wp-content/uploads/%2F{escape}"), "unsafe_name", "slash"),
        (format!("{base}/wp-content/uploads/2024/05/nul%00.png"), "unsafe_name", "NUL"),
        (format!("{base}/wp-content/uploads/2024/05/..%5C..%5Cback.png"), "unsafe_name", "backslash"),
        (format!("{base}/wp-content/uploads/2024/05/new%0Aline.png"), "unsafe_name", "control"),
        (format!("{base}/wp-content/uploads/2024//empty.png"), "unsafe_name", "empty"),
        ("file:///etc/passwd".into(), "unsafe_name", "http(s)"),
        ("gopher://127.0.0.1:70/1/x.png".into(), "unsafe_name", "http(s)"),
        ("javascript:alert(document.cookie)".into(), "unsafe_name", "http(s)"),
        ("/var/www/html/wp-config.php".into(), "unsafe_name", "http(s)"),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_media_names_are_recorded_as_unsafe_and_nothing_leaves_the_bundle() {
    let env = TestEnv::new("hostile-export").await;
    // Another host (a CDN, or an attacker's collector): it must never see the credentials.
    let (cdn_port, cdn_seen, cdn) = serve(|_, _| {
        (
            200,
            vec![("Content-Type".into(), "image/png".into())],
            b"cdn".to_vec(),
        )
    })
    .await;
    let cdn_url = format!("http://127.0.0.1:{cdn_port}");
    // An absolute path outside the bundle that an unsafe name aims at.
    let escape = format!("tmp%2Funderstudy-hostile-{}.png", env.namespace);
    let escape_path =
        std::path::PathBuf::from(format!("/tmp/understudy-hostile-{}.png", env.namespace));
    let (library_cdn, library_escape) = (cdn_url.clone(), escape.clone());
    let (port, seen, site) = serve(move |target, port| {
        let base = format!("http://127.0.0.1:{port}");
        let path = target.split('?').next().unwrap_or("");
        match path {
            "/wp-json/" => json_answer(json!({
                "name": "Hostile <script>alert(1)</script>", "description": "'; DROP TABLE x; --",
                "home": base, "namespaces": ["wp/v2"], "routes": {}
            })),
            "/wp-json/wp/v2/users/me" => json_answer(json!({
                "id": 1, "roles": ["administrator"],
                "capabilities": {"edit_posts": true, "edit_others_posts": true,
                    "read_private_posts": true, "edit_pages": true, "edit_others_pages": true,
                    "read_private_pages": true, "manage_options": true}
            })),
            "/wp-json/wp/v2/types" | "/wp-json/wp/v2/taxonomies" => json_answer(json!({
                "../../evil": {"rest_base": "../../evil", "rest_namespace": "wp/v2"},
                "shell": {"rest_base": "$(touch pwned)", "rest_namespace": "wp/v2"}
            })),
            "/wp-json/wp/v2/media" => {
                let items: Vec<Value> = media_library(&base, &library_cdn, &library_escape)
                    .into_iter()
                    .enumerate()
                    .map(|(i, (url, _, _))| {
                        json!({
                            "id": 100 + i, "source_url": url, "mime_type": "image/png",
                            "title": {"raw": "x\u{0}y"}, "media_details": {"filesize": 3}
                        })
                    })
                    .collect();
                json_answer(Value::Array(items))
            }
            p if p.starts_with("/wp-json/") => json_answer(json!([])),
            p if p.starts_with("/wp-content/") => (
                200,
                vec![("Content-Type".into(), "image/png".into())],
                b"png".to_vec(),
            ),
            _ => (404, vec![], b"not found".to_vec()),
        }
    })
    .await;
    let worker = env.worker(&[]);
    env.wait_workers(1).await;
    let out = env.dir.join("bundle");
    let password = "hostile-app-password-1234";
    let mut s = spec(
        &env,
        &format!("http://127.0.0.1:{port}"),
        "admin",
        password,
        &out,
    );
    s["media"] = json!("all");
    let id = env.enqueue("export", s, Priority::Interactive).await;
    let state = env.wait_terminal(id, Duration::from_secs(90)).await;
    assert_eq!(
        state,
        JobState::Succeeded,
        "{}\n{}",
        job_error(&env, id).await,
        worker.log_text()
    );

    let m = manifest(&out);
    let files = m["media"]["files"].as_array().expect("media files");
    let library = media_library(&format!("http://127.0.0.1:{port}"), &cdn_url, &escape);
    for (url, status, why) in &library {
        let record = files
            .iter()
            .find(|f| f["url"] == json!(url))
            .unwrap_or_else(|| panic!("no record of {url}: {files:?}"));
        assert_eq!(record["status"], json!(status), "{url}: {record}");
        let reason = record["reason"].as_str().unwrap_or("");
        assert!(reason.contains(why), "{url}: {reason}");
    }
    // The legal-but-hostile name is stored literally inside the bundle.
    assert!(out
        .join("uploads/2024/05/$(touch pwned);' DROP TABLE x;--.png")
        .is_file());
    // Nothing outside the bundle: the test directory holds only the bundle, the data
    // directory and the worker's log.
    for file in walk(&env.dir) {
        let inside =
            file.starts_with(&out) || file.starts_with(env.dir.join("data")) || file == worker.log;
        assert!(inside, "written outside the bundle: {}", file.display());
        assert!(
            !file.to_string_lossy().contains("escape"),
            "{}",
            file.display()
        );
    }
    assert!(!escape_path.exists(), "wrote {}", escape_path.display());
    assert!(!std::path::Path::new("pwned").exists() && !env.dir.join("pwned").exists());
    // Custom types with hostile rest_base are not turned into routes or files.
    for request in seen.lock().unwrap().iter() {
        let line = request.lines().next().unwrap_or("");
        let rest = line.contains("/wp-json/");
        assert!(
            !(rest && (line.contains("evil") || line.contains("touch"))),
            "{line}"
        );
    }
    // The other host got the download, but never the Application Password.
    let cdn_heads = cdn_seen.lock().unwrap().clone();
    assert_eq!(cdn_heads.len(), 1, "{cdn_heads:?}");
    assert!(
        !cdn_heads[0].to_ascii_lowercase().contains("authorization"),
        "credentials sent to another host: {}",
        cdn_heads[0]
    );
    let site_heads = seen.lock().unwrap().clone();
    assert!(
        site_heads
            .iter()
            .any(|h| h.to_ascii_lowercase().contains("authorization: basic")),
        "the site itself gets the credentials"
    );
    assert!(!worker.log_text().contains("panicked"));
    assert!(!worker.log_text().contains(password));
    site.abort();
    cdn.abort();
}
