//! The server over real HTTP: playground, health, readiness, the endpoint's rules.

use entity::scope::Scope;
use serde_json::{Value, json};
use tests::app::{TestApp, error_code};
use tests::fixtures::insert_tenant;

#[tokio::test]
async fn smoke_playground_health_readiness_and_an_authenticated_query() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.expect("tenant");
    let key = app
        .issue_key(acme.id, "smoke", &[Scope::AuditRead], None)
        .await;

    let page = app.http().get(app.url("/")).send().await.expect("GET /");
    assert_eq!(page.status(), 200);
    let health = app
        .http()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(
        (health.status().as_u16(), health.text().await.expect("text")),
        (200, "ok".to_owned())
    );
    let ready = app
        .http()
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);

    let response = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(&key)
        .json(&json!({"query": "{ viewer { name } }"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    let request_id = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("x-request-id")
    };
    let first_id = request_id(&response);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["viewer"]["name"], "smoke");

    let get = app
        .http()
        .get(app.url("/graphql"))
        .bearer_auth(&key)
        .query(&[("query", "{ viewer { name } }")])
        .send()
        .await
        .expect("GET");
    assert_eq!(get.status(), 200);
    // Ids the server makes are 32 hex digits and differ from request to request.
    let second_id = request_id(&get);
    for id in [&first_id, &second_id] {
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
    }
    assert_ne!(first_id, second_id);
    assert_eq!(
        get.json::<Value>().await.expect("json")["data"]["viewer"]["name"],
        "smoke"
    );
}

#[tokio::test]
async fn get_never_runs_a_mutation_and_batches_are_refused() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.expect("tenant");
    let key = app
        .issue_key(acme.id, "w", &[Scope::AuditWrite, Scope::AuditRead], None)
        .await;
    let mutation = "mutation { recordAuditEvent(input: {action: \"a.b\"}) { id } }";
    let get = app
        .http()
        .get(app.url("/graphql"))
        .bearer_auth(&key)
        .query(&[("query", mutation)])
        .send()
        .await
        .expect("GET");
    assert_eq!(get.status(), 405);
    let count = app
        .gql_ok(&key, "{ auditEvents { totalCount } }", json!({}))
        .await;
    assert_eq!(
        count["auditEvents"]["totalCount"], 0,
        "nothing was recorded"
    );

    let batch = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(&key)
        .json(&json!([{"query": "{ viewer { name } }"}, {"query": "{ viewer { name } }"}]))
        .send()
        .await
        .expect("POST");
    assert_eq!(batch.status(), 400);
    let text = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(&key)
        .header("content-type", "text/plain")
        .body("{ viewer { name } }")
        .send()
        .await
        .expect("POST");
    assert_eq!(text.status(), 415);
    let big = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(format!("{{\"query\": \"{}\"}}", " ".repeat(300 * 1024)))
        .send()
        .await
        .expect("POST");
    assert_eq!(big.status(), 413);
}

#[tokio::test]
async fn errors_carry_a_code_and_the_request_id() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.expect("tenant");
    let key = app.issue_key(acme.id, "r", &[Scope::AuditRead], None).await;
    let response = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(&key)
        .json(&json!({"query": "{ auditEvents(first: 9999) { totalCount } }"}))
        .send()
        .await
        .expect("POST");
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned();
    let body: Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["requestId"], id);
    let syntax = app.gql(&key, "{ auditEvents(", json!({})).await;
    assert_eq!(error_code(&syntax), "BAD_USER_INPUT");
}

#[tokio::test]
async fn request_errors_have_no_data_entry_and_misspelt_parameters_are_refused() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.expect("tenant");
    let key = app.issue_key(acme.id, "r", &[Scope::AuditRead], None).await;
    let post = |body: Value, accept: &'static str| {
        app.http()
            .post(app.url("/graphql"))
            .bearer_auth(&key)
            .header("accept", accept)
            .json(&body)
            .send()
    };
    const JSON: &str = "application/json";
    const GRAPHQL: &str = "application/graphql-response+json";

    // `qeury` is not an empty document: it is a bad request.
    let typo = post(json!({"qeury": "{ viewer { name } }"}), JSON)
        .await
        .expect("POST");
    assert_eq!(typo.status(), 400);
    let body: Value = typo.json().await.expect("json");
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("qeury")
    );
    let no_query = app
        .http()
        .get(app.url("/graphql"))
        .bearer_auth(&key)
        .query(&[("operationName", "x")])
        .send()
        .await
        .expect("GET");
    assert_eq!(no_query.status(), 400);

    // Parse, validation and variable-coercion failures: 200 under JSON, 400 under the GraphQL
    // response media type, and never a `data` entry.
    for (query, variables) in [
        ("{", json!({})),
        ("{ noSuchField }", json!({})),
        (
            "query($first: Int) { auditEvents(first: $first) { totalCount } }",
            json!({"first": "ten"}),
        ),
    ] {
        for (accept, status) in [(JSON, 200), (GRAPHQL, 400)] {
            let response = post(json!({"query": query, "variables": variables}), accept)
                .await
                .expect("POST");
            assert_eq!(response.status(), status, "{query} with {accept}");
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with(accept)
            );
            let body: Value = response.json().await.expect("json");
            assert!(body.get("data").is_none(), "{query}: {body}");
            assert_eq!(error_code(&body), "BAD_USER_INPUT");
        }
    }
    // A field error during execution keeps `data` and the 200.
    let field_error = post(
        json!({"query": "{ auditEvents(first: 9999) { totalCount } }"}),
        GRAPHQL,
    )
    .await
    .expect("POST");
    assert_eq!(field_error.status(), 200);
    let body: Value = field_error.json().await.expect("json");
    assert!(body.get("data").is_some(), "{body}");
}

#[tokio::test]
async fn the_playground_and_its_assets_come_from_this_server() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let page = app.http().get(app.url("/")).send().await.expect("GET /");
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let html = page.text().await.expect("html");
    if let Some(why) = api::http::playground_assets_missing() {
        // Built without npm: the page says what is missing and how to get it.
        assert!(
            html.contains("npm") && html.contains("POST /graphql"),
            "{why}: {html}"
        );
        eprintln!("the playground's assets are not in this build: {why}");
        return;
    }
    assert!(html.contains("/playground/graphiql.min.js") && !html.contains("https://"));
    for (asset, content_type) in [
        ("graphiql.min.js", "text/javascript"),
        ("graphiql.min.css", "text/css"),
        ("react.production.min.js", "text/javascript"),
        ("react-dom.production.min.js", "text/javascript"),
        ("start.js", "text/javascript"),
    ] {
        let response = app
            .http()
            .get(app.url(&format!("/playground/{asset}")))
            .send()
            .await
            .expect("asset");
        assert_eq!(response.status(), 200, "{asset}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type)
        );
        assert!(response.bytes().await.expect("body").len() > 100, "{asset}");
    }
    let missing = app
        .http()
        .get(app.url("/playground/nope.js"))
        .send()
        .await
        .expect("asset");
    assert_eq!(missing.status(), 404);
}
