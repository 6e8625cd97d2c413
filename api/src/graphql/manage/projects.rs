//! `createProject`, `renameProject`, `archiveProject`, `restoreProject`: adapters over
//! [`registry::projects`].

use async_graphql::{Context, Object, Result};
use entity::sea_orm_active_enums::TenantProjectStatus;
use uuid::Uuid;

use crate::graphql::context::{db, principal, request_meta};
use crate::graphql::tenants::Project;

async fn set_status(ctx: &Context<'_>, id: Uuid, to: TenantProjectStatus) -> Result<Project> {
    let (caller, meta) = (principal(ctx)?, request_meta(ctx));
    Ok(Project(
        registry::projects::set_status(db(ctx)?, caller, &meta, id, to).await?,
    ))
}

/// Project mutations. Scope `tenants:write`.
#[derive(Debug, Default)]
pub struct ProjectMutation;

#[Object]
impl ProjectMutation {
    /// Creates a project in a tenant (slug 2 to 40 characters, unique in the tenant).
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        tenant_id: Uuid,
        slug: String,
        name: String,
    ) -> Result<Project> {
        let (caller, meta) = (principal(ctx)?, request_meta(ctx));
        Ok(Project(
            registry::projects::create(db(ctx)?, caller, &meta, tenant_id, &slug, &name).await?,
        ))
    }

    /// Renames a project (its slug stays).
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn rename_project(&self, ctx: &Context<'_>, id: Uuid, name: String) -> Result<Project> {
        let (caller, meta) = (principal(ctx)?, request_meta(ctx));
        Ok(Project(
            registry::projects::rename(db(ctx)?, caller, &meta, id, &name).await?,
        ))
    }

    /// Archives a project: kept for its history, no new activity.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn archive_project(&self, ctx: &Context<'_>, id: Uuid) -> Result<Project> {
        set_status(ctx, id, TenantProjectStatus::Archived).await
    }

    /// Brings an archived project back.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn restore_project(&self, ctx: &Context<'_>, id: Uuid) -> Result<Project> {
        set_status(ctx, id, TenantProjectStatus::Active).await
    }
}
