//! The entities under short names, for `use entity::prelude::*`.

pub use super::api_keys::Entity as ApiKeys;
pub use super::audit_log::Entity as AuditLog;
pub use super::tenant_deletions::Entity as TenantDeletions;
pub use super::tenant_idp_config::Entity as TenantIdpConfig;
pub use super::tenant_products::Entity as TenantProducts;
pub use super::tenant_projects::Entity as TenantProjects;
pub use super::tenants::Entity as Tenants;
