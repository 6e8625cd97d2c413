//! deleteTenant of a tenant with more audit events than the server deletes at once: accepted,
//! keys revoked and entitlements and identity providers removed, events cleared in batches by
//! the worker, the tenant deleted at the end; a deletion interrupted and resumed; two workers;
//! no key, entitlement or identity provider added to a tenant on its way out.

use std::time::{Duration, Instant};

use api::auth::Principal;
use api::deletions::{self, DeletionSettings, Deletions, Step};
use chrono::Utc;
use entity::prelude::{
    ApiKeys, AuditLog, TenantDeletions, TenantIdpConfig, TenantProjects, Tenants,
};
use entity::scope::Scope;
use entity::sea_orm_active_enums::IdpKind;
use entity::{api_keys, audit_log, tenant_deletions, tenant_idp_config};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
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
    let ops = Ops::with_app(TestApp::spawn_deleting(SMALL).await).await;
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
    let metrics = ops
        .app
        .http()
        .get(ops.app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "tenant_registry_deletion_events_cleared_total 10",
        "tenant_registry_tenants_deleted_in_stages_total 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

/// A tenant with 10 events (and one of globex), its deletion accepted as `deleteTenant` does.
/// `tenant`'s deletion accepted as `deleteTenant` accepts it, asked by an "operator" key.
async fn accept(db: &TestDb, tenant: &entity::tenants::Model) -> deletions::Accepted {
    let caller = Principal {
        key_id: Uuid::new_v4(),
        key_name: "operator".into(),
        tenant_id: tenant.id,
        tenant_slug: tenant.slug.clone(),
        scopes: Scope::ALL.into_iter().collect(),
        product: None,
    };
    let txn = db.db.begin().await.unwrap();
    let accepted = deletions::accept(&txn, tenant, &caller, Some("test".into()))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    accepted
}

async fn accepted(db: &TestDb) -> (Uuid, Vec<i64>, Vec<i64>) {
    let acme = insert_tenant(&db.db, "acme").await.unwrap();
    let acme_events = events(db, acme.id, None, 10).await;
    let globex = insert_tenant(&db.db, "globex").await.unwrap().id;
    let globex_events = events(db, globex, None, 1).await;
    let key = entity::keys::issue_key(
        &db.db,
        entity::keys::NewKey {
            tenant_id: acme.id,
            name: "acme-key".into(),
            scopes: vec![Scope::AuditRead],
            product: None,
            created_by: None,
        },
    )
    .await
    .unwrap();
    let accepted = accept(db, &acme).await;
    assert_eq!(accepted.revoked_keys, vec![key.record.id]);
    assert_eq!(accepted.deletion.events_detached, 0);
    let stored = ApiKeys::find_by_id(key.record.id)
        .one(&db.db)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.revoked_at.is_some(), "the tenant's key is revoked");
    (acme.id, acme_events, globex_events)
}

async fn detached(db: &DatabaseConnection, ids: &[i64]) -> usize {
    owners(db, ids)
        .await
        .iter()
        .filter(|o| o.0.is_none())
        .count()
}

