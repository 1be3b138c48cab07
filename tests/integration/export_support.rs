//! Helpers of the export tests: the local WordPress's credentials, sealed specs, a TCP proxy in
//! front of the site that can go away and come back (and logs the requests it forwards), a tiny
//! HTTP server that is not WordPress, and direct REST look-ups to compare a bundle with the site.

use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use understudy_tests::TestEnv;
use uuid::Uuid;

/// Export tests read the one shared site; the REST-disabled test changes it and takes this
/// lock for writing, so it never overlaps another export test of this binary.
pub static SITE: LazyLock<tokio::sync::RwLock<()>> = LazyLock::new(|| tokio::sync::RwLock::new(()));

/// The local WordPress of `scripts/services/wordpress.sh`.
pub struct Wp {
    pub url: String,
    pub host_port: String,
    vars: HashMap<String, String>,
    pub uploads: PathBuf,
}

impl Wp {
    /// Reads `wordpress.env`; fails with what to run when the site is not set up.
    pub fn load() -> Wp {
        let path = "/var/lib/understudy-dev/wordpress/wordpress.env";
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("{path}: {e}; run scripts/services-up.sh wordpress and scripts/wp-seed.py")
        });
        let vars: HashMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let url = vars["UNDERSTUDY_WP_URL"].clone();
        Wp {
            host_port: url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            uploads: PathBuf::from(&vars["UNDERSTUDY_WP_UPLOADS_DIR"]),
            url,
            vars,
        }
    }

    /// The Application Password of `admin`, `editor` or `subscriber`.
    pub fn password(&self, user: &str) -> String {
        let key = match user {
            "admin" => "UNDERSTUDY_WP_ADMIN_APP_PASSWORD",
            "editor" => "UNDERSTUDY_WP_EDITOR_APP_PASSWORD",
            "subscriber" => "UNDERSTUDY_WP_SUBSCRIBER_APP_PASSWORD",
            other => panic!("no such test user {other}"),
        };
        self.vars[key].clone()
    }

    /// GET a REST route as admin; returns the body and `X-WP-Total`.
    pub async fn get(&self, route: &str, query: &[(&str, &str)]) -> (Value, Option<u64>) {
        let response = reqwest::Client::new()
            .get(format!("{}/wp-json{route}", self.url))
            .query(query)
            .basic_auth("admin", Some(self.password("admin")))
            .send()
            .await
            .expect("the local WordPress answers");
        assert!(
            response.status().is_success(),
            "{route}: HTTP {}",
            response.status()
        );
        let total = response
            .headers()
            .get("X-WP-Total")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = response.bytes().await.expect("body");
        (serde_json::from_slice(&body).expect("JSON"), total)
    }

    /// One value from the site's own database (the first column of the first row; empty when
    /// there is none), with the `mysql` client.
    pub fn sql(&self, query: &str) -> String {
        let var = |k: &str| self.vars[k].as_str();
        let out = std::process::Command::new("mysql")
            .args(["-N", "-B", "-h", var("UNDERSTUDY_WP_DB_HOST")])
            .args([
                "-P",
                var("UNDERSTUDY_WP_DB_PORT"),
                "-u",
                var("UNDERSTUDY_WP_DB_USER"),
            ])
            .args([var("UNDERSTUDY_WP_DB_NAME"), "-e", query])
            .env("MYSQL_PWD", var("UNDERSTUDY_WP_DB_PASSWORD"))
            .output()
            .expect("mysql client (scripts/services/mariadb.sh)");
        assert!(
            out.status.success(),
            "mysql {query}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .next()
            .and_then(|l| l.split('\t').next())
            .unwrap_or("")
            .to_string()
    }

    /// `X-WP-Total` of a collection, as the site says it.
    pub async fn total(&self, route: &str, query: &[(&str, &str)]) -> u64 {
        let mut q = query.to_vec();
        q.push(("per_page", "1"));
        self.get(route, &q)
            .await
            .1
            .unwrap_or_else(|| panic!("{route} has no X-WP-Total"))
    }
}

/// An export spec for `url` as `user`, with the password sealed by the test's key.
pub fn spec(env: &TestEnv, url: &str, user: &str, password: &str, out: &std::path::Path) -> Value {
    sealed_spec(&env.settings, url, user, password, out)
}

/// An export spec sealed with `settings`' key (for a spec made away from the `TestEnv`).
pub fn sealed_spec(
    settings: &understudy_worker::config::Settings,
    url: &str,
    user: &str,
    password: &str,
    out: &std::path::Path,
) -> Value {
    let sbox = settings.secret_box().expect("secrets key");
    let sealed = sbox.seal(&secrecy::SecretString::from(password.to_string()));
    json!({
        "url": url, "user": user,
        "app_password_sealed": base64::engine::general_purpose::STANDARD.encode(sealed),
        "out_dir": out,
    })
}

