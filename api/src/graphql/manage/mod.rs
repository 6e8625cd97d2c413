//! Managing the registry: tenants, projects, entitlements, identity providers, API keys.
//! Every mutation checks scope and reach, runs in one transaction, and writes its audit row
//! there (see `audit::portal`).

pub mod entitlements;
pub mod idp;
pub mod keys;
pub mod projects;
pub mod tenants;

use sea_orm::{DatabaseTransaction, TransactionTrait};

use super::context::db;
use crate::error::ApiError;

/// A transaction on the request's database.
pub(crate) async fn begin(
    ctx: &async_graphql::Context<'_>,
) -> Result<DatabaseTransaction, ApiError> {
    Ok(db(ctx)?.begin().await?)
}
