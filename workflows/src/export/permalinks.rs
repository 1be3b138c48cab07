//! The site's permalink settings, which `/wp/v2/settings` does not expose: `permalink_structure`
//! derived from the `link` of published posts compared with what WordPress builds links from
//! (`date`, `slug`, `id`, the first category, the author), and `category_base` / `tag_base` from
//! the links of categories and tags. A structure is recorded only when every sampled post's link
//! is exactly what it renders for that post; otherwise the reason goes into the manifest's notes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use url::Url;

use super::bundle::{Bundle, Written};
use super::error::ExportError;

/// Published posts whose links are compared with the structure.
pub const SAMPLE_POSTS: usize = 100;
/// Categories (and tags) whose links are compared with their base.
const SAMPLE_TERMS: usize = 50;

/// `permalinks` in manifest.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permalinks {
    /// WordPress's `permalink_structure`, e.g. `/%year%/%monthnum%/%postname%/`; empty for plain
    /// `?p=N` links.
    pub structure: String,
    /// `category_base` (`""` is WordPress's default, `category`); absent when the site's
    /// category links did not tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_base: Option<String>,
    /// `tag_base`, likewise (default `tag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_base: Option<String>,
    /// Published posts whose links the structure reproduces.
    pub sampled_posts: usize,
}

/// The structure tags WordPress replaces in post links (`%pagename%` is for pages only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Token {
    PostName,
    Category,
    Author,
    PostId,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

/// In order of preference when two tokens match the same text equally well.
const TOKENS: [Token; 10] = [
    Token::PostName,
    Token::Category,
    Token::Author,
    Token::PostId,
    Token::Year,
    Token::Month,
    Token::Day,
    Token::Hour,
    Token::Minute,
    Token::Second,
];

impl Token {
    fn code(self) -> &'static str {
        match self {
            Token::PostName => "%postname%",
            Token::Category => "%category%",
            Token::Author => "%author%",
            Token::PostId => "%post_id%",
            Token::Year => "%year%",
            Token::Month => "%monthnum%",
            Token::Day => "%day%",
            Token::Hour => "%hour%",
            Token::Minute => "%minute%",
            Token::Second => "%second%",
        }
    }

    /// Whether a value of this token may sit between `before` and `after` (a number is not
    /// part of a longer number, a slug not part of a longer word).
    fn fits(self, before: Option<char>, after: Option<char>) -> bool {
        let numeric = !matches!(self, Token::PostName | Token::Category | Token::Author);
        let joins = |c: Option<char>| {
            c.is_some_and(|c| {
                if numeric {
                    c.is_ascii_digit()
                } else {
                    c.is_ascii_alphanumeric() || c == '%'
                }
            })
        };
        !joins(before) && !joins(after)
    }
}

/// What the `%category%` and `%author%` tokens and the category base need: categories
/// (id → slug, parent) and user slugs (`user_nicename`).
#[derive(Debug, Default)]
pub struct Lookups {
    categories: HashMap<u64, (String, u64)>,
    authors: HashMap<u64, String>,
}

impl Lookups {
    pub fn add_categories(&mut self, items: &[Value]) {
        for c in items {
            if let (Some(id), Some(slug)) = (c["id"].as_u64(), c["slug"].as_str()) {
                let parent = c["parent"].as_u64().unwrap_or(0);
                self.categories.insert(id, (slug.to_string(), parent));
            }
        }
    }

    pub fn add_users(&mut self, items: &[Value]) {
        for u in items {
            if let (Some(id), Some(slug)) = (u["id"].as_u64(), u["slug"].as_str()) {
                self.authors.insert(id, slug.to_string());
            }
        }
    }

    /// `parent/child` slugs of a category, as WordPress puts it in links.
    fn category_path(&self, id: u64) -> Option<String> {
        let mut parts = Vec::new();
        let mut next = id;
        while next != 0 {
            let (slug, parent) = self.categories.get(&next)?;
            parts.push(slug.as_str());
            if parts.len() > 64 {
                return None; // a parent loop
            }
            next = *parent;
        }
        parts.reverse();
        Some(parts.join("/"))
    }
}

