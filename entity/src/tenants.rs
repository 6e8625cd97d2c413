//! `tenants`: the root entity, one row per customer organisation (1:1 with a Keycloak org).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::sea_orm_active_enums::{TenantKind, TenantStatus};

/// A tenant. `slug` is 3 to 40 characters of `[a-z0-9-]`, not starting or ending with `-`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "Text", unique)]
    pub slug: String,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    pub status: TenantStatus,
    pub kind: TenantKind,
    #[sea_orm(column_type = "Text")]
    pub plan: String,
    /// ERPNext customer id.
    #[sea_orm(column_type = "Text", nullable, unique)]
    pub erp_customer_id: Option<String>,
    /// Stripe customer id.
    #[sea_orm(column_type = "Text", nullable, unique)]
    pub stripe_cust_id: Option<String>,
    pub trial_ends_at: Option<DateTimeWithTimeZone>,
    pub contract_start: Option<Date>,
    pub contract_end: Option<Date>,
    #[sea_orm(column_type = "Text", nullable)]
    pub sales_owner: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    /// Maintained by the `tenants_touch_updated_at` trigger.
    pub updated_at: DateTimeWithTimeZone,
    /// When the tenant entered its status (the frozen grace counts from it).
    pub status_since: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::tenant_projects::Entity")]
    TenantProjects,
    #[sea_orm(has_many = "super::tenant_products::Entity")]
    TenantProducts,
    #[sea_orm(has_many = "super::tenant_idp_config::Entity")]
    TenantIdpConfig,
    #[sea_orm(has_many = "super::api_keys::Entity")]
    ApiKeys,
    #[sea_orm(has_many = "super::audit_log::Entity")]
    AuditLog,
}

impl Related<super::tenant_projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TenantProjects.def()
    }
}

impl Related<super::tenant_products::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TenantProducts.def()
    }
}

impl Related<super::tenant_idp_config::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TenantIdpConfig.def()
    }
}

impl Related<super::api_keys::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApiKeys.def()
    }
}

impl Related<super::audit_log::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AuditLog.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
