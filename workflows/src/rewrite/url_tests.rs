//! Tests of the URL grammar (`url_match`): spellings, boundaries, options, several rules.

use super::rule::{Options, Rule, SchemeMapping};
use super::Rewriter;

fn rewriter_with(options: Options, rules: &[(&str, &str)]) -> Rewriter {
    let rules: Vec<Rule> = rules
        .iter()
        .map(|(f, t)| Rule::parse(f, t).unwrap())
        .collect();
    Rewriter::new(&rules, options)
}

fn basic() -> Rewriter {
    rewriter_with(
        Options::default(),
        &[("https://example.com", "https://staging.example.com")],
    )
}

fn rw(r: &Rewriter, input: &str) -> String {
    let out = r.rewrite_value(input.as_bytes());
    assert!(!out.malformed, "{input} flagged malformed");
    String::from_utf8(out.value.into_owned()).unwrap()
}

/// Asserts each `(input, expected)` pair.
fn check(r: &Rewriter, cases: &[(&str, &str)]) {
    for (input, expected) in cases {
        assert_eq!(rw(r, input), *expected, "input: {input}");
    }
}

#[test]
fn every_spelling_is_rewritten() {
    check(
        &basic(),
        &[
            ("https://example.com", "https://staging.example.com"),
            ("http://example.com/x", "https://staging.example.com/x"),
            ("HTTPS://example.com/x", "https://staging.example.com/x"),
            (
                "src=\"//example.com/a.js\"",
                "src=\"//staging.example.com/a.js\"",
            ),
            (
                r#"{"u":"https:\/\/example.com\/p"}"#,
                r#"{"u":"https:\/\/staging.example.com\/p"}"#,
            ),
            (
                r#"{"u":"\/\/example.com\/p"}"#,
                r#"{"u":"\/\/staging.example.com\/p"}"#,
            ),
            (
                "r=https%3A%2F%2Fexample.com%2Fp",
                "r=https%3A%2F%2Fstaging.example.com%2Fp",
            ),
            (
                "r=https%3a%2f%2fexample.com%2fp",
                "r=https%3a%2f%2fstaging.example.com%2fp",
            ),
            ("r=%2F%2Fexample.com", "r=%2F%2Fstaging.example.com"),
        ],
    );
}

#[test]
fn boundaries_are_respected() {
    check(
        &basic(),
        &[
            ("mail admin@example.com now", "mail admin@example.com now"),
            ("https://example.com.au/x", "https://example.com.au/x"),
            ("https://example.com.evil.com", "https://example.com.evil.com"),
            ("https://example.community", "https://example.community"),
            ("https://example.com-cdn.net", "https://example.com-cdn.net"),
            ("https://cdn.example.com/x", "https://cdn.example.com/x"),
            ("https://www2example.com/x", "https://www2example.com/x"),
            ("https://example.com:8080/x", "https://example.com:8080/x"),
            ("https%3A%2F%2Fexample.com%3A8080", "https%3A%2F%2Fexample.com%3A8080"),
            ("ftp://example.com/x", "ftp://example.com/x"),
            ("xhttps://example.com", "xhttps://example.com"),
            ("git+https://example.com", "git+https://example.com"),
            ("file:///example.com/x", "file:///example.com/x"),
            ("see example.com today", "see example.com today"),
            ("https://example.com/path", "https://staging.example.com/path"),
            ("https://example.com?p=1", "https://staging.example.com?p=1"),
            ("https://example.com#top", "https://staging.example.com#top"),
            ("Visit https://example.com.", "Visit https://staging.example.com."),
            ("(https://example.com)", "(https://staging.example.com)"),
            ("https://example.com:", "https://staging.example.com:"),
            ("end https://example.com", "end https://staging.example.com"),
            ("https://example.com", "https://staging.example.com"),
            (
                "a https://example.com b http://example.com c //example.com",
                "a https://staging.example.com b https://staging.example.com c //staging.example.com",
            ),
        ],
    );
}

