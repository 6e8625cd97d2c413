//! Verifying `Authorization: Bearer <key>`.
//!
//! The key's first 8 characters find the candidate records (`api_keys_prefix_idx`); argon2id
//! verifies the match. Argon2 is deliberately slow (tens of ms), so it runs on the blocking pool
//! with bounded concurrency, and verified keys are cached, keyed by a SHA-256 of the key (never
//! the key itself). `last_used_at` is written at most once per [`TOUCH_EVERY`] per key.
//!
//! The cache is served only while this process listens for the database's notices of changed
//! keys and tenants ([`super::listener`]): a revoke, a rotation's expiry, a tenant's new state,
//! made through any process or by hand, drops the affected entries here as it commits. While the
//! listening connection is down the cache is emptied and not used (every request reads its key
//! from the database), so that no notice missed meanwhile can leave a stale verdict. An entry
//! whose database read began before a notice arrived is not stored (the [`Authenticator`]'s
//! epoch), so that a verdict read just before a revoke cannot outlive it. [`CACHE_TTL`] bounds
//! an entry's life besides.
//!
//! Beyond the cache, the SHA-256 of every key verified is remembered with the key's id and hash
//! (bounded): once the database confirms that key is still unrevoked with the same hash, it is
//! the same key, and argon2 is not run again. Failed verifications are limited per client
//! address (an IPv6 client per /64) and per key prefix ([`AuthSettings`]); over the limit a
//! request is refused with `RATE_LIMITED` before any database or argon2 work, while keys
//! already known to be good pass. An unknown prefix costs an argon2 check like a wrong secret,
//! so that neither the time of an answer nor the budgets tell which prefixes exist.
//!
//! [`Authenticator::identify`] is the same recognition for a key a product asks about
//! (`verifyApiKey`, [`crate::keys::verify`]): revoked and expired keys are recognised too, so
//! that the answer can say so, and only the prefix's budget counts (the caller's address is
//! the product's server, which asks for every customer).

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

/// How long a verified key is trusted without checking the database again, notices aside
/// (changes reach the cache through [`super::listener`] as they commit; this only bounds an
/// entry's age).
pub const CACHE_TTL: Duration = Duration::from_secs(300);
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

/// The cache of verified keys, and the count of notices that may have made an entry stale.
struct Cache {
    entries: HashMap<[u8; 32], Cached>,
    /// Bumped (under the lock) by every notice, every forgetting and every change of the
    /// listening state: an entry read from the database at an older epoch is not stored.
    epoch: u64,
    /// Whether the cache may be served: the listener is connected and listening.
    listening: bool,
}

/// Verifies API keys, with a cache of recent successes.
pub struct Authenticator {
    db: DatabaseConnection,
    cache: Mutex<Cache>,
    /// Keys whose `last_used_at` was written lately, and when (verifications touch by id).
    touched: Mutex<HashMap<Uuid, Instant>>,
    listening_tx: tokio::sync::watch::Sender<bool>,
    argon2_slots: Semaphore,
    /// SHA-256 of a verified key → (its id, the hash it verified against).
    known: Mutex<HashMap<[u8; 32], (Uuid, String)>>,
    by_address: Throttle<IpAddr>,
    by_prefix: Throttle<String>,
    hits: AtomicU64,
    misses: AtomicU64,
    argon2_runs: AtomicU64,
    refused: AtomicU64,
    notices: AtomicU64,
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
    /// Notices of changed keys and tenants applied to the cache.
    pub notices: u64,
    /// Whether the notices' connection listens (the cache is in use).
    pub listening: bool,
}

const UNAUTHENTICATED: &str =
    "missing or invalid API key: send `Authorization: Bearer <key>` with a valid, unrevoked key";

impl Authenticator {
    /// An authenticator over `db`.
    pub fn new(db: DatabaseConnection, settings: AuthSettings) -> Authenticator {
        Authenticator {
            db,
            cache: Mutex::new(Cache {
                entries: HashMap::new(),
                epoch: 0,
                listening: false,
            }),
            touched: Mutex::new(HashMap::new()),
            listening_tx: tokio::sync::watch::Sender::new(false),
            argon2_slots: Semaphore::new(settings.argon2_concurrency.max(1)),
            known: Mutex::new(HashMap::new()),
            by_address: Throttle::new(settings.failures_per_address),
            by_prefix: Throttle::new(settings.failures_per_prefix),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            argon2_runs: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            notices: AtomicU64::new(0),
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

        match self.cached(&digest) {
            Some(Ok(principal)) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(principal);
            }
            Some(Err(expired)) => return Err(expired),
            None => {}
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        // Read before the database is: a notice arriving after this makes the verdict read
        // below too old to cache.
        let epoch = self.epoch();
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
        // (revoked, expired) is forgotten and counted like any other, so it cannot be tried
        // for free.
        let count_failure = || {
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
        };
        let failed = || {
            count_failure();
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
            let same_key = known
                .as_ref()
                .is_some_and(|(id, hash)| *id == key.id && *hash == key.hash);
            if !same_key && !self.verify(&plaintext, &key.hash).await? {
                continue;
            }
            // Past here the key is genuine: what stops it now is told to its holder only.
            if tenant.status == entity::sea_orm_active_enums::TenantStatus::Archived {
                // An archived tenant's keys are revoked as it is archived; one that is not
                // (data written another way) still opens nothing.
                release();
                return Err(crate::lifecycle::archived(&tenant.slug));
            }
            let expires_at = key.expires_at.map(|t| t.to_utc());
            if expires_at.is_some_and(|t| t <= chrono::Utc::now()) {
                // Expired is as dead as revoked: it counts like a failure.
                count_failure();
                return Err(super::principal::expired(expires_at));
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
                expires_at,
            });
            self.touch_if_stale(key.id, key.last_used_at);
            self.remember(digest, principal.clone(), epoch);
            release();
            return Ok(principal);
        }
        Err(failed())
    }

