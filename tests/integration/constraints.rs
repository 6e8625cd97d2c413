//! What the schema itself enforces: slugs, uniqueness by name, cascades, the updated_at trigger.

use entity::prelude::*;
use entity::sea_orm_active_enums::IdpKind;
use entity::{api_keys, audit_log, tenant_idp_config, tenant_products, tenant_projects};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, PaginatorTrait, QueryFilter, Statement,
};
use tests::TestDb;
use tests::fixtures::*;

fn violated(result: Result<impl std::fmt::Debug, sea_orm::DbErr>) -> String {
    let err = result.expect_err("the write should have been rejected");
    violated_constraint(&err).unwrap_or_else(|| panic!("not a constraint violation: {err}"))
}

#[tokio::test]
async fn tenant_slugs_are_3_to_40_lowercase_characters_without_edge_dashes() {
    let db = TestDb::migrated().await;
    let forty = "a".repeat(40);
    for ok in ["abc", "a-b", "a1-2b", forty.as_str()] {
        insert_tenant(&db.db, ok)
            .await
            .unwrap_or_else(|e| panic!("{ok:?} rejected: {e}"));
    }
    let forty_one = "a".repeat(41);
    for bad in ["ab", "-abc", "abc-", "Abc", "a_bc", forty_one.as_str(), ""] {
        assert_eq!(
            violated(insert_tenant(&db.db, bad).await),
            "tenants_slug_check",
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn project_slugs_follow_the_same_rules_with_a_minimum_of_two() {
    let db = TestDb::migrated().await;
    let tenant = insert_tenant(&db.db, "acme").await.expect("tenant");
    let forty = "p".repeat(40);
    for ok in ["ab", "a-b", forty.as_str()] {
        insert_project(&db.db, tenant.id, ok)
            .await
            .unwrap_or_else(|e| panic!("{ok:?} rejected: {e}"));
    }
    let forty_one = "p".repeat(41);
    for bad in ["a", "-ab", "ab-", "AB", "a_b", forty_one.as_str()] {
        assert_eq!(
            violated(insert_project(&db.db, tenant.id, bad).await),
            "tenant_projects_slug_check",
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn duplicates_fail_with_the_named_unique_constraint() {
    let db = TestDb::migrated().await;
    let acme = insert_tenant(&db.db, "acme").await.expect("tenant");
    let globex = insert_tenant(&db.db, "globex").await.expect("tenant");
    assert_eq!(
        violated(insert_tenant(&db.db, "acme").await),
        "tenants_slug_key"
    );

    insert_project(&db.db, acme.id, "web")
        .await
        .expect("project");
    insert_project(&db.db, globex.id, "web")
        .await
        .expect("same slug in another tenant");
    assert_eq!(
        violated(insert_project(&db.db, acme.id, "web").await),
        "tenant_projects_tenant_id_slug_key"
    );

    insert_api_key(&db.db, acme.id, "ci").await.expect("key");
    insert_api_key(&db.db, globex.id, "ci")
        .await
        .expect("same name in another tenant");
    assert_eq!(
        violated(insert_api_key(&db.db, acme.id, "ci").await),
        "api_keys_tenant_id_name_key"
    );

    insert_idp(&db.db, acme.id, IdpKind::Oidc)
        .await
        .expect("oidc");
    insert_idp(&db.db, acme.id, IdpKind::Saml)
        .await
        .expect("saml beside oidc");
    assert_eq!(
        violated(insert_idp(&db.db, acme.id, IdpKind::Oidc).await),
        "tenant_idp_config_tenant_id_type_key"
    );
}

#[tokio::test]
async fn deleting_a_tenant_cascades_but_keeps_its_audit_history() {
    let db = TestDb::migrated().await;
    let acme = insert_tenant(&db.db, "acme").await.expect("tenant");
    let other = insert_tenant(&db.db, "globex").await.expect("tenant");
    let project = insert_project(&db.db, acme.id, "web")
        .await
        .expect("project");
    insert_product(&db.db, acme.id, "crm")
        .await
        .expect("product");
    insert_idp(&db.db, acme.id, IdpKind::Oidc)
        .await
        .expect("idp");
    insert_api_key(&db.db, acme.id, "ci").await.expect("key");
    insert_api_key(&db.db, other.id, "ci")
        .await
        .expect("other tenant's key");
    let in_project = insert_audit(
        &db.db,
        Some(acme.id),
        Some(project.id),
        "crm.contact.created",
    )
    .await
    .expect("audit");
    let tenant_wide = insert_audit(&db.db, Some(acme.id), None, "tenant.updated")
        .await
        .expect("audit");

    // Deleting the project keeps its events, detached from it.
    project.delete(&db.db).await.expect("delete project");
    let event = AuditLog::find_by_id(in_project.id)
        .one(&db.db)
        .await
        .expect("query")
        .expect("kept");
    assert_eq!((event.tenant_id, event.project_id), (Some(acme.id), None));

    acme.clone().delete(&db.db).await.expect("delete tenant");
    assert_eq!(
        TenantProjects::find()
            .filter(tenant_projects::Column::TenantId.eq(acme.id))
            .count(&db.db)
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        TenantProducts::find()
            .filter(tenant_products::Column::TenantId.eq(acme.id))
            .count(&db.db)
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        TenantIdpConfig::find()
            .filter(tenant_idp_config::Column::TenantId.eq(acme.id))
            .count(&db.db)
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        ApiKeys::find()
            .filter(api_keys::Column::TenantId.eq(acme.id))
            .count(&db.db)
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        ApiKeys::find().count(&db.db).await.expect("count"),
        1,
        "the other tenant's key stays"
    );

    let survivors = AuditLog::find()
        .filter(audit_log::Column::Id.is_in([in_project.id, tenant_wide.id]))
        .all(&db.db)
        .await
        .expect("query");
    assert_eq!(survivors.len(), 2, "audit rows outlive their tenant");
    assert!(
        survivors
            .iter()
            .all(|e| e.tenant_id.is_none() && e.project_id.is_none())
    );
    assert_eq!(
        survivors
            .iter()
            .find(|e| e.id == tenant_wide.id)
            .map(|e| e.action.as_str()),
        Some("tenant.updated")
    );
}

#[tokio::test]
async fn an_update_bumps_updated_at_but_not_created_at_on_every_touched_table() {
    let db = TestDb::migrated().await;
    let tenant = insert_tenant(&db.db, "acme").await.expect("tenant");
    insert_project(&db.db, tenant.id, "web")
        .await
        .expect("project");
    insert_product(&db.db, tenant.id, "crm")
        .await
        .expect("product");
    insert_idp(&db.db, tenant.id, IdpKind::Saml)
        .await
        .expect("idp");

    let long_ago = "2001-02-03 04:05:06+00";
    for (table, change) in [
        ("tenants", "name = 'Renamed'"),
        ("tenant_projects", "name = 'Renamed'"),
        ("tenant_products", "enabled = false"),
        ("tenant_idp_config", "verified = true"),
    ] {
        // Backdate both timestamps (the trigger rewrites updated_at even here, so set it by
        // disabling the trigger for this one statement), then change another column.
        db.exec(&format!(
            "ALTER TABLE {table} DISABLE TRIGGER {table}_touch_updated_at;
             UPDATE {table} SET created_at = '{long_ago}', updated_at = '{long_ago}';
             ALTER TABLE {table} ENABLE TRIGGER {table}_touch_updated_at;
             UPDATE {table} SET {change}, updated_at = '1999-01-01 00:00:00+00';"
        ))
        .await;
        let row = db
            .db
            .query_one_raw(Statement::from_string(
                db.db.get_database_backend(),
                format!(
                    "SELECT created_at = '{long_ago}', updated_at > now() - interval '1 minute' FROM {table}"
                ),
            ))
            .await
            .expect("query")
            .expect("a row");
        let created_kept: bool = row.try_get_by_index(0).expect("created_at");
        let updated_now: bool = row.try_get_by_index(1).expect("updated_at");
        assert!(
            created_kept,
            "{table}: created_at must not change on UPDATE"
        );
        assert!(
            updated_now,
            "{table}: updated_at must be set by the trigger, whatever the UPDATE says"
        );
    }
}
