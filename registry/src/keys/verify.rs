//! Products asking about a customer's key (`verifyApiKey`, `POST /v1/keys/verify`): is it good,
//! whose is it, what may it do, and may its tenant use the product now, in one answer.
//!
//! The key is recognised by [`Authenticator::identify`] (argon2 the first time a process sees
//! it, never again after), then everything else is read in one statement by the key's id: the
//! key row, its tenant, and the tenant's entitlement to the product. Nothing but the
//! recognition is cached, so the answer is as fresh as the database: a key revoked, expired or
//! frozen a moment ago is answered so by every process.
//!
//! An invalid key is an answer (`valid: false` and a code), never an error; errors are about
//! the caller (its key, its scope, the product it may ask about) and the database.

use chrono::{DateTime, FixedOffset, Utc};
use entity::scope::Scope;
use entity::sea_orm_active_enums::TenantStatus;
use entity::tenant_products;
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement};
use uuid::Uuid;

use crate::auth::principal::KEY_STANDING;
use crate::auth::{Authenticator, Found, Principal};
use crate::entitlements::Entitlement;
use crate::error::ApiError;
use crate::lifecycle::parse_status;

/// Why a key is (or is not) good, as the answer's `code` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Good, for everything its scopes allow.
    Valid,
    /// No such key (malformed, unknown, wrong secret).
    NotFound,
    /// Revoked.
    Revoked,
    /// Past its `expires_at`.
    Expired,
    /// Bound to another product than the one asked about.
    WrongProduct,
    /// Its tenant is frozen (or a trial past its end): good for reads only (`readOnly`).
    TenantFrozen,
    /// Its tenant is archived.
    TenantArchived,
    /// Its tenant may not use the product (no entitlement, disabled, expired).
    NotEntitled,
    /// Too many failed checks of keys with this prefix: ask again later.
    RateLimited,
}

impl Verdict {
    /// The code as clients see it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "VALID",
            Verdict::NotFound => "NOT_FOUND",
            Verdict::Revoked => "REVOKED",
            Verdict::Expired => "EXPIRED",
            Verdict::WrongProduct => "WRONG_PRODUCT",
            Verdict::TenantFrozen => "TENANT_FROZEN",
            Verdict::TenantArchived => "TENANT_ARCHIVED",
            Verdict::NotEntitled => "NOT_ENTITLED",
            Verdict::RateLimited => "RATE_LIMITED",
        }
    }

    /// Whether the key may be used (for reads only when [`Verdict::TenantFrozen`]).
    pub fn valid(self) -> bool {
        matches!(self, Verdict::Valid | Verdict::TenantFrozen)
    }

    /// Whether the key's holder may only read.
    pub fn read_only(self) -> bool {
        self == Verdict::TenantFrozen
    }
}

/// The key, as a product needs to know it (not its hash, not who created it).
#[derive(Debug, Clone)]
pub struct VerifiedKey {
    /// `api_keys.id`.
    pub id: Uuid,
    /// Its label.
    pub name: String,
    /// Its first 8 characters.
    pub prefix: String,
    /// What it may do.
    pub scopes: Vec<String>,
    /// The product it is bound to, if any.
    pub product: Option<String>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (before this check).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The key's tenant, as a product needs to know it.
#[derive(Debug, Clone)]
pub struct VerifiedTenant {
    /// `tenants.id`.
    pub id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its lifecycle state.
    pub status: TenantStatus,
}

/// The answer.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Why.
    pub verdict: Verdict,
    /// The key, when it exists (and is not an operators' key the caller may not see).
    pub key: Option<VerifiedKey>,
    /// Its tenant, likewise.
    pub tenant: Option<VerifiedTenant>,
    /// The tenant's entitlement to the product asked about, when one was asked about and
    /// exists.
    pub entitlement: Option<Entitlement>,
    /// With [`Verdict::RateLimited`]: how long to wait.
    pub retry_after: Option<std::time::Duration>,
}

