//! Job specs: `provision` (make a sandbox from an export bundle) and `sandbox` (destroy one,
//! or reap expired ones and reconcile drift).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::names::is_sandbox_id;
use crate::SpecError;

/// `{"bundle": "/path/to/export", "site": "shop", "ttl_hours": 168, "admin_user": "admin"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionSpec {
    /// An export bundle directory (the export workflow's format, version 1), readable by the
    /// worker. Absent: an empty WordPress.
    #[serde(default)]
    pub bundle: Option<String>,
    /// A label for the sandbox (the site it copies); default: the bundle's site host.
    #[serde(default)]
    pub site: Option<String>,
    /// Lifetime; default `provision.default_ttl_hours` (7 days).
    #[serde(default)]
    pub ttl_hours: Option<u64>,
    /// Login of the sandbox administrator.
    #[serde(default = "default_admin")]
    pub admin_user: String,
    /// E-mail of the sandbox administrator.
    #[serde(default = "default_email")]
    pub admin_email: String,
}

fn default_admin() -> String {
    "understudy".into()
}

fn default_email() -> String {
    "sandbox@understudy.invalid".into()
}

impl ProvisionSpec {
    pub fn parse(spec: &Value) -> Result<ProvisionSpec, SpecError> {
        let spec: ProvisionSpec = serde_json::from_value(spec.clone()).map_err(|e| {
            SpecError::new(format!(
                "provision: {e} (expected {{\"bundle\": DIR, \"ttl_hours\": N?, \"site\": NAME?}})"
            ))
        })?;
        if let Some(bundle) = &spec.bundle {
            if !bundle.starts_with('/') {
                return Err(SpecError::new(
                    "provision: bundle must be an absolute path the worker can read",
                ));
            }
        }
        if let Some(site) = &spec.site {
            if site.is_empty() || site.len() > 100 || site.chars().any(char::is_control) {
                return Err(SpecError::new("provision: site must be 1-100 characters"));
            }
        }
        if spec.ttl_hours == Some(0) || spec.ttl_hours.unwrap_or(1) > 24 * 365 {
            return Err(SpecError::new("provision: ttl_hours must be 1..=8760"));
        }
        let login_ok = (1..=60).contains(&spec.admin_user.len())
            && spec
                .admin_user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
        if !login_ok {
            return Err(SpecError::new(
                "provision: admin_user must be 1-60 letters, digits, '-', '_', '.' or '@'",
            ));
        }
        if !spec.admin_email.contains('@') || spec.admin_email.len() > 100 {
            return Err(SpecError::new("provision: admin_email is not an e-mail"));
        }
        Ok(spec)
    }
}

/// `{"action": "destroy", "id": "sb-…"}` or `{"action": "reap"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase", deny_unknown_fields)]
pub enum SandboxSpec {
    /// Remove one sandbox's containers, network and volume; the record stays, `destroyed`.
    Destroy { id: String },
    /// Destroy expired sandboxes; clean what drifted (containers removed by hand, orphans).
    Reap {
        /// Pretend the time is this (RFC 3339), for tests and "what would expire by then".
        #[serde(default)]
        now: Option<chrono::DateTime<chrono::Utc>>,
    },
}

impl SandboxSpec {
    pub fn parse(spec: &Value) -> Result<SandboxSpec, SpecError> {
        let spec: SandboxSpec = serde_json::from_value(spec.clone()).map_err(|e| {
            SpecError::new(format!(
                "sandbox: {e} (expected {{\"action\": \"destroy\", \"id\": \"sb-…\"}} or {{\"action\": \"reap\"}})"
            ))
        })?;
        if let SandboxSpec::Destroy { id } = &spec {
            if !is_sandbox_id(id) {
                return Err(SpecError::new(format!(
                    "sandbox: {id:?} is not a sandbox id (sb-…)"
                )));
            }
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn specs_parse_and_refuse() {
        let spec = ProvisionSpec::parse(&json!({"bundle": "/tmp/b"})).unwrap();
        assert_eq!(spec.admin_user, "understudy");
        assert!(ProvisionSpec::parse(&json!({"bundle": "rel/b"})).is_err());
        assert!(ProvisionSpec::parse(&json!({"bundle": "/b", "ttl_hours": 0})).is_err());
        assert!(ProvisionSpec::parse(&json!({"bundle": "/b", "admin_user": "a b"})).is_err());
        assert!(ProvisionSpec::parse(&json!({"bundle": "/b", "x": 1})).is_err());
        assert!(matches!(
            SandboxSpec::parse(&json!({"action": "reap"})).unwrap(),
            SandboxSpec::Reap { now: None }
        ));
        assert!(SandboxSpec::parse(&json!({"action": "destroy", "id": "sb-abcdef123456"})).is_ok());
        assert!(SandboxSpec::parse(&json!({"action": "destroy", "id": "../x"})).is_err());
    }
}
