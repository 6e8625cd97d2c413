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

use entity::audit_log;
use entity::keys::IssueKeyError;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

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
    Key(#[from] IssueKeyError),
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

/// Inserts events through the entity, in statements of at most 1,000 rows (PostgreSQL allows
/// 65,535 bind parameters a statement; an event has 14).
pub(crate) async fn insert_events(
    db: &impl ConnectionTrait,
    events: &[Event],
) -> Result<(), DbErr> {
    for chunk in events.chunks(1000) {
        let rows = chunk.iter().map(|e| audit_log::ActiveModel {
            tenant_id: Set(Some(e.tenant_id)),
            project_id: Set(e.project_id),
            actor_id: Set(Some(e.actor_id.clone())),
            actor_name: Set(Some(e.actor_name.clone())),
            actor_type: Set(Some(e.actor_type.to_owned())),
            action: Set(e.action.to_owned()),
            target_id: Set(Some(e.target_id.clone())),
            target_type: Set(Some(e.target_type.clone())),
            target_name: Set(Some(e.target_name.clone())),
            product: Set(e.product.map(str::to_owned)),
            metadata: Set(e.metadata.clone()),
            source_ip: Set(e.source_ip),
            user_agent: Set(e.user_agent.map(str::to_owned)),
            created_at: Set(e.created_at.fixed_offset()),
            ..Default::default()
        });
        audit_log::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(())
}
