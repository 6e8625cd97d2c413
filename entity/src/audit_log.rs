//! `audit_log`: every state-changing action across the portal and all products, in a
//! Retraced-compatible shape. Rows outlive their tenant and project (the keys become NULL).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One audit event. `product` is `None` for events of the registry itself (the portal);
/// `actor_type` is `user`, `service` or `system`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    #[sea_orm(column_type = "Text", nullable)]
    pub actor_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub actor_name: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub actor_type: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub action: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub target_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub target_type: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub target_name: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub product: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    /// An `INET`: an address (IPv4 or IPv6), optionally with a prefix length.
    pub source_ip: Option<IpNetwork>,
    #[sea_orm(column_type = "Text", nullable)]
    pub user_agent: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    /// The API key that wrote a product's event; none for the registry's own events.
    pub recorded_by: Option<Uuid>,
    /// That key's name when it wrote the event.
    #[sea_orm(column_type = "Text", nullable)]
    pub recorded_by_name: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenants::Entity",
        from = "Column::TenantId",
        to = "super::tenants::Column::Id",
        on_delete = "SetNull"
    )]
    Tenants,
    #[sea_orm(
        belongs_to = "super::tenant_projects::Entity",
        from = "Column::ProjectId",
        to = "super::tenant_projects::Column::Id",
        on_delete = "SetNull"
    )]
    TenantProjects,
}

impl Related<super::tenants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenants.def()
    }
}

impl Related<super::tenant_projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TenantProjects.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
