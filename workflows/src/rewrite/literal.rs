//! Literal pairs: fixed strings replaced by fixed strings wherever they stand alone in a value
//! (anonymization: every collected e-mail, IP, phone number and full name → its fake).
//!
//! This file owns the search: all needles are compiled into one Aho-Corasick automaton
//! (ASCII-case-insensitive, leftmost-longest), so a value without any needle costs one scan
//! whatever the number of pairs. A hit counts only when it is not glued to its surroundings, as
//! its [`Boundary`] says (`bob@x.test` is not inside `jimbob@x.test`, `10.0.0.1` not inside
//! `10.0.0.12`). It knows nothing about serialization: the [`super::Rewriter`] calls it on text
//! pieces and fixes serialized lengths around it, exactly as for URLs.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};

use super::error::RewriteError;

/// What may not touch a needle on either side for a hit to count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Boundary {
    /// Words (names): no letter, digit or `_` either side; any non-ASCII byte counts as a letter.
    Word,
    /// E-mail addresses: no local-part character before (`a-z0-9._%+-`), no domain character after
    /// (`a-z0-9-_`, or a `.` followed by one).
    Email,
    /// Numbers (IPv4 addresses, phone numbers): no digit either side, nor a `.` next to a digit.
    Number,
    /// IPv6 addresses: no hex digit, `:` or `.` either side.
    Hex,
}

impl Boundary {
    fn accepts(self, hay: &[u8], start: usize, end: usize) -> bool {
        let before = start.checked_sub(1).map(|i| hay[i]);
        let after = hay.get(end).copied();
        let after2 = hay.get(end + 1).copied();
        let before2 = start.checked_sub(2).map(|i| hay[i]);
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
        let digit = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_digit());
        match self {
            Boundary::Word => !before.is_some_and(word) && !after.is_some_and(word),
            Boundary::Email => {
                let local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
                let domain = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
                let longer_domain =
                    after == Some(b'.') && after2.is_some_and(|b| b.is_ascii_alphanumeric());
                let glued = before.is_some_and(local) || after.is_some_and(domain);
                !(glued || longer_domain)
            }
            Boundary::Number => {
                let glued = digit(before) || digit(after);
                let dotted = (before == Some(b'.') && digit(before2))
                    || (after == Some(b'.') && digit(after2));
                !(glued || dotted)
            }
            Boundary::Hex => {
                let hex = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
                !before.is_some_and(hex) && !after.is_some_and(hex)
            }
        }
    }
}

/// Collects pairs before compiling them.
#[derive(Debug, Default)]
pub struct LiteralsBuilder {
    /// Lower-cased needle → (replacement, boundary); the first pair for a needle wins.
    pairs: HashMap<Vec<u8>, (Vec<u8>, Boundary)>,
}

impl LiteralsBuilder {
    /// Adds `needle` → `replacement`. Needles are matched ASCII-case-insensitively; empty
    /// needles and needles equal to their replacement are ignored.
    pub fn add(&mut self, needle: &[u8], replacement: &[u8], boundary: Boundary) -> &mut Self {
        if !needle.is_empty() && !needle.eq_ignore_ascii_case(replacement) {
            self.pairs
                .entry(needle.to_ascii_lowercase())
                .or_insert_with(|| (replacement.to_vec(), boundary));
        }
        self
    }

    /// How many distinct needles were added.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no needle was added.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Compiles the automaton.
    pub fn build(self) -> Result<Literals, RewriteError> {
        let mut needles = Vec::with_capacity(self.pairs.len());
        let mut targets = Vec::with_capacity(self.pairs.len());
        for (needle, target) in self.pairs {
            needles.push(needle);
            targets.push(target);
        }
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&needles)
            .map_err(|e| RewriteError::Literals(e.to_string()))?;
        Ok(Literals { automaton, targets })
    }
}

