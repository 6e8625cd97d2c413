//! Hostile strings in every text input: quotes, backslashes, LIKE wildcards, NUL bytes, huge
//! strings, invalid UTF-8 in headers. Each gives a clean error or a correct result, never a
//! 500 or INTERNAL, and nothing half-written.

use entity::scope::Scope;
use serde_json::{Value, json};
use tests::app::{Ev, TestApp, error_code};
use tests::fixtures::insert_tenant;

/// Strings PostgreSQL can store, each of which has broken some system's quoting or matching.
const STORABLE: [&str; 8] = [
    "o'brien",
    "say \"hi\"",
    "back\\slash\\",
    "100%",
    "a_b",
    "'; DROP TABLE tenants; --",
    "emoji 🦀 and RTL \u{202e}txet",
    "%_\\%",
];

/// Whether a GraphQL response is a clean outcome: data without errors, or a caller error.
fn clean(body: &Value) -> Result<(), String> {
    match body.get("errors") {
        None => Ok(()),
        Some(_) => {
            let code = error_code(body);
            if ["BAD_USER_INPUT", "NOT_FOUND", "FORBIDDEN", "CONFLICT"].contains(&code.as_str()) {
                Ok(())
            } else {
                Err(format!("{code}: {body}"))
            }
        }
    }
}

async fn app_and_key() -> (TestApp, String, uuid::Uuid) {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    let key = app.issue_key(acme.id, "all", &Scope::ALL, None).await;
    (app, key, acme.id)
}

#[tokio::test]
async fn every_filter_text_field_matches_hostile_strings_exactly() {
    let (app, key, tenant) = app_and_key().await;
    let at = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut ids = Vec::new();
    for text in STORABLE {
        let text: &'static str = text;
        let mut ev = Ev::new(tenant, at);
        ev.product = Some(text);
        ev.action = text;
        ev.actor_id = Some(text);
        ev.actor_type = Some(text);
        ev.target_type = Some(text);
        ev.target_id = Some(text);
        ev.metadata = json!({ text: text });
        ids.push(ev.insert(&app.db).await);
    }
    let query = "query($f: AuditEventFilter) { auditEvents(filter: $f, first: 50) { edges { node { id } } } }";
    for (text, id) in STORABLE.iter().zip(&ids) {
        for field in [
            "products",
            "actorIds",
            "actorTypes",
            "actions",
            "targetTypes",
            "targetIds",
        ] {
            let data = app
                .gql_ok(&key, query, json!({"f": { field: [text] }}))
                .await;
            assert_eq!(
                tests::app::edge_ids(&data["auditEvents"]),
                vec![*id],
                "{field} = {text:?}"
            );
        }
        let data = app
            .gql_ok(&key, query, json!({"f": {"actionPrefix": text}}))
            .await;
        let found = tests::app::edge_ids(&data["auditEvents"]);
        let expected: Vec<i64> = STORABLE
            .iter()
            .zip(&ids)
            .rev()
            .filter(|(other, _)| other.starts_with(text))
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(found, expected, "actionPrefix {text:?} is a literal prefix");
        let data = app
            .gql_ok(&key, query, json!({"f": {"metadata": { *text: text }}}))
            .await;
        assert_eq!(
            tests::app::edge_ids(&data["auditEvents"]),
            vec![*id],
            "metadata {text:?}"
        );
        // The search language's free text: a literal substring, wildcards included.
        let data = app
            .gql(&key, query, json!({"f": {"query": format!("{:?}", text)}}))
            .await;
        clean(&data).unwrap();
    }
}

