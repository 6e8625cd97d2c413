//! Every mutation refuses another tenant's key and a key without the scope, writing nothing.
//! Another tenant is answered as an unknown one (`NOT_FOUND`), except where the operation is
//! the operators' decision whoever the tenant is (`FORBIDDEN` before anything is looked up).

use entity::scope::Scope;
use serde_json::{Value, json};
use tests::app::error_code;
use tests::fixtures::{insert_api_key, insert_idp, insert_product, insert_project, insert_tenant};

use super::Ops;

#[tokio::test]
async fn every_mutation_refuses_other_tenants_and_missing_scopes() {
    let ops = Ops::new().await;
    let acme = ops.acme;
    let project = insert_project(&ops.app.db.db, acme, "web")
        .await
        .unwrap()
        .id;
    insert_product(&ops.app.db.db, acme, "crm").await.unwrap();
    let idp = insert_idp(
        &ops.app.db.db,
        acme,
        entity::sea_orm_active_enums::IdpKind::Oidc,
    )
    .await
    .unwrap()
    .id;
    let key = insert_api_key(&ops.app.db.db, acme, "victim")
        .await
        .unwrap()
        .id;
    let oidc = json!({"discovery_url": "https://idp.example/.well-known/openid-configuration", "client_id": "x"});

    // (mutation, variables, the scope it needs)
    let cases: Vec<(&str, Value, Scope)> = vec![
        (
            "mutation($id: UUID!) { updateTenant(id: $id, input: {name: \"x\"}) { id } }",
            json!({"id": acme}),
            Scope::TenantsWrite,
        ),
        (
            "mutation($id: UUID!) { changeTenantStatus(id: $id, status: ACTIVE) { id } }",
            json!({"id": acme}),
            Scope::TenantsWrite,
        ),
        (
            "mutation($id: UUID!) { deleteTenant(id: $id) { id } }",
            json!({"id": acme}),
            Scope::TenantsWrite,
        ),
        (
            "mutation($t: UUID!) { createProject(tenantId: $t, slug: \"new\", name: \"N\") { id } }",
            json!({"t": acme}),
            Scope::TenantsWrite,
        ),
        (
            "mutation($id: UUID!) { renameProject(id: $id, name: \"N\") { id } }",
            json!({"id": project}),
            Scope::TenantsWrite,
        ),
        (
            "mutation($id: UUID!) { archiveProject(id: $id) { id } }",
            json!({"id": project}),
            Scope::TenantsWrite,
        ),
        (
            "mutation($id: UUID!) { restoreProject(id: $id) { id } }",
            json!({"id": project}),
            Scope::TenantsWrite,
        ),
        (
            "mutation($t: UUID!) { setEntitlement(tenantId: $t, product: \"crm\", enabled: false) { product } }",
            json!({"t": acme}),
            Scope::TenantsWrite,
        ),
        (
            "mutation($t: UUID!) { removeEntitlement(tenantId: $t, product: \"crm\") { product } }",
            json!({"t": acme}),
            Scope::TenantsWrite,
        ),
        (
            "mutation($t: UUID!, $m: JSON!) { setIdpConfig(tenantId: $t, type: OIDC, metadata: $m) { id } }",
            json!({"t": acme, "m": oidc}),
            Scope::TenantsWrite,
        ),
        (
            "mutation($id: UUID!) { verifyIdpConfig(id: $id) { id } }",
            json!({"id": idp}),
            Scope::TenantsWrite,
        ),
        (
            "mutation($t: UUID!) { issueApiKey(tenantId: $t, name: \"n\", scopes: [\"audit:read\"]) { key } }",
            json!({"t": acme}),
            Scope::KeysWrite,
        ),
        (
            "mutation($id: UUID!) { revokeApiKey(id: $id) { id } }",
            json!({"id": key}),
            Scope::KeysWrite,
        ),
    ];
    let globex = insert_tenant(&ops.app.db.db, "globex").await.unwrap().id;
    let everything_but_platform: Vec<Scope> = Scope::ALL
        .into_iter()
        .filter(|s| *s != Scope::Platform)
        .collect();
    let other_tenant = ops
        .key_for(globex, "globex-admin", &everything_but_platform)
        .await;
    let no_scope = ops
        .key_for(
            acme,
            "acme-reader",
            &[Scope::TenantsRead, Scope::AuditRead, Scope::AuditWrite],
        )
        .await;
    let before = ops.audit_count().await;
    let operators_only = [
        "changeTenantStatus",
        "deleteTenant",
        "setEntitlement",
        "removeEntitlement",
    ];
    for (mutation, variables, scope) in &cases {
        let r = ops
            .app
            .gql(&other_tenant, mutation, variables.clone())
            .await;
        let expected = if operators_only.iter().any(|m| mutation.contains(m)) {
            "FORBIDDEN"
        } else {
            "NOT_FOUND"
        };
        assert_eq!(error_code(&r), expected, "another tenant's key: {mutation}");
        let r = ops.app.gql(&no_scope, mutation, variables.clone()).await;
        assert_eq!(error_code(&r), "FORBIDDEN", "without {scope}: {mutation}");
        assert!(
            r["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(scope.as_str())
                || mutation.contains("deleteTenant"),
            "{r}"
        );
    }
    assert_eq!(
        ops.audit_count().await,
        before,
        "no refusal wrote an audit row"
    );
}
