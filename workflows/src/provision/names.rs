//! Deterministic names and labels of a sandbox's Docker objects, derived from the sandbox id
//! (itself derived from the job id), so a re-run step finds what an earlier attempt created.

use std::collections::HashMap;
use uuid::Uuid;

/// Label every object of a sandbox carries: its sandbox id.
pub const LABEL_SANDBOX: &str = "understudy.sandbox";
/// The deployment that owns the object (`provision.owner`).
pub const LABEL_OWNER: &str = "understudy.owner";
pub const LABEL_JOB: &str = "understudy.job";
pub const LABEL_SITE: &str = "understudy.site";
pub const LABEL_EXPIRES: &str = "understudy.expires-at";
pub const LABEL_ROLE: &str = "understudy.role";

/// A sandbox id for a job: `sb-` and the job id's last 12 hex digits (the random part of a
/// UUIDv7).
pub fn sandbox_id(job: Uuid) -> String {
    let hex = job.simple().to_string();
    format!("sb-{}", &hex[hex.len() - 12..])
}

/// True for strings shaped like a sandbox id (`sb-` and 6-32 lowercase letters or digits).
pub fn is_sandbox_id(s: &str) -> bool {
    s.strip_prefix("sb-").is_some_and(|rest| {
        (6..=32).contains(&rest.len())
            && rest
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    })
}

/// The Docker object names of one sandbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Names {
    pub sandbox: String,
    pub network: String,
    pub db_container: String,
    pub db_volume: String,
    pub wp_container: String,
}

impl Names {
    pub fn new(sandbox: &str) -> Names {
        let base = format!("understudy-{sandbox}");
        Names {
            sandbox: sandbox.to_string(),
            network: base.clone(),
            db_container: format!("{base}-db"),
            db_volume: format!("{base}-db"),
            wp_container: format!("{base}-wp"),
        }
    }
}

/// The labels of a sandbox's objects.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Labels {
    pub sandbox: String,
    pub owner: String,
    pub job: Uuid,
    pub site: String,
    pub expires_at: String,
}

impl Labels {
    /// As Docker labels, with the object's role (`network`, `database`, `wordpress`, ...).
    pub fn with_role(&self, role: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_SANDBOX.to_string(), self.sandbox.clone()),
            (LABEL_OWNER.to_string(), self.owner.clone()),
            (LABEL_JOB.to_string(), self.job.to_string()),
            (LABEL_SITE.to_string(), self.site.clone()),
            (LABEL_EXPIRES.to_string(), self.expires_at.clone()),
            (LABEL_ROLE.to_string(), role.to_string()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_and_ids_valid() {
        let job = Uuid::parse_str("01936f0e-2b7a-7c3e-9a41-6a3e2f1d0c9b").unwrap();
        let id = sandbox_id(job);
        assert_eq!(id, "sb-6a3e2f1d0c9b");
        assert!(is_sandbox_id(&id));
        assert!(!is_sandbox_id("sb-../x"));
        assert!(!is_sandbox_id("xx-123456"));
        let names = Names::new(&id);
        assert_eq!(names, Names::new(&sandbox_id(job)));
        assert_eq!(names.wp_container, "understudy-sb-6a3e2f1d0c9b-wp");
    }
}
