//! The caller behind a verified API key, and the rules of reach: a key sees only its own tenant
//! unless it holds `platform`; a product key sees only its product's audit events.

use std::collections::BTreeSet;

use entity::scope::Scope;
use uuid::Uuid;

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
}
