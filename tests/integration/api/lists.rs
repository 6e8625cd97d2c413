//! List filters (`tenantIds`, `products` with or without the portal's events, `actions`,
//! `targetTypes`) read one listed value per branch and merged (`api::audit::merge`): pages in both orders, through
//! instants every branch shares and values listed twice, hold exactly what plain SQL finds;
//! and which lists are split, and when not.

use api::audit::filter::{AuditEventFilter, PortalEvents};
use api::audit::free_text::TextMatch;
use api::audit::merge::MAX_BRANCHES;
use api::audit::store::{AuditOrder, Columns, page_statement};
use bench::shapes::{Caller, principal};
use chrono::{Duration, TimeZone, Utc};
use entity::scope::Scope;
use registry::auth::Principal;
use sea_orm::sea_query::Condition;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tests::app::{Ev, TestApp, edge_ids};
use tests::fixtures::{insert_project, insert_tenant};
use uuid::Uuid;

const PAGE: &str = "query($f: AuditEventFilter, $a: String, $o: AuditOrder!) {
  auditEvents(filter: $f, first: 4, after: $a, order: $o) {
    totalCount edges { node { id } } pageInfo { hasNextPage endCursor }
  }
}";

const PRODUCTS: [Option<&str>; 4] = [Some("crm"), Some("billing"), Some("analytics"), None];
const ACTIONS: [&str; 3] = ["crm.deal.won", "billing.invoice.paid", "user.login"];
const TARGET_TYPES: [Option<&str>; 5] = [
    Some("deal"),
    Some("invoice"),
    None,
    Some("idp"),
    Some("user"),
];

