//! Retraced's publisher protocol: the hash, validation, single and bulk publishing, reach,
//! and the search endpoint Retraced's clients query.

mod hash;
mod publish;
mod search;

use entity::scope::Scope;
use serde_json::{Value, json};
use tests::app::TestApp;
use tests::fixtures::insert_tenant;

async fn setup() -> (TestApp, uuid::Uuid, String) {
    let app = TestApp::spawn(TestApp::settings()).await;
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