#[test]
fn port_rules_match_only_their_port() {
    let r = rewriter_with(
        Options::default(),
        &[("http://example.com:8080", "https://staging.example.com")],
    );
    check(
        &r,
        &[
            ("http://example.com:8080/x", "https://staging.example.com/x"),
            ("http://example.com:80801/x", "http://example.com:80801/x"),
            ("http://example.com/x", "http://example.com/x"),
            (
                "https%3A%2F%2Fexample.com%3A8080%2F",
                "https%3A%2F%2Fstaging.example.com%2F",
            ),
        ],
    );
}

#[test]
fn path_prefix_rules_and_target_paths() {
    let r = rewriter_with(
        Options::default(),
        &[
            ("https://example.com/blog", "https://staging.example.com/b"),
            (
                "https://example.com",
                "https://staging.example.com:8443/site",
            ),
        ],
    );
    check(
        &r,
        &[
            (
                "https://example.com/blog/post",
                "https://staging.example.com/b/post",
            ),
            ("https://example.com/blog", "https://staging.example.com/b"),
            (
                "https://example.com/blog?x",
                "https://staging.example.com/b?x",
            ),
            (
                "https://example.com/blogger",
                "https://staging.example.com:8443/site/blogger",
            ),
            (
                "https://example.com/blog.html",
                "https://staging.example.com:8443/site/blog.html",
            ),
            (
                "https://example.com/",
                "https://staging.example.com:8443/site/",
            ),
            (
                r"https:\/\/example.com\/blog\/x",
                r"https:\/\/staging.example.com\/b\/x",
            ),
            (
                r"https:\/\/example.com",
                r"https:\/\/staging.example.com:8443\/site",
            ),
            (
                "https%3A%2F%2Fexample.com%2Fblog%2Fx",
                "https%3A%2F%2Fstaging.example.com%2Fb%2Fx",
            ),
            (
                "https%3A%2F%2Fexample.com",
                "https%3A%2F%2Fstaging.example.com%3A8443%2Fsite",
            ),
        ],
    );
}

#[test]
fn several_rules_for_www_and_apex() {
    let r = rewriter_with(
        Options::default(),
        &[
            ("https://www.example.com", "https://staging.example.com"),
            ("https://example.com", "https://staging.example.com"),
        ],
    );
    check(
        &r,
        &[
            (
                "https://www.example.com/a and http://example.com/b",
                "https://staging.example.com/a and https://staging.example.com/b",
            ),
            ("https://cdn.example.com", "https://cdn.example.com"),
        ],
    );
}

#[test]
fn subdomains_when_enabled() {
    let options = Options {
        include_subdomains: true,
        ..Options::default()
    };
    let r = rewriter_with(
        options,
        &[
            (
                "https://shop.example.com",
                "https://shop-staging.example.net",
            ),
            ("https://example.com", "https://staging.example.net/site"),
        ],
    );
    check(
        &r,
        &[
            (
                "https://cdn.example.com/x",
                "https://cdn.staging.example.net/x",
            ),
            ("//a.b.example.com/x", "//a.b.staging.example.net/x"),
            (
                r"https:\/\/cdn.example.com\/x",
                r"https:\/\/cdn.staging.example.net\/x",
            ),
            (
                "https%3A%2F%2Fcdn.example.com%2Fx",
                "https%3A%2F%2Fcdn.staging.example.net%2Fx",
            ),
            (
                "https://shop.example.com/x",
                "https://shop-staging.example.net/x",
            ),
            (
                "https://example.com/x",
                "https://staging.example.net/site/x",
            ),
            ("https://www2example.com/x", "https://www2example.com/x"),
            ("admin@cdn.example.com", "admin@cdn.example.com"),
            ("cdn.example.com", "cdn.example.com"),
        ],
    );
}

#[test]
fn bare_hosts_when_enabled() {
    let options = Options {
        bare_host: true,
        ..Options::default()
    };
    let r = rewriter_with(
        options,
        &[("https://example.com", "https://staging.example.com")],
    );
    check(
        &r,
        &[
            ("see example.com today", "see staging.example.com today"),
            ("example.com", "staging.example.com"),
            ("\"example.com\"", "\"staging.example.com\""),
            ("admin@example.com", "admin@example.com"),
            ("cdn.example.com", "cdn.example.com"),
            ("example.com.au", "example.com.au"),
            ("path/example.com", "path/example.com"),
            ("myexample.com", "myexample.com"),
            ("https://example.com", "https://staging.example.com"),
        ],
    );
}

