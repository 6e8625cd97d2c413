//! `migration`: sea-orm-migration's CLI over the registry's migrations.
//!
//! `cargo run -p migration -- up | up -n 1 | down | status | fresh | refresh | reset | generate NAME`
//! against `DATABASE_URL`; `sea-orm-cli migrate -d migration ...` drives the same binary.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
