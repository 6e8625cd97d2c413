//! Production mode (`DATABASE_URL` set), `issue-key` and `schema`.

use std::process::Command;

use localpg::{Cluster, ClusterRoot};

use crate::{API, graphql, http, issue_key, psql, sigterm, start};

#[test]
fn production_mode_issue_key_and_schema() {
    let cluster = Cluster::throwaway(&ClusterRoot::workspace_default()).expect("a cluster");
    let url = cluster.url("postgres");
    let env = [("DATABASE_URL", url.as_str())];

    // Unmigrated: refuses to serve without --migrate.
    let out = Command::new(API)
        .args(["--bind", "127.0.0.1:0", "--seal-interval", "off"])
        .env("DATABASE_URL", &url)
        .output()
        .expect("run api");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--migrate"));

    // Sealing the audit log needs a signing key: without one the server says how to get one.
    let out = Command::new(API)
        .args(["serve", "--bind", "127.0.0.1:0", "--migrate"])
        .env("DATABASE_URL", &url)
        .output()
        .expect("run api");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("api signing-key --generate"),
        "{said}"
    );
    let dir = crate::scratch("signing-key");
    let key_path = dir.join("log-key.pem");
    let key_file = key_path.to_str().expect("utf-8 path");
    let generated = Command::new(API)
        .args(["signing-key", "--generate", key_file])
        .output()
        .expect("api signing-key --generate");
    assert!(generated.status.success(), "{generated:?}");
    let again = Command::new(API)
        .args(["signing-key", "--generate", key_file])
        .output()
        .expect("api signing-key --generate");
    assert!(!again.status.success(), "an existing key is never replaced");
    let public = Command::new(API)
        .args(["signing-key", "--public", "--signing-key", key_file])
        .env("DATABASE_URL", &url)
        .output()
        .expect("api signing-key --public");
    assert!(public.status.success(), "{public:?}");
    let public = String::from_utf8(public.stdout).expect("utf-8");
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
    assert_eq!(
        public,
        String::from_utf8_lossy(&generated.stdout),
        "the public half printed when it was made"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_path)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    }
    let (mut child, base, _) = start(
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--migrate",
            "--signing-key",
            key_file,
            "--seal-interval",
            "1s",
        ],
        &env,
    );
    let (status, served) = http(&base, "GET", "/.well-known/audit-log-key", &[], "");
    assert_eq!((status, served.as_str()), (200, public.as_str()));

    // `api verify-log` against the served key: the log verifies once sealed, and an event
    // edited with plain SQL is named.
    let public_path = dir.join("audit-log-key.pub.pem");
    std::fs::write(&public_path, &served).expect("public key file");
    psql(
        &url,
        "INSERT INTO tenants (slug, name) VALUES ('evidence', 'Evidence'); \
         INSERT INTO audit_log (tenant_id, action, product) \
         SELECT id, 'crm.deal.won', 'crm' FROM tenants WHERE slug = 'evidence'",
    );
    let verify_log = || {
        Command::new(API)
            .args(["verify-log", "--public-key"])
            .arg(&public_path)
            .env("DATABASE_URL", &url)
            .output()
            .expect("api verify-log")
    };
    let mut said = String::new();
    for _ in 0..50 {
        let out = verify_log();
        said = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && said.contains("verifies: 1 leaves") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(said.contains("verifies: 1 leaves"), "{said}");
    psql(&url, "UPDATE audit_log SET action = 'crm.deal.lost'");
    let out = verify_log();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("was changed after it was sealed"),
        "{said}"
    );
    psql(&url, "UPDATE audit_log SET action = 'crm.deal.won'");
    assert_eq!(
        http(&base, "GET", "/", &[], "").0,
        404,
        "no playground with DATABASE_URL unless --playground"
    );
    assert_eq!(
        http(&base, "GET", "/playground/graphiql.min.js", &[], "").0,
        404,
        "nor its assets"
    );
    assert_eq!(http(&base, "GET", "/healthz", &[], "").0, 200);
    assert_eq!(http(&base, "GET", "/readyz", &[], "").0, 200);

    psql(
        &url,
        "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')",
    );
    let out = issue_key(
        &url,
        &[
            "--tenant",
            "acme",
            "--name",
            "ci",
            "--scopes",
            "audit:read,tenants:read",
            "--product",
            "crm",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    // `api lifecycle run`: one pass for operators who prefer cron (a trial past its end).
    psql(
        &url,
        "INSERT INTO tenants (slug, name, trial_ends_at) \
         VALUES ('lapsed', 'Lapsed', now() - interval '1 day')",
    );
    let pass = |expected: &str| {
        let run = Command::new(API)
            .args(["lifecycle", "run"])
            .env("DATABASE_URL", &url)
            .output()
            .expect("api lifecycle run");
        assert!(run.status.success(), "{run:?}");
        let said = String::from_utf8_lossy(&run.stdout).into_owned();
        assert!(said.contains(expected), "{said}");
    };
    pass("1 expired trial(s) frozen, 0 tenant(s) past the frozen grace archived");
    pass("0 expired trial(s) frozen");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1, "the key alone on one line");
    let key = stdout.trim();
    let (status, body) = graphql(
        &base,
        key,
        "{ viewer { name product scopes tenant { slug } } }",
    );
    assert_eq!(status, 200);
    assert!(
        body.contains("\"name\":\"ci\"")
            && body.contains("\"product\":\"crm\"")
            && body.contains("\"slug\":\"acme\""),
        "{body}"
    );

    // A key that expires: the date is said when it is shown; a bad length is explained.
    let out = issue_key(
        &url,
        &[
            "--tenant",
            "acme",
            "--name",
            "quarterly",
            "--scopes",
            "audit:read",
            "--expires-in",
            "90d",
        ],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    let due = (chrono::Utc::now() + chrono::Duration::days(90))
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        out.status.success() && said.contains(&format!("expires {due}")),
        "{out:?}"
    );
    let out = issue_key(
        &url,
        &[
            "--tenant",
            "acme",
            "--name",
            "never",
            "--scopes",
            "audit:read",
            "--expires-in",
            "90x",
        ],
    );
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("like 90d"),
        "{out:?}"
    );
    let out = issue_key(
        &url,
        &["--tenant", "nope", "--name", "x", "--scopes", "audit:read"],
    );
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("no tenant")
            && String::from_utf8_lossy(&out.stderr).contains("create it first")
    );
    let out = issue_key(
        &url,
        &[
            "--tenant",
            "acme",
            "--name",
            "y",
            "--scopes",
            "audit:everything",
        ],
    );
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unknown scope")
    );
    let out = issue_key(
        &url,
        &["--tenant", "acme", "--name", "ci", "--scopes", "audit:read"],
    );
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr)
                .contains("already has an API key with this name")
    );

    // An export, downloaded gzip-compressed as a client would, checked offline by
    // `api verify-export` with the served key; one byte changed in it is refused.
    psql(
        &url,
        "INSERT INTO audit_log (tenant_id, action, product) \
         SELECT id, 'crm.deal.exported', 'crm' FROM tenants WHERE slug = 'acme'",
    );
    let export = dir.join("acme.ndjson.gz");
    let mut verified = None;
    for _ in 0..50 {
        let fetched = Command::new("curl")
            .args([
                "-sS",
                "--fail-with-body",
                "-H",
                "Accept-Encoding: gzip",
                "-o",
            ])
            .arg(&export)
            .args(["-H", &format!("Authorization: Bearer {key}")])
            .arg(format!("{base}/v1/audit/export?format=ndjson"))
            .output()
            .expect("curl");
        assert!(fetched.status.success(), "{fetched:?}");
        let out = Command::new(API)
            .args(["verify-export"])
            .arg(&export)
            .arg("--public-key")
            .arg(&public_path)
            .output()
            .expect("api verify-export");
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && said.contains("verifies: 1 ndjson rows") {
            verified = Some(said);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        verified.is_some(),
        "the export of the sealed event never verified"
    );
    let mut plain = Vec::new();
    {
        use std::io::Read as _;
        flate2::read::GzDecoder::new(std::fs::File::open(&export).expect("export"))
            .read_to_end(&mut plain)
            .expect("gzip");
    }
    let text = String::from_utf8(plain).expect("utf-8");
    assert!(text.contains("crm.deal.exported"), "{text}");
    let changed = dir.join("changed.ndjson");
    std::fs::write(
        &changed,
        text.replacen("crm.deal.exported", "crm.deal.exporteD", 1),
    )
    .expect("write");
    let out = Command::new(API)
        .args(["verify-export"])
        .arg(&changed)
        .arg("--public-key")
        .arg(&public_path)
        .output()
        .expect("api verify-export");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("does NOT verify") && said.contains("SHA-256"),
        "{said}"
    );

    assert_eq!(sigterm(&mut child), Some(0));

    // A tenant being deleted (the server, whose worker would finish it, is stopped).
    psql(
        &url,
        "INSERT INTO tenants (slug, name) VALUES ('leaving', 'Leaving'); \
         INSERT INTO tenant_deletions (tenant_id, requested_by_key_id, requested_by_key_name) \
         SELECT id, gen_random_uuid(), 'operator' FROM tenants WHERE slug = 'leaving'",
    );
    let out = issue_key(
        &url,
        &[
            "--tenant",
            "leaving",
            "--name",
            "late",
            "--scopes",
            "audit:read",
        ],
    );
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("is being deleted"),
        "{out:?}"
    );

    let schema = Command::new(API)
        .arg("schema")
        .output()
        .expect("api schema");
    assert_eq!(
        String::from_utf8_lossy(&schema.stdout),
        include_str!("../../schema.graphql")
    );
    let help = Command::new(API)
        .arg("--help")
        .output()
        .expect("api --help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("issue-key") && help.contains("--bind") && help.contains("API_BIND"),
        "{help}"
    );
}
