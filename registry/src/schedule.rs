//! The lifecycle's clock: tenants that move on by themselves. A trial past its `trial_ends_at`
//! is frozen (`tenant.trial_expired`); a tenant frozen for longer than the grace
//! ([`LifecycleSettings::frozen_grace_days`], counted from `status_since`) is archived
//! (`tenant.archived`, removing what [`crate::tenants::enter`] removes). Each tenant moves in a
//! transaction of its own, with its audit row (actor `system`, name `lifecycle`).
//!
//! Several server processes may run passes at once on one database: each tenant is taken with
//! `FOR UPDATE SKIP LOCKED` and its condition read again under the lock, so a tenant is moved
//! once, by whichever pass took it first.

use chrono::{Duration, Utc};
use entity::prelude::Tenants;
use entity::sea_orm_active_enums::TenantStatus;
use entity::tenants;
use sea_orm::sea_query::LockBehavior;
use sea_orm::sea_query::LockType;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{Change, record_system};
use crate::auth::Authenticator;
use crate::error::ApiError;
use crate::lifecycle::LifecycleSettings;
use crate::tenants::enter;

/// What one pass moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// Trials past their end, now frozen.
    pub trials_frozen: u64,
    /// Tenants frozen past the grace, now archived.
    pub archived: u64,
}

/// The moves, each with its state, condition and audit action.
#[derive(Debug, Clone, Copy)]
enum Move {
    TrialExpired,
    GraceEnded,
}

/// One pass over every tenant due to move on; what it moved. `auth` forgets the keys of the
/// tenants it archives.
pub async fn run_once(
    db: &DatabaseConnection,
    settings: &LifecycleSettings,
    auth: Option<&Authenticator>,
) -> Result<Moved, ApiError> {
    let mut moved = Moved::default();
    for kind in [Move::TrialExpired, Move::GraceEnded] {
        for id in due(db, kind, settings).await? {
            if move_one(db, kind, settings, id).await? {
                match kind {
                    Move::TrialExpired => moved.trials_frozen += 1,
                    Move::GraceEnded => {
                        moved.archived += 1;
                        if let Some(auth) = auth {
                            auth.forget_tenant(id);
                        }
                    }
                }
            }
        }
    }
    Ok(moved)
}

/// The condition of `kind` on a tenant query.
fn condition(kind: Move, settings: &LifecycleSettings) -> sea_orm::sea_query::Condition {
    let now = Utc::now();
    match kind {
        Move::TrialExpired => sea_orm::sea_query::Condition::all()
            .add(tenants::Column::Status.eq(TenantStatus::Trial))
            .add(tenants::Column::TrialEndsAt.lte(now)),
        Move::GraceEnded => sea_orm::sea_query::Condition::all()
            .add(tenants::Column::Status.eq(TenantStatus::Frozen))
            .add(
                tenants::Column::StatusSince
                    .lte(now - Duration::days(i64::from(settings.frozen_grace_days))),
            ),
    }
}

async fn due(
    db: &DatabaseConnection,
    kind: Move,
    settings: &LifecycleSettings,
) -> Result<Vec<Uuid>, ApiError> {
    Ok(Tenants::find()
        .select_only()
        .column(tenants::Column::Id)
        .filter(condition(kind, settings))
        .order_by_asc(tenants::Column::Id)
        .into_tuple()
        .all(db)
        .await?)
}

/// Moves tenant `id` if it is still due and no other pass holds it; whether it moved.
async fn move_one(
    db: &DatabaseConnection,
    kind: Move,
    settings: &LifecycleSettings,
    id: Uuid,
) -> Result<bool, ApiError> {
    let txn = db.begin().await?;
    let Some(tenant) = Tenants::find_by_id(id)
        .filter(condition(kind, settings))
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .one(&txn)
        .await?
    else {
        return Ok(false);
    };
    let (to, action) = match kind {
        Move::TrialExpired => (TenantStatus::Frozen, "tenant.trial_expired"),
        Move::GraceEnded => (TenantStatus::Archived, "tenant.archived"),
    };
    let (updated, removed) = enter(&txn, &tenant, to).await?;
    let mut after = json!({ "status": updated.status });
    if let (Some(removed), Some(object)) = (removed, after.as_object_mut()) {
        object.extend(removed.as_object().cloned().unwrap_or_default());
    }
    let change = Change::of(
        action,
        "u",
        &updated,
        json!({ "status": tenant.status }),
        after,
    );
    record_system(&txn, "lifecycle", change).await?;
    txn.commit().await?;
    Ok(true)
}
