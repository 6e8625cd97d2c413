//! The audit log's Merkle tree (issue #29, in progress): the registry's tree hash, inclusion
//! paths and consistency proofs against a verifier written here apart from the server's code
//! (RFC 9162's iterative verification algorithms of sections 2.1.3.2 and 2.1.4.2, and a naive
//! tree hash over byte slices), and the leaf encoding.

mod export;
mod proofs;
mod seal;
mod verify_log;

use registry::evidence::leaf::{LEAF_COLUMNS, Leaf};
use registry::evidence::merkle::{
    Hash, InMemory, ProofError, consistency_proof, inclusion_proof, leaf_hash, root,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

// ---- the independent verifier ----

fn h(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    for p in parts {
        hasher.update(p);
    }
    hasher.finalize().into()
}

/// MTH over the leaves' bytes, straight from the RFC's definition.
pub(crate) fn naive_root(leaves: &[Vec<u8>]) -> Hash {
    match leaves.len() {
        0 => h(&[]),
        1 => h(&[&[0], &leaves[0]]),
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            h(&[&[1], &naive_root(&leaves[..k]), &naive_root(&leaves[k..])])
        }
    }
}

/// RFC 9162, 2.1.3.2.
pub(crate) fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = h(&[&[1], p, &r]);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = h(&[&[1], &r, p]);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162, 2.1.4.2.
pub(crate) fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_root);
    }
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = h(&[&[1], c, &fr]);
            sr = h(&[&[1], c, &sr]);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = h(&[&[1], &sr, c]);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *first_root && sr == *second_root && sn == 0
}

fn leaves(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("event {i}").into_bytes()).collect()
}

fn store(leaves: &[Vec<u8>]) -> InMemory {
    InMemory(leaves.iter().map(|l| leaf_hash(l)).collect())
}

fn hex(hash: &Hash) -> String {
    registry::evidence::merkle::hex(hash)
}

// ---- the tree ----

