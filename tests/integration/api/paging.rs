//! Keyset paging: every row exactly once, in both orders, ties on `created_at` included.

use chrono::{Duration, TimeZone, Utc};
use entity::scope::Scope;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use tests::app::{Ev, TestApp, edge_ids};
use tests::fixtures::insert_tenant;

const PAGE: &str = "query($a: String, $o: AuditOrder!) {
  auditEvents(first: 7, after: $a, order: $o) {
    totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor }
  }
}";

#[tokio::test]
async fn pages_of_seven_walk_the_whole_log_once_in_both_orders() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.expect("tenant");
    let other = insert_tenant(&app.db.db, "globex").await.expect("tenant");
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    // 10 instants with 5 events each: ties that only the id breaks.
    for i in 0..50 {
        Ev::new(acme.id, t0 + Duration::minutes(i % 10))
            .insert(&app.db)
            .await;
        if i % 5 == 0 {
            Ev::new(other.id, t0 + Duration::minutes(i % 10))
                .insert(&app.db)
                .await;
        }
    }
    let key = app
        .issue_key(acme.id, "reader", &[Scope::AuditRead], None)
        .await;

    for (order, sql_order) in [("NEWEST_FIRST", "DESC"), ("OLDEST_FIRST", "ASC")] {
        let expected: Vec<i64> = app
            .db
            .db
            .query_all_raw(Statement::from_string(
                app.db.db.get_database_backend(),
                format!("SELECT id FROM audit_log WHERE tenant_id = '{}' ORDER BY created_at {sql_order}, id {sql_order}", acme.id),
            ))
            .await
            .expect("ids")
            .iter()
            .map(|r| r.try_get_by_index(0).expect("id"))
            .collect();
        assert_eq!(expected.len(), 50);

        let (mut seen, mut after, mut pages) = (Vec::new(), None::<String>, 0);
        loop {
            let data = app
                .gql_ok(&key, PAGE, json!({"a": after, "o": order}))
                .await;
            let page = &data["auditEvents"];
            assert_eq!(page["totalCount"], 50, "totalCount ignores the cursor");
            let ids = edge_ids(page);
            assert!(ids.len() <= 7);
            seen.extend(ids);
            pages += 1;
            if page["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            assert!(pages < 20, "paging does not end");
        }
        assert_eq!(seen, expected, "{order}: every row once, in order");
        assert_eq!(pages, 8);
    }
}
