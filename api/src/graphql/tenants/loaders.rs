//! DataLoaders of a tenant's children: one query per kind of child per request, not per
//! tenant.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use entity::prelude::*;
use entity::{api_keys, tenant_deletions, tenant_idp_config, tenant_products, tenant_projects};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use registry::ApiError;

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

child_loader!(
    DeletionsLoader,
    TenantDeletions,
    tenant_deletions::Model,
    tenant_deletions::Column::TenantId
);

/// The DataLoaders a schema needs.
#[allow(missing_debug_implementations)] // async-graphql's DataLoader is not Debug
pub struct Loaders {
    /// Projects by tenant.
    pub projects: DataLoader<ProjectsLoader>,
    /// Entitlements by tenant.
    pub products: DataLoader<ProductsLoader>,
    /// Identity providers by tenant.
    pub idps: DataLoader<IdpConfigsLoader>,
    /// API key records by tenant.
    pub keys: DataLoader<ApiKeysLoader>,
    /// Deletions under way by tenant.
    pub deletions: DataLoader<DeletionsLoader>,
}

/// The DataLoaders a schema needs, built over `db`.
pub fn loaders(db: &DatabaseConnection) -> Loaders {
    Loaders {
        projects: DataLoader::new(ProjectsLoader(db.clone()), tokio::spawn),
        products: DataLoader::new(ProductsLoader(db.clone()), tokio::spawn),
        idps: DataLoader::new(IdpConfigsLoader(db.clone()), tokio::spawn),
        keys: DataLoader::new(ApiKeysLoader(db.clone()), tokio::spawn),
        deletions: DataLoader::new(DeletionsLoader(db.clone()), tokio::spawn),
    }
}

pub(super) async fn children<L>(ctx: &Context<'_>, tenant_id: Uuid) -> Result<L::Value, ApiError>
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