impl Verification {
    fn bare(verdict: Verdict) -> Verification {
        Verification {
            verdict,
            key: None,
            tenant: None,
            entitlement: None,
            retry_after: None,
        }
    }
}

/// The product a caller asks about: a product key about its own (the default), a platform key
/// about any or none. `FORBIDDEN` otherwise.
fn product_asked(caller: &Principal, product: Option<&str>) -> Result<Option<String>, ApiError> {
    caller.require(Scope::KeysVerify)?;
    let product = product
        .map(crate::entitlements::valid_product)
        .transpose()?;
    match (&caller.product, product) {
        (Some(own), None) => Ok(Some(own.clone())),
        (Some(own), Some(asked)) if *own == asked => Ok(Some(asked)),
        (Some(own), Some(_)) => Err(ApiError::Forbidden(format!(
            "this key verifies keys for product {own} only"
        ))),
        (None, asked) if caller.is_platform() => Ok(asked),
        (None, _) => Err(ApiError::Forbidden(
            "keys:verify needs a key bound to a product (it verifies for that product) or a \
             platform key"
                .to_owned(),
        )),
    }
}

/// Answers `caller` about the key `token` for `product` (see the module's documentation).
pub async fn verify(
    db: &impl ConnectionTrait,
    auth: &Authenticator,
    caller: &Principal,
    token: &str,
    product: Option<&str>,
) -> Result<Verification, ApiError> {
    let product = product_asked(caller, product)?;
    let identified = auth.identify(token).await?;
    let (id, hash) = match &identified.found {
        Found::RateLimited(wait) => {
            return Ok(Verification {
                retry_after: Some(*wait),
                ..Verification::bare(Verdict::RateLimited)
            });
        }
        Found::NotFound => {
            auth.settle(&identified, true);
            return Ok(Verification::bare(Verdict::NotFound));
        }
        Found::Key { id, hash } => (*id, hash.clone()),
    };
    let row = match db
        .query_one_raw(statement(id, product.as_deref()))
        .await
        .inspect_err(|_| auth.settle(&identified, false))?
    {
        Some(row) => Some(Facts::of(&row, product.as_deref())?),
        None => None,
    };
    let Some(facts) = row.filter(|f| f.hash == hash) else {
        // Gone, or replaced under the same id: whatever this token was, it is no key now.
        identified.forget(auth);
        auth.settle(&identified, true);
        return Ok(Verification::bare(Verdict::NotFound));
    };
    if facts.platform && !caller.is_platform() {
        // Operators' keys are seen by operators only, here as everywhere.
        auth.settle(&identified, false);
        return Ok(Verification::bare(Verdict::NotFound));
    }
    let now = Utc::now();
    let verdict = facts.verdict(product.as_deref(), now);
    auth.settle(
        &identified,
        matches!(verdict, Verdict::Revoked | Verdict::Expired),
    );
    if verdict.valid() {
        auth.touch_if_stale(facts.key.id, facts.last_used_raw);
    }
    Ok(Verification {
        verdict,
        key: Some(facts.key),
        tenant: Some(facts.tenant),
        entitlement: facts.entitlement,
        retry_after: None,
    })
}

/// Everything an answer needs, read in one statement by the key's id.
struct Facts {
    key: VerifiedKey,
    hash: String,
    platform: bool,
    last_used_raw: Option<DateTime<FixedOffset>>,
    standing: String,
    tenant: VerifiedTenant,
    trial_ends_at: Option<DateTime<FixedOffset>>,
    entitlement: Option<Entitlement>,
}

