//! PostgreSQL arrays of text (`text[]`, `varchar[]`, `json[]` …) in their text form
//! (`{"https://host/a",plain,NULL}`, nested `{{a,b},{c,d}}`, optional `[0:1]=` bounds): every
//! element is unquoted to its real bytes and rewritten as a value of its own, so a serialized
//! element gets its lengths fixed and JSON in an element is read at its real escaping depth.
//! A changed element is written back double-quoted (`\` and `"` escaped), which PostgreSQL reads
//! whatever the element; everything else is copied byte for byte.

use std::borrow::Cow;

use super::rewriter::{Outcome, Rewriter};

/// More dimensions than PostgreSQL allows (6) means this is not an array's text form.
const MAX_DIMENSIONS: usize = 6;

/// Rewrites every element of the array text `literal`. Text that is not an array's text form is
/// left unchanged and flagged malformed; so is the whole when an element was malformed (the
/// other elements are still rewritten).
pub(crate) fn rewrite_array<'a>(rewriter: &Rewriter, literal: &'a [u8]) -> Outcome<'a> {
    let mut walk = Walk {
        rewriter,
        src: literal,
        pos: 0,
        copied: 0,
        out: Vec::new(),
        element: Vec::new(),
        outcome: Outcome {
            value: Cow::Borrowed(literal),
            replacements: 0,
            literal_replacements: 0,
            malformed: false,
        },
    };
    if walk.whole().is_err() {
        return Outcome {
            value: Cow::Borrowed(literal),
            replacements: 0,
            literal_replacements: 0,
            malformed: true,
        };
    }
    if walk.copied > 0 {
        walk.out.extend_from_slice(&literal[walk.copied..]);
        walk.outcome.value = Cow::Owned(walk.out);
    }
    walk.outcome
}

/// Not an array's text form.
struct NotAnArray;

struct Walk<'r, 's> {
    rewriter: &'r Rewriter,
    src: &'s [u8],
    pos: usize,
    /// Source bytes before this index are in `out` (0 while nothing changed).
    copied: usize,
    out: Vec<u8>,
    /// The real bytes of the element being read.
    element: Vec<u8>,
    outcome: Outcome<'s>,
}

impl Walk<'_, '_> {
    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn whole(&mut self) -> Result<(), NotAnArray> {
        self.ws();
        if self.peek() == Some(b'[') {
            // Dimension decoration `[lo:hi][lo:hi]=`.
            let eq = memchr::memchr(b'=', &self.src[self.pos..]).ok_or(NotAnArray)?;
            let bounds = &self.src[self.pos..self.pos + eq];
            if !bounds
                .iter()
                .all(|b| b.is_ascii_digit() || matches!(b, b'[' | b']' | b':' | b'-' | b'+'))
            {
                return Err(NotAnArray);
            }
            self.pos += eq + 1;
            self.ws();
        }
        self.array(1)?;
        self.ws();
        if self.pos == self.src.len() {
            Ok(())
        } else {
            Err(NotAnArray)
        }
    }

