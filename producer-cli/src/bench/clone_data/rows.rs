//! The rows of the generated production site, engine-neutral: each table's rows as text fields,
//! from seeded pseudo-random words (8,192 syllable words), so every run and every engine gets
//! the same data and the content does not collapse under compression.
//!
//! Every post carries the production URL in each spelling the rewriter handles (`https://`,
//! `http://`, `//`, JSON-escaped in block attributes, URL-encoded) plus look-alikes that must
//! stay (`admin@host`, `cdn.host`, `host.au`); postmeta has PHP-serialized values (nested, with
//! multibyte text) and JSON; users, usermeta and comments carry e-mails, names and IPs for the
//! anonymization run.
//!
//! One random stream runs through the tables in [`Table::ALL`]'s order, so a loader takes the
//! tables in that order, each to its end ([`Generator::fill`]).

/// The generated tables, in the order the generator fills them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Options,
    Users,
    Usermeta,
    Comments,
    Posts,
    Postmeta,
}

impl Table {
    pub const ALL: [Table; 6] = [
        Table::Options,
        Table::Users,
        Table::Usermeta,
        Table::Comments,
        Table::Posts,
        Table::Postmeta,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Options => "wp_options",
            Table::Users => "wp_users",
            Table::Usermeta => "wp_usermeta",
            Table::Comments => "wp_comments",
            Table::Posts => "wp_posts",
            Table::Postmeta => "wp_postmeta",
        }
    }

    /// The generated columns, in the order of each row's fields (WordPress's names and case;
    /// the other columns take their defaults).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::Options => &["option_name", "option_value"],
            Table::Users => &[
                "ID",
                "user_login",
                "user_pass",
                "user_nicename",
                "user_email",
                "user_url",
                "display_name",
            ],
            Table::Usermeta => &["user_id", "meta_key", "meta_value"],
            Table::Postmeta => &["post_id", "meta_key", "meta_value"],
            Table::Comments => &[
                "comment_post_ID",
                "comment_author",
                "comment_author_email",
                "comment_author_url",
                "comment_author_IP",
                "comment_content",
                "comment_agent",
            ],
            Table::Posts => &[
                "ID",
                "post_author",
                "post_title",
                "post_content",
                "post_excerpt",
                "post_name",
                "guid",
            ],
        }
    }
}

/// How many rows of each table a site of `posts` posts has.
#[derive(Clone, Copy, Debug)]
pub struct Counts {
    pub posts: u64,
    pub users: u64,
    pub comments: u64,
}

impl Counts {
    pub fn for_posts(posts: u64) -> Counts {
        Counts {
            posts,
            users: (posts / 50).max(20),
            comments: posts / 2,
        }
    }

    /// Rows of `table` (options: the fixed list; meta tables: rows per user or post).
    pub fn rows(&self, table: Table) -> u64 {
        match table {
            Table::Options => OPTIONS as u64,
            Table::Users => self.users,
            Table::Usermeta => self.users * USERMETA_PER_USER,
            Table::Comments => self.comments,
            Table::Posts => self.posts,
            Table::Postmeta => self.posts * POSTMETA_PER_POST,
        }
    }

    /// The ids (users, comments, posts) a table's rows are generated from.
    fn ids(&self, table: Table) -> u64 {
        match table {
            Table::Options => 1,
            Table::Users | Table::Usermeta => self.users,
            Table::Comments => self.comments,
            Table::Posts | Table::Postmeta => self.posts,
        }
    }
}

const OPTIONS: usize = 9;
const USERMETA_PER_USER: u64 = 5;
const POSTMETA_PER_POST: u64 = 3;

/// Ids per [`Generator::fill`] call (posts: ~1.4 MB of text).
const BATCH: u64 = 500;

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

/// Words and post content from the seeded stream.
struct Words {
    rng: Rng,
    words: Vec<String>,
    host: String,
}

