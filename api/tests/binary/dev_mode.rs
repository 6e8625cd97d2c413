//! Dev mode, as the README's run command starts it.

use std::time::Duration;

use localpg::{Cluster, ClusterRoot};

use crate::{graphql, http, scratch, sigterm, start};

#[test]
fn dev_mode_serves_demo_events_across_products_with_the_key_prefilled() {
    // Its own target dir, so the developer's dev cluster is not touched.
    let target = scratch("dev-mode");
    let target_str = target.to_str().expect("utf-8 path");
    let (mut child, base, stdout) = start(
        &["--bind", "127.0.0.1:0"],
        &[("CARGO_TARGET_DIR", target_str)],
    );
    let key = stdout
        .recv_timeout(Duration::from_secs(10))
        .expect("the operator key on stdout");
    assert!(key.starts_with("trk_") && key.len() == 44, "{key}");

    let (status, page) = http(&base, "GET", "/", &[], "");
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("Bearer {key}")),
        "the playground is pre-filled with the key"
    );

    let (status, body) = graphql(
        &base,
        &key,
        "{ auditEvents(first: 200) { totalCount edges { node { product tenantId } } } }",
    );
    assert_eq!(status, 200, "{body}");
    let products: std::collections::BTreeSet<&str> =
        ["\"crm\"", "\"billing\"", "\"analytics\"", "\"llm-gateway\""]
            .into_iter()
            .filter(|p| body.contains(&format!("\"product\":{p}")))
            .collect();
    assert!(
        products.len() >= 2,
        "demo events of several products: {products:?}"
    );

    assert_eq!(
        sigterm(&mut child),
        Some(0),
        "SIGTERM ends the server cleanly"
    );
    // Dev mode started the cluster, so it stops it on the way out.
    let root = ClusterRoot::new(target.join("pg"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while Cluster::find_running(&root, "dev")
        .expect("status")
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the dev cluster is still running"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A second start keeps the data and does not seed again, but issues a new key.
    let (mut again, base, stdout) = start(
        &["--bind", "127.0.0.1:0"],
        &[("CARGO_TARGET_DIR", target_str)],
    );
    let new_key = stdout
        .recv_timeout(Duration::from_secs(10))
        .expect("a new key");
    assert_ne!(new_key, key);
    let (_, body) = graphql(&base, &key, "{ viewer { name } }");
    assert!(
        body.contains("UNAUTHENTICATED"),
        "the old operator key is gone: {body}"
    );
    let (_, body) = graphql(
        &base,
        &new_key,
        "{ tenants(filter: {kinds: [DEMO]}) { edges { node { slug } } } }",
    );
    assert_eq!(body.matches("\"slug\"").count(), 2, "seeded once: {body}");
    assert_eq!(sigterm(&mut again), Some(0));
    let _ = Cluster::stop_persistent(&root, "dev");
}
