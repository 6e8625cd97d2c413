//! Free text is matched row by row in a small tenant and through the trigram index otherwise
//! (`api::audit::free_text`): the tenant's size decides, counted and remembered, and both ways
//! find exactly the same events.

use api::audit::filter::AuditEventFilter;
use api::audit::free_text::{ROW_BY_ROW_EVENTS, TenantSizes, TextMatch};
use api::audit::store::{AuditOrder, page_statement};
use bench::shapes::{Caller, principal};
use entity::scope::Scope;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use tests::TestDb;
use tests::app::{TestApp, edge_ids};
use tests::fixtures::insert_tenant;
use uuid::Uuid;

/// `count` events of `tenant`, one statement.
async fn events(db: &TestDb, tenant: Uuid, count: i64) {
    db.db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO audit_log (tenant_id, action) \
             SELECT $1, 'test.event' FROM generate_series(1, $2)",
            [tenant.into(), count.into()],
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tenant_over_the_bound_is_searched_through_the_index_and_its_size_remembered() {
    let db = TestDb::migrated().await;
    let small = insert_tenant(&db.db, "small").await.unwrap().id;
    let large = insert_tenant(&db.db, "large").await.unwrap().id;
    let empty = insert_tenant(&db.db, "empty").await.unwrap().id;
    events(&db, small, ROW_BY_ROW_EVENTS).await;
    events(&db, large, ROW_BY_ROW_EVENTS + 1).await;

    let sizes = TenantSizes::default();
    let how = async |tenant| sizes.text_match(&db.db, tenant).await.unwrap();
    assert_eq!(how(small).await, TextMatch::RowByRow, "at the bound");
    assert_eq!(how(large).await, TextMatch::Indexed, "one over it");
    assert_eq!(how(empty).await, TextMatch::RowByRow);

    // The size is remembered: the small tenant grows past the bound, and the choice stays
    // until the size is counted again (a new `TenantSizes` counts it).
    events(&db, small, 1).await;
    assert_eq!(how(small).await, TextMatch::RowByRow);
    assert_eq!(
        TenantSizes::default()
            .text_match(&db.db, small)
            .await
            .unwrap(),
        TextMatch::Indexed
    );
}

#[tokio::test]
async fn both_ways_of_matching_a_word_find_the_events_the_server_finds() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = insert_tenant(&app.db.db, "acme").await.unwrap().id;
    let key = app
        .issue_key(acme, "reader", &[Scope::AuditRead], None)
        .await;
    // (action, actor id, actor name, target id, target name, description): NULLs, case,
    // wildcards, quotes and backslashes in each of the six fields.
    let rows: [[Option<&str>; 6]; 6] = [
        [
            Some("crm.contact.created"),
            Some("u1"),
            Some("Ada Lovelace"),
            Some("contact_1"),
            None,
            None,
        ],
        [
            Some("billing.invoice.paid"),
            None,
            None,
            Some("invoice_100%"),
            Some("INV-2026-001"),
            Some("Paid in full"),
        ],
        [
            Some("user.login"),
            Some("o'brien"),
            Some("Zoë ÅSTRÖM"),
            None,
            None,
            Some("back\\slash a_b"),
        ],
        [
            Some("crm.deal.won"),
            Some("svc"),
            None,
            Some("deal_42"),
            Some("Big deal"),
            Some("zoë åström won"),
        ],
        [Some("tenant.updated"), None, None, None, None, None],
        [
            Some("idp.configured"),
            Some("x%_\\y"),
            Some("ada"),
            Some("idp_7"),
            Some("Okta"),
            Some("say \"hi\""),
        ],
    ];
    for [
        action,
        actor_id,
        actor_name,
        target_id,
        target_name,
        description,
    ] in rows
    {
        app.db
            .db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO audit_log (tenant_id, action, actor_id, actor_name, target_id, \
                 target_name, metadata) VALUES ($1, $2, $3, $4, $5, $6, \
                 jsonb_strip_nulls(jsonb_build_object('description', $7::text)))",
                [
                    acme.into(),
                    action.into(),
                    actor_id.into(),
                    actor_name.into(),
                    target_id.into(),
                    target_name.into(),
                    description.into(),
                ],
            ))
            .await
            .unwrap();
    }
    let query = "query($f: AuditEventFilter) { auditEvents(filter: $f) { edges { node { id } } } }";
    let columns = api::graphql::page_columns(query).unwrap();
    let principal = principal(Caller::Tenant(acme), acme);
    let mut unmatched = Vec::new();
    let words = [
        "ada",
        "ADA",
        "lovelace",
        "contact",
        "100%",
        "invoice_100",
        "inv-2026",
        "paid in",
        "o'brien",
        "ZOË",
        "åström",
        "back\\slash",
        "a_b",
        "x%_\\y",
        "say",
        "deal_4",
        "crm.deal",
        "tenant.updated",
        "zzz",
        "%%%",
        "okta",
    ]
    .map(|word| format!("\"{word}\""));
    // Keyed terms on fields of the free text, which also look their values up in it.
    let keyed = [
        "actor.name:\"Ada Lovelace\"",
        "actor.name:ada",
        "actor.name:\"zoë åström\"",
        "target.name:INV-2026-001",
        "target.name:INV-2026-001,Okta",
        "target.name:okta",
        "description:\"Paid in full\"",
        "description:say",
        "-target.name:Okta",
        "-description:\"Paid in full\" actor.name:\"Ada Lovelace\"",
    ]
    .map(str::to_owned);
    for search in words.iter().chain(&keyed) {
        let filter = AuditEventFilter {
            query: Some(search.clone()),
            ..AuditEventFilter::default()
        };
        let mut found = Vec::new();
        for how in [TextMatch::Indexed, TextMatch::RowByRow] {
            let condition = filter.condition_with(&principal, how).unwrap();
            let page = page_statement(vec![condition], AuditOrder::NewestFirst, 50, None, columns);
            let ids: Vec<i64> = app
                .db
                .db
                .query_all_raw(page)
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get("", "id").unwrap())
                .collect();
            found.push(ids);
        }
        let served = app
            .gql_ok(&key, query, json!({"f": {"query": search}}))
            .await;
        found.push(edge_ids(&served["auditEvents"]));
        assert!(
            found.iter().all(|ids| *ids == found[0]),
            "{search}: indexed, row by row, the server: {found:?}"
        );
        if found[0].is_empty() {
            unmatched.push(search.as_str());
        }
    }
    assert_eq!(
        unmatched,
        [
            "\"zzz\"",
            "\"%%%\"",
            "actor.name:\"zoë åström\"",
            "target.name:okta",
            "description:say",
        ],
        "the searches none of the events match (keyed terms are exact)"
    );
}

