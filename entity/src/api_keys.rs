//! `api_keys`: the platform's API keys, owned by the portal and shared by every product.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An API key's record. The plaintext key is never stored: `hash` is its argon2id PHC string and
/// `prefix` its first 8 characters (for lookup and display). `hash` is skipped by serde so that
/// serialising a key record can never leak it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// `None`: the key applies to every product.
    #[sea_orm(column_type = "Text", nullable)]
    pub product: Option<String>,
    /// Human-readable label, unique within the tenant.
    #[sea_orm(column_type = "Text")]
    pub name: String,
    #[sea_orm(column_type = "Array(RcOrArc::new(ColumnType::Text))")]
    pub scopes: Vec<String>,
    #[sea_orm(column_type = "Text")]
    #[serde(skip_serializing, default)]
    pub hash: String,
    #[sea_orm(column_type = "Text")]
    pub prefix: String,
    /// Keycloak user id of the creator.
    #[sea_orm(column_type = "Text", nullable)]
    pub created_by: Option<String>,
    pub last_used_at: Option<DateTimeWithTimeZone>,
    pub revoked_at: Option<DateTimeWithTimeZone>,
    pub created_at: DateTimeWithTimeZone,
    /// When the key stops working (`None`: never); after `created_at`.
    pub expires_at: Option<DateTimeWithTimeZone>,
    /// The key a rotation issued in this one's place (`None`: not rotated).
    pub replaced_by: Option<Uuid>,
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
