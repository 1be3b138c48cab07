//! The fault matrix (issue #13): for each kind, a clean run names its steps; then, for every one
//! of those steps, the same job is (a) failed permanently right after the step's body ran and
//! before its checkpoint, then retried; (b) cancelled at that moment, then retried; (c) its
//! worker SIGKILLed at that moment, another worker finishing it. Faults are armed through the
//! worker's `worker.fault_dir` (see `worker/src/faults.rs`), one file per step, each firing once:
//! one job goes through all of a mode's faults in turn. Each mode must end `succeeded` with the
//! clean run's result and effects — the same rows, files and containers, nothing twice, nothing
//! left over. The figures go to stderr (`FAULT-MATRIX` lines) for RELIABILITY.md.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use understudy_tests::{stdout_json, wait_for, TestEnv, Worker};
use understudy_worker::contract::Priority;
use understudy_worker::state::JobState;
use uuid::Uuid;

/// How long one mode of one kind may take, all its faults included.
const MODE_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Fail,
    Cancel,
    Kill,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Fail => "fail-then-retry",
            Mode::Cancel => "cancel-then-retry",
            Mode::Kill => "sigkill",
        }
    }

    fn armed(self) -> &'static str {
        match self {
            Mode::Fail => "fail",
            Mode::Cancel | Mode::Kill => "hold",
        }
    }
}

