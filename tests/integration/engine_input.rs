//! Bad input: poison messages end in the dead-letter table with a reason and never stop a worker;
//! the CLI refuses bad arguments with a one-line reason and an exit code.

use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicNackOptions};
use lapin::types::FieldTable;
use serde_json::json;
use std::time::Duration;
use understudy_tests::{stdout_json, wait_for, TestEnv};
use understudy_worker::contract::Priority;
use understudy_worker::state::JobState;

#[tokio::test(flavor = "multi_thread")]
async fn poison_messages_are_dead_lettered_with_a_reason_and_the_worker_carries_on() {
    let env = TestEnv::new("poison").await;
    let worker = env.worker(&[]);
    env.wait_workers(1).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bulk", b"{not json".to_vec(), "not valid JSON"),
        (
            "bulk",
            br#"{"schema":1,"kind":"teleport","spec":{}}"#.to_vec(),
            "unknown kind \"teleport\"",
        ),
        (
            "bulk",
            br#"{"schema":1,"kind":"noop","spec":{"steps":-3}}"#.to_vec(),
            "invalid spec",
        ),
        (
            "interactive",
            br#"{"schema":9,"kind":"noop","spec":{"steps":1}}"#.to_vec(),
            "unknown schema version 9",
        ),
        (
            "bulk",
            br#"{"schema":1,"kind":"noop","spec":{"steps":"many"}}"#.to_vec(),
            "invalid spec",
        ),
        (
            "bulk",
            br#"{"schema":1,"spec":{"steps":1}}"#.to_vec(),
            "missing field `kind`",
        ),
        (
            "bulk",
            vec![b' '; 10 * 1024 * 1024],
            "more than the 1048576 allowed",
        ),
    ];
    for (key, body, _) in &cases {
        env.publish_raw(key, body.clone()).await;
    }
    let good = env
        .enqueue("noop", json!({"steps": 2}), Priority::Bulk)
        .await;
    assert_eq!(
        env.wait_terminal(good, Duration::from_secs(60)).await,
        JobState::Succeeded
    );

    env.wait_dead_letters(cases.len()).await;
    let listed = stdout_json(&env.cli(&["dlq", "list", "--json"]));
    let reasons: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reason"].as_str().unwrap().to_string())
        .collect();
    for (_, _, reason) in &cases {
        assert!(
            reasons.iter().any(|r| r.contains(reason)),
            "no dead letter says {reason:?}: {reasons:?}"
        );
    }
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 1, "poison never becomes a job");
    let stored: i32 = sqlx::query_scalar("SELECT max(body_size) FROM dead_letters")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(
        stored,
        10 * 1024 * 1024,
        "the whole body is kept for replay"
    );
    assert!(
        !worker.log_text().contains("panicked"),
        "worker panicked:\n{}",
        worker.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_redelivered_past_the_limit_is_dead_lettered_by_rabbitmq_and_can_be_replayed() {
    let env = TestEnv::new("deliverylimit").await;
    let id = env
        .enqueue("noop", json!({"steps": 1}), Priority::Bulk)
        .await;
    // A consumer that keeps failing on the message (as a crashing worker would).
    let connection = understudy_worker::amqp::connect(&env.settings, "test-flaky")
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut consumer = channel
        .basic_consume(
            env.topology().queue(Priority::Bulk).into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut deliveries = 0;
    while let Ok(Some(Ok(delivery))) =
        tokio::time::timeout(Duration::from_secs(2), consumer.next()).await
    {
        deliveries += 1;
        delivery
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(deliveries < 100, "the delivery limit never kicked in");
    }
    connection.close(200, "done".into()).await.unwrap();
    assert!(
        deliveries >= 10,
        "dead-lettered after only {deliveries} deliveries"
    );

    let _worker = env.worker(&[]);
    let pool = env.pool.clone();
    let dead_id: i64 = wait_for(
        "the dead letter to be recorded",
        Duration::from_secs(30),
        || {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar("SELECT id FROM dead_letters")
                    .fetch_optional(&pool)
                    .await
                    .ok()?
            }
        },
    )
    .await;
    assert_eq!(env.state(id).await, None, "no job was made from it");
    let listed = stdout_json(&env.cli(&["dlq", "list", "--json"]));
    assert!(
        listed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("delivered too many times"),
        "{listed}"
    );

    let out = env.cli(&["dlq", "replay", &dead_id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(30)).await,
        JobState::Succeeded
    );
    let listed = stdout_json(&env.cli(&["dlq", "list", "--json"]));
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(0),
        "replayed letters leave the default list"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_refuses_bad_input_with_a_reason_and_an_exit_code() {
    let env = TestEnv::new("cli").await;
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["enqueue", "teleport"], 2, "unknown kind \"teleport\""),
        (
            vec!["enqueue", "noop", "--set", "steps=0"],
            2,
            "steps must be",
        ),
        (
            vec!["enqueue", "noop", "--set", "steps"],
            2,
            "is not KEY=VALUE",
        ),
        (
            vec!["enqueue", "noop", "--spec", "/nonexistent.json"],
            2,
            "cannot read spec file",
        ),
        (
            vec!["status", "7d5e3a8e-2a6b-4f0e-9c1d-3b2a1f0e9d8c"],
            3,
            "not found",
        ),
        (
            vec!["cancel", "7d5e3a8e-2a6b-4f0e-9c1d-3b2a1f0e9d8c"],
            3,
            "not found",
        ),
        (vec!["list", "--state", "sleeping"], 2, "use one of queued"),
        (vec!["list", "--since", "yesterday"], 2, "--since"),
        (vec!["dlq", "replay"], 2, "--all"),
    ];
    for (args, code, message) in cases {
        let out = env.cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{args:?}: one line, got {stderr}"
        );
    }
    let out = std::process::Command::new(understudy_tests::bin_dir().join("understudy"))
        .args(["list"])
        .env(
            "UNDERSTUDY_DATABASE_URL",
            "postgres://understudy:understudy@127.0.0.1:1/understudy",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("cannot reach PostgreSQL at 127.0.0.1:1/understudy"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("understudy:understudy@"),
        "password printed: {stderr}"
    );
    let out = std::process::Command::new(understudy_tests::bin_dir().join("understudy"))
        .args(["enqueue", "noop", "--set", "steps=1"])
        .env(
            "UNDERSTUDY_AMQP_URL",
            "amqp://guest:secretpw@127.0.0.1:1/%2f",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("cannot reach RabbitMQ") && !stderr.contains("secretpw"),
        "{stderr}"
    );
}
