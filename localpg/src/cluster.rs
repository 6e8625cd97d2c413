//! Creating, starting and stopping a cluster, and tying its life to the process that started it.
//!
//! A cluster lives in `<root>/<name>/`: `data/` (PGDATA), `postgres.log`, and `cluster.json`
//! (the superuser password, mode 0600). The server listens on 127.0.0.1 only, on a port chosen
//! free at each start, with no Unix socket, and asks for a password (SCRAM).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::os_user::RunAs;
use crate::{Binaries, Error, Result};

/// The superuser the clusters are created with.
const SUPERUSER: &str = "postgres";
/// Throwaway clusters are named `tmp-<pid>-<nanos>`.
const THROWAWAY_PREFIX: &str = "tmp-";

/// What happens to a cluster when the process that started it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// The server stops and the cluster, data included, is deleted (test suites).
    Throwaway,
    /// The data stays; the server stops with this process if this process started it
    /// (the dev server).
    StopWithProcess,
    /// The data stays and the server keeps running (`localpg up`); `localpg down` stops it.
    Detached,
}

/// The directory clusters are kept in.
#[derive(Debug, Clone)]
pub struct ClusterRoot {
    path: PathBuf,
}

impl ClusterRoot {
    /// `target/pg` of this workspace (honouring `CARGO_TARGET_DIR`).
    pub fn workspace_default() -> ClusterRoot {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
                crate_dir.parent().unwrap_or(crate_dir).join("target")
            });
        ClusterRoot::new(target.join("pg"))
    }

    /// Clusters under `path`.
    pub fn new(path: impl Into<PathBuf>) -> ClusterRoot {
        ClusterRoot { path: path.into() }
    }

    /// The directory as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the cluster `name` lives. Normally under this root; but when we are root and the
    /// `postgres` user cannot reach this directory (a checkout under a 0700 home or `mktemp -d`
    /// directory), under a directory in the system temp dir that is named after this root, so the
    /// same checkout always finds the same cluster.
    fn cluster_dir(&self, run_as: RunAs, name: &str) -> Result<PathBuf> {
        let preferred = self.path.join(name);
        if preferred.join("data").exists()
            || ensure_dir(run_as, &preferred).is_ok_and(|()| run_as.can_write(&preferred))
        {
            return Ok(preferred);
        }
        let _ = std::fs::remove_dir(&preferred);
        let mut hasher = DefaultHasher::new();
        std::fs::canonicalize(&self.path)
            .unwrap_or_else(|_| self.path.clone())
            .hash(&mut hasher);
        let fallback = std::env::temp_dir()
            .join(format!("tenant-registry-pg-{:016x}", hasher.finish()))
            .join(name);
        ensure_dir(run_as, &fallback)?;
        if !run_as.can_write(&fallback) {
            return Err(Error::State(format!(
                "the postgres OS user can write neither {} nor {}: make one of them reachable, \
                 or set DATABASE_URL",
                preferred.display(),
                fallback.display()
            )));
        }
        Ok(fallback)
    }
}

/// A running PostgreSQL cluster of ours.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    password: String,
    started_here: bool,
    /// Holds the write end of a pipe whose other end a small `sh` process reads. When this
    /// process exits in any way (even SIGKILL), the kernel closes the pipe and that watchdog
    /// stops the server (and, for throwaway clusters, deletes them).
    _watchdog: Option<Child>,
}

#[derive(Serialize, Deserialize)]
struct State {
    superuser: String,
    password: String,
}

impl Cluster {
    /// Creates and starts a fresh cluster that is stopped and deleted when this process exits.
    pub fn throwaway(root: &ClusterRoot) -> Result<Cluster> {
        let run_as = RunAs::detect()?;
        let bin = Binaries::locate()?;
        sweep_abandoned(root);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!("{THROWAWAY_PREFIX}{}-{nanos}", std::process::id());
        let dir = root.cluster_dir(run_as, &name)?;
        init(&bin, run_as, &dir, Lifetime::Throwaway)?;
        let (pid, port) = start(&bin, run_as, &dir)?;
        let watchdog = spawn_watchdog(pid, &dir, Lifetime::Throwaway)?;
        Ok(Cluster {
            password: read_state(&dir)?.password,
            dir,
            port,
            started_here: true,
            _watchdog: Some(watchdog),
        })
    }

