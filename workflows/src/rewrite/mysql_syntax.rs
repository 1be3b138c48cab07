//! SQL lexing shared by the mysqldump adapter: a byte cursor that skips whitespace and `/* */`
//! comments, keywords, backtick-quoted identifiers, and the bits of `CREATE TABLE` that give a
//! table's column order and which columns hold bytes.

use super::column_kind::ColumnKind;

/// A tiny byte cursor for the statement head and the tuples.
pub(super) struct Cursor<'s> {
    pub(super) s: &'s [u8],
    pub(super) i: usize,
}

impl<'s> Cursor<'s> {
    pub(super) fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Skips whitespace and `/* … */` comments.
    pub(super) fn ws(&mut self) {
        loop {
            while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
                self.i += 1;
            }
            if self.s[self.i..].starts_with(b"/*") {
                match memchr::memmem::find(&self.s[self.i + 2..], b"*/") {
                    Some(off) => self.i += off + 4,
                    None => return,
                }
            } else {
                return;
            }
        }
    }

    /// A keyword.
    pub(super) fn word(&mut self) -> Option<&'s [u8]> {
        self.ws();
        let start = self.i;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        {
            self.i += 1;
        }
        (self.i > start).then(|| &self.s[start..self.i])
    }

    /// A backtick-quoted (with doubled backticks) or bare identifier.
    pub(super) fn ident(&mut self) -> Option<String> {
        self.ws();
        if self.peek() == Some(b'`') {
            let mut name = Vec::new();
            self.i += 1;
            loop {
                match self.peek()? {
                    b'`' if self.s.get(self.i + 1) == Some(&b'`') => {
                        name.push(b'`');
                        self.i += 2;
                    }
                    b'`' => {
                        self.i += 1;
                        return String::from_utf8(name).ok();
                    }
                    b => {
                        name.push(b);
                        self.i += 1;
                    }
                }
            }
        }
        let start = self.i;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
}

/// Parses the column name and kind of a `CREATE TABLE` body line (`` `name` type ...``); `None`
/// for keys, constraints and the closing line. BLOB types and `varbinary` are binary; fixed
/// `binary(n)` is not (its values are padded to their length, which a rewrite cannot keep), nor
/// is anything else.
pub(crate) fn create_table_column(line: &[u8]) -> Option<(String, ColumnKind)> {
    let mut p = Cursor { s: line, i: 0 };
    p.ws();
    if p.peek() != Some(b'`') {
        return None;
    }
    let name = p.ident()?;
    let binary = p.word().is_some_and(|t| {
        [
            &b"tinyblob"[..],
            b"blob",
            b"mediumblob",
            b"longblob",
            b"varbinary",
        ]
        .iter()
        .any(|b| t.eq_ignore_ascii_case(b))
    });
    let kind = if binary {
        ColumnKind::Binary
    } else {
        ColumnKind::Text
    };
    Some((name, kind))
}

/// The table name of a `CREATE TABLE [IF NOT EXISTS] name (` line.
pub(crate) fn create_table_name(line: &[u8]) -> Option<String> {
    let mut p = Cursor { s: line, i: 0 };
    if !p.word()?.eq_ignore_ascii_case(b"CREATE") || !p.word()?.eq_ignore_ascii_case(b"TABLE") {
        return None;
    }
    let save = p.i;
    let is_if = p.word().is_some_and(|w| w.eq_ignore_ascii_case(b"IF"));
    if is_if {
        p.word()?;
        p.word()?;
    } else {
        p.i = save;
    }
    let mut table = p.ident()?;
    while p.peek() == Some(b'.') {
        p.i += 1;
        table = p.ident()?;
    }
    Some(table)
}
