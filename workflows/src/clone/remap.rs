//! Redirects the rows of a `pg_dump --data-only` stream into another schema: a `COPY public.t`
//! header line becomes `COPY "<schema>".t`. Everything else passes through byte for byte.

use std::io::{self, Write};

/// A writer that rewrites `COPY <from>.` at the start of a line to `COPY "<to>".`.
pub struct CopySchemaRemap<W: Write> {
    inner: W,
    from: Vec<u8>,
    to: Vec<u8>,
    /// Bytes held at the start of a line until we know whether it is a COPY header.
    pending: Vec<u8>,
    at_line_start: bool,
}

impl<W: Write> CopySchemaRemap<W> {
    pub fn new(inner: W, from_schema: &str, to_schema: &str) -> Self {
        CopySchemaRemap {
            inner,
            from: format!("COPY {from_schema}.").into_bytes(),
            to: format!("COPY \"{}\".", to_schema.replace('"', "\"\"")).into_bytes(),
            pending: Vec::new(),
            at_line_start: true,
        }
    }

    fn settle(&mut self) -> io::Result<()> {
        if self.pending.starts_with(&self.from) {
            self.inner.write_all(&self.to)?;
            self.inner.write_all(&self.pending[self.from.len()..])?;
        } else {
            self.inner.write_all(&self.pending)?;
        }
        self.pending.clear();
        self.at_line_start = false;
        Ok(())
    }
}

impl<W: Write> Write for CopySchemaRemap<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            if self.at_line_start {
                // Hold bytes until the prefix can be decided (or the line ends).
                let want = self.from.len().saturating_sub(self.pending.len());
                let newline = rest.iter().position(|&b| b == b'\n');
                let take = match newline {
                    Some(n) if n < want => n + 1,
                    _ => want.min(rest.len()),
                };
                self.pending.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                let line_ended = self.pending.last() == Some(&b'\n');
                if self.pending.len() >= self.from.len() || line_ended {
                    self.settle()?;
                    if line_ended {
                        self.at_line_start = true;
                    }
                }
            } else {
                match rest.iter().position(|&b| b == b'\n') {
                    Some(n) => {
                        self.inner.write_all(&rest[..=n])?;
                        rest = &rest[n + 1..];
                        self.at_line_start = true;
                    }
                    None => {
                        self.inner.write_all(rest)?;
                        rest = &[];
                    }
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.settle()?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_copy_headers_move_schema_whatever_the_write_sizes() {
        let input = b"SET x = 1;\nCOPY public.wp_posts (id, c) FROM stdin;\n1\tCOPY public.nope\n\\.\nSELECT 1;\n";
        for chunk in [1, 3, 7, 64] {
            let mut out = Vec::new();
            {
                let mut w = CopySchemaRemap::new(&mut out, "public", "promote_x");
                for piece in input.chunks(chunk) {
                    w.write_all(piece).unwrap();
                }
                w.flush().unwrap();
            }
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "SET x = 1;\nCOPY \"promote_x\".wp_posts (id, c) FROM stdin;\n1\tCOPY public.nope\n\\.\nSELECT 1;\n",
                "chunk {chunk}"
            );
        }
    }
}
