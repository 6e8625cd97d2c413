//! Tenants and what hangs off them: projects, entitlements, identity providers, API keys.
//! Children load through DataLoaders ([`loaders`]): one query per kind of child per request,
//! not per tenant. The child types and enums are in [`types`].

mod loaders;
mod types;

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::prelude::*;
use entity::scope::Scope;
use entity::{sea_orm_active_enums as db_enums, tenants};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use loaders::children;
pub use loaders::{
    ApiKeysLoader, DeletionsLoader, IdpConfigsLoader, ProductsLoader, ProjectsLoader, loaders,
};
pub use types::{
    ApiKey, Date, Entitlement, IdpConfig, IdpKind, Project, ProjectStatus, TenantDeletion,
    TenantKind, TenantStatus,
};

use super::context::{principal, reader};
use crate::reads::PlanCache;
use registry::ApiError;

/// A customer organisation (or shared demo).
#[derive(Debug, Clone)]
pub struct Tenant(pub tenants::Model);

#[Object]
impl Tenant {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn status(&self) -> TenantStatus {
        self.0.status.into()
    }
    /// When the tenant entered its status (a frozen tenant's grace counts from it).
    async fn status_since(&self) -> DateTime<Utc> {
        self.0.status_since.to_utc()
    }
    async fn kind(&self) -> TenantKind {
        self.0.kind.into()
    }
    async fn plan(&self) -> &str {
        &self.0.plan
    }
    /// ERPNext customer id.
    async fn erp_customer_id(&self) -> Option<&str> {
        self.0.erp_customer_id.as_deref()
    }
    /// Stripe customer id.
    async fn stripe_cust_id(&self) -> Option<&str> {
        self.0.stripe_cust_id.as_deref()
    }
    async fn trial_ends_at(&self) -> Option<DateTime<Utc>> {
        self.0.trial_ends_at.map(|t| t.to_utc())
    }
    async fn contract_start(&self) -> Option<Date> {
        self.0.contract_start.map(Date)
    }
    async fn contract_end(&self) -> Option<Date> {
        self.0.contract_end.map(Date)
    }
    async fn sales_owner(&self) -> Option<&str> {
        self.0.sales_owner.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.to_utc()
    }
    /// The tenant's projects (empty: it works as one implicit project).
    async fn projects(&self, ctx: &Context<'_>) -> Result<Vec<Project>> {
        Ok(children::<ProjectsLoader>(ctx, self.0.id)
            .await?
            .into_iter()
            .map(Project)
            .collect())
    }
    /// The products the tenant is entitled to.
    async fn products(&self, ctx: &Context<'_>) -> Result<Vec<Entitlement>> {
        Ok(children::<ProductsLoader>(ctx, self.0.id)
            .await?
            .into_iter()
            .map(|row| Entitlement(registry::entitlements::Entitlement::of(row, &self.0)))
            .collect())
    }
    /// The tenant's identity providers (at most one per kind).
    async fn idp_configs(&self, ctx: &Context<'_>) -> Result<Vec<IdpConfig>> {
        Ok(children::<IdpConfigsLoader>(ctx, self.0.id)
            .await?
            .into_iter()
            .map(IdpConfig)
            .collect())
    }
    /// The tenant's API keys (records only: never the key or its hash). Operators' keys
    /// (`platform`) are listed to platform keys only.
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Vec<ApiKey>> {
        let operator = principal(ctx)?.is_platform();
        Ok(children::<ApiKeysLoader>(ctx, self.0.id)
            .await?
            .into_iter()
            .filter(|key| operator || !registry::keys::is_platform(key))
            .map(ApiKey)
            .collect())
    }
    /// The tenant's deletion, while it is under way (`deleteTenant` of a tenant with many
    /// audit events); none otherwise.
    async fn deletion(&self, ctx: &Context<'_>) -> Result<Option<TenantDeletion>> {
        Ok(children::<DeletionsLoader>(ctx, self.0.id)
            .await?
            .into_iter()
            .next()
            .map(TenantDeletion))
    }
}

/// Which tenants `tenants` lists.
#[derive(InputObject, Debug, Default)]
pub struct TenantFilter {
    /// Tenants in any of these states.
    pub statuses: Option<Vec<TenantStatus>>,
    /// Tenants of any of these kinds.
    pub kinds: Option<Vec<TenantKind>>,
    /// Tenants whose slug or name contains this, case-insensitively.
    pub search: Option<String>,
}

/// A tenant in a page.
#[derive(SimpleObject, Debug)]
pub struct TenantEdge {
    /// Where this tenant is in the list.
    pub cursor: String,
    /// The tenant.
    pub node: Tenant,
}

/// Whether a page is the last.
#[derive(SimpleObject, Debug)]
pub struct PageInfo {
    /// Whether another page follows.
    pub has_next_page: bool,
    /// The cursor of the last edge, to ask for the next page with `after`.
    pub end_cursor: Option<String>,
}

