//! Fencing: after a lease moves to another attempt, the old attempt can neither checkpoint nor
//! complete the job. Exercised on the engine library against the real PostgreSQL.

use serde_json::json;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use understudy_tests::TestEnv;
use understudy_worker::claim::claim;
use understudy_worker::ledger::{Fence, Finish, Lease, Ledger};
use understudy_worker::rescue::requeue_expired;
use understudy_worker::state::JobState;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_attempt_cannot_checkpoint_or_finish_after_a_takeover() {
    let env = TestEnv::new("fencing").await;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO jobs (id, kind, spec, priority, enqueued_at) VALUES ($1, 'noop', '{\"steps\":2}', 'bulk', now())",
    )
    .bind(id)
    .execute(&env.pool)
    .await
    .unwrap();
    let ttl = Duration::from_secs(30);
    let first = claim(&env.pool, "worker-a", 10, ttl).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        claim(&env.pool, "worker-b", 10, ttl)
            .await
            .unwrap()
            .is_empty(),
        "a running job is not claimed twice"
    );

    // Worker A stalls: its lease runs out and the job is taken over by worker B.
    sqlx::query("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(id)
        .execute(&env.pool)
        .await
        .unwrap();
    assert_eq!(requeue_expired(&env.pool).await.unwrap(), vec![id]);
    let second = claim(&env.pool, "worker-b", 10, ttl).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(first[0].lease_token, second[0].lease_token);

    let stop = CancellationToken::new();
    let (ledger, _task) = Ledger::spawn(env.pool.clone(), stop.clone());
    let stale = Lease {
        job: id,
        token: first[0].lease_token,
        attempt: first[0].attempt,
    };
    let current = Lease {
        job: id,
        token: second[0].lease_token,
        attempt: second[0].attempt,
    };

    assert_eq!(
        ledger
            .checkpoint(stale, "step-1", json!("from A"))
            .await
            .unwrap(),
        Fence::Lost
    );
    assert_eq!(
        ledger
            .checkpoint(current, "step-1", json!("from B"))
            .await
            .unwrap(),
        Fence::Held {
            cancel_requested: false
        }
    );
    assert_eq!(
        ledger
            .finish(stale, Finish::Succeeded(json!("A")))
            .await
            .unwrap(),
        Fence::Lost
    );
    assert_eq!(
        ledger
            .finish(current, Finish::Succeeded(json!("B")))
            .await
            .unwrap(),
        Fence::Held {
            cancel_requested: false
        }
    );
    // A late completion from A after B finished changes nothing either.
    assert_eq!(
        ledger
            .finish(stale, Finish::Failed("late".into()))
            .await
            .unwrap(),
        Fence::Lost
    );

    let (state, result): (JobState, serde_json::Value) =
        sqlx::query_as("SELECT state, result FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!((state, result), (JobState::Succeeded, json!("B")));
    let output: serde_json::Value =
        sqlx::query_scalar("SELECT output FROM job_steps WHERE job_id = $1")
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(output, json!("from B"));
    let outcomes: Vec<String> = sqlx::query_scalar(
        "SELECT outcome::text FROM job_attempts WHERE job_id = $1 ORDER BY attempt",
    )
    .bind(id)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(outcomes, vec!["abandoned", "succeeded"]);
    stop.cancel();
}
