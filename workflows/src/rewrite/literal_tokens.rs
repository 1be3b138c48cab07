//! Needles with a syntax (e-mail addresses, dotted numbers such as IPv4 addresses, IPv6
//! addresses, names made of words) found without an automaton: a small scanner cuts the text into the only tokens
//! such a needle could be accepted as, and a hash map keyed by a keyed 64-bit hash of the
//! lower-cased token says whether it is one, and where its replacement lies in one shared buffer
//! (memory: ~17 bytes of map plus the replacement's bytes per needle; the needle itself is not
//! kept). Two different tokens collide with a probability of about n / 2⁶⁴ per token looked up
//! (n needles; the hash key is random per process): a collision replaces a value that was not
//! collected, never leaves a collected one in place.
//!
//! An e-mail stands for both its spellings, `a@b.test` and the URL-encoded `a%40b.test`: one
//! entry, keyed by the `@` spelling; a `%40` occurrence gets the replacement with each `@`
//! written `%40`.
//!
//! The tokens are exactly the accepted occurrences of [`Boundary`]: a needle is put here only
//! when scanning the needle alone yields the needle itself as a token ([`TokenIndex::insert`]
//! refuses the others, which stay in the automaton). Then an occurrence in a text passes its
//! boundary check if and only if the scanner yields it as a token:
//! - [`Boundary::Email`]: around each `@` (or `%40`), the run of local-part characters (and
//!   UTF-8 bytes) before, from its start or from just after any UTF-8 byte, and the run of
//!   domain characters after (a `.` only when followed by a letter or digit).
//! - [`Boundary::Number`]: runs of digits and single dots, with at least one dot.
//! - [`Boundary::Hex`]: runs of hex digits, `:` and `.`, with at least one `:`.
//! - [`Boundary::Word`] (names that begin and end with a word byte): from the start of a run of
//!   word bytes to the end of the same or a later run (a name's own separators lie between its
//!   runs), up to the longest name's run count and length. A bitmap of the names' first words
//!   skips most starts without hashing.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

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
    /// An e-mail's separator: where it starts, and whether it is `%40` rather than `@`.
    pub at: usize,
    pub encoded: bool,
}

/// Calls `f` with every token of `hay` (tokens may overlap) until it returns `true`; with
/// `words`, also the word sequences that may be a name. With `escaped`, also tokens starting
/// 1 to 3 bytes later when the run is preceded by a backslash (`\n`, `\0` of a dump-escaped
/// text glued to a needle).
fn scan(
    hay: &[u8],
    escaped: bool,
    words: Option<&Words>,
    mut f: impl FnMut(Token) -> bool,
) -> bool {
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
        // The local part may hold UTF-8 (`rémi@…`); a non-ASCII byte is no boundary for the
        // Email rule, so a token may also start right after one (`«bob@…`).
        let mut start = at;
        while start > 0 && (local(hay[start - 1]) || hay[start - 1] >= 0x80) {
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
        let after_utf8 = (start + 1..at).filter(|&s| hay[s - 1] >= 0x80);
        for s in starts(start, at - 1).chain(after_utf8) {
            if f(Token {
                start: s,
                end,
                boundary: Boundary::Email,
                at,
                encoded: sep == 3,
            }) {
                return true;
            }
        }
    }
    // Dotted numbers and IPv6 addresses: runs of hex digits, `:` and `.`, found from their
    // `.` or `:` (a run without either cuts no token).
    let mut i = 0;
    while let Some(anchor) = memchr::memchr2(b'.', b':', &hay[i..]).map(|p| p + i) {
        let mut run_start = anchor;
        while run_start > i && hexish(hay[run_start - 1]) {
            run_start -= 1;
        }
        i = anchor + 1;
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
                    at: 0,
                    encoded: false,
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
                        at: 0,
                        encoded: false,
                    }) {
                        return true;
                    }
                }
            }
        }
    }
    // Names: from the start of a word run whose first word may begin a name, through each
    // following run, as far as the longest name goes.
    let Some(words) = words else {
        return false;
    };
    let mut i = 0;
    while i < hay.len() {
        if !word(hay[i]) {
            i += 1;
            continue;
        }
        let run_start = i;
        while i < hay.len() && word(hay[i]) {
            i += 1;
        }
        for s in starts(run_start, i - 1) {
            if !words.may_begin(&hay[s..i]) {
                continue;
            }
            let (mut end, mut runs) = (i, 1);
            loop {
                if runs >= words.min_runs
                    && f(Token {
                        start: s,
                        end,
                        boundary: Boundary::Word,
                        at: 0,
                        encoded: false,
                    })
                {
                    return true;
                }
                if runs == words.max_runs {
                    break;
                }
                let Some(next) = hay[end..].iter().position(|b| word(*b)) else {
                    break;
                };
                let next_start = end + next;
                let next_end = hay[next_start..]
                    .iter()
                    .position(|b| !word(*b))
                    .map_or(hay.len(), |p| next_start + p);
                if next_end - s > words.max_len
                    || (runs == 1 && !words.may_continue(&hay[s..i], &hay[next_start..next_end]))
                {
                    break;
                }
                (end, runs) = (next_end, runs + 1);
            }
        }
    }
    false
}

