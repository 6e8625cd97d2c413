//! `api_keys.expires_at`: when a key stops opening anything (`NULL`: never). A rotated key's
//! old half gets one (the grace), and `issueApiKey` / `api issue-key --expires-in` may set one
//! at issue. It must be after the key's creation: a key born expired is a mistake, not a key.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE api_keys ADD COLUMN expires_at timestamptz; \
                 ALTER TABLE api_keys ADD CONSTRAINT api_keys_expires_after_creation \
                 CHECK (expires_at > created_at); \
                 COMMENT ON COLUMN api_keys.expires_at IS \
                 'When the key stops working (NULL: never); after created_at'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE api_keys DROP COLUMN expires_at")
            .await?;
        Ok(())
    }
}
