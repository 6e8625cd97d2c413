//! A tenant's projects: create, rename, archive, restore. Scope `tenants:write`.

use entity::prelude::TenantProjects;
use entity::scope::Scope;
use entity::sea_orm_active_enums::TenantProjectStatus;
use entity::tenant_projects;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseTransaction, EntityTrait, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use crate::Db;
use crate::audit::{Change, RequestMeta, record, snapshot};
use crate::auth::Principal;
use crate::error::ApiError;

async fn lock_project(
    txn: &DatabaseTransaction,
    id: Uuid,
    caller: &Principal,
) -> Result<tenant_projects::Model, ApiError> {
    let project = TenantProjects::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .filter(|project| caller.reaches(project.tenant_id))
        .ok_or_else(|| ApiError::NotFound(format!("no project {id}")))?;
    Ok(project)
}

fn non_blank_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_input("name", "name must not be blank"));
    }
    Ok(name.to_owned())
}

/// Creates a project in a tenant (slug 2 to 40 characters, unique in the tenant).
pub async fn create(
    db: &impl Db,
    caller: &Principal,
    meta: &RequestMeta,
    tenant_id: Uuid,
    slug: &str,
    name: &str,
) -> Result<tenant_projects::Model, ApiError> {
    caller.require(Scope::TenantsWrite)?;
    caller.require_reach(tenant_id)?;
    let name = non_blank_name(name)?;
    let txn = caller.begin(db).await?;
    let row = tenant_projects::ActiveModel {
        tenant_id: Set(tenant_id),
        slug: Set(slug.trim().to_owned()),
        name: Set(name),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    record(
        &txn,
        caller,
        meta,
        Change::of("project.created", "c", &row, json!({}), snapshot(&row)),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Renames a project (its slug stays).
pub async fn rename(
    db: &impl Db,
    caller: &Principal,
    meta: &RequestMeta,
    id: Uuid,
    name: &str,
) -> Result<tenant_projects::Model, ApiError> {
    caller.require(Scope::TenantsWrite)?;
    let name = non_blank_name(name)?;
    let txn = caller.begin(db).await?;
    let current = lock_project(&txn, id, caller).await?;
    let mut row: tenant_projects::ActiveModel = current.clone().into();
    row.name = Set(name);
    let updated = row.update(&txn).await?;
    record(
        &txn,
        caller,
        meta,
        Change::of(
            "project.renamed",
            "u",
            &updated,
            json!({"name": current.name}),
            json!({"name": updated.name}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Archives a project (kept for its history, no new activity) or brings it back: `to` is
/// the new status.
pub async fn set_status(
    db: &impl Db,
    caller: &Principal,
    meta: &RequestMeta,
    id: Uuid,
    to: TenantProjectStatus,
) -> Result<tenant_projects::Model, ApiError> {
    caller.require(Scope::TenantsWrite)?;
    let txn = caller.begin(db).await?;
    let current = lock_project(&txn, id, caller).await?;
    let (action, now) = match to {
        TenantProjectStatus::Archived => ("project.archived", "archived"),
        TenantProjectStatus::Active => ("project.restored", "active"),
    };
    if current.status == to {
        return Err(ApiError::bad_input(
            "id",
            format!("the project is already {now}"),
        ));
    }
    let mut row: tenant_projects::ActiveModel = current.clone().into();
    row.status = Set(to);
    let updated = row.update(&txn).await?;
    record(
        &txn,
        caller,
        meta,
        Change::of(
            action,
            "u",
            &updated,
            json!({"status": current.status}),
            json!({"status": updated.status}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}
