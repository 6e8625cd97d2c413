//! Validation verdicts reused for identical requests (`api::validated`): only for the
//! same query, operation and variable values, and never for a request that failed.

use entity::scope::Scope;
use serde_json::json;
use tests::app::{TestApp, error_code};
use tests::fixtures::{insert_audit, insert_tenant};

const PAGE: &str = "query Page($n: Int!, $f: AuditEventFilter) {
  auditEvents(first: $n, filter: $f) { edges { node { action } } pageInfo { hasNextPage } }
}";

#[tokio::test]
async fn an_identical_request_reuses_the_verdict_and_answers_the_same() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    for action in ["crm.a", "crm.b", "billing.c"] {
        insert_audit(&app.db.db, Some(acme.id), None, action)
            .await
            .unwrap();
    }
    let key = app.issue_key(acme.id, "k", &[Scope::AuditRead], None).await;
    let table = app.state.validated.clone();
    let before = table.reused();

    let first = app.gql(&key, PAGE, json!({ "n": 2 })).await;
    assert_eq!(table.reused(), before, "the first one is validated");
    let again = app.gql(&key, PAGE, json!({ "n": 2 })).await;
    assert_eq!(table.reused(), before + 1, "the repeat reuses the verdict");
    assert_eq!(first, again);
    assert_eq!(
        first["data"]["auditEvents"]["pageInfo"]["hasNextPage"],
        true
    );

    let other = app.gql(&key, PAGE, json!({ "n": 3 })).await;
    assert_eq!(
        table.reused(),
        before + 1,
        "other variables: validated again"
    );
    assert_eq!(
        other["data"]["auditEvents"]["pageInfo"]["hasNextPage"],
        false
    );
}

#[tokio::test]
async fn a_request_that_failed_is_validated_and_refused_every_time() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    let key = app.issue_key(acme.id, "k", &[Scope::AuditRead], None).await;
    let table = app.state.validated.clone();
    // The same query passes with one filter and fails validation with another.
    app.gql_ok(&key, PAGE, json!({ "n": 1, "f": { "actions": ["crm.a"] } }))
        .await;
    let bad = json!({ "n": 1, "f": { "noSuchField": true } });
    for _ in 0..2 {
        let refused = app.gql(&key, PAGE, bad.clone()).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
        assert!(refused.get("data").is_none(), "a request error: {refused}");
    }
    assert_eq!(table.reused(), 0, "nothing reused for the failing request");
    assert_eq!(table.len(), 1, "only the request that passed is kept");
}
