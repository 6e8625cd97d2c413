//! The caller behind a verified API key, and the rules of reach: a key sees only its own tenant
//! unless it holds `platform`; a product key sees only its product's audit events.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use entity::scope::Scope;
use entity::sea_orm_active_enums::TenantStatus;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement};
use uuid::Uuid;

use crate::Db;
use crate::error::ApiError;

/// A verified, unrevoked API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's id (`api_keys.id`).
    pub key_id: Uuid,
    /// The key's name.
    pub key_name: String,
    /// The tenant the key belongs to.
    pub tenant_id: Uuid,
    /// That tenant's slug.
    pub tenant_slug: String,
    /// What the key may do.
    pub scopes: BTreeSet<Scope>,
    /// The product the key is confined to, if any.
    pub product: Option<String>,
    /// When the key stops working, if it does.
    pub expires_at: Option<DateTime<Utc>>,
}

/// SQL for the standing of the key row `k` now: `'revoked'` (also when `k` is a missing row of
/// an outer join), `'expired'` or `'live'`. Every
/// check of a key against its row ([`Principal::require_live`], a publish's one statement)
/// reads it this way and answers with [`key_standing`].
pub(crate) const KEY_STANDING: &str = "CASE WHEN k.id IS NULL OR k.revoked_at IS NOT NULL THEN 'revoked' \
     WHEN k.expires_at <= now() THEN 'expired' ELSE 'live' END";

/// `Ok` for a key whose [`KEY_STANDING`] is `live`; `UNAUTHENTICATED` for one revoked (or
/// gone: `None`), `KEY_EXPIRED` for one past its expiry.
pub(crate) fn key_standing(
    standing: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(), ApiError> {
    match standing {
        Some("live") => Ok(()),
        Some("expired") => Err(expired(expires_at)),
        _ => Err(ApiError::Unauthenticated(
            "this API key has been revoked".to_owned(),
        )),
    }
}

/// `KEY_EXPIRED` for a key that expired at `at`.
pub(crate) fn expired(at: Option<DateTime<Utc>>) -> ApiError {
    ApiError::KeyExpired(
        at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| "an earlier time".to_owned()),
    )
}

impl Principal {
    /// Whether the key reaches every tenant.
    pub fn is_platform(&self) -> bool {
        self.scopes.contains(&Scope::Platform)
    }

    /// `FORBIDDEN` unless the key holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this API key lacks the scope {scope}"
            )))
        }
    }

    /// Whether the key may reach `tenant_id`'s data.
    pub fn reaches(&self, tenant_id: Uuid) -> bool {
        self.is_platform() || self.tenant_id == tenant_id
    }

    /// `FORBIDDEN` unless the key may reach `tenant_id`'s data.
    pub fn require_tenant(&self, tenant_id: Uuid) -> Result<(), ApiError> {
        if self.reaches(tenant_id) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this API key cannot reach another tenant's data".to_owned(),
            ))
        }
    }

    /// `NOT_FOUND` unless the key may reach `tenant_id`: a tenant out of reach is answered as
    /// one that does not exist, so that no answer tells whether it does.
    pub fn require_reach(&self, tenant_id: Uuid) -> Result<(), ApiError> {
        if self.reaches(tenant_id) {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("no tenant {tenant_id}")))
        }
    }

    /// `FORBIDDEN` unless the key holds `platform`: `what` is the operators' decision.
    pub fn require_operator(&self, what: &str) -> Result<(), ApiError> {
        if self.is_platform() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{what} is the platform operators' decision: it needs a key with the scope \
                 platform"
            )))
        }
    }

    /// Whether this key's authority covers a key with `scopes` bound to `product`: it holds
    /// every one of those scopes, and, when it is bound to a product itself, the other key is
    /// bound to the same product. A key never acts on a key that outranks it.
    pub fn covers<'a>(
        &self,
        scopes: impl IntoIterator<Item = &'a str>,
        product: Option<&str>,
    ) -> bool {
        let held = scopes.into_iter().all(|name| {
            name.parse::<Scope>()
                .is_ok_and(|scope| self.scopes.contains(&scope))
        });
        let bound = match &self.product {
            Some(own) => product == Some(own.as_str()),
            None => true,
        };
        held && bound
    }

    /// `UNAUTHENTICATED` unless the key's row is still unrevoked (`KEY_EXPIRED` once past its
    /// expiry), read in `txn` and held (`FOR KEY SHARE`) until it ends: a key revoked by
    /// another process, whose verdict this process may not have dropped yet, changes nothing.
    /// Its tenant's status now, for [`Principal::begin`] (a trial past its end counts as
    /// frozen: that is where it is going, whether or not the lifecycle's clock has moved it
    /// yet). One lookup by primary key.
    pub async fn require_live(&self, txn: &DatabaseTransaction) -> Result<TenantStatus, ApiError> {
        let row = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "SELECT {KEY_STANDING}, k.expires_at, \
                     CASE WHEN t.status = 'trial' AND t.trial_ends_at <= now() THEN 'frozen' \
                     ELSE t.status::text END FROM api_keys k JOIN tenants t ON t.id = k.tenant_id \
                     WHERE k.id = $1 FOR KEY SHARE OF k"
                ),
                [self.key_id.into()],
            ))
            .await?;
        let Some(row) = row else {
            key_standing(None, None)?;
            return Err(ApiError::internal("a missing key passed as live"));
        };
        let standing: String = row.try_get_by_index(0)?;
        let expires_at: Option<DateTime<Utc>> = row.try_get_by_index(1)?;
        key_standing(Some(&standing), expires_at)?;
        let status: String = row.try_get_by_index(2)?;
        crate::lifecycle::parse_status(&status)
            .ok_or_else(|| ApiError::internal(format!("unknown tenant status {status}")))
    }

    /// A transaction on `db` for a change made by this key, once [`Principal::require_live`]
    /// holds in it and, unless the key is an operators', its tenant's state allows a change
    /// ([`crate::lifecycle::check_change`]: not frozen, not archived).
    pub async fn begin(&self, db: &impl Db) -> Result<DatabaseTransaction, ApiError> {
        let txn = db.begin().await?;
        let status = self.require_live(&txn).await?;
        if !self.is_platform() {
            crate::lifecycle::check_change(&self.tenant_slug, status)?;
        }
        Ok(txn)
    }
}