    fn array(&mut self, dimension: usize) -> Result<(), NotAnArray> {
        if dimension > MAX_DIMENSIONS || self.peek() != Some(b'{') {
            return Err(NotAnArray);
        }
        self.pos += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            match self.peek().ok_or(NotAnArray)? {
                b'{' => self.array(dimension + 1)?,
                b'"' => self.quoted()?,
                _ => self.unquoted()?,
            }
            self.ws();
            match self.peek().ok_or(NotAnArray)? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(NotAnArray),
            }
        }
    }

    /// `"…"` with `\` escaping the next byte.
    fn quoted(&mut self) -> Result<(), NotAnArray> {
        let start = self.pos;
        self.pos += 1;
        self.element.clear();
        loop {
            match self.peek().ok_or(NotAnArray)? {
                b'\\' => {
                    let b = *self.src.get(self.pos + 1).ok_or(NotAnArray)?;
                    self.element.push(b);
                    self.pos += 2;
                }
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b => {
                    self.element.push(b);
                    self.pos += 1;
                }
            }
        }
        self.element_read(start);
        Ok(())
    }

    /// An element without quotes (never holding a delimiter, brace, quote or space); `NULL` is
    /// the null element.
    fn unquoted(&mut self) -> Result<(), NotAnArray> {
        let start = self.pos;
        self.element.clear();
        while let Some(b) = self.peek() {
            match b {
                b',' | b'}' => break,
                b'{' | b'"' => return Err(NotAnArray),
                _ if b.is_ascii_whitespace() => break,
                b'\\' => {
                    let b = *self.src.get(self.pos + 1).ok_or(NotAnArray)?;
                    self.element.push(b);
                    self.pos += 2;
                }
                _ => {
                    self.element.push(b);
                    self.pos += 1;
                }
            }
        }
        if self.pos == start {
            return Err(NotAnArray);
        }
        if !self.src[start..self.pos].eq_ignore_ascii_case(b"NULL") {
            self.element_read(start);
        }
        Ok(())
    }

    /// The element `src[start..pos]` (real bytes in `element`) was read: rewrite it.
    fn element_read(&mut self, start: usize) {
        if !self.rewriter.may_contain_match(&self.element) {
            return;
        }
        let element = std::mem::take(&mut self.element);
        let outcome = self.rewriter.rewrite_value(&element);
        self.outcome.malformed |= outcome.malformed;
        if outcome.changed() {
            self.out.extend_from_slice(&self.src[self.copied..start]);
            self.out.push(b'"');
            for &b in outcome.value.iter() {
                if matches!(b, b'"' | b'\\') {
                    self.out.push(b'\\');
                }
                self.out.push(b);
            }
            self.out.push(b'"');
            self.copied = self.pos;
            self.outcome.replacements += outcome.replacements;
            self.outcome.literal_replacements += outcome.literal_replacements;
        }
        self.element = element;
    }
}

#[cfg(test)]
mod tests {
    use super::super::rule::{Options, Rule};
    use super::*;

    fn rw() -> Rewriter {
        Rewriter::new(
            &[Rule::parse("https://example.com", "https://staging.example.com").unwrap()],
            Options::default(),
        )
    }

    fn array(literal: &str) -> (String, usize, bool) {
        let out = rewrite_array(&rw(), literal.as_bytes());
        (
            String::from_utf8(out.value.into_owned()).unwrap(),
            out.replacements,
            out.malformed,
        )
    }

    #[test]
    fn every_element_is_rewritten_and_requoted() {
        assert_eq!(
            array(r#"{https://example.com/a,"x y https://example.com",NULL,"NULL",plain}"#),
            (
                r#"{"https://staging.example.com/a","x y https://staging.example.com",NULL,"NULL",plain}"#
                    .into(),
                2,
                false
            )
        );
        // Serialized and JSON elements, with the array's own escaping of `"` and `\`.
        let ser = r#"{"a:1:{s:3:\"url\";s:19:\"https://example.com\";}","{\"u\":\"https:\\/\\/example.com\"}"}"#;
        assert_eq!(
            array(ser),
            (
                r#"{"a:1:{s:3:\"url\";s:27:\"https://staging.example.com\";}","{\"u\":\"https:\\/\\/staging.example.com\"}"}"#
                    .into(),
                2,
                false
            )
        );
        assert_eq!(
            array("[0:1][1:1]={{https://example.com},{b}}"),
            (
                r#"[0:1][1:1]={{"https://staging.example.com"},{b}}"#.into(),
                1,
                false
            )
        );
        assert_eq!(array("{}"), ("{}".into(), 0, false));
    }

    #[test]
    fn not_an_array_is_left_alone() {
        for text in [
            r#"{"url":"https://example.com"}"#,
            "https://example.com",
            "{https://example.com",
            "{a b https://example.com}",
            "{{{{{{{https://example.com}}}}}}}",
        ] {
            assert_eq!(array(text), (text.into(), 0, true), "{text}");
        }
        // A malformed serialized element stays as it was; the others are rewritten.
        assert_eq!(
            array(r#"{"s:5:\"https://example.com\";",https://example.com}"#),
            (
                r#"{"s:5:\"https://example.com\";","https://staging.example.com"}"#.into(),
                1,
                true
            )
        );
    }
}
