//! Operation limits: depth, complexity (a list field costs `first` × its selection),
//! directives, introspection, and no field suggestions.

use api::graphql::Limits;
use entity::scope::Scope;
use serde_json::json;
use tests::app::{TestApp, error_code};
use tests::fixtures::insert_tenant;

/// A server with `limits`, a tenant `acme`, and a key of it that reads tenants and events.
pub(super) async fn app_with(limits: Limits) -> (TestApp, String) {
    let app = TestApp::spawn({
        let mut settings = TestApp::settings();
        settings.limits = limits;
        settings
    })
    .await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    let key = app
        .issue_key(acme.id, "k", &[Scope::AuditRead, Scope::TenantsRead], None)
        .await;
    (app, key)
}

#[tokio::test]
async fn depth_and_complexity_are_bounded() {
    // A page costs two statements (DATABASE_FIELD each), and its items on top.
    let (app, key) = app_with(Limits {
        depth: 4,
        complexity: 2 * api::graphql::bounds::DATABASE_FIELD + 100,
        ..Limits::default()
    })
    .await;
    app.gql_ok(
        &key,
        "{ tenants(first: 5) { edges { node { slug } } } }",
        json!({}),
    )
    .await;
    let deep = app
        .gql(
            &key,
            "{ tenants(first: 5) { edges { node { projects { slug } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&deep), "BAD_USER_INPUT");
    assert!(
        deep["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("nested too deep"),
        "{deep}"
    );

    // auditEvents(first: 10) selecting 4 fields costs about 200 + 10 × 4: allowed; first: 50
    // is not.
    app.gql_ok(
        &key,
        "{ auditEvents(first: 10) { edges { node { id action } } } }",
        json!({}),
    )
    .await;
    let costly = app
        .gql(
            &key,
            "{ auditEvents(first: 50) { edges { node { id action } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&costly), "BAD_USER_INPUT");
    assert!(
        costly["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("complex"),
        "{costly}"
    );
}

#[tokio::test]
async fn a_page_size_out_of_range_is_named_not_called_too_complex() {
    // With the default limits, `first: 100000` × two fields would exceed the complexity limit;
    // the cost counts `first` within its range, so the resolver's error names the argument.
    let (app, key) = app_with(Limits::default()).await;
    for query in [
        "{ auditEvents(first: 100000) { edges { node { id action } } } }",
        "{ tenants(first: 100000) { edges { node { slug } } } }",
        "{ auditEvents(first: 0) { edges { node { id } } } }",
    ] {
        let refused = app.gql(&key, query, json!({})).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
        let error = &refused["errors"][0];
        assert_eq!(error["extensions"]["field"], "first", "{refused}");
        assert_eq!(error["message"], "first must be 1 to 500", "{refused}");
    }
    app.gql_ok(
        &key,
        "{ auditEvents(first: 500) { edges { node { id action } } } }",
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn directives_introspection_and_suggestions() {
    let (app, key) = app_with(Limits {
        introspection: false,
        ..Limits::default()
    })
    .await;
    let many = app
        .gql(&key, "{ viewer { name @include(if: true) @include(if: true) @include(if: true) @include(if: true) @include(if: true) } }", json!({}))
        .await;
    assert_eq!(error_code(&many), "BAD_USER_INPUT");
    let schema = app
        .gql(&key, "{ __schema { types { name } } }", json!({}))
        .await;
    assert!(
        schema.get("errors").is_some() || schema["data"]["__schema"].is_null(),
        "introspection is off: {schema}"
    );
    let typo = app.gql(&key, "{ viewr { name } }", json!({})).await;
    let message = typo["errors"][0]["message"].as_str().unwrap();
    assert!(
        !message.contains("Did you mean"),
        "no suggestions: {message}"
    );

    let (open, key) = app_with(Limits::default()).await;
    let schema = open
        .gql_ok(&key, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(schema["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn searches_and_filter_lists_are_capped_with_the_cap_named() {
    let (app, key) = app_with(Limits::default()).await;
    let page = "query($f: AuditEventFilter) { auditEvents(first: 1, filter: $f) { totalCount } }";
    // The shape that ran minutes inside PostgreSQL's JIT: two thousand negated words.
    let words: Vec<String> = (0..2_000).map(|i| format!("-w{i}x")).collect();
    let body = app
        .gql(&key, page, json!({ "f": { "query": words.join(" ") } }))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "filter.query");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("at most 2000"), "{message}");
    // Short enough, but too many terms.
    let body = app
        .gql(
            &key,
            page,
            json!({ "f": { "query": words[..33].join(" ") } }),
        )
        .await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("at most 32"), "{message}");

    let max = api::audit::MAX_LIST_VALUES;
    for field in [
        "actions",
        "actorIds",
        "actorTypes",
        "targetTypes",
        "targetIds",
        "products",
    ] {
        let values: Vec<String> = (0..=max).map(|i| format!("v{i}")).collect();
        let body = app.gql(&key, page, json!({ "f": { field: values } })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{field}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"],
            format!("filter.{field}")
        );
        let values: Vec<String> = (0..max).map(|i| format!("v{i}")).collect();
        app.gql_ok(&key, page, json!({ "f": { field: values } }))
            .await;
    }
    let ids: Vec<String> = (0..=max)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    for field in ["tenantIds", "projectIds"] {
        let body = app.gql(&key, page, json!({ "f": { field: ids } })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{field}: {body}");
    }

    // Retraced's search takes the same language, with the same caps.
    let response = app
        .http()
        .post(app.url("/publisher/v1/project/crm/graphql"))
        .header("Authorization", format!("token={key}"))
        .json(&json!({
            "query": "query($q: String) { search(query: $q) { totalCount } }",
            "variables": { "q": words[..800].join(" ") },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn introspection_where_it_is_on_is_not_cut_by_the_depth_limit() {
    // GraphiQL's schema query nests `ofType` deeper than the depth limit (12); it must still be
    // answered, or the playground has no documentation and no completion.
    let (app, key) = app_with(Limits::default()).await;
    let of_type = (0..9).fold("name".to_owned(), |inner, _| {
        format!("name ofType {{ {inner} }}")
    });
    let schema = app
        .gql(
            &key,
            &format!("{{ __schema {{ types {{ fields {{ type {{ {of_type} }} }} }} }} }}"),
            json!({}),
        )
        .await;
    assert!(schema.get("errors").is_none(), "{schema}");
    assert!(
        schema["data"]["__schema"]["types"]
            .as_array()
            .unwrap()
            .len()
            > 10
    );
    // Other fields keep the limit (checked before the fields are looked up).
    let nested = (0..13).fold("b".to_owned(), |inner, _| format!("a {{ {inner} }}"));
    let deep = app.gql(&key, &format!("{{ {nested} }}"), json!({})).await;
    assert_eq!(error_code(&deep), "BAD_USER_INPUT", "{deep}");
    assert!(
        deep["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep")
    );
}
