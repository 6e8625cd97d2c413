//! The real `api` binary, as the README runs it: dev mode end to end, production mode,
//! `issue-key`, `schema`, no key in the database or the log, and SIGTERM. One test binary;
//! the helpers here start the binary and speak minimal HTTP to it.

mod dev_mode;
mod production;
mod shutdown_and_secrets;
mod two_processes;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub(crate) const API: &str = env!("CARGO_BIN_EXE_api");

/// Starts `api` with `args` and `env`, and waits for its "listening on" line; the child, its
/// base URL, and its stdout lines so far.
pub(crate) fn start(
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, String, mpsc::Receiver<String>) {
    let (child, base, stdout, _) = start_logged(args, env);
    (child, base, stdout)
}

/// Like [`start`], also returning the receiver of every later stderr line (the log).
pub(crate) fn start_logged(
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
pub(crate) fn http(
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

pub(crate) fn graphql(base: &str, key: &str, query: &str) -> (u16, String) {
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

pub(crate) fn sigterm(child: &mut Child) -> Option<i32> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    child.wait().expect("wait").code()
}

pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs one SQL statement on `url` with psql.
pub(crate) fn psql(url: &str, sql: &str) {
    let psql = localpg::Binaries::locate()
        .expect("binaries")
        .program("psql");
    let ok = Command::new(psql)
        .args(["-X", "-q", "-c", sql, url])
        .status()
        .expect("psql");
    assert!(ok.success(), "psql: {sql}");
}

/// `api issue-key ARGS` against `url`.
pub(crate) fn issue_key(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(API)
        .arg("issue-key")
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("api issue-key")
}
