//! `auditEvents` writes its edges without the generic resolvers (`api::graphql::audit_page`).
//! These tests hold it to the generic path: every field the schema declares on `AuditEvent`
//! and its object fields (found by introspection, so a field added later is covered), and the
//! GraphQL selection features (aliases, fragments, repeated fields, `__typename`).

use entity::scope::Scope;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tests::app::TestApp;
use tests::fixtures::insert_tenant;

/// Every field of `type_name`, object fields expanded (with `__typename` at each level).
async fn every_field(app: &TestApp, key: &str, type_name: &str) -> String {
    let data = app
        .gql_ok(
            key,
            "query($t: String!) { __type(name: $t) { fields { name type { kind name ofType { kind name } } } } }",
            json!({ "t": type_name }),
        )
        .await;
    let mut selection = vec!["__typename".to_owned()];
    for field in data["__type"]["fields"].as_array().expect("fields") {
        let name = field["name"].as_str().expect("name");
        let ty = &field["type"];
        let (kind, inner) = if ty["kind"] == "NON_NULL" {
            (&ty["ofType"]["kind"], &ty["ofType"]["name"])
        } else {
            (&ty["kind"], &ty["name"])
        };
        if kind == "OBJECT" {
            let inner = inner.as_str().expect("object type name");
            let sub = Box::pin(every_field(app, key, inner)).await;
            selection.push(format!("{name} {{ {sub} }}"));
        } else {
            selection.push(name.to_owned());
        }
    }
    selection.join(" ")
}

async fn seed(app: &TestApp) -> String {
    let tenant = insert_tenant(&app.db.db, "fastpath").await.expect("tenant");
    let rows = [
        // Every column set, an address and a network, nested and unicode metadata.
        format!(
            "('{t}', 'crm', 'crm.contact.created', 'u-1', 'Zoë \"Q\" O''Neil', 'user', 'c-9', 'contact', 'ACME ✓', \
             '{{\"n\": 1.5, \"big\": 12345678901, \"nested\": {{\"list\": [1, \"two\", null, true]}}, \"emoji\": \"🦀\"}}', \
             '203.0.113.7', 'curl/8 \\\\ \"x\"', '2026-03-01 10:00:00.123456+00', \
             '6f1c8a7e-2d5b-4e1f-9a3c-0b7d6e5f4a31', 'crm-publisher')",
            t = tenant.id
        ),
        format!(
            "('{t}', 'billing', 'billing.invoice.paid', NULL, NULL, NULL, NULL, NULL, NULL, '{{}}', \
             '10.0.0.0/8', NULL, '2026-03-01 09:00:00+00', '00000000-0000-0000-0000-000000000001', NULL)",
            t = tenant.id
        ),
        format!(
            "('{t}', NULL, 'tenant.updated', 'system', NULL, 'system', NULL, 'tenant', NULL, '{{\"a\": []}}', \
             '2001:db8::1', 'portal', '2026-03-01 08:00:00+00', NULL, NULL)",
            t = tenant.id
        ),
    ];
    let sql = format!(
        "INSERT INTO audit_log (tenant_id, product, action, actor_id, actor_name, actor_type, target_id, \
         target_type, target_name, metadata, source_ip, user_agent, created_at, recorded_by, \
         recorded_by_name) VALUES {}",
        rows.join(", ")
    );
    app.db
        .db
        .execute_raw(Statement::from_string(
            app.db.db.get_database_backend(),
            sql,
        ))
        .await
        .expect("events");
    app.issue_key(tenant.id, "reader", &[Scope::AuditRead], None)
        .await
}

