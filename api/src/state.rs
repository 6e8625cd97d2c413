//! What every request shares: the database pool, the read connections, the key verifier and
//! the tenant deletions' worker.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use uuid::Uuid;

use crate::audit::free_text::{TenantSizes, TextMatch};
use crate::metrics::Metrics;
use crate::reads::{ReadConnections, Reader};
use crate::validated::ValidatedRequests;
use registry::ApiError;
use registry::auth::Authenticator;
use registry::deletions::Deletions;
use registry::lifecycle::LifecycleSettings;
use registry::outbound::Outbound;

/// Shared application state.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// The read path's own connections (see [`crate::reads`]).
    pub reads: Arc<ReadConnections>,
    /// Verifies API keys (and caches the verdicts).
    pub auth: Arc<Authenticator>,
    /// Validation verdicts of requests that passed (see [`crate::validated`]).
    pub validated: Arc<ValidatedRequests>,
    /// What the server has done since it started (`GET /metrics`).
    pub metrics: Arc<Metrics>,
    /// Tenants' sizes, which decide how free text is matched.
    pub tenant_sizes: Arc<TenantSizes>,
    /// Tenant deletions in stages, and their worker.
    pub deletions: Arc<Deletions>,
    /// The client for URLs that users supply (identity providers).
    pub outbound: Arc<Outbound>,
    /// The lifecycle's lengths (a new trial's).
    pub lifecycle: LifecycleSettings,
    /// The audit log's sealer and its key.
    pub seal: registry::evidence::seal::SealSettings,
    /// Exports running now, at most `--max-exports` (each holds up to two of the pool's
    /// connections for as long as its client reads).
    pub exports: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// The pool, with single-statement reads on the read connections.
    pub fn reader(&self) -> Reader<'_> {
        Reader::new(&self.db, &self.reads)
    }

    /// How to match free text in a search confined to `tenant` (see
    /// [`crate::audit::free_text`]); [`TextMatch::Indexed`] across tenants.
    pub async fn text_match(&self, tenant: Option<Uuid>) -> Result<TextMatch, ApiError> {
        match tenant {
            Some(tenant) => Ok(self.tenant_sizes.text_match(&self.db, tenant).await?),
            None => Ok(TextMatch::Indexed),
        }
    }

    /// The figures of the key verifier, the validation cache, the deletions and the read
    /// connections, for `/metrics`.
    pub fn figures(&self) -> crate::metrics::Figures {
        crate::metrics::Figures {
            auth: self.auth.stats(),
            validations_reused: self.validated.reused(),
            deletions: self.deletions.counts(),
            read_connections: self.reads.open() as u64,
        }
    }
}
