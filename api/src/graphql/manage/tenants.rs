//! `createTenant`, `updateTenant`, `changeTenantStatus`, `deleteTenant`: adapters over
//! [`registry::tenants`].

use async_graphql::{Context, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use registry::tenants::{NewTenant, TenantChanges};
use uuid::Uuid;

use super::patch;
use crate::graphql::context::{db, principal, request_meta, state};
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

/// Tenant mutations.
#[derive(Debug, Default)]
pub struct TenantMutation;

#[Object]
impl TenantMutation {
    /// Creates a tenant. Scopes `tenants:write` and `platform`.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn create_tenant(&self, ctx: &Context<'_>, input: CreateTenantInput) -> Result<Tenant> {
        let input = NewTenant {
            slug: input.slug,
            name: input.name,
            status: input.status.map(Into::into),
            kind: input.kind.map(Into::into),
            plan: input.plan,
            erp_customer_id: input.erp_customer_id,
            stripe_cust_id: input.stripe_cust_id,
            trial_ends_at: input.trial_ends_at,
            contract_start: input.contract_start.map(|d| d.0),
            contract_end: input.contract_end.map(|d| d.0),
            sales_owner: input.sales_owner,
        };
        let (caller, meta, state) = (principal(ctx)?, request_meta(ctx), state(ctx)?);
        let created =
            registry::tenants::create(&state.db, (caller, &meta), &state.lifecycle, input);
        Ok(Tenant(created.await?))
    }

    /// Changes a tenant's name, plan, external ids, dates or sales owner. Scope `tenants:write`;
    /// anything but the name also `platform` (the commercial state is the operators').
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn update_tenant(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateTenantInput,
    ) -> Result<Tenant> {
        let changes = TenantChanges {
            name: input.name,
            plan: input.plan,
            erp_customer_id: patch(input.erp_customer_id),
            stripe_cust_id: patch(input.stripe_cust_id),
            trial_ends_at: patch(input.trial_ends_at),
            contract_start: patch(input.contract_start.map_value(|d| d.0)),
            contract_end: patch(input.contract_end.map_value(|d| d.0)),
            sales_owner: patch(input.sales_owner),
        };
        let (caller, meta) = (principal(ctx)?, request_meta(ctx));
        Ok(Tenant(
            registry::tenants::update(db(ctx)?, caller, &meta, id, changes).await?,
        ))
    }

    /// Moves a tenant along its lifecycle: TRIAL → ACTIVE | FROZEN | ARCHIVED; ACTIVE → FROZEN |
    /// ARCHIVED; FROZEN → ACTIVE | ARCHIVED; ARCHIVED → nothing; demo tenants stay DEMO.
    /// Scopes `tenants:write` and `platform`.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn change_tenant_status(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        status: TenantStatus,
        reason: Option<String>,
    ) -> Result<Tenant> {
        let (caller, meta, state) = (principal(ctx)?, request_meta(ctx), state(ctx)?);
        let changed = registry::tenants::change_status(
            &state.db,
            (caller, &meta),
            &state.auth,
            id,
            status.into(),
            reason,
        );
        Ok(Tenant(changed.await?))
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
        let (caller, meta, state) = (principal(ctx)?, request_meta(ctx), state(ctx)?);
        let workers = (&*state.deletions, &*state.auth);
        Ok(Tenant(
            registry::tenants::delete(&state.db, caller, &meta, workers, id, reason).await?,
        ))
    }
}
