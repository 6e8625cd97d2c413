//! Where a registry error becomes a GraphQL error, for every schema the server builds.
//!
//! Resolvers return [`registry::ApiError`] with `?`: async-graphql turns it into an error with
//! its message (the error's `Display`) and keeps the error itself as the source. The schemas'
//! one extension ([`super::hooks`]) then gives every such error its `extensions.code` (and
//! `field`, when the error names one) through [`code`], which logs the detail of an
//! `INTERNAL` one, never sent to the client.

use async_graphql::ServerError;
use registry::ApiError;

/// Sets `error`'s code (and field) from the registry error behind it, if there is one.
pub fn code(error: &mut ServerError) {
    let Some(source) = error.source::<ApiError>() else {
        return;
    };
    source.log_internal("in a GraphQL resolver");
    let (code, field) = (source.code(), source.field().map(str::to_owned));
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", code.as_str());
    if let Some(field) = field {
        extensions.set("field", field);
    }
}
