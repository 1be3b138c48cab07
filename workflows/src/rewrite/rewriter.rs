//! The value rewriter: one column value (real, unescaped bytes) in, rewritten bytes out.
//!
//! This file owns the decision of *how* a value is rewritten: a value that WordPress would treat
//! as serialized (`is_serialized()`, strict) is rewritten structurally by `serialized`;
//! any other value is text, in which complete serialized values embedded in the text are still
//! rewritten structurally and the rest gets boundary-safe URL replacement, then the literal pairs
//! ([`Literals`], when given). A value that claims to be serialized but does not parse is left
//! exactly as it was and flagged malformed.

use std::borrow::Cow;
use std::ops::AddAssign;
use std::sync::Arc;

use memchr::memchr_iter;

use super::literal::Literals;
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
    /// How many literal pairs were replaced.
    pub literal_replacements: usize,
    /// The value looked like PHP serialized data but was not well-formed; it was left unchanged.
    pub malformed: bool,
}

impl Outcome<'_> {
    /// Whether the value was changed.
    pub fn changed(&self) -> bool {
        matches!(self.value, Cow::Owned(_))
    }
}

/// What one rewrite did: URL occurrences and literal pairs replaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) urls: usize,
    pub(crate) literals: usize,
}

impl Counts {
    pub(crate) fn is_zero(self) -> bool {
        self.urls == 0 && self.literals == 0
    }
}

impl AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.urls += other.urls;
        self.literals += other.literals;
    }
}

/// Rewrites production URLs to staging URLs in single values, serialization-safe; optionally
/// also replaces literal pairs ([`Rewriter::with_literals`]) with the same length fixing.
///
/// Build it once per clone and share it (it is `Send + Sync`); it holds the compiled rules.
pub struct Rewriter {
    matcher: UrlMatcher,
    literals: Option<Arc<Literals>>,
}

impl Rewriter {
    /// Compiles the rules. Rules that share a host are tried most specific first (explicit port,
    /// then longer path prefix); otherwise earlier rules win.
    pub fn new(rules: &[Rule], options: Options) -> Rewriter {
        Rewriter {
            matcher: UrlMatcher::new(rules, options),
            literals: None,
        }
    }

    /// Also replaces `literals` in every value (after the URL rules, in text pieces and inside
    /// serialized strings alike, lengths fixed). Empty literals change nothing.
    pub fn with_literals(mut self, literals: Arc<Literals>) -> Rewriter {
        self.literals = (!literals.is_empty()).then_some(literals);
        self
    }

    /// The hosts of the rules: a value without any of them (and without collected literals)
    /// is never changed by the URL rules.
    pub fn hosts(&self) -> Vec<String> {
        self.matcher.hosts()
    }

    /// Cheap pre-check: whether `bytes` contain any rule's host (or literal needle) at all. When
    /// this is false, [`Rewriter::rewrite_value`] would return the input unchanged.
    pub fn may_contain_match(&self, bytes: &[u8]) -> bool {
        self.matcher.has_candidate(bytes)
            || self
                .literals
                .as_ref()
                .is_some_and(|l| l.has_candidate(bytes))
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
            literal_replacements: 0,
            malformed,
        };
        if !self.may_contain_match(input) {
            return unchanged(false);
        }
        let mut out = Vec::with_capacity(input.len() + 64);
        match self.rewrite_into(input, &mut out, 0) {
            Ok(n) if n.is_zero() => unchanged(false),
            Ok(n) => Outcome {
                value: Cow::Owned(out),
                replacements: n.urls,
                literal_replacements: n.literals,
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
    ) -> Result<Counts, Malformed> {
        if depth > MAX_DEPTH {
            return Err(Malformed);
        }
        if !self.may_contain_match(input) {
            out.extend_from_slice(input);
            return Ok(Counts::default());
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
    ) -> Result<Counts, Malformed> {
        let mut count = Counts::default();
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
            count += self.replace_plain(&input[cursor..start], out);
            count += serialized::rewrite(segment, out, self, depth)?;
            cursor = start + len;
        }
        count += self.replace_plain(&input[cursor..], out);
        Ok(count)
    }

    /// Plain text (no serialized structure): URL rules, then literal pairs.
    fn replace_plain(&self, hay: &[u8], out: &mut Vec<u8>) -> Counts {
        let Some(literals) = self.literals.as_ref().filter(|l| l.has_candidate(hay)) else {
            return Counts {
                urls: self.matcher.replace_into(hay, out),
                literals: 0,
            };
        };
        if !self.matcher.has_candidate(hay) {
            return Counts {
                urls: 0,
                literals: literals.replace_into(hay, out),
            };
        }
        let mut urls_done = Vec::with_capacity(hay.len() + 64);
        let urls = self.matcher.replace_into(hay, &mut urls_done);
        Counts {
            urls,
            literals: literals.replace_into(&urls_done, out),
        }
    }
}

/// `a:`, `O:`, `C:` or `s:` followed by a digit, not glued to a preceding word.
fn embedded_start(input: &[u8], i: usize) -> bool {
    matches!(input[i], b'a' | b'O' | b'C' | b's')
        && input.get(i + 2).is_some_and(u8::is_ascii_digit)
        && (i == 0 || !input[i - 1].is_ascii_alphanumeric())
}
