//! Where clusters are kept: `target/pg/<name>`, or a temp-dir fallback the server's user can
//! reach.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::os_user::RunAs;
use crate::{Error, Result};

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
    pub(crate) fn cluster_dir(&self, run_as: RunAs, name: &str) -> Result<PathBuf> {
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

pub(crate) fn ensure_dir(run_as: RunAs, dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(Error::io(format!("creating {}", dir.display())))?;
    run_as.give(dir)
}