#[test]
fn scheme_can_be_preserved() {
    let options = Options {
        scheme: SchemeMapping::Preserve,
        ..Options::default()
    };
    let r = rewriter_with(
        options,
        &[("https://example.com", "https://staging.example.com")],
    );
    check(
        &r,
        &[
            ("http://example.com", "http://staging.example.com"),
            ("https://example.com", "https://staging.example.com"),
        ],
    );
    // Default maps to the target scheme, also when the target is http.
    let r = rewriter_with(
        Options::default(),
        &[("https://example.com", "http://staging.local")],
    );
    check(&r, &[("https://example.com/x", "http://staging.local/x")]);
}

#[test]
fn unchanged_values_are_borrowed_and_counted() {
    let r = basic();
    let input = b"nothing to see at example.org";
    let out = r.rewrite_value(input);
    assert!(!out.changed());
    assert!(matches!(out.value, std::borrow::Cow::Borrowed(_)));
    let out = r.rewrite_value(b"https://example.com and //example.com and admin@example.com");
    assert!(out.changed());
    assert_eq!(out.replacements, 2);
}

#[test]
fn non_utf8_bytes_around_urls() {
    let r = basic();
    let out = r.rewrite_value(b"\xff\xfe https://example.com/\xe9t\xe9 \x00");
    assert_eq!(
        &*out.value,
        b"\xff\xfe https://staging.example.com/\xe9t\xe9 \x00"
    );
}

/// The slash spellings of JSON nested `depth`-ish deep: `n` backslashes before `/` or `u002F`.
fn escaped_slashes() -> Vec<String> {
    let mut slashes = Vec::new();
    for n in [1usize, 2, 3, 4, 7, 15, 31] {
        let bs = "\\".repeat(n);
        slashes.push(format!("{bs}/"));
        slashes.push(format!("{bs}u002F"));
        slashes.push(format!("{bs}u002f"));
    }
    slashes
}

#[test]
fn json_inside_json_is_rewritten_at_every_depth_in_its_own_spelling() {
    let r = basic();
    for sl in escaped_slashes() {
        for (input, expected) in [
            (
                format!("{{\"u\":\"https:{sl}{sl}example.com{sl}p{sl}\"}}"),
                format!("{{\"u\":\"https:{sl}{sl}staging.example.com{sl}p{sl}\"}}"),
            ),
            (
                format!("http:{sl}{sl}example.com"),
                format!("https:{sl}{sl}staging.example.com"),
            ),
            (
                format!("src={sl}{sl}example.com{sl}a.js"),
                format!("src={sl}{sl}staging.example.com{sl}a.js"),
            ),
            (
                format!("\"https:{sl}{sl}example.com\",\"https:{sl}{sl}example.com?x\""),
                format!(
                    "\"https:{sl}{sl}staging.example.com\",\"https:{sl}{sl}staging.example.com?x\""
                ),
            ),
        ] {
            assert_eq!(rw(&r, &input), expected, "input: {input}");
        }
    }
    // A real page-builder value: JSON whose string holds JSON (three backslashes), and the
    // same again one level deeper (seven).
    check(
        &r,
        &[
            (
                r#"[{"settings":"{\"link\":{\"url\":\"https:\\\/\\\/example.com\\\/shop\\\/\"}}"}]"#,
                r#"[{"settings":"{\"link\":{\"url\":\"https:\\\/\\\/staging.example.com\\\/shop\\\/\"}}"}]"#,
            ),
            (
                r#""{\"a\":\"{\\\"u\\\":\\\"https:\\\\\\\/\\\\\\\/example.com\\\\\\\/x\\\"}\"}""#,
                r#""{\"a\":\"{\\\"u\\\":\\\"https:\\\\\\\/\\\\\\\/staging.example.com\\\\\\\/x\\\"}\"}""#,
            ),
        ],
    );
}

