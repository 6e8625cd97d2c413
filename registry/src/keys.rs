//! API keys: issuing and revoking them, in one place. `issueApiKey`, `api issue-key`, the dev
//! server's operator key and the seed tool all call [`issue`]; `revokeApiKey` calls
//! [`revoke`]. A key's secret (its format, hash and check) is [`crate::auth::Plaintext`], and
//! [`crate::auth`] verifies keys on requests.

use chrono::Utc;
use entity::api_keys;
use entity::prelude::ApiKeys;
use entity::scope::{Scope, UnknownScope};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use crate::Db;
use crate::audit::{Change, RequestMeta, record, snapshot};
use crate::auth::{Authenticator, Plaintext, Principal};
use crate::deletions;
use crate::error::ApiError;

/// What a new key is for.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The tenant the key belongs to.
    pub tenant_id: Uuid,
    /// A label unique within the tenant.
    pub name: String,
    /// What the key may do: scope names as clients send them (`audit:read`, ...), checked
    /// by [`issue`] after the issuer's reach, so a key that may not issue learns nothing more.
    pub scopes: Vec<String>,
    /// Restrict the key to one product (`None`: every product).
    pub product: Option<String>,
}

impl NewKey {
    /// A key for `tenant_id` named `name` with `scopes`, for every product.
    pub fn new(tenant_id: Uuid, name: impl Into<String>, scopes: &[Scope]) -> NewKey {
        NewKey {
            tenant_id,
            name: name.into(),
            scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            product: None,
        }
    }
}

/// A freshly issued key: the plaintext, shown once, and the stored record.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The key itself. Not stored anywhere: show it to the caller once.
    pub plaintext: Plaintext,
    /// The row in `api_keys` (its `hash` field holds the argon2id hash, never the key).
    pub record: api_keys::Model,
}

/// Who issues a key.
#[derive(Debug, Clone, Copy)]
pub enum Issuer<'a> {
    /// An API key (`issueApiKey`): it grants only scopes it holds, never `platform`, only
    /// for tenants it reaches, and a product key only for its product. The issue is recorded
    /// (`api_key.issued`) as that key.
    Key(&'a Principal, &'a RequestMeta),
    /// Whoever runs a command with the database's credentials (`api issue-key`, the dev
    /// server's operator key, `seed`), named here for the key's `created_by`. Any scope,
    /// `platform` included: this is how the first platform key comes to be. No API key acted,
    /// so there is no actor to record.
    Operator(&'a str),
}

/// Scope names as clients send them; `BAD_USER_INPUT` (field `scopes`) for an unknown one.
pub fn scopes_named<S: AsRef<str>>(names: &[S]) -> Result<Vec<Scope>, ApiError> {
    parse_scopes(names).map_err(|e| ApiError::bad_input("scopes", e.to_string()))
}

/// Parses scope names as stored in `api_keys.scopes`.
pub fn parse_scopes<S: AsRef<str>>(names: &[S]) -> Result<Vec<Scope>, UnknownScope> {
    names.iter().map(|n| n.as_ref().parse()).collect()
}

