//! The `validate` step: is the URL reachable, is it WordPress, is its REST API on, do the
//! credentials work, and may this user read what an export needs? Each answer has its own error.
//!
//! WordPress 6.1 treats bad credentials as anonymous on public routes (they answer 200), so the
//! credentials are checked on `/wp/v2/users/me?context=edit`, which needs a logged-in user.

use reqwest::header::LINK;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use super::client::{parse_json, WpClient};
use super::error::ExportError;

/// Capabilities without which an export would silently miss content (an Editor has them).
pub const REQUIRED_CAPS: &[&str] = &[
    "edit_posts",
    "edit_others_posts",
    "read_private_posts",
    "edit_pages",
    "edit_others_pages",
    "read_private_pages",
];

/// What `validate` learned about the site; the checkpointed output of the step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteInfo {
    /// The URL the export was asked for (normalised, ends with `/`).
    pub url: String,
    /// The REST root in use (`.../wp-json/` or `...?rest_route=/`).
    pub api_root: String,
    pub name: String,
    pub description: String,
    /// The site's own idea of its address (`home` in the REST index).
    pub home: String,
    /// `6.1.1`, from the RSS generator tag, when the site shows it.
    pub wordpress_version: Option<String>,
    pub namespaces: Vec<String>,
    pub user_id: u64,
    pub user_roles: Vec<String>,
    /// True when the user can manage options (settings, plugins, themes are readable).
    pub administrator: bool,
    /// Things worth knowing that did not stop the export.
    pub notes: Vec<String>,
}

