//! The `understudy` CLI as a script or a person uses it: one JSON document per invocation,
//! idempotency keys that name the job the worker has, waiting for a worker that is not there
//! yet, closed pipes, and exit codes that say what was wrong.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use understudy_tests::{bin_dir, stdout_json, wait_for, TestEnv};
use uuid::Uuid;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// `understudy ARGS` started in the background with stdout and stderr piped.
fn spawn(env: &TestEnv, args: &[&str]) -> Child {
    Command::new(bin_dir().join("understudy"))
        .args(args)
        .envs(env.env_vars())
        .env_remove("UNDERSTUDY_CONFIG")
        .current_dir(&env.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start understudy")
}

/// Collects a child's stderr as it is written.
fn collect_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let seen = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("piped stderr");
    let sink = seen.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    seen
}

/// Waits for a child to exit, killing it after `timeout`.
async fn exit_of(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("understudy did not exit within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A port that answers every connection in plain HTTP (what an http:// WordPress does to a
/// TLS ClientHello).
async fn plain_http_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_without_a_worker_waits_for_one_and_prints_one_json_document() {
    let env = TestEnv::new("cli-wait").await;
    let mut child = spawn(
        &env,
        &["enqueue", "noop", "--set", "steps=2", "--wait", "--json"],
    );
    let stderr = collect_stderr(&mut child);
    wait_for(
        "the waiting-for-a-worker hint",
        Duration::from_secs(20),
        || {
            let seen = stderr.lock().unwrap().clone();
            async move { seen.contains("waiting for a worker").then_some(()) }
        },
    )
    .await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "--wait gave up on a queued job: {}",
        stderr.lock().unwrap()
    );
    let _worker = env.worker(&[]);
    let status = exit_of(&mut child, Duration::from_secs(60)).await;
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(
        status.success(),
        "{status:?} {stdout} {}",
        stderr.lock().unwrap()
    );
    // One document: parseable as a whole, with the id and the end state.
    let doc: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("--wait --json is not one JSON document ({e}): {stdout}"));
    assert_eq!(doc["job"]["state"], "succeeded", "{doc}");
    assert_eq!(doc["job_id"], doc["job"]["id"], "{doc}");

    // Without --wait: one document with the id.
    let out = env.cli(&["enqueue", "noop", "--set", "steps=1", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let doc = stdout_json(&out);
    assert!(
        doc["job_id"].as_str().unwrap().parse::<Uuid>().is_ok(),
        "{doc}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_keys_name_the_job_the_worker_has_for_export_and_onboard() {
    let env = TestEnv::new("cli-idem").await;
    let port = plain_http_port().await;
    let url = format!("https://127.0.0.1:{port}");
    let password = env.dir.join("app-password");
    std::fs::write(&password, "abcd efgh ijkl mnop qrst uvwx").unwrap();
    let pw = password.to_str().unwrap();
    let export = |key: &str, out: &str| {
        env.cli(&[
            "export",
            &url,
            "--user",
            "admin",
            "--app-password-file",
            pw,
            "--idempotency-key",
            key,
            "--out",
            out,
            "--json",
        ])
    };
    // No worker yet: both calls name the same job and bundle.
    let first = export("exp-1", "bundle-a");
    assert!(first.status.success(), "{}", describe(&first));
    let second = export("exp-1", "bundle-a");
    let (first, second) = (stdout_json(&first), stdout_json(&second));
    assert_eq!(first["job_id"], second["job_id"], "{first} {second}");
    assert_eq!(first["out_dir"], second["out_dir"]);
    let id: Uuid = first["job_id"].as_str().unwrap().parse().unwrap();

    let _worker = env.worker(&[]);
    let state = env.wait_terminal(id, Duration::from_secs(60)).await;
    assert_eq!(state, understudy_worker::state::JobState::Failed);
    let error: String = sqlx::query_scalar("SELECT error FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    // https:// against a port that speaks HTTP says so (not "corrupt message").
    assert!(
        error.contains("speaks plain HTTP") && error.contains(&format!("http://127.0.0.1:{port}/")),
        "{error}"
    );
    // The key again with another --out: the earlier job and its directory stand.
    let third = export("exp-1", "bundle-b");
    assert!(third.status.success(), "{}", describe(&third));
    assert!(
        text(&third.stderr).contains("stands"),
        "{}",
        describe(&third)
    );
    let third = stdout_json(&third);
    assert_eq!(third["job_id"], first["job_id"]);
    assert_eq!(third["out_dir"], first["out_dir"], "{third}");
    assert!(
        !env.dir.join("bundle-b").exists(),
        "a bundle directory that no job writes was announced"
    );

    // Onboard: the same, and --wait on the repeat follows the real job to its end.
    let onboard = |wait: bool| {
        let mut args = vec![
            "onboard",
            &url,
            "--user",
            "admin",
            "--app-password-file",
            pw,
            "--idempotency-key",
            "onb-1",
            "--json",
        ];
        if wait {
            args.push("--wait");
        }
        env.cli(&args)
    };
    let once = stdout_json(&onboard(false));
    let again = onboard(true);
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    let again = stdout_json(&again);
    assert_eq!(once["job_id"], again["job_id"], "{once} {again}");
    assert_eq!(again["job"]["state"], "failed", "{again}");
    let jobs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE idempotency_key IN ('exp-1', 'onb-1')")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(jobs, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pipe_ends_the_cli_quietly() {
    let env = TestEnv::new("cli-pipe").await;
    sqlx::query(
        "INSERT INTO jobs (id, kind, spec, priority, enqueued_at) \
         SELECT gen_random_uuid(), 'noop', '{\"steps\": 1}'::jsonb, 'bulk', now() FROM generate_series(1, 3000)",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    for args in [
        &["list", "--limit", "10000", "--json"][..],
        &["list", "--limit", "10000"][..],
    ] {
        // `understudy list … | head -c 200`: read a little, then close the pipe.
        let mut child = spawn(&env, args);
        let mut head = [0u8; 200];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut head)
            .unwrap();
        drop(child.stdout.take());
        let status = exit_of(&mut child, Duration::from_secs(30)).await;
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// Arguments, extra environment, expected exit code, expected stderr excerpt.
type ExitCase<'a> = (Vec<&'a str>, Vec<(&'a str, String)>, i32, &'a str);

#[tokio::test(flavor = "multi_thread")]
async fn wrong_input_and_refused_services_get_the_right_exit_code_and_make_no_job() {
    let env = TestEnv::new("cli-codes").await;
    let uploads = env.dir.join("uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    let up = uploads.to_str().unwrap();
    let nil = Uuid::nil().to_string();
    let db = format!(
        "postgres://understudy:understudy@127.0.0.1:5432/{}",
        env.database
    );
    let cases: Vec<ExitCase> = vec![
        (vec!["list", "--limit", "0"], vec![], 2, "--limit 0"),
        (vec!["list", "--kind", "bogus"], vec![], 2, "not a job kind"),
        (
            vec!["sandbox", "destroy", "sb-nosuch"],
            vec![],
            3,
            "no sandbox sb-nosuch",
        ),
        (
            vec![
                "enqueue",
                "noop",
                "--job-id",
                &nil,
                "--idempotency-key",
                "k",
            ],
            vec![],
            2,
            "cannot be used with",
        ),
        (
            vec![
                "site",
                "add",
                "typo",
                "--url",
                "https://typo.example",
                "--db",
                &db,
                "--uploads",
                "/nonexistent/uploads",
            ],
            vec![],
            2,
            "no such directory",
        ),
        (
            vec!["list"],
            vec![(
                "UNDERSTUDY_DATABASE_URL",
                format!(
                    "postgres://understudy:wrong-password@127.0.0.1:5432/{}",
                    env.database
                ),
            )],
            2,
            "refused the connection",
        ),
        (
            vec!["enqueue", "noop", "--set", "steps=1"],
            vec![(
                "UNDERSTUDY_AMQP_URL",
                "amqp://guest:wrong-password@127.0.0.1:5672/%2f".into(),
            )],
            2,
            "refused the connection",
        ),
    ];
    for (args, extra, code, needle) in cases {
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = env.cli_with(&args, &extra);
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            describe(&out)
        );
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("wrong-password"),
            "a password was printed: {stderr}"
        );
    }
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0, "a refused command left a job");
    let sites: i64 = sqlx::query_scalar("SELECT count(*) FROM sites")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(sites, 0, "a refused site add registered a site");

    // A site under a path keeps the path in its default staging URL.
    env.add_site(&[
        "blog",
        "--url",
        "https://blog-cli.example/blog",
        "--db",
        &db,
        "--uploads",
        up,
    ]);
    let site = stdout_json(&env.cli(&["site", "show", "blog", "--json"]));
    assert_eq!(
        site["site"]["staging_url"], "https://staging.blog-cli.example/blog",
        "{site}"
    );

    // `staging destroy --help` offers only what destroy uses.
    let help = text(&env.cli(&["staging", "destroy", "--help"]).stdout);
    for copy_option in [
        "--anonymize",
        "--parallel-tables",
        "--basic-auth",
        "--keep-option",
    ] {
        assert!(
            !help.contains(copy_option),
            "destroy --help lists {copy_option}: {help}"
        );
    }
    assert!(help.contains("--wait"), "{help}");
}
