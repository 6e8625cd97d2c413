//! `verifyApiKey` and `POST /v1/keys/verify`: products asking about their customers' keys.

use entity::scope::Scope;
use serde_json::{Value, json};
use tests::app::error_code;
use tests::fixtures::insert_product;
use uuid::Uuid;

use super::Ops;

const VERIFY: &str = "query($k: String!, $p: String) { verifyApiKey(key: $k, product: $p) {
  valid code readOnly retryAfterSeconds
  key { id name prefix scopes product expiresAt lastUsedAt }
  tenant { id slug status }
  entitlement { active reason enabled config expiresAt }
} }";

/// The operator, acme entitled to crm, a customer key of acme, and crm's own key.
struct Setup {
    ops: Ops,
    crm: String,
    customer: String,
    customer_id: Uuid,
}

impl Setup {
    async fn new() -> Setup {
        let ops = Ops::new().await;
        let db = &ops.app.db.db;
        let vendor = tests::fixtures::insert_tenant(db, "crm-vendor")
            .await
            .unwrap();
        insert_product(db, ops.acme, "crm").await.unwrap();
        db_exec(
            &ops,
            &format!(
                "UPDATE tenant_products SET config = '{{\"seats\": 5}}' WHERE tenant_id = '{}'",
                ops.acme
            ),
        )
        .await;
        let crm = ops
            .app
            .issue_key(vendor.id, "crm-service", &[Scope::KeysVerify], Some("crm"))
            .await;
        let customer = ops
            .key_for(
                ops.acme,
                "acme-crm",
                &[Scope::AuditWrite, Scope::TenantsRead],
            )
            .await;
        let customer_id = key_id(&ops, &customer).await;
        Setup {
            ops,
            crm,
            customer,
            customer_id,
        }
    }

    /// `verifyApiKey` as crm's key.
    async fn verify(&self, key: &str) -> Value {
        self.verify_as(&self.crm, key, None).await
    }

    async fn verify_as(&self, caller: &str, key: &str, product: Option<&str>) -> Value {
        let data = self
            .ops
            .app
            .gql_ok(caller, VERIFY, json!({"k": key, "p": product}))
            .await;
        data["verifyApiKey"].clone()
    }

