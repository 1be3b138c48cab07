//! Test harness: every test gets its own PostgreSQL database and RabbitMQ namespace on the real
//! services (started by `scripts/services-up.sh`), real `understudy-worker` processes, and the
//! real `understudy` CLI. Everything a test creates is removed when its [`TestEnv`] drops.

use serde_json::Value;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use understudy_worker::contract::{JobMessage, Priority};
use understudy_worker::producer::{Outgoing, Producer};
use understudy_worker::state::JobState;
use understudy_worker::topology::Topology;
use understudy_worker::{db, Settings};
use uuid::Uuid;

pub mod sandbox_fixture;
pub mod wordpress_fixture;

/// The workspace's build directory (where `cargo build --workspace --bins` put the binaries).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf();
    for bin in ["understudy", "understudy-worker"] {
        assert!(
            dir.join(bin).exists(),
            "{} is missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
            dir.join(bin).display()
        );
    }
    dir
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A running `understudy-worker` process whose stderr goes to a log file.
pub struct Worker {
    child: Child,
    pub log: PathBuf,
}

impl Worker {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process dies at once, mid-step, without cleaning up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: graceful shutdown.
    pub fn terminate(&self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
    }

    /// Waits for the process to exit; returns its exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One test's private world.
pub struct TestEnv {
    pub name: String,
    pub settings: Settings,
    pub pool: PgPool,
    pub database: String,
    pub namespace: String,
    pub dir: PathBuf,
    database_url: String,
    admin_url: String,
    bin: PathBuf,
}

impl TestEnv {
    /// Creates a database and a namespace for the test `name`, migrated and declared.
    pub async fn new(name: &str) -> TestEnv {
        let suffix = &Uuid::new_v4().simple().to_string()[..10];
        let database = format!("ut_{suffix}");
        let namespace = format!("t{suffix}");
        let base = Settings::load(None).expect("default settings");
        let admin_url = secrecy::ExposeSecret::expose_secret(&base.database_url).to_string();
        let admin = db::connect(&base, 1)
            .await
            .expect("PostgreSQL is not reachable: run scripts/services-up.sh");
        sqlx::query(&format!("CREATE DATABASE \"{database}\""))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let database_url = db::with_database(&admin_url, &database);
        let mut settings = base.clone();
        settings.database_url = database_url.clone().into();
        settings.amqp.namespace = namespace.clone();
        let pool = db::connect(&settings, 5).await.expect("connect test db");
        db::migrate(&pool).await.expect("migrate test db");
        let dir = std::env::temp_dir().join(format!("understudy-test-{name}-{suffix}"));
        std::fs::create_dir_all(&dir).expect("test dir");
        let env = TestEnv {
            name: name.to_string(),
            settings,
            pool,
            database,
            namespace,
            dir,
            database_url,
            admin_url,
            bin: bin_dir(),
        };
        // Declare the topology so messages published before a worker starts are kept.
        drop(env.producer().await);
        env
    }

