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
//! Built `CONCURRENTLY` (products keep publishing meanwhile), outside a transaction; an index
//! left invalid by an interrupted build is dropped and built again when the migration is run
//! again. Then `ANALYZE audit_log`. Self-contained like every migration: the third and fourth
//! build their indexes the same way, and none shares code with another.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

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
