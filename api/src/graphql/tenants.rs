//! Tenants and what hangs off them: projects, entitlements, identity providers, API keys.
//! Children load through DataLoaders: one query per kind of child per request, not per tenant.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{
    Context, Enum, InputObject, Json, Object, Result, Scalar, ScalarType, SimpleObject, Value,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use entity::prelude::*;
use entity::scope::Scope;
use entity::{
    api_keys, sea_orm_active_enums as db_enums, tenant_idp_config, tenant_products,
    tenant_projects, tenants,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::context::{principal, reader};
use crate::error::ApiError;

macro_rules! mirror_enum {
    ($(#[$doc:meta])* $name:ident from $db:ty { $($(#[$vdoc:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }
        impl From<$db> for $name {
            fn from(v: $db) -> Self { match v { $(<$db>::$variant => $name::$variant),+ } }
        }
        impl From<$name> for $db {
            fn from(v: $name) -> Self { match v { $($name::$variant => <$db>::$variant),+ } }
        }
    };
}

mirror_enum!(
    /// Where a tenant is in its lifecycle.
    TenantStatus from db_enums::TenantStatus {
        /// Shared demo tenant, reset nightly, never billed.
        Demo,
        /// In its evaluation window.
        Trial,
        /// Paying.
        Active,
        /// Read-only after cancellation or non-payment.
        Frozen,
        /// Export window closed; only the audit log is kept.
        Archived,
    }
);
mirror_enum!(
    /// Customer or shared demo.
    TenantKind from db_enums::TenantKind {
        /// A paying or trialling customer.
        Customer,
        /// A shared demo tenant.
        Demo,
    }
);
mirror_enum!(
    /// An identity provider's protocol.
    IdpKind from db_enums::IdpKind {
        /// OpenID Connect.
        Oidc,
        /// SAML 2.0.
        Saml,
    }
);
mirror_enum!(
    /// Whether a project is in use.
    ProjectStatus from db_enums::TenantProjectStatus {
        /// In use.
        Active,
        /// Kept for its history.
        Archived,
    }
);

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> async_graphql::InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| {
                    async_graphql::InputValueError::custom(format!(
                        "{s:?} is not a date (YYYY-MM-DD)"
                    ))
                }),
            _ => Err(async_graphql::InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

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
            .map(|row| Entitlement {
                row,
                tenant_status: self.0.status,
            })
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
    /// The tenant's API keys (records only: never the key or its hash).
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Vec<ApiKey>> {
        Ok(children::<ApiKeysLoader>(ctx, self.0.id)
            .await?
            .into_iter()
            .map(ApiKey)
            .collect())
    }
}

/// A project inside a tenant.
#[derive(Debug, Clone)]
pub struct Project(pub tenant_projects::Model);

#[Object]
impl Project {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn tenant_id(&self) -> Uuid {
        self.0.tenant_id
    }
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn status(&self) -> ProjectStatus {
        self.0.status.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.to_utc()
    }
}

/// A tenant's entitlement to a product.
#[derive(Debug, Clone)]
pub struct Entitlement {
    /// The row.
    pub row: tenant_products::Model,
    /// Its tenant's status (an entitlement is active only for a live tenant).
    pub tenant_status: db_enums::TenantStatus,
}

#[Object]
impl Entitlement {
    /// Whether the product may be used now: enabled, not expired, and the tenant in DEMO,
    /// TRIAL or ACTIVE.
    async fn active(&self) -> bool {
        use db_enums::TenantStatus::{Active, Demo, Trial};
        self.row.enabled
            && self.row.expires_at.is_none_or(|t| t.to_utc() > Utc::now())
            && matches!(self.tenant_status, Demo | Trial | Active)
    }
    async fn tenant_id(&self) -> Uuid {
        self.row.tenant_id
    }
    async fn product(&self) -> &str {
        &self.row.product
    }
    async fn enabled(&self) -> bool {
        self.row.enabled
    }
    /// Product-specific settings.
    async fn config(&self) -> Json<serde_json::Value> {
        Json(self.row.config.clone())
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.row.expires_at.map(|t| t.to_utc())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at.to_utc()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at.to_utc()
    }
}

/// A tenant's identity provider for SSO.
#[derive(Debug, Clone)]
pub struct IdpConfig(pub tenant_idp_config::Model);

#[Object]
impl IdpConfig {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn tenant_id(&self) -> Uuid {
        self.0.tenant_id
    }
    #[graphql(name = "type")]
    async fn kind(&self) -> IdpKind {
        self.0.r#type.into()
    }
    /// Discovery URL and client id (OIDC); entity id and certificate or metadata URL (SAML).
    async fn metadata(&self) -> Json<serde_json::Value> {
        Json(self.0.metadata.clone())
    }
    async fn verified(&self) -> bool {
        self.0.verified
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.to_utc()
    }
}

/// An API key's record. The key itself is shown once, when issued; the hash never.
#[derive(Debug, Clone)]
pub struct ApiKey(pub api_keys::Model);

#[Object]
impl ApiKey {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn tenant_id(&self) -> Uuid {
        self.0.tenant_id
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
    async fn created_by(&self) -> Option<&str> {
        self.0.created_by.as_deref()
    }
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at.map(|t| t.to_utc())
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at.map(|t| t.to_utc())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
}

/// Loads one kind of tenant child for many tenants in one query.
macro_rules! child_loader {
    ($loader:ident, $entity:ty, $model:ty, $column:expr) => {
        /// A DataLoader of one kind of tenant child, by tenant id.
        #[derive(Debug)]
        pub struct $loader(pub DatabaseConnection);

        impl Loader<Uuid> for $loader {
            type Value = Vec<$model>;
            type Error = Arc<DbErr>;

            async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Vec<$model>>, Arc<DbErr>> {
                let rows = <$entity>::find()
                    .filter($column.is_in(keys.iter().copied()))
                    .order_by_asc($column)
                    .all(&self.0)
                    .await
                    .map_err(Arc::new)?;
                let mut by_tenant: HashMap<Uuid, Vec<$model>> = HashMap::new();
                for row in rows {
                    by_tenant.entry(row.tenant_id).or_default().push(row);
                }
                Ok(by_tenant)
            }
        }
    };
}

child_loader!(
    ProjectsLoader,
    TenantProjects,
    tenant_projects::Model,
    tenant_projects::Column::TenantId
);
child_loader!(
    ProductsLoader,
    TenantProducts,
    tenant_products::Model,
    tenant_products::Column::TenantId
);
child_loader!(
    IdpConfigsLoader,
    TenantIdpConfig,
    tenant_idp_config::Model,
    tenant_idp_config::Column::TenantId
);
child_loader!(
    ApiKeysLoader,
    ApiKeys,
    api_keys::Model,
    api_keys::Column::TenantId
);

/// The DataLoaders a schema needs, built over `db`.
pub fn loaders(
    db: &DatabaseConnection,
) -> (
    DataLoader<ProjectsLoader>,
    DataLoader<ProductsLoader>,
    DataLoader<IdpConfigsLoader>,
    DataLoader<ApiKeysLoader>,
) {
    (
        DataLoader::new(ProjectsLoader(db.clone()), tokio::spawn),
        DataLoader::new(ProductsLoader(db.clone()), tokio::spawn),
        DataLoader::new(IdpConfigsLoader(db.clone()), tokio::spawn),
        DataLoader::new(ApiKeysLoader(db.clone()), tokio::spawn),
    )
}

async fn children<L>(ctx: &Context<'_>, tenant_id: Uuid) -> Result<L::Value, ApiError>
where
    L: Loader<Uuid, Error = Arc<DbErr>>,
    L::Value: Default,
{
    let loader = ctx
        .data::<DataLoader<L>>()
        .map_err(|e| ApiError::internal(e.message))?;
    loader
        .load_one(tenant_id)
        .await
        .map(Option::unwrap_or_default)
        .map_err(|e| ApiError::from(DbErr::Custom(e.to_string())))
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

#[Object]
impl TenantQuery {
    /// One tenant, by id or by slug (give exactly one). Scope `tenants:read`.
    async fn tenant(
        &self,
        ctx: &Context<'_>,
        id: Option<Uuid>,
        slug: Option<String>,
    ) -> Result<Option<Tenant>> {
        let caller = principal(ctx)?;
        caller.require(Scope::TenantsRead)?;
        let found = match (id, slug) {
            (Some(id), None) => Tenants::find_by_id(id).one(&reader(ctx)?).await,
            (None, Some(slug)) => {
                Tenants::find()
                    .filter(tenants::Column::Slug.eq(slug))
                    .one(&reader(ctx)?)
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
    #[graphql(
        complexity = "(std::cmp::Ord::max(first, 1) as usize).saturating_mul(child_complexity)"
    )]
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
