//! PHP `serialize()` data: recognising it and rewriting the strings inside it structurally.
//!
//! This file owns the serialized grammar (`N;`, `b:`, `i:`, `d:`, `s:N:"…";`, `S:`, `a:N:{…}`,
//! `O:len:"Class":N:{…}`, `C:len:"Class":N:{payload}`, `E:len:"Enum:Case";`, `r:`/`R:`). Nothing
//! is ever instantiated: class names are bytes. Lengths are **byte** lengths, so multibyte UTF-8
//! and non-UTF-8 content both work. Only string *values* (and `C:` payloads) are rewritten, through
//! the [`Rewriter`] again, so a string that itself holds serialized data (`maybe_serialize`) is
//! fixed at every level; array keys and property names are kept as they are (as WP-CLI does).
//! Everything the rewrite does not change is copied byte-for-byte from the source.
//!
//! A parse error anywhere is reported as [`Malformed`]; the caller then leaves the whole value
//! unchanged.

use std::ops::Range;

use super::rewriter::{Counts, Rewriter};

/// The value looked serialized but is not well-formed (wrong length, truncated, too deep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Deepest nesting accepted in one value, counting arrays/objects and serialized-inside-a-string
/// levels together, so the recursion (and the stack of the thread running it) stays bounded
/// whatever the input. Deeper values are malformed.
pub(crate) const MAX_DEPTH: usize = 128;

/// PHP `trim()` characters, as WordPress's `is_serialized()` trims before looking.
fn is_trim_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | 0x0b)
}

/// WordPress's strict `is_serialized()`, on bytes: returns the trimmed range when the value claims
/// to be serialized data (so a failure to parse it means it is malformed, not plain text).
pub(crate) fn looks_serialized(value: &[u8]) -> Option<Range<usize>> {
    let start = value.iter().position(|&b| !is_trim_byte(b))?;
    let end = value.iter().rposition(|&b| !is_trim_byte(b))? + 1;
    let t = &value[start..end];
    if t == b"N;" {
        return Some(start..end);
    }
    if t.len() < 4 || t[1] != b':' {
        return None;
    }
    let last = t[t.len() - 1];
    if last != b';' && last != b'}' {
        return None;
    }
    let digits_then_colon = || {
        let n = t[2..].iter().take_while(|b| b.is_ascii_digit()).count();
        n > 0 && t.get(2 + n) == Some(&b':')
    };
    let ok = match t[0] {
        b's' => last == b';' && t[t.len() - 2] == b'"' && digits_then_colon(),
        b'a' | b'O' | b'C' | b'E' => digits_then_colon(),
        b'b' | b'i' | b'd' => {
            last == b';'
                && t[2..t.len() - 1]
                    .iter()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'E' | b'+' | b'-'))
        }
        _ => false,
    };
    ok.then_some(start..end)
}

/// The byte length of a well-formed serialized value at the start of `src`, if there is one.
/// Only the syntax is checked (string contents are not looked into).
pub(crate) fn measure(src: &[u8]) -> Option<usize> {
    let mut w = Walker::new(src, None, 0);
    w.value().ok().map(|()| w.pos)
}

/// Rewrites the serialized value that spans all of `src`, appending it to `out`; returns the
/// number of replacements. On error `out` may hold partial output: the caller discards it.
pub(crate) fn rewrite(
    src: &[u8],
    out: &mut Vec<u8>,
    rewriter: &Rewriter,
    depth: usize,
) -> Result<Counts, Malformed> {
    let mut w = Walker::new(src, Some((out, rewriter)), depth);
    w.value()?;
    if w.pos != src.len() {
        return Err(Malformed);
    }
    w.flush(src.len());
    Ok(w.replacements)
}

