//! Tests of the dump adapters: PostgreSQL COPY streams and mysqldump streams, with the policy,
//! escaping round-trips, statistics and error cases.

use super::rule::{Options, Rule};
use super::{DumpStats, MysqlDumpRewriter, PgCopyRewriter, Policy, RewriteError, Rewriter};

fn rewriter() -> Rewriter {
    Rewriter::new(
        &[Rule::parse("https://example.com", "https://staging.example.com").unwrap()],
        Options::default(),
    )
}

fn pg(input: &str) -> Result<(String, DumpStats), RewriteError> {
    let rw = rewriter();
    let policy = Policy::wordpress();
    let mut out = Vec::new();
    let stats = PgCopyRewriter::new(&rw, &policy).run(input.as_bytes(), &mut out)?;
    assert_eq!(stats.bytes_in, input.len() as u64);
    assert_eq!(stats.bytes_out, out.len() as u64);
    Ok((String::from_utf8(out).unwrap(), stats))
}

fn my(input: &str) -> Result<(String, DumpStats), RewriteError> {
    let rw = rewriter();
    let policy = Policy::wordpress();
    let mut out = Vec::new();
    let stats = MysqlDumpRewriter::new(&rw, &policy).run(input.as_bytes(), &mut out)?;
    assert_eq!(stats.bytes_in, input.len() as u64);
    assert_eq!(stats.bytes_out, out.len() as u64);
    Ok((String::from_utf8(out).unwrap(), stats))
}

const PG_DUMP: &str = r#"--
-- PostgreSQL database dump
--
SET client_encoding = 'UTF8';
CREATE TABLE public.wp_options (option_id bigint, option_name text, option_value text, autoload text);
COMMENT ON TABLE public.wp_options IS 'see https://example.com';
COPY public.wp_options (option_id, option_name, option_value, autoload) FROM stdin;
1	siteurl	https://example.com	yes
2	home	http://example.com/	yes
3	wc_subscriptions_siteurl	https://example.com	no
4	widget	a:1:{s:3:"url";s:41:"line1\nline2\ttab\\slash https://example.com";}	yes
5	blogname	My "quoted" \\ blog	yes
6	nothing	\N	yes
7	broken	a:1:{s:3:"url";s:5:"https://example.com";}	yes
\.

COPY public.wp_posts (id, post_content, guid) FROM stdin;
10	<a href="https://example.com/p">x</a> and https://example.com.au	https://example.com/?p=10
\.

"#;

#[test]
fn pg_copy_rewrites_data_and_leaves_the_rest() {
    let (out, stats) = pg(PG_DUMP).unwrap();
    let expected = PG_DUMP
        .replace(
            "1\tsiteurl\thttps://example.com",
            "1\tsiteurl\thttps://staging.example.com",
        )
        .replace(
            "http://example.com/\tyes",
            "https://staging.example.com/\tyes",
        )
        .replace(
            r#"s:41:"line1\nline2\ttab\\slash https://example.com";"#,
            r#"s:49:"line1\nline2\ttab\\slash https://staging.example.com";"#,
        )
        .replace(
            r#"<a href="https://example.com/p">"#,
            r#"<a href="https://staging.example.com/p">"#,
        );
    assert_eq!(out, expected);
    // Untouched: DDL comment, protected option row, guid, malformed value, other origins.
    assert!(out.contains("IS 'see https://example.com'"));
    assert!(out.contains("3\twc_subscriptions_siteurl\thttps://example.com\tno"));
    assert!(out.contains("\thttps://example.com/?p=10\n"));
    assert!(out.contains("s:5:\"https://example.com\""));

    let options = &stats.tables["public.wp_options"];
    assert_eq!(options.rows, 7);
    assert_eq!(options.values_changed, 3);
    assert_eq!(options.replacements, 3);
    assert_eq!(options.malformed, 1);
    assert_eq!(options.rows_protected, 1);
    let posts = &stats.tables["public.wp_posts"];
    assert_eq!(posts.rows, 1);
    assert_eq!(posts.values_changed, 1);
    assert_eq!(posts.values_protected, 1);
    assert_eq!(stats.malformed_samples.len(), 1);
    let sample = &stats.malformed_samples[0];
    assert_eq!(
        (sample.table.as_str(), sample.row, sample.column.as_str()),
        ("public.wp_options", 7, "option_value")
    );
    assert_eq!(stats.total().rows, 8);
    assert_eq!(stats.statements_not_rewritten, 0);
}