/// One sampled post: its link below the home path (`None`: a plain `?p=N` link) and the value
/// of every token WordPress would replace.
struct Sample {
    id: u64,
    link: String,
    path: Option<String>,
    values: Vec<(Token, String)>,
}

/// Reads the samples out of the collection pages and derives the settings. `Ok(Err(why))`:
/// the site's links do not tell (recorded as a note).
pub fn from_pages(
    bundle: &Bundle,
    home: &str,
    posts: &[Written],
    categories: &[Written],
    tags: &[Written],
    users: &[Written],
) -> Result<Result<Permalinks, String>, ExportError> {
    let items = |page: &Written| -> Result<Vec<Value>, ExportError> {
        Ok(match bundle.read_page(page)? {
            Value::Array(items) => items,
            _ => Vec::new(),
        })
    };
    let mut published = Vec::new();
    for page in posts {
        published.extend(
            items(page)?
                .into_iter()
                .filter(|p| p["status"] == "publish"),
        );
        if published.len() >= SAMPLE_POSTS {
            break;
        }
    }
    published.truncate(SAMPLE_POSTS);
    let mut lookups = Lookups::default();
    let mut category_items = Vec::new();
    for page in categories {
        let page = items(page)?;
        lookups.add_categories(&page);
        if category_items.len() < SAMPLE_TERMS {
            category_items.extend(page);
        }
    }
    for page in users {
        lookups.add_users(&items(page)?);
    }
    let tag_items = match tags.first() {
        Some(page) => items(page)?,
        None => Vec::new(),
    };
    Ok(derive(
        home,
        &published,
        &lookups,
        &category_items,
        &tag_items,
    ))
}

/// The permalink settings that reproduce the links of `posts` (published posts), `categories`
/// and `tags`, or why there is none.
pub fn derive(
    home: &str,
    posts: &[Value],
    lookups: &Lookups,
    categories: &[Value],
    tags: &[Value],
) -> Result<Permalinks, String> {
    let home_path = Url::parse(home)
        .map_err(|e| format!("the home URL {home:?} does not parse: {e}"))?
        .path()
        .trim_end_matches('/')
        .to_string();
    let samples = posts
        .iter()
        .map(|p| sample(&home_path, p, lookups))
        .collect::<Result<Vec<_>, _>>()?;
    if samples.is_empty() {
        return Err("the site has no published post to derive it from".into());
    }
    let plain = samples.iter().filter(|s| s.path.is_none()).count();
    let structure = if plain == samples.len() {
        String::new()
    } else if plain > 0 {
        let s = samples.iter().find(|s| s.path.is_none()).expect("counted");
        return Err(format!(
            "{plain} of {} sampled posts have plain links (post {}: {}) and the others pretty ones",
            samples.len(),
            s.id,
            s.link
        ));
    } else {
        structure_of(&samples)?
    };
    let category_base = term_base(&structure, &home_path, categories, "category", |c| {
        lookups.category_path(c["id"].as_u64()?)
    })?;
    let tag_base = term_base(&structure, &home_path, tags, "tag", |t| {
        t["slug"].as_str().map(str::to_string)
    })?;
    Ok(Permalinks {
        structure,
        category_base,
        tag_base,
        sampled_posts: samples.len(),
    })
}

/// The first structure guessed from one sample that renders every sample's link exactly.
fn structure_of(samples: &[Sample]) -> Result<String, String> {
    let mut tried = HashSet::new();
    for s in samples {
        let guess = guess(s.path.as_deref().expect("pretty"), &s.values);
        if !tried.insert(guess.clone()) {
            continue;
        }
        let names_a_post =
            guess.contains(Token::PostName.code()) || guess.contains(Token::PostId.code());
        if names_a_post
            && samples
                .iter()
                .all(|t| render(&guess, &t.values).as_deref() == t.path.as_deref())
        {
            return Ok(guess);
        }
    }
    let s = &samples[0];
    Err(format!(
        "no structure of %year%, %monthnum%, %day%, %hour%, %minute%, %second%, %postname%, \
         %post_id%, %category% and %author% reproduces all {} sampled post links (e.g. post {}: {})",
        samples.len(),
        s.id,
        s.link
    ))
}

