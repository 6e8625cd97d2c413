//! A private PostgreSQL cluster started from the machine's own server binaries.
//!
//! With `DATABASE_URL` unset, the test suite and the dev server need a real PostgreSQL without
//! asking anyone to install or configure one. This crate finds `initdb`/`pg_ctl`, creates a
//! cluster under `target/pg/` (or a reachable temporary directory, see [`ClusterRoot`]), starts it
//! on a free loopback port with a random password, and makes sure it stops when the process that
//! started it exits, however that process ends.
//!
//! - [`Cluster::throwaway`]: a fresh cluster, deleted when this process exits (tests).
//! - [`Cluster::persistent`]: a named cluster whose data survives (dev server, `just db-up`).
//!
//! As root, `initdb` and `postgres` run as the `postgres` OS user, since both refuse root.

mod binaries;
mod cluster;
mod os_user;
mod process;
mod root;

pub use binaries::Binaries;
pub use cluster::{Cluster, Lifetime};
pub use root::ClusterRoot;

/// What can go wrong while finding, creating, starting or stopping a cluster. Every message says
/// what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `initdb`/`pg_ctl`/`postgres` trio was found anywhere we looked.
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found in LOCALPG_BINDIR, on \
         PATH, via `pg_config --bindir`, or under /usr/lib/postgresql/*/bin. Install them \
         (`apt-get install postgresql`) or set DATABASE_URL to a PostgreSQL server you have"
    )]
    NoBinaries,
    /// Running as root but no `postgres` OS user exists to run the server as.
    #[error(
        "running as root, and initdb and postgres refuse to run as root, but there is no \
         `postgres` OS user to run them as: install the postgresql package (it creates the user), \
         run as an ordinary user, or set DATABASE_URL"
    )]
    NoPostgresUser,
    /// A file-system operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing, with the path.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A PostgreSQL program exited with an error.
    #[error("{program} failed ({status}); its last output:\n{output}")]
    Command {
        /// The program, e.g. `initdb`.
        program: String,
        /// How it exited.
        status: String,
        /// The tail of its output or of the server log.
        output: String,
    },
    /// The named cluster has never been created, or is not running when it must be.
    #[error("{0}")]
    State(String),
}

impl Error {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
