//! `--anonymize` across a crash: a worker SIGKILLed mid-copy, the job resumed on another worker.
//! `collect-personal-data` is not run again; the resumed table steps collect production again
//! (nothing clear was checkpointed) and map every value exactly as the first attempt did.

use sqlx::PgPool;
use std::time::Duration;
use understudy_tests::wordpress_fixture::personal_values;
use understudy_tests::{last_json, wait_for, TestEnv};
use understudy_worker::state::JobState;

use super::clone_anonymize::{leaks, pg_dump};
use super::clone_pg::{make_source, make_uploads, pg_url};

#[tokio::test(flavor = "multi_thread")]
async fn an_anonymized_copy_killed_mid_way_resumes_with_the_same_mapping() {
    let env = TestEnv::new("anonkill").await;
    let host = format!("anonkill-{}.example", &env.namespace[1..]);
    let personal = personal_values(&host);
    let (source, _scratch) = make_source(&env, &host, 40_000).await;
    let uploads = make_uploads(&env);
    env.add_site(&[
        "big",
        "--url",
        &format!("https://{host}"),
        "--db",
        &pg_url(&source),
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    let mut first = env.worker(&[]);
    let out = env.cli(&[
        "staging",
        "create",
        "big",
        "--anonymize",
        "--parallel-tables",
        "1",
        "--json",
    ]);
    let id: uuid::Uuid = last_json(&out)["job_id"].as_str().unwrap().parse().unwrap();
    // Largest tables first (posts, postmeta): kill once one is checkpointed, before the users.
    wait_for(
        "the first table copied",
        Duration::from_secs(60),
        || async {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM job_steps WHERE job_id = $1 AND name LIKE 'copy:%'",
            )
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .ok()?;
            (n >= 1).then_some(())
        },
    )
    .await;
    first.kill9();
    let _second = env.worker(&[]);
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(180)).await,
        JobState::Succeeded,
        "{}",
        last_json(&env.cli(&["status", &id.to_string(), "--json"]))["job"]["error"]
    );
    let attempts: Vec<(String, i32)> = sqlx::query_as(
        "SELECT name, attempt FROM job_steps WHERE job_id = $1 AND (name LIKE 'copy:%' OR name = 'collect-personal-data')",
    )
    .bind(id)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    let attempt = |n: &str| attempts.iter().find(|(name, _)| name == n).map(|a| a.1);
    assert_eq!(attempt("collect-personal-data"), Some(1), "{attempts:?}");
    assert_eq!(
        attempt("copy:public.wp_users"),
        Some(2),
        "users copied after the resume: {attempts:?}"
    );
    assert!(attempts
        .iter()
        .any(|(_, a)| *a == 1 && attempt("copy:public.wp_users") == Some(2)));

    let staging_db = format!("{source}_staging");
    assert_eq!(
        leaks(&pg_dump(&staging_db), &personal),
        Vec::<String>::new()
    );
    let staging = PgPool::connect(&pg_url(&staging_db)).await.unwrap();
    let prod = PgPool::connect(&pg_url(&source)).await.unwrap();
    let q = |sql: &'static str, pool: PgPool| async move {
        sqlx::query_scalar::<_, String>(sql)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let email = "SELECT user_email FROM wp_users WHERE \"ID\" = 2";
    let billing = "SELECT meta_value FROM wp_postmeta WHERE meta_key = '_billing_email'";
    let pass = "SELECT user_pass FROM wp_users WHERE \"ID\" = 1";
    assert_eq!(
        q(email, staging.clone()).await,
        q(billing, staging.clone()).await,
        "postmeta (first attempt) and users (after the resume) share the mapping"
    );
    assert_eq!(
        q(pass, staging.clone()).await,
        q(pass, prod.clone()).await,
        "kept admin"
    );
    staging.close().await;
    prod.close().await;
    let out = env.cli(&["staging", "destroy", "big", "--wait"]);
    assert!(out.status.success());
}
