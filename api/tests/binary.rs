//! The real `api` binary, as the README runs it: dev mode end to end, production mode,
//! `issue-key`, `schema`, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use localpg::{Binaries, Cluster, ClusterRoot};

const API: &str = env!("CARGO_BIN_EXE_api");

/// Starts `api` with `args` and `env`, and waits for its "listening on" line; the child, its
/// base URL, and its stdout lines so far.
fn start(args: &[&str], env: &[(&str, &str)]) -> (Child, String, mpsc::Receiver<String>) {
    let (child, base, stdout, _) = start_logged(args, env);
    (child, base, stdout)
}

/// Like [`start`], also returning the receiver of every later stderr line (the log).
fn start_logged(
    args: &[&str],
    env: &[(&str, &str)],
) -> (
    Child,
    String,
    mpsc::Receiver<String>,
    mpsc::Receiver<String>,
) {
    let mut cmd = Command::new(API);
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start api");
    let (out_tx, out_rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = out_tx.send(line);
        }
    });
    let (err_tx, err_rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("api: {line}");
            let _ = err_tx.send(line);
        }
    });
    let base = loop {
        let line = err_rx
            .recv_timeout(Duration::from_secs(120))
            .expect("api did not start listening");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("an address")
                .to_owned();
        }
    };
    (child, base, out_rx, err_rx)
}

/// A minimal HTTP/1.1 exchange: (status, body).
fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn graphql(base: &str, key: &str, query: &str) -> (u16, String) {
    let body = format!("{{\"query\": {query:?}}}");
    http(
        base,
        "POST",
        "/graphql",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &format!("Bearer {key}")),
        ],
        &body,
    )
}

fn sigterm(child: &mut Child) -> Option<i32> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    child.wait().expect("wait").code()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

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

