//! Exports an auditor can check (`GET|POST /v1/audit/export`, `registry::evidence::export`):
//! the rows are the search's, the manifest's proof is the one a tree hash written here gives,
//! `verify_export` accepts the file as written and names every kind of change to it, and a row
//! changed in the database before the export is caught offline.

use std::collections::BTreeSet;
use std::io::Read;

use entity::scope::Scope;
use registry::evidence::export::{ExportProblem, verify_export};
use registry::evidence::merkle::{
    Hash, InMemory, MultiproofRanges, leaf_hash, multiproof_root, range_hash,
};
use registry::evidence::signing::{LogKey, verify_text};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tests::app::TestApp;

use super::proofs::{record, sealed, sealing_app, unhex};
use super::{h, naive_root};

// ---- the multiproof, against a tree hash written here ----

fn naive_hash_root(hashes: &[Hash]) -> Hash {
    match hashes.len() {
        0 => h(&[]),
        1 => hashes[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            h(&[
                &[1],
                &naive_hash_root(&hashes[..k]),
                &naive_hash_root(&hashes[k..]),
            ])
        }
    }
}

/// The hashes a multiproof for `members` needs, left to right: every largest subtree with
/// no member, in the RFC's splitting.
fn expected_proof(hashes: &[Hash], start: u64, members: &BTreeSet<u64>, out: &mut Vec<Hash>) {
    let end = start + hashes.len() as u64;
    if members.range(start..end).next().is_none() {
        out.push(naive_hash_root(hashes));
        return;
    }
    if hashes.len() == 1 {
        return;
    }
    let mut k = 1;
    while k * 2 < hashes.len() {
        k *= 2;
    }
    expected_proof(&hashes[..k], start, members, out);
    expected_proof(&hashes[k..], start + k as u64, members, out);
}

struct Set(BTreeSet<u64>);

impl registry::evidence::merkle::Members for Set {
    fn any(&self, start: u64, end: u64) -> bool {
        self.0.range(start..end).next().is_some()
    }
}

#[test]
fn a_multiproof_is_the_largest_subtrees_without_a_member_and_leads_to_the_root() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(29);
    for size in 1..=40u64 {
        let leaves: Vec<Vec<u8>> = (0..size).map(|i| format!("e{i}").into_bytes()).collect();
        let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
        let store = InMemory(hashes.clone());
        for _ in 0..12 {
            let members = Set((0..size).filter(|_| rng.random_bool(0.3)).collect());
            let mut walk = MultiproofRanges::new(size);
            let mut proof = Vec::new();
            while let Some((start, end)) = walk.next(&members) {
                proof.push(range_hash(&store, start, end).unwrap());
            }
            let mut expected = Vec::new();
            expected_proof(&hashes, 0, &members.0, &mut expected);
            assert_eq!(proof, expected, "size {size}, members {:?}", members.0);
            let with: Vec<(u64, Hash)> =
                members.0.iter().map(|&i| (i, hashes[i as usize])).collect();
            let root = naive_root(&leaves);
            assert_eq!(
                multiproof_root(size, &with, &mut proof.clone().into_iter()),
                Ok(root)
            );
            // A changed member leaf, or a proof hash short, does not lead to the root.
            if let Some(&(i, _)) = with.first() {
                let mut changed = with.clone();
                changed[0] = (i, [9; 32]);
                assert_ne!(
                    multiproof_root(size, &changed, &mut proof.clone().into_iter()),
                    Ok(root)
                );
            }
            if !proof.is_empty() {
                assert!(multiproof_root(size, &with, &mut proof[1..].iter().copied()).is_err());
            }
        }
    }
}

// ---- exports from the server ----

