//! Retraced's protocol, so products keep publishing and searching with Retraced's official
//! clients. The endpoints are [`crate::http::retraced`]; this module knows the protocol's
//! shapes.
//!
//! - [`hash`]: the per-event hash the clients verify.
//! - [`event`]: event bodies validated as Retraced validates them.
//! - [`row`]: the audit event a published one becomes.
//! - [`search`]: Retraced's `search` schema (its event type in `search_event`).

pub mod event;
pub mod hash;
pub mod row;
pub mod search;
mod search_event;
