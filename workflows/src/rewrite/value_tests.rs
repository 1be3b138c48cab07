//! Tests of `Rewriter::rewrite_value` on PHP serialized data: nesting, lengths, objects,
//! references, custom payloads, embedded values and the malformed policy.

use super::rule::{Options, Rule};
use super::Rewriter;

const OLD: &str = "https://example.com";
const NEW: &str = "https://staging.example.com";

fn rewriter() -> Rewriter {
    Rewriter::new(&[Rule::parse(OLD, NEW).unwrap()], Options::default())
}

/// `s:N:"content";` with the byte length.
fn s(content: &[u8]) -> Vec<u8> {
    [
        format!("s:{}:\"", content.len()).as_bytes(),
        content,
        b"\";",
    ]
    .concat()
}

/// `a:N:{k1v1k2v2…}` from already-serialized keys and values.
fn a(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = format!("a:{}:{{", pairs.len()).into_bytes();
    for (k, v) in pairs {
        out.extend_from_slice(k);
        out.extend_from_slice(v);
    }
    out.push(b'}');
    out
}

/// The same structure built from the old and the new URL.
fn both(build: impl Fn(&str) -> Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    (build(OLD), build(NEW))
}

fn assert_rewrites(input: &[u8], expected: &[u8]) {
    let out = rewriter().rewrite_value(input);
    assert!(
        !out.malformed,
        "flagged malformed: {}",
        String::from_utf8_lossy(input)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.value),
        String::from_utf8_lossy(expected),
        "input: {}",
        String::from_utf8_lossy(input)
    );
    assert_eq!(&*out.value, expected);
}

fn assert_malformed(input: &[u8]) {
    let out = rewriter().rewrite_value(input);
    assert!(
        out.malformed,
        "not flagged: {}",
        String::from_utf8_lossy(input)
    );
    assert!(!out.changed());
    assert_eq!(&*out.value, input);
    assert_eq!(out.replacements, 0);
}

#[test]
fn rewriter_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Rewriter>();
    assert_send_sync::<super::Policy>();
}

#[test]
fn top_level_string() {
    let (i, e) = both(|u| s(u.as_bytes()));
    assert_rewrites(&i, &e);
    assert_eq!(&i, b"s:19:\"https://example.com\";");
    assert_eq!(&e, b"s:27:\"https://staging.example.com\";");
    // Whitespace around a serialized value is kept (WordPress trims before unserializing).
    assert_rewrites(
        &[b"  ", &i[..], b"\n"].concat(),
        &[b"  ", &e[..], b"\n"].concat(),
    );
}

#[test]
fn arrays_objects_and_scalars() {
    let (i, e) = both(|u| {
        a(&[
            (&s(b"url"), &s(format!("{u}/wp-content/x.jpg").as_bytes())),
            (b"i:0;", b"i:-42;"),
            (b"i:1;", b"d:0.1;"),
            (b"i:2;", b"d:-INF;"),
            (b"i:3;", b"b:1;"),
            (b"i:4;", b"N;"),
            (b"i:5;", &s(b"")),
            (&s(b"empty"), b"a:0:{}"),
            (b"i:-7;", b"E:11:\"Suit:Hearts\";"),
        ])
    });
    assert_rewrites(&i, &e);
}

#[test]
fn keys_are_never_rewritten() {
    let input = a(&[(&s(OLD.as_bytes()), &s(OLD.as_bytes()))]);
    let expected = a(&[(&s(OLD.as_bytes()), &s(NEW.as_bytes()))]);
    assert_rewrites(&input, &expected);
}

#[test]
fn objects_with_protected_and_private_members() {
    let (i, e) = both(|u| {
        let mut o = b"O:12:\"Some\\Unknown\":3:{".to_vec();
        o.extend(s(b"\0*\0url"));
        o.extend(s(u.as_bytes()));
        o.extend(s(b"\0Some\\Unknown\0link"));
        o.extend(s(format!("<a href=\"{u}/\">x</a>").as_bytes()));
        o.extend(s(b"plain"));
        o.extend(b"O:8:\"stdClass\":1:{s:4:\"home\";");
        o.extend(s(u.as_bytes()));
        o.extend(b"}}");
        o
    });
    assert_rewrites(&i, &e);
}

