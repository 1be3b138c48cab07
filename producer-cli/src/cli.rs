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
    /// Live view: running jobs with progress, queue depths, workers (refreshes every second).
    Top(crate::top::TopArgs),
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
    /// Register production sites (their database credentials are stored encrypted).
    Site {
        #[command(subcommand)]
        command: SiteCommand,
    },
    /// Create, refresh or destroy staging copies of registered sites.
    Staging {
        #[command(subcommand)]
        command: StagingCommand,
    },
    /// Make a WordPress sandbox on Docker from an export bundle.
    Provision(ProvisionArgs),
    /// Export a live site and make a sandbox of it, in one job (an `onboard` job).
    Onboard(crate::onboard::OnboardArgs),
    /// List, show, destroy sandboxes; reap expired ones (run `sandbox reap` from cron).
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
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
    /// Choose the job id yourself (with --idempotency-key the id is derived from the key).
    #[arg(long, conflicts_with = "idempotency_key")]
    pub job_id: Option<Uuid>,
    /// Watch the job until it ends (exit code 1 if it does not succeed).
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(ClapArgs)]
pub struct ProvisionArgs {
    /// Export bundle directory (readable by the workers).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Label for the sandbox (default: the bundle's site host).
    #[arg(long)]
    pub site: Option<String>,
    /// Lifetime in hours (default: provision.default_ttl_hours, 7 days).
    #[arg(long)]
    pub ttl_hours: Option<u64>,
    /// Login of the sandbox administrator.
    #[arg(long, default_value = "understudy")]
    pub admin_user: String,
    /// Choose the job id yourself.
    #[arg(long)]
    pub job_id: Option<Uuid>,
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum SandboxCommand {
    /// Live sandboxes (--all: also ended ones).
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// One sandbox: URL, admin login, containers, import report.
    Show {
        id: String,
        /// Also print the admin password and the Application Password.
        #[arg(long)]
        reveal_password: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove a sandbox's containers, network and volume.
    Destroy {
        id: String,
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// Enqueue a reaper job: destroy expired sandboxes, clean drift and orphans.
    Reap {
        /// Reap as if it were this time (RFC 3339).
        #[arg(long)]
        now: Option<String>,
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
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
pub enum SiteCommand {
    /// Register a production site; staging defaults: https://staging.<host>, <db>_staging, <uploads>-staging.
    Add(Box<SiteAddArgs>),
    List {
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        json: bool,
    },
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a site from the registry (destroy its staging copy first). Its backups are kept
    /// aside (never restorable into another registration) unless --delete-backups.
    Remove {
        name: String,
        /// Delete the site's production backups too.
        #[arg(long)]
        delete_backups: bool,
    },
    /// Production backups made by promote and restore (restore one with `staging restore`).
    Backups {
        name: String,
        /// List the backups kept from removed registrations of this name instead.
        #[arg(long)]
        removed: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(ClapArgs)]
pub struct SiteAddArgs {
    /// Site name: lowercase letters, digits and '-'.
    pub name: String,
    /// Production URL, e.g. https://example.com.
    #[arg(long)]
    pub url: String,
    /// Production database URL (postgres://… or mysql://…). Prefer --db-file: argv is visible to other users.
    #[arg(long, required_unless_present = "db_file", conflicts_with = "db_file")]
    pub db: Option<String>,
    /// File holding the production database URL.
    #[arg(long)]
    pub db_file: Option<PathBuf>,
    /// Production uploads directory (wp-content/uploads).
    #[arg(long)]
    pub uploads: String,
    #[arg(long, default_value = "wp_")]
    pub table_prefix: String,
    #[arg(long)]
    pub staging_url: Option<String>,
    /// Staging database URL (default: <db>_staging on the production server).
    #[arg(long, conflicts_with = "staging_db_file")]
    pub staging_db: Option<String>,
    #[arg(long)]
    pub staging_db_file: Option<PathBuf>,
    #[arg(long)]
    pub staging_uploads: Option<String>,
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Allow the staging URL to be the production URL (staging reached by hosts file / VPN).
    #[arg(long)]
    pub allow_same_url: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum StagingCommand {
    /// Copy production to a new staging environment.
    Create(StagingArgs),
    /// Copy production again over the staging environment (one site, or --all [--tag T]).
    Refresh(StagingRefreshArgs),
    /// Remove the staging database, uploads copy and record (only what Understudy created and marked).
    Destroy(StagingDestroyArgs),
    /// Push staging tables to production: load aside, swap atomically, back up exactly the rows replaced.
    Promote(PromoteArgs),
    /// Put back the tables a promote replaced, from its backup (current state backed up first).
    Restore {
        site: String,
        /// Backup file (see `understudy site backups SITE`).
        #[arg(long)]
        backup: String,
        /// Only these tables of the backup (without prefix, comma-separated); default all of
        /// them, which are exactly the tables the promote replaced.
        #[arg(long, value_delimiter = ',')]
        tables: Option<Vec<String>>,
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// The staging basic-auth login and password (`--basic-auth`): prints the secret.
    Credentials {
        site: String,
        #[arg(long)]
        json: bool,
    },
    /// Staging environments that exist.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(ClapArgs)]
pub struct PromoteArgs {
    pub site: String,
    /// Only these tables, without prefix (e.g. posts,postmeta,options). Default: all but users, comments, orders.
    #[arg(long, value_delimiter = ',')]
    pub tables: Option<Vec<String>>,
    /// Leave these tables out (without prefix).
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Also promote tables that change on production (users, comments, orders).
    #[arg(long)]
    pub include_live_tables: bool,
    /// Confirm overwriting live tables.
    #[arg(long)]
    pub yes: bool,
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(ClapArgs)]
pub struct StagingArgs {
    pub site: String,
    /// Watch the job until it ends.
    #[arg(long)]
    pub wait: bool,
    /// Tables copied at once (PostgreSQL; MySQL/MariaDB with `--per-table-snapshot`).
    #[arg(long, default_value_t = 2)]
    pub parallel_tables: usize,
    /// Option names never rewritten (repeatable).
    #[arg(long = "keep-option")]
    pub keep_options: Vec<String>,
    #[command(flatten)]
    pub anonymize: AnonymizeArgs,
    #[command(flatten)]
    pub copy: CopyArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(ClapArgs)]
pub struct StagingDestroyArgs {
    pub site: String,
    /// Watch the job until it ends.
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub json: bool,
}

/// How the copy is made and guarded (create and refresh).
#[derive(ClapArgs, Clone, Default)]
pub struct CopyArgs {
    /// Put generated HTTP basic-auth credentials in front of staging (a must-use plugin;
    /// read them with `understudy staging credentials SITE`). Blocks Application Passwords.
    #[arg(long, conflicts_with = "no_basic_auth")]
    pub basic_auth: bool,
    /// Remove the staging basic auth (refresh keeps it otherwise).
    #[arg(long)]
    pub no_basic_auth: bool,
    /// Never use the same-server `CREATE DATABASE … TEMPLATE` fast path (PostgreSQL).
    #[arg(long, conflicts_with = "force_template")]
    pub no_template: bool,
    /// Use the fast path even when most of production holds its URL (rewriting that in place
    /// is slower than streaming, so by default such a copy streams).
    #[arg(long)]
    pub force_template: bool,
    /// Uploads: compare the content of every file before reusing the staging copy's (by
    /// default files under 1 MiB are compared, larger ones by size and modification time).
    #[arg(long)]
    pub checksum: bool,
    /// MySQL/MariaDB: read each table in its own transaction, `--parallel-tables` at a time,
    /// resumable table by table. By default every table is read in one transaction, so staging
    /// is production at one moment (no comment without its post) and a crashed copy starts over.
    #[arg(long)]
    pub per_table_snapshot: bool,
}

/// Personal data on the copy (create and refresh).
#[derive(ClapArgs, Clone, Default)]
pub struct AnonymizeArgs {
    /// Replace personal data (users, comments, orders, customers) with stable fakes; every
    /// password becomes unusable except the kept administrator's.
    #[arg(long)]
    pub anonymize: bool,
    /// With --anonymize: the administrator (login) who can still log in [default: the
    /// administrator with the lowest user ID].
    #[arg(long, value_name = "LOGIN", requires = "anonymize")]
    pub keep_admin: Option<String>,
}

#[derive(ClapArgs)]
pub struct StagingRefreshArgs {
    #[arg(required_unless_present = "all")]
    pub site: Option<String>,
    /// Every site that has a staging environment (bulk priority, one job per site).
    #[arg(long, conflicts_with = "site")]
    pub all: bool,
    /// With --all: only sites with this tag.
    #[arg(long, requires = "all")]
    pub tag: Option<String>,
    #[arg(long)]
    pub wait: bool,
    #[arg(long, default_value_t = 2)]
    pub parallel_tables: usize,
    #[arg(long = "keep-option")]
    pub keep_options: Vec<String>,
    #[command(flatten)]
    pub anonymize: AnonymizeArgs,
    #[command(flatten)]
    pub copy: CopyArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Throughput and latency of the engine with noop jobs, on a scratch database.
    Engine(BenchEngineArgs),
    /// Wall time and requests/s of one export of a site, on a scratch database.
    Export(crate::export_bench::BenchExportArgs),
    /// A ~1 GB WordPress-shaped database: plain dump|load vs our clone, per engine.
    Clone(BenchCloneArgs),
    /// Jobs under faults: worker SIGKILLs, RabbitMQ and PostgreSQL restarts, severed connections.
    Chaos(BenchChaosArgs),
}

#[derive(ClapArgs, Clone)]
pub struct BenchChaosArgs {
    #[arg(long, default_value_t = 300)]
    pub jobs: usize,
    /// Real clone jobs mixed in (small generated WordPress databases, PostgreSQL and MariaDB
    /// in turn; MariaDB from UNDERSTUDY_BENCH_MYSQL_URL); each finished copy is verified.
    #[arg(long, default_value_t = 4)]
    pub clones: usize,
    /// Posts of each generated clone source (~3.3 KB each with their meta rows); larger
    /// sources make longer clones, which more faults land on.
    #[arg(long, default_value_t = 1000)]
    pub clone_posts: u64,
    #[arg(long, default_value_t = 3)]
    pub workers: usize,
    /// How long faults are injected (then the run waits for the jobs, at most 3 more minutes).
    #[arg(long, default_value_t = 5.0)]
    pub minutes: f64,
    /// Seconds between faults.
    #[arg(long, default_value_t = 6)]
    pub fault_every: u64,
    /// Faults to inject, in turn: kill, rabbitmq, sever, postgres.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "kill,postgres,rabbitmq,sever"
    )]
    pub faults: Vec<String>,
    /// Command (argv, space-separated) that restarts PostgreSQL.
    #[arg(
        long,
        default_value = "pg_ctlcluster --skip-systemctl-redirect 15 main restart"
    )]
    pub postgres_restart: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(ClapArgs, Clone)]
pub struct BenchCloneArgs {
    /// Approximate size of the generated production database.
    #[arg(long, default_value_t = 1000)]
    pub size_mb: u64,
    /// Engines to measure.
    #[arg(long, value_enum, default_value_t = BenchEngineKind::Both)]
    pub engine: BenchEngineKind,
    /// Tables copied at once by our clone.
    #[arg(long, default_value_t = 2)]
    pub parallel_tables: usize,
    /// Which copies to measure (comma-separated; ratios need `plain`).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "plain,rewrite,anonymize,fast-path"
    )]
    pub runs: Vec<BenchCloneRun>,
    #[arg(long)]
    pub json: bool,
}

/// One measured copy of `bench clone`.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum BenchCloneRun {
    /// Plain `pg_dump | psql` / `mysqldump | mysql`.
    Plain,
    /// Our clone with URL rewrite, streaming.
    Rewrite,
    /// Our clone with URL rewrite and anonymization.
    Anonymize,
    /// The same-server `CREATE DATABASE … TEMPLATE` fast path (PostgreSQL).
    FastPath,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum BenchEngineKind {
    Postgres,
    Mysql,
    Both,
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
