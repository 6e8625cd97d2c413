//! Seeding tenant-registry: the demo platform (`seed demo`) and large skewed data sets for
//! benchmarks (`seed bulk`). Demo data goes through the entities; bulk data through COPY.
//!
//! - [`demo`]: the demo platform, idempotent, and the nightly demo reset.
//! - [`bulk`]: N tenants and M events, Zipf-skewed, one year, written with COPY (its tenants in
//!   `bulk_tenants`, when and for whom in `skew`, the rows' text in `copy_text`).
//! - [`history`]: the deterministic audit-event generator both use.

pub mod blueprints;
pub mod bulk;
mod bulk_tenants;
mod copy_text;
pub mod demo;
pub mod history;
mod skew;
pub mod vocabulary;

use migration::{Migrator, MigratorTrait};
use registry::ApiError;
use registry::audit::Rules;
use sea_orm::{ConnectionTrait, DbErr};

use crate::history::Event;

/// Why seeding stopped. Nothing is half-written: each tenant (demo), the whole reset, and each
/// COPY batch (bulk) is one transaction.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The database lacks migrations this seed needs.
    #[error(
        "the database is not fully migrated ({0} pending): run `cargo run -p migration -- up` first"
    )]
    NotMigrated(usize),
    /// Issuing an API key failed.
    #[error("issuing an API key: {0}")]
    Key(ApiError),
    /// A generated event did not pass the registry's writer (a fault of the generator).
    #[error("a generated event was refused: {0}")]
    Event(ApiError),
    /// Bad options.
    #[error("{0}")]
    Options(String),
    /// The database refused a statement or went away.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// Fails unless every migration is applied.
pub async fn ensure_migrated(db: &impl ConnectionTrait) -> Result<(), SeedError> {
    let pending = Migrator::get_pending_migrations(db).await?.len();
    if pending > 0 {
        return Err(SeedError::NotMigrated(pending));
    }
    Ok(())
}

/// Inserts events through the registry's writer, which checks each one.
pub(crate) async fn insert_events(
    db: &impl ConnectionTrait,
    events: &[Event],
) -> Result<(), SeedError> {
    let events = events.iter().map(Event::to_audit).collect();
    registry::audit::append_all(db, events, Rules::REGISTRY)
        .await
        .map_err(SeedError::Event)
}
