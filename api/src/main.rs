//! `api`: the tenant-registry server. Not built yet (issue 4); until then it says so and fails,
//! rather than pretending to serve anything.

use clap::Parser;

/// The tenant-registry GraphQL server. Not implemented yet: this binary only reports that.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {}

fn main() -> std::process::ExitCode {
    let _ = Cli::parse();
    eprintln!("api: the server is not implemented yet (tracked in issue 4); nothing was started");
    std::process::ExitCode::from(2)
}
