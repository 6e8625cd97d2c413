//! Building the server from settings and a database, binding it (port 0 works, for tests),
//! and running it until stopped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::graphql::{Limits, build_schema};
use crate::http::HttpSettings;
use crate::http::server::Bound;
use crate::reads::{PlanCache, ReadConnections};
use crate::state::AppState;
use crate::validated::{self, ValidatedRequests};
use registry::auth::{AuthSettings, Authenticator};
use registry::deletions::{DeletionSettings, Deletions};
use registry::evidence::seal::SealSettings;
use registry::lifecycle::LifecycleSettings;
use registry::outbound::{Outbound, OutboundSettings};

/// A bound, not yet running, server.
#[derive(Debug)]
pub struct Application {
    bound: Bound,
    state: AppState,
    /// The listener of key notices ([`registry::auth::listener`]), running from the build
    /// until the application is dropped.
    _listener: AbortOnDrop,
}

/// A task stopped when its handle goes.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long the build waits for the key notices' listener before serving without the key
/// cache (every request then reads its key from the database until the listener is up).
const LISTENER_WAIT: Duration = Duration::from_secs(5);

/// Everything the server is built from but its database.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen (port 0: any free port).
    pub bind: SocketAddr,
    /// The HTTP layer's settings.
    pub http: HttpSettings,
    /// How keys are checked and failures limited.
    pub auth: AuthSettings,
    /// Bounds on GraphQL operations.
    pub limits: Limits,
    /// Tenant deletions in stages.
    pub deletions: DeletionSettings,
    /// Exceptions to the outbound client's rules.
    pub outbound: OutboundSettings,
    /// The lifecycle's lengths.
    pub lifecycle: LifecycleSettings,
    /// The audit log's sealer.
    pub seal: SealSettings,
}

impl Default for Settings {
    /// Every default, on `127.0.0.1` and a free port.
    fn default() -> Settings {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: HttpSettings::default(),
            auth: AuthSettings::default(),
            limits: Limits::default(),
            deletions: DeletionSettings::default(),
            outbound: OutboundSettings::default(),
            lifecycle: LifecycleSettings::default(),
            seal: SealSettings::default(),
        }
    }
}

impl Application {
    /// Binds `settings.bind` and prepares the routes over `db`, and the worker of tenant
    /// deletions in stages (it runs while the server does). Starts listening for key notices
    /// first (waiting up to 5 s for it), so that the key cache is in use from the first request.
    pub async fn build(db: DatabaseConnection, settings: Settings) -> std::io::Result<Application> {
        let Settings {
            bind,
            http,
            auth,
            limits,
            deletions,
            outbound,
            lifecycle,
            seal,
        } = settings;
        let state = AppState {
            exports: Arc::new(tokio::sync::Semaphore::new(http.max_exports.max(1))),
            deletions: Arc::new(Deletions::new(db.clone(), deletions)),
            auth: Arc::new(Authenticator::new(db.clone(), auth)),
            reads: Arc::new(ReadConnections::like_pool(&db)),
            validated: Arc::new(ValidatedRequests::new(validated::CAPACITY)),
            metrics: Arc::default(),
            tenant_sizes: Arc::default(),
            outbound: Arc::new(Outbound::new(outbound)),
            lifecycle,
            seal,
            db,
        };
        let schemas = (
            build_schema(state.clone(), limits),
            crate::retraced::search::build_schema(limits),
        );
        let listener = tokio::spawn(registry::auth::listener::listen(
            state.db.clone(),
            state.auth.clone(),
        ));
        if !state.auth.wait_listening(LISTENER_WAIT).await {
            tracing::warn!(
                "not yet listening for key notices; serving without the key cache until then"
            );
        }
        let bound = Bound::bind(bind, schemas, state.clone(), http).await?;
        Ok(Application {
            bound,
            state,
            _listener: AbortOnDrop(listener),
        })
    }

    /// The address actually bound (the port is chosen when binding port 0).
    pub fn address(&self) -> SocketAddr {
        self.bound.address()
    }

    /// The shared state (tests use it to reach the authenticator and the pool).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the process is stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let worker = tokio::spawn(self.state.deletions.clone().run());
        let clock = tokio::spawn(lifecycle_clock(self.state.clone()));
        let sealer = tokio::spawn(sealer(self.state.clone()));
        let served = self.bound.serve(None, Duration::ZERO).await;
        worker.abort();
        clock.abort();
        sealer.abort();
        served
    }

    /// Serves until `signal` completes, then lets in-flight requests finish (up to `grace`).
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send,
        grace: Duration,
    ) -> std::io::Result<()> {
        // Stopping the worker mid-batch rolls that batch back; the next start finishes it.
        let worker = tokio::spawn(self.state.deletions.clone().run());
        let clock = tokio::spawn(lifecycle_clock(self.state.clone()));
        let sealer = tokio::spawn(sealer(self.state.clone()));
        let served = self.bound.serve(Some(Box::pin(signal)), grace).await;
        worker.abort();
        clock.abort();
        sealer.abort();
        served
    }
}

