//! The tenant-registry schema as an ordered list of sea-orm migrations.
//!
//! Migrations are append-only: once a migration has landed it is never edited; changes go in a
//! new file named as `sea-orm-cli migrate generate` names it. Migrations describe history and
//! therefore never import the `entity` crate (which describes the schema as it is now).

pub use sea_orm_migration::prelude::*;

mod concurrent_index;
mod m20261122_004700_initial_schema;
mod m20261122_031500_audit_search_indexes;
mod m20261122_124000_audit_lookup_indexes;
mod m20261122_141000_audit_action_namespace_index;
mod m20261122_160000_audit_source_ip_index;
mod m20261122_163000_audit_tenant_product_index;
mod m20261122_173000_audit_metadata_terms;
mod m20261122_193000_audit_tenant_target_type_index;
mod m20261122_200000_audit_project_index;
mod m20261122_203000_audit_metadata_terms_without_jit;
mod m20261122_205500_tenant_deletions;
mod m20261207_043000_audit_recorded_by;
mod m20261207_050000_tenant_status_since;
mod m20261207_060000_api_key_expiry;
mod m20261207_060100_key_change_notices;
mod m20261207_060200_api_key_replaced_by;
mod m20261207_070000_audit_seal;

/// Every migration of the registry, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_004700_initial_schema::Migration),
            Box::new(m20261122_031500_audit_search_indexes::Migration),
            Box::new(m20261122_124000_audit_lookup_indexes::Migration),
            Box::new(m20261122_141000_audit_action_namespace_index::Migration),
            Box::new(m20261122_160000_audit_source_ip_index::Migration),
            Box::new(m20261122_163000_audit_tenant_product_index::Migration),
            Box::new(m20261122_173000_audit_metadata_terms::Migration),
            Box::new(m20261122_193000_audit_tenant_target_type_index::Migration),
            Box::new(m20261122_200000_audit_project_index::Migration),
            Box::new(m20261122_203000_audit_metadata_terms_without_jit::Migration),
            Box::new(m20261122_205500_tenant_deletions::Migration),
            Box::new(m20261207_043000_audit_recorded_by::Migration),
            Box::new(m20261207_050000_tenant_status_since::Migration),
            Box::new(m20261207_060000_api_key_expiry::Migration),
            Box::new(m20261207_060100_key_change_notices::Migration),
            Box::new(m20261207_060200_api_key_replaced_by::Migration),
            Box::new(m20261207_070000_audit_seal::Migration),
        ]
    }
}
