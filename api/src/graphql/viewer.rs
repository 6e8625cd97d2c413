//! `viewer`: the key making the request.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, SimpleObject};
use uuid::Uuid;

use super::context::principal;
use registry::auth::Principal;

/// Queries about the caller.
#[derive(Debug, Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The API key making this request.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        Ok(Viewer(principal(ctx)?.clone()))
    }
}

/// An API key, as it sees itself.
#[derive(Debug)]
pub struct Viewer(Arc<Principal>);

/// The tenant a key belongs to.
#[derive(SimpleObject, Debug)]
pub struct ViewerTenant {
    /// Its id.
    id: Uuid,
    /// Its slug.
    slug: String,
}

#[Object]
impl Viewer {
    /// The key's id.
    async fn key_id(&self) -> Uuid {
        self.0.key_id
    }

    /// The key's name.
    async fn name(&self) -> &str {
        &self.0.key_name
    }

    /// The tenant the key belongs to.
    async fn tenant(&self) -> ViewerTenant {
        ViewerTenant {
            id: self.0.tenant_id,
            slug: self.0.tenant_slug.clone(),
        }
    }

    /// The key's scopes.
    async fn scopes(&self) -> Vec<String> {
        self.0
            .scopes
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect()
    }

    /// The product the key is confined to, if any.
    async fn product(&self) -> Option<&str> {
        self.0.product.as_deref()
    }
}
