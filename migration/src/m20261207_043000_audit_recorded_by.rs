//! `audit_log.recorded_by` and `recorded_by_name`: which API key wrote an event, for events a
//! product stated (`recordAuditEvent`, Retraced's publish). A client names its own actor (the
//! product's user); these say who published, and the client cannot set them. NULL for the
//! registry's own events, which name the acting key as their actor.
//!
//! No foreign key: a key goes with its tenant, and the event stays evidence of who wrote it.
//! Adding nullable columns without a default rewrites no row.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE audit_log ADD COLUMN recorded_by uuid, \
                 ADD COLUMN recorded_by_name text; \
                 COMMENT ON COLUMN audit_log.recorded_by IS \
                 'The API key that wrote a product''s event (NULL: the registry''s own)'; \
                 COMMENT ON COLUMN audit_log.recorded_by_name IS \
                 'That key''s name when it wrote the event'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE audit_log DROP COLUMN recorded_by_name, DROP COLUMN recorded_by",
            )
            .await?;
        Ok(())
    }
}
