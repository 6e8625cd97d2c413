//! Creating, changing, moving along the lifecycle and deleting tenants.

use chrono::{DateTime, NaiveDate, Utc};
use entity::prelude::Tenants;
use entity::scope::Scope;
use entity::sea_orm_active_enums::{TenantKind, TenantStatus};
use entity::tenants;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseTransaction, DbBackend,
    EntityTrait, QuerySelect, Statement,
};
use serde_json::json;
use uuid::Uuid;

use crate::Db;
use crate::audit::{Change, RequestMeta, diff, record, snapshot};
use crate::auth::{Authenticator, Principal};
use crate::deletions::{self, Deletions};
use crate::error::ApiError;
use crate::lifecycle::{LifecycleSettings, check_transition};

/// A change to an optional field: keep it, clear it, or set it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// Leave the field as it is.
    #[default]
    Keep,
    /// Set it to NULL.
    Clear,
    /// Set it to this.
    Set(T),
}

impl<T> Patch<T> {
    /// Applies the patch to a column of an active model, mapping a set value with `map`.
    pub fn apply<U>(self, target: &mut sea_orm::ActiveValue<Option<U>>, map: impl Fn(T) -> U)
    where
        Option<U>: Into<sea_orm::Value>,
    {
        match self {
            Patch::Keep => {}
            Patch::Clear => *target = Set(None),
            Patch::Set(v) => *target = Set(Some(map(v))),
        }
    }
}

/// A new tenant: `slug` and `name` required, the rest as the table's defaults.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// 3 to 40 characters of a-z, 0-9 and '-', not starting or ending with '-'.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Default `Trial` (`Demo` for demo tenants).
    pub status: Option<TenantStatus>,
    /// Default `Customer`.
    pub kind: Option<TenantKind>,
    /// Default `starter`.
    pub plan: Option<String>,
    /// ERPNext customer id.
    pub erp_customer_id: Option<String>,
    /// Stripe customer id.
    pub stripe_cust_id: Option<String>,
    /// End of the trial.
    pub trial_ends_at: Option<DateTime<Utc>>,
    /// Contract start.
    pub contract_start: Option<NaiveDate>,
    /// Contract end.
    pub contract_end: Option<NaiveDate>,
    /// Sales owner.
    pub sales_owner: Option<String>,
}

/// Changes to a tenant.
#[derive(Debug, Clone, Default)]
pub struct TenantChanges {
    /// Display name.
    pub name: Option<String>,
    /// Plan.
    pub plan: Option<String>,
    /// ERPNext customer id.
    pub erp_customer_id: Patch<String>,
    /// Stripe customer id.
    pub stripe_cust_id: Patch<String>,
    /// End of the trial.
    pub trial_ends_at: Patch<DateTime<Utc>>,
    /// Contract start.
    pub contract_start: Patch<NaiveDate>,
    /// Contract end.
    pub contract_end: Patch<NaiveDate>,
    /// Sales owner.
    pub sales_owner: Patch<String>,
}

impl TenantChanges {
    /// Whether the changes touch the commercial state (plan, contract dates, trial end,
    /// billing ids, sales owner): the operators' decision, not the tenant's.
    pub fn is_commercial(&self) -> bool {
        self.plan.is_some()
            || self.erp_customer_id != Patch::Keep
            || self.stripe_cust_id != Patch::Keep
            || self.trial_ends_at != Patch::Keep
            || self.contract_start != Patch::Keep
            || self.contract_end != Patch::Keep
            || self.sales_owner != Patch::Keep
    }
}

fn non_blank(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::bad_input(
            field,
            format!("{field} must not be blank"),
        ));
    }
    Ok(value.to_owned())
}

