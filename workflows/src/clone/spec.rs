//! The clone job's spec: which site, which action, and the options.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sites::validate_name;
use crate::SpecError;

/// What a clone job does to a site's staging environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Copy production to a new staging environment.
    Create,
    /// Copy production again over an existing staging environment (swapped in at the end).
    Refresh,
    /// Remove the staging database, uploads copy and environment record.
    Destroy,
    /// Push staging tables to production: backup first, load aside, swap atomically.
    Promote,
    /// Load a production backup made by a promote back into production.
    Restore,
}

/// `{"action": "create"|"refresh"|"destroy", "site": "<registered name>", ...}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloneSpec {
    pub action: Action,
    /// A site registered with `understudy site add` (its credentials stay encrypted in the
    /// registry: nothing secret travels in the message).
    pub site: String,
    /// The site's settings inline (database URLs sealed), for producers that do not register
    /// sites first: the job registers them under `site` in its first step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_spec: Option<super::inline_site::InlineSite>,
    /// Replace personal data (users, comments, orders) on the copy (see `clone::anonymize`).
    #[serde(default)]
    pub anonymize: bool,
    /// With `anonymize`: the administrator (login) whose login and password stay usable;
    /// default the administrator with the lowest user ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_admin: Option<String>,
    /// Tables copied at once (PostgreSQL; MySQL/MariaDB with [`Snapshot::PerTable`]).
    #[serde(default = "default_parallel")]
    pub parallel_tables: usize,
    /// Option names whose values are never rewritten (besides `wc_subscriptions_siteurl`).
    #[serde(default)]
    pub keep_options: Vec<String>,
    /// Promote: table names without prefix (`posts`, `postmeta`); default every table but the
    /// live ones. Restore: the backup's tables to put back; default all it holds.
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    /// Promote: table names without prefix left out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Promote: allow tables that change on production (users, comments, orders).
    #[serde(default)]
    pub include_live: bool,
    /// Create/refresh: `true` puts generated HTTP basic-auth credentials in front of staging,
    /// `false` removes them; absent keeps what the environment has (see `clone::basic_auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<bool>,
    /// PostgreSQL, production and staging on one server: copy with `CREATE DATABASE … TEMPLATE`
    /// when production has no other session (see `clone::template`); `false` always streams.
    #[serde(default = "default_true")]
    pub template: bool,
    /// Use the fast path even when most of production holds its host (see `clone::density`:
    /// rewriting in place is then slower than streaming).
    #[serde(default)]
    pub force_template: bool,
    /// Uploads: compare every reused file's content, not only files below
    /// `uploads::CONTENT_CHECK_BELOW` (slower on large libraries; rsync's `--checksum`).
    #[serde(default)]
    pub checksum: bool,
    /// Restore: the backup file to load (from `understudy site backups`).
    #[serde(default)]
    pub backup: Option<String>,
    /// MySQL/MariaDB create/refresh: how the tables are read (PostgreSQL always reads one
    /// exported snapshot).
    #[serde(default)]
    pub snapshot: Snapshot,
}

/// How a MySQL/MariaDB copy reads production.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Snapshot {
    /// All tables in one transaction (one `mysqldump --single-transaction`): staging is
    /// production at one moment, and a crashed copy starts over.
    #[default]
    Consistent,
    /// One transaction per table, `parallel_tables` at a time, resumed table by table; rows
    /// written to production during the copy can leave references between tables dangling.
    PerTable,
}

fn default_true() -> bool {
    true
}

fn default_parallel() -> usize {
    2
}

