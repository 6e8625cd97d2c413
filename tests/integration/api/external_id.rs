//! `external_id:` terms also look their values up in the metadata index
//! (`api::audit::external_id`): the server still finds exactly the events whose
//! `metadata->>'external_id'` is one of the values, whatever JSON type the id has, and the
//! Retraced search endpoint's events are found by the ids their publisher gave them.

use entity::scope::Scope;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use tests::app::{TestApp, edge_ids};
use tests::fixtures::insert_tenant;

/// The metadata of the events, as JSON text: external ids of every JSON type, numbers
/// PostgreSQL rewrites (`-0`, `1e2`), one too long for a float, and events without one.
const METADATA: [&str; 24] = [
    r#"{"external_id": "ext-1"}"#,
    r#"{"external_id": "ext-1", "crud": "c"}"#,
    r#"{"external_id": "5"}"#,
    r#"{"external_id": 5}"#,
    r#"{"external_id": 5.0}"#,
    r#"{"external_id": 5.50}"#,
    r#"{"external_id": true}"#,
    r#"{"external_id": "true"}"#,
    r#"{"external_id": null}"#,
    r#"{"external_id": "null"}"#,
    r#"{"external_id": [1, 2]}"#,
    r#"{"external_id": ["ext-1"]}"#,
    r#"{"external_id": {}}"#,
    r#"{"external_id": {"external_id": "ext-1"}}"#,
    r#"{"external_id": "back\\slash"}"#,
    r#"{"external_id": -0}"#,
    r#"{"external_id": "-0"}"#,
    r#"{"external_id": 1e2}"#,
    r#"{"external_id": 123456789012345678901234567890.123456789}"#,
    r#"{"external_id": "ÅSTRÖM"}"#,
    r#"{"external_id": "%"}"#,
    r#"{"other": "ext-1"}"#,
    r#"{}"#,
    r#"["ext-1"]"#,
];

#[tokio::test]
async fn external_id_terms_find_exactly_what_the_field_equality_finds() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap().id;
    let key = app
        .issue_key(acme, "reader", &[Scope::AuditRead], None)
        .await;
    for metadata in METADATA {
        app.db
            .db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO audit_log (tenant_id, action, metadata) VALUES ($1, 'test.event', $2::jsonb)",
                [acme.into(), metadata.into()],
            ))
            .await
            .unwrap();
    }
    // (search, the condition it means in plain SQL, how many events it matches)
    let searches = [
        ("external_id:ext-1", "x = 'ext-1'", 2),
        ("external_id:5", "x = '5'", 2),
        ("external_id:5.0", "x = '5.0'", 1),
        ("external_id:5.50", "x = '5.50'", 1),
        ("external_id:5.5", "x = '5.5'", 0),
        ("external_id:true", "x = 'true'", 2),
        ("external_id:null", "x = 'null'", 1),
        ("external_id:\"[1, 2]\"", "x = '[1, 2]'", 1),
        ("external_id:{}", "x = '{}'", 1),
        ("external_id:back\\slash", "x = 'back\\slash'", 1),
        ("external_id:0", "x = '0'", 1),
        ("external_id:-0", "x = '-0'", 1),
        ("external_id:100", "x = '100'", 1),
        ("external_id:1e2", "x = '1e2'", 0),
        (
            "external_id:123456789012345678901234567890.123456789",
            "x = '123456789012345678901234567890.123456789'",
            1,
        ),
        ("external_id:ÅSTRÖM", "x = 'ÅSTRÖM'", 1),
        ("external_id:åström", "x = 'åström'", 0),
        ("external_id:%", "x = '%'", 1),
        ("external_id:ext-1,5,true", "x IN ('ext-1', '5', 'true')", 6),
        (
            "external_id:ext-1 crud:c",
            "x = 'ext-1' AND metadata->>'crud' = 'c'",
            1,
        ),
        ("-external_id:ext-1", "(x = 'ext-1') IS NOT TRUE", 22),
        (
            "external_id:ext-1,5 -external_id:5",
            "x IN ('ext-1', '5') AND (x = '5') IS NOT TRUE",
            2,
        ),
        ("external_id:nobody", "x = 'nobody'", 0),
    ];
    let query = "query($f: AuditEventFilter) { auditEvents(filter: $f) { edges { node { id } } } }";
    for (search, sql, count) in searches {
        let served = app
            .gql_ok(&key, query, json!({"f": {"query": search}}))
            .await;
        let served = edge_ids(&served["auditEvents"]);
        let expected: Vec<i64> = app
            .db
            .db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "SELECT id FROM (SELECT *, metadata->>'external_id' AS x FROM audit_log) e \
                     WHERE tenant_id = $1 AND {sql} ORDER BY created_at DESC, id DESC"
                ),
                [acme.into()],
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get_by_index(0).unwrap())
            .collect();
        assert_eq!(served, expected, "{search}");
        assert_eq!(served.len(), count, "{search}: {served:?}");
    }
}
