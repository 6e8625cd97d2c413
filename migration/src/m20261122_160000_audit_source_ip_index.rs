//! `audit_log_source_ip_idx (source_ip, tenant_id, created_at DESC, id DESC) WHERE source_ip
//! IS NOT NULL`: the events from one address, a tenant's or every tenant's (plans in
//! docs/performance.md, "Source addresses").
//!
//! Which tenant an address touched, and what it did there, is the first question of an
//! incident, and `sourceIp` had no index: a tenant's events were read in time order and
//! filtered, 320 ms for the large tenant of the benchmark data and its rarest address, and the
//! whole tenant (seconds; 10 s is the statement timeout) for an address it has never seen. The
//! server matches a single address by equality (`api::audit::filter`), which this index
//! returns in time order for one tenant; a CIDR block is a range of it (PostgreSQL turns `<<=`
//! into one for a btree), and so is an address across tenants, both then sorted. Events without
//! an address (portal events, most system ones) are left out.
//!
//! Built without blocking writes, then analysed ([`crate::concurrent_index`]).

use sea_orm_migration::prelude::*;

use crate::concurrent_index;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "audit_log_source_ip_idx";
const DEFINITION: &str =
    "(source_ip, tenant_id, created_at DESC, id DESC) WHERE source_ip IS NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // CREATE INDEX CONCURRENTLY cannot run in a transaction.
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        concurrent_index::create(manager, NAME, DEFINITION).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        concurrent_index::drop(manager, NAME).await
    }
}