#[test]
fn strings_with_quotes_semicolons_and_braces_inside() {
    let (i, e) = both(|u| {
        a(&[
            (
                b"i:0;",
                &s(format!("x\";}} {u} \";s:3:\"a\";}}").as_bytes()),
            ),
            (b"i:1;", &s(b"\";}a:1:{")),
            (b"i:2;", &s(u.as_bytes())),
        ])
    });
    assert_rewrites(&i, &e);
}

#[test]
fn multibyte_and_non_utf8_lengths_are_bytes() {
    let (i, e) = both(|u| {
        a(&[
            (
                b"i:0;",
                &s(format!("Grüße aus 日本 — {u}/über ✓").as_bytes()),
            ),
            (
                b"i:1;",
                &s(&[b"\xff\xfe\x00 ", u.as_bytes(), b" \xe9"].concat()),
            ),
        ])
    });
    assert_rewrites(&i, &e);
    let text = format!("Grüße aus 日本 — {NEW}/über ✓");
    assert_eq!((text.len(), text.chars().count()), (60, 49));
    assert!(String::from_utf8_lossy(&e).contains(&format!("s:60:\"{text}\";")));
}

#[test]
fn arrays_of_arrays_and_references() {
    let (i, e) = both(|u| {
        let inner = a(&[
            (b"i:0;", &s(u.as_bytes())),
            (b"i:1;", &a(&[(b"i:0;", &s(u.as_bytes()))])),
        ]);
        a(&[
            (b"i:0;", &inner),
            (b"i:1;", b"R:3;"),
            (b"i:2;", b"r:1;"),
            (b"i:3;", &inner),
        ])
    });
    assert_rewrites(&i, &e);
}

#[test]
fn nested_serialized_strings_fixed_at_every_level() {
    let (i, e) = both(|u| {
        let level3 = a(&[(&s(b"deep"), &s(u.as_bytes()))]);
        let level2 = a(&[(&s(b"l3"), &s(&level3)), (&s(b"u"), &s(u.as_bytes()))]);
        let level1 = a(&[(&s(b"l2"), &s(&level2))]);
        s(&level1)
    });
    assert_rewrites(&i, &e);
    let out = rewriter().rewrite_value(&i);
    assert_eq!(out.replacements, 2);
    // maybe_serialize() of a string that is already serialized.
    let (i, e) = both(|u| s(&s(&s(u.as_bytes()))));
    assert_rewrites(&i, &e);
}

