//! Counters of what the server has done since it started, served at `GET /metrics` in
//! Prometheus' text format: responses by status class, GraphQL responses with and without
//! errors, errors by code, key checks, validation reuse, read connections, tenant deletions in
//! stages.
//!
//! Only counts: no tenant, key, query or address appears in them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use registry::auth::AuthStats;

/// The server's counters. Updating one is an atomic add (error codes: a short lock, taken
/// only for responses that carry errors).
#[derive(Debug, Default)]
pub struct Metrics {
    /// HTTP responses by status class, `1xx` at index 0 to `5xx` at 4.
    http: [AtomicU64; 5],
    graphql_ok: AtomicU64,
    graphql_errors: AtomicU64,
    codes: Mutex<BTreeMap<String, u64>>,
    trials_frozen: AtomicU64,
    tenants_archived: AtomicU64,
    demo_resets: AtomicU64,
    events_sealed: AtomicU64,
}

impl Metrics {
    /// Counts an HTTP response with `status`.
    pub fn http_response(&self, status: u16) {
        if let Some(class) = (status / 100).checked_sub(1).map(usize::from)
            && let Some(counter) = self.http.get(class)
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a response of `/graphql` carrying errors with these codes (none: a clean one).
    pub fn graphql_response<'a>(&self, codes: impl IntoIterator<Item = &'a str>) {
        let mut codes = codes.into_iter().peekable();
        if codes.peek().is_none() {
            self.graphql_ok.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.graphql_errors.fetch_add(1, Ordering::Relaxed);
        let mut counts = match self.codes.lock() {
            Ok(counts) => counts,
            Err(poisoned) => poisoned.into_inner(),
        };
        for code in codes {
            match counts.get_mut(code) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(code.to_owned(), 1);
                }
            }
        }
    }

    /// Counts what a pass of the lifecycle's clock moved.
    pub fn lifecycle_moved(&self, moved: registry::schedule::Moved) {
        self.trials_frozen
            .fetch_add(moved.trials_frozen, Ordering::Relaxed);
        self.tenants_archived
            .fetch_add(moved.archived, Ordering::Relaxed);
    }

    /// Counts events sealed into the audit log's Merkle tree.
    pub fn sealed(&self, events: u64) {
        self.events_sealed.fetch_add(events, Ordering::Relaxed);
    }

    /// Counts a nightly demo reset.
    pub fn demo_reset(&self) {
        self.demo_resets.fetch_add(1, Ordering::Relaxed);
    }

    /// Responses of `/graphql` so far: all of them, and those that carried errors.
    pub fn graphql_responses(&self) -> (u64, u64) {
        let errors = self.graphql_errors.load(Ordering::Relaxed);
        (self.graphql_ok.load(Ordering::Relaxed) + errors, errors)
    }
}

/// The figures of other parts of the server that `/metrics` shows beside the counters.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// Key checks.
    pub auth: AuthStats,
    /// Validation verdicts reused.
    pub validations_reused: u64,
    /// Tenant deletions in stages: (events cleared, tenants deleted).
    pub deletions: (u64, u64),
    /// Read connections open now.
    pub read_connections: u64,
}

/// Every counter, and `figures`, in Prometheus' text exposition format.
pub fn render(metrics: &Metrics, figures: &Figures) -> String {
    let mut out = String::with_capacity(2048);
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP tenant_registry_{name} {help}");
        let _ = writeln!(out, "# TYPE tenant_registry_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "tenant_registry_{name}{labels} {value}");
        }
    };
    let http: Vec<(String, u64)> = metrics
        .http
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let class = format!("{{class=\"{}xx\"}}", i + 1);
            (class, n.load(Ordering::Relaxed))
        })
        .collect();
    family(
        "http_responses_total",
        "counter",
        "HTTP responses sent, by status class.",
        &http,
    );
    family(
        "graphql_responses_total",
        "counter",
        "Responses of /graphql, by whether they carried errors.",
        &[
            (
                "{errors=\"false\"}".to_owned(),
                metrics.graphql_ok.load(Ordering::Relaxed),
            ),
            (
                "{errors=\"true\"}".to_owned(),
                metrics.graphql_errors.load(Ordering::Relaxed),
            ),
        ],
    );
    let codes: Vec<(String, u64)> = match metrics.codes.lock() {
        Ok(counts) => counts.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
    .into_iter()
    .map(|(code, n)| (format!("{{code=\"{code}\"}}"), n))
    .collect();
    family(
        "graphql_errors_total",
        "counter",
        "Errors in responses of /graphql, by extensions.code.",
        &codes,
    );
    family(
        "lifecycle_moves_total",
        "counter",
        "Tenants the lifecycle's clock moved on, by move.",
        &[
            (
                "{move=\"trial_expired\"}".to_owned(),
                metrics.trials_frozen.load(Ordering::Relaxed),
            ),
            (
                "{move=\"archived\"}".to_owned(),
                metrics.tenants_archived.load(Ordering::Relaxed),
            ),
            (
                "{move=\"demo_reset\"}".to_owned(),
                metrics.demo_resets.load(Ordering::Relaxed),
            ),
        ],
    );
    let auth = figures.auth;
    family(
        "key_checks_total",
        "counter",
        "API key checks, by where the verdict came from.",
        &[
            ("{source=\"cache\"}".to_owned(), auth.cache_hits),
            ("{source=\"database\"}".to_owned(), auth.cache_misses),
        ],
    );
    family(
        "key_checks_refused_total",
        "counter",
        "Key checks refused by the failure limits (429).",
        &[(String::new(), auth.rate_limited)],
    );
    family(
        "audit_events_sealed_total",
        "counter",
        "Audit events this process sealed into the log's Merkle tree.",
        &[(String::new(), metrics.events_sealed.load(Ordering::Relaxed))],
    );
    family(
        "key_notices_total",
        "counter",
        "The database's notices of changed keys and tenants applied to the key cache.",
        &[(String::new(), auth.notices)],
    );
    family(
        "key_notices_listening",
        "gauge",
        "1 while the key notices' connection listens (the key cache is in use), else 0.",
        &[(String::new(), u64::from(auth.listening))],
    );
    family(
        "validation_reused_total",
        "counter",
        "GraphQL requests that reused the validation of an identical earlier request.",
        &[(String::new(), figures.validations_reused)],
    );
    let (cleared, deleted) = figures.deletions;
    family(
        "deletion_events_cleared_total",
        "counter",
        "Audit events cleared of a tenant by deletions in stages.",
        &[(String::new(), cleared)],
    );
    family(
        "tenants_deleted_in_stages_total",
        "counter",
        "Tenants deleted at the end of a deletion in stages.",
        &[(String::new(), deleted)],
    );
    family(
        "read_connections",
        "gauge",
        "Read connections open now (idle or running a statement).",
        &[(String::new(), figures.read_connections)],
    );
    out
}
