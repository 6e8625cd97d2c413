//! Every text field of an event has a maximum length: at the maximum (in 4-byte characters,
//! the worst case for an index entry) it is stored; one past it is `BAD_USER_INPUT` naming the
//! field, never an internal error that a Retraced client would retry for ever.

use entity::scope::Scope;
use registry::audit::lengths;
use serde_json::{Value, json};
use tests::app::{TestApp, error_code};
use tests::fixtures::insert_tenant;

/// `n` crabs: `n` characters, `4 n` bytes.
fn crabs(n: usize) -> String {
    "🦀".repeat(n)
}

const RECORD: &str =
    "mutation($input: AuditEventInput!) { recordAuditEvent(input: $input) { id } }";

/// The input's fields, each at `extra` characters past its maximum, by the field's name in
/// errors.
fn fields(extra: usize) -> Vec<(&'static str, Value)> {
    let at = |max: usize| json!(crabs(max + extra));
    vec![
        ("input.product", json!({ "product": at(lengths::PRODUCT) })),
        (
            "input.action",
            json!({ "action": "a".repeat(lengths::ACTION + extra) }),
        ),
        (
            "input.actor.id",
            json!({ "actor": { "id": at(lengths::ID) } }),
        ),
        (
            "input.actor.name",
            json!({ "actor": { "name": at(lengths::NAME) } }),
        ),
        (
            "input.target.id",
            json!({ "target": { "id": at(lengths::ID) } }),
        ),
        (
            "input.target.type",
            json!({ "target": { "type": at(lengths::KIND) } }),
        ),
        (
            "input.target.name",
            json!({ "target": { "name": at(lengths::NAME) } }),
        ),
        (
            "input.userAgent",
            json!({ "userAgent": at(lengths::USER_AGENT) }),
        ),
    ]
}

fn input(extra: Value) -> Value {
    let mut input = json!({ "action": "test.event", "product": "test" });
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    json!({ "input": input })
}

