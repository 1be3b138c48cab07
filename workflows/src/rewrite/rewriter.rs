//! The value rewriter: one column value (real, unescaped bytes) in, rewritten bytes out.
//!
//! This file owns the decision of *how* a value is rewritten: a value that WordPress would treat
//! as serialized (`is_serialized()`, strict) is rewritten structurally by `serialized`;
//! any other value is text, in which complete serialized values embedded in the text are still
//! rewritten structurally and the rest gets boundary-safe URL replacement. A value that claims to
//! be serialized but does not parse is left exactly as it was and flagged malformed.

use std::borrow::Cow;

use memchr::memchr_iter;

use super::rule::{Options, Rule};
use super::serialized::{self, Malformed, MAX_DEPTH};
use super::url_match::UrlMatcher;

/// The result of rewriting one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<'a> {
    /// The new bytes; borrowed from the input when nothing changed.
    pub value: Cow<'a, [u8]>,
    /// How many URL occurrences were rewritten.
    pub replacements: usize,
    /// The value looked like PHP serialized data but was not well-formed; it was left unchanged.
    pub malformed: bool,
}

impl Outcome<'_> {
    /// Whether the value was changed.
    pub fn changed(&self) -> bool {
        matches!(self.value, Cow::Owned(_))
    }
}

/// Rewrites production URLs to staging URLs in single values, serialization-safe.
///
/// Build it once per clone and share it (it is `Send + Sync`); it holds the compiled rules.
pub struct Rewriter {
    matcher: UrlMatcher,
}

impl Rewriter {
    /// Compiles the rules. Rules that share a host are tried most specific first (explicit port,
    /// then longer path prefix); otherwise earlier rules win.
    pub fn new(rules: &[Rule], options: Options) -> Rewriter {
        Rewriter {
            matcher: UrlMatcher::new(rules, options),
        }
    }

    /// Cheap pre-check: whether `bytes` contain any rule's host at all. When this is false,
    /// [`Rewriter::rewrite_value`] would return the input unchanged.
    pub fn may_contain_match(&self, bytes: &[u8]) -> bool {
        self.matcher.has_candidate(bytes)
    }

    /// Rewrites one value (its real bytes, not dump-escaped).
    ///
    /// * Serialized PHP (by WordPress's strict `is_serialized()` test, after trimming
    ///   whitespace): parsed structurally, string values rewritten recursively (nested serialized
    ///   strings, JSON inside strings), every byte length fixed.
    /// * Anything else: boundary-safe URL replacement; complete serialized values embedded in
    ///   the text are rewritten structurally.
    /// * Malformed serialized data (anywhere inside the value): the whole value is returned
    ///   unchanged with `malformed` set. Values without any candidate host are returned at once
    ///   and never inspected, so they are never reported malformed.
    pub fn rewrite_value<'a>(&self, input: &'a [u8]) -> Outcome<'a> {
        let unchanged = |malformed| Outcome {
            value: Cow::Borrowed(input),
            replacements: 0,
            malformed,
        };
        if !self.may_contain_match(input) {
            return unchanged(false);
        }
        let mut out = Vec::with_capacity(input.len() + 64);
        match self.rewrite_into(input, &mut out, 0) {
            Ok(0) => unchanged(false),
            Ok(n) => Outcome {
                value: Cow::Owned(out),
                replacements: n,
                malformed: false,
            },
            Err(Malformed) => unchanged(true),
        }
    }

    /// Appends the rewritten `input` to `out`; `depth` is the nesting depth of `input` (arrays,
    /// objects and serialized strings around it).
    pub(crate) fn rewrite_into(
        &self,
        input: &[u8],
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<usize, Malformed> {
        if depth > MAX_DEPTH {
            return Err(Malformed);
        }
        if !self.may_contain_match(input) {
            out.extend_from_slice(input);
            return Ok(0);
        }
        match serialized::looks_serialized(input) {
            Some(range) => {
                out.extend_from_slice(&input[..range.start]);
                let n = serialized::rewrite(&input[range.clone()], out, self, depth)?;
                out.extend_from_slice(&input[range.end..]);
                Ok(n)
            }
            None => self.rewrite_text(input, out, depth),
        }
    }

    /// Text: structural rewrite of embedded serialized values, URL replacement elsewhere.
    fn rewrite_text(
        &self,
        input: &[u8],
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<usize, Malformed> {
        let mut count = 0;
        let mut cursor = 0;
        for colon in memchr_iter(b':', input) {
            let Some(start) = colon.checked_sub(1) else {
                continue;
            };
            if start < cursor || !embedded_start(input, start) {
                continue;
            }
            let Some(len) = serialized::measure(&input[start..]) else {
                continue;
            };
            let segment = &input[start..start + len];
            if !self.may_contain_match(segment) {
                continue;
            }
            count += self.matcher.replace_into(&input[cursor..start], out);
            count += serialized::rewrite(segment, out, self, depth)?;
            cursor = start + len;
        }
        count += self.matcher.replace_into(&input[cursor..], out);
        Ok(count)
    }
}

/// `a:`, `O:`, `C:` or `s:` followed by a digit, not glued to a preceding word.
fn embedded_start(input: &[u8], i: usize) -> bool {
    matches!(input[i], b'a' | b'O' | b'C' | b's')
        && input.get(i + 2).is_some_and(u8::is_ascii_digit)
        && (i == 0 || !input[i - 1].is_ascii_alphanumeric())
}
