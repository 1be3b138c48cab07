//! Provision settings (`[provision]` in `understudy.toml`, `UNDERSTUDY_PROVISION__*` in the
//! environment): which images, where ports are published, resource limits, deadlines.

use serde::{Deserialize, Serialize};

use crate::SpecError;

/// How sandboxes are made. Every field has a default that works on a development machine where
/// `scripts/images/build.sh` has run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ProvisionConfig {
    /// The Docker engine: `unix:///path/to/docker.sock`.
    pub docker_host: String,
    /// WordPress image (Apache + PHP), e.g. `understudy/wordpress:local` or `wordpress:6-apache`.
    pub wordpress_image: String,
    /// Database image, e.g. `understudy/mariadb:local` or `mariadb:11`.
    pub mariadb_image: String,
    /// Pull an image that the engine does not have (off: images are built locally).
    pub pull_missing: bool,
    /// Host address the WordPress port is published on.
    pub bind_host: String,
    /// Host name in the sandbox URL (`http://<public_host>:<port>`).
    pub public_host: String,
    /// Host ports handed to sandboxes, inclusive.
    pub port_min: u16,
    pub port_max: u16,
    /// Memory limit per container, MiB.
    pub wordpress_memory_mb: u64,
    pub mariadb_memory_mb: u64,
    /// CPU limit per container (1.0 = one core).
    pub cpus: f64,
    /// Sandbox lifetime when the spec gives none.
    pub default_ttl_hours: u64,
    /// How long the database and WordPress get to answer after start.
    pub ready_timeout_secs: u64,
    /// Separates the sandboxes of several Understudy deployments sharing one Docker engine: the
    /// reaper only touches containers labelled with its own owner.
    pub owner: String,
}

impl Default for ProvisionConfig {
    fn default() -> Self {
        ProvisionConfig {
            docker_host: "unix:///var/run/docker.sock".into(),
            wordpress_image: "understudy/wordpress:local".into(),
            mariadb_image: "understudy/mariadb:local".into(),
            pull_missing: false,
            bind_host: "127.0.0.1".into(),
            public_host: "127.0.0.1".into(),
            port_min: 20_000,
            port_max: 20_999,
            wordpress_memory_mb: 512,
            mariadb_memory_mb: 512,
            cpus: 1.0,
            default_ttl_hours: 7 * 24,
            ready_timeout_secs: 180,
            owner: "understudy".into(),
        }
    }
}

impl ProvisionConfig {
    /// Refuses settings that cannot work, naming the key.
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |key: &str, why: &str| Err(SpecError::new(format!("provision.{key}: {why}")));
        if !self.docker_host.starts_with("unix://") {
            return bad("docker_host", "only unix:// sockets are supported");
        }
        if self.wordpress_image.trim().is_empty() || self.mariadb_image.trim().is_empty() {
            return bad("wordpress_image", "image names must not be empty");
        }
        if self.port_min == 0 || self.port_min > self.port_max {
            return bad("port_min", "need 0 < port_min <= port_max");
        }
        if self.wordpress_memory_mb < 64 || self.mariadb_memory_mb < 64 {
            return bad("wordpress_memory_mb", "at least 64 MiB per container");
        }
        if !(self.cpus > 0.0 && self.cpus <= 64.0) {
            return bad("cpus", "must be in (0, 64]");
        }
        if self.ready_timeout_secs == 0 {
            return bad("ready_timeout_secs", "must be positive");
        }
        let owner_ok = !self.owner.is_empty()
            && self.owner.len() <= 40
            && self
                .owner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !owner_ok {
            return bad("owner", "1-40 letters, digits, '-' or '_'");
        }
        Ok(())
    }

    /// The sandbox URL for a published port.
    pub fn url_for(&self, port: u16) -> String {
        format!("http://{}:{port}", self.public_host)
    }
}
