//! The key that signs the log's checkpoints: Ed25519, kept in a PEM file (PKCS#8, as
//! `openssl genpkey -algorithm ed25519` writes it), its public half served as SPKI PEM (as
//! `openssl pkey -pubout` writes it), so that `openssl` can check a checkpoint by hand.
//!
//! A checkpoint's signed text is [`Checkpoint::note`]: five lines, the log's name and version,
//! the tree size, the root hash in lower-case hex, the time in RFC 3339 (UTC, microseconds), and
//! the size of the checkpoint before it (0 for the first), which chains the checkpoints: one
//! deleted from the middle leaves the next one's signature over a size that is not there.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand::Rng;

use super::merkle::{Hash, hex};

/// The first line of every signed checkpoint.
pub const LOG_NAME: &str = "tenant-registry audit log v1";

/// PKCS#8 v1 DER of an Ed25519 private key, before its 32-byte seed (RFC 8410).
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// SubjectPublicKeyInfo DER of an Ed25519 public key, before its 32 bytes (RFC 8410).
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A tree head to sign, or signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Leaves in the tree.
    pub size: u64,
    /// The tree's root hash.
    pub root: Hash,
    /// When it was signed (microsecond precision, as stored).
    pub signed_at: DateTime<Utc>,
    /// The size of the checkpoint before it (0: the first).
    pub previous: u64,
}

impl Checkpoint {
    /// The text that is signed.
    pub fn note(&self) -> String {
        format!(
            "{LOG_NAME}\n{}\n{}\n{}\n{}\n",
            self.size,
            hex(&self.root),
            self.signed_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            self.previous
        )
    }
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not an Ed25519 private key in PKCS#8 PEM.
    #[error(
        "{0}: not an Ed25519 private key in PEM (make one with `api signing-key --generate PATH` \
         or `openssl genpkey -algorithm ed25519 -out PATH`)"
    )]
    NotAKey(String),
}

/// The log's signing key.
pub struct LogKey(SigningKey);

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogKey(public {})", hex(self.public_bytes().as_slice()))
    }
}

impl LogKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> LogKey {
        let seed: [u8; 32] = rand::rngs::ThreadRng::default().random();
        LogKey(SigningKey::from_bytes(&seed))
    }

    /// The key in `path` (PKCS#8 PEM).
    pub fn load(path: &Path) -> Result<LogKey, KeyFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let not_a_key = || KeyFileError::NotAKey(path.display().to_string());
        let der = pem_body(&text, "PRIVATE KEY").ok_or_else(not_a_key)?;
        let seed = der
            .strip_prefix(PKCS8_PREFIX.as_slice())
            .and_then(|rest| <[u8; 32]>::try_from(rest).ok())
            .ok_or_else(not_a_key)?;
        Ok(LogKey(SigningKey::from_bytes(&seed)))
    }

    /// Loads the key in `path`, or makes one there (readable by its owner only) when there is
    /// no file: for dev mode.
    pub fn load_or_create(path: &Path) -> Result<LogKey, KeyFileError> {
        if path.exists() {
            return LogKey::load(path);
        }
        let key = LogKey::generate();
        key.save(path)?;
        Ok(key)
    }

    /// Writes the key to `path` (PKCS#8 PEM, mode 0600), refusing to replace a file.
    pub fn save(&self, path: &Path) -> Result<(), KeyFileError> {
        use std::io::Write as _;
        let io = |source| KeyFileError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        let mut der = PKCS8_PREFIX.to_vec();
        der.extend_from_slice(self.0.as_bytes());
        file.write_all(pem("PRIVATE KEY", &der).as_bytes())
            .map_err(io)
    }

    /// The public key's 32 bytes.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The public key as SPKI PEM (what `/.well-known/audit-log-key` serves).
    pub fn public_pem(&self) -> String {
        public_pem(&self.public_bytes())
    }

    /// The signature of `checkpoint`'s note.
    pub fn sign(&self, checkpoint: &Checkpoint) -> [u8; 64] {
        self.sign_text(&checkpoint.note())
    }

    /// The signature of a text whose first line names what it is (a checkpoint's note, an
    /// export's statement), so that no signature of one kind passes for the other.
    pub fn sign_text(&self, text: &str) -> [u8; 64] {
        self.0.sign(text.as_bytes()).to_bytes()
    }
}

/// SPKI PEM of an Ed25519 public key.
pub fn public_pem(public: &[u8; 32]) -> String {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(public);
    pem("PUBLIC KEY", &der)
}

/// The public key in SPKI PEM `text`.
pub fn parse_public_pem(text: &str) -> Option<[u8; 32]> {
    let der = pem_body(text, "PUBLIC KEY")?;
    der.strip_prefix(SPKI_PREFIX.as_slice())
        .and_then(|rest| <[u8; 32]>::try_from(rest).ok())
}

/// Whether `signature` is `public`'s signature of `checkpoint`.
pub fn verify(public: &[u8; 32], checkpoint: &Checkpoint, signature: &[u8]) -> bool {
    verify_text(public, &checkpoint.note(), signature)
}

/// Whether `signature` is `public`'s signature of `text` ([`LogKey::sign_text`]).
pub fn verify_text(public: &[u8; 32], text: &str, signature: &[u8]) -> bool {
    let (Ok(key), Ok(signature)) = (
        VerifyingKey::from_bytes(public),
        Signature::from_slice(signature),
    ) else {
        return false;
    };
    key.verify(text.as_bytes(), &signature).is_ok()
}

fn pem(label: &str, der: &[u8]) -> String {
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        STANDARD.encode(der)
    )
}

fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}
