//! One function per command; each returns an exit code or a [`Failure`] with a one-line reason.

use serde_json::{Map, Value};
use sqlx::PgPool;
use std::io::Read;
use std::process::ExitCode;
use understudy_worker::contract::{JobMessage, Priority};
use understudy_worker::producer::{Outgoing, Producer};
use understudy_worker::queries::{self, CancelOutcome, ListFilter, RetryOutcome};
use understudy_worker::state::JobState;
use understudy_worker::telemetry::Telemetry;
use understudy_worker::topology::Topology;
use understudy_worker::{amqp, db, Settings};

use crate::cli::{Args, BenchCommand, BulkArgs, Command, EnqueueArgs, ListArgs};
use crate::{bench, dlq, export, export_bench, onboard, output, sandbox, staging, top, watch};

/// A command that did not work, and why, with its exit code.
#[derive(Debug)]
pub enum Failure {
    /// The input was wrong (exit 2).
    Input(String),
    /// The job or message does not exist (exit 3).
    NotFound(String),
    /// PostgreSQL or RabbitMQ is not reachable (exit 4).
    Service(String),
    /// Anything else (exit 1).
    Other(anyhow::Error),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Other(_) => 1,
            Failure::Input(_) => 2,
            Failure::NotFound(_) => 3,
            Failure::Service(_) => 4,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Input(m) | Failure::NotFound(m) | Failure::Service(m) => f.write_str(m),
            Failure::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Other(anyhow::anyhow!("PostgreSQL: {e}"))
    }
}

impl From<db::DbError> for Failure {
    fn from(e: db::DbError) -> Self {
        match e {
            db::DbError::BadUrl(_) | db::DbError::Refused { .. } => Failure::Input(e.to_string()),
            _ => Failure::Service(e.to_string()),
        }
    }
}

impl From<amqp::AmqpError> for Failure {
    fn from(e: amqp::AmqpError) -> Self {
        match e {
            amqp::AmqpError::Unreachable { .. } => Failure::Service(e.to_string()),
            amqp::AmqpError::Refused { .. } => Failure::Input(e.to_string()),
            _ => Failure::Other(e.into()),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

pub type Outcome = Result<ExitCode, Failure>;

pub async fn dispatch(args: Args) -> Outcome {
    let settings =
        Settings::load(args.config.as_deref()).map_err(|e| Failure::Input(e.to_string()))?;
    let telemetry = Telemetry::start(&settings.observability, "understudy")
        .map_err(|e| Failure::Input(e.to_string()))?;
    if let Some(telemetry) = &telemetry {
        // The CLI prints no logs; the subscriber only turns its spans into exported spans.
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let _ = tracing_subscriber::registry()
            .with(understudy_worker::telemetry::layer(telemetry.tracer()))
            .try_init();
    }
    let outcome = run(&settings, args.command).await;
    if let Some(telemetry) = telemetry {
        let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    }
    outcome
}

async fn run(settings: &Settings, command: Command) -> Outcome {
    match command {
        Command::Migrate => migrate(settings).await,
        Command::Enqueue(a) => enqueue(settings, a).await,
        Command::Bulk(a) => bulk(settings, a).await,
        Command::Status { id, json } => status(settings, id, json).await,
        Command::Watch { id, json } => {
            let pool = pool(settings).await?;
            watch::watch(&pool, id, json).await
        }
        Command::List(a) => list(settings, a).await,
        Command::Top(a) => top::top(settings, a).await,
        Command::Cancel { id, json } => cancel(settings, id, json).await,
        Command::Retry { id, json } => retry(settings, id, json).await,
        Command::Logs { id, json } => logs(settings, id, json).await,
        Command::Export(a) => export::export(settings, a).await,
        Command::Dlq { command } => dlq::run(settings, command).await,
        Command::Site { command } => staging::site(settings, command).await,
        Command::Staging { command } => staging::staging(settings, command).await,
        Command::Provision(a) => sandbox::provision(settings, a).await,
        Command::Onboard(a) => onboard::onboard(settings, a).await,
        Command::Sandbox { command } => sandbox::sandbox(settings, command).await,
        Command::Bench { command } => match command {
            BenchCommand::Engine(a) => bench::engine::engine(settings, a).await,
            BenchCommand::Clone(a) => bench::clone::clone(settings, a).await,
            BenchCommand::Chaos(a) => bench::chaos::chaos(settings, a).await,
            BenchCommand::Export(a) => export_bench::run(settings, a).await,
        },
    }
}

pub async fn pool(settings: &Settings) -> Result<PgPool, Failure> {
    Ok(db::connect(settings, 4).await?)
}

async fn migrate(settings: &Settings) -> Outcome {
    let pool = pool(settings).await?;
    db::migrate(&pool).await?;
    let producer = Producer::connect(settings, "understudy-cli").await?;
    drop(producer);
    let topology = Topology::new(&settings.amqp.namespace, settings.amqp.delivery_limit);
    out!(
        "database {} migrated; RabbitMQ exchange {} and queues declared",
        db::describe(settings),
        topology.jobs_exchange()
    );
    Ok(ExitCode::SUCCESS)
}

/// Builds the spec from `--spec FILE` or `--set k=v` pairs.
fn spec_from(args: &EnqueueArgs) -> Result<Value, Failure> {
    if let Some(path) = &args.spec {
        let text = if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::Input(format!("cannot read the spec from stdin: {e}")))?;
            text
        } else {
            std::fs::read_to_string(path).map_err(|e| {
                Failure::Input(format!("cannot read spec file {}: {e}", path.display()))
            })?
        };
        return serde_json::from_str(&text).map_err(|e| {
            Failure::Input(format!(
                "spec file {} is not valid JSON: {e}",
                path.display()
            ))
        });
    }
    let mut spec = Map::new();
    for pair in &args.set {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Failure::Input(format!(
                "--set {pair:?} is not KEY=VALUE (e.g. --set steps=5)"
            )));
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
        spec.insert(key.to_string(), value);
    }
    Ok(Value::Object(spec))
}

