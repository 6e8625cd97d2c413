//! Finding the PostgreSQL server binaries: `LOCALPG_BINDIR` if set (and then only there), else
//! PATH, then `pg_config --bindir`, then the Debian layout `/usr/lib/postgresql/<major>/bin`
//! (newest major first).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// A directory holding `initdb`, `pg_ctl` and `postgres` of one PostgreSQL installation.
#[derive(Debug, Clone)]
pub struct Binaries {
    bindir: PathBuf,
}

const REQUIRED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

impl Binaries {
    /// Locates the server binaries, or says how to get them.
    pub fn locate() -> Result<Binaries> {
        if let Some(dir) = std::env::var_os("LOCALPG_BINDIR").filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            return if complete(&dir) {
                Ok(Binaries { bindir: dir })
            } else {
                Err(Error::NoBinaries)
            };
        }
        from_path()
            .or_else(from_pg_config)
            .or_else(from_debian_layout)
            .map(|bindir| Binaries { bindir })
            .ok_or(Error::NoBinaries)
    }

    /// The directory the binaries are in.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The full path of one program of this installation, e.g. `pg_ctl`.
    pub fn program(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }
}

fn complete(dir: &Path) -> bool {
    REQUIRED.iter().all(|p| dir.join(p).is_file())
}

/// The directory of `initdb` found on PATH, following symlinks (Debian links only some programs
/// into /usr/bin or /usr/local/bin; the real directory has all of them).
fn from_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("initdb"))
        .filter(|initdb| initdb.is_file())
        .filter_map(|initdb| std::fs::canonicalize(initdb).ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_path_buf))
        .find(|dir| complete(dir))
}

fn from_pg_config() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    complete(&dir).then_some(dir)
}

fn from_debian_layout() -> Option<PathBuf> {
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .filter(|(_, dir)| complete(dir))
        .collect();
    majors.sort();
    majors.pop().map(|(_, dir)| dir)
}