    async fn rest(&self, caller: Option<&str>, body: &str) -> (u16, Value) {
        let mut request = self
            .ops
            .app
            .http()
            .post(self.ops.app.url("/v1/keys/verify"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(caller) = caller {
            request = request.bearer_auth(caller);
        }
        let response = request.send().await.unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }
}

async fn db_exec(ops: &Ops, sql: &str) {
    use sea_orm::ConnectionTrait;
    ops.app.db.db.execute_unprepared(sql).await.unwrap();
}

async fn key_id(ops: &Ops, key: &str) -> Uuid {
    let viewer = ops.app.gql_ok(key, "{ viewer { keyId } }", json!({})).await;
    viewer["viewer"]["keyId"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_good_key_is_answered_with_its_tenant_scopes_and_entitlement() {
    let s = Setup::new().await;
    let answer = s.verify(&s.customer).await;
    assert_eq!(
        (&answer["valid"], &answer["code"], &answer["readOnly"]),
        (&json!(true), &json!("VALID"), &json!(false))
    );
    assert_eq!(answer["retryAfterSeconds"], Value::Null);
    assert_eq!(
        answer["key"]["id"].as_str().unwrap(),
        s.customer_id.to_string()
    );
    assert_eq!(answer["key"]["name"], "acme-crm");
    assert_eq!(answer["key"]["prefix"], &s.customer[..8]);
    assert_eq!(
        answer["key"]["scopes"],
        json!(["tenants:read", "audit:write"])
    );
    assert_eq!(answer["key"]["product"], Value::Null);
    assert_eq!(answer["key"]["expiresAt"], Value::Null);
    assert_eq!(
        answer["tenant"],
        json!({"id": s.ops.acme, "slug": "acme", "status": "TRIAL"})
    );
    assert_eq!(
        answer["entitlement"],
        json!({"active": true, "reason": null, "enabled": true, "config": {"seats": 5}, "expiresAt": null})
    );

    // The same as JSON, for products that do not speak GraphQL.
    let (status, rest) = s
        .rest(Some(&s.crm), &json!({"key": s.customer}).to_string())
        .await;
    assert_eq!(status, 200, "{rest}");
    for field in ["valid", "code", "readOnly", "tenant"] {
        assert_eq!(rest[field], answer[field], "{field}");
    }
    assert_eq!(rest["key"]["id"], answer["key"]["id"]);
    assert_eq!(rest["key"]["scopes"], answer["key"]["scopes"]);
    assert_eq!(rest["entitlement"]["active"], json!(true));
    assert_eq!(rest["entitlement"]["config"], json!({"seats": 5}));
}

#[tokio::test]
async fn verifying_writes_last_used_at_and_a_known_key_needs_no_argon2() {
    let s = Setup::new().await;
    let fresh = s
        .ops
        .key_for(s.ops.acme, "never-used", &[Scope::TenantsRead])
        .await;
    let first = s.verify(&fresh).await;
    assert_eq!(first["code"], "VALID");
    assert_eq!(first["key"]["lastUsedAt"], Value::Null, "before this check");
    let runs = s.ops.app.state.auth.stats().argon2_runs;
    let mut written = Value::Null;
    for _ in 0..50 {
        let again = s.verify(&fresh).await;
        assert_eq!(again["code"], "VALID");
        written = again["key"]["lastUsedAt"].clone();
        if written.is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        written.is_string(),
        "the verified key's last use is recorded"
    );
    assert_eq!(
        s.ops.app.state.auth.stats().argon2_runs,
        runs,
        "a key verified before is recognised without argon2"
    );
}

#[tokio::test]
async fn each_refusal_has_its_code() {
    let s = Setup::new().await;
    let code = |v: &Value| (v["valid"].clone(), v["code"].as_str().unwrap().to_owned());
    let not_found = (json!(false), "NOT_FOUND".to_owned());

    // Malformed, unknown, and the right prefix with a wrong secret.
    assert_eq!(code(&s.verify("hello").await), not_found);
    assert_eq!(code(&s.verify("").await), not_found);
    assert_eq!(
        code(
            &s.verify("trk_0000000000000000000000000000000000000000")
                .await
        ),
        not_found
    );
    let mut wrong = s.customer.clone();
    wrong.replace_range(20..21, if &wrong[20..21] == "a" { "b" } else { "a" });
    let answer = s.verify(&wrong).await;
    assert_eq!(code(&answer), not_found);
    assert_eq!(
        answer["key"],
        Value::Null,
        "nothing about the key it is not"
    );

    // Bound to another product.
    let billing = s
        .ops
        .app
        .issue_key(s.ops.acme, "billing", &[Scope::AuditWrite], Some("billing"))
        .await;
    let answer = s.verify(&billing).await;
    assert_eq!(code(&answer), (json!(false), "WRONG_PRODUCT".to_owned()));
    assert_eq!(answer["key"]["product"], "billing");

    // A tenant without the product, and one whose entitlement is switched off.
    let globex = tests::fixtures::insert_tenant(&s.ops.app.db.db, "globex")
        .await
        .unwrap();
    let globex_key = s.ops.key_for(globex.id, "g", &[Scope::TenantsRead]).await;
    let answer = s.verify(&globex_key).await;
    assert_eq!(code(&answer), (json!(false), "NOT_ENTITLED".to_owned()));
    assert_eq!(answer["entitlement"], Value::Null);
    assert_eq!(answer["tenant"]["slug"], "globex");
    insert_product(&s.ops.app.db.db, globex.id, "crm")
        .await
        .unwrap();
    db_exec(
        &s.ops,
        &format!(
            "UPDATE tenant_products SET enabled = false WHERE tenant_id = '{}'",
            globex.id
        ),
    )
    .await;
    let answer = s.verify(&globex_key).await;
    assert_eq!(code(&answer), (json!(false), "NOT_ENTITLED".to_owned()));
    assert_eq!(answer["entitlement"]["reason"], "DISABLED");

    // Frozen: good for reads only.
    db_exec(
        &s.ops,
        &format!(
            "UPDATE tenants SET status = 'frozen' WHERE id = '{}'",
            s.ops.acme
        ),
    )
    .await;
    let answer = s.verify(&s.customer).await;
    assert_eq!(code(&answer), (json!(true), "TENANT_FROZEN".to_owned()));
    assert_eq!(answer["readOnly"], true);
    assert_eq!(answer["entitlement"]["reason"], "TENANT_FROZEN");
    // A trial past its end counts as frozen before the lifecycle's clock moves it.
    db_exec(
        &s.ops,
        &format!(
            "UPDATE tenants SET status = 'trial', trial_ends_at = now() - interval '1 hour' \
             WHERE id = '{}'",
            s.ops.acme
        ),
    )
    .await;
    let answer = s.verify(&s.customer).await;
    assert_eq!(code(&answer), (json!(true), "TENANT_FROZEN".to_owned()));

    // Archived (its keys left unrevoked, as data written another way would be).
    db_exec(
        &s.ops,
        &format!(
            "UPDATE tenants SET status = 'archived' WHERE id = '{}'",
            s.ops.acme
        ),
    )
    .await;
    assert_eq!(
        code(&s.verify(&s.customer).await),
        (json!(false), "TENANT_ARCHIVED".to_owned())
    );

    // Expired, then revoked (the key's own standing comes first).
    db_exec(
        &s.ops,
        &format!(
            "UPDATE api_keys SET created_at = now() - interval '2 days', \
             expires_at = now() - interval '1 day' WHERE id = '{}'",
            s.customer_id
        ),
    )
    .await;
    let answer = s.verify(&s.customer).await;
    assert_eq!(code(&answer), (json!(false), "EXPIRED".to_owned()));
    assert!(answer["key"]["expiresAt"].is_string());
    db_exec(
        &s.ops,
        &format!(
            "UPDATE api_keys SET revoked_at = now() WHERE id = '{}'",
            s.customer_id
        ),
    )
    .await;
    let answer = s.verify(&s.customer).await;
    assert_eq!(code(&answer), (json!(false), "REVOKED".to_owned()));
    assert_eq!(
        answer["key"]["id"].as_str().unwrap(),
        s.customer_id.to_string()
    );

    // Operators' keys are not a product's to see.
    let answer = s.verify(&s.ops.key).await;
    assert_eq!(code(&answer), not_found);
    assert_eq!(answer["tenant"], Value::Null);
}

#[tokio::test]
async fn failures_count_against_the_prefix_and_are_answered_rate_limited() {
    let s = Setup::new().await;
    // The default budget: 10 failures a minute per prefix.
    let mut wrong = s.customer.clone();
    let mut codes = Vec::new();
    for i in 0..12 {
        wrong.replace_range(30..32, &format!("{:02}", i));
        codes.push(s.verify(&wrong).await["code"].as_str().unwrap().to_owned());
    }
    assert_eq!(codes[..10], vec!["NOT_FOUND"; 10]);
    assert_eq!(codes[10..], vec!["RATE_LIMITED"; 2]);
    let limited = s.verify(&wrong).await;
    assert_eq!(limited["valid"], false);
    assert!(limited["retryAfterSeconds"].as_i64().unwrap() >= 1);
    assert_eq!(limited["key"], Value::Null);
    // The key's own holder, known to this process, is not locked out by the guesses.
    assert_eq!(s.verify(&s.customer).await["code"], "VALID");
    // The product asking is not refused for its customers' failures.
    let viewer = s
        .ops
        .app
        .gql(&s.crm, "{ viewer { name } }", json!({}))
        .await;
    assert!(viewer.get("errors").is_none(), "{viewer}");
    // The same budget binds the requests' own checks of that prefix.
    let response = s
        .ops
        .app
        .http()
        .post(s.ops.app.url("/graphql"))
        .bearer_auth(&wrong)
        .json(&json!({"query": "{ viewer { name } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
}

#[tokio::test]
async fn who_may_ask_about_which_product() {
    let s = Setup::new().await;
    let product_mismatch = s
        .ops
        .app
        .gql(&s.crm, VERIFY, json!({"k": s.customer, "p": "billing"}))
        .await;
    assert_eq!(error_code(&product_mismatch), "FORBIDDEN");
    assert!(
        product_mismatch["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("product crm only")
    );
    // Without keys:verify.
    let reader = s
        .ops
        .key_for(s.ops.acme, "reader", &[Scope::TenantsRead])
        .await;
    assert_eq!(
        error_code(
            &s.ops
                .app
                .gql(&reader, VERIFY, json!({"k": s.customer}))
                .await
        ),
        "FORBIDDEN"
    );
    // keys:verify on a key of no product that is not an operators'.
    let loose = s
        .ops
        .key_for(s.ops.acme, "loose", &[Scope::KeysVerify])
        .await;
    assert_eq!(
        error_code(
            &s.ops
                .app
                .gql(&loose, VERIFY, json!({"k": s.customer}))
                .await
        ),
        "FORBIDDEN"
    );
    // A platform key asks about any product, or none (no entitlement then).
    let any = s.verify_as(&s.ops.key, &s.customer, Some("billing")).await;
    assert_eq!(any["code"], "NOT_ENTITLED");
    let none = s.verify_as(&s.ops.key, &s.customer, None).await;
    assert_eq!(
        (&none["code"], &none["entitlement"]),
        (&json!("VALID"), &Value::Null)
    );
    // keys:verify is granted by operators only.
    let admin = s
        .ops
        .key_for(s.ops.acme, "admin", &[Scope::KeysWrite, Scope::KeysVerify])
        .await;
    let issue = s
        .ops
        .app
        .gql(
            &admin,
            "mutation($t: UUID!) { issueApiKey(tenantId: $t, name: \"v\", scopes: [\"keys:verify\"], product: \"crm\") { key } }",
            json!({"t": s.ops.acme}),
        )
        .await;
    assert_eq!(error_code(&issue), "FORBIDDEN");
}

#[tokio::test]
async fn the_rest_endpoint_has_the_same_codes() {
    let s = Setup::new().await;
    let (status, body) = s.rest(None, "{\"key\": \"x\"}").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let (status, body) = s.rest(Some(&s.crm), "not json").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("BAD_USER_INPUT"))
    );
    let (status, body) = s.rest(Some(&s.crm), "{\"product\": \"crm\"}").await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (400, Some("BAD_USER_INPUT"), Some("key"))
    );
    let (status, body) = s
        .rest(
            Some(&s.crm),
            &json!({"key": s.customer, "product": "billing"}).to_string(),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("FORBIDDEN")));
    let big = format!("{{\"key\": \"{}\"}}", "a".repeat(300 * 1024));
    let (status, body) = s.rest(Some(&s.crm), &big).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("BAD_USER_INPUT"))
    );
    let plain = s
        .ops
        .app
        .http()
        .post(s.ops.app.url("/v1/keys/verify"))
        .bearer_auth(&s.crm)
        .header("content-type", "text/plain")
        .body(json!({"key": s.customer}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status().as_u16(), 415);
    // A NUL where a key's prefix would be is no key, not an error.
    let (status, body) = s
        .rest(
            Some(&s.crm),
            &json!({"key": "trk_\u{0}abcdefghijklmnop"}).to_string(),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (200, Some("NOT_FOUND")),
        "{body}"
    );
    let (status, body) = s
        .rest(Some(&s.crm), &json!({"key": "trk_nothing"}).to_string())
        .await;
    assert_eq!(
        (status, body["valid"].as_bool(), body["code"].as_str()),
        (200, Some(false), Some("NOT_FOUND"))
    );
    let text = body.to_string();
    assert!(
        !text.contains("select") && !text.contains("SELECT"),
        "{text}"
    );
}