/// A recursive-descent walk over one serialized value; with an output it also rewrites.
struct Walker<'s, 'o> {
    src: &'s [u8],
    pos: usize,
    /// Source bytes before this index have been appended to the output.
    copied: usize,
    sink: Option<(&'o mut Vec<u8>, &'o Rewriter)>,
    /// Current nesting depth (containers and string levels, including the enclosing ones).
    depth: usize,
    replacements: Counts,
}

impl<'s, 'o> Walker<'s, 'o> {
    fn new(src: &'s [u8], sink: Option<(&'o mut Vec<u8>, &'o Rewriter)>, depth: usize) -> Self {
        Walker {
            src,
            pos: 0,
            copied: 0,
            sink,
            depth,
            replacements: Counts::default(),
        }
    }

    fn value(&mut self) -> Result<(), Malformed> {
        let tag = *self.src.get(self.pos).ok_or(Malformed)?;
        match tag {
            b'N' => self.lit(b"N;"),
            b'b' | b'i' => {
                self.tag_colon()?;
                self.int()?;
                self.lit(b";")
            }
            b'd' => {
                self.tag_colon()?;
                self.float()?;
                self.lit(b";")
            }
            b'r' | b'R' => {
                self.tag_colon()?;
                self.uint()?;
                self.lit(b";")
            }
            b's' => self.string(true),
            b'S' => self.escaped_string(),
            b'a' => {
                self.tag_colon()?;
                let n = self.uint()?;
                self.lit(b":{")?;
                self.members(n)?;
                self.lit(b"}")
            }
            b'O' => {
                self.tag_colon()?;
                self.class_name()?;
                self.lit(b":")?;
                let n = self.uint()?;
                self.lit(b":{")?;
                self.members(n)?;
                self.lit(b"}")
            }
            b'C' => self.custom(),
            b'E' => {
                self.tag_colon()?;
                let n = self.uint()?;
                self.lit(b":\"")?;
                self.skip(n)?;
                self.lit(b"\";")
            }
            _ => Err(Malformed),
        }
    }

