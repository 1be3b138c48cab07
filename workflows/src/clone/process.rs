//! External programs (`pg_dump`, `psql`, `mysqldump`, `mysql`), run by argv, never through a shell.
//!
//! [`pipeline`] connects a dump program to a load program through a filter running on a blocking
//! thread (the URL rewriter), so nothing touches the disk. Secrets go through the environment or
//! a private defaults file, never argv; each program's stderr is captured into the error.

use secrecy::{ExposeSecret, SecretString};
use std::io::{BufReader, BufWriter, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

use crate::StepError;

/// Last bytes of stderr kept for error messages.
const STDERR_TAIL: usize = 4096;

/// One program invocation.
#[derive(Clone)]
pub struct Program {
    pub name: &'static str,
    pub args: Vec<String>,
    /// Environment (e.g. `PGPASSWORD`): secret, so never logged.
    pub env: Vec<(&'static str, SecretString)>,
}

impl Program {
    pub fn new(name: &'static str) -> Program {
        Program {
            name,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Program {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Program {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn secret_env(mut self, key: &'static str, value: SecretString) -> Program {
        self.env.push((key, value));
        self
    }

    fn spawn(&self, stdin: Stdio, stdout: Stdio) -> Result<Child, StepError> {
        let mut command = Command::new(self.name);
        command
            .args(&self.args)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped());
        for (key, value) in &self.env {
            command.env(key, value.expose_secret());
        }
        command.spawn().map_err(|e| {
            StepError::Permanent(format!(
                "cannot start {}: {e} (install the client tools: postgresql-client / mariadb-client)",
                self.name
            ))
        })
    }
}

/// Reads a child's stderr on a thread, keeping the tail.
fn drain_stderr(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut stderr = child.stderr.take().expect("stderr piped");
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        let start = buf.len().saturating_sub(STDERR_TAIL);
        String::from_utf8_lossy(&buf[start..]).trim().to_string()
    })
}

/// libpq's words for a connection the server dropped mid-stream (a restart under a dump).
const ALSO_TRANSIENT: &[&str] = &["ssl syscall error"];

/// Classifies a failed program by what it printed.
pub fn failure(program: &str, status: std::process::ExitStatus, stderr: &str) -> StepError {
    let lower = stderr.to_ascii_lowercase();
    let message = format!("{program} failed ({status}): {}", one_line(stderr));
    let transient = [
        "could not connect",
        "connection refused",
        "connection reset",
        "server closed the connection",
        "can't connect",
        "lost connection",
        "gone away",
        "timeout",
        "too many connections",
        // A server restarting under a dump or load (PostgreSQL's shutdown and start-up).
        "terminating connection due to administrator command",
        "closed unexpectedly",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
        "could not receive data from server",
    ];
    if transient
        .iter()
        .chain(ALSO_TRANSIENT)
        .any(|t| lower.contains(t))
    {
        StepError::Retryable(message)
    } else {
        StepError::Permanent(message)
    }
}

fn one_line(text: &str) -> String {
    let joined: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let joined = joined.join(" | ");
    if joined.chars().count() > 600 {
        format!("{}…", joined.chars().take(600).collect::<String>())
    } else {
        joined
    }
}

/// Runs one program to completion; returns its stdout.
pub async fn run(program: Program, cancel: CancellationToken) -> Result<String, StepError> {
    run_with_input(program, None, cancel).await
}

/// Runs one program with `input` (a file) as its stdin; returns its stdout.
pub async fn run_with_input(
    program: Program,
    input: Option<std::path::PathBuf>,
    cancel: CancellationToken,
) -> Result<String, StepError> {
    let pids = Arc::new(Mutex::new(Vec::new()));
    let task = {
        let pids = pids.clone();
        tokio::task::spawn_blocking(move || {
            let stdin = match &input {
                Some(path) => Stdio::from(std::fs::File::open(path).map_err(|e| {
                    StepError::Permanent(format!("cannot open {}: {e}", path.display()))
                })?),
                None => Stdio::null(),
            };
            let mut child = program.spawn(stdin, Stdio::piped())?;
            pids.lock().expect("pids").push(child.id());
            let errors = drain_stderr(&mut child);
            let mut out = String::new();
            let _ = child.stdout.take().expect("piped").read_to_string(&mut out);
            let status = child.wait().map_err(StepError::retryable)?;
            let stderr = errors.join().unwrap_or_default();
            if status.success() {
                Ok(out)
            } else {
                Err(failure(program.name, status, &stderr))
            }
        })
    };
    supervise(task, pids, cancel).await
}

/// `dump | filter | load`: returns what the filter returned.
pub async fn pipeline<T, F>(
    dump: Program,
    load: Program,
    filter: F,
    cancel: CancellationToken,
) -> Result<T, StepError>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn std::io::BufRead, &mut dyn Write) -> Result<T, StepError> + Send + 'static,
{
    let pids = Arc::new(Mutex::new(Vec::new()));
    let task = {
        let pids = pids.clone();
        tokio::task::spawn_blocking(move || {
            let mut source = dump.spawn(Stdio::null(), Stdio::piped())?;
            let mut sink = match load.spawn(Stdio::piped(), Stdio::null()) {
                Ok(sink) => sink,
                Err(e) => {
                    let _ = source.kill();
                    let _ = source.wait();
                    return Err(e);
                }
            };
            pids.lock().expect("pids").extend([source.id(), sink.id()]);
            let source_errors = drain_stderr(&mut source);
            let sink_errors = drain_stderr(&mut sink);
            let mut reader =
                BufReader::with_capacity(1 << 20, source.stdout.take().expect("piped"));
            let mut writer = BufWriter::with_capacity(1 << 20, sink.stdin.take().expect("piped"));
            let filtered = filter(&mut reader, &mut writer).and_then(|value| {
                writer
                    .flush()
                    .map(|_| value)
                    .map_err(|e| StepError::Retryable(format!("writing to {}: {e}", load.name)))
            });
            drop(writer);
            drop(reader);
            if filtered.is_err() {
                let _ = source.kill();
            }
            let source_status = source.wait().map_err(StepError::retryable)?;
            let sink_status = sink.wait().map_err(StepError::retryable)?;
            let source_stderr = source_errors.join().unwrap_or_default();
            let sink_stderr = sink_errors.join().unwrap_or_default();
            // The programs' own errors explain a broken pipe better than the pipe does.
            if !source_status.success() && filtered.is_ok() {
                return Err(failure(dump.name, source_status, &source_stderr));
            }
            if !sink_status.success() {
                return Err(failure(load.name, sink_status, &sink_stderr));
            }
            if !source_status.success() {
                return Err(failure(dump.name, source_status, &source_stderr));
            }
            filtered
        })
    };
    supervise(task, pids, cancel).await
}

/// Runs `load` with what `produce` writes as its stdin (a generator feeding a loader, on a
/// blocking thread); returns what `produce` returned. An error of `produce` other than a broken
/// pipe kills the program, so it never takes a partial input for the whole; a broken pipe means
/// the program stopped reading, and its own error is reported.
pub async fn feed<T, F>(
    load: Program,
    produce: F,
    cancel: CancellationToken,
) -> Result<T, StepError>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Write) -> std::io::Result<T> + Send + 'static,
{
    let pids = Arc::new(Mutex::new(Vec::new()));
    let task = {
        let pids = pids.clone();
        tokio::task::spawn_blocking(move || {
            let mut sink = load.spawn(Stdio::piped(), Stdio::null())?;
            pids.lock().expect("pids").push(sink.id());
            let errors = drain_stderr(&mut sink);
            let mut writer = BufWriter::with_capacity(1 << 20, sink.stdin.take().expect("piped"));
            let produced = produce(&mut writer).and_then(|value| writer.flush().map(|_| value));
            let stopped_reading =
                matches!(&produced, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe);
            if produced.is_err() && !stopped_reading {
                // Before its stdin closes: end of input would look like the whole of it.
                let _ = sink.kill();
            }
            drop(writer);
            let status = sink.wait().map_err(StepError::retryable)?;
            let stderr = errors.join().unwrap_or_default();
            if !status.success() && (produced.is_ok() || stopped_reading) {
                return Err(failure(load.name, status, &stderr));
            }
            produced.map_err(|e| StepError::Retryable(format!("feeding {}: {e}", load.name)))
        })
    };
    supervise(task, pids, cancel).await
}

/// Awaits the blocking task; on cancellation kills its programs so it ends promptly.
async fn supervise<T>(
    mut task: tokio::task::JoinHandle<Result<T, StepError>>,
    pids: Arc<Mutex<Vec<u32>>>,
    cancel: CancellationToken,
) -> Result<T, StepError> {
    tokio::select! {
        joined = &mut task => joined.map_err(|e| StepError::Permanent(format!("pipeline thread failed: {e}")))?,
        _ = cancel.cancelled() => {
            for pid in pids.lock().expect("pids").iter() {
                // SAFETY: kill(2) on a child we spawned and have not reaped yet.
                unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
            }
            let _ = task.await;
            Err(StepError::Interrupted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_server_restart_under_a_dump_is_retryable_and_bad_sql_is_not() {
        let status = std::process::ExitStatus::from_raw(1 << 8);
        let restart = "pg_dump: error: query failed: FATAL:  terminating connection due to \
                       administrator command\nSSL connection has been closed unexpectedly";
        assert!(matches!(
            failure("pg_dump", status, restart),
            StepError::Retryable(_)
        ));
        for transient in [
            "psql: error: FATAL:  the database system is shutting down",
            "psql: error: FATAL:  the database system is starting up",
            "pg_dump: error: could not receive data from server: Connection reset",
        ] {
            assert!(
                matches!(failure("psql", status, transient), StepError::Retryable(_)),
                "{transient}"
            );
        }
        let syntax = "ERROR:  syntax error at or near \"x\"";
        assert!(matches!(
            failure("psql", status, syntax),
            StepError::Permanent(_)
        ));
    }

    #[tokio::test]
    async fn feed_returns_what_was_written_and_reports_the_program_or_the_producer() {
        let fed = feed(
            Program::new("cat"),
            |out| out.write_all(b"rows\n").map(|_| 5),
            CancellationToken::new(),
        )
        .await;
        assert!(matches!(fed, Ok(5)), "{fed:?}");

        // The program stops reading: its failure is the error, not the broken pipe.
        let fed = feed(
            Program::new("false"),
            |out| {
                for _ in 0..64 {
                    out.write_all(&[b'x'; 1 << 16])?;
                }
                Ok(())
            },
            CancellationToken::new(),
        )
        .await;
        assert!(
            matches!(&fed, Err(StepError::Permanent(m)) if m.starts_with("false failed")),
            "{fed:?}"
        );

        // The producer fails: the program is killed, not left to take a partial input.
        let began = std::time::Instant::now();
        let fed: Result<(), _> = feed(
            Program::new("sleep").arg("30"),
            |_| Err(std::io::Error::other("generator broke")),
            CancellationToken::new(),
        )
        .await;
        assert!(
            matches!(&fed, Err(StepError::Retryable(m)) if m.contains("generator broke")),
            "{fed:?}"
        );
        assert!(began.elapsed() < std::time::Duration::from_secs(20));
    }
}
