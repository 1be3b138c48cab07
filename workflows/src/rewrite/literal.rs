//! Literal pairs: fixed strings replaced by fixed strings wherever they stand alone in a value
//! (anonymization: every collected e-mail, IP, phone number and full name → its fake).
//!
//! This file owns the search: needles with a syntax (e-mails, dotted numbers, IPv6 addresses,
//! names that begin and end with a letter or digit) are looked up by token in a hash map
//! ([`super::literal_tokens`], ~20 bytes per needle plus its replacement); the others (phone
//! numbers with spaces, odd spellings) are compiled into one Aho-Corasick automaton
//! (ASCII-case-insensitive, every overlapping occurrence), so a value without any needle costs
//! one scan whatever the number of pairs. A hit counts only when it is not glued to its
//! surroundings, as its [`Boundary`] says (`bob@x.test` is not inside `jimbob@x.test`,
//! `10.0.0.1` not inside `10.0.0.12`); of overlapping accepted hits, the leftmost, then the
//! longest, wins — a refused occurrence never hides an accepted one it overlaps. It knows
//! nothing about serialization: the [`super::Rewriter`] calls it on text pieces and fixes
//! serialized lengths around it, exactly as for URLs.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};

use super::error::RewriteError;
use super::literal_tokens::{Hit, Inserted, TokenIndex};

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
    pub(crate) fn accepts(self, hay: &[u8], start: usize, end: usize) -> bool {
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

/// Collects pairs before compiling them. Needles with a syntax go straight into their final
/// token index; the others wait for the automaton.
#[derive(Debug, Default)]
pub struct LiteralsBuilder {
    /// Lower-cased needle → (replacement, boundary), for the automaton.
    pairs: HashMap<Vec<u8>, (Vec<u8>, Boundary)>,
    /// The needles with a syntax.
    tokens: TokenIndex,
}

impl LiteralsBuilder {
    /// Adds `needle` → `replacement`. Needles are matched ASCII-case-insensitively; empty
    /// needles and needles equal to their replacement are ignored; the first pair for a needle
    /// wins.
    pub fn add(&mut self, needle: &[u8], replacement: &[u8], boundary: Boundary) -> &mut Self {
        if needle.is_empty() || needle.eq_ignore_ascii_case(replacement) {
            return self;
        }
        let needle = needle.to_ascii_lowercase();
        if self.pairs.contains_key(&needle) {
            return self;
        }
        match self.tokens.insert(&needle, replacement, boundary) {
            Inserted::Added | Inserted::Present => {}
            Inserted::NotAToken => {
                self.pairs.insert(needle, (replacement.to_vec(), boundary));
            }
        }
        self
    }

    /// How many distinct needles were added.
    pub fn len(&self) -> usize {
        self.pairs.len() + self.tokens.len()
    }

    /// Whether no needle was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Compiles the automaton.
    pub fn build(self) -> Result<Literals, RewriteError> {
        let tokens = self.tokens;
        let mut needles = Vec::with_capacity(self.pairs.len());
        let mut targets = Vec::with_capacity(self.pairs.len());
        for (needle, target) in self.pairs {
            needles.push(needle);
            targets.push(target);
        }
        let automaton = if needles.is_empty() {
            None
        } else {
            let automaton = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&needles)
                .map_err(|e| RewriteError::Literals(e.to_string()))?;
            Some(automaton)
        };
        Ok(Literals {
            automaton,
            targets,
            tokens,
        })
    }
}

/// Compiled literal pairs. Cheap to share between threads.
#[derive(Clone, Debug)]
pub struct Literals {
    /// The needles without a syntax (`None`: there are none).
    automaton: Option<AhoCorasick>,
    /// Replacement and boundary, by pattern index.
    targets: Vec<(Vec<u8>, Boundary)>,
    /// The needles with a syntax.
    tokens: TokenIndex,
}

impl Literals {
    /// A builder.
    pub fn builder() -> LiteralsBuilder {
        LiteralsBuilder::default()
    }

    /// How many needles.
    pub fn len(&self) -> usize {
        self.targets.len() + self.tokens.len()
    }

    /// Whether there are no needles.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether any needle may occur in `hay`, also when `hay` is still dump-escaped (a necessary
    /// condition for [`Literals::replace_into`] to replace anything).
    pub fn has_candidate(&self, hay: &[u8]) -> bool {
        self.automaton.as_ref().is_some_and(|a| a.is_match(hay)) || self.tokens.has_candidate(hay)
    }

    /// Appends `hay` to `out` with every accepted occurrence replaced; returns how many.
    pub fn replace_into(&self, hay: &[u8], out: &mut Vec<u8>) -> usize {
        // Every accepted occurrence, overlapping ones included: an occurrence that fails its
        // boundary must not hide an accepted one it overlaps (`kaka lo mi` holds `ka lo`,
        // refused, and maybe `lo mi`).
        let mut hits = Vec::new();
        self.tokens.hits(hay, &mut hits);
        if let Some(automaton) = &self.automaton {
            for found in automaton.find_overlapping_iter(hay) {
                let (replacement, boundary) = &self.targets[found.pattern().as_usize()];
                if boundary.accepts(hay, found.start(), found.end()) {
                    hits.push(Hit {
                        start: found.start(),
                        end: found.end(),
                        replacement,
                        encoded: false,
                    });
                }
            }
        }
        // Leftmost first, then longest; the ones overlapping a taken hit are dropped.
        hits.sort_unstable_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
        let mut cursor = 0;
        let mut count = 0;
        for hit in hits {
            if hit.start < cursor {
                continue;
            }
            out.extend_from_slice(&hay[cursor..hit.start]);
            hit.write(out);
            cursor = hit.end;
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
        assert_eq!(
            replace(&l, "?to=bob%40x.test&cc=Bob%40X.TEST"),
            ("?to=u1%40example.invalid&cc=u1%40example.invalid".into(), 2),
            "the URL-encoded spelling, with the replacement encoded alike"
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
            l.has_candidate(b"x\\nbob@x.test\\t"),
            "still dump-escaped: a candidate"
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

    #[test]
    fn a_refused_occurrence_does_not_hide_an_accepted_one_it_overlaps() {
        // `ka lo` inside `kaka lo` is glued to a letter; `lo mi` right after it is a name.
        // Names ending in punctuation and phones with spaces go through the automaton.
        let l = literals(&[
            ("ka lo", "A B", Boundary::Word),
            ("lo mi", "C D", Boundary::Word),
            ("x. y.", "E F", Boundary::Word),
            ("y. z", "G H", Boundary::Word),
            ("555 01", "+1-202", Boundary::Number),
            ("01 99", "+1-303", Boundary::Number),
        ]);
        assert_eq!(replace(&l, "kaka lo mi"), ("kaka C D".into(), 1));
        assert_eq!(replace(&l, "xx. y. z"), ("xx. G H".into(), 1));
        assert_eq!(replace(&l, "1555 01 99"), ("1555 +1-303".into(), 1));
    }
}