    /// Environment variables that point a process at this test's database and namespace.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        vec![
            ("UNDERSTUDY_DATABASE_URL".into(), self.database_url.clone()),
            ("UNDERSTUDY_AMQP__NAMESPACE".into(), self.namespace.clone()),
            ("UNDERSTUDY_LOG__FORMAT".into(), "json".into()),
            ("UNDERSTUDY_LOG__LEVEL".into(), "info".into()),
            (
                "UNDERSTUDY_OBSERVABILITY__LISTEN".into(),
                "127.0.0.1:0".into(),
            ),
            (
                "UNDERSTUDY_DATA_DIR".into(),
                self.dir.join("data").display().to_string(),
            ),
        ]
    }

    /// Starts a worker with extra settings (`("UNDERSTUDY_WORKER__CONCURRENCY", "4")`, ...).
    pub fn worker(&self, extra: &[(&str, &str)]) -> Worker {
        let log = self
            .dir
            .join(format!("worker-{}.log", Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).expect("worker log");
        let mut command = Command::new(self.bin.join("understudy-worker"));
        command
            .envs(self.env_vars())
            .envs(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .env_remove("UNDERSTUDY_CONFIG")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        let child = command.spawn().expect("start understudy-worker");
        Worker { child, log }
    }

    /// Waits until `n` workers have registered (connected, migrated).
    pub async fn wait_workers(&self, n: i64) {
        let pool = self.pool.clone();
        wait_for("workers to register", Duration::from_secs(30), || {
            let pool = pool.clone();
            async move {
                let up: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM workers WHERE stopped_at IS NULL")
                        .fetch_one(&pool)
                        .await
                        .ok()?;
                (up >= n).then_some(())
            }
        })
        .await
    }

    /// Runs the `understudy` CLI with this test's settings.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, &[])
    }

    /// `understudy ARGS…` with `extra` environment variables over the test's own.
    pub fn cli_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        Command::new(self.bin.join("understudy"))
            .args(args)
            .envs(self.env_vars())
            .envs(extra.iter().copied())
            .env_remove("UNDERSTUDY_CONFIG")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .expect("run understudy")
    }

    /// `understudy site add ARGS…`, which must succeed.
    pub fn add_site(&self, args: &[&str]) {
        let mut all = vec!["site", "add"];
        all.extend_from_slice(args);
        let out = self.cli(&all);
        assert!(
            out.status.success(),
            "site add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub async fn producer(&self) -> Producer {
        Producer::connect(&self.settings, &format!("test-{}", self.name))
            .await
            .expect("RabbitMQ is not reachable: run scripts/services-up.sh")
    }

    /// Publishes a job and returns its id.
    pub async fn enqueue(&self, kind: &str, spec: Value, priority: Priority) -> Uuid {
        self.enqueue_message(JobMessage::new(kind, spec), priority)
            .await
    }

    pub async fn enqueue_message(&self, message: JobMessage, priority: Priority) -> Uuid {
        self.producer()
            .await
            .publish_job(message, priority)
            .await
            .expect("publish")
    }

    /// Publishes raw bytes to the jobs exchange (hostile input).
    pub async fn publish_raw(&self, routing_key: &str, body: Vec<u8>) {
        self.producer()
            .await
            .publish(&[Outgoing::raw(routing_key, body)])
            .await
            .expect("publish raw");
    }

    pub async fn state(&self, id: Uuid) -> Option<JobState> {
        sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .expect("query job state")
    }

    /// Waits until the job is terminal and returns its state.
    pub async fn wait_terminal(&self, id: Uuid, timeout: Duration) -> JobState {
        wait_for(&format!("job {id} to end"), timeout, || async move {
            self.state(id).await.filter(|s| s.is_terminal())
        })
        .await
    }

    /// Waits (30 s at most) until exactly `expected` messages are recorded as dead letters;
    /// returns their reasons, oldest first.
    pub async fn wait_dead_letters(&self, expected: usize) -> Vec<String> {
        wait_for(
            &format!("{expected} dead letters recorded"),
            Duration::from_secs(30),
            || async move {
                let reasons: Vec<String> =
                    sqlx::query_scalar("SELECT reason FROM dead_letters ORDER BY id")
                        .fetch_all(&self.pool)
                        .await
                        .ok()?;
                (reasons.len() == expected).then_some(reasons)
            },
        )
        .await
    }

    /// Number of completed checkpoints of a job.
    pub async fn checkpoints(&self, id: Uuid) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM job_steps WHERE job_id = $1 AND state = 'completed'",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .expect("count checkpoints")
    }

    /// The lines a noop job with `effects_dir` = `self.dir` wrote, without the job id column.
    pub fn effects(&self, id: Uuid) -> Vec<String> {
        std::fs::read_to_string(self.dir.join(format!("{id}.effects")))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                l.split_once(' ')
                    .map(|(_, rest)| rest.to_string())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// How often `step` appears among a job's side effects.
    pub fn effect_count(&self, id: Uuid, step: &str) -> usize {
        self.effects(id)
            .iter()
            .filter(|l| l.split(' ').next() == Some(step))
            .count()
    }

    /// A web app's view of the events exchange: a private, auto-acked queue bound with
    /// `binding` (e.g. `noop.#`). Keep the connection alive while consuming.
    pub async fn listen_events(&self, binding: &str) -> (lapin::Connection, lapin::Consumer) {
        use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
        use lapin::types::FieldTable;
        let connection = understudy_worker::amqp::connect(&self.settings, "test-listener")
            .await
            .expect("RabbitMQ is not reachable: run scripts/services-up.sh");
        let channel = connection.create_channel().await.expect("channel");
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        };
        let queue = channel
            .queue_declare("".into(), exclusive, FieldTable::default())
            .await
            .expect("declare listener queue");
        channel
            .queue_bind(
                queue.name().clone(),
                self.topology().events_exchange().into(),
                binding.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind listener queue");
        let no_ack = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                "".into(),
                no_ack,
                FieldTable::default(),
            )
            .await
            .expect("consume events");
        (connection, consumer)
    }

    pub fn topology(&self) -> Topology {
        Topology::new(&self.namespace, self.settings.amqp.delivery_limit)
    }
}

