//! API keys: issuing, rotating and revoking them, and answering products that ask about one,
//! in one place. `issueApiKey`, `api issue-key`, the dev server's operator key and the seed
//! tool all call [`issue`]; `rotateApiKey` calls [`rotate`]; `revokeApiKey` calls [`revoke`];
//! `verifyApiKey` and `POST /v1/keys/verify` call [`verify::verify`]. A key's secret (its
//! format, hash and check) is [`crate::auth::Plaintext`], and [`crate::auth`] verifies keys on
//! requests.

pub mod verify;

use chrono::{DateTime, Duration, Utc};
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
    /// When the key stops working (`None`: never). Must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewKey {
    /// A key for `tenant_id` named `name` with `scopes`, for every product.
    pub fn new(tenant_id: Uuid, name: impl Into<String>, scopes: &[Scope]) -> NewKey {
        NewKey {
            tenant_id,
            name: name.into(),
            scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            product: None,
            expires_at: None,
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
    if let Some(at) = new.expires_at {
        let now = Utc::now();
        if at <= now {
            return Err(ApiError::bad_input(
                "expiresAt",
                "a key's expiry must be in the future",
            ));
        }
        if at > now + MAX_LIFETIME {
            return Err(ApiError::bad_input(
                "expiresAt",
                "a key's expiry is at most 100 years ahead (leave it out for a key that never \
                 expires)",
            ));
        }
    }
    if let Issuer::Key(caller, _) = issuer {
        if scopes.contains(&Scope::Platform) {
            return Err(ApiError::Forbidden(
                "platform keys are issued only with `api issue-key`".into(),
            ));
        }
        if scopes.contains(&Scope::KeysVerify) && !caller.is_platform() {
            return Err(ApiError::Forbidden(
                "keys:verify (products checking their customers' keys) is granted only by a \
                 platform key or `api issue-key`"
                    .into(),
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
        expires_at: Set(new.expires_at.map(|t| t.fixed_offset())),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(IssuedKey { plaintext, record })
}

/// The furthest ahead a key's expiry may be.
pub const MAX_LIFETIME: Duration = Duration::days(36_500);

/// The longest grace a rotation gives the old key.
pub const MAX_ROTATION_GRACE: Duration = Duration::days(30);

/// Rotates the key `id` as `caller`: issues a new key with the same tenant, product, scopes
/// and name, renames the old one (`<name> (rotated <its prefix>)`, so that the tenant's names
/// stay unique and the old key is still told apart in lists), and sets it to expire after
/// `grace` (never later than it already would). The new key lives as long as the old one was
/// meant to (its expiry as far from now as the old one's was from its creation), or forever if
/// the old one had no expiry. Recorded as `api_key.rotated`, naming both keys, in the same
/// transaction. The caller needs what revoking needs: `keys:write`, reach, and to cover the key
/// ([`Principal::covers`]); a platform key is seen and rotated by platform keys only.
pub async fn rotate(
    db: &impl Db,
    (caller, meta): (&Principal, &RequestMeta),
    auth: &Authenticator,
    id: Uuid,
    grace: Duration,
) -> Result<IssuedKey, ApiError> {
    caller.require(Scope::KeysWrite)?;
    if grace < Duration::zero() || grace > MAX_ROTATION_GRACE {
        return Err(ApiError::bad_input(
            "graceSeconds",
            format!(
                "the grace is 0 to {} seconds (30 days)",
                MAX_ROTATION_GRACE.num_seconds()
            ),
        ));
    }
    let txn = caller.begin(db).await?;
    let current = covered_key(&txn, caller, id, "rotate").await?;
    let now = Utc::now();
    if current.revoked_at.is_some() {
        return Err(ApiError::bad_input(
            "id",
            "the key is revoked: issue a new one instead",
        ));
    }
    if current.expires_at.is_some_and(|t| t.to_utc() <= now) {
        return Err(ApiError::bad_input(
            "id",
            "the key has expired: issue a new one instead",
        ));
    }
    if let Some(successor) = current.replaced_by {
        return Err(ApiError::bad_input(
            "id",
            format!("the key was rotated already; rotate its successor, key {successor}"),
        ));
    }
    let scopes = parse_scopes(&current.scopes).map_err(ApiError::internal)?;
    if scopes.contains(&Scope::KeysVerify) && !caller.is_platform() {
        // Rotating mints a key: keys:verify is the operators' to mint.
        return Err(ApiError::Forbidden(
            "a key with keys:verify is rotated only by a platform key or replaced with \
             `api issue-key`"
                .into(),
        ));
    }
    deletions::refuse_if_deleting(&txn, current.tenant_id).await?;
    // The old key gives up its name first: `(tenant_id, name)` is unique.
    let old_name = format!("{} (rotated {})", current.name, current.prefix);
    // At least a microsecond after its creation (the CHECK), never later than it was due.
    let grace_end = (now + grace).max(current.created_at.to_utc() + Duration::microseconds(1));
    let old_expires = current
        .expires_at
        .map_or(grace_end, |t| t.to_utc().min(grace_end));
    let mut old: api_keys::ActiveModel = current.clone().into();
    old.name = Set(old_name);
    old.expires_at = Set(Some(old_expires.fixed_offset()));
    let old = old.update(&txn).await?;
    let lifetime = current
        .expires_at
        .map(|t| (t.to_utc() - current.created_at.to_utc()).min(MAX_LIFETIME));
    let issued = insert_key(
        &txn,
        NewKey {
            tenant_id: current.tenant_id,
            name: current.name.clone(),
            scopes: Vec::new(),
            product: current.product.clone(),
            expires_at: lifetime.map(|l| now + l),
        },
        scopes,
        format!("api key {} (rotating {})", caller.key_id, current.id),
    )
    .await?;
    let mut old: api_keys::ActiveModel = old.into();
    old.replaced_by = Set(Some(issued.record.id));
    let old = old.update(&txn).await?;
    let mut change = Change::of(
        "api_key.rotated",
        "u",
        &issued.record,
        json!({"key_id": current.id, "name": current.name, "expires_at": current.expires_at}),
        json!({
            "key_id": issued.record.id,
            "prefix": issued.record.prefix,
            "expires_at": issued.record.expires_at,
            "old_key_id": old.id,
            "old_key_name": old.name,
            "old_key_expires_at": old.expires_at,
        }),
    );
    if is_platform(&issued.record) {
        change.tenant_id = None;
    }
    record(&txn, caller, meta, change).await?;
    txn.commit().await?;
    // Other processes hear of the old key's new expiry from the database's notice; this one
    // needs no notice.
    auth.forget_key(id);
    Ok(issued)
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
    let current = covered_key(&txn, caller, id, "revoke").await?;
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

/// The key `id`, locked for a change by `caller` in `txn`, if `caller` may `verb` it: a key out
/// of reach, and a platform key for a caller that is not one, is `NOT_FOUND` as an unknown id
/// is; a key that `caller` does not cover ([`Principal::covers`]) is `FORBIDDEN`.
async fn covered_key(
    txn: &sea_orm::DatabaseTransaction,
    caller: &Principal,
    id: Uuid,
    verb: &str,
) -> Result<api_keys::Model, ApiError> {
    let key = ApiKeys::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .filter(|key| caller.reaches(key.tenant_id) && (caller.is_platform() || !is_platform(key)))
        .ok_or_else(|| ApiError::NotFound(format!("no API key {id}")))?;
    if !caller.covers(
        key.scopes.iter().map(String::as_str),
        key.product.as_deref(),
    ) {
        return Err(ApiError::Forbidden(format!(
            "a key can {verb} only keys whose scopes it holds itself (and, bound to a product, \
             only keys of that product)"
        )));
    }
    Ok(key)
}

/// Whether `key` is an operators' key (holds `platform`). Such keys belong to their home tenant
/// in the table, but only platform keys see or touch them.
pub fn is_platform(key: &api_keys::Model) -> bool {
    key.scopes.iter().any(|s| s == Scope::Platform.as_str())
}
