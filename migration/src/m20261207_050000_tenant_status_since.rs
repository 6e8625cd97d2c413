//! `tenants.status_since`: when a tenant entered its lifecycle state. A frozen tenant's grace
//! (after which it is archived) is counted from it. Tenants that exist when this runs get the
//! time of the migration: their real moment is not recorded anywhere, and a later one only
//! gives a frozen tenant more of its grace, never less.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE tenants ADD COLUMN status_since timestamptz NOT NULL DEFAULT now(); \
                 COMMENT ON COLUMN tenants.status_since IS \
                 'When the tenant entered its status (the frozen grace counts from it)'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE tenants DROP COLUMN status_since")
            .await?;
        Ok(())
    }
}