/// Runs every check in order; the first failure is the answer.
pub async fn validate(client: WpClient, base: &Url) -> Result<(WpClient, SiteInfo), ExportError> {
    let (client, index) = find_rest_api(client, base).await?;
    let me = check_credentials(&client).await?;
    let caps = me.get("capabilities").cloned().unwrap_or(Value::Null);
    let has = |cap: &str| caps.get(cap).and_then(Value::as_bool).unwrap_or(false);
    let roles: Vec<String> = me
        .get("roles")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<&str> = REQUIRED_CAPS
        .iter()
        .copied()
        .filter(|cap| !has(cap))
        .collect();
    if !missing.is_empty() {
        return Err(ExportError::InsufficientRole {
            user: client.user().to_string(),
            roles: if roles.is_empty() {
                "none".into()
            } else {
                roles.join(", ")
            },
            missing: missing.join(", "),
        });
    }
    let administrator = has("manage_options");
    let mut notes = Vec::new();
    if !administrator {
        notes.push(format!(
            "user {:?} is not an administrator: settings, plugins, themes, templates and user \
             e-mails are not readable and are recorded as skipped",
            client.user()
        ));
    }
    let wordpress_version = match generator_version(&client, base).await {
        Ok(version) => version,
        Err(e) => {
            notes.push(format!("WordPress version unknown: {e}"));
            None
        }
    };
    if wordpress_version.is_none() && notes.iter().all(|n| !n.starts_with("WordPress version")) {
        notes.push("WordPress version unknown: the site hides its generator tag".into());
    }
    let text = |key: &str| {
        index
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let info = SiteInfo {
        url: base.to_string(),
        api_root: client.api_root().to_string(),
        name: text("name"),
        description: text("description"),
        home: text("home"),
        wordpress_version,
        namespaces: namespaces(&index),
        user_id: me.get("id").and_then(Value::as_u64).unwrap_or(0),
        user_roles: roles,
        administrator,
        notes,
    };
    Ok((client, info))
}

fn namespaces(index: &Value) -> Vec<String> {
    index
        .get("namespaces")
        .and_then(Value::as_array)
        .map(|n| {
            n.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Finds the REST index (`/wp-json/`, else the discovery link of the home page) and tells
/// "not WordPress" from "REST disabled".
async fn find_rest_api(client: WpClient, base: &Url) -> Result<(WpClient, Value), ExportError> {
    let root = base.join("wp-json/").expect("a relative path joins");
    let client = client.with_api_root(root.clone());
    let first = probe_index(&client, &root).await?;
    if let Probe::Index(index) = first {
        return Ok((client, index));
    }
    // No index at /wp-json/: look at the home page for discovery and WordPress markers.
    let home = client.get_raw(base, 4 * 1024 * 1024).await?;
    if home.status.is_server_error() {
        return Err(ExportError::ServerBusy {
            url: base.to_string(),
            status: home.status.as_u16(),
        });
    }
    if let Some(link) = discovery_link(&home.headers, base) {
        if link != root {
            let client = client.with_api_root(link.clone());
            match probe_index(&client, &link).await? {
                Probe::Index(index) => return Ok((client, index)),
                Probe::Disabled(why) => {
                    return Err(ExportError::RestDisabled {
                        url: link.to_string(),
                        why,
                    })
                }
                Probe::Absent(_) => {}
            }
        }
    }
    let looks_like_wp =
        looks_like_wordpress(&home.body) || discovery_link(&home.headers, base).is_some();
    match first {
        Probe::Disabled(why) => Err(ExportError::RestDisabled {
            url: root.to_string(),
            why,
        }),
        Probe::Absent(why) if looks_like_wp => Err(ExportError::RestDisabled {
            url: root.to_string(),
            why: format!("{why}, though the home page is WordPress (no REST discovery link)"),
        }),
        Probe::Absent(why) => Err(ExportError::NotWordPress {
            url: base.to_string(),
            why: format!(
                "{why}, and the home page (HTTP {}) shows no sign of WordPress",
                home.status.as_u16()
            ),
        }),
        Probe::Index(_) => unreachable!("returned above"),
    }
}

enum Probe {
    /// The REST index with the `wp/v2` namespace.
    Index(Value),
    /// A REST API that refuses to answer (403 `rest_disabled` and friends).
    Disabled(String),
    /// Nothing that looks like the WordPress REST API.
    Absent(String),
}

async fn probe_index(client: &WpClient, root: &Url) -> Result<Probe, ExportError> {
    let raw = client.get_raw(root, 8 * 1024 * 1024).await?;
    let status = raw.status;
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(ExportError::ServerBusy {
            url: root.to_string(),
            status: status.as_u16(),
        });
    }
    let body = match parse_json(&raw.body) {
        Ok(body) => body,
        Err(why) => {
            return Ok(Probe::Absent(format!(
                "{root} answers HTTP {}: {why}",
                status.as_u16()
            )))
        }
    };
    let code = body.get("code").and_then(Value::as_str).unwrap_or("");
    if !status.is_success() {
        if code.starts_with("rest_")
            || status == StatusCode::FORBIDDEN
            || status == StatusCode::UNAUTHORIZED
        {
            let message = body.get("message").and_then(Value::as_str).unwrap_or("");
            return Ok(Probe::Disabled(format!(
                "HTTP {} {code}: {message}",
                status.as_u16()
            )));
        }
        return Ok(Probe::Absent(format!(
            "{root} answers HTTP {}",
            status.as_u16()
        )));
    }
    let spaces = namespaces(&body);
    if spaces.iter().any(|n| n == "wp/v2") {
        Ok(Probe::Index(body))
    } else if body.get("routes").is_some() || !spaces.is_empty() {
        Ok(Probe::Disabled(format!(
            "the REST index has no wp/v2 namespace (namespaces: {})",
            spaces.join(", ")
        )))
    } else {
        Ok(Probe::Absent(format!(
            "{root} answers JSON that is not a REST index"
        )))
    }
}

/// `Link: <https://site/wp-json/>; rel="https://api.w.org/"`, moved onto the origin we were
/// given (the site may name itself differently, e.g. behind a proxy).
fn discovery_link(headers: &reqwest::header::HeaderMap, base: &Url) -> Option<Url> {
    headers.get_all(LINK).iter().find_map(|value| {
        let value = value.to_str().ok()?;
        value.split(',').find_map(|part| {
            let (target, params) = part.trim().split_once(';')?;
            if !params.contains("rel=\"https://api.w.org/\"") {
                return None;
            }
            let target =
                Url::parse(target.trim().trim_start_matches('<').trim_end_matches('>')).ok()?;
            let mut url = base.clone();
            url.set_path(target.path());
            url.set_query(target.query());
            Some(url)
        })
    })
}

fn looks_like_wordpress(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    ["/wp-content/", "/wp-includes/", "content=\"WordPress"]
        .iter()
        .any(|marker| text.contains(marker))
}

/// `users/me?context=edit` as the export's user; 401 means the credentials are refused.
async fn check_credentials(client: &WpClient) -> Result<Value, ExportError> {
    let url = client.route_url("/wp/v2/users/me", &[("context", "edit".into())]);
    let response = client.get_json(&url).await?;
    let code = response.error_code().to_string();
    match response.status {
        s if s.is_success() => Ok(response.body),
        StatusCode::UNAUTHORIZED => Err(ExportError::BadCredentials {
            user: client.user().to_string(),
            code: if code.is_empty() {
                "HTTP 401".into()
            } else {
                code
            },
        }),
        StatusCode::FORBIDDEN if code == "rest_disabled" || code == "rest_cannot_access" => {
            Err(ExportError::RestDisabled {
                url: url.to_string(),
                why: format!("HTTP 403 {code}: {}", response.error_message()),
            })
        }
        StatusCode::FORBIDDEN => Err(ExportError::InsufficientRole {
            user: client.user().to_string(),
            roles: "unknown".into(),
            missing: format!("access to its own profile (HTTP 403 {code})"),
        }),
        _ => Err(super::client::refused(&url, &response)),
    }
}

/// The version in the RSS feed's `<generator>` tag (`https://wordpress.org/?v=6.1.1`).
async fn generator_version(client: &WpClient, base: &Url) -> Result<Option<String>, ExportError> {
    let mut feed = base.clone();
    feed.set_query(Some("feed=rss2"));
    let raw = client.get_raw(&feed, 4 * 1024 * 1024).await?;
    if !raw.status.is_success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&raw.body);
    let version = text
        .split_once("wordpress.org/?v=")
        .map(|(_, rest)| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect::<String>()
        })
        .filter(|v| !v.is_empty());
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn discovery_links_keep_our_origin() {
        let mut headers = HeaderMap::new();
        headers.append(
            LINK,
            HeaderValue::from_static(
                "<http://127.0.0.1:8081/wp-json/wp/v2/pages/3>; rel=\"alternate\"",
            ),
        );
        headers.append(
            LINK,
            HeaderValue::from_static(
                "<http://127.0.0.1:8081/?rest_route=/>; rel=\"https://api.w.org/\"",
            ),
        );
        let base = Url::parse("http://127.0.0.1:9999/").unwrap();
        let link = discovery_link(&headers, &base).unwrap();
        assert_eq!(link.as_str(), "http://127.0.0.1:9999/?rest_route=/");
    }

    #[test]
    fn wordpress_markers() {
        assert!(looks_like_wordpress(
            b"<link href='/wp-content/themes/x.css'>"
        ));
        assert!(!looks_like_wordpress(b"<html>hello</html>"));
    }
}
