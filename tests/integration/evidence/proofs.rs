//! The proofs over GraphQL: an event's seal, checkpoints and consistency proofs, each checked
//! with the independent verifier of this module's parent and the served public key.

use std::time::Duration;

use entity::scope::Scope;
use registry::evidence::merkle::Hash;
use registry::evidence::signing::{Checkpoint, LogKey, parse_public_pem, verify};
use serde_json::{Value, json};
use tests::app::{TestApp, error_code};

use super::{verify_consistency, verify_inclusion};

pub(super) fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn hash(text: &Value) -> Hash {
    Hash::try_from(unhex(text.as_str().unwrap()).as_slice()).unwrap()
}

const SEAL: &str = "query($id: ID!) { auditEvent(id: $id) { id action seal {
  leafIndex leafHash inclusionProof checkpoint { size previousSize rootHash signedAt signature note } } } }";

pub(super) async fn sealing_app() -> TestApp {
    let mut settings = TestApp::settings();
    settings.seal.every = Some(Duration::from_millis(100));
    settings.seal.key = Some(std::sync::Arc::new(LogKey::generate()));
    TestApp::spawn(settings).await
}

/// The public key the app serves at `/.well-known/audit-log-key`.
pub(super) async fn served_public_key(app: &TestApp) -> [u8; 32] {
    parse_public_pem(&app.text("/.well-known/audit-log-key").await).unwrap()
}

pub(super) async fn record(app: &TestApp, key: &str, action: &str) -> String {
    let data = app
        .gql_ok(
            key,
            "mutation($a: String!) { recordAuditEvent(input: {action: $a}) { id } }",
            json!({"a": action}),
        )
        .await;
    data["recordAuditEvent"]["id"].as_str().unwrap().to_owned()
}

