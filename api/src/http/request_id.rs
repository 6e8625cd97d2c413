//! A request id for every request: in the `x-request-id` response header, in GraphQL errors'
//! `extensions.requestId`, and on every log line the request writes. The middleware also
//! counts responses by status class ([`Metrics`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use poem::{Endpoint, IntoResponse, Request, Response, Result};
use tracing::Instrument as _;

use crate::metrics::Metrics;

/// The id of the request being served.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Middleware: assigns the id, logs the request. A well-formed incoming `x-request-id` is kept
/// only when `trust` says a proxy in front sets it: a client's own would let it write what it
/// likes into the log's correlation.
pub async fn with_request_id<E: Endpoint>(
    next: E,
    mut req: Request,
    metrics: Arc<Metrics>,
    trust: bool,
) -> Result<Response> {
    let id = req
        .headers()
        .get("x-request-id")
        .filter(|_| trust)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned)
        .unwrap_or_else(new_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let span =
        tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path());
    async move {
        let started = std::time::Instant::now();
        let mut response = match next.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        metrics.http_response(response.status().as_u16());
        if let Ok(value) = id.parse() {
            response.headers_mut().insert("x-request-id", value);
        }
        tracing::info!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "served"
        );
        Ok(response)
    }
    .instrument(span)
    .await
}

/// A new request id: 32 hex digits, a random half drawn once per process and a counter, so ids
/// are unique across processes without asking the kernel for randomness on every request.
pub fn new_id() -> String {
    static PROCESS: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let process = *PROCESS.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    format!(
        "{process:016x}{:016x}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
