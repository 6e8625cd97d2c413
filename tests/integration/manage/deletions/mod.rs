//! deleteTenant of a tenant with more audit events than the server deletes at once, through the
//! server: accepted, keys revoked and entitlements and identity providers removed, events
//! cleared in batches by the worker, the tenant deleted at the end; no key, entitlement or
//! identity provider added to a tenant on its way out. The worker's own steps: [`worker`].

mod worker;

use std::time::{Duration, Instant};

use chrono::Utc;
use entity::prelude::{
    ApiKeys, AuditLog, TenantDeletions, TenantIdpConfig, TenantProjects, Tenants,
};
use entity::scope::Scope;
use entity::sea_orm_active_enums::IdpKind;
use entity::{api_keys, audit_log, tenant_deletions, tenant_idp_config};
use registry::deletions::DeletionSettings;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, TransactionTrait,
};
use serde_json::json;
use tests::TestDb;
use tests::app::{Ev, TestApp, error_code};
use tests::fixtures::{insert_idp, insert_product, insert_project, insert_tenant};
use uuid::Uuid;

use super::Ops;

const DELETE: &str =
    "mutation($id: UUID!, $r: String) { deleteTenant(id: $id, reason: $r) { slug } }";
const ENTITLED: &str =
    "query($t: UUID!, $p: String!) { entitlement(tenantId: $t, product: $p) { enabled } }";
const DELETION: &str =
    "query($id: UUID!) { tenant(id: $id) { deletion { requestedBy reason eventsDetached } } }";

/// Small enough that a handful of events is "many".
const SMALL: DeletionSettings = DeletionSettings {
    inline_events: 4,
    batch_events: 3,
};

/// `n` events of `tenant` (every other one in `project`); their ids.
async fn events(db: &TestDb, tenant: Uuid, project: Option<Uuid>, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let mut ev = Ev::new(tenant, Utc::now());
        ev.project = project.filter(|_| i % 2 == 0);
        ev.metadata = json!({ "n": i });
        ids.push(ev.insert(db).await);
    }
    ids
}

