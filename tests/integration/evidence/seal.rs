//! The sealer: every committed event sealed once, a late commit sealed at the end, one sealer
//! at a time, a batch all or nothing, checkpoints whose signatures and roots verify (with
//! `openssl` too) and that extend one another.

use std::process::Command;

use registry::evidence::leaf::LEAF_COLUMNS;
use registry::evidence::merkle::{Hash, InMemory, Subtrees, consistency_proof};
use registry::evidence::seal::{Pass, SEAL_LOCK, leaf_of, run_once, seal_all};
use registry::evidence::signing::{Checkpoint, LogKey, verify};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use tests::TestDb;

use super::{naive_root, verify_consistency};

/// `n` events of `tenant` (for the verifier's tests too).
pub(super) async fn insert_events_pub(db: &TestDb, tenant: uuid::Uuid, n: usize) {
    insert_events(db, tenant, n).await
}

async fn insert_events(db: &TestDb, tenant: uuid::Uuid, n: usize) {
    db.exec(&format!(
        "INSERT INTO audit_log (tenant_id, action, product, metadata) \
         SELECT '{tenant}', 'crm.event.' || i, 'crm', jsonb_build_object('i', i) \
         FROM generate_series(1, {n}) i"
    ))
    .await;
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.value(sql, vec![]).await
}

/// The leaves' bytes as the rows read now, in the tree's order (the sealed tenant and project
/// where the row's were cleared).
async fn leaf_bytes(db: &TestDb) -> Vec<Vec<u8>> {
    let rows = db
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT {LEAF_COLUMNS} FROM audit_seal_leaf l JOIN audit_log a ON a.id = l.event_id \
                 ORDER BY l.leaf_index"
            ),
        ))
        .await
        .unwrap();
    rows.iter().map(|r| leaf_of(r).unwrap().bytes()).collect()
}

/// Every checkpoint: (size, root, signed_at, signature, public key).
async fn checkpoints(db: &TestDb) -> Vec<(Checkpoint, Vec<u8>, Vec<u8>)> {
    let rows = db
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT size, root, signed_at, signature, public_key, previous_size \
             FROM audit_checkpoint ORDER BY size",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let size: i64 = r.try_get_by_index(0).unwrap();
            let root: Vec<u8> = r.try_get_by_index(1).unwrap();
            let previous: i64 = r.try_get_by_index(5).unwrap();
            (
                Checkpoint {
                    size: size as u64,
                    root: Hash::try_from(root.as_slice()).unwrap(),
                    signed_at: r.try_get_by_index(2).unwrap(),
                    previous: previous as u64,
                },
                r.try_get_by_index(3).unwrap(),
                r.try_get_by_index(4).unwrap(),
            )
        })
        .collect()
}

