//! What a resolver can ask of its request: the caller, the database, where the request came from.

use std::sync::Arc;

use async_graphql::Context;
use sea_orm::DatabaseConnection;

use registry::ApiError;
use registry::audit::RequestMeta;
use registry::auth::Principal;

use crate::reads::Reader;
use crate::state::AppState;

/// The verified caller.
pub fn principal<'a>(ctx: &Context<'a>) -> Result<&'a Arc<Principal>, ApiError> {
    ctx.data::<Arc<Principal>>()
        .map_err(|_| ApiError::Unauthenticated("an API key is required".to_owned()))
}

/// The shared state.
pub fn state<'a>(ctx: &Context<'a>) -> Result<&'a AppState, ApiError> {
    ctx.data::<AppState>()
        .map_err(|e| ApiError::internal(e.message))
}

/// The connection pool.
pub fn db<'a>(ctx: &Context<'a>) -> Result<&'a DatabaseConnection, ApiError> {
    Ok(&state(ctx)?.db)
}

/// The pool, with single-statement reads on the read path's own connections ([`crate::reads`]).
pub fn reader<'a>(ctx: &Context<'a>) -> Result<Reader<'a>, ApiError> {
    Ok(state(ctx)?.reader())
}

/// The request's facts (empty when the schema runs outside HTTP).
pub fn request_meta<'a>(ctx: &Context<'a>) -> RequestMeta {
    ctx.data::<RequestMeta>().cloned().unwrap_or_default()
}
