//! `--anonymize` on real PostgreSQL and MariaDB: a full data dump of the staging database holds no
//! e-mail, IP, phone or name of the fixture; one e-mail maps to one fake everywhere (columns,
//! meta rows, serialized and JSON values); serialized values still unserialize in PHP; the kept
//! administrator can still log in and nobody else can; production, checkpoints, the job result
//! and the worker log never show a clear value.

use serde_json::Value;
use sqlx::mysql::MySqlPool;
use sqlx::PgPool;
use std::process::{Command, Output};
use understudy_tests::wordpress_fixture::{mysql_sql, personal_values, Personal};
use understudy_tests::{last_json, php_rejects, TestEnv};

use super::clone_mysql::{my_url, mysql_exec, Scratch as MyScratch};
use super::clone_pg::{make_source, make_uploads, pg_url};

const TABLES: [&str; 9] = [
    "wp_options",
    "wp_posts",
    "wp_postmeta",
    "wp_users",
    "wp_usermeta",
    "wp_comments",
    "wp_wc_orders",
    "wp_wc_order_addresses",
    "wp_wc_customer_lookup",
];

fn run(command: &mut Command) -> String {
    let out = command.output().expect("dump tool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 dump")
}

pub fn pg_dump(database: &str) -> String {
    run(Command::new("pg_dump")
        .args([
            "--data-only",
            "--host",
            "127.0.0.1",
            "--username",
            "understudy",
        ])
        .args(["--dbname", database])
        .env("PGPASSWORD", "understudy"))
}

fn mysqldump(database: &str) -> String {
    run(Command::new("mysqldump")
        .args(["-h", "127.0.0.1", "-u", "understudy", "--no-create-info"])
        .args(["--skip-extended-insert", database])
        .env("MYSQL_PWD", "understudy"))
}

/// Every personal value, lower-cased (a dump is searched case-insensitively).
pub fn needles(p: &Personal) -> Vec<String> {
    p.emails
        .iter()
        .map(String::as_str)
        .chain(p.ips.iter().copied())
        .chain(p.phones.iter().copied())
        .chain(p.names.iter().copied())
        .map(str::to_lowercase)
        .collect()
}

/// The personal values `text` still contains.
pub fn leaks(text: &str, p: &Personal) -> Vec<String> {
    let text = text.to_lowercase();
    needles(p)
        .into_iter()
        .filter(|n| text.contains(n.as_str()))
        .collect()
}

fn first_json(out: &Output) -> Value {
    serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .next()
        .expect("JSON on stdout")
        .expect("valid JSON")
}

