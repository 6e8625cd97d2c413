//! `filter.metadata` within tenants goes through `audit_metadata_term` (the seventh migration,
//! `api::audit::metadata_terms`): the server finds exactly what `metadata @>` finds, for values
//! of every JSON type, arrays, nested objects, shared instants and other tenants' events; the
//! triggers keep the terms as events are inserted, updated and their tenant deleted.

use entity::scope::Scope;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value as DbValue};
use serde_json::{Value, json};
use tests::app::{TestApp, edge_ids};
use tests::fixtures::insert_tenant;
use uuid::Uuid;

/// Metadata of the events (two per instant): numbers PostgreSQL compares by value (`1`, `1.0`,
/// `-0`, `1e2`), strings that look like them, arrays, nested objects, keys and values that
/// need escaping, and metadata that is not an object.
const METADATA: [&str; 24] = [
    r#"{"reason": "contract signed"}"#,
    r#"{"reason": "contract signed", "crud": "u"}"#,
    r#"{"n": 1}"#,
    r#"{"n": 1.0}"#,
    r#"{"n": 1.50}"#,
    r#"{"n": "1"}"#,
    r#"{"n": -0}"#,
    r#"{"n": 1e2}"#,
    r#"{"flag": true}"#,
    r#"{"flag": "true"}"#,
    r#"{"flag": null}"#,
    r#"{"fields": ["email", "phone"]}"#,
    r#"{"fields": "email"}"#,
    r#"{"fields": [["email"]]}"#,
    r#"{"fields": []}"#,
    r#"{"deep": {"reason": "contract signed"}}"#,
    r#"{"deep": {"a": [1, {"b": 2}]}}"#,
    r#"{"ÅSTRÖM": "é", "a": 1, "b": 2, "c": 3, "d": 4}"#,
    r#"{"quote\"key": "back\\slash"}"#,
    r#"{"a": 1, "b": 2, "c": 3}"#,
    r#"{}"#,
    r#"["reason"]"#,
    r#""contract signed""#,
    r#"{"reason": "Contract signed"}"#,
];

/// Filters: each must find exactly what `@>` finds.
fn filters() -> Vec<Value> {
    vec![
        json!({"reason": "contract signed"}),
        json!({"reason": "contract signed", "crud": "u"}),
        json!({"n": 1}),
        json!({"n": 1.0}),
        json!({"n": 1.5}),
        json!({"n": "1"}),
        json!({"n": 0}),
        json!({"n": 100}),
        json!({"flag": true}),
        json!({"flag": null}),
        json!({"flag": "true"}),
        json!({"fields": ["email"]}),
        json!({"fields": "email"}),
        json!({"fields": ["email", "phone"]}),
        json!({"fields": []}),
        json!({"fields": [["email"]]}),
        json!({"deep": {"reason": "contract signed"}}),
        json!({"deep": {"a": [{"b": 2}]}}),
        json!({"ÅSTRÖM": "é"}),
        json!({"quote\"key": "back\\slash"}),
        json!({"a": 1, "b": 2, "c": 3, "d": 4}),
        json!({}),
        json!({"nobody": "x"}),
    ]
}

async fn insert(app: &TestApp, tenant: Option<Uuid>, metadata: &str, minutes_ago: i64) -> i64 {
    scalar(
        app,
        "INSERT INTO audit_log (tenant_id, action, metadata, created_at) \
         VALUES ($1, 'test.event', $2::jsonb, date_trunc('minute', now()) - $3 * interval '1 minute') \
         RETURNING id",
        vec![tenant.into(), metadata.into(), minutes_ago.into()],
    )
    .await
}

async fn scalar<T: sea_orm::TryGetable>(app: &TestApp, sql: &str, values: Vec<DbValue>) -> T {
    app.db.value(sql, values).await
}

async fn ids(app: &TestApp, sql: &str, values: Vec<DbValue>) -> Vec<i64> {
    app.db
        .db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index(0).unwrap())
        .collect()
}

const QUERY: &str =
    "query($f: AuditEventFilter) { auditEvents(filter: $f, first: 100) { edges { node { id } } } }";