/// Bytes of a word (as the Word boundary defines it: any non-ASCII byte counts as a letter).
fn word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The shape of the names in the index: what the scanner needs to cut word sequences.
#[derive(Clone, Debug)]
struct Words {
    /// One bit per hash of a lower-cased first word (a cheap filter: most words of a text
    /// begin no name).
    first: Vec<u64>,
    /// One bit per hash of a lower-cased first and second word (names of two runs or more).
    second: Vec<u64>,
    min_runs: usize,
    max_runs: usize,
    max_len: usize,
}

/// Bits of each of [`Words`]' filters (128 KiB; with 100,000 names about 1 in 10 passes).
const FIRST_BITS: usize = 1 << 20;

impl Default for Words {
    fn default() -> Self {
        Words {
            first: vec![0; FIRST_BITS / 64],
            second: vec![0; FIRST_BITS / 64],
            min_runs: usize::MAX,
            max_runs: 0,
            max_len: 0,
        }
    }
}

impl Words {
    /// FNV-1a of the lower-cased bytes of `parts` (each followed by a 0xff), folded to a bit.
    fn bit(parts: &[&[u8]]) -> usize {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for part in parts {
            for b in part.iter().chain(&[0xff]) {
                h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3);
            }
        }
        (h ^ (h >> 32)) as usize % FIRST_BITS
    }

    fn has(bits: &[u64], bit: usize) -> bool {
        bits[bit / 64] & (1 << (bit % 64)) != 0
    }

    fn may_begin(&self, first: &[u8]) -> bool {
        Self::has(&self.first, Self::bit(&[first]))
    }

    fn may_continue(&self, first: &[u8], second: &[u8]) -> bool {
        Self::has(&self.second, Self::bit(&[first, second]))
    }

    /// Records a name (it begins and ends with a word byte).
    fn add(&mut self, name: &[u8]) {
        let runs: Vec<&[u8]> = name
            .split(|b| !word(*b))
            .filter(|r| !r.is_empty())
            .collect();
        let bit = Self::bit(&runs[..1]);
        self.first[bit / 64] |= 1 << (bit % 64);
        if runs.len() >= 2 {
            let bit = Self::bit(&runs[..2]);
            self.second[bit / 64] |= 1 << (bit % 64);
        }
        self.min_runs = self.min_runs.min(runs.len());
        self.max_runs = self.max_runs.max(runs.len());
        self.max_len = self.max_len.max(name.len());
    }
}

/// The map's keys are already hashes: used as they are.
#[derive(Default, Debug)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Where a replacement lies in [`TokenIndex::fakes`].
#[derive(Clone, Copy, Debug)]
struct Fake {
    start: u32,
    len: u32,
}