/// A page of tenants, ordered by slug.
#[derive(SimpleObject, Debug)]
pub struct TenantConnection {
    /// The tenants of this page.
    pub edges: Vec<TenantEdge>,
    /// Paging state.
    pub page_info: PageInfo,
}

/// Queries about tenants.
#[derive(Debug, Default)]
pub struct TenantQuery;

/// The largest page a caller may ask for.
pub const MAX_PAGE: i32 = 500;

/// The complexity of a page of `first` items costing `child` each: two statements (the page,
/// and its `totalCount` if asked for; see [`crate::graphql::bounds::DATABASE_FIELD`]) and the
/// items. `first` is counted within `1..=MAX_PAGE`: a `first` outside it is refused by the
/// resolver with an error naming the argument and its range, which says more than "too
/// complex" would.
pub fn page_complexity(first: i32, child: usize) -> usize {
    let items = (first.clamp(1, MAX_PAGE) as usize).saturating_mul(child);
    (2 * crate::graphql::bounds::DATABASE_FIELD).saturating_add(items)
}

#[Object]
impl TenantQuery {
    /// One tenant, by id or by slug (give exactly one). Scope `tenants:read`.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn tenant(
        &self,
        ctx: &Context<'_>,
        id: Option<Uuid>,
        slug: Option<String>,
    ) -> Result<Option<Tenant>> {
        let caller = principal(ctx)?;
        caller.require(Scope::TenantsRead)?;
        // By primary key or unique slug: the same lookup whatever the value, so its plan is kept.
        let reader = reader(ctx)?.planned(PlanCache::Generic);
        let found = match (id, slug) {
            (Some(id), None) => Tenants::find_by_id(id).one(&reader).await,
            (None, Some(slug)) => {
                Tenants::find()
                    .filter(tenants::Column::Slug.eq(slug))
                    .one(&reader)
                    .await
            }
            _ => return Err(ApiError::bad_input("id", "give exactly one of id and slug").into()),
        }
        .map_err(ApiError::from)?;
        match found {
            Some(tenant) => {
                caller.require_tenant(tenant.id)?;
                Ok(Some(Tenant(tenant)))
            }
            None if caller.is_platform() => Ok(None),
            // To a tenant key, a tenant that does not exist looks like any other not its own.
            None => Err(ApiError::Forbidden(
                "this API key cannot reach another tenant's data".to_owned(),
            )
            .into()),
        }
    }

    /// Tenants the key can reach, ordered by slug. Scope `tenants:read`.
    #[graphql(complexity = "page_complexity(first, child_complexity)")]
    async fn tenants(
        &self,
        ctx: &Context<'_>,
        filter: Option<TenantFilter>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<TenantConnection> {
        let caller = principal(ctx)?;
        caller.require(Scope::TenantsRead)?;
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(
                ApiError::bad_input("first", format!("first must be 1 to {MAX_PAGE}")).into(),
            );
        }
        let filter = filter.unwrap_or_default();
        let mut condition = Condition::all();
        if !caller.is_platform() {
            condition = condition.add(tenants::Column::Id.eq(caller.tenant_id));
        }
        if let Some(statuses) = filter.statuses {
            let statuses: Vec<db_enums::TenantStatus> =
                statuses.into_iter().map(Into::into).collect();
            condition = condition.add(tenants::Column::Status.is_in(statuses));
        }
        if let Some(kinds) = filter.kinds {
            let kinds: Vec<db_enums::TenantKind> = kinds.into_iter().map(Into::into).collect();
            condition = condition.add(tenants::Column::Kind.is_in(kinds));
        }
        if let Some(search) = filter.search.filter(|s| !s.trim().is_empty()) {
            let contains = |column: &str| {
                Expr::cust_with_values(
                    format!("strpos(lower({column}), lower($1)) > 0"),
                    [search.trim().to_owned()],
                )
            };
            condition = condition.add(Condition::any().add(contains("slug")).add(contains("name")));
        }
        if let Some(after) = after {
            let slug = URL_SAFE_NO_PAD
                .decode(&after)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("t:").map(str::to_owned))
                .ok_or_else(|| {
                    ApiError::bad_input("after", "after is not a cursor this API returned")
                })?;
            condition = condition.add(Expr::col(tenants::Column::Slug).gt(slug));
        }
        let mut rows = Tenants::find()
            .filter(condition)
            .order_by_asc(tenants::Column::Slug)
            .limit(first as u64 + 1)
            .all(&reader(ctx)?)
            .await
            .map_err(ApiError::from)?;
        let has_next_page = rows.len() > first as usize;
        rows.truncate(first as usize);
        let edges: Vec<TenantEdge> = rows
            .into_iter()
            .map(|t| TenantEdge {
                cursor: URL_SAFE_NO_PAD.encode(format!("t:{}", t.slug)),
                node: Tenant(t),
            })
            .collect();
        Ok(TenantConnection {
            page_info: PageInfo {
                has_next_page,
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }
}