/// The key `id`, its tenant, and (with `product`) the tenant's entitlement to it: the one
/// statement of a verification of a key recognised before (the benchmark's S14 floor runs it).
pub fn statement(id: Uuid, product: Option<&str>) -> Statement {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        format!(
            "SELECT k.id, k.name, k.prefix, k.scopes, k.product, k.expires_at, k.last_used_at, \
             k.hash, {KEY_STANDING}, t.id, t.slug, t.status::text, t.trial_ends_at, \
             e.tenant_id, e.enabled, e.config, e.expires_at, e.created_at, e.updated_at \
             FROM api_keys k JOIN tenants t ON t.id = k.tenant_id \
             LEFT JOIN tenant_products e ON e.tenant_id = k.tenant_id AND e.product = $2 \
             WHERE k.id = $1"
        )
    });
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql.as_str(),
        [id.into(), product.map(str::to_owned).into()],
    )
}

impl Facts {
    fn of(row: &QueryResult, product: Option<&str>) -> Result<Facts, ApiError> {
        let scopes: Vec<String> = row.try_get_by_index(3)?;
        let last_used_raw: Option<DateTime<FixedOffset>> = row.try_get_by_index(6)?;
        let status_text: String = row.try_get_by_index(11)?;
        let status = parse_status(&status_text)
            .ok_or_else(|| ApiError::internal(format!("unknown tenant status {status_text}")))?;
        let trial_ends_at: Option<DateTime<FixedOffset>> = row.try_get_by_index(12)?;
        let entitled: Option<Uuid> = row.try_get_by_index(13)?;
        let entitlement = match (product, entitled) {
            (Some(product), Some(tenant_id)) => Some(Entitlement {
                row: tenant_products::Model {
                    tenant_id,
                    product: product.to_owned(),
                    enabled: row.try_get_by_index(14)?,
                    config: row.try_get_by_index(15)?,
                    expires_at: row.try_get_by_index(16)?,
                    created_at: row.try_get_by_index(17)?,
                    updated_at: row.try_get_by_index(18)?,
                },
                tenant_status: status,
                tenant_trial_ends_at: trial_ends_at,
            }),
            _ => None,
        };
        Ok(Facts {
            platform: scopes.iter().any(|s| s == Scope::Platform.as_str()),
            key: VerifiedKey {
                id: row.try_get_by_index(0)?,
                name: row.try_get_by_index(1)?,
                prefix: row.try_get_by_index(2)?,
                scopes,
                product: row.try_get_by_index(4)?,
                expires_at: row
                    .try_get_by_index::<Option<DateTime<FixedOffset>>>(5)?
                    .map(|t| t.to_utc()),
                last_used_at: last_used_raw.map(|t| t.to_utc()),
            },
            last_used_raw,
            hash: row.try_get_by_index(7)?,
            standing: row.try_get_by_index(8)?,
            tenant: VerifiedTenant {
                id: row.try_get_by_index(9)?,
                slug: row.try_get_by_index(10)?,
                status,
            },
            trial_ends_at,
            entitlement,
        })
    }

    /// The verdict at `now`: the key's own standing first (revoked, expired), then its tenant
    /// (archived), then the product (the key bound to another; the tenant not entitled), and
    /// last a frozen tenant (or a trial past its end), good for reads.
    fn verdict(&self, product: Option<&str>, now: DateTime<Utc>) -> Verdict {
        match self.standing.as_str() {
            "live" => {}
            "expired" => return Verdict::Expired,
            _ => return Verdict::Revoked,
        }
        if self.tenant.status == TenantStatus::Archived {
            return Verdict::TenantArchived;
        }
        if let Some(asked) = product {
            if self.key.product.as_deref().is_some_and(|own| own != asked) {
                return Verdict::WrongProduct;
            }
            // The entitlement's own state: the tenant's is answered below (frozen) and above
            // (archived).
            let entitled = self.entitlement.as_ref().is_some_and(|e| {
                e.row.enabled && e.row.expires_at.is_none_or(|end| end.to_utc() > now)
            });
            if !entitled {
                return Verdict::NotEntitled;
            }
        }
        let trial_over = self.tenant.status == TenantStatus::Trial
            && self.trial_ends_at.is_some_and(|end| end.to_utc() <= now);
        if self.tenant.status == TenantStatus::Frozen || trial_over {
            return Verdict::TenantFrozen;
        }
        Verdict::Valid
    }
}
