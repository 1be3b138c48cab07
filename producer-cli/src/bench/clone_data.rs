//! The PostgreSQL source database of `understudy bench clone`: WordPress-shaped tables filled by
//! `COPY … FREEZE` (tables created in the same transaction, indexes built after the load) with
//! seeded pseudo-random words, so the content does not collapse in TOAST compression and the
//! database really is about `--size-mb` on disk (`pg_database_size`).
//!
//! Every post carries the production URL in each spelling the rewriter handles (`https://`,
//! `http://`, `//`, JSON-escaped in block attributes, URL-encoded) plus look-alikes that must
//! stay (`admin@host`, `cdn.host`, `host.au`); postmeta has PHP-serialized values (nested, with
//! multibyte text) and JSON; users, usermeta and comments carry e-mails, names and IPs for the
//! anonymization run.

use sqlx::{Connection, PgConnection};

use understudy_workflows::clone::postgres;
use understudy_workflows::sites::DbUrl;

/// Bumped when the generated data changes, so an old bench database is rebuilt.
pub const VERSION: i64 = 2;

/// On-disk bytes per post with its meta, comments and users (measured: `pg_database_size`
/// minus an empty database's ~8 MB, divided by the posts, at 50 MB).
const BYTES_PER_POST: u64 = 4_550;

pub fn posts_for(size_mb: u64) -> u64 {
    (size_mb.saturating_sub(8) * 1_000_000 / BYTES_PER_POST).max(1_000)
}

/// splitmix64: a tiny seeded generator (the data must be the same on every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// 8,192 pseudo-words built from syllables (some multibyte).
fn vocabulary(rng: &mut Rng) -> Vec<String> {
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mi", "ner", "sto", "qua", "vel", "dri", "pan", "tor", "ul", "bes", "fra",
        "gi", "hol", "jun", "ré", "zü", "ño", "cal", "mer", "tis", "pro", "den", "sha", "wy", "xo",
        "ith", "ban", "cor", "lex", "mon",
    ];
    (0..8192)
        .map(|_| {
            let n = 1 + rng.below(4);
            (0..n)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize])
                .collect::<String>()
        })
        .collect()
}

struct Gen {
    rng: Rng,
    words: Vec<String>,
    host: String,
}

impl Gen {
    fn new(host: &str, seed: u64) -> Gen {
        let mut rng = Rng(seed);
        let words = vocabulary(&mut rng);
        Gen {
            rng,
            words,
            host: host.into(),
        }
    }

    fn words(&mut self, n: usize, out: &mut String) {
        for i in 0..n {
            if i > 0 {
                out.push(' ');
            }
            let w = self.rng.below(self.words.len() as u64) as usize;
            out.push_str(&self.words[w]);
        }
    }

    fn sentence(&mut self, n: usize) -> String {
        let mut s = String::new();
        self.words(n, &mut s);
        s
    }

    /// ~2.7 KB of block content with the URL in every spelling and look-alikes.
    fn content(&mut self, id: u64) -> String {
        let h = self.host.clone();
        let mut out = String::with_capacity(3200);
        for p in 0..6u64 {
            let img = id * 10 + p;
            match p {
                0 => out.push_str(&format!(
                    "<!-- wp:image {{\"id\":{img},\"url\":\"https:\\/\\/{h}\\/wp-content\\/uploads\\/2026\\/11\\/p{img}.jpg\"}} -->\n\
                     <figure><img class=\"wp-image-{img}\" src=\"https://{h}/wp-content/uploads/2026/11/p{img}.jpg\"></figure><!-- /wp:image -->\n"
                )),
                1 => out.push_str(&format!(
                    "<p><a href=\"http://{h}/shop/item-{id}\">item {id}</a> mail admin@{h} cdn <img src=\"https://cdn.{h}/x{img}.png\"> \
                     share https%3A%2F%2F{h}%2F%3Fp%3D{id} also {h}.au</p>\n"
                )),
                2 => out.push_str(&format!(
                    "<p>protocol-relative <script src=\"//{h}/wp-includes/js/a{img}.js\"></script></p>\n"
                )),
                _ => {}
            }
            out.push_str("<!-- wp:paragraph --><p>");
            let n = 55 + self.rng.below(30) as usize;
            self.words(n, &mut out);
            out.push_str(&format!(
                " <a href=\"https://{h}/{}/\">more</a>.</p><!-- /wp:paragraph -->\n",
                self.sentence(2).replace(' ', "-")
            ));
        }
        out
    }
}

