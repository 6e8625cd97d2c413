//! No plaintext key in the database or the log; SIGTERM lets requests in flight finish.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use localpg::{Binaries, Cluster, ClusterRoot};

use crate::{API, graphql, http, issue_key, psql, sigterm, start, start_logged};

#[test]
fn no_plaintext_key_reaches_the_database_or_the_log() {
    let cluster = Cluster::throwaway(&ClusterRoot::workspace_default()).expect("a cluster");
    let url = cluster.url("postgres");
    // Everything at debug, the database driver's statements included.
    let (mut child, base, stdout, log) = start_logged(
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--migrate",
            "--seal-interval",
            "off",
        ],
        &[("DATABASE_URL", url.as_str()), ("RUST_LOG", "debug")],
    );
    let bin = Binaries::locate().expect("binaries");
    psql(
        &url,
        "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')",
    );
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
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--migrate",
            "--seal-interval",
            "off",
        ],
        &[("DATABASE_URL", url.as_str())],
    );
    psql(
        &url,
        "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')",
    );
    let out = issue_key(
        &url,
        &["--tenant", "acme", "--name", "k", "--scopes", "audit:read"],
    );
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
