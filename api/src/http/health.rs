//! `/healthz`: the process is up. `/readyz`: the database answers. `/metrics`: the server's
//! counters, for Prometheus ([`crate::metrics`]).

use std::time::Duration;

use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{IntoResponse, Response, handler};
use serde_json::json;

use crate::state::AppState;

/// 200 while the process serves requests.
#[handler]
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the database answers within two seconds, 503 otherwise.
#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => Json(json!({ "status": "ready" })).into_response(),
        outcome => {
            tracing::warn!(?outcome, "not ready: the database does not answer");
            Json(json!({ "status": "unavailable", "reason": "the database does not answer" }))
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .into_response()
        }
    }
}

/// The server's counters in Prometheus' text format. Counts only: nothing in them names a
/// tenant, key, query or address, so, like the health checks, it needs no key.
#[handler]
pub async fn metrics(state: Data<&AppState>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render(&state.metrics, &state.figures()))
}
