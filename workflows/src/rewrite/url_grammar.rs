//! The URL grammar of the rewrite: how the bytes around a host name are read.
//!
//! This file owns the spellings (`https://`, `//`, JSON-escaped `https:\/\/` at every nesting
//! depth — `https:\\\/\\\/` is JSON inside a JSON string, `\u002F` slashes likewise —, and
//! percent-encoded `https%3A%2F%2F`), the classification of what stands before a host (a URL
//! scheme, a protocol-relative `//`, or nothing) and the boundary tests after it (end of host
//! name, also when the next character is escaped; port; end of path prefix). Pure functions over
//! byte slices; `url_match` drives them.

use super::rule::{is_label_byte, is_unreserved, Scheme};

/// The most backslashes an escaped slash may carry (seven levels of JSON inside JSON need 127).
/// Longer runs are not URLs anyone wrote.
const MAX_BACKSLASHES: usize = 127;

/// How slashes and colons are spelled around a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Spelling {
    /// `https://host/path`
    Plain,
    /// `https:\/\/host\/path`: JSON with escaped slashes, `backslashes` before each slash. One
    /// level of JSON has 1; a JSON string holding that JSON has 3 (`\\\/`), or 2 when the outer
    /// level leaves slashes unescaped (`JSON.stringify`, `JSON_UNESCAPED_SLASHES`); each further
    /// level doubles the count (and adds one when it escapes slashes). Every count decodes back
    /// to `/` by decoding the JSON levels, so every count is read, and written back as found.
    Json { backslashes: u8 },
    /// `https:\u002F\u002Fhost`: slashes as JSON unicode escapes, `backslashes` before each
    /// `u002F` (1, then 2 or 3, … when nested in JSON strings); `lower` when the source wrote
    /// `\u002f`.
    Unicode { backslashes: u8, lower: bool },
    /// `https%3A%2F%2Fhost%2Fpath`; `lower` when the source used `%2f`.
    Percent { lower: bool },
}

impl Spelling {
    /// Appends one slash in this spelling.
    pub(super) fn push_slash(self, out: &mut Vec<u8>) {
        match self {
            Spelling::Plain => out.push(b'/'),
            Spelling::Json { backslashes } => {
                out.extend(std::iter::repeat_n(b'\\', usize::from(backslashes)));
                out.push(b'/');
            }
            Spelling::Unicode { backslashes, lower } => {
                out.extend(std::iter::repeat_n(b'\\', usize::from(backslashes)));
                out.extend_from_slice(if lower { b"u002f" } else { b"u002F" });
            }
            Spelling::Percent { lower: false } => out.extend_from_slice(b"%2F"),
            Spelling::Percent { lower: true } => out.extend_from_slice(b"%2f"),
        }
    }

    pub(super) fn colon(self) -> &'static [u8] {
        match self {
            Spelling::Plain | Spelling::Json { .. } | Spelling::Unicode { .. } => b":",
            Spelling::Percent { lower: false } => b"%3A",
            Spelling::Percent { lower: true } => b"%3a",
        }
    }
}

/// What stands before the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lead {
    /// `http://` or `https://` (in some spelling); the scheme found.
    Scheme(Scheme),
    /// `//` (protocol-relative).
    Relative,
    /// Nothing: a bare host.
    Bare,
}

/// Result of looking at the bytes before a host.
pub(super) enum Prefix {
    /// A URL prefix starting at this index.
    Url(usize, Lead, Spelling),
    /// A URL prefix that must not be rewritten (`ftp://`, `///`, `xhttps://`).
    Reject,
    /// No URL prefix.
    None,
}

/// Classifies the bytes before index `s` (the first byte of a host name).
pub(super) fn classify_prefix(hay: &[u8], s: usize) -> Prefix {
    let pre = &hay[..s];
    if let Some((last, sp)) = slash_ending_at(hay, s) {
        // The first slash is spelled like the second (a plain one whatever stands before it).
        let first = match sp {
            Spelling::Plain => (last > 0 && hay[last - 1] == b'/').then(|| last - 1),
            _ => slash_ending_at(hay, last)
                .filter(|&(_, first)| first == sp)
                .map(|(start, _)| start),
        };
        match first {
            Some(b) => after_slashes(hay, b, sp),
            None => Prefix::None,
        }
    } else if s >= 6 && eq_ci(&pre[s - 6..], b"%2f%2f") {
        let lower = pre[s - 1] == b'f';
        after_slashes(hay, s - 6, Spelling::Percent { lower })
    } else {
        Prefix::None
    }
}

/// The plain, JSON-escaped or unicode-escaped slash that ends right before `end`: its start and
/// spelling (all the backslashes before it count: `\\\/` is one slash escaped at depth 3). A
/// longer run than [`MAX_BACKSLASHES`] leaves a plain slash.
fn slash_ending_at(hay: &[u8], end: usize) -> Option<(usize, Spelling)> {
    let before = &hay[..end];
    let backslashes_before = |i: usize| {
        before[..i]
            .iter()
            .rev()
            .take(MAX_BACKSLASHES + 1)
            .take_while(|&&b| b == b'\\')
            .count()
    };
    if before.last() == Some(&b'/') {
        let slash = end - 1;
        let n = backslashes_before(slash);
        return Some(match u8::try_from(n) {
            Ok(backslashes) if n > 0 && n <= MAX_BACKSLASHES => {
                (slash - n, Spelling::Json { backslashes })
            }
            _ => (slash, Spelling::Plain),
        });
    }
    if end < 6 || before[end - 5] != b'u' || !eq_ci(&before[end - 4..], b"002f") {
        return None;
    }
    let u = end - 5;
    let n = backslashes_before(u);
    let backslashes = u8::try_from(n).ok()?;
    (n > 0 && n <= MAX_BACKSLASHES).then(|| {
        let lower = before[end - 1] == b'f';
        (u - n, Spelling::Unicode { backslashes, lower })
    })
}

