//! tenant-registry's domain layer: every operation on the registry and its audit log, with
//! its rules, and nothing of how a request arrived. The server's GraphQL resolvers, its
//! Retraced and REST handlers and its CLI are adapters over this crate: they authenticate,
//! call an operation, and map its result or [`ApiError`]. The seed tool writes through it too.
//! This crate depends on neither async-graphql nor poem (its `Cargo.toml` says so).
//!
//! An operation takes a connection or transaction, the acting [`auth::Principal`] (with the
//! request's [`audit::RequestMeta`] for its audit row) and typed input, checks scope and reach,
//! does its work in one transaction and records it there.
//!
//! - [`error`]: [`ApiError`] and its stable [`Code`]s.
//! - [`auth`]: the caller behind an API key, its reach, and verifying keys on requests.
//! - [`keys`]: issuing and revoking keys.
//! - [`lifecycle`]: a tenant's states and the moves between them; locking a tenant.
//! - [`tenants`], [`projects`], [`entitlements`], [`idp`]: the registry's records.
//! - [`deletions`]: deleting a tenant with many audit events, in stages.
//! - [`schedule`]: tenants that move on by themselves (expired trials, the frozen grace).
//! - [`audit`]: the audit log's one writer, the registry's own trail, products' events.
//! - [`evidence`]: the audit log as a Merkle tree: leaves, the tree's hash, proofs (#29, in
//!   progress).
//! - [`outbound`]: the one client for URLs users supply, refusing addresses inside the
//!   network.

pub mod audit;
pub mod auth;
pub mod deletions;
pub mod entitlements;
pub mod error;
pub mod evidence;
pub mod idp;
pub mod keys;
pub mod lifecycle;
pub mod outbound;
pub mod projects;
pub mod schedule;
pub mod tenants;

pub use error::{ApiError, Code};

/// What an operation runs on: the pool or a transaction (where an operation's own
/// transaction nests as a savepoint).
pub trait Db:
    sea_orm::ConnectionTrait + sea_orm::TransactionTrait<Transaction = sea_orm::DatabaseTransaction>
{
}

impl<T> Db for T where
    T: sea_orm::ConnectionTrait
        + sea_orm::TransactionTrait<Transaction = sea_orm::DatabaseTransaction>
{
}
