//! What one request may ask of the database: root fields per operation, a real cost for each
//! field that runs a statement, and a few connections at a time, so that aliases cannot take
//! the pool from everyone else; Retraced's search endpoint bounded like `/graphql`.

use std::time::{Duration, Instant};

use api::graphql::Limits;
use api::graphql::bounds::{DATABASE_FIELD, MAX_ROOT_FIELDS};
use entity::scope::Scope;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};
use tests::app::{TestApp, error_code};
use tests::fixtures::insert_tenant;

use super::limits::app_with;

/// `count` aliases of `field` as one query.
fn aliases(count: usize, field: &str) -> String {
    let fields: Vec<String> = (0..count).map(|i| format!("a{i}: {field}")).collect();
    format!("{{ {} }}", fields.join(" "))
}

fn message(body: &Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_operation_has_at_most_twenty_root_fields_fragments_included() {
    let (app, key) = app_with(Limits::default()).await;
    app.gql_ok(
        &key,
        &aliases(MAX_ROOT_FIELDS, "viewer { keyId }"),
        json!({}),
    )
    .await;
    let wide = app
        .gql(
            &key,
            &aliases(MAX_ROOT_FIELDS + 1, "viewer { keyId }"),
            json!({}),
        )
        .await;
    assert_eq!(error_code(&wide), "BAD_USER_INPUT");
    assert!(message(&wide).contains("at most 20 root fields"), "{wide}");

    // The same fields spread from a fragment, and from an inline fragment, count alike.
    let inner = aliases(MAX_ROOT_FIELDS + 1, "viewer { keyId }");
    let inner = inner.trim_start_matches('{').trim_end_matches('}');
    for query in [
        format!("{{ ...F }} fragment F on Query {{ {inner} }}"),
        format!("{{ ... on Query {{ {inner} }} }}"),
    ] {
        let body = app.gql(&key, &query, json!({})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}");
        assert!(message(&body).contains("root fields"), "{body}");
    }
}

#[tokio::test]
async fn a_field_that_reaches_the_database_costs_a_real_minimum() {
    // Ten lookups by id cost ten round trips: over a limit of ten times the minimum.
    let (app, key) = app_with(Limits {
        complexity: 10 * DATABASE_FIELD,
        ..Limits::default()
    })
    .await;
    app.gql_ok(
        &key,
        &aliases(9, r#"auditEvent(id: "1") { id }"#),
        json!({}),
    )
    .await;
    let costly = app
        .gql(
            &key,
            &aliases(10, r#"auditEvent(id: "1") { id }"#),
            json!({}),
        )
        .await;
    assert_eq!(error_code(&costly), "BAD_USER_INPUT");
    assert!(
        message(&costly).to_lowercase().contains("complex"),
        "{costly}"
    );
    // Fields answered from memory stay cheap.
    app.gql_ok(&key, &aliases(20, "viewer { keyId scopes }"), json!({}))
        .await;
}

#[tokio::test]
async fn a_bystander_is_served_while_a_wide_request_waits_on_the_database() {
    let (app, key) = app_with(Limits::default()).await;
    let globex = insert_tenant(&app.db.db, "globex").await.unwrap();
    let bystander = app
        .issue_key(globex.id, "bystander", &[Scope::AuditRead], None)
        .await;
    // Both keys verified before the lock (key checks read the tenants table).
    app.gql_ok(&bystander, "{ viewer { keyId } }", json!({}))
        .await;
    app.gql_ok(&key, "{ viewer { keyId } }", json!({})).await;

    // Every tenants page of the wide request waits on this lock, holding its connection.
    let lock = app.db.db.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let wide = {
        let (client, url, key) = (app.http().clone(), app.url("/graphql"), key.clone());
        let query = aliases(
            MAX_ROOT_FIELDS,
            "tenants(first: 1) { edges { node { slug } } }",
        );
        tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(key)
                .json(&json!({ "query": query }))
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let page = app
        .gql_ok(
            &bystander,
            "{ auditEvents(first: 5) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let waited = started.elapsed();
    assert_eq!(page["auditEvents"]["edges"], json!([]));
    // Served in milliseconds; without the bound it waits for a connection until the pool's
    // 30 s timeout, since every one is held by the wide request until the lock goes. The
    // margin is for a machine busy with other work.
    assert!(
        waited < Duration::from_secs(10),
        "the bystander waited {waited:?} for a connection"
    );
    assert!(!wide.is_finished(), "the wide request is still waiting");

    lock.rollback().await.unwrap();
    let wide = wide.await.unwrap();
    assert!(wide.get("errors").is_none(), "{wide}");
    assert_eq!(
        wide["data"]["a0"]["edges"][0]["node"]["slug"], "acme",
        "the wide request is answered once the lock is gone"
    );
}

/// POSTs a query to Retraced's search endpoint for `crm`.
async fn search(app: &TestApp, key: &str, query: &str) -> (u16, Value) {
    let response = app
        .http()
        .post(app.url("/publisher/v1/project/crm/graphql"))
        .header("Authorization", format!("token={key}"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn retraced_search_has_the_limits_of_graphql() {
    let (app, key) = app_with(Limits {
        depth: 4,
        introspection: false,
        ..Limits::default()
    })
    .await;
    let (status, ok) = search(&app, &key, "{ search(first: 5) { edges { cursor } } }").await;
    assert_eq!((status, &ok["data"]["search"]["edges"]), (200, &json!([])));

    // As on `/graphql`: the schema is not described (async-graphql answers `__schema: null`).
    let (_, introspection) = search(&app, &key, "{ __schema { types { name } } }").await;
    assert!(
        introspection.get("errors").is_some() || introspection["data"]["__schema"].is_null(),
        "{introspection}"
    );

    let (status, deep) = search(
        &app,
        &key,
        "{ search(first: 5) { edges { node { actor { id } } } } }",
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        message(&deep).to_lowercase().contains("nested too deep"),
        "{deep}"
    );

    let (status, wide) = search(
        &app,
        &key,
        &aliases(MAX_ROOT_FIELDS + 1, "search(first: 1) { totalCount }"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(message(&wide).contains("root fields"), "{wide}");

    // 40 aliases of a 500-event page (12.8 MB answered before): over the complexity limit.
    let (status, costly) = search(
        &app,
        &key,
        &aliases(20, "search(first: 500) { edges { cursor } totalCount }"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        message(&costly).to_lowercase().contains("complex"),
        "{costly}"
    );
}

#[tokio::test]
async fn retraced_search_stops_at_the_request_timeout() {
    let app = TestApp::spawn({
        let mut settings = TestApp::settings();
        settings.http.request_timeout = Duration::from_secs(1);
        settings
    })
    .await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    let key = app.issue_key(acme.id, "k", &[Scope::AuditRead], None).await;
    app.gql_ok(&key, "{ viewer { keyId } }", json!({})).await;
    let lock = app.db.db.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let started = Instant::now();
    let (status, body) = search(&app, &key, "{ search(first: 5) { totalCount } }").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("TIMEOUT")),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped at the 1 s timeout"
    );
    lock.rollback().await.unwrap();
}

#[tokio::test]
async fn fragments_spreading_each_other_twice_over_are_refused_at_once() {
    // F0 spreads F1 twice, F1 spreads F2 twice, ...: 2^26 fields expanded. async-graphql's own
    // validation walked every spread (23 levels: 50 s of CPU); the count runs first, in ms.
    let (app, key) = app_with(Limits::default()).await;
    let n = 25;
    let mut document = String::from("{ ...F0 }");
    for i in 0..n {
        document.push_str(&format!(
            " fragment F{i} on Query {{ ...F{next} ...F{next} }}",
            next = i + 1
        ));
    }
    document.push_str(&format!(" fragment F{n} on Query {{ viewer {{ keyId }} }}"));
    let started = Instant::now();
    let body = app.gql(&key, &document, json!({})).await;
    let took = started.elapsed();
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(message(&body).contains("fragments are expanded"), "{body}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // Many operations sharing one wide fragment count together.
    let fields: Vec<String> = (0..200)
        .map(|i| format!("v{i}: viewer {{ keyId }}"))
        .collect();
    let mut document = format!("fragment W on Query {{ {} }}", fields.join(" "));
    for i in 0..100 {
        document.push_str(&format!(" query q{i} {{ ...W }}"));
    }
    let body = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(&key)
        .json(&json!({ "query": document, "operationName": "q0" }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(message(&body).contains("fragments are expanded"), "{body}");
}
