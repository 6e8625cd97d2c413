//! Connections of the read path's own, for its single statements (audit pages, counts and
//! events, entitlements, tenant lookups, Retraced searches), without the pool's round trip
//! after each one.
//!
//! sqlx tests every connection taken back into its pool with a round trip (a `Sync`, then
//! waiting for `ReadyForQuery`) and has no setting to skip it. For a request that runs one
//! statement that is a second wake-up of the database per request: a fifth of the database's
//! CPU per entitlement request (docs/performance.md). A statement run here goes on a connection
//! kept in [`ReadConnections`], which takes it back only when the statement completed, so the
//! connection is at `ReadyForQuery` with nothing to test. A statement that failed, or whose
//! request was dropped midway, closes its connection instead.
//!
//! Connections are opened on demand with the pool's own options (statement timeout and planner
//! settings included), up to a limit; when all are busy the statement runs on the pool.
//! A connection idle for longer than [`PING_IF_IDLE_FOR`] is tested before use, and one idle for
//! longer than [`IDLE_TIMEOUT`] is closed, as the pool does with its own.
//!
//! A lookup by a unique key (an entitlement, a tenant, an event by id) may ask for
//! [`PlanCache::Generic`]: it then runs on a connection set to
//! `plan_cache_mode = force_generic_plan`, so PostgreSQL plans it once per connection instead
//! of on every execution (planning was three quarters of an entitlement's cost in the database).
//! Each idle connection remembers its mode; a statement takes one in its own mode when there
//! is one, and otherwise switches another with one `SET` or `RESET`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, RuntimeErr, Statement,
    Values,
};
use sea_query_sqlx::SqlxValues;

mod plan_cache;
mod reader;

pub use plan_cache::PlanCache;
use plan_cache::switch;
pub use reader::Reader;

/// A connection idle for longer than this is tested before use (a proxy or firewall may have cut
/// it); the same threshold as the pool's (`crate::startup::connect`).
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// A connection idle for longer than this is closed (when another statement completes), as the
/// pool closes its own idle connections after sqlx's default ten minutes.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// How long opening one more read connection may take before the statement goes to the pool.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The read path's connections: idle ones, and how many are open in all.
pub struct ReadConnections {
    options: Option<PgConnectOptions>,
    idle: Mutex<Vec<Idle>>,
    open: AtomicUsize,
    limit: usize,
    idle_timeout: Duration,
}

impl std::fmt::Debug for ReadConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadConnections")
            .field("open", &self.open())
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

struct Idle {
    conn: PgConnection,
    since: Instant,
    plans: PlanCache,
}

impl ReadConnections {
    /// Up to `limit` connections opened with `db`'s options (none when `limit` is 0, or when
    /// `db` is not a PostgreSQL pool).
    pub fn new(db: &DatabaseConnection, limit: usize) -> ReadConnections {
        let options = match db.get_database_backend() {
            DbBackend::Postgres => Some(db.get_postgres_connection_pool().connect_options()),
            _ => None,
        };
        ReadConnections {
            options: options.map(|o| (*o).clone()),
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            limit,
            idle_timeout: IDLE_TIMEOUT,
        }
    }

    /// Closes idle connections after `timeout` instead of [`IDLE_TIMEOUT`].
    pub fn idle_timeout(mut self, timeout: Duration) -> ReadConnections {
        self.idle_timeout = timeout;
        self
    }

    /// Up to as many connections as `db`'s pool may open, opened when concurrent reads need them.
    pub fn like_pool(db: &DatabaseConnection) -> ReadConnections {
        let limit = match db.get_database_backend() {
            DbBackend::Postgres => db
                .get_postgres_connection_pool()
                .options()
                .get_max_connections() as usize,
            _ => 0,
        };
        ReadConnections::new(db, limit)
    }

