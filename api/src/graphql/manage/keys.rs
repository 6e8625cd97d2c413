//! `issueApiKey`, `rotateApiKey`, `revokeApiKey` and `verifyApiKey`: adapters over
//! [`registry::keys`].

use async_graphql::{Context, Enum, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use registry::keys::verify::{Verdict, Verification};
use registry::keys::{Issuer, NewKey};
use uuid::Uuid;

use crate::graphql::context::{db, principal, request_meta, state};
use crate::graphql::tenants::{ApiKey, Entitlement, TenantStatus};
use crate::reads::PlanCache;

/// How a verification's one statement is planned: generically, the plan kept per read
/// connection (a lookup by primary key and two joins on keys, whatever the values; products
/// ask on every request they receive). `POST /v1/keys/verify` and the benchmark's S14 use it.
pub const VERIFY_PLAN_CACHE: PlanCache = PlanCache::Generic;

/// A new key: the plaintext, shown this once, and its record.
#[derive(SimpleObject, Debug)]
pub struct IssuedApiKey {
    /// The key. It is not stored anywhere: keep it now.
    pub key: String,
    /// The stored record (prefix, scopes, ...; never the hash).
    pub api_key: ApiKey,
}

/// Key mutations. Scope `keys:write`.
#[derive(Debug, Default)]
pub struct KeyMutation;

#[Object]
impl KeyMutation {
    /// Issues a key for a tenant with scopes the caller holds itself (never `platform`: only
    /// `api issue-key` mints those; `keys:verify` only from a platform key). A product key
    /// issues keys for its own product only. With `expiresAt` (in the future), the key stops
    /// working then.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn issue_api_key(
        &self,
        ctx: &Context<'_>,
        tenant_id: Uuid,
        name: String,
        scopes: Vec<String>,
        product: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<IssuedApiKey> {
        let (caller, meta) = (principal(ctx)?, request_meta(ctx));
        let new = NewKey {
            tenant_id,
            name,
            scopes,
            product,
            expires_at,
        };
        let issued = registry::keys::issue(db(ctx)?, Issuer::Key(caller, &meta), new).await?;
        Ok(issued.into())
    }

    /// Replaces a key: a new key with the same tenant, product, scopes and name (returned
    /// once, like an issued one), while the old key is renamed `<name> (rotated <prefix>)` and
    /// keeps working for `graceSeconds` (0 to 2592000; default a day) so that its users can
    /// switch. Needs what revoking needs. Recorded as `api_key.rotated`, naming both keys.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn rotate_api_key(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        #[graphql(default = 86400)] grace_seconds: i32,
    ) -> Result<IssuedApiKey> {
        let (caller, meta, state) = (principal(ctx)?, request_meta(ctx), state(ctx)?);
        let grace = chrono::Duration::seconds(i64::from(grace_seconds));
        let issued =
            registry::keys::rotate(&state.db, (caller, &meta), &state.auth, id, grace).await?;
        Ok(issued.into())
    }

    /// Revokes a key; it is refused from the next request on, by every server process.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: Uuid) -> Result<ApiKey> {
        let (caller, meta, state) = (principal(ctx)?, request_meta(ctx), state(ctx)?);
        Ok(ApiKey(
            registry::keys::revoke(&state.db, (caller, &meta), &state.auth, id).await?,
        ))
    }
}

impl From<registry::keys::IssuedKey> for IssuedApiKey {
    fn from(issued: registry::keys::IssuedKey) -> IssuedApiKey {
        IssuedApiKey {
            key: issued.plaintext.expose().to_owned(),
            api_key: ApiKey(issued.record),
        }
    }
}

/// Asking about a customer's key. Scope `keys:verify`.
#[derive(Debug, Default)]
pub struct KeyQuery;

#[Object]
impl KeyQuery {
    /// Whether `key` (a customer's key, as the product received it) is good, whose it is,
    /// what it may do, and whether its tenant may use `product` now. A product's key asks
    /// about its own product (the default); a platform key about any, or none (then no
    /// entitlement is checked). An invalid key is an answer (`valid: false` and a `code`),
    /// not an error. The key's failures count against its prefix's limit, as on requests.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn verify_api_key(
        &self,
        ctx: &Context<'_>,
        key: String,
        product: Option<String>,
    ) -> Result<KeyVerification> {
        let (caller, state) = (principal(ctx)?, state(ctx)?);
        let answer = registry::keys::verify::verify(
            &state.reader().planned(VERIFY_PLAN_CACHE),
            &state.auth,
            caller,
            &key,
            product.as_deref(),
        )
        .await?;
        Ok(answer.into())
    }
}

