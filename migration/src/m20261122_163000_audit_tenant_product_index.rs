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
//! Built `CONCURRENTLY` (products keep publishing meanwhile), outside a transaction; an index
//! left invalid by an interrupted build is dropped and built again when the migration is run
//! again. Then `ANALYZE audit_log`. Self-contained like every migration.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

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
        let db = manager.get_connection();
        // What an interrupted concurrent build leaves: an index marked invalid.
        let invalid = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass($1) AND NOT indisvalid",
                [NAME.into()],
            ))
            .await?;
        if invalid.is_some() {
            db.execute_unprepared(&format!("DROP INDEX CONCURRENTLY {NAME}"))
                .await?;
        }
        db.execute_unprepared(&format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON audit_log {DEFINITION}"
        ))
        .await?;
        db.execute_unprepared("ANALYZE audit_log").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS {NAME}"))
            .await?;
        Ok(())
    }
}