impl Words {
    fn new(host: &str, seed: u64) -> Words {
        let mut rng = Rng(seed);
        let words = vocabulary(&mut rng);
        Words {
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

    /// ~4.6 KB (measured average) of block content with the URL in every spelling and look-alikes.
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

/// `s:N:"value";` with N in bytes.
fn ser(value: &str) -> String {
    format!("s:{}:\"{value}\";", value.len())
}

/// The rows of every table, in [`Table::ALL`]'s order, a batch at a time.
pub struct Generator {
    words: Words,
    counts: Counts,
    /// Index in [`Table::ALL`] of the table being generated.
    table: usize,
    /// The next id (user, comment, post) of that table.
    next: u64,
}

impl Generator {
    pub fn new(host: &str, posts: u64) -> Generator {
        Generator {
            words: Words::new(host, 7),
            counts: Counts::for_posts(posts),
            table: 0,
            next: 1,
        }
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The table [`Generator::fill`] writes next; `None` once every table is done.
    pub fn table(&self) -> Option<Table> {
        Table::ALL.get(self.table).copied()
    }

    /// Gives the next batch of rows of the current table to `row`, one call per row (fields in
    /// [`Table::columns`] order). Returns false when that table is finished: the next call
    /// starts the next table.
    pub fn fill(&mut self, row: &mut dyn FnMut(&[&str])) -> bool {
        let Some(table) = self.table() else {
            return false;
        };
        let last = self.counts.ids(table);
        let end = (self.next + BATCH).min(last + 1);
        for id in self.next..end {
            self.rows(table, id, row);
        }
        if end > last {
            self.table += 1;
            self.next = 1;
            false
        } else {
            self.next = end;
            true
        }
    }

    /// The rows of one id of `table`.
    fn rows(&mut self, table: Table, id: u64, row: &mut dyn FnMut(&[&str])) {
        let g = &mut self.words;
        let h = g.host.clone();
        match table {
            Table::Options => {
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
                let options = [
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
                ];
                debug_assert_eq!(options.len(), OPTIONS);
                for (name, value) in options {
                    row(&[name, &value]);
                }
            }
            Table::Users => {
                let (first, last) = (g.sentence(1), g.sentence(1));
                let login = if id == 1 {
                    "admin".to_string()
                } else {
                    format!("{first}{id}")
                };
                row(&[
                    &id.to_string(),
                    &login,
                    "$P$Bbenchhashbenchhashbenchhash00",
                    &login,
                    &format!("{first}.{last}.{id}@mail{}.example", id % 97),
                    &format!("https://{first}{id}.example"),
                    &format!("{first} {last}"),
                ]);
            }
            Table::Usermeta => {
                let (first, last) = (g.sentence(1), g.sentence(1));
                let id_s = id.to_string();
                let caps = if id == 1 { "administrator" } else { "customer" };
                let email = format!("{first}.{last}.{id}@mail{}.example", id % 97);
                let capabilities = format!("a:1:{{{}b:1;}}", ser(caps));
                row(&[&id_s, "first_name", &first]);
                row(&[&id_s, "last_name", &last]);
                row(&[&id_s, "nickname", &first]);
                row(&[&id_s, "billing_email", &email]);
                row(&[&id_s, "wp_capabilities", &capabilities]);
            }
            Table::Comments => {
                let (first, last) = (g.sentence(1), g.sentence(1));
                let text = g.sentence(25);
                row(&[
                    &(id * 2).to_string(),
                    &format!("{first} {last}"),
                    &format!("{first}.{id}@visitor.example"),
                    &format!("https://{h}/?c={id}"),
                    &format!("10.{}.{}.{}", id % 250, (id / 250) % 250, id % 7),
                    &text,
                    "Mozilla/5.0 (X11; Linux x86_64)",
                ]);
            }
            Table::Posts => {
                let title = g.sentence(5);
                let content = g.content(id);
                let excerpt = g.sentence(20);
                row(&[
                    &id.to_string(),
                    &(1 + id % self.counts.users).to_string(),
                    &title,
                    &content,
                    &excerpt,
                    &format!("{}-{id}", title.replace(' ', "-")),
                    &format!("https://{h}/?p={id}"),
                ]);
            }
            Table::Postmeta => {
                let id_s = id.to_string();
                let file = format!("2026/11/p{id}.jpg");
                let url = format!("https://{h}/wp-content/uploads/{file}");
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
                row(&[&id_s, "_wp_attachment_metadata", &meta]);
                let json = format!(
                    "{{\"link\":\"https:\\/\\/{h}\\/item-{id}\",\"note\":\"{}\"}}",
                    g.sentence(8)
                );
                row(&[&id_s, "_bench_json", &json]);
                row(&[&id_s, "_bench_words", &g.sentence(12)]);
            }
        }
    }
}

/// Appends one line of the tab-separated text both PostgreSQL's `COPY … FROM STDIN` and
/// MySQL's `LOAD DATA` read with their default options (backslash, tab, newline, CR escaped).
pub fn text_row(out: &mut String, fields: &[&str]) {
    for (i, value) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
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
    out.push('\n');
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
        let mut g = Words::new("h.example", 1);
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

    #[test]
    fn every_table_in_order_with_its_counts_and_the_same_rows_each_run() {
        let run = || {
            let mut g = Generator::new("h.example", 1_200);
            let counts = g.counts();
            let mut seen = Vec::new();
            let mut text = String::new();
            while let Some(table) = g.table() {
                let mut rows = 0u64;
                let more = |g: &mut Generator, rows: &mut u64, text: &mut String| {
                    g.fill(&mut |fields| {
                        assert_eq!(fields.len(), table.columns().len(), "{table:?}");
                        *rows += 1;
                        text_row(text, fields);
                    })
                };
                while more(&mut g, &mut rows, &mut text) {}
                assert_eq!(rows, counts.rows(table), "{table:?}");
                seen.push(table);
            }
            assert_eq!(seen, Table::ALL);
            text
        };
        let text = run();
        assert_eq!(text, run());
        assert!(text.contains("@visitor.example\t"));
    }

    #[test]
    fn text_rows_escape_what_copy_and_load_data_read_as_separators() {
        let mut out = String::new();
        text_row(&mut out, &["a\tb", "c\\d\ne\r"]);
        assert_eq!(out, "a\\tb\tc\\\\d\\ne\\r\n");
    }
}