/// An accepted occurrence: `[start, end)` and its replacement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hit<'a> {
    pub start: usize,
    pub end: usize,
    pub replacement: &'a [u8],
    /// A `%40` e-mail: each `@` of the replacement is written `%40`.
    pub encoded: bool,
}

impl Hit<'_> {
    pub fn write(&self, out: &mut Vec<u8>) {
        if !self.encoded {
            out.extend_from_slice(self.replacement);
            return;
        }
        for part in self.replacement.split_inclusive(|b| *b == b'@') {
            match part.split_last() {
                Some((b'@', head)) => {
                    out.extend_from_slice(head);
                    out.extend_from_slice(b"%40");
                }
                _ => out.extend_from_slice(part),
            }
        }
    }
}

/// How [`TokenIndex::insert`] went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    Added,
    /// The needle (or its other e-mail spelling) was there already: the first pair wins.
    Present,
    /// The scanner would not cut the needle out whole: it belongs to the automaton.
    NotAToken,
}

/// The needles with a syntax, by keyed hash of their lower-cased spelling.
#[derive(Clone, Debug, Default)]
pub(crate) struct TokenIndex {
    keys: RandomState,
    entries: HashMap<u64, Fake, BuildHasherDefault<Prehashed>>,
    /// Every replacement, back to back.
    fakes: Vec<u8>,
    /// The names' shape (`None`: no name).
    words: Option<Words>,
}

impl TokenIndex {
    /// The key of token `t` of `hay`: lower-cased, an e-mail's `%40` read as `@`, and its kind.
    fn key(&self, hay: &[u8], t: Token, buf: &mut Vec<u8>) -> u64 {
        buf.clear();
        let lower = |bytes: &[u8], buf: &mut Vec<u8>| {
            buf.extend(bytes.iter().map(u8::to_ascii_lowercase));
        };
        if t.boundary == Boundary::Email && t.encoded {
            lower(&hay[t.start..t.at], buf);
            buf.push(b'@');
            lower(&hay[t.at + 3..t.end], buf);
        } else {
            lower(&hay[t.start..t.end], buf);
        }
        let kind = match t.boundary {
            Boundary::Email => 0u8,
            Boundary::Number => 1,
            Boundary::Hex => 2,
            Boundary::Word => 3,
        };
        self.keys.hash_one((kind, buf.as_slice()))
    }

    /// The token that is `needle` whole, cut as `boundary`.
    fn whole(needle: &[u8], boundary: Boundary) -> Option<Token> {
        if !matches!(boundary, Boundary::Email | Boundary::Number | Boundary::Hex) {
            return None;
        }
        let mut whole = None;
        scan(needle, false, None, |t| {
            if t.start == 0 && t.end == needle.len() && t.boundary == boundary {
                whole = Some(t);
            }
            whole.is_some()
        });
        whole
    }

    /// Adds `needle` → `replacement` when the scanner cuts `needle` out whole as `boundary`
    /// (a name: when it begins and ends with a word byte). The replacement of a `%40` e-mail is
    /// stored with `@`.
    pub fn insert(&mut self, needle: &[u8], replacement: &[u8], boundary: Boundary) -> Inserted {
        let token = if boundary == Boundary::Word {
            let edges = [needle.first(), needle.last()];
            if !edges.iter().all(|b| b.is_some_and(|b| word(*b))) {
                return Inserted::NotAToken;
            }
            Token {
                start: 0,
                end: needle.len(),
                boundary,
                at: 0,
                encoded: false,
            }
        } else {
            let Some(token) = Self::whole(needle, boundary) else {
                return Inserted::NotAToken;
            };
            token
        };
        let key = self.key(needle, token, &mut Vec::new());
        if self.entries.contains_key(&key) {
            return Inserted::Present;
        }
        if boundary == Boundary::Word {
            self.words.get_or_insert_with(Words::default).add(needle);
        }
        let stored = if token.encoded {
            std::borrow::Cow::Owned(decode_at(replacement))
        } else {
            std::borrow::Cow::Borrowed(replacement)
        };
        let (Ok(start), Ok(len)) = (u32::try_from(self.fakes.len()), u32::try_from(stored.len()))
        else {
            return Inserted::NotAToken;
        };
        self.fakes.extend_from_slice(&stored);
        self.entries.insert(key, Fake { start, len });
        Inserted::Added
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The replacement for token `t` of `hay`, if it is a needle.
    fn lookup(&self, hay: &[u8], t: Token, buf: &mut Vec<u8>) -> Option<&[u8]> {
        let fake = self.entries.get(&self.key(hay, t, buf))?;
        let start = fake.start as usize;
        Some(&self.fakes[start..start + fake.len as usize])
    }

    /// Whether a needle occurs in `hay` as a token, also when `hay` is still dump-escaped.
    pub fn has_candidate(&self, hay: &[u8]) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        let mut buf = Vec::new();
        scan(hay, true, self.words.as_ref(), |t| {
            self.lookup(hay, t, &mut buf).is_some()
        })
    }

