//! createTenant, updateTenant, changeTenantStatus (the lifecycle), deleteTenant, the race.

use entity::prelude::Tenants;
use entity::scope::Scope;
use sea_orm::EntityTrait;
use serde_json::json;
use tests::app::error_code;
use tests::fixtures::insert_tenant_in;

use super::Ops;

const CREATE: &str = "mutation($i: CreateTenantInput!) { createTenant(input: $i) { id slug name status kind plan erpCustomerId contractStart } }";
const STATUS: &str = "mutation($id: UUID!, $s: TenantStatus!, $r: String) { changeTenantStatus(id: $id, status: $s, reason: $r) { status } }";

#[tokio::test]
async fn create_tenant_writes_the_tenant_and_one_audit_row() {
    let ops = Ops::new().await;
    let data = ops.gql_ok(CREATE, json!({"i": {"slug": "hooli", "name": "Hooli", "plan": "growth", "erpCustomerId": "CUST-7", "contractStart": "2026-01-01"}})).await;
    let tenant = &data["createTenant"];
    assert_eq!(
        (
            tenant["status"].clone(),
            tenant["kind"].clone(),
            tenant["contractStart"].clone()
        ),
        (json!("TRIAL"), json!("CUSTOMER"), json!("2026-01-01"))
    );
    let row = ops.only_audit("tenant.created", "c").await;
    assert_eq!(
        row.tenant_id.map(|t| t.to_string()),
        tenant["id"].as_str().map(str::to_owned)
    );
    assert_eq!(
        (row.target_type.as_deref(), row.target_name.as_deref()),
        (Some("tenant"), Some("hooli"))
    );
    assert_eq!(row.target_id.as_deref(), tenant["id"].as_str());
    assert_eq!(row.metadata["before"], json!({}));
    assert_eq!(
        (
            row.metadata["after"]["slug"].clone(),
            row.metadata["after"]["erp_customer_id"].clone()
        ),
        (json!("hooli"), json!("CUST-7"))
    );

    // Refusals: no audit row for any of them.
    let before = ops.audit_count().await;
    let r = ops
        .gql(CREATE, json!({"i": {"slug": "hooli", "name": "Again"}}))
        .await;
    assert_eq!(
        (
            error_code(&r),
            r["errors"][0]["extensions"]["field"].clone()
        ),
        ("CONFLICT".into(), json!("slug"))
    );
    let r = ops
        .gql(CREATE, json!({"i": {"slug": "Bad_Slug", "name": "x"}}))
        .await;
    assert_eq!(
        (
            error_code(&r),
            r["errors"][0]["extensions"]["field"].clone()
        ),
        ("BAD_USER_INPUT".into(), json!("slug"))
    );
    let r = ops
        .gql(
            CREATE,
            json!({"i": {"slug": "demo-x", "name": "x", "kind": "DEMO", "status": "ACTIVE"}}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    let tenant_key = ops.key_for(ops.acme, "admin", &[Scope::TenantsWrite]).await;
    let r = ops
        .app
        .gql(
            &tenant_key,
            CREATE,
            json!({"i": {"slug": "mine", "name": "x"}}),
        )
        .await;
    assert_eq!(
        error_code(&r),
        "FORBIDDEN",
        "only platform keys create tenants"
    );
    assert_eq!(
        ops.audit_count().await,
        before,
        "a failed mutation writes nothing"
    );
}

#[tokio::test]
async fn update_tenant_records_only_the_changed_fields() {
    let ops = Ops::new().await;
    let update = "mutation($id: UUID!, $i: UpdateTenantInput!) { updateTenant(id: $id, input: $i) { name plan salesOwner erpCustomerId } }";
    ops.gql_ok(
        update,
        json!({"id": ops.acme, "i": {"salesOwner": "sam@x.example", "erpCustomerId": "E1"}}),
    )
    .await;
    let data = ops
        .gql_ok(
            update,
            json!({"id": ops.acme, "i": {"name": "Acme Corp", "erpCustomerId": null}}),
        )
        .await;
    assert_eq!(
        data["updateTenant"],
        json!({"name": "Acme Corp", "plan": "starter", "salesOwner": "sam@x.example", "erpCustomerId": null})
    );
    let rows = ops.audit("tenant.updated").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[1].metadata["before"],
        json!({"name": "Tenant acme", "erp_customer_id": "E1"})
    );
    assert_eq!(
        rows[1].metadata["after"],
        json!({"name": "Acme Corp", "erp_customer_id": null})
    );

    let other = ops
        .key_for(ops.acme, "acme-admin", &[Scope::TenantsWrite])
        .await;
    let globex = insert_tenant_in(
        &ops.app.db.db,
        "globex",
        entity::sea_orm_active_enums::TenantStatus::Trial,
        entity::sea_orm_active_enums::TenantKind::Customer,
    )
    .await
    .unwrap();
    assert_eq!(
        error_code(
            &ops.app
                .gql(
                    &other,
                    update,
                    json!({"id": globex.id, "i": {"name": "mine now"}})
                )
                .await
        ),
        "NOT_FOUND"
    );
    let reader = ops.key_for(ops.acme, "reader", &[Scope::TenantsRead]).await;
    assert_eq!(
        error_code(
            &ops.app
                .gql(&reader, update, json!({"id": ops.acme, "i": {"name": "x"}}))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(
            &ops.gql(update, json!({"id": ops.acme, "i": {"name": "  "}}))
                .await
        ),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        error_code(
            &ops.gql(
                update,
                json!({"id": uuid::Uuid::new_v4(), "i": {"name": "x"}})
            )
            .await
        ),
        "NOT_FOUND"
    );
    assert_eq!(ops.audit("tenant.updated").await.len(), 2);
}

#[tokio::test]
async fn the_lifecycle_allows_exactly_its_transitions() {
    use entity::sea_orm_active_enums::{TenantKind, TenantStatus};
    let ops = Ops::new().await;
    let all = ["DEMO", "TRIAL", "ACTIVE", "FROZEN", "ARCHIVED"];
    let allowed: &[(&str, &[&str])] = &[
        ("TRIAL", &["ACTIVE", "FROZEN", "ARCHIVED"]),
        ("ACTIVE", &["FROZEN", "ARCHIVED"]),
        ("FROZEN", &["ACTIVE", "ARCHIVED"]),
        ("ARCHIVED", &[]),
        ("DEMO", &[]),
    ];
    let db_status = |s: &str| match s {
        "DEMO" => TenantStatus::Demo,
        "TRIAL" => TenantStatus::Trial,
        "ACTIVE" => TenantStatus::Active,
        "FROZEN" => TenantStatus::Frozen,
        _ => TenantStatus::Archived,
    };
    let mut n = 0;
    let mut expected_rows = 0;
    for (from, targets) in allowed {
        for to in all {
            n += 1;
            let kind = if *from == "DEMO" {
                TenantKind::Demo
            } else {
                TenantKind::Customer
            };
            let tenant =
                insert_tenant_in(&ops.app.db.db, &format!("t{n:02}"), db_status(from), kind)
                    .await
                    .unwrap();
            let r = ops
                .gql(
                    STATUS,
                    json!({"id": tenant.id, "s": to, "r": "contract signed"}),
                )
                .await;
            if targets.contains(&to) {
                assert_eq!(
                    r["data"]["changeTenantStatus"]["status"], to,
                    "{from} -> {to}: {r}"
                );
                expected_rows += 1;
            } else {
                assert_eq!(
                    error_code(&r),
                    "BAD_USER_INPUT",
                    "{from} -> {to} must be refused"
                );
                let message = r["errors"][0]["message"].as_str().unwrap();
                assert!(
                    message.contains("allowed:"),
                    "the error says what is allowed: {message}"
                );
            }
        }
    }
    let rows = ops.audit("tenant.status_changed").await;
    assert_eq!(rows.len(), expected_rows);
    let first = &rows[0];
    assert_eq!(
        (
            first.metadata["before"].clone(),
            first.metadata["after"].clone()
        ),
        (json!({"status": "trial"}), json!({"status": "active"}))
    );
    assert_eq!(first.metadata["reason"], "contract signed");
}

#[tokio::test]
async fn delete_tenant_cascades_and_keeps_a_record() {
    let ops = Ops::new().await;
    ops.gql_ok(
        "mutation($t: UUID!) { createProject(tenantId: $t, slug: \"web\", name: \"Web\") { id } }",
        json!({"t": ops.acme}),
    )
    .await;
    let tenant_key = ops.key_for(ops.acme, "admin", &[Scope::TenantsWrite]).await;
    let r = ops
        .app
        .gql(
            &tenant_key,
            "mutation($id: UUID!) { deleteTenant(id: $id) { slug } }",
            json!({"id": ops.acme}),
        )
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN");
    let data = ops
        .gql_ok(
            "mutation($id: UUID!) { deleteTenant(id: $id) { slug } }",
            json!({"id": ops.acme}),
        )
        .await;
    assert_eq!(data["deleteTenant"]["slug"], "acme");
    assert!(
        Tenants::find_by_id(ops.acme)
            .one(&ops.app.db.db)
            .await
            .unwrap()
            .is_none()
    );
    let row = ops.only_audit("tenant.deleted", "d").await;
    assert_eq!(
        row.tenant_id, None,
        "the tenant is gone; its record stays for platform keys"
    );
    assert_eq!(row.target_id, Some(ops.acme.to_string()));
    assert_eq!(row.metadata["before"]["slug"], "acme");
    let created = ops.audit("project.created").await;
    assert_eq!(
        created[0].tenant_id, None,
        "earlier rows of the tenant survive, detached"
    );
    assert_eq!(
        error_code(
            &ops.gql(
                "mutation($id: UUID!) { deleteTenant(id: $id) { slug } }",
                json!({"id": ops.acme})
            )
            .await
        ),
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn twenty_concurrent_creates_of_one_slug_make_one_tenant_and_one_audit_row() {
    let ops = Ops::new().await;
    let calls = (0..20).map(|i| {
        let ops = &ops;
        async move {
            ops.gql(
                CREATE,
                json!({"i": {"slug": "contested", "name": format!("Racer {i}")}}),
            )
            .await
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let won = results
        .iter()
        .filter(|r| r["data"]["createTenant"]["slug"] == "contested")
        .count();
    let conflicts = results
        .iter()
        .filter(|r| r.get("errors").is_some() && error_code(r) == "CONFLICT")
        .count();
    assert_eq!((won, conflicts), (1, 19), "{results:#?}");
    assert_eq!(ops.audit("tenant.created").await.len(), 1);
}
