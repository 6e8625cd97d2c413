//! The processes behind a cluster: initdb, pg_ctl, the postmaster, and the watchdog that ties
//! the server's life to ours.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cluster::Lifetime;
use crate::os_user::RunAs;
use crate::root::{ClusterRoot, ensure_dir};
use crate::{Binaries, Error, Result};

/// The superuser the clusters are created with.
pub(crate) const SUPERUSER: &str = "postgres";
/// Throwaway clusters are named `tmp-<pid>-<nanos>`.
pub(crate) const THROWAWAY_PREFIX: &str = "tmp-";

/// `cluster.json`: what we need to connect, kept beside the data with mode 0600.
#[derive(Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) superuser: String,
    pub(crate) password: String,
}

/// Runs initdb and writes our settings and the password file.
pub(crate) fn init(bin: &Binaries, run_as: RunAs, dir: &Path, lifetime: Lifetime) -> Result<()> {
    ensure_dir(run_as, dir)?;
    let password = random_hex(18)?;
    let pwfile = dir.join("initdb.pw");
    write_private(&pwfile, &password)?;
    run_as.give(&pwfile)?;
    let data = dir.join("data");
    let out = run_as
        .command(bin.program("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            SUPERUSER,
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ])
        .arg(format!("--locale={}", pick_locale()))
        .arg(format!("--pwfile={}", pwfile.display()))
        .stdin(Stdio::null())
        .output()
        .map_err(Error::io("running initdb"));
    let _ = std::fs::remove_file(&pwfile);
    let out = out?;
    if !out.status.success() {
        let mut text = out.stdout;
        text.extend_from_slice(&out.stderr);
        return Err(command_error("initdb", &out.status, &text, dir));
    }

    let mut settings = String::from(
        "\n# Added by localpg: loopback TCP only, no Unix socket.\n\
         listen_addresses = '127.0.0.1'\n\
         unix_socket_directories = ''\n\
         max_connections = 200\n",
    );
    if lifetime == Lifetime::Throwaway {
        // Throwaway clusters trade crash safety for speed: their data dies with the process.
        settings.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        // A client that stalls mid-handshake (a test runtime shutting down) must not hold
        // DROP DATABASE's barrier for the default minute.
        settings.push_str("authentication_timeout = '5s'\n");
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .and_then(|mut f| f.write_all(settings.as_bytes()))
        .map_err(Error::io("writing postgresql.conf"))?;

    let state = State {
        superuser: SUPERUSER.to_owned(),
        password,
    };
    let json = serde_json::to_string_pretty(&state).map_err(|e| Error::State(e.to_string()))?;
    write_private(&dir.join("cluster.json"), &json)
}

/// Makes `dir` a streaming standby of the running cluster `primary_dir` on `primary_port`:
/// `pg_basebackup -R` (a base backup with the WAL it needs, `standby.signal`, and the
/// primary's connection in `postgresql.auto.conf`, its password included), and the primary's
/// `cluster.json`, as the standby has the same superuser.
pub(crate) fn base_backup(
    bin: &Binaries,
    run_as: RunAs,
    primary_dir: &Path,
    primary_port: u16,
    dir: &Path,
) -> Result<()> {
    ensure_dir(run_as, dir)?;
    let state = read_state(primary_dir)?;
    // The password reaches pg_basebackup in a file of the server's user only, not in its
    // arguments or environment (both readable in /proc), and stays: `-R` names the file in
    // the standby's primary_conninfo, which the standby connects with. Any port: the primary
    // listens on another one at each start ([`point_standby_at`]).
    let passfile = dir.join(PASSFILE);
    write_private(
        &passfile,
        &format!("127.0.0.1:*:*:{}:{}\n", state.superuser, state.password),
    )?;
    run_as.give(&passfile)?;
    let out = run_as
        .command(bin.program("pg_basebackup"))
        .arg("-D")
        .arg(dir.join("data"))
        .args([
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
            "-h",
            "127.0.0.1",
        ])
        .args([
            "-p",
            &primary_port.to_string(),
            "-U",
            &state.superuser,
            "-w",
        ])
        .env("PGPASSFILE", &passfile)
        .stdin(Stdio::null())
        .output()
        .map_err(Error::io("running pg_basebackup"));
    let out = out?;
    if !out.status.success() {
        return Err(command_error(
            "pg_basebackup",
            &out.status,
            &out.stderr,
            dir,
        ));
    }
    let json = serde_json::to_string_pretty(&state).map_err(|e| Error::State(e.to_string()))?;
    write_private(&dir.join("cluster.json"), &json)
}

/// The standby's password file for its primary, beside its data.
const PASSFILE: &str = "primary.pgpass";

/// Points the stopped standby in `dir` at its primary's port now (`primary_conninfo` in
/// `postgresql.auto.conf`, which `pg_basebackup -R` wrote with the port of then).
pub(crate) fn point_standby_at(dir: &Path, primary_port: u16) -> Result<()> {
    let path = dir.join("data/postgresql.auto.conf");
    let text =
        std::fs::read_to_string(&path).map_err(Error::io(format!("reading {}", path.display())))?;
    let pointed: Vec<String> = text
        .lines()
        .map(|line| {
            if !line.starts_with("primary_conninfo") {
                return line.to_owned();
            }
            line.split(' ')
                .map(|word| {
                    if word.starts_with("port=") {
                        format!("port={primary_port}")
                    } else {
                        word.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    std::fs::write(&path, pointed.join("\n") + "\n")
        .map_err(Error::io(format!("writing {}", path.display())))
}

/// Starts the server on a free port; retries when another process takes the port first.
pub(crate) fn start(bin: &Binaries, run_as: RunAs, dir: &Path) -> Result<(u32, u16)> {
    let log = dir.join("postgres.log");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port()?;
        let out = run_as
            .command(bin.program("pg_ctl"))
            .args(["start", "-w", "-t", "60", "-s", "-D"])
            .arg(dir.join("data"))
            .arg("-l")
            .arg(&log)
            .args(["-o", &format!("-p {port}")])
            .stdin(Stdio::null())
            // Its own process group: a Ctrl-C meant for us must not kill the server before our
            // watchdog can shut it down cleanly.
            .process_group(0)
            .output()
            .map_err(Error::io("running pg_ctl start"))?;
        if out.status.success() {
            let (pid, port) = running(dir).ok_or_else(|| {
                Error::State(format!(
                    "pg_ctl started {} but it is not running",
                    dir.display()
                ))
            })?;
            return Ok((pid, port));
        }
        let tail = log_tail(&log);
        let port_taken = tail.contains("could not bind") || tail.contains("already in use");
        if !(port_taken && attempt < 5) {
            return Err(command_error("pg_ctl start", &out.status, &out.stderr, dir));
        }
    }
}

/// Starts the server again on `port` (after a stop: its watchdog still watches the old pid,
/// and a restarted server is stopped by whoever stops it, or by the throwaway root's sweep).
pub(crate) fn start_on(bin: &Binaries, run_as: RunAs, dir: &Path, port: u16) -> Result<()> {
    let out = run_as
        .command(bin.program("pg_ctl"))
        .args(["start", "-w", "-t", "60", "-s", "-D"])
        .arg(dir.join("data"))
        .arg("-l")
        .arg(dir.join("postgres.log"))
        .args(["-o", &format!("-p {port}")])
        .stdin(Stdio::null())
        .process_group(0)
        .output()
        .map_err(Error::io("running pg_ctl start"))?;
    if !out.status.success() {
        return Err(command_error("pg_ctl start", &out.status, &out.stderr, dir));
    }
    Ok(())
}

/// The postmaster's pid and port, if the cluster in `dir` is running.
pub(crate) fn running(dir: &Path) -> Option<(u32, u16)> {
    let text = std::fs::read_to_string(dir.join("data/postmaster.pid")).ok()?;
    let mut lines = text.lines();
    let pid: u32 = lines.next()?.trim().parse().ok()?;
    let port: u16 = lines.nth(2)?.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}"))
        .exists()
        .then_some((pid, port))
}

/// Starts the watchdog that outlives us by a moment: it blocks reading a pipe only we hold, and
/// when that read ends (we exited, however), it shuts the server down.
pub(crate) fn spawn_watchdog(pid: u32, dir: &Path, lifetime: Lifetime) -> Result<Child> {
    // SIGQUIT: immediate shutdown, the data is about to be deleted anyway.
    // SIGINT: fast shutdown, consistent data on disk.
    // `alive` treats a zombie as gone: the postmaster is not our child, and an init that is slow
    // to reap must not hold up the clean-up. The wait is bounded all the same.
    const ALIVE: &str = "alive() { [ -r /proc/$1/stat ] && read -r _ _ st _ < /proc/$1/stat && [ \"$st\" != Z ]; }; ";
    let script = match lifetime {
        Lifetime::Throwaway => format!(
            "{ALIVE}read _; kill -QUIT \"$1\" 2>/dev/null; i=0; \
             while alive \"$1\" && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \
             rm -rf \"$2\""
        ),
        _ => format!(
            "{ALIVE}read _; kill -INT \"$1\" 2>/dev/null; i=0; \
             while alive \"$1\" && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"
        ),
    };
    Command::new("sh")
        .args(["-c", &script, "localpg-watchdog"])
        .arg(pid.to_string())
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(Error::io("starting the cluster watchdog"))
}

/// Deletes throwaway clusters left behind by processes that died with their watchdog (e.g. a
/// whole process group killed at once). Only ones idle for ten minutes and not running, so a
/// cluster another process is still creating is never touched.
pub(crate) fn sweep_abandoned(root: &ClusterRoot) {
    let Ok(entries) = std::fs::read_dir(root.path()) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_throwaway = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(THROWAWAY_PREFIX));
        let idle = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(600));
        if is_throwaway && idle && running(&path).is_none() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

pub(crate) fn read_state(dir: &Path) -> Result<State> {
    let path = dir.join("cluster.json");
    let text =
        std::fs::read_to_string(&path).map_err(Error::io(format!("reading {}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::State(format!(
            "{} is damaged ({e}); delete {} to start over",
            path.display(),
            dir.display()
        ))
    })
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(Error::io(format!("writing {}", path.display())))
}

fn free_port() -> Result<u16> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(Error::io("finding a free loopback port"))
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(Error::io("reading /dev/urandom"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// A UTF-8 locale that is not plain `C` where the machine has one, so that text sorts and
/// `LIKE` plans as they will in production (where the collation is not C).
fn pick_locale() -> &'static str {
    let available = Command::new("locale")
        .arg("-a")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .to_lowercase()
                .replace('-', "")
        })
        .unwrap_or_default();
    let has = |name: &str| available.lines().any(|l| l.trim() == name);
    if has("c.utf8") {
        "C.UTF-8"
    } else if has("en_us.utf8") {
        "en_US.UTF-8"
    } else {
        "C"
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

pub(crate) fn command_error(
    program: &str,
    status: &std::process::ExitStatus,
    output: &[u8],
    dir: &Path,
) -> Error {
    let mut text = String::from_utf8_lossy(output).trim().to_owned();
    let log = log_tail(&dir.join("postgres.log"));
    if !log.is_empty() {
        text.push_str("\nserver log:\n");
        text.push_str(&log);
    }
    Error::Command {
        program: program.to_owned(),
        status: status.to_string(),
        output: text,
    }
}
