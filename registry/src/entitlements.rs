//! A tenant's entitlements to products: grant or change one, remove one, and the lookup
//! products make on every login (one primary-key lookup joined to its tenant).

use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, Utc};
use entity::prelude::{TenantProducts, Tenants};
use entity::scope::Scope;
use entity::sea_orm_active_enums::TenantStatus;
use entity::{tenant_products, tenants};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, Iterable, QueryFilter, QueryResult, QuerySelect, QueryTrait, SelectTwo, Statement,
    Value as SqlValue,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Db;
use crate::audit::{Change, RequestMeta, diff, lengths, record, snapshot};
use crate::auth::Principal;
use crate::deletions;
use crate::error::ApiError;
use crate::tenants::Patch;

/// A tenant's entitlement to a product, with what of its tenant decides whether it is active.
#[derive(Debug, Clone)]
pub struct Entitlement {
    /// The row.
    pub row: tenant_products::Model,
    /// Its tenant's status (an entitlement is active only for a live tenant).
    pub tenant_status: TenantStatus,
    /// Its tenant's trial end (a trial past it is over at once, whether or not the scheduler
    /// has frozen the tenant yet).
    pub tenant_trial_ends_at: Option<DateTime<FixedOffset>>,
}

/// Why an entitlement is not active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inactive {
    /// The tenant is archived.
    TenantArchived,
    /// The tenant is frozen.
    TenantFrozen,
    /// The tenant is a trial whose end has passed.
    TrialEnded,
    /// The entitlement is switched off.
    Disabled,
    /// The entitlement's own end has passed.
    Expired,
}

impl Inactive {
    /// The reason as clients see it (`TENANT_FROZEN`, ...), as GraphQL's `InactiveReason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Inactive::TenantArchived => "TENANT_ARCHIVED",
            Inactive::TenantFrozen => "TENANT_FROZEN",
            Inactive::TrialEnded => "TRIAL_ENDED",
            Inactive::Disabled => "DISABLED",
            Inactive::Expired => "EXPIRED",
        }
    }
}

impl Entitlement {
    /// The entitlement of `row` for a tenant as `tenant` is now.
    pub fn of(row: tenant_products::Model, tenant: &tenants::Model) -> Entitlement {
        Entitlement {
            row,
            tenant_status: tenant.status,
            tenant_trial_ends_at: tenant.trial_ends_at,
        }
    }

    /// Why the product may not be used at `now`, or `None` when it may: the tenant's state
    /// first (archived, frozen, a trial past its end), then the entitlement's own (disabled,
    /// expired).
    pub fn inactive(&self, now: DateTime<Utc>) -> Option<Inactive> {
        match self.tenant_status {
            TenantStatus::Archived => return Some(Inactive::TenantArchived),
            TenantStatus::Frozen => return Some(Inactive::TenantFrozen),
            TenantStatus::Trial
                if self
                    .tenant_trial_ends_at
                    .is_some_and(|end| end.to_utc() <= now) =>
            {
                return Some(Inactive::TrialEnded);
            }
            _ => {}
        }
        if !self.row.enabled {
            return Some(Inactive::Disabled);
        }
        if self.row.expires_at.is_some_and(|t| t.to_utc() <= now) {
            return Some(Inactive::Expired);
        }
        None
    }

    /// Whether the product may be used at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.inactive(now).is_none()
    }
}

/// What to set on an entitlement: absent fields keep their value (a new entitlement:
/// enabled, `{}` config, no expiry).
#[derive(Debug, Clone, Default)]
pub struct EntitlementChanges {
    /// Whether the product may be used.
    pub enabled: Option<bool>,
    /// Product-specific settings (a JSON object).
    pub config: Option<Value>,
    /// When it ends.
    pub expires_at: Patch<DateTime<Utc>>,
}

/// A tenant named by id or by slug.
#[derive(Debug, Clone)]
pub enum TenantRef {
    /// `tenants.id`.
    Id(Uuid),
    /// `tenants.slug`.
    Slug(String),
}

/// The `entitlement` query's lookup: the tenant's row for `product`, joined to the tenant.
pub fn entitlement_select(
    tenant: TenantRef,
    product: String,
) -> SelectTwo<tenant_products::Entity, tenants::Entity> {
    let tenant_condition = match tenant {
        TenantRef::Id(id) => tenants::Column::Id.eq(id),
        TenantRef::Slug(slug) => tenants::Column::Slug.eq(slug),
    };
    TenantProducts::find()
        .filter(tenant_products::Column::Product.eq(product))
        .find_also_related(Tenants)
        .filter(tenant_condition)
}

