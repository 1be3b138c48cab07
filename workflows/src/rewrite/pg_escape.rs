//! PostgreSQL `COPY ... FROM stdin` text-format field escaping (PostgreSQL docs, "COPY", "Text
//! Format"): decoding a field to its real bytes and encoding it back the way the server's COPY TO
//! does. Quotes are not special in this format and are never escaped.

use memchr::memchr;

/// The field that means NULL.
pub(crate) const NULL_FIELD: &[u8] = b"\\N";

/// Appends the real bytes of one escaped field to `out`.
///
/// `\b \f \n \r \t \v` are control characters, `\` + 1–3 octal digits and `\x` + 1–2 hex digits
/// are bytes, and a backslash before any other byte stands for that byte (so `\\` is `\`).
pub(crate) fn decode(field: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(off) = memchr(b'\\', &field[i..]) {
        out.extend_from_slice(&field[i..i + off]);
        i += off + 1;
        let Some(&c) = field.get(i) else {
            out.push(b'\\');
            return;
        };
        i += 1;
        match c {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match field.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' if field.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let mut v = hex_value(field[i]);
                i += 1;
                if let Some(&d) = field.get(i).filter(|d| d.is_ascii_hexdigit()) {
                    v = v * 16 + hex_value(d);
                    i += 1;
                }
                out.push(v);
            }
            other => out.push(other),
        }
    }
    out.extend_from_slice(&field[i..]);
}

/// Appends `value` escaped for a COPY text field: backslash and the control characters that have
/// a short escape (`\b \f \n \r \t \v`); every other byte is written as is.
pub(crate) fn encode(value: &[u8], out: &mut Vec<u8>) {
    out.reserve(value.len() + 8);
    let mut start = 0;
    for (i, &b) in value.iter().enumerate() {
        let esc: &[u8] = match b {
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x0b => b"\\v",
            _ => continue,
        };
        out.extend_from_slice(&value[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&value[start..]);
}

/// Whether the escaped text uses octal or hex escapes, which could spell a host name that a
/// plain search of the escaped bytes would miss (`pg_dump` never writes them for text).
pub(crate) fn has_numeric_escape(raw: &[u8]) -> bool {
    let mut i = 0;
    while let Some(off) = memchr(b'\\', &raw[i..]) {
        let next = raw.get(i + off + 1).copied();
        if next.is_some_and(|c| c.is_ascii_digit() || c == b'x') {
            return true;
        }
        i += off + 2;
        if i >= raw.len() {
            return false;
        }
    }
    false
}

fn hex_value(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        _ => d - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        decode(s, &mut v);
        v
    }

    fn enc(s: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode(s, &mut v);
        v
    }

    #[test]
    fn decodes_every_escape() {
        assert_eq!(
            dec(br"a\\b\tc\nd\re\bf\fg\vh"),
            b"a\\b\tc\nd\re\x08f\x0cg\x0bh"
        );
        assert_eq!(dec(br"\101\60\0x\1234"), b"A0\0xS4");
        assert_eq!(dec(br"\x41\x4\xZ\xffz"), b"A\x04xZ\xffz");
        assert_eq!(dec(br"\.\'\q"), b".'q");
        assert_eq!(dec(b"trailing\\"), b"trailing\\");
        assert_eq!(dec(b"plain \"quotes\" 'too'"), b"plain \"quotes\" 'too'");
    }

    #[test]
    fn encodes_like_copy_to() {
        assert_eq!(
            enc(b"a\tb\nc\\d\re\x08\x0c\x0b\"'"),
            br#"a\tb\nc\\d\re\b\f\v"'"#
        );
        assert_eq!(enc(b"\\N"), br"\\N");
    }

    #[test]
    fn round_trips_arbitrary_bytes() {
        let mut all: Vec<u8> = (0..=255u8).collect();
        all.extend_from_slice(b"\\\\\t\t\n\\N\\.");
        for chunk in [&all[..], b"", b"\\", b"h\xc3\xa9llo \xe2\x9c\x93"] {
            let e = enc(chunk);
            assert!(!e.contains(&b'\t') && !e.contains(&b'\n'));
            assert_eq!(dec(&e), chunk);
        }
    }

    #[test]
    fn finds_numeric_escapes() {
        assert!(has_numeric_escape(br"ex\141mple"));
        assert!(has_numeric_escape(br"\x65"));
        assert!(!has_numeric_escape(br"a\\x65 \\1 \n\t"));
        assert!(!has_numeric_escape(b"no escapes at all"));
        assert!(!has_numeric_escape(b"ends with \\"));
    }
}
