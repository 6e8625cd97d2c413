//! The cluster's life through the `localpg` binary: it serves while its process lives, and it is
//! gone (server stopped, files deleted) once that process has exited, even by SIGKILL.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LOCALPG: &str = env!("CARGO_BIN_EXE_localpg");

/// Polls until `done` holds, for at most 30 s (the watchdog acts a moment after the exit).
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn serving(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Parses `localpg: throwaway cluster in DIR on port PORT`.
fn parse_banner(line: &str) -> (PathBuf, u16) {
    let rest = line
        .strip_prefix("localpg: throwaway cluster in ")
        .expect(line);
    let (dir, port) = rest.rsplit_once(" on port ").expect(line);
    (PathBuf::from(dir), port.trim().parse().expect(line))
}

fn psql() -> PathBuf {
    localpg::Binaries::locate()
        .expect("server binaries")
        .program("psql")
}

#[test]
fn exec_runs_a_command_against_a_cluster_that_is_gone_afterwards() {
    let script = format!(
        "\"{}\" -tA -c 'SELECT 6 * 7' \"$DATABASE_URL\" && exit 3",
        psql().display()
    );
    let out = Command::new(LOCALPG)
        .args(["exec", "--", "sh", "-c", &script])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run localpg exec");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "42",
        "{stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "the command's exit code passes through"
    );

    let banner = stderr
        .lines()
        .find(|l| l.starts_with("localpg: "))
        .expect("banner");
    let (dir, port) = parse_banner(banner);
    eventually("the server has stopped", || !serving(port));
    eventually("the cluster directory is deleted", || !dir.exists());
}

#[test]
fn a_killed_process_leaves_no_server_behind() {
    let mut child = Command::new(LOCALPG)
        .args(["exec", "--", "sleep", "30"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn localpg exec");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("banner");
    let (dir, port) = parse_banner(line.trim());
    assert!(serving(port), "the server answers while its process lives");
    assert!(dir.join("data").is_dir());

    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    eventually("the server has stopped", || !serving(port));
    eventually("the cluster directory is deleted", || !dir.exists());
}

#[test]
fn up_status_down_manage_a_persistent_cluster() {
    let root =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pg-root-{}", std::process::id()));
    let run = |args: &[&str]| {
        let out = Command::new(LOCALPG)
            .arg("--root")
            .arg(&root)
            .args(args)
            .output()
            .expect("run localpg");
        assert!(out.status.success(), "localpg {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(run(&["status"]), "stopped");
    let url = run(&["up"]);
    assert!(url.starts_with("postgres://postgres:"), "{url}");
    assert_eq!(run(&["status"]), format!("running: {url}"));
    assert_eq!(run(&["up"]), url, "up is idempotent");
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("port");
    assert!(serving(port));
    run(&["down"]);
    assert_eq!(run(&["status"]), "stopped");
    assert!(!serving(port));

    let url_again = run(&["up"]);
    assert_eq!(
        url_again.split('@').next(),
        url.split('@').next(),
        "same cluster, same password"
    );
    run(&["destroy"]);
    assert_eq!(run(&["status"]), "stopped");
    let fresh = run(&["up"]);
    assert_ne!(
        fresh.split('@').next(),
        url.split('@').next(),
        "destroy deletes the cluster"
    );
    run(&["destroy"]);
}

#[test]
fn missing_binaries_give_an_error_that_names_the_fix() {
    let out = Command::new(LOCALPG)
        .args(["exec", "--", "true"])
        .env("LOCALPG_BINDIR", "/nonexistent")
        .output()
        .expect("run localpg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("apt-get install postgresql") && stderr.contains("DATABASE_URL"),
        "{stderr}"
    );
}