/// The double slash starts at `b`: is it `scheme://` or protocol-relative `//`?
fn after_slashes(hay: &[u8], b: usize, sp: Spelling) -> Prefix {
    let pre = &hay[..b];
    let colon = match sp {
        Spelling::Percent { .. } => (b >= 3 && eq_ci(&pre[b - 3..], b"%3a")).then(|| b - 3),
        _ => pre.ends_with(b":").then(|| b - 1),
    };
    if let Some(c) = colon {
        return match scheme_before(hay, c) {
            Some((start, scheme)) => Prefix::Url(start, Lead::Scheme(scheme), sp),
            None => Prefix::Reject,
        };
    }
    let tripled = match sp {
        Spelling::Plain => pre.ends_with(b"/"),
        Spelling::Percent { .. } => b >= 3 && eq_ci(&pre[b - 3..], b"%2f"),
        _ => slash_ending_at(hay, b).is_some_and(|(_, before)| before == sp),
    };
    if tripled {
        Prefix::Reject
    } else {
        Prefix::Url(b, Lead::Relative, sp)
    }
}

/// `http` or `https` ending right before index `colon`, not glued to a longer scheme name.
fn scheme_before(hay: &[u8], colon: usize) -> Option<(usize, Scheme)> {
    for (name, scheme) in [(&b"https"[..], Scheme::Https), (&b"http"[..], Scheme::Http)] {
        if colon >= name.len() && eq_ci(&hay[colon - name.len()..colon], name) {
            let start = colon - name.len();
            let glued = start > 0 && {
                let b = hay[start - 1];
                b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
            };
            return (!glued).then_some((start, scheme));
        }
    }
    None
}

/// Index after a colon at `e` in the given spelling (percent spelling also accepts a plain `:`).
pub(super) fn colon_at(hay: &[u8], e: usize, sp: Spelling) -> Option<usize> {
    if hay.get(e) == Some(&b':') {
        Some(e + 1)
    } else if matches!(sp, Spelling::Percent { .. }) && starts_with_ci(&hay[e..], b"%3a") {
        Some(e + 3)
    } else {
        None
    }
}

pub(super) fn slash_at(hay: &[u8], e: usize, sp: Spelling) -> Option<usize> {
    let rest = &hay[e..];
    match sp {
        Spelling::Plain => rest.starts_with(b"/").then_some(e + 1),
        Spelling::Json { backslashes } => {
            let n = usize::from(backslashes);
            (rest.len() > n && rest[..n].iter().all(|&b| b == b'\\') && rest[n] == b'/')
                .then_some(e + n + 1)
        }
        Spelling::Unicode { backslashes, .. } => {
            let n = usize::from(backslashes);
            (rest.len() >= n + 5
                && rest[..n].iter().all(|&b| b == b'\\')
                && rest[n] == b'u'
                && eq_ci(&rest[n + 1..n + 5], b"002f"))
            .then_some(e + n + 5)
        }
        Spelling::Percent { .. } => starts_with_ci(rest, b"%2f").then_some(e + 3),
    }
}

/// A port (`:8080` or `%3A8080`) follows at `e`: a different origin than a rule without port.
pub(super) fn port_follows(hay: &[u8], e: usize) -> bool {
    let digit_at = |i: usize| hay.get(i).is_some_and(u8::is_ascii_digit);
    (hay.get(e) == Some(&b':') && digit_at(e + 1))
        || (starts_with_ci(&hay[e..], b"%3a") && digit_at(e + 3))
}

/// The host name ends at `e`: not followed by another label byte or by `.label`, also when that
/// byte is escaped (`\u002E`, `%2E`: `host\u002Eevil.org` is another host).
pub(super) fn host_ends(hay: &[u8], e: usize) -> bool {
    match hay.get(e) {
        None => true,
        Some(&b) if is_label_byte(b) => false,
        Some(b'.') => !hay.get(e + 1).copied().is_some_and(is_label_byte),
        Some(b'\\' | b'%') => {
            !escaped_byte_at(hay, e).is_some_and(|d| is_label_byte(d) || d == b'.')
        }
        Some(_) => true,
    }
}

/// The ASCII byte an escape at `e` stands for: `\u00XX` after any run of backslashes (JSON at any
/// depth) or `%XX`.
pub(super) fn escaped_byte_at(hay: &[u8], e: usize) -> Option<u8> {
    let rest = &hay[e..];
    let hex = match rest.first()? {
        b'%' => rest.get(1..3)?,
        _ => {
            let n = rest.iter().take_while(|&&b| b == b'\\').count();
            let u = rest.get(n..n + 5)?;
            if u[0] != b'u' || &u[1..3] != b"00" {
                return None;
            }
            &u[3..5]
        }
    };
    let digit = |d: u8| char::from(d).to_digit(16);
    Some((digit(hex[0])? * 16 + digit(hex[1])?) as u8)
}

/// The path prefix ends at `e`: `/blog` must not match `/blogger` or `/blog.html`.
pub(super) fn path_ends(hay: &[u8], e: usize) -> bool {
    match hay.get(e) {
        None => true,
        Some(&b) if is_unreserved(b) => false,
        Some(b'%') => {
            let rest = &hay[e..];
            starts_with_ci(rest, b"%2f") || starts_with_ci(rest, b"%3f") || rest.starts_with(b"%23")
        }
        Some(_) => true,
    }
}

fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn starts_with_ci(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len() && eq_ci(&hay[..prefix.len()], prefix)
}