pub(super) async fn sealed(app: &TestApp, key: &str, id: &str) -> Value {
    for _ in 0..100 {
        let data = app.gql_ok(key, SEAL, json!({"id": id})).await;
        if !data["auditEvent"]["seal"].is_null() {
            return data["auditEvent"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("event {id} was not sealed");
}

#[tokio::test]
async fn an_events_seal_proves_it_is_in_the_signed_log() {
    let app = sealing_app().await;
    let acme = tests::fixtures::insert_tenant(&app.db.db, "acme")
        .await
        .unwrap();
    let globex = tests::fixtures::insert_tenant(&app.db.db, "globex")
        .await
        .unwrap();
    let acme_key = app
        .issue_key(
            acme.id,
            "crm",
            &[Scope::AuditWrite, Scope::AuditRead],
            Some("crm"),
        )
        .await;
    let globex_key = app
        .issue_key(
            globex.id,
            "crm",
            &[Scope::AuditWrite, Scope::AuditRead],
            Some("crm"),
        )
        .await;
    let public = served_public_key(&app).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(record(&app, &acme_key, &format!("crm.a{i}")).await);
        record(&app, &globex_key, &format!("crm.g{i}")).await;
    }
    let first = sealed(&app, &acme_key, &ids[0]).await;
    let last = sealed(&app, &acme_key, &ids[5]).await;
    for event in [&first, &last] {
        let seal = &event["seal"];
        let checkpoint = &seal["checkpoint"];
        let size = checkpoint["size"].as_u64().unwrap();
        let root = hash(&checkpoint["rootHash"]);
        let proof: Vec<Hash> = seal["inclusionProof"]
            .as_array()
            .unwrap()
            .iter()
            .map(hash)
            .collect();
        let index = seal["leafIndex"].as_u64().unwrap();
        let leaf = hash(&seal["leafHash"]);
        assert!(
            verify_inclusion(index, size, &leaf, &proof, &root),
            "{event:#}"
        );
        assert!(!verify_inclusion(index, size, &[7; 32], &proof, &root));
        // The checkpoint is signed with the served key, over the note it shows.
        let signed = Checkpoint {
            size,
            root,
            signed_at: checkpoint["signedAt"].as_str().unwrap().parse().unwrap(),
            previous: checkpoint["previousSize"].as_u64().unwrap(),
        };
        assert_eq!(checkpoint["note"], signed.note());
        let signature = unhex(checkpoint["signature"].as_str().unwrap());
        assert!(verify(&public, &signed, &signature));
        // The leaf is the event as written, read back from its row now.
        use sea_orm::ConnectionTrait as _;
        let row = app
            .db
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "SELECT {} FROM audit_log a WHERE a.id = {}",
                    registry::evidence::leaf::LEAF_COLUMNS,
                    event["id"].as_str().unwrap()
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        let stored = registry::evidence::seal::leaf_of(&row).unwrap();
        assert_eq!(stored.action, event["action"].as_str().unwrap());
        assert_eq!(stored.hash(), leaf);
    }

    // Checkpoints by size and the latest; consistency between two, checked apart.
    let latest = app
        .gql_ok(
            &acme_key,
            "{ auditCheckpoint { size rootHash } }",
            json!({}),
        )
        .await;
    let latest_size = latest["auditCheckpoint"]["size"].as_u64().unwrap();
    assert_eq!(
        latest_size, 12,
        "every event of both tenants, the tree is the whole log's"
    );
    let earlier_size = first["seal"]["checkpoint"]["size"].as_u64().unwrap();
    let earlier = app
        .gql_ok(
            &acme_key,
            "query($s: Int) { auditCheckpoint(size: $s) { size rootHash } }",
            json!({"s": earlier_size}),
        )
        .await;
    assert_eq!(
        earlier["auditCheckpoint"],
        first["seal"]["checkpoint"]
            .as_object()
            .map(|c| json!({"size": c["size"], "rootHash": c["rootHash"]}))
            .unwrap()
    );
    let proof = app
        .gql_ok(
            &acme_key,
            "query($f: Int!, $t: Int!) { auditConsistencyProof(from: $f, to: $t) }",
            json!({"f": earlier_size, "t": latest_size}),
        )
        .await;
    let proof: Vec<Hash> = proof["auditConsistencyProof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    assert!(verify_consistency(
        earlier_size,
        latest_size,
        &hash(&earlier["auditCheckpoint"]["rootHash"]),
        &hash(&latest["auditCheckpoint"]["rootHash"]),
        &proof
    ));
    for (from, to) in [(0, 3), (5, 3), (1, latest_size as i64 + 1), (-1, 3)] {
        let refused = app
            .gql(
                &acme_key,
                "query($f: Int!, $t: Int!) { auditConsistencyProof(from: $f, to: $t) }",
                json!({"f": from, "t": to}),
            )
            .await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{from} {to}");
    }
    let none = app
        .gql_ok(
            &acme_key,
            "{ auditCheckpoint(size: 999) { size } }",
            json!({}),
        )
        .await;
    assert_eq!(none["auditCheckpoint"], Value::Null);

    // Another tenant's event is not there to prove; a page carries no proofs.
    let other = app.gql_ok(&globex_key, SEAL, json!({"id": ids[0]})).await;
    assert_eq!(other["auditEvent"], Value::Null);
    // A page carries the same seals as the events one by one (written by the page's own
    // writer, read in three statements for the page).
    let page = app
        .gql_ok(
            &acme_key,
            "{ auditEvents(first: 6) { edges { node { id action seal { __typename leafIndex \
             leafHash inclusionProof checkpoint { __typename size previousSize rootHash \
             signedAt signature note } } } } } }",
            json!({}),
        )
        .await;
    let edges = page["auditEvents"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 6);
    for edge in edges {
        let id = edge["node"]["id"].as_str().unwrap();
        let one = app
            .gql_ok(
                &acme_key,
                "query($id: ID!) { auditEvent(id: $id) { id action seal { __typename leafIndex \
                 leafHash inclusionProof checkpoint { __typename size previousSize rootHash \
                 signedAt signature note } } } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(edge["node"], one["auditEvent"], "event {id}");
        assert!(edge["node"]["seal"]["leafHash"].is_string());
    }
    // Without audit:read, none of it.
    let writer = app
        .issue_key(acme.id, "w", &[Scope::AuditWrite], Some("crm"))
        .await;
    let refused = app
        .gql(&writer, "{ auditCheckpoint { size } }", json!({}))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
}

#[tokio::test]
async fn an_event_is_unsealed_until_the_sealer_passes() {
    let app = TestApp::spawn(TestApp::settings()).await;
    let acme = tests::fixtures::insert_tenant(&app.db.db, "acme")
        .await
        .unwrap();
    let key = app
        .issue_key(
            acme.id,
            "crm",
            &[Scope::AuditWrite, Scope::AuditRead],
            Some("crm"),
        )
        .await;
    let id = record(&app, &key, "crm.x").await;
    let data = app.gql_ok(&key, SEAL, json!({"id": id})).await;
    assert_eq!(data["auditEvent"]["seal"], Value::Null);
    let none = app
        .gql_ok(&key, "{ auditCheckpoint { size } }", json!({}))
        .await;
    assert_eq!(none["auditCheckpoint"], Value::Null);
    registry::evidence::seal::seal_all(&app.db.db, &LogKey::generate(), 100)
        .await
        .unwrap();
    let data = app.gql_ok(&key, SEAL, json!({"id": id})).await;
    assert_eq!(data["auditEvent"]["seal"]["leafIndex"], 0);
    assert_eq!(data["auditEvent"]["seal"]["inclusionProof"], json!([]));
}
