//! createProject, renameProject, archiveProject, restoreProject.

use entity::scope::Scope;
use serde_json::json;
use tests::app::error_code;
use tests::fixtures::insert_tenant;

use super::Ops;

#[tokio::test]
async fn projects_are_created_renamed_archived_and_restored_with_audit_rows() {
    let ops = Ops::new().await;
    let created = ops.gql_ok("mutation($t: UUID!) { createProject(tenantId: $t, slug: \"web\", name: \"Web\") { id slug status } }", json!({"t": ops.acme})).await;
    let id = created["createProject"]["id"].clone();
    let row = ops.only_audit("project.created", "c").await;
    assert_eq!(
        (
            row.tenant_id,
            row.target_type.as_deref(),
            row.target_name.as_deref()
        ),
        (Some(ops.acme), Some("project"), Some("web"))
    );
    assert_eq!(row.target_id.as_deref(), id.as_str());

    ops.gql_ok(
        "mutation($id: UUID!) { renameProject(id: $id, name: \"Web shop\") { name } }",
        json!({"id": id}),
    )
    .await;
    let row = ops.only_audit("project.renamed", "u").await;
    assert_eq!(
        (
            row.metadata["before"].clone(),
            row.metadata["after"].clone()
        ),
        (json!({"name": "Web"}), json!({"name": "Web shop"}))
    );

    let archived = ops
        .gql_ok(
            "mutation($id: UUID!) { archiveProject(id: $id) { status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(archived["archiveProject"]["status"], "ARCHIVED");
    let row = ops.only_audit("project.archived", "u").await;
    assert_eq!(row.metadata["after"], json!({"status": "archived"}));
    assert_eq!(
        error_code(
            &ops.gql(
                "mutation($id: UUID!) { archiveProject(id: $id) { status } }",
                json!({"id": id})
            )
            .await
        ),
        "BAD_USER_INPUT"
    );
    let restored = ops
        .gql_ok(
            "mutation($id: UUID!) { restoreProject(id: $id) { status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(restored["restoreProject"]["status"], "ACTIVE");
    ops.only_audit("project.restored", "u").await;
}

#[tokio::test]
async fn project_refusals_write_nothing() {
    let ops = Ops::new().await;
    let globex = insert_tenant(&ops.app.db.db, "globex").await.unwrap();
    let create = "mutation($t: UUID!, $s: String!) { createProject(tenantId: $t, slug: $s, name: \"P\") { id } }";
    ops.gql_ok(create, json!({"t": ops.acme, "s": "web"})).await;
    let before = ops.audit_count().await;
    let r = ops.gql(create, json!({"t": ops.acme, "s": "web"})).await;
    assert_eq!(
        (
            error_code(&r),
            r["errors"][0]["extensions"]["field"].clone()
        ),
        ("CONFLICT".into(), json!("slug"))
    );
    assert_eq!(
        error_code(&ops.gql(create, json!({"t": ops.acme, "s": "a"})).await),
        "BAD_USER_INPUT"
    );
    let acme_admin = ops.key_for(ops.acme, "admin", &[Scope::TenantsWrite]).await;
    assert_eq!(
        error_code(
            &ops.app
                .gql(&acme_admin, create, json!({"t": globex.id, "s": "x1"}))
                .await
        ),
        "NOT_FOUND"
    );
    let reader = ops.key_for(ops.acme, "reader", &[Scope::TenantsRead]).await;
    assert_eq!(
        error_code(
            &ops.app
                .gql(&reader, create, json!({"t": ops.acme, "s": "x2"}))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(error_code(&ops.gql("mutation { renameProject(id: \"00000000-0000-0000-0000-000000000000\", name: \"x\") { id } }", json!({})).await), "NOT_FOUND");
    assert_eq!(ops.audit_count().await, before);
}
