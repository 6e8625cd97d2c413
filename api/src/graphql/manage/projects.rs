//! `createProject`, `renameProject`, `archiveProject`, `restoreProject`.

use async_graphql::{Context, Object, Result};
use entity::prelude::TenantProjects;
use entity::scope::Scope;
use entity::sea_orm_active_enums::TenantProjectStatus;
use entity::tenant_projects;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseTransaction, EntityTrait, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use super::begin;
use crate::audit::portal::{Change, record, snapshot};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::graphql::context::{principal, request_meta};
use crate::graphql::tenants::Project;

async fn lock_project(
    txn: &DatabaseTransaction,
    id: Uuid,
    caller: &Principal,
) -> Result<tenant_projects::Model, ApiError> {
    let project = TenantProjects::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no project {id}")))?;
    caller.require_tenant(project.tenant_id)?;
    Ok(project)
}

async fn set_status(
    ctx: &Context<'_>,
    id: Uuid,
    to: TenantProjectStatus,
    action: &'static str,
) -> Result<Project> {
    let caller = principal(ctx)?;
    caller.require(Scope::TenantsWrite)?;
    let txn = begin(ctx).await?;
    let current = lock_project(&txn, id, caller).await?;
    if current.status == to {
        return Err(ApiError::bad_input(
            "id",
            format!(
                "the project is already {}",
                if to == TenantProjectStatus::Archived {
                    "archived"
                } else {
                    "active"
                }
            ),
        )
        .into());
    }
    let mut row: tenant_projects::ActiveModel = current.clone().into();
    row.status = Set(to);
    let updated = row.update(&txn).await.map_err(ApiError::from)?;
    record(
        &txn,
        caller,
        &request_meta(ctx),
        Change::of(
            action,
            "u",
            &updated,
            json!({"status": current.status}),
            json!({"status": updated.status}),
        ),
    )
    .await?;
    txn.commit().await.map_err(ApiError::from)?;
    Ok(Project(updated))
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
        let caller = principal(ctx)?;
        caller.require(Scope::TenantsWrite)?;
        caller.require_tenant(tenant_id)?;
        let name = name.trim().to_owned();
        if name.is_empty() {
            return Err(ApiError::bad_input("name", "name must not be blank").into());
        }
        let txn = begin(ctx).await?;
        let row = tenant_projects::ActiveModel {
            tenant_id: Set(tenant_id),
            slug: Set(slug.trim().to_owned()),
            name: Set(name),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(ApiError::from)?;
        record(
            &txn,
            caller,
            &request_meta(ctx),
            Change::of("project.created", "c", &row, json!({}), snapshot(&row)),
        )
        .await?;
        txn.commit().await.map_err(ApiError::from)?;
        Ok(Project(row))
    }

    /// Renames a project (its slug stays).
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn rename_project(&self, ctx: &Context<'_>, id: Uuid, name: String) -> Result<Project> {
        let caller = principal(ctx)?;
        caller.require(Scope::TenantsWrite)?;
        let name = name.trim().to_owned();
        if name.is_empty() {
            return Err(ApiError::bad_input("name", "name must not be blank").into());
        }
        let txn = begin(ctx).await?;
        let current = lock_project(&txn, id, caller).await?;
        let mut row: tenant_projects::ActiveModel = current.clone().into();
        row.name = Set(name);
        let updated = row.update(&txn).await.map_err(ApiError::from)?;
        record(
            &txn,
            caller,
            &request_meta(ctx),
            Change::of(
                "project.renamed",
                "u",
                &updated,
                json!({"name": current.name}),
                json!({"name": updated.name}),
            ),
        )
        .await?;
        txn.commit().await.map_err(ApiError::from)?;
        Ok(Project(updated))
    }

    /// Archives a project: kept for its history, no new activity.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn archive_project(&self, ctx: &Context<'_>, id: Uuid) -> Result<Project> {
        set_status(ctx, id, TenantProjectStatus::Archived, "project.archived").await
    }

    /// Brings an archived project back.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn restore_project(&self, ctx: &Context<'_>, id: Uuid) -> Result<Project> {
        set_status(ctx, id, TenantProjectStatus::Active, "project.restored").await
    }
}