#[tokio::test]
async fn every_field_of_a_page_is_what_the_generic_resolvers_give() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let key = seed(&app).await;
    let node = every_field(&app, &key, "AuditEvent").await;
    assert!(
        node.contains("metadata") && node.contains("actor {") && node.contains("createdAt"),
        "introspection found the fields: {node}"
    );
    let page = app
        .gql_ok(
            &key,
            &format!(
                "{{ auditEvents(first: 10) {{ edges {{ __typename cursor node {{ {node} }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let edges = page["auditEvents"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 3);
    for edge in edges {
        assert_eq!(edge["__typename"], "AuditEventEdge");
        assert!(edge["cursor"].as_str().is_some_and(|c| !c.is_empty()));
        let id = edge["node"]["id"].as_str().expect("id");
        let single = app
            .gql_ok(
                &key,
                &format!("query($id: ID!) {{ auditEvent(id: $id) {{ {node} }} }}"),
                json!({ "id": id }),
            )
            .await;
        assert_eq!(edge["node"], single["auditEvent"], "event {id}");
    }
    // The values themselves, not only their agreement.
    let first = &edges[0]["node"];
    assert_eq!(first["actor"]["name"], "Zoë \"Q\" O'Neil");
    assert_eq!(
        first["metadata"]["nested"]["list"],
        json!([1, "two", null, true])
    );
    assert_eq!(first["metadata"]["big"], json!(12345678901_i64));
    assert_eq!(first["sourceIp"], "203.0.113.7");
    assert_eq!(edges[1]["node"]["sourceIp"], "10.0.0.0/8");
    assert_eq!(edges[1]["node"]["actor"]["id"], Value::Null);
    assert_eq!(edges[2]["node"]["product"], Value::Null);
    assert_eq!(
        first["recordedBy"],
        json!({"__typename": "RecordedBy", "keyId": "6f1c8a7e-2d5b-4e1f-9a3c-0b7d6e5f4a31", "name": "crm-publisher"})
    );
    assert_eq!(
        edges[1]["node"]["recordedBy"],
        json!({"__typename": "RecordedBy", "keyId": "00000000-0000-0000-0000-000000000001", "name": null})
    );
    assert_eq!(edges[2]["node"]["recordedBy"], Value::Null);
}

#[tokio::test]
async fn aliases_fragments_and_repeated_fields_shape_the_page_as_graphql_says() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let key = seed(&app).await;
    let query = "query {
      auditEvents(first: 2) {
        edges {
          at: cursor
          node { ...Who when: createdAt }
          node { id actor { type } ... on AuditEvent { what: action } }
        }
        edges { node { target { id } } }
      }
    }
    fragment Who on AuditEvent { id actor { id } whom: target { __typename name } }";
    // The raw text: the order of the members is part of the answer (selection order, a
    // repeated field where it first appears).
    let text = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(&key)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    let first_edge = text.split("},{\"at\"").next().expect("first edge");
    assert_order(
        first_edge,
        &[
            "\"at\"",
            "\"node\"",
            "\"id\"",
            "\"actor\"",
            "\"whom\"",
            "\"when\"",
            "\"what\"",
            "\"target\"",
        ],
    );
    assert_order(first_edge, &["\"actor\":{\"id\"", "\"type\""]);
    let page: Value = serde_json::from_str(&text).expect("JSON");
    let first = &page["data"]["auditEvents"]["edges"][0];
    let node = first["node"].as_object().expect("node");
    assert_eq!(node.len(), 6);
    assert_eq!(
        node["target"],
        json!({ "id": "c-9" }),
        "a second `edges` merges in"
    );
    assert_eq!(node["actor"], json!({ "id": "u-1", "type": "user" }));
    assert_eq!(
        node["whom"],
        json!({ "__typename": "Target", "name": "ACME ✓" })
    );
    assert_eq!(node["what"], "crm.contact.created");
    assert_eq!(node["when"], "2026-03-01T10:00:00.123456+00:00");
    assert!(first["at"].as_str().is_some_and(|c| !c.is_empty()));
    // @skip / @include are applied before the page is written.
    let page = app
        .gql_ok(
            &key,
            "query($no: Boolean!) { auditEvents(first: 1) { edges { node { id action @skip(if: $no) product @include(if: $no) } } } }",
            json!({ "no": true }),
        )
        .await;
    let node = page["auditEvents"]["edges"][0]["node"]
        .as_object()
        .expect("node");
    let keys: Vec<&str> = node.keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "product"]);
}

/// Each of `needles` occurs in `text`, in this order.
fn assert_order(text: &str, needles: &[&str]) {
    let mut from = 0;
    for needle in needles {
        let at = text[from..]
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} after byte {from} in {text}"));
        from += at + needle.len();
    }
}

