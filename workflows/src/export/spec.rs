//! The export job's spec: what a producer puts in the message, checked at intake.
//!
//! ```json
//! {"url": "https://example.com", "user": "admin",
//!  "app_password_sealed": "<base64 of v1 || nonce(12) || AES-256-GCM ciphertext+tag>",
//!  "media": "referenced", "out_dir": "/var/lib/understudy/exports/site-42",
//!  "media_concurrency": 5, "max_media_bytes": 104857600, "skip_mime": ["video/*"],
//!  "max_json_bytes": 33554432, "request_timeout_secs": 60,
//!  "retry": {"max_tries": 10, "min_delay_ms": 500, "max_delay_ms": 15000}}
//! ```
//! Only `url`, `user` and `app_password_sealed` are required. The Application Password is never
//! accepted in clear.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

use crate::{RetryPolicy, SpecError};

/// Which media files go into the bundle.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MediaMode {
    /// Files that content, featured images or site settings refer to.
    #[default]
    Referenced,
    /// Every attachment of the media library.
    All,
    /// Metadata only.
    None,
}

impl MediaMode {
    /// The name used in specs and manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaMode::Referenced => "referenced",
            MediaMode::All => "all",
            MediaMode::None => "none",
        }
    }
}

/// Retry policy of the steps that talk to the site.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    pub max_tries: u32,
    pub min_delay_ms: u64,
    pub max_delay_ms: u64,
}

/// A parsed, validated export spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSpec {
    /// The site's address (http or https), e.g. `https://example.com` or `https://x.org/blog`.
    pub url: String,
    /// WordPress user name of the Application Password.
    pub user: String,
    /// The Application Password sealed with the workers' secrets key, base64.
    pub app_password_sealed: String,
    #[serde(default)]
    pub media: MediaMode,
    /// Where the bundle goes; default `<data_dir>/exports/<job id>`.
    #[serde(default)]
    pub out_dir: Option<PathBuf>,
    #[serde(default = "default_concurrency")]
    pub media_concurrency: usize,
    /// Files larger than this are recorded as oversized, not downloaded.
    #[serde(default = "default_max_media")]
    pub max_media_bytes: u64,
    /// MIME types not downloaded (`image/png`, or a family such as `video/*`).
    #[serde(default)]
    pub skip_mime: Vec<String>,
    /// Upper bound of one JSON response.
    #[serde(default = "default_max_json")]
    pub max_json_bytes: u64,
    #[serde(default = "default_timeout")]
    pub request_timeout_secs: u64,
    #[serde(default)]
    pub retry: Option<RetrySpec>,
}

fn default_concurrency() -> usize {
    5
}
fn default_max_media() -> u64 {
    100 * 1024 * 1024
}
fn default_max_json() -> u64 {
    32 * 1024 * 1024
}
fn default_timeout() -> u64 {
    60
}

const EXAMPLE: &str = "expected {\"url\": \"https://example.com\", \"user\": \"admin\", \
                       \"app_password_sealed\": \"<base64>\", \"media\": \"referenced|all|none\"?, \
                       \"out_dir\": \"/abs/dir\"?}";

impl ExportSpec {
    /// Parses and checks a spec; the error says what is wrong, never echoing secrets.
    pub fn parse(spec: &Value) -> Result<ExportSpec, SpecError> {
        if spec.get("app_password").is_some() || spec.get("password").is_some() {
            return Err(SpecError::new(
                "export: a password in clear is refused; seal it into app_password_sealed \
                 (AES-256-GCM with the workers' key, see README \"Export\")",
            ));
        }
        let spec: ExportSpec = serde_json::from_value(spec.clone())
            .map_err(|e| SpecError::new(format!("export: {e} ({EXAMPLE})")))?;
        spec.site_url()?;
        if spec.user.trim().is_empty() || spec.user.len() > 200 {
            return Err(SpecError::new(
                "export: user must be a WordPress user name (1..200 characters)",
            ));
        }
        spec.sealed_password()?;
        if let Some(dir) = &spec.out_dir {
            let sane = dir.is_absolute()
                && !dir
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
                && dir.parent().is_some();
            if !sane {
                return Err(SpecError::new(
                    "export: out_dir must be an absolute path without `..`, not `/`",
                ));
            }
        }
        if !(1..=32).contains(&spec.media_concurrency) {
            return Err(SpecError::new("export: media_concurrency must be 1..=32"));
        }
        if spec.max_media_bytes == 0 || spec.max_media_bytes > 64 * 1024 * 1024 * 1024 {
            return Err(SpecError::new("export: max_media_bytes must be 1..=64 GiB"));
        }
        if !(1024..=1024 * 1024 * 1024).contains(&spec.max_json_bytes) {
            return Err(SpecError::new(
                "export: max_json_bytes must be 1 KiB..=1 GiB",
            ));
        }
        if !(1..=3600).contains(&spec.request_timeout_secs) {
            return Err(SpecError::new(
                "export: request_timeout_secs must be 1..=3600",
            ));
        }
        if let Some(r) = spec.retry {
            if !(1..=100).contains(&r.max_tries) || r.min_delay_ms > r.max_delay_ms {
                return Err(SpecError::new(
                    "export: retry needs max_tries 1..=100 and min_delay_ms <= max_delay_ms",
                ));
            }
        }
        for mime in &spec.skip_mime {
            let ok = mime.split_once('/').is_some_and(|(a, b)| {
                !a.is_empty() && !b.is_empty() && !mime.contains(char::is_whitespace)
            });
            if !ok {
                return Err(SpecError::new(format!(
                    "export: skip_mime entry {mime:?} is not a MIME type like image/png or video/*"
                )));
            }
        }
        Ok(spec)
    }

