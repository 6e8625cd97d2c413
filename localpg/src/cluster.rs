//! A running cluster of ours: create-and-start, attach, stop, destroy, and how to connect.
//!
//! A cluster lives in `<root>/<name>/`: `data/` (PGDATA), `postgres.log`, and `cluster.json`
//! (the superuser password, mode 0600). The server listens on 127.0.0.1 only, on a port chosen
//! free at each start, with no Unix socket (socket paths are limited to ~100 bytes, and deep
//! checkouts exceed that), and asks for a password (SCRAM).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::SystemTime;

use crate::os_user::RunAs;
use crate::process::{
    SUPERUSER, THROWAWAY_PREFIX, command_error, init, read_state, running, spawn_watchdog, start,
    sweep_abandoned,
};
use crate::root::ClusterRoot;
use crate::{Binaries, Error, Result};

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
