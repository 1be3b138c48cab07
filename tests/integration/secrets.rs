//! Secrets never leak: a clone job runs with a database password known to the test, then every
//! place the system writes to is searched for it — worker logs, CLI output, live events, and a
//! full data dump of the Understudy database (sealed columns hold ciphertext only).

use futures::StreamExt;
use sqlx::PgPool;
use std::time::Duration;
use understudy_tests::wordpress_fixture::postgres_sql;
use understudy_tests::{last_json, TestEnv};

#[tokio::test(flavor = "multi_thread")]
async fn a_database_password_appears_nowhere_the_system_writes() {
    let env = TestEnv::new("secrets").await;
    let suffix = &env.namespace[1..];
    let role = format!("ut_role_{suffix}");
    let password = format!("Pw-{}-never-print-me", uuid::Uuid::new_v4().simple());
    let source = format!("ut_sec_{suffix}");
    sqlx::query(&format!(
        "CREATE ROLE \"{role}\" LOGIN CREATEDB PASSWORD '{password}'"
    ))
    .execute(&env.pool)
    .await
    .unwrap();
    sqlx::query(&format!("GRANT \"{role}\" TO CURRENT_USER"))
        .execute(&env.pool)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{source}\" OWNER \"{role}\""))
        .execute(&env.pool)
        .await
        .unwrap();
    let url = format!("postgres://{role}:{password}@127.0.0.1:5432/{source}");
    let prod = PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(&postgres_sql("secret-shop.example", 20))
        .execute(&prod)
        .await
        .unwrap();
    prod.close().await;

    // Listen to every event, as a web app would.
    let (_connection, mut consumer) = env.listen_events("#").await;

    let worker = env.worker(&[("UNDERSTUDY_LOG__LEVEL", "debug")]);
    let url_file = env.dir.join("db-url");
    std::fs::write(&url_file, &url).unwrap();
    let uploads = env.dir.join("wp-content/uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    let mut outputs = Vec::new();
    let add = env.cli(&[
        "site",
        "add",
        "sec",
        "--url",
        "https://secret-shop.example",
        "--db-file",
        url_file.to_str().unwrap(),
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    outputs.push(add);
    let create = env.cli(&["staging", "create", "sec", "--wait", "--json"]);
    assert!(create.status.success(), "{}", last_json(&create));
    outputs.push(create);
    for args in [
        vec!["site", "show", "sec", "--json"],
        vec!["site", "list"],
        vec!["list", "--json"],
        vec!["staging", "list", "--json"],
    ] {
        outputs.push(env.cli(&args));
    }
    let bad = env.cli(&[
        "site",
        "add",
        "bad",
        "--url",
        "https://x.example",
        "--db",
        &format!("postgres://{role}:{password}@127.0.0.1:5432/bad;name"),
        "--uploads",
        "/tmp/x",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    outputs.push(bad);
    let destroy = env.cli(&["staging", "destroy", "sec", "--wait"]);
    assert!(destroy.status.success());
    outputs.push(destroy);

    let mut events = Vec::new();
    while let Ok(Some(Ok(delivery))) =
        tokio::time::timeout(Duration::from_millis(500), consumer.next()).await
    {
        events.push(String::from_utf8_lossy(&delivery.data).into_owned());
    }
    assert!(events.len() > 5, "events were published");
    let dump = std::process::Command::new("pg_dump")
        .args([
            "--data-only",
            "--host",
            "127.0.0.1",
            "--username",
            "understudy",
            "--dbname",
            &env.database,
        ])
        .env("PGPASSWORD", "understudy")
        .output()
        .unwrap();
    assert!(dump.status.success());

    let mut places: Vec<(String, String)> = vec![
        ("worker log".into(), worker.log_text()),
        (
            "database dump".into(),
            String::from_utf8_lossy(&dump.stdout).into_owned(),
        ),
        ("events".into(), events.join("\n")),
    ];
    for (i, out) in outputs.iter().enumerate() {
        places.push((
            format!("cli output {i}"),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ));
    }
    assert!(
        places[1].1.contains(&role),
        "the dump does contain the role name (sanity check of the scan)"
    );
    for (place, text) in &places {
        assert!(
            !text.contains(&password),
            "the password leaked into {place}"
        );
    }
    let _ = sqlx::query(&format!(
        "DROP DATABASE IF EXISTS \"{source}_staging\" WITH (FORCE)"
    ))
    .execute(&env.pool)
    .await;
    let _ = sqlx::query(&format!(
        "DROP DATABASE IF EXISTS \"{source}\" WITH (FORCE)"
    ))
    .execute(&env.pool)
    .await;
    let _ = sqlx::query(&format!("DROP ROLE IF EXISTS \"{role}\""))
        .execute(&env.pool)
        .await;
}