/// `PageRow` reads the page's columns by position: the statement must list the selected ones
/// in the entity's declaration order.
#[test]
fn pages_select_the_columns_in_the_order_page_rows_read_them() {
    use api::audit::store::{AuditOrder, Columns, page_statement};
    use entity::audit_log::Column;
    use sea_orm::sea_query::Condition;
    use sea_orm::{IdenStatic, Iterable};

    let listed = |columns: Columns| {
        let sql = page_statement(
            vec![Condition::all()],
            AuditOrder::NewestFirst,
            50,
            None,
            columns,
        )
        .sql;
        sql.strip_prefix("SELECT ")
            .and_then(|rest| rest.split(" FROM ").next())
            .expect("a SELECT")
            .to_owned()
    };
    let quoted = |columns: &[Column]| {
        columns
            .iter()
            .map(|c| format!("\"audit_log\".\"{}\"", c.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    assert_eq!(
        listed(Columns::ALL),
        quoted(&Column::iter().collect::<Vec<_>>())
    );
    assert_eq!(
        listed(Columns::KEYS),
        quoted(&[Column::Id, Column::CreatedAt])
    );
    // Asked for out of order, listed in declaration order.
    let some = Columns::of([Column::Product, Column::ActorId, Column::Metadata]);
    assert_eq!(
        listed(some),
        quoted(&[
            Column::Id,
            Column::ActorId,
            Column::Product,
            Column::Metadata,
            Column::CreatedAt
        ])
    );
}

/// The columns a page request's text selects are what the server selects for it: the keys
/// always, then exactly what the fields show.
#[test]
fn page_columns_follow_the_fields_asked_for() {
    use api::audit::store::Columns;
    use api::graphql::page_columns;
    use entity::audit_log::Column;

    let page = |node: &str| {
        format!(
            "{{ auditEvents {{ edges {{ cursor node {{ {node} }} }} pageInfo {{ hasNextPage }} }} }}"
        )
    };
    assert_eq!(page_columns(&page("id")), Ok(Columns::KEYS));
    assert_eq!(
        page_columns(&page("createdAt __typename")),
        Ok(Columns::KEYS)
    );
    assert_eq!(
        page_columns(&page(
            "id action product createdAt actor { id } target { id }"
        )),
        Ok(Columns::of([
            Column::Action,
            Column::Product,
            Column::ActorId,
            Column::TargetId
        ]))
    );
    assert_eq!(
        page_columns(&page(
            "id tenantId projectId product action metadata sourceIp userAgent createdAt \
             actor { id name type } target { id type name } recordedBy { keyId name }"
        )),
        Ok(Columns::ALL)
    );
    assert_eq!(
        page_columns(&page("recordedBy { __typename }")),
        Ok(Columns::of([Column::RecordedBy])),
        "whether recordedBy is null is its key's id: read even when only the type is asked"
    );
    assert_eq!(
        page_columns("{ auditEvents { totalCount } }"),
        Ok(Columns::KEYS),
        "no edges: the keys only"
    );
    assert!(page_columns("{ viewer { name } }").is_err());
}

/// The page statement lists its columns directly; it must stay the statement sea-orm's own
/// `AuditLog::find()` writes for those columns, values included, for every order and with or
/// without a cursor.
#[test]
fn the_page_statement_is_the_one_sea_orms_select_writes() {
    use api::audit::cursor::Cursor;
    use api::audit::store::{AuditOrder, Columns, page_statement};
    use entity::audit_log::Column;
    use entity::prelude::AuditLog;
    use sea_orm::sea_query::{Condition, Expr, ExprTrait};
    use sea_orm::{
        DbBackend, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    };

    let tenant = uuid::Uuid::from_u128(7);
    let conditions = [
        Condition::all(),
        Condition::all()
            .add(Expr::col(Column::TenantId).eq(tenant))
            .add(Condition::all())
            .add(Expr::col(Column::Product).is_in(["crm", "billing"]))
            .add(Expr::col(Column::Action).like("crm.%")),
    ];
    let cursor = Cursor {
        created_at: chrono::DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
        id: 42,
    };
    let column_sets = [
        Columns::ALL,
        Columns::of([Column::Action, Column::Metadata, Column::TargetName]),
    ];
    for columns in column_sets {
        for condition in &conditions {
            for (order, direction) in [
                (AuditOrder::NewestFirst, Order::Desc),
                (AuditOrder::OldestFirst, Order::Asc),
            ] {
                for after in [None, Some(cursor)] {
                    let mut query = AuditLog::find()
                        .select_only()
                        .columns(columns.iter())
                        .filter(condition.clone());
                    if let Some(c) = after {
                        let row =
                            Expr::tuple([Expr::col(Column::CreatedAt), Expr::col(Column::Id)]);
                        let at = Expr::tuple([Expr::value(c.created_at), Expr::value(c.id)]);
                        query = query.filter(match order {
                            AuditOrder::NewestFirst => row.lt(at),
                            AuditOrder::OldestFirst => row.gt(at),
                        });
                    }
                    let expected = query
                        .order_by(Column::CreatedAt, direction.clone())
                        .order_by(Column::Id, direction.clone())
                        .limit(51)
                        .build(DbBackend::Postgres);
                    let ours = page_statement(vec![condition.clone()], order, 50, after, columns);
                    let case = format!("{columns:?}, {order:?}, cursor {after:?}");
                    assert_eq!(ours.sql, expected.sql, "{case}");
                    assert_eq!(ours.values, expected.values, "{case}");
                }
            }
        }
    }
}