/// The (tenant, project) of each of these events, in their order.
async fn owners(db: &DatabaseConnection, ids: &[i64]) -> Vec<(Option<Uuid>, Option<Uuid>)> {
    let mut rows = AuditLog::find()
        .filter(audit_log::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
        .unwrap();
    rows.sort_by_key(|r| r.id);
    assert_eq!(rows.len(), ids.len(), "every event is still there");
    rows.into_iter()
        .map(|r| (r.tenant_id, r.project_id))
        .collect()
}

async fn tenant_exists(db: &DatabaseConnection, id: Uuid) -> bool {
    Tenants::find_by_id(id).one(db).await.unwrap().is_some()
}

/// Waits (up to 30 s) for the worker to delete `id`.
async fn until_deleted(db: &DatabaseConnection, id: Uuid) {
    let start = Instant::now();
    while tenant_exists(db, id).await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the worker did not finish the deletion"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_tenant_with_more_events_than_the_bound_is_deleted_in_stages() {
    let ops = Ops::with_app(
        TestApp::spawn({
            let mut settings = TestApp::settings();
            settings.deletions = SMALL;
            settings
        })
        .await,
    )
    .await;
    let db = &ops.app.db.db;
    // At the bound: deleted at once, as before.
    let small = insert_tenant(db, "small").await.unwrap().id;
    let small_events = events(&ops.app.db, small, None, 4).await;
    ops.gql_ok(DELETE, json!({"id": small})).await;
    assert!(
        !tenant_exists(db, small).await,
        "deleted within the request"
    );
    assert_eq!(owners(db, &small_events).await, vec![(None, None); 4]);
    assert!(ops.audit("tenant.deletion_started").await.is_empty());

    let project = insert_project(db, ops.acme, "web").await.unwrap().id;
    let acme_events = events(&ops.app.db, ops.acme, Some(project), 10).await;
    let globex = insert_tenant(db, "globex").await.unwrap().id;
    let globex_events = events(&ops.app.db, globex, None, 2).await;
    let acme_key = ops
        .key_for(ops.acme, "acme-reader", &[Scope::AuditRead])
        .await;
    ops.app
        .gql_ok(&acme_key, "{ viewer { keyId } }", json!({}))
        .await;
    insert_product(db, ops.acme, "crm").await.unwrap();
    insert_idp(db, ops.acme, IdpKind::Oidc).await.unwrap();
    let before = ops.audit_count().await;

    // Hold the tenant's events so that the worker's first batch waits: the deletion stays
    // under way while it is looked at.
    let hold = db.begin().await.unwrap();
    AuditLog::find()
        .filter(audit_log::Column::TenantId.eq(ops.acme))
        .lock_exclusive()
        .all(&hold)
        .await
        .unwrap();
    let data = ops
        .gql_ok(DELETE, json!({"id": ops.acme, "r": "contract ended"}))
        .await;
    assert_eq!(data["deleteTenant"]["slug"], "acme");
    assert!(tenant_exists(db, ops.acme).await, "still there, under way");
    let shown = ops.gql_ok(DELETION, json!({"id": ops.acme})).await;
    assert_eq!(
        shown["tenant"]["deletion"],
        json!({"requestedBy": "operator", "reason": "contract ended", "eventsDetached": 0})
    );
    let refused = ops
        .app
        .gql(&acme_key, "{ viewer { keyId } }", json!({}))
        .await;
    assert_eq!(
        error_code(&refused),
        "UNAUTHENTICATED",
        "its keys are revoked"
    );
    let started = ops.only_audit("tenant.deletion_started", "u").await;
    assert_eq!(started.tenant_id, None);
    assert_eq!(started.target_id, Some(ops.acme.to_string()));
    assert_eq!(started.metadata["reason"], "contract ended");
    assert_eq!(
        (
            started.metadata["after"]["keys_revoked"].clone(),
            started.metadata["after"]["entitlements_removed"].clone(),
            started.metadata["after"]["idp_configs_removed"].clone(),
        ),
        (json!(1), json!(1), json!(1))
    );
    let entitled = ops
        .gql_ok(ENTITLED, json!({"t": ops.acme, "p": "crm"}))
        .await;
    assert_eq!(
        entitled["entitlement"],
        json!(null),
        "products stop answering for it at once"
    );
    assert!(
        TenantIdpConfig::find()
            .filter(tenant_idp_config::Column::TenantId.eq(ops.acme))
            .all(db)
            .await
            .unwrap()
            .is_empty(),
        "its SSO is gone at once"
    );
    hold.rollback().await.unwrap();

    until_deleted(db, ops.acme).await;
    assert_eq!(owners(db, &acme_events).await, vec![(None, None); 10]);
    assert_eq!(
        owners(db, &globex_events).await,
        vec![(Some(globex), None); 2],
        "another tenant's events are untouched"
    );
    let deleted: Vec<_> = ops
        .audit("tenant.deleted")
        .await
        .into_iter()
        .filter(|r| r.target_id == Some(ops.acme.to_string()))
        .collect();
    assert_eq!(deleted.len(), 1);
    let row = &deleted[0];
    assert_eq!(
        (
            row.actor_id.clone(),
            row.actor_name.as_deref(),
            row.tenant_id
        ),
        (Some(ops.key_id.to_string()), Some("operator"), None),
        "recorded as the key that asked"
    );
    assert_eq!(row.metadata["before"]["slug"], "acme");
    assert_eq!(row.metadata["reason"], "contract ended");
    assert_eq!(
        ops.audit_count().await,
        before + 2,
        "no event lost, two added"
    );
    assert!(
        TenantProjects::find_by_id(project)
            .one(db)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(TenantDeletions::find().all(db).await.unwrap().len(), 0);
    let metrics = ops.app.text("/metrics").await;
    for line in [
        "tenant_registry_deletion_events_cleared_total 10",
        "tenant_registry_tenants_deleted_in_stages_total 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn nothing_is_added_to_a_tenant_being_deleted_and_asking_again_returns_it() {
    let ops = Ops::new().await;
    let db = &ops.app.db.db;
    tenant_deletions::ActiveModel {
        tenant_id: Set(ops.acme),
        requested_by_key_id: Set(ops.key_id),
        requested_by_key_name: Set("operator".into()),
        reason: Set(Some("first ask".into())),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    // Keep the server's worker off it while it is looked at.
    let hold = db.begin().await.unwrap();
    TenantDeletions::find_by_id(ops.acme)
        .lock_exclusive()
        .one(&hold)
        .await
        .unwrap();
    let issue = ops
        .gql(
            "mutation($t: UUID!) { issueApiKey(tenantId: $t, name: \"late\", scopes: [\"audit:read\"]) { key } }",
            json!({"t": ops.acme}),
        )
        .await;
    assert_eq!(error_code(&issue), "CONFLICT", "{issue}");
    let entitle = ops
        .gql(
            "mutation($t: UUID!) { setEntitlement(tenantId: $t, product: \"crm\") { product } }",
            json!({"t": ops.acme}),
        )
        .await;
    assert_eq!(error_code(&entitle), "CONFLICT", "{entitle}");
    let idp = ops
        .gql(
            "mutation($t: UUID!, $m: JSON!) { setIdpConfig(tenantId: $t, type: OIDC, metadata: $m) { id } }",
            json!({"t": ops.acme, "m": {"discovery_url": "https://idp.example/.well-known/openid-configuration", "client_id": "registry"}}),
        )
        .await;
    assert_eq!(error_code(&idp), "CONFLICT", "{idp}");
    let keys = ApiKeys::find()
        .filter(api_keys::Column::TenantId.eq(ops.acme))
        .all(db)
        .await
        .unwrap();
    assert!(keys.is_empty());
    let again = ops
        .gql_ok(DELETE, json!({"id": ops.acme, "r": "second ask"}))
        .await;
    assert_eq!(again["deleteTenant"]["slug"], "acme");
    let shown = ops.gql_ok(DELETION, json!({"id": ops.acme})).await;
    assert_eq!(
        shown["tenant"]["deletion"]["reason"], "first ask",
        "the deletion under way, not a second one"
    );
    assert!(ops.audit("tenant.deletion_started").await.is_empty());
    hold.rollback().await.unwrap();
    // Asking once more (the worker may already have finished: then the tenant is gone).
    let nudge = ops.gql(DELETE, json!({"id": ops.acme})).await;
    assert!(
        nudge["data"]["deleteTenant"]["slug"] == "acme" || error_code(&nudge) == "NOT_FOUND",
        "{nudge}"
    );
    until_deleted(db, ops.acme).await;
    assert_eq!(ops.audit("tenant.deleted").await.len(), 1);
}
