//! Rows for tests, written through the entities, and the constraint a failed write violated.

use chrono::Utc;
use entity::sea_orm_active_enums::{IdpKind, TenantKind, TenantStatus};
use entity::{api_keys, audit_log, tenant_idp_config, tenant_products, tenant_projects, tenants};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, DbErr, RuntimeErr};
use uuid::Uuid;

/// A tenant with this slug and otherwise the column defaults.
pub fn tenant(slug: &str) -> tenants::ActiveModel {
    tenants::ActiveModel {
        slug: Set(slug.to_owned()),
        name: Set(format!("Tenant {slug}")),
        ..Default::default()
    }
}

/// Inserts [`tenant`] with this slug.
pub async fn insert_tenant(db: &DatabaseConnection, slug: &str) -> Result<tenants::Model, DbErr> {
    tenant(slug).insert(db).await
}

/// Inserts a customer tenant in `status`.
pub async fn insert_tenant_in(
    db: &DatabaseConnection,
    slug: &str,
    status: TenantStatus,
    kind: TenantKind,
) -> Result<tenants::Model, DbErr> {
    tenants::ActiveModel {
        status: Set(status),
        kind: Set(kind),
        ..tenant(slug)
    }
    .insert(db)
    .await
}

/// Inserts a project of `tenant_id` with this slug.
pub async fn insert_project(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    slug: &str,
) -> Result<tenant_projects::Model, DbErr> {
    tenant_projects::ActiveModel {
        tenant_id: Set(tenant_id),
        name: Set(format!("Project {slug}")),
        slug: Set(slug.to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Inserts an enabled entitlement to `product` with an empty config.
pub async fn insert_product(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    product: &str,
) -> Result<tenant_products::Model, DbErr> {
    tenant_products::ActiveModel {
        tenant_id: Set(tenant_id),
        product: Set(product.to_owned()),
        config: Set(serde_json::json!({})),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Inserts an identity-provider config of `kind` with placeholder metadata.
pub async fn insert_idp(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    kind: IdpKind,
) -> Result<tenant_idp_config::Model, DbErr> {
    tenant_idp_config::ActiveModel {
        tenant_id: Set(tenant_id),
        r#type: Set(kind),
        metadata: Set(serde_json::json!({ "client_id": "registry" })),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Inserts an API key record named `name` (with a placeholder hash: no key is issued here).
pub async fn insert_api_key(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    name: &str,
) -> Result<api_keys::Model, DbErr> {
    api_keys::ActiveModel {
        tenant_id: Set(tenant_id),
        name: Set(name.to_owned()),
        scopes: Set(vec!["audit:read".to_owned()]),
        hash: Set("$argon2id$v=19$m=19456,t=2,p=1$placeholder$placeholder".to_owned()),
        prefix: Set("trk_test".to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Inserts an audit event of `action` for the tenant (and project, if given).
pub async fn insert_audit(
    db: &DatabaseConnection,
    tenant_id: Option<Uuid>,
    project_id: Option<Uuid>,
    action: &str,
) -> Result<audit_log::Model, DbErr> {
    audit_log::ActiveModel {
        tenant_id: Set(tenant_id),
        project_id: Set(project_id),
        action: Set(action.to_owned()),
        metadata: Set(serde_json::json!({})),
        created_at: Set(Utc::now().fixed_offset()),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// The name of the constraint a failed statement violated, as PostgreSQL reports it.
pub fn violated_constraint(err: &DbErr) -> Option<String> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                sea_orm::sqlx::Error::Database(db_err) => db_err.constraint().map(str::to_owned),
                _ => None,
            }
        }
        _ => None,
    }
}
