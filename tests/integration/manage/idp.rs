//! setIdpConfig (validated upsert) and verifyIdpConfig against a local discovery server.

use serde_json::json;
use tests::app::{TestApp, error_code};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Ops;

const SET: &str = "mutation($t: UUID!, $k: IdpKind!, $m: JSON!) { setIdpConfig(tenantId: $t, type: $k, metadata: $m) { id type verified metadata } }";
const VERIFY: &str = "mutation($id: UUID!) { verifyIdpConfig(id: $id) { verified } }";

/// An HTTP server on loopback answering every request with `body`; its base URL.
async fn serve(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    answer(listener, body);
    base
}

/// Answers every request on `listener` with `body`.
fn answer(listener: tokio::net::TcpListener, body: String) {
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
}

/// `Ops` on a server whose outbound rules allow exactly these loopback listeners.
async fn ops_allowing(bases: &[&str]) -> Ops {
    let allow = bases
        .iter()
        .map(|base| base.trim_start_matches("http://").parse().unwrap())
        .collect();
    Ops::with_app(
        TestApp::spawn({
            let mut settings = TestApp::settings();
            settings.outbound.allow = allow;
            settings
        })
        .await,
    )
    .await
}

#[tokio::test]
async fn oidc_config_is_validated_verified_and_unverified_by_a_change() {
    // A discovery server whose document names itself as issuer, and one naming another; the
    // server's outbound rules allow both (loopback is refused without a rule).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let doc = json!({"issuer": base, "authorization_endpoint": format!("{base}/auth")}).to_string();
    answer(listener, doc);
    let liar = serve(json!({"issuer": "https://evil.example"}).to_string()).await;
    let ops = ops_allowing(&[&base, &liar]).await;
    let metadata = json!({"discovery_url": format!("{base}/.well-known/openid-configuration"), "client_id": "registry"});
    let set = ops
        .gql_ok(SET, json!({"t": ops.acme, "k": "OIDC", "m": metadata}))
        .await;
    let id = set["setIdpConfig"]["id"].clone();
    assert_eq!(set["setIdpConfig"]["verified"], false);
    let row = ops.only_audit("idp.configured", "c").await;
    assert_eq!(
        (
            row.tenant_id,
            row.target_type.as_deref(),
            row.target_name.as_deref()
        ),
        (Some(ops.acme), Some("idp_config"), Some("oidc"))
    );

    let verified = ops.gql_ok(VERIFY, json!({"id": id})).await;
    assert_eq!(verified["verifyIdpConfig"]["verified"], true);
    let row = ops.only_audit("idp.verified", "u").await;
    assert_eq!(row.metadata["after"], json!({"verified": true}));

    // Setting the same metadata keeps it verified; a change clears it.
    assert_eq!(
        ops.gql_ok(SET, json!({"t": ops.acme, "k": "OIDC", "m": metadata}))
            .await["setIdpConfig"]["verified"],
        true
    );
    let changed = json!({"discovery_url": format!("{base}/.well-known/openid-configuration"), "client_id": "another"});
    let again = ops
        .gql_ok(SET, json!({"t": ops.acme, "k": "OIDC", "m": changed}))
        .await;
    assert_eq!(
        (
            again["setIdpConfig"]["id"].clone(),
            again["setIdpConfig"]["verified"].clone()
        ),
        (id.clone(), json!(false)),
        "upsert per tenant and type"
    );

    // A document naming another issuer does not verify.
    let lying = json!({"discovery_url": format!("{liar}/.well-known/openid-configuration"), "client_id": "registry"});
    let lying_id = ops
        .gql_ok(SET, json!({"t": ops.acme, "k": "OIDC", "m": lying}))
        .await["setIdpConfig"]["id"]
        .clone();
    let before = ops.audit_count().await;
    let r = ops.gql(VERIFY, json!({"id": lying_id})).await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("issuer")
    );
    assert_eq!(
        ops.audit_count().await,
        before,
        "a failed verification writes nothing"
    );
}

#[tokio::test]
async fn idp_metadata_must_be_complete_and_safe() {
    let ops = Ops::new().await;
    let cert = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUX\n-----END CERTIFICATE-----";
    ops.gql_ok(SET, json!({"t": ops.acme, "k": "SAML", "m": {"entity_id": "https://idp.example/saml", "certificate": cert}})).await;
    for (kind, metadata, field) in [
        ("OIDC", json!({"client_id": "x"}), "metadata.discovery_url"),
        (
            "OIDC",
            json!({"discovery_url": "http://idp.example/.well-known/openid-configuration", "client_id": "x"}),
            "metadata.discovery_url",
        ),
        (
            "OIDC",
            json!({"discovery_url": "https://idp.example/.well-known/openid-configuration"}),
            "metadata.client_id",
        ),
        (
            "SAML",
            json!({"metadata_url": "https://idp.example/m.xml"}),
            "metadata.entity_id",
        ),
        ("SAML", json!({"entity_id": "e"}), "metadata.metadata_url"),
        (
            "SAML",
            json!({"entity_id": "e", "certificate": "not a pem"}),
            "metadata.certificate",
        ),
        ("OIDC", json!([1, 2]), "metadata"),
    ] {
        let r = ops
            .gql(SET, json!({"t": ops.acme, "k": kind, "m": metadata}))
            .await;
        assert_eq!(
            (
                error_code(&r),
                r["errors"][0]["extensions"]["field"].clone()
            ),
            ("BAD_USER_INPUT".into(), json!(field)),
            "{metadata}"
        );
    }
    assert_eq!(ops.audit("idp.configured").await.len(), 1);
}
