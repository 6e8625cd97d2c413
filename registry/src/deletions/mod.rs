//! Deleting a tenant: in the request's transaction when it has few audit events, in stages when
//! it has many.
//!
//! The reference schema keeps a deleted tenant's audit events and clears their tenant
//! (`ON DELETE SET NULL`; their project too, with the tenant's projects). Each cleared event is an
//! update through every index of `audit_log` and the metadata terms' trigger, about 0.4 ms on
//! the benchmark data (deleting a tenant of 9,970 events took 4.0 s, one of 19,939 9.0 s), so
//! the largest tenant's 1.34 M events would take about nine minutes in one statement, far past
//! the statement timeout: such a tenant could not be deleted at all.
//!
//! `deleteTenant` ([`crate::tenants::delete`]) therefore counts the tenant's events up to
//! [`DeletionSettings::inline_events`]. Up to that, it deletes the tenant at once, in the
//! request's transaction. Beyond it, it accepts the deletion instead, in one transaction: a
//! `tenant_deletions` row, every key of the tenant revoked, its entitlements and identity
//! providers removed (so products and SSO stop answering for it at once), and a
//! `tenant.deletion_started` event.
//! The worker ([`Deletions::run`]) then clears the tenant's events in batches of
//! [`DeletionSettings::batch_events`], one transaction each, then the tenant's metadata terms
//! (which deleting the tenant would otherwise delete in one statement: 3.9 M for the largest
//! benchmark tenant), and deletes the tenant in a last transaction that records
//! `tenant.deleted`, as the request's key.
//!
//! - No batch runs without its deletion recorded first, so a cleared event always belongs to a
//!   deletion that was asked for; each batch locks the deletion's row (`SKIP LOCKED`), so two
//!   server processes never work on one tenant at once; an interrupted deletion (a restart, a
//!   lost database) is found and finished when the worker next looks: at start, when woken, and
//!   every [`POLL_EVERY`].
//! - While it is under way the tenant still exists, with its `deletion` showing progress and
//!   its projects; its keys no longer work, and no key, entitlement or identity provider can be
//!   added to it ([`refuse_if_deleting`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use entity::prelude::{TenantDeletions, Tenants};
use entity::tenant_deletions;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use serde_json::json;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::audit::{Change, RequestMeta, record_as, snapshot};
use crate::error::ApiError;

mod accept;

pub use accept::{Accepted, accept, events_up_to, refuse_if_deleting, under_way};

/// How often the worker looks for deletions under way without being woken (one another
/// process accepted, or one a stopped process left).
pub const POLL_EVERY: Duration = Duration::from_secs(30);

/// How often a deletion in stages logs its progress.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// Clears the tenant and project of up to `$2` of tenant `$1`'s events (found through the
/// tenant's index).
const DETACH: &str = "UPDATE audit_log SET tenant_id = NULL, project_id = NULL WHERE id IN \
                      (SELECT id FROM audit_log WHERE tenant_id = $1 LIMIT $2)";

/// Deletes up to `$2` of tenant `$1`'s metadata terms (`audit_metadata_term`). Deleting the tenant deletes them too (a trigger), but the largest
/// benchmark tenant has 3.9 M, about 5 s in one statement; 50,000 take about 60 ms.
const FORGET_TERMS: &str = "DELETE FROM audit_metadata_term WHERE ctid = ANY(ARRAY( \
                            SELECT ctid FROM audit_metadata_term WHERE tenant_id = $1 LIMIT $2))";

/// Metadata terms deleted per transaction, per event of a batch.
const TERMS_PER_EVENT: u64 = 10;

/// The statement timeout of a deletion's last transaction, in place of the server's. Deleting
/// the tenant looks up its events and its projects' events through the foreign keys, and until
/// `audit_log` is vacuumed those lookups step over the dead index entries every cleared event
/// left (autovacuum waits for 20% of the table: 2 M dead rows on 10 M). For the largest
/// benchmark tenant, right after its 1.34 M events were cleared, the `DELETE` took 13.0 s
/// (the tenant's lookup 8.0 s, its two projects' 4.9 s), then 4.7 s when run again; under the
/// server's 10 s the last step failed and was tried again every 30 s. The last step touches
/// only what the batches left, so a generous bound costs nothing when all is well.
const FINAL_STATEMENT_TIMEOUT: &str = "SET LOCAL statement_timeout = '15min'";

/// Where a deletion stops being done at once, and how it is split beyond that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletionSettings {
    /// A tenant with at most this many audit events is deleted in the request's transaction.
    pub inline_events: u64,
    /// Events cleared per transaction of a deletion in stages.
    pub batch_events: u64,
}

impl Default for DeletionSettings {
    fn default() -> DeletionSettings {
        DeletionSettings {
            inline_events: 5_000,
            batch_events: 5_000,
        }
    }
}

/// What one transaction of a deletion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Cleared this many events of the tenant.
    Detached(u64),
    /// Deleted this many of the tenant's metadata terms (once no event is left).
    TermsForgotten(u64),
    /// Deleted the tenant (no event was left); the events cleared in all.
    Deleted {
        /// Events the batches cleared.
        events_detached: i64,
    },
    /// Nothing to do here: another worker holds the deletion, or it is finished.
    Elsewhere,
}

/// The deletions in stages of this server: their settings and their worker.
#[derive(Debug)]
pub struct Deletions {
    db: DatabaseConnection,
    settings: DeletionSettings,
    wake: Notify,
    /// Events this process's steps cleared (for `/metrics`).
    events_cleared: AtomicU64,
    /// Tenants this process's steps deleted at the end of a deletion in stages.
    tenants_deleted: AtomicU64,
}