/// Every page of `filter` in `order`, through the cursor.
async fn walk(app: &TestApp, key: &str, filter: &Value, order: &str) -> (Vec<i64>, Value) {
    let (mut seen, mut after) = (Vec::new(), None::<String>);
    for _ in 0..100 {
        let data = app
            .gql_ok(key, PAGE, json!({"f": filter, "a": after, "o": order}))
            .await;
        let page = &data["auditEvents"];
        seen.extend(edge_ids(page));
        if page["pageInfo"]["hasNextPage"] == false {
            return (seen, page["totalCount"].clone());
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    panic!("{filter}: paging does not end");
}

#[tokio::test]
async fn list_filters_page_through_exactly_what_plain_sql_finds() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let (mut tenants, mut projects) = (Vec::new(), Vec::new());
    for slug in ["acme", "globex", "initech"] {
        let tenant = insert_tenant(&app.db.db, slug).await.expect("tenant").id;
        tenants.push(tenant);
        for project in ["web", "mobile"] {
            let project = insert_project(&app.db.db, tenant, project).await;
            projects.push(project.expect("project").id);
        }
    }
    let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    // 6 instants, each shared by events of every tenant, product and action: the order of
    // rows from different branches at one instant is decided by their ids alone.
    for i in 0..72usize {
        Ev {
            product: PRODUCTS[i % 4],
            action: ACTIONS[(i / 4) % 3],
            target_type: TARGET_TYPES[i % 5],
            project: (i % 3 < 2).then(|| projects[(i / 12) % 3 * 2 + i % 3]),
            ..Ev::new(
                tenants[(i / 12) % 3],
                t0 + Duration::minutes((i % 6) as i64),
            )
        }
        .insert(&app.db)
        .await;
    }
    let platform = app.platform_key(&[Scope::AuditRead]).await;
    let acme = app
        .issue_key(tenants[0], "acme", &[Scope::AuditRead], None)
        .await;
    let (a, b) = (tenants[0].to_string(), tenants[1].to_string());
    let [pa1, pa2, pb1, pb2] = [0, 1, 2, 3].map(|i| projects[i].to_string());
    let cases = [
        (
            &acme,
            json!({"products": ["crm", "billing"]}),
            "tenant_id = '{a}' AND product IN ('crm', 'billing')",
        ),
        (
            &acme,
            json!({"products": ["crm", "nowhere", "crm"], "portal": "INCLUDE"}),
            "tenant_id = '{a}' AND (product = 'crm' OR product IS NULL)",
        ),
        (
            &acme,
            json!({"actions": ["user.login", "crm.deal.won", "user.login"]}),
            "tenant_id = '{a}' AND action IN ('user.login', 'crm.deal.won')",
        ),
        (
            &acme,
            json!({"products": ["crm", "analytics"], "actions": ["user.login", "crm.deal.won"]}),
            "tenant_id = '{a}' AND product IN ('crm', 'analytics') AND action IN ('user.login', 'crm.deal.won')",
        ),
        (
            &acme,
            json!({"tenantIds": [a, a], "products": ["billing", "analytics"]}),
            "tenant_id = '{a}' AND product IN ('billing', 'analytics')",
        ),
        (
            &platform,
            json!({"tenantIds": [a, b, a]}),
            "tenant_id IN ('{a}', '{b}')",
        ),
        (
            &platform,
            json!({"tenantIds": [a, b], "products": ["crm", "analytics"], "portal": "INCLUDE"}),
            "tenant_id IN ('{a}', '{b}') AND (product IN ('crm', 'analytics') OR product IS NULL)",
        ),
        (
            &platform,
            json!({"tenantIds": [b, a], "actions": ["crm.deal.won", "user.login"], "actionPrefix": "crm."}),
            "tenant_id IN ('{a}', '{b}') AND action = 'crm.deal.won'",
        ),
        (
            &platform,
            json!({"products": ["analytics", "billing"]}),
            "product IN ('analytics', 'billing')",
        ),
        (
            &acme,
            json!({"projectIds": [pa1, pa2, pa1]}),
            "project_id IN ('{pa1}', '{pa2}')",
        ),
        (
            &platform,
            json!({"projectIds": [pa1, pb1], "tenantIds": [a, b]}),
            "project_id IN ('{pa1}', '{pb1}') AND tenant_id IN ('{a}', '{b}')",
        ),
        (
            &platform,
            json!({"projectIds": [pa2, pb2], "products": ["crm", "billing"]}),
            "project_id IN ('{pa2}', '{pb2}') AND product IN ('crm', 'billing')",
        ),
        (
            &acme,
            json!({"targetTypes": ["idp", "invoice", "idp", "nothing"]}),
            "tenant_id = '{a}' AND target_type IN ('idp', 'invoice')",
        ),
        (
            &platform,
            json!({"tenantIds": [a, b], "targetTypes": ["deal", "user"], "actions": ["user.login", "crm.deal.won"]}),
            "tenant_id IN ('{a}', '{b}') AND target_type IN ('deal', 'user') AND action IN ('user.login', 'crm.deal.won')",
        ),
        (
            &platform,
            json!({"products": ["analytics", "billing"], "portal": "INCLUDE", "since": (t0 + Duration::minutes(2)).to_rfc3339()}),
            "(product IN ('analytics', 'billing') OR product IS NULL) AND created_at >= '{since}'",
        ),
    ];
    let since = (t0 + Duration::minutes(2)).to_rfc3339();
    for (key, filter, sql) in cases {
        let sql = sql
            .replace("{pa1}", &pa1)
            .replace("{pa2}", &pa2)
            .replace("{pb1}", &pb1)
            .replace("{pb2}", &pb2)
            .replace("{a}", &a)
            .replace("{b}", &b)
            .replace("{since}", &since);
        for (order, direction) in [("NEWEST_FIRST", "DESC"), ("OLDEST_FIRST", "ASC")] {
            let expected: Vec<i64> = app
                .db
                .db
                .query_all_raw(Statement::from_string(
                    app.db.db.get_database_backend(),
                    format!("SELECT id FROM audit_log WHERE {sql} ORDER BY created_at {direction}, id {direction}"),
                ))
                .await
                .expect("plain SQL")
                .iter()
                .map(|r| r.try_get_by_index(0).expect("id"))
                .collect();
            assert!(
                expected.len() > 4,
                "{filter}: more than a page ({})",
                expected.len()
            );
            let (seen, total) = walk(&app, key, &filter, order).await;
            assert_eq!(
                seen, expected,
                "{filter} {order}: every row once, in order\n{sql}"
            );
            assert_eq!(total, expected.len(), "{filter}: totalCount");
        }
    }
}

/// The number of branches the server reads a filter's page in (1: one statement).
fn branches(caller: Caller, filter: &AuditEventFilter) -> usize {
    conditions(&principal(caller, Uuid::nil()), filter, TextMatch::Indexed).len()
}

fn conditions(who: &Principal, filter: &AuditEventFilter, text: TextMatch) -> Vec<Condition> {
    let condition = filter
        .condition_with(who, text)
        .expect("an accepted filter");
    let order = AuditOrder::NewestFirst;
    filter
        .page_conditions(who, text, order, None, &condition)
        .unwrap()
}

#[test]
fn which_lists_are_split() {
    let tenant = Caller::Tenant(Uuid::from_u128(1));
    let ids = |n: u128| (1..=n).map(Uuid::from_u128).collect::<Vec<_>>();
    let names = |n: usize| (0..n).map(|i| format!("p{i}")).collect::<Vec<_>>();
    let filter = |tenant_ids: Option<Vec<Uuid>>, products: Option<Vec<String>>| AuditEventFilter {
        tenant_ids,
        products,
        ..AuditEventFilter::default()
    };
    // One value (after repeats are dropped) is one statement.
    assert_eq!(branches(tenant, &filter(None, Some(names(1)))), 1);
    assert_eq!(
        branches(Caller::Platform, &filter(Some(vec![ids(1)[0]; 3]), None)),
        1
    );
    assert_eq!(branches(Caller::Platform, &filter(Some(ids(3)), None)), 3);
    assert_eq!(branches(tenant, &filter(None, Some(names(2)))), 2);
    // The portal's events are a branch of their own.
    let with_portal = AuditEventFilter {
        portal: Some(PortalEvents::Include),
        ..filter(None, Some(names(1)))
    };
    assert_eq!(branches(tenant, &with_portal), 2);
    // Tenants × products, while within MAX_BRANCHES; beyond, the products stay one list.
    assert_eq!(
        branches(Caller::Platform, &filter(Some(ids(4)), Some(names(4)))),
        16
    );
    assert_eq!(
        branches(Caller::Platform, &filter(Some(ids(5)), Some(names(4)))),
        5
    );
    assert_eq!(
        branches(Caller::Platform, &filter(Some(ids(17)), Some(names(2)))),
        2
    );
    assert_eq!(MAX_BRANCHES, 16);
    // Projects are split first, and tenants then not at all.
    let projects = |tenant_ids, products| AuditEventFilter {
        project_ids: Some(ids(3)),
        ..filter(tenant_ids, products)
    };
    assert_eq!(branches(tenant, &projects(None, None)), 3);
    assert_eq!(branches(Caller::Platform, &projects(None, None)), 3);
    assert_eq!(branches(Caller::Platform, &projects(Some(ids(2)), None)), 3);
    assert_eq!(
        branches(Caller::Platform, &projects(Some(ids(2)), Some(names(2)))),
        6
    );
    // Actions are kept in time order only within a tenant.
    let actions = |tenant_ids| AuditEventFilter {
        tenant_ids,
        actions: Some(names(3)),
        ..AuditEventFilter::default()
    };
    assert_eq!(branches(tenant, &actions(None)), 3);
    assert_eq!(branches(Caller::Platform, &actions(Some(ids(2)))), 6);
    assert_eq!(branches(Caller::Platform, &actions(None)), 1);
    // So are its kinds of target, after the actions.
    let types = |tenant_ids| AuditEventFilter {
        target_types: Some(names(5)),
        ..actions(tenant_ids)
    };
    assert_eq!(branches(tenant, &types(None)), 15);
    assert_eq!(branches(Caller::Platform, &types(Some(ids(2)))), 6);
    assert_eq!(branches(Caller::Platform, &types(None)), 1);
    // Rows found through a GIN index are not looked up once per branch.
    let gin = [
        AuditEventFilter {
            query: Some("\"contact_0292\"".into()),
            ..filter(None, Some(names(2)))
        },
        AuditEventFilter {
            metadata: Some(async_graphql::Json(json!({"reason": "x"}))),
            ..filter(None, Some(names(2)))
        },
    ];
    assert_eq!(branches(tenant, &gin[0]), 1);
    assert_eq!(branches(Caller::Platform, &gin[1]), 1);
    // Within a tenant metadata is read through its terms, which each branch can use.
    assert_eq!(branches(tenant, &gin[1]), 2);
    // Words matched row by row (a small tenant) need no index either.
    let principal = principal(tenant, Uuid::nil());
    assert_eq!(
        conditions(&principal, &gin[0], TextMatch::RowByRow).len(),
        2
    );

    // The statement: one ordered, limited select per branch, merged under the page's limit.
    let split = filter(None, Some(names(3)));
    let statement = page_statement(
        conditions(&principal, &split, TextMatch::Indexed),
        AuditOrder::OldestFirst,
        50,
        None,
        Columns::ALL,
    );
    let sql = &statement.sql;
    assert_eq!(sql.matches("UNION ALL").count(), 2, "{sql}");
    assert_eq!(sql.matches(" ASC LIMIT $").count(), 4, "{sql}");
    assert!(
        sql.contains(") AS \"audit_log\" ORDER BY \"audit_log\".\"created_at\" ASC"),
        "{sql}"
    );
    let limits = statement.values.iter().flat_map(|v| v.0.iter());
    let limits = limits.filter(|v| **v == sea_orm::Value::BigUnsigned(Some(51)));
    assert_eq!(limits.count(), 4, "each branch and the page: 50 + 1 rows");
    // No conditions read nothing, never everything.
    let none = page_statement(Vec::new(), AuditOrder::NewestFirst, 50, None, Columns::ALL);
    assert!(none.sql.contains("WHERE FALSE"), "{}", none.sql);
}
