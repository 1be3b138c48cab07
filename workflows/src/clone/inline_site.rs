//! A site given inline in a clone job's spec (`"site_spec": {…}`), for producers such as a web
//! app that keep their own site records: the job registers it under `site` (replacing that
//! name's settings) in its first step, then runs as for a registered site.
//!
//! Database URLs travel sealed, never in clear: `db_url_sealed` (and optionally
//! `staging_db_url_sealed`) is `base64(0x01 || nonce(12) || AES-256-GCM(url) with tag)` under the
//! workers' secrets key — the format of `export`'s `app_password_sealed`. A spec with a clear
//! `db_url`/`db`/`staging_db_url` is refused at intake.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::secrets::SecretBox;
use crate::sites::registry::SiteInput;
use crate::sites::DbUrl;
use crate::SpecError;

/// The site's settings, as `understudy site add` takes them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InlineSite {
    pub production_url: String,
    /// The production database URL, sealed (base64).
    pub db_url_sealed: String,
    pub uploads_dir: String,
    #[serde(default = "default_prefix")]
    pub table_prefix: String,
    #[serde(default)]
    pub staging_url: Option<String>,
    /// The staging database URL, sealed (base64); default `<db>_staging` on the same server.
    #[serde(default)]
    pub staging_db_url_sealed: Option<String>,
    #[serde(default)]
    pub staging_uploads_dir: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub allow_same_url: bool,
}

fn default_prefix() -> String {
    "wp_".into()
}

/// Refuses clear-text database URLs anywhere in an inline site, with what to do instead.
pub fn refuse_clear_secrets(spec: &Value) -> Result<(), SpecError> {
    let Some(site) = spec.get("site_spec") else {
        return Ok(());
    };
    for key in ["db_url", "db", "staging_db_url", "staging_db", "password"] {
        if site.get(key).is_some() {
            return Err(SpecError::new(format!(
                "clone: site_spec.{key} in clear is refused: seal the URL with the workers' secrets key \
                 into site_spec.{}_sealed (see README, \"Inline site specs\")",
                if key.starts_with("staging") { "staging_db_url" } else { "db_url" }
            )));
        }
    }
    Ok(())
}

fn decode(field: &str, value: &str) -> Result<Vec<u8>, SpecError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| SpecError::new(format!("clone: site_spec.{field} is not base64")))?;
    if bytes.len() < 1 + 12 + 16 || bytes[0] != 1 {
        return Err(SpecError::new(format!(
            "clone: site_spec.{field} is not a sealed value (0x01 || 12-byte nonce || AES-256-GCM ciphertext+tag)"
        )));
    }
    Ok(bytes)
}

impl InlineSite {
    /// Shape checks at intake (no key needed).
    pub fn check(&self) -> Result<(), SpecError> {
        decode("db_url_sealed", &self.db_url_sealed)?;
        if let Some(s) = &self.staging_db_url_sealed {
            decode("staging_db_url_sealed", s)?;
        }
        Ok(())
    }

    /// Opens the sealed URLs with the workers' key and builds the registry input.
    pub fn to_input(&self, name: &str, secrets: &SecretBox) -> Result<SiteInput, String> {
        use secrecy::ExposeSecret;
        let open = |field: &str, sealed: &str| -> Result<DbUrl, String> {
            let bytes = decode(field, sealed).map_err(|e| e.to_string())?;
            let url = secrets.open(&bytes).map_err(|_| {
                format!(
                    "site_spec.{field} cannot be opened with the workers' secrets key: seal it with \
                     the same key the workers use (secrets.key / secrets.key_file)"
                )
            })?;
            DbUrl::parse("site_spec database URL", url.expose_secret()).map_err(|e| e.to_string())
        };
        Ok(SiteInput {
            name: name.to_string(),
            production_url: self.production_url.clone(),
            db_url: open("db_url_sealed", &self.db_url_sealed)?,
            uploads_dir: self.uploads_dir.clone(),
            table_prefix: self.table_prefix.clone(),
            staging_url: self.staging_url.clone(),
            staging_db_url: self
                .staging_db_url_sealed
                .as_deref()
                .map(|s| open("staging_db_url_sealed", s))
                .transpose()?,
            staging_uploads_dir: self.staging_uploads_dir.clone(),
            tags: self.tags.clone(),
            allow_same_url: self.allow_same_url,
            identities: None,
        })
    }
}

/// Seals a secret the way producers must (for tests and the CLI): base64 of the sealed bytes.
pub fn seal_base64(secrets: &SecretBox, value: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(secrets.seal(&value.to_string().into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clear_urls_are_refused_and_sealed_ones_open() {
        let spec = json!({"site_spec": {"db_url": "postgres://u:p@h/db"}});
        let err = refuse_clear_secrets(&spec).unwrap_err().to_string();
        assert!(
            err.contains("db_url_sealed") && !err.contains("u:p"),
            "{err}"
        );
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let secrets = SecretBox::from_base64(&key).unwrap();
        let site = InlineSite {
            production_url: "https://shop.example".into(),
            db_url_sealed: seal_base64(&secrets, "postgres://u:p@127.0.0.1:5432/shop"),
            uploads_dir: "/srv/shop/wp-content/uploads".into(),
            table_prefix: "wp_".into(),
            staging_url: None,
            staging_db_url_sealed: None,
            staging_uploads_dir: None,
            tags: vec![],
            allow_same_url: false,
        };
        site.check().unwrap();
        let input = site.to_input("shop", &secrets).unwrap();
        assert_eq!(input.db_url.database, "shop");
        let other =
            SecretBox::from_base64(&base64::engine::general_purpose::STANDARD.encode([8u8; 32]))
                .unwrap();
        assert!(site
            .to_input("shop", &other)
            .unwrap_err()
            .contains("secrets key"));
        // Sealed by Python `cryptography` exactly as the README shows (same key, [7; 32]).
        let from_python = InlineSite {
            db_url_sealed: "AbVFwKwS6t9M/ExSWrAgBLQu2M1Ytc5/oeQV0wuuisFiWAmmtIJ1+YT4tMtJJ6pT3pJxV+xYgfNcZ3CP+y7L".into(),
            ..site.clone()
        };
        assert_eq!(
            from_python
                .to_input("shop", &secrets)
                .unwrap()
                .db_url
                .database,
            "shop"
        );
        let bad = InlineSite {
            db_url_sealed: "bm90IHNlYWxlZA==".into(),
            ..site
        };
        assert!(bad.check().is_err());
    }
}
