//! API keys: the one implementation of issuing, hashing and verifying them, used by the server
//! (`api issue-key`, `issueApiKey`), the dev server's operator key and the seed tool.
//!
//! A key is `trk_` followed by 40 random base62 characters (about 238 bits). The `trk_` marker
//! lets secret scanners recognise a leaked key. Only an argon2id hash (a PHC string) and the
//! first 8 characters (the lookup and display prefix) are stored; the plaintext exists only in
//! the [`IssuedKey`] returned once to the caller.

use crate::api_keys;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::scope::{Scope, UnknownScope};

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
    /// key is too short to be one of ours).
    pub fn prefix(&self) -> Option<&str> {
        self.0.get(..PREFIX_LEN)
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

/// What a new key is for.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The tenant the key belongs to.
    pub tenant_id: Uuid,
    /// A label unique within the tenant.
    pub name: String,
    /// What the key may do.
    pub scopes: Vec<Scope>,
    /// Restrict the key to one product (`None`: every product).
    pub product: Option<String>,
    /// Who created it (a Keycloak user id), if known.
    pub created_by: Option<String>,
}

/// A freshly issued key: the plaintext, shown once, and the stored record.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The key itself. Not stored anywhere: show it to the caller once.
    pub plaintext: Plaintext,
    /// The row in `api_keys` (its `hash` field holds the argon2id hash, never the key).
    pub record: api_keys::Model,
}

/// Why a key could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueKeyError {
    /// A scope name is not known. The caller sees `BAD_USER_INPUT`.
    #[error(transparent)]
    UnknownScope(#[from] UnknownScope),
    /// The name is empty or only blanks. The caller sees `BAD_USER_INPUT`.
    #[error("a key needs a name")]
    EmptyName,
    /// Hashing did not finish (the blocking task was cancelled). The caller sees `INTERNAL`.
    #[error("hashing the key was interrupted")]
    Interrupted,
    /// The insert failed: a duplicate name (`api_keys_tenant_id_name_key`), an unknown tenant
    /// (`api_keys_tenant_id_fkey`), or a database fault.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Parses scope names as stored in `api_keys.scopes`.
pub fn parse_scopes<S: AsRef<str>>(names: &[S]) -> Result<Vec<Scope>, UnknownScope> {
    names.iter().map(|n| n.as_ref().parse()).collect()
}

/// Issues a key: generates it, hashes it off the async workers, stores hash and prefix.
pub async fn issue_key(db: &impl ConnectionTrait, new: NewKey) -> Result<IssuedKey, IssueKeyError> {
    let name = new.name.trim();
    if name.is_empty() {
        return Err(IssueKeyError::EmptyName);
    }
    let plaintext = Plaintext::generate();
    let hashed = {
        let key = plaintext.clone();
        tokio::task::spawn_blocking(move || key.hash())
            .await
            .map_err(|_| IssueKeyError::Interrupted)?
    };
    let mut scopes: Vec<Scope> = new.scopes;
    scopes.sort();
    scopes.dedup();
    let record = api_keys::ActiveModel {
        tenant_id: Set(new.tenant_id),
        product: Set(new.product),
        name: Set(name.to_owned()),
        scopes: Set(scopes.iter().map(|s| s.as_str().to_owned()).collect()),
        hash: Set(hashed),
        prefix: Set(plaintext.prefix().unwrap_or_default().to_owned()),
        created_by: Set(new.created_by),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(IssuedKey { plaintext, record })
}
