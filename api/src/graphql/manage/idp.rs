//! `setIdpConfig` (upsert per tenant and type, validated) and `verifyIdpConfig`.

use async_graphql::{Context, Json, Object, Result};
use entity::prelude::TenantIdpConfig;
use entity::scope::Scope;
use entity::sea_orm_active_enums::IdpKind as DbIdpKind;
use entity::tenant_idp_config;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::begin;
use crate::audit::lengths;
use crate::audit::portal::{Change, diff, record, snapshot};
use crate::deletions;
use crate::error::ApiError;
use crate::graphql::context::{principal, request_meta, state};
use crate::graphql::tenants::{IdpConfig, IdpKind};
use crate::outbound::Outbound;

const DISCOVERY_SUFFIX: &str = "/.well-known/openid-configuration";

/// A URL the server may fetch as far as can be told without resolving it (see
/// [`crate::outbound`]); the fetch checks the rest.
fn web_url(outbound: &Outbound, field: &str, text: &str) -> Result<(), ApiError> {
    outbound
        .check_url(text)
        .map(drop)
        .map_err(|e| e.into_api(field))
}

fn text<'a>(metadata: &'a Value, key: &str) -> Option<&'a str> {
    metadata
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Checks an identity provider's metadata: OIDC needs an https `discovery_url` and a
/// `client_id`; SAML an `entity_id` and an https `metadata_url` or a PEM `certificate`.
pub fn validate(outbound: &Outbound, kind: DbIdpKind, metadata: &Value) -> Result<(), ApiError> {
    if !metadata.is_object() {
        return Err(ApiError::bad_input(
            "metadata",
            "metadata must be a JSON object",
        ));
    }
    match kind {
        DbIdpKind::Oidc => {
            let url = text(metadata, "discovery_url").ok_or_else(|| {
                ApiError::bad_input(
                    "metadata.discovery_url",
                    "OIDC needs metadata.discovery_url",
                )
            })?;
            web_url(outbound, "metadata.discovery_url", url)?;
            text(metadata, "client_id").ok_or_else(|| {
                ApiError::bad_input("metadata.client_id", "OIDC needs metadata.client_id")
            })?;
        }
        DbIdpKind::Saml => {
            text(metadata, "entity_id").ok_or_else(|| {
                ApiError::bad_input("metadata.entity_id", "SAML needs metadata.entity_id")
            })?;
            match (
                text(metadata, "metadata_url"),
                text(metadata, "certificate"),
            ) {
                (Some(url), _) => {
                    web_url(outbound, "metadata.metadata_url", url)?;
                }
                (None, Some(pem))
                    if pem.starts_with("-----BEGIN CERTIFICATE-----")
                        && pem.ends_with("-----END CERTIFICATE-----") => {}
                (None, Some(_)) => {
                    return Err(ApiError::bad_input(
                        "metadata.certificate",
                        "metadata.certificate must be a PEM certificate",
                    ));
                }
                (None, None) => {
                    return Err(ApiError::bad_input(
                        "metadata.metadata_url",
                        "SAML needs metadata.metadata_url or metadata.certificate",
                    ));
                }
            }
        }
    }
    Ok(())
}

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
        let caller = principal(ctx)?;
        caller.require(Scope::TenantsWrite)?;
        caller.require_tenant(tenant_id)?;
        let kind: DbIdpKind = kind.into();
        lengths::check_json_depth("metadata", &metadata.0)?;
        validate(&state(ctx)?.outbound, kind, &metadata.0)?;
        let txn = begin(ctx).await?;
        deletions::refuse_if_deleting(&txn, tenant_id).await?;
        let current = TenantIdpConfig::find()
            .filter(tenant_idp_config::Column::TenantId.eq(tenant_id))
            .filter(tenant_idp_config::Column::Type.eq(kind))
            .lock_exclusive()
            .one(&txn)
            .await
            .map_err(ApiError::from)?;
        let saved = match &current {
            Some(existing) => {
                let mut row: tenant_idp_config::ActiveModel = existing.clone().into();
                if existing.metadata != metadata.0 {
                    row.metadata = Set(metadata.0.clone());
                    row.verified = Set(false);
                }
                row.update(&txn).await
            }
            None => {
                tenant_idp_config::ActiveModel {
                    tenant_id: Set(tenant_id),
                    r#type: Set(kind),
                    metadata: Set(metadata.0.clone()),
                    ..Default::default()
                }
                .insert(&txn)
                .await
            }
        }
        .map_err(ApiError::from)?;
        let (crud, (before, after)) = match &current {
            Some(existing) => ("u", diff(&snapshot(existing), &snapshot(&saved))),
            None => ("c", (json!({}), snapshot(&saved))),
        };
        record(
            &txn,
            caller,
            &request_meta(ctx),
            Change::of("idp.configured", crud, &saved, before, after),
        )
        .await?;
        txn.commit().await.map_err(ApiError::from)?;
        Ok(IdpConfig(saved))
    }

    /// Verifies an identity provider. OIDC: fetches the discovery document and checks that its
    /// `issuer` is the discovery URL's issuer. SAML: fetches `metadata_url` and checks it names
    /// the `entity_id` (a certificate-only SAML config is checked to be well-formed).
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn verify_idp_config(&self, ctx: &Context<'_>, id: Uuid) -> Result<IdpConfig> {
        let caller = principal(ctx)?;
        caller.require(Scope::TenantsWrite)?;
        let db = crate::graphql::context::db(ctx)?;
        let config = TenantIdpConfig::find_by_id(id)
            .one(db)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("no identity provider {id}")))?;
        caller.require_tenant(config.tenant_id)?;
        // Fetched outside the transaction: a slow identity provider must not hold row locks.
        check_with_provider(&state(ctx)?.outbound, &config).await?;
        let txn = begin(ctx).await?;
        let current = TenantIdpConfig::find_by_id(id)
            .lock_exclusive()
            .one(&txn)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("no identity provider {id}")))?;
        if current.metadata != config.metadata {
            return Err(ApiError::Conflict {
                field: Some("id".into()),
                message: "the metadata changed while it was being verified; verify again".into(),
            }
            .into());
        }
        let mut row: tenant_idp_config::ActiveModel = current.clone().into();
        row.verified = Set(true);
        let saved = row.update(&txn).await.map_err(ApiError::from)?;
        record(
            &txn,
            caller,
            &request_meta(ctx),
            Change::of(
                "idp.verified",
                "u",
                &saved,
                json!({"verified": current.verified}),
                json!({"verified": true}),
            ),
        )
        .await?;
        txn.commit().await.map_err(ApiError::from)?;
        Ok(IdpConfig(saved))
    }
}

