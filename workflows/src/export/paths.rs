//! Where a media file goes in the bundle, from its URL: `uploads/YYYY/MM/name.ext` for files
//! under `/wp-content/uploads/`, `external/<host>/...` otherwise. Names come from the site and are
//! untrusted: percent-decoded, then refused when a segment is `..`, `.`, empty, contains NUL,
//! a backslash, a control character, or when the result would be absolute or too long.

use url::Url;

const UPLOADS: &str = "/wp-content/uploads/";
const MAX_SEGMENT: usize = 255;
const MAX_PATH: usize = 1024;

/// Why a URL has no safe place in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsafe media file name {name:?}: {why}")]
pub struct UnsafePath {
    pub name: String,
    pub why: &'static str,
}

/// The bundle-relative path (always `/`-separated, relative) of the file at `url`.
pub fn bundle_path(url: &Url) -> Result<String, UnsafePath> {
    let raw_path = url.path();
    let (prefix, rest) = match raw_path.find(UPLOADS) {
        Some(i) => ("uploads".to_string(), &raw_path[i + UPLOADS.len()..]),
        None => {
            let host = url.host_str().unwrap_or("unknown-host").to_string();
            let host = match url.port() {
                Some(port) => format!("{host}_{port}"),
                None => host,
            };
            check_segment(&host, raw_path)?;
            (format!("external/{host}"), raw_path.trim_start_matches('/'))
        }
    };
    let mut parts = vec![prefix];
    for segment in rest.split('/') {
        let decoded = percent_decode(segment).ok_or(UnsafePath {
            name: raw_path.to_string(),
            why: "not UTF-8 after percent-decoding",
        })?;
        check_segment(&decoded, raw_path)?;
        parts.push(decoded);
    }
    let path = parts.join("/");
    if path.len() > MAX_PATH {
        return Err(UnsafePath {
            name: raw_path.to_string(),
            why: "path too long",
        });
    }
    Ok(path)
}

fn check_segment(segment: &str, name: &str) -> Result<(), UnsafePath> {
    let fail = |why| {
        Err(UnsafePath {
            name: name.to_string(),
            why,
        })
    };
    if segment.is_empty() {
        return fail("empty path segment");
    }
    if segment == "." || segment == ".." {
        return fail("path traversal (`.` or `..`)");
    }
    if segment.contains('\0') {
        return fail("NUL byte");
    }
    if segment.contains('\\') {
        return fail("backslash");
    }
    if segment.contains('/') {
        return fail("encoded slash (absolute path or traversal)");
    }
    if segment.chars().any(char::is_control) {
        return fail("control character");
    }
    if segment.len() > MAX_SEGMENT {
        return fail("file name too long");
    }
    Ok(())
}

/// `%20` → space, strictly (a bad escape keeps its characters as they are).
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(url: &str) -> Result<String, UnsafePath> {
        bundle_path(&Url::parse(url).unwrap())
    }

    #[test]
    fn uploads_keep_their_year_month_layout() {
        assert_eq!(
            path("http://s.test/wp-content/uploads/2024/05/a.png").unwrap(),
            "uploads/2024/05/a.png"
        );
        assert_eq!(
            path("http://s.test/blog/wp-content/uploads/2024/05/Stra%C3%9Fe%20x.png").unwrap(),
            "uploads/2024/05/Straße x.png"
        );
        assert_eq!(
            path("https://cdn.test:8443/media/a.png").unwrap(),
            "external/cdn.test_8443/media/a.png"
        );
    }

    #[test]
    fn hostile_names_are_refused() {
        for (url, why) in [
            (
                "http://s.test/wp-content/uploads/2024/..%2F..%2Fetc",
                "slash",
            ),
            ("http://s.test/wp-content/uploads/%2Fetc/passwd", "slash"),
            ("http://s.test/wp-content/uploads/2024/a%00.png", "NUL"),
            (
                "http://s.test/wp-content/uploads/2024/a%5C..%5Cb.png",
                "backslash",
            ),
            ("http://s.test/wp-content/uploads//a.png", "empty"),
            ("http://s.test/wp-content/uploads/2024/a%0A.png", "control"),
        ] {
            let err = path(url).unwrap_err();
            assert!(err.why.contains(why), "{url}: {err}");
        }
    }

    #[test]
    fn dot_segments_never_leave_the_bundle() {
        // URL parsing resolves `%2e%2e` itself: what is left is a path inside the bundle.
        assert_eq!(
            path("http://s.test/wp-content/uploads/2024/%2e%2e/%2e%2e/%2e%2e/etc/passwd").unwrap(),
            "external/s.test/etc/passwd"
        );
        assert!(check_segment("..", "x")
            .unwrap_err()
            .why
            .contains("traversal"));
        assert!(check_segment(".", "x").is_err());
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode("a%20b").unwrap(), "a b");
        assert_eq!(percent_decode("100%").unwrap(), "100%");
        assert_eq!(percent_decode("%zz").unwrap(), "%zz");
        assert!(percent_decode("%FF").is_none());
    }
}
