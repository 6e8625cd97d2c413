//! Every server process caches the keys it has verified; these triggers tell them all when a
//! cached verdict may have changed. A change to what a key opens (revoked, expired, rescoped,
//! moved to another product, deleted) or to its tenant's state (status, trial end, slug,
//! deletion) sends `NOTIFY tenant_registry_keys` with `key:<id>` or `tenant:<id>`.
//!
//! Triggers rather than a `NOTIFY` in each operation: the notice is then part of every
//! transaction that makes such a change, whoever makes it (the API, the lifecycle's clock,
//! `api lifecycle run`, an operator's SQL, a cascade), and PostgreSQL delivers it only when
//! that transaction commits. `last_used_at` is not among the columns: writing it is not a
//! change of verdict, and it is written all the time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
CREATE FUNCTION notify_key_verdict_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        'tenant_registry_keys',
        CASE TG_TABLE_NAME WHEN 'api_keys' THEN 'key:' ELSE 'tenant:' END || OLD.id::text
    );
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION notify_key_verdict_change() IS
    'Tells every server process (LISTEN tenant_registry_keys) to drop cached verdicts of a key or a tenant''s keys';

CREATE TRIGGER api_keys_verdict_changed
    AFTER UPDATE OF revoked_at, expires_at, scopes, product, tenant_id, hash ON api_keys
    FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.scopes IS DISTINCT FROM NEW.scopes
          OR OLD.product IS DISTINCT FROM NEW.product
          OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id
          OR OLD.hash IS DISTINCT FROM NEW.hash)
    EXECUTE FUNCTION notify_key_verdict_change();
CREATE TRIGGER api_keys_deleted
    AFTER DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION notify_key_verdict_change();

CREATE TRIGGER tenants_verdict_changed
    AFTER UPDATE OF status, trial_ends_at, slug ON tenants
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.trial_ends_at IS DISTINCT FROM NEW.trial_ends_at
          OR OLD.slug IS DISTINCT FROM NEW.slug)
    EXECUTE FUNCTION notify_key_verdict_change();
CREATE TRIGGER tenants_deleted
    AFTER DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION notify_key_verdict_change();
"#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TRIGGER tenants_deleted ON tenants; \
                 DROP TRIGGER tenants_verdict_changed ON tenants; \
                 DROP TRIGGER api_keys_deleted ON api_keys; \
                 DROP TRIGGER api_keys_verdict_changed ON api_keys; \
                 DROP FUNCTION notify_key_verdict_change()",
            )
            .await?;
        Ok(())
    }
}
