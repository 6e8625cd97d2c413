//! `api_keys.replaced_by`: the key a rotation issued in this one's place. A key is rotated
//! once: rotating it again would mint a second successor from a key that is on its way out
//! (and a leaked old key, in its grace, could rotate itself into a key that outlives it).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE api_keys ADD COLUMN replaced_by uuid \
                 REFERENCES api_keys (id) ON DELETE SET NULL; \
                 COMMENT ON COLUMN api_keys.replaced_by IS \
                 'The key a rotation issued in this one''s place (NULL: not rotated)'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE api_keys DROP COLUMN replaced_by")
            .await?;
        Ok(())
    }
}
