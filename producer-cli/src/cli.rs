//! The command line, as clap sees it.

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "understudy",
    version,
    about = "Staging copies and sandboxes of WordPress sites, as durable jobs",
    after_help = "Exit codes: 0 ok; 1 the job failed or was cancelled; 2 bad input; 3 not found; 4 a service is unreachable."
)]
pub struct Args {
    /// Settings file (default: ./understudy.toml when present). Env UNDERSTUDY_* overrides it.
    #[arg(long, global = true, env = "UNDERSTUDY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Apply database migrations and declare the RabbitMQ topology.
    Migrate,
    /// Enqueue one job; prints its id.
    Enqueue(EnqueueArgs),
    /// Enqueue one job per line of a JSON Lines file ({"kind": .., "spec": .., ...}).
    Bulk(BulkArgs),
    /// Show one job: state, progress, steps, result or error.
    Status {
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Follow a job with a live progress bar until it ends.
    Watch {
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// List jobs, newest first.
    List(ListArgs),
    /// Cancel a job: a running job stops at its next step boundary and compensates.
    Cancel {
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Put a failed or cancelled job back in the queue; it resumes from its last checkpoint.
    Retry {
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Show a job's history (events, errors, retries).
    Logs {
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Export a WordPress site through its REST API into a bundle (an `export` job).
    Export(crate::export::ExportArgs),
    /// Messages that could not become jobs.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Measure the system (prints JSON with --json).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(ClapArgs)]
pub struct EnqueueArgs {
    /// Job kind, e.g. noop.
    pub kind: String,
    /// Spec as a JSON file (`-` for stdin).
    #[arg(long, conflicts_with = "set")]
    pub spec: Option<PathBuf>,
    /// Spec fields as key=value (value parsed as JSON when it is JSON, else a string).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    #[arg(long, value_enum, default_value_t = PriorityArg::Interactive)]
    pub priority: PriorityArg,
    /// Enqueueing the same key again yields the same job.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Jobs with the same key (e.g. a site) never run at the same time.
    #[arg(long)]
    pub concurrency_key: Option<String>,
    /// Choose the job id yourself.
    #[arg(long)]
    pub job_id: Option<Uuid>,
    /// Watch the job until it ends (exit code 1 if it does not succeed).
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(ClapArgs)]
pub struct BulkArgs {
    /// JSON Lines file (`-` for stdin).
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t = PriorityArg::Bulk)]
    pub priority: PriorityArg,
    #[arg(long)]
    pub json: bool,
}

#[derive(ClapArgs)]
pub struct ListArgs {
    #[arg(long)]
    pub state: Option<String>,
    #[arg(long)]
    pub kind: Option<String>,
    /// Only failed jobs (same as --state failed).
    #[arg(long)]
    pub failed: bool,
    /// Only jobs created within this long, e.g. 30s, 15m, 1h, 2d.
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum DlqCommand {
    /// List dead-lettered messages with the reason.
    List {
        /// Include messages already replayed.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Publish dead-lettered messages again (after fixing what was wrong).
    Replay {
        /// Dead-letter ids (see `dlq list`).
        ids: Vec<i64>,
        /// Every message not yet replayed.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Throughput and latency of the engine with noop jobs, on a scratch database.
    Engine(BenchEngineArgs),
    /// Wall time and requests/s of one export of a site, on a scratch database.
    Export(crate::export_bench::BenchExportArgs),
}

#[derive(ClapArgs, Clone)]
pub struct BenchEngineArgs {
    #[arg(long, default_value_t = 10_000)]
    pub jobs: usize,
    #[arg(long, default_value_t = 5)]
    pub steps: u32,
    /// Worker processes to start.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Jobs run at once per worker.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Sequential single jobs for the idle latency figures.
    #[arg(long, default_value_t = 50)]
    pub idle_samples: usize,
    /// Skip the resume-after-SIGKILL measurement.
    #[arg(long)]
    pub no_kill: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PriorityArg {
    Interactive,
    Bulk,
}

impl From<PriorityArg> for understudy_worker::contract::Priority {
    fn from(p: PriorityArg) -> Self {
        match p {
            PriorityArg::Interactive => Self::Interactive,
            PriorityArg::Bulk => Self::Bulk,
        }
    }
}
