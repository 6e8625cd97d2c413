//! The initial schema: exactly the catalog of `tenant_registry.sql` (M4.1), built with sea-query.
//!
//! Constraint and index names are the ones PostgreSQL gives the reference DDL (`tenants_slug_key`,
//! `tenant_projects_tenant_id_fkey`, ...): the API maps constraint violations to user errors by
//! name, and the integration test `migrations::first_migration_builds_exactly_the_reference_catalog`
//! proves the two catalogs are equal.
//! Improvements to this schema go in later migrations; this file never changes once landed.
//! It is longer than the house limit on file length because one migration is one file
//! (STYLE rule 8); most of it is declarative builder calls and identifiers.

use sea_orm_migration::prelude::extension::postgres::{Type, TypeCreateStatement};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables whose `updated_at` the `touch_updated_at()` trigger maintains (`api_keys` and
/// `audit_log` have no `updated_at`).
const TOUCHED_TABLES: [&str; 4] = [
    "tenants",
    "tenant_projects",
    "tenant_products",
    "tenant_idp_config",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for enum_type in enum_types() {
            manager.create_type(enum_type).await?;
        }
        for table in tables() {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }

        // sea-query has no builder for functions or triggers, so they are plain SQL. The trigger
        // is the only writer of `updated_at`: application code never sets it, so the column
        // cannot lie about the last change, whichever client made it.
        let db = manager.get_connection();
        db.execute_unprepared(TOUCH_UPDATED_AT_FN).await?;
        for table in TOUCHED_TABLES {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_touch_updated_at\n\
                 BEFORE UPDATE ON {table}\n\
                 FOR EACH ROW EXECUTE FUNCTION touch_updated_at();"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents; dropping a table drops its indexes, triggers and the
        // sequence its BIGSERIAL owns.
        for table in [
            AuditLog::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            TenantIdpConfig::Table.into_iden(),
            TenantProducts::Table.into_iden(),
            TenantProjects::Table.into_iden(),
            Tenants::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared("DROP FUNCTION touch_updated_at();")
            .await?;
        for name in [
            TenantProjectStatus::Enum.into_iden(),
            IdpKind::Enum.into_iden(),
            TenantKind::Enum.into_iden(),
            TenantStatus::Enum.into_iden(),
        ] {
            manager
                .drop_type(Type::drop().name(name).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Byte for byte the reference function, so `pg_get_functiondef` matches it.
const TOUCH_UPDATED_AT_FN: &str =
    "CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger AS $$
BEGIN
NEW.updated_at = NOW();
RETURN NEW;
END;
$$ LANGUAGE plpgsql;";

const TENANT_SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$";
const PROJECT_SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$";

fn enum_types() -> Vec<TypeCreateStatement> {
    vec![
        Type::create()
            .as_enum(TenantStatus::Enum)
            .values([
                TenantStatus::Demo,
                TenantStatus::Trial,
                TenantStatus::Active,
                TenantStatus::Frozen,
                TenantStatus::Archived,
            ])
            .to_owned(),
        Type::create()
            .as_enum(TenantKind::Enum)
            .values([TenantKind::Customer, TenantKind::Demo])
            .to_owned(),
        Type::create()
            .as_enum(IdpKind::Enum)
            .values([IdpKind::Oidc, IdpKind::Saml])
            .to_owned(),
        Type::create()
            .as_enum(TenantProjectStatus::Enum)
            .values([TenantProjectStatus::Active, TenantProjectStatus::Archived])
            .to_owned(),
    ]
}

fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(Tenants::Table)
            .col(uuid_pk(Tenants::Id))
            .col(
                ColumnDef::new(Tenants::Slug)
                    .text()
                    .unique_key()
                    .not_null()
                    .check(slug_check("tenants_slug_check", TENANT_SLUG_PATTERN)),
            )
            .col(ColumnDef::new(Tenants::Name).text().not_null())
            .col(
                ColumnDef::new(Tenants::Status)
                    .custom(TenantStatus::Enum)
                    .not_null()
                    .default("trial"),
            )
            .col(
                ColumnDef::new(Tenants::Kind)
                    .custom(TenantKind::Enum)
                    .not_null()
                    .default("customer"),
            )
            .col(
                ColumnDef::new(Tenants::Plan)
                    .text()
                    .not_null()
                    .default("starter"),
            )
            .col(ColumnDef::new(Tenants::ErpCustomerId).text().unique_key())
            .col(ColumnDef::new(Tenants::StripeCustId).text().unique_key())
            .col(ColumnDef::new(Tenants::TrialEndsAt).timestamp_with_time_zone())
            .col(ColumnDef::new(Tenants::ContractStart).date())
            .col(ColumnDef::new(Tenants::ContractEnd).date())
            .col(ColumnDef::new(Tenants::SalesOwner).text())
            .col(timestamp_now(Tenants::CreatedAt))
            .col(timestamp_now(Tenants::UpdatedAt))
            .to_owned(),
        Table::create()
            .table(TenantProjects::Table)
            .col(uuid_pk(TenantProjects::Id))
            .col(ColumnDef::new(TenantProjects::TenantId).uuid().not_null())
            .col(ColumnDef::new(TenantProjects::Name).text().not_null())
            .col(
                ColumnDef::new(TenantProjects::Slug)
                    .text()
                    .not_null()
                    .check(slug_check(
                        "tenant_projects_slug_check",
                        PROJECT_SLUG_PATTERN,
                    )),
            )
            .col(
                ColumnDef::new(TenantProjects::Status)
                    .custom(TenantProjectStatus::Enum)
                    .not_null()
                    .default("active"),
            )
            .col(timestamp_now(TenantProjects::CreatedAt))
            .col(timestamp_now(TenantProjects::UpdatedAt))
            .index(
                Index::create()
                    .unique()
                    .name("tenant_projects_tenant_id_slug_key")
                    .col(TenantProjects::TenantId)
                    .col(TenantProjects::Slug),
            )
            .foreign_key(&mut references_tenant(
                "tenant_projects_tenant_id_fkey",
                TenantProjects::Table,
                TenantProjects::TenantId,
                ForeignKeyAction::Cascade,
            ))
            .to_owned(),
        Table::create()
            .table(TenantProducts::Table)
            .col(ColumnDef::new(TenantProducts::TenantId).uuid().not_null())
            .col(ColumnDef::new(TenantProducts::Product).text().not_null())
            .col(
                ColumnDef::new(TenantProducts::Enabled)
                    .boolean()
                    .not_null()
                    .default(true),
            )
            .col(empty_jsonb(TenantProducts::Config))
            .col(ColumnDef::new(TenantProducts::ExpiresAt).timestamp_with_time_zone())
            .col(timestamp_now(TenantProducts::CreatedAt))
            .col(timestamp_now(TenantProducts::UpdatedAt))
            .primary_key(
                Index::create()
                    .name("tenant_products_pkey")
                    .col(TenantProducts::TenantId)
                    .col(TenantProducts::Product),
            )
            .foreign_key(&mut references_tenant(
                "tenant_products_tenant_id_fkey",
                TenantProducts::Table,
                TenantProducts::TenantId,
                ForeignKeyAction::Cascade,
            ))
            .to_owned(),
        Table::create()
            .table(TenantIdpConfig::Table)
            .col(uuid_pk(TenantIdpConfig::Id))
            .col(ColumnDef::new(TenantIdpConfig::TenantId).uuid().not_null())
            .col(
                ColumnDef::new(TenantIdpConfig::Type)
                    .custom(IdpKind::Enum)
                    .not_null(),
            )
            .col(empty_jsonb(TenantIdpConfig::Metadata))
            .col(
                ColumnDef::new(TenantIdpConfig::Verified)
                    .boolean()
                    .not_null()
                    .default(false),
            )
            .col(timestamp_now(TenantIdpConfig::CreatedAt))
            .col(timestamp_now(TenantIdpConfig::UpdatedAt))
            .index(
                Index::create()
                    .unique()
                    .name("tenant_idp_config_tenant_id_type_key")
                    .col(TenantIdpConfig::TenantId)
                    .col(TenantIdpConfig::Type),
            )
            .foreign_key(&mut references_tenant(
                "tenant_idp_config_tenant_id_fkey",
                TenantIdpConfig::Table,
                TenantIdpConfig::TenantId,
                ForeignKeyAction::Cascade,
            ))
            .to_owned(),
        Table::create()
            .table(ApiKeys::Table)
            .col(uuid_pk(ApiKeys::Id))
            .col(ColumnDef::new(ApiKeys::TenantId).uuid().not_null())
            .col(ColumnDef::new(ApiKeys::Product).text())
            .col(ColumnDef::new(ApiKeys::Name).text().not_null())
            .col(
                ColumnDef::new(ApiKeys::Scopes)
                    .array(ColumnType::Text)
                    .not_null()
                    .default(Expr::cust("ARRAY[]::TEXT[]")),
            )
            .col(ColumnDef::new(ApiKeys::Hash).text().not_null())
            .col(ColumnDef::new(ApiKeys::Prefix).text().not_null())
            .col(ColumnDef::new(ApiKeys::CreatedBy).text())
            .col(ColumnDef::new(ApiKeys::LastUsedAt).timestamp_with_time_zone())
            .col(ColumnDef::new(ApiKeys::RevokedAt).timestamp_with_time_zone())
            .col(timestamp_now(ApiKeys::CreatedAt))
            .index(
                Index::create()
                    .unique()
                    .name("api_keys_tenant_id_name_key")
                    .col(ApiKeys::TenantId)
                    .col(ApiKeys::Name),
            )
            .foreign_key(&mut references_tenant(
                "api_keys_tenant_id_fkey",
                ApiKeys::Table,
                ApiKeys::TenantId,
                ForeignKeyAction::Cascade,
            ))
            .to_owned(),
        Table::create()
            .table(AuditLog::Table)
            // BIGSERIAL (a sequence and a `nextval` default) as in the reference; sea-query's
            // `big_integer().auto_increment()` would write an IDENTITY column instead.
            .col(
                ColumnDef::new(AuditLog::Id)
                    .custom("bigserial")
                    .not_null()
                    .primary_key(),
            )
            .col(ColumnDef::new(AuditLog::TenantId).uuid())
            .col(ColumnDef::new(AuditLog::ProjectId).uuid())
            .col(ColumnDef::new(AuditLog::ActorId).text())
            .col(ColumnDef::new(AuditLog::ActorName).text())
            .col(ColumnDef::new(AuditLog::ActorType).text())
            .col(ColumnDef::new(AuditLog::Action).text().not_null())
            .col(ColumnDef::new(AuditLog::TargetId).text())
            .col(ColumnDef::new(AuditLog::TargetType).text())
            .col(ColumnDef::new(AuditLog::TargetName).text())
            .col(ColumnDef::new(AuditLog::Product).text())
            .col(empty_jsonb(AuditLog::Metadata))
            .col(ColumnDef::new(AuditLog::SourceIp).inet())
            .col(ColumnDef::new(AuditLog::UserAgent).text())
            .col(timestamp_now(AuditLog::CreatedAt))
            .foreign_key(&mut references_tenant(
                "audit_log_tenant_id_fkey",
                AuditLog::Table,
                AuditLog::TenantId,
                ForeignKeyAction::SetNull,
            ))
            .foreign_key(
                ForeignKey::create()
                    .name("audit_log_project_id_fkey")
                    .from(AuditLog::Table, AuditLog::ProjectId)
                    .to(TenantProjects::Table, TenantProjects::Id)
                    .on_delete(ForeignKeyAction::SetNull),
            )
            .to_owned(),
    ]
}

fn indexes() -> Vec<IndexCreateStatement> {
    use IndexOrder::Desc;
    vec![
        Index::create()
            .name("tenants_status_idx")
            .table(Tenants::Table)
            .col(Tenants::Status)
            .to_owned(),
        Index::create()
            .name("tenants_kind_idx")
            .table(Tenants::Table)
            .col(Tenants::Kind)
            .to_owned(),
        Index::create()
            .name("tenants_trial_ends_idx")
            .table(Tenants::Table)
            .col(Tenants::TrialEndsAt)
            .and_where(Expr::col(Tenants::TrialEndsAt).is_not_null())
            .to_owned(),
        Index::create()
            .name("tenant_projects_tenant_idx")
            .table(TenantProjects::Table)
            .col(TenantProjects::TenantId)
            .to_owned(),
        Index::create()
            .name("tenant_products_product_idx")
            .table(TenantProducts::Table)
            .col(TenantProducts::Product)
            .and_where(Expr::col(TenantProducts::Enabled).eq(true))
            .to_owned(),
        Index::create()
            .name("tenant_idp_config_tenant_idx")
            .table(TenantIdpConfig::Table)
            .col(TenantIdpConfig::TenantId)
            .to_owned(),
        Index::create()
            .name("api_keys_tenant_idx")
            .table(ApiKeys::Table)
            .col(ApiKeys::TenantId)
            .and_where(Expr::col(ApiKeys::RevokedAt).is_null())
            .to_owned(),
        Index::create()
            .name("api_keys_prefix_idx")
            .table(ApiKeys::Table)
            .col(ApiKeys::Prefix)
            .to_owned(),
        Index::create()
            .name("audit_log_tenant_idx")
            .table(AuditLog::Table)
            .col(AuditLog::TenantId)
            .col((AuditLog::CreatedAt, Desc))
            .to_owned(),
        Index::create()
            .name("audit_log_product_idx")
            .table(AuditLog::Table)
            .col(AuditLog::Product)
            .col((AuditLog::CreatedAt, Desc))
            .and_where(Expr::col(AuditLog::Product).is_not_null())
            .to_owned(),
        Index::create()
            .name("audit_log_actor_idx")
            .table(AuditLog::Table)
            .col(AuditLog::ActorId)
            .col((AuditLog::CreatedAt, Desc))
            .and_where(Expr::col(AuditLog::ActorId).is_not_null())
            .to_owned(),
        Index::create()
            .name("audit_log_action_idx")
            .table(AuditLog::Table)
            .col(AuditLog::Action)
            .to_owned(),
        Index::create()
            .name("audit_log_tenant_action_idx")
            .table(AuditLog::Table)
            .col(AuditLog::TenantId)
            .col(AuditLog::Action)
            .col((AuditLog::CreatedAt, Desc))
            .to_owned(),
    ]
}

/// `id UUID PRIMARY KEY DEFAULT gen_random_uuid()`
fn uuid_pk(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .uuid()
        .primary_key()
        .default(Expr::cust("gen_random_uuid()"))
        .to_owned()
}

/// `TIMESTAMPTZ NOT NULL DEFAULT NOW()`
fn timestamp_now(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .default(Expr::cust("NOW()"))
        .to_owned()
}

/// `JSONB NOT NULL DEFAULT '{}'::jsonb`
fn empty_jsonb(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .json_binary()
        .not_null()
        .default(Expr::cust("'{}'::jsonb"))
        .to_owned()
}

/// `CONSTRAINT <name> CHECK (slug ~ '<pattern>')`
fn slug_check(name: &'static str, pattern: &str) -> Check {
    (name, Expr::cust(format!("slug ~ '{pattern}'"))).into()
}

/// `FOREIGN KEY (<column>) REFERENCES tenants(id) ON DELETE <action>`
fn references_tenant(
    name: &str,
    table: impl IntoIden,
    column: impl IntoIden,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(on_delete)
        .to_owned()
}

#[derive(DeriveIden)]
enum TenantStatus {
    #[sea_orm(iden = "tenant_status")]
    Enum,
    Demo,
    Trial,
    Active,
    Frozen,
    Archived,
}

#[derive(DeriveIden)]
enum TenantKind {
    #[sea_orm(iden = "tenant_kind")]
    Enum,
    Customer,
    Demo,
}

#[derive(DeriveIden)]
enum IdpKind {
    #[sea_orm(iden = "idp_kind")]
    Enum,
    Oidc,
    Saml,
}

#[derive(DeriveIden)]
enum TenantProjectStatus {
    #[sea_orm(iden = "tenant_project_status")]
    Enum,
    Active,
    Archived,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Slug,
    Name,
    Status,
    Kind,
    Plan,
    ErpCustomerId,
    StripeCustId,
    TrialEndsAt,
    ContractStart,
    ContractEnd,
    SalesOwner,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TenantProjects {
    Table,
    Id,
    TenantId,
    Name,
    Slug,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TenantProducts {
    Table,
    TenantId,
    Product,
    Enabled,
    Config,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TenantIdpConfig {
    Table,
    Id,
    TenantId,
    Type,
    Metadata,
    Verified,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    Product,
    Name,
    Scopes,
    Hash,
    Prefix,
    CreatedBy,
    LastUsedAt,
    RevokedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    TenantId,
    ProjectId,
    ActorId,
    ActorName,
    ActorType,
    Action,
    TargetId,
    TargetType,
    TargetName,
    Product,
    Metadata,
    SourceIp,
    UserAgent,
    CreatedAt,
}
