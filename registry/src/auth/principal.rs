//! The caller behind a verified API key, and the rules of reach: a key sees only its own tenant
//! unless it holds `platform`; a product key sees only its product's audit events.

use std::collections::BTreeSet;

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

    /// `UNAUTHENTICATED` unless the key's row is still unrevoked, read in `txn` and held
    /// (`FOR KEY SHARE`) until it ends: a key revoked by another process, whose verdict this
    /// process still has cached, changes nothing. Its tenant's status now, for
    /// [`Principal::begin`] (a trial past its end counts as frozen: that is where it is going,
    /// whether or not the lifecycle's clock has moved it yet). One lookup by primary key.
    pub async fn require_live(&self, txn: &DatabaseTransaction) -> Result<TenantStatus, ApiError> {
        let row = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT CASE WHEN t.status = 'trial' AND t.trial_ends_at <= now() THEN 'frozen' \
                 ELSE t.status::text END FROM api_keys k JOIN tenants t ON t.id = k.tenant_id \
                 WHERE k.id = $1 AND k.revoked_at IS NULL FOR KEY SHARE OF k",
                [self.key_id.into()],
            ))
            .await?;
        let status = row
            .map(|row| row.try_get_by_index::<String>(0))
            .transpose()?
            .and_then(|text| crate::lifecycle::parse_status(&text));
        status.ok_or_else(|| ApiError::Unauthenticated("this API key has been revoked".to_owned()))
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
