//! Reach: a tenant's key sees nothing of another tenant; a product key only its product; a
//! revoked key nothing at all, at once.

use chrono::Utc;
use entity::api_keys;
use entity::prelude::ApiKeys;
use entity::scope::Scope;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use tests::app::{Ev, TestApp, edge_ids, error_code};
use tests::fixtures::insert_tenant;

const EVERYTHING: &str =
    "{ auditEvents(first: 500) { totalCount edges { node { id tenantId product } } } }";

#[tokio::test]
async fn a_tenant_key_sees_nothing_of_another_tenant() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.expect("tenant");
    let globex = insert_tenant(&app.db.db, "globex").await.expect("tenant");
    let mut acme_ids = Vec::new();
    let mut globex_ids = Vec::new();
    for product in [Some("crm"), Some("billing"), None] {
        acme_ids.push(
            Ev {
                product,
                ..Ev::new(acme.id, Utc::now())
            }
            .insert(&app.db)
            .await,
        );
        globex_ids.push(
            Ev {
                product,
                ..Ev::new(globex.id, Utc::now())
            }
            .insert(&app.db)
            .await,
        );
    }
    Ev {
        tenant: None,
        ..Ev::new(acme.id, Utc::now())
    }
    .insert(&app.db)
    .await;
    let scopes = [Scope::AuditRead, Scope::TenantsRead];
    let acme_key = app.issue_key(acme.id, "reader", &scopes, None).await;
    let globex_key = app.issue_key(globex.id, "reader", &scopes, None).await;

    for (key, own, foreign, own_tenant, foreign_tenant) in [
        (&acme_key, &acme_ids, &globex_ids, &acme, &globex),
        (&globex_key, &globex_ids, &acme_ids, &globex, &acme),
    ] {
        let data = app.gql_ok(key, EVERYTHING, json!({})).await;
        let mut seen = edge_ids(&data["auditEvents"]);
        seen.sort();
        assert_eq!(&seen, own, "only its own events, no orphans");
        assert_eq!(data["auditEvents"]["totalCount"], own.len());

        let viewer = app
            .gql_ok(
                key,
                "{ viewer { name tenant { id slug } scopes product } }",
                json!({}),
            )
            .await;
        assert_eq!(viewer["viewer"]["tenant"]["slug"], own_tenant.slug.as_str());
        assert_eq!(
            viewer["viewer"]["scopes"],
            json!(["tenants:read", "audit:read"])
        );

        let r = app
            .gql(
                key,
                "query($t: [UUID!]) { auditEvents(filter: {tenantIds: $t}) { edges { cursor } } }",
                json!({"t": [foreign_tenant.id]}),
            )
            .await;
        assert_eq!(error_code(&r), "FORBIDDEN");
        let r = app
            .gql(
                key,
                "query($id: ID!) { auditEvent(id: $id) { id } }",
                json!({"id": foreign[0].to_string()}),
            )
            .await;
        assert_eq!(
            r["data"]["auditEvent"],
            json!(null),
            "another tenant's event does not exist for this key"
        );
        let r = app
            .gql(
                key,
                "query($id: ID!) { auditEvent(id: $id) { id } }",
                json!({"id": own[0].to_string()}),
            )
            .await;
        assert_eq!(r["data"]["auditEvent"]["id"], own[0].to_string());

        let r = app
            .gql(
                key,
                "query($id: UUID) { tenant(id: $id) { slug } }",
                json!({"id": foreign_tenant.id}),
            )
            .await;
        assert_eq!(error_code(&r), "FORBIDDEN");
        let r = app
            .gql_ok(
                key,
                "{ tenants { edges { node { slug apiKeys { name } } } } }",
                json!({}),
            )
            .await;
        assert_eq!(r["tenants"]["edges"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            r["tenants"]["edges"][0]["node"]["slug"],
            own_tenant.slug.as_str()
        );
    }
}

#[tokio::test]
async fn a_product_key_sees_only_its_product() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.expect("tenant");
    let crm = Ev {
        product: Some("crm"),
        ..Ev::new(acme.id, Utc::now())
    }
    .insert(&app.db)
    .await;
    Ev {
        product: Some("billing"),
        ..Ev::new(acme.id, Utc::now())
    }
    .insert(&app.db)
    .await;
    Ev::new(acme.id, Utc::now()).insert(&app.db).await;
    let key = app
        .issue_key(
            acme.id,
            "crm",
            &[Scope::AuditRead, Scope::AuditWrite],
            Some("crm"),
        )
        .await;

    let data = app.gql_ok(&key, EVERYTHING, json!({})).await;
    assert_eq!(edge_ids(&data["auditEvents"]), [crm]);
    let r = app
        .gql(
            &key,
            "{ auditEvents(filter: {products: [\"billing\"]}) { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN");
    let r = app
        .gql(
            &key,
            "{ auditEvents(filter: {portal: ONLY}) { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN");

    // Publishing: the product comes from the key and cannot be spoofed.
    let recorded = app
        .gql_ok(&key, "mutation { recordAuditEvent(input: {action: \"crm.contact.created\"}) { product tenantId sourceIp userAgent } }", json!({}))
        .await;
    assert_eq!(recorded["recordAuditEvent"]["product"], "crm");
    assert_eq!(
        recorded["recordAuditEvent"]["tenantId"],
        acme.id.to_string()
    );
    assert_eq!(
        recorded["recordAuditEvent"]["sourceIp"], "127.0.0.1",
        "from the request"
    );
    assert_eq!(
        recorded["recordAuditEvent"]["userAgent"],
        tests::app::USER_AGENT,
        "from the request"
    );
    let r = app
        .gql(
            &key,
            "mutation { recordAuditEvent(input: {action: \"x.y\", product: \"billing\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN");
}