/// How a case starts its job.
pub enum Start {
    /// Published straight to the jobs exchange.
    Enqueue(&'static str, Value),
    /// An `understudy` command that prints the job id as JSON (`--json`, no `--wait`).
    Cli(Vec<String>),
    /// Published straight, with a spec made afresh for each run (its own output directory).
    Each(&'static str, Box<dyn Fn() -> Value + Send + Sync>),
}

impl Start {
    async fn run(&self, env: &TestEnv) -> Uuid {
        match self {
            Start::Enqueue(kind, spec) => {
                env.enqueue(kind, spec.clone(), Priority::Interactive).await
            }
            Start::Each(kind, spec) => env.enqueue(kind, spec(), Priority::Interactive).await,
            Start::Cli(args) => {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = env.cli(&args);
                assert!(
                    out.status.success(),
                    "{args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let printed = stdout_json(&out);
                printed["id"]
                    .as_str()
                    .or_else(|| printed["job_id"].as_str())
                    .unwrap_or_else(|| panic!("no job id in {printed}"))
                    .parse()
                    .unwrap()
            }
        }
    }
}

/// The worker settings of one case (its own plus the fault directory when faulted).
pub struct Workers {
    pub extra: Vec<(String, String)>,
}

impl Workers {
    fn start(&self, env: &TestEnv, faults: Option<&Path>) -> Worker {
        let mut all: Vec<(String, String)> = self.extra.clone();
        all.extend(
            [
                ("UNDERSTUDY_WORKER__HEARTBEAT_MS", "300"),
                ("UNDERSTUDY_WORKER__LEASE_TTL_MS", "1500"),
                ("UNDERSTUDY_WORKER__POLL_MS", "200"),
                ("UNDERSTUDY_WORKER__MAX_LEASE_LOSSES", "1000"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        if let Some(dir) = faults {
            all.push((
                "UNDERSTUDY_WORKER__FAULT_DIR".into(),
                dir.display().to_string(),
            ));
        }
        let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.worker(&refs)
    }
}

/// A clean run: its steps in the order they completed, and its result.
pub struct Clean {
    pub steps: Vec<String>,
    pub result: Value,
    pub took: Duration,
}

pub async fn clean_run(env: &TestEnv, start: &Start, workers: &Workers) -> Clean {
    let _worker = workers.start(env, None);
    let began = Instant::now();
    let id = start.run(env).await;
    let state = env.wait_terminal(id, MODE_TIMEOUT).await;
    assert_eq!(
        state,
        JobState::Succeeded,
        "clean run: {}",
        error(env, id).await
    );
    Clean {
        steps: sqlx::query_scalar(
            "SELECT name FROM job_steps WHERE job_id = $1 AND state = 'completed' \
             ORDER BY completed_at, name",
        )
        .bind(id)
        .fetch_all(&env.pool)
        .await
        .unwrap(),
        result: result(env, id).await,
        took: began.elapsed(),
    }
}

/// What one mode did.
pub struct Faulted {
    pub result: Value,
    pub attempts: i64,
    pub took: Duration,
}

async fn error(env: &TestEnv, id: Uuid) -> String {
    sqlx::query_scalar::<_, Option<String>>("SELECT error FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap()
        .unwrap_or_default()
}

async fn result(env: &TestEnv, id: Uuid) -> Value {
    sqlx::query_scalar::<_, Option<Value>>("SELECT result FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap()
        .unwrap_or(Value::Null)
}

/// The fault files that fired (`<step>.failed` / `.held`) and those still armed.
fn fault_files(dir: &Path) -> (Vec<String>, Vec<String>) {
    let (mut fired, mut armed) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(step) = name
            .strip_suffix(".failed")
            .or_else(|| name.strip_suffix(".held"))
        {
            fired.push(step.to_string());
        } else if let Some(step) = name
            .strip_suffix(".fail")
            .or_else(|| name.strip_suffix(".hold"))
        {
            armed.push(step.to_string());
        }
    }
    fired.sort();
    armed.sort();
    (fired, armed)
}

enum Seen {
    Ended(JobState),
    Held(String),
}

/// Runs the job once with a `mode` fault armed at each of `steps`.
pub async fn faulted_run(
    env: &TestEnv,
    mode: Mode,
    steps: &[String],
    start: &Start,
    workers: &Workers,
) -> Faulted {
    let dir = env.dir.join(format!("faults-{}", mode.name()));
    std::fs::create_dir_all(&dir).unwrap();
    for step in steps {
        std::fs::write(
            dir.join(format!("{}.{}", step.replace('/', "_"), mode.armed())),
            b"",
        )
        .unwrap();
    }
    let mut worker = workers.start(env, Some(&dir));
    let began = Instant::now();
    let id = start.run(env).await;
    let mut handled: HashSet<String> = HashSet::new();
    loop {
        let seen = wait_for(
            &format!("{} of {id}: a held step or the end", mode.name()),
            MODE_TIMEOUT,
            || {
                let (dir, handled) = (&dir, &handled);
                async move {
                    if let Some(state) = env.state(id).await.filter(|s| s.is_terminal()) {
                        return Some(Seen::Ended(state));
                    }
                    let (fired, _) = fault_files(dir);
                    fired
                        .into_iter()
                        .find(|s| !handled.contains(s) && dir.join(format!("{s}.held")).exists())
                        .map(Seen::Held)
                }
            },
        )
        .await;
        match (mode, seen) {
            (_, Seen::Ended(JobState::Succeeded)) => break,
            (Mode::Fail, Seen::Ended(JobState::Failed)) => {
                let e = error(env, id).await;
                assert!(
                    e.contains("injected fault"),
                    "{}: the job failed otherwise: {e}\nfaults fired: {:?}",
                    mode.name(),
                    fault_files(&dir).0
                );
                retry(env, id);
            }
            (Mode::Cancel, Seen::Ended(JobState::Cancelled)) => retry(env, id),
            (Mode::Cancel, Seen::Held(step)) => {
                handled.insert(step);
                let out = env.cli(&["cancel", &id.to_string()]);
                assert!(
                    out.status.success(),
                    "cancel: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            (Mode::Kill, Seen::Held(step)) => {
                handled.insert(step);
                worker.kill9();
                worker = workers.start(env, Some(&dir));
            }
            (_, Seen::Ended(state)) => panic!(
                "{}: job {id} ended {state:?}: {}\nworker log:\n{}",
                mode.name(),
                error(env, id).await,
                worker.log_text()
            ),
            (_, Seen::Held(step)) => panic!("{}: unexpected hold at {step}", mode.name()),
        }
    }
    let took = began.elapsed();
    let (fired, armed) = fault_files(&dir);
    assert!(
        armed.is_empty(),
        "{}: steps of the clean run this run never reached: {armed:?}",
        mode.name()
    );
    assert_eq!(fired.len(), steps.len(), "{}: {fired:?}", mode.name());
    let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM job_attempts WHERE job_id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    drop(worker);
    Faulted {
        result: result(env, id).await,
        attempts,
        took,
    }
}

fn retry(env: &TestEnv, id: Uuid) {
    let out = env.cli(&["retry", &id.to_string()]);
    assert!(
        out.status.success(),
        "retry: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `value` without the keys in `volatile` and those ending in `_secs` or `_ms` (at any depth):
/// times, ids, ports.
pub fn normalized(value: &Value, volatile: &[&str]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    !volatile.contains(&k.as_str()) && !k.ends_with("_secs") && !k.ends_with("_ms")
                })
                .map(|(k, v)| (k.clone(), normalized(v, volatile)))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| normalized(v, volatile)).collect())
        }
        other => other.clone(),
    }
}

/// One line of the matrix for RELIABILITY.md.
pub fn report(kind: &str, mode: Mode, steps: usize, clean: &Clean, run: &Faulted) {
    eprintln!(
        "FAULT-MATRIX kind={kind} mode={} steps={steps} attempts={} clean_s={:.1} faulted_s={:.1} result=equal effects=equal",
        mode.name(),
        run.attempts,
        clean.took.as_secs_f64(),
        run.took.as_secs_f64()
    );
}

/// Every file below `dir`: relative path → SHA-256 (what a copy must reproduce), without
/// Understudy's ownership mark (it names the job that made the copy).
pub fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&at) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name() == ".understudy-mark.json" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), "dir".into());
            } else {
                let bytes = if meta.is_symlink() {
                    std::fs::read_link(&path)
                        .unwrap()
                        .display()
                        .to_string()
                        .into_bytes()
                } else {
                    std::fs::read(&path).unwrap()
                };
                out.insert(
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    format!("{:x}", Sha256::digest(&bytes)),
                );
            }
        }
    }
    out
}

