//! Retraced compatibility: products keep publishing with Retraced's official clients.
//!
//! - [`hash`]: the per-event hash the clients verify.
//! - [`event`]: event bodies validated as Retraced validates them.
//! - [`publish`]: the publisher endpoints (single and bulk).
//! - [`search`]: the publisher `graphql` endpoint, Retraced's `search` schema.

pub mod event;
pub mod hash;
pub mod publish;
pub mod search;
