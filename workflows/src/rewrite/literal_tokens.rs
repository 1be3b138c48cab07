//! Needles with a syntax (e-mail addresses, dotted numbers such as IPv4 addresses, IPv6
//! addresses) found without an automaton: a small scanner cuts the text into the only tokens
//! such a needle could be accepted as, and a hash map keyed by the lower-cased token says
//! whether it is one (memory: one map entry per needle, instead of automaton states per byte).
//!
//! The tokens are exactly the accepted occurrences of [`Boundary`]: a needle is put here only
//! when scanning the needle alone yields the needle itself as a token ([`TokenIndex::add`]
//! refuses the others, which stay in the automaton). Then an occurrence in a text passes its
//! boundary check if and only if the scanner yields it as a token:
//! - [`Boundary::Email`]: around each `@` (or `%40`), the run of local-part characters before
//!   and the run of domain characters after (a `.` only when followed by a letter or digit).
//! - [`Boundary::Number`]: runs of digits and single dots, with at least one dot.
//! - [`Boundary::Hex`]: runs of hex digits, `:` and `.`, with at least one `:`.

use std::collections::HashMap;

use super::literal::Boundary;

/// Bytes of an e-mail's local part (as the Email boundary defines it).
fn local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-".contains(&b)
}

/// Bytes of an e-mail's domain, besides `.` (as the Email boundary defines it).
fn domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn hexish(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// A token: `[start, end)` of the text, and the boundary kind it was cut for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub start: usize,
    pub end: usize,
    pub boundary: Boundary,
}