#[tokio::test]
async fn recording_needs_audit_write_and_stays_in_the_keys_tenant() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.expect("tenant");
    let globex = insert_tenant(&app.db.db, "globex").await.expect("tenant");
    let reader = app
        .issue_key(acme.id, "reader", &[Scope::AuditRead], None)
        .await;
    let writer = app
        .issue_key(
            acme.id,
            "writer",
            &[Scope::AuditWrite, Scope::AuditRead],
            None,
        )
        .await;
    let ops = app
        .issue_key(
            globex.id,
            "ops",
            &[Scope::AuditWrite, Scope::Platform],
            None,
        )
        .await;
    let record = "mutation($i: AuditEventInput!) { recordAuditEvent(input: $i) { id tenantId action actor { id type } target { id type name } metadata sourceIp } }";

    let r = app
        .gql(&reader, record, json!({"i": {"action": "a.b"}}))
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN");
    let r = app
        .gql(
            &writer,
            record,
            json!({"i": {"action": "a.b", "product": "crm", "tenantId": globex.id}}),
        )
        .await;
    // Another tenant is answered as an unknown one.
    assert_eq!(error_code(&r), "NOT_FOUND");
    let r = app
        .gql_ok(&writer, record, json!({"i": {"action": "billing.invoice.paid", "product": "billing", "actor": {"id": "u1", "type": "user"}, "target": {"id": "i1", "type": "invoice", "name": "INV-1"}, "metadata": {"amount": 5}, "sourceIp": "2001:db8::7"}}))
        .await;
    let event = &r["recordAuditEvent"];
    assert_eq!(
        (event["tenantId"].clone(), event["sourceIp"].clone()),
        (json!(acme.id.to_string()), json!("2001:db8::7"))
    );
    assert_eq!(
        event["target"],
        json!({"id": "i1", "type": "invoice", "name": "INV-1"})
    );
    let search = app
        .gql_ok(
            &writer,
            "query($id: ID!) { auditEvent(id: $id) { action metadata } }",
            json!({"id": event["id"]}),
        )
        .await;
    assert_eq!(
        search["auditEvent"],
        json!({"action": "billing.invoice.paid", "metadata": {"amount": 5}}),
        "searchable at once"
    );

    let r = app
        .gql_ok(
            &ops,
            record,
            json!({"i": {"action": "crm.checked", "product": "crm", "tenantId": acme.id}}),
        )
        .await;
    assert_eq!(
        r["recordAuditEvent"]["tenantId"],
        acme.id.to_string(),
        "a platform key may name any tenant"
    );
    for (input, field) in [
        (json!({"action": "", "product": "crm"}), "input.action"),
        (
            json!({"action": "a.b", "product": "crm", "sourceIp": "999.1.1.1"}),
            "input.sourceIp",
        ),
        (
            json!({"action": "a.b", "product": "crm", "metadata": [1]}),
            "input.metadata",
        ),
        (
            json!({"action": "a.b", "product": "crm", "actor": {"type": "robot"}}),
            "input.actor.type",
        ),
    ] {
        let r = app.gql(&writer, record, json!({"i": input})).await;
        assert_eq!(
            (
                error_code(&r),
                r["errors"][0]["extensions"]["field"].clone()
            ),
            ("BAD_USER_INPUT".into(), json!(field))
        );
    }
}

#[tokio::test]
async fn a_revoked_key_is_rejected_at_once() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.expect("tenant");
    let key = app
        .issue_key(acme.id, "soon-revoked", &[Scope::AuditRead], None)
        .await;
    let never_used = app
        .issue_key(acme.id, "revoked-unused", &[Scope::AuditRead], None)
        .await;
    app.gql_ok(&key, "{ viewer { name } }", json!({})).await;

    let db = &app.db.db;
    let revoke = async |name: &'static str| {
        ApiKeys::update_many()
            .col_expr(api_keys::Column::RevokedAt, Expr::current_timestamp())
            .filter(api_keys::Column::Name.eq(name))
            .exec(db)
            .await
            .expect("revoke")
    };
    revoke("revoked-unused").await;
    assert_eq!(
        error_code(&app.gql(&never_used, "{ viewer { name } }", json!({})).await),
        "UNAUTHENTICATED"
    );

    // A revoke through this process forgets the cached verdict at once.
    revoke("soon-revoked").await;
    let record = ApiKeys::find()
        .filter(api_keys::Column::Name.eq("soon-revoked"))
        .one(&app.db.db)
        .await
        .expect("find")
        .expect("row");
    app.state.auth.forget_key(record.id);
    let response = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(&key)
        .json(&json!({"query": "{ viewer { name } }"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn bad_or_missing_keys_are_unauthenticated_and_missing_scopes_forbidden() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.expect("tenant");
    let key = app
        .issue_key(acme.id, "tenants-only", &[Scope::TenantsRead], None)
        .await;
    for bad in [
        "",
        "trk_short",
        "trk_0123456789abcdefghijklmnopqrstuvwxyzABCD",
        &format!("{key}x"),
        &key[..key.len() - 1],
    ] {
        let r = app.gql(bad, "{ viewer { name } }", json!({})).await;
        assert_eq!(error_code(&r), "UNAUTHENTICATED", "{bad:?}");
    }
    let r = app
        .http()
        .post(app.url("/graphql"))
        .json(&json!({"query": "{ viewer { name } }"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let r = app
        .gql(&key, "{ auditEvents { edges { cursor } } }", json!({}))
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("audit:read")
    );
}
