//! Waiting for a new sandbox by condition, with a deadline: the database accepts a connection
//! from the WordPress container (checked with PHP inside it, as WordPress will connect), then
//! WordPress answers HTTP on the published port.

use bollard::Docker;
use std::time::{Duration, Instant};

use super::{engine, exec, http};
use crate::{StepError, StepRun};

const POLL: Duration = Duration::from_millis(250);

/// Connects with the container's own WORDPRESS_DB_* settings; exit 0 when the database answers.
const DB_PROBE: &str = r#"mysqli_report(MYSQLI_REPORT_OFF);
$m = @mysqli_connect(getenv('WORDPRESS_DB_HOST'), getenv('WORDPRESS_DB_USER'), getenv('WORDPRESS_DB_PASSWORD'), getenv('WORDPRESS_DB_NAME'));
if (!$m) { fwrite(STDERR, mysqli_connect_error()); exit(1); }
exit(0);"#;

/// How long each condition took.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Readiness {
    pub database_ms: u64,
    pub http_ms: u64,
}

/// Polls until both conditions hold; fails permanently at the deadline, with the last reason.
pub async fn wait(
    docker: &Docker,
    run: &StepRun,
    wp_container: &str,
    db_container: &str,
    url: &str,
    timeout: Duration,
) -> Result<Readiness, StepError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let cancel = run.cancellation();
    let mut last: String;
    loop {
        for name in [db_container, wp_container] {
            if !engine::is_running(docker, name).await? {
                return Err(StepError::Permanent(format!(
                    "container {name} is not running (it exited or was removed)"
                )));
            }
        }
        let probe = exec::run(
            docker,
            wp_container,
            "www-data",
            &["php", "-r", DB_PROBE],
            vec![],
        )
        .await;
        match probe {
            Ok(out) if out.exit_code == 0 => break,
            Ok(out) => last = format!("database: {}", out.tail()),
            Err(StepError::Permanent(e)) if e.contains("is not running") => {
                last = format!("database probe: {e}")
            }
            Err(e) => return Err(e),
        }
        pause(&cancel, run, deadline, &last, timeout).await?;
    }
    let database_ms = started.elapsed().as_millis() as u64;
    run.progress(40.0, "database accepts connections");
    loop {
        match http::get(url, Duration::from_secs(5), 64 * 1024).await {
            Ok(r) if r.status < 500 => break,
            Ok(r) => last = format!("HTTP {} from {url}", r.status),
            Err(e) => last = format!("{url}: {e}"),
        }
        pause(&cancel, run, deadline, &last, timeout).await?;
    }
    Ok(Readiness {
        database_ms,
        http_ms: started.elapsed().as_millis() as u64,
    })
}

async fn pause(
    cancel: &tokio_util::sync::CancellationToken,
    run: &StepRun,
    deadline: Instant,
    last: &str,
    timeout: Duration,
) -> Result<(), StepError> {
    if Instant::now() >= deadline {
        return Err(StepError::Permanent(format!(
            "sandbox not ready after {}s (provision.ready_timeout_secs): {last}",
            timeout.as_secs()
        )));
    }
    tokio::select! {
        _ = tokio::time::sleep(POLL) => Ok(()),
        _ = cancel.cancelled() => Err(run.stop_reason()),
    }
}
