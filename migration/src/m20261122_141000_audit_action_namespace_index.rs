//! `audit_log_tenant_namespace_idx (tenant_id, split_part(action, '.', 1), created_at DESC, id
//! DESC)`: a tenant's events of one action namespace (`crm`, `idp`: an action's first
//! dot-separated segment), newest first (plans in docs/performance.md, "Action prefixes").
//!
//! An action prefix that has a dot fixes the first segment of every action it matches
//! (`crm.deal.` and `crm.de` only match actions of `crm`), and the server adds that equality to
//! the prefix's `LIKE` (`api::audit::search::action_prefix`). With it a prefix page is read from
//! this index in time order and stops at the page. The second migration's
//! `audit_log_tenant_action_prefix_idx` serves the `LIKE` as a range of actions, but cannot give
//! the range's rows in time order: for a prefix that is rare in a large tenant every row of the
//! range was fetched and sorted (2,182 rows, 6.8 ms under load, for `idp.` in the benchmark's
//! largest tenant). It stays for prefixes without a dot and for `actions: [...]`.
//!
//! Built `CONCURRENTLY` (products keep publishing meanwhile), outside a transaction; an index
//! left invalid by an interrupted build is dropped and built again when the migration is run
//! again. Then `ANALYZE audit_log`, which gathers the statistics of the indexed expression the
//! planner needs to tell a rare namespace from a common one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "audit_log_tenant_namespace_idx";
const DEFINITION: &str = "(tenant_id, split_part(action, '.', 1), created_at DESC, id DESC)";

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
