//! `migration`: sea-orm-migration's CLI over the registry's migrations.
//!
//! `cargo run -p migration -- up | up -n 1 | down | status | fresh | refresh | reset | generate NAME`
//! against `DATABASE_URL` (or `-u URL`); `sea-orm-cli migrate -d migration ...` drives the same
//! binary. Around the stock CLI this adds what it lacks: a clear message instead of a panic when
//! no database is configured or reachable, and `generate` writing into this crate (or
//! `MIGRATION_DIR`) wherever it is run from.

use std::process::exit;
use std::time::Duration;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectOptions, Database};

/// Subcommands that never touch the database.
const OFFLINE: [&str; 3] = ["generate", "init", "help"];

#[tokio::main]
async fn main() {
    dotenvy::dotenv().ok();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let subcommand = subcommand(&args);
    let asks_for_help = args
        .iter()
        .any(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version"));

    if subcommand.is_some_and(|s| OFFLINE.contains(&s)) {
        write_into_migration_crate();
    } else if !asks_for_help && !has_database_url(&args) {
        eprintln!(
            "error: DATABASE_URL is not set, so there is no database to migrate.\n\
             Point it at your PostgreSQL (or pass -u URL), e.g. for the local dev cluster:\n    \
             export DATABASE_URL=\"$(cargo run -q -p localpg -- up)\""
        );
        exit(2);
    }

    cli::run_cli_with_connection(
        migration::Migrator,
        |mut options: ConnectOptions| async move {
            // A wrong URL should fail in seconds, not after the pool's default 30 s of retries.
            options
                .connect_timeout(Duration::from_secs(5))
                .acquire_timeout(Duration::from_secs(5));
            match Database::connect(options).await {
                Ok(db) => Ok(db),
                Err(e) => {
                    eprintln!("error: cannot connect to the database in DATABASE_URL: {e}");
                    exit(1);
                }
            }
        },
    )
    .await;
}

/// The first positional argument, skipping options and the values of `-u` and `-s`.
fn subcommand(args: &[String]) -> Option<&str> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-u" | "--database-url" | "-s" | "--database-schema" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            positional => return Some(positional),
        }
    }
    None
}

fn has_database_url(args: &[String]) -> bool {
    std::env::var("DATABASE_URL").is_ok_and(|u| !u.trim().is_empty())
        || args
            .iter()
            .any(|a| a == "-u" || a == "--database-url" || a.starts_with("--database-url="))
}

/// sea-orm-migration writes new migrations under `./src`; make that this crate's `src` (or
/// `$MIGRATION_DIR/src`) rather than wherever the command was started.
fn write_into_migration_crate() {
    let dir = std::env::var_os("MIGRATION_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    if let Err(e) = std::env::set_current_dir(&dir) {
        eprintln!(
            "error: cannot enter the migration crate {}: {e}",
            dir.display()
        );
        exit(2);
    }
    eprintln!("writing into {}", dir.display());
}
