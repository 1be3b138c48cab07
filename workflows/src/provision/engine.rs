//! The Docker engine, through bollard: connecting, classifying its errors, and the
//! find-or-create / remove-by-label primitives every provision step is built from. Nothing here
//! knows about WordPress.

use bollard::container::{
    Config, CreateContainerOptions, InspectContainerOptions, ListContainersOptions,
    RemoveContainerOptions, StartContainerOptions,
};
use bollard::errors::Error as DockerError;
use bollard::network::{CreateNetworkOptions, InspectNetworkOptions, ListNetworksOptions};
use bollard::volume::{CreateVolumeOptions, ListVolumesOptions, RemoveVolumeOptions};
use bollard::Docker;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::config::ProvisionConfig;
use super::names::{LABEL_OWNER, LABEL_SANDBOX};
use crate::StepError;

/// Connects to the engine and agrees on an API version it speaks (20.10 speaks 1.41).
pub async fn connect(config: &ProvisionConfig) -> Result<Docker, StepError> {
    let socket = config
        .docker_host
        .strip_prefix("unix://")
        .ok_or_else(|| StepError::Permanent("provision.docker_host must be unix://…".into()))?;
    let docker = Docker::connect_with_unix(socket, 120, bollard::API_DEFAULT_VERSION)
        .map_err(|e| classify(e, &format!("connecting to the Docker engine at {socket}")))?;
    docker
        .negotiate_version()
        .await
        .map_err(|e| classify(e, &format!("the Docker engine at {socket} does not answer")))
}

/// The HTTP status of an engine error, when the engine answered.
pub fn status(e: &DockerError) -> Option<u16> {
    match e {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Engine errors as step errors: no answer or a 5xx is retryable, a 4xx is permanent.
pub fn classify(e: DockerError, what: &str) -> StepError {
    match status(&e) {
        Some(code) if code < 500 => StepError::Permanent(format!("{what}: {e}")),
        _ => StepError::Retryable(format!("{what}: {e}")),
    }
}

/// True when the engine has `image` (by name:tag or id).
pub async fn image_present(docker: &Docker, image: &str) -> Result<bool, StepError> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(true),
        Err(e) if status(&e) == Some(404) => Ok(false),
        Err(e) => Err(classify(e, &format!("inspecting image {image}"))),
    }
}

/// Pulls `image` from its registry (only with `provision.pull_missing`).
pub async fn pull(docker: &Docker, image: &str) -> Result<(), StepError> {
    use futures::TryStreamExt;
    let options = bollard::image::CreateImageOptions {
        from_image: image,
        ..Default::default()
    };
    docker
        .create_image(Some(options), None, None)
        .try_collect::<Vec<_>>()
        .await
        .map(|_| ())
        .map_err(|e| StepError::Permanent(format!("pulling image {image}: {e}")))
}

/// Finds the network `name` or creates it with `labels`; returns its id.
pub async fn ensure_network(
    docker: &Docker,
    name: &str,
    labels: HashMap<String, String>,
) -> Result<String, StepError> {
    for _ in 0..2 {
        match docker
            .inspect_network(name, None::<InspectNetworkOptions<String>>)
            .await
        {
            Ok(net) => return Ok(net.id.unwrap_or_default()),
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(classify(e, &format!("inspecting network {name}"))),
        }
        let options = CreateNetworkOptions {
            name: name.to_string(),
            check_duplicate: true,
            driver: "bridge".to_string(),
            labels: labels.clone(),
            ..Default::default()
        };
        match docker.create_network(options).await {
            Ok(created) => return Ok(created.id),
            // Created meanwhile by someone else: inspect it on the next turn.
            Err(e) if status(&e) == Some(409) => continue,
            Err(e) => return Err(classify(e, &format!("creating network {name}"))),
        }
    }
    Err(StepError::Retryable(format!(
        "network {name} keeps appearing and disappearing"
    )))
}

/// Creates the named volume unless it exists (the engine's create is find-or-create).
pub async fn ensure_volume(
    docker: &Docker,
    name: &str,
    labels: HashMap<String, String>,
) -> Result<(), StepError> {
    let options = CreateVolumeOptions {
        name: name.to_string(),
        driver: "local".to_string(),
        labels,
        ..Default::default()
    };
    docker
        .create_volume(options)
        .await
        .map(|_| ())
        .map_err(|e| classify(e, &format!("creating volume {name}")))
}

/// A container as found or created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRef {
    pub name: String,
    pub id: String,
    /// False when an earlier attempt had already created it.
    pub created: bool,
}

/// Finds the container `name` or creates it from `config`, then makes sure it runs.
pub async fn ensure_container(
    docker: &Docker,
    name: &str,
    config: Config<String>,
) -> Result<ContainerRef, StepError> {
    let mut created = false;
    let id = match inspect_id(docker, name).await? {
        Some(id) => id,
        None => {
            let options = CreateContainerOptions {
                name: name.to_string(),
                platform: None,
            };
            match docker.create_container(Some(options), config).await {
                Ok(response) => {
                    created = true;
                    response.id
                }
                Err(e) if status(&e) == Some(409) => inspect_id(docker, name)
                    .await?
                    .ok_or_else(|| StepError::Retryable(format!("container {name} vanished")))?,
                Err(e) => return Err(classify(e, &format!("creating container {name}"))),
            }
        }
    };
    start(docker, name).await?;
    Ok(ContainerRef {
        name: name.to_string(),
        id,
        created,
    })
}