/// The statement the `entitlement` query runs: [`entitlement_select`] with `LIMIT 1`. Products
/// ask on every login, so its text is built once per way of naming the tenant (it never
/// changes) and only the values are bound per call, in the builder's order
/// (`tests/integration/manage/entitlements.rs` holds the two to be equal). The benchmark runs it.
pub fn entitlement_statement(tenant: TenantRef, product: String) -> Statement {
    static BY_ID: OnceLock<String> = OnceLock::new();
    static BY_SLUG: OnceLock<String> = OnceLock::new();
    let built = |tenant: TenantRef| {
        entitlement_select(tenant, String::new())
            .limit(1)
            .build(DbBackend::Postgres)
            .sql
    };
    let (sql, tenant) = match tenant {
        TenantRef::Id(id) => (
            BY_ID.get_or_init(|| built(TenantRef::Id(Uuid::nil()))),
            SqlValue::from(id),
        ),
        TenantRef::Slug(slug) => (
            BY_SLUG.get_or_init(|| built(TenantRef::Slug(String::new()))),
            SqlValue::from(slug),
        ),
    };
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql.clone(),
        [SqlValue::from(product), tenant, SqlValue::from(1_u64)],
    )
}

/// The entitlement, and its tenant's id, in a row of [`entitlement_statement`], read by
/// position: the entitlement's columns come first, then the tenant's, each in declaration order
/// (as the builder lists them). Of the tenant, only the id, status and trial end are read; reading the
/// whole row by its `A_`/`B_` names cost a tenth of an `entitlement` request's CPU.
pub fn entitlement_of(row: &QueryResult) -> Result<(Entitlement, Uuid), DbErr> {
    // A column's place in its entity is its declaration order, as the builder lists them.
    let tenant_at =
        |column: tenants::Column| tenant_products::Column::iter().len() + column as usize;
    let (tenant_id, status, trial_ends_at) = (
        tenant_at(tenants::Column::Id),
        tenant_at(tenants::Column::Status),
        tenant_at(tenants::Column::TrialEndsAt),
    );
    let entitlement = tenant_products::Model {
        tenant_id: row.try_get_by_index(0)?,
        product: row.try_get_by_index(1)?,
        enabled: row.try_get_by_index(2)?,
        config: row.try_get_by_index(3)?,
        expires_at: row.try_get_by_index(4)?,
        created_at: row.try_get_by_index(5)?,
        updated_at: row.try_get_by_index(6)?,
    };
    Ok((
        Entitlement {
            row: entitlement,
            tenant_status: row.try_get_by_index(status)?,
            tenant_trial_ends_at: row.try_get_by_index(trial_ends_at)?,
        },
        row.try_get_by_index(tenant_id)?,
    ))
}

/// A product name as entitlements and product keys use it: 1 to 40 characters of a-z, 0-9
/// and '-' (surrounding blanks removed).
pub(crate) fn valid_product(product: &str) -> Result<String, ApiError> {
    let p = product.trim();
    let ok = (1..=40).contains(&p.len())
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(p.to_owned())
    } else {
        Err(ApiError::bad_input(
            "product",
            "product is 1 to 40 characters of a-z, 0-9 and '-'",
        ))
    }
}