/// Calls `f` with every token of `hay`, by increasing end of the separator (tokens may overlap).
/// With `escaped`, also tokens starting 1 to 3 bytes later when the run is preceded by a
/// backslash (`\n`, `\0` of a dump-escaped text glued to a needle).
fn scan(hay: &[u8], escaped: bool, mut f: impl FnMut(Token) -> bool) -> bool {
    let starts = |run_start: usize, min_start: usize| {
        let extra = if escaped && run_start > 0 && hay[run_start - 1] == b'\\' {
            3
        } else {
            0
        };
        (run_start..=run_start + extra).take_while(move |s| *s <= min_start)
    };
    // E-mails.
    let mut i = 0;
    while let Some(at) = memchr::memchr2(b'@', b'%', &hay[i..]).map(|p| p + i) {
        i = at + 1;
        let sep = if hay[at] == b'@' {
            1
        } else if hay[at..].starts_with(b"%40") {
            3
        } else {
            continue;
        };
        let mut start = at;
        while start > 0 && local(hay[start - 1]) {
            start -= 1;
        }
        let mut end = at + sep;
        while end < hay.len()
            && (domain(hay[end])
                || (hay[end] == b'.' && hay.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)))
        {
            end += 1;
        }
        if start == at || end == at + sep {
            continue;
        }
        for s in starts(start, at - 1) {
            if f(Token {
                start: s,
                end,
                boundary: Boundary::Email,
            }) {
                return true;
            }
        }
    }
    // Dotted numbers and IPv6 addresses: runs of hex digits, `:` and `.`.
    let mut i = 0;
    while i < hay.len() {
        if !hexish(hay[i]) {
            i += 1;
            continue;
        }
        let run_start = i;
        while i < hay.len() && hexish(hay[i]) {
            i += 1;
        }
        let run = &hay[run_start..i];
        if memchr::memchr(b':', run).is_some() {
            for s in starts(run_start, i - 1) {
                if f(Token {
                    start: s,
                    end: i,
                    boundary: Boundary::Hex,
                }) {
                    return true;
                }
            }
        }
        if memchr::memchr(b'.', run).is_none() {
            continue;
        }
        // Segments: digits joined by single dots.
        let mut j = run_start;
        while j < i {
            if !hay[j].is_ascii_digit() {
                j += 1;
                continue;
            }
            let seg_start = j;
            let mut dots = false;
            while j < i
                && (hay[j].is_ascii_digit()
                    || (hay[j] == b'.'
                        && hay.get(j + 1).is_some_and(u8::is_ascii_digit)
                        && j + 1 < i))
            {
                dots |= hay[j] == b'.';
                j += 1;
            }
            if dots {
                for s in starts(seg_start, j - 1) {
                    if f(Token {
                        start: s,
                        end: j,
                        boundary: Boundary::Number,
                    }) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

/// A lower-cased needle's replacement and boundary.
type Target = (Box<[u8]>, Boundary);

/// The needles with a syntax, by lower-cased spelling.
#[derive(Clone, Debug, Default)]
pub(crate) struct TokenIndex {
    pairs: HashMap<Box<[u8]>, Target>,
}

impl TokenIndex {
    /// Whether `needle` (lower-cased) belongs here: the scanner cuts it out whole, as `boundary`.
    pub fn accepts(needle: &[u8], boundary: Boundary) -> bool {
        if !matches!(boundary, Boundary::Email | Boundary::Number | Boundary::Hex) {
            return false;
        }
        let mut whole = false;
        scan(needle, false, |t| {
            whole |= t.start == 0 && t.end == needle.len() && t.boundary == boundary;
            whole
        });
        whole
    }

    pub fn insert(&mut self, needle: Vec<u8>, replacement: Vec<u8>, boundary: Boundary) {
        self.pairs
            .insert(needle.into(), (replacement.into(), boundary));
    }

    pub fn contains(&self, needle: &[u8]) -> bool {
        self.pairs.contains_key(needle)
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    fn lookup<'a>(&'a self, hay: &[u8], t: Token, key: &mut Vec<u8>) -> Option<&'a [u8]> {
        key.clear();
        key.extend(hay[t.start..t.end].iter().map(u8::to_ascii_lowercase));
        self.pairs
            .get(key.as_slice())
            .filter(|(_, b)| *b == t.boundary)
            .map(|(r, _)| &r[..])
    }

    /// Whether a needle occurs in `hay` as a token, also when `hay` is still dump-escaped.
    pub fn has_candidate(&self, hay: &[u8]) -> bool {
        if self.pairs.is_empty() {
            return false;
        }
        let mut key = Vec::new();
        scan(hay, true, |t| self.lookup(hay, t, &mut key).is_some())
    }

    /// Every accepted occurrence: `(start, end, replacement)`, by start, not overlapping.
    pub fn matches<'a>(&'a self, hay: &[u8]) -> Vec<(usize, usize, &'a [u8])> {
        let mut found = Vec::new();
        if self.pairs.is_empty() {
            return found;
        }
        let mut key = Vec::new();
        scan(hay, false, |t| {
            if let Some(r) = self.lookup(hay, t, &mut key) {
                found.push((t.start, t.end, r));
            }
            false
        });
        found.sort_by_key(|&(s, e, _)| (s, std::cmp::Reverse(e)));
        let mut taken: Vec<(usize, usize, &[u8])> = Vec::with_capacity(found.len());
        for m in found {
            if taken.last().is_none_or(|last| m.0 >= last.1) {
                taken.push(m);
            }
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every occurrence of every needle that its boundary accepts (the automaton's rule).
    fn reference(needles: &[(&[u8], Boundary)], hay: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (needle, boundary) in needles {
            for s in 0..hay.len().saturating_sub(needle.len() - 1) {
                let e = s + needle.len();
                if hay[s..e].eq_ignore_ascii_case(needle) && boundary.accepts(hay, s, e) {
                    out.push((s, e));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn tokens_are_exactly_the_accepted_occurrences() {
        let needles: [(&[u8], Boundary); 6] = [
            (b"bob@x.test", Boundary::Email),
            (b"b%40x.t", Boundary::Email),
            (b"1.2.3.4", Boundary::Number),
            (b"2.3", Boundary::Number),
            (b"a:1::2", Boundary::Hex),
            (b"1:2", Boundary::Hex),
        ];
        let mut index = TokenIndex::default();
        for (n, b) in needles {
            assert!(TokenIndex::accepts(n, b), "{}", String::from_utf8_lossy(n));
            index.insert(n.to_vec(), b"R".to_vec(), b);
        }
        assert!(!TokenIndex::accepts(b"bob@x.test.", Boundary::Email));
        assert!(!TokenIndex::accepts(b"555 0100", Boundary::Number));
        assert!(!TokenIndex::accepts(b"Ann Lee", Boundary::Word));
        let alphabet = b"bob@xtes.%40123:aB-_ \\n";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let mut hay = Vec::new();
            for _ in 0..next() % 12 {
                // Often a whole needle, otherwise one byte.
                let r = next();
                if r % 4 == 0 {
                    hay.extend_from_slice(needles[(r / 4 % 6) as usize].0);
                } else {
                    hay.push(alphabet[(r / 4 % alphabet.len() as u64) as usize]);
                }
            }
            let mut key = Vec::new();
            let mut got = Vec::new();
            scan(&hay, false, |t| {
                if index.lookup(&hay, t, &mut key).is_some() {
                    got.push((t.start, t.end));
                }
                false
            });
            got.sort();
            got.dedup();
            let want = reference(&needles, &hay);
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&hay));
            if !want.is_empty() {
                assert!(index.has_candidate(&hay));
            }
        }
    }
}