    /// Connections open now (idle or running a statement).
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections open and idle now.
    pub fn idle(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Closes the idle connections (telling the server so); the server calls it when stopping.
    pub async fn close(&self) {
        let idle = match self.idle.lock() {
            Ok(mut idle) => std::mem::take(&mut *idle),
            Err(_) => return,
        };
        for entry in idle {
            self.open.fetch_sub(1, Ordering::Relaxed);
            let _ = entry.conn.close().await;
        }
    }

    /// The rows of `stmt`, on a read connection when one is free or can be opened, else on `db`.
    ///
    /// A connection taken from the idle list may have been cut since (the database restarted,
    /// the backend was terminated): a statement that fails for that reason is run once more on a
    /// new connection, which a read can always be.
    pub async fn query_all(
        &self,
        db: &DatabaseConnection,
        stmt: Statement,
    ) -> Result<Vec<QueryResult>, DbErr> {
        self.query_all_planned(db, stmt, PlanCache::Session).await
    }

    /// Like [`ReadConnections::query_all`], on a read connection in mode `plans` (on `db`, when
    /// no read connection is to be had, in the session's mode).
    pub async fn query_all_planned(
        &self,
        db: &DatabaseConnection,
        stmt: Statement,
        plans: PlanCache,
    ) -> Result<Vec<QueryResult>, DbErr> {
        let mut retried = false;
        loop {
            let Some(mut lease) = self.lease(plans, retried).await else {
                return db.query_all_raw(stmt).await;
            };
            match lease.fetch_all(&stmt).await {
                Ok(rows) => return Ok(rows),
                Err(error) if lease.reused && !retried && connection_lost(&error) => {
                    tracing::info!(%error, "a read connection was cut while idle; retrying on a new one");
                    retried = true;
                }
                Err(error) => return Err(DbErr::Query(RuntimeErr::SqlxError(error.into()))),
            }
        }
    }

    /// The idle connection used last of those in mode `plans`, else the one used last.
    fn take_idle(&self, plans: PlanCache) -> Option<Idle> {
        let mut idle = self.idle.lock().ok()?;
        match idle.iter().rposition(|e| e.plans == plans) {
            Some(i) => Some(idle.remove(i)),
            None => idle.pop(),
        }
    }

    /// A connection in mode `plans`: an idle one (tested if idle long, switched if in the other
    /// mode) unless `fresh`, else a new one while under the limit.
    ///
    /// From the moment a connection is taken or opened a [`Lease`] owns it: dropped unused (a
    /// failed check, or the request cancelled while waiting for one) it closes the connection
    /// and frees its place under the limit.
    async fn lease(&self, plans: PlanCache, fresh: bool) -> Option<Lease<'_>> {
        while let Some(entry) = if fresh { None } else { self.take_idle(plans) } {
            let mut lease = Lease::new(self, entry.conn, entry.plans, true);
            if entry.since.elapsed() >= PING_IF_IDLE_FOR && !lease.ping().await {
                continue;
            }
            if lease.switch(plans).await {
                return Some(lease);
            }
        }
        let options = self.options.as_ref()?;
        let place = Place::take(self)?;
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
            Ok(Ok(conn)) => {
                // A new connection is in the session's mode, as the pool's options set it.
                let mut lease = place.lease(conn, PlanCache::Session);
                lease.switch(plans).await.then_some(lease)
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                tracing::warn!(%error, "opening a read connection failed; using the pool");
                None
            }
        }
    }
}

/// A place under the limit, taken for a connection being opened: given back when dropped before
/// a [`Lease`] holds the connection (the opening failed, or the request was cancelled).
struct Place<'a> {
    owner: &'a ReadConnections,
    held: bool,
}

impl<'a> Place<'a> {
    fn take(owner: &'a ReadConnections) -> Option<Place<'a>> {
        owner
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < owner.limit).then_some(n + 1)
            })
            .ok()?;
        Some(Place { owner, held: true })
    }

    /// The lease of the connection opened for this place, which now counts it.
    fn lease(mut self, conn: PgConnection, plans: PlanCache) -> Lease<'a> {
        self.held = false;
        Lease::new(self.owner, conn, plans, false)
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.held {
            self.owner.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A connection out of [`ReadConnections`] for one statement: back to the idle list when the
/// statement completed, closed otherwise.
struct Lease<'a> {
    owner: &'a ReadConnections,
    conn: Option<PgConnection>,
    /// The connection's mode.
    plans: PlanCache,
    /// Taken from the idle list (not opened for this statement).
    reused: bool,
    completed: bool,
}

impl<'a> Lease<'a> {
    fn new(
        owner: &'a ReadConnections,
        conn: PgConnection,
        plans: PlanCache,
        reused: bool,
    ) -> Lease<'a> {
        Lease {
            owner,
            conn: Some(conn),
            plans,
            reused,
            completed: false,
        }
    }
}

impl Lease<'_> {
    /// Whether the connection answers.
    async fn ping(&mut self) -> bool {
        match self.conn.as_mut() {
            Some(conn) => conn.ping().await.is_ok(),
            None => false,
        }
    }

    /// Puts the connection into mode `plans` (nothing to do if it is in it); false if that
    /// failed, when the lease must be dropped unused.
    async fn switch(&mut self, plans: PlanCache) -> bool {
        if self.plans == plans {
            return true;
        }
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        if !switch(conn, plans).await {
            return false;
        }
        self.plans = plans;
        true
    }

    /// The rows of `stmt`. Only a statement that completes leaves the connection known to be at
    /// `ReadyForQuery`; a lease dropped before that (an error, or the request dropped while
    /// waiting) closes its connection.
    async fn fetch_all(&mut self, stmt: &Statement) -> Result<Vec<QueryResult>, sqlx::Error> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(sqlx::Error::Protocol(
                "the read connection was released".into(),
            ));
        };
        let values = stmt.values.clone().unwrap_or_else(|| Values(Vec::new()));
        let rows = sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
            .fetch_all(conn)
            .await?;
        self.completed = true;
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.completed
            && let Ok(mut idle) = self.owner.idle.lock()
        {
            idle.push(Idle {
                conn,
                since: Instant::now(),
                plans: self.plans,
            });
            // The list is used last-in first-out, so its first entry has been idle longest.
            if idle
                .first()
                .is_some_and(|e| e.since.elapsed() > self.owner.idle_timeout)
            {
                idle.remove(0);
                self.owner.open.fetch_sub(1, Ordering::Relaxed);
            }
            return;
        }
        // Dropping the connection closes its socket; the server ends the session.
        self.owner.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether `error` says the connection itself is gone (rather than the statement failing).
fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        // Class 57, operator intervention: the backend was terminated or the server is stopping.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("57P")),
        _ => false,
    }
}
