//! The in-text dictionary: every collected e-mail, IP, phone number and full name paired with
//! its fake, for the rewriter's literal pass (so an e-mail inside a serialized option, a JSON
//! block or a post becomes the same fake as in its own column).
//!
//! Spellings added besides the value itself: an e-mail's URL-encoded form (`a%40b.test`), and,
//! for values with quotes or backslashes, the dump-escaped form (so the adapters' cheap
//! pre-check on still-escaped bytes sees them). Single-word names are not searched in text
//! (`Will`, `May`, `Rose` would hit ordinary words): only names of two words or more, whole
//! words, at least 5 characters.

use super::collect::Collected;
use super::fake::Faker;
use crate::rewrite::{Boundary, Literals, RewriteError};

/// Shortest full name searched in text.
const MIN_NAME_LEN: usize = 5;

/// Builds the literal pairs, freeing the collected values as it goes.
pub fn build(collected: Collected, faker: &Faker) -> Result<Literals, RewriteError> {
    let mut b = Literals::builder();
    let mut add = |needle: &str, fake: &str, boundary: Boundary| {
        b.add(needle.as_bytes(), fake.as_bytes(), boundary);
        if needle.contains(['\'', '"', '\\']) {
            let escaped = needle
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('"', "\\\"");
            b.add(escaped.as_bytes(), fake.as_bytes(), boundary);
        }
    };
    for email in collected.emails {
        let fake = faker.email(&email);
        add(&email, &fake, Boundary::Email);
        add(
            &email.replace('@', "%40"),
            &fake.replace('@', "%40"),
            Boundary::Email,
        );
    }
    for ip in collected.ips {
        let boundary = if ip.contains(':') {
            Boundary::Hex
        } else {
            Boundary::Number
        };
        add(&ip, &faker.ip(&ip), boundary);
    }
    for phone in collected.phones {
        add(&phone, &faker.phone(&phone), Boundary::Number);
    }
    for name in collected.names {
        if name.split_whitespace().count() >= 2 && name.chars().count() >= MIN_NAME_LEN {
            add(&name, &faker.name(&name), Boundary::Word);
        }
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_replaces_every_spelling_with_the_column_fake() {
        let faker = Faker::new(&secrecy::SecretBox::new(Box::new([5u8; 32])));
        let mut c = Collected::default();
        c.emails.insert("fan@mail.test".into());
        c.ips.insert("81.2.69.142".into());
        c.names.insert("Zebulon Quartermaine".into());
        c.names.insert("Zebulon".into());
        c.names.insert("Seán O'Brien".into());
        let literals = build(c, &faker).unwrap();
        let mut out = Vec::new();
        let text = "fan@mail.test fan%40mail.test 81.2.69.142 Zebulon Quartermaine Zebulon O\\'x";
        literals.replace_into(text.as_bytes(), &mut out);
        let out = String::from_utf8(out).unwrap();
        let fake = faker.email("fan@mail.test");
        assert!(
            out.starts_with(&format!("{fake} {}", fake.replace('@', "%40"))),
            "{out}"
        );
        assert!(out.contains(&faker.ip("81.2.69.142")));
        assert!(out.contains(&faker.name("Zebulon Quartermaine")));
        assert!(out.contains(" Zebulon O"), "single words stay: {out}");
        assert!(
            literals.has_candidate(b"Se\xc3\xa1n O\\'Brien"),
            "escaped spelling"
        );
    }
}
