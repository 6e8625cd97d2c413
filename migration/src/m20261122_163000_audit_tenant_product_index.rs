//! `audit_log_tenant_product_idx (tenant_id, product, created_at DESC, id DESC) WHERE product IS
//! NOT NULL`: a tenant's events of one product, newest first (plans in docs/performance.md, "A
//! tenant's product").
//!
//! A tenant and one product is the registry's most common cross-product filter (a product's tab
//! in a tenant's audit view), and it had no index of its own: the planner walked the tenant's
//! events or the product's and filtered. That is cheap while the product is common in the
//! tenant, and a walk of everything when it is rare or absent: on the benchmark data the large
//! tenant has no `analytics` events, and its `analytics` page read all 614,572 `analytics`
//! events of every tenant, 1.7–2.9 s. From this index such a page is a single descent.
//!
//! Built without blocking writes, then analysed ([`crate::concurrent_index`]).

use sea_orm_migration::prelude::*;

use crate::concurrent_index;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "audit_log_tenant_product_idx";
const DEFINITION: &str = "(tenant_id, product, created_at DESC, id DESC) WHERE product IS NOT NULL";

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
