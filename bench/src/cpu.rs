//! CPU time per operation, from `/proc`: the server's, and the database cluster's (the
//! postmaster, its live backends, and the backends that have ended, which pgbench's do when
//! it disconnects). Throughput ratios say how close the API comes to the floor on this
//! machine; CPU per operation says where the time goes, and travels better between machines.

use std::process::Command;
use std::time::Duration;

/// `utime`, `stime`, `cutime`, `cstime` of `pid` in clock ticks, and its parent.
fn stat(pid: u32) -> Option<([u64; 4], u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let number = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((
        [number(11)?, number(12)?, number(13)?, number(14)?],
        fields.get(1)?.parse().ok()?,
    ))
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 where it cannot be asked).
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The processes whose CPU a measurement counts.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    server: u32,
    /// `None` when the database is not on this machine.
    postmaster: Option<u32>,
    ticks: f64,
}

/// CPU seconds so far: the server's, and the cluster's.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    server: Option<f64>,
    cluster: Option<f64>,
}

/// CPU per operation between two readings, in µs (NaN where unknown).
#[derive(Debug, Clone, Copy)]
pub struct PerOp {
    /// The server's.
    pub server_us: f64,
    /// The database cluster's.
    pub db_us: f64,
}

impl Default for PerOp {
    fn default() -> PerOp {
        PerOp {
            server_us: f64::NAN,
            db_us: f64::NAN,
        }
    }
}

impl Meter {
    /// Counts the server `server` and the cluster of the backend `backend` (found by its
    /// parent, the postmaster).
    pub fn new(server: u32, backend: u32) -> Meter {
        Meter {
            server,
            postmaster: stat(backend).map(|(_, parent)| parent),
            ticks: ticks_per_second(),
        }
    }

    /// Counts one process alone (no cluster).
    pub fn process(pid: u32) -> Meter {
        Meter {
            server: pid,
            postmaster: None,
            ticks: ticks_per_second(),
        }
    }

    /// The CPU used so far.
    pub fn read(&self) -> Reading {
        let server = stat(self.server).map(|([user, system, ..], _)| (user + system) as f64);
        let cluster = self.postmaster.and_then(|postmaster| {
            let ([user, system, child_user, child_system], _) = stat(postmaster)?;
            let mut total = user + system + child_user + child_system;
            for entry in std::fs::read_dir("/proc").ok()?.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                if let Some(([user, system, ..], parent)) = stat(pid)
                    && parent == postmaster
                {
                    total += user + system;
                }
            }
            Some(total as f64)
        });
        Reading {
            server: server.map(|t| t / self.ticks),
            cluster: cluster.map(|t| t / self.ticks),
        }
    }

    /// A reading after a load generator has exited, once the postmaster has had a moment to
    /// collect its ended backends (their time moves to the postmaster's children's time).
    pub fn read_settled(&self) -> Reading {
        std::thread::sleep(Duration::from_millis(200));
        self.read()
    }
}

impl Reading {
    /// CPU per operation from `self` to `later`, over `ops` operations.
    pub fn per_op(&self, later: &Reading, ops: f64) -> PerOp {
        let per = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if ops > 0.0 => (b - a) / ops * 1e6,
            _ => f64::NAN,
        };
        PerOp {
            server_us: per(self.server, later.server),
            db_us: per(self.cluster, later.cluster),
        }
    }
}