    /// `n` key/value pairs of an array or object. Keys are kept verbatim.
    fn members(&mut self, n: usize) -> Result<(), Malformed> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Malformed);
        }
        for _ in 0..n {
            match self.src.get(self.pos) {
                Some(b'i') => {
                    self.tag_colon()?;
                    self.int()?;
                    self.lit(b";")?;
                }
                Some(b's') => self.string(false)?,
                _ => return Err(Malformed),
            }
            self.value()?;
        }
        self.depth -= 1;
        Ok(())
    }

    /// `s:N:"…";` — rewritten (with a new length) when `rewrite` and it holds a candidate.
    fn string(&mut self, rewrite: bool) -> Result<(), Malformed> {
        let token = self.pos;
        self.tag_colon()?;
        let n = self.uint()?;
        self.lit(b":\"")?;
        let content = self.pos..self.skip(n)?;
        self.lit(b"\";")?;
        if rewrite {
            let header = |len: usize| format!("s:{len}:\"").into_bytes();
            self.rewrite_part(token, content, header, b"\";")?;
        }
        Ok(())
    }

    /// `C:len:"Class":N:{payload}` — the payload is class-defined text, rewritten like any value.
    fn custom(&mut self) -> Result<(), Malformed> {
        let token = self.pos;
        self.tag_colon()?;
        self.class_name()?;
        self.lit(b":")?;
        let head_end = self.pos;
        let n = self.uint()?;
        self.lit(b":{")?;
        let payload = self.pos..self.skip(n)?;
        self.lit(b"}")?;
        let src = self.src;
        let head = &src[token..head_end];
        let header = |len: usize| [head, format!("{len}:{{").as_bytes()].concat();
        self.rewrite_part(token, payload, header, b"}")
    }

    /// Rewrites `src[content]` through the rewriter; if anything changed, replaces the source
    /// bytes `token..self.pos` by `header(new_len) + new content + trailer`.
    fn rewrite_part(
        &mut self,
        token: usize,
        content: Range<usize>,
        header: impl FnOnce(usize) -> Vec<u8>,
        trailer: &[u8],
    ) -> Result<(), Malformed> {
        let Some((out, rewriter)) = self.sink.as_mut() else {
            return Ok(());
        };
        let bytes = &self.src[content];
        if !rewriter.may_contain_match(bytes) {
            return Ok(());
        }
        out.extend_from_slice(&self.src[self.copied..token]);
        self.copied = token;
        let mark = out.len();
        let n = rewriter.rewrite_into(bytes, out, self.depth + 1)?;
        if n.is_zero() {
            out.truncate(mark);
            return Ok(());
        }
        let len = out.len() - mark;
        out.splice(mark..mark, header(len));
        out.extend_from_slice(trailer);
        self.copied = self.pos;
        self.replacements += n;
        Ok(())
    }

    /// `S:N:"…";` — PHP's escaped string (`\xx` hex escapes count as one byte). Kept verbatim.
    fn escaped_string(&mut self) -> Result<(), Malformed> {
        self.tag_colon()?;
        let n = self.uint()?;
        self.lit(b":\"")?;
        for _ in 0..n {
            match self.src.get(self.pos) {
                Some(b'\\') => {
                    let hex = self.src.get(self.pos + 1..self.pos + 3).ok_or(Malformed)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(Malformed);
                    }
                    self.pos += 3;
                }
                Some(_) => self.pos += 1,
                None => return Err(Malformed),
            }
        }
        self.lit(b"\";")
    }

    /// `len:"Class"` of objects and custom objects.
    fn class_name(&mut self) -> Result<(), Malformed> {
        let n = self.uint()?;
        self.lit(b":\"")?;
        self.skip(n)?;
        self.lit(b"\"")
    }

    /// Consumes the tag byte and the colon after it.
    fn tag_colon(&mut self) -> Result<(), Malformed> {
        if self.src.get(self.pos + 1) != Some(&b':') {
            return Err(Malformed);
        }
        self.pos += 2;
        Ok(())
    }

    fn lit(&mut self, expected: &[u8]) -> Result<(), Malformed> {
        if self.src[self.pos..].starts_with(expected) {
            self.pos += expected.len();
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    /// Skips `n` bytes; returns the new position.
    fn skip(&mut self, n: usize) -> Result<usize, Malformed> {
        let end = self.pos.checked_add(n).ok_or(Malformed)?;
        if end > self.src.len() {
            return Err(Malformed);
        }
        self.pos = end;
        Ok(end)
    }

    fn digits(&mut self) -> Result<&'s [u8], Malformed> {
        let start = self.pos;
        let n = self.src[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if n == 0 {
            return Err(Malformed);
        }
        self.pos += n;
        Ok(&self.src[start..start + n])
    }

    fn uint(&mut self) -> Result<usize, Malformed> {
        let digits = self.digits()?;
        digits.iter().try_fold(0usize, |acc, &d| {
            acc.checked_mul(10)
                .and_then(|v| v.checked_add(usize::from(d - b'0')))
                .ok_or(Malformed)
        })
    }

    fn int(&mut self) -> Result<(), Malformed> {
        if matches!(self.src.get(self.pos), Some(b'+' | b'-')) {
            self.pos += 1;
        }
        self.digits().map(|_| ())
    }

    fn float(&mut self) -> Result<(), Malformed> {
        let rest = &self.src[self.pos..];
        for special in [&b"NAN"[..], b"-INF", b"INF"] {
            if rest.starts_with(special) {
                self.pos += special.len();
                return Ok(());
            }
        }
        let n = rest
            .iter()
            .take_while(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
            .count();
        if n == 0 {
            return Err(Malformed);
        }
        self.pos += n;
        Ok(())
    }

    fn flush(&mut self, upto: usize) {
        if let Some((out, _)) = self.sink.as_mut() {
            out.extend_from_slice(&self.src[self.copied..upto]);
            self.copied = upto;
        }
    }
}
