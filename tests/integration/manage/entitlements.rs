//! setEntitlement, removeEntitlement, and the entitlement query.

use entity::scope::Scope;
use serde_json::json;
use tests::app::error_code;

use super::Ops;

const SET: &str = "mutation($t: UUID!, $p: String!, $e: Boolean, $c: JSON, $x: DateTime) {
  setEntitlement(tenantId: $t, product: $p, enabled: $e, config: $c, expiresAt: $x) { product enabled config expiresAt active }
}";
const ASK: &str = "query($t: UUID, $s: String, $p: String!) { entitlement(tenantId: $t, tenantSlug: $s, product: $p) { enabled config active expiresAt } }";

#[tokio::test]
async fn entitlements_upsert_remove_and_answer_products() {
    let ops = Ops::new().await;
    let set = ops
        .gql_ok(
            SET,
            json!({"t": ops.acme, "p": "crm", "c": {"max_seats": 5}}),
        )
        .await;
    assert_eq!(
        set["setEntitlement"],
        json!({"product": "crm", "enabled": true, "config": {"max_seats": 5}, "expiresAt": null, "active": true})
    );
    let row = ops.only_audit("entitlement.set", "c").await;
    assert_eq!(
        (
            row.tenant_id,
            row.target_type.as_deref(),
            row.target_name.as_deref()
        ),
        (Some(ops.acme), Some("entitlement"), Some("crm"))
    );
    assert_eq!(row.metadata["after"]["config"], json!({"max_seats": 5}));

    ops.gql_ok(SET, json!({"t": ops.acme, "p": "crm", "e": false}))
        .await;
    let rows = ops.audit("entitlement.set").await;
    assert_eq!(
        (
            rows[1].metadata["before"].clone(),
            rows[1].metadata["after"].clone()
        ),
        (json!({"enabled": true}), json!({"enabled": false}))
    );

    // The product's question, by id or slug; a product key may ask about its own product.
    let crm_key = ops
        .app
        .issue_key(ops.acme, "crm-login", &[Scope::AuditWrite], Some("crm"))
        .await;
    let answer = ops
        .app
        .gql_ok(&crm_key, ASK, json!({"s": "acme", "p": "crm"}))
        .await;
    assert_eq!(
        answer["entitlement"],
        json!({"enabled": false, "config": {"max_seats": 5}, "active": false, "expiresAt": null})
    );
    assert_eq!(
        error_code(
            &ops.app
                .gql(&crm_key, ASK, json!({"s": "acme", "p": "billing"}))
                .await
        ),
        "FORBIDDEN"
    );
    ops.gql_ok(
        SET,
        json!({"t": ops.acme, "p": "crm", "e": true, "x": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let expired = ops.gql_ok(ASK, json!({"t": ops.acme, "p": "crm"})).await;
    assert_eq!(
        (
            expired["entitlement"]["enabled"].clone(),
            expired["entitlement"]["active"].clone()
        ),
        (json!(true), json!(false)),
        "expired"
    );
    ops.gql_ok(SET, json!({"t": ops.acme, "p": "crm", "x": null}))
        .await;
    assert_eq!(
        ops.gql_ok(ASK, json!({"t": ops.acme, "p": "crm"})).await["entitlement"]["active"],
        true
    );
    ops.gql_ok(
        "mutation($id: UUID!) { changeTenantStatus(id: $id, status: FROZEN) { status } }",
        json!({"id": ops.acme}),
    )
    .await;
    assert_eq!(
        ops.gql_ok(ASK, json!({"t": ops.acme, "p": "crm"})).await["entitlement"]["active"],
        false,
        "a frozen tenant's products are not active"
    );
    assert_eq!(
        ops.gql_ok(ASK, json!({"t": ops.acme, "p": "nothing"}))
            .await["entitlement"],
        json!(null)
    );

    let removed = ops
        .gql_ok(
            "mutation($t: UUID!) { removeEntitlement(tenantId: $t, product: \"crm\") { product } }",
            json!({"t": ops.acme}),
        )
        .await;
    assert_eq!(removed["removeEntitlement"]["product"], "crm");
    let row = ops.only_audit("entitlement.removed", "d").await;
    assert_eq!(row.metadata["before"]["product"], "crm");
    let before = ops.audit_count().await;
    assert_eq!(error_code(&ops.gql("mutation($t: UUID!) { removeEntitlement(tenantId: $t, product: \"crm\") { product } }", json!({"t": ops.acme})).await), "NOT_FOUND");
    assert_eq!(
        error_code(
            &ops.gql(SET, json!({"t": ops.acme, "p": "Not A Product"}))
                .await
        ),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        error_code(
            &ops.gql(SET, json!({"t": ops.acme, "p": "crm", "c": [1]}))
                .await
        ),
        "BAD_USER_INPUT"
    );
    let reader = ops.key_for(ops.acme, "reader", &[Scope::TenantsRead]).await;
    assert_eq!(
        error_code(
            &ops.app
                .gql(&reader, SET, json!({"t": ops.acme, "p": "crm"}))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(ops.audit_count().await, before);
}

/// The `entitlement` query's statement keeps its text between calls and binds only the values:
/// it must be exactly what the query builder makes, for both ways of naming the tenant.
#[test]
fn the_kept_entitlement_statement_is_the_builders() {
    use registry::entitlements::{TenantRef, entitlement_select, entitlement_statement};
    use sea_orm::{DbBackend, QuerySelect, QueryTrait};
    let id = uuid::Uuid::new_v4();
    for (tenant, product) in [
        (TenantRef::Id(id), "crm"),
        (TenantRef::Slug("acme".to_owned()), "billing"),
        (TenantRef::Id(uuid::Uuid::nil()), "x"),
        (TenantRef::Slug("o'brien".to_owned()), "crm"),
    ] {
        let built = entitlement_select(tenant.clone(), product.to_owned())
            .limit(1)
            .build(DbBackend::Postgres);
        // Twice: the first call may build the text, the second reuses it.
        for _ in 0..2 {
            assert_eq!(
                entitlement_statement(tenant.clone(), product.to_owned()),
                built
            );
        }
    }
}

/// The `entitlement` query reads its row by position; that must give what sea-orm's reading of
/// the same row by column names gives, for a tenant in every status and an entitlement with
/// every column set.
#[tokio::test]
async fn the_entitlement_row_read_by_position_is_the_one_read_by_name() {
    use entity::sea_orm_active_enums::{TenantKind, TenantStatus};
    use entity::{tenant_products, tenants};
    use registry::entitlements::{TenantRef, entitlement_of, entitlement_statement};
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, SelectTwoModel};
    use sea_orm::{IntoActiveModel, SelectorTrait};
    use tests::fixtures::{insert_product, insert_tenant_in};

    let db = tests::TestDb::migrated().await;
    let statuses = [
        TenantStatus::Demo,
        TenantStatus::Trial,
        TenantStatus::Active,
        TenantStatus::Frozen,
        TenantStatus::Archived,
    ];
    for (i, status) in statuses.into_iter().enumerate() {
        let slug = format!("positional-{i}");
        let tenant = insert_tenant_in(&db.db, &slug, status, TenantKind::Customer)
            .await
            .expect("tenant");
        let mut product = insert_product(&db.db, tenant.id, "crm")
            .await
            .expect("entitlement")
            .into_active_model();
        product.enabled = Set(i % 2 == 0);
        product.config = Set(json!({"seats": i, "tier": "gold"}));
        product.expires_at = Set(Some(chrono::Utc::now().fixed_offset()));
        product.update(&db.db).await.expect("update");
        for named in [TenantRef::Id(tenant.id), TenantRef::Slug(slug.clone())] {
            let row = db
                .db
                .query_one_raw(entitlement_statement(named, "crm".to_owned()))
                .await
                .expect("query")
                .expect("a row");
            let (by_position, tenant_id) = entitlement_of(&row).expect("by position");
            let (by_name, tenant_by_name) =
                SelectTwoModel::<tenant_products::Model, tenants::Model>::from_raw_query_result(
                    row,
                )
                .expect("by name");
            let tenant_by_name = tenant_by_name.expect("the tenant");
            assert_eq!(by_position.row, by_name);
            assert_eq!(by_position.tenant_status, tenant_by_name.status);
            assert_eq!(by_position.tenant_status, status);
            assert_eq!(tenant_id, tenant_by_name.id);
        }
    }
}