#[tokio::test]
async fn the_server_matches_a_small_tenant_row_by_row_and_a_large_one_by_the_index() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let small = insert_tenant(&app.db.db, "small").await.unwrap().id;
    let large = insert_tenant(&app.db.db, "large").await.unwrap().id;
    events(&app.db, small, 5).await;
    events(&app.db, large, ROW_BY_ROW_EVENTS + 1).await;
    let query = "query($f: AuditEventFilter) { auditEvents(filter: $f) { edges { node { id } } } }";
    // The statements the server's sessions ran last that match free text, and how (this
    // test's database only: other tests run beside it on the same cluster).
    let last_statements = async || -> Vec<&'static str> {
        let rows = app
            .db
            .db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT CASE WHEN query LIKE '%ILIKE%' THEN 'indexed' ELSE 'row by row' END \
                 FROM pg_stat_activity WHERE datname = current_database() \
                 AND pid <> pg_backend_pid() AND query LIKE '%chr(31)%'",
            ))
            .await
            .unwrap();
        let mut ways: Vec<&str> = rows
            .iter()
            .map(
                |r| match r.try_get_by_index::<String>(0).unwrap().as_str() {
                    "indexed" => "indexed",
                    _ => "row by row",
                },
            )
            .collect();
        ways.sort();
        ways
    };
    // The small tenant first: nothing before it matched free text.
    for (tenant, expected) in [(small, ["row by row"]), (large, ["indexed"])] {
        let key = app.issue_key(tenant, "r", &[Scope::AuditRead], None).await;
        let data = app
            .gql_ok(&key, query, json!({"f": {"query": "event"}}))
            .await;
        assert!(!edge_ids(&data["auditEvents"]).is_empty());
        let ways = last_statements().await;
        assert!(ways.contains(&expected[0]), "{ways:?}");
        if tenant == small {
            assert_eq!(ways, expected);
        }
    }
}
