//! The `install` step: WordPress installed inside the container by PHP (`install.php`, run
//! through the exec API as www-data): the administrator with the generated password, the site
//! URL, not indexed, and an Application Password for API access, sealed into the registry.
//! Safe to re-run: an installed site keeps its content; the password is set again and the
//! Application Password replaced.

use bollard::Docker;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::exec::{self, Archive};
use crate::StepError;

/// Where Understudy's scripts go inside the container.
pub const SCRIPT_DIR: &str = "/tmp/understudy";
/// www-data in Debian and in the official images.
pub const WWW_UID: u64 = 33;

const INSTALL_PHP: &[u8] = include_bytes!("install.php");

/// What the step reports (no secrets).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Installed {
    /// False when an earlier attempt had already installed WordPress.
    pub installed: bool,
    pub admin_id: u64,
    pub admin_user: String,
}

#[derive(Deserialize)]
struct ScriptOutput {
    installed: bool,
    admin_id: u64,
    app_password: String,
}

/// The site's administrator and how to reach the site.
pub struct Admin<'a> {
    pub url: &'a str,
    pub title: &'a str,
    pub user: &'a str,
    pub email: &'a str,
    pub password: &'a SecretString,
}

/// Copies `files` (name, bytes) into [`SCRIPT_DIR`] of the container, owned by www-data.
pub async fn upload_scripts(
    docker: &Docker,
    container: &str,
    files: &[(&str, &[u8])],
) -> Result<(), StepError> {
    let mut archive = Archive::new(WWW_UID, WWW_UID);
    let io = |e: std::io::Error| StepError::Permanent(format!("building the script archive: {e}"));
    archive.dir("understudy").map_err(io)?;
    for (name, bytes) in files {
        archive
            .file(&format!("understudy/{name}"), bytes, 0o644)
            .map_err(io)?;
    }
    exec::upload(docker, container, "/tmp", archive.finish().map_err(io)?).await
}

/// Runs the installer; returns the report and the new Application Password.
pub async fn install(
    docker: &Docker,
    container: &str,
    admin: Admin<'_>,
) -> Result<(Installed, SecretString), StepError> {
    upload_scripts(docker, container, &[("install.php", INSTALL_PHP)]).await?;
    let script = format!("{SCRIPT_DIR}/install.php");
    let env = vec![
        format!("US_URL={}", admin.url),
        format!("US_TITLE={}", admin.title),
        format!("US_ADMIN_USER={}", admin.user),
        format!("US_ADMIN_EMAIL={}", admin.email),
        format!("US_ADMIN_PASSWORD={}", admin.password.expose_secret()),
    ];
    let out = exec::run(docker, container, "www-data", &["php", &script], env).await?;
    if out.exit_code != 0 {
        // A database that went away is worth another try; anything else is not.
        let tail = out.stderr_tail();
        let message = format!(
            "installing WordPress failed (exit {}): {tail}",
            out.exit_code
        );
        return Err(if tail.contains("database connection") {
            StepError::Retryable(message)
        } else {
            StepError::Permanent(message)
        });
    }
    let line = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("");
    let parsed: ScriptOutput = serde_json::from_str(line).map_err(|e| {
        StepError::Permanent(format!(
            "the installer printed no result ({e}); stderr: {}",
            out.stderr_tail()
        ))
    })?;
    Ok((
        Installed {
            installed: parsed.installed,
            admin_id: parsed.admin_id,
            admin_user: admin.user.to_string(),
        },
        SecretString::from(parsed.app_password),
    ))
}
