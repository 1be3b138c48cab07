//! The keyed, deterministic mapping from a personal value to its fake.
//!
//! HMAC-SHA256, keyed with a key derived from the installation's secrets key
//! ([`crate::secrets::SecretBox::derive_key`]), of the kind and the normalized value picks the
//! fake: one e-mail maps to the same fake in every table, inside serialized and JSON values, in
//! every clone made by this installation; nobody without the key can map a fake back or confirm
//! a guess. Fakes are recognisably fake and cannot reach anyone: e-mails under `example.invalid`
//! (RFC 2606), IPs in the documentation ranges (RFC 5737 / RFC 3849), phones in the fictional
//! 555-01xx range, pseudonyms made of syllables. Passwords are the exception: a fresh random
//! phpass-shaped hash that no password matches.

use hmac::{Hmac, Mac};
use rand::Rng;
use secrecy::ExposeSecret;
use sha2::Sha256;

/// What kind of fake a personal value gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fake {
    /// `user-<16 hex>@example.invalid`
    Email,
    /// `user-<12 hex>` (logins and nicenames: valid, unique in practice, stable)
    Login,
    /// A pseudonym per word: `Alice Smith` → `Kavoru Tesima`, `Alice` → `Kavoru`.
    Name,
    /// `https://example.invalid/~<12 hex>`
    Url,
    /// IPv4 → `192.0.2.x` / `198.51.100.x` / `203.0.113.x`; IPv6 → `2001:db8::x:y`.
    Ip,
    /// `+1-202-555-01NN`, keyed by the digits only (spacing does not matter).
    Phone,
    /// `<Pseudonym> Ltd`
    Company,
    /// `<n> <Pseudonym> Street`
    Address,
    /// A pseudonym.
    City,
    /// Five digits.
    Postcode,
    /// One constant user agent.
    UserAgent,
    /// `anonymized-<12 hex>` (values with no useful fake shape, e.g. address search indexes).
    Redact,
    /// The empty string (free text: biographies, customer notes, activation keys).
    Clear,
    /// `a:0:{}` (serialized arrays of personal data, e.g. session tokens).
    EmptyArray,
    /// A random, unusable password hash (not keyed: a new one on every clone).
    Password,
}

impl Fake {
    /// Whether values of this kind are also searched for, and replaced, inside other values.
    pub fn in_text(self) -> bool {
        matches!(self, Fake::Email | Fake::Ip | Fake::Phone | Fake::Name)
    }
}

/// The constant user agent written over personal ones.
pub const USER_AGENT: &str = "Mozilla/5.0 (anonymized by Understudy)";

/// Computes fakes with one key. Never prints the key.
#[derive(Clone)]
pub struct Faker {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Faker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Faker(..)")
    }
}