async fn export(app: &TestApp, key: &str, query: &str, gzip: bool) -> (u16, Vec<u8>) {
    let mut request = app
        .http()
        .get(app.url(&format!("/v1/audit/export?{query}")))
        .bearer_auth(key);
    if gzip {
        request = request.header("accept-encoding", "gzip");
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let gzipped = response
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    assert_eq!(gzipped, gzip && status == 200);
    let body = response.bytes().await.unwrap().to_vec();
    if gzipped {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(body.as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        return (status, plain);
    }
    (status, body)
}

fn lines(file: &[u8]) -> Vec<&[u8]> {
    file.split_inclusive(|b| *b == b'\n').collect()
}

fn check(
    file: &[u8],
    public: &[u8; 32],
) -> Result<registry::evidence::export::ExportReport, ExportProblem> {
    verify_export(file, public, |_| {})
}

async fn leaf_hashes(app: &TestApp, size: u64) -> Vec<Hash> {
    app.db
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT leaf_hash FROM audit_seal_leaf WHERE leaf_index < {size} ORDER BY leaf_index"),
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| Hash::try_from(r.try_get_by_index::<Vec<u8>>(0).unwrap().as_slice()).unwrap())
        .collect()
}

#[tokio::test]
async fn an_export_is_the_search_proven_and_signed_and_every_change_to_it_is_named() {
    let app = sealing_app().await;
    let acme = tests::fixtures::insert_tenant(&app.db.db, "acme")
        .await
        .unwrap();
    let globex = tests::fixtures::insert_tenant(&app.db.db, "globex")
        .await
        .unwrap();
    let scopes = [Scope::AuditWrite, Scope::AuditRead];
    let acme_key = app.issue_key(acme.id, "crm", &scopes, Some("crm")).await;
    let globex_key = app.issue_key(globex.id, "crm", &scopes, Some("crm")).await;
    let writer = app
        .issue_key(acme.id, "writer", &[Scope::AuditWrite], Some("crm"))
        .await;
    let auditor = app
        .issue_key(acme.id, "auditor", &[Scope::AuditRead], None)
        .await;
    let public = super::proofs::served_public_key(&app).await;
    // Metadata that JSON libraries like to rewrite: the export carries PostgreSQL's text.
    let mut last = String::new();
    for i in 0..6 {
        last = app
            .gql_ok(
                &acme_key,
                "mutation($a: String!, $m: JSON) { recordAuditEvent(input: {action: $a, metadata: $m}) { id } }",
                json!({"a": format!("crm.a{i}"), "m": {"n": 1.0, "big": 1e300, "s": "é \"q\" \n,", "list": [i, {"x": null}]}}),
            )
            .await["recordAuditEvent"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        record(&app, &globex_key, &format!("crm.g{i}")).await;
    }
    sealed(&app, &acme_key, &last).await;

    // The rows are the search's, in its order, and nothing of another tenant.
    let (status, file) = export(&app, &acme_key, "format=ndjson", false).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&file));
    let search = app
        .gql_ok(
            &acme_key,
            "{ auditEvents(first: 100) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let searched: Vec<String> = search["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    let all = lines(&file);
    let (rows, manifest_line) = all.split_at(all.len() - 1);
    let rows_json: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::from_slice(r).unwrap())
        .collect();
    let exported: Vec<String> = rows_json
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(exported, searched);
    assert!(
        rows_json
            .iter()
            .all(|r| r["tenantId"] == json!(acme.id.to_string()))
    );
    let first_row = rows_json.iter().find(|r| r["action"] == "crm.a0").unwrap();
    assert_eq!(first_row["metadata"]["s"], "é \"q\" \n,");

    // The manifest: its counts and hash are the file's, its statement is signed with the
    // served key, and its proof is the one a tree hash of the stored leaves gives.
    let manifest: Value = serde_json::from_slice(manifest_line[0]).unwrap();
    let m = &manifest["manifest"];
    assert_eq!(m["rows"], json!(rows.len()));
    assert_eq!(m["notSealed"], json!(0));
    let digest: [u8; 32] = Sha256::digest(rows.concat()).into();
    assert_eq!(
        m["rowsSha256"].as_str().unwrap(),
        registry::evidence::merkle::hex(&digest)
    );
    assert!(verify_text(
        &public,
        m["statement"].as_str().unwrap(),
        &unhex(m["signature"].as_str().unwrap())
    ));
    let size = m["checkpoint"]["size"].as_u64().unwrap();
    let hashes = leaf_hashes(&app, size).await;
    assert_eq!(
        registry::evidence::merkle::hex(&naive_hash_root(&hashes)),
        m["checkpoint"]["rootHash"].as_str().unwrap()
    );
    let members: BTreeSet<u64> = rows_json
        .iter()
        .map(|r| r["leafIndex"].as_u64().unwrap())
        .collect();
    let mut expected = Vec::new();
    expected_proof(&hashes, 0, &members, &mut expected);
    let proof: Vec<String> = m["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        proof,
        expected
            .iter()
            .map(|h| registry::evidence::merkle::hex(h))
            .collect::<Vec<_>>()
    );

    // verify_export accepts it as written ...
    let report = check(&file, &public).unwrap();
    assert_eq!(
        (report.rows, report.checkpoint_size),
        (rows.len() as u64, size)
    );
    // ... and names every change: a row edited, removed, added twice, moved; the manifest's
    // filter changed; the file cut short; another key.
    let edited = file.clone();
    let text = String::from_utf8(edited)
        .unwrap()
        .replacen("crm.a3", "crm.a9", 1);
    assert!(
        matches!(check(text.as_bytes(), &public), Err(ExportProblem::Rows(why)) if why.contains("SHA-256"))
    );
    let removed = [&rows[1..], manifest_line].concat();
    assert!(
        matches!(check(&removed.concat(), &public), Err(ExportProblem::Rows(why)) if why.contains("rows were added or removed"))
    );
    let twice = [rows, &rows[..1], manifest_line].concat();
    assert!(check(&twice.concat(), &public).is_err());
    let mut moved = rows.to_vec();
    moved.swap(0, 1);
    moved.push(manifest_line[0]);
    assert!(matches!(
        check(&moved.concat(), &public),
        Err(ExportProblem::Rows(_))
    ));
    // A count or an id rewritten in the manifest, even to the same value, is refused.
    let line = String::from_utf8(manifest_line[0].to_vec()).unwrap();
    for (from, to) in [
        ("\"notSealed\":0", "\"notSealed\":12345"),
        (
            &format!("\"exportEvent\":\"{}\"", m["exportEvent"].as_str().unwrap()),
            &format!(
                "\"exportEvent\":\"+{}\"",
                m["exportEvent"].as_str().unwrap()
            ),
        ),
    ] {
        assert!(line.contains(from), "{from}");
        let forged = [rows.concat(), line.replacen(from, to, 1).into_bytes()].concat();
        assert!(check(&forged, &public).is_err(), "{to}");
    }
    let mut other_filter = manifest.clone();
    other_filter["manifest"]["filter"] = json!({"actions": ["crm.a1"]});
    let forged = [rows.concat(), format!("{other_filter}\n").into_bytes()].concat();
    assert!(
        matches!(check(&forged, &public), Err(ExportProblem::Rows(why)) if why.contains("filter"))
    );
    assert_eq!(
        check(&rows.concat(), &public),
        Err(ExportProblem::NoManifest)
    );
    let stranger = LogKey::generate().public_bytes();
    assert_eq!(check(&file, &stranger), Err(ExportProblem::Signature));

    // CSV, gzip, a filter and the oldest first: the same rows, verified the same way.
    let filter =
        url::form_urlencoded::byte_serialize(br#"{"actionPrefix":"crm.a"}"#).collect::<String>();
    let (status, csv) = export(
        &app,
        &acme_key,
        &format!("format=csv&order=OLDEST_FIRST&filter={filter}"),
        true,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&csv));
    let csv_lines = String::from_utf8(csv.clone()).unwrap();
    assert!(csv_lines.starts_with("leaf_index,id,created_at,tenant_id"));
    assert!(
        csv_lines
            .lines()
            .last()
            .unwrap()
            .starts_with("# tenant-registry manifest: ")
    );
    let report = check(&csv, &public).unwrap();
    assert_eq!((report.format, report.rows), ("csv", 6));
    assert_eq!(report.filter, r#"{"actionPrefix":"crm.a"}"#);

    // Every export is an audit event of its own (the registry's, seen by the tenant's keys that
    // are not confined to a product).
    let exports = app
        .gql_ok(
            &auditor,
            r#"{ auditEvents(filter: {actions: ["audit.exported"]}, order: OLDEST_FIRST) { edges { node { actor { id } metadata } } } }"#,
            json!({}),
        )
        .await;
    let exports = exports["auditEvents"]["edges"].as_array().unwrap().clone();
    assert_eq!(exports.len(), 2, "{exports:#?}");
    assert_eq!(exports[1]["node"]["metadata"]["rows"], json!(6));
    assert_eq!(
        exports[1]["node"]["metadata"]["filter"],
        json!({"actionPrefix": "crm.a"})
    );
    assert_eq!(exports[1]["node"]["metadata"]["complete"], json!(true));
    assert_eq!(exports[0]["node"]["metadata"]["rows"], json!(rows.len()));
    // Each began with an event of its own, before its first byte: the manifest names it, and
    // the end names it too.
    let starts = app
        .gql_ok(
            &auditor,
            r#"{ auditEvents(filter: {actions: ["audit.export_started"]}, order: OLDEST_FIRST) { edges { node { id metadata } } } }"#,
            json!({}),
        )
        .await;
    let starts = starts["auditEvents"]["edges"].as_array().unwrap().clone();
    assert_eq!(starts.len(), 2, "{starts:#?}");
    assert_eq!(starts[0]["node"]["id"], m["exportEvent"]);
    assert_eq!(
        exports[0]["node"]["metadata"]["startedEvent"],
        starts[0]["node"]["id"]
    );

    // A metadata filter (its terms looked up by the page statements' own condition) with a
    // tenant's key: the same rows as the search.
    let by_metadata =
        url::form_urlencoded::byte_serialize(br#"{"metadata":{"n":1.0}}"#).collect::<String>();
    let (status, file) = export(
        &app,
        &acme_key,
        &format!("format=ndjson&filter={by_metadata}"),
        false,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&file));
    assert_eq!(check(&file, &public).unwrap().rows, 6);

    // A row changed in the database after it was sealed is exported as it now reads, and the
    // file's rows no longer lead to the signed root.
    app.db
        .db
        .execute_unprepared(&format!(
            "UPDATE audit_log SET action = 'crm.forged' WHERE id = {last}"
        ))
        .await
        .unwrap();
    let (_, tampered) = export(&app, &acme_key, "format=ndjson", false).await;
    assert!(matches!(
        check(&tampered, &public),
        Err(ExportProblem::NotInLog(_))
    ));

    // HEAD answers as GET would, without an export.
    let head = app
        .http()
        .head(app.url("/v1/audit/export?format=csv"))
        .bearer_auth(&acme_key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert!(
        head.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    // gzip only when accepted: any case, not with q=0.
    for (accept, gzipped) in [
        ("GZIP", true),
        ("gzip;q=0", false),
        ("br, gzip;q=0.5", true),
    ] {
        let response = app
            .http()
            .get(app.url("/v1/audit/export?format=csv"))
            .bearer_auth(&acme_key)
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers().get("content-encoding").is_some(),
            gzipped,
            "{accept}"
        );
        let _ = response.bytes().await;
    }

    // Refusals: no key, no audit:read, a malformed request, another tenant's events, a member
    // the filter does not have, NUL, a parameter twice.
    for (query, field) in [
        (r#"{"action_prefix":"crm."}"#, "filter.action_prefix"),
        (r#"{"actionPrefix":"a\u0000"}"#, "filter"),
    ] {
        let encoded = url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>();
        let (status, body) = export(
            &app,
            &acme_key,
            &format!("format=ndjson&filter={encoded}"),
            false,
        )
        .await;
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{body}"
        );
    }
    let (status, body) = export(&app, &acme_key, "format=csv&format=ndjson", false).await;
    assert_eq!((status, json_code(&body)), (400, "BAD_USER_INPUT".into()));
    let (status, _) = export(&app, "nope", "format=ndjson", false).await;
    assert_eq!(status, 401);
    let (status, body) = export(&app, &writer, "format=ndjson", false).await;
    assert_eq!((status, json_code(&body)), (403, "FORBIDDEN".into()));
    let (status, body) = export(&app, &acme_key, "format=xml", false).await;
    assert_eq!((status, json_code(&body)), (400, "BAD_USER_INPUT".into()));
    let other = url::form_urlencoded::byte_serialize(
        format!(r#"{{"tenantIds":["{}"]}}"#, globex.id).as_bytes(),
    )
    .collect::<String>();
    let (status, body) = export(
        &app,
        &acme_key,
        &format!("format=ndjson&filter={other}"),
        false,
    )
    .await;
    assert_eq!(
        (status, json_code(&body)),
        (403, "FORBIDDEN".into()),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let bad = url::form_urlencoded::byte_serialize(br#"{"sourceIp":"nope"}"#).collect::<String>();
    let (status, body) = export(
        &app,
        &acme_key,
        &format!("format=ndjson&filter={bad}"),
        false,
    )
    .await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("filter.sourceIp")),
        "{body}"
    );
    // As many exports running as the server allows: the next is refused, with when to retry.
    let places = app.state.exports.clone().try_acquire_many_owned(2).unwrap();
    let refused = app
        .http()
        .get(app.url("/v1/audit/export?format=ndjson"))
        .bearer_auth(&acme_key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    assert_eq!(refused.headers()["retry-after"], "10");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "RATE_LIMITED");
    assert!(body["message"].as_str().unwrap().contains("--max-exports"));
    drop(places);
    let response = app
        .http()
        .post(app.url("/v1/audit/export"))
        .bearer_auth(&globex_key)
        .json(&json!({"format": "ndjson", "filter": {"actionPrefix": "crm.g"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let posted = response.bytes().await.unwrap();
    assert_eq!(check(&posted, &public).unwrap().rows, 6);
}

#[test]
fn the_verifier_refuses_rows_too_long_and_reads_an_open_quote_in_linear_time() {
    let public = LogKey::generate().public_bytes();
    let long = vec![b'a'; 5 << 20];
    assert!(matches!(
        check(&long, &public),
        Err(ExportProblem::BadRow { .. })
    ));
    let mut open = registry::evidence::export::CSV_HEADER.as_bytes().to_vec();
    open.push(b'"');
    open.extend(std::iter::repeat_n(b'\n', 200_000));
    let started = std::time::Instant::now();
    assert!(check(&open, &public).is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

fn json_code(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body).unwrap()["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
