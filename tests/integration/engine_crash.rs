//! Crashes and shutdowns: a SIGKILLed worker's job resumes elsewhere with each completed step's
//! side effect done once; SIGTERM drains; a long job holds no RabbitMQ delivery.

use serde_json::json;
use std::time::{Duration, Instant};
use understudy_tests::{wait_for, TestEnv};
use understudy_worker::contract::Priority;
use understudy_worker::state::JobState;
use uuid::Uuid;

async fn owner_pid(env: &TestEnv, id: Uuid) -> Option<u32> {
    let owner: Option<String> = sqlx::query_scalar("SELECT lease_owner FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .ok()?;
    owner?.split(':').nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkilled_workers_job_resumes_on_another_worker_within_10s_with_effects_once() {
    let env = TestEnv::new("sigkill").await;
    let mut workers = [env.worker(&[]), env.worker(&[])];
    env.wait_workers(2).await;
    let spec = json!({"steps": 6, "step_ms": 600, "effects_dir": env.dir});
    let id = env.enqueue("noop", spec, Priority::Interactive).await;

    // Kill right after the 2nd checkpoint is committed: the worker is then inside step 3.
    wait_for("2 checkpoints", Duration::from_secs(30), || async {
        (env.checkpoints(id).await >= 2).then_some(())
    })
    .await;
    let pid = owner_pid(&env, id).await.expect("running job has an owner");
    let victim = workers
        .iter()
        .position(|w| w.pid() == pid)
        .expect("owner is one of ours");
    workers[victim].kill9();
    let killed = Instant::now();
    let done_before_kill = env.checkpoints(id).await;

    wait_for("attempt 2 to start", Duration::from_secs(10), || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM job_attempts WHERE job_id = $1 AND attempt = 2",
        )
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .ok()?;
        (n == 1).then_some(())
    })
    .await;
    let resumed_after = killed.elapsed();
    assert!(
        resumed_after < Duration::from_secs(10),
        "resumed after {resumed_after:?}"
    );

    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(30)).await,
        JobState::Succeeded
    );
    for k in 1..=6 {
        assert_eq!(
            env.effect_count(id, &format!("step-{k}")),
            1,
            "step-{k} side effect count; effects: {:?}",
            env.effects(id)
        );
    }
    // Steps completed before the kill ran in attempt 1 only; the rest in attempt 2.
    let attempts: Vec<(String, i32)> =
        sqlx::query_as("SELECT name, attempt FROM job_steps WHERE job_id = $1 ORDER BY name")
            .bind(id)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    for (name, attempt) in attempts {
        let k: i64 = name.trim_start_matches("step-").parse().unwrap();
        let expected = if k <= done_before_kill { 1 } else { 2 };
        assert_eq!(attempt, expected, "{name}");
    }
    let outcomes: Vec<String> = sqlx::query_scalar(
        "SELECT outcome::text FROM job_attempts WHERE job_id = $1 ORDER BY attempt",
    )
    .bind(id)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(outcomes, vec!["abandoned", "succeeded"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_running_step_finish_hands_the_job_back_and_exits_0() {
    let env = TestEnv::new("sigterm").await;
    let mut worker = env.worker(&[("UNDERSTUDY_WORKER__SHUTDOWN_GRACE_SECS", "20")]);
    env.wait_workers(1).await;
    let spec = json!({"steps": 4, "step_ms": 800, "effects_dir": env.dir});
    let id = env.enqueue("noop", spec, Priority::Interactive).await;
    wait_for("1 checkpoint", Duration::from_secs(30), || async {
        (env.checkpoints(id).await >= 1).then_some(())
    })
    .await;
    worker.terminate();
    let code = worker.wait_exit(Duration::from_secs(25)).await;
    assert_eq!(code, Some(0), "worker log:\n{}", worker.log_text());
    // The step that was running when SIGTERM arrived finished and was checkpointed.
    assert_eq!(
        env.checkpoints(id).await,
        2,
        "effects: {:?}",
        env.effects(id)
    );
    assert_eq!(env.state(id).await, Some(JobState::Queued));
    let outcome: String =
        sqlx::query_scalar("SELECT outcome::text FROM job_attempts WHERE job_id = $1")
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(outcome, "interrupted");

    let _next = env.worker(&[]);
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(30)).await,
        JobState::Succeeded
    );
    for k in 1..=4 {
        assert_eq!(
            env.effect_count(id, &format!("step-{k}")),
            1,
            "step-{k}: {:?}",
            env.effects(id)
        );
    }
}

/// Unacked deliveries of a queue, as RabbitMQ reports them.
fn unacked(queue: &str) -> u64 {
    let out = std::process::Command::new("rabbitmqctl")
        .args([
            "list_queues",
            "--quiet",
            "--no-table-headers",
            "name",
            "messages_unacknowledged",
        ])
        .output()
        .expect("rabbitmqctl (installed by scripts/services/rabbitmq.sh)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            (parts.next()? == queue).then(|| parts.next()?.parse().ok())?
        })
        .next()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_job_holds_no_rabbitmq_delivery_while_it_runs() {
    let env = TestEnv::new("longjob").await;
    let _worker = env.worker(&[]);
    env.wait_workers(1).await;
    let id = env
        .enqueue(
            "noop",
            json!({"steps": 2, "step_ms": 3000}),
            Priority::Interactive,
        )
        .await;
    wait_for("the job to run", Duration::from_secs(30), || async {
        (env.state(id).await == Some(JobState::Running)).then_some(())
    })
    .await;
    // Acked at intake: nothing for consumer_timeout (30 min by default) to act on, and no
    // prefetch slot taken for the job's lifetime.
    let queue = env.topology().queue(Priority::Interactive);
    assert_eq!(
        unacked(&queue),
        0,
        "delivery still unacked while the job runs"
    );
    assert_eq!(env.state(id).await, Some(JobState::Running));
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(30)).await,
        JobState::Succeeded
    );
}
