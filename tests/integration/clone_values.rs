//! Values of every shape a plugin stores, cloned and compared with production value by value:
//! JSON nested in JSON (page builders, plugin exports: slashes escaped twice and more, and as
//! `\u002F`), inside PHP-serialized strings too; binary columns (`bytea`, BLOB, VARBINARY)
//! holding serialized data or text with the URL, rewritten, and random bytes holding it, left
//! byte for byte; PostgreSQL `text[]`/`varchar[]` arrays. On PostgreSQL through both copy paths
//! (stream and the in-place fast path) and back through promote, and on MariaDB.

use sqlx::mysql::MySqlPool;
use sqlx::PgPool;
use understudy_tests::{last_json, php_rejects, TestEnv};

use crate::clone_mysql::{my_url, mysql_exec, Scratch as MyScratch};
use crate::clone_pg::{add_pg_site, pg_url, PgSite};

/// `s:N:"…";` with the byte length.
fn ser(s: &str) -> String {
    format!("s:{}:\"{s}\";", s.len())
}

/// JSON whose strings hold JSON, URLs at `host` with slashes escaped once (`\/`), twice
/// (`\\\/`), three times (`\\\\\\\/`) and as `\u002F`; look-alikes of `decoy` (the production
/// host) that must never change.
fn nested_json(host: &str, decoy: &str) -> String {
    format!(
        r#"[{{"id":"a1","url":"https:\/\/{host}\/p","settings":"{{\"link\":{{\"url\":\"https:\\\/\\\/{host}\\\/shop\\\/\"}},\"deep\":\"{{\\\"img\\\":\\\"https:\\\\\\\/\\\\\\\/{host}\\\\\\\/a.png\\\"}}\"}}","u":"https:\u002F\u002F{host}\u002Fx","decoys":"https:\\\/\\\/{decoy}.evil.org \\\/\\\/x{decoy} https:\u002F\u002F{decoy}\u002Eevil.org https:\\/\\/{decoy}.au"}}]"#
    )
}

/// A serialized option holding the nested JSON and a plain URL: lengths counted in bytes.
fn serialized_nested(host: &str, decoy: &str) -> String {
    format!(
        "a:3:{{s:4:\"data\";{}s:3:\"url\";{}s:5:\"title\";{}}}",
        ser(&nested_json(host, decoy)),
        ser(&format!("https://{host}/wp-content/uploads/ü.png")),
        ser("Grüße ✓"),
    )
}

/// `(meta_key, value)` of the text rows, with URLs at `host`.
fn text_rows(host: &str, decoy: &str) -> Vec<(&'static str, String)> {
    vec![
        ("_elementor_data", nested_json(host, decoy)),
        ("_nested_serialized", serialized_nested(host, decoy)),
        (
            "_nested_twice_serialized",
            ser(&serialized_nested(host, decoy)),
        ),
    ]
}

/// Deterministic bytes that are not UTF-8 but hold a production URL.
fn random_bytes(decoy: &str) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    let mut bytes: Vec<u8> = (0..600)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    bytes[0] = 0xff;
    let url = format!("https://{decoy}/wp-content/uploads/x.png");
    bytes.splice(300..300, url.bytes());
    assert!(std::str::from_utf8(&bytes).is_err());
    bytes
}

/// `(id, blob)` of the binary rows, with URLs at `host`: serialized data, JSON text, random
/// bytes (the same in production and staging), NULL.
fn blob_rows(host: &str, decoy: &str) -> Vec<(i32, Option<Vec<u8>>)> {
    vec![
        (1, Some(serialized_nested(host, decoy).into_bytes())),
        (2, Some(nested_json(host, decoy).into_bytes())),
        (3, Some(random_bytes(decoy))),
        (4, None),
    ]
}

/// `(tags, names)` arrays of row 1, with URLs at `host`.
fn arrays(host: &str, decoy: &str) -> (Vec<Option<String>>, Vec<String>) {
    (
        vec![
            Some(format!("https://{host}/a")),
            Some(ser(&format!("https://{host}/b"))),
            None,
            Some(nested_json(host, decoy)),
            Some(format!("https://{decoy}.evil.org, {{\"quoted\"}} \\ back")),
            Some(String::new()),
        ],
        vec![format!("//{host}/n"), "plain".into()],
    )
}