/// Grants or changes a tenant's entitlement to a product. Scopes `tenants:write` and
/// `platform`: what a tenant may use is the operators' decision.
pub async fn set(
    db: &impl Db,
    (caller, meta): (&Principal, &RequestMeta),
    tenant_id: Uuid,
    product: &str,
    changes: EntitlementChanges,
) -> Result<Entitlement, ApiError> {
    caller.require(Scope::TenantsWrite)?;
    caller.require_operator("granting or changing an entitlement")?;
    let product = valid_product(product)?;
    if changes.config.as_ref().is_some_and(|c| !c.is_object()) {
        return Err(ApiError::bad_input(
            "config",
            "config must be a JSON object",
        ));
    }
    if let Some(config) = &changes.config {
        lengths::check_json_depth("config", config)?;
    }
    let txn = caller.begin(db).await?;
    deletions::refuse_if_deleting(&txn, tenant_id).await?;
    let tenant = Tenants::find_by_id(tenant_id)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {tenant_id}")))?;
    let current = TenantProducts::find_by_id((tenant_id, product.clone()))
        .lock_exclusive()
        .one(&txn)
        .await?;
    let saved = match &current {
        Some(existing) => {
            let mut row: tenant_products::ActiveModel = existing.clone().into();
            if let Some(enabled) = changes.enabled {
                row.enabled = Set(enabled);
            }
            if let Some(config) = changes.config {
                row.config = Set(config);
            }
            changes
                .expires_at
                .apply(&mut row.expires_at, |t| t.fixed_offset());
            row.update(&txn).await
        }
        None => {
            let expires_at = match changes.expires_at {
                Patch::Set(t) => Some(t.fixed_offset()),
                Patch::Keep | Patch::Clear => None,
            };
            tenant_products::ActiveModel {
                tenant_id: Set(tenant_id),
                product: Set(product.clone()),
                enabled: Set(changes.enabled.unwrap_or(true)),
                config: Set(changes.config.unwrap_or_else(|| json!({}))),
                expires_at: Set(expires_at),
                ..Default::default()
            }
            .insert(&txn)
            .await
        }
    }?;
    let (before, after) = match &current {
        Some(existing) => diff(&snapshot(existing), &snapshot(&saved)),
        None => (json!({}), snapshot(&saved)),
    };
    let crud = if current.is_some() { "u" } else { "c" };
    record(
        &txn,
        caller,
        meta,
        Change::of("entitlement.set", crud, &saved, before, after),
    )
    .await?;
    txn.commit().await?;
    Ok(Entitlement::of(saved, &tenant))
}

/// Removes a tenant's entitlement to a product; returns what was removed. Scopes
/// `tenants:write` and `platform`.
pub async fn remove(
    db: &impl Db,
    (caller, meta): (&Principal, &RequestMeta),
    tenant_id: Uuid,
    product: &str,
) -> Result<Entitlement, ApiError> {
    caller.require(Scope::TenantsWrite)?;
    caller.require_operator("removing an entitlement")?;
    let txn = caller.begin(db).await?;
    let found = TenantProducts::find_by_id((tenant_id, product.to_owned()))
        .find_also_related(Tenants)
        .one(&txn)
        .await?;
    let Some((row, Some(tenant))) = found else {
        return Err(ApiError::NotFound(format!(
            "tenant {tenant_id} has no entitlement to {product:?}"
        )));
    };
    TenantProducts::delete_by_id((tenant_id, product.to_owned()))
        .exec(&txn)
        .await?;
    record(
        &txn,
        caller,
        meta,
        Change::of("entitlement.removed", "d", &row, snapshot(&row), json!({})),
    )
    .await?;
    txn.commit().await?;
    Ok(Entitlement::of(row, &tenant))
}

/// A tenant's entitlement to a product, if `caller` may see it: keys with `tenants:read` may
/// ask about any product of a tenant they reach; a product key about its own product. The
/// tenant is named by exactly one of its id and its slug. A tenant the key does not reach is
/// answered with `None`, as one without the entitlement (or without existence) is. `db`
/// runs [`entitlement_statement`] (the read path plans it generically: see
/// docs/performance.md).
pub async fn lookup(
    db: &impl ConnectionTrait,
    caller: &Principal,
    (tenant_id, tenant_slug): (Option<Uuid>, Option<String>),
    product: String,
) -> Result<Option<Entitlement>, ApiError> {
    let own_product = caller.product.as_deref() == Some(product.as_str());
    if !own_product {
        caller.require(Scope::TenantsRead)?;
    }
    let tenant = match (tenant_id, tenant_slug) {
        (Some(id), None) => TenantRef::Id(id),
        (None, Some(slug)) => TenantRef::Slug(slug),
        _ => {
            return Err(ApiError::bad_input(
                "tenantId",
                "give exactly one of tenantId and tenantSlug",
            ));
        }
    };
    // A tenant out of reach is not looked up: the answer is null whether it exists or not.
    let reachable = caller.is_platform()
        || match &tenant {
            TenantRef::Id(id) => *id == caller.tenant_id,
            TenantRef::Slug(slug) => *slug == caller.tenant_slug,
        };
    if !reachable {
        return Ok(None);
    }
    let found = db
        .query_one_raw(entitlement_statement(tenant, product))
        .await
        .and_then(|row| row.as_ref().map(entitlement_of).transpose())?;
    Ok(found
        .filter(|(_, tenant_id)| caller.reaches(*tenant_id))
        .map(|(entitlement, _)| entitlement))
}
