//! The deletions' worker on its own (no server): step by step, resumed by another worker,
//! taking turns, two workers at once, a slow last step.

use std::time::Duration;

use entity::audit_log;
use entity::prelude::{ApiKeys, AuditLog, TenantDeletions};
use entity::scope::Scope;
use registry::auth::Principal;
use registry::deletions::{self, DeletionSettings, Deletions, Step};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Statement, TransactionTrait,
};
use tests::TestDb;
use tests::fixtures::insert_tenant;
use uuid::Uuid;

use super::{SMALL, events, owners, tenant_exists};

/// `tenant`'s deletion accepted as `deleteTenant` accepts it, asked by an "operator" key.
async fn accept(db: &TestDb, tenant: &entity::tenants::Model) -> deletions::Accepted {
    let caller = Principal {
        key_id: Uuid::new_v4(),
        key_name: "operator".into(),
        tenant_id: tenant.id,
        tenant_slug: tenant.slug.clone(),
        scopes: Scope::ALL.into_iter().collect(),
        product: None,
        expires_at: None,
    };
    let txn = db.db.begin().await.unwrap();
    let accepted = deletions::accept(&txn, tenant, &caller, Some("test".into()))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    accepted
}

/// A tenant with 10 events (and one of globex), its deletion accepted as `deleteTenant` does.
async fn accepted(db: &TestDb) -> (Uuid, Vec<i64>, Vec<i64>) {
    let acme = insert_tenant(&db.db, "acme").await.unwrap();
    let acme_events = events(db, acme.id, None, 10).await;
    let globex = insert_tenant(&db.db, "globex").await.unwrap().id;
    let globex_events = events(db, globex, None, 1).await;
    let key = registry::keys::issue(
        &db.db,
        registry::keys::Issuer::Operator("tests"),
        registry::keys::NewKey::new(acme.id, "acme-key", &[Scope::AuditRead]),
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
    assert_eq!(worker.finish_all().await.unwrap(), 1);
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
    let (ra, rb) = tokio::join!(a.finish_all(), b.finish_all());
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
