//! `setEntitlement` (upsert), `removeEntitlement`, and the `entitlement` query products ask
//! on every login: adapters over [`registry::entitlements`].

use async_graphql::{Context, Json, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use registry::entitlements::EntitlementChanges;
use serde_json::Value;
use uuid::Uuid;

use super::patch;
use crate::graphql::context::{db, principal, reader, request_meta};
use crate::graphql::tenants::Entitlement;
use crate::reads::PlanCache;

/// How the `entitlement` lookup is planned: generically, the plan kept per connection. It looks
/// up one tenant by its id or unique slug and one row by the primary key `(tenant_id, product)`,
/// the same two index lookups whatever the values, and planning that join on every execution was
/// three quarters of an entitlement's cost in the database (docs/performance.md).
pub const ENTITLEMENT_PLAN_CACHE: PlanCache = PlanCache::Generic;

/// Entitlement mutations. Scopes `tenants:write` and `platform`: what a tenant may use is the
/// operators' decision.
#[derive(Debug, Default)]
pub struct EntitlementMutation;

#[Object]
impl EntitlementMutation {
    /// Grants or changes a tenant's entitlement to a product (scopes `tenants:write` and
    /// `platform`). Absent fields keep their value
    /// (a new entitlement: enabled, `{}` config, no expiry); `expiresAt: null` clears it.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn set_entitlement(
        &self,
        ctx: &Context<'_>,
        tenant_id: Uuid,
        product: String,
        enabled: Option<bool>,
        config: Option<Json<Value>>,
        expires_at: MaybeUndefined<DateTime<Utc>>,
    ) -> Result<Entitlement> {
        let changes = EntitlementChanges {
            enabled,
            config: config.map(|c| c.0),
            expires_at: patch(expires_at),
        };
        let (caller, meta) = (principal(ctx)?, request_meta(ctx));
        let set =
            registry::entitlements::set(db(ctx)?, (caller, &meta), tenant_id, &product, changes);
        Ok(Entitlement(set.await?))
    }

    /// Removes a tenant's entitlement to a product; returns what was removed. Scopes
    /// `tenants:write` and `platform`.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn remove_entitlement(
        &self,
        ctx: &Context<'_>,
        tenant_id: Uuid,
        product: String,
    ) -> Result<Entitlement> {
        let (caller, meta) = (principal(ctx)?, request_meta(ctx));
        let removed =
            registry::entitlements::remove(db(ctx)?, (caller, &meta), tenant_id, &product);
        Ok(Entitlement(removed.await?))
    }
}

/// The entitlement query.
#[derive(Debug, Default)]
pub struct EntitlementQuery;

#[Object]
impl EntitlementQuery {
    /// A tenant's entitlement to a product (give `tenantId` or `tenantSlug`). Keys with
    /// `tenants:read` may ask about any product; a product key about its own product.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn entitlement(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
        tenant_slug: Option<String>,
        product: String,
    ) -> Result<Option<Entitlement>> {
        let caller = principal(ctx)?;
        let reader = reader(ctx)?;
        let planned = reader.planned(ENTITLEMENT_PLAN_CACHE);
        let found =
            registry::entitlements::lookup(&planned, caller, (tenant_id, tenant_slug), product);
        Ok(found.await?.map(Entitlement))
    }
}
