//! The HTTP surface: `POST/GET /graphql`, the playground at `/`, `/healthz`, `/readyz`,
//! `/metrics`, `POST /v1/keys/verify`, `GET|POST /v1/audit/export`, `/.well-known/audit-log-key`, and Retraced's publisher endpoints under `/publisher/v1/project/{project}/`.
//! Every response carries an `x-request-id`; every log line of a request carries it too.

mod documents;
pub mod errors;
mod evidence;
mod export;
pub(crate) mod graphql;
mod guard;
mod health;
mod keys;
mod playground;
mod prologue;
mod request_id;
pub mod retraced;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use poem::middleware::Cors;
use poem::{Endpoint, EndpointExt, Route, get, post};

pub use documents::{DocumentCache, MAX_QUERY_BYTES};
pub use guard::{MAX_GET_QUERY_BYTES, MAX_NESTING, check_nesting, max_nesting};
pub use playground::assets_missing as playground_assets_missing;
pub use request_id::RequestId;

use crate::graphql::RegistrySchema;
use crate::retraced::search::RetracedSchema;
use crate::state::AppState;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the HTTP layer needs to know beyond the schema and state.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Serve the playground at `/`.
    pub playground: bool,
    /// Pre-fill the playground's `Authorization` header with this key (dev mode only).
    pub playground_key: Option<String>,
    /// Longest a GraphQL request may run.
    pub request_timeout: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Keep a client's `x-request-id` (behind a proxy that sets it).
    pub trust_request_id: bool,
    /// Exports of the audit log that may run at once (`--max-exports`).
    pub max_exports: usize,
}

impl Default for HttpSettings {
    /// No playground, the default request timeout and body limit.
    fn default() -> HttpSettings {
        HttpSettings {
            playground: false,
            playground_key: None,
            request_timeout: Duration::from_secs(30),
            max_body_bytes: MAX_BODY_BYTES,
            trust_request_id: false,
            max_exports: 2,
        }
    }
}

/// Retraced's publisher endpoints, under `/publisher/v1/project`.
fn publisher() -> Route {
    Route::new()
        .at("/:project/event", post(retraced::one))
        .at("/:project/event/bulk", post(retraced::bulk))
        .at("/:project/graphql", post(retraced::search))
}

/// All routes, with their shared data.
pub fn routes(
    schema: RegistrySchema,
    retraced: RetracedSchema,
    state: AppState,
    settings: HttpSettings,
) -> impl Endpoint<Output = poem::Response> {
    let metrics = state.metrics.clone();
    let trust_request_id = settings.trust_request_id;
    Route::new()
        .at("/", get(playground::page))
        .at("/playground/:file", get(playground::asset))
        .at("/graphql", get(graphql::get).post(graphql::post))
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .at("/metrics", get(health::metrics))
        .at("/v1/keys/verify", post(keys::verify))
        .at("/v1/audit/export", get(export::get).post(export::post))
        .at("/.well-known/audit-log-key", get(evidence::public_key))
        // Retraced's browser widget calls these from other origins.
        .nest("/publisher/v1/project", publisher().with(Cors::new()))
        .data(schema)
        .data(retraced)
        .data(state)
        .data(settings)
        .data(Arc::new(DocumentCache::new(256)))
        .around(move |next, req| {
            request_id::with_request_id(next, req, metrics.clone(), trust_request_id)
        })
}
