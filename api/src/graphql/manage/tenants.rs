//! `createTenant`, `updateTenant`, `changeTenantStatus` (with the lifecycle), `deleteTenant`.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use entity::prelude::Tenants;
use entity::scope::Scope;
use entity::sea_orm_active_enums::{TenantKind as DbKind, TenantStatus as DbStatus};
use entity::tenants;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use super::begin;
use crate::audit::portal::{Change, diff, record, snapshot};
use crate::deletions;
use crate::error::ApiError;
use crate::graphql::context::{principal, request_meta, state};
use crate::graphql::tenants::{Date, Tenant, TenantKind, TenantStatus};

/// A new tenant: `slug` and `name` required, the rest as the table's defaults.
#[derive(InputObject, Debug)]
pub struct CreateTenantInput {
    /// 3 to 40 characters of a-z, 0-9 and '-', not starting or ending with '-'.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Default TRIAL (DEMO for demo tenants).
    pub status: Option<TenantStatus>,
    /// Default CUSTOMER.
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
    pub contract_start: Option<Date>,
    /// Contract end.
    pub contract_end: Option<Date>,
    /// Sales owner.
    pub sales_owner: Option<String>,
}

/// Changes to a tenant: absent fields stay, `null` clears an optional one.
#[derive(InputObject, Debug, Default)]
pub struct UpdateTenantInput {
    /// Display name.
    pub name: Option<String>,
    /// Plan.
    pub plan: Option<String>,
    /// ERPNext customer id.
    pub erp_customer_id: MaybeUndefined<String>,
    /// Stripe customer id.
    pub stripe_cust_id: MaybeUndefined<String>,
    /// End of the trial.
    pub trial_ends_at: MaybeUndefined<DateTime<Utc>>,
    /// Contract start.
    pub contract_start: MaybeUndefined<Date>,
    /// Contract end.
    pub contract_end: MaybeUndefined<Date>,
    /// Sales owner.
    pub sales_owner: MaybeUndefined<String>,
}

/// The lifecycle: where a tenant may go from each state. Demo tenants stay demo.
pub fn allowed_transitions(from: DbStatus) -> &'static [DbStatus] {
    match from {
        DbStatus::Trial => &[DbStatus::Active, DbStatus::Frozen, DbStatus::Archived],
        DbStatus::Active => &[DbStatus::Frozen, DbStatus::Archived],
        DbStatus::Frozen => &[DbStatus::Active, DbStatus::Archived],
        DbStatus::Archived | DbStatus::Demo => &[],
    }
}

