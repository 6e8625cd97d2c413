//! Who runs the server: ourselves, or, when we are root, the `postgres` OS user.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Error, Result};

/// The OS identity PostgreSQL programs run under.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RunAs {
    /// Not root: run them as ourselves.
    Myself,
    /// Root: switch to this uid/gid (the `postgres` user) in the child.
    User { uid: u32, gid: u32 },
}

impl RunAs {
    /// Decides who runs the server. As root this needs a `postgres` OS user.
    pub(crate) fn detect() -> Result<RunAs> {
        let euid = std::fs::metadata("/proc/self")
            .map_err(Error::io("reading /proc/self"))?
            .uid();
        if euid != 0 {
            return Ok(RunAs::Myself);
        }
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
            if !out.status.success() {
                return None;
            }
            String::from_utf8(out.stdout).ok()?.trim().parse().ok()
        };
        match (id("-u"), id("-g")) {
            (Some(uid), Some(gid)) => Ok(RunAs::User { uid, gid }),
            _ => Err(Error::NoPostgresUser),
        }
    }

    /// A command for `program` that runs under this identity.
    pub(crate) fn command(self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        if let RunAs::User { uid, gid } = self {
            // std also drops root's supplementary groups when it switches uid.
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    /// Hands `path` to the server's user (a no-op when that is ourselves).
    pub(crate) fn give(self, path: &Path) -> Result<()> {
        if let RunAs::User { uid, gid } = self {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(Error::io(format!(
                "handing {} to the postgres user",
                path.display()
            )))?;
        }
        Ok(())
    }

    /// Whether the server's user can create files in `dir` (every ancestor must be searchable).
    pub(crate) fn can_write(self, dir: &Path) -> bool {
        match self {
            RunAs::Myself => true,
            RunAs::User { .. } => self
                .command("sh")
                .args([
                    "-c",
                    "test -d \"$1\" && test -w \"$1\" && test -x \"$1\"",
                    "sh",
                ])
                .arg(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
        }
    }
}