    /// The site URL, normalised to end with `/` (a base for relative paths).
    pub fn site_url(&self) -> Result<Url, SpecError> {
        let mut url = Url::parse(self.url.trim())
            .map_err(|e| SpecError::new(format!("export: url {:?} is not a URL: {e}", self.url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(SpecError::new(
                "export: url must be http:// or https:// with a host",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SpecError::new(
                "export: url must not carry credentials; pass user and app_password_sealed",
            ));
        }
        url.set_query(None);
        url.set_fragment(None);
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(url)
    }

    /// The sealed bytes, checked for shape (version 1, nonce, tag) but not opened.
    pub fn sealed_password(&self) -> Result<Vec<u8>, SpecError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.app_password_sealed.trim())
            .map_err(|_| SpecError::new("export: app_password_sealed is not base64"))?;
        if bytes.len() < 1 + 12 + 16 || bytes[0] != 1 {
            return Err(SpecError::new(
                "export: app_password_sealed must be version 1 || 12-byte nonce || ciphertext+tag",
            ));
        }
        Ok(bytes)
    }

    /// The retry policy of the steps that talk to the site (default: about a minute of patience).
    pub fn retry_policy(&self) -> RetryPolicy {
        let r = self.retry.unwrap_or(RetrySpec {
            max_tries: 10,
            min_delay_ms: 500,
            max_delay_ms: 15_000,
        });
        RetryPolicy {
            max_tries: r.max_tries,
            min_delay: Duration::from_millis(r.min_delay_ms),
            max_delay: Duration::from_millis(r.max_delay_ms),
            factor: 2.0,
        }
    }

    /// True when files of this MIME type are not downloaded.
    pub fn skips_mime(&self, mime: &str) -> bool {
        let mime = mime.trim().to_ascii_lowercase();
        self.skip_mime.iter().any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            match pattern.strip_suffix("/*") {
                Some(family) => mime.split('/').next() == Some(family),
                None => pattern == mime,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sealed() -> String {
        base64::engine::general_purpose::STANDARD.encode([1u8; 40])
    }

    #[test]
    fn specs_are_checked_with_clear_messages() {
        let ok = json!({"url": "http://127.0.0.1:8081", "user": "admin", "app_password_sealed": sealed()});
        let spec = ExportSpec::parse(&ok).unwrap();
        assert_eq!(spec.site_url().unwrap().as_str(), "http://127.0.0.1:8081/");
        assert_eq!(spec.media, MediaMode::Referenced);
        let cases = [
            (
                json!({"url": "ftp://x", "user": "a", "app_password_sealed": sealed()}),
                "http",
            ),
            (
                json!({"url": "http://u:p@x", "user": "a", "app_password_sealed": sealed()}),
                "credentials",
            ),
            (
                json!({"url": "http://x", "user": "a", "app_password_sealed": "!!"}),
                "base64",
            ),
            (
                json!({"url": "http://x", "user": "a", "app_password": "secret-pw"}),
                "in clear",
            ),
            (
                json!({"url": "http://x", "user": "a", "app_password_sealed": sealed(), "out_dir": "rel"}),
                "absolute",
            ),
            (
                json!({"url": "http://x", "user": "a", "app_password_sealed": sealed(), "media": "some"}),
                "unknown variant",
            ),
            (
                json!({"url": "http://x", "user": "a", "app_password_sealed": sealed(), "skip_mime": ["png"]}),
                "skip_mime",
            ),
        ];
        for (spec, want) in cases {
            let err = ExportSpec::parse(&spec).unwrap_err().to_string();
            assert!(err.contains(want), "{spec} -> {err}");
            assert!(!err.contains("secret-pw"), "{err}");
        }
    }

    #[test]
    fn the_published_schema_lists_exactly_the_spec_fields() {
        let schema: Value = serde_json::from_str(include_str!(
            "../../../worker/schema/export-spec.v1.schema.json"
        ))
        .unwrap();
        let mut names: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort();
        let full = json!({"url": "https://x.test/blog", "user": "a", "app_password_sealed": sealed(),
            "media": "all", "out_dir": "/tmp/x", "media_concurrency": 2, "max_media_bytes": 10,
            "skip_mime": ["video/*"], "max_json_bytes": 2048, "request_timeout_secs": 5,
            "retry": {"max_tries": 2, "min_delay_ms": 1, "max_delay_ms": 2}});
        let mut fields: Vec<&str> = full
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort();
        assert_eq!(names, fields);
        ExportSpec::parse(&full).unwrap();
    }

    #[test]
    fn mime_skip_list_matches_families() {
        let spec = ExportSpec::parse(&json!({"url": "http://x", "user": "a",
            "app_password_sealed": sealed(), "skip_mime": ["video/*", "application/pdf"]}))
        .unwrap();
        assert!(spec.skips_mime("video/mp4"));
        assert!(spec.skips_mime("Application/PDF"));
        assert!(!spec.skips_mime("image/png"));
    }
}
