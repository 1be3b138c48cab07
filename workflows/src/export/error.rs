//! What can go wrong in an export, each with its own message, classified retryable or permanent.
//!
//! Messages name the URL and the HTTP status but never the credentials: the site URL is refused
//! at intake when it carries a user or password, and the Application Password only ever lives
//! in a `SecretString` and in the `Authorization` header.

use thiserror::Error;

use crate::StepError;

/// An export failure. [`ExportError::is_retryable`] decides whether trying again can help.
#[derive(Debug, Error)]
pub enum ExportError {
    /// No TCP connection, a reset, a DNS failure or a timeout: the site may come back.
    #[error("site unreachable: {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// An https:// URL whose port answers in plain HTTP (the TLS handshake read an HTTP reply).
    #[error(
        "{url}: this port speaks plain HTTP, not TLS: use http://{authority}/ (or the port that \
         serves HTTPS)"
    )]
    PlainHttpPort { url: String, authority: String },
    /// 5xx or 429: the site is there but overloaded or broken for now.
    #[error("the site answered HTTP {status} for {url} (temporary server error)")]
    ServerBusy { url: String, status: u16 },
    /// The URL answers, but not as WordPress.
    #[error("not a WordPress site: {url}: {why}")]
    NotWordPress { url: String, why: String },
    /// WordPress, but its REST API is switched off or hidden.
    #[error("the WordPress REST API is disabled at {url}: {why}")]
    RestDisabled { url: String, why: String },
    /// The user name or Application Password is refused.
    #[error(
        "bad credentials: WordPress refused user {user:?} with this Application Password ({code}); \
         check the user name and create a new Application Password under Users → Profile"
    )]
    BadCredentials { user: String, code: String },
    /// The credentials work but the user cannot read everything an export needs.
    #[error(
        "insufficient role: user {user:?} (roles: {roles}) lacks {missing}; use an \
         Administrator's Application Password"
    )]
    InsufficientRole {
        user: String,
        roles: String,
        missing: String,
    },
    /// A response that is not what the REST API sends: HTML, invalid JSON, too large.
    #[error("unexpected response from {url}: {why}")]
    Hostile { url: String, why: String },
    /// Any other 4xx that retrying cannot change.
    #[error("HTTP {status} from {url}: {code}: {message}")]
    Refused {
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    /// Local storage of the bundle failed.
    #[error("cannot write the bundle at {path}: {source}")]
    Storage {
        path: String,
        source: std::io::Error,
    },
    /// The bundle directory is not in the state the checkpoints say.
    #[error("bundle inconsistent: {0}")]
    Bundle(String),
    /// The sealed Application Password cannot be opened with this worker's key.
    #[error("cannot open the sealed Application Password: {0}")]
    Secret(String),
}

impl ExportError {
    /// True when trying again later can succeed (the site may come back or calm down).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ExportError::Unreachable { .. } | ExportError::ServerBusy { .. }
        )
    }

    /// A storage error for `path`.
    pub fn storage(path: &std::path::Path, source: std::io::Error) -> Self {
        ExportError::Storage {
            path: path.display().to_string(),
            source,
        }
    }
}

impl From<ExportError> for StepError {
    fn from(error: ExportError) -> Self {
        if error.is_retryable() {
            StepError::Retryable(format!("export: {error}"))
        } else {
            StepError::Permanent(format!("export: {error}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retryable() {
        let unreachable = ExportError::Unreachable {
            url: "http://x/".into(),
            detail: "connection refused".into(),
        };
        assert!(StepError::from(unreachable).is_retryable());
        let bad = ExportError::BadCredentials {
            user: "admin".into(),
            code: "incorrect_password".into(),
        };
        let step = StepError::from(bad);
        assert!(!step.is_retryable());
        assert!(step.to_string().contains("bad credentials"), "{step}");
    }
}