    /// Which key `token` is, for a product asking about it ([`crate::keys::verify`]): by the
    /// digest of a key recognised before (no argon2), else by its prefix and an argon2 check
    /// against every key with that prefix, revoked and expired ones included. Only the
    /// prefix's failure budget is drawn on (taken before the work unless the key was
    /// recognised before); [`Authenticator::settle`] gives it back or counts the failure once
    /// the answer is known.
    pub async fn identify(&self, token: &str) -> Result<Identified, ApiError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let plaintext = Plaintext::new(token);
        let Some(prefix) = plaintext
            .prefix()
            .filter(|p| p.starts_with(super::KEY_MARKER))
            .map(str::to_owned)
        else {
            // Not one of ours at all: nothing to guess at, nothing to count.
            return Ok(Identified {
                found: Found::NotFound,
                prefix: None,
                reserved: false,
                digest,
            });
        };
        let known = self.known.lock().ok().and_then(|k| k.get(&digest).cloned());
        if let Some((id, hash)) = known {
            return Ok(Identified {
                found: Found::Key { id, hash },
                prefix: Some(prefix),
                reserved: false,
                digest,
            });
        }
        if let Err(retry_after) = self.by_prefix.take(&prefix) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Ok(Identified {
                found: Found::RateLimited(retry_after),
                prefix: None,
                reserved: false,
                digest,
            });
        }
        let mut identified = Identified {
            found: Found::NotFound,
            prefix: Some(prefix),
            reserved: true,
            digest,
        };
        let candidates = ApiKeys::find()
            .filter(api_keys::Column::Prefix.eq(identified.prefix.as_deref()))
            .all(&self.db)
            .await
            .inspect_err(|_| self.settle(&identified, false))?;
        if candidates.is_empty() {
            self.verify_against_nothing(&plaintext).await?;
        }
        for key in candidates {
            if self.verify(&plaintext, &key.hash).await? {
                self.remember_known(digest, key.id, &key.hash);
                identified.found = Found::Key {
                    id: key.id,
                    hash: key.hash,
                };
                break;
            }
        }
        Ok(identified)
    }

    /// Ends what [`Authenticator::identify`] began: a failed answer (no such key, revoked,
    /// expired) counts against the prefix's budget; any other gives back what was taken.
    pub fn settle(&self, identified: &Identified, failed: bool) {
        let Some(prefix) = &identified.prefix else {
            return;
        };
        match (identified.reserved, failed) {
            (true, false) => self.by_prefix.refund(prefix),
            (false, true) => {
                let _ = self.by_prefix.take(prefix);
            }
            _ => {}
        }
    }

    /// Forgets a key at once (after a revoke through this process, or a notice).
    pub fn forget_key(&self, key_id: Uuid) {
        self.forget(|c| c.principal.key_id == key_id);
    }

    /// Forgets every key of `tenant_id` at once (after its state changed, or it was deleted).
    pub fn forget_tenant(&self, tenant_id: Uuid) {
        self.forget(|c| c.principal.tenant_id == tenant_id);
    }

    /// Drops every cached principal, as if the TTL had passed (keys known by digest stay
    /// known, so they need the database but no argon2). For tests and operators.
    pub fn expire_cache(&self) {
        self.forget(|_| true);
    }

    /// Applies a notice from the database ([`super::listener`]): a key, or every key of a
    /// tenant, may have changed; `None`: unknown, so everything may have.
    pub fn notice(&self, notice: Option<super::listener::Notice>) {
        use super::listener::Notice;
        match notice {
            Some(Notice::Key(id)) => self.forget_key(id),
            Some(Notice::Tenant(id)) => self.forget_tenant(id),
            None => self.expire_cache(),
        }
        self.notices.fetch_add(1, Ordering::Relaxed);
    }

    fn forget(&self, gone: impl Fn(&Cached) -> bool) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.epoch += 1;
            cache.entries.retain(|_, c| !gone(c));
        }
    }

    /// Called by the listener: whether notices are arriving. Either way the cache starts
    /// empty: notices missed while down are unknown, and entries stored before are from
    /// before the gap.
    pub fn set_listening(&self, listening: bool) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.epoch += 1;
            cache.entries.clear();
            cache.listening = listening;
        }
        self.listening_tx.send_replace(listening);
    }

    /// Whether the cache is in use (the listener is listening).
    pub fn listening(&self) -> bool {
        *self.listening_tx.borrow()
    }

    /// Waits until the listener listens, at most `timeout`; whether it does.
    pub async fn wait_listening(&self, timeout: Duration) -> bool {
        let mut rx = self.listening_tx.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|l| *l))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Counters since start.
    pub fn stats(&self) -> AuthStats {
        AuthStats {
            cache_hits: self.hits.load(Ordering::Relaxed),
            cache_misses: self.misses.load(Ordering::Relaxed),
            argon2_runs: self.argon2_runs.load(Ordering::Relaxed),
            rate_limited: self.refused.load(Ordering::Relaxed),
            notices: self.notices.load(Ordering::Relaxed),
            listening: self.listening(),
        }
    }

    fn epoch(&self) -> u64 {
        self.cache.lock().map(|c| c.epoch).unwrap_or(u64::MAX)
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

    /// The cached principal of `digest` (`Err`: it has expired since), or `None` when there
    /// is none or the cache is not in use.
    fn cached(&self, digest: &[u8; 32]) -> Option<Result<Arc<Principal>, ApiError>> {
        let mut cache = self.cache.lock().ok()?;
        if !cache.listening {
            return None;
        }
        let entry = cache.entries.get_mut(digest)?;
        if entry.verified_at.elapsed() > CACHE_TTL {
            cache.entries.remove(digest);
            return None;
        }
        if let Some(at) = entry.principal.expires_at
            && at <= chrono::Utc::now()
        {
            // Read again from the database, which says so (and counts it).
            cache.entries.remove(digest);
            return None;
        }
        if entry.touched_at.elapsed() > TOUCH_EVERY {
            entry.touched_at = Instant::now();
            self.touch(entry.principal.key_id);
        }
        Some(Ok(entry.principal.clone()))
    }

    /// Caches `principal`, read from the database at `epoch`, unless a notice has come since.
    fn remember(&self, digest: [u8; 32], principal: Arc<Principal>, epoch: u64) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if !cache.listening || cache.epoch != epoch {
            return;
        }
        if cache.entries.len() >= CACHE_CAPACITY {
            cache
                .entries
                .retain(|_, c| c.verified_at.elapsed() <= CACHE_TTL);
            if cache.entries.len() >= CACHE_CAPACITY {
                cache.entries.clear();
            }
        }
        let now = Instant::now();
        cache.entries.insert(
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

    /// Records use of key `key_id`, last written at `last_used_at`, unless that (or this
    /// process's own last write) is under [`TOUCH_EVERY`] ago.
    pub fn touch_if_stale(
        &self,
        key_id: Uuid,
        last_used_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    ) {
        let recent = last_used_at.is_some_and(|t| {
            chrono::Utc::now().signed_duration_since(t)
                <= chrono::Duration::from_std(TOUCH_EVERY).unwrap_or_default()
        });
        if recent {
            return;
        }
        {
            let Ok(mut touched) = self.touched.lock() else {
                return;
            };
            if touched
                .get(&key_id)
                .is_some_and(|at| at.elapsed() <= TOUCH_EVERY)
            {
                return;
            }
            if touched.len() >= CACHE_CAPACITY {
                touched.retain(|_, at| at.elapsed() <= TOUCH_EVERY);
            }
            touched.insert(key_id, Instant::now());
        }
        self.touch(key_id);
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

/// What [`Authenticator::identify`] made of a key.
#[derive(Debug)]
pub struct Identified {
    /// The key, if one is.
    pub found: Found,
    /// The prefix whose budget the answer settles (`None`: nothing to settle).
    prefix: Option<String>,
    /// Whether a failure was taken from the budget before the work.
    reserved: bool,
    /// The SHA-256 of the key.
    digest: [u8; 32],
}

/// Which key a token is.
#[derive(Debug)]
pub enum Found {
    /// The key `id`, whose stored hash the token matched.
    Key {
        /// `api_keys.id`.
        id: Uuid,
        /// The hash it matched: the database must still hold this one for it to be the key.
        hash: String,
    },
    /// No key (malformed, an unknown prefix, a wrong secret).
    NotFound,
    /// The prefix's failure budget is spent: try again after this long.
    RateLimited(Duration),
}

impl Identified {
    /// Forgets the recognition of a key whose row no longer holds the hash it matched (the
    /// row went, or was replaced), so that the next check runs argon2 again.
    pub fn forget(&self, auth: &Authenticator) {
        if let Ok(mut known) = auth.known.lock() {
            known.remove(&self.digest);
        }
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
