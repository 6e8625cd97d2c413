//! What every request shares: the database pool and the key verifier.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::Authenticator;

/// Shared application state.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// Verifies API keys (and caches the verdicts).
    pub auth: Arc<Authenticator>,
}