/// Compiled literal pairs. Cheap to share between threads.
#[derive(Clone, Debug)]
pub struct Literals {
    automaton: AhoCorasick,
    /// Replacement and boundary, by pattern index.
    targets: Vec<(Vec<u8>, Boundary)>,
}

impl Literals {
    /// A builder.
    pub fn builder() -> LiteralsBuilder {
        LiteralsBuilder::default()
    }

    /// How many needles.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no needles.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Whether any needle occurs in `hay` (boundaries not checked: a necessary condition).
    pub fn has_candidate(&self, hay: &[u8]) -> bool {
        !self.targets.is_empty() && self.automaton.is_match(hay)
    }

    /// Appends `hay` to `out` with every accepted occurrence replaced; returns how many.
    pub fn replace_into(&self, hay: &[u8], out: &mut Vec<u8>) -> usize {
        let mut cursor = 0;
        let mut count = 0;
        for found in self.automaton.find_iter(hay) {
            let (replacement, boundary) = &self.targets[found.pattern().as_usize()];
            if !boundary.accepts(hay, found.start(), found.end()) {
                continue;
            }
            out.extend_from_slice(&hay[cursor..found.start()]);
            out.extend_from_slice(replacement);
            cursor = found.end();
            count += 1;
        }
        out.extend_from_slice(&hay[cursor..]);
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literals(pairs: &[(&str, &str, Boundary)]) -> Literals {
        let mut b = Literals::builder();
        for (n, r, k) in pairs {
            b.add(n.as_bytes(), r.as_bytes(), *k);
        }
        b.build().unwrap()
    }

    fn replace(l: &Literals, hay: &str) -> (String, usize) {
        let mut out = Vec::new();
        let n = l.replace_into(hay.as_bytes(), &mut out);
        (String::from_utf8(out).unwrap(), n)
    }

    #[test]
    fn emails_are_replaced_case_insensitively_and_only_whole() {
        let l = literals(&[("bob@x.test", "u1@example.invalid", Boundary::Email)]);
        assert_eq!(
            replace(&l, "mail BOB@X.test, or <bob@x.test>."),
            (
                "mail u1@example.invalid, or <u1@example.invalid>.".into(),
                2
            )
        );
        for untouched in [
            "jimbob@x.test",
            "bob@x.testing",
            "bob@x.test.au",
            "bob@x.test-2",
        ] {
            assert_eq!(replace(&l, untouched), (untouched.into(), 0), "{untouched}");
        }
        assert!(
            l.has_candidate(b"jimbob@x.test"),
            "a candidate, rejected later"
        );
        assert!(!l.has_candidate(b"nothing here"));
    }

    #[test]
    fn numbers_words_and_hex_respect_their_boundaries() {
        let l = literals(&[
            ("81.2.69.142", "192.0.2.7", Boundary::Number),
            ("Zebulon Quartermaine", "Kavoru Tesima", Boundary::Word),
            ("2a02:8071::1", "2001:db8::7", Boundary::Hex),
        ]);
        assert_eq!(
            replace(
                &l,
                "ip 81.2.69.142. by zebulon quartermaine; v6 2a02:8071::1"
            ),
            ("ip 192.0.2.7. by Kavoru Tesima; v6 2001:db8::7".into(), 3)
        );
        for untouched in [
            "181.2.69.142",
            "81.2.69.1420",
            "81.2.69.142.5",
            "Zebulon Quartermaines",
            "Zebulon Quartermaineü",
            "2a02:8071::10",
        ] {
            assert_eq!(replace(&l, untouched).1, 0, "{untouched}");
        }
    }

    #[test]
    fn the_longest_needle_wins_and_empty_needles_are_ignored() {
        let l = literals(&[
            ("ann@x.test", "a@example.invalid", Boundary::Email),
            ("mary-ann@x.test", "m@example.invalid", Boundary::Email),
            ("", "nothing", Boundary::Word),
        ]);
        assert_eq!(l.len(), 2);
        assert_eq!(replace(&l, "mary-ann@x.test").0, "m@example.invalid");
    }
}
