//! Indexes for two searches that read a tenant's whole history without them (plans and write
//! cost in docs/performance.md, "Free text and one object's history").
//!
//! - `audit_log_text_idx USING gin (<free text> gin_trgm_ops)`: free text in the search
//!   language (`filter.query`, Retraced's search). The free text is the six fields a word is
//!   looked for in (action, actor id and name, target id and name, `metadata.description`),
//!   each `NULL` as `''`, joined by U+001F (which the server refuses in a search word, so a
//!   word cannot match across two fields); the server writes the same expression
//!   (`api::audit::search::FREE_TEXT`) and matches it with `ILIKE '%word%'`, which a trigram
//!   index serves for words with three letters or digits in a row. Without it, a word that
//!   occurs in none of the large tenant's 1.34 M events read all of them (21 s on the
//!   benchmark data).
//!   `pg_trgm` is a trusted extension: a database owner may create it. `fastupdate` stays on:
//!   with it off, 50-event inserts ran at 38% of the rate without the index; with it on, 85%.
//! - `audit_log_target_idx (target_id, created_at DESC, id DESC) WHERE target_id IS NOT NULL`:
//!   one object's history (`target.id:`), newest first, as the reference
//!   `audit_log_actor_idx` serves an actor's.
//!
//! Both are built `CONCURRENTLY`, so products keep publishing while they build (about 4
//! minutes for 10 M rows): this migration runs outside a transaction. An index left invalid by
//! an interrupted build is dropped and built again when the migration is run again.
//!
//! Then `ANALYZE audit_log`: PostgreSQL keeps statistics of an indexed expression, and gathers
//! them only when it analyzes the table. Without them it cannot tell a rare word (read through
//! the index) from a common one (newest first through the tenant's index, stopping at a page).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The indexes of this migration: (name, definition after `CREATE INDEX CONCURRENTLY IF NOT
/// EXISTS <name> ON audit_log`).
const INDEXES: [(&str, &str); 2] = [
    (
        "audit_log_text_idx",
        "USING gin ((COALESCE(action, '') || chr(31) || COALESCE(actor_id, '') || chr(31) || \
         COALESCE(actor_name, '') || chr(31) || COALESCE(target_id, '') || chr(31) || \
         COALESCE(target_name, '') || chr(31) || COALESCE(metadata ->> 'description', '')\
         ) gin_trgm_ops)",
    ),
    (
        "audit_log_target_idx",
        "(target_id, created_at DESC, id DESC) WHERE target_id IS NOT NULL",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // CREATE INDEX CONCURRENTLY cannot run in a transaction.
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            .await?;
        for (name, definition) in INDEXES {
            // What an interrupted concurrent build leaves: an index marked invalid.
            let invalid = db
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass($1) AND NOT indisvalid",
                    [name.into()],
                ))
                .await?;
            if invalid.is_some() {
                db.execute_unprepared(&format!("DROP INDEX CONCURRENTLY {name}"))
                    .await?;
            }
            db.execute_unprepared(&format!(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON audit_log {definition}"
            ))
            .await?;
        }
        db.execute_unprepared("ANALYZE audit_log").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))
                .await?;
        }
        // The extension came with this migration's index (IF NOT EXISTS: it may have been there
        // before, but nothing of ours uses it without that index).
        db.execute_unprepared("DROP EXTENSION IF EXISTS pg_trgm")
            .await?;
        Ok(())
    }
}
