//! `tenant_deletions`: a tenant whose deletion was asked for and is under way (its events are
//! being cleared of it in batches; the row goes with the tenant). Added by migration
//! `m20261122_205500_tenant_deletions`, not part of the reference schema.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One deletion under way.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tenant_deletions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub requested_at: DateTimeWithTimeZone,
    /// The API key that asked (no foreign key: it may be revoked meanwhile).
    pub requested_by_key_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub requested_by_key_name: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
    /// Events cleared of the tenant so far.
    pub events_detached: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenants::Entity",
        from = "Column::TenantId",
        to = "super::tenants::Column::Id",
        on_delete = "Cascade"
    )]
    Tenants,
}

impl Related<super::tenants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenants.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