/// Why a key is or is not good.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyVerificationCode {
    /// Good.
    Valid,
    /// No such key (malformed, unknown, or a wrong secret).
    NotFound,
    /// Revoked.
    Revoked,
    /// Past its expiry.
    Expired,
    /// Bound to another product than the one asked about.
    WrongProduct,
    /// Its tenant is frozen (or a trial past its end): `valid`, for reads only (`readOnly`).
    TenantFrozen,
    /// Its tenant is archived.
    TenantArchived,
    /// Its tenant may not use the product (no entitlement, or it is disabled or expired;
    /// `entitlement.reason` says which).
    NotEntitled,
    /// Too many failed checks of keys like this one lately: ask again after
    /// `retryAfterSeconds`.
    RateLimited,
}

impl From<Verdict> for KeyVerificationCode {
    fn from(v: Verdict) -> KeyVerificationCode {
        match v {
            Verdict::Valid => KeyVerificationCode::Valid,
            Verdict::NotFound => KeyVerificationCode::NotFound,
            Verdict::Revoked => KeyVerificationCode::Revoked,
            Verdict::Expired => KeyVerificationCode::Expired,
            Verdict::WrongProduct => KeyVerificationCode::WrongProduct,
            Verdict::TenantFrozen => KeyVerificationCode::TenantFrozen,
            Verdict::TenantArchived => KeyVerificationCode::TenantArchived,
            Verdict::NotEntitled => KeyVerificationCode::NotEntitled,
            Verdict::RateLimited => KeyVerificationCode::RateLimited,
        }
    }
}

/// The answer about a customer's key (its entitlement already wrapped, so that resolving it
/// copies nothing).
#[derive(Debug)]
pub struct KeyVerification(pub Verification, Option<Entitlement>);

impl From<Verification> for KeyVerification {
    fn from(mut answer: Verification) -> KeyVerification {
        let entitlement = answer.entitlement.take().map(Entitlement);
        KeyVerification(answer, entitlement)
    }
}

#[Object]
impl KeyVerification {
    /// Whether the key may be used (for reads only when `readOnly`).
    async fn valid(&self) -> bool {
        self.0.verdict.valid()
    }
    /// Why.
    async fn code(&self) -> KeyVerificationCode {
        self.0.verdict.into()
    }
    /// The key's tenant is frozen: it may read, not change anything. The product decides what
    /// that means for it.
    async fn read_only(&self) -> bool {
        self.0.verdict.read_only()
    }
    /// With `RATE_LIMITED`: whole seconds to wait.
    async fn retry_after_seconds(&self) -> Option<i32> {
        self.0
            .retry_after
            .map(|d| i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX))
    }
    /// The key, when it exists.
    async fn key(&self) -> Option<VerifiedKey<'_>> {
        self.0.key.as_ref().map(VerifiedKey)
    }
    /// Its tenant, when the key exists.
    async fn tenant(&self) -> Option<VerifiedTenant<'_>> {
        self.0.tenant.as_ref().map(VerifiedTenant)
    }
    /// The tenant's entitlement to the product asked about, when it has one.
    async fn entitlement(&self) -> Option<&Entitlement> {
        self.1.as_ref()
    }
}

/// A customer's key as a product sees it: no hash, no creator.
#[derive(Debug)]
pub struct VerifiedKey<'a>(&'a registry::keys::verify::VerifiedKey);

#[Object]
impl VerifiedKey<'_> {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The key's first 8 characters.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    async fn scopes(&self) -> &[String] {
        &self.0.scopes
    }
    /// The product the key is confined to (none: every product).
    async fn product(&self) -> Option<&str> {
        self.0.product.as_deref()
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    /// When it was last used, before this check.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
}

/// A key's tenant as a product sees it.
#[derive(Debug)]
pub struct VerifiedTenant<'a>(&'a registry::keys::verify::VerifiedTenant);

#[Object]
impl VerifiedTenant<'_> {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn status(&self) -> TenantStatus {
        self.0.status.into()
    }
}
