//! Two server processes on one database: a key used on B and then revoked, rotated (1 s
//! grace) or frozen through A is answered accordingly by B on its very next request. B has
//! the key's verdict cached; only the database's notice (LISTEN/NOTIFY) tells it.

use std::process::Child;

use localpg::{Cluster, ClusterRoot};

use crate::{graphql, issue_key, psql, sigterm, start};

/// `api issue-key` for tenant `tenant`; the plaintext.
fn key(url: &str, tenant: &str, name: &str, scopes: &str) -> String {
    let out = issue_key(
        url,
        &["--tenant", tenant, "--name", name, "--scopes", scopes],
    );
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// The `keyId` of `key` as `base` sees it (and a 200: the key is good there).
fn key_id(base: &str, key: &str) -> String {
    let (status, body) = graphql(base, key, "{ viewer { keyId } }");
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    value["data"]["viewer"]["keyId"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

struct Stop(Child);

impl Drop for Stop {
    fn drop(&mut self) {
        sigterm(&mut self.0);
    }
}

#[test]
fn a_change_through_one_process_is_seen_by_the_other_on_its_next_request() {
    let cluster = Cluster::throwaway(&ClusterRoot::workspace_default()).expect("a cluster");
    let url = cluster.url("postgres");
    let env = [("DATABASE_URL", url.as_str())];
    // Sealing is not what this test is about (both would need the signing key).
    let (a, base_a, _) = start(
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--migrate",
            "--seal-interval",
            "off",
        ],
        &env,
    );
    let _a = Stop(a);
    let (b, base_b, _) = start(
        &["serve", "--bind", "127.0.0.1:0", "--seal-interval", "off"],
        &env,
    );
    let _b = Stop(b);
    psql(
        &url,
        "INSERT INTO tenants (slug, name) VALUES ('ops', 'Ops'), ('acme', 'Acme')",
    );
    let operator = key(
        &url,
        "ops",
        "operator",
        "platform,tenants:read,tenants:write,keys:write",
    );
    let acme_id = {
        let (status, body) = graphql(&base_a, &operator, "{ tenant(slug: \"acme\") { id } }");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        v["data"]["tenant"]["id"].as_str().expect("id").to_owned()
    };

    // Revoked through A: B, which has the key cached, refuses it next.
    let doomed = key(&url, "acme", "doomed", "tenants:read");
    let doomed_id = key_id(&base_b, &doomed);
    key_id(&base_b, &doomed);
    let (status, body) = graphql(
        &base_a,
        &operator,
        &format!("mutation {{ revokeApiKey(id: \"{doomed_id}\") {{ revokedAt }} }}"),
    );
    assert!(status == 200 && body.contains("revokedAt"), "{body}");
    let (status, body) = graphql(&base_b, &doomed, "{ viewer { keyId } }");
    assert_eq!(
        status, 401,
        "B refuses the key revoked through A at once: {body}"
    );

    // Rotated through A with a 1 s grace: the old key works on B during it, not after.
    let old = key(&url, "acme", "rotating", "tenants:read");
    let old_id = key_id(&base_b, &old);
    let (status, body) = graphql(
        &base_a,
        &operator,
        &format!("mutation {{ rotateApiKey(id: \"{old_id}\", graceSeconds: 1) {{ key }} }}"),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let new = v["data"]["rotateApiKey"]["key"]
        .as_str()
        .expect("the new key")
        .to_owned();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (status, body) = graphql(&base_b, &old, "{ viewer { keyId } }");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("KEY_EXPIRED"), "{body}");
    key_id(&base_b, &new);

    // Frozen through A: B refuses the tenant's writes (and still serves its reads).
    let admin = key(&url, "acme", "admin", "tenants:read,tenants:write");
    key_id(&base_b, &admin);
    let create = format!(
        "mutation {{ createProject(tenantId: \"{acme_id}\", slug: \"p1\", name: \"P\") {{ id }} }}"
    );
    let (status, body) = graphql(&base_b, &admin, &create);
    assert!(status == 200 && !body.contains("errors"), "{body}");
    let (status, body) = graphql(
        &base_a,
        &operator,
        &format!(
            "mutation {{ changeTenantStatus(id: \"{acme_id}\", status: FROZEN) {{ status }} }}"
        ),
    );
    assert!(status == 200 && body.contains("FROZEN"), "{body}");
    let create = create.replace("p1", "p2");
    let (status, body) = graphql(&base_b, &admin, &create);
    assert!(body.contains("TENANT_FROZEN"), "{status} {body}");
    key_id(&base_b, &admin);
}
