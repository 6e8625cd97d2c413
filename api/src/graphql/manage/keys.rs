//! `issueApiKey` and `revokeApiKey`.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::Utc;
use entity::api_keys;
use entity::keys::{IssueKeyError, NewKey, issue_key, parse_scopes};
use entity::prelude::ApiKeys;
use entity::scope::Scope;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use super::begin;
use crate::audit::portal::{Change, record, snapshot};
use crate::deletions;
use crate::error::ApiError;
use crate::graphql::context::{principal, request_meta, state};
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
        let caller = principal(ctx)?;
        caller.require(Scope::KeysWrite)?;
        caller.require_tenant(tenant_id)?;
        let scopes =
            parse_scopes(&scopes).map_err(|e| ApiError::bad_input("scopes", e.to_string()))?;
        if scopes.is_empty() {
            return Err(ApiError::bad_input("scopes", "a key needs at least one scope").into());
        }
        if scopes.contains(&Scope::Platform) {
            return Err(ApiError::Forbidden(
                "platform keys are issued only with `api issue-key`".into(),
            )
            .into());
        }
        if let Some(missing) = scopes.iter().find(|s| !caller.scopes.contains(s)) {
            return Err(ApiError::Forbidden(format!(
                "a key can grant only scopes it holds; this one lacks {missing}"
            ))
            .into());
        }
        if let Some(own) = &caller.product
            && product.as_deref() != Some(own.as_str())
        {
            return Err(ApiError::Forbidden(format!(
                "this key issues keys for product {own} only"
            ))
            .into());
        }
        let txn = begin(ctx).await?;
        deletions::refuse_if_deleting(&txn, tenant_id).await?;
        let issued = issue_key(
            &txn,
            NewKey {
                tenant_id,
                name,
                scopes,
                product,
                created_by: Some(format!("api key {}", caller.key_id)),
            },
        )
        .await
        .map_err(|e| match e {
            IssueKeyError::Db(db) => ApiError::from(db),
            IssueKeyError::EmptyName => ApiError::bad_input("name", "a key needs a name"),
            other => ApiError::internal(other),
        })?;
        record(
            &txn,
            caller,
            &request_meta(ctx),
            Change::of(
                "api_key.issued",
                "c",
                &issued.record,
                json!({}),
                snapshot(&issued.record),
            ),
        )
        .await?;
        txn.commit().await.map_err(ApiError::from)?;
        Ok(IssuedApiKey {
            key: issued.plaintext.expose().to_owned(),
            api_key: ApiKey(issued.record),
        })
    }

    /// Revokes a key; it is refused from the next request on.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: Uuid) -> Result<ApiKey> {
        let caller = principal(ctx)?;
        caller.require(Scope::KeysWrite)?;
        let txn = begin(ctx).await?;
        let current = ApiKeys::find_by_id(id)
            .lock_exclusive()
            .one(&txn)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("no API key {id}")))?;
        caller.require_tenant(current.tenant_id)?;
        if current.revoked_at.is_some() {
            return Err(ApiError::bad_input("id", "the key is already revoked").into());
        }
        let mut row: api_keys::ActiveModel = current.clone().into();
        row.revoked_at = Set(Some(Utc::now().fixed_offset()));
        let revoked = row.update(&txn).await.map_err(ApiError::from)?;
        record(
            &txn,
            caller,
            &request_meta(ctx),
            Change::of(
                "api_key.revoked",
                "u",
                &revoked,
                json!({"revoked_at": null}),
                json!({"revoked_at": revoked.revoked_at}),
            ),
        )
        .await?;
        txn.commit().await.map_err(ApiError::from)?;
        state(ctx)?.auth.forget_key(id);
        Ok(ApiKey(revoked))
    }
}
