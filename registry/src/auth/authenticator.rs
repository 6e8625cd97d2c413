//! Verifying `Authorization: Bearer <key>`.
//!
//! The key's first 8 characters find the candidate records (`api_keys_prefix_idx`); argon2id
//! verifies the match. Argon2 is deliberately slow (tens of ms), so it runs on the blocking pool
//! with bounded concurrency, and verified keys are cached for [`CACHE_TTL`], keyed by a SHA-256
//! of the key (never the key itself). A revoke through this process forgets the key at once;
//! a revoke elsewhere takes effect here within the TTL. `last_used_at` is written at most once
//! per [`TOUCH_EVERY`] per key.
//!
//! Beyond the cache, the SHA-256 of every key verified is remembered with the key's id and hash
//! (bounded): once the database confirms that key is still unrevoked with the same hash, it is
//! the same key, and argon2 is not run again. Failed verifications are limited per client
//! address (an IPv6 client per /64) and per key prefix ([`AuthSettings`]); over the limit a
//! request is refused with `RATE_LIMITED` before any database or argon2 work, while keys
//! already known to be good pass. An unknown prefix costs an argon2 check like a wrong secret,
//! so that neither the time of an answer nor the budgets tell which prefixes exist.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Plaintext;
use entity::prelude::{ApiKeys, Tenants};
use entity::{api_keys, scope::Scope};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::Principal;
use super::throttle::Throttle;
use crate::error::ApiError;

/// How long a verified key is trusted without checking the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// How often `last_used_at` is written for a key in use.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// At most this many keys are cached; beyond it, expired entries are dropped first.
const CACHE_CAPACITY: usize = 10_000;

/// At most this many verified keys are remembered (by SHA-256) beyond the cache's TTL.
const KNOWN_CAPACITY: usize = 100_000;

/// How keys are checked and how failures are limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSettings {
    /// Argon2 checks running at once.
    pub argon2_concurrency: usize,
    /// Failed verifications a minute allowed from one client address (0: no limit).
    pub failures_per_address: u32,
    /// Failed verifications a minute allowed against one key prefix (0: no limit).
    pub failures_per_prefix: u32,
}

