//! `setIdpConfig` (upsert per tenant and type, validated) and `verifyIdpConfig`: adapters over
//! [`registry::idp`].

use async_graphql::{Context, Json, Object, Result};
use serde_json::Value;
use uuid::Uuid;

use crate::graphql::context::{principal, request_meta, state};
use crate::graphql::tenants::{IdpConfig, IdpKind};

/// Identity-provider mutations. Scope `tenants:write`.
#[derive(Debug, Default)]
pub struct IdpMutation;

#[Object]
impl IdpMutation {
    /// Sets a tenant's identity provider of one type (creating or replacing its metadata).
    /// Changed metadata is unverified until `verifyIdpConfig` succeeds again.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn set_idp_config(
        &self,
        ctx: &Context<'_>,
        tenant_id: Uuid,
        #[graphql(name = "type")] kind: IdpKind,
        metadata: Json<Value>,
    ) -> Result<IdpConfig> {
        let (caller, meta, state) = (principal(ctx)?, request_meta(ctx), state(ctx)?);
        let set = registry::idp::configure(
            &state.db,
            (caller, &meta),
            &state.outbound,
            tenant_id,
            kind.into(),
            metadata.0,
        );
        Ok(IdpConfig(set.await?))
    }

    /// Verifies an identity provider. OIDC: fetches the discovery document and checks that its
    /// `issuer` is the discovery URL's issuer. SAML: fetches `metadata_url` and checks it names
    /// the `entity_id` (a certificate-only SAML config is checked to be well-formed).
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn verify_idp_config(&self, ctx: &Context<'_>, id: Uuid) -> Result<IdpConfig> {
        let (caller, meta, state) = (principal(ctx)?, request_meta(ctx), state(ctx)?);
        let verified = registry::idp::verify(&state.db, (caller, &meta), &state.outbound, id);
        Ok(IdpConfig(verified.await?))
    }
}
