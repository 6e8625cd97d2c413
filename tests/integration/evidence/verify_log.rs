//! `api verify-log`'s checks (`registry::evidence::verify`): a clean log verifies; each kind of
//! tampering, done with plain SQL on a database of its own, is caught and named.

use registry::evidence::seal::{mark_pruned, seal_all};
use registry::evidence::signing::LogKey;
use registry::evidence::verify::{Problem, Report, verify_log};
use tests::TestDb;

use super::seal::insert_events_pub as insert_events;

/// A database with 3 batches sealed (sizes 10, 20, 25) by `key`, and the tenants' ids.
async fn sealed_log(key: &LogKey) -> (TestDb, uuid::Uuid, uuid::Uuid) {
    let db = TestDb::migrated().await;
    let acme = tests::fixtures::insert_tenant(&db.db, "acme")
        .await
        .unwrap();
    let globex = tests::fixtures::insert_tenant(&db.db, "globex")
        .await
        .unwrap();
    insert_events(&db, acme.id, 10).await;
    seal_all(&db.db, key, 100).await.unwrap();
    insert_events(&db, globex.id, 10).await;
    seal_all(&db.db, key, 100).await.unwrap();
    insert_events(&db, acme.id, 5).await;
    seal_all(&db.db, key, 100).await.unwrap();
    (db, acme.id, globex.id)
}

async fn verify(db: &TestDb, key: &LogKey, from: Option<u64>) -> Result<Report, Problem> {
    verify_log(&db.db, &key.public_bytes(), from, |_| {})
        .await
        .unwrap()
}

async fn id_of(db: &TestDb, leaf: i64) -> i64 {
    db.value(
        &format!("SELECT event_id FROM audit_seal_leaf WHERE leaf_index = {leaf}"),
        vec![],
    )
    .await
}

#[tokio::test]
async fn a_clean_log_verifies_and_so_do_the_changes_the_schema_makes() {
    let key = LogKey::generate();
    let (db, acme, _) = sealed_log(&key).await;
    let mut progress = Vec::new();
    let report = verify_log(&db.db, &key.public_bytes(), None, |n| progress.push(n))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        report,
        Report {
            leaves: 25,
            pruned: 0,
            checkpoints: 3,
            pending: 0
        }
    );
    assert_eq!(progress.last(), Some(&25), "progress is reported");
    // From a checkpoint in the middle.
    assert_eq!(verify(&db, &key, Some(20)).await.unwrap().checkpoints, 2);
    assert_eq!(verify(&db, &key, Some(21)).await, Err(Problem::NoStart(21)));
    // Events not sealed yet are counted, not refused.
    insert_events(&db, acme, 2).await;
    assert_eq!(verify(&db, &key, None).await.unwrap().pending, 2);
    // Deleting a tenant clears its events' tenant: still the events as sealed.
    db.exec(&format!("DELETE FROM tenants WHERE id = '{acme}'"))
        .await;
    assert_eq!(verify(&db, &key, None).await.unwrap().leaves, 25);
    // Events removed on purpose, their leaves marked first, are counted as pruned.
    let (db, acme, _) = sealed_log(&key).await;
    mark_pruned(&db.db, &[acme], "demo.reset").await.unwrap();
    db.exec(&format!("DELETE FROM audit_log WHERE tenant_id = '{acme}'"))
        .await;
    let report = verify(&db, &key, None).await.unwrap();
    assert_eq!((report.leaves, report.pruned), (25, 15));
}

