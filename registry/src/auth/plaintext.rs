//! A key's secret: generated, hashed for storage, verified against a stored hash.
//!
//! A key is `trk_` followed by 40 random base62 characters (about 238 bits). The `trk_` marker
//! lets secret scanners recognise a leaked key. Only an argon2id hash (a PHC string) and the
//! first 8 characters (the lookup and display prefix) are stored; the plaintext exists only in
//! the `IssuedKey` returned once to the caller.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;

/// Every key starts with this.
pub const KEY_MARKER: &str = "trk_";
/// How many characters of a key are stored in `api_keys.prefix`.
pub const PREFIX_LEN: usize = 8;
const RANDOM_LEN: usize = 40;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A plaintext API key. Its `Debug` is redacted so that it cannot reach a log by accident; the
/// text is available only through [`Plaintext::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Plaintext(String);

impl Plaintext {
    /// Wraps a key received from a client.
    pub fn new(key: impl Into<String>) -> Plaintext {
        Plaintext(key.into())
    }

    /// A fresh random key from the operating system's CSPRNG.
    pub fn generate() -> Plaintext {
        let mut rng = rand::rngs::ThreadRng::default();
        let random: String = (0..RANDOM_LEN)
            .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
            .collect();
        Plaintext(format!("{KEY_MARKER}{random}"))
    }

    /// The key's text: to show the caller once, or to verify. Never store or log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first [`PREFIX_LEN`] characters, as stored for lookup and display (`None` when the
    /// key cannot be one of ours: too short, or a character no key has, such as a NUL, which
    /// would otherwise reach the database in the lookup).
    pub fn prefix(&self) -> Option<&str> {
        self.0
            .get(..PREFIX_LEN)
            .filter(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    }

    /// The argon2id PHC string of this key, with a fresh salt. Deliberately slow (tens of ms):
    /// call it off the async workers.
    pub fn hash(&self) -> String {
        let salt_bytes: [u8; 16] = rand::rngs::ThreadRng::default().random();
        // Neither step can fail: 16 bytes is a valid salt length and Argon2::default()'s
        // parameters are valid. An empty string would match no key, so it fails closed.
        SaltString::encode_b64(&salt_bytes)
            .and_then(|salt| {
                Argon2::default()
                    .hash_password(self.0.as_bytes(), &salt)
                    .map(|h| h.to_string())
            })
            .unwrap_or_default()
    }

    /// Whether this key matches a stored PHC string. A malformed hash matches nothing.
    pub fn verify(&self, phc: &str) -> bool {
        PasswordHash::new(phc).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(self.0.as_bytes(), &parsed)
                .is_ok()
        })
    }
}

impl std::fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Plaintext(<redacted>)")
    }
}