/// The job's error text.
pub async fn job_error(env: &TestEnv, id: Uuid) -> String {
    sqlx::query_scalar::<_, Option<String>>("SELECT error FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .expect("job row")
        .unwrap_or_default()
}

/// Recorded `step_retrying` events of a job (optionally of one step).
pub async fn retries(env: &TestEnv, id: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM job_events WHERE job_id = $1 AND type = 'step_retrying'",
    )
    .bind(id)
    .fetch_one(&env.pool)
    .await
    .expect("count retries")
}

/// Completed steps of a job: name → attempt that completed it.
pub async fn step_attempts(env: &TestEnv, id: Uuid) -> HashMap<String, i32> {
    sqlx::query_as::<_, (String, i32)>(
        "SELECT name, attempt FROM job_steps WHERE job_id = $1 AND state = 'completed'",
    )
    .bind(id)
    .fetch_all(&env.pool)
    .await
    .expect("steps")
    .into_iter()
    .collect()
}

/// The manifest of a finished bundle.
pub fn manifest(out: &std::path::Path) -> Value {
    let path = out.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("manifest is JSON")
}

/// A collection file of a finished bundle.
pub fn collection(out: &std::path::Path, name: &str) -> Vec<Value> {
    let path = out.join("collections").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("collection is JSON")
}

/// A TCP proxy on 127.0.0.1 in front of the site: it can be stopped (listener closed, open
/// connections cut: the site is gone) and started again on the same port, delays each request
/// by `delay`, and logs every request line it forwards.
pub struct Proxy {
    pub port: u16,
    target: String,
    delay: Duration,
    log: Arc<Mutex<Vec<String>>>,
    up: Mutex<Option<CancellationToken>>,
}

impl Proxy {
    pub async fn start(target: &str, delay: Duration) -> Arc<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let proxy = Arc::new(Proxy {
            port: listener.local_addr().expect("addr").port(),
            target: target.to_string(),
            delay,
            log: Arc::default(),
            up: Mutex::new(None),
        });
        proxy.serve(listener);
        proxy
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The site goes away: no more connections, the open ones are cut.
    pub fn stop(&self) {
        if let Some(token) = self.up.lock().expect("proxy").take() {
            token.cancel();
        }
    }

    /// The site comes back on the same port.
    pub async fn restart(self: &Arc<Proxy>) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("rebind proxy port");
        self.serve(listener);
    }

    /// Request lines (`GET /path?query HTTP/1.1`) forwarded so far.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("proxy log").clone()
    }

    fn serve(self: &Arc<Proxy>, listener: TcpListener) {
        let token = CancellationToken::new();
        *self.up.lock().expect("proxy") = Some(token.clone());
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = token.cancelled() => return,
                };
                let Ok((client, _)) = accepted else { continue };
                let (this, token) = (this.clone(), token.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = this.pipe(client) => {}
                        _ = token.cancelled() => {}
                    }
                });
            }
        });
    }

    async fn pipe(&self, client: TcpStream) {
        let Ok(server) = TcpStream::connect(&self.target).await else {
            return;
        };
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let upstream = async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let text = String::from_utf8_lossy(&buf[..n]);
                let lines: Vec<String> = text
                    .split("\r\n")
                    .filter(|l| l.starts_with("GET ") || l.starts_with("HEAD "))
                    .map(str::to_string)
                    .collect();
                if !lines.is_empty() {
                    self.log.lock().expect("proxy log").extend(lines);
                    if !self.delay.is_zero() {
                        tokio::time::sleep(self.delay).await;
                    }
                }
                if sw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = sw.shutdown().await;
        };
        let downstream = async {
            let _ = tokio::io::copy(&mut sr, &mut cw).await;
            let _ = cw.shutdown().await;
        };
        tokio::join!(upstream, downstream);
    }
}

/// A tiny HTTP server that answers every request with an HTML page (not WordPress).
pub async fn html_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "<!doctype html><html><head><title>Shop</title></head><body>Hello</body></html>";
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (url, handle)
}

/// A server whose every answer is `200 application/json` and never ends (a hostile site).
pub async fn endless_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = stream.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = "\"x\",".repeat(8192);
                // Until the client hangs up (bounded: 256 MiB at most).
                for _ in 0..(256 * 1024 * 1024 / chunk.len()) {
                    if stream.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, handle)
}

/// A port on 127.0.0.1 where nothing listens.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}
