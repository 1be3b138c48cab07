//! `understudy bench …`: measurements on scratch databases with real worker processes.
//! Each prints JSON; BENCHMARKS.md records the figures with the command and the machine.

pub mod chaos;
mod chaos_clone;
mod chaos_data;
pub mod clone;
pub mod clone_data;
pub mod engine;

use sqlx::PgPool;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use understudy_worker::producer::Producer;
use understudy_worker::{db, Settings};

use crate::commands::Failure;

/// A scratch Understudy database (`<db>_bench_<run>`) and namespace (`<namespace>-<run>`), with
/// workers on it. The run suffix keeps concurrent benches (other engineers', CI) from dropping
/// each other's database or consuming each other's messages.
pub struct Scratch {
    pub settings: Settings,
    pub pool: PgPool,
    pub producer: Producer,
    pub workers: Workers,
    admin: PgPool,
    database: String,
    url: String,
    concurrency: usize,
    binary: std::path::PathBuf,
}

impl Scratch {
    pub async fn start(
        settings: &Settings,
        namespace: &str,
        workers: usize,
        concurrency: usize,
    ) -> Result<Scratch, Failure> {
        use secrecy::ExposeSecret;
        let admin = db::connect(settings, 2).await?;
        let current: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&admin)
            .await?;
        let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let database = format!("{current}_bench_{run}");
        if database.len() > 63
            || !database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Failure::Input(format!(
                "database name {current:?} cannot be extended safely"
            )));
        }
        understudy_workflows::clone::postgres::drop_database(&admin, &database).await?;
        sqlx::query(&format!("CREATE DATABASE \"{database}\""))
            .execute(&admin)
            .await?;
        let url = db::with_database(settings.database_url.expose_secret(), &database);
        let mut bench = settings.clone();
        bench.database_url = url.clone().into();
        bench.amqp.namespace = format!("{namespace}-{run}");
        let pool = db::connect(&bench, 4).await?;
        db::migrate(&pool).await?;
        let producer = Producer::connect(&bench, "understudy-bench").await?;
        let mut scratch = Scratch {
            settings: bench,
            pool,
            producer,
            workers: Workers(Vec::new()),
            admin,
            database,
            url,
            concurrency,
            binary: worker_binary()?,
        };
        for _ in 0..workers {
            scratch.spawn_worker()?;
        }
        let pool = &scratch.pool;
        let expected = workers as i64;
        wait_until("workers to start", Duration::from_secs(60), || async {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM workers WHERE stopped_at IS NULL")
                    .fetch_one(pool)
                    .await?;
            Ok(n >= expected)
        })
        .await?;
        Ok(scratch)
    }

    /// Starts one more worker process on the scratch database and namespace.
    pub fn spawn_worker(&mut self) -> Result<u32, Failure> {
        let child = Command::new(&self.binary)
            .env("UNDERSTUDY_DATABASE_URL", &self.url)
            .env("UNDERSTUDY_AMQP__NAMESPACE", &self.settings.amqp.namespace)
            .env(
                "UNDERSTUDY_WORKER__CONCURRENCY",
                self.concurrency.to_string(),
            )
            .env(
                "UNDERSTUDY_DATA_DIR",
                self.settings.data_dir.join("bench").display().to_string(),
            )
            .env("UNDERSTUDY_OBSERVABILITY__LISTEN", "127.0.0.1:0")
            .env("UNDERSTUDY_LOG__LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                Failure::Other(anyhow::anyhow!(
                    "cannot start {}: {e}",
                    self.binary.display()
                ))
            })?;
        let pid = child.id();
        self.workers.0.push(child);
        Ok(pid)
    }

    /// Drops the scratch database and deletes the run's queues and exchanges.
    pub async fn finish(admin: PgPool, scratch: &Leftovers) -> Result<(), Failure> {
        delete_namespace(&scratch.settings).await;
        understudy_workflows::clone::postgres::drop_database(&admin, &scratch.database).await?;
        Ok(())
    }

    /// The admin pool and what to remove, for [`Scratch::finish`] after the workers are gone.
    pub fn admin(&self) -> (PgPool, Leftovers) {
        (
            self.admin.clone(),
            Leftovers {
                database: self.database.clone(),
                settings: self.settings.clone(),
            },
        )
    }
}

/// What a finished run leaves to remove: its database and its RabbitMQ namespace.
pub struct Leftovers {
    database: String,
    settings: Settings,
}

/// Best effort: the run's queues and exchanges (a broker that is away keeps them).
async fn delete_namespace(settings: &Settings) {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    use understudy_worker::contract::Priority;
    let topology = understudy_worker::topology::Topology::new(
        &settings.amqp.namespace,
        settings.amqp.delivery_limit,
    );
    let Ok(connection) =
        understudy_worker::amqp::connect(settings, "understudy-bench-cleanup").await
    else {
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
    let _ = connection.close(200, "bench done".into()).await;
}

/// Worker processes started for the run; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Workers(pub Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &self.0 {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        for child in &mut self.0 {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn worker_binary() -> Result<std::path::PathBuf, Failure> {
    let exe = std::env::current_exe().map_err(|e| Failure::Other(e.into()))?;
    let worker = exe.with_file_name("understudy-worker");
    if worker.exists() {
        Ok(worker)
    } else {
        Err(Failure::Input(format!(
            "{} not found: build the workspace first (cargo build --release --bins)",
            worker.display()
        )))
    }
}

pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut done: F) -> Result<(), Failure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, sqlx::Error>>,
{
    let deadline = Instant::now() + timeout;
    while !done().await? {
        if Instant::now() > deadline {
            return Err(Failure::Other(anyhow::anyhow!(
                "timed out waiting for {what}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Peak resident memory of a process, in MiB (`VmHWM`), if it is still running.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kib / 1024.0 * 10.0).round() / 10.0)
}

pub fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
