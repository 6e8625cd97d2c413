//! Validation done once per request text.
//!
//! async-graphql validates every request against the schema, about a tenth of the server's CPU
//! on a page request. Its verdict depends only on the schema, the document, the operation name
//! and the variable values: async-graphql checks arguments against the values, and measures
//! complexity and depth with them. So a request identical in all three to one that passed (a
//! dashboard refreshing, a client retrying) reuses that verdict, with the complexity, depth and
//! cache control it measured. A request that failed is validated again each time and reports
//! its errors each time; changing any variable (the cursor of the next page) is a new request.
//! The parse-time limits (recursion depth, directives) still run on every request.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, NextPrepareRequest, NextValidation};
use async_graphql::{Request, ServerError, ServerResult, ValidationResult};

/// Verdicts kept at most; the table empties itself when full.
pub const CAPACITY: usize = 4096;

/// The verdicts of requests that passed validation, by a keyed hash of their text.
#[derive(Debug)]
pub struct ValidatedRequests {
    verdicts: Mutex<HashMap<u64, ValidationResult>>,
    hasher: std::collections::hash_map::RandomState,
    capacity: usize,
    reused: AtomicU64,
}

impl ValidatedRequests {
    /// An empty table of at most `capacity` verdicts.
    pub fn new(capacity: usize) -> ValidatedRequests {
        ValidatedRequests {
            verdicts: Mutex::new(HashMap::new()),
            hasher: std::collections::hash_map::RandomState::new(),
            capacity,
            reused: AtomicU64::new(0),
        }
    }

    /// How many requests were answered with a verdict already given.
    pub fn reused(&self) -> u64 {
        self.reused.load(Ordering::Relaxed)
    }

    /// Verdicts held now.
    pub fn len(&self) -> usize {
        self.verdicts.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Whether no verdict is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn key(&self, request: &Request) -> Option<u64> {
        let variables = serde_json::to_vec(&request.variables).ok()?;
        let mut hasher = self.hasher.build_hasher();
        request.query.hash(&mut hasher);
        request.operation_name.hash(&mut hasher);
        variables.hash(&mut hasher);
        Some(hasher.finish())
    }

    fn get(&self, key: u64) -> Option<ValidationResult> {
        let found = self.verdicts.lock().ok()?.get(&key).copied();
        if found.is_some() {
            self.reused.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    fn keep(&self, key: u64, verdict: ValidationResult) {
        if let Ok(mut verdicts) = self.verdicts.lock() {
            if verdicts.len() >= self.capacity {
                verdicts.clear();
            }
            verdicts.insert(key, verdict);
        }
    }
}

/// The reuse of verdicts, one per schema, sharing the table (its hooks run in the schema's one
/// extension, `graphql::hooks`).
#[derive(Debug, Clone)]
pub struct ReuseVerdicts(pub Arc<ValidatedRequests>);

impl ReuseVerdicts {
    /// The extension's state for one request.
    pub(crate) fn for_request(&self) -> PerRequest {
        PerRequest {
            table: self.0.clone(),
            key: Mutex::new(None),
        }
    }
}

/// [`ReuseVerdicts`] for one request.
pub(crate) struct PerRequest {
    table: Arc<ValidatedRequests>,
    key: Mutex<Option<u64>>,
}

#[async_trait::async_trait]
impl Extension for PerRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let request = next.run(ctx, request).await?;
        if let Ok(mut key) = self.key.lock() {
            *key = self.table.key(&request);
        }
        Ok(request)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let key = self.key.lock().ok().and_then(|key| *key);
        if let Some(verdict) = key.and_then(|key| self.table.get(key)) {
            return Ok(verdict);
        }
        let verdict = next.run(ctx).await?;
        if let Some(key) = key {
            self.table.keep(key, verdict);
        }
        Ok(verdict)
    }
}
