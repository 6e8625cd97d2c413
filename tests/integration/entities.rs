//! The entities: every table written and read back through them, and no drift from the schema.

use chrono::{NaiveDate, TimeZone, Utc};
use entity::prelude::*;
use entity::sea_orm_active_enums::{IdpKind, TenantKind, TenantProjectStatus, TenantStatus};
use entity::{api_keys, audit_log, tenant_idp_config, tenant_products, tenant_projects, tenants};
use ipnetwork::IpNetwork;
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait, Iterable,
};
use serde_json::json;
use tests::fixtures::*;
use tests::{TestDb, drift};

#[tokio::test]
async fn every_table_round_trips_through_its_entity() {
    let db = TestDb::migrated().await;
    let trial_end = Utc
        .with_ymd_and_hms(2026, 12, 31, 23, 59, 59)
        .unwrap()
        .fixed_offset();
    let tenant = tenants::ActiveModel {
        slug: Set("acme".into()),
        name: Set("Acme Corp".into()),
        status: Set(TenantStatus::Active),
        kind: Set(TenantKind::Customer),
        plan: Set("enterprise".into()),
        erp_customer_id: Set(Some("CUST-0042".into())),
        stripe_cust_id: Set(Some("cus_Q1w2e3".into())),
        trial_ends_at: Set(Some(trial_end)),
        contract_start: Set(NaiveDate::from_ymd_opt(2026, 1, 1)),
        contract_end: Set(NaiveDate::from_ymd_opt(2027, 12, 31)),
        sales_owner: Set(Some("jane@example.com".into())),
        ..Default::default()
    }
    .insert(&db.db)
    .await
    .expect("tenant");
    assert_eq!(
        Tenants::find_by_id(tenant.id)
            .one(&db.db)
            .await
            .expect("find"),
        Some(tenant.clone())
    );
    assert_eq!(tenant.contract_end, NaiveDate::from_ymd_opt(2027, 12, 31));
    assert_eq!(tenant.trial_ends_at, Some(trial_end));

    // Defaults come from the database.
    let defaults = insert_tenant(&db.db, "defaults").await.expect("tenant");
    assert_eq!(
        (defaults.status, defaults.kind, defaults.plan.as_str()),
        (TenantStatus::Trial, TenantKind::Customer, "starter")
    );
    assert_eq!(defaults.created_at, defaults.updated_at);

    let project = insert_project(&db.db, tenant.id, "web")
        .await
        .expect("project");
    assert_eq!(project.status, TenantProjectStatus::Active);
    assert_eq!(
        TenantProjects::find_by_id(project.id)
            .one(&db.db)
            .await
            .expect("find"),
        Some(project.clone())
    );

    let config = json!({ "max_seats": 25, "modules_enabled": ["leads", "deals"], "litellm_url": "https://llm.acme.example/v1" });
    let product = tenant_products::ActiveModel {
        tenant_id: Set(tenant.id),
        product: Set("crm".into()),
        enabled: Set(false),
        config: Set(config.clone()),
        expires_at: Set(Some(trial_end)),
        ..Default::default()
    }
    .insert(&db.db)
    .await
    .expect("product");
    let found = TenantProducts::find_by_id((tenant.id, "crm".to_owned()))
        .one(&db.db)
        .await
        .expect("find");
    assert_eq!(found.as_ref().map(|p| &p.config), Some(&config));
    assert_eq!(found, Some(product));

    let idp = tenant_idp_config::ActiveModel {
        tenant_id: Set(tenant.id),
        r#type: Set(IdpKind::Saml),
        metadata: Set(json!({ "entity_id": "https://idp.acme.example/saml", "metadata_url": "https://idp.acme.example/metadata" })),
        ..Default::default()
    }
    .insert(&db.db)
    .await
    .expect("idp");
    assert!(!idp.verified, "verified defaults to false");
    assert_eq!(
        TenantIdpConfig::find_by_id(idp.id)
            .one(&db.db)
            .await
            .expect("find"),
        Some(idp)
    );

    let key = api_keys::ActiveModel {
        tenant_id: Set(tenant.id),
        product: Set(Some("crm".into())),
        name: Set("ci".into()),
        scopes: Set(vec!["audit:read".into(), "audit:write".into()]),
        hash: Set("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into()),
        prefix: Set("trk_ab12".into()),
        ..Default::default()
    }
    .insert(&db.db)
    .await
    .expect("key");
    let found = ApiKeys::find_by_id(key.id)
        .one(&db.db)
        .await
        .expect("find")
        .expect("row");
    assert_eq!(found.scopes, ["audit:read", "audit:write"]);
    assert_eq!(found, key);
    let unscoped = insert_api_key(&db.db, tenant.id, "empty-scopes")
        .await
        .expect("key");
    db.exec(&format!(
        "UPDATE api_keys SET scopes = DEFAULT WHERE id = '{}'",
        unscoped.id
    ))
    .await;
    let found = ApiKeys::find_by_id(unscoped.id)
        .one(&db.db)
        .await
        .expect("find")
        .expect("row");
    assert!(
        found.scopes.is_empty(),
        "ARRAY[]::TEXT[] reads as an empty Vec"
    );

    let addresses: [IpNetwork; 4] = [
        "203.0.113.7".parse().expect("v4"),
        "2001:db8::42".parse().expect("v6"),
        "10.1.0.0/16".parse().expect("v4 cidr"),
        "2001:db8:abcd::/48".parse().expect("v6 cidr"),
    ];
    for ip in addresses {
        let event = audit_log::ActiveModel {
            tenant_id: Set(Some(tenant.id)),
            project_id: Set(Some(project.id)),
            actor_id: Set(Some("user-1".into())),
            actor_name: Set(Some("Jane".into())),
            actor_type: Set(Some("user".into())),
            action: Set("crm.contact.created".into()),
            target_id: Set(Some("contact-9".into())),
            target_type: Set(Some("contact".into())),
            target_name: Set(Some("Bob".into())),
            product: Set(Some("crm".into())),
            metadata: Set(json!({ "fields": { "email": "bob@example.com" }, "nested": [1, 2, { "x": null }] })),
            source_ip: Set(Some(ip)),
            user_agent: Set(Some("retraced-js/0.7.23".into())),
            ..Default::default()
        }
        .insert(&db.db)
        .await
        .expect("audit event");
        let found = AuditLog::find_by_id(event.id)
            .one(&db.db)
            .await
            .expect("find")
            .expect("row");
        assert_eq!(found.source_ip, Some(ip));
        assert_eq!(found, event);
        let text: String = drift::scalar(
            &db.db,
            &format!(
                "SELECT source_ip::text FROM audit_log WHERE id = {}",
                event.id
            ),
        )
        .await;
        // text(inet) always prints the netmask, so this shows address and prefix both kept.
        assert_eq!(
            text,
            format!("{}/{}", ip.ip(), ip.prefix()),
            "stored as the same INET value"
        );
    }
}

#[tokio::test]
async fn every_enum_value_round_trips_and_labels_match_the_database() {
    let db = TestDb::migrated().await;
    assert_enum_labels::<TenantStatus>(&db.db).await;
    assert_enum_labels::<TenantKind>(&db.db).await;
    assert_enum_labels::<IdpKind>(&db.db).await;
    assert_enum_labels::<TenantProjectStatus>(&db.db).await;

    for (i, status) in TenantStatus::iter().enumerate() {
        for kind in TenantKind::iter() {
            let slug = format!("t{i}-{}", kind.to_value());
            let row = insert_tenant_in(&db.db, &slug, status, kind)
                .await
                .expect("tenant");
            let found = Tenants::find_by_id(row.id)
                .one(&db.db)
                .await
                .expect("find")
                .expect("row");
            assert_eq!((found.status, found.kind), (status, kind));
        }
    }
    let tenant = insert_tenant(&db.db, "idp-host").await.expect("tenant");
    for kind in IdpKind::iter() {
        let row = insert_idp(&db.db, tenant.id, kind).await.expect("idp");
        assert_eq!(
            TenantIdpConfig::find_by_id(row.id)
                .one(&db.db)
                .await
                .expect("find")
                .map(|r| r.r#type),
            Some(kind)
        );
    }
    for status in TenantProjectStatus::iter() {
        let project = insert_project(&db.db, tenant.id, &format!("p-{}", status.to_value()))
            .await
            .expect("project");
        let mut active: tenant_projects::ActiveModel = project.into();
        active.status = Set(status);
        let updated = active.update(&db.db).await.expect("update");
        assert_eq!(
            TenantProjects::find_by_id(updated.id)
                .one(&db.db)
                .await
                .expect("find")
                .map(|p| p.status),
            Some(status)
        );
    }
}

#[tokio::test]
async fn entities_agree_with_the_migrated_tables() {
    let db = TestDb::migrated().await;
    let mut problems = Vec::new();
    problems.extend(drift::entity_drift::<Tenants>(&db.db).await);
    problems.extend(drift::entity_drift::<TenantProjects>(&db.db).await);
    problems.extend(drift::entity_drift::<TenantProducts>(&db.db).await);
    problems.extend(drift::entity_drift::<TenantIdpConfig>(&db.db).await);
    problems.extend(drift::entity_drift::<ApiKeys>(&db.db).await);
    problems.extend(drift::entity_drift::<AuditLog>(&db.db).await);
    problems.extend(drift::entity_drift::<TenantDeletions>(&db.db).await);
    assert!(
        problems.is_empty(),
        "entities and schema disagree:\n{}",
        problems.join("\n")
    );
}

#[tokio::test]
async fn drift_check_reports_a_column_or_label_the_entity_lacks() {
    let db = TestDb::migrated().await;
    db.exec("ALTER TABLE audit_log ADD COLUMN request_id TEXT; ALTER TABLE api_keys ALTER COLUMN prefix DROP NOT NULL;").await;
    let problems = drift::entity_drift::<AuditLog>(&db.db).await;
    assert_eq!(
        problems,
        ["audit_log.request_id: in the table (text NULL) but not in the entity"]
    );
    let problems = drift::entity_drift::<ApiKeys>(&db.db).await;
    assert_eq!(
        problems,
        ["api_keys.prefix: entity says text NOT NULL, table says text NULL"]
    );

    db.exec("ALTER TYPE tenant_status ADD VALUE 'suspended'")
        .await;
    assert_ne!(
        drift::enum_labels(&db.db, "tenant_status").await,
        drift::entity_labels::<TenantStatus>()
    );
}

async fn assert_enum_labels<E: ActiveEnum<Value = String> + Iterable>(db: &DatabaseConnection) {
    let name = E::name().to_string();
    assert_eq!(
        drift::enum_labels(db, &name).await,
        drift::entity_labels::<E>(),
        "labels of {name}"
    );
}
