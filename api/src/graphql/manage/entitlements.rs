//! `setEntitlement` (upsert), `removeEntitlement`, and the `entitlement` query products ask
//! on every login (one primary-key lookup joined to its tenant).

use std::sync::OnceLock;

use async_graphql::{Context, Json, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use entity::prelude::{TenantProducts, Tenants};
use entity::scope::Scope;
use entity::{tenant_products, tenants};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait as _, DbBackend, DbErr,
    EntityTrait, Iterable, QueryFilter, QueryResult, QuerySelect, QueryTrait, SelectTwo, Statement,
    Value as SqlValue,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::begin;
use crate::audit::portal::{Change, diff, record, snapshot};
use crate::deletions;
use crate::error::ApiError;
use crate::graphql::context::{principal, reader, request_meta};
use crate::graphql::tenants::Entitlement;
use crate::reads::PlanCache;

/// A tenant named by id or by slug.
#[derive(Debug, Clone)]
pub enum TenantRef {
    /// `tenants.id`.
    Id(Uuid),
    /// `tenants.slug`.
    Slug(String),
}

/// The `entitlement` query's lookup: the tenant's row for `product`, joined to the tenant.
pub fn entitlement_select(
    tenant: TenantRef,
    product: String,
) -> SelectTwo<tenant_products::Entity, tenants::Entity> {
    let tenant_condition = match tenant {
        TenantRef::Id(id) => tenants::Column::Id.eq(id),
        TenantRef::Slug(slug) => tenants::Column::Slug.eq(slug),
    };
    TenantProducts::find()
        .filter(tenant_products::Column::Product.eq(product))
        .find_also_related(Tenants)
        .filter(tenant_condition)
}

/// How [`entitlement_statement`] is planned: generically, the plan kept per connection. It looks
/// up one tenant by its id or unique slug and one row by the primary key `(tenant_id, product)`,
/// the same two index lookups whatever the values, and planning that join on every execution was
/// three quarters of an entitlement's cost in the database (docs/performance.md).
pub const ENTITLEMENT_PLAN_CACHE: PlanCache = PlanCache::Generic;

/// The statement the `entitlement` query runs: [`entitlement_select`] with `LIMIT 1`. Products
/// ask on every login, so its text is built once per way of naming the tenant (it never
/// changes) and only the values are bound per call, in the builder's order
/// (`tests/integration/manage/entitlements.rs` holds the two to be equal). The benchmark runs it.
pub fn entitlement_statement(tenant: TenantRef, product: String) -> Statement {
    static BY_ID: OnceLock<String> = OnceLock::new();
    static BY_SLUG: OnceLock<String> = OnceLock::new();
    let built = |tenant: TenantRef| {
        entitlement_select(tenant, String::new())
            .limit(1)
            .build(DbBackend::Postgres)
            .sql
    };
    let (sql, tenant) = match tenant {
        TenantRef::Id(id) => (
            BY_ID.get_or_init(|| built(TenantRef::Id(Uuid::nil()))),
            SqlValue::from(id),
        ),
        TenantRef::Slug(slug) => (
            BY_SLUG.get_or_init(|| built(TenantRef::Slug(String::new()))),
            SqlValue::from(slug),
        ),
    };
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql.clone(),
        [SqlValue::from(product), tenant, SqlValue::from(1_u64)],
    )
}

/// The entitlement, and its tenant's id, in a row of [`entitlement_statement`], read by
/// position: the entitlement's columns come first, then the tenant's, each in declaration order
/// (as the builder lists them). Of the tenant, only the id and status are read; reading the
/// whole row by its `A_`/`B_` names cost a tenth of an `entitlement` request's CPU.
pub fn entitlement_of(row: &QueryResult) -> Result<(Entitlement, Uuid), DbErr> {
    // A column's place in its entity is its declaration order, as the builder lists them.
    let tenant_at =
        |column: tenants::Column| tenant_products::Column::iter().len() + column as usize;
    let (tenant_id, status) = (
        tenant_at(tenants::Column::Id),
        tenant_at(tenants::Column::Status),
    );
    let entitlement = tenant_products::Model {
        tenant_id: row.try_get_by_index(0)?,
        product: row.try_get_by_index(1)?,
        enabled: row.try_get_by_index(2)?,
        config: row.try_get_by_index(3)?,
        expires_at: row.try_get_by_index(4)?,
        created_at: row.try_get_by_index(5)?,
        updated_at: row.try_get_by_index(6)?,
    };
    Ok((
        Entitlement {
            row: entitlement,
            tenant_status: row.try_get_by_index(status)?,
        },
        row.try_get_by_index(tenant_id)?,
    ))
}

fn valid_product(product: &str) -> Result<String, ApiError> {
    let p = product.trim();
    let ok = (1..=40).contains(&p.len())
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(p.to_owned())
    } else {
        Err(ApiError::bad_input(
            "product",
            "product is 1 to 40 characters of a-z, 0-9 and '-'",
        ))
    }
}

