//! Managing the registry over GraphQL: tenants, projects, entitlements, identity providers,
//! API keys. Each mutation is an adapter: it takes the caller and the request's facts, calls
//! the registry's operation (which checks scope and reach, runs in one transaction and writes
//! its audit row there), and returns the result as a GraphQL object.

pub mod entitlements;
pub mod idp;
pub mod keys;
pub mod projects;
pub mod tenants;

use async_graphql::MaybeUndefined;
use registry::tenants::Patch;

/// An optional input field as a change: absent keeps, `null` clears, a value sets.
pub(crate) fn patch<T>(value: MaybeUndefined<T>) -> Patch<T> {
    match value {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(v) => Patch::Set(v),
    }
}
