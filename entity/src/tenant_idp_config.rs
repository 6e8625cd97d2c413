//! `tenant_idp_config`: a tenant's external identity provider for enterprise SSO, one per kind.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::sea_orm_active_enums::IdpKind;

/// An identity-provider configuration. `metadata` holds the OIDC discovery URL and client id,
/// or the SAML entity id and certificate (or metadata URL).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tenant_idp_config")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The column is named `type` in the database.
    #[sea_orm(column_name = "type")]
    pub r#type: IdpKind,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    pub verified: bool,
    pub created_at: DateTimeWithTimeZone,
    /// Maintained by the `tenant_idp_config_touch_updated_at` trigger.
    pub updated_at: DateTimeWithTimeZone,
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