/// Creates a tenant. Scopes `tenants:write` and `platform`. A trial without an end gets one
/// `lifecycle.trial_days` from now.
pub async fn create(
    db: &impl Db,
    (caller, meta): (&Principal, &RequestMeta),
    lifecycle: &LifecycleSettings,
    input: NewTenant,
) -> Result<tenants::Model, ApiError> {
    caller.require(Scope::TenantsWrite)?;
    caller.require(Scope::Platform)?;
    let kind = input.kind.unwrap_or(TenantKind::Customer);
    let status = input.status.unwrap_or(if kind == TenantKind::Demo {
        TenantStatus::Demo
    } else {
        TenantStatus::Trial
    });
    if (kind == TenantKind::Demo) != (status == TenantStatus::Demo) {
        return Err(ApiError::bad_input(
            "input.status",
            "demo tenants (kind DEMO) have status DEMO, and only they do",
        ));
    }
    // A trial needs an end: without one it would stay a trial with active entitlements for
    // ever.
    let trial_ends_at = match (status, input.trial_ends_at) {
        (TenantStatus::Trial, None) => {
            Some(Utc::now() + chrono::Duration::days(i64::from(lifecycle.trial_days)))
        }
        (_, given) => given,
    };
    let row = tenants::ActiveModel {
        slug: Set(input.slug.trim().to_owned()),
        name: Set(non_blank("input.name", &input.name)?),
        status: Set(status),
        kind: Set(kind),
        plan: Set(input
            .plan
            .map(|p| non_blank("input.plan", &p))
            .transpose()?
            .unwrap_or_else(|| "starter".into())),
        erp_customer_id: Set(input.erp_customer_id),
        stripe_cust_id: Set(input.stripe_cust_id),
        trial_ends_at: Set(trial_ends_at.map(|t| t.fixed_offset())),
        contract_start: Set(input.contract_start),
        contract_end: Set(input.contract_end),
        sales_owner: Set(input.sales_owner),
        ..Default::default()
    };
    let txn = caller.begin(db).await?;
    let row = row.insert(&txn).await?;
    record(
        &txn,
        caller,
        meta,
        Change::of("tenant.created", "c", &row, json!({}), snapshot(&row)),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Changes a tenant's name, plan, external ids, dates or sales owner. Scope `tenants:write`;
/// every field but the name also `platform` ([`TenantChanges::is_commercial`]).
pub async fn update(
    db: &impl Db,
    caller: &Principal,
    meta: &RequestMeta,
    id: Uuid,
    changes: TenantChanges,
) -> Result<tenants::Model, ApiError> {
    caller.require(Scope::TenantsWrite)?;
    if changes.is_commercial() {
        caller.require_operator(
            "changing a tenant's plan, contract dates, trial end, billing ids or sales owner",
        )?;
    }
    let txn = caller.begin(db).await?;
    let current = lock_tenant(&txn, id, caller).await?;
    let mut row: tenants::ActiveModel = current.clone().into();
    if let Some(name) = &changes.name {
        row.name = Set(non_blank("input.name", name)?);
    }
    if let Some(plan) = &changes.plan {
        row.plan = Set(non_blank("input.plan", plan)?);
    }
    changes
        .erp_customer_id
        .apply(&mut row.erp_customer_id, |v| v);
    changes.stripe_cust_id.apply(&mut row.stripe_cust_id, |v| v);
    changes.sales_owner.apply(&mut row.sales_owner, |v| v);
    changes
        .trial_ends_at
        .apply(&mut row.trial_ends_at, |t| t.fixed_offset());
    changes.contract_start.apply(&mut row.contract_start, |d| d);
    changes.contract_end.apply(&mut row.contract_end, |d| d);
    let updated = row.update(&txn).await?;
    let (before, after) = diff(&snapshot(&current), &snapshot(&updated));
    record(
        &txn,
        caller,
        meta,
        Change::of("tenant.updated", "u", &updated, before, after),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Moves a tenant along its lifecycle ([`crate::lifecycle`]). Scopes `tenants:write` and
/// `platform`.
pub async fn change_status(
    db: &impl Db,
    (caller, meta): (&Principal, &RequestMeta),
    auth: &Authenticator,
    id: Uuid,
    to: TenantStatus,
    reason: Option<String>,
) -> Result<tenants::Model, ApiError> {
    caller.require(Scope::TenantsWrite)?;
    caller.require_operator("moving a tenant along its lifecycle")?;
    let txn = caller.begin(db).await?;
    let current = lock_tenant(&txn, id, caller).await?;
    check_transition(&current, to)?;
    let (updated, removed) = enter(&txn, &current, to).await?;
    let mut after = json!({ "status": updated.status });
    if let (Some(removed), Some(object)) = (removed, after.as_object_mut()) {
        object.extend(removed.as_object().cloned().unwrap_or_default());
    }
    let mut change = Change::of(
        "tenant.status_changed",
        "u",
        &updated,
        json!({ "status": current.status }),
        after,
    );
    change.reason = reason.filter(|r| !r.trim().is_empty());
    record(&txn, caller, meta, change).await?;
    txn.commit().await?;
    if to == TenantStatus::Archived {
        auth.forget_tenant(id);
    }
    Ok(updated)
}

/// Moves `tenant` (locked in `txn`) into `to`, now. Entering archived removes, in the same
/// transaction, what an archived tenant no longer keeps: every key revoked, entitlements and
/// identity providers removed, projects archived (kept, so their events keep their
/// `project_id`); what was removed is returned, as counts, for the audit row. Entering any
/// other state changes no data.
pub async fn enter(
    txn: &DatabaseTransaction,
    tenant: &tenants::Model,
    to: TenantStatus,
) -> Result<(tenants::Model, Option<serde_json::Value>), ApiError> {
    let mut row: tenants::ActiveModel = tenant.clone().into();
    row.status = Set(to);
    row.status_since = Set(Utc::now().fixed_offset());
    let updated = row.update(txn).await?;
    if to != TenantStatus::Archived {
        return Ok((updated, None));
    }
    let count = |sql: &str| {
        let sql = sql.to_owned();
        async move {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [tenant.id.into()],
            ))
            .await
            .map(|r| r.rows_affected())
        }
    };
    let keys_revoked =
        count("UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND revoked_at IS NULL")
            .await?;
    let entitlements_removed = count("DELETE FROM tenant_products WHERE tenant_id = $1").await?;
    let idp_configs_removed = count("DELETE FROM tenant_idp_config WHERE tenant_id = $1").await?;
    let projects_archived = count(
        "UPDATE tenant_projects SET status = 'archived' WHERE tenant_id = $1 AND status = 'active'",
    )
    .await?;
    Ok((
        updated,
        Some(json!({
            "keys_revoked": keys_revoked,
            "entitlements_removed": entitlements_removed,
            "idp_configs_removed": idp_configs_removed,
            "projects_archived": projects_archived,
        })),
    ))
}

/// Deletes a tenant with its projects, entitlements, identity providers and keys; its audit
/// events stay (tenant and project cleared). Scopes `tenants:write` and `platform`.
///
/// A tenant with more audit events than `deletions` deletes at once is deleted in stages
/// ([`crate::deletions`]): the deletion is accepted and recorded (`tenant.deletion_started`),
/// the tenant's keys are revoked (and forgotten by `auth` at once) and its entitlements and
/// identity providers removed, and the tenant is returned while the worker clears its events.
/// Asking again meanwhile returns the tenant as it is.
pub async fn delete(
    db: &impl Db,
    caller: &Principal,
    meta: &RequestMeta,
    (deletions, auth): (&Deletions, &Authenticator),
    id: Uuid,
    reason: Option<String>,
) -> Result<tenants::Model, ApiError> {
    caller.require(Scope::TenantsWrite)?;
    caller.require(Scope::Platform)?;
    let reason = reason.filter(|r| !r.trim().is_empty());
    let txn = caller.begin(db).await?;
    let current = lock_tenant(&txn, id, caller).await?;
    if deletions::under_way(&txn, id).await?.is_some() {
        deletions.wake();
        return Ok(current);
    }
    let inline = deletions.settings().inline_events;
    if deletions::events_up_to(&txn, id, inline.saturating_add(1)).await? > inline {
        let accepted = deletions::accept(&txn, &current, caller, reason).await?;
        let (deletion, revoked) = (accepted.deletion, accepted.revoked_keys);
        let mut change = Change::of(
            "tenant.deletion_started",
            "u",
            &current,
            json!({}),
            json!({
                "deletion_requested_at": deletion.requested_at,
                "keys_revoked": revoked.len(),
                "entitlements_removed": accepted.entitlements_removed,
                "idp_configs_removed": accepted.idp_configs_removed,
            }),
        );
        // Cleared with the rest of the tenant's events: platform keys find it by target.
        change.tenant_id = None;
        change.reason = deletion.reason;
        record(&txn, caller, meta, change).await?;
        txn.commit().await?;
        for key in revoked {
            auth.forget_key(key);
        }
        deletions.wake();
        return Ok(current);
    }
    Tenants::delete_by_id(id).exec(&txn).await?;
    // The tenant is gone, so the row carries no tenant id: platform keys find it by target.
    let mut change = Change::of(
        "tenant.deleted",
        "d",
        &current,
        snapshot(&current),
        json!({}),
    );
    change.tenant_id = None;
    change.reason = reason;
    record(&txn, caller, meta, change).await?;
    txn.commit().await?;
    // Its keys went with it: none of them passes on this process from now on.
    auth.forget_tenant(id);
    Ok(current)
}

/// The tenant `id`, locked against concurrent changes until `txn` ends, if `caller` reaches it
/// (`NOT_FOUND` otherwise, as for an unknown id).
async fn lock_tenant(
    txn: &DatabaseTransaction,
    id: Uuid,
    caller: &Principal,
) -> Result<tenants::Model, ApiError> {
    caller.require_reach(id)?;
    Tenants::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {id}")))
}
