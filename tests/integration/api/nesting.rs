//! Documents nested deep enough to overflow a recursive parser's stack (which aborts the whole
//! process) are refused before anything parses them, on every endpoint that takes one, with a
//! key and without; the server stays up and answers the next request.

use api::http::{MAX_NESTING, max_nesting};
use entity::scope::Scope;
use serde_json::{Value, json};
use tests::app::{TestApp, error_code};
use tests::fixtures::insert_tenant;

/// Depths of each shape: shallow, the deepest accepted, the first refused, the attack's (a 4 KB
/// URL), one whose GET URL passes the length limit, and far past everything (POST only: no
/// HTTP client sends a URL that long).
const DEPTHS: [usize; 6] = [8, MAX_NESTING - 2, MAX_NESTING - 1, 2_000, 5_000, 50_000];

/// The shapes that overflowed the parser, `depth` levels deep inside their field: nested lists,
/// nested input objects, nested selection sets. Each adds two levels of its own (the operation's
/// selection set and the argument list, or the outer field).
fn documents(depth: usize) -> [(&'static str, String); 3] {
    [
        (
            "lists",
            format!("{{ a(x:{}{}) }}", "[".repeat(depth), "]".repeat(depth)),
        ),
        (
            "objects",
            format!("{{ a(x:{}1{}) }}", "{a:".repeat(depth), "}".repeat(depth)),
        ),
        (
            "selections",
            format!("{{ a {}b{} }}", "{ a ".repeat(depth), " }".repeat(depth)),
        ),
    ]
}

/// Whether a response to `document` is the refusal (deeper than the bound) or the schema's own
/// answer (an unknown field), never a 5xx.
fn check(what: &str, document: &str, status: u16, body: &Value) {
    assert!(
        (400..500).contains(&status) || status == 200,
        "{what}: status {status}"
    );
    // Refused before the document is read: no key, a body or URL over the size limits.
    if [401, 413, 414].contains(&status) {
        return;
    }
    // GraphQL's error shape, or Retraced's (`code` beside `error`).
    let code = match body.get("code") {
        Some(code) => code.as_str().unwrap_or_default().to_owned(),
        None => error_code(body),
    };
    assert_eq!(code, "BAD_USER_INPUT", "{what}: {body}");
    let message = body["errors"][0]["message"]
        .as_str()
        .or(body["error"].as_str())
        .unwrap_or_default();
    if max_nesting(document) > MAX_NESTING {
        assert!(message.contains("nests brackets"), "{what}: {message}");
    } else {
        assert!(!message.contains("nests brackets"), "{what}: {message}");
    }
}

#[tokio::test]
async fn deeply_nested_documents_are_refused_and_the_server_stays_up() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    let key = app
        .issue_key(acme.id, "reader", &[Scope::AuditRead], None)
        .await;
    let http = app.http();
    for depth in DEPTHS {
        for (shape, document) in documents(depth) {
            let what = format!("{shape} at depth {depth}");
            // GET, without a key and with one.
            let get = depth < 10_000;
            for auth in [None, Some(&key)].into_iter().filter(|_| get) {
                let mut request = http
                    .get(app.url("/graphql"))
                    .query(&[("query", document.as_str())]);
                if let Some(key) = auth {
                    request = request.bearer_auth(key);
                }
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                check(&format!("GET {what}"), &document, status, &body);
            }
            // POST, with a key.
            let response = http
                .post(app.url("/graphql"))
                .bearer_auth(&key)
                .json(&json!({ "query": document }))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            check(
                &format!("POST {what}"),
                &document,
                status,
                &response.json().await.unwrap(),
            );
            // Retraced's search endpoint.
            let response = http
                .post(app.url("/publisher/v1/project/crm/graphql"))
                .header("Authorization", format!("token={key}"))
                .json(&json!({ "query": document }))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            check(
                &format!("Retraced search {what}"),
                &document,
                status,
                &response.json().await.unwrap(),
            );
        }
    }
    let health = http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the process is alive");
    let viewer = app
        .gql_ok(&key, "{ viewer { tenant { slug } } }", json!({}))
        .await;
    assert_eq!(viewer["viewer"]["tenant"]["slug"], "acme");
}

#[test]
fn nesting_is_counted_outside_strings_and_comments() {
    for (text, depth) in [
        ("{ a }", 1),
        ("{ a(x: [[1]]) { b } }", 4),
        ("{ a(x: \"[[[[{{{{\") }", 2),
        ("{ a(x: \"esc \\\" [[[[\") }", 2),
        ("{ a(x: \"\"\" [[[[ \\\"\"\" {{{{ \"\"\") }", 2),
        ("# {{{{{{{{\n{ a }", 1),
        ("}}}} { a }", 1),
        ("{ a(x: \"unterminated [[[[", 2),
    ] {
        assert_eq!(max_nesting(text), depth, "{text}");
    }
}
