//! `localpg`: the persistent local dev cluster, for `just db-up` / `just db-down`.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use localpg::{Cluster, ClusterRoot, Lifetime};

/// Manage the local PostgreSQL dev cluster kept under target/pg (created on first use from the
/// machine's PostgreSQL server binaries).
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
    /// Stop the cluster, keeping its data.
    Down,
    /// Say whether the cluster is running, and its URL if it is.
    Status,
    /// Print the cluster's connection URL (for DATABASE_URL=$(localpg url)); fails if stopped.
    Url {
        /// Database name in the URL.
        #[arg(long, default_value = "postgres")]
        database: String,
    },
}

fn main() -> anyhow::Result<()> {
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
        Cmd::Down => {
            if Cluster::stop_persistent(&root, &cli.name).context("stopping the dev cluster")? {
                eprintln!("cluster {:?} stopped", cli.name);
            } else {
                eprintln!("cluster {:?} was not running", cli.name);
            }
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
    }
    Ok(())
}
