//! A tenant's lifecycle: the states it may move between, and holding a tenant still while it
//! changes.

use entity::prelude::Tenants;
use entity::sea_orm_active_enums::{TenantKind, TenantStatus};
use entity::tenants;
use sea_orm::{DatabaseTransaction, EntityTrait, QuerySelect};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::ApiError;

/// Where a tenant may go from each state. Demo tenants stay demo; archived is the end.
pub fn allowed_transitions(from: TenantStatus) -> &'static [TenantStatus] {
    use TenantStatus::{Active, Archived, Demo, Frozen, Trial};
    match from {
        Trial => &[Active, Frozen, Archived],
        Active => &[Frozen, Archived],
        Frozen => &[Active, Archived],
        Archived | Demo => &[],
    }
}

/// The state as clients write it (`TRIAL`, ...).
pub fn status_name(status: TenantStatus) -> &'static str {
    match status {
        TenantStatus::Demo => "DEMO",
        TenantStatus::Trial => "TRIAL",
        TenantStatus::Active => "ACTIVE",
        TenantStatus::Frozen => "FROZEN",
        TenantStatus::Archived => "ARCHIVED",
    }
}

/// `BAD_USER_INPUT` (field `status`) unless `tenant` may move to `to`, naming where it may go.
pub fn check_transition(tenant: &tenants::Model, to: TenantStatus) -> Result<(), ApiError> {
    let allowed = allowed_transitions(tenant.status);
    if allowed.contains(&to) {
        return Ok(());
    }
    let options = if allowed.is_empty() {
        "none".to_owned()
    } else {
        allowed
            .iter()
            .map(|s| status_name(*s))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kind = if tenant.kind == TenantKind::Demo {
        "demo tenant"
    } else {
        "tenant"
    };
    Err(ApiError::bad_input(
        "status",
        format!(
            "a {kind} in {} cannot move to {}; allowed: {options}",
            status_name(tenant.status),
            status_name(to)
        ),
    ))
}

/// The tenant `id`, locked against concurrent changes until `txn` ends, if `caller` reaches it
/// (`NOT_FOUND` otherwise, as for an unknown id).
pub async fn lock_tenant(
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