    /// Starts the named persistent cluster, creating it on first use. If it is already running
    /// (another process started it), this attaches to it and `lifetime` does not apply.
    pub fn persistent(root: &ClusterRoot, name: &str, lifetime: Lifetime) -> Result<Cluster> {
        let run_as = RunAs::detect()?;
        let bin = Binaries::locate()?;
        let dir = root.cluster_dir(run_as, name)?;
        if let Some((_, port)) = running(&dir) {
            return Cluster::attached(dir, port);
        }
        if !dir.join("data/PG_VERSION").exists() {
            init(&bin, run_as, &dir, lifetime)?;
        }
        let (pid, port) = match start(&bin, run_as, &dir) {
            Ok(started) => started,
            // Another process may have started it a moment ago.
            Err(e) => match running(&dir) {
                Some((_, port)) => return Cluster::attached(dir, port),
                None => return Err(e),
            },
        };
        let watchdog = match lifetime {
            Lifetime::Detached => None,
            other => Some(spawn_watchdog(pid, &dir, other)?),
        };
        Ok(Cluster {
            password: read_state(&dir)?.password,
            dir,
            port,
            started_here: true,
            _watchdog: watchdog,
        })
    }

    /// The named persistent cluster if it is running, without starting it.
    pub fn find_running(root: &ClusterRoot, name: &str) -> Result<Option<Cluster>> {
        let dir = root.cluster_dir(RunAs::detect()?, name)?;
        running(&dir)
            .map(|(_, port)| Cluster::attached(dir, port))
            .transpose()
    }

    /// Stops the named persistent cluster (fast shutdown: open sessions are cancelled, data is
    /// kept). Returns whether it was running.
    pub fn stop_persistent(root: &ClusterRoot, name: &str) -> Result<bool> {
        let run_as = RunAs::detect()?;
        let dir = root.cluster_dir(run_as, name)?;
        if running(&dir).is_none() {
            return Ok(false);
        }
        let bin = Binaries::locate()?;
        let out = run_as
            .command(bin.program("pg_ctl"))
            .args(["stop", "-w", "-m", "fast", "-D"])
            .arg(dir.join("data"))
            .stdin(Stdio::null())
            .output()
            .map_err(Error::io("running pg_ctl stop"))?;
        if !out.status.success() {
            return Err(command_error("pg_ctl stop", &out.status, &out.stderr, &dir));
        }
        Ok(true)
    }

    /// Stops the named persistent cluster if it runs, then deletes its directory. Returns the
    /// directory that was deleted.
    pub fn destroy_persistent(root: &ClusterRoot, name: &str) -> Result<PathBuf> {
        Cluster::stop_persistent(root, name)?;
        let dir = root.cluster_dir(RunAs::detect()?, name)?;
        std::fs::remove_dir_all(&dir).map_err(Error::io(format!("deleting {}", dir.display())))?;
        Ok(dir)
    }

    fn attached(dir: PathBuf, port: u16) -> Result<Cluster> {
        Ok(Cluster {
            password: read_state(&dir)?.password,
            dir,
            port,
            started_here: false,
            _watchdog: None,
        })
    }

    /// A connection URL for `database` as the superuser.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (data, log, state).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// Whether this process started the server (as opposed to attaching to a running one).
    pub fn started_here(&self) -> bool {
        self.started_here
    }
}

fn ensure_dir(run_as: RunAs, dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(Error::io(format!("creating {}", dir.display())))?;
    run_as.give(dir)
}

/// Runs initdb and writes our settings and the password file.
fn init(bin: &Binaries, run_as: RunAs, dir: &Path, lifetime: Lifetime) -> Result<()> {
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

/// Starts the server on a free port; retries when another process takes the port first.
fn start(bin: &Binaries, run_as: RunAs, dir: &Path) -> Result<(u32, u16)> {
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

/// The postmaster's pid and port, if the cluster in `dir` is running.
fn running(dir: &Path) -> Option<(u32, u16)> {
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
fn spawn_watchdog(pid: u32, dir: &Path, lifetime: Lifetime) -> Result<Child> {
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
fn sweep_abandoned(root: &ClusterRoot) {
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

fn read_state(dir: &Path) -> Result<State> {
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

fn command_error(
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
