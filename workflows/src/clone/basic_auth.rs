//! Generated HTTP basic-auth credentials in front of a staging copy (`--basic-auth`).
//!
//! The login is `staging`, the password 24 random letters and digits, stored sealed
//! (AES-256-GCM) with the staging environment and shown only by `understudy staging credentials
//! SITE`. They are applied as a must-use plugin, `<wp-content>/mu-plugins/understudy-basic-auth.php`,
//! which holds only a salted SHA-256 of the password: it works on Apache + mod_php (and PHP-FPM,
//! through `HTTP_AUTHORIZATION`) without touching the site's `.htaccess` or server config, and
//! lets WP-CLI through. It guards what WordPress serves (pages, admin, REST, feeds), not static
//! files (uploads, theme assets) the web server sends itself.
//!
//! Basic auth takes the `Authorization` header, which WordPress Application Passwords (REST
//! clients) also use: with it on, those clients cannot authenticate (core Trac #51939).
//!
//! On refresh the credentials are kept; `"basic_auth": false` removes them and the plugin.

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use crate::secrets::SecretBox;

pub const USER: &str = "staging";
pub const PLUGIN_FILE: &str = "understudy-basic-auth.php";

/// What the `basic-auth` step did (checkpointed: the password only sealed).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BasicAuth {
    /// The login when basic auth is on.
    pub user: Option<String>,
    /// The sealed password, base64 (for the `record` step; never in the job result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    /// The plugin written, when on.
    pub plugin: Option<String>,
    /// Whether an earlier plugin was removed.
    pub removed: bool,
}

impl BasicAuth {
    /// For the job result: the login and how to read the password, never the password.
    pub fn summary(&self, site: &str) -> serde_json::Value {
        match &self.user {
            Some(user) => serde_json::json!({
                "user": user,
                "password": format!("understudy staging credentials {site}"),
                "plugin": self.plugin,
                "note": "basic auth blocks WordPress Application Passwords (REST clients send the same Authorization header)",
            }),
            None => serde_json::json!({ "enabled": false, "removed": self.removed }),
        }
    }
}

/// `<wp-content>/mu-plugins` when the staging uploads dir is `<wp-content>/uploads`.
pub fn mu_plugins_dir(staging_uploads: &Path) -> Option<PathBuf> {
    if staging_uploads.file_name().and_then(|n| n.to_str()) != Some("uploads") {
        return None;
    }
    Some(staging_uploads.parent()?.join("mu-plugins"))
}

/// A fresh random password (24 letters and digits, ~143 bits).
pub fn generate_password() -> String {
    let mut rng = rand::rng();
    (0..24)
        .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The plugin source: only the login, a random salt and SHA-256(salt || password).
pub fn plugin_source(user: &str, password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = hex(&salt);
    let hash = hex(&Sha256::digest(format!("{salt}{password}").as_bytes()));
    format!(
        r#"<?php
/**
 * Plugin Name: Understudy staging basic auth
 * Description: Written by Understudy: HTTP basic auth in front of this staging copy. The password: `understudy staging credentials <site>`.
 */
if (defined('WP_CLI') && WP_CLI) {{
    return;
}}
(function () {{
    $user = '{user}';
    $salt = '{salt}';
    $hash = '{hash}';
    $u = isset($_SERVER['PHP_AUTH_USER']) ? $_SERVER['PHP_AUTH_USER'] : null;
    $p = isset($_SERVER['PHP_AUTH_PW']) ? $_SERVER['PHP_AUTH_PW'] : '';
    if ($u === null) {{
        $h = isset($_SERVER['HTTP_AUTHORIZATION']) ? $_SERVER['HTTP_AUTHORIZATION']
            : (isset($_SERVER['REDIRECT_HTTP_AUTHORIZATION']) ? $_SERVER['REDIRECT_HTTP_AUTHORIZATION'] : '');
        if (stripos($h, 'basic ') === 0) {{
            $d = base64_decode(substr($h, 6), true);
            if ($d !== false && strpos($d, ':') !== false) {{
                list($u, $p) = explode(':', $d, 2);
            }}
        }}
    }}
    if ($u !== null && hash_equals($user, (string) $u) && hash_equals($hash, hash('sha256', $salt . $p))) {{
        return;
    }}
    header('WWW-Authenticate: Basic realm="Staging", charset="UTF-8"');
    http_response_code(401);
    echo "This staging copy needs a login.\n";
    exit;
}})();
"#
    )
}

/// Writes (atomically) or removes the plugin; returns its path when written.
pub fn apply(dir: &Path, credentials: Option<(&str, &str)>) -> std::io::Result<Option<PathBuf>> {
    let path = dir.join(PLUGIN_FILE);
    match credentials {
        Some((user, password)) => {
            std::fs::create_dir_all(dir)?;
            let tmp = dir.join(format!(".{PLUGIN_FILE}.tmp"));
            std::fs::write(&tmp, plugin_source(user, password))?;
            std::fs::rename(&tmp, &path)?;
            Ok(Some(path))
        }
        None => {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            Ok(None)
        }
    }
}

/// Seals a password for storage (base64 of the sealed bytes, as in checkpoints).
pub fn seal(secrets: &SecretBox, password: &str) -> String {
    super::inline_site::seal_base64(secrets, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_holds_no_password() {
        let source = plugin_source("staging", "Secret123Secret123Secret");
        assert!(!source.contains("Secret123"));
        assert!(source.contains("$user = 'staging';"));
        let p = generate_password();
        assert_eq!(p.len(), 24);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(
            mu_plugins_dir(Path::new("/srv/s/wp-content/uploads")),
            Some(PathBuf::from("/srv/s/wp-content/mu-plugins"))
        );
        assert_eq!(mu_plugins_dir(Path::new("/srv/s/media")), None);
    }
}