#[test]
fn production_mode_issue_key_and_schema() {
    let cluster = Cluster::throwaway(&ClusterRoot::workspace_default()).expect("a cluster");
    let url = cluster.url("postgres");
    let env = [("DATABASE_URL", url.as_str())];

    // Unmigrated: refuses to serve without --migrate.
    let out = Command::new(API)
        .args(["--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", &url)
        .output()
        .expect("run api");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--migrate"));

    let (mut child, base, _) = start(&["serve", "--bind", "127.0.0.1:0", "--migrate"], &env);
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

    let psql = Binaries::locate().expect("binaries").program("psql");
    let ok = Command::new(psql)
        .args([
            "-X",
            "-q",
            "-c",
            "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')",
            &url,
        ])
        .status()
        .expect("psql");
    assert!(ok.success());
    let out = Command::new(API)
        .args([
            "issue-key",
            "--tenant",
            "acme",
            "--name",
            "ci",
            "--scopes",
            "audit:read,tenants:read",
            "--product",
            "crm",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .expect("issue-key");
    assert!(out.status.success(), "{out:?}");
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

    let out = Command::new(API)
        .args([
            "issue-key",
            "--tenant",
            "nope",
            "--name",
            "x",
            "--scopes",
            "audit:read",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .expect("run");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no tenant"));
    let out = Command::new(API)
        .args([
            "issue-key",
            "--tenant",
            "acme",
            "--name",
            "y",
            "--scopes",
            "audit:everything",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .expect("run");
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unknown scope")
    );
    let out = Command::new(API)
        .args([
            "issue-key",
            "--tenant",
            "acme",
            "--name",
            "ci",
            "--scopes",
            "audit:read",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .expect("run");
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr)
                .contains("already has an API key with this name")
    );

    assert_eq!(sigterm(&mut child), Some(0));

    let schema = Command::new(API)
        .arg("schema")
        .output()
        .expect("api schema");
    assert_eq!(
        String::from_utf8_lossy(&schema.stdout),
        include_str!("../schema.graphql")
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

#[test]
fn no_plaintext_key_reaches_the_database_or_the_log() {
    let cluster = Cluster::throwaway(&ClusterRoot::workspace_default()).expect("a cluster");
    let url = cluster.url("postgres");
    // Everything at debug, the database driver's statements included.
    let (mut child, base, stdout, log) = start_logged(
        &["serve", "--bind", "127.0.0.1:0", "--migrate"],
        &[("DATABASE_URL", url.as_str()), ("RUST_LOG", "debug")],
    );
    let bin = Binaries::locate().expect("binaries");
    let ok = Command::new(bin.program("psql"))
        .args([
            "-X",
            "-q",
            "-c",
            "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')",
            &url,
        ])
        .status()
        .expect("psql");
    assert!(ok.success());
    let out = Command::new(API)
        .args([
            "issue-key",
            "--tenant",
            "acme",
            "--name",
            "admin",
            "--scopes",
            "audit:read,audit:write,keys:write,tenants:read",
        ])
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "debug")
        .output()
        .expect("issue-key");
    assert!(out.status.success(), "{out:?}");
    let admin = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let cli_log = String::from_utf8_lossy(&out.stderr).into_owned();

    // A key issued over GraphQL, used, then revoked; good and bad keys on both protocols.
    let (_, viewer) = graphql(&base, &admin, "{ viewer { tenant { id } } }");
    let viewer: serde_json::Value = serde_json::from_str(&viewer).expect("json");
    let tenant = viewer["data"]["viewer"]["tenant"]["id"]
        .as_str()
        .expect("tenant id")
        .to_owned();
    let (status, issued) = graphql(
        &base,
        &admin,
        &format!(
            "mutation {{ issueApiKey(tenantId: \"{tenant}\", name: \"crm\", scopes: [\"audit:write\"], product: \"crm\") {{ key apiKey {{ id prefix }} }} }}"
        ),
    );
    assert_eq!(status, 200, "{issued}");
    let issued: serde_json::Value = serde_json::from_str(&issued).expect("json");
    let crm = issued["data"]["issueApiKey"]["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let crm_id = issued["data"]["issueApiKey"]["apiKey"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let publish = |key: &str| {
        http(
            &base,
            "POST",
            "/publisher/v1/project/crm/event",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &format!("token={key}")),
            ],
            r#"{"action": "crm.contact.created", "crud": "c", "actor": {"id": "u1"}}"#,
        )
        .0
    };
    assert_eq!(publish(&crm), 201);
    let wrong = format!("{}{}", &crm[..8], "x".repeat(crm.len() - 8));
    assert_eq!(publish(&wrong), 401);
    assert_eq!(graphql(&base, &wrong, "{ viewer { name } }").0, 401);
    let (status, _) = graphql(
        &base,
        &admin,
        &format!("mutation {{ revokeApiKey(id: \"{crm_id}\") {{ revokedAt }} }}"),
    );
    assert_eq!(status, 200);
    assert_eq!(publish(&crm), 401, "revoked");
    assert_eq!(sigterm(&mut child), Some(0));

    let mut output: Vec<String> = log.try_iter().collect();
    output.extend(stdout.try_iter());
    output.push(cli_log);
    let output = output.join("\n");
    let dump = Command::new(bin.program("pg_dump"))
        .args(["--no-owner", &url])
        .output()
        .expect("pg_dump");
    assert!(dump.status.success());
    let dump = String::from_utf8_lossy(&dump.stdout).into_owned();

    // The test looks where it could find something: the dump holds the keys' prefixes and
    // hashes, and the log holds the requests.
    assert!(dump.contains(&crm[..8]) && dump.contains("$argon2id$"));
    assert!(
        output.contains("/publisher/v1/project/crm/event"),
        "the log has the requests"
    );
    for key in [&admin, &crm, &wrong] {
        let secret = &key[8..];
        assert!(
            !dump.contains(secret),
            "a key's secret part is in the database dump"
        );
        assert!(
            !output.contains(secret),
            "a key's secret part is in the log"
        );
    }
}

#[test]
fn sigterm_finishes_in_flight_requests_and_refuses_new_connections() {
    let cluster = Cluster::throwaway(&ClusterRoot::workspace_default()).expect("a cluster");
    let url = cluster.url("postgres");
    let (mut child, base, _) = start(
        &["serve", "--bind", "127.0.0.1:0", "--migrate"],
        &[("DATABASE_URL", url.as_str())],
    );
    let psql = Binaries::locate().expect("binaries").program("psql");
    let ok = Command::new(psql)
        .args([
            "-X",
            "-q",
            "-c",
            "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')",
            &url,
        ])
        .status()
        .expect("psql");
    assert!(ok.success());
    let out = Command::new(API)
        .args([
            "issue-key",
            "--tenant",
            "acme",
            "--name",
            "k",
            "--scopes",
            "audit:read",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .expect("issue-key");
    let key = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();

    // An in-flight request: headers and half the body sent before SIGTERM, the rest after.
    let address = base.trim_start_matches("http://").to_owned();
    let body = r#"{"query": "{ viewer { name } }"}"#;
    let mut stream = TcpStream::connect(&address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Bearer {key}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(&body.as_bytes()[..10]).expect("send half");
    std::thread::sleep(Duration::from_millis(200));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    std::thread::sleep(Duration::from_millis(500));
    // New connections are refused while the in-flight one is still being served.
    assert!(
        TcpStream::connect(&address).is_err(),
        "the listener is closed after SIGTERM"
    );
    stream
        .write_all(&body.as_bytes()[10..])
        .expect("send the rest");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"name\":\"k\""), "{response}");
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}
