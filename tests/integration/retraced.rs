//! Retraced's publisher protocol: the hash, validation, single and bulk publishing, reach.

use std::collections::BTreeMap;

use api::retraced::hash::{Hashed, canonical, hash};
use entity::prelude::AuditLog;
use entity::scope::Scope;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tests::app::TestApp;
use tests::fixtures::insert_tenant;

#[test]
fn hash_matches_retraceds_test_vectors() {
    let plain = Hashed {
        id: "kfbr392",
        action: "largeTazoTea.purchase",
        ..Default::default()
    };
    assert_eq!(canonical(&plain), "kfbr392:largeTazoTea.purchase:::::0:0::");
    assert_eq!(
        hash(&plain),
        "a60b49fcbbe8569139b97997eaf8fc0b871d2bb88757ef94eae0056fd9326302"
    );
    let grouped = Hashed {
        group_id: Some("gold-street-id"),
        ..plain.clone()
    };
    assert_eq!(
        hash(&grouped),
        "f17fe3079e5fe34668629f0254a0cabe7ad37ec51d97f034ec8b732e158247d6"
    );

    let fields: BTreeMap<String, String> =
        [("z".into(), "1;2".into()), ("a".into(), "x=y:z".into())].into();
    let metadata: BTreeMap<String, String> = [("m".into(), "v".into())].into();
    let full = Hashed {
        id: "id1",
        action: "a:b",
        target_id: Some("t"),
        actor_id: Some("u%1"),
        group_id: Some("g"),
        source_ip: Some("1.2.3.4"),
        is_failure: true,
        is_anonymous: false,
        fields: Some(&fields),
        external_id: Some("ext"),
        metadata: Some(&metadata),
    };
    assert_eq!(
        canonical(&full),
        "id1:a%3Ab:t:u%251:g:1.2.3.4:1:0:a=x%3Dy%3Az;z=1%3B2;:ext:m=v;"
    );

    // The quirks: empty fields add nothing, empty metadata a bare ':'.
    let empty = BTreeMap::new();
    assert_eq!(
        canonical(&Hashed {
            fields: Some(&empty),
            ..plain.clone()
        }),
        "kfbr392:largeTazoTea.purchase:::::0:0:"
    );
    assert_eq!(
        canonical(&Hashed {
            metadata: Some(&empty),
            ..plain.clone()
        }),
        "kfbr392:largeTazoTea.purchase:::::0:0:::"
    );
    // JavaScript sorts by UTF-16 code units: 'Z' (0x5A) before 'a' (0x61), and an astral
    // character (a surrogate, 0xD83D) before U+FF21.
    let keys: BTreeMap<String, String> = [
        ("a".into(), "1".into()),
        ("Z".into(), "2".into()),
        ("\u{FF21}".into(), "3".into()),
        ("😀".into(), "4".into()),
    ]
    .into();
    assert!(
        canonical(&Hashed {
            fields: Some(&keys),
            ..plain
        })
        .ends_with("Z=2;a=1;😀=4;\u{FF21}=3;")
    );
}

async fn setup() -> (TestApp, uuid::Uuid, String) {
    let app = TestApp::spawn().await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap().id;
    let key = app
        .issue_key(
            acme,
            "crm-publisher",
            &[Scope::AuditWrite, Scope::AuditRead],
            Some("crm"),
        )
        .await;
    (app, acme, key)
}