#[test]
fn escaped_look_alikes_are_left_alone_at_every_depth() {
    let r = rewriter_with(
        Options {
            include_subdomains: false,
            ..Options::default()
        },
        &[("https://acme.example.com", "https://staging.example.net")],
    );
    let mut spellings: Vec<String> = escaped_slashes();
    spellings.extend(["/".into(), "%2F".into(), "%2f".into()]);
    for sl in spellings {
        let colon = if sl.starts_with('%') { "%3A" } else { ":" };
        for look_alike in [
            format!("https{colon}{sl}{sl}acme.example.com.evil.org{sl}x"),
            format!("https{colon}{sl}{sl}xacme.example.com"),
            format!("https{colon}{sl}{sl}acme.example.com-cdn.net"),
            format!("https{colon}{sl}{sl}acme.example.com:8080{sl}x"),
            format!("https{colon}{sl}{sl}cdn.acme.example.com"),
            format!("{sl}{sl}acme.example.community"),
            format!("https{colon}{sl}{sl}acme.example.com\\u002Eevil.org"),
            format!("https{colon}{sl}{sl}acme.example.com\\\\\\u002eevil.org"),
            format!("https{colon}{sl}{sl}acme.example.com%2Eevil.org"),
            format!("https{colon}{sl}{sl}acme.example.com\\u002Dx.org"),
            format!("ftp{colon}{sl}{sl}acme.example.com"),
            format!("{sl}{sl}{sl}acme.example.com"),
            format!("xhttps{colon}{sl}{sl}acme.example.com"),
            "mail admin@acme.example.com".to_string(),
        ] {
            assert_eq!(rw(&r, &look_alike), look_alike, "rewritten: {look_alike}");
        }
        // The real host right beside them is rewritten.
        let real = format!("https{colon}{sl}{sl}acme.example.com{sl}p");
        assert_ne!(rw(&r, &real), real, "not rewritten: {real}");
    }
    // Slashes escaped at different depths are not one URL.
    check(
        &r,
        &[
            (
                r"https:\\/\/acme.example.com",
                r"https:\\/\/acme.example.com",
            ),
            (
                r"https:\/\\\/acme.example.com",
                r"https:\/\\\/acme.example.com",
            ),
            (
                r"https:\u002F\\u002Facme.example.com",
                r"https:\u002F\\u002Facme.example.com",
            ),
            (
                r"https:\u002F\/acme.example.com",
                r"https:\u002F\/acme.example.com",
            ),
            // A unicode escape that is not a slash.
            (
                r"https:\u002E\u002Eacme.example.com",
                r"https:\u002E\u002Eacme.example.com",
            ),
        ],
    );
}

#[test]
fn nested_spellings_with_ports_paths_and_subdomains() {
    let r = rewriter_with(
        Options {
            include_subdomains: true,
            ..Options::default()
        },
        &[
            ("https://example.com/blog", "https://staging.example.com/b"),
            (
                "http://example.com:8080",
                "https://staging.example.com:8443",
            ),
            ("https://example.com", "https://staging.example.com"),
        ],
    );
    check(
        &r,
        &[
            (
                r"https:\\\/\\\/example.com\\\/blog\\\/x",
                r"https:\\\/\\\/staging.example.com\\\/b\\\/x",
            ),
            (
                r"https:\\\/\\\/example.com\\\/blogger",
                r"https:\\\/\\\/staging.example.com\\\/blogger",
            ),
            (
                r"https:\u002F\u002Fexample.com\u002Fblog\u002Fx",
                r"https:\u002F\u002Fstaging.example.com\u002Fb\u002Fx",
            ),
            (
                r"http:\\\/\\\/example.com:8080\\\/x",
                r"https:\\\/\\\/staging.example.com:8443\\\/x",
            ),
            (
                r"https:\\\/\\\/cdn.example.com\\\/x",
                r"https:\\\/\\\/cdn.staging.example.com\\\/x",
            ),
            (
                r"https:\u002F\u002Fcdn.example.com",
                r"https:\u002F\u002Fcdn.staging.example.com",
            ),
            (
                r"\\u002f\\u002fa.b.example.com\\u002fx",
                r"\\u002f\\u002fa.b.staging.example.com\\u002fx",
            ),
        ],
    );
}
