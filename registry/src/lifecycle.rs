//! A tenant's lifecycle: the states it may move between, and what each state allows the
//! tenant's own keys.
//!
//! | state | the tenant's own keys |
//! | --- | --- |
//! | demo, trial, active | everything their scopes allow |
//! | frozen | read, and publish audit events; every other change is `TENANT_FROZEN` |
//! | archived | nothing (`TENANT_ARCHIVED`; its keys are revoked on archiving) |
//!
//! Platform keys keep their reach over frozen and archived tenants: operators reactivate,
//! read and export them.

use entity::sea_orm_active_enums::{TenantKind, TenantStatus};
use entity::tenants;

use crate::error::ApiError;

/// How long the automatic parts of the lifecycle take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleSettings {
    /// A new trial's length, when it is created without an end.
    pub trial_days: u32,
    /// How long a tenant stays frozen before it is archived by itself.
    pub frozen_grace_days: u32,
    /// How often the server's clock moves tenants on ([`crate::schedule`]); `None`: never
    /// (`api lifecycle run` from cron instead).
    pub every: Option<std::time::Duration>,
    /// When the demo tenants are reset each day (UTC); `None`: never.
    pub demo_reset_at: Option<chrono::NaiveTime>,
}

impl Default for LifecycleSettings {
    fn default() -> LifecycleSettings {
        LifecycleSettings {
            trial_days: 14,
            frozen_grace_days: 30,
            every: Some(std::time::Duration::from_secs(60)),
            demo_reset_at: chrono::NaiveTime::from_hms_opt(3, 0, 0),
        }
    }
}

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

/// The state's name for a message.
fn state_of(status: TenantStatus) -> &'static str {
    match status {
        TenantStatus::Demo => "demo",
        TenantStatus::Trial => "trial",
        TenantStatus::Active => "active",
        TenantStatus::Frozen => "frozen",
        TenantStatus::Archived => "archived",
    }
}

/// `TENANT_FROZEN` or `TENANT_ARCHIVED` when a tenant in `status` may not change anything
/// through its own keys (every write but publishing audit events).
pub fn check_change(slug: &str, status: TenantStatus) -> Result<(), ApiError> {
    match status {
        TenantStatus::Frozen => Err(ApiError::TenantFrozen(format!(
            "tenant {slug} is frozen: its keys may read (tenants:read, audit:read) and publish \
             audit events; every other change waits until an operator reactivates it"
        ))),
        TenantStatus::Archived => Err(archived(slug)),
        _ => Ok(()),
    }
}

/// `TENANT_ARCHIVED` when a tenant in `status` takes no more audit events (a frozen one does:
/// the log keeps recording what happens while the tenant is read-only).
pub fn check_publish(slug: &str, status: TenantStatus) -> Result<(), ApiError> {
    match status {
        TenantStatus::Archived => Err(archived(slug)),
        _ => Ok(()),
    }
}

/// `TENANT_ARCHIVED` for tenant `slug`, saying what the state allows.
pub fn archived(slug: &str) -> ApiError {
    ApiError::TenantArchived(format!(
        "tenant {slug} is archived: nothing is accepted for it any more; its audit log stays \
         with the platform operators"
    ))
}

/// The status a column holds as text (`frozen`, ...).
pub fn parse_status(text: &str) -> Option<TenantStatus> {
    [
        TenantStatus::Demo,
        TenantStatus::Trial,
        TenantStatus::Active,
        TenantStatus::Frozen,
        TenantStatus::Archived,
    ]
    .into_iter()
    .find(|s| state_of(*s) == text)
}
