//! Retraced compatibility: products keep publishing with Retraced's official clients.
//!
//! - [`hash`]: the per-event hash the clients verify.
//! - [`event`]: event bodies validated as Retraced validates them.
//! - [`publish`]: the publisher endpoints (single and bulk); `row`: the row an event becomes.
//! - [`search`]: the publisher `graphql` endpoint, Retraced's `search` schema (its event type
//!   in `search_event`).

pub mod event;
pub mod hash;
pub mod publish;
mod row;
pub mod search;
mod search_event;