async fn leaf_hashes(db: &TestDb) -> Vec<Hash> {
    let rows = db
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT leaf_hash FROM audit_seal_leaf ORDER BY leaf_index",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let bytes: Vec<u8> = r.try_get_by_index(0).unwrap();
            Hash::try_from(bytes.as_slice()).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn every_event_is_sealed_and_each_checkpoint_verifies_and_extends_the_last() {
    let db = TestDb::migrated().await;
    let key = LogKey::generate();
    let tenant = tests::fixtures::insert_tenant(&db.db, "acme")
        .await
        .unwrap();
    assert_eq!(run_once(&db.db, &key, 100).await.unwrap(), Pass::Idle);
    insert_events(&db, tenant.id, 37).await;
    assert_eq!(
        run_once(&db.db, &key, 1000).await.unwrap(),
        Pass::Sealed {
            leaves: 37,
            size: 37,
            late: 0
        }
    );
    assert_eq!(run_once(&db.db, &key, 1000).await.unwrap(), Pass::Idle);
    insert_events(&db, tenant.id, 30).await;
    assert_eq!(
        seal_all(&db.db, &key, 7).await.unwrap(),
        30,
        "in batches of 7"
    );

    // The roots are the trees of the rows as they read now, recomputed apart from the server.
    let bytes = leaf_bytes(&db).await;
    assert_eq!(bytes.len(), 67);
    let all = checkpoints(&db).await;
    assert_eq!(
        all.iter().map(|c| c.0.size).collect::<Vec<_>>(),
        vec![37, 44, 51, 58, 65, 67]
    );
    let hashes = leaf_hashes(&db).await;
    for (checkpoint, signature, public) in &all {
        let n = checkpoint.size as usize;
        assert_eq!(checkpoint.root, naive_root(&bytes[..n]), "size {n}");
        let public: [u8; 32] = public.as_slice().try_into().unwrap();
        assert_eq!(public, key.public_bytes());
        assert!(verify(&public, checkpoint, signature));
        let mut other = checkpoint.clone();
        other.size += 1;
        assert!(!verify(&public, &other, signature), "the size is signed");
    }
    // Each names the one before it, and extends it.
    assert_eq!(all[0].0.previous, 0);
    for pair in all.windows(2) {
        assert_eq!(pair[1].0.previous, pair[0].0.size);
    }
    let tree = InMemory(hashes.clone());
    for pair in all.windows(2) {
        let (a, b) = (&pair[0].0, &pair[1].0);
        let proof = consistency_proof(&tree, a.size, b.size).unwrap();
        assert!(verify_consistency(a.size, b.size, &a.root, &b.root, &proof));
    }
    // The stored subtrees are the tree's.
    let nodes = db
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT level, idx, hash FROM audit_seal_node",
        ))
        .await
        .unwrap();
    assert_eq!(
        nodes.len(),
        67 - 67u64.count_ones() as usize,
        "every complete subtree"
    );
    for node in nodes {
        let (level, idx, hash): (i16, i64, Vec<u8>) = (
            node.try_get_by_index(0).unwrap(),
            node.try_get_by_index(1).unwrap(),
            node.try_get_by_index(2).unwrap(),
        );
        assert_eq!(
            tree.perfect(level as u32, idx as u64).unwrap().to_vec(),
            hash
        );
    }

    // The last checkpoint checks out with openssl, by hand, as docs/evidence.md says.
    let (last, signature, _) = all.last().unwrap();
    let dir = std::env::temp_dir().join(format!("seal-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("key.pem"), key.public_pem()).unwrap();
    std::fs::write(dir.join("checkpoint.txt"), last.note()).unwrap();
    std::fs::write(dir.join("checkpoint.sig"), signature).unwrap();
    let openssl = |note: &str| {
        Command::new("openssl")
            .args([
                "pkeyutl", "-verify", "-pubin", "-inkey", "key.pem", "-rawin",
            ])
            .args(["-in", note, "-sigfile", "checkpoint.sig"])
            .current_dir(&dir)
            .output()
            .expect("openssl")
    };
    let out = openssl("checkpoint.txt");
    assert!(out.status.success(), "{out:?}");
    std::fs::write(
        dir.join("forged.txt"),
        last.note().replace("\n67\n", "\n68\n"),
    )
    .unwrap();
    assert!(!openssl("forged.txt").status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_event_committed_late_is_sealed_after_the_ones_that_committed_before_it() {
    let db = TestDb::migrated().await;
    let key = LogKey::generate();
    let tenant = tests::fixtures::insert_tenant(&db.db, "acme")
        .await
        .unwrap();
    insert_events(&db, tenant.id, 3).await;
    // A publisher's transaction takes its id and stays open...
    let other = tests::server::connect(db.url()).await.unwrap();
    let open = other.begin().await.unwrap();
    open.execute_unprepared(&format!(
        "INSERT INTO audit_log (tenant_id, action, product) VALUES ('{}', 'crm.late', 'crm')",
        tenant.id
    ))
    .await
    .unwrap();
    // ...while later events commit and are sealed.
    insert_events(&db, tenant.id, 4).await;
    assert_eq!(seal_all(&db.db, &key, 100).await.unwrap(), 7);
    assert_eq!(
        count(&db, "SELECT count(*) FROM audit_seal_gap").await,
        1,
        "the open transaction's id is watched"
    );
    open.commit().await.unwrap();
    assert_eq!(
        run_once(&db.db, &key, 100).await.unwrap(),
        Pass::Sealed {
            leaves: 1,
            size: 8,
            late: 1
        }
    );
    let late_index: i64 = db
        .value(
            "SELECT l.leaf_index FROM audit_seal_leaf l JOIN audit_log a ON a.id = l.event_id \
             WHERE a.action = 'crm.late'",
            vec![],
        )
        .await;
    assert_eq!(late_index, 7, "at the end of the tree");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM audit_log a \
             WHERE NOT EXISTS (SELECT 1 FROM audit_seal_leaf l WHERE l.event_id = a.id)"
        )
        .await,
        0,
        "nothing skipped"
    );
    let all = checkpoints(&db).await;
    let bytes = leaf_bytes(&db).await;
    let (a, b) = (&all[0].0, &all[1].0);
    assert_eq!(b.root, naive_root(&bytes));
    let proof = consistency_proof(&InMemory(leaf_hashes(&db).await), a.size, b.size).unwrap();
    assert!(verify_consistency(a.size, b.size, &a.root, &b.root, &proof));
    // A rolled-back id leaves a gap that nothing fills, and sealing goes on around it.
    let rolled = other.begin().await.unwrap();
    rolled
        .execute_unprepared(&format!(
            "INSERT INTO audit_log (tenant_id, action, product) VALUES ('{}', 'crm.gone', 'crm')",
            tenant.id
        ))
        .await
        .unwrap();
    rolled.rollback().await.unwrap();
    insert_events(&db, tenant.id, 2).await;
    assert_eq!(seal_all(&db.db, &key, 100).await.unwrap(), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM audit_seal_leaf").await, 10);
}

#[tokio::test]
async fn one_process_seals_at_a_time_and_a_batch_is_all_or_nothing() {
    let db = TestDb::migrated().await;
    let key = LogKey::generate();
    let tenant = tests::fixtures::insert_tenant(&db.db, "acme")
        .await
        .unwrap();
    insert_events(&db, tenant.id, 300).await;

    // While another holds the sealer's lock, a pass does nothing.
    let other = tests::server::connect(db.url()).await.unwrap();
    let holder = other.begin().await.unwrap();
    holder
        .execute_unprepared(&format!("SELECT pg_advisory_xact_lock({SEAL_LOCK})"))
        .await
        .unwrap();
    assert_eq!(run_once(&db.db, &key, 100).await.unwrap(), Pass::Busy);
    holder.rollback().await.unwrap();

    // Two pools sealing at once, as two processes would: every event once.
    let (a, b) = (db.db.clone(), other.clone());
    let (key_a, key_b) = (LogKey::generate(), LogKey::generate());
    let (sealed_a, sealed_b) = tokio::join!(
        async move {
            let mut total = 0;
            for _ in 0..20 {
                total += seal_all(&a, &key_a, 25).await.unwrap();
            }
            total
        },
        async move {
            let mut total = 0;
            for _ in 0..20 {
                total += seal_all(&b, &key_b, 25).await.unwrap();
            }
            total
        }
    );
    assert_eq!(sealed_a + sealed_b, 300);
    assert_eq!(
        count(&db, "SELECT count(*) FROM audit_seal_leaf").await,
        300
    );
    assert_eq!(
        count(&db, "SELECT count(DISTINCT event_id) FROM audit_seal_leaf").await,
        300
    );

    // A pass inside a transaction that does not commit leaves nothing behind: every write of
    // a batch is in its one transaction.
    insert_events(&db, tenant.id, 10).await;
    let before = (
        count(&db, "SELECT count(*) FROM audit_seal_leaf").await,
        count(&db, "SELECT count(*) FROM audit_seal_node").await,
        count(&db, "SELECT count(*) FROM audit_checkpoint").await,
    );
    let outer = db.db.begin().await.unwrap();
    assert!(matches!(
        run_once(&outer, &key, 100).await.unwrap(),
        Pass::Sealed { leaves: 10, .. }
    ));
    drop(outer);
    let after = (
        count(&db, "SELECT count(*) FROM audit_seal_leaf").await,
        count(&db, "SELECT count(*) FROM audit_seal_node").await,
        count(&db, "SELECT count(*) FROM audit_checkpoint").await,
    );
    assert_eq!(after, before);
    // The dropped transaction is rolled back when its connection is next used, holding the
    // sealer's lock until then: a pass meanwhile finds the sealer busy, and a later one seals.
    let mut sealed = 0;
    for _ in 0..100 {
        sealed += seal_all(&db.db, &key, 100).await.unwrap();
        if sealed > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(sealed, 10, "sealed by a next pass");
}

#[tokio::test]
async fn the_server_seals_what_is_published_and_serves_its_public_key() {
    use entity::scope::Scope;
    use serde_json::json;
    use tests::app::TestApp;
    let key = std::sync::Arc::new(LogKey::generate());
    let mut settings = TestApp::settings();
    settings.seal.every = Some(std::time::Duration::from_millis(100));
    settings.seal.key = Some(key.clone());
    let app = TestApp::spawn(settings).await;
    let acme = tests::fixtures::insert_tenant(&app.db.db, "acme")
        .await
        .unwrap();
    let writer = app
        .issue_key(acme.id, "writer", &[Scope::AuditWrite], Some("crm"))
        .await;
    for i in 0..5 {
        app.gql_ok(
            &writer,
            "mutation($a: String!) { recordAuditEvent(input: {action: $a}) { id } }",
            json!({"a": format!("crm.deal.n{i}")}),
        )
        .await;
    }
    let mut sealed = 0;
    for _ in 0..100 {
        sealed = count(&app.db, "SELECT count(*) FROM audit_seal_leaf").await;
        if sealed == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(sealed, 5, "sealed within a few intervals");
    let (checkpoint, signature, _) = checkpoints(&app.db).await.pop().unwrap();
    assert_eq!(checkpoint.size, 5);
    let served = app.text("/.well-known/audit-log-key").await;
    assert_eq!(served, key.public_pem());
    let public = registry::evidence::signing::parse_public_pem(&served).unwrap();
    assert!(verify(&public, &checkpoint, &signature));
    let metrics = app.text("/metrics").await;
    assert!(
        metrics.contains("tenant_registry_audit_events_sealed_total 5"),
        "{metrics}"
    );
    // A server that does not seal says so.
    let plain = TestApp::spawn(TestApp::settings()).await;
    let response = plain
        .http()
        .get(plain.url("/.well-known/audit-log-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}
