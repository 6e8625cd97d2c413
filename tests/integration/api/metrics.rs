//! `GET /metrics`: the server's counters, in Prometheus' text format, counting what it served.

use entity::scope::Scope;
use serde_json::json;
use tests::app::TestApp;
use tests::fixtures::insert_tenant;

/// The value of the sample `name` (with its labels, as written) in `text`.
fn sample(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_responses_errors_by_code_and_key_checks_and_name_nobody() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme-metrics")
        .await
        .expect("tenant");
    let key = app
        .issue_key(acme.id, "metrics", &[Scope::AuditRead], None)
        .await;

    let fine = "{ auditEvents(first: 1) { edges { node { id } } } }";
    for _ in 0..2 {
        app.gql_ok(&key, fine, json!({})).await;
    }
    let refused = app
        .gql(
            &key,
            "{ auditEvents(filter: {tenantIds: []}) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert!(refused["errors"].is_array(), "{refused}");
    let anonymous = app
        .http()
        .post(app.url("/graphql"))
        .json(&json!({ "query": fine }))
        .send()
        .await
        .expect("POST");
    assert_eq!(anonymous.status(), 401);

    let response = app
        .http()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.expect("text");
    let value = |name: &str| sample(&text, name).unwrap_or_else(|| panic!("{name} in {text}"));

    assert_eq!(
        value("tenant_registry_graphql_responses_total{errors=\"false\"}"),
        2
    );
    assert_eq!(
        value("tenant_registry_graphql_responses_total{errors=\"true\"}"),
        2
    );
    assert_eq!(
        value("tenant_registry_graphql_errors_total{code=\"BAD_USER_INPUT\"}"),
        1
    );
    assert_eq!(
        value("tenant_registry_graphql_errors_total{code=\"UNAUTHENTICATED\"}"),
        1
    );
    assert_eq!(
        value("tenant_registry_http_responses_total{class=\"2xx\"}"),
        3
    );
    assert_eq!(
        value("tenant_registry_http_responses_total{class=\"4xx\"}"),
        1
    );
    assert_eq!(
        value("tenant_registry_http_responses_total{class=\"5xx\"}"),
        0
    );
    // Three checks of the valid key: the first from the database, the others from the cache.
    assert_eq!(
        value("tenant_registry_key_checks_total{source=\"database\"}"),
        1
    );
    assert_eq!(
        value("tenant_registry_key_checks_total{source=\"cache\"}"),
        2
    );
    // No argon2 count: it rose only for keys whose prefix exists, and /metrics is not
    // authenticated.
    assert!(!text.contains("argon2"), "{text}");
    assert!(value("tenant_registry_read_connections") <= 20);
    // Every family is declared before its samples.
    for family in [
        "http_responses_total",
        "graphql_responses_total",
        "key_checks_total",
    ] {
        assert!(text.contains(&format!("# TYPE tenant_registry_{family} counter")));
    }
    // Counts only: no tenant, key or query text.
    for secret in [key.as_str(), &key[..12], "acme-metrics", "auditEvents"] {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }
}
