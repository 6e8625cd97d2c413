//! `api`: the tenant-registry server, and the tools around it (`api --help`; the commands are
//! [`api::cli`]'s).
//!
//! - `api` / `api serve`: serve GraphQL (dev mode when `DATABASE_URL` is unset).
//! - `api issue-key --tenant SLUG --name NAME --scopes a,b [--product P]`: print a new key.
//! - `api lifecycle run`: move the tenants that are due, once.
//! - `api signing-key --generate PATH` / `--public`: the audit log's signing key.
//! - `api verify-log [--from-checkpoint N]`: verify the whole sealed audit log.
//! - `api schema`: print the GraphQL SDL.

use api::cli::Cli;
use api::config::DEFAULT_LOG_FILTER;
use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    api::cli::run(cli).await
}