async fn publish(app: &TestApp, auth: &str, path: &str, body: Value) -> (u16, Value) {
    let response = app
        .http()
        .post(app.url(path))
        .header("Authorization", auth)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn event() -> Value {
    json!({
        "action": "crm.contact.created", "crud": "c",
        "actor": {"id": "u1", "name": "Ada", "href": "https://crm.example/u1", "fields": {"dept": "sales"}},
        "target": {"id": "c9", "name": "Bob", "type": "contact"},
        "source_ip": "203.0.113.9", "description": "Ada created Bob", "external_id": "ext-1",
        "fields": {"email": "bob@example.com"}, "metadata": {"tier": "gold"},
        "created": "2026-11-01T10:00:00Z", "component": "crm-api", "version": "1.2.3"
    })
}

#[tokio::test]
async fn a_published_event_is_stored_hashed_and_searchable_at_once() {
    let (app, acme, key) = setup().await;
    let (status, body) = publish(
        &app,
        &format!("token={key}"),
        "/publisher/v1/project/crm/event",
        event(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let fields: BTreeMap<String, String> = [("email".into(), "bob@example.com".into())].into();
    let metadata: BTreeMap<String, String> = [("tier".into(), "gold".into())].into();
    let expected = hash(&Hashed {
        id: &id,
        action: "crm.contact.created",
        target_id: Some("c9"),
        actor_id: Some("u1"),
        source_ip: Some("203.0.113.9"),
        fields: Some(&fields),
        external_id: Some("ext-1"),
        metadata: Some(&metadata),
        ..Default::default()
    });
    assert_eq!(body["hash"], expected, "the hash the client will recompute");

    let row = AuditLog::find_by_id(id.parse::<i64>().unwrap())
        .one(&app.db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.tenant_id, row.product.as_deref(), row.action.as_str()),
        (Some(acme), Some("crm"), "crm.contact.created")
    );
    assert_eq!(
        (
            row.actor_id.as_deref(),
            row.actor_name.as_deref(),
            row.actor_type.as_deref()
        ),
        (Some("u1"), Some("Ada"), Some("user"))
    );
    assert_eq!(
        (
            row.target_id.as_deref(),
            row.target_type.as_deref(),
            row.target_name.as_deref()
        ),
        (Some("c9"), Some("contact"), Some("Bob"))
    );
    assert_eq!(
        row.source_ip.map(|ip| ip.ip().to_string()).as_deref(),
        Some("203.0.113.9")
    );
    assert_eq!(row.metadata["crud"], "c");
    assert_eq!(row.metadata["created"], "2026-11-01T10:00:00Z");
    assert_eq!(row.metadata["fields"], json!({"email": "bob@example.com"}));
    assert_eq!(
        row.metadata["actor"],
        json!({"href": "https://crm.example/u1", "fields": {"dept": "sales"}})
    );
    assert_eq!(row.metadata["hash"], expected);

    // Searchable at once, through the Retraced search language too.
    let found = app.gql_ok(&key, "{ auditEvents(filter: {query: \"crud:c external_id:ext-1 action:crm.*\"}) { edges { node { id } } } }", json!({})).await;
    assert_eq!(found["auditEvents"]["edges"][0]["node"]["id"], id);

    // The Go client's form of the header works as well.
    let (status, _) = publish(
        &app,
        &format!("Token token={key}"),
        "/publisher/v1/project/crm/event",
        json!({"action": "a.b", "crud": "r", "is_anonymous": true}),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn validation_follows_retraced() {
    let (app, _, key) = setup().await;
    let auth = format!("token={key}");
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"crud": "c", "actor": {"id": "u"}}),
            "Missing required field 'action'",
        ),
        (
            json!({"action": "a.b", "actor": {"id": "u"}}),
            "Missing required field 'crud'",
        ),
        (
            json!({"action": "a.b", "crud": "x", "actor": {"id": "u"}}),
            "Invalid value for 'crud' field: x",
        ),
        (
            json!({"action": "a.b", "crud": "c"}),
            "Event is not marked anonymous, and missing required field 'actor'",
        ),
        (
            json!({"action": "a.b", "crud": "c", "actor": {"name": "no id"}}),
            "Field 'actor.id' is required if 'actor' is present",
        ),
        (
            json!({"action": "a.b", "crud": "c", "actor": {"id": "u"}, "target": {"name": "t"}}),
            "Field 'target.id' is required if 'target' is present",
        ),
        (
            json!({"action": "a.b", "crud": "c", "actor": {"id": "u"}, "source_ip": "1.2.3"}),
            "Unable to parse 'source_ip' field as valid IPV4 or IPV6 address: 1.2.3",
        ),
        (
            json!({"action": "a.b", "crud": "c", "actor": {"id": "u"}, "created": "yesterday"}),
            "Unable to parse 'created' field as valid time: yesterday",
        ),
        (
            json!({"action": "a.b", "crud": "c", "actor": {"id": "u"}, "colour": "red"}),
            "Unknown field 'colour'",
        ),
        (
            json!({"action": "a.b", "crud": "c", "actor": {"id": "u", "email": "x"}}),
            "Unknown field 'actor.email'",
        ),
        (
            json!({"action": "a.b", "crud": "c", "actor": {"id": "u"}, "fields": {"n": 1}}),
            "Field 'fields.n' must be a string",
        ),
    ];
    for (body, message) in cases {
        let (status, response) =
            publish(&app, &auth, "/publisher/v1/project/crm/event", body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            (response["status"].clone(), response["type"].clone()),
            (json!(400), json!("Error"))
        );
        assert!(
            response["error"].as_str().unwrap().contains(message),
            "{body}: {response}"
        );
        assert!(
            response["invalid"]
                .as_array()
                .is_some_and(|v| !v.is_empty())
        );
    }
    let (status, _) = publish(
        &app,
        &auth,
        "/publisher/v1/project/crm/event",
        json!({"action": "a.b", "crud": "c", "is_anonymous": true}),
    )
    .await;
    assert_eq!(status, 201, "anonymous events need no actor");
    assert_eq!(
        AuditLog::find().all(&app.db.db).await.unwrap().len(),
        1,
        "only the valid event was stored"
    );
}

