//! Rules: which production origin maps to which staging origin, and the options that widen or
//! narrow what counts as an occurrence of it.
//!
//! An [`Origin`] is `scheme://host[:port][/path]`. Hosts are stored lower-case and matched
//! byte-for-byte (case-sensitive); scheme names are matched case-insensitively.

use std::fmt;
use std::str::FromStr;

use super::error::RewriteError;

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http`
    Http,
    /// `https`
    Https,
}

impl Scheme {
    /// The scheme's name as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A site origin with an optional path prefix, e.g. `https://example.com` or
/// `https://staging.example.com:8443/site`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: Scheme,
    host: String,
    port: Option<u16>,
    path: String,
}

impl Origin {
    /// Parses `scheme://host[:port][/path]`. The scheme must be `http` or `https`; the host may
    /// use letters, digits, `-`, `_` and dots (IPv6 literals are not supported); the path may use
    /// URL-unreserved characters and `/`. A trailing `/` is dropped. No query, fragment or user.
    pub fn parse(input: &str) -> Result<Origin, RewriteError> {
        let bad = |reason| RewriteError::InvalidOrigin {
            input: input.to_string(),
            reason,
        };
        let (scheme, rest) = match input.split_once("://") {
            Some((s, rest)) if s.eq_ignore_ascii_case("https") => (Scheme::Https, rest),
            Some((s, rest)) if s.eq_ignore_ascii_case("http") => (Scheme::Http, rest),
            Some(_) => return Err(bad("the scheme must be http or https")),
            None => return Err(bad("expected scheme://host")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => {
                let port: u16 = p.parse().map_err(|_| bad("the port is not a number"))?;
                if port == 0 {
                    return Err(bad("port 0 is not a valid port"));
                }
                (h, Some(port))
            }
            None => (authority, None),
        };
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        if !host.bytes().all(|b| is_label_byte(b) || b == b'.') {
            return Err(bad(
                "the host may only use letters, digits, '-', '_' and '.'",
            ));
        }
        if host.starts_with('.') || host.ends_with('.') || host.contains("..") {
            return Err(bad("the host has an empty label"));
        }
        let path = path.trim_end_matches('/');
        if !path.bytes().all(|b| b == b'/' || is_unreserved(b)) {
            return Err(bad(
                "the path may only use letters, digits, '-', '.', '_', '~' and '/'",
            ));
        }
        if path.contains("//") {
            return Err(bad("the path has an empty segment"));
        }
        Ok(Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path: path.to_string(),
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, lower-case.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The path prefix without trailing slash (`""` when the origin is the site root).
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl FromStr for Origin {
    type Err = RewriteError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Origin::parse(s)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        f.write_str(&self.path)
    }
}

/// One mapping from a production origin to a staging origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The production origin to find. Its scheme does not restrict matching: `http://` and
    /// `https://` spellings of the host are both found.
    pub from: Origin,
    /// The staging origin to write.
    pub to: Origin,
}

impl Rule {
    /// A rule from two parsed origins.
    pub fn new(from: Origin, to: Origin) -> Rule {
        Rule { from, to }
    }

    /// A rule from two origin strings, e.g. `("https://example.com", "https://staging.example.com")`.
    pub fn parse(from: &str, to: &str) -> Result<Rule, RewriteError> {
        Ok(Rule::new(Origin::parse(from)?, Origin::parse(to)?))
    }
}

/// Which scheme a rewritten absolute URL gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SchemeMapping {
    /// Both `http://host` and `https://host` become the staging origin's scheme (the default:
    /// staging serves one scheme, and mixed content would break pages).
    #[default]
    Target,
    /// Keep the scheme each URL had (`http://host` → `http://staging`, `https://host` →
    /// `https://staging`).
    Preserve,
}

/// Options that apply to all rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Also rewrite dot-separated subdomains of a rule's host: `https://cdn.example.com` →
    /// `https://cdn.staging.example.com` (only the host is swapped; the staging path prefix is
    /// not added, and rules with a path prefix never match subdomains). Off by default.
    /// `www2example.com` is never a subdomain of `example.com`.
    pub include_subdomains: bool,
    /// Also rewrite a bare `example.com` (no scheme, no `//`) when it stands alone, still
    /// boundary-safe: never after `@`, `.`, `/`, `\`, `%` or a host character. Off by default.
    pub bare_host: bool,
    /// Scheme of rewritten absolute URLs.
    pub scheme: SchemeMapping,
}

/// Letters, digits, `-` and `_`: bytes that continue a host label.
pub(crate) fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// RFC 3986 unreserved bytes: what continues a path segment.
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_origins() {
        let o = Origin::parse("HTTPS://Example.COM/").unwrap();
        assert_eq!(o.scheme(), Scheme::Https);
        assert_eq!(o.host(), "example.com");
        assert_eq!(o.port(), None);
        assert_eq!(o.path(), "");
        assert_eq!(o.to_string(), "https://example.com");

        let o: Origin = "http://staging.example.com:8443/site/".parse().unwrap();
        assert_eq!(o.port(), Some(8443));
        assert_eq!(o.path(), "/site");
        assert_eq!(o.to_string(), "http://staging.example.com:8443/site");
    }

    #[test]
    fn rejects_bad_origins() {
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://",
            "https://exa mple.com",
            "https://example.com:http",
            "https://example.com:0",
            "https://example.com:70000",
            "https://.example.com",
            "https://example..com",
            "https://example.com/a?b",
            "https://example.com/a//b",
            "https://user@example.com",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad} should be rejected");
        }
        let err = Rule::parse("https://example.com", "nope").unwrap_err();
        assert!(err.to_string().contains("nope"));
    }
}
