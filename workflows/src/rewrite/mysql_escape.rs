//! MySQL/MariaDB string-literal escaping as `mysqldump` writes it: decoding a quoted literal's
//! content to its real bytes and encoding new bytes back (`mysql_real_escape_string` rules).

use memchr::memchr2;

/// Appends the real bytes of a string literal's content (between the quotes) to `out`.
///
/// `\0 \' \" \b \n \r \t \Z \\` are the documented escapes; `\%` and `\_` keep their backslash
/// (MySQL keeps it outside LIKE patterns); a backslash before any other byte is dropped. A doubled
/// quote character (`''` inside `'…'`) stands for one quote.
pub(crate) fn decode(content: &[u8], quote: u8, out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(off) = memchr2(b'\\', quote, &content[i..]) {
        out.extend_from_slice(&content[i..i + off]);
        let at = i + off;
        if content[at] == quote {
            out.push(quote);
            i = at
                + if content.get(at + 1) == Some(&quote) {
                    2
                } else {
                    1
                };
            continue;
        }
        let Some(&c) = content.get(at + 1) else {
            out.push(b'\\');
            return;
        };
        match c {
            b'0' => out.push(0),
            b'b' => out.push(0x08),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'Z' => out.push(0x1a),
            b'%' | b'_' => out.extend_from_slice(&[b'\\', c]),
            other => out.push(other),
        }
        i = at + 2;
    }
    out.extend_from_slice(&content[i..]);
}

/// Appends `value` escaped for a literal quoted with `quote`: NUL, `\n`, `\r`, `\`, `'`, `"` and
/// Ctrl-Z get a backslash escape (as `mysqldump` writes them); everything else is written as is.
pub(crate) fn encode(value: &[u8], out: &mut Vec<u8>) {
    out.reserve(value.len() + 8);
    let mut start = 0;
    for (i, &b) in value.iter().enumerate() {
        let esc: &[u8] = match b {
            0 => b"\\0",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\\' => b"\\\\",
            b'\'' => b"\\'",
            b'"' => b"\\\"",
            0x1a => b"\\Z",
            _ => continue,
        };
        out.extend_from_slice(&value[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&value[start..]);
}

/// Whether the escaped content has a backslash before a byte with no special meaning, which
/// stands for that byte and could hide a host name from a plain search (`mysqldump` never writes
/// such escapes).
pub(crate) fn has_identity_escape(raw: &[u8]) -> bool {
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'\\', &raw[i..]) {
        let Some(&c) = raw.get(i + off + 1) else {
            return false;
        };
        if !matches!(
            c,
            b'0' | b'\'' | b'"' | b'b' | b'n' | b'r' | b't' | b'Z' | b'\\' | b'%' | b'_'
        ) {
            return true;
        }
        i += off + 2;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        decode(s, b'\'', &mut v);
        v
    }

    fn enc(s: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode(s, &mut v);
        v
    }

    #[test]
    fn decodes_mysql_escapes() {
        assert_eq!(
            dec(br#"a\0b\'c\"d\be\nf\rg\th\Zi\\j\%k\_l\qm''n"#),
            b"a\0b'c\"d\x08e\nf\rg\th\x1ai\\j\\%k\\_lqm'n"
        );
        assert_eq!(dec(b"end\\"), b"end\\");
        let mut v = Vec::new();
        decode(br#"say ""hi"" it's"#, b'"', &mut v);
        assert_eq!(v, b"say \"hi\" it's");
    }

    #[test]
    fn encodes_like_mysqldump() {
        assert_eq!(
            enc(b"it's \"q\" \\ \n\r\0\x1a\t\x08%_"),
            b"it\\'s \\\"q\\\" \\\\ \\n\\r\\0\\Z\t\x08%_"
        );
    }

    #[test]
    fn round_trips_arbitrary_bytes() {
        let mut all: Vec<u8> = (0..=255u8).collect();
        all.extend_from_slice(b"\\%\\_''\\\\");
        for chunk in [&all[..], b"", b"\\", b"caf\xc3\xa9 \xff\xfe"] {
            let e = enc(chunk);
            assert!(!e.contains(&b'\n'));
            assert_eq!(dec(&e), chunk, "round trip of {chunk:?}");
        }
    }

    #[test]
    fn finds_identity_escapes() {
        assert!(has_identity_escape(br"exampl\e.com"));
        assert!(!has_identity_escape(br"a\\e \n \' \% \_ \Z"));
        assert!(!has_identity_escape(b"trailing\\"));
    }
}
