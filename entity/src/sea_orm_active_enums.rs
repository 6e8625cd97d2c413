//! The four native Postgres enums. Variant order is the label order in the database.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a tenant is in its lifecycle (`tenant_status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Enum", enum_name = "tenant_status")]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// Shared demo tenant; reset nightly; never billed.
    #[sea_orm(string_value = "demo")]
    Demo,
    /// Real customer in their evaluation window.
    #[sea_orm(string_value = "trial")]
    Trial,
    /// Paid: contract or self-serve plan.
    #[sea_orm(string_value = "active")]
    Active,
    /// Read-only after cancellation or non-payment (30-day grace).
    #[sea_orm(string_value = "frozen")]
    Frozen,
    /// Export window closed; only the audit log is retained.
    #[sea_orm(string_value = "archived")]
    Archived,
}

/// Whether a tenant is a real customer or a shared demo (`tenant_kind`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Enum", enum_name = "tenant_kind")]
#[serde(rename_all = "snake_case")]
pub enum TenantKind {
    /// A paying or trialling customer.
    #[sea_orm(string_value = "customer")]
    Customer,
    /// A shared demo tenant; never billed.
    #[sea_orm(string_value = "demo")]
    Demo,
}

/// The protocol of a tenant's external identity provider (`idp_kind`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Enum", enum_name = "idp_kind")]
#[serde(rename_all = "snake_case")]
pub enum IdpKind {
    /// OpenID Connect: discovery URL and client id.
    #[sea_orm(string_value = "oidc")]
    Oidc,
    /// SAML 2.0: entity id and certificate or metadata URL.
    #[sea_orm(string_value = "saml")]
    Saml,
}

/// Whether a project is in use (`tenant_project_status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(
    rs_type = "String",
    db_type = "Enum",
    enum_name = "tenant_project_status"
)]
#[serde(rename_all = "snake_case")]
pub enum TenantProjectStatus {
    /// In use.
    #[sea_orm(string_value = "active")]
    Active,
    /// Kept for its history; no new activity.
    #[sea_orm(string_value = "archived")]
    Archived,
}
