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
    let (status, metrics) = get(&address, "/metrics");
    assert_eq!(status, 200);
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
