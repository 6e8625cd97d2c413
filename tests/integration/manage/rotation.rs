//! Keys that expire, and rotating a key with a grace.

use entity::scope::Scope;
use serde_json::{Value, json};
use tests::app::error_code;

use super::Ops;

const ISSUE: &str = "mutation($t: UUID!, $n: String!, $s: [String!]!, $p: String, $e: DateTime) {
  issueApiKey(tenantId: $t, name: $n, scopes: $s, product: $p, expiresAt: $e) {
    key apiKey { id name expiresAt } } }";
const ROTATE: &str = "mutation($id: UUID!, $g: Int!) { rotateApiKey(id: $id, graceSeconds: $g) {
  key apiKey { id tenantId name prefix scopes product expiresAt } } }";

/// A request's answer with `key`: HTTP status and body.
async fn viewer(ops: &Ops, key: &str) -> (u16, Value) {
    let response = ops
        .app
        .http()
        .post(ops.app.url("/graphql"))
        .bearer_auth(key)
        .json(&json!({"query": "{ viewer { keyId name } }"}))
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn an_expired_key_is_refused_everywhere_with_key_expired() {
    let ops = Ops::new().await;
    let past = ops
        .gql(
            ISSUE,
            json!({"t": ops.acme, "n": "late", "s": ["audit:read"], "e": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(error_code(&past), "BAD_USER_INPUT");
    assert_eq!(past["errors"][0]["extensions"]["field"], "expiresAt");

    // Expiring a second from now; used (and cached) before, refused after, without a notice.
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let issued = ops
        .gql_ok(
            ISSUE,
            json!({"t": ops.acme, "n": "short", "s": ["audit:read", "audit:write"], "e": soon}),
        )
        .await;
    let key = issued["issueApiKey"]["key"].as_str().unwrap().to_owned();
    assert!(issued["issueApiKey"]["apiKey"]["expiresAt"].is_string());
    assert_eq!(viewer(&ops, &key).await.0, 200);
    assert_eq!(viewer(&ops, &key).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let (status, body) = viewer(&ops, &key).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_code(&body), "KEY_EXPIRED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired at"),
        "{body}"
    );

    // Retraced's publisher endpoint says so too.
    let response = ops
        .app
        .http()
        .post(ops.app.url("/publisher/v1/project/crm/event"))
        .header("authorization", format!("token={key}"))
        .json(&json!({"action": "x.y", "crud": "c", "group": {"id": ops.acme.to_string()}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "KEY_EXPIRED");

    // The database holds expiry after creation.
    use sea_orm::ConnectionTrait;
    let violated = ops
        .app
        .db
        .db
        .execute_unprepared(
            "UPDATE api_keys SET expires_at = created_at - interval '1 second' WHERE name = 'short'",
        )
        .await
        .unwrap_err();
    assert_eq!(
        tests::fixtures::violated_constraint(&violated).as_deref(),
        Some("api_keys_expires_after_creation")
    );
}

#[tokio::test]
async fn rotating_issues_a_twin_and_the_old_key_lasts_the_grace() {
    let ops = Ops::new().await;
    let in_90_days = chrono::Utc::now() + chrono::Duration::days(90);
    let issued = ops
        .gql_ok(
            ISSUE,
            json!({"t": ops.acme, "n": "deploy", "s": ["audit:write", "tenants:read"], "p": "crm",
                   "e": in_90_days.to_rfc3339()}),
        )
        .await;
    let old_key = issued["issueApiKey"]["key"].as_str().unwrap().to_owned();
    let old_id = issued["issueApiKey"]["apiKey"]["id"].clone();
    assert_eq!(viewer(&ops, &old_key).await.0, 200);

    let rotated = ops.gql_ok(ROTATE, json!({"id": old_id, "g": 3600})).await;
    let new = &rotated["rotateApiKey"];
    let new_key = new["key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, old_key);
    assert_eq!(
        new["apiKey"]["name"], "deploy",
        "the new key takes the name"
    );
    assert_eq!(new["apiKey"]["tenantId"], json!(ops.acme));
    assert_eq!(new["apiKey"]["product"], "crm");
    assert_eq!(
        new["apiKey"]["scopes"],
        json!(["tenants:read", "audit:write"])
    );
    // As long a life as the old key was given.
    let new_expiry: chrono::DateTime<chrono::Utc> = new["apiKey"]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (new_expiry - in_90_days).num_seconds().abs() < 60,
        "{new_expiry}"
    );

    // The old key: renamed, expiring after the grace, still working meanwhile.
    let keys = ops
        .gql_ok(
            "query($id: UUID!) { tenant(id: $id) { apiKeys { id name expiresAt } } }",
            json!({"id": ops.acme}),
        )
        .await;
    let old = keys["tenant"]["apiKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == old_id)
        .unwrap()
        .clone();
    assert_eq!(old["name"], format!("deploy (rotated {})", &old_key[..8]));
    let old_expiry: chrono::DateTime<chrono::Utc> =
        old["expiresAt"].as_str().unwrap().parse().unwrap();
    let grace_end = chrono::Utc::now() + chrono::Duration::hours(1);
    assert!(
        (old_expiry - grace_end).num_seconds().abs() < 60,
        "{old_expiry}"
    );
    assert_eq!(viewer(&ops, &old_key).await.0, 200, "within the grace");
    assert_eq!(viewer(&ops, &new_key).await.0, 200);

    let row = ops.only_audit("api_key.rotated", "u").await;
    assert_eq!(row.tenant_id, Some(ops.acme));
    let text = row.metadata.to_string();
    assert!(text.contains(old_id.as_str().unwrap()), "{text}");
    assert!(
        text.contains(new["apiKey"]["id"].as_str().unwrap()),
        "{text}"
    );
    assert!(!text.contains(&new_key) && !text.contains(&old_key[8..]));

    // A key is rotated once: not again, and not by itself in its grace.
    let again = ops.gql(ROTATE, json!({"id": old_id, "g": 60})).await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT");
    assert!(
        again["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(new["apiKey"]["id"].as_str().unwrap()),
        "{again}"
    );
    let itself = ops
        .app
        .gql(&old_key, ROTATE, json!({"id": old_id, "g": 60}))
        .await;
    assert!(itself.get("errors").is_some(), "{itself}");
    let replaced = ops
        .gql_ok(
            "query($id: UUID!) { tenant(id: $id) { apiKeys { id replacedBy } } }",
            json!({"id": ops.acme}),
        )
        .await;
    let old_record = replaced["tenant"]["apiKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == old_id)
        .unwrap()
        .clone();
    assert_eq!(old_record["replacedBy"], new["apiKey"]["id"]);

    // No grace: the old key stops at once.
    let again = ops
        .gql_ok(ROTATE, json!({"id": new["apiKey"]["id"], "g": 0}))
        .await;
    let (status, body) = viewer(&ops, &new_key).await;
    assert_eq!((status, error_code(&body)), (401, "KEY_EXPIRED".to_owned()));
    let newest = again["rotateApiKey"]["key"].as_str().unwrap();
    assert_eq!(viewer(&ops, newest).await.0, 200);
    // An expired key is not rotated.
    let refused = ops
        .gql(ROTATE, json!({"id": new["apiKey"]["id"], "g": 10}))
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
}

#[tokio::test]
async fn rotating_needs_what_revoking_needs() {
    let ops = Ops::new().await;
    let target = ops.key_for(ops.acme, "target", &[Scope::AuditWrite]).await;
    let target_id = viewer(&ops, &target).await.1["data"]["viewer"]["keyId"].clone();
    let reader = ops.key_for(ops.acme, "reader", &[Scope::TenantsRead]).await;
    assert_eq!(
        error_code(
            &ops.app
                .gql(&reader, ROTATE, json!({"id": target_id, "g": 1}))
                .await
        ),
        "FORBIDDEN"
    );
    let globex = tests::fixtures::insert_tenant(&ops.app.db.db, "globex")
        .await
        .unwrap();
    let outsider = ops
        .key_for(
            globex.id,
            "outsider",
            &[Scope::KeysWrite, Scope::AuditWrite],
        )
        .await;
    assert_eq!(
        error_code(
            &ops.app
                .gql(&outsider, ROTATE, json!({"id": target_id, "g": 1}))
                .await
        ),
        "NOT_FOUND"
    );
    // A key never rotates one that outranks it.
    let weak = ops.key_for(ops.acme, "weak", &[Scope::KeysWrite]).await;
    assert_eq!(
        error_code(
            &ops.app
                .gql(&weak, ROTATE, json!({"id": target_id, "g": 1}))
                .await
        ),
        "FORBIDDEN"
    );
    // Rotating mints a key: one with keys:verify only by an operator.
    let verifier = ops
        .app
        .issue_key(
            ops.acme,
            "verifier",
            &[Scope::KeysVerify, Scope::KeysWrite],
            Some("crm"),
        )
        .await;
    let verifier_id = viewer(&ops, &verifier).await.1["data"]["viewer"]["keyId"].clone();
    assert_eq!(
        error_code(
            &ops.app
                .gql(&verifier, ROTATE, json!({"id": verifier_id, "g": 1}))
                .await
        ),
        "FORBIDDEN"
    );
    ops.gql_ok(ROTATE, json!({"id": verifier_id, "g": 60}))
        .await;
    // An expiry beyond a century is refused, rather than overflowing a rotation later.
    let far = ops
        .gql(
            ISSUE,
            json!({"t": ops.acme, "n": "far", "s": ["audit:read"], "e": "9999-12-31T00:00:00Z"}),
        )
        .await;
    assert_eq!(error_code(&far), "BAD_USER_INPUT");
    for grace in [-1, 2_592_001] {
        let refused = ops.gql(ROTATE, json!({"id": target_id, "g": grace})).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT");
        assert_eq!(refused["errors"][0]["extensions"]["field"], "graceSeconds");
    }
    assert_eq!(
        ops.audit("api_key.rotated").await.len(),
        1,
        "the operator's only"
    );
    assert_eq!(viewer(&ops, &target).await.0, 200, "untouched");

    // A check violation of the expiry (the server's clock and the database's disagreeing by a
    // hair) reads as bad input, not as a fault.
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let violation = entity::api_keys::ActiveModel {
        tenant_id: Set(ops.acme),
        name: Set("backwards".into()),
        scopes: Set(vec!["audit:read".into()]),
        hash: Set("x".into()),
        prefix: Set("trk_xxxx".into()),
        expires_at: Set(Some(
            (chrono::Utc::now() - chrono::Duration::days(1)).fixed_offset(),
        )),
        ..Default::default()
    }
    .insert(&ops.app.db.db)
    .await
    .unwrap_err();
    let error = registry::ApiError::from(violation);
    assert_eq!(
        (error.code().as_str(), error.field()),
        ("BAD_USER_INPUT", Some("expiresAt"))
    );
}
