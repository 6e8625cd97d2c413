//! Parsed GraphQL documents, kept by query text. Clients send the same few queries over and
//! over, and parsing one (a PEG parser) cost more CPU than everything else of a small request
//! but the database round trip. The schema still validates every request (depth, complexity,
//! directives, types, variables); only the text-to-tree step is skipped on a repeat.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::parser::parse_query;
use async_graphql::parser::types::ExecutableDocument;

/// Longest query text kept; longer ones are parsed on every request.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;

/// Query text → parsed document, at most `capacity` of them (emptied when full: a client that
/// sends ever new queries costs a parse per request, as without the cache, and no memory).
#[derive(Debug)]
pub struct DocumentCache {
    entries: Mutex<HashMap<String, Arc<ExecutableDocument>>>,
    capacity: usize,
}

impl DocumentCache {
    /// A cache of at most `capacity` documents.
    pub fn new(capacity: usize) -> DocumentCache {
        DocumentCache {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The request with its parsed document attached. A query that does not parse is left
    /// alone: the schema parses it again and reports the syntax error as usual.
    pub fn attach(&self, mut request: async_graphql::Request) -> async_graphql::Request {
        if let Some(document) = self.document(&request.query) {
            request.set_parsed_query(ExecutableDocument::clone(&document));
        }
        request
    }

    /// The parsed `query`, from the cache or parsed now; `None` if it does not parse.
    pub fn document(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        if query.len() > MAX_QUERY_BYTES {
            return parse_query(query).ok().map(Arc::new);
        }
        if let Some(document) = self.lock().get(query) {
            return Some(Arc::clone(document));
        }
        let document = Arc::new(parse_query(query).ok()?);
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(query.to_owned(), Arc::clone(&document));
        Some(document)
    }

    /// How many documents are kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ExecutableDocument>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
