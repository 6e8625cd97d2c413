//! Indexes for two searches that read a tenant's whole history without them (plans and write
//! cost in docs/performance.md, "Free text and one object's history").
//!
//! - `audit_log_text_idx USING gin (<free text> gin_trgm_ops)`: free text in the search
//!   language (`filter.query`, Retraced's search). The free text is the six fields a word is
//!   looked for in (action, actor id and name, target id and name, `metadata.description`),
//!   each `NULL` as `''`, joined by U+001F (which the server refuses in a search word, so a
//!   word cannot match across two fields); the server writes the same expression
//!   (`api::audit::search::FREE_TEXT`) and matches it with `ILIKE '%word%'`, which a trigram
//!   index serves for words of three characters or more. Without it, a word that occurs in
//!   none of the large tenant's 1.34 M events read all of them (21 s on the benchmark data).
//!   `pg_trgm` is a trusted extension: a database owner may create it. `fastupdate` stays on:
//!   with it off, 50-event inserts ran at 38% of the rate without the index; with it on, 85%.
//! - `audit_log_target_idx (target_id, created_at DESC, id DESC) WHERE target_id IS NOT NULL`:
//!   one object's history (`target.id:`), newest first, as the reference
//!   `audit_log_actor_idx` serves an actor's.
//!
//! Then `ANALYZE audit_log`: PostgreSQL keeps statistics of an indexed expression, and gathers
//! them only when it analyzes the table. Without them it cannot tell a rare word (read through
//! the index) from a common one (newest first through the tenant's index, stopping at a page).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    TargetId,
    CreatedAt,
    Id,
}

const TEXT_INDEX: &str = "CREATE INDEX audit_log_text_idx ON audit_log USING gin ((\
     COALESCE(action, '') || chr(31) || COALESCE(actor_id, '') || chr(31) || \
     COALESCE(actor_name, '') || chr(31) || COALESCE(target_id, '') || chr(31) || \
     COALESCE(target_name, '') || chr(31) || COALESCE(metadata ->> 'description', '')\
     ) gin_trgm_ops)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            .await?;
        db.execute_unprepared(TEXT_INDEX).await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_log_target_idx")
                    .table(AuditLog::Table)
                    .col(AuditLog::TargetId)
                    .col((AuditLog::CreatedAt, IndexOrder::Desc))
                    .col((AuditLog::Id, IndexOrder::Desc))
                    .and_where(Expr::col(AuditLog::TargetId).is_not_null())
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared("ANALYZE audit_log").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for added in ["audit_log_text_idx", "audit_log_target_idx"] {
            manager
                .drop_index(Index::drop().name(added).table(AuditLog::Table).to_owned())
                .await?;
        }
        // The extension came with this migration's index (IF NOT EXISTS: it may have been there
        // before, but nothing of ours uses it without that index).
        manager
            .get_connection()
            .execute_unprepared("DROP EXTENSION IF EXISTS pg_trgm")
            .await?;
        Ok(())
    }
}
