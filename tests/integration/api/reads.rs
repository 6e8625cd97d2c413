//! The read path's own connections (`api::reads`): reused while healthy, with the pool's session
//! settings; closed when a statement fails or is abandoned midway; never more than the limit;
//! a connection cut while idle costs no request; one idle too long is closed; statements that
//! ask for it run with a kept generic plan, on a connection switched to that mode when need be.

use std::time::Duration;

use api::reads::{PlanCache, ReadConnections};
use entity::scope::Scope;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement, Value,
};
use serde_json::json;
use tests::TestDb;
use tests::app::TestApp;
use tests::fixtures::{insert_audit, insert_tenant};

fn sql(text: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, text.to_owned())
}

async fn one_i32(reads: &ReadConnections, db: &DatabaseConnection, text: &str) -> i32 {
    let rows = reads.query_all(db, sql(text)).await.expect(text);
    rows[0].try_get_by_index::<i32>(0).expect("an int4 column")
}

fn text(row: &QueryResult, index: usize) -> String {
    row.try_get_by_index(index).expect("a text column")
}

#[tokio::test]
async fn pages_and_entitlements_share_one_read_connection() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap();
    for n in 0..3 {
        insert_audit(&app.db.db, Some(acme.id), None, &format!("crm.e{n}"))
            .await
            .unwrap();
    }
    let key = app
        .issue_key(acme.id, "k", &[Scope::AuditRead, Scope::TenantsRead], None)
        .await;
    assert_eq!(app.state.reads.open(), 0, "opened on demand only");
    for _ in 0..4 {
        let body = app
            .gql_ok(
                &key,
                "{ auditEvents(first: 2) { edges { node { action } } pageInfo { hasNextPage } } }",
                json!({}),
            )
            .await;
        assert_eq!(body["auditEvents"]["pageInfo"]["hasNextPage"], true);
        app.gql_ok(
            &key,
            "query($t: UUID!) { entitlement(tenantId: $t, product: \"crm\") { product } }",
            json!({ "t": acme.id }),
        )
        .await;
    }
    assert_eq!(
        (app.state.reads.open(), app.state.reads.idle()),
        (1, 1),
        "eight sequential reads ran on one connection, now idle"
    );
}