/// Starts a container; one that already runs is fine.
pub async fn start(docker: &Docker, name: &str) -> Result<(), StepError> {
    match docker
        .start_container(name, None::<StartContainerOptions<String>>)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if status(&e) == Some(304) => Ok(()),
        Err(e) => Err(classify(e, &format!("starting container {name}"))),
    }
}

/// The id of container `name`, or `None` when it does not exist.
pub async fn inspect_id(docker: &Docker, name: &str) -> Result<Option<String>, StepError> {
    match docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
    {
        Ok(c) => Ok(c.id),
        Err(e) if status(&e) == Some(404) => Ok(None),
        Err(e) => Err(classify(e, &format!("inspecting container {name}"))),
    }
}

/// Whether container `name` exists and runs.
pub async fn is_running(docker: &Docker, name: &str) -> Result<bool, StepError> {
    match docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
    {
        Ok(c) => Ok(c.state.and_then(|s| s.running).unwrap_or(false)),
        Err(e) if status(&e) == Some(404) => Ok(false),
        Err(e) => Err(classify(e, &format!("inspecting container {name}"))),
    }
}

/// Removes a container (forced, with its anonymous volumes); a missing one is fine.
pub async fn remove_container(docker: &Docker, name: &str) -> Result<(), StepError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(name, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if status(&e) == Some(404) => Ok(()),
        Err(e) => Err(classify(e, &format!("removing container {name}"))),
    }
}

/// What exists in the engine under a label filter, by object kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Objects {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

impl Objects {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty()
    }
}

/// Every container, network and volume carrying `label=value` (`value` `None`: the label at all).
pub async fn labelled(
    docker: &Docker,
    label: &str,
    value: Option<&str>,
) -> Result<Objects, StepError> {
    let filter = match value {
        Some(v) => format!("{label}={v}"),
        None => label.to_string(),
    };
    let filters = HashMap::from([("label".to_string(), vec![filter.clone()])]);
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: filters.clone(),
            ..Default::default()
        }))
        .await
        .map_err(|e| classify(e, &format!("listing containers labelled {filter}")))?;
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: filters.clone(),
        }))
        .await
        .map_err(|e| classify(e, &format!("listing networks labelled {filter}")))?;
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions { filters }))
        .await
        .map_err(|e| classify(e, &format!("listing volumes labelled {filter}")))?;
    let mut objects = Objects {
        containers: containers
            .into_iter()
            .filter_map(|c| c.names.and_then(|n| n.into_iter().next()))
            .map(|n| n.trim_start_matches('/').to_string())
            .collect(),
        networks: networks.into_iter().filter_map(|n| n.name).collect(),
        volumes: volumes
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect(),
    };
    objects.containers.sort();
    objects.networks.sort();
    objects.volumes.sort();
    Ok(objects)
}

/// The sandbox ids of `owner`'s objects in the engine, with the labels of each object.
pub async fn sandboxes_of_owner(
    docker: &Docker,
    owner: &str,
) -> Result<HashMap<String, Objects>, StepError> {
    let filter = format!("{LABEL_OWNER}={owner}");
    let filters = HashMap::from([("label".to_string(), vec![filter.clone()])]);
    let mut found: HashMap<String, Objects> = HashMap::new();
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: filters.clone(),
            ..Default::default()
        }))
        .await
        .map_err(|e| classify(e, &format!("listing containers labelled {filter}")))?;
    for c in containers {
        if let (Some(id), Some(name)) = (
            c.labels
                .as_ref()
                .and_then(|l| l.get(LABEL_SANDBOX))
                .cloned(),
            c.names.and_then(|n| n.into_iter().next()),
        ) {
            let entry = found.entry(id).or_default();
            entry
                .containers
                .push(name.trim_start_matches('/').to_string());
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: filters.clone(),
        }))
        .await
        .map_err(|e| classify(e, &format!("listing networks labelled {filter}")))?;
    for n in networks {
        if let (Some(id), Some(name)) = (
            n.labels
                .as_ref()
                .and_then(|l| l.get(LABEL_SANDBOX))
                .cloned(),
            n.name,
        ) {
            found.entry(id).or_default().networks.push(name);
        }
    }
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions { filters }))
        .await
        .map_err(|e| classify(e, &format!("listing volumes labelled {filter}")))?;
    for v in volumes.volumes.unwrap_or_default() {
        if let Some(id) = v.labels.get(LABEL_SANDBOX).cloned() {
            found.entry(id).or_default().volumes.push(v.name);
        }
    }
    Ok(found)
}

/// Removes every container, network and volume of sandbox `id` (containers first, forced).
/// Objects already gone are fine; returns what was removed.
pub async fn remove_sandbox(docker: &Docker, id: &str) -> Result<Objects, StepError> {
    let objects = labelled(docker, LABEL_SANDBOX, Some(id)).await?;
    for name in &objects.containers {
        remove_container(docker, name).await?;
    }
    for name in &objects.networks {
        match docker.remove_network(name).await {
            Ok(()) => {}
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(classify(e, &format!("removing network {name}"))),
        }
    }
    for name in &objects.volumes {
        match docker
            .remove_volume(name, Some(RemoveVolumeOptions { force: true }))
            .await
        {
            Ok(()) => {}
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(classify(e, &format!("removing volume {name}"))),
        }
    }
    Ok(objects)
}