/// The audit log's sealer: everything new sealed at start and every `state.seal.every` (none
/// when sealing is off). A failed pass is logged and tried again at the next tick; a pass
/// stopped midway rolls back whole.
async fn sealer(state: AppState) {
    let (Some(every), Some(key)) = (state.seal.every, state.seal.key.clone()) else {
        return;
    };
    loop {
        match registry::evidence::seal::seal_all_witnessed(
            &state.db,
            &key,
            state.seal.batch,
            &state.seal.witness,
        )
        .await
        {
            Ok(0) => {}
            Ok(sealed) => {
                tracing::debug!(sealed, "audit log sealed");
                state.metrics.sealed(sealed);
            }
            Err(e @ registry::ApiError::Conflict { .. }) => {
                tracing::error!(error = %e, "the audit log was changed behind the sealer's back")
            }
            Err(e) => tracing::warn!(error = %e, detail = ?e, "sealing the audit log failed"),
        }
        tokio::time::sleep(every).await;
    }
}

/// The lifecycle's clock: a pass at start, then one every `state.lifecycle.every` (none when
/// it is off). A failed pass is logged and tried again at the next tick; a pass stopped midway
/// rolls back the tenant it was moving, which the next pass moves.
async fn lifecycle_clock(state: AppState) {
    let Some(every) = state.lifecycle.every else {
        return;
    };
    loop {
        match registry::schedule::run_once(&state.db, &state.lifecycle, Some(&state.auth)).await {
            Ok(moved) => {
                if moved != registry::schedule::Moved::default() {
                    tracing::info!(
                        trials_frozen = moved.trials_frozen,
                        archived = moved.archived,
                        "lifecycle: tenants moved on"
                    );
                }
                state.metrics.lifecycle_moved(moved);
            }
            Err(e) => tracing::warn!(error = %e, detail = ?e, "lifecycle pass failed"),
        }
        if let Some(at) = state.lifecycle.demo_reset_at {
            match crate::demo_reset::reset_if_due(&state.db, at, chrono::Utc::now()).await {
                Ok(true) => {
                    tracing::info!("demo tenants reset");
                    state.metrics.demo_reset();
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, detail = ?e, "demo reset failed"),
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Planner settings of every server session. The benchmark's floor (pgbench) and the plan tests
/// apply the same, so that they measure the plans the server gets.
///
/// - `plan_cache_mode = force_custom_plan`: the server's statements are prepared, and after five
///   executions PostgreSQL may switch to a generic plan, chosen without the parameter values,
///   which for a skewed audit log (one tenant with 15% of the rows, most with a few thousand)
///   can be the wrong index or a scan. Planning these statements costs well under a millisecond.
///   Lookups by a unique key ask the read path for a kept generic plan instead
///   ([`PlanCache::Generic`]).
/// - `random_page_cost = 1.1`: the audit log's working set is in memory or on SSD; at the default
///   (4, for spinning disks) the planner prefers walking the time-ordered index of *all* tenants
///   and filtering, because it is correlated with the heap, over the tenant's own index.
/// - `jit = off`: PostgreSQL cannot cancel a statement while LLVM compiles it, so a costly plan
///   (a search of a thousand negated words) ran minutes past `statement_timeout`, and
///   `pg_cancel_backend` had no effect. The server's statements are index descents whose plans
///   stay under the JIT's cost threshold when they are fast, so none is slower without it
///   (docs/performance.md, "JIT").
pub const SESSION_SETTINGS: [(&str, &str); 3] = [
    ("plan_cache_mode", SESSION_PLAN_CACHE_MODE),
    ("random_page_cost", "1.1"),
    ("jit", "off"),
];

/// `plan_cache_mode` in [`SESSION_SETTINGS`].
const SESSION_PLAN_CACHE_MODE: &str = "force_custom_plan";

/// The `plan_cache_mode` of a server session running statements planned as `plans` says.
pub fn plan_cache_mode(plans: PlanCache) -> &'static str {
    plans.setting(SESSION_PLAN_CACHE_MODE)
}

/// The settings of a session running statements planned as `plans` says ([`SESSION_SETTINGS`],
/// with [`plan_cache_mode`]): the benchmark's floor and the plan tests use them.
pub fn session_settings(plans: PlanCache) -> [(&'static str, &'static str); 3] {
    SESSION_SETTINGS.map(|(name, value)| match name {
        "plan_cache_mode" => (name, plan_cache_mode(plans)),
        _ => (name, value),
    })
}

/// A connection pool of `size` connections to `url`, each with `statement_timeout` set so that
/// no statement can hold a connection (and a request) for longer.
pub async fn connect(
    url: &str,
    size: u32,
    statement_timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let timeout = format!("{}ms", statement_timeout.as_millis().max(1));
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(size.max(1))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        // A ping on every checkout is a round trip per statement (a fifth of a page request's
        // cost); ping only connections idle long enough for a proxy or firewall to have cut
        // them. A connection the database dropped (restart, terminated backend) fails its
        // statement with UNAVAILABLE and is replaced.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(move |o| {
            o.options([("statement_timeout", timeout.as_str())])
                .options(SESSION_SETTINGS)
        });
    Database::connect(options).await
}

/// Applies pending migrations over a connection of its own, without the server's statement
/// timeout: building an index on a large table may rightly take longer.
pub async fn migrate(url: &str) -> Result<(), DbErr> {
    use migration::MigratorTrait as _;
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await?;
    migration::Migrator::up(&db, None).await?;
    db.close().await
}