async fn pg_blobs(pool: &PgPool) -> Vec<(i32, Option<Vec<u8>>)> {
    sqlx::query_as("SELECT id, data FROM wp_understudy_blobs ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn pg_arrays(pool: &PgPool) -> (Vec<Option<String>>, Vec<String>) {
    sqlx::query_as("SELECT tags, names::text[] FROM wp_understudy_blobs WHERE id = 1")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn pg_meta(pool: &PgPool, key: &str) -> String {
    sqlx::query_scalar("SELECT meta_value FROM wp_postmeta WHERE meta_key = $1")
        .bind(key)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The serialized values of one side, for PHP.
fn serialized_of(rows: &[(&'static str, String)], blobs: &[(i32, Option<Vec<u8>>)]) -> Vec<String> {
    let mut values: Vec<String> = rows
        .iter()
        .filter(|(key, _)| key.contains("serialized"))
        .map(|(_, v)| v.clone())
        .collect();
    values.push(String::from_utf8(blobs[0].1.clone().unwrap()).unwrap());
    values
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_nested_json_bytea_and_arrays_match_production_on_both_copy_paths_and_promote() {
    let env = TestEnv::new("clonevals").await;
    let host = format!("vals-{}.example", &env.namespace[1..]);
    let staging_host = format!("staging.{host}");
    let PgSite {
        source,
        scratch: _scratch,
        ..
    } = add_pg_site(&env, "vals", &host, 30, &[]).await;
    let prod = PgPool::connect(&pg_url(&source)).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE wp_understudy_blobs (id int PRIMARY KEY, data bytea, tags text[], \
         names varchar(200)[], note text)",
    )
    .execute(&prod)
    .await
    .unwrap();
    for (key, value) in text_rows(&host, &host) {
        sqlx::query("INSERT INTO wp_postmeta (post_id, meta_key, meta_value) VALUES (1, $1, $2)")
            .bind(key)
            .bind(value)
            .execute(&prod)
            .await
            .unwrap();
    }
    let (tags, names) = arrays(&host, &host);
    for (id, data) in blob_rows(&host, &host) {
        let with_arrays = id == 1;
        sqlx::query(
            "INSERT INTO wp_understudy_blobs (id, data, tags, names, note) \
             VALUES ($1, $2, $3, $4::varchar(200)[], 'no url')",
        )
        .bind(id)
        .bind(data)
        .bind(with_arrays.then(|| tags.clone()))
        .bind(with_arrays.then(|| names.clone()))
        .execute(&prod)
        .await
        .unwrap();
    }
    let production = (pg_blobs(&prod).await, pg_arrays(&prod).await);
    prod.close().await;

    let expected_rows = text_rows(&staging_host, &host);
    let expected_blobs = blob_rows(&staging_host, &host);
    let expected_arrays = arrays(&staging_host, &host);
    let _worker = env.worker(&[]);
    for (method, extra) in [("template", None), ("stream", Some("--no-template"))] {
        let mut args = vec!["staging", "create", "vals", "--wait", "--json"];
        args.extend(extra);
        let out = env.cli(&args);
        let status = last_json(&out);
        assert!(out.status.success(), "{method}: {status}");
        let result = &status["job"]["result"];
        assert_eq!(result["copy"]["method"], method, "{result}");
        let blobs_report = result["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == "public.wp_understudy_blobs")
            .unwrap_or_else(|| panic!("{method}: no report for the blobs table: {result}"));
        assert_eq!(
            blobs_report["binary_kept"], 1,
            "{method}: the random bytes are kept and counted: {blobs_report}"
        );
        let staging = PgPool::connect(&pg_url(&format!("{source}_staging")))
            .await
            .unwrap();
        for (key, expected) in &expected_rows {
            assert_eq!(&pg_meta(&staging, key).await, expected, "{method}: {key}");
        }
        let blobs = pg_blobs(&staging).await;
        assert_eq!(blobs, expected_blobs, "{method}: bytea values");
        assert_eq!(
            blobs[2], production.0[2],
            "{method}: random bytes byte for byte"
        );
        assert_eq!(
            pg_arrays(&staging).await,
            expected_arrays,
            "{method}: arrays"
        );
        let rejected = php_rejects(&serialized_of(&expected_rows, &blobs));
        assert!(rejected.is_empty(), "{method}: PHP refuses {rejected:?}");
        staging.close().await;
        if method == "stream" {
            break;
        }
        let out = env.cli(&["staging", "destroy", "vals", "--wait"]);
        assert!(
            out.status.success(),
            "destroy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Promote the copy back: staging URLs return to production's in every shape.
    let out = env.cli(&[
        "staging",
        "promote",
        "vals",
        "--tables",
        "understudy_blobs,postmeta",
        "--wait",
        "--json",
    ]);
    let status = last_json(&out);
    assert!(out.status.success(), "promote failed: {status}");
    let prod = PgPool::connect(&pg_url(&source)).await.unwrap();
    assert_eq!(
        (pg_blobs(&prod).await, pg_arrays(&prod).await),
        production,
        "promoted binary and array values differ from the original production"
    );
    for (key, original) in text_rows(&host, &host) {
        assert_eq!(pg_meta(&prod, key).await, original, "promoted {key}");
    }
    prod.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_nested_json_and_blobs_match_production_value_by_value() {
    let env = TestEnv::new("clonevalsmy").await;
    let host = format!("valsmy-{}.example", &env.namespace[1..]);
    let staging_host = format!("staging.{host}");
    let source = format!("ut_vals_{}", &env.namespace[1..]);
    let _scratch = MyScratch(source.clone());
    mysql_exec(
        None,
        &format!("CREATE DATABASE `{source}` CHARACTER SET utf8mb4"),
    );
    mysql_exec(
        Some(&source),
        &understudy_tests::wordpress_fixture::mysql_sql(&host, 30),
    );
    mysql_exec(
        Some(&source),
        "CREATE TABLE wp_understudy_blobs (id int PRIMARY KEY, data longblob, small blob, \
         note varbinary(255), fixed binary(64)) DEFAULT CHARSET=utf8mb4",
    );
    let prod = MySqlPool::connect(&my_url(&source)).await.unwrap();
    for (key, value) in text_rows(&host, &host) {
        sqlx::query("INSERT INTO wp_postmeta (post_id, meta_key, meta_value) VALUES (1, ?, ?)")
            .bind(key)
            .bind(value)
            .execute(&prod)
            .await
            .unwrap();
    }
    // longblob: the shared blob rows; blob: JSON; varbinary: a URL (rewritten) or other bytes
    // holding one (kept); fixed binary(64): padded to its length, never rewritten.
    let note = |id: i32, host: &str| match id {
        1 => Some(format!("https://{host}/n").into_bytes()),
        2 => Some([&b"\xff "[..], format!("https://{host}/n").as_bytes()].concat()),
        _ => None,
    };
    let fixed = {
        let mut f = format!("https://{host}/f").into_bytes();
        f.resize(64, 0);
        f
    };
    for (id, data) in blob_rows(&host, &host) {
        sqlx::query("INSERT INTO wp_understudy_blobs VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(data)
            .bind((id == 1).then(|| nested_json(&host, &host).into_bytes()))
            .bind(note(id, &host))
            .bind((id == 1).then(|| fixed.clone()))
            .execute(&prod)
            .await
            .unwrap();
    }
    prod.close().await;
    let uploads = env.dir.join("valsmy/uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    env.add_site(&[
        "valsmy",
        "--url",
        &format!("https://{host}"),
        "--db",
        &my_url(&source),
        "--uploads",
        uploads.to_str().unwrap(),
    ]);
    let _worker = env.worker(&[]);
    let out = env.cli(&["staging", "create", "valsmy", "--wait", "--json"]);
    let status = last_json(&out);
    assert!(out.status.success(), "create failed: {status}");
    let report = status["job"]["result"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "wp_understudy_blobs")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        report["binary_kept"], 2,
        "random longblob and varbinary bytes: {report}"
    );

    let staging = MySqlPool::connect(&my_url(&format!("{source}_staging")))
        .await
        .unwrap();
    let expected_rows = text_rows(&staging_host, &host);
    for (key, expected) in &expected_rows {
        let value: String =
            sqlx::query_scalar("SELECT meta_value FROM wp_postmeta WHERE meta_key = ?")
                .bind(key)
                .fetch_one(&staging)
                .await
                .unwrap();
        assert_eq!(&value, expected, "{key}");
    }
    type BlobRow = (
        i32,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
    );
    let rows: Vec<BlobRow> =
        sqlx::query_as("SELECT id, data, small, note, fixed FROM wp_understudy_blobs ORDER BY id")
            .fetch_all(&staging)
            .await
            .unwrap();
    let expected_blobs = blob_rows(&staging_host, &host);
    for (row, (id, data)) in rows.iter().zip(&expected_blobs) {
        assert_eq!((row.0, &row.1), (*id, data), "longblob of row {id}");
        let small = (*id == 1).then(|| nested_json(&staging_host, &host).into_bytes());
        assert_eq!(row.2, small, "blob of row {id}");
        let note = match id {
            1 => note(1, &staging_host),
            other => note(*other, &host),
        };
        assert_eq!(row.3, note, "varbinary of row {id}");
        assert_eq!(
            row.4,
            (*id == 1).then(|| fixed.clone()),
            "binary(64) of row {id}"
        );
    }
    let blobs: Vec<(i32, Option<Vec<u8>>)> = rows.iter().map(|r| (r.0, r.1.clone())).collect();
    let rejected = php_rejects(&serialized_of(&expected_rows, &blobs));
    assert!(rejected.is_empty(), "PHP refuses {rejected:?}");
    staging.close().await;
}
