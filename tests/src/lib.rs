//! The integration-test harness: a real PostgreSQL for every test.
//!
//! - [`server`]: the PostgreSQL of this run: `DATABASE_URL` if set, else a throwaway cluster
//!   started from the machine's binaries (stopped and deleted when the test process exits), with
//!   a template database migrated once per run.
//! - [`TestDb`]: one database per test, cloned from that template, dropped afterwards.
//! - [`app`]: the real server on a random port over a [`TestDb`], with typed helpers.
//! - [`catalog`]: a normalised snapshot of a schema, to compare two databases.
//! - [`drift`]: an entity's columns and enum labels against the live database.

pub mod app;
pub mod catalog;
pub mod drift;
pub mod server;
mod testdb;

pub use testdb::TestDb;
pub mod fixtures;