#[tokio::test]
async fn every_kind_of_tampering_is_caught_and_named() {
    let key = LogKey::generate();

    // An edited row.
    let (db, _, _) = sealed_log(&key).await;
    let event = id_of(&db, 12).await;
    db.exec(&format!(
        "UPDATE audit_log SET action = 'crm.nothing.happened' WHERE id = {event}"
    ))
    .await;
    assert_eq!(
        verify(&db, &key, None).await,
        Err(Problem::Edited { event, leaf: 12 })
    );
    let message = Problem::Edited { event, leaf: 12 }.to_string();
    assert!(message.contains(&format!("event {event}")), "{message}");

    // Metadata edited, even with the same keys.
    let (db, _, _) = sealed_log(&key).await;
    let event = id_of(&db, 3).await;
    db.exec(&format!(
        "UPDATE audit_log SET metadata = '{{\"i\": 99}}' WHERE id = {event}"
    ))
    .await;
    assert_eq!(
        verify(&db, &key, None).await,
        Err(Problem::Edited { event, leaf: 3 })
    );

    // An event moved to another tenant.
    let (db, acme, globex) = sealed_log(&key).await;
    let event = id_of(&db, 0).await;
    db.exec(&format!(
        "UPDATE audit_log SET tenant_id = '{globex}' WHERE id = {event}"
    ))
    .await;
    assert_eq!(
        verify(&db, &key, None).await,
        Err(Problem::Moved {
            event,
            leaf: 0,
            what: "tenant",
            now: globex,
            sealed: acme
        })
    );

    // A tenant cleared by hand while the tenant still exists (the schema clears it only when
    // the tenant is deleted, which verifies: see above).
    let (db, acme, _) = sealed_log(&key).await;
    let event = id_of(&db, 1).await;
    db.exec(&format!(
        "UPDATE audit_log SET tenant_id = NULL WHERE id = {event}"
    ))
    .await;
    assert_eq!(
        verify(&db, &key, None).await,
        Err(Problem::Cleared {
            event,
            leaf: 1,
            what: "tenant",
            sealed: acme
        })
    );

    // An event dated at infinity by hand: named as an edit, not a failure of the verifier.
    let (db, _, _) = sealed_log(&key).await;
    let event = id_of(&db, 5).await;
    db.exec(&format!(
        "UPDATE audit_log SET created_at = 'infinity' WHERE id = {event}"
    ))
    .await;
    assert_eq!(
        verify(&db, &key, None).await,
        Err(Problem::Edited { event, leaf: 5 })
    );

    // A deleted row.
    let (db, _, _) = sealed_log(&key).await;
    let event = id_of(&db, 24).await;
    db.exec(&format!("DELETE FROM audit_log WHERE id = {event}"))
        .await;
    assert_eq!(
        verify(&db, &key, None).await,
        Err(Problem::Deleted { event, leaf: 24 })
    );

    // A row inserted with an old id.
    let (db, acme, _) = sealed_log(&key).await;
    db.exec(&format!(
        "INSERT INTO audit_log (id, tenant_id, action) VALUES (-5, '{acme}', 'crm.backdated')"
    ))
    .await;
    assert_eq!(
        verify(&db, &key, None).await,
        Err(Problem::Unsealed { event: -5 })
    );

    // A leaf removed from the sealed log.
    let (db, _, _) = sealed_log(&key).await;
    db.exec("DELETE FROM audit_seal_leaf WHERE leaf_index = 7")
        .await;
    assert_eq!(
        verify(&db, &key, None).await,
        Err(Problem::LeafMissing { leaf: 7, found: 8 })
    );

    // A checkpoint deleted from the middle, and the last one.
    let (db, _, _) = sealed_log(&key).await;
    db.exec("DELETE FROM audit_checkpoint WHERE size = 20")
        .await;
    assert_eq!(
        verify(&db, &key, None).await,
        Err(Problem::Chain {
            size: 25,
            previous: 20,
            found: 10
        })
    );
    let (db, _, _) = sealed_log(&key).await;
    db.exec("DELETE FROM audit_checkpoint WHERE size = 25")
        .await;
    assert_eq!(
        verify(&db, &key, None).await,
        Err(Problem::Uncovered { from: 20, to: 25 })
    );

    // A checkpoint altered: its root, or re-signed with another key.
    let (db, _, _) = sealed_log(&key).await;
    db.exec("UPDATE audit_checkpoint SET root = sha256(root) WHERE size = 10")
        .await;
    assert_eq!(
        verify(&db, &key, None).await,
        Err(Problem::Signature { size: 10 })
    );
    let (db, _, _) = sealed_log(&key).await;
    assert_eq!(
        verify_log(&db.db, &LogKey::generate().public_bytes(), None, |_| {})
            .await
            .unwrap(),
        Err(Problem::Signature { size: 10 }),
        "another key's signatures do not pass"
    );
}

