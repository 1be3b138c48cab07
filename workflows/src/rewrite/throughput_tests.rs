//! Throughput of the adapters on generated 100 MB streams. Ignored by default; run with
//! `cargo test --release -- --ignored --nocapture throughput`.

use std::time::Instant;

use super::rule::{Options, Rule};
use super::{MysqlDumpRewriter, PgCopyRewriter, Policy, Rewriter};

const TARGET_BYTES: usize = 100 * 1024 * 1024;

fn rewriter() -> Rewriter {
    Rewriter::new(
        &[
            Rule::parse("https://example.com", "https://staging.example.com").unwrap(),
            Rule::parse("https://www.example.com", "https://staging.example.com").unwrap(),
        ],
        Options::default(),
    )
}

/// A WordPress-looking value: text, JSON with escaped slashes, sometimes a serialized URL.
fn value(i: usize, with_url: bool) -> String {
    let text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit — Grüße ✓ {\"a\":[1,2,3],\"p\":\"x\\/y\"}";
    if with_url {
        let url = format!("https://example.com/wp-content/uploads/{i}.jpg");
        format!(
            "a:2:{{s:3:\"url\";s:{}:\"{url}\";s:4:\"text\";s:{}:\"{text}\";}}",
            url.len(),
            text.len()
        )
    } else {
        format!("{text} row {i} see https://other.example.org/page")
    }
}

fn copy_stream(match_every: usize) -> Vec<u8> {
    let mut out =
        b"COPY public.wp_postmeta (meta_id, post_id, meta_key, meta_value) FROM stdin;\n".to_vec();
    let mut i = 0;
    while out.len() < TARGET_BYTES {
        let with_url = match_every > 0 && i % match_every == 0;
        let v = value(i, with_url).replace('\\', "\\\\");
        out.extend_from_slice(format!("{i}\t{}\t_meta_key_{}\t{v}\n", i / 7, i % 13).as_bytes());
        i += 1;
    }
    out.extend_from_slice(b"\\.\n");
    out
}

fn mysql_stream(match_every: usize) -> Vec<u8> {
    let mut out = b"CREATE TABLE `wp_postmeta` (\n  `meta_id` bigint,\n  `post_id` bigint,\n  `meta_key` varchar(255),\n  `meta_value` longtext\n);\n".to_vec();
    let mut i = 0;
    while out.len() < TARGET_BYTES {
        out.extend_from_slice(b"INSERT INTO `wp_postmeta` VALUES ");
        for j in 0..4000 {
            let with_url = match_every > 0 && i % match_every == 0;
            let v = value(i, with_url)
                .replace('\\', "\\\\")
                .replace('"', "\\\"");
            let sep = if j == 0 { "" } else { "," };
            out.extend_from_slice(
                format!("{sep}({i},{},'_meta_key_{}','{v}')", i / 7, i % 13).as_bytes(),
            );
            i += 1;
        }
        out.extend_from_slice(b";\n");
    }
    out
}

/// Best of three runs, writing into a reused buffer (so page faults of a fresh buffer do not count).
fn measure(label: &str, input: &[u8], run: impl Fn(&[u8], &mut Vec<u8>) -> u64) {
    let mut out = Vec::with_capacity(input.len() + input.len() / 8);
    let mut best = f64::MAX;
    let mut replacements = 0;
    for _ in 0..3 {
        out.clear();
        let start = Instant::now();
        replacements = run(input, &mut out);
        best = best.min(start.elapsed().as_secs_f64());
        assert!(out.len() >= input.len());
    }
    let mb = input.len() as f64 / 1e6;
    println!(
        "{label}: {mb:.0} MB in {best:.3} s = {:.0} MB/s ({replacements} replacements)",
        mb / best
    );
}

#[test]
#[ignore = "throughput measurement; run with --release -- --ignored --nocapture"]
fn throughput_copy_and_mysqldump() {
    let rw = rewriter();
    let policy = Policy::wordpress();
    let cases = [
        ("no matching rows", 0),
        ("1% rows match", 100),
        ("10% rows match", 10),
        ("every row matches", 1),
    ];
    for (label, every) in cases {
        let input = copy_stream(every);
        measure(&format!("pg COPY, {label}"), &input, |i, o| {
            let stats = PgCopyRewriter::new(&rw, &policy).run(i, o).unwrap();
            stats.total().replacements
        });
        let input = mysql_stream(every);
        measure(&format!("mysqldump, {label}"), &input, |i, o| {
            let stats = MysqlDumpRewriter::new(&rw, &policy).run(i, o).unwrap();
            stats.total().replacements
        });
    }
}

/// 100 MB of binary values (every one decoded from hex to be looked at); `match_every` of them
/// hold a serialized URL, the others bytes without the host.
fn blob_streams(match_every: usize) -> (Vec<u8>, Vec<u8>) {
    let mut pg = b"COPY public.wp_files (id, data) FROM stdin;\n".to_vec();
    let mut my = b"CREATE TABLE `wp_files` (\n  `id` bigint,\n  `data` longblob\n);\n".to_vec();
    let hex = |bytes: &[u8], upper: bool| {
        let mut out = Vec::new();
        super::binary::encode_hex(bytes, upper, &mut out);
        String::from_utf8(out).unwrap()
    };
    let mut i = 0;
    while pg.len() < TARGET_BYTES {
        my.extend_from_slice(b"INSERT INTO `wp_files` VALUES ");
        for j in 0..400 {
            let with_url = match_every > 0 && i % match_every == 0;
            let mut v = value(i, with_url).into_bytes();
            v.resize(1000, b' ');
            pg.extend_from_slice(format!("{i}\t\\\\x{}\n", hex(&v, false)).as_bytes());
            let sep = if j == 0 { "" } else { "," };
            my.extend_from_slice(format!("{sep}({i},0x{})", hex(&v, true)).as_bytes());
            i += 1;
        }
        my.extend_from_slice(b";\n");
    }
    pg.extend_from_slice(b"\\.\n");
    (pg, my)
}

#[test]
#[ignore = "throughput measurement; run with --release -- --ignored --nocapture"]
fn throughput_binary_columns() {
    let rw = rewriter();
    let policy = Policy::wordpress();
    let kinds = super::ColumnKinds::new().with("wp_files", "data", super::ColumnKind::Binary);
    for (label, every) in [("no matching blobs", 0), ("10% blobs match", 10)] {
        let (pg, my) = blob_streams(every);
        measure(&format!("pg COPY bytea, {label}"), &pg, |i, o| {
            let stats = PgCopyRewriter::new(&rw, &policy)
                .with_column_kinds(&kinds)
                .run(i, o)
                .unwrap();
            stats.total().replacements
        });
        measure(&format!("mysqldump longblob, {label}"), &my, |i, o| {
            let stats = MysqlDumpRewriter::new(&rw, &policy).run(i, o).unwrap();
            stats.total().replacements
        });
    }
}
