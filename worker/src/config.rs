//! Settings: built-in defaults < `understudy.toml` (or `--config FILE`) < `UNDERSTUDY_*` env.
//!
//! Nested keys use a double underscore in the environment: `UNDERSTUDY_WORKER__CONCURRENCY=32`.
//! The defaults reach the services that `scripts/services-up.sh` starts, so nothing needs setting
//! on a development machine.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use understudy_workflows::RetryPolicy;

/// Where the default settings point: the local services from `scripts/services-up.sh`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://understudy:understudy@127.0.0.1:5432/understudy";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Everything a worker or the CLI reads from configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// PostgreSQL URL (may contain a password: never printed).
    pub database_url: SecretString,
    /// RabbitMQ URL (may contain a password: never printed).
    pub amqp_url: SecretString,
    pub amqp: AmqpSettings,
    pub worker: WorkerSettings,
    pub retry: RetrySettings,
    pub log: LogSettings,
    pub secrets: SecretsSettings,
    pub observability: ObservabilitySettings,
    /// Where jobs put the files they produce (bundles, backups), unless a spec says otherwise.
    pub data_dir: PathBuf,
    /// Sandboxes (`provision` and `sandbox` kinds): images, ports, limits.
    #[serde(default)]
    pub provision: understudy_workflows::provision::config::ProvisionConfig,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ObservabilitySettings {
    /// Address of `/healthz`, `/readyz` and `/metrics`; empty to disable. Port 0 picks a free one.
    pub listen: String,
    /// OTLP/HTTP (protobuf) collector base URL, e.g. `http://127.0.0.1:4318` (`/v1/traces` is
    /// appended unless present). Empty (the default): no traces are built or exported.
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is used when this is empty; `OTEL_EXPORTER_OTLP_HEADERS`
    /// adds headers (e.g. an API key) to every export.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans; empty: `understudy-worker` or `understudy` (CLI).
    pub service_name: String,
    /// Share of new traces recorded (0.0–1.0). Jobs whose producer sent a sampled
    /// `traceparent` follow the producer's decision.
    pub sampling_ratio: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SecretsSettings {
    /// The AES-256 key, base64 (`UNDERSTUDY_SECRETS__KEY`). Takes precedence over `key_file`.
    pub key: Option<SecretString>,
    /// A file holding the key (base64); created with a random key, mode 0600, when missing.
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    /// Prefix of every exchange and queue name (`understudy.jobs`, `understudy.bulk`, ...).
    pub namespace: String,
    /// Unacknowledged deliveries per intake consumer. Deliveries are acked as soon as the job row
    /// is committed, so this bounds intake batching, not running jobs.
    pub prefetch: u16,
    /// Deliveries of one message before RabbitMQ dead-letters it (quorum queue `x-delivery-limit`).
    pub delivery_limit: u32,
    /// Largest message body accepted as a job; larger ones are dead-lettered.
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    /// Jobs run at once by one worker process.
    pub concurrency: usize,
    /// How often a worker renews the leases of its running jobs.
    pub heartbeat_ms: u64,
    /// How long a lease lives without renewal; after that another worker may take the job.
    pub lease_ttl_ms: u64,
    /// How often a worker looks for claimable and abandoned jobs without being woken.
    pub poll_ms: u64,
    /// On SIGTERM, how long running steps get to finish before they are interrupted.
    pub shutdown_grace_secs: u64,
    /// A job whose worker died this many times is treated as poison: remaining steps fail and
    /// compensation runs.
    pub max_lease_losses: u32,
    /// PostgreSQL connections per worker process.
    pub db_pool_size: u32,
    /// Testing only: a directory of injected step faults (see `faults.rs`). Unset in production.
    #[serde(default)]
    pub fault_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RetrySettings {
    /// Tries per step, the first included.
    pub max_tries: u32,
    pub min_delay_ms: u64,
    pub max_delay_ms: u64,
    pub factor: f32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `auto` (human on a terminal, JSON otherwise), `json` or `human`.
    pub format: String,
    /// A `tracing` filter such as `info` or `understudy_worker=debug,info`.
    pub level: String,
}

/// `$XDG_DATA_HOME/understudy`, else `~/.local/share/understudy`, else `/var/lib/understudy`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("understudy");
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/understudy"),
        None => PathBuf::from("/var/lib/understudy"),
    }
}