#[test]
fn json_inside_serialized_strings() {
    let (i, e) = both(|u| {
        let json = format!(r#"{{"img":"{}\/a.png","n":1}}"#, u.replace('/', r"\/"));
        a(&[(&s(b"json"), &s(json.as_bytes()))])
    });
    assert_rewrites(&i, &e);
    assert!(String::from_utf8_lossy(&e).contains(r"https:\/\/staging.example.com\/a.png"));
}

#[test]
fn custom_serializable_payload() {
    let (i, e) = both(|u| {
        let payload = [
            b"x:i:0;".to_vec(),
            a(&[(&s(b"url"), &s(u.as_bytes()))]),
            b";m:a:0:{}".to_vec(),
        ]
        .concat();
        [
            format!("C:11:\"ArrayObject\":{}:{{", payload.len()).into_bytes(),
            payload,
            b"}".to_vec(),
        ]
        .concat()
    });
    assert_rewrites(&i, &e);
}

#[test]
fn serialized_values_embedded_in_text() {
    let (i, e) = both(|u| {
        [
            format!("before {u} ").into_bytes(),
            a(&[(&s(b"url"), &s(u.as_bytes()))]),
            format!(" middle s:3:\"{u}\"; after ").into_bytes(),
            s(u.as_bytes()),
        ]
        .concat()
    });
    assert_rewrites(&i, &e);
}

#[test]
fn plain_text_and_json_values() {
    assert_rewrites(
        br#"{"home":"https:\/\/example.com","list":["\/\/example.com\/x"]}"#,
        br#"{"home":"https:\/\/staging.example.com","list":["\/\/staging.example.com\/x"]}"#,
    );
    assert_rewrites(
        b"<img src=\"https://example.com/a.png\">",
        b"<img src=\"https://staging.example.com/a.png\">",
    );
}

#[test]
fn serialized_without_match_is_untouched_even_if_broken() {
    let out = rewriter().rewrite_value(b"a:2:{s:3:\"x\";}");
    assert!(!out.malformed && !out.changed());
}

#[test]
fn malformed_values_are_left_alone() {
    let url = OLD.as_bytes();
    // Wrong length in the source.
    assert_malformed(&[b"s:20:\"", url, b"\";"].concat());
    assert_malformed(&[b"a:1:{s:3:\"url\";s:18:\"", url, b"\";}"].concat());
    // Wrong element count.
    assert_malformed(&[b"a:2:{s:3:\"url\";", &s(url)[..], b"}"].concat());
    // Truncated (e.g. by a VARCHAR limit) but still ending with ';'.
    assert_malformed(&[b"a:2:{s:3:\"url\";", &s(url)[..]].concat());
    // Trailing garbage.
    assert_malformed(&[&s(url)[..], b"s:1:\"x\";"].concat());
    // A nested serialized string that is malformed spoils the whole value.
    let bad_inner = [b"a:1:{i:0;s:99:\"", url, b"\";}"].concat();
    assert_malformed(&a(&[(b"i:0;", &s(url)), (b"i:1;", &s(&bad_inner))]));
    // Bad tokens.
    assert_malformed(&[b"a:1:{i:0;x:1;", &s(url)[..], b"}"].concat());
    assert_malformed(&[b"O:4:\"Foo\":1:{s:1:\"u\";", &s(url)[..], b"}"].concat());
}

#[test]
fn excessive_nesting_is_malformed_not_a_crash() {
    let mut v = Vec::new();
    for _ in 0..300 {
        v.extend_from_slice(b"a:1:{i:0;");
    }
    v.extend(s(OLD.as_bytes()));
    v.extend(std::iter::repeat_n(b'}', 300));
    assert_malformed(&v);
    let mut v = s(OLD.as_bytes());
    for _ in 0..200 {
        v = s(&v);
    }
    assert_malformed(&v);
    // Containers and string levels count together: 100 + 100 is too deep.
    let mut v = s(OLD.as_bytes());
    for _ in 0..100 {
        v = a(&[(b"i:0;", &v)]);
    }
    for _ in 0..100 {
        v = s(&v);
    }
    assert_malformed(&v);
    // 60 + 60 is fine, and fixed at every level.
    let build = |url: &str| {
        let mut v = s(url.as_bytes());
        for _ in 0..60 {
            v = a(&[(b"i:0;", &v)]);
        }
        for _ in 0..60 {
            v = s(&v);
        }
        v
    };
    assert_rewrites(&build(OLD), &build(NEW));
}

#[test]
fn escaped_php_strings_are_kept() {
    let input = [
        b"a:2:{i:0;S:3:\"\\61bc\";i:1;",
        &s(OLD.as_bytes())[..],
        b"}",
    ]
    .concat();
    let expected = [
        b"a:2:{i:0;S:3:\"\\61bc\";i:1;",
        &s(NEW.as_bytes())[..],
        b"}",
    ]
    .concat();
    assert_rewrites(&input, &expected);
}

#[test]
fn json_inside_json_inside_serialized_strings_gets_byte_lengths() {
    // Elementor-like: a serialized array whose string holds JSON, whose string holds JSON.
    let json = |u: &str| {
        let inner = u.replace('/', "\\/");
        let nested = u.replace('/', "\\\\\\/");
        format!(
            r#"{{"url":"{inner}\/a","widget":"{{\"link\":\"{nested}\\\/b\",\"t\":\"\u00fc\"}}","u":"{}"}}"#,
            u.replace('/', "\\u002F")
        )
    };
    let (i, e) = both(|u| {
        a(&[
            (&s(b"_elementor_data"), &s(json(u).as_bytes())),
            // maybe_serialize'd once more, and a multibyte neighbour.
            (b"i:0;", &s(&s(format!("Grüße {}", json(u)).as_bytes()))),
        ])
    });
    assert_rewrites(&i, &e);
    let out = rewriter().rewrite_value(&i);
    assert_eq!(out.replacements, 6);
}