/// Removes the sandboxes (containers, network, volume) a test's workers made: they are labelled
/// with the test's namespace as owner. Also after a failed assertion; a no-op without Docker.
async fn remove_sandboxes(owner: &str) {
    use understudy_workflows::provision::{config::ProvisionConfig, engine};
    let Ok(docker) = engine::connect(&ProvisionConfig::default()).await else {
        return;
    };
    if let Ok(found) = engine::sandboxes_of_owner(&docker, owner).await {
        for id in found.keys() {
            let _ = engine::remove_sandbox(&docker, id).await;
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // Best effort, also when the test panicked: a runtime of our own on a plain thread.
        let admin_url = self.admin_url.clone();
        let database = self.database.clone();
        let settings = self.settings.clone();
        let topology = self.topology();
        let dir = self.dir.clone();
        let owner = self.namespace.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            rt.block_on(async move {
                if let Ok(admin) = sqlx::PgPool::connect(&admin_url).await {
                    let _ = understudy_workflows::clone::postgres::drop_database(&admin, &database)
                        .await;
                }
                delete_namespace(&settings, &topology).await;
                remove_sandboxes(&owner).await;
            });
            if std::env::var_os("UNDERSTUDY_KEEP_TEST_DIRS").is_none() {
                let _ = std::fs::remove_dir_all(dir);
            }
        })
        .join();
    }
}

async fn delete_namespace(settings: &Settings, topology: &Topology) {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let Ok(connection) = understudy_worker::amqp::connect(settings, "test-cleanup").await else {
        return;
    };
    let Ok(channel) = connection.create_channel().await else {
        return;
    };
    for queue in [
        topology.queue(Priority::Interactive),
        topology.queue(Priority::Bulk),
        topology.dead_queue(),
    ] {
        let _ = channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    for exchange in [
        topology.jobs_exchange(),
        topology.events_exchange(),
        topology.dead_exchange(),
    ] {
        let _ = channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await;
    }
    let _ = connection.close(200, "test done".into()).await;
}

/// Parses the CLI's stdout as JSON, with the process output in the panic message otherwise.
pub fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); status {:?}\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The last JSON document the CLI printed (`--wait --json` prints the id, then the status).
pub fn last_json(output: &Output) -> Value {
    serde_json::Deserializer::from_slice(&output.stdout)
        .into_iter::<Value>()
        .filter_map(Result::ok)
        .last()
        .unwrap_or_else(|| {
            panic!(
                "no JSON on stdout; status {:?}\nstdout: {}\nstderr: {}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

/// Values PHP's `unserialize()` (Debian php-cli, no classes allowed) refuses.
pub fn php_rejects(values: &[String]) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("understudy-php-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("values.json");
    let encoded: Vec<String> = values
        .iter()
        .map(|v| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
        })
        .collect();
    std::fs::write(&input, serde_json::to_vec(&encoded).unwrap()).unwrap();
    let script = r#"$values = json_decode(file_get_contents($argv[1]));
foreach ($values as $i => $b) { $v = base64_decode($b);
  if (@unserialize($v, ['allowed_classes' => false]) === false && $v !== 'b:0;') { echo $i, "\n"; } }"#;
    let out = Command::new("php")
        .args(["-r", script, input.to_str().unwrap()])
        .output()
        .expect("php (Debian php-cli, installed by scripts/test.sh)");
    assert!(
        out.status.success(),
        "php failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|i| i.trim().parse::<usize>().ok())
        .map(|i| values[i].clone())
        .collect()
}