/// Entitlement mutations. Scope `tenants:write`.
#[derive(Debug, Default)]
pub struct EntitlementMutation;

#[Object]
impl EntitlementMutation {
    /// Grants or changes a tenant's entitlement to a product. Absent fields keep their value
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
        let caller = principal(ctx)?;
        caller.require(Scope::TenantsWrite)?;
        caller.require_tenant(tenant_id)?;
        let product = valid_product(&product)?;
        if config.as_ref().is_some_and(|c| !c.0.is_object()) {
            return Err(ApiError::bad_input("config", "config must be a JSON object").into());
        }
        if let Some(Json(config)) = &config {
            crate::audit::lengths::check_json_depth("config", config)?;
        }
        let txn = begin(ctx).await?;
        deletions::refuse_if_deleting(&txn, tenant_id).await?;
        let tenant = Tenants::find_by_id(tenant_id)
            .one(&txn)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("no tenant {tenant_id}")))?;
        let current = TenantProducts::find_by_id((tenant_id, product.clone()))
            .lock_exclusive()
            .one(&txn)
            .await
            .map_err(ApiError::from)?;
        let saved = match &current {
            Some(existing) => {
                let mut row: tenant_products::ActiveModel = existing.clone().into();
                if let Some(enabled) = enabled {
                    row.enabled = Set(enabled);
                }
                if let Some(Json(config)) = config {
                    row.config = Set(config);
                }
                match expires_at {
                    MaybeUndefined::Undefined => {}
                    MaybeUndefined::Null => row.expires_at = Set(None),
                    MaybeUndefined::Value(t) => row.expires_at = Set(Some(t.fixed_offset())),
                }
                row.update(&txn).await
            }
            None => {
                tenant_products::ActiveModel {
                    tenant_id: Set(tenant_id),
                    product: Set(product.clone()),
                    enabled: Set(enabled.unwrap_or(true)),
                    config: Set(config.map(|c| c.0).unwrap_or_else(|| json!({}))),
                    expires_at: Set(expires_at.value().map(|t| t.fixed_offset())),
                    ..Default::default()
                }
                .insert(&txn)
                .await
            }
        }
        .map_err(ApiError::from)?;
        let (before, after) = match &current {
            Some(existing) => diff(&snapshot(existing), &snapshot(&saved)),
            None => (json!({}), snapshot(&saved)),
        };
        let crud = if current.is_some() { "u" } else { "c" };
        record(
            &txn,
            caller,
            &request_meta(ctx),
            Change::of("entitlement.set", crud, &saved, before, after),
        )
        .await?;
        txn.commit().await.map_err(ApiError::from)?;
        Ok(Entitlement {
            row: saved,
            tenant_status: tenant.status,
        })
    }

    /// Removes a tenant's entitlement to a product; returns what was removed.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn remove_entitlement(
        &self,
        ctx: &Context<'_>,
        tenant_id: Uuid,
        product: String,
    ) -> Result<Entitlement> {
        let caller = principal(ctx)?;
        caller.require(Scope::TenantsWrite)?;
        caller.require_tenant(tenant_id)?;
        let txn = begin(ctx).await?;
        let found = TenantProducts::find_by_id((tenant_id, product.clone()))
            .find_also_related(Tenants)
            .one(&txn)
            .await
            .map_err(ApiError::from)?;
        let Some((row, Some(tenant))) = found else {
            return Err(ApiError::NotFound(format!(
                "tenant {tenant_id} has no entitlement to {product:?}"
            ))
            .into());
        };
        TenantProducts::delete_by_id((tenant_id, product))
            .exec(&txn)
            .await
            .map_err(ApiError::from)?;
        record(
            &txn,
            caller,
            &request_meta(ctx),
            Change::of("entitlement.removed", "d", &row, snapshot(&row), json!({})),
        )
        .await?;
        txn.commit().await.map_err(ApiError::from)?;
        Ok(Entitlement {
            row,
            tenant_status: tenant.status,
        })
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
        let own_product = caller.product.as_deref() == Some(product.as_str());
        if !own_product {
            caller.require(Scope::TenantsRead)?;
        }
        let tenant = match (tenant_id, tenant_slug) {
            (Some(id), None) => TenantRef::Id(id),
            (None, Some(slug)) => TenantRef::Slug(slug),
            _ => {
                return Err(ApiError::bad_input(
                    "tenantId",
                    "give exactly one of tenantId and tenantSlug",
                )
                .into());
            }
        };
        let found = reader(ctx)?
            .planned(ENTITLEMENT_PLAN_CACHE)
            .query_one_raw(entitlement_statement(tenant, product))
            .await
            .and_then(|row| row.as_ref().map(entitlement_of).transpose())
            .map_err(ApiError::from)?;
        match found {
            Some((entitlement, tenant_id)) => {
                caller.require_tenant(tenant_id)?;
                Ok(Some(entitlement))
            }
            None => Ok(None),
        }
    }
}
