//! `seed`: demo tenants and bulk benchmark data. Not built yet (issue 3); until then it says so
//! and fails, rather than pretending to seed anything.

use clap::Parser;

/// Seeds the tenant registry. Not implemented yet: this binary only reports that.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {}

fn main() -> std::process::ExitCode {
    let _ = Cli::parse();
    eprintln!("seed: seeding is not implemented yet (tracked in issue 3); nothing was written");
    std::process::ExitCode::from(2)
}