const CONSONANTS: &[u8] = b"bdfgklmnprstvz";
const VOWELS: &[u8] = b"aeiou";
const IPV4_NETS: [&str; 3] = ["192.0.2", "198.51.100", "203.0.113"];
const PHPASS_ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl Faker {
    /// A faker keyed with `key` (derive it with `SecretBox::derive_key`).
    pub fn new(key: &secrecy::SecretBox<[u8; 32]>) -> Faker {
        Faker {
            mac: Hmac::new_from_slice(key.expose_secret()).expect("HMAC accepts any key length"),
        }
    }

    /// HMAC of `kind` and `value`, domain-separated.
    fn digest(&self, kind: &str, value: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value);
        mac.finalize().into_bytes().into()
    }

    /// A short public identifier of the key (to tell mappings of two installations apart).
    pub fn key_id(&self) -> String {
        hex(&self.digest("key-id", b"")[..4])
    }

    /// A keyed fingerprint of a set of values (to tell whether it changed between runs).
    pub fn fingerprint<'a>(&self, values: impl IntoIterator<Item = &'a str>) -> String {
        let mut mac = self.mac.clone();
        mac.update(b"fingerprint\0");
        for v in values {
            mac.update(v.as_bytes());
            mac.update(&[0]);
        }
        hex(&mac.finalize().into_bytes()[..8])
    }

    /// The fake for `value` of kind `fake`. Empty values stay empty (callers skip them).
    pub fn fake(&self, fake: Fake, value: &str) -> String {
        match fake {
            Fake::Email => self.email(value),
            Fake::Login => format!(
                "user-{}",
                hex(&self.digest("login", normalize(value).as_bytes())[..6])
            ),
            Fake::Name => self.name(value),
            Fake::Url => format!(
                "https://example.invalid/~{}",
                hex(&self.digest("url", normalize(value).as_bytes())[..6])
            ),
            Fake::Ip => self.ip(value),
            Fake::Phone => self.phone(value),
            Fake::Company => format!("{} Ltd", self.word("company", &normalize(value))),
            Fake::Address => {
                let d = self.digest("address", normalize(value).as_bytes());
                let number = 1 + u16::from_be_bytes([d[0], d[1]]) % 999;
                format!("{number} {} Street", pseudonym(&d[2..]))
            }
            Fake::City => self.word("city", &normalize(value)),
            Fake::Postcode => {
                let d = self.digest("postcode", normalize(value).as_bytes());
                format!(
                    "{:05}",
                    u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 100_000
                )
            }
            Fake::UserAgent => USER_AGENT.to_string(),
            Fake::Redact => format!(
                "anonymized-{}",
                hex(&self.digest("redact", value.as_bytes())[..6])
            ),
            Fake::Clear => String::new(),
            Fake::EmptyArray => "a:0:{}".to_string(),
            Fake::Password => unusable_password_hash(),
        }
    }

    /// `user-<16 hex>@example.invalid`, keyed by the trimmed, lower-cased address.
    pub fn email(&self, value: &str) -> String {
        let d = self.digest("email", normalize(value).as_bytes());
        format!("user-{}@example.invalid", hex(&d[..8]))
    }

    /// One pseudonym per whitespace-separated word, so `first_name` + `last_name` and
    /// `display_name` stay consistent.
    pub fn name(&self, value: &str) -> String {
        value
            .split_whitespace()
            .map(|w| self.word("name", &w.to_lowercase()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn word(&self, kind: &str, normalized: &str) -> String {
        pseudonym(&self.digest(kind, normalized.as_bytes()))
    }

    /// An address in a documentation range (never a routable host).
    pub fn ip(&self, value: &str) -> String {
        let value = normalize(value);
        let d = self.digest("ip", value.as_bytes());
        if value.contains(':') {
            format!(
                "2001:db8::{:x}:{:x}",
                u16::from_be_bytes([d[0], d[1]]),
                u16::from_be_bytes([d[2], d[3]])
            )
        } else {
            let net = IPV4_NETS[usize::from(d[0]) % IPV4_NETS.len()];
            format!("{net}.{}", 1 + u16::from(d[1]) % 254)
        }
    }

    /// A fictional number, keyed by the digits only.
    pub fn phone(&self, value: &str) -> String {
        let d = self.digest("phone", phone_digits(value).as_bytes());
        format!("+1-202-555-01{:02}", d[0] % 100)
    }
}

/// Trimmed and lower-cased (e-mails, logins, IPs, places compare case-insensitively).
pub fn normalize(value: &str) -> String {
    value.trim().to_lowercase()
}

/// The digits of a phone number.
pub fn phone_digits(value: &str) -> String {
    value.chars().filter(char::is_ascii_digit).collect()
}

/// Three consonant-vowel syllables, capitalised: `Kavoru`.
fn pseudonym(d: &[u8]) -> String {
    let mut word = String::with_capacity(6);
    for pair in d.chunks(2).take(3) {
        let c = CONSONANTS[usize::from(pair[0]) % CONSONANTS.len()];
        let v = VOWELS[usize::from(pair.get(1).copied().unwrap_or(0)) % VOWELS.len()];
        word.push(if word.is_empty() {
            char::from(c.to_ascii_uppercase())
        } else {
            char::from(c)
        });
        word.push(char::from(v));
    }
    word
}

/// A phpass-shaped hash (`$P$B` + 30 random characters) of no password.
fn unusable_password_hash() -> String {
    let mut rng = rand::rng();
    let tail: String = (0..30)
        .map(|_| char::from(PHPASS_ALPHABET[rng.random_range(0..PHPASS_ALPHABET.len())]))
        .collect();
    format!("$P$B{tail}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faker(byte: u8) -> Faker {
        Faker::new(&secrecy::SecretBox::new(Box::new([byte; 32])))
    }

    #[test]
    fn fakes_are_keyed_deterministic_and_normalized() {
        let (a, b) = (faker(1), faker(2));
        let email = a.fake(Fake::Email, "Fan@Mail.test ");
        assert_eq!(email, a.fake(Fake::Email, "fan@mail.test"));
        assert_ne!(email, b.fake(Fake::Email, "fan@mail.test"), "keyed");
        assert!(email.starts_with("user-") && email.ends_with("@example.invalid"));
        assert_eq!(email.len(), "user-@example.invalid".len() + 16);
        assert_ne!(email, a.fake(Fake::Email, "other@mail.test"));
        assert_eq!(
            a.fake(Fake::Phone, "+44 20 7946 0958"),
            a.fake(Fake::Phone, "+442079460958")
        );
        assert_ne!(a.key_id(), b.key_id());
        assert!(!format!("{a:?}").contains('1'));
    }

    #[test]
    fn names_map_word_by_word() {
        let f = faker(3);
        let full = f.fake(Fake::Name, "Zebulon  Quartermaine");
        let first = f.fake(Fake::Name, "zebulon");
        let last = f.fake(Fake::Name, "QUARTERMAINE");
        assert_eq!(full, format!("{first} {last}"));
        assert!(first.chars().next().unwrap().is_ascii_uppercase());
        assert_eq!(first.len(), 6);
    }

    #[test]
    fn ips_land_in_documentation_ranges() {
        let f = faker(4);
        for ip in ["81.2.69.142", "8.8.8.8", "10.1.2.3"] {
            let fake = f.fake(Fake::Ip, ip);
            assert!(
                IPV4_NETS.iter().any(|n| fake.starts_with(&format!("{n}."))),
                "{fake}"
            );
        }
        assert!(f.fake(Fake::Ip, "2a02:8071::1").starts_with("2001:db8::"));
    }

    #[test]
    fn passwords_are_random_phpass_shaped_and_other_kinds_have_their_shape() {
        let f = faker(5);
        let (p1, p2) = (f.fake(Fake::Password, "x"), f.fake(Fake::Password, "x"));
        assert_ne!(p1, p2);
        assert_eq!(p1.len(), 34);
        assert!(p1.starts_with("$P$B"));
        assert_eq!(f.fake(Fake::Clear, "bio"), "");
        assert_eq!(f.fake(Fake::EmptyArray, "a:1:{}"), "a:0:{}");
        assert_eq!(f.fake(Fake::UserAgent, "Firefox"), USER_AGENT);
        assert_eq!(f.fake(Fake::Postcode, "SW1A 1AA").len(), 5);
        assert!(f.fake(Fake::Address, "1 Main St").ends_with(" Street"));
        assert!(f.fake(Fake::Login, "Owner").starts_with("user-"));
        assert_eq!(f.fake(Fake::Login, "Owner"), f.fake(Fake::Login, "owner"));
    }
}