#[tokio::test]
async fn a_deletion_goes_batch_by_batch_and_a_new_worker_finishes_an_interrupted_one() {
    let db = TestDb::migrated().await;
    let (acme, acme_events, globex_events) = accepted(&db).await;
    let first = Deletions::new(db.db.clone(), SMALL);
    assert_eq!(first.step(acme).await.unwrap(), Step::Detached(3));
    assert_eq!(first.step(acme).await.unwrap(), Step::Detached(3));
    assert_eq!(detached(&db.db, &acme_events).await, 6);
    let progress = TenantDeletions::find_by_id(acme)
        .one(&db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(progress.events_detached, 6);
    assert!(tenant_exists(&db.db, acme).await);
    drop(first);

    // As after a restart: another worker finds the deletion and finishes it.
    let second = Deletions::new(db.db.clone(), SMALL);
    assert_eq!(second.finish_all().await.unwrap(), 1);
    assert!(!tenant_exists(&db.db, acme).await);
    assert_eq!(detached(&db.db, &acme_events).await, 10);
    assert_eq!(detached(&db.db, &globex_events).await, 0);
    let rows = AuditLog::find()
        .filter(audit_log::Column::Action.eq("tenant.deleted"))
        .all(&db.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_name.as_deref(), Some("operator"));
    assert_eq!(rows[0].metadata["reason"], "test");
    assert_eq!(second.step(acme).await.unwrap(), Step::Elsewhere);
    assert_eq!(second.finish_all().await.unwrap(), 0);
}

/// The tenant's rows in `audit_metadata_term`.
async fn terms(db: &DatabaseConnection, tenant: Uuid) -> i64 {
    db.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT count(*) FROM audit_metadata_term WHERE tenant_id = $1",
        [tenant.into()],
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

#[tokio::test]
async fn the_steps_clear_the_events_then_the_terms_then_delete_the_tenant() {
    let db = TestDb::migrated().await;
    let (acme, _, _) = accepted(&db).await;
    assert_eq!(
        terms(&db.db, acme).await,
        10,
        "one term an event: {{\"n\": i}}"
    );
    let worker = Deletions::new(
        db.db.clone(),
        DeletionSettings {
            inline_events: 0,
            batch_events: 4,
        },
    );
    let mut steps = Vec::new();
    loop {
        let step = worker.step(acme).await.unwrap();
        steps.push(step);
        if !matches!(step, Step::Detached(_) | Step::TermsForgotten(_)) {
            break;
        }
        if matches!(step, Step::TermsForgotten(_)) {
            assert!(tenant_exists(&db.db, acme).await);
        }
    }
    assert_eq!(
        steps,
        vec![
            Step::Detached(4),
            Step::Detached(4),
            Step::Detached(2),
            Step::TermsForgotten(10),
            Step::Deleted {
                events_detached: 10
            },
        ]
    );
    assert!(!tenant_exists(&db.db, acme).await);
}

#[tokio::test]
async fn the_last_step_is_not_bound_by_the_servers_statement_timeout() {
    let db = TestDb::migrated().await;
    let (acme, _, _) = accepted(&db).await;
    // Deleting the tenant takes longer than the server's statement timeout, as the foreign
    // keys' lookups over a large tenant's dead index entries do until a vacuum.
    db.exec(
        "CREATE FUNCTION slow_delete() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(3); RETURN OLD; END $$; \
         CREATE TRIGGER slow_delete BEFORE DELETE ON tenants \
         FOR EACH ROW EXECUTE FUNCTION slow_delete()",
    )
    .await;
    let pool = api::startup::connect(db.url(), 2, Duration::from_secs(1))
        .await
        .unwrap();
    let worker = Deletions::new(pool, SMALL);
    assert!(worker.finish(acme).await.unwrap());
    assert!(!tenant_exists(&db.db, acme).await);
}

#[tokio::test]
async fn deletions_take_turns_so_a_small_one_asked_later_finishes_first() {
    let db = TestDb::migrated().await;
    let big = insert_tenant(&db.db, "big").await.unwrap();
    events(&db, big.id, None, 12).await;
    let small = insert_tenant(&db.db, "small").await.unwrap();
    events(&db, small.id, None, 2).await;
    accept(&db, &big).await;
    accept(&db, &small).await;
    let worker = Deletions::new(db.db.clone(), SMALL);
    assert_eq!(worker.finish_all().await.unwrap(), 2);
    let order: Vec<Option<String>> = AuditLog::find()
        .filter(audit_log::Column::Action.eq("tenant.deleted"))
        .order_by_asc(audit_log::Column::Id)
        .all(&db.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.target_name)
        .collect();
    assert_eq!(order, vec![Some("small".into()), Some("big".into())]);
}

#[tokio::test]
async fn two_workers_on_one_deletion_delete_the_tenant_once() {
    let db = TestDb::migrated().await;
    let (acme, acme_events, _) = accepted(&db).await;
    let one_at_a_time = DeletionSettings {
        inline_events: 0,
        batch_events: 1,
    };
    let (a, b) = (
        Deletions::new(db.db.clone(), one_at_a_time),
        Deletions::new(db.db.clone(), one_at_a_time),
    );
    let (ra, rb) = tokio::join!(a.finish(acme), b.finish(acme));
    // The one that finds the deletion held stops (the holder goes on); exactly one deletes.
    assert_ne!(ra.unwrap(), rb.unwrap());
    assert!(!tenant_exists(&db.db, acme).await);
    assert_eq!(detached(&db.db, &acme_events).await, 10);
    let deleted = db
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) FROM audit_log WHERE action = 'tenant.deleted'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(deleted, 1, "one tenant.deleted, whoever finished");
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
    ops.gql_ok(DELETE, json!({"id": ops.acme})).await;
    until_deleted(db, ops.acme).await;
    assert_eq!(ops.audit("tenant.deleted").await.len(), 1);
}
