//! Retraced compatibility: products keep publishing with Retraced's official clients.
//!
//! - [`hash`]: the per-event hash the clients verify.
//! - [`event`]: event bodies validated as Retraced validates them.
//! - [`publish`]: the publisher endpoints (single and bulk).
//!
//! Not yet here: the publisher `graphql` search endpoint (issue 6 continues).

pub mod event;
pub mod hash;
pub mod publish;
