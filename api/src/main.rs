//! `api`: the tenant-registry server, and two tools around it.
//!
//! - `api` / `api serve`: serve GraphQL (dev mode when `DATABASE_URL` is unset).
//! - `api issue-key --tenant SLUG --name NAME --scopes a,b [--product P]`: print a new key.
//! - `api schema`: print the GraphQL SDL.

use api::cli::{issue, serve};
use api::config::{DEFAULT_LOG_FILTER, ServeConfig};
use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The tenant-registry server: tenants, entitlements, SSO settings, API keys, and one audit
/// log shared by every product, over GraphQL.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    serve: ServeConfig,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve the API (the default). With DATABASE_URL unset: dev mode.
    Serve(ServeConfig),
    /// Issue an API key and print it, alone on one line, once. Uses DATABASE_URL, or the dev
    /// cluster when unset. The only way to mint a key with the `platform` scope.
    IssueKey {
        /// The slug of the tenant the key belongs to.
        #[arg(long)]
        tenant: String,
        /// A name for the key, unique within the tenant.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: tenants:read, tenants:write, keys:write, audit:read,
        /// audit:write, platform.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Confine the key to one product.
        #[arg(long)]
        product: Option<String>,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
}

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
    match cli.command {
        Some(Cmd::Schema) => {
            print!("{}", api::graphql::sdl());
            Ok(())
        }
        Some(Cmd::IssueKey {
            tenant,
            name,
            scopes,
            product,
        }) => issue(cli.serve, tenant, name, scopes, product).await,
        Some(Cmd::Serve(config)) => serve(config).await,
        None => serve(cli.serve).await,
    }
}