#[tokio::test]
async fn metadata_filters_within_a_tenant_find_exactly_what_containment_finds() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap().id;
    let globex = insert_tenant(&app.db.db, "globex").await.unwrap().id;
    for (i, metadata) in METADATA.iter().enumerate() {
        // Two events per instant, so that a term row stands for both.
        insert(&app, Some(acme), metadata, i as i64 / 2).await;
        insert(&app, Some(globex), metadata, i as i64).await;
        insert(&app, None, metadata, i as i64).await;
    }
    let tenant_key = app
        .issue_key(acme, "reader", &[Scope::AuditRead], None)
        .await;
    let platform_key = app
        .issue_key(globex, "ops", &[Scope::AuditRead, Scope::Platform], None)
        .await;
    let since: String = scalar(
        &app,
        "SELECT to_json(date_trunc('minute', now()) - interval '5 minutes')#>>'{}'",
        vec![],
    )
    .await;
    let mut found = 0;
    for metadata in filters() {
        // (key, filter, the same in SQL)
        let cases = [
            (&tenant_key, json!({"metadata": metadata}), "tenant_id = $2"),
            (
                &platform_key,
                json!({"metadata": metadata, "tenantIds": [acme]}),
                "tenant_id = $2",
            ),
            (
                &tenant_key,
                json!({"metadata": metadata, "since": since}),
                "tenant_id = $2 AND created_at >= $3::timestamptz",
            ),
            (&platform_key, json!({"metadata": metadata}), "TRUE"),
        ];
        for (key, filter, sql) in cases {
            let served = app.gql_ok(key, QUERY, json!({"f": filter})).await;
            let served = edge_ids(&served["auditEvents"]);
            let expected = ids(
                &app,
                &format!(
                    "SELECT id FROM audit_log WHERE metadata @> $1::jsonb AND {sql} \
                     ORDER BY created_at DESC, id DESC"
                ),
                vec![
                    metadata.to_string().into(),
                    acme.into(),
                    since.clone().into(),
                ],
            )
            .await;
            assert_eq!(served, expected, "{filter}");
            found += served.len();
        }
    }
    assert!(found > 100, "the filters find events: {found}");

    // The terms are what the server reads: without the tenant's, its searches find nothing.
    app.db
        .exec(&format!(
            "DELETE FROM audit_metadata_term WHERE tenant_id = '{acme}'"
        ))
        .await;
    let served = app
        .gql_ok(
            &tenant_key,
            QUERY,
            json!({"f": {"metadata": {"reason": "contract signed"}}}),
        )
        .await;
    assert_eq!(edge_ids(&served["auditEvents"]), Vec::<i64>::new());
}

#[tokio::test]
async fn the_term_of_a_value_is_the_term_stored_for_it() {
    // `audit_metadata_term` (the server's lookup) and `audit_metadata_terms` (the triggers')
    // write the hash out each; they must agree on every kind of value.
    let app = TestApp::spawn(TestApp::settings()).await;
    let rows = app
        .db
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            r#"SELECT v::text, audit_metadata_term('k', v) = ALL(
                   ARRAY(SELECT audit_metadata_terms(jsonb_build_object('k', v)))),
                   (SELECT count(*) FROM audit_metadata_terms(jsonb_build_object('k', v)))
               FROM jsonb_array_elements('["s", "é\"\\", 1, 1.0, 1.50, -0, 1e2, true, false, null]') v"#,
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 10);
    for row in rows {
        let value: String = row.try_get_by_index(0).unwrap();
        let agree: bool = row.try_get_by_index(1).unwrap();
        let terms: i64 = row.try_get_by_index(2).unwrap();
        assert!(agree && terms == 1, "{value}: agree {agree}, {terms} terms");
    }
}

