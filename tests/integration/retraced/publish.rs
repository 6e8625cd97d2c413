//! Publishing: single and bulk, Retraced's validation, all-or-nothing bulk calls, and what a
//! key may publish for.

use std::collections::BTreeMap;

use api::retraced::hash::{Hashed, hash};
use entity::prelude::AuditLog;
use entity::scope::Scope;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tests::fixtures::insert_tenant;

use super::{event, publish, setup};

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
            (
                response["status"].clone(),
                response["type"].clone(),
                response["code"].clone()
            ),
            (json!(400), json!("Error"), json!("BAD_USER_INPUT"))
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
    // An unknown group gets the answer another tenant's gets: the key cannot tell them apart.
    let mut unknown = event();
    unknown["group"] = json!({"id": "no-such-tenant"});
    let (status, body) = publish(&app, &format!("token={key}"), path, unknown).await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error"],
        "this API key cannot publish for group \"no-such-tenant\""
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
    let (status, refused) = publish(&app, "", path, event()).await;
    assert_eq!((status, &refused["code"]), (401, &json!("UNAUTHENTICATED")));

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