#[test]
fn pg_copy_escaping_round_trips_through_a_rewrite() {
    // Every escape PostgreSQL may write, around a URL, in a serialized value.
    let real = "tab\there\nnew\\back\rcr\u{8}bs\u{c}ff\u{b}vt https://example.com \"q\" 'q' é";
    let real_new = real.replace("https://example.com", "https://staging.example.com");
    let ser = |v: &str| format!("s:{}:\"{}\";", v.len(), v);
    let esc = |v: &str| {
        let mut out = Vec::new();
        super::pg_escape::encode(v.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    };
    let dump = format!(
        "COPY t (a, b) FROM stdin;\n{}\t{}\n\\.\n",
        esc(&ser(real)),
        esc(real)
    );
    let (out, _) = pg(&dump).unwrap();
    let expected = format!(
        "COPY t (a, b) FROM stdin;\n{}\t{}\n\\.\n",
        esc(&ser(&real_new)),
        esc(&real_new)
    );
    assert_eq!(out, expected);
}

#[test]
fn pg_copy_decodes_octal_and_hex_escapes_before_matching() {
    let dump = "COPY t (a) FROM stdin;\nhttps://ex\\141mple.com \\x41\n\\.\n";
    let (out, stats) = pg(dump).unwrap();
    assert_eq!(
        out,
        "COPY t (a) FROM stdin;\nhttps://staging.example.com A\n\\.\n"
    );
    assert_eq!(stats.tables["t"].values_changed, 1);
}

#[test]
fn pg_copy_headers_with_quoted_names() {
    let dump = "COPY \"My Schema\".\"wp_posts\" (\"ID\", \"guid\", post_content) FROM stdin;\n1\thttps://example.com\thttps://example.com\n\\.\n";
    let (out, stats) = pg(dump).unwrap();
    assert!(out.contains("1\thttps://example.com\thttps://staging.example.com\n"));
    assert_eq!(stats.tables["My Schema.wp_posts"].values_protected, 1);
    let h = super::pg_copy::parse_copy_header(
        b"COPY public.wp_options (option_id, \"a\"\"b\") FROM stdin;\n",
    )
    .unwrap();
    assert_eq!(h.table, "public.wp_options");
    assert_eq!(h.name, "wp_options");
    assert_eq!(h.columns, vec!["option_id".to_string(), "a\"b".to_string()]);
    assert!(super::pg_copy::parse_copy_header(b"COPY t (a) TO stdout;\n").is_none());
}

#[test]
fn pg_copy_errors_and_counts() {
    // The dump tool died inside a block.
    let err = pg("COPY t (a) FROM stdin;\nhttps://example.com\n").unwrap_err();
    assert!(
        matches!(err, RewriteError::Truncated { ref table } if table == "t"),
        "{err}"
    );
    // A row that needs rewriting but has the wrong field count.
    let err = pg("COPY t (a, b) FROM stdin;\nhttps://example.com\n\\.\n").unwrap_err();
    assert!(matches!(err, RewriteError::Syntax { line: 2, .. }), "{err}");
    // pg_dump --inserts output is passed through and reported.
    let (out, stats) = pg("INSERT INTO t VALUES ('https://example.com');\n").unwrap();
    assert_eq!(out, "INSERT INTO t VALUES ('https://example.com');\n");
    assert_eq!(stats.statements_not_rewritten, 1);
    // CRLF line ends stay line ends.
    let (out, _) = pg("COPY t (a, b) FROM stdin;\r\n1\thttps://example.com\r\n\\.\r\n").unwrap();
    assert_eq!(
        out,
        "COPY t (a, b) FROM stdin;\r\n1\thttps://staging.example.com\r\n\\.\r\n"
    );
    // End marker without a final newline.
    let (out, _) = pg("COPY t (a) FROM stdin;\n//example.com\n\\.").unwrap();
    assert_eq!(out, "COPY t (a) FROM stdin;\n//staging.example.com\n\\.");
}

const MYSQL_DUMP: &str = r#"-- MySQL dump 10.13
/*!40101 SET NAMES utf8mb4 */;
DROP TABLE IF EXISTS `wp_options`;
CREATE TABLE `wp_options` (
  `option_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `option_name` varchar(191) NOT NULL DEFAULT '',
  `option_value` longtext NOT NULL,
  `autoload` varchar(20) NOT NULL DEFAULT 'yes',
  PRIMARY KEY (`option_id`),
  UNIQUE KEY `option_name` (`option_name`)
) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4;
LOCK TABLES `wp_options` WRITE;
/*!40000 ALTER TABLE `wp_options` DISABLE KEYS */;
INSERT INTO `wp_options` VALUES (1,'siteurl','https://example.com','yes'),(2,'wc_subscriptions_siteurl','https://example.com','no'),(3,'widget','a:2:{s:3:\"url\";s:19:\"https://example.com\";s:4:\"note\";s:12:\"it\'s \"x\"\n\\\\\0\";}','yes'),(4,'n',NULL,'yes'),(5,'hex',0x68747470733A2F2F6578616D706C652E636F6D,'yes'),(6,'bin',_binary 'https://example.com','no');
/*!40000 ALTER TABLE `wp_options` ENABLE KEYS */;
UNLOCK TABLES;
CREATE TABLE `wp_posts` (
  `ID` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `post_content` longtext NOT NULL,
  `guid` varchar(255) NOT NULL DEFAULT '',
  PRIMARY KEY (`ID`)
) ENGINE=InnoDB;
INSERT INTO `wp_posts` VALUES (10,'<a href=\"https://example.com/p\">x</a>','https://example.com/?p=10');
"#;

#[test]
fn mysqldump_rewrites_inserts_and_leaves_the_rest() {
    let (out, stats) = my(MYSQL_DUMP).unwrap();
    let expected = MYSQL_DUMP
        .replace(
            "(1,'siteurl','https://example.com'",
            "(1,'siteurl','https://staging.example.com'",
        )
        .replace(
            r#"s:19:\"https://example.com\""#,
            r#"s:27:\"https://staging.example.com\""#,
        )
        .replace(
            "_binary 'https://example.com'",
            "_binary 'https://staging.example.com'",
        )
        .replace(
            r#"'<a href=\"https://example.com/p\">x</a>'"#,
            r#"'<a href=\"https://staging.example.com/p\">x</a>'"#,
        );
    assert_eq!(out, expected);
    let options = &stats.tables["wp_options"];
    assert_eq!(options.rows, 6);
    assert_eq!(options.values_changed, 3);
    assert_eq!(options.rows_protected, 1);
    assert_eq!(options.malformed, 0);
    let posts = &stats.tables["wp_posts"];
    assert_eq!(
        (posts.rows, posts.values_changed, posts.values_protected),
        (1, 1, 1)
    );
}

#[test]
fn mysqldump_escaping_round_trips_through_a_rewrite() {
    let real = "it's \"q\" \\ back\nnl\rcr\0nul\u{1a}z\ttab https://example.com %_ \\% é";
    let real_new = real.replace("https://example.com", "https://staging.example.com");
    let ser = |v: &str| format!("a:1:{{i:0;s:{}:\"{}\";}}", v.len(), v);
    let esc = |v: &str| {
        let mut out = Vec::new();
        super::mysql_escape::encode(v.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    };
    let stmt = |a: &str, b: &str| {
        format!(
            "INSERT INTO `t` (`a`, `b`) VALUES ('{}',\"{}\");\n",
            esc(a),
            esc(b)
        )
    };
    let (out, stats) = my(&stmt(&ser(real), real)).unwrap();
    assert_eq!(out, stmt(&ser(&real_new), &real_new));
    assert_eq!(stats.tables["t"].replacements, 2);
}

#[test]
fn mysqldump_statement_spanning_lines_and_odd_forms() {
    let dump = "INSERT IGNORE INTO `t` VALUES ('line1\nhttps://example.com', 1.5e3, -2, b'01', X'4142', NULL), ( 'x' ) ;\nSELECT 1;\n";
    let (out, stats) = my(dump).unwrap();
    assert_eq!(
        out,
        dump.replace(
            "line1\nhttps://example.com",
            "line1\\nhttps://staging.example.com"
        )
    );
    assert_eq!(stats.tables["t"].rows, 2);
    let dump = "REPLACE INTO t (a) VALUES ('//example.com'),('x''s https://example.com');\n";
    let (out, _) = my(dump).unwrap();
    assert_eq!(out, "REPLACE INTO t (a) VALUES ('//staging.example.com'),('x\\'s https://staging.example.com');\n");
}

#[test]
fn mysqldump_statement_with_one_row_per_line() {
    let mut dump = String::from("INSERT INTO `t` VALUES\n");
    for i in 0..2000 {
        let sep = if i == 0 { ' ' } else { ',' };
        dump.push_str(&format!("{sep}({i},'https://example.com/{i}')\n"));
    }
    dump.push_str(";\nSELECT 1;\n");
    let (out, stats) = my(&dump).unwrap();
    assert_eq!(
        out,
        dump.replace("https://example.com", "https://staging.example.com")
    );
    assert_eq!(stats.tables["t"].rows, 2000);
    assert_eq!(stats.tables["t"].replacements, 2000);
}

#[test]
fn mysqldump_errors_and_pass_through() {
    // Unparseable with a candidate: refuse rather than leave production URLs behind.
    let err = my("INSERT INTO `t` VALUES (CONCAT('https://example.com'));\n").unwrap_err();
    assert!(matches!(err, RewriteError::Syntax { line: 1, .. }), "{err}");
    // Unparseable without a candidate: passed through and counted.
    let (out, stats) = my("INSERT INTO `t` VALUES (NOW());\n").unwrap();
    assert_eq!(out, "INSERT INTO `t` VALUES (NOW());\n");
    assert_eq!(stats.statements_not_rewritten, 1);
    // The policy names wp_posts but no CREATE TABLE said its columns.
    let err = my("INSERT INTO `wp_posts` VALUES (1,'https://example.com');\n").unwrap_err();
    assert!(matches!(err, RewriteError::UnknownColumns { .. }), "{err}");
    // A row with a different number of values than the table has columns.
    let dump =
        "CREATE TABLE `t` (\n  `a` text\n);\nINSERT INTO `t` VALUES ('https://example.com',2);\n";
    assert!(matches!(
        my(dump).unwrap_err(),
        RewriteError::Syntax { line: 4, .. }
    ));
    // The dump ended inside a statement.
    let err = my("INSERT INTO `t` VALUES ('https://example.com\n").unwrap_err();
    assert!(matches!(err, RewriteError::Syntax { .. }), "{err}");
}

#[test]
fn mysqldump_identity_escapes_are_decoded() {
    let (out, _) = my("INSERT INTO `t` VALUES ('https://exampl\\e.com');\n").unwrap();
    assert_eq!(
        out,
        "INSERT INTO `t` VALUES ('https://staging.example.com');\n"
    );
}

#[test]
fn pg_copy_freeze_load_truncates_first_and_copies_frozen() {
    let rw = rewriter();
    let policy = Policy::wordpress();
    let mut out = Vec::new();
    let input = "SET x = 1;\nCOPY public.wp_posts (id, post_content) FROM stdin;\n1\thttps://example.com/a\n\\.\n";
    let stats = PgCopyRewriter::new(&rw, &policy)
        .with_freeze_into("\"public\".\"wp_posts\"")
        .run(input.as_bytes(), &mut out)
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(
        out,
        "SET x = 1;\nTRUNCATE \"public\".\"wp_posts\";\n\
         COPY public.wp_posts (id, post_content) FROM stdin WITH (FREEZE);\n\
         1\thttps://staging.example.com/a\n\\.\n"
    );
    assert_eq!(stats.total().replacements, 1);
}

#[test]
fn json_inside_json_under_the_sql_literal_layers() {
    // Real bytes: a serialized string holding JSON whose string holds JSON (three backslashes
    // before each slash) and unicode-escaped slashes; each dump escapes the backslashes again.
    let value = |host: &str| {
        let json = format!(
            r#"{{"w":"{{\"url\":\"https:\\\/\\\/{host}\\\/x\"}}","u":"https:\u002F\u002F{host}"}}"#
        );
        format!("a:1:{{s:4:\"data\";s:{}:\"{json}\";}}", json.len())
    };
    let (old, new) = (value("example.com"), value("staging.example.com"));
    let pg_field = |v: &str| {
        let mut out = Vec::new();
        super::pg_escape::encode(v.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    };
    assert!(pg_field(&old).contains(r"https:\\\\\\/\\\\\\/example.com"));
    let copy = |v: &str| format!("COPY t (a) FROM stdin;\n{}\n\\.\n", pg_field(v));
    let (out, stats) = pg(&copy(&old)).unwrap();
    assert_eq!(out, copy(&new));
    assert_eq!(stats.tables["t"].replacements, 2);

    let my_literal = |v: &str| {
        let mut out = Vec::new();
        super::mysql_escape::encode(v.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    };
    assert!(my_literal(&old).contains(r"https:\\\\\\/\\\\\\/example.com"));
    let insert = |v: &str| format!("INSERT INTO `t` VALUES (1,'{}');\n", my_literal(v));
    let (out, stats) = my(&insert(&old)).unwrap();
    assert_eq!(out, insert(&new));
    assert_eq!(stats.tables["t"].replacements, 2);
}

fn hex(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect()
}

/// A serialized value with the URL, as a plugin may keep it in a binary column.
fn serialized_url(url: &str) -> String {
    format!("a:1:{{s:3:\"url\";s:{}:\"{url}\";}}", url.len())
}

/// Bytes that are not UTF-8 but hold the production URL.
const NOT_UTF8: &[u8] = b"\xff\xfe\x00 https://example.com/x \xc3\x28";

#[test]
fn pg_copy_rewrites_utf8_bytea_and_text_arrays_by_column_kind() {
    let rw = rewriter();
    let policy = Policy::wordpress();
    let kinds = super::ColumnKinds::new()
        .with("wp_files", "data", super::ColumnKind::Binary)
        .with("wp_files", "tags", super::ColumnKind::TextArray);
    let (old, new) = (
        serialized_url("https://example.com/a"),
        serialized_url("https://staging.example.com/a"),
    );
    // bytea in COPY text: `\\x` + hex (the backslash escaped by COPY); escape format too.
    let row =
        |id: u32, data: &str, tags: &str, note: &str| format!("{id}\t{data}\t{tags}\t{note}\n");
    let array = |v: &str| format!("{{\"{}\",plain}}", v.replace('"', "\\\\\""));
    let dump = |rows: &[String]| {
        format!(
            "COPY public.wp_files (id, data, tags, note) FROM stdin;\n{}\\.\n",
            rows.concat()
        )
    };
    let hex_url = format!("\\\\x{}", hex(b"https://example.com", false));
    let input = dump(&[
        row(
            1,
            &format!("\\\\x{}", hex(old.as_bytes(), false)),
            &array(&old),
            "\\N",
        ),
        row(2, &format!("\\\\x{}", hex(NOT_UTF8, false)), "\\N", "x"),
        row(3, "https://example.com/\\\\000\\\\\\\\", "{}", &hex_url),
        row(4, "\\N", "{NULL,https://example.com}", "\\N"),
    ]);
    let expected = dump(&[
        row(
            1,
            &format!("\\\\x{}", hex(new.as_bytes(), false)),
            &array(&new),
            "\\N",
        ),
        row(2, &format!("\\\\x{}", hex(NOT_UTF8, false)), "\\N", "x"),
        row(
            3,
            &format!("\\\\x{}", hex(b"https://staging.example.com/\0\\", false)),
            "{}",
            &hex_url,
        ),
        row(4, "\\N", "{NULL,\"https://staging.example.com\"}", "\\N"),
    ]);
    let mut out = Vec::new();
    let stats = PgCopyRewriter::new(&rw, &policy)
        .with_column_kinds(&kinds)
        .run(input.as_bytes(), &mut out)
        .unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), expected);
    let t = &stats.tables["public.wp_files"];
    assert_eq!((t.values_changed, t.replacements), (4, 4));
    assert_eq!(t.binary_kept, 1, "the non-UTF-8 bytea is kept and counted");
    assert_eq!(t.malformed, 0);
    // Without kinds nothing in the bytea is seen; the array is rewritten as text.
    let (out, _) = pg(&input).unwrap();
    assert!(out.contains(&format!("\\\\x{}", hex(old.as_bytes(), false))));
}

#[test]
fn mysqldump_rewrites_utf8_blobs_and_keeps_other_bytes() {
    let (old, new) = (
        serialized_url("https://example.com/a"),
        serialized_url("https://staging.example.com/a"),
    );
    let dump = |a: &str, b: &str, c: &str, d: &str, e: &str| {
        format!(
            "CREATE TABLE `wp_files` (\n  `id` int NOT NULL,\n  `data` longblob,\n  `note` varbinary(255) DEFAULT NULL,\n  `fixed` binary(40) DEFAULT NULL,\n  `small` tinyblob,\n  `text` longtext,\n  PRIMARY KEY (`id`)\n);\n\
             INSERT INTO `wp_files` VALUES (1,{a},{b},{c},{d},{e}),(2,0x{},NULL,NULL,'',NULL);\n",
            hex(NOT_UTF8, true),
        )
    };
    let url_hex = hex(b"https://example.com", true);
    let input = dump(
        &format!("0x{}", hex(old.as_bytes(), true)),
        &format!("X'{}'", hex(b"//example.com/x", false)),
        &format!("0x{url_hex}"),
        "_binary 'https://example.com'",
        &format!("'0x{url_hex}'"),
    );
    let expected = dump(
        &format!("0x{}", hex(new.as_bytes(), true)),
        &format!("0x{}", hex(b"//staging.example.com/x", true)),
        &format!("0x{url_hex}"),
        "_binary 'https://staging.example.com'",
        &format!("'0x{url_hex}'"),
    );
    let (out, stats) = my(&input).unwrap();
    assert_eq!(out, expected);
    let t = &stats.tables["wp_files"];
    assert_eq!((t.rows, t.values_changed, t.replacements), (2, 3, 3));
    assert_eq!(t.binary_kept, 1, "the non-UTF-8 longblob");
    // `_binary` strings (a dump without --hex-blob): UTF-8 rewritten, other bytes kept.
    let rw = rewriter();
    let policy = Policy::wordpress();
    let mut out = Vec::new();
    let input: &[u8] = b"CREATE TABLE `t` (\n  `b` blob\n);\n\
        INSERT INTO `t` VALUES (_binary '\\0 https://example.com \\Z'),(_binary '\xff https://example.com'),('\xfe https://example.com');\n";
    let stats = MysqlDumpRewriter::new(&rw, &policy)
        .run(input, &mut out)
        .unwrap();
    let expected: &[u8] = b"CREATE TABLE `t` (\n  `b` blob\n);\n\
        INSERT INTO `t` VALUES (_binary '\\0 https://staging.example.com \\Z'),(_binary '\xff https://example.com'),('\xfe https://example.com');\n";
    assert_eq!(out, expected, "{}", String::from_utf8_lossy(&out));
    assert_eq!(stats.tables["t"].binary_kept, 2);
}
