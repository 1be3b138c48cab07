//! The main path: enqueue → worker → checkpointed steps → result, through the real CLI.

use serde_json::json;
use std::time::Duration;
use understudy_tests::{stdout_json, wait_for, TestEnv};
use understudy_worker::contract::{JobMessage, Priority};
use understudy_worker::events::JobEvent;
use understudy_worker::state::JobState;

#[tokio::test(flavor = "multi_thread")]
async fn a_job_runs_its_steps_and_reports_its_result_through_the_cli() {
    let env = TestEnv::new("e2e").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;

    let out = env.cli(&[
        "enqueue",
        "noop",
        "--set",
        "steps=3",
        "--set",
        "step_ms=20",
        "--wait",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "enqueue --wait failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --json prints the id document, then the final status document.
    let text = String::from_utf8_lossy(&out.stdout);
    let id: uuid::Uuid = text
        .split("\"job_id\": \"")
        .nth(1)
        .and_then(|rest| rest.get(..36))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no job id in {text}"));

    assert_eq!(env.state(id).await, Some(JobState::Succeeded));
    let steps: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT name, output FROM job_steps WHERE job_id = $1 ORDER BY name")
            .bind(id)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(
        steps,
        vec![
            ("step-1".to_string(), json!(1)),
            ("step-2".to_string(), json!(2)),
            ("step-3".to_string(), json!(3))
        ]
    );
    let attempts: Vec<(i32, String)> =
        sqlx::query_as("SELECT attempt, outcome::text FROM job_attempts WHERE job_id = $1")
            .bind(id)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(attempts, vec![(1, "succeeded".to_string())]);

    let status = stdout_json(&env.cli(&["status", &id.to_string(), "--json"]));
    assert_eq!(status["job"]["state"], "succeeded");
    assert_eq!(status["job"]["result"], json!({"steps": 3}));
    assert_eq!(status["job"]["progress_percent"], json!(100.0));
    assert_eq!(status["steps"].as_array().map(Vec::len), Some(3));

    let list = stdout_json(&env.cli(&["list", "--state", "succeeded", "--kind", "noop", "--json"]));
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    let logs = stdout_json(&env.cli(&["logs", &id.to_string(), "--json"]));
    let types: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(types.first(), Some(&"queued"));
    assert_eq!(types.last(), Some(&"succeeded"));
    assert_eq!(types.iter().filter(|t| **t == "step_completed").count(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn live_events_reach_a_web_app_listening_on_the_events_exchange() {
    use futures::StreamExt;

    let env = TestEnv::new("events").await;
    // A web app's private queue bound to every noop event of the namespace.
    let (_connection, mut consumer) = env.listen_events("noop.#").await;

    let _worker = env.worker(&[]);
    let id = env
        .enqueue(
            "noop",
            json!({"steps": 2, "step_ms": 150}),
            Priority::Interactive,
        )
        .await;
    let mut seen = Vec::new();
    let collected = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(delivery)) = consumer.next().await {
            let event: JobEvent = serde_json::from_slice(&delivery.data).expect("event JSON");
            assert_eq!(event.job_id, id);
            assert_eq!(
                delivery.routing_key.as_str(),
                format!("noop.{id}.{}", event.event_type)
            );
            seen.push((event.event_type.clone(), event.percent));
            if event.event_type == "succeeded" {
                break;
            }
        }
    })
    .await;
    assert!(collected.is_ok(), "no succeeded event; saw {seen:?}");
    let types: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    for expected in [
        "queued",
        "started",
        "progress",
        "step_completed",
        "succeeded",
    ] {
        assert!(types.contains(&expected), "missing {expected} in {types:?}");
    }
    assert!(seen
        .iter()
        .any(|(t, p)| t == "progress" && *p == Some(100.0)));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_idempotency_key_or_a_redelivered_message_yields_one_job() {
    let env = TestEnv::new("idempotency").await;
    let _worker = env.worker(&[]);
    let mut message = JobMessage::new("noop", json!({"steps": 1}));
    message.idempotency_key = Some("site-42-refresh-2026-11-21".into());
    let a = env.enqueue_message(message.clone(), Priority::Bulk).await;
    let b = env
        .enqueue_message(message.clone(), Priority::Interactive)
        .await;
    assert_eq!(a, b, "same key → same job id");
    // The CLI derives the same id from the same key.
    let out = env.cli(&[
        "enqueue",
        "noop",
        "--set",
        "steps=1",
        "--idempotency-key",
        "site-42-refresh-2026-11-21",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), a.to_string());
    // A body without any id, delivered twice (as after a lost ack), is one job too.
    let body = br#"{"schema":1,"kind":"noop","spec":{"steps":1,"step_ms":1}}"#.to_vec();
    env.publish_raw("bulk", body.clone()).await;
    env.publish_raw("bulk", body).await;

    env.wait_terminal(a, Duration::from_secs(30)).await;
    let pool = env.pool.clone();
    let (jobs, succeeded) = wait_for("both jobs to end", Duration::from_secs(30), || {
        let pool = pool.clone();
        async move {
            let row: (i64, i64) = sqlx::query_as(
                "SELECT count(*), count(*) FILTER (WHERE state = 'succeeded') FROM jobs",
            )
            .fetch_one(&pool)
            .await
            .ok()?;
            (row.0 == row.1).then_some(row)
        }
    })
    .await;
    assert_eq!(
        (jobs, succeeded),
        (2, 2),
        "one job per key and one per duplicated body"
    );
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM job_attempts")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(runs, 2, "duplicates are no-ops, not extra runs");
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_enqueues_every_line_or_nothing() {
    let env = TestEnv::new("bulk").await;
    let good = env.dir.join("good.jsonl");
    std::fs::write(
        &good,
        "{\"kind\":\"noop\",\"spec\":{\"steps\":1},\"concurrency_key\":\"site-a\"}\n\
         {\"kind\":\"noop\",\"spec\":{\"steps\":2},\"concurrency_key\":\"site-b\"}\n\n\
         {\"kind\":\"noop\",\"spec\":{\"steps\":1}}\n",
    )
    .unwrap();
    let bad = env.dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"kind\":\"noop\",\"spec\":{\"steps\":1}}\n{\"kind\":\"noop\",\"spec\":{\"steps\":0}}\n",
    )
    .unwrap();

    let out = env.cli(&["bulk", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2") && err.contains("steps must be"),
        "{err}"
    );

    let out = env.cli(&["bulk", good.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_json(&out)["enqueued"], 3);

    let _worker = env.worker(&[]);
    let pool = env.pool.clone();
    wait_for(
        "3 jobs to succeed (and none from the bad file)",
        Duration::from_secs(30),
        || {
            let pool = pool.clone();
            async move {
                let n: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'")
                        .fetch_one(&pool)
                        .await
                        .ok()?;
                (n == 3).then_some(())
            }
        },
    )
    .await;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(total, 3);
}