/// The attack `verify-log` alone cannot see: with database access, the newest checkpoint, its
/// leaves and subtrees deleted, a row beneath them changed, and the server's sealer left to sign
/// the changed tail. The sealer's witness (the last checkpoint it signed, kept in a file) makes
/// it refuse, also after a restart; an honest log keeps sealing.
#[tokio::test]
async fn the_sealer_refuses_to_sign_a_tail_rewritten_behind_its_back() {
    use registry::ApiError;
    use registry::evidence::seal::{Witness, seal_all_witnessed};
    let key = LogKey::generate();
    let db = TestDb::migrated().await;
    let acme = tests::fixtures::insert_tenant(&db.db, "acme")
        .await
        .unwrap();
    let path = std::env::temp_dir().join(format!("witness-{}.checkpoint", uuid::Uuid::new_v4()));
    let witness = Witness::file(&path).unwrap();
    insert_events(&db, acme.id, 10).await;
    assert_eq!(
        seal_all_witnessed(&db.db, &key, 100, &witness)
            .await
            .unwrap(),
        10
    );
    insert_events(&db, acme.id, 5).await;
    assert_eq!(
        seal_all_witnessed(&db.db, &key, 100, &witness)
            .await
            .unwrap(),
        5
    );
    let note = std::fs::read_to_string(&path).unwrap();
    assert!(
        note.starts_with("tenant-registry audit log v1\n15\n"),
        "{note}"
    );

    // The tail rewritten: the last batch's checkpoint, leaves and subtrees gone, a row of it
    // changed, and something new to seal.
    let changed = id_of(&db, 12).await;
    db.exec("DELETE FROM audit_checkpoint WHERE size = 15")
        .await;
    db.exec("DELETE FROM audit_seal_leaf WHERE leaf_index >= 10")
        .await;
    db.exec("DELETE FROM audit_seal_node WHERE (idx + 1) * (1 << level) > 10")
        .await;
    db.exec(&format!(
        "UPDATE audit_log SET action = 'crm.forged' WHERE id = {changed}"
    ))
    .await;
    insert_events(&db, acme.id, 1).await;
    // Without the witness the rewritten log would be sealed and would verify; with it, nothing
    // is signed.
    let refused = seal_all_witnessed(&db.db, &key, 100, &witness).await;
    assert!(
        matches!(&refused, Err(ApiError::Conflict { message, .. }) if message.contains("size 15")),
        "{refused:?}"
    );
    let restarted = Witness::file(&path).unwrap();
    let again = seal_all_witnessed(&db.db, &key, 100, &restarted).await;
    assert!(again.is_err(), "{again:?} {:?}", restarted.last());
    let checkpoints: i64 = db
        .value("SELECT count(*) FROM audit_checkpoint", vec![])
        .await;
    assert_eq!(checkpoints, 1);
    // A sealer without that witness (a server that lost it) signs the rewritten tail, and the
    // log then verifies on its own; against the witness (`api verify-log --witness`) it does not.
    assert_eq!(seal_all(&db.db, &key, 100).await.unwrap(), 6);
    assert!(verify(&db, &key, None).await.is_ok());
    let known = registry::evidence::seal::parse_note(&note).unwrap();
    let against = registry::evidence::verify::verify_log_against(
        &db.db,
        &key.public_bytes(),
        None,
        &[known],
        |_| {},
    )
    .await
    .unwrap();
    assert!(
        matches!(against, Err(Problem::Rewritten { size: 15, .. })),
        "{against:?}"
    );
    // A witness of an honest log lets every pass through.
    let honest = TestDb::migrated().await;
    let globex = tests::fixtures::insert_tenant(&honest.db, "globex")
        .await
        .unwrap();
    insert_events(&honest, globex.id, 3).await;
    let fresh = Witness::in_memory();
    assert_eq!(
        seal_all_witnessed(&honest.db, &key, 100, &fresh)
            .await
            .unwrap(),
        3
    );
    insert_events(&honest, globex.id, 4).await;
    assert_eq!(
        seal_all_witnessed(&honest.db, &key, 100, &fresh)
            .await
            .unwrap(),
        4
    );
    assert_eq!(fresh.last().map(|l| l.0), Some(7));
    let _ = std::fs::remove_file(&path);
}