fn sample(home_path: &str, post: &Value, lookups: &Lookups) -> Result<Sample, String> {
    let id = post["id"].as_u64().unwrap_or(0);
    let link = post["link"].as_str().unwrap_or("").to_string();
    let url = Url::parse(&link).map_err(|e| format!("post {id}'s link {link:?}: {e}"))?;
    let plain = url.path().trim_end_matches('/') == home_path
        && url
            .query_pairs()
            .any(|(k, v)| k == "p" && v == id.to_string().as_str());
    let path = if plain {
        None
    } else {
        let rest = url
            .path()
            .strip_prefix(home_path)
            .filter(|r| r.starts_with('/'))
            .ok_or_else(|| format!("post {id}'s link {link} is not below the home URL"))?;
        Some(rest.to_string())
    };
    let mut values = Vec::new();
    if let Some(slug) = post["slug"].as_str().filter(|s| !s.is_empty()) {
        values.push((Token::PostName, slug.to_string()));
    }
    values.push((Token::PostId, id.to_string()));
    // `date` is the local post_date, which links are made of: 2019-03-05T10:20:30.
    let date = post["date"].as_str().unwrap_or("");
    let parts = [
        (Token::Year, 0..4),
        (Token::Month, 5..7),
        (Token::Day, 8..10),
        (Token::Hour, 11..13),
        (Token::Minute, 14..16),
        (Token::Second, 17..19),
    ];
    for (token, range) in parts {
        if let Some(digits) = date
            .get(range)
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
        {
            values.push((token, digits.to_string()));
        }
    }
    // WordPress uses the post's category with the lowest id.
    let first_category = post["categories"]
        .as_array()
        .and_then(|ids| ids.iter().filter_map(Value::as_u64).min());
    if let Some(path) = first_category.and_then(|c| lookups.category_path(c)) {
        values.push((Token::Category, path));
    }
    if let Some(slug) = post["author"]
        .as_u64()
        .and_then(|a| lookups.authors.get(&a))
    {
        values.push((Token::Author, slug.clone()));
    }
    Ok(Sample {
        id,
        link,
        path,
        values,
    })
}

