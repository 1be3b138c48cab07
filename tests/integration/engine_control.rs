//! Retries, compensation, cancel, retry-from-checkpoint, concurrency keys and priorities.

use chrono::{DateTime, Utc};
use serde_json::json;
use std::time::Duration;
use understudy_tests::{wait_for, TestEnv};
use understudy_worker::contract::{JobMessage, Priority};
use understudy_worker::state::JobState;
use uuid::Uuid;

const FAST_RETRY: &[(&str, &str)] = &[
    ("UNDERSTUDY_RETRY__MIN_DELAY_MS", "20"),
    ("UNDERSTUDY_RETRY__MAX_DELAY_MS", "100"),
    ("UNDERSTUDY_RETRY__MAX_TRIES", "4"),
];

async fn error_of(env: &TestEnv, id: Uuid) -> String {
    sqlx::query_scalar::<_, Option<String>>("SELECT error FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn retryable_errors_back_off_then_succeed_or_give_up_and_compensate_in_reverse() {
    let env = TestEnv::new("retry").await;
    let _worker = env.worker(FAST_RETRY);

    // Fails twice, then succeeds: two retries recorded, one success.
    let flaky = env
        .enqueue(
            "noop",
            json!({"steps": 3, "fail_step": 2, "fail_mode": "retryable", "fail_times": 2}),
            Priority::Interactive,
        )
        .await;
    assert_eq!(
        env.wait_terminal(flaky, Duration::from_secs(30)).await,
        JobState::Succeeded
    );
    let retries: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_events WHERE job_id = $1 AND type = 'step_retrying' AND step = 'step-2'",
    )
    .bind(flaky)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(retries, 2);

    // Always failing (retryable): gives up after max_tries, compensates steps 2 then 1.
    let spec = json!({"steps": 4, "fail_step": 3, "fail_mode": "retryable", "fail_times": 100,
                      "compensate": true, "effects_dir": env.dir});
    let doomed = env.enqueue("noop", spec, Priority::Interactive).await;
    assert_eq!(
        env.wait_terminal(doomed, Duration::from_secs(30)).await,
        JobState::Failed
    );
    assert!(
        error_of(&env, doomed)
            .await
            .contains("gave up after 4 tries"),
        "{}",
        error_of(&env, doomed).await
    );
    assert_eq!(
        env.effects(doomed),
        vec!["step-1 1", "step-2 1", "undo:step-2 1", "undo:step-1 1"],
        "compensation runs in reverse order, once"
    );
    let states: Vec<(String, String)> =
        sqlx::query_as("SELECT name, state::text FROM job_steps WHERE job_id = $1 ORDER BY name")
            .bind(doomed)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(
        states,
        vec![
            ("step-1".into(), "compensated".into()),
            ("step-2".into(), "compensated".into())
        ]
    );

    // A permanent error is not retried.
    let permanent = env
        .enqueue(
            "noop",
            json!({"steps": 2, "fail_step": 1}),
            Priority::Interactive,
        )
        .await;
    assert_eq!(
        env.wait_terminal(permanent, Duration::from_secs(30)).await,
        JobState::Failed
    );
    let retries: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_events WHERE job_id = $1 AND type = 'step_retrying'",
    )
    .bind(permanent)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(retries, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_resumes_a_failed_job_from_its_last_checkpoint() {
    let env = TestEnv::new("retrycli").await;
    let _worker = env.worker(FAST_RETRY);
    // Step 3 fails permanently during the first attempt only.
    let spec = json!({"steps": 4, "fail_step": 3, "fail_times": 1, "effects_dir": env.dir});
    let id = env.enqueue("noop", spec, Priority::Interactive).await;
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(30)).await,
        JobState::Failed
    );
    assert_eq!(env.effects(id), vec!["step-1 1", "step-2 1"]);

    let out = env.cli(&["retry", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(30)).await,
        JobState::Succeeded
    );
    assert_eq!(
        env.effects(id),
        vec!["step-1 1", "step-2 1", "step-3 2", "step-4 2"]
    );

    // A succeeded job cannot be retried: clear error, nothing changes.
    let out = env.cli(&["retry", &id.to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only failed or cancelled jobs"));
    assert_eq!(env.state(id).await, Some(JobState::Succeeded));
}

/// Issue #13's engine rule: what a compensation undid is marked, and a retry re-runs it.
#[tokio::test(flavor = "multi_thread")]
async fn retry_after_compensation_reruns_every_step_the_undo_reached() {
    let env = TestEnv::new("retryundo").await;
    let _worker = env.worker(FAST_RETRY);
    let spec = json!({"steps": 4, "fail_step": 3, "fail_times": 1, "compensate": true,
                      "effects_dir": env.dir});
    let id = env.enqueue("noop", spec, Priority::Interactive).await;
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(30)).await,
        JobState::Failed
    );
    assert_eq!(
        env.effects(id),
        vec!["step-1 1", "step-2 1", "undo:step-2 1", "undo:step-1 1"]
    );
    let out = env.cli(&["retry", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(30)).await,
        JobState::Succeeded
    );
    // Steps 1 and 2 were undone, so they ran again instead of being skipped.
    assert_eq!(
        env.effects(id),
        vec![
            "step-1 1",
            "step-2 1",
            "undo:step-2 1",
            "undo:step-1 1",
            "step-1 2",
            "step-2 2",
            "step-3 2",
            "step-4 2"
        ]
    );
    let states: Vec<String> =
        sqlx::query_scalar("SELECT state::text FROM job_steps WHERE job_id = $1 ORDER BY name")
            .bind(id)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(states, vec!["completed"; 4]);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_a_running_job_at_a_step_boundary_and_compensates() {
    let env = TestEnv::new("cancel").await;
    let _worker = env.worker(&[("UNDERSTUDY_WORKER__CONCURRENCY", "1")]);
    env.wait_workers(1).await;
    let spec = json!({"steps": 10, "step_ms": 400, "compensate": true, "effects_dir": env.dir});
    let mut running = JobMessage::new("noop", spec);
    running.concurrency_key = Some("site-a".into());
    let id = env.enqueue_message(running, Priority::Interactive).await;
    // A second job for the same site waits in the queue behind it.
    let mut waiting = JobMessage::new("noop", json!({"steps": 1}));
    waiting.concurrency_key = Some("site-a".into());
    let queued = env.enqueue_message(waiting, Priority::Interactive).await;

    wait_for("the first checkpoint", Duration::from_secs(30), || async {
        (env.checkpoints(id).await >= 1).then_some(())
    })
    .await;
    wait_for(
        "the second job to be stored",
        Duration::from_secs(30),
        || async { (env.state(queued).await == Some(JobState::Queued)).then_some(()) },
    )
    .await;
    let out = env.cli(&["cancel", &queued.to_string(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.state(queued).await,
        Some(JobState::Cancelled),
        "a queued job is cancelled at once"
    );

    let out = env.cli(&["cancel", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(15)).await,
        JobState::Cancelled
    );
    let effects = env.effects(id);
    let done: Vec<&String> = effects.iter().filter(|e| e.starts_with("step-")).collect();
    let undone: Vec<&String> = effects.iter().filter(|e| e.starts_with("undo:")).collect();
    assert!(
        done.len() < 10,
        "cancel must stop the job early: {effects:?}"
    );
    assert_eq!(
        done.len(),
        undone.len(),
        "every completed step compensated: {effects:?}"
    );
    assert_eq!(
        undone.first().map(|s| s.as_str()),
        Some(format!("undo:step-{} 1", done.len()).as_str())
    );

    let out = env.cli(&["cancel", &id.to_string()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "cancelling an ended job is refused"
    );
}

async fn run_window(env: &TestEnv, id: Uuid) -> (DateTime<Utc>, DateTime<Utc>) {
    sqlx::query_as("SELECT started_at, finished_at FROM job_attempts WHERE job_id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_with_one_concurrency_key_never_overlap_and_do_not_block_other_keys() {
    let env = TestEnv::new("conckey").await;
    let _w1 = env.worker(&[("UNDERSTUDY_WORKER__CONCURRENCY", "4")]);
    let _w2 = env.worker(&[("UNDERSTUDY_WORKER__CONCURRENCY", "4")]);
    env.wait_workers(2).await;
    let mut same_site = Vec::new();
    let mut other_site = Vec::new();
    for i in 0..4 {
        let mut m = JobMessage::new("noop", json!({"steps": 2, "step_ms": 150}));
        m.concurrency_key = Some("site-a".into());
        same_site.push(env.enqueue_message(m, Priority::Bulk).await);
        if i < 2 {
            let mut m = JobMessage::new("noop", json!({"steps": 2, "step_ms": 150}));
            m.concurrency_key = Some(format!("site-b{i}"));
            other_site.push(env.enqueue_message(m, Priority::Bulk).await);
        }
    }
    for id in same_site.iter().chain(&other_site) {
        assert_eq!(
            env.wait_terminal(*id, Duration::from_secs(60)).await,
            JobState::Succeeded
        );
    }
    let mut windows = Vec::new();
    for id in &same_site {
        windows.push(run_window(&env, *id).await);
    }
    windows.sort();
    for pair in windows.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "site-a jobs overlapped: {pair:?}");
    }
    // Other sites ran while site-a's jobs were still going.
    let site_a_end = windows.last().unwrap().1;
    for id in &other_site {
        let (start, _) = run_window(&env, *id).await;
        assert!(start < site_a_end, "site-b jobs waited for site-a");
    }
    let slots: i64 = sqlx::query_scalar("SELECT count(*) FROM concurrency_slots")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(slots, 0, "slots are released when jobs end");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interactive_job_starts_ahead_of_a_backlog_of_1000_bulk_jobs() {
    let env = TestEnv::new("priority").await;
    let producer = env.producer().await;
    let backlog: Vec<_> = (0..1000)
        .map(|_| {
            understudy_worker::producer::Outgoing::job(
                JobMessage::new("noop", json!({"steps": 1, "step_ms": 5})),
                Priority::Bulk,
            )
            .1
        })
        .collect();
    producer.publish(&backlog).await.unwrap();
    let urgent = env
        .enqueue("noop", json!({"steps": 1}), Priority::Interactive)
        .await;

    let _worker = env.worker(&[("UNDERSTUDY_WORKER__CONCURRENCY", "4")]);
    assert_eq!(
        env.wait_terminal(urgent, Duration::from_secs(60)).await,
        JobState::Succeeded
    );
    let bulk_before: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE priority = 'bulk' AND started_at < (SELECT started_at FROM jobs WHERE id = $1)",
    )
    .bind(urgent)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert!(
        bulk_before < 50,
        "{bulk_before} bulk jobs started before the interactive one"
    );
}
