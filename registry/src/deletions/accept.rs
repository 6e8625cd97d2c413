//! The request's side of a deletion: counting a tenant's events, accepting a deletion in
//! stages, and refusing additions to a tenant on its way out.

use entity::prelude::{ApiKeys, TenantDeletions, TenantIdpConfig, TenantProducts, Tenants};
use entity::{api_keys, tenant_deletions, tenant_idp_config, tenant_products, tenants};
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::per_tenant;
use crate::auth::Principal;
use crate::error::ApiError;

/// Counts tenant `$1`'s events, up to `$2`.
const COUNT_UP_TO: &str =
    "SELECT count(*) FROM (SELECT 1 FROM audit_log WHERE tenant_id = $1 LIMIT $2) AS e";

/// The tenant's audit events, counted up to `bound`.
pub async fn events_up_to(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    bound: u64,
) -> Result<u64, ApiError> {
    let row = db
        .query_one_raw(per_tenant(COUNT_UP_TO, tenant, bound))
        .await?
        .ok_or_else(|| ApiError::internal("count returned no row"))?;
    let count: i64 = row.try_get_by_index(0)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The deletion of `tenant` under way, if any.
pub async fn under_way(
    db: &impl ConnectionTrait,
    tenant: Uuid,
) -> Result<Option<tenant_deletions::Model>, ApiError> {
    Ok(TenantDeletions::find_by_id(tenant).one(db).await?)
}

/// What accepting a deletion ended at once.
#[derive(Debug)]
pub struct Accepted {
    /// The deletion's row.
    pub deletion: tenant_deletions::Model,
    /// The keys revoked, for the caller to forget once committed.
    pub revoked_keys: Vec<Uuid>,
    /// Entitlements removed (products stop answering for the tenant at once).
    pub entitlements_removed: u64,
    /// Identity-provider configs removed (its SSO stops at once).
    pub idp_configs_removed: u64,
}

/// Accepts the deletion of `tenant` (locked by the caller's transaction): writes its row, and
/// ends at once what lets the tenant act: its keys are revoked, its entitlements and identity
/// providers removed (a few rows; its projects stay until the end, since removing one clears
/// every event of it).
pub async fn accept(
    txn: &DatabaseTransaction,
    tenant: &tenants::Model,
    caller: &Principal,
    reason: Option<String>,
) -> Result<Accepted, ApiError> {
    let deletion = tenant_deletions::ActiveModel {
        tenant_id: Set(tenant.id),
        requested_by_key_id: Set(caller.key_id),
        requested_by_key_name: Set(caller.key_name.clone()),
        reason: Set(reason),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let revoked = ApiKeys::update_many()
        .col_expr(api_keys::Column::RevokedAt, Expr::current_timestamp())
        .filter(api_keys::Column::TenantId.eq(tenant.id))
        .filter(api_keys::Column::RevokedAt.is_null())
        .exec_with_returning(txn)
        .await?;
    let entitlements = TenantProducts::delete_many()
        .filter(tenant_products::Column::TenantId.eq(tenant.id))
        .exec(txn)
        .await?;
    let idps = TenantIdpConfig::delete_many()
        .filter(tenant_idp_config::Column::TenantId.eq(tenant.id))
        .exec(txn)
        .await?;
    Ok(Accepted {
        deletion,
        revoked_keys: revoked.into_iter().map(|k| k.id).collect(),
        entitlements_removed: entitlements.rows_affected,
        idp_configs_removed: idps.rows_affected,
    })
}

/// `CONFLICT` when `tenant` is being deleted. Takes a share lock on the tenant first, so a
/// deletion accepted meanwhile is seen (the caller's transaction then writes nothing for a
/// tenant on its way out).
pub async fn refuse_if_deleting(txn: &DatabaseTransaction, tenant: Uuid) -> Result<(), ApiError> {
    Tenants::find_by_id(tenant)
        .select_only()
        .column(tenants::Column::Id)
        .lock(LockType::Share)
        .into_tuple::<Uuid>()
        .one(txn)
        .await?;
    if under_way(txn, tenant).await?.is_some() {
        return Err(ApiError::Conflict {
            field: None,
            message: format!("tenant {tenant} is being deleted"),
        });
    }
    Ok(())
}
