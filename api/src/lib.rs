//! tenant-registry's server: a GraphQL API over the registry and its cross-product audit log.
//!
//! - [`cli`]: what the `api` binary's commands do (serve, issue a key), called by `main.rs`.
//! - [`config`]: every setting, flag and environment variable, in one place.
//! - [`startup`]: builds the server from a config; binds (port 0 in tests) and runs it.
//! - [`dev`]: the dev mode's own cluster, demo data and operator key.
//! - [`http`]: routes: GraphQL endpoint, playground, health.
//! - [`graphql`]: the schema, independent of HTTP.
//! - [`auth`]: API keys and the reach of a caller.
//! - [`deletions`]: deleting a tenant with many audit events, in stages.
//! - [`audit`]: filtering, search language, keyset paging of the audit log.
//! - [`outbound`]: the one client for URLs users supply, refusing addresses inside the network.
//! - [`reads`]: the read path's own connections (no pool round trip after each statement).
//! - [`retraced`]: Retraced's publisher protocol, so products keep their Retraced clients.
//! - [`error`]: the error codes callers see.

pub mod audit;
pub mod cli;
pub mod config;
pub mod dev;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod reads;
pub mod retraced;
pub mod startup;
pub mod state;
pub mod validated;
