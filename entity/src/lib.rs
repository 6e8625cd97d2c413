//! SeaORM entities for the tenant-registry schema: one module per table (the reference schema's
//! six, and `tenant_deletions` of migration `m20261122_205500_tenant_deletions`), one for the Postgres enums.
//!
//! They describe the schema as it is now (the `migration` crate describes how it got there);
//! the integration test `entities::entities_agree_with_the_migrated_tables` fails when the two drift apart.
//! `updated_at` columns are written only by the `touch_updated_at()` trigger: leave them unset.
//!
//! Beside the entities: [`scope`] (what a key may do, as `api_keys.scopes` stores it). Issuing
//! and verifying keys is the registry's (`registry::keys`): this crate holds the tables only.

pub mod api_keys;
pub mod audit_log;
pub mod prelude;
pub mod scope;
pub mod sea_orm_active_enums;
pub mod tenant_deletions;
pub mod tenant_idp_config;
pub mod tenant_products;
pub mod tenant_projects;
pub mod tenants;
