//! The `onboard` job's spec: the export spec's fields (site URL, user, sealed Application
//! Password, media options) and the provision spec's (sandbox label, TTL, admin login), in one
//! flat object so a web app sends one message:
//!
//! ```json
//! {"url": "https://example.com", "user": "admin", "app_password_sealed": "<base64>",
//!  "media": "referenced", "ttl_hours": 48, "site": "example", "admin_user": "understudy"}
//! ```
//! `bundle` is refused: the chain exports the bundle itself (into `out_dir`, default
//! `<data_dir>/exports/<job id>`).

use serde_json::{Map, Value};

use crate::export::ExportSpec;
use crate::provision::spec::ProvisionSpec;
use crate::SpecError;

/// Keys that belong to the provision half; every other key goes to the export half.
const PROVISION_KEYS: &[&str] = &["site", "ttl_hours", "admin_user", "admin_email"];

/// A parsed, validated onboard spec.
#[derive(Debug, Clone)]
pub struct OnboardSpec {
    /// The export half, as the `export` kind would get it.
    pub export: Value,
    pub export_parsed: ExportSpec,
    /// The provision half, without `bundle` (set once the export is done).
    pub provision: ProvisionSpec,
}

/// An export or provision error message, reworded as the onboard kind's.
fn reword(e: SpecError) -> SpecError {
    let text = e.0;
    let rest = text
        .strip_prefix("export: ")
        .or_else(|| text.strip_prefix("provision: "))
        .unwrap_or(&text);
    SpecError::new(format!("onboard: {rest}"))
}

impl OnboardSpec {
    pub fn parse(spec: &Value) -> Result<OnboardSpec, SpecError> {
        let Some(object) = spec.as_object() else {
            return Err(SpecError::new(
                "onboard: the spec must be a JSON object ({\"url\": .., \"user\": .., \"app_password_sealed\": ..})",
            ));
        };
        if object.contains_key("bundle") {
            return Err(SpecError::new(
                "onboard: bundle is not accepted (the chain exports the site itself); \
                 use the provision kind to make a sandbox from an existing bundle",
            ));
        }
        let (mut export, mut provision) = (Map::new(), Map::new());
        for (key, value) in object {
            if PROVISION_KEYS.contains(&key.as_str()) {
                provision.insert(key.clone(), value.clone());
            } else {
                export.insert(key.clone(), value.clone());
            }
        }
        let export = Value::Object(export);
        let export_parsed = ExportSpec::parse(&export).map_err(reword)?;
        let provision = ProvisionSpec::parse(&Value::Object(provision)).map_err(reword)?;
        Ok(OnboardSpec {
            export,
            export_parsed,
            provision,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sealed() -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([1u8; 40])
    }

    #[test]
    fn the_spec_splits_into_export_and_provision_halves() {
        let spec = OnboardSpec::parse(&json!({"url": "https://x.test", "user": "admin",
            "app_password_sealed": sealed(), "media": "all", "ttl_hours": 48, "site": "x"}))
        .unwrap();
        assert_eq!(spec.export["media"], "all");
        assert!(spec.export.get("ttl_hours").is_none());
        assert_eq!(spec.provision.ttl_hours, Some(48));
        assert_eq!(spec.provision.site.as_deref(), Some("x"));
        assert!(spec.provision.bundle.is_none());
        assert_eq!(spec.provision.admin_user, "understudy");
    }

    #[test]
    fn bad_specs_are_refused_with_the_onboard_name() {
        let cases = [
            (
                json!({"url": "not a url", "user": "a", "app_password_sealed": sealed()}),
                "onboard: url",
            ),
            (
                json!({"url": "ftp://x.test", "user": "a", "app_password_sealed": sealed()}),
                "http:// or https://",
            ),
            (
                json!({"url": "https://x.test", "user": "a", "app_password": "secret-pw"}),
                "in clear",
            ),
            (
                json!({"url": "https://x.test", "user": "a", "app_password_sealed": sealed(), "ttl_hours": 0}),
                "onboard: ttl_hours",
            ),
            (
                json!({"url": "https://x.test", "user": "a", "app_password_sealed": sealed(), "bundle": "/b"}),
                "bundle is not accepted",
            ),
            (json!([1]), "JSON object"),
        ];
        for (spec, want) in cases {
            let err = OnboardSpec::parse(&spec).unwrap_err().to_string();
            assert!(err.contains(want), "{spec} -> {err}");
            assert!(!err.contains("secret-pw"), "{err}");
        }
    }

    #[test]
    fn the_published_schema_lists_exactly_what_parse_accepts() {
        let schema: Value = serde_json::from_str(include_str!(
            "../../../worker/schema/onboard-spec.v1.schema.json"
        ))
        .unwrap();
        let properties = schema["properties"].as_object().unwrap();
        let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
        names.sort();
        let full = json!({"url": "https://x.test/blog", "user": "a", "app_password_sealed": sealed(),
            "media": "all", "out_dir": "/tmp/x", "media_concurrency": 2, "max_media_bytes": 10,
            "skip_mime": ["video/*"], "max_json_bytes": 2048, "request_timeout_secs": 5,
            "retry": {"max_tries": 2, "min_delay_ms": 1, "max_delay_ms": 2},
            "site": "x", "ttl_hours": 48, "admin_user": "owner", "admin_email": "o@x.test"});
        let full = full.as_object().unwrap();
        let mut fields: Vec<&str> = full.keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(
            names, fields,
            "schema properties vs. a spec with every field"
        );
        let parsed = OnboardSpec::parse(&Value::Object(full.clone())).unwrap();
        assert_eq!(parsed.provision.admin_user, "owner");
        assert_eq!(parsed.export_parsed.media_concurrency, 2);

        // additionalProperties: false, like parse; `bundle` (a provision field) is not one.
        assert_eq!(schema["additionalProperties"], false);
        for extra in ["bundle", "colour"] {
            let mut spec = full.clone();
            spec.insert(extra.into(), json!("/b"));
            assert!(OnboardSpec::parse(&Value::Object(spec)).is_err(), "{extra}");
        }
        // Required: exactly the fields without which parse refuses.
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for name in &names {
            let mut spec = full.clone();
            spec.remove(*name);
            let refused = OnboardSpec::parse(&Value::Object(spec)).is_err();
            assert_eq!(refused, required.contains(name), "{name}");
        }
        // The export half is the export schema's, word for word.
        let export: Value = serde_json::from_str(include_str!(
            "../../../worker/schema/export-spec.v1.schema.json"
        ))
        .unwrap();
        for (name, definition) in export["properties"].as_object().unwrap() {
            assert_eq!(properties.get(name), Some(definition), "{name}");
        }
        assert_eq!(schema["required"], export["required"]);
        // The provision half's PROVISION_KEYS are all published.
        for key in PROVISION_KEYS {
            assert!(properties.contains_key(*key), "{key}");
        }
    }
}