#[tokio::test]
async fn bulk_is_all_or_nothing_and_limited() {
    let (app, _, key) = setup().await;
    let auth = format!("token={key}");
    let path = "/publisher/v1/project/crm/event/bulk";
    let (status, body) = publish(
        &app,
        &auth,
        path,
        json!({"events": [event(), {"action": "b.c", "crud": "u", "is_anonymous": true}]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let created = body.as_array().unwrap();
    assert_eq!(created.len(), 2);
    let first: i64 = created[0]["id"].as_str().unwrap().parse().unwrap();
    let second: i64 = created[1]["id"].as_str().unwrap().parse().unwrap();
    assert!(first < second, "ids in input order");
    let row = AuditLog::find_by_id(second)
        .one(&app.db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.action.as_str(), row.actor_type.as_deref()),
        ("b.c", Some("system"))
    );

    let (status, body) = publish(
        &app,
        &auth,
        path,
        json!({"events": [event(), {"action": "x.y"}, event()]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("One or more invalid inputs, no events were logged")
    );
    assert_eq!(body["invalid"][0]["index"], 1);
    assert!(
        body["invalid"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid event input at index 1:")
    );
    assert_eq!(body["invalid"].as_array().unwrap().len(), 1);

    let many: Vec<Value> = (0..51).map(|_| event()).collect();
    let (status, body) = publish(&app, &auth, path, json!({"events": many})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "A maximum of 50 events may be created at once, received 51"
    );
    assert_eq!(
        AuditLog::find().all(&app.db.db).await.unwrap().len(),
        2,
        "nothing of the refused calls was stored"
    );
}

#[tokio::test]
async fn publishing_is_confined_to_the_keys_product_and_tenant() {
    let (app, acme, key) = setup().await;
    let globex = insert_tenant(&app.db.db, "globex").await.unwrap().id;
    let path = "/publisher/v1/project/crm/event";
    let mut in_group = event();
    in_group["group"] = json!({"id": "globex", "name": "Globex"});

    assert_eq!(
        publish(
            &app,
            &format!("token={key}"),
            "/publisher/v1/project/billing/event",
            event()
        )
        .await
        .0,
        401,
        "another product's path"
    );
    assert_eq!(
        publish(&app, &format!("token={key}"), path, in_group.clone())
            .await
            .0,
        403,
        "another tenant's group"
    );
    let mut own = event();
    own["group"] = json!({"id": acme.to_string()});
    assert_eq!(
        publish(&app, &format!("token={key}"), path, own).await.0,
        201,
        "its own tenant by id"
    );
    let mut unknown = event();
    unknown["group"] = json!({"id": "no-such-tenant"});
    assert_eq!(
        publish(&app, &format!("token={key}"), path, unknown)
            .await
            .0,
        400
    );

    let reader = app
        .issue_key(acme, "reader", &[Scope::AuditRead], None)
        .await;
    assert_eq!(
        publish(&app, &format!("token={reader}"), path, event())
            .await
            .0,
        401,
        "a read-only key"
    );
    assert_eq!(
        publish(
            &app,
            "token=trk_nonsense_nonsense_nonsense_nonsense_x",
            path,
            event()
        )
        .await
        .0,
        401
    );
    assert_eq!(publish(&app, "", path, event()).await.0, 401);

    let ops = app
        .issue_key(globex, "ops", &[Scope::AuditWrite, Scope::Platform], None)
        .await;
    let (status, body) = publish(&app, &format!("token={ops}"), path, in_group).await;
    assert_eq!(status, 201, "a platform key may name any tenant: {body}");
    let row = AuditLog::find_by_id(body["id"].as_str().unwrap().parse::<i64>().unwrap())
        .one(&app.db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.tenant_id, Some(globex));

    // A revoked key stops at once.
    let victim = app
        .issue_key(acme, "soon-revoked", &[Scope::AuditWrite], Some("crm"))
        .await;
    assert_eq!(
        publish(&app, &format!("token={victim}"), path, event())
            .await
            .0,
        201
    );
    let keys = entity::prelude::ApiKeys::find()
        .all(&app.db.db)
        .await
        .unwrap();
    let id = keys.iter().find(|k| k.name == "soon-revoked").unwrap().id;
    let admin = app
        .issue_key(acme, "admin", &[Scope::KeysWrite, Scope::AuditWrite], None)
        .await;
    app.gql_ok(
        &admin,
        "mutation($id: UUID!) { revokeApiKey(id: $id) { id } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(
        publish(&app, &format!("token={victim}"), path, event())
            .await
            .0,
        401
    );
}

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
    let (status, _) = publish(
        &app,
        &auth,
        "/publisher/v1/project/crm/graphql",
        json!({"query": "{ search(first: 1, last: 1) { totalCount } }"}),
    )
    .await;
    assert_eq!(status, 400, "first and last together");
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
