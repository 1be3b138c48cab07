//! The HTTP side of an export: REST requests with the Application Password, bounded bodies,
//! strict JSON, and every failure turned into an [`ExportError`] with the right class.

use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::{Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use url::Url;

use super::error::ExportError;

/// A JSON answer of the REST API.
#[derive(Debug)]
pub struct JsonResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl JsonResponse {
    /// A numeric header such as `X-WP-Total`.
    pub fn header_u64(&self, name: &str) -> Option<u64> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    }

    /// The WordPress error code of an error body (`rest_forbidden`, ...), or "".
    pub fn error_code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("")
    }

    /// The WordPress error message of an error body, or "".
    pub fn error_message(&self) -> &str {
        self.body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// A raw answer (status, headers, bounded body), before any interpretation.
#[derive(Debug)]
pub struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Talks to one WordPress site as one user.
pub struct WpClient {
    http: reqwest::Client,
    user: String,
    password: SecretString,
    /// The REST API root: `https://site/wp-json/` or `https://site/?rest_route=/`.
    api_root: Url,
    max_json_bytes: u64,
    requests: AtomicU64,
}

impl std::fmt::Debug for WpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WpClient")
            .field("user", &self.user)
            .field("api_root", &self.api_root.as_str())
            .finish_non_exhaustive()
    }
}

impl WpClient {
    /// A client for `api_root` (see [`WpClient::with_api_root`] to change it after discovery).
    pub fn new(
        api_root: Url,
        user: &str,
        password: SecretString,
        timeout: Duration,
        max_json_bytes: u64,
    ) -> Result<WpClient, ExportError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "Understudy/",
                env!("CARGO_PKG_VERSION"),
                " (export)"
            ))
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| ExportError::Bundle(format!("cannot build the HTTP client: {e}")))?;
        Ok(WpClient {
            http,
            user: user.to_string(),
            password,
            api_root,
            max_json_bytes,
            requests: AtomicU64::new(0),
        })
    }

    /// Uses another REST root (found by discovery), keeping the connection pool.
    pub fn with_api_root(mut self, api_root: Url) -> WpClient {
        self.api_root = api_root;
        self
    }

    pub fn api_root(&self) -> &Url {
        &self.api_root
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// HTTP requests sent so far (every try counts).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The URL of REST route `route` (`/wp/v2/posts`) with query parameters.
    pub fn route_url(&self, route: &str, params: &[(&str, String)]) -> Url {
        let mut url = self.api_root.clone();
        if url.query_pairs().any(|(k, _)| k == "rest_route") {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "rest_route")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let mut q = url.query_pairs_mut();
            q.clear();
            q.extend_pairs(kept);
            q.append_pair("rest_route", route);
        } else {
            let path = format!(
                "{}{}",
                url.path().trim_end_matches('/'),
                if route.starts_with('/') {
                    route.to_string()
                } else {
                    format!("/{route}")
                }
            );
            url.set_path(&path);
        }
        if !params.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// GET `url` with the credentials; the body is read up to `limit` bytes.
    pub async fn get_raw(&self, url: &Url, limit: u64) -> Result<RawResponse, ExportError> {
        let response = self.send(url).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_bounded(response, limit, url).await?;
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// GET `url` and parse its body as JSON, whatever the status (callers interpret errors).
    /// 5xx and 429 are [`ExportError::ServerBusy`]; a body that is not JSON is
    /// [`ExportError::Hostile`].
    pub async fn get_json(&self, url: &Url) -> Result<JsonResponse, ExportError> {
        let raw = self.get_raw(url, self.max_json_bytes).await?;
        if raw.status.is_server_error() || raw.status == StatusCode::TOO_MANY_REQUESTS {
            return Err(ExportError::ServerBusy {
                url: url.to_string(),
                status: raw.status.as_u16(),
            });
        }
        let body = parse_json(&raw.body).map_err(|why| ExportError::Hostile {
            url: url.to_string(),
            why: format!("HTTP {}: {why}", raw.status.as_u16()),
        })?;
        Ok(JsonResponse {
            status: raw.status,
            headers: raw.headers,
            body,
        })
    }

    /// GET a REST route that must succeed (2xx); other statuses become [`ExportError::Refused`].
    pub async fn get_ok(
        &self,
        route: &str,
        params: &[(&str, String)],
    ) -> Result<JsonResponse, ExportError> {
        let url = self.route_url(route, params);
        let response = self.get_json(&url).await?;
        if !response.status.is_success() {
            return Err(refused(&url, &response));
        }
        Ok(response)
    }

    /// Starts a GET (for streaming downloads). The credentials go only to the site's own
    /// origin (that of the REST root): a media URL the site points at another host (a CDN,
    /// or anyone's server) is fetched without them.
    pub async fn send(&self, url: &Url) -> Result<Response, ExportError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self.http.get(url.clone());
        if self.is_site_origin(url) {
            let auth = basic_auth(&self.user, &self.password);
            request = request.header(AUTHORIZATION, auth.expose_secret());
        }
        request.send().await.map_err(|e| transport(url, &e))
    }

    /// True when `url` has the REST root's scheme, host and port.
    pub fn is_site_origin(&self, url: &Url) -> bool {
        url.origin() == self.api_root.origin()
    }
}

/// The `Authorization: Basic` value, kept secret.
fn basic_auth(user: &str, password: &SecretString) -> SecretString {
    use base64::Engine;
    let pair = format!("{user}:{}", password.expose_secret().replace(' ', ""));
    SecretString::from(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    ))
}