#[test]
fn the_tree_hash_is_rfc_9162s() {
    // The test vector of RFC 6962's reference implementation: eight leaves.
    let vector: Vec<Vec<u8>> = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|hexed| {
        (0..hexed.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hexed[i..i + 2], 16).unwrap())
            .collect()
    })
    .collect();
    let one = root(&store(&vector[..1]), 1).unwrap();
    assert_eq!(
        hex(&one),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
    let eight = root(&store(&vector), 8).unwrap();
    assert_eq!(
        hex(&eight),
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    );
    assert_eq!(
        hex(&root(&InMemory::default(), 0).unwrap()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    for n in 0..=70 {
        let all = leaves(n);
        assert_eq!(
            root(&store(&all), n as u64).unwrap(),
            naive_root(&all),
            "size {n}"
        );
    }
}

#[test]
fn every_inclusion_proof_verifies_and_nothing_else_does() {
    for n in 1..=70u64 {
        let all = leaves(n as usize);
        let tree = store(&all);
        let top = naive_root(&all);
        for m in 0..n {
            let proof = inclusion_proof(&tree, m, n).unwrap();
            let leaf = leaf_hash(&all[m as usize]);
            assert!(verify_inclusion(m, n, &leaf, &proof, &top), "{m} of {n}");
            // Another leaf, another index, a changed hash in the proof: refused.
            let other = leaf_hash(b"not in the log");
            assert!(!verify_inclusion(m, n, &other, &proof, &top));
            if n > 1 {
                assert!(!verify_inclusion((m + 1) % n, n, &leaf, &proof, &top));
            }
            if let Some(first) = proof.first() {
                let mut bent = proof.clone();
                bent[0] = h(&[first]);
                assert!(!verify_inclusion(m, n, &leaf, &bent, &top));
            }
        }
    }
    assert_eq!(
        inclusion_proof(&store(&leaves(3)), 3, 3),
        Err(ProofError::Range("the leaf is not in a tree of that size"))
    );
}

#[test]
fn every_consistency_proof_verifies_and_a_rewritten_history_does_not() {
    for n in 1..=40u64 {
        let all = leaves(n as usize);
        let tree = store(&all);
        let second = naive_root(&all);
        for m in 1..=n {
            let first = naive_root(&all[..m as usize]);
            let proof = consistency_proof(&tree, m, n).unwrap();
            assert!(
                verify_consistency(m, n, &first, &second, &proof),
                "{m} to {n}"
            );
            // A first tree that was not this log's prefix: refused.
            let mut other = all[..m as usize].to_vec();
            other[0] = b"rewritten".to_vec();
            let forged = naive_root(&other);
            assert!(!verify_consistency(m, n, &forged, &second, &proof));
            if let Some(last) = proof.last() {
                let mut bent = proof.clone();
                *bent.last_mut().unwrap() = h(&[last]);
                assert!(!verify_consistency(m, n, &first, &second, &bent));
            }
        }
    }
    assert!(consistency_proof(&store(&leaves(3)), 0, 3).is_err());
    assert!(consistency_proof(&store(&leaves(3)), 4, 3).is_err());
}

// ---- the leaf ----

fn sample() -> Leaf {
    Leaf {
        id: 42,
        created_at_micros: 1_780_000_000_000_000,
        tenant_id: Some(Uuid::from_u128(1)),
        project_id: None,
        product: Some("crm".into()),
        actor_id: Some("u1".into()),
        actor_type: Some("user".into()),
        actor_name: Some("Ada".into()),
        action: "crm.deal.won".into(),
        target_type: Some("deal".into()),
        target_id: Some("d-1".into()),
        target_name: None,
        metadata: r#"{"a": 1}"#.into(),
        source_ip: Some("10.0.0.1".into()),
        user_agent: None,
        recorded_by: Some(Uuid::from_u128(2)),
        recorded_by_name: Some("crm-backend".into()),
    }
}

#[test]
fn the_leaf_encoding_tells_every_change_apart() {
    let base = sample();
    let bytes = base.bytes();
    assert_eq!(bytes[0], 1, "version 1");
    assert_eq!(&bytes[1..9], &42i64.to_be_bytes());
    assert_eq!(base.bytes(), bytes, "deterministic");
    let changes: Vec<Leaf> = vec![
        Leaf { id: 43, ..sample() },
        Leaf {
            created_at_micros: 1_780_000_000_000_001,
            ..sample()
        },
        Leaf {
            tenant_id: None,
            ..sample()
        },
        Leaf {
            tenant_id: Some(Uuid::from_u128(3)),
            ..sample()
        },
        Leaf {
            project_id: Some(Uuid::from_u128(1)),
            ..sample()
        },
        Leaf {
            product: None,
            ..sample()
        },
        Leaf {
            product: Some(String::new()),
            ..sample()
        },
        // The boundary between two fields moves: "u1" + "user" against "u1u" + "ser".
        Leaf {
            actor_id: Some("u1u".into()),
            actor_type: Some("ser".into()),
            ..sample()
        },
        Leaf {
            target_name: Some(String::new()),
            ..sample()
        },
        Leaf {
            metadata: r#"{"a": 2}"#.into(),
            ..sample()
        },
        Leaf {
            source_ip: None,
            ..sample()
        },
        Leaf {
            recorded_by: None,
            ..sample()
        },
        Leaf {
            recorded_by_name: Some("crm-backenD".into()),
            ..sample()
        },
    ];
    let mut seen = std::collections::HashSet::new();
    seen.insert(base.hash());
    for change in changes {
        assert!(seen.insert(change.hash()), "{change:?} hashes like another");
    }
}

#[tokio::test]
async fn a_stored_event_reads_back_as_the_same_leaf() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = tests::TestDb::migrated().await;
    let tenant = tests::fixtures::insert_tenant(&db.db, "acme")
        .await
        .unwrap();
    // Keys in any order, spacing as sent: jsonb stores one canonical text.
    db.exec(&format!(
        "INSERT INTO audit_log (tenant_id, action, product, metadata, source_ip, created_at) \
         VALUES ('{}', 'crm.x', 'crm', '{{\"zeta\": 1.0, \"a\":[1,2]}}', '10.0.0.1', \
         '2026-01-02T03:04:05.123456Z'), \
         ('{}', 'crm.x', 'crm', '{{\"a\": [1, 2],   \"zeta\": 1.0}}', '10.0.0.1', \
         '2026-01-02T03:04:05.123456Z')",
        tenant.id, tenant.id
    ))
    .await;
    let rows = db
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT {LEAF_COLUMNS} FROM audit_log a ORDER BY a.id"),
        ))
        .await
        .unwrap();
    let leaf = |r: &sea_orm::QueryResult| Leaf {
        id: r.try_get_by_index(0).unwrap(),
        created_at_micros: r.try_get_by_index(1).unwrap(),
        tenant_id: r.try_get_by_index(2).unwrap(),
        project_id: r.try_get_by_index(3).unwrap(),
        product: r.try_get_by_index(4).unwrap(),
        actor_id: r.try_get_by_index(5).unwrap(),
        actor_type: r.try_get_by_index(6).unwrap(),
        actor_name: r.try_get_by_index(7).unwrap(),
        action: r.try_get_by_index(8).unwrap(),
        target_type: r.try_get_by_index(9).unwrap(),
        target_id: r.try_get_by_index(10).unwrap(),
        target_name: r.try_get_by_index(11).unwrap(),
        metadata: r.try_get_by_index(12).unwrap(),
        source_ip: r.try_get_by_index(13).unwrap(),
        user_agent: r.try_get_by_index(14).unwrap(),
        recorded_by: r.try_get_by_index(15).unwrap(),
        recorded_by_name: r.try_get_by_index(16).unwrap(),
    };
    let (first, second) = (leaf(&rows[0]), leaf(&rows[1]));
    assert_eq!(first.created_at_micros, 1_767_323_045_123_456);
    assert_eq!(first.metadata, r#"{"a": [1, 2], "zeta": 1.0}"#);
    assert_eq!(
        first.source_ip.as_deref(),
        Some("10.0.0.1/32"),
        "with its prefix length"
    );
    assert_eq!(
        Leaf {
            id: second.id,
            ..first.clone()
        },
        second,
        "the same event twice reads the same but for its id"
    );
}
