//! The two containers of a sandbox, configured for the official images' environment variables
//! (so `wordpress:6-apache` / `mariadb:11` work as well as Understudy's local images), and the
//! WordPress host port: chosen from the configured range, never one a live sandbox or another
//! container holds, and re-chosen when the engine finds it taken.

use bollard::container::Config;
use bollard::models::{HostConfig, Mount, MountTypeEnum, PortBinding, RestartPolicy};
use bollard::Docker;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};

use super::config::ProvisionConfig;
use super::engine::{self, ContainerRef};
use super::names::{Labels, Names};
use super::registry;
use crate::StepError;

/// Database name and user inside the sandbox's database server.
pub const DB_NAME: &str = "wordpress";
pub const DB_USER: &str = "wordpress";

fn limits(config: &ProvisionConfig, memory_mb: u64, network: &str) -> HostConfig {
    HostConfig {
        memory: Some((memory_mb * 1024 * 1024) as i64),
        nano_cpus: Some((config.cpus * 1e9) as i64),
        network_mode: Some(network.to_string()),
        restart_policy: Some(RestartPolicy {
            name: Some(bollard::models::RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        }),
        ..Default::default()
    }
}

/// The database container: a MariaDB server with a database, a user and a data volume.
pub async fn ensure_database(
    docker: &Docker,
    config: &ProvisionConfig,
    names: &Names,
    labels: &Labels,
    db_password: &SecretString,
) -> Result<ContainerRef, StepError> {
    engine::ensure_volume(docker, &names.db_volume, labels.with_role("database-data")).await?;
    let mut host = limits(config, config.mariadb_memory_mb, &names.network);
    host.mounts = Some(vec![Mount {
        target: Some("/var/lib/mysql".into()),
        source: Some(names.db_volume.clone()),
        typ: Some(MountTypeEnum::VOLUME),
        ..Default::default()
    }]);
    let container = Config {
        image: Some(config.mariadb_image.clone()),
        env: Some(vec![
            format!("MARIADB_DATABASE={DB_NAME}"),
            format!("MARIADB_USER={DB_USER}"),
            format!("MARIADB_PASSWORD={}", db_password.expose_secret()),
            "MARIADB_RANDOM_ROOT_PASSWORD=1".into(),
        ]),
        labels: Some(labels.with_role("database")),
        host_config: Some(host),
        ..Default::default()
    };
    engine::ensure_container(docker, &names.db_container, container).await
}

/// What the WordPress step leaves behind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WordPressContainer {
    pub container: ContainerRef,
    pub port: u16,
    pub url: String,
}

fn wordpress_config(
    config: &ProvisionConfig,
    names: &Names,
    labels: &Labels,
    db_password: &SecretString,
    port: u16,
) -> Config<String> {
    let url = config.url_for(port);
    // Read by wp-config.php at every request (official image: WORDPRESS_CONFIG_EXTRA too).
    let extra = format!(
        "define('WP_HOME', '{url}'); define('WP_SITEURL', '{url}'); \
         define('WP_ENVIRONMENT_TYPE', 'local'); define('DISABLE_WP_CRON', true); \
         define('AUTOMATIC_UPDATER_DISABLED', true);"
    );
    let mut host = limits(config, config.wordpress_memory_mb, &names.network);
    host.port_bindings = Some(HashMap::from([(
        "80/tcp".to_string(),
        Some(vec![PortBinding {
            host_ip: Some(config.bind_host.clone()),
            host_port: Some(port.to_string()),
        }]),
    )]));
    Config {
        image: Some(config.wordpress_image.clone()),
        env: Some(vec![
            format!("WORDPRESS_DB_HOST={}", names.db_container),
            format!("WORDPRESS_DB_USER={DB_USER}"),
            format!("WORDPRESS_DB_PASSWORD={}", db_password.expose_secret()),
            format!("WORDPRESS_DB_NAME={DB_NAME}"),
            format!("WORDPRESS_CONFIG_EXTRA={extra}"),
        ]),
        exposed_ports: Some(HashMap::from([("80/tcp".to_string(), HashMap::new())])),
        labels: Some(labels.with_role("wordpress")),
        host_config: Some(host),
        ..Default::default()
    }
}