#[tokio::test]
async fn read_connections_carry_the_pools_session_settings() {
    let test = TestDb::migrated().await;
    let pool = api::startup::connect(test.url(), 2, Duration::from_millis(4321))
        .await
        .unwrap();
    let reads = ReadConnections::new(&pool, 2);
    let probe = "SELECT current_setting('plan_cache_mode'), current_setting('random_page_cost'), \
                 current_setting('statement_timeout'), current_setting('jit')";
    let row = &reads.query_all(&pool, sql(probe)).await.unwrap()[0];
    assert_eq!(reads.open(), 1, "the probe ran on a read connection");
    let settings: Vec<String> = (0..4).map(|i| text(row, i)).collect();
    assert_eq!(settings, ["force_custom_plan", "1.1", "4321ms", "off"]);
    let pooled = pool.query_one_raw(sql(probe)).await.unwrap().unwrap();
    assert_eq!(
        settings,
        (0..4).map(|i| text(&pooled, i)).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_failed_or_abandoned_statement_closes_its_connection() {
    let test = TestDb::migrated().await;
    let reads = ReadConnections::new(&test.db, 2);
    assert_eq!(one_i32(&reads, &test.db, "SELECT 1").await, 1);
    assert_eq!(reads.open(), 1);

    let failed = reads.query_all(&test.db, sql("SELECT 1 / 0")).await;
    assert!(matches!(failed, Err(DbErr::Query(_))), "{failed:?}");
    assert_eq!(
        reads.open(),
        0,
        "the failed statement's connection is closed"
    );

    let abandoned = tokio::time::timeout(
        Duration::from_millis(200),
        reads.query_all(&test.db, sql("SELECT pg_sleep(30)")),
    )
    .await;
    assert!(abandoned.is_err(), "the sleep was cut short by the timeout");
    assert_eq!(
        (reads.open(), reads.idle()),
        (0, 0),
        "a connection left mid-statement is not reused"
    );
    assert_eq!(one_i32(&reads, &test.db, "SELECT 2").await, 2);
    assert_eq!((reads.open(), reads.idle()), (1, 1));
    reads.close().await;
    assert_eq!((reads.open(), reads.idle()), (0, 0));
}

#[tokio::test]
async fn beyond_the_limit_statements_run_on_the_pool() {
    let test = TestDb::migrated().await;
    let reads = ReadConnections::new(&test.db, 1);
    let pid = "SELECT pg_backend_pid() FROM pg_sleep(0.3)";
    let (a, b) = tokio::join!(
        one_i32(&reads, &test.db, pid),
        one_i32(&reads, &test.db, pid)
    );
    assert_ne!(a, b, "the two ran at once, on two connections");
    assert_eq!(reads.open(), 1, "only one of them on a read connection");
    let none = ReadConnections::new(&test.db, 0);
    assert_eq!(one_i32(&none, &test.db, "SELECT 3").await, 3);
    assert_eq!(none.open(), 0, "a limit of 0 sends everything to the pool");
}

#[tokio::test]
async fn a_connection_cut_while_idle_costs_no_request() {
    let test = TestDb::migrated().await;
    let reads = ReadConnections::new(&test.db, 2);
    let first = one_i32(&reads, &test.db, "SELECT pg_backend_pid()").await;
    let terminated: bool = test
        .db
        .query_one_raw(sql(&format!("SELECT pg_terminate_backend({first}, 5000)")))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    assert!(terminated);
    let second = one_i32(&reads, &test.db, "SELECT pg_backend_pid()").await;
    assert_ne!(first, second, "answered on a new connection");
    assert_eq!((reads.open(), reads.idle()), (1, 1));
}

#[tokio::test]
async fn connections_idle_too_long_are_closed() {
    let test = TestDb::migrated().await;
    let reads = ReadConnections::new(&test.db, 2).idle_timeout(Duration::from_millis(100));
    let pid = "SELECT pg_backend_pid() FROM pg_sleep(0.2)";
    let (a, b) = tokio::join!(
        one_i32(&reads, &test.db, pid),
        one_i32(&reads, &test.db, pid)
    );
    assert_ne!(a, b);
    assert_eq!(reads.open(), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(one_i32(&reads, &test.db, "SELECT 4").await, 4);
    assert_eq!(
        (reads.open(), reads.idle()),
        (1, 1),
        "the connection left idle was closed when the other went back"
    );
}

async fn planned(
    reads: &ReadConnections,
    db: &DatabaseConnection,
    stmt: Statement,
    plans: PlanCache,
) -> QueryResult {
    let mut rows = reads.query_all_planned(db, stmt, plans).await.unwrap();
    assert_eq!(rows.len(), 1);
    rows.remove(0)
}

#[tokio::test]
async fn statements_asking_for_it_keep_a_generic_plan_and_the_others_are_planned_each_time() {
    use PlanCache::{Generic, Session};
    let test = TestDb::migrated().await;
    let pool = api::startup::connect(test.url(), 2, Duration::from_secs(10))
        .await
        .unwrap();
    let reads = ReadConnections::new(&pool, 1);
    let mode = || sql("SELECT current_setting('plan_cache_mode')");
    for (plans, expected) in [
        (Session, "force_custom_plan"),
        (Generic, "force_generic_plan"),
        (Session, "force_custom_plan"),
    ] {
        let row = planned(&reads, &pool, mode(), plans).await;
        assert_eq!(text(&row, 0), expected, "{plans:?}");
        assert_eq!(api::startup::plan_cache_mode(plans), expected);
    }
    assert_eq!(reads.open(), 1, "one connection, switched each time");

    // What PostgreSQL did with a prepared statement that has a parameter.
    let probe = || {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT $1::int4 + 0 AS plan_probe",
            [Value::from(1_i32)],
        )
    };
    let counts = || {
        sql(
            "SELECT generic_plans::int4, custom_plans::int4 FROM pg_prepared_statements \
             WHERE statement LIKE '%AS plan_probe'",
        )
    };
    let plans_made = |row: QueryResult| -> (i32, i32) {
        (
            row.try_get_by_index(0).unwrap(),
            row.try_get_by_index(1).unwrap(),
        )
    };
    for _ in 0..3 {
        planned(&reads, &pool, probe(), Generic).await;
    }
    let row = planned(&reads, &pool, counts(), Generic).await;
    assert_eq!(plans_made(row), (3, 0), "generic plans only");
    for _ in 0..2 {
        planned(&reads, &pool, probe(), Session).await;
    }
    let row = planned(&reads, &pool, counts(), Session).await;
    assert_eq!(plans_made(row), (3, 2), "then a custom plan per execution");
    assert_eq!(reads.open(), 1);
}

#[tokio::test]
async fn a_statement_takes_an_idle_connection_in_its_own_mode() {
    use PlanCache::{Generic, Session};
    let test = TestDb::migrated().await;
    let reads = ReadConnections::new(&test.db, 2);
    let pid =
        || sql("SELECT pg_backend_pid(), current_setting('plan_cache_mode') FROM pg_sleep(0.2)");
    let (generic, session) = tokio::join!(
        planned(&reads, &test.db, pid(), Generic),
        planned(&reads, &test.db, pid(), Session)
    );
    let pid_of = |row: &QueryResult| -> i32 { row.try_get_by_index(0).unwrap() };
    let (g, s) = (pid_of(&generic), pid_of(&session));
    assert_ne!(g, s, "two connections");
    assert_eq!(text(&generic, 1), "force_generic_plan");
    assert_eq!((reads.open(), reads.idle()), (2, 2));
    for (plans, expected) in [(Session, s), (Generic, g), (Generic, g), (Session, s)] {
        let row = planned(&reads, &test.db, pid(), plans).await;
        assert_eq!(
            pid_of(&row),
            expected,
            "{plans:?} ran on the connection in its mode"
        );
    }
    assert_eq!((reads.open(), reads.idle()), (2, 2));
}

#[tokio::test]
async fn a_request_cancelled_while_its_connection_opens_holds_no_place() {
    let test = TestDb::migrated().await;
    let reads = ReadConnections::new(&test.db, 1);
    for plans in [PlanCache::Session, PlanCache::Generic] {
        for _ in 0..5 {
            // Cancelled at the first timer tick: while connecting (authentication takes
            // milliseconds), or while switching the new connection's mode.
            let cancelled = tokio::time::timeout(
                Duration::from_micros(1),
                reads.query_all_planned(&test.db, sql("SELECT 1"), plans),
            )
            .await;
            assert!(cancelled.is_err(), "cut short");
            assert_eq!(
                reads.open(),
                reads.idle(),
                "every counted connection is an idle one ({plans:?})"
            );
        }
    }
    assert_eq!(
        one_i32(&reads, &test.db, "SELECT 5").await,
        5,
        "the limit is free"
    );
    assert_eq!(reads.open(), 1);
}
