//! A tenant's identity providers: set one per type (validated), and verify it with the
//! provider (fetched through [`crate::outbound`]). Scope `tenants:write`.

use entity::prelude::TenantIdpConfig;
use entity::scope::Scope;
use entity::sea_orm_active_enums::IdpKind as DbIdpKind;
use entity::tenant_idp_config;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Db;
use crate::audit::{Change, RequestMeta, diff, lengths, record, snapshot};
use crate::auth::Principal;
use crate::deletions;
use crate::error::ApiError;
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

/// Sets a tenant's identity provider of one type (creating or replacing its metadata).
/// Changed metadata is unverified until [`verify`] succeeds again.
pub async fn configure(
    db: &impl Db,
    (caller, meta): (&Principal, &RequestMeta),
    outbound: &Outbound,
    tenant_id: Uuid,
    kind: DbIdpKind,
    metadata: Value,
) -> Result<tenant_idp_config::Model, ApiError> {
    caller.require(Scope::TenantsWrite)?;
    caller.require_reach(tenant_id)?;
    lengths::check_json_depth("metadata", &metadata)?;
    validate(outbound, kind, &metadata)?;
    let txn = caller.begin(db).await?;
    deletions::refuse_if_deleting(&txn, tenant_id).await?;
    let current = TenantIdpConfig::find()
        .filter(tenant_idp_config::Column::TenantId.eq(tenant_id))
        .filter(tenant_idp_config::Column::Type.eq(kind))
        .lock_exclusive()
        .one(&txn)
        .await?;
    let saved = match &current {
        Some(existing) => {
            let mut row: tenant_idp_config::ActiveModel = existing.clone().into();
            if existing.metadata != metadata {
                row.metadata = Set(metadata);
                row.verified = Set(false);
            }
            row.update(&txn).await
        }
        None => {
            tenant_idp_config::ActiveModel {
                tenant_id: Set(tenant_id),
                r#type: Set(kind),
                metadata: Set(metadata),
                ..Default::default()
            }
            .insert(&txn)
            .await
        }
    }?;
    let (crud, (before, after)) = match &current {
        Some(existing) => ("u", diff(&snapshot(existing), &snapshot(&saved))),
        None => ("c", (json!({}), snapshot(&saved))),
    };
    record(
        &txn,
        caller,
        meta,
        Change::of("idp.configured", crud, &saved, before, after),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Verifies an identity provider. OIDC: fetches the discovery document and checks that its
/// `issuer` is the discovery URL's issuer. SAML: fetches `metadata_url` and checks it names
/// the `entity_id` (a certificate-only SAML config is checked to be well-formed).
pub async fn verify(
    db: &impl Db,
    (caller, meta): (&Principal, &RequestMeta),
    outbound: &Outbound,
    id: Uuid,
) -> Result<tenant_idp_config::Model, ApiError> {
    caller.require(Scope::TenantsWrite)?;
    // A revoked key (or a frozen tenant's) does not get the server to fetch anything.
    caller.begin(db).await?.commit().await?;
    let config = TenantIdpConfig::find_by_id(id)
        .one(db)
        .await?
        .filter(|config| caller.reaches(config.tenant_id))
        .ok_or_else(|| ApiError::NotFound(format!("no identity provider {id}")))?;
    // Fetched outside the transaction: a slow identity provider must not hold row locks.
    check_with_provider(outbound, &config).await?;
    let txn = caller.begin(db).await?;
    let current = TenantIdpConfig::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no identity provider {id}")))?;
    if current.metadata != config.metadata {
        return Err(ApiError::Conflict {
            field: Some("id".into()),
            message: "the metadata changed while it was being verified; verify again".into(),
        });
    }
    let mut row: tenant_idp_config::ActiveModel = current.clone().into();
    row.verified = Set(true);
    let saved = row.update(&txn).await?;
    record(
        &txn,
        caller,
        meta,
        Change::of(
            "idp.verified",
            "u",
            &saved,
            json!({"verified": current.verified}),
            json!({"verified": true}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
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
