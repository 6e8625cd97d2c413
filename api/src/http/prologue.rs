//! What every endpoint that takes an API key does first, in one place for `/graphql` and
//! Retraced's endpoints: who is asking (the key, verified by the registry's
//! [`registry::auth::Authenticator`]), from where, and the body read within the size limit.

use std::net::IpAddr;
use std::sync::Arc;

use poem::http::header;
use poem::{Body, Request};
use registry::ApiError;
use registry::audit::RequestMeta;
use registry::auth::Principal;

use super::HttpSettings;
use crate::state::AppState;

/// How a request carries its key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Credential<'a> {
    /// `Authorization: Bearer <key>` (`/graphql`).
    Bearer(Option<&'a str>),
    /// Retraced's `Authorization: token=<key>`, already taken from the header.
    Token(&'a str),
}

/// The client's address.
pub(crate) fn client(req: &Request) -> Option<IpAddr> {
    req.remote_addr().as_socket_addr().map(|a| a.ip())
}

/// Where the request came from, for audit rows.
pub(crate) fn meta(req: &Request) -> RequestMeta {
    RequestMeta {
        ip: client(req),
        user_agent: req.header(header::USER_AGENT).map(str::to_owned),
    }
}

/// The caller behind `credential`: `UNAUTHENTICATED` or `RATE_LIMITED` as the key's checks
/// decide, any other failure (the database) as it is.
pub(crate) async fn caller(
    req: &Request,
    state: &AppState,
    credential: Credential<'_>,
) -> Result<Arc<Principal>, ApiError> {
    let ip = client(req);
    match credential {
        Credential::Bearer(header) => state.auth.authenticate(header, ip).await,
        Credential::Token(token) => state.auth.authenticate_token(token, ip).await,
    }
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Longer than `--max-body-bytes`.
    TooLarge,
    /// Not JSON.
    NotJson(serde_json::Error),
}

/// The body as JSON, read up to the size limit.
pub(crate) async fn json_body(
    body: Body,
    settings: &HttpSettings,
) -> Result<serde_json::Value, BodyError> {
    let bytes = body
        .into_bytes_limit(settings.max_body_bytes)
        .await
        .map_err(|_| BodyError::TooLarge)?;
    serde_json::from_slice(&bytes).map_err(BodyError::NotJson)
}