#[tokio::test]
async fn nul_bytes_and_huge_strings_are_caller_errors_everywhere() {
    let (app, key, tenant) = app_and_key().await;
    let nul = "a\u{0}b";
    let filters = [
        json!({"products": [nul]}),
        json!({"actorIds": [nul]}),
        json!({"actions": [nul]}),
        json!({"actionPrefix": nul}),
        json!({"targetIds": [nul]}),
        json!({"sourceIp": nul}),
        json!({"query": nul}),
        json!({"query": format!("action:{nul}")}),
        json!({"metadata": {nul: "x"}}),
        json!({"metadata": {"x": nul}}),
    ];
    for filter in filters {
        let body = app
            .gql(
                &key,
                "query($f: AuditEventFilter) { auditEvents(filter: $f) { totalCount } }",
                json!({"f": filter}),
            )
            .await;
        clean(&body).unwrap_or_else(|e| panic!("filter {filter}: {e}"));
    }
    let tenant_s = tenant.to_string();
    let mutations: Vec<(&str, Value)> = vec![
        (
            "mutation($v: CreateTenantInput!) { createTenant(input: $v) { id } }",
            json!({"v": {"slug": "nul-tenant", "name": nul}}),
        ),
        (
            "mutation($v: CreateTenantInput!) { createTenant(input: $v) { id } }",
            json!({"v": {"slug": "big-tenant", "name": "x".repeat(200 * 1024)}}),
        ),
        (
            "mutation($v: CreateTenantInput!) { createTenant(input: $v) { id } }",
            json!({"v": {"slug": nul, "name": "n"}}),
        ),
        (
            "mutation($v: AuditEventInput!) { recordAuditEvent(input: $v) { id } }",
            json!({"v": {"action": nul}}),
        ),
        (
            "mutation($v: AuditEventInput!) { recordAuditEvent(input: $v) { id } }",
            json!({"v": {"action": "a.b", "metadata": {"k": nul}}}),
        ),
        (
            "mutation($v: AuditEventInput!) { recordAuditEvent(input: $v) { id } }",
            json!({"v": {"action": "a.b", "actor": {"id": nul}, "userAgent": nul}}),
        ),
        (
            "mutation($t: UUID!, $n: String!) { createProject(tenantId: $t, slug: \"p1\", name: $n) { id } }",
            json!({"t": tenant_s, "n": nul}),
        ),
        (
            "mutation($t: UUID!, $p: String!) { setEntitlement(tenantId: $t, product: $p) { product } }",
            json!({"t": tenant_s, "p": nul}),
        ),
        (
            "mutation($t: UUID!, $c: JSON) { setEntitlement(tenantId: $t, product: \"crm\", config: $c) { product } }",
            json!({"t": tenant_s, "c": {"x": nul}}),
        ),
        (
            "mutation($t: UUID!, $n: String!) { issueApiKey(tenantId: $t, name: $n, scopes: [\"audit:read\"]) { key } }",
            json!({"t": tenant_s, "n": nul}),
        ),
    ];
    for (mutation, variables) in &mutations {
        let body = app.gql(&key, mutation, variables.clone()).await;
        clean(&body).unwrap_or_else(|e| panic!("{mutation} {variables}: {e}"));
    }
    // Nothing half-written: none of those created a row.
    let rows = app
        .gql_ok(
            &key,
            "{ auditEvents(filter: {actions: [\"a.b\"]}) { totalCount } tenants(first: 50) { edges { node { slug name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(rows["auditEvents"]["totalCount"], 0);
    let tenants = rows["tenants"]["edges"].as_array().unwrap();
    for tenant in tenants {
        let slug = tenant["node"]["slug"].as_str().unwrap();
        assert!(["acme", "big-tenant"].contains(&slug), "{slug}");
        if slug == "big-tenant" {
            // Stored whole, if stored at all.
            assert_eq!(tenant["node"]["name"].as_str().unwrap().len(), 200 * 1024);
        }
    }

    // A body of more than 1 MB: 413, whatever it holds.
    let huge = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(&key)
        .json(&json!({"query": "{ viewer { name } }", "variables": {"x": "y".repeat(1 << 20)}}))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    // A 1 MB GET query string: refused with a 4xx, not a 500.
    let long_get = app
        .http()
        .get(app.url("/graphql"))
        .bearer_auth(&key)
        .query(&[(
            "query",
            format!("{{ viewer {{ name }} }} #{}", "z".repeat(1 << 20)),
        )])
        .send()
        .await;
    if let Ok(response) = long_get {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
}

#[tokio::test]
async fn retraced_publish_rejects_nul_bytes_with_400() {
    let (app, _, tenant) = app_and_key().await;
    let key = app
        .issue_key(tenant, "crm", &[Scope::AuditWrite], Some("crm"))
        .await;
    for event in [
        json!({"action": "a\u{0}b", "crud": "c", "actor": {"id": "u"}}),
        json!({"action": "a.b", "crud": "c", "actor": {"id": "u\u{0}"}}),
        json!({"action": "a.b", "crud": "c", "actor": {"id": "u"}, "fields": {"k": "v\u{0}"}}),
        json!({"action": "a.b", "crud": "c", "actor": {"id": "u"}, "description": "\u{0}"}),
    ] {
        let response = app
            .http()
            .post(app.url("/publisher/v1/project/crm/event"))
            .header("authorization", format!("token={key}"))
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{event}");
    }
}

#[tokio::test]
async fn invalid_utf8_in_headers_is_a_clean_refusal_or_ignored() {
    let (app, key, _) = app_and_key().await;
    let address = app.address;
    let send = move |headers: Vec<u8>| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body = br#"{"query": "{ viewer { name } }"}"#;
        let mut request = format!(
            "POST /graphql HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&headers);
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(body);
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let text = String::from_utf8_lossy(&response).into_owned();
        let status: u16 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, text)
    };
    // A key with a byte that is not UTF-8: 401 with the usual body.
    let mut bad_auth = b"Authorization: Bearer trk_\xff\xfe".to_vec();
    bad_auth.extend_from_slice(b"\r\n");
    let (status, text) = send(bad_auth).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("UNAUTHENTICATED"));
    // A User-Agent that is not UTF-8 does not stop a valid request.
    let mut bad_agent = format!("Authorization: Bearer {key}\r\n").into_bytes();
    bad_agent.extend_from_slice(b"User-Agent: caf\xe9\r\n");
    let (status, text) = send(bad_agent).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"name\":\"all\""), "{text}");
    // A request id header that is not UTF-8 is replaced by a fresh id, not echoed or refused.
    let mut record = format!("Authorization: Bearer {key}\r\n").into_bytes();
    record.extend_from_slice(b"X-Request-Id: \xff\xff\r\n");
    let (status, _) = send(record).await;
    assert_eq!(status, 200);
}