/// Runs `program args…`; its stdout (it must succeed).
pub fn output(program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The noop kind: the engine alone. Effects are the log of step executions, so a step whose
/// body ran and was not checkpointed runs again (at least once); what must hold is that every
/// step's last run is in the checkpoints and the result is the clean one's.
#[tokio::test(flavor = "multi_thread")]
async fn noop_survives_a_failure_a_cancel_and_a_sigkill_at_every_step() {
    let env = TestEnv::new("matrix-noop").await;
    let spec = serde_json::json!({"steps": 5, "step_ms": 50});
    let start = Start::Enqueue("noop", spec);
    let workers = Workers { extra: vec![] };
    let clean = clean_run(&env, &start, &workers).await;
    assert_eq!(clean.steps.len(), 5);
    for mode in [Mode::Fail, Mode::Cancel, Mode::Kill] {
        let run = faulted_run(&env, mode, &clean.steps, &start, &workers).await;
        assert_eq!(run.result, clean.result, "{}", mode.name());
        report("noop", mode, clean.steps.len(), &clean, &run);
    }
}

/// MariaDB databases whose names start with `prefix`, sorted.
fn mysql_databases(prefix: &str) -> Vec<String> {
    let sql = format!(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{prefix}%' ORDER BY 1"
    );
    output(
        "mysql",
        &[
            "-h",
            "127.0.0.1",
            "-u",
            "understudy",
            "-N",
            "-B",
            "-e",
            &sql,
        ],
        &[("MYSQL_PWD", "understudy")],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// A MariaDB database's schema and rows, in primary key order, without Understudy's own mark
/// table and the tables' next AUTO_INCREMENT (a row inserted and removed moves it).
fn mysql_fingerprint(database: &str) -> String {
    let ignore = format!("--ignore-table={database}.understudy_mark");
    let dump = output(
        "mysqldump",
        &[
            "-h",
            "127.0.0.1",
            "-u",
            "understudy",
            "--skip-dump-date",
            "--order-by-primary",
            "--skip-extended-insert",
            "--hex-blob",
            &ignore,
            database,
        ],
        &[("MYSQL_PWD", "understudy")],
    );
    dump.lines()
        .map(|l| match l.find(" AUTO_INCREMENT=") {
            Some(at) => {
                let rest = &l[at + 16..];
                let end = rest.find(' ').unwrap_or(rest.len());
                format!("{}{}", &l[..at], &rest[end..])
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// PostgreSQL databases whose names start with `prefix`, sorted.
async fn pg_databases(env: &TestEnv, prefix: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE $1 ORDER BY 1")
        .bind(format!("{prefix}%"))
        .fetch_all(&env.pool)
        .await
        .unwrap()
}

/// A PostgreSQL database's schema (`pg_dump --schema-only`, no comments: marks are comments)
/// and each table's rows, sorted, hashed; sequences' values too.
async fn pg_fingerprint(database: &str) -> String {
    let url = crate::clone_pg::pg_url(database);
    let schema = output(
        "pg_dump",
        &[
            "--schema-only",
            "--no-comments",
            "--no-owner",
            "--dbname",
            &url,
        ],
        &[],
    );
    // Without the random `\restrict` key pg_dump writes into every dump.
    let schema: String = schema
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut out = schema;
    for table in tables {
        let digest: Option<String> = sqlx::query_scalar(&format!(
            "SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM public.\"{table}\" t"
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        out.push_str(&format!("\n{table} {digest:?}"));
    }
    pool.close().await;
    out
}

/// A site's staging copy as the matrix compares it: database, uploads, every database of the
/// site's name prefix (nothing left over: no incoming copy, no park) and the folder the
/// staging uploads live in (no incoming or parked uploads).
#[derive(Debug, PartialEq)]
struct CloneState {
    staging: String,
    uploads: BTreeMap<PathBuf, String>,
    databases: Vec<String>,
    folders: Vec<String>,
}

fn folder_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// What changes from run to run in a clone's result.
const CLONE_VOLATILE: &[&str] = &[
    "ms",
    "took_ms",
    "elapsed_ms",
    "seconds",
    "duration_ms",
    "snapshot",
];

fn destroy(env: &TestEnv, site: &str) {
    let out = env.cli(&["staging", "destroy", site, "--wait"]);
    assert!(
        out.status.success(),
        "destroy: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the three modes for a registered clone site; `state` reads the copy.
async fn clone_matrix<P, S>(
    env: &TestEnv,
    kind: &str,
    site: &str,
    production: impl Fn() -> P,
    state: impl Fn() -> S,
) where
    P: std::future::Future<Output = CloneState>,
    S: std::future::Future<Output = CloneState>,
{
    let before = production().await;
    let start = Start::Cli(
        ["staging", "create", site, "--json"]
            .map(String::from)
            .to_vec(),
    );
    let workers = Workers {
        extra: vec![("UNDERSTUDY_RETRY__MAX_TRIES".into(), "1".into())],
    };
    let clean = clean_run(env, &start, &workers).await;
    let expected = state().await;
    {
        let _worker = workers.start(env, None);
        destroy(env, site);
    }
    for mode in [Mode::Fail, Mode::Cancel, Mode::Kill] {
        let run = faulted_run(env, mode, &clean.steps, &start, &workers).await;
        // Known gap (issue #13 note): a PostgreSQL rewrite-in-place step killed after its
        // commit runs again on rows already rewritten and counts no replacements; the copy is
        // the same (checked below), its counts are not.
        let volatile: Vec<&str> = match (kind, mode) {
            ("clone-postgres", Mode::Kill) => {
                [CLONE_VOLATILE, &["replacements", "values_changed"]].concat()
            }
            _ => CLONE_VOLATILE.to_vec(),
        };
        assert_eq!(
            normalized(&run.result, &volatile),
            normalized(&clean.result, &volatile),
            "{kind} {}",
            mode.name()
        );
        let got = state().await;
        if got != expected {
            std::fs::write("/tmp/matrix-expected.txt", format!("{expected:#?}")).unwrap();
            std::fs::write("/tmp/matrix-got.txt", format!("{got:#?}")).unwrap();
        }
        assert!(
            got == expected,
            "{kind} {}: the copy differs from the clean run's (diff /tmp/matrix-*.txt)",
            mode.name()
        );
        report(kind, mode, clean.steps.len(), &clean, &run);
        let _worker = workers.start(env, None);
        destroy(env, site);
    }
    assert_eq!(production().await, before, "{kind}: production changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mariadb_staging_create_survives_a_failure_a_cancel_and_a_sigkill_at_every_step() {
    use crate::clone_mysql::{my_url, mysql_exec};
    let env = TestEnv::new("matrix-mysql").await;
    let prefix = format!("ut_fm_{}", &env.namespace[1..]);
    let _dbs = crate::clone_mysql::Scratch(format!("{prefix}_s"));
    let prod = format!("{prefix}_s");
    mysql_exec(
        None,
        &format!("CREATE DATABASE `{prod}` CHARACTER SET utf8mb4"),
    );
    mysql_exec(
        Some(&prod),
        &understudy_tests::wordpress_fixture::mysql_sql("matrix.example", 12),
    );
    let uploads = env.dir.join("prod/wp-content/uploads");
    std::fs::create_dir_all(uploads.join("2026/12")).unwrap();
    std::fs::write(uploads.join("2026/12/a.jpg"), vec![3u8; 40_000]).unwrap();
    std::fs::write(uploads.join("b.txt"), b"production file").unwrap();
    let staging_uploads = env.dir.join("staging/wp-content/uploads");
    env.add_site(&[
        "m",
        "--url",
        "https://matrix.example",
        "--db",
        &my_url(&prod),
        "--uploads",
        uploads.to_str().unwrap(),
        "--staging-uploads",
        staging_uploads.to_str().unwrap(),
    ]);
    let staging = format!("{prod}_staging");
    let (p, u) = (prod.clone(), uploads.clone());
    clone_matrix(
        &env,
        "clone-mariadb",
        "m",
        || {
            let (p, u, prefix) = (p.clone(), u.clone(), prefix.clone());
            async move {
                CloneState {
                    staging: mysql_fingerprint(&p),
                    uploads: tree(&u),
                    databases: mysql_databases(&prefix),
                    folders: folder_entries(u.parent().unwrap()),
                }
            }
        },
        || {
            let (s, su, prefix) = (staging.clone(), staging_uploads.clone(), prefix.clone());
            async move {
                CloneState {
                    staging: mysql_fingerprint(&s),
                    uploads: tree(&su),
                    databases: mysql_databases(&prefix),
                    folders: folder_entries(su.parent().unwrap()),
                }
            }
        },
    )
    .await;
    // The staging database is dropped with the scratch guard; so is production.
    mysql_exec(None, &format!("DROP DATABASE IF EXISTS `{staging}`"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_staging_create_survives_a_failure_a_cancel_and_a_sigkill_at_every_step() {
    let env = TestEnv::new("matrix-pg").await;
    let host = format!("matrix-{}.example", &env.namespace[1..]);
    let site = crate::clone_pg::add_pg_site(&env, "p", &host, 12, &[]).await;
    let prefix = site.source.clone();
    let staging = format!("{}_staging", site.source);
    let (src, up, su) = (
        site.source.clone(),
        site.uploads.clone(),
        site.staging_uploads.clone(),
    );
    let env_ref = &env;
    clone_matrix(
        &env,
        "clone-postgres",
        "p",
        || {
            let (src, up, prefix) = (src.clone(), up.clone(), prefix.clone());
            async move {
                CloneState {
                    staging: pg_fingerprint(&src).await,
                    uploads: tree(&up),
                    databases: pg_databases(env_ref, &prefix).await,
                    folders: folder_entries(up.parent().unwrap()),
                }
            }
        },
        || {
            let (s, su, prefix) = (staging.clone(), su.clone(), prefix.clone());
            async move {
                CloneState {
                    staging: pg_fingerprint(&s).await,
                    uploads: tree(&su),
                    databases: pg_databases(env_ref, &prefix).await,
                    folders: folder_entries(su.parent().unwrap()),
                }
            }
        },
    )
    .await;
}

/// What a sandbox holds, as WordPress sees it: objects per type and status, comments, users,
/// terms, and what an import must not add (revisions, enclosure/pingback queue entries).
fn sandbox_contents(container: &str) -> Value {
    let script = r#"require '/var/www/html/wp-load.php'; global $wpdb;
$q = fn($sql) => $wpdb->get_results($sql, ARRAY_N);
echo json_encode([
  'posts' => $q("SELECT post_type, post_status, COUNT(*) FROM {$wpdb->posts} GROUP BY 1, 2 ORDER BY 1, 2"),
  'comments' => $wpdb->get_var("SELECT COUNT(*) FROM {$wpdb->comments}"),
  'users' => $wpdb->get_var("SELECT COUNT(*) FROM {$wpdb->users}"),
  'terms' => $wpdb->get_var("SELECT COUNT(*) FROM {$wpdb->terms}"),
  'postmeta' => $wpdb->get_var("SELECT COUNT(*) FROM {$wpdb->postmeta}"),
  'queued' => $wpdb->get_var("SELECT COUNT(*) FROM {$wpdb->postmeta} WHERE meta_key IN ('_encloseme', '_pingme')"),
]);"#;
    let out = output(
        "docker",
        &["exec", "-u", "www-data", container, "php", "-r", script],
        &[],
    );
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// What changes from one sandbox to the next in a provision result.
const PROVISION_VOLATILE: &[&str] = &[
    "sandbox",
    "url",
    "expires_at",
    "containers",
    "admin_password",
    "ms",
    "bundle",
];

/// The sandbox of a provision or onboard result: its contents and the engine objects of the
/// test's owner (exactly one sandbox's: nothing made twice, nothing left over). Destroys it.
async fn sandbox_state(env: &TestEnv, result: &Value) -> (Value, (usize, usize, usize)) {
    use understudy_tests::sandbox_fixture::engine_objects;
    let provision = if result["provision"].is_object() {
        &result["provision"]
    } else {
        result
    };
    let container = provision["containers"]["wordpress"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("no WordPress container in {result}"));
    let contents = sandbox_contents(container);
    let objects = engine_objects(env).await;
    let counts = (
        objects.containers.len(),
        objects.networks.len(),
        objects.volumes.len(),
    );
    let id = provision["sandbox"].as_str().unwrap().to_string();
    let out = env.cli(&["sandbox", "destroy", &id, "--wait"]);
    assert!(
        out.status.success(),
        "destroy {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (contents, counts)
}

/// Runs the three modes of a sandbox kind (provision or onboard).
async fn sandbox_matrix(env: &TestEnv, kind: &str, start: Start, extra: Vec<(String, String)>) {
    let mut extra = extra;
    extra.extend(understudy_tests::sandbox_fixture::sandbox_env(env));
    extra.push(("UNDERSTUDY_RETRY__MAX_TRIES".into(), "2".into()));
    let workers = Workers { extra };
    let clean = clean_run(env, &start, &workers).await;
    let expected = {
        let _worker = workers.start(env, None);
        sandbox_state(env, &clean.result).await
    };
    assert_eq!(
        expected.0["queued"], "0",
        "{kind}: the import queued pings: {}",
        expected.0
    );
    for mode in [Mode::Fail, Mode::Cancel, Mode::Kill] {
        let run = faulted_run(env, mode, &clean.steps, &start, &workers).await;
        assert_eq!(
            normalized(&run.result, PROVISION_VOLATILE),
            normalized(&clean.result, PROVISION_VOLATILE),
            "{kind} {}",
            mode.name()
        );
        let _worker = workers.start(env, None);
        let got = sandbox_state(env, &run.result).await;
        assert_eq!(
            got,
            expected,
            "{kind} {}: the sandbox differs from the clean run's",
            mode.name()
        );
        report(kind, mode, clean.steps.len(), &clean, &run);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_survives_a_failure_a_cancel_and_a_sigkill_at_every_step() {
    let env = TestEnv::new("matrix-provision").await;
    let bundle = understudy_tests::sandbox_fixture::write_bundle(&env.dir);
    let start = Start::Enqueue(
        "provision",
        serde_json::json!({"bundle": bundle.to_str().unwrap()}),
    );
    sandbox_matrix(&env, "provision", start, vec![]).await;
    understudy_tests::sandbox_fixture::remove_all(&env).await;
}

/// An export's bundle as a comparable value: every file's hash but the manifest's, and the
/// manifest without what names the job and the moment.
fn bundle_state(result: &Value) -> (BTreeMap<PathBuf, String>, Value) {
    let out = PathBuf::from(
        result["bundle"]
            .as_str()
            .unwrap_or_else(|| panic!("no bundle in {result}")),
    );
    let mut files = tree(&out);
    files.remove(Path::new("manifest.json"));
    files.remove(Path::new(".understudy-job"));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    (files, normalized(&manifest, EXPORT_VOLATILE))
}

/// What changes from one export to the next: the job, the moment, the directory, and the
/// requests a retried step repeats.
const EXPORT_VOLATILE: &[&str] = &[
    "job_id",
    "created_at",
    "bundle",
    "manifest",
    "http_requests",
];

#[tokio::test(flavor = "multi_thread")]
async fn an_export_survives_a_failure_a_cancel_and_a_sigkill_at_every_step() {
    let _site = crate::export_support::SITE.read().await;
    let wp = crate::export_support::Wp::load();
    let env = TestEnv::new("matrix-export").await;
    let runs = std::sync::atomic::AtomicUsize::new(0);
    let (dir, url, password) = (env.dir.clone(), wp.url.clone(), wp.password("admin"));
    let settings = env.settings.clone();
    let start = Start::Each(
        "export",
        Box::new(move || {
            let n = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            crate::export_support::sealed_spec(
                &settings,
                &url,
                "admin",
                &password,
                &dir.join(format!("bundle-{n}")),
            )
        }),
    );
    let workers = Workers {
        extra: vec![("UNDERSTUDY_RETRY__MAX_TRIES".into(), "2".into())],
    };
    let clean = clean_run(&env, &start, &workers).await;
    let expected = bundle_state(&clean.result);
    for mode in [Mode::Fail, Mode::Cancel, Mode::Kill] {
        let run = faulted_run(&env, mode, &clean.steps, &start, &workers).await;
        assert_eq!(
            normalized(&run.result, EXPORT_VOLATILE),
            normalized(&clean.result, EXPORT_VOLATILE),
            "export {}",
            mode.name()
        );
        let got = bundle_state(&run.result);
        assert_eq!(
            got.1,
            expected.1,
            "export {}: the manifest differs",
            mode.name()
        );
        let differing: Vec<&PathBuf> = got
            .0
            .keys()
            .chain(expected.0.keys())
            .filter(|k| got.0.get(*k) != expected.0.get(*k))
            .collect();
        assert!(
            differing.is_empty(),
            "export {}: the bundle's files differ: {differing:?}",
            mode.name()
        );
        let out = PathBuf::from(run.result["bundle"].as_str().unwrap());
        let partial = out.with_extension("partial");
        assert!(
            !partial.exists(),
            "export {}: {} left behind",
            mode.name(),
            partial.display()
        );
        report("export", mode, clean.steps.len(), &clean, &run);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_onboarding_survives_a_failure_a_cancel_and_a_sigkill_at_every_step() {
    let _site = crate::export_support::SITE.read().await;
    let wp = crate::export_support::Wp::load();
    let env = TestEnv::new("matrix-onboard").await;
    let password_file = env.dir.join("app-password");
    std::fs::write(&password_file, wp.password("admin")).unwrap();
    let start = Start::Cli(
        [
            "onboard",
            &wp.url,
            "--user",
            "admin",
            "--app-password-file",
            password_file.to_str().unwrap(),
            "--ttl",
            "2h",
            "--json",
        ]
        .map(String::from)
        .to_vec(),
    );
    sandbox_matrix(&env, "onboard", start, vec![]).await;
    understudy_tests::sandbox_fixture::remove_all(&env).await;
}