    /// Pushes every accepted occurrence in `hay` onto `found` (in no order; they may overlap).
    pub fn hits<'a>(&'a self, hay: &[u8], found: &mut Vec<Hit<'a>>) {
        if self.entries.is_empty() {
            return;
        }
        let mut buf = Vec::new();
        scan(hay, false, self.words.as_ref(), |t| {
            if let Some(replacement) = self.lookup(hay, t, &mut buf) {
                found.push(Hit {
                    start: t.start,
                    end: t.end,
                    replacement,
                    encoded: t.encoded,
                });
            }
            false
        });
    }
}

/// `bytes` with each `%40` read as `@`.
fn decode_at(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"%40") {
            out.push(b'@');
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every occurrence of every needle that its boundary accepts (the automaton's rule).
    fn reference(needles: &[(&[u8], Boundary)], hay: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut spellings: Vec<(Vec<u8>, Boundary)> = Vec::new();
        for (needle, boundary) in needles {
            spellings.push((needle.to_vec(), *boundary));
            if *boundary == Boundary::Email {
                let at = decode_at(needle);
                let encoded = String::from_utf8_lossy(&at)
                    .replace('@', "%40")
                    .into_bytes();
                spellings.push((at, *boundary));
                spellings.push((encoded, *boundary));
            }
        }
        for (needle, boundary) in &spellings {
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
        let needles: [(&[u8], Boundary); 10] = [
            (b"bob@x.test", Boundary::Email),
            (b"b%40x.t", Boundary::Email),
            (b"1.2.3.4", Boundary::Number),
            (b"2.3", Boundary::Number),
            (b"a:1::2", Boundary::Hex),
            (b"1:2", Boundary::Hex),
            (b"r\xc3\xa9.b@x.test", Boundary::Email),
            (b"bob tes", Boundary::Word),
            (b"x-1", Boundary::Word),
            (b"a_b  c\\n b", Boundary::Word),
        ];
        let mut index = TokenIndex::default();
        for (n, b) in needles {
            assert_eq!(
                index.insert(n, b"R", b),
                Inserted::Added,
                "{}",
                String::from_utf8_lossy(n)
            );
        }
        for (n, b) in [
            (&b"bob@x.test."[..], Boundary::Email),
            (b"555 0100", Boundary::Number),
            (b"Ann Lee.", Boundary::Word),
            (b" Ann", Boundary::Word),
        ] {
            assert_eq!(index.insert(n, b"R", b), Inserted::NotAToken);
        }
        assert_eq!(
            index.insert(b"bob%40x.test", b"S", Boundary::Email),
            Inserted::Present,
            "one entry for both spellings"
        );
        let alphabet = b"bob@xtes.%40123:aB-_ \\n\xc3\xa9\xab";
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
                    hay.extend_from_slice(needles[(r / 4 % needles.len() as u64) as usize].0);
                } else {
                    hay.push(alphabet[(r / 4 % alphabet.len() as u64) as usize]);
                }
            }
            let mut key = Vec::new();
            let mut got = Vec::new();
            scan(&hay, false, index.words.as_ref(), |t| {
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
