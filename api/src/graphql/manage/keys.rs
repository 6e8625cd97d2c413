//! `issueApiKey` and `revokeApiKey`: adapters over [`registry::keys`].

use async_graphql::{Context, Object, Result, SimpleObject};
use registry::keys::{Issuer, NewKey};
use uuid::Uuid;

use crate::graphql::context::{db, principal, request_meta, state};
use crate::graphql::tenants::ApiKey;

/// A new key: the plaintext, shown this once, and its record.
#[derive(SimpleObject, Debug)]
pub struct IssuedApiKey {
    /// The key. It is not stored anywhere: keep it now.
    pub key: String,
    /// The stored record (prefix, scopes, ...; never the hash).
    pub api_key: ApiKey,
}

/// Key mutations. Scope `keys:write`.
#[derive(Debug, Default)]
pub struct KeyMutation;

#[Object]
impl KeyMutation {
    /// Issues a key for a tenant with scopes the caller holds itself (never `platform`: only
    /// `api issue-key` mints those). A product key issues keys for its own product only.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn issue_api_key(
        &self,
        ctx: &Context<'_>,
        tenant_id: Uuid,
        name: String,
        scopes: Vec<String>,
        product: Option<String>,
    ) -> Result<IssuedApiKey> {
        let (caller, meta) = (principal(ctx)?, request_meta(ctx));
        let new = NewKey {
            tenant_id,
            name,
            scopes,
            product,
        };
        let issued = registry::keys::issue(db(ctx)?, Issuer::Key(caller, &meta), new).await?;
        Ok(IssuedApiKey {
            key: issued.plaintext.expose().to_owned(),
            api_key: ApiKey(issued.record),
        })
    }

    /// Revokes a key; it is refused from the next request on.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: Uuid) -> Result<ApiKey> {
        let (caller, meta, state) = (principal(ctx)?, request_meta(ctx), state(ctx)?);
        Ok(ApiKey(
            registry::keys::revoke(&state.db, (caller, &meta), &state.auth, id).await?,
        ))
    }
}