/// Checks the job's result and every checkpoint it stored; returns the result.
async fn check_job(env: &TestEnv, out: &Output, p: &Personal) -> Value {
    let status = last_json(out);
    assert!(out.status.success(), "anonymized clone failed: {status}");
    let id: uuid::Uuid = first_json(out)["job_id"].as_str().unwrap().parse().unwrap();
    let outputs: Vec<String> =
        sqlx::query_scalar("SELECT output::text FROM job_steps WHERE job_id = $1")
            .bind(id)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert!(outputs.len() > 5);
    let stored = format!("{}\n{}", outputs.join("\n"), status);
    assert_eq!(
        leaks(&stored, p),
        Vec::<String>::new(),
        "in checkpoints/result"
    );
    status["job"]["result"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_anonymized_staging_holds_no_personal_data() {
    let env = TestEnv::new("anonpg").await;
    let host = format!("anon-{}.example", &env.namespace[1..]);
    let personal = personal_values(&host);
    let (source, _scratch) = make_source(&env, &host, 50).await;
    let uploads = make_uploads(&env);
    env.add_site(&[
        "shop",
        "--url",
        &format!("https://{host}"),
        "--db",
        &pg_url(&source),
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    let worker = env.worker(&[]);
    let out = env.cli(&[
        "staging",
        "create",
        "shop",
        "--anonymize",
        "--wait",
        "--json",
    ]);
    let result = check_job(&env, &out, &personal).await;
    let anon = &result["anonymization"];
    assert_eq!(anon["collected"]["kept_admin_id"], 1, "{anon}");
    assert_eq!(anon["collected"]["administrators"], 2, "{anon}");
    assert_eq!(anon["passwords_made_unusable"], 2, "{anon}");
    assert_eq!(anon["replaced"]["users.user_email"], 3, "{anon}");
    assert_eq!(anon["replaced"]["comments.comment_author_IP"], 3, "{anon}");
    assert_eq!(anon["replaced"]["wc_orders.billing_email"], 1, "{anon}");
    assert_eq!(anon["replaced"]["options.admin_email"], 1, "{anon}");
    assert!(
        anon["replaced_in_text"]["public.wp_options"]
            .as_u64()
            .unwrap()
            >= 5,
        "{anon}"
    );
    assert_eq!(result["malformed"], 1, "{result}");

    // Nothing personal anywhere in the copy (and the fixture did have it all).
    let staging_db = format!("{source}_staging");
    let prod_dump = pg_dump(&source);
    assert_eq!(leaks(&prod_dump, &personal).len(), needles(&personal).len());
    let dump = pg_dump(&staging_db);
    assert_eq!(
        leaks(&dump, &personal),
        Vec::<String>::new(),
        "left in the staging dump"
    );
    assert!(!dump.contains("Firefox/120"), "user agents replaced");
    assert!(!dump.contains("221B Baker"), "addresses replaced");
    assert!(
        leaks(&worker.log_text(), &personal).is_empty(),
        "the worker log shows personal data"
    );

    let prod = PgPool::connect(&pg_url(&source)).await.unwrap();
    let staging = PgPool::connect(&pg_url(&staging_db)).await.unwrap();
    for table in TABLES {
        let q = format!("SELECT count(*) FROM {table}");
        let a: i64 = sqlx::query_scalar(&q).fetch_one(&prod).await.unwrap();
        let b: i64 = sqlx::query_scalar(&q).fetch_one(&staging).await.unwrap();
        assert_eq!(a, b, "{table} row count");
    }
    // One e-mail, one fake: users, comments, usermeta, postmeta, HPOS, serialized, JSON.
    let users: Vec<(i64, String, String, String, String)> = sqlx::query_as(
        "SELECT \"ID\", user_login, user_email, user_pass, display_name FROM wp_users ORDER BY \"ID\"",
    )
    .fetch_all(&staging)
    .await
    .unwrap();
    let prod_pass: Vec<String> =
        sqlx::query_scalar("SELECT user_pass FROM wp_users ORDER BY \"ID\"")
            .fetch_all(&prod)
            .await
            .unwrap();
    assert_eq!(users[0].1, "owner", "the kept admin's login stays");
    assert_eq!(
        users[0].3, prod_pass[0],
        "the kept admin's password hash stays"
    );
    for (i, user) in users.iter().enumerate().skip(1) {
        assert_ne!(user.3, prod_pass[i], "user {} can no longer log in", user.0);
        assert!(user.1.starts_with("user-"), "{}", user.1);
    }
    let philippa = &users[1].2;
    let octavia = &users[2].2;
    assert!(philippa.ends_with("@example.invalid"), "{philippa}");
    let scalar = |sql: &'static str| {
        let staging = staging.clone();
        async move {
            sqlx::query_scalar::<_, String>(sql)
                .fetch_one(&staging)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        &scalar("SELECT comment_author_email FROM wp_comments WHERE comment_content = 'Love it'")
            .await,
        philippa
    );
    assert_eq!(
        &scalar("SELECT meta_value FROM wp_postmeta WHERE meta_key = '_billing_email'").await,
        philippa
    );
    assert_eq!(
        &scalar("SELECT meta_value FROM wp_usermeta WHERE meta_key = 'billing_email'").await,
        philippa
    );
    assert_eq!(
        &scalar("SELECT billing_email FROM wp_wc_orders").await,
        philippa
    );
    assert_eq!(
        &scalar("SELECT email FROM wp_wc_customer_lookup").await,
        philippa
    );
    let notifications =
        scalar("SELECT option_value FROM wp_options WHERE option_name = 'wpforms_notifications'")
            .await;
    assert!(notifications.contains(philippa.as_str()), "{notifications}");
    let json =
        scalar("SELECT option_value FROM wp_options WHERE option_name = 'customer_json'").await;
    assert!(json.contains(octavia.as_str()), "{json}");
    serde_json::from_str::<Value>(&json).expect("still JSON");
    assert_eq!(
        &scalar("SELECT comment_author_email FROM wp_comments WHERE comment_content = 'Thanks'")
            .await,
        octavia
    );
    assert_eq!(
        scalar("SELECT display_name FROM wp_users WHERE \"ID\" = 2").await,
        format!(
            "{} {}",
            scalar(
                "SELECT meta_value FROM wp_usermeta WHERE meta_key = 'first_name' AND user_id = 2"
            )
            .await,
            scalar(
                "SELECT meta_value FROM wp_usermeta WHERE meta_key = 'last_name' AND user_id = 2"
            )
            .await
        ),
        "names map word by word"
    );
    let link =
        scalar("SELECT option_value FROM wp_options WHERE option_name = 'newsletter_link'").await;
    assert!(
        link.starts_with(&format!("https://staging.{host}/unsubscribe?email=user-")),
        "{link}"
    );
    assert_eq!(
        scalar("SELECT meta_value FROM wp_postmeta WHERE meta_key = '_billing_country'").await,
        "GB"
    );
    // Every serialized value still unserializes in PHP.
    let serialized: Vec<String> = sqlx::query_scalar(
        "SELECT option_value FROM wp_options WHERE option_value ~ '^[aOs]:[0-9]' AND option_name <> 'broken_serialized' \
         UNION ALL SELECT meta_value FROM wp_postmeta WHERE meta_value ~ '^[aOs]:[0-9]' \
         UNION ALL SELECT meta_value FROM wp_usermeta WHERE meta_value ~ '^[aOs]:[0-9]'",
    )
    .fetch_all(&staging)
    .await
    .unwrap();
    assert!(serialized.len() > 50);
    let rejected = php_rejects(&serialized);
    assert!(
        rejected.is_empty(),
        "PHP cannot unserialize: {:?}",
        &rejected[..rejected.len().min(3)]
    );
    staging.close().await;

    // Production is untouched; a second clone (refresh) maps every value to the same fake.
    assert_eq!(
        leaks(&pg_dump(&source), &personal).len(),
        needles(&personal).len()
    );
    let out = env.cli(&[
        "staging",
        "refresh",
        "shop",
        "--anonymize",
        "--wait",
        "--json",
    ]);
    check_job(&env, &out, &personal).await;
    let staging = PgPool::connect(&pg_url(&staging_db)).await.unwrap();
    let again: String = sqlx::query_scalar("SELECT user_email FROM wp_users WHERE \"ID\" = 2")
        .fetch_one(&staging)
        .await
        .unwrap();
    assert_eq!(&again, philippa, "stable across jobs");
    staging.close().await;
    prod.close().await;
    let out = env.cli(&["staging", "destroy", "shop", "--wait"]);
    assert!(out.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_anonymized_staging_holds_no_personal_data_and_keeps_the_chosen_admin() {
    let env = TestEnv::new("anonmy").await;
    let host = format!("anonmy-{}.example", &env.namespace[1..]);
    // The kept admin's login (`octavia`, typed by the user) stays by design: not searched.
    let mut personal = personal_values(&host);
    personal.names.retain(|n| *n != "Octavia");
    let source = format!("ut_anon_{}", &env.namespace[1..]);
    let _scratch = MyScratch(source.clone());
    mysql_exec(
        None,
        &format!("CREATE DATABASE `{source}` CHARACTER SET utf8mb4"),
    );
    mysql_exec(Some(&source), &mysql_sql(&host, 50));
    let uploads = env.dir.join("my/uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    env.add_site(&[
        "mysite",
        "--url",
        &format!("https://{host}"),
        "--db",
        &my_url(&source),
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    let worker = env.worker(&[]);
    // A --keep-admin that is no administrator fails before anything is copied.
    let out = env.cli(&[
        "staging",
        "create",
        "mysite",
        "--anonymize",
        "--keep-admin",
        "nobody",
        "--wait",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let error = last_json(&out)["job"]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("no administrator with that login"),
        "{error}"
    );
    let made: i64 = sqlx::query_scalar("SELECT count(*) FROM staging_environments")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(made, 0);

    let out = env.cli(&[
        "staging",
        "create",
        "mysite",
        "--anonymize",
        "--keep-admin",
        "octavia",
        "--wait",
        "--json",
    ]);
    let result = check_job(&env, &out, &personal).await;
    let anon = &result["anonymization"];
    assert_eq!(anon["collected"]["kept_admin_id"], 3, "{anon}");
    assert_eq!(anon["passwords_made_unusable"], 2, "{anon}");
    assert_eq!(result["malformed"], 1, "{result}");

    let staging_db = format!("{source}_staging");
    let prod_dump = mysqldump(&source);
    assert_eq!(leaks(&prod_dump, &personal).len(), needles(&personal).len());
    let dump = mysqldump(&staging_db);
    assert_eq!(
        leaks(&dump, &personal),
        Vec::<String>::new(),
        "left in the staging dump"
    );
    let log = worker.log_text();
    let leaked = leaks(&log, &personal);
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| leaked.iter().any(|v| l.to_lowercase().contains(v.as_str())))
        .collect();
    assert!(
        leaked.is_empty(),
        "the worker log shows {leaked:?}: {lines:?}"
    );

    let prod = MySqlPool::connect(&my_url(&source)).await.unwrap();
    let staging = MySqlPool::connect(&my_url(&staging_db)).await.unwrap();
    for table in TABLES {
        let q = format!("SELECT COUNT(*) FROM {table}");
        let a: i64 = sqlx::query_scalar(&q).fetch_one(&prod).await.unwrap();
        let b: i64 = sqlx::query_scalar(&q).fetch_one(&staging).await.unwrap();
        assert_eq!(a, b, "{table}");
    }
    let users = |pool: MySqlPool| async move {
        sqlx::query_as::<_, (String, String, String)>(
            "SELECT CAST(user_login AS CHAR), CAST(user_pass AS CHAR), CAST(user_email AS CHAR) FROM wp_users ORDER BY ID",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let (before, after) = (users(prod.clone()).await, users(staging.clone()).await);
    assert_eq!(
        (&after[2].0, &after[2].1),
        (&before[2].0, &before[2].1),
        "octavia is kept"
    );
    assert_ne!(after[0].1, before[0].1, "the other admin cannot log in");
    assert_ne!(after[0].0, "owner");
    assert_ne!(after[1].1, before[1].1);
    let text = |sql: &'static str| {
        let staging = staging.clone();
        async move {
            sqlx::query_scalar::<_, String>(sql)
                .fetch_one(&staging)
                .await
                .unwrap()
        }
    };
    let philippa = &after[1].2;
    assert_eq!(
        &text("SELECT CAST(meta_value AS CHAR) FROM wp_postmeta WHERE meta_key = '_billing_email'")
            .await,
        philippa
    );
    assert_eq!(&text("SELECT CAST(comment_author_email AS CHAR) FROM wp_comments WHERE comment_content = 'Love it'").await, philippa);
    assert_eq!(
        &text(
            "SELECT CAST(email AS CHAR) FROM wp_wc_order_addresses WHERE address_type = 'billing'"
        )
        .await,
        philippa
    );
    assert!(text("SELECT CAST(option_value AS CHAR) FROM wp_options WHERE option_name = 'wpforms_notifications'")
        .await
        .contains(philippa.as_str()));
    let serialized: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(option_value AS CHAR) FROM wp_options WHERE option_value REGEXP '^[aOs]:[0-9]' AND option_name <> 'broken_serialized' \
         UNION ALL SELECT CAST(meta_value AS CHAR) FROM wp_postmeta WHERE meta_value REGEXP '^[aOs]:[0-9]' \
         UNION ALL SELECT CAST(meta_value AS CHAR) FROM wp_usermeta WHERE meta_value REGEXP '^[aOs]:[0-9]'",
    )
    .fetch_all(&staging)
    .await
    .unwrap();
    let rejected = php_rejects(&serialized);
    assert!(
        rejected.is_empty(),
        "PHP cannot unserialize: {:?}",
        &rejected[..rejected.len().min(3)]
    );
    staging.close().await;
    assert_eq!(
        leaks(&mysqldump(&source), &personal).len(),
        needles(&personal).len()
    );
    prod.close().await;
    let out = env.cli(&["staging", "destroy", "mysite", "--wait"]);
    assert!(out.status.success());
}
