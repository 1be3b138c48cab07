//! Secrets at rest: AES-256-GCM with a key from configuration.
//!
//! Sealed values are `v1 || nonce (12 bytes) || ciphertext+tag`, stored as `bytea`. Opening gives
//! a [`SecretString`], whose `Debug` never prints the value; code exposes it only where it is used
//! (a connection, an HTTP header).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;
use std::sync::Arc;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "the secrets key must be 32 bytes, base64-encoded (generate one with: head -c32 /dev/urandom | base64)"
    )]
    BadKey,
    #[error("cannot read the secrets key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "a stored secret cannot be decrypted with the configured key (was the key changed? restore \
         the old secrets.key, or store the secret again)"
    )]
    Undecryptable,
}

/// Encrypts and decrypts secrets with one key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
    /// The key itself, only ever used as an HMAC key by [`SecretBox::derive_key`].
    key: Arc<secrecy::SecretBox<[u8; 32]>>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// From a base64-encoded 32-byte key.
    pub fn from_base64(key: &str) -> Result<SecretBox, SecretsError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| SecretsError::BadKey)?;
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SecretsError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretsError::BadKey)?;
        Ok(SecretBox {
            cipher,
            key: Arc::new(secrecy::SecretBox::new(Box::new(key))),
        })
    }

    /// From a key file (base64), creating it with a fresh random key (mode 0600) when missing.
    pub fn from_key_file(path: &Path) -> Result<SecretBox, SecretsError> {
        let io = |source| SecretsError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            let encoded = base64::engine::general_purpose::STANDARD.encode(key);
            write_private(path, encoded.as_bytes()).map_err(io)?;
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        SecretBox::from_base64(&text)
    }

    /// A 32-byte key for one `purpose` (e.g. the anonymization mapping), derived from the secrets
    /// key as HMAC-SHA256(key, purpose): stable for this installation, different per purpose, and
    /// revealing nothing about the secrets key or the keys of other purposes.
    pub fn derive_key(&self, purpose: &str) -> secrecy::SecretBox<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.key.expose_secret())
            .expect("HMAC accepts any key length");
        mac.update(purpose.as_bytes());
        secrecy::SecretBox::new(Box::new(mac.finalize().into_bytes().into()))
    }

    pub fn seal(&self, secret: &SecretString) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), secret.expose_secret().as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer does not fail");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, sealed: &[u8]) -> Result<SecretString, SecretsError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(SecretsError::Undecryptable);
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| SecretsError::Undecryptable)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| SecretsError::Undecryptable)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_round_trip_and_do_not_contain_the_plaintext() {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let sbox = SecretBox::from_base64(&key).unwrap();
        let secret = SecretString::from("hunter2-password");
        let sealed = sbox.seal(&secret);
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            sbox.open(&sealed).unwrap().expose_secret(),
            "hunter2-password"
        );
        assert_ne!(sealed, sbox.seal(&secret), "a fresh nonce every time");
        let other =
            SecretBox::from_base64(&base64::engine::general_purpose::STANDARD.encode([8u8; 32]))
                .unwrap();
        assert!(matches!(
            other.open(&sealed),
            Err(SecretsError::Undecryptable)
        ));
        assert!(matches!(
            SecretBox::from_base64("short"),
            Err(SecretsError::BadKey)
        ));
        assert!(!format!("{sbox:?}").contains(&key));
    }

    #[test]
    fn derived_keys_are_stable_per_key_and_purpose() {
        let a =
            SecretBox::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
                .unwrap();
        let b =
            SecretBox::from_base64(&base64::engine::general_purpose::STANDARD.encode([8u8; 32]))
                .unwrap();
        let k = |s: &SecretBox, p: &str| *s.derive_key(p).expose_secret();
        assert_eq!(k(&a, "anonymize"), k(&a.clone(), "anonymize"));
        assert_ne!(k(&a, "anonymize"), k(&a, "other"));
        assert_ne!(k(&a, "anonymize"), k(&b, "anonymize"));
        assert_ne!(k(&a, "anonymize"), [7u8; 32]);
    }

    #[test]
    fn a_missing_key_file_is_created_private() {
        let dir = std::env::temp_dir().join(format!("understudy-key-{}", std::process::id()));
        let path = dir.join("secret.key");
        let _ = std::fs::remove_dir_all(&dir);
        let a = SecretBox::from_key_file(&path).unwrap();
        let b = SecretBox::from_key_file(&path).unwrap();
        let sealed = a.seal(&SecretString::from("x"));
        assert_eq!(b.open(&sealed).unwrap().expose_secret(), "x");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