/// Refuses what a worker would dead-letter, before it is published.
pub fn check(message: &JobMessage) -> Result<(), Failure> {
    let registry = understudy_workflows::builtin();
    let Some(workflow) = registry.get(&message.kind) else {
        return Err(Failure::Input(format!(
            "unknown kind {:?} (known: {})",
            message.kind,
            registry.kinds().join(", ")
        )));
    };
    workflow
        .validate(&message.spec)
        .map_err(|e| Failure::Input(e.to_string()))
}

async fn enqueue(settings: &Settings, args: EnqueueArgs) -> Outcome {
    let mut message = JobMessage::new(&args.kind, spec_from(&args)?);
    message.job_id = args.job_id;
    message.idempotency_key = args.idempotency_key.clone();
    message.concurrency_key = args.concurrency_key.clone();
    check(&message)?;
    let producer = Producer::connect(settings, "understudy-cli").await?;
    let published = producer.publish_job(message, args.priority.into()).await?;
    if args.idempotency_key.is_none() && !args.wait {
        // Nothing to look up: no PostgreSQL connection for a plain enqueue.
        if args.json {
            output::json(&serde_json::json!({ "job_id": published }));
        } else {
            out!("{published}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let pool = pool(settings).await?;
    let id = watch::settled_id(&pool, args.idempotency_key.as_deref(), published).await?;
    watch::finish(&pool, watch::Enqueued::new(id), args.wait, args.json).await
}

async fn bulk(settings: &Settings, args: BulkArgs) -> Outcome {
    let text = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::Input(format!("cannot read stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| Failure::Input(format!("cannot read {}: {e}", args.file.display())))?
    };
    let priority: Priority = args.priority.into();
    let mut outgoing = Vec::new();
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut value: Value = serde_json::from_str(line).map_err(|e| {
            Failure::Input(format!(
                "{} line {}: not JSON: {e}",
                args.file.display(),
                n + 1
            ))
        })?;
        if let Some(object) = value.as_object_mut() {
            object.entry("schema").or_insert(Value::from(1));
        }
        let message: JobMessage = serde_json::from_value(value)
            .map_err(|e| Failure::Input(format!("{} line {}: {e}", args.file.display(), n + 1)))?;
        check(&message)
            .map_err(|e| Failure::Input(format!("{} line {}: {e}", args.file.display(), n + 1)))?;
        let (id, message) = Outgoing::job(message, priority);
        ids.push(id);
        outgoing.push(message);
    }
    if outgoing.is_empty() {
        return Err(Failure::Input(format!(
            "{} has no jobs",
            args.file.display()
        )));
    }
    // Nothing is published unless every line is valid.
    let producer = Producer::connect(settings, "understudy-cli").await?;
    for chunk in outgoing.chunks(500) {
        producer.publish(chunk).await?;
    }
    if args.json {
        output::json(&serde_json::json!({ "enqueued": ids.len(), "job_ids": ids }));
    } else {
        for id in &ids {
            out!("{id}");
        }
        eprintln!("enqueued {} jobs", ids.len());
    }
    Ok(ExitCode::SUCCESS)
}

async fn status(settings: &Settings, id: uuid::Uuid, json: bool) -> Outcome {
    let pool = pool(settings).await?;
    let Some(job) = queries::job(&pool, id).await? else {
        return Err(not_found(id));
    };
    let steps = queries::steps(&pool, id).await?;
    if json {
        output::json(&serde_json::json!({ "job": job, "steps": steps }));
    } else {
        output::job(&job, &steps);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn not_found(id: uuid::Uuid) -> Failure {
    Failure::NotFound(format!(
        "job {id} not found (if you just enqueued it, no worker has taken it in yet: is one running?)"
    ))
}

fn parse_since(text: &str) -> Result<chrono::Duration, Failure> {
    let bad = || {
        Failure::Input(format!(
            "--since {text:?}: use a number with s, m, h or d, e.g. 1h"
        ))
    };
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| bad())?;
    match unit {
        "s" => Ok(chrono::Duration::seconds(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(bad()),
    }
}

async fn list(settings: &Settings, args: ListArgs) -> Outcome {
    let state = match (&args.state, args.failed) {
        (_, true) => Some(JobState::Failed),
        (Some(s), false) => Some(JobState::parse(s).ok_or_else(|| {
            Failure::Input(format!(
                "--state {s:?}: use one of queued, running, succeeded, failed, cancelled"
            ))
        })?),
        (None, false) => None,
    };
    let since = match &args.since {
        Some(s) => Some(chrono::Utc::now() - parse_since(s)?),
        None => None,
    };
    if !(1..=10_000).contains(&args.limit) {
        return Err(Failure::Input(format!(
            "--limit {}: use a number of jobs from 1 to 10000",
            args.limit
        )));
    }
    if let Some(kind) = &args.kind {
        let registry = understudy_workflows::builtin();
        if registry.get(kind).is_none() {
            return Err(Failure::Input(format!(
                "--kind {kind:?} is not a job kind (known: {})",
                registry.kinds().join(", ")
            )));
        }
    }
    let pool = pool(settings).await?;
    let filter = ListFilter {
        state,
        kind: args.kind.clone(),
        since,
        limit: args.limit,
    };
    let jobs = queries::list(&pool, &filter).await?;
    if args.json {
        output::json(&jobs);
    } else {
        output::job_table(&jobs);
    }
    Ok(ExitCode::SUCCESS)
}

async fn cancel(settings: &Settings, id: uuid::Uuid, json: bool) -> Outcome {
    let pool = pool(settings).await?;
    let (outcome, text) = match queries::cancel(&pool, id).await? {
        CancelOutcome::NotFound => return Err(not_found(id)),
        CancelOutcome::AlreadyTerminal(state) => {
            return Err(Failure::Input(format!(
                "job {id} already ended ({state}); nothing to cancel"
            )))
        }
        CancelOutcome::Cancelled => ("cancelled", format!("job {id} cancelled before it started")),
        CancelOutcome::Requested => (
            "cancel_requested",
            format!("job {id} is running: it stops at its next step boundary, compensates and ends cancelled"),
        ),
    };
    if json {
        output::json(&serde_json::json!({ "job_id": id, "outcome": outcome }));
    } else {
        out!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn retry(settings: &Settings, id: uuid::Uuid, json: bool) -> Outcome {
    let pool = pool(settings).await?;
    match queries::retry(&pool, id).await? {
        RetryOutcome::NotFound => Err(not_found(id)),
        RetryOutcome::NotRetryable(state) => Err(Failure::Input(format!(
            "job {id} is {state}; only failed or cancelled jobs can be retried"
        ))),
        RetryOutcome::Requeued => {
            if json {
                output::json(&serde_json::json!({ "job_id": id, "outcome": "requeued" }));
            } else {
                out!("job {id} requeued; it resumes from its last checkpoint");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn logs(settings: &Settings, id: uuid::Uuid, json: bool) -> Outcome {
    let pool = pool(settings).await?;
    if queries::job(&pool, id).await?.is_none() {
        return Err(not_found(id));
    }
    let events = queries::events(&pool, id).await?;
    if json {
        output::json(&events);
    } else {
        output::events(&events);
    }
    Ok(ExitCode::SUCCESS)
}
