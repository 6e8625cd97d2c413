//! tenant-registry's server library. Today it holds the registry logic that the seed tool and
//! (from issue 4) the GraphQL server share; the server itself is not built yet.
//!
//! - [`auth`]: API keys (issuing, hashing, verifying) and their scopes.

pub mod auth;
