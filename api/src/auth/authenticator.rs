//! Verifying `Authorization: Bearer <key>`.
//!
//! The key's first 8 characters find the candidate records (`api_keys_prefix_idx`); argon2id
//! verifies the match. Argon2 is deliberately slow (tens of ms), so it runs on the blocking pool
//! with bounded concurrency, and verified keys are cached for [`CACHE_TTL`], keyed by a SHA-256
//! of the key (never the key itself). A revoke through this process forgets the key at once;
//! a revoke elsewhere takes effect here within the TTL. `last_used_at` is written at most once
//! per [`TOUCH_EVERY`] per key.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use entity::keys::Plaintext;
use entity::prelude::{ApiKeys, Tenants};
use entity::{api_keys, scope::Scope};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::Principal;
use crate::error::ApiError;

/// How long a verified key is trusted without checking the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// How often `last_used_at` is written for a key in use.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// At most this many keys are cached; beyond it, expired entries are dropped first.
const CACHE_CAPACITY: usize = 10_000;

struct Cached {
    principal: Arc<Principal>,
    verified_at: Instant,
    touched_at: Instant,
}

/// Verifies API keys, with a cache of recent successes.
pub struct Authenticator {
    db: DatabaseConnection,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
    argon2_slots: Semaphore,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("hits", &self.hits.load(Ordering::Relaxed))
            .field("misses", &self.misses.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

const UNAUTHENTICATED: &str =
    "missing or invalid API key: send `Authorization: Bearer <key>` with a valid, unrevoked key";

impl Authenticator {
    /// An authenticator over `db`, running at most `argon2_concurrency` hash checks at once.
    pub fn new(db: DatabaseConnection, argon2_concurrency: usize) -> Authenticator {
        Authenticator {
            db,
            cache: Mutex::new(HashMap::new()),
            argon2_slots: Semaphore::new(argon2_concurrency.max(1)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The caller behind an `Authorization` header value.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
    ) -> Result<Arc<Principal>, ApiError> {
        let token = authorization
            .and_then(|h| {
                let (scheme, token) = h.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthenticated(UNAUTHENTICATED.to_owned()))?;
        self.authenticate_token(token).await
    }

    /// The caller behind a bare key (Retraced clients send `token=KEY`).
    pub async fn authenticate_token(&self, token: &str) -> Result<Arc<Principal>, ApiError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();

        if let Some(principal) = self.cached(&digest) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(principal);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let plaintext = Plaintext::new(token);
        let prefix = plaintext
            .prefix()
            .ok_or_else(|| ApiError::Unauthenticated(UNAUTHENTICATED.to_owned()))?;
        // An unknown prefix costs one indexed lookup and no argon2 work.
        let candidates = ApiKeys::find()
            .filter(api_keys::Column::Prefix.eq(prefix))
            .filter(api_keys::Column::RevokedAt.is_null())
            .find_also_related(Tenants)
            .all(&self.db)
            .await?;
        for (key, tenant) in candidates {
            let Some(tenant) = tenant else { continue };
            if !self.verify(&plaintext, &key.hash).await? {
                continue;
            }
            let principal = Arc::new(Principal {
                key_id: key.id,
                key_name: key.name.clone(),
                tenant_id: key.tenant_id,
                tenant_slug: tenant.slug,
                scopes: key
                    .scopes
                    .iter()
                    .filter_map(|s| s.parse::<Scope>().ok())
                    .collect(),
                product: key.product.clone(),
            });
            let stale = key.last_used_at.is_none_or(|t| {
                chrono::Utc::now().signed_duration_since(t)
                    > chrono::Duration::from_std(TOUCH_EVERY).unwrap_or_default()
            });
            if stale {
                self.touch(key.id);
            }
            self.remember(digest, principal.clone());
            return Ok(principal);
        }
        Err(ApiError::Unauthenticated(UNAUTHENTICATED.to_owned()))
    }

    /// Forgets a key at once (after a revoke through this process).
    pub fn forget_key(&self, key_id: Uuid) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, c| c.principal.key_id != key_id);
        }
    }

    /// (cache hits, cache misses) since start.
    pub fn cache_stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<Arc<Principal>> {
        let mut cache = self.cache.lock().ok()?;
        let entry = cache.get_mut(digest)?;
        if entry.verified_at.elapsed() > CACHE_TTL {
            cache.remove(digest);
            return None;
        }
        if entry.touched_at.elapsed() > TOUCH_EVERY {
            entry.touched_at = Instant::now();
            self.touch(entry.principal.key_id);
        }
        Some(entry.principal.clone())
    }

    fn remember(&self, digest: [u8; 32], principal: Arc<Principal>) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, c| c.verified_at.elapsed() <= CACHE_TTL);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        let now = Instant::now();
        cache.insert(
            digest,
            Cached {
                principal,
                verified_at: now,
                touched_at: now,
            },
        );
    }

    async fn verify(&self, plaintext: &Plaintext, hash: &str) -> Result<bool, ApiError> {
        let _slot = self
            .argon2_slots
            .acquire()
            .await
            .map_err(ApiError::internal)?;
        let (plaintext, hash) = (plaintext.clone(), hash.to_owned());
        tokio::task::spawn_blocking(move || plaintext.verify(&hash))
            .await
            .map_err(ApiError::internal)
    }

    /// Records use of a key, in the background: a failure here must not fail the request.
    fn touch(&self, key_id: Uuid) {
        let db = self.db.clone();
        tokio::spawn(async move {
            let result = ApiKeys::update_many()
                .col_expr(api_keys::Column::LastUsedAt, Expr::current_timestamp())
                .filter(api_keys::Column::Id.eq(key_id))
                .exec(&db)
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, %key_id, "could not record last_used_at");
            }
        });
    }
}
