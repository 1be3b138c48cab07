//! The URL grammar of the rewrite: how the bytes around a host name are read.
//!
//! This file owns the spellings (`https://`, `//`, JSON-escaped `https:\/\/`, percent-encoded
//! `https%3A%2F%2F`), the classification of what stands before a host (a URL scheme, a
//! protocol-relative `//`, or nothing) and the boundary tests after it (end of host name, port,
//! end of path prefix). Pure functions over byte slices; `url_match` drives them.

use super::rule::{is_label_byte, is_unreserved, Scheme};

/// How slashes and colons are spelled around a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Spelling {
    /// `https://host/path`
    Plain,
    /// `https:\/\/host\/path` (JSON with escaped slashes)
    Json,
    /// `https%3A%2F%2Fhost%2Fpath`; `lower` when the source used `%2f`.
    Percent { lower: bool },
}

impl Spelling {
    pub(super) fn slash(self) -> &'static [u8] {
        match self {
            Spelling::Plain => b"/",
            Spelling::Json => b"\\/",
            Spelling::Percent { lower: false } => b"%2F",
            Spelling::Percent { lower: true } => b"%2f",
        }
    }

    pub(super) fn colon(self) -> &'static [u8] {
        match self {
            Spelling::Plain | Spelling::Json => b":",
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
    if pre.ends_with(b"\\/\\/") {
        after_slashes(hay, s - 4, Spelling::Json)
    } else if pre.ends_with(b"//") {
        after_slashes(hay, s - 2, Spelling::Plain)
    } else if s >= 6 && eq_ci(&pre[s - 6..], b"%2f%2f") {
        let lower = pre[s - 1] == b'f';
        after_slashes(hay, s - 6, Spelling::Percent { lower })
    } else {
        Prefix::None
    }
}

/// The double slash starts at `b`: is it `scheme://` or protocol-relative `//`?
fn after_slashes(hay: &[u8], b: usize, sp: Spelling) -> Prefix {
    let pre = &hay[..b];
    let colon = match sp {
        Spelling::Plain | Spelling::Json => pre.ends_with(b":").then(|| b - 1),
        Spelling::Percent { .. } => (b >= 3 && eq_ci(&pre[b - 3..], b"%3a")).then(|| b - 3),
    };
    if let Some(c) = colon {
        return match scheme_before(hay, c) {
            Some((start, scheme)) => Prefix::Url(start, Lead::Scheme(scheme), sp),
            None => Prefix::Reject,
        };
    }
    let tripled = match sp {
        Spelling::Plain => pre.ends_with(b"/"),
        Spelling::Json => pre.ends_with(b"\\/"),
        Spelling::Percent { .. } => b >= 3 && eq_ci(&pre[b - 3..], b"%2f"),
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
    match sp {
        Spelling::Percent { .. } => starts_with_ci(&hay[e..], b"%2f").then_some(e + 3),
        _ => hay[e..]
            .starts_with(sp.slash())
            .then(|| e + sp.slash().len()),
    }
}

/// A port (`:8080` or `%3A8080`) follows at `e`: a different origin than a rule without port.
pub(super) fn port_follows(hay: &[u8], e: usize) -> bool {
    let digit_at = |i: usize| hay.get(i).is_some_and(u8::is_ascii_digit);
    (hay.get(e) == Some(&b':') && digit_at(e + 1))
        || (starts_with_ci(&hay[e..], b"%3a") && digit_at(e + 3))
}

/// The host name ends at `e`: not followed by another label byte or by `.label`.
pub(super) fn host_ends(hay: &[u8], e: usize) -> bool {
    match hay.get(e) {
        None => true,
        Some(&b) if is_label_byte(b) => false,
        Some(b'.') => !hay.get(e + 1).copied().is_some_and(is_label_byte),
        Some(_) => true,
    }
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