/// The body of `url` as text, fetched through the outbound client.
async fn fetch(outbound: &Outbound, field: &str, url: &str) -> Result<String, ApiError> {
    let fetched = outbound.get(url).await.map_err(|e| e.into_api(field))?;
    String::from_utf8(fetched.body)
        .map_err(|_| ApiError::bad_input(field, format!("{field}: the answer is not UTF-8 text")))
}

/// An issuer quoted in a message: at most this many characters.
const QUOTED_ISSUER_CHARS: usize = 200;

async fn check_with_provider(
    outbound: &Outbound,
    config: &tenant_idp_config::Model,
) -> Result<(), ApiError> {
    let metadata = &config.metadata;
    match config.r#type {
        DbIdpKind::Oidc => {
            let url = text(metadata, "discovery_url").unwrap_or_default();
            let body = fetch(outbound, "metadata.discovery_url", url).await?;
            let document: Value = serde_json::from_str(&body).map_err(|_| {
                ApiError::bad_input(
                    "metadata.discovery_url",
                    "the discovery document is not JSON",
                )
            })?;
            let expected = url
                .strip_suffix(DISCOVERY_SUFFIX)
                .unwrap_or(url)
                .trim_end_matches('/');
            let issuer = document
                .get("issuer")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if issuer.trim_end_matches('/') != expected {
                // The document came from a destination the outbound rules allow; its issuer
                // is quoted, cut short, to say what to fix.
                let issuer = lengths::cut(issuer, QUOTED_ISSUER_CHARS);
                return Err(ApiError::bad_input(
                    "metadata.discovery_url",
                    format!("the discovery document's issuer is {issuer:?}, expected {expected:?}"),
                ));
            }
        }
        DbIdpKind::Saml => {
            let entity_id = text(metadata, "entity_id").unwrap_or_default();
            if let Some(url) = text(metadata, "metadata_url") {
                let body = fetch(outbound, "metadata.metadata_url", url).await?;
                if !body.contains(&format!("entityID=\"{entity_id}\"")) {
                    return Err(ApiError::bad_input(
                        "metadata.metadata_url",
                        format!("the SAML metadata does not name entityID {entity_id:?}"),
                    ));
                }
            }
        }
    }
    Ok(())
}