/// The host port an existing container publishes port 80 on.
async fn published_port(docker: &Docker, name: &str) -> Result<Option<u16>, StepError> {
    let inspect = match docker
        .inspect_container(name, None::<bollard::container::InspectContainerOptions>)
        .await
    {
        Ok(c) => c,
        Err(e) if engine::status(&e) == Some(404) => return Ok(None),
        Err(e) => return Err(engine::classify(e, &format!("inspecting container {name}"))),
    };
    Ok(inspect
        .host_config
        .and_then(|h| h.port_bindings)
        .and_then(|b| b.get("80/tcp").cloned().flatten())
        .and_then(|v| v.into_iter().next())
        .and_then(|b| b.host_port)
        .and_then(|p| p.parse().ok()))
}

/// Host ports published by any container of the engine (ours or not).
async fn engine_ports(docker: &Docker) -> Result<HashSet<u16>, StepError> {
    let containers = docker
        .list_containers(Some(bollard::container::ListContainersOptions::<String> {
            all: true,
            ..Default::default()
        }))
        .await
        .map_err(|e| engine::classify(e, "listing containers"))?;
    Ok(containers
        .into_iter()
        .flat_map(|c| c.ports.unwrap_or_default())
        .filter_map(|p| p.public_port)
        .collect())
}

/// Ports to try, starting at an offset derived from the sandbox id so concurrent jobs spread.
fn candidates(config: &ProvisionConfig, sandbox: &str) -> Vec<u16> {
    let span = (config.port_max - config.port_min) as u64 + 1;
    let seed = sandbox.bytes().fold(1469598103934665603u64, |h, b| {
        (h ^ b as u64).wrapping_mul(1099511628211)
    });
    (0..span)
        .map(|i| config.port_min + ((seed + i) % span) as u16)
        .collect()
}

fn port_is_free(bind_host: &str, port: u16) -> bool {
    std::net::TcpListener::bind((bind_host, port)).is_ok()
}

fn port_taken(e: &StepError) -> bool {
    let text = e.to_string();
    text.contains("port is already allocated") || text.contains("address already in use")
}

/// Finds the sandbox's WordPress container or creates it on a free port, and starts it.
pub async fn ensure_wordpress(
    docker: &Docker,
    db: &PgPool,
    config: &ProvisionConfig,
    names: &Names,
    labels: &Labels,
    db_password: &SecretString,
) -> Result<WordPressContainer, StepError> {
    if let Some(port) = published_port(docker, &names.wp_container).await? {
        let url = config.url_for(port);
        if !registry::claim_port(db, &names.sandbox, port, &url).await? {
            return Err(StepError::Permanent(format!(
                "container {} publishes port {port}, which another sandbox holds",
                names.wp_container
            )));
        }
        let container = engine::ensure_container(
            docker,
            &names.wp_container,
            wordpress_config(config, names, labels, db_password, port),
        )
        .await?;
        return Ok(WordPressContainer {
            container,
            port,
            url,
        });
    }
    let mut taken: HashSet<u16> = registry::ports_in_use(db).await?.into_iter().collect();
    taken.extend(engine_ports(docker).await?);
    for port in candidates(config, &names.sandbox) {
        if taken.contains(&port) || !port_is_free(&config.bind_host, port) {
            continue;
        }
        let url = config.url_for(port);
        if !registry::claim_port(db, &names.sandbox, port, &url).await? {
            continue;
        }
        let spec = wordpress_config(config, names, labels, db_password, port);
        match engine::ensure_container(docker, &names.wp_container, spec).await {
            Ok(container) => {
                return Ok(WordPressContainer {
                    container,
                    port,
                    url,
                })
            }
            // Someone bound it between our check and the start: next port.
            Err(e) if port_taken(&e) => {
                tracing::info!(port, sandbox = %names.sandbox, "host port taken meanwhile; trying another");
                engine::remove_container(docker, &names.wp_container).await?;
                taken.insert(port);
            }
            Err(e) => return Err(e),
        }
    }
    Err(StepError::Retryable(format!(
        "no free host port in {}..={} (provision.port_min / port_max)",
        config.port_min, config.port_max
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_cover_the_range_once() {
        let config = ProvisionConfig {
            port_min: 100,
            port_max: 109,
            ..Default::default()
        };
        let mut ports = candidates(&config, "sb-abcdef");
        assert_ne!(ports[0], candidates(&config, "sb-abcdeg")[0]);
        ports.sort();
        assert_eq!(ports, (100..=109).collect::<Vec<_>>());
    }
}