#[tokio::test]
async fn the_triggers_keep_the_terms_of_inserted_updated_and_deleted_tenants_events() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap().id;
    let globex = insert_tenant(&app.db.db, "globex").await.unwrap().id;
    let key = app
        .issue_key(acme, "reader", &[Scope::AuditRead], None)
        .await;
    let search = async |metadata: Value| -> Vec<i64> {
        let served = app
            .gql_ok(&key, QUERY, json!({"f": {"metadata": metadata}}))
            .await;
        edge_ids(&served["auditEvents"])
    };
    let event = insert(&app, Some(acme), r#"{"stage": "open"}"#, 1).await;
    assert_eq!(search(json!({"stage": "open"})).await, [event]);

    // An update's new value is found; the old one is not (`@>` decides).
    app.db
        .exec(&format!(
            r#"UPDATE audit_log SET metadata = '{{"stage": "closed"}}' WHERE id = {event}"#
        ))
        .await;
    assert_eq!(search(json!({"stage": "closed"})).await, [event]);
    assert_eq!(search(json!({"stage": "open"})).await, Vec::<i64>::new());

    // Metadata that is not an object is stored, without terms.
    insert(&app, Some(acme), "[1, 2]", 2).await;

    // A deleted tenant's terms go with it; its events stay, without a tenant.
    insert(&app, Some(globex), r#"{"stage": "open"}"#, 3).await;
    let terms_of = async |tenant: Uuid| -> i64 {
        scalar(
            &app,
            "SELECT count(*) FROM audit_metadata_term WHERE tenant_id = $1",
            vec![tenant.into()],
        )
        .await
    };
    assert_eq!(terms_of(globex).await, 1);
    app.db
        .exec(&format!("DELETE FROM tenants WHERE id = '{globex}'"))
        .await;
    assert_eq!(terms_of(globex).await, 0);
    assert_eq!(terms_of(acme).await, 2, "the old and the new stage");
}

#[tokio::test]
async fn pages_of_a_metadata_filter_follow_their_cursors_through_shared_instants() {
    // The terms are looked up on the page's side of its cursor, the cursor's instant included:
    // events sharing it continue on the next page.
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap().id;
    let key = app
        .issue_key(acme, "reader", &[Scope::AuditRead], None)
        .await;
    for i in 0..30 {
        let metadata = if i % 3 == 2 {
            r#"{"k": "w"}"#
        } else {
            r#"{"k": "v"}"#
        };
        insert(&app, Some(acme), metadata, i / 4).await;
    }
    let query = "query($f: AuditEventFilter, $after: String, $order: AuditOrder) { \
        auditEvents(filter: $f, first: 3, after: $after, order: $order) { \
        totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }";
    for (order, direction) in [("NEWEST_FIRST", "DESC"), ("OLDEST_FIRST", "ASC")] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..30 {
            let page = app
                .gql_ok(
                    &key,
                    query,
                    json!({"f": {"metadata": {"k": "v"}}, "after": after, "order": order}),
                )
                .await;
            let page = &page["auditEvents"];
            assert_eq!(page["totalCount"], 20, "{order}");
            seen.extend(edge_ids(page));
            if page["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
        let expected = ids(
            &app,
            &format!(
                "SELECT id FROM audit_log WHERE metadata @> '{{\"k\": \"v\"}}' \
                 ORDER BY created_at {direction}, id {direction}"
            ),
            vec![],
        )
        .await;
        assert_eq!(seen, expected, "{order}");
    }
}

#[tokio::test]
async fn concurrent_inserts_of_the_same_terms_do_not_deadlock() {
    // Two writers insert, round after round at the same moment, 2,000 events of one tenant
    // with the same (value, instant) pairs, in opposite orders. The insert trigger writes a
    // statement's terms in the primary key's order, so one waits for the other's commit at
    // most once; in the events' order each would soon wait on a term the other wrote first,
    // a deadlock.
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap().id;
    let rounds = 10;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let writer = |direction: &'static str| {
        let db = app.db.db.clone();
        let barrier = barrier.clone();
        tokio::spawn(async move {
            // After a failure the writer still meets the other at every round's start.
            let mut failed = None;
            for round in 0..rounds {
                barrier.wait().await;
                if failed.is_some() {
                    continue;
                }
                let inserted = db.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    format!(
                        "INSERT INTO audit_log (tenant_id, action, metadata, created_at) \
                         SELECT $1, 'test.event', jsonb_build_object('k', g / 50), \
                         '2026-01-01Z'::timestamptz + ($2 * 100 + g % 50) * interval '1 second' \
                         FROM generate_series(0, 1999) g ORDER BY g {direction}"
                    ),
                    [acme.into(), round.into()],
                ));
                if let Err(e) = inserted.await {
                    failed = Some(format!("round {round}: {e}"));
                }
            }
            failed.map_or(Ok(()), Err)
        })
    };
    let (up, down) = tokio::join!(writer("ASC"), writer("DESC"));
    up.unwrap().unwrap();
    down.unwrap().unwrap();
    let terms: i64 = scalar(&app, "SELECT count(*) FROM audit_metadata_term", vec![]).await;
    assert_eq!(
        terms,
        rounds * 2_000,
        "a term for each (value, instant) pair of a round"
    );
}
