//! Indexes for the searches users run on `audit_log` (their plans are in docs/performance.md).
//!
//! Every page is ordered by `(created_at, id)` and continues after a cursor with the row-value
//! comparison `(created_at, id) < ($1, $2)`. An index ending in `created_at DESC, id DESC` serves
//! that order and that comparison as a pure index condition, so page 200 costs what page 1
//! costs. The reference indexes end in `created_at DESC` only; the two they generalise
//! (`audit_log_tenant_idx`, `audit_log_product_idx`) are replaced, not duplicated, to keep the
//! write cost of an insert where it was.
//!
//! - `audit_log_tenant_page_idx (tenant_id, created_at DESC, id DESC)`: a tenant's events.
//! - `audit_log_product_page_idx (product, created_at DESC, id DESC) WHERE product IS NOT NULL`:
//!   one product across tenants.
//! - `audit_log_portal_page_idx (created_at DESC, id DESC) WHERE product IS NULL`: portal events.
//! - `audit_log_page_idx (created_at DESC, id DESC)`: cross-tenant time windows (platform keys).
//! - `audit_log_tenant_action_prefix_idx (tenant_id, action text_pattern_ops, created_at DESC,
//!   id DESC)`: a tenant's events by action prefix (`LIKE 'crm.%'`; the database collation is not
//!   C, so a plain btree on `action` cannot serve a prefix) and by exact action, newest first.
//!   It replaces `audit_log_tenant_action_idx`, which it covers.
//! - `audit_log_tenant_metadata_idx USING gin (tenant_id, metadata jsonb_path_ops)`: a tenant's
//!   events by metadata containment (`@>`). With `tenant_id` in the GIN index (extension
//!   `btree_gin`, trusted, so a database owner may create it) the index scan intersects the
//!   tenant's entries with the containment's, skipping through the large tenant's posting list;
//!   a metadata-only GIN index would return every tenant's matches for the heap to discard. The
//!   index serves containment alone too (platform keys across tenants). `fastupdate` is off:
//!   an audit log is written all the time, and with it on every search must also read the
//!   pending list of recent inserts (up to 4 MB), which the benchmark showed tripling S8's time.
//!
//! The operator classes (`text_pattern_ops`, `jsonb_path_ops`) have no sea-query builder, so
//! those two are SQL.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    TenantId,
    Product,
    Action,
    CreatedAt,
    Id,
}

const ACTION_PREFIX_INDEX: &str = "CREATE INDEX audit_log_tenant_action_prefix_idx ON audit_log \
     (tenant_id, action text_pattern_ops, created_at DESC, id DESC)";
const METADATA_INDEX: &str = "CREATE INDEX audit_log_tenant_metadata_idx ON audit_log \
     USING gin (tenant_id, metadata jsonb_path_ops) WITH (fastupdate = off)";

/// `(created_at DESC, id DESC)` after `leading`, on `audit_log`.
fn page_index(name: &str, leading: Option<AuditLog>) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(AuditLog::Table);
    if let Some(column) = leading {
        index.col(column);
    }
    index
        .col((AuditLog::CreatedAt, IndexOrder::Desc))
        .col((AuditLog::Id, IndexOrder::Desc));
    index
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(page_index(
                "audit_log_tenant_page_idx",
                Some(AuditLog::TenantId),
            ))
            .await?;
        manager
            .create_index(
                page_index("audit_log_product_page_idx", Some(AuditLog::Product))
                    .and_where(Expr::col(AuditLog::Product).is_not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                page_index("audit_log_portal_page_idx", None)
                    .and_where(Expr::col(AuditLog::Product).is_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(page_index("audit_log_page_idx", None))
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(ACTION_PREFIX_INDEX).await?;
        db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS btree_gin")
            .await?;
        db.execute_unprepared(METADATA_INDEX).await?;
        for replaced in [
            "audit_log_tenant_idx",
            "audit_log_product_idx",
            "audit_log_tenant_action_idx",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(replaced)
                        .table(AuditLog::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The reference indexes, as the first migration made them.
        manager
            .create_index(
                Index::create()
                    .name("audit_log_tenant_idx")
                    .table(AuditLog::Table)
                    .col(AuditLog::TenantId)
                    .col((AuditLog::CreatedAt, IndexOrder::Desc))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_log_product_idx")
                    .table(AuditLog::Table)
                    .col(AuditLog::Product)
                    .col((AuditLog::CreatedAt, IndexOrder::Desc))
                    .and_where(Expr::col(AuditLog::Product).is_not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_log_tenant_action_idx")
                    .table(AuditLog::Table)
                    .col(AuditLog::TenantId)
                    .col(AuditLog::Action)
                    .col((AuditLog::CreatedAt, IndexOrder::Desc))
                    .to_owned(),
            )
            .await?;
        for added in [
            "audit_log_tenant_page_idx",
            "audit_log_product_page_idx",
            "audit_log_portal_page_idx",
            "audit_log_page_idx",
            "audit_log_tenant_action_prefix_idx",
            "audit_log_tenant_metadata_idx",
        ] {
            manager
                .drop_index(Index::drop().name(added).table(AuditLog::Table).to_owned())
                .await?;
        }
        // The extension came with this migration's index (IF NOT EXISTS: it may have been there
        // before, but nothing of ours uses it without that index).
        manager
            .get_connection()
            .execute_unprepared("DROP EXTENSION IF EXISTS btree_gin")
            .await?;
        Ok(())
    }
}
