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
    SUPERUSER, THROWAWAY_PREFIX, base_backup, command_error, init, read_state, running,
    spawn_watchdog, start, sweep_abandoned,
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
    /// What happens when this process exits, for a cluster it started (none: attached).
    lifetime: Option<Lifetime>,
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
            lifetime: Some(Lifetime::Throwaway),
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
            lifetime: Some(lifetime),
            _watchdog: watchdog,
        })
    }

    /// A streaming standby of this cluster (which must be running), made now with
    /// `pg_basebackup -R` and started on a free port: a hot standby that replays the primary's
    /// WAL as it comes and answers reads. It is named `<this cluster's name>-standby` (or
    /// `-standby-2`, …, for more) and kept as `lifetime` says; a throwaway primary's standby
    /// is a throwaway.
    pub fn standby(&self, lifetime: Lifetime) -> Result<Cluster> {
        let run_as = RunAs::detect()?;
        let bin = Binaries::locate()?;
        let root = self
            .dir
            .parent()
            .ok_or_else(|| Error::State(format!("{} has no parent", self.dir.display())))?;
        let base = self
            .dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::State(format!("{} has no name", self.dir.display())))?;
        let root = ClusterRoot::new(root);
        let mut n = 1;
        let dir = loop {
            let name = match n {
                1 => format!("{base}-standby"),
                n => format!("{base}-standby-{n}"),
            };
            let dir = root.cluster_dir(run_as, &name)?;
            if !dir.join("data").exists() {
                break dir;
            }
            if let Some((_, port)) = running(&dir) {
                // A standby of a persistent cluster already running: attach to it.
                if !base.starts_with(THROWAWAY_PREFIX) {
                    return Cluster::attached(dir, port);
                }
            } else if !base.starts_with(THROWAWAY_PREFIX) {
                // Made before and stopped: start it again, pointed at the primary's port of
                // now (it catches up from the primary).
                crate::process::point_standby_at(&dir, self.port)?;
                return Cluster::start_existing(&bin, run_as, dir, lifetime);
            }
            n += 1;
        };
        base_backup(&bin, run_as, &self.dir, self.port, &dir)?;
        let lifetime = if base.starts_with(THROWAWAY_PREFIX) {
            Lifetime::Throwaway
        } else {
            lifetime
        };
        Cluster::start_existing(&bin, run_as, dir, lifetime)
    }

    fn start_existing(
        bin: &Binaries,
        run_as: RunAs,
        dir: PathBuf,
        lifetime: Lifetime,
    ) -> Result<Cluster> {
        let (pid, port) = start(bin, run_as, &dir)?;
        let watchdog = match lifetime {
            Lifetime::Detached => None,
            other => Some(spawn_watchdog(pid, &dir, other)?),
        };
        Ok(Cluster {
            password: read_state(&dir)?.password,
            dir,
            port,
            started_here: true,
            lifetime: Some(lifetime),
            _watchdog: watchdog,
        })
    }

    /// Stops this cluster's server now (fast shutdown), keeping its data: a test stopping a
    /// standby to see reads go elsewhere, then [`Cluster::restart`].
    pub fn stop(&self) -> Result<()> {
        let run_as = RunAs::detect()?;
        let bin = Binaries::locate()?;
        let out = run_as
            .command(bin.program("pg_ctl"))
            .args(["stop", "-w", "-m", "fast", "-D"])
            .arg(self.dir.join("data"))
            .stdin(Stdio::null())
            .output()
            .map_err(Error::io("running pg_ctl stop"))?;
        if !out.status.success() {
            return Err(command_error(
                "pg_ctl stop",
                &out.status,
                &out.stderr,
                &self.dir,
            ));
        }
        Ok(())
    }

    /// Starts this cluster's server again after [`Cluster::stop`], on the same port, with a
    /// new watchdog for the new server (the old one, watching a server that is gone, is
    /// stopped without acting).
    pub fn restart(&mut self) -> Result<()> {
        let run_as = RunAs::detect()?;
        let bin = Binaries::locate()?;
        crate::process::start_on(&bin, run_as, &self.dir, self.port)?;
        if let Some(mut old) = self._watchdog.take() {
            let _ = old.kill();
            let _ = old.wait();
        }
        if let (Some(lifetime), Some((pid, _))) = (self.lifetime, running(&self.dir))
            && lifetime != Lifetime::Detached
        {
            self._watchdog = Some(spawn_watchdog(pid, &self.dir, lifetime)?);
        }
        Ok(())
    }

    /// Whether this cluster is a standby (it has `standby.signal`).
    pub fn is_standby(&self) -> bool {
        self.dir.join("data/standby.signal").exists()
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
            lifetime: None,
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