/// A structure for one link: left to right, each token value found in the path becomes its
/// token (a token not used yet before one used already, the longer match before the shorter,
/// then [`TOKENS`] order), everything else stays literal.
fn guess(path: &str, values: &[(Token, String)]) -> String {
    let mut out = String::new();
    let mut used = HashSet::new();
    let mut i = 0;
    while i < path.len() {
        let rest = &path[i..];
        let before = path[..i].chars().next_back();
        let best = values
            .iter()
            .filter(|(t, v)| {
                !v.is_empty()
                    && rest.starts_with(v.as_str())
                    && t.fits(before, rest[v.len()..].chars().next())
            })
            .min_by_key(|(t, v)| {
                let order = TOKENS.iter().position(|x| x == t).unwrap_or(TOKENS.len());
                (used.contains(t), std::cmp::Reverse(v.len()), order)
            });
        match best {
            Some((token, value)) => {
                out.push_str(token.code());
                used.insert(*token);
                i += value.len();
            }
            None => {
                let c = rest.chars().next().expect("not at the end");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// The link path `structure` gives a post with these values (`None`: a token it has no value
/// for).
fn render(structure: &str, values: &[(Token, String)]) -> Option<String> {
    let mut out = String::new();
    let mut rest = structure;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match TOKENS.iter().find(|t| rest.starts_with(t.code())) {
            Some(token) => {
                let (_, value) = values.iter().find(|(t, _)| t == token)?;
                out.push_str(value);
                rest = &rest[token.code().len()..];
            }
            None => {
                out.push('%');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

/// `category_base` or `tag_base` as WordPress stores it (`""`: the default, else `/base`), from
/// the links of some terms: WordPress links a term at `<front><default>/<path>` by default and at
/// `<base>/<path>` (after `index.php/` for PATHINFO structures) when a base is set.
fn term_base(
    structure: &str,
    home_path: &str,
    terms: &[Value],
    default: &str,
    path_of: impl Fn(&Value) -> Option<String>,
) -> Result<Option<String>, String> {
    if structure.is_empty() {
        return Ok(None);
    }
    let front = &structure[..structure.find('%').unwrap_or(structure.len())];
    let front = front.trim_start_matches('/');
    let trailing = if structure.ends_with('/') { "/" } else { "" };
    let mut found: Option<String> = None;
    for term in terms.iter().take(SAMPLE_TERMS) {
        let (Some(link), Some(path)) = (term["link"].as_str(), path_of(term)) else {
            continue;
        };
        let url = Url::parse(link).map_err(|e| format!("{default} link {link:?}: {e}"))?;
        let prefix = url
            .path()
            .strip_prefix(home_path)
            .and_then(|r| r.strip_prefix('/'))
            .and_then(|r| r.strip_suffix(&format!("/{path}{trailing}")))
            .ok_or_else(|| format!("{default} link {link} does not end with its slug {path}"))?;
        let base = if prefix == format!("{front}{default}") {
            String::new()
        } else {
            let base = if front.starts_with("index.php") {
                prefix.strip_prefix(front).unwrap_or(prefix)
            } else {
                prefix
            };
            format!("/{}", base.trim_start_matches('/'))
        };
        match &found {
            Some(f) if *f != base => {
                return Err(format!(
                    "{default} links disagree on the {default} base ({f:?} and {base:?})"
                ))
            }
            _ => found = Some(base),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn post(id: u64, date: &str, slug: &str, link: &str) -> Value {
        json!({"id": id, "date": date, "slug": slug, "link": link, "status": "publish",
               "categories": [12, 5], "author": 4})
    }

    fn lookups() -> Lookups {
        let mut l = Lookups::default();
        l.add_categories(&[
            json!({"id": 4, "slug": "travel", "parent": 0}),
            json!({"id": 12, "slug": "asia", "parent": 4}),
            json!({"id": 5, "slug": "food", "parent": 0}),
        ]);
        l.add_users(&[json!({"id": 4, "slug": "ben-moreau"})]);
        l
    }

    fn structure(home: &str, posts: &[Value]) -> Result<String, String> {
        derive(home, posts, &lookups(), &[], &[]).map(|p| p.structure)
    }

    #[test]
    fn common_structures_are_recognised() {
        let h = "http://site.test";
        let cases = [
            (
                "/%year%/%monthnum%/%postname%/",
                "http://site.test/2019/03/hello-world/",
                "http://site.test/2021/11/second-post/",
            ),
            (
                "/%year%/%monthnum%/%day%/%postname%/",
                "http://site.test/2019/03/03/hello-world/",
                "http://site.test/2021/11/20/second-post/",
            ),
            (
                "/%postname%/",
                "http://site.test/hello-world/",
                "http://site.test/second-post/",
            ),
            (
                "/archives/%post_id%",
                "http://site.test/archives/7",
                "http://site.test/archives/31",
            ),
            (
                "/index.php/%year%/%postname%/",
                "http://site.test/index.php/2019/hello-world/",
                "http://site.test/index.php/2021/second-post/",
            ),
            (
                "/%category%/%postname%/",
                "http://site.test/food/hello-world/",
                "http://site.test/food/second-post/",
            ),
            (
                "/%author%/%post_id%-%postname%.html",
                "http://site.test/ben-moreau/7-hello-world.html",
                "http://site.test/ben-moreau/31-second-post.html",
            ),
        ];
        for (want, a, b) in cases {
            let posts = [
                post(7, "2019-03-03T10:20:30", "hello-world", a),
                post(31, "2021-11-20T08:00:00", "second-post", b),
            ];
            assert_eq!(structure(h, &posts).as_deref(), Ok(want), "{a}");
        }
        // The lowest category id (5, food) is the one in links; its parents come first.
        let nested = [
            json!({"id": 9, "date": "2020-01-02T00:00:00", "slug": "x", "status": "publish",
                             "categories": [12], "link": "http://site.test/travel/asia/x/"}),
        ];
        assert_eq!(
            structure(h, &nested).as_deref(),
            Ok("/%category%/%postname%/")
        );
    }

    #[test]
    fn a_home_below_a_path_plain_links_and_utf8_slugs() {
        let posts = [post(
            7,
            "2019-03-05T10:20:30",
            "%e6%9d%b1%e4%ba%ac",
            "http://site.test/blog/2019/%e6%9d%b1%e4%ba%ac/",
        )];
        assert_eq!(
            structure("http://site.test/blog/", &posts).as_deref(),
            Ok("/%year%/%postname%/")
        );
        let plain = [
            post(7, "2019-03-05T10:20:30", "a", "http://site.test/?p=7"),
            post(8, "2019-03-05T10:20:30", "b", "http://site.test/?p=8"),
        ];
        assert_eq!(structure("http://site.test", &plain).as_deref(), Ok(""));
    }

    #[test]
    fn month_and_day_alike_are_told_apart_by_the_other_posts() {
        // The first post alone reads 05/05 either way; the second settles it.
        let posts = [
            post(
                7,
                "2019-05-05T10:20:30",
                "a",
                "http://site.test/2019/05/05/a/",
            ),
            post(
                8,
                "2019-04-12T10:20:30",
                "b",
                "http://site.test/2019/04/12/b/",
            ),
        ];
        assert_eq!(
            structure("http://site.test", &posts).as_deref(),
            Ok("/%year%/%monthnum%/%day%/%postname%/")
        );
    }

    #[test]
    fn disagreeing_links_are_not_derivable() {
        let mixed = [
            post(7, "2019-03-05T10:20:30", "a", "http://site.test/?p=7"),
            post(8, "2019-03-05T10:20:30", "b", "http://site.test/2019/b/"),
        ];
        assert!(structure("http://site.test", &mixed)
            .unwrap_err()
            .contains("plain links"));
        let odd = [
            post(7, "2019-03-05T10:20:30", "a", "http://site.test/2019/a/"),
            post(8, "2019-03-05T10:20:30", "b", "http://site.test/news/b/"),
        ];
        assert!(structure("http://site.test", &odd)
            .unwrap_err()
            .contains("reproduces"));
        assert!(structure("http://site.test", &[])
            .unwrap_err()
            .contains("no published post"));
        let elsewhere = [post(
            7,
            "2019-03-05T10:20:30",
            "a",
            "http://site.test/2019/a/",
        )];
        assert!(structure("http://site.test/blog", &elsewhere)
            .unwrap_err()
            .contains("not below the home URL"));
    }

    #[test]
    fn category_and_tag_bases() {
        let posts = [post(
            7,
            "2019-03-05T10:20:30",
            "a",
            "http://site.test/2019/03/a/",
        )];
        let categories =
            [json!({"id": 12, "slug": "asia", "link": "http://site.test/category/travel/asia/"})];
        let tags = [json!({"id": 3, "slug": "news", "link": "http://site.test/topic/news/"})];
        let p = derive("http://site.test", &posts, &lookups(), &categories, &tags).unwrap();
        assert_eq!(p.structure, "/%year%/%monthnum%/%postname%/");
        assert_eq!(p.category_base.as_deref(), Some(""), "the default");
        assert_eq!(p.tag_base.as_deref(), Some("/topic"));
        assert_eq!(p.sampled_posts, 1);
        // A structure with a front (/blog/): default bases come after it.
        let posts = [post(
            7,
            "2019-03-05T10:20:30",
            "a",
            "http://site.test/blog/a/",
        )];
        let categories =
            [json!({"id": 5, "slug": "food", "link": "http://site.test/blog/category/food/"})];
        let p = derive("http://site.test", &posts, &lookups(), &categories, &[]).unwrap();
        assert_eq!(
            (p.structure.as_str(), p.category_base.as_deref(), p.tag_base),
            ("/blog/%postname%/", Some(""), None)
        );
    }

    #[test]
    fn render_leaves_unknown_percent_signs_alone() {
        let values = vec![
            (Token::PostName, "a%dayb".to_string()),
            (Token::Year, "2019".into()),
        ];
        assert_eq!(
            render("/%year%/%postname%/%x", &values).as_deref(),
            Some("/2019/a%dayb/%x")
        );
        assert_eq!(render("/%post_id%/", &values), None);
    }
}