/// Appends one COPY text field (backslash, tab, newline, CR escaped).
fn field(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn row(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        field(out, f);
    }
    out.push('\n');
}

/// `s:N:"value";` with N in bytes.
fn ser(value: &str) -> String {
    format!("s:{}:\"{value}\";", value.len())
}

const DDL: &str = "\
CREATE TABLE wp_options (option_id bigserial, option_name varchar(191) NOT NULL, option_value text NOT NULL, autoload varchar(20) NOT NULL DEFAULT 'yes');
CREATE TABLE wp_posts (\"ID\" bigserial, post_author bigint NOT NULL DEFAULT 0, post_date timestamp NOT NULL DEFAULT '2026-01-01', post_title text NOT NULL, post_content text NOT NULL, post_excerpt text NOT NULL DEFAULT '', post_status varchar(20) NOT NULL DEFAULT 'publish', post_name varchar(200) NOT NULL DEFAULT '', post_type varchar(20) NOT NULL DEFAULT 'post', guid varchar(255) NOT NULL DEFAULT '');
CREATE TABLE wp_postmeta (meta_id bigserial, post_id bigint NOT NULL, meta_key varchar(255), meta_value text);
CREATE TABLE wp_users (\"ID\" bigserial, user_login varchar(60) NOT NULL, user_pass varchar(255) NOT NULL DEFAULT '', user_nicename varchar(50) NOT NULL DEFAULT '', user_email varchar(100) NOT NULL, user_url varchar(100) NOT NULL DEFAULT '', user_activation_key varchar(255) NOT NULL DEFAULT '', display_name varchar(250) NOT NULL DEFAULT '');
CREATE TABLE wp_usermeta (umeta_id bigserial, user_id bigint NOT NULL, meta_key varchar(255), meta_value text);
CREATE TABLE wp_comments (\"comment_ID\" bigserial, \"comment_post_ID\" bigint NOT NULL, comment_author text NOT NULL DEFAULT '', comment_author_email varchar(100), comment_author_url varchar(200) NOT NULL DEFAULT '', \"comment_author_IP\" varchar(100), comment_content text, comment_agent varchar(255) NOT NULL DEFAULT '');
";

const INDEXES: &str = "\
ALTER TABLE wp_options ADD PRIMARY KEY (option_id);
CREATE UNIQUE INDEX wp_options_name ON wp_options (option_name);
ALTER TABLE wp_posts ADD PRIMARY KEY (\"ID\");
CREATE INDEX wp_posts_name ON wp_posts (post_name);
CREATE INDEX wp_posts_type_status_date ON wp_posts (post_type, post_status, post_date, \"ID\");
ALTER TABLE wp_postmeta ADD PRIMARY KEY (meta_id);
CREATE INDEX wp_postmeta_post ON wp_postmeta (post_id);
CREATE INDEX wp_postmeta_key ON wp_postmeta (meta_key);
ALTER TABLE wp_users ADD PRIMARY KEY (\"ID\");
CREATE INDEX wp_users_login ON wp_users (user_login);
ALTER TABLE wp_usermeta ADD PRIMARY KEY (umeta_id);
CREATE INDEX wp_usermeta_user ON wp_usermeta (user_id);
ALTER TABLE wp_comments ADD PRIMARY KEY (\"comment_ID\");
CREATE INDEX wp_comments_post ON wp_comments (\"comment_post_ID\");
SELECT setval(pg_get_serial_sequence('wp_options', 'option_id'), (SELECT max(option_id) FROM wp_options));
SELECT setval(pg_get_serial_sequence('wp_posts', 'ID'), (SELECT max(\"ID\") FROM wp_posts));
SELECT setval(pg_get_serial_sequence('wp_postmeta', 'meta_id'), (SELECT max(meta_id) FROM wp_postmeta));
SELECT setval(pg_get_serial_sequence('wp_users', 'ID'), (SELECT max(\"ID\") FROM wp_users));
SELECT setval(pg_get_serial_sequence('wp_usermeta', 'umeta_id'), (SELECT max(umeta_id) FROM wp_usermeta));
SELECT setval(pg_get_serial_sequence('wp_comments', 'comment_ID'), (SELECT max(\"comment_ID\") FROM wp_comments));
";

/// Sends `rows` (a generator of COPY text chunks) into `table` with FREEZE.
async fn copy_into(
    conn: &mut PgConnection,
    table: &str,
    columns: &str,
    mut chunk: impl FnMut(&mut String) -> bool,
) -> Result<(), sqlx::Error> {
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY {table} ({columns}) FROM STDIN WITH (FREEZE)"
        ))
        .await?;
    let mut buf = String::with_capacity(1 << 21);
    loop {
        buf.clear();
        let more = chunk(&mut buf);
        if !buf.is_empty() {
            copy.send(buf.as_bytes()).await?;
        }
        if !more {
            break;
        }
    }
    copy.finish().await?;
    Ok(())
}

/// Loads posts + postmeta (the bulk) on one connection, the rest on another, at once.
pub async fn generate(source: &DbUrl, host: &str, posts: u64) -> Result<(), sqlx::Error> {
    let mut main = PgConnection::connect_with(&postgres::options(source)).await?;
    sqlx::raw_sql(&format!("BEGIN; {DDL}"))
        .execute(&mut main)
        .await?;
    let host = host.to_string();
    let batch = 500u64;

    // Small tables first (same transaction: FREEZE needs the table created in it).
    let users = (posts / 50).max(20);
    let mut g = Gen::new(&host, 7);
    let mut done = false;
    copy_into(
        &mut main,
        "wp_options",
        "option_name, option_value",
        |out| {
            if done {
                return false;
            }
            done = true;
            let h = &host;
            let widget_inner = format!(
                "a:2:{{{}{}}}",
                ser("title"),
                ser(&format!("Ünïcödé → https://{h}/about"))
            );
            let widget = format!(
                "a:2:{{i:2;a:2:{{{}{}}}s:12:\"_multiwidget\";i:1;}}",
                ser("text"),
                ser(&widget_inner)
            );
            for (name, value) in [
                ("siteurl", format!("https://{h}")),
                ("home", format!("https://{h}")),
                ("blogname", "Bench shop".to_string()),
                ("blog_public", "1".to_string()),
                ("admin_email", format!("owner@{h}")),
                ("widget_text", widget),
                (
                    "bench_json",
                    format!(
                        "{{\"home\":\"https:\\/\\/{h}\\/\",\"cdn\":\"https:\\/\\/cdn.{h}\\/\"}}"
                    ),
                ),
                ("wc_subscriptions_siteurl", format!("https://{h}")),
                ("cron", "a:1:{s:7:\"version\";i:2;}".to_string()),
            ] {
                row(out, &[name, &value]);
            }
            false
        },
    )
    .await?;
    let mut next_user = 1u64;
    copy_into(
        &mut main,
        "wp_users",
        "\"ID\", user_login, user_pass, user_nicename, user_email, user_url, display_name",
        |out| {
            let end = (next_user + batch).min(users + 1);
            for id in next_user..end {
                let (first, last) = (g.sentence(1), g.sentence(1));
                let login = if id == 1 {
                    "admin".to_string()
                } else {
                    format!("{first}{id}")
                };
                row(
                    out,
                    &[
                        &id.to_string(),
                        &login,
                        "$P$Bbenchhashbenchhashbenchhash00",
                        &login,
                        &format!("{first}.{last}.{id}@mail{}.example", id % 97),
                        &format!("https://{first}{id}.example"),
                        &format!("{first} {last}"),
                    ],
                );
            }
            next_user = end;
            end <= users
        },
    )
    .await?;
    let mut next_user = 1u64;
    copy_into(
        &mut main,
        "wp_usermeta",
        "user_id, meta_key, meta_value",
        |out| {
            let end = (next_user + batch).min(users + 1);
            for id in next_user..end {
                let (first, last) = (g.sentence(1), g.sentence(1));
                let id_s = id.to_string();
                row(out, &[&id_s, "first_name", &first]);
                row(out, &[&id_s, "last_name", &last]);
                row(out, &[&id_s, "nickname", &first]);
                row(
                    out,
                    &[
                        &id_s,
                        "billing_email",
                        &format!("{first}.{last}.{id}@mail{}.example", id % 97),
                    ],
                );
                let caps = if id == 1 { "administrator" } else { "customer" };
                row(
                    out,
                    &[
                        &id_s,
                        "wp_capabilities",
                        &format!("a:1:{{{}b:1;}}", ser(caps)),
                    ],
                );
            }
            next_user = end;
            end <= users
        },
    )
    .await?;
    let comments = posts / 2;
    let mut next_comment = 1u64;
    copy_into(
        &mut main,
        "wp_comments",
        "\"comment_post_ID\", comment_author, comment_author_email, comment_author_url, \"comment_author_IP\", comment_content, comment_agent",
        |out| {
            let end = (next_comment + batch).min(comments + 1);
            for id in next_comment..end {
                let (first, last) = (g.sentence(1), g.sentence(1));
                let text = g.sentence(25);
                row(
                    out,
                    &[
                        &(id * 2).to_string(),
                        &format!("{first} {last}"),
                        &format!("{first}.{id}@visitor.example"),
                        &format!("https://{}/?c={id}", host),
                        &format!("10.{}.{}.{}", id % 250, (id / 250) % 250, id % 7),
                        &text,
                        "Mozilla/5.0 (X11; Linux x86_64)",
                    ],
                );
            }
            next_comment = end;
            end <= comments
        },
    )
    .await?;

    // Posts and postmeta: the bulk.
    let mut next_post = 1u64;
    copy_into(
        &mut main,
        "wp_posts",
        "\"ID\", post_author, post_title, post_content, post_excerpt, post_name, guid",
        |out| {
            let end = (next_post + batch).min(posts + 1);
            for id in next_post..end {
                let title = g.sentence(5);
                let content = g.content(id);
                let excerpt = g.sentence(20);
                row(
                    out,
                    &[
                        &id.to_string(),
                        &(1 + id % users).to_string(),
                        &title,
                        &content,
                        &excerpt,
                        &format!("{}-{id}", title.replace(' ', "-")),
                        &format!("https://{host}/?p={id}"),
                    ],
                );
            }
            next_post = end;
            end <= posts
        },
    )
    .await?;
    let mut next_post = 1u64;
    copy_into(
        &mut main,
        "wp_postmeta",
        "post_id, meta_key, meta_value",
        |out| {
            let end = (next_post + batch).min(posts + 1);
            for id in next_post..end {
                let id_s = id.to_string();
                let file = format!("2026/11/p{id}.jpg");
                let url = format!("https://{host}/wp-content/uploads/{file}");
                let inner = format!("a:1:{{{}{}}}", ser("src"), ser(&url));
                let caption = g.sentence(6);
                let meta = format!(
                    "a:4:{{{}{}{}{}{}{}{}{}}}",
                    ser("file"),
                    ser(&file),
                    ser("url"),
                    ser(&url),
                    ser("caption"),
                    ser(&caption),
                    ser("nested"),
                    ser(&inner)
                );
                row(out, &[&id_s, "_wp_attachment_metadata", &meta]);
                row(
                    out,
                    &[
                        &id_s,
                        "_bench_json",
                        &format!(
                            "{{\"link\":\"https:\\/\\/{host}\\/item-{id}\",\"note\":\"{}\"}}",
                            g.sentence(8)
                        ),
                    ],
                );
                row(out, &[&id_s, "_bench_words", &g.sentence(12)]);
            }
            next_post = end;
            end <= posts
        },
    )
    .await?;
    sqlx::raw_sql(&format!(
        "{INDEXES} CREATE TABLE understudy_bench_marker (posts bigint, version bigint); \
         INSERT INTO understudy_bench_marker VALUES ({posts}, {VERSION}); COMMIT;"
    ))
    .execute(&mut main)
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(&mut main).await?;
    main.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_lengths_are_bytes() {
        assert_eq!(ser("ü"), "s:2:\"ü\";");
    }

    #[test]
    fn content_has_every_url_spelling() {
        let mut g = Gen::new("h.example", 1);
        let c = g.content(3);
        for form in [
            "https://h.example/",
            "http://h.example/",
            "\"//h.example/",
            "https:\\/\\/h.example",
            "https%3A%2F%2Fh.example",
            "admin@h.example",
            "cdn.h.example",
        ] {
            assert!(c.contains(form), "{form} missing");
        }
        assert!(c.len() > 2000);
    }
}
