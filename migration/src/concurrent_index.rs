//! One index of `audit_log`, built without blocking writes: what a migration that adds an
//! index to the live audit log does (from the fifth migration on; the third and fourth, landed
//! before this module, keep their own copy of the same steps, as landed migrations are not
//! edited).
//!
//! `CREATE INDEX CONCURRENTLY` (products keep publishing meanwhile) cannot run in a
//! transaction, so such a migration returns `Some(false)` from `use_transaction`. A build that
//! was interrupted leaves the index marked invalid; [`create`] drops it and builds it again.
//! Then `ANALYZE audit_log`, so that the planner has the statistics the index is chosen by.
//!
//! A migration's behaviour must not change once it has landed: change nothing here that a
//! landed migration relies on; add a function for new behaviour.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

/// Builds `name` on `audit_log` as `definition` (columns and an optional `WHERE`), unless a
/// valid index of that name exists; then analyses the table.
pub(crate) async fn create(
    manager: &SchemaManager<'_>,
    name: &str,
    definition: &str,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
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
    db.execute_unprepared("ANALYZE audit_log").await?;
    Ok(())
}

/// Drops `name`, if it exists, without blocking writes.
pub(crate) async fn drop(manager: &SchemaManager<'_>, name: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))
        .await?;
    Ok(())
}
