//! tenant-registry's server: GraphQL, Retraced's publisher protocol and the CLI over the
//! registry (the `registry` crate, which holds every operation and rule). docs/architecture.md
//! has the layers and the path of a request; from the top:
//!
//! - [`cli`]: what the `api` binary's commands do (serve, issue a key), called by `main.rs`.
//! - [`config`]: every setting, flag and environment variable, in one place.
//! - [`startup`]: builds the server from settings and a pool; binds (port 0 in tests), runs.
//! - [`dev`]: the dev mode's own cluster, demo data and operator key.
//! - [`demo_reset`]: the nightly reset of the demo tenants, run by the lifecycle's clock.
//! - [`http`]: every route (GraphQL, Retraced's endpoints, playground, health, metrics), the
//!   prologue they share, and how errors become HTTP answers. The only module that knows poem.
//! - [`graphql`]: the schema: resolvers as adapters over the registry, the audit page writer.
//! - [`retraced`]: Retraced's protocol shapes: event validation, hashes, the search schema.
//! - [`audit`]: reading the audit log: filters, the search language, keyset paging.
//! - [`reads`]: the read path's own connections (no pool round trip after each statement).
//! - [`state`], [`metrics`], [`validated`]: what every request shares, the server's counters,
//!   and the cache of validation verdicts.

pub mod audit;
pub mod cli;
pub mod config;
pub mod demo_reset;
pub mod dev;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod reads;
pub mod retraced;
pub mod startup;
pub mod state;
pub mod validated;
