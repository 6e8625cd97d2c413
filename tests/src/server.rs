//! The PostgreSQL server of this test run and its migrated template database, set up once.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use localpg::{Cluster, ClusterRoot};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};

/// Databases this harness creates start with this; stale ones (from killed runs against a shared
/// `DATABASE_URL` server) are dropped after [`STALE_AFTER`].
pub const DB_PREFIX: &str = "tr_";
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// The server of this run.
#[derive(Debug)]
pub struct Server {
    admin_url: url::Url,
    template: String,
    /// Kept alive for the whole run; its watchdog stops it when the process exits.
    cluster: Option<Cluster>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The server of this run, started (and its template migrated) on first use.
///
/// Panics with the reason (and what to do) when no PostgreSQL can be had: a test suite that
/// cannot reach a database must fail, never pass.
pub fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        // A thread of its own with a runtime of its own: the caller may be inside a
        // single-threaded test runtime that must not be blocked on, nor own the connections.
        let setup = std::thread::spawn(Server::start)
            .join()
            .unwrap_or_else(|_| Err("the database setup thread panicked".to_owned()));
        setup.unwrap_or_else(|e| panic!("no PostgreSQL for the tests: {e}"))
    })
}

impl Server {
    fn start() -> Result<Server, String> {
        let (cluster, admin_url) = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => (None, url),
            _ => {
                let cluster = Cluster::throwaway(&ClusterRoot::workspace_default())
                    .map_err(|e| e.to_string())?;
                let url = cluster.url("postgres");
                (Some(cluster), url)
            }
        };
        let admin_url =
            url::Url::parse(&admin_url).map_err(|e| format!("DATABASE_URL is not a URL: {e}"))?;
        let template = unique_name("template");
        let server = Server {
            admin_url,
            template,
            cluster,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(server.prepare_template())
            .map_err(|e| format!("preparing the template database: {e}"))?;
        Ok(server)
    }

    async fn prepare_template(&self) -> Result<(), DbErr> {
        let admin = connect(self.admin_url.as_str()).await?;
        if self.cluster.is_none() {
            drop_stale_databases(&admin).await?;
        }
        admin
            .execute_unprepared(&format!("CREATE DATABASE {}", self.template))
            .await?;
        let db = connect(&self.url_for(&self.template)).await?;
        Migrator::up(&db, None).await?;
        db.close().await?;
        admin.close().await
    }

    /// A URL for `database` on this server, with the admin URL's credentials and options.
    pub fn url_for(&self, database: &str) -> String {
        let mut url = self.admin_url.clone();
        url.set_path(database);
        url.to_string()
    }

    /// The URL of the maintenance database, for creating and dropping databases.
    pub fn admin_url(&self) -> &str {
        self.admin_url.as_str()
    }

    /// The database every migrated test database is cloned from.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The throwaway cluster of this run, when `DATABASE_URL` is unset.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }
}

/// Connects with a small pool and without per-statement logging.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(5)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    Database::connect(options).await
}

/// `tr_<kind>_<unix seconds>_<pid>_<n>`: unique on a shared server, and old ones recognisable.
pub fn unique_name(kind: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "{DB_PREFIX}{kind}_{}_{}_{n}",
        unix_seconds(),
        std::process::id()
    )
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// On a shared server, drops databases of earlier runs that are older than [`STALE_AFTER`].
async fn drop_stale_databases(admin: &DatabaseConnection) -> Result<(), DbErr> {
    let rows = admin
        .query_all_raw(sea_orm::Statement::from_string(
            admin.get_database_backend(),
            format!("SELECT datname FROM pg_database WHERE datname LIKE '{DB_PREFIX}%'"),
        ))
        .await?;
    let cutoff = unix_seconds().saturating_sub(STALE_AFTER.as_secs());
    for row in rows {
        let name: String = row.try_get_by_index(0)?;
        let created = name.split('_').nth(2).and_then(|s| s.parse::<u64>().ok());
        if created.is_some_and(|t| t < cutoff) {
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await?;
        }
    }
    Ok(())
}
