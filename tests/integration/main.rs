//! The integration suite: one binary, one module per concern, a real PostgreSQL throughout.
//!
//! With `DATABASE_URL` unset, the harness starts a throwaway cluster from the machine's
//! PostgreSQL binaries; each test gets its own database (see the `tests` library).

// In tests a panic is the failure report: `unwrap` on test data is the clearest way to say
// "this must be there". The workspace lint stays on for every other target.
#![allow(clippy::unwrap_used)]

mod api;
mod architecture;
mod bench_meter;
mod constraints;
mod docs_links;
mod entities;
mod evidence;
mod filter_builder;
mod landed_migrations;
mod manage;
mod migrations;
mod plans;
mod replicas;
mod retraced;
mod search_language;
mod seeding;
