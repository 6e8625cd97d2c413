//! The nightly demo reset: every day at `--demo-reset-at` (UTC), the demo tenants are deleted
//! with their history and created anew (`seed demo --reset`'s code), recorded as one
//! `demo.reset` audit row (actor `system`, name `lifecycle`). The server's lifecycle clock asks
//! on every pass; a server that was down at that time resets when it next starts.
//!
//! At most once a day across server processes: a reset is due when the last one (the newest
//! `demo.reset` row, or, before the first, when the demo tenants were created) is older than
//! the latest reset time; the reset, its check and its row are one transaction holding a
//! transaction-level advisory lock, so a second process either waits for nothing (the lock is
//! taken: it skips) or finds the row the first one wrote.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use registry::ApiError;
use registry::audit::{Change, record_system};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use serde_json::json;

/// The advisory lock of the reset (any constant distinct from others the server takes).
const LOCK: i64 = 0x7265_7365_7464_656d; // "resetdem"

/// The latest reset time at or before `now`, for a daily time `at` (UTC).
pub fn latest_slot(now: DateTime<Utc>, at: NaiveTime) -> DateTime<Utc> {
    let today = now.date_naive().and_time(at).and_utc();
    if today <= now {
        today
    } else {
        today - Duration::days(1)
    }
}

/// When the demo tenants were last reset (or created), if there are any.
async fn last_reset(db: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>, ApiError> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT coalesce(
                (SELECT max(created_at) FROM audit_log
                  WHERE product IS NULL AND action = 'demo.reset'),
                (SELECT min(created_at) FROM tenants WHERE kind = 'demo'))",
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get_by_index::<Option<DateTime<Utc>>>(0))
        .transpose()?
        .flatten())
}

/// Resets the demo tenants if a reset is due at `now` for the daily time `at`; whether it did.
pub async fn reset_if_due(
    db: &DatabaseConnection,
    at: NaiveTime,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let slot = latest_slot(now, at);
    // A cheap look first: most passes find nothing due.
    match last_reset(db).await? {
        Some(last) if last < slot => {}
        _ => return Ok(false),
    }
    let txn = db.begin().await?;
    let locked = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1)",
            [LOCK.into()],
        ))
        .await?
        .map(|r| r.try_get_by_index::<bool>(0))
        .transpose()?
        .unwrap_or(false);
    // Another process is resetting, or did it since the look above.
    if !locked || last_reset(&txn).await?.is_none_or(|last| last >= slot) {
        return Ok(false);
    }
    let options = seed::demo::DemoOptions {
        seed: 42,
        events_per_tenant: 2000,
        now,
    };
    let report = seed::demo::reset_demo(&txn, &options)
        .await
        .map_err(|e| ApiError::internal(format!("demo reset: {e}")))?;
    let change = Change {
        action: "demo.reset",
        crud: "u",
        tenant_id: None,
        target: ("demo", "demo".to_owned(), "demo tenants".to_owned()),
        before: json!({ "tenants": report.deleted, "events": report.purged_events }),
        after: json!({ "tenants": report.created, "events": report.events }),
        reason: Some(format!("the nightly reset at {at} UTC")),
    };
    record_system(&txn, "lifecycle", change).await?;
    txn.commit().await?;
    Ok(true)
}