/// Issues a key for `new.tenant_id`: checks what `issuer` may grant, refuses a tenant being
/// deleted, generates the key, hashes it off the async workers, stores hash and prefix and
/// records the issue, in one transaction on `db`.
pub async fn issue(db: &impl Db, issuer: Issuer<'_>, new: NewKey) -> Result<IssuedKey, ApiError> {
    if let Issuer::Key(caller, _) = issuer {
        caller.require(Scope::KeysWrite)?;
        caller.require_reach(new.tenant_id)?;
    }
    let scopes = scopes_named(&new.scopes)?;
    let new = NewKey {
        product: new
            .product
            .as_deref()
            .map(crate::entitlements::valid_product)
            .transpose()?,
        ..new
    };
    if scopes.is_empty() {
        return Err(ApiError::bad_input(
            "scopes",
            "a key needs at least one scope",
        ));
    }
    if let Issuer::Key(caller, _) = issuer {
        if scopes.contains(&Scope::Platform) {
            return Err(ApiError::Forbidden(
                "platform keys are issued only with `api issue-key`".into(),
            ));
        }
        if let Some(missing) = scopes.iter().find(|s| !caller.scopes.contains(s)) {
            return Err(ApiError::Forbidden(format!(
                "a key can grant only scopes it holds; this one lacks {missing}"
            )));
        }
        if let Some(own) = &caller.product
            && new.product.as_deref() != Some(own.as_str())
        {
            return Err(ApiError::Forbidden(format!(
                "this key issues keys for product {own} only"
            )));
        }
    }
    let txn = match issuer {
        Issuer::Key(caller, _) => caller.begin(db).await?,
        Issuer::Operator(_) => db.begin().await?,
    };
    deletions::refuse_if_deleting(&txn, new.tenant_id).await?;
    let created_by = match issuer {
        Issuer::Key(caller, _) => format!("api key {}", caller.key_id),
        Issuer::Operator(who) => who.to_owned(),
    };
    let issued = insert_key(&txn, new, scopes, created_by).await?;
    if let Issuer::Key(caller, meta) = issuer {
        record(
            &txn,
            caller,
            meta,
            Change::of(
                "api_key.issued",
                "c",
                &issued.record,
                json!({}),
                snapshot(&issued.record),
            ),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(issued)
}

/// Generates a key, hashes it off the async workers, stores hash and prefix.
async fn insert_key(
    db: &impl ConnectionTrait,
    new: NewKey,
    mut scopes: Vec<Scope>,
    created_by: String,
) -> Result<IssuedKey, ApiError> {
    let name = new.name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_input("name", "a key needs a name"));
    }
    let plaintext = Plaintext::generate();
    let hashed = {
        let key = plaintext.clone();
        tokio::task::spawn_blocking(move || key.hash())
            .await
            .map_err(|_| ApiError::internal("hashing the key was interrupted"))?
    };
    scopes.sort();
    scopes.dedup();
    let record = api_keys::ActiveModel {
        tenant_id: Set(new.tenant_id),
        product: Set(new.product),
        name: Set(name.to_owned()),
        scopes: Set(scopes.iter().map(|s| s.as_str().to_owned()).collect()),
        hash: Set(hashed),
        prefix: Set(plaintext.prefix().unwrap_or_default().to_owned()),
        created_by: Set(Some(created_by)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(IssuedKey { plaintext, record })
}

/// Revokes the key `id` as `caller`: refused from the next request on (`auth`, this process's
/// verifier, forgets it once the revocation commits). Recorded as `api_key.revoked`.
///
/// A key revokes only keys it covers ([`Principal::covers`]: their scopes are among its own,
/// and a product key's only keys of its product), so that no key undoes one that outranks it.
/// A key out of reach, and a platform key for a caller that is not one, is `NOT_FOUND`, as an
/// unknown id is.
pub async fn revoke(
    db: &impl Db,
    (caller, meta): (&Principal, &RequestMeta),
    auth: &Authenticator,
    id: Uuid,
) -> Result<api_keys::Model, ApiError> {
    caller.require(Scope::KeysWrite)?;
    let txn = caller.begin(db).await?;
    let current = ApiKeys::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .filter(|key| caller.reaches(key.tenant_id) && (caller.is_platform() || !is_platform(key)))
        .ok_or_else(|| ApiError::NotFound(format!("no API key {id}")))?;
    if !caller.covers(
        current.scopes.iter().map(String::as_str),
        current.product.as_deref(),
    ) {
        return Err(ApiError::Forbidden(
            "a key can revoke only keys whose scopes it holds itself (and, bound to a product, \
             only keys of that product)"
                .to_owned(),
        ));
    }
    if current.revoked_at.is_some() {
        return Err(ApiError::bad_input("id", "the key is already revoked"));
    }
    let mut row: api_keys::ActiveModel = current.clone().into();
    row.revoked_at = Set(Some(Utc::now().fixed_offset()));
    let revoked = row.update(&txn).await?;
    let mut change = Change::of(
        "api_key.revoked",
        "u",
        &revoked,
        json!({"revoked_at": null}),
        json!({"revoked_at": revoked.revoked_at}),
    );
    if is_platform(&revoked) {
        // An operators' key is not the tenant's to see, in its list or in its log: the row
        // carries no tenant, and platform keys find it by target.
        change.tenant_id = None;
    }
    record(&txn, caller, meta, change).await?;
    txn.commit().await?;
    auth.forget_key(id);
    Ok(revoked)
}

/// Whether `key` is an operators' key (holds `platform`). Such keys belong to their home tenant
/// in the table, but only platform keys see or touch them.
pub fn is_platform(key: &api_keys::Model) -> bool {
    key.scopes.iter().any(|s| s == Scope::Platform.as_str())
}