impl Default for AuthSettings {
    fn default() -> AuthSettings {
        AuthSettings {
            argon2_concurrency: 2,
            failures_per_address: 30,
            failures_per_prefix: 10,
        }
    }
}

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
    /// SHA-256 of a verified key → (its id, the hash it verified against).
    known: Mutex<HashMap<[u8; 32], (Uuid, String)>>,
    by_address: Throttle<IpAddr>,
    by_prefix: Throttle<String>,
    hits: AtomicU64,
    misses: AtomicU64,
    argon2_runs: AtomicU64,
    refused: AtomicU64,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("hits", &self.hits.load(Ordering::Relaxed))
            .field("misses", &self.misses.load(Ordering::Relaxed))
            .field("argon2_runs", &self.argon2_runs.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What the authenticator has done since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthStats {
    /// Requests answered from the cache of verified keys.
    pub cache_hits: u64,
    /// Requests that needed the database.
    pub cache_misses: u64,
    /// Argon2 verifications run.
    pub argon2_runs: u64,
    /// Requests refused by the failure limits.
    pub rate_limited: u64,
}

const UNAUTHENTICATED: &str =
    "missing or invalid API key: send `Authorization: Bearer <key>` with a valid, unrevoked key";

impl Authenticator {
    /// An authenticator over `db`.
    pub fn new(db: DatabaseConnection, settings: AuthSettings) -> Authenticator {
        Authenticator {
            db,
            cache: Mutex::new(HashMap::new()),
            argon2_slots: Semaphore::new(settings.argon2_concurrency.max(1)),
            known: Mutex::new(HashMap::new()),
            by_address: Throttle::new(settings.failures_per_address),
            by_prefix: Throttle::new(settings.failures_per_prefix),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            argon2_runs: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The caller behind an `Authorization` header value, sent from `client`.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        client: Option<IpAddr>,
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
        self.authenticate_token(token, client).await
    }

    /// The caller behind a bare key (Retraced clients send `token=KEY`), sent from `client`.
    pub async fn authenticate_token(
        &self,
        token: &str,
        client: Option<IpAddr>,
    ) -> Result<Arc<Principal>, ApiError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();

        if let Some(principal) = self.cached(&digest) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(principal);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let plaintext = Plaintext::new(token);
        let known = self.known.lock().ok().and_then(|k| k.get(&digest).cloned());
        let prefix = plaintext.prefix().map(str::to_owned);
        // A failure is taken from the client's and the prefix's budgets before any database
        // or argon2 work, and given back if the key is good: guesses in flight together cannot
        // all pass a check made before any of them failed. A prefix's exhausted budget binds
        // every address (guesses spread over many addresses are still guesses at one key); a
        // key this process has verified before skips the budgets, so its owner keeps working
        // while others guess at its prefix.
        let address = client.map(budget_of);
        let reserved = known.is_none();
        if reserved {
            if let Some(a) = &address
                && let Err(retry_after) = self.by_address.take(a)
            {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(ApiError::RateLimited { retry_after });
            }
            if let Some(p) = &prefix
                && let Err(retry_after) = self.by_prefix.take(p)
            {
                if let Some(a) = &address {
                    self.by_address.refund(a);
                }
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(ApiError::RateLimited { retry_after });
            }
        }
        // Every failure counts against the prefix tried, whether a key has it or not: the
        // budgets must not tell which prefixes exist. A key known from before that fails now
        // (revoked) is forgotten and counted like any other, so it cannot be tried for free.
        let failed = || {
            if !reserved {
                if let Ok(mut known) = self.known.lock() {
                    known.remove(&digest);
                }
                if let Some(a) = &address {
                    let _ = self.by_address.take(a);
                }
                if let Some(p) = &prefix {
                    let _ = self.by_prefix.take(p);
                }
            }
            ApiError::Unauthenticated(UNAUTHENTICATED.to_owned())
        };
        // Given back when the key is good, or when the database could not say.
        let release = || {
            if reserved {
                if let Some(a) = &address {
                    self.by_address.refund(a);
                }
                if let Some(p) = &prefix {
                    self.by_prefix.refund(p);
                }
            }
        };
        let Some(prefix_str) = prefix.as_deref() else {
            return Err(failed());
        };
        let candidates = ApiKeys::find()
            .filter(api_keys::Column::Prefix.eq(prefix_str))
            .filter(api_keys::Column::RevokedAt.is_null())
            .find_also_related(Tenants)
            .all(&self.db)
            .await
            .inspect_err(|_| release())?;
        if candidates.is_empty() {
            // An unknown prefix costs what a wrong secret costs: one argon2 check, against a
            // hash no key has. Answering sooner would tell which prefixes exist.
            self.verify_against_nothing(&plaintext).await?;
        }
        for (key, tenant) in candidates {
            let Some(tenant) = tenant else { continue };
            if tenant.status == entity::sea_orm_active_enums::TenantStatus::Archived {
                // An archived tenant's keys are revoked as it is archived; one that is not
                // (data written another way) still opens nothing. Checked after the argon2
                // check below, so that the answer tells only the key's holder.
                if !self.verify(&plaintext, &key.hash).await? {
                    continue;
                }
                release();
                return Err(crate::lifecycle::archived(&tenant.slug));
            }
            let same_key = known
                .as_ref()
                .is_some_and(|(id, hash)| *id == key.id && *hash == key.hash);
            if !same_key && !self.verify(&plaintext, &key.hash).await? {
                continue;
            }
            self.remember_known(digest, key.id, &key.hash);
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
            release();
            return Ok(principal);
        }
        Err(failed())
    }

    /// Forgets a key at once (after a revoke through this process).
    pub fn forget_key(&self, key_id: Uuid) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, c| c.principal.key_id != key_id);
        }
    }

    /// Forgets every key of `tenant_id` at once (after the tenant is deleted through this
    /// process).
    pub fn forget_tenant(&self, tenant_id: Uuid) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, c| c.principal.tenant_id != tenant_id);
        }
    }

    /// Drops every cached principal, as if the TTL had passed (keys known by digest stay
    /// known, so they need the database but no argon2). For tests and operators.
    pub fn expire_cache(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    /// Counters since start.
    pub fn stats(&self) -> AuthStats {
        AuthStats {
            cache_hits: self.hits.load(Ordering::Relaxed),
            cache_misses: self.misses.load(Ordering::Relaxed),
            argon2_runs: self.argon2_runs.load(Ordering::Relaxed),
            rate_limited: self.refused.load(Ordering::Relaxed),
        }
    }

    fn remember_known(&self, digest: [u8; 32], key_id: Uuid, hash: &str) {
        let Ok(mut known) = self.known.lock() else {
            return;
        };
        if known.len() >= KNOWN_CAPACITY && !known.contains_key(&digest) {
            known.clear();
        }
        known.insert(digest, (key_id, hash.to_owned()));
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
        self.argon2_runs.fetch_add(1, Ordering::Relaxed);
        let (plaintext, hash) = (plaintext.clone(), hash.to_owned());
        tokio::task::spawn_blocking(move || plaintext.verify(&hash))
            .await
            .map_err(ApiError::internal)
    }

    /// An argon2 check of `plaintext` against a hash of a random key made once per process:
    /// the time of a wrong secret, for a prefix no key has.
    async fn verify_against_nothing(&self, plaintext: &Plaintext) -> Result<bool, ApiError> {
        static NOTHING: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let _slot = self
            .argon2_slots
            .acquire()
            .await
            .map_err(ApiError::internal)?;
        self.argon2_runs.fetch_add(1, Ordering::Relaxed);
        let plaintext = plaintext.clone();
        tokio::task::spawn_blocking(move || {
            plaintext.verify(NOTHING.get_or_init(|| Plaintext::generate().hash()))
        })
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

/// The failure budget an address draws on: its own for IPv4, its /64 for IPv6 (one host
/// commonly holds a whole /64, and would otherwise have 2^64 budgets).
pub fn budget_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(std::net::Ipv6Addr::from(segments))
            }
        },
        v4 => v4,
    }
}
