//! Binary values (`bytea`, BLOB, VARBINARY): rewritten like text — serialized-aware, lengths
//! fixed — only when their bytes are valid UTF-8 (PHP-serialized data or text a plugin stored in
//! a binary column); any other bytes are left exactly as they are, even when they happen to
//! contain the production host. Also the hex forms the dump tools write bytes in: `\x4142`
//! (`bytea` text output) and `0x4142` (`mysqldump --hex-blob`).

use std::borrow::Cow;

use super::rewriter::{Outcome, Rewriter};

/// Rewrites the real bytes of a binary value. `None` when they hold a candidate host but are
/// not UTF-8, so they were left unchanged.
pub(crate) fn rewrite_binary<'a>(rewriter: &Rewriter, bytes: &'a [u8]) -> Option<Outcome<'a>> {
    if rewriter.may_contain_match(bytes) && std::str::from_utf8(bytes).is_err() {
        return None;
    }
    Some(rewriter.rewrite_value(bytes))
}

/// The outcome with a changed value written by `encode` (the dump's form for bytes: hex).
pub(crate) fn reencoded<'a>(
    outcome: Outcome<'a>,
    encode: impl FnOnce(&[u8], &mut Vec<u8>),
) -> Outcome<'a> {
    if !outcome.changed() {
        return outcome;
    }
    let mut text = Vec::with_capacity(2 + 2 * outcome.value.len());
    encode(&outcome.value, &mut text);
    Outcome {
        value: Cow::Owned(text),
        ..outcome
    }
}

const NOT_HEX: u8 = 0xff;

const HEX_VALUE: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Appends the bytes of hex digit pairs; false (with `out` partly written) when `hex` has an odd
/// length or a byte that is not a hex digit.
pub(crate) fn decode_hex(hex: &[u8], out: &mut Vec<u8>) -> bool {
    if !hex.len().is_multiple_of(2) {
        return false;
    }
    out.reserve(hex.len() / 2);
    for pair in hex.chunks_exact(2) {
        let (hi, lo) = (
            HEX_VALUE[usize::from(pair[0])],
            HEX_VALUE[usize::from(pair[1])],
        );
        if hi == NOT_HEX || lo == NOT_HEX {
            return false;
        }
        out.push(hi << 4 | lo);
    }
    true
}

/// Appends `bytes` as hex digit pairs.
pub(crate) fn encode_hex(bytes: &[u8], upper: bool, out: &mut Vec<u8>) {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(digits[usize::from(b >> 4)]);
        out.push(digits[usize::from(b & 0x0f)]);
    }
}

/// Appends the bytes of a `bytea` in PostgreSQL's text output: the hex format (`\x4142`, the
/// default `bytea_output`) or the escape format (`\\` for a backslash, `\ooo` octal for other
/// bytes, printable bytes as they are). False when `text` is neither.
pub(crate) fn decode_bytea(text: &[u8], out: &mut Vec<u8>) -> bool {
    if let Some(hex) = text.strip_prefix(b"\\x") {
        return decode_hex(hex, out);
    }
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'\\', &text[i..]) {
        out.extend_from_slice(&text[i..i + off]);
        i += off;
        let rest = &text[i + 1..];
        if rest.first() == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if rest.len() >= 3 && rest[..3].iter().all(|d| matches!(d, b'0'..=b'7')) {
            let v = rest[..3]
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            let Ok(byte) = u8::try_from(v) else {
                return false;
            };
            out.push(byte);
            i += 4;
        } else {
            return false;
        }
    }
    out.extend_from_slice(&text[i..]);
    true
}

/// Appends `bytes` as a `bytea` hex literal (`\x` + lower-case hex), which PostgreSQL reads
/// whatever its `bytea_output`.
pub(crate) fn encode_bytea(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"\\x");
    encode_hex(bytes, false, out);
}

#[cfg(test)]
mod tests {
    use super::super::rule::{Options, Rule};
    use super::*;

    fn bytea(text: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        decode_bytea(text, &mut out).then_some(out)
    }

    #[test]
    fn hex_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255u8).collect();
        for upper in [false, true] {
            let mut hex = Vec::new();
            encode_hex(&all, upper, &mut hex);
            let mut back = Vec::new();
            assert!(decode_hex(&hex, &mut back));
            assert_eq!(back, all);
        }
        let mut out = Vec::new();
        assert!(!decode_hex(b"abc", &mut out));
        assert!(!decode_hex(b"zz", &mut out));
        let mut text = Vec::new();
        encode_bytea(&all, &mut text);
        assert_eq!(bytea(&text).unwrap(), all);
    }

    #[test]
    fn bytea_text_in_both_output_formats() {
        assert_eq!(bytea(br"\x6869").unwrap(), b"hi");
        assert_eq!(bytea(br"\x").unwrap(), b"");
        assert_eq!(bytea(br"a\\b\000\377z").unwrap(), b"a\\b\0\xffz");
        assert_eq!(bytea(b"plain").unwrap(), b"plain");
        assert_eq!(bytea(br"\x6"), None);
        assert_eq!(bytea(br"bad\q"), None);
        assert_eq!(bytea(br"bad\400"), None);
        assert_eq!(bytea(b"end\\"), None);
    }

    #[test]
    fn only_utf8_bytes_are_rewritten() {
        let rw = Rewriter::new(
            &[Rule::parse("https://example.com", "https://staging.example.com").unwrap()],
            Options::default(),
        );
        let s = "a:1:{s:3:\"url\";s:19:\"https://example.com\";}";
        let out = rewrite_binary(&rw, s.as_bytes()).unwrap();
        assert_eq!(
            &*out.value,
            b"a:1:{s:3:\"url\";s:27:\"https://staging.example.com\";}"
        );
        // NUL bytes (protected members) are UTF-8 too.
        let o = b"O:1:\"A\":1:{s:6:\"\0*\0url\";s:19:\"https://example.com\";}";
        assert!(rewrite_binary(&rw, o).unwrap().changed());
        assert!(rewrite_binary(&rw, b"\xff\xfe https://example.com").is_none());
        let none = rewrite_binary(&rw, b"\xff\xfe no host").unwrap();
        assert!(!none.changed());
    }
}