impl Deletions {
    /// Deletions over `db`.
    pub fn new(db: DatabaseConnection, settings: DeletionSettings) -> Deletions {
        Deletions {
            db,
            settings: DeletionSettings {
                inline_events: settings.inline_events,
                batch_events: Ord::max(settings.batch_events, 1),
            },
            wake: Notify::new(),
            events_cleared: AtomicU64::new(0),
            tenants_deleted: AtomicU64::new(0),
        }
    }

    /// (events cleared, tenants deleted) by this process's steps so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.events_cleared.load(Ordering::Relaxed),
            self.tenants_deleted.load(Ordering::Relaxed),
        )
    }

    /// The settings.
    pub fn settings(&self) -> DeletionSettings {
        self.settings
    }

    /// Tells the worker a deletion was accepted.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Finishes deletions until stopped (abort the task): at start, when woken, and every
    /// [`POLL_EVERY`]. A failure is logged and tried again at the next look.
    pub async fn run(self: Arc<Self>) {
        loop {
            if let Err(err) = self.finish_all().await {
                tracing::warn!(error = ?err, "tenant deletions: will try again");
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL_EVERY) => {}
            }
        }
    }

    /// Finishes every deletion under way, in rounds of one step each, oldest first (so a
    /// small tenant asked for after a large one is not kept waiting minutes; one accepted
    /// meanwhile joins the next round); how many this call finished.
    pub async fn finish_all(&self) -> Result<usize, ApiError> {
        let (mut finished, mut reported) = (0, Instant::now());
        loop {
            let pending = TenantDeletions::find()
                .order_by_asc(tenant_deletions::Column::RequestedAt)
                .all(&self.db)
                .await?;
            let mut stepped = false;
            for deletion in &pending {
                match self.step(deletion.tenant_id).await? {
                    Step::Detached(_) | Step::TermsForgotten(_) => stepped = true,
                    Step::Deleted { events_detached } => {
                        tracing::info!(
                            tenant = %deletion.tenant_id,
                            events_detached,
                            "tenant deleted"
                        );
                        finished += 1;
                    }
                    Step::Elsewhere => {}
                }
            }
            if !stepped {
                return Ok(finished);
            }
            if reported.elapsed() >= REPORT_EVERY {
                for deletion in &pending {
                    tracing::info!(
                        tenant = %deletion.tenant_id,
                        cleared = deletion.events_detached,
                        "tenant deletion: clearing its events"
                    );
                }
                reported = Instant::now();
            }
        }
    }

    /// One transaction of the deletion of `tenant`: clears up to a batch of its events; when
    /// none is left, deletes up to ten times as many of its metadata terms; when none of those
    /// is left either, deletes the tenant and records `tenant.deleted`.
    pub async fn step(&self, tenant: Uuid) -> Result<Step, ApiError> {
        let txn = self.db.begin().await?;
        let Some(deletion) = TenantDeletions::find_by_id(tenant)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .one(&txn)
            .await?
        else {
            return Ok(Step::Elsewhere);
        };
        let detached = txn
            .execute_raw(per_tenant(DETACH, tenant, self.settings.batch_events))
            .await?
            .rows_affected();
        if detached > 0 {
            let count = i64::try_from(detached).unwrap_or(i64::MAX);
            TenantDeletions::update_many()
                .col_expr(
                    tenant_deletions::Column::EventsDetached,
                    Expr::col(tenant_deletions::Column::EventsDetached).add(count),
                )
                .filter(tenant_deletions::Column::TenantId.eq(tenant))
                .exec(&txn)
                .await?;
            txn.commit().await?;
            self.events_cleared.fetch_add(detached, Ordering::Relaxed);
            return Ok(Step::Detached(detached));
        }
        let terms = self.settings.batch_events.saturating_mul(TERMS_PER_EVENT);
        let forgotten = txn
            .execute_raw(per_tenant(FORGET_TERMS, tenant, terms))
            .await?
            .rows_affected();
        if forgotten > 0 {
            txn.commit().await?;
            return Ok(Step::TermsForgotten(forgotten));
        }
        let Some(row) = Tenants::find_by_id(tenant)
            .lock_exclusive()
            .one(&txn)
            .await?
        else {
            return Ok(Step::Elsewhere);
        };
        // The tenant's projects, keys, entitlements, identity providers and this deletion go
        // with it; an event published for it since the last batch is cleared here. The foreign
        // keys' lookups walk the index entries the batches left behind until a vacuum removes
        // them: a statement longer than a request's (see FINAL_STATEMENT_TIMEOUT).
        txn.execute_unprepared(FINAL_STATEMENT_TIMEOUT).await?;
        Tenants::delete_by_id(tenant).exec(&txn).await?;
        let mut change = Change::of("tenant.deleted", "d", &row, snapshot(&row), json!({}));
        change.tenant_id = None;
        change.reason = deletion.reason.clone();
        record_as(
            &txn,
            deletion.requested_by_key_id,
            &deletion.requested_by_key_name,
            &RequestMeta::default(),
            change,
        )
        .await?;
        txn.commit().await?;
        self.tenants_deleted.fetch_add(1, Ordering::Relaxed);
        Ok(Step::Deleted {
            events_detached: deletion.events_detached,
        })
    }
}

/// `sql` with `$1` the tenant and `$2` a number of rows.
pub(super) fn per_tenant(sql: &str, tenant: Uuid, rows: u64) -> Statement {
    let rows = i64::try_from(rows).unwrap_or(i64::MAX);
    Statement::from_sql_and_values(DbBackend::Postgres, sql, [tenant.into(), rows.into()])
}
