//! The search endpoint, queried as Retraced's Node client queries it, and the endpoints' CORS.

use entity::scope::Scope;
use serde_json::{Value, json};
use tests::app::TestApp;

use super::{publish, setup};

/// The query Retraced's Node client sends.
const CLIENT_SEARCH: &str = "query Search($query: String!, $last: Int, $before: String) {
  search(query: $query, last: $last, before: $before) {
    totalCount pageInfo { hasPreviousPage }
    edges { cursor node { id action crud received created source_ip description external_id is_failure is_anonymous
      group { id name } actor { id name href fields { key value } } target { id name type }
      fields { key value } metadata { key value } display { markdown } canonical_time } }
  }
}";

async fn search(app: &TestApp, key: &str, project: &str, variables: Value) -> (u16, Value) {
    publish(
        app,
        &format!("Token token={key}"),
        &format!("/publisher/v1/project/{project}/graphql"),
        json!({"query": CLIENT_SEARCH, "variables": variables}),
    )
    .await
}

#[tokio::test]
async fn search_returns_what_was_published_and_pages_like_the_client() {
    let (app, acme, key) = setup().await;
    let auth = format!("token={key}");
    let mut events = Vec::new();
    for i in 0..23 {
        events.push(json!({"action": if i % 2 == 0 { "user.login" } else { "crm.contact.created" }, "crud": if i % 2 == 0 { "r" } else { "c" },
            "actor": {"id": format!("u{}", i % 3), "name": "Ada"}, "group": {"id": "acme", "name": "Acme"},
            "created": "2026-11-01T10:00:00Z", "fields": {"n": i.to_string()}}));
    }
    for chunk in events.chunks(10) {
        assert_eq!(
            publish(
                &app,
                &auth,
                "/publisher/v1/project/crm/event/bulk",
                json!({"events": chunk})
            )
            .await
            .0,
            201
        );
    }
    // Another product's and another tenant's events stay out of crm's search.
    let billing = app
        .issue_key(acme, "billing", &[Scope::AuditWrite], Some("billing"))
        .await;
    publish(
        &app,
        &format!("token={billing}"),
        "/publisher/v1/project/billing/event",
        json!({"action": "user.login", "crud": "r", "actor": {"id": "u0"}}),
    )
    .await;

    // Page through everything newest first, 5 at a time, as the client does.
    let (mut seen, mut before, mut totals) = (Vec::new(), String::new(), Vec::new());
    loop {
        let (status, body) = search(
            &app,
            &key,
            "crm",
            json!({"query": "crud:c,r", "last": 5, "before": before}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let result = &body["data"]["search"];
        totals.push(result["totalCount"].as_u64());
        let edges = result["edges"].as_array().unwrap();
        seen.extend(
            edges
                .iter()
                .map(|e| e["node"]["id"].as_str().unwrap().parse::<i64>().unwrap()),
        );
        if result["pageInfo"]["hasPreviousPage"] != true {
            break;
        }
        before = edges.last().unwrap()["cursor"].as_str().unwrap().to_owned();
    }
    assert!(
        totals.len() == 5 && totals.iter().all(|t| *t == Some(23)),
        "totalCount on every page: {totals:?}"
    );
    assert_eq!(seen.len(), 23);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, each once"
    );

    let (_, body) = search(
        &app,
        &key,
        "crm",
        json!({"query": "action:user.* actor.id:u0", "last": 50}),
    )
    .await;
    let edges = body["data"]["search"]["edges"].as_array().unwrap();
    assert_eq!(
        body["data"]["search"]["totalCount"], 4,
        "user.login by u0: i in 0, 6, 12, 18"
    );
    let node = &edges[0]["node"];
    assert_eq!(
        (node["crud"].clone(), node["group"].clone()),
        (json!("r"), json!({"id": "acme", "name": "Acme"}))
    );
    assert_eq!(
        (node["created"].clone(), node["canonical_time"].clone()),
        (json!("2026-11-01T10:00:00Z"), json!("2026-11-01T10:00:00Z"))
    );
    assert!(node["received"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        node["display"]["markdown"],
        "**Ada** performed the action **user.login**."
    );
    assert_eq!(node["fields"][0]["key"], "n");

    let (status, body) = search(
        &app,
        &key,
        "crm",
        json!({"query": "received:2026-01-01T00:00:00Z", "last": 5}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("The received field requires a range of two datetimes.")
    );
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({"code": "BAD_USER_INPUT", "field": "query"})
    );
    // Every refusal carries the code and names the argument, as on /graphql.
    for (query, field) in [
        ("{ search(first: 1, last: 1) { totalCount } }", Some("last")),
        ("{ search(first: 0) { totalCount } }", Some("first")),
        (
            "{ search(before: \"junk\") { totalCount } }",
            Some("before"),
        ),
        ("{ nope }", None),
    ] {
        let (status, body) = publish(
            &app,
            &auth,
            "/publisher/v1/project/crm/graphql",
            json!({ "query": query }),
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        let extensions = &body["errors"][0]["extensions"];
        assert_eq!(extensions["code"], "BAD_USER_INPUT", "{query}: {body}");
        assert_eq!(extensions["field"].as_str(), field, "{query}: {body}");
    }
    let writer_only = app
        .issue_key(acme, "writer", &[Scope::AuditWrite], Some("crm"))
        .await;
    assert_eq!(
        search(&app, &writer_only, "crm", json!({"query": ""}))
            .await
            .0,
        401,
        "search needs audit:read"
    );
    assert_eq!(
        search(&app, &key, "billing", json!({"query": ""})).await.0,
        401,
        "another product's project"
    );
}

#[tokio::test]
async fn publisher_endpoints_allow_any_origin() {
    let (app, _, key) = setup().await;
    let preflight = app
        .http()
        .request(
            reqwest::Method::OPTIONS,
            app.url("/publisher/v1/project/crm/graphql"),
        )
        .header("Origin", "https://app.customer.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_some()
    );
    let post = app
        .http()
        .post(app.url("/publisher/v1/project/crm/event"))
        .header("Origin", "https://app.customer.example")
        .header("Authorization", format!("token={key}"))
        .json(&json!({"action": "a.b", "crud": "c", "is_anonymous": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 201);
    assert!(post.headers().get("access-control-allow-origin").is_some());
}
