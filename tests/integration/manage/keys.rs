//! issueApiKey and revokeApiKey.

use entity::prelude::ApiKeys;
use entity::scope::Scope;
use sea_orm::EntityTrait;
use serde_json::json;
use tests::app::error_code;

use super::Ops;

const ISSUE: &str = "mutation($t: UUID!, $n: String!, $s: [String!]!, $p: String) {
  issueApiKey(tenantId: $t, name: $n, scopes: $s, product: $p) { key apiKey { id prefix name scopes product revokedAt } }
}";
const REVOKE: &str = "mutation($id: UUID!) { revokeApiKey(id: $id) { id revokedAt } }";

#[tokio::test]
async fn issued_keys_work_at_once_and_revoked_keys_stop_at_once() {
    let ops = Ops::new().await;
    let issued = ops.gql_ok(ISSUE, json!({"t": ops.acme, "n": "crm-backend", "s": ["audit:write", "audit:read"], "p": "crm"})).await;
    let key = issued["issueApiKey"]["key"].as_str().unwrap().to_owned();
    let record = &issued["issueApiKey"]["apiKey"];
    assert_eq!(record["prefix"], &key[..8]);
    assert_eq!(
        (record["scopes"].clone(), record["product"].clone()),
        (json!(["audit:read", "audit:write"]), json!("crm"))
    );
    let row = ops.only_audit("api_key.issued", "c").await;
    assert_eq!(
        (
            row.tenant_id,
            row.target_type.as_deref(),
            row.target_name.as_deref()
        ),
        (Some(ops.acme), Some("api_key"), Some("crm-backend"))
    );
    let text = row.metadata.to_string();
    let stored = ApiKeys::find().all(&ops.app.db.db).await.unwrap();
    assert!(
        !text.contains(&key) && !text.contains(&key[8..]),
        "the plaintext is never recorded"
    );
    assert!(
        stored.iter().all(|k| !text.contains(&k.hash)),
        "nor the hash"
    );

    let viewer = ops
        .app
        .gql_ok(&key, "{ viewer { name product } }", json!({}))
        .await;
    assert_eq!(
        viewer["viewer"],
        json!({"name": "crm-backend", "product": "crm"})
    );

    let revoked = ops.gql_ok(REVOKE, json!({"id": record["id"]})).await;
    assert!(revoked["revokeApiKey"]["revokedAt"].is_string());
    ops.only_audit("api_key.revoked", "u").await;
    assert_eq!(
        error_code(&ops.app.gql(&key, "{ viewer { name } }", json!({})).await),
        "UNAUTHENTICATED",
        "rejected on the next request"
    );
    assert_eq!(
        error_code(&ops.gql(REVOKE, json!({"id": record["id"]})).await),
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn keys_grant_only_what_the_caller_holds_and_never_platform() {
    let ops = Ops::new().await;
    let admin = ops
        .key_for(ops.acme, "admin", &[Scope::KeysWrite, Scope::AuditRead])
        .await;
    let before = ops.audit_count().await;
    assert_eq!(
        error_code(
            &ops.app
                .gql(
                    &admin,
                    ISSUE,
                    json!({"t": ops.acme, "n": "x", "s": ["audit:write"]})
                )
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(
            &ops.gql(ISSUE, json!({"t": ops.acme, "n": "x", "s": ["platform"]}))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(
            &ops.gql(
                ISSUE,
                json!({"t": ops.acme, "n": "x", "s": ["audit:everything"]})
            )
            .await
        ),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        error_code(
            &ops.gql(ISSUE, json!({"t": ops.acme, "n": "x", "s": []}))
                .await
        ),
        "BAD_USER_INPUT"
    );
    let ops_tenant = ops
        .app
        .gql_ok(&ops.key, "{ viewer { tenant { id } } }", json!({}))
        .await["viewer"]["tenant"]["id"]
        .clone();
    assert_eq!(
        error_code(
            &ops.app
                .gql(
                    &admin,
                    ISSUE,
                    json!({"t": ops_tenant, "n": "x", "s": ["audit:read"]})
                )
                .await
        ),
        "NOT_FOUND"
    );
    let reader = ops.key_for(ops.acme, "reader", &[Scope::AuditRead]).await;
    assert_eq!(
        error_code(
            &ops.app
                .gql(
                    &reader,
                    ISSUE,
                    json!({"t": ops.acme, "n": "x", "s": ["audit:read"]})
                )
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(ops.audit_count().await, before, "refusals write nothing");

    let ok = ops
        .app
        .gql_ok(
            &admin,
            ISSUE,
            json!({"t": ops.acme, "n": "siem", "s": ["audit:read"]}),
        )
        .await;
    assert_eq!(ok["issueApiKey"]["apiKey"]["name"], "siem");
    let r = ops
        .app
        .gql(
            &admin,
            ISSUE,
            json!({"t": ops.acme, "n": "siem", "s": ["audit:read"]}),
        )
        .await;
    assert_eq!(
        (
            error_code(&r),
            r["errors"][0]["extensions"]["field"].clone()
        ),
        ("CONFLICT".into(), json!("name"))
    );
}