#[tokio::test]
async fn record_audit_event_takes_each_field_up_to_its_maximum() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    let key = app
        .issue_key(acme.id, "writer", &[Scope::AuditWrite], None)
        .await;
    // All at once, at the maximum: one event, stored.
    let mut all = json!({});
    for (_, value) in fields(0) {
        for (k, v) in value.as_object().unwrap() {
            match (all.get_mut(k), v) {
                (Some(Value::Object(existing)), Value::Object(more)) => {
                    existing.extend(more.clone());
                }
                _ => all[k] = v.clone(),
            }
        }
    }
    let stored = app.gql(&key, RECORD, input(all)).await;
    assert!(stored.get("errors").is_none(), "{stored}");

    // Each one past: refused, naming the field.
    for (field, value) in fields(1) {
        let refused = app.gql(&key, RECORD, input(value)).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{field}");
        assert_eq!(
            refused["errors"][0]["extensions"]["field"], field,
            "{refused}"
        );
    }
    // The request's own User-Agent, however long, is cut to the column's limit.
    let long_agent = "x".repeat(lengths::USER_AGENT * 3);
    let response: Value = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(&key)
        .header("User-Agent", &long_agent)
        .json(&json!({ "query": RECORD, "variables": input(json!({})) }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(response.get("errors").is_none(), "{response}");
    let stored: String = app
        .db
        .value(
            "SELECT user_agent FROM audit_log ORDER BY id DESC LIMIT 1",
            vec![],
        )
        .await;
    assert_eq!(stored.len(), lengths::USER_AGENT);
}

/// POSTs `event` to Retraced's single-event endpoint of `product`.
async fn publish(app: &TestApp, key: &str, product: &str, event: &Value) -> (u16, Value) {
    let response = app
        .http()
        .post(app.url(&format!("/publisher/v1/project/{product}/event")))
        .header("Authorization", format!("token={key}"))
        .json(event)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn retraced_publish_bounds_every_text_field_and_the_product_in_the_path() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    let key = app
        .issue_key(acme.id, "writer", &[Scope::AuditWrite], None)
        .await;
    let event = |extra: usize| {
        let at = |max: usize| crabs(max + extra);
        json!({
            "action": "a".repeat(lengths::ACTION + extra),
            "crud": "c",
            "actor": { "id": at(lengths::ID), "name": at(lengths::NAME), "href": at(lengths::HREF),
                       "fields": { "k": at(lengths::MAP_VALUE) } },
            "target": { "id": at(lengths::ID), "name": at(lengths::NAME), "type": at(lengths::KIND) },
            "description": at(lengths::DESCRIPTION),
            "component": at(lengths::LABEL),
            "version": at(lengths::LABEL),
            "external_id": at(lengths::LABEL),
            "fields": { at(lengths::LABEL): "v" },
            "metadata": { "m": at(lengths::MAP_VALUE) },
        })
    };
    let (status, created) = publish(&app, &key, "crm", &event(0)).await;
    assert_eq!(
        status, 201,
        "every field at its maximum is stored: {created}"
    );

    let (status, refused) = publish(&app, &key, "crm", &event(1)).await;
    assert_eq!(status, 400, "{refused}");
    let fields: Vec<&str> = refused["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["field"].as_str())
        .collect();
    for field in [
        "action",
        "actor.id",
        "actor.name",
        "actor.href",
        "actor.fields.k",
        "target.id",
        "target.name",
        "target.type",
        "description",
        "component",
        "version",
        "external_id",
        "fields key",
        "metadata.m",
    ] {
        assert!(fields.contains(&field), "{field} not among {fields:?}");
    }

    // The attack's shape: a 20,000-character actor id, and a 5,000-character product.
    let huge = json!({ "action": "x.y", "crud": "c", "actor": { "id": "a".repeat(20_000) } });
    let (status, refused) = publish(&app, &key, "crm", &huge).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("BAD_USER_INPUT"))
    );
    let ok = json!({ "action": "x.y", "crud": "c", "actor": { "id": "u1" } });
    let (status, refused) = publish(&app, &key, &"p".repeat(5_000), &ok).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("BAD_USER_INPUT")),
        "{refused}"
    );
    let (status, _) = publish(&app, &key, &"p".repeat(lengths::PRODUCT), &ok).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn json_nested_past_the_readable_depth_is_refused_and_nothing_is_stored() {
    // An inline object 60 deep around a variable 120 deep: stored, it made every page showing
    // it fail (reading stops at 128 levels).
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    let key = app
        .issue_key(
            acme.id,
            "writer",
            &[Scope::AuditWrite, Scope::AuditRead],
            None,
        )
        .await;
    let inline = format!("{}$v{}", "{a:".repeat(60), "}".repeat(60));
    let deep = (0..120).fold(json!(1), |inner, _| json!({ "a": inner }));
    let query = format!(
        "mutation($v: JSON) {{ recordAuditEvent(input: {{action: \"crm.poison\", product: \"crm\", metadata: {inline}}}) {{ id }} }}"
    );
    let refused = app.gql(&key, &query, json!({ "v": deep })).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(
        refused["errors"][0]["extensions"]["field"],
        "input.metadata"
    );
    let stored: i64 = app
        .db
        .value(
            "SELECT count(*) FROM audit_log WHERE action = 'crm.poison'",
            vec![],
        )
        .await;
    assert_eq!(stored, 0);
    // At the bound it is stored and read back.
    let ok = (0..lengths::JSON_DEPTH - 1).fold(json!(1), |inner, _| json!({ "a": inner }));
    let stored = app
        .gql(
            &key,
            "mutation($m: JSON) { recordAuditEvent(input: {action: \"crm.deep\", product: \"crm\", metadata: $m}) { id } }",
            json!({ "m": ok }),
        )
        .await;
    assert!(stored.get("errors").is_none(), "{stored}");
    app.gql_ok(
        &key,
        "{ auditEvents(first: 5) { edges { node { metadata } } } }",
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn a_value_too_long_for_an_index_is_bad_input_not_internal() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let key = app.platform_key(&Scope::ALL).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    // Random letters: a repetitive text would be compressed small enough to be indexed.
    let long: String = (0..12_000)
        .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
        .collect();
    for (query, variables) in [
        (
            "mutation($id: UUID!, $v: String) { updateTenant(id: $id, input: {erpCustomerId: $v}) { id } }",
            json!({ "id": acme.id, "v": long }),
        ),
        (
            "mutation($id: UUID!, $v: String!) { issueApiKey(tenantId: $id, name: $v, scopes: [\"audit:read\"]) { key } }",
            json!({ "id": acme.id, "v": long }),
        ),
    ] {
        let body = app.gql(&key, query, variables).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}: {body}");
    }
}
