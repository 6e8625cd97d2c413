//! `localpg`: the persistent local dev cluster (`just db-up` / `just db-down`), and `exec` to run
//! one command against a throwaway cluster.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use localpg::{Cluster, ClusterRoot, Lifetime};

/// Local PostgreSQL clusters from the machine's own server binaries: the persistent dev cluster
/// kept under target/pg (created on first use), and throwaway clusters for one command.
///
/// Binaries are looked up in LOCALPG_BINDIR if set, else on PATH, via `pg_config --bindir`, or
/// under /usr/lib/postgresql/*/bin. As root, initdb and postgres run as the `postgres` user.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Name of the cluster under the cluster directory.
    #[arg(long, default_value = "dev", global = true)]
    name: String,
    /// Directory the clusters live in (default: target/pg of this workspace).
    #[arg(long, env = "LOCALPG_ROOT", global = true)]
    root: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start the cluster (creating it on first use) and leave it running; print its URL.
    Up,
    /// Start a streaming standby of the cluster (which must be running), made on first use
    /// with `pg_basebackup -R` as the cluster `<name>-standby`, and leave it running; print its
    /// URL. Stop it with `localpg --name <name>-standby down`.
    Standby,
    /// Stop the cluster, keeping its data.
    Down,
    /// Stop the cluster and delete it, data included (the next `up` starts afresh).
    Destroy,
    /// Say whether the cluster is running, and its URL if it is.
    Status,
    /// Print the cluster's connection URL (for DATABASE_URL=$(localpg url)); fails if stopped.
    Url {
        /// Database name in the URL.
        #[arg(long, default_value = "postgres")]
        database: String,
    },
    /// Run a command with DATABASE_URL pointing at a fresh throwaway cluster (and
    /// LOCALPG_BINDIR at the PostgreSQL binaries), which is stopped and deleted when the command
    /// ends (or when this process is killed). Exits with the command's exit code.
    Exec {
        /// The command and its arguments (after `--`).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<std::ffi::OsString>,
    },
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let root = cli
        .root
        .map(ClusterRoot::new)
        .unwrap_or_else(ClusterRoot::workspace_default);
    match cli.command {
        Cmd::Up => {
            let cluster = Cluster::persistent(&root, &cli.name, Lifetime::Detached)
                .context("starting the dev cluster")?;
            let verb = if cluster.started_here() {
                "started"
            } else {
                "already running"
            };
            eprintln!(
                "cluster {:?} {verb} in {}",
                cli.name,
                cluster.dir().display()
            );
            println!("{}", cluster.url("postgres"));
        }
        Cmd::Standby => {
            let primary = Cluster::find_running(&root, &cli.name)?.with_context(|| {
                format!(
                    "cluster {:?} is not running: start it with `localpg --name {} up` first",
                    cli.name, cli.name
                )
            })?;
            let standby = primary
                .standby(Lifetime::Detached)
                .context("starting the standby")?;
            let verb = if standby.started_here() {
                "started"
            } else {
                "already running"
            };
            eprintln!(
                "standby of {:?} {verb} in {}",
                cli.name,
                standby.dir().display()
            );
            println!("{}", standby.url("postgres"));
        }
        Cmd::Down => {
            if Cluster::stop_persistent(&root, &cli.name).context("stopping the dev cluster")? {
                eprintln!("cluster {:?} stopped", cli.name);
            } else {
                eprintln!("cluster {:?} was not running", cli.name);
            }
        }
        Cmd::Destroy => {
            let dir = Cluster::destroy_persistent(&root, &cli.name)
                .context("deleting the dev cluster")?;
            eprintln!("cluster {:?} deleted ({})", cli.name, dir.display());
        }
        Cmd::Status => match Cluster::find_running(&root, &cli.name)? {
            Some(cluster) => println!("running: {}", cluster.url("postgres")),
            None => println!("stopped"),
        },
        Cmd::Url { database } => match Cluster::find_running(&root, &cli.name)? {
            Some(cluster) => println!("{}", cluster.url(&database)),
            None => anyhow::bail!(
                "cluster {:?} is not running: start it with `localpg up`",
                cli.name
            ),
        },
        Cmd::Exec { command } => return exec(&root, &command),
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn exec(
    root: &ClusterRoot,
    command: &[std::ffi::OsString],
) -> anyhow::Result<std::process::ExitCode> {
    let cluster = Cluster::throwaway(root).context("starting a throwaway cluster")?;
    eprintln!(
        "localpg: throwaway cluster in {} on port {}",
        cluster.dir().display(),
        cluster.port()
    );
    let (program, args) = command.split_first().context("no command given")?;
    let bindir = localpg::Binaries::locate().context("locating the PostgreSQL binaries")?;
    let status = std::process::Command::new(program)
        .args(args)
        .env("DATABASE_URL", cluster.url("postgres"))
        // psql, pg_dump ... of the same installation, for scripts.
        .env("LOCALPG_BINDIR", bindir.bindir())
        .status()
        .with_context(|| format!("running {}", program.to_string_lossy()))?;
    // The cluster's watchdog deletes it once this process has exited.
    Ok(match status.code() {
        Some(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => std::process::ExitCode::from(1),
    })
}
