//! `tenant_deletions`: tenants whose deletion has been asked for and is under way.
//!
//! Deleting a tenant clears the tenant (and project) of each of its audit events: the reference
//! schema's `ON DELETE SET NULL`. For a large tenant that is one statement updating millions of
//! rows, each through every index of `audit_log` and the metadata terms' trigger (about 0.4 ms
//! an event on the benchmark data): minutes, far past the server's statement timeout, so such a
//! tenant could not be deleted at all. The server now clears a large tenant's events in batches,
//! each its own transaction, and deletes the tenant when none is left. This table is what makes
//! that safe: the row is written, in the transaction that accepts the deletion, before any event
//! is touched, so the batches always belong to a deletion that was asked for and recorded, and a
//! deletion a restart interrupted is found and finished. The row goes with the tenant
//! (`ON DELETE CASCADE`).
//!
//! - `requested_by_key_id`, `requested_by_key_name`: the API key that asked (no foreign key: the
//!   key may be revoked before the deletion ends), the actor of the final `tenant.deleted` event.
//! - `events_detached`: the events cleared so far, for progress.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TenantDeletions {
    Table,
    TenantId,
    RequestedAt,
    RequestedByKeyId,
    RequestedByKeyName,
    Reason,
    EventsDetached,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TenantDeletions::Table)
                    .col(
                        ColumnDef::new(TenantDeletions::TenantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(TenantDeletions::RequestedAt)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .col(
                        ColumnDef::new(TenantDeletions::RequestedByKeyId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TenantDeletions::RequestedByKeyName)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(TenantDeletions::Reason).text())
                    .col(
                        ColumnDef::new(TenantDeletions::EventsDetached)
                            .big_integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(TenantDeletions::EventsDetached).gte(0)),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("tenant_deletions_tenant_id_fkey")
                            .from(TenantDeletions::Table, TenantDeletions::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TenantDeletions::Table).to_owned())
            .await
    }
}