impl CloneSpec {
    pub fn parse(spec: &Value) -> Result<CloneSpec, SpecError> {
        super::inline_site::refuse_clear_secrets(spec)?;
        let spec: CloneSpec = serde_json::from_value(spec.clone()).map_err(|e| {
            SpecError::new(format!(
                "clone: {e} (expected {{\"action\": \"create\"|\"refresh\"|\"destroy\", \"site\": NAME}})"
            ))
        })?;
        validate_name(&spec.site).map_err(|e| SpecError::new(format!("clone: {e}")))?;
        if !(1..=8).contains(&spec.parallel_tables) {
            return Err(SpecError::new("clone: parallel_tables must be 1..=8"));
        }
        if let Some(login) = &spec.keep_admin {
            if !spec.anonymize {
                return Err(SpecError::new(
                    "clone: keep_admin only makes sense with \"anonymize\": true",
                ));
            }
            if login.is_empty() || login.len() > 60 || login.chars().any(char::is_control) {
                return Err(SpecError::new(format!(
                    "clone: keep_admin {login:?} is not a WordPress login"
                )));
            }
        }
        if spec.anonymize && !matches!(spec.action, Action::Create | Action::Refresh) {
            return Err(SpecError::new(
                "clone: anonymize applies to create and refresh only",
            ));
        }
        if spec.basic_auth.is_some() && !matches!(spec.action, Action::Create | Action::Refresh) {
            return Err(SpecError::new(
                "clone: basic_auth applies to create and refresh only",
            ));
        }
        if let Some(site) = &spec.site_spec {
            if !matches!(
                spec.action,
                Action::Create | Action::Refresh | Action::Destroy
            ) {
                return Err(SpecError::new(
                    "clone: site_spec applies to create, refresh and destroy; promote and restore \
                     take a registered site",
                ));
            }
            site.check()?;
        }
        if spec.snapshot != Snapshot::default()
            && !matches!(spec.action, Action::Create | Action::Refresh)
        {
            return Err(SpecError::new(
                "clone: snapshot applies to create and refresh only",
            ));
        }
        if spec.action == Action::Restore && spec.backup.is_none() {
            return Err(SpecError::new(
                "clone: restore needs \"backup\": the backup file path",
            ));
        }
        for name in spec.tables.iter().flatten().chain(&spec.exclude) {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.is_empty() {
                return Err(SpecError::new(format!(
                    "clone: table {name:?} is not a table name"
                )));
            }
        }
        for name in &spec.keep_options {
            if name.is_empty() || name.len() > 191 || name.chars().any(char::is_control) {
                return Err(SpecError::new(format!(
                    "clone: keep_options entry {name:?} is not an option name"
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
    fn anonymize_options_are_checked() {
        let ok = CloneSpec::parse(
            &json!({"action": "create", "site": "shop", "anonymize": true,
            "keep_admin": "ops"}),
        )
        .unwrap();
        assert!(ok.anonymize);
        assert_eq!(ok.keep_admin.as_deref(), Some("ops"));
        for bad in [
            json!({"action": "create", "site": "shop", "keep_admin": "ops"}),
            json!({"action": "create", "site": "shop", "anonymize": true, "keep_admin": ""}),
            json!({"action": "destroy", "site": "shop", "anonymize": true}),
            json!({"action": "promote", "site": "shop", "snapshot": "per-table"}),
            json!({"action": "create", "site": "shop", "snapshot": "per_table"}),
        ] {
            assert!(CloneSpec::parse(&bad).is_err(), "{bad}");
        }
        let plain = CloneSpec::parse(&json!({"action": "refresh", "site": "shop"})).unwrap();
        assert!(!plain.anonymize && plain.keep_admin.is_none());
    }

    #[test]
    fn the_published_schema_lists_exactly_the_fields_parse_accepts() {
        let schema: Value = serde_json::from_str(include_str!(
            "../../../worker/schema/clone-spec.v1.schema.json"
        ))
        .expect("schema JSON");
        let keys = |v: &Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let site_spec = json!({"production_url": "https://shop.test", "db_url_sealed": "AAAA",
            "uploads_dir": "/srv/up", "table_prefix": "wp_", "staging_url": "https://s.shop.test",
            "staging_db_url_sealed": "AAAA", "staging_uploads_dir": "/srv/s", "tags": ["a"],
            "allow_same_url": false});
        let full = json!({"action": "create", "site": "shop", "site_spec": site_spec,
            "anonymize": true, "keep_admin": "ops", "parallel_tables": 2, "keep_options": ["x"],
            "tables": ["posts"], "exclude": ["users"], "include_live": false, "basic_auth": true,
            "template": true, "force_template": false, "checksum": false, "backup": "/b.sql",
            "snapshot": "consistent"});
        // Every field serde knows is in the schema and nothing else: serde refuses unknown fields.
        let parsed: CloneSpec = serde_json::from_value(full.clone()).expect("every field");
        assert_eq!(keys(&schema["properties"]), keys(&full));
        assert_eq!(
            keys(&schema["properties"]["site_spec"]["properties"]),
            keys(&site_spec)
        );
        assert_eq!(
            serde_json::to_value(parsed.site_spec.unwrap()).unwrap(),
            site_spec
        );
        assert_eq!(schema["additionalProperties"], false);
        let mut unknown = full.clone();
        unknown["color"] = json!("red");
        assert!(CloneSpec::parse(&unknown).is_err());
        // `required` is what parsing cannot do without.
        for field in ["action", "site"] {
            let mut spec = json!({"action": "create", "site": "shop"});
            spec.as_object_mut().unwrap().remove(field);
            assert!(CloneSpec::parse(&spec).is_err(), "{field}");
        }
        assert_eq!(schema["required"], json!(["action", "site"]));
    }
}