/// A non-2xx answer as a permanent refusal.
pub fn refused(url: &Url, response: &JsonResponse) -> ExportError {
    ExportError::Refused {
        url: url.to_string(),
        status: response.status.as_u16(),
        code: response.error_code().to_string(),
        message: response.error_message().to_string(),
    }
}

/// Network-level failures: all retryable (the site may come back).
pub fn transport(url: &Url, error: &reqwest::Error) -> ExportError {
    let mut detail = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "cannot connect".to_string()
    } else if error.is_redirect() {
        "too many redirects".to_string()
    } else {
        "request failed".to_string()
    };
    // The innermost cause says what happened (connection refused, reset, DNS ...).
    let mut source = std::error::Error::source(error);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    if let Some(last) = &last {
        detail = format!("{detail}: {last}");
    }
    if url.scheme() == "https" && speaks_plain_http(last.as_deref()) {
        return ExportError::PlainHttpPort {
            url: url.to_string(),
            authority: match url.port() {
                Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
                None => url.host_str().unwrap_or_default().to_string(),
            },
        };
    }
    if error.is_redirect() {
        return ExportError::Hostile {
            url: url.to_string(),
            why: detail,
        };
    }
    ExportError::Unreachable {
        url: url.to_string(),
        detail,
    }
}

/// True when a TLS failure is what rustls reports for an HTTP answer to its ClientHello
/// ("received corrupt message of type InvalidContentType") or OpenSSL's "wrong version number".
fn speaks_plain_http(innermost: Option<&str>) -> bool {
    innermost
        .is_some_and(|m| m.contains("InvalidContentType") || m.contains("wrong version number"))
}

/// Reads a body, refusing more than `limit` bytes (announced or actual).
pub async fn read_bounded(
    mut response: Response,
    limit: u64,
    url: &Url,
) -> Result<Vec<u8>, ExportError> {
    let too_big = |n: u64| ExportError::Hostile {
        url: url.to_string(),
        why: format!("the body is larger than the {limit}-byte limit ({n}+ bytes)"),
    };
    if let Some(length) = response.content_length() {
        if length > limit {
            return Err(too_big(length));
        }
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(url, &e))? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_big((body.len() + chunk.len()) as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Strict JSON, with a useful description of what came instead.
pub fn parse_json(body: &[u8]) -> Result<Value, String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    match start.map(|i| body[i]) {
        None => return Err("an empty body instead of JSON".into()),
        Some(b'<') => {
            return Err(format!(
                "HTML instead of JSON (starts with {:?})",
                preview(&body[start.unwrap_or(0)..])
            ))
        }
        _ => {}
    }
    serde_json::from_slice(body).map_err(|e| {
        format!(
            "invalid JSON ({e}); starts with {:?}",
            preview(&body[start.unwrap_or(0)..])
        )
    })
}

/// The first few printable characters of a body, for error messages.
fn preview(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(60)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(root: &str) -> WpClient {
        WpClient::new(
            Url::parse(root).unwrap(),
            "admin",
            SecretString::from("abcd efgh"),
            Duration::from_secs(5),
            1024,
        )
        .unwrap()
    }

    #[test]
    fn route_urls_follow_the_discovered_root() {
        let pretty = client("http://x.test/blog/wp-json/");
        assert_eq!(
            pretty
                .route_url("/wp/v2/posts", &[("page", "2".into())])
                .as_str(),
            "http://x.test/blog/wp-json/wp/v2/posts?page=2"
        );
        let plain = client("http://x.test/?rest_route=/");
        assert_eq!(
            plain
                .route_url("/wp/v2/posts", &[("per_page", "100".into())])
                .as_str(),
            "http://x.test/?rest_route=%2Fwp%2Fv2%2Fposts&per_page=100"
        );
    }

    #[test]
    fn non_json_bodies_are_described() {
        assert!(parse_json(b"<!doctype html><p>hi")
            .unwrap_err()
            .contains("HTML instead of JSON"));
        assert!(parse_json(b"").unwrap_err().contains("empty"));
        assert!(parse_json(b"{\"a\":").unwrap_err().contains("invalid JSON"));
        assert_eq!(
            parse_json(b"\xEF\xBB\xBF {\"a\":1}").unwrap()["a"],
            Value::from(1)
        );
    }

    #[test]
    fn credentials_are_for_the_site_origin_only() {
        let c = client("http://x.test:8080/wp-json/");
        let yes = Url::parse("http://x.test:8080/wp-content/uploads/a.png").unwrap();
        assert!(c.is_site_origin(&yes));
        for other in [
            "http://cdn.x.test:8080/a.png",
            "http://x.test/a.png",
            "https://x.test:8080/a.png",
            "http://127.0.0.1:8080/a.png",
        ] {
            assert!(!c.is_site_origin(&Url::parse(other).unwrap()), "{other}");
        }
    }

    #[test]
    fn the_authorization_value_is_not_printed_by_debug() {
        let c = client("http://x.test/wp-json/");
        assert!(!format!("{c:?}").contains("abcd"));
        let auth = basic_auth("admin", &SecretString::from("ab cd"));
        assert!(!format!("{auth:?}").contains("YWRtaW4"));
        assert_eq!(auth.expose_secret(), "Basic YWRtaW46YWJjZA==");
    }
}
