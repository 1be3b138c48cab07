//! The site registry: production WordPress sites and where their staging copies go.
//!
//! - [`database`]: a site's database URL — engine, parts, validation; the password stays secret.
//! - [`registry`]: the `sites` and `staging_environments` tables.
//! - [`identity`]: same database / same directory by identity, and the conflicts between sites.
//! - [`backups`]: the `backups` table: production backups of promote and restore.
//!
//! Staging defaults by convention, each overridable: URL `https://staging.<host>`, database
//! `<name>_staging` on the same server, uploads directory `<uploads>-staging` beside production.

pub mod backups;
pub mod database;
pub mod identity;
pub mod registry;

pub use database::{DbEngine, DbUrl};
pub use registry::{Environment, Site, SiteInput};

/// Why a site definition was refused; says what to change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SiteError {
    #[error("site name {0:?} is invalid: use 1-63 lowercase letters, digits and '-', starting with a letter or digit")]
    BadName(String),
    #[error("{what} {value:?} is not a valid URL: {reason}")]
    BadUrl {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("{what} {value:?} is invalid: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "the staging {what} is the production {what} ({value}); choose another staging {what}"
    )]
    StagingIsProduction { what: &'static str, value: String },
    #[error("site {0:?} is not registered (see `understudy site list`)")]
    Unknown(String),
    #[error("site {0:?} is already registered (remove it first, or choose another name)")]
    Exists(String),
    #[error(
        "site {site:?} is refused: {}; choose other staging settings (--staging-db, --staging-uploads) \
         so that staging never touches production or another site's staging",
        reasons.join("; ")
    )]
    Conflict { site: String, reasons: Vec<String> },
}

/// Checks a site name.
pub fn validate_name(name: &str) -> Result<(), SiteError> {
    let ok = (1..=63).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(SiteError::BadName(name.to_string()))
    }
}

/// A site URL reduced to `scheme://host[:port][/path]` without a trailing slash.
pub fn normalize_site_url(what: &'static str, value: &str) -> Result<String, SiteError> {
    // A URL that carries a password is refused without echoing the password.
    let shown = match url::Url::parse(value) {
        Ok(url) if url.password().is_some() => database::redact(value),
        _ => value.to_string(),
    };
    let bad = |reason: &str| SiteError::BadUrl {
        what,
        value: shown.clone(),
        reason: reason.to_string(),
    };
    let url = url::Url::parse(value).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("use http:// or https://"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials do not belong in a site URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("no query or fragment, just scheme://host[/path]"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| bad("no host"))?
        .to_ascii_lowercase();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = url.path().trim_end_matches('/');
    Ok(format!("{}://{host}{port}{path}", url.scheme()))
}

/// `https://staging.<host>[:port][/path]` for a production URL whose host is a domain name.
pub fn default_staging_url(production_url: &str) -> Result<String, SiteError> {
    let url = url::Url::parse(production_url).map_err(|e| SiteError::BadUrl {
        what: "production URL",
        value: production_url.to_string(),
        reason: e.to_string(),
    })?;
    let no_name = |reason: &str| SiteError::Invalid {
        what: "production URL",
        value: production_url.to_string(),
        reason: format!(
            "{reason}, so there is no default staging URL staging.<host>: give --staging-url"
        ),
    };
    let host = match url.host() {
        Some(url::Host::Domain(host)) if host != "localhost" && host.contains('.') => host,
        Some(url::Host::Domain(_)) => return Err(no_name("its host is not a domain name")),
        _ => return Err(no_name("its host is an IP address")),
    };
    let host = host.strip_prefix("www.").unwrap_or(host);
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = url.path().trim_end_matches('/');
    normalize_site_url(
        "staging URL",
        &format!("https://staging.{host}{port}{path}"),
    )
}

/// An absolute directory path without `..`, NUL or a trailing slash.
pub fn normalize_dir(what: &'static str, value: &str) -> Result<String, SiteError> {
    let invalid = |reason: &str| SiteError::Invalid {
        what,
        value: value.to_string(),
        reason: reason.to_string(),
    };
    if !value.starts_with('/') {
        return Err(invalid("use an absolute path"));
    }
    if value.contains('\0') || value.split('/').any(|part| part == "..") {
        return Err(invalid("no '..' or NUL bytes"));
    }
    let trimmed = value.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(invalid("not the root directory"));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_urls_and_dirs_are_validated() {
        assert!(validate_name("shop-1").is_ok());
        for bad in ["", "Shop", "-x", "a_b", "a;drop table", &"a".repeat(64)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            normalize_site_url("u", "https://Example.com/").unwrap(),
            "https://example.com"
        );
        assert_eq!(
            normalize_site_url("u", "http://h:8081/blog/").unwrap(),
            "http://h:8081/blog"
        );
        assert!(normalize_site_url("u", "ftp://h").is_err());
        let err = normalize_site_url("u", "https://u:pw-secret@h").unwrap_err();
        assert!(!err.to_string().contains("pw-secret"), "{err}");
        assert!(err.to_string().contains("u:***@h"), "{err}");
        assert!(normalize_site_url("u", "javascript:alert(1)").is_err());
        assert_eq!(
            default_staging_url("https://www.shop.com").unwrap(),
            "https://staging.shop.com"
        );
        assert_eq!(
            default_staging_url("https://shop.com/blog").unwrap(),
            "https://staging.shop.com/blog"
        );
        let err = default_staging_url("http://127.0.0.1:8081").unwrap_err();
        assert!(err.to_string().contains("--staging-url"), "{err}");
        assert!(default_staging_url("http://localhost").is_err());
        assert_eq!(normalize_dir("d", "/srv/up/").unwrap(), "/srv/up");
        assert!(normalize_dir("d", "srv").is_err());
        assert!(normalize_dir("d", "/srv/../etc").is_err());
        assert!(normalize_dir("d", "/").is_err());
    }
}