fn status_name(s: DbStatus) -> String {
    format!("{:?}", TenantStatus::from(s)).to_uppercase()
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

/// Loads a tenant for change, locked against concurrent changes; checks reach.
async fn lock_tenant(
    txn: &sea_orm::DatabaseTransaction,
    id: Uuid,
    caller: &crate::auth::Principal,
) -> Result<tenants::Model, ApiError> {
    caller.require_tenant(id)?;
    Tenants::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {id}")))
}

/// Tenant mutations.
#[derive(Debug, Default)]
pub struct TenantMutation;

#[Object]
impl TenantMutation {
    /// Creates a tenant. Scopes `tenants:write` and `platform`.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn create_tenant(&self, ctx: &Context<'_>, input: CreateTenantInput) -> Result<Tenant> {
        let caller = principal(ctx)?;
        caller.require(Scope::TenantsWrite)?;
        caller.require(Scope::Platform)?;
        let kind: DbKind = input.kind.map(Into::into).unwrap_or(DbKind::Customer);
        let status: DbStatus = input
            .status
            .map(Into::into)
            .unwrap_or(if kind == DbKind::Demo {
                DbStatus::Demo
            } else {
                DbStatus::Trial
            });
        if (kind == DbKind::Demo) != (status == DbStatus::Demo) {
            return Err(ApiError::bad_input(
                "input.status",
                "demo tenants (kind DEMO) have status DEMO, and only they do",
            )
            .into());
        }
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
            trial_ends_at: Set(input.trial_ends_at.map(|t| t.fixed_offset())),
            contract_start: Set(input.contract_start.map(|d| d.0)),
            contract_end: Set(input.contract_end.map(|d| d.0)),
            sales_owner: Set(input.sales_owner),
            ..Default::default()
        };
        let txn = begin(ctx).await?;
        let row = row.insert(&txn).await.map_err(ApiError::from)?;
        record(
            &txn,
            caller,
            &request_meta(ctx),
            Change::of("tenant.created", "c", &row, json!({}), snapshot(&row)),
        )
        .await?;
        txn.commit().await.map_err(ApiError::from)?;
        Ok(Tenant(row))
    }

    /// Changes a tenant's name, plan, external ids, dates or sales owner. Scope `tenants:write`.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn update_tenant(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateTenantInput,
    ) -> Result<Tenant> {
        let caller = principal(ctx)?;
        caller.require(Scope::TenantsWrite)?;
        let txn = begin(ctx).await?;
        let current = lock_tenant(&txn, id, caller).await?;
        let mut row: tenants::ActiveModel = current.clone().into();
        if let Some(name) = &input.name {
            row.name = Set(non_blank("input.name", name)?);
        }
        if let Some(plan) = &input.plan {
            row.plan = Set(non_blank("input.plan", plan)?);
        }
        fn apply<T: Clone, U>(
            field: &MaybeUndefined<T>,
            target: &mut sea_orm::ActiveValue<Option<U>>,
            map: impl Fn(T) -> U,
        ) where
            U: Into<sea_orm::Value>,
            Option<U>: Into<sea_orm::Value>,
        {
            match field {
                MaybeUndefined::Undefined => {}
                MaybeUndefined::Null => *target = Set(None),
                MaybeUndefined::Value(v) => *target = Set(Some(map(v.clone()))),
            }
        }
        apply(&input.erp_customer_id, &mut row.erp_customer_id, |v| v);
        apply(&input.stripe_cust_id, &mut row.stripe_cust_id, |v| v);
        apply(&input.sales_owner, &mut row.sales_owner, |v| v);
        apply(&input.trial_ends_at, &mut row.trial_ends_at, |t| {
            t.fixed_offset()
        });
        apply(&input.contract_start, &mut row.contract_start, |d| d.0);
        apply(&input.contract_end, &mut row.contract_end, |d| d.0);
        let updated = row.update(&txn).await.map_err(ApiError::from)?;
        let (before, after) = diff(&snapshot(&current), &snapshot(&updated));
        record(
            &txn,
            caller,
            &request_meta(ctx),
            Change::of("tenant.updated", "u", &updated, before, after),
        )
        .await?;
        txn.commit().await.map_err(ApiError::from)?;
        Ok(Tenant(updated))
    }

    /// Moves a tenant along its lifecycle: TRIAL → ACTIVE | FROZEN | ARCHIVED; ACTIVE → FROZEN |
    /// ARCHIVED; FROZEN → ACTIVE | ARCHIVED; ARCHIVED → nothing; demo tenants stay DEMO.
    /// Scope `tenants:write`.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn change_tenant_status(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        status: TenantStatus,
        reason: Option<String>,
    ) -> Result<Tenant> {
        let caller = principal(ctx)?;
        caller.require(Scope::TenantsWrite)?;
        let txn = begin(ctx).await?;
        let current = lock_tenant(&txn, id, caller).await?;
        let to: DbStatus = status.into();
        let allowed = allowed_transitions(current.status);
        if !allowed.contains(&to) {
            let options = if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed
                    .iter()
                    .map(|s| status_name(*s))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let kind = if current.kind == DbKind::Demo {
                "demo tenant"
            } else {
                "tenant"
            };
            return Err(ApiError::bad_input(
                "status",
                format!(
                    "a {kind} in {} cannot move to {}; allowed: {options}",
                    status_name(current.status),
                    status_name(to)
                ),
            )
            .into());
        }
        let mut row: tenants::ActiveModel = current.clone().into();
        row.status = Set(to);
        let updated = row.update(&txn).await.map_err(ApiError::from)?;
        let mut change = Change::of(
            "tenant.status_changed",
            "u",
            &updated,
            json!({ "status": current.status }),
            json!({ "status": updated.status }),
        );
        change.reason = reason.filter(|r| !r.trim().is_empty());
        record(&txn, caller, &request_meta(ctx), change).await?;
        txn.commit().await.map_err(ApiError::from)?;
        Ok(Tenant(updated))
    }

    /// Deletes a tenant with its projects, entitlements, identity providers and keys; its
    /// audit events stay (tenant and project cleared). Scopes `tenants:write` and `platform`.
    ///
    /// A tenant with more audit events than the server deletes at once (5,000 unless set
    /// otherwise) is deleted in stages: the deletion is accepted and recorded
    /// (`tenant.deletion_started`), the tenant's keys are revoked and its entitlements and
    /// identity providers removed, and the tenant is returned
    /// with `deletion` set while the server clears its events in the background; when none is
    /// left it is deleted (`tenant.deleted`) and `tenant(id)` no longer finds it. Asking again
    /// meanwhile returns the deletion under way.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn delete_tenant(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        reason: Option<String>,
    ) -> Result<Tenant> {
        let caller = principal(ctx)?;
        caller.require(Scope::TenantsWrite)?;
        caller.require(Scope::Platform)?;
        let reason = reason.filter(|r| !r.trim().is_empty());
        let state = state(ctx)?;
        let deletions = &state.deletions;
        let txn = begin(ctx).await?;
        let current = lock_tenant(&txn, id, caller).await?;
        if deletions::under_way(&txn, id).await?.is_some() {
            deletions.wake();
            return Ok(Tenant(current));
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
            record(&txn, caller, &request_meta(ctx), change).await?;
            txn.commit().await.map_err(ApiError::from)?;
            for key in revoked {
                state.auth.forget_key(key);
            }
            deletions.wake();
            return Ok(Tenant(current));
        }
        Tenants::delete_by_id(id)
            .exec(&txn)
            .await
            .map_err(ApiError::from)?;
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
        record(&txn, caller, &request_meta(ctx), change).await?;
        txn.commit().await.map_err(ApiError::from)?;
        Ok(Tenant(current))
    }
}
