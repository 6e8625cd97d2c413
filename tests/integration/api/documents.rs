//! The parsed-document cache of the GraphQL endpoint (`api::http::DocumentCache`).

use std::sync::Arc;

use api::http::{DocumentCache, MAX_QUERY_BYTES};

#[test]
fn repeats_share_one_document_and_the_cache_stays_bounded() {
    let cache = DocumentCache::new(2);
    let first = cache.document("{ viewer { tenantId } }").expect("parses");
    let again = cache.document("{ viewer { tenantId } }").expect("parses");
    assert!(
        Arc::ptr_eq(&first, &again),
        "the repeat is served from the cache"
    );
    assert!(
        cache.document("{ viewer {").is_none(),
        "a syntax error is not kept"
    );
    assert_eq!(cache.len(), 1);
    cache.document("{ a }").expect("parses");
    cache.document("{ b }").expect("parses");
    assert!(cache.len() <= 2, "never more than the capacity");
    let long = format!("{{ {} }}", "a ".repeat(MAX_QUERY_BYTES));
    let before = cache.len();
    let parsed = cache.document(&long).expect("a long query still parses");
    assert!(!Arc::ptr_eq(
        &parsed,
        &cache.document(&long).expect("parses")
    ));
    assert_eq!(cache.len(), before, "a long query is not kept");
}

#[test]
fn a_request_gets_its_document_attached_and_a_bad_one_is_left_to_the_schema() {
    let cache = DocumentCache::new(8);
    let mut request = cache.attach(async_graphql::Request::new("{ viewer { tenantId } }"));
    assert!(request.parsed_query().is_ok());
    assert_eq!(cache.len(), 1);
    let mut bad = cache.attach(async_graphql::Request::new("{ viewer {"));
    assert!(
        bad.parsed_query().is_err(),
        "the syntax error is still reported"
    );
    assert_eq!(cache.len(), 1);
}