/// A setting that cannot work, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} not found (pass an existing file to --config, or omit it)")]
    MissingFile { path: PathBuf },
    #[error("cannot read settings: {0}")]
    Load(#[from] config::ConfigError),
    #[error("setting {key} is invalid: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl Settings {
    /// Loads defaults, then `path` (or `./understudy.toml` when present), then the environment.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut builder = config::Config::builder()
            .set_default("database_url", DEFAULT_DATABASE_URL)?
            .set_default("amqp_url", DEFAULT_AMQP_URL)?
            .set_default("amqp.namespace", "understudy")?
            .set_default("amqp.prefetch", 200)?
            .set_default("amqp.delivery_limit", 10)?
            .set_default("amqp.max_body_bytes", 1_048_576)?
            .set_default("worker.concurrency", 64)?
            .set_default("worker.heartbeat_ms", 1_000)?
            .set_default("worker.lease_ttl_ms", 5_000)?
            .set_default("worker.poll_ms", 500)?
            .set_default("worker.shutdown_grace_secs", 30)?
            .set_default("worker.max_lease_losses", 5)?
            .set_default("worker.db_pool_size", 10)?
            .set_default("retry.max_tries", 5)?
            .set_default("retry.min_delay_ms", 200)?
            .set_default("retry.max_delay_ms", 30_000)?
            .set_default("retry.factor", 2.0)?
            .set_default(
                "secrets.key_file",
                default_data_dir().join("secret.key").display().to_string(),
            )?
            .set_default("data_dir", default_data_dir().display().to_string())?
            .set_default("observability.listen", "127.0.0.1:9464")?
            .set_default(
                "observability.otlp_endpoint",
                std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default(),
            )?
            .set_default(
                "observability.service_name",
                std::env::var("OTEL_SERVICE_NAME").unwrap_or_default(),
            )?
            .set_default("observability.sampling_ratio", 1.0)?
            .set_default("log.format", "auto")?
            .set_default("log.level", "info")?;
        match path {
            Some(path) if !path.exists() => {
                return Err(ConfigError::MissingFile {
                    path: path.to_path_buf(),
                })
            }
            Some(path) => builder = builder.add_source(config::File::from(path)),
            None => {
                builder = builder.add_source(config::File::with_name("understudy").required(false))
            }
        }
        builder = builder.add_source(
            config::Environment::with_prefix("UNDERSTUDY")
                .prefix_separator("_")
                .separator("__"),
        );
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_string(),
            })
        };
        if !crate::topology::valid_namespace(&self.amqp.namespace) {
            return invalid(
                "amqp.namespace",
                "use 1-40 characters: lowercase letters, digits, '_' or '-', starting with a letter",
            );
        }
        if !self.database_url.expose_secret().starts_with("postgres") {
            return invalid("database_url", "must be a postgres:// or postgresql:// URL");
        }
        if !self.amqp_url.expose_secret().starts_with("amqp") {
            return invalid("amqp_url", "must be an amqp:// or amqps:// URL");
        }
        let w = &self.worker;
        if w.concurrency == 0 || w.concurrency > 10_000 {
            return invalid("worker.concurrency", "must be 1..=10000");
        }
        if w.heartbeat_ms == 0 || w.lease_ttl_ms < 4 * w.heartbeat_ms {
            return invalid(
                "worker.lease_ttl_ms",
                "must be at least 4 × worker.heartbeat_ms so one slow renewal does not lose a lease",
            );
        }
        if w.poll_ms == 0 {
            return invalid("worker.poll_ms", "must be positive");
        }
        if w.db_pool_size < 3 {
            return invalid("worker.db_pool_size", "must be at least 3");
        }
        if self.amqp.prefetch == 0 {
            return invalid("amqp.prefetch", "must be positive");
        }
        if let Err(e) = self.provision.validate() {
            return Err(ConfigError::Invalid {
                key: "provision",
                reason: e.0,
            });
        }
        let ratio = self.observability.sampling_ratio;
        if !(0.0..=1.0).contains(&ratio) {
            return invalid(
                "observability.sampling_ratio",
                "must be between 0.0 (no new traces) and 1.0 (every trace)",
            );
        }
        let endpoint = &self.observability.otlp_endpoint;
        if !endpoint.is_empty()
            && !endpoint.starts_with("http://")
            && !endpoint.starts_with("https://")
        {
            return invalid(
                "observability.otlp_endpoint",
                "must be an http:// or https:// URL of an OTLP/HTTP collector (port 4318), or empty to turn traces off",
            );
        }
        if self.retry.max_tries == 0 {
            return invalid("retry.max_tries", "must be at least 1");
        }
        Ok(())
    }

    /// The secrets box from `secrets.key`, else `secrets.key_file`.
    pub fn secret_box(&self) -> Result<understudy_workflows::secrets::SecretBox, ConfigError> {
        use understudy_workflows::secrets::SecretBox;
        let opened = match &self.secrets.key {
            Some(key) => SecretBox::from_base64(key.expose_secret()),
            None => SecretBox::from_key_file(&self.secrets.key_file),
        };
        opened.map_err(|e| ConfigError::Invalid {
            key: "secrets",
            reason: e.to_string(),
        })
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.worker.heartbeat_ms)
    }

    pub fn lease_ttl(&self) -> Duration {
        Duration::from_millis(self.worker.lease_ttl_ms)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.worker.poll_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.worker.shutdown_grace_secs)
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_tries: self.retry.max_tries,
            min_delay: Duration::from_millis(self.retry.min_delay_ms),
            max_delay: Duration::from_millis(self.retry.max_delay_ms),
            factor: self.retry.factor,
        }
    }
}
