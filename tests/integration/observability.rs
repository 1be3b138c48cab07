//! The worker's health, readiness and Prometheus endpoints, on a real worker process.

use serde_json::json;
use std::io::{Read, Write};
use std::time::Duration;
use understudy_tests::{wait_for, TestEnv};
use understudy_worker::contract::Priority;
use understudy_worker::state::JobState;

fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream =
        std::net::TcpStream::connect(address).expect("connect to the worker's listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_serves_health_readiness_and_prometheus_metrics_on_loopback() {
    let env = TestEnv::new("observability").await;
    let _worker = env.worker(&[]);
    let pool = env.pool.clone();
    let address: String = wait_for("the worker's listener", Duration::from_secs(30), || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar("SELECT http_address FROM workers WHERE http_address IS NOT NULL")
                .fetch_optional(&pool)
                .await
                .ok()?
        }
    })
    .await;
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert_eq!(get(&address, "/healthz"), (200, "ok\n".to_string()));
    wait_for("readiness", Duration::from_secs(30), || {
        let address = address.clone();
        async move { (get(&address, "/readyz").0 == 200).then_some(()) }
    })
    .await;
    let id = env
        .enqueue(
            "noop",
            json!({"steps": 2, "step_ms": 10}),
            Priority::Interactive,
        )
        .await;
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(30)).await,
        JobState::Succeeded
    );
    // The job's state is committed before the worker counts the attempt as ended: read the
    // metrics once the worker has nothing in flight.
    let metrics = wait_for(
        "the worker to count the job as ended",
        Duration::from_secs(30),
        || {
            let address = address.clone();
            async move {
                let (status, metrics) = get(&address, "/metrics");
                assert_eq!(status, 200);
                metrics
                    .contains("understudy_jobs_in_flight 0")
                    .then_some(metrics)
            }
        },
    )
    .await;
    for expected in [
        "understudy_jobs_started_total{kind=\"noop\"} 1",
        "understudy_jobs_finished_total{kind=\"noop\",outcome=\"succeeded\"} 1",
        "understudy_step_duration_seconds_count{kind=\"noop\",step=\"step-1\"} 1",
        "understudy_jobs_in_flight 0",
        "# TYPE understudy_queue_depth gauge",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected:?} in\n{metrics}"
        );
    }
    assert_eq!(get(&address, "/nope").0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn top_once_shows_the_running_job_the_queues_and_the_worker() {
    let env = TestEnv::new("top").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;
    let mut message =
        understudy_worker::contract::JobMessage::new("noop", json!({"steps": 3, "step_ms": 1500}));
    message.concurrency_key = Some("site:shop".into());
    let id = env.enqueue_message(message, Priority::Interactive).await;
    let pool = env.pool.clone();
    wait_for(
        "the job's first checkpoint",
        Duration::from_secs(30),
        || {
            let pool = pool.clone();
            async move {
                let done: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM job_steps WHERE job_id = $1 AND state = 'completed'",
                )
                .bind(id)
                .fetch_one(&pool)
                .await
                .ok()?;
                (done >= 1).then_some(())
            }
        },
    )
    .await;

    let out = env.cli(&["top", "--once", "--json"]);
    assert!(
        out.status.success(),
        "top failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).expect("top --json");
    let running = view["running"].as_array().expect("running");
    assert_eq!(running.len(), 1, "{view:#}");
    let job = &running[0];
    assert_eq!(job["id"], json!(id.to_string()));
    assert_eq!(job["kind"], json!("noop"));
    assert_eq!(job["site"], json!("shop"));
    assert_eq!(job["attempt"], json!(1));
    assert!(job["steps_done"].as_i64().unwrap() >= 1, "{job}");
    assert!(
        job["last_step"].as_str().unwrap().starts_with("step-"),
        "{job}"
    );
    assert!(job["progress_percent"].as_f64().unwrap() > 0.0, "{job}");
    assert!(job["age_secs"].as_f64().unwrap() >= 0.0);
    let queues = view["queues"].as_array().expect("queues");
    let priorities: Vec<&str> = queues
        .iter()
        .map(|q| q["priority"].as_str().unwrap())
        .collect();
    assert_eq!(priorities, ["interactive", "bulk"]);
    for q in queues {
        assert_eq!(q["waiting"], json!(0), "{q}");
        assert_eq!(
            q["consumers"],
            json!(1),
            "one intake consumer per worker: {q}"
        );
    }
    assert_eq!(view["dead_letters"]["stored"], json!(0));
    let workers = view["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0]["running"], json!(1));
    assert!(workers[0]["http_address"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.1:")));
    assert_eq!(job["worker"], workers[0]["id"]);

    // The same snapshot for people (stdout is not a terminal: one frame, then exit).
    let out = env.cli(&["top"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&id.to_string()), "{text}");
    assert!(
        text.contains("interactive") && text.contains("shop"),
        "{text}"
    );

    // RabbitMQ unreachable: PostgreSQL's side is still shown, with the reason for the rest.
    let out = env.cli_with(
        &["top", "--once", "--json"],
        &[("UNDERSTUDY_AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")],
    );
    assert!(out.status.success(), "{out:?}");
    let degraded: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        degraded["rabbitmq_error"]
            .as_str()
            .is_some_and(|e| e.contains("127.0.0.1:1")),
        "{degraded}"
    );
    assert_eq!(degraded["queues"][0]["in_rabbitmq"], json!(null));
    assert_eq!(degraded["running"][0]["id"], json!(id.to_string()));

    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(30)).await,
        JobState::Succeeded
    );
}
