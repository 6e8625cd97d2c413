//! What the `api` binary's commands do, for `main.rs` to call once it has parsed the flags:
//! serving (dev mode or production, with the figures printed at shutdown) and issuing a key.
//! The errors are `anyhow`'s: these are the edge, where a person reads them.

use std::time::Duration;

use anyhow::{Context as _, bail};
use entity::prelude::Tenants;
use entity::tenants;
use migration::{Migrator, MigratorTrait};
use registry::keys::{Issuer, NewKey};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::config::ServeConfig;
use crate::http::{HttpSettings, MAX_BODY_BYTES};
use crate::startup::{Application, connect};
use registry::ApiError;

/// `api serve`: dev mode when `DATABASE_URL` is unset; until SIGTERM or Ctrl-C.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let (db, playground_key, _cluster) = if config.dev_mode() {
        let dev = crate::dev::prepare(config.pool_size, config.statement_timeout())
            .await
            .context("preparing dev mode")?;
        if let Some(demo) = &dev.demo {
            eprintln!(
                "seeded the demo platform: {} tenants, {} audit events",
                demo.created.len(),
                demo.events
            );
        }
        (
            dev.db,
            Some(dev.operator_key.expose().to_owned()),
            Some(dev.cluster),
        )
    } else {
        let url = config.database_url.clone().unwrap_or_default();
        if config.migrate {
            crate::startup::migrate(&url)
                .await
                .context("applying migrations")?;
        }
        let db = connect(&url, config.pool_size, config.statement_timeout())
            .await
            .context("connecting to DATABASE_URL")?;
        if !config.migrate {
            let pending = Migrator::get_pending_migrations(&db).await?.len();
            if pending > 0 {
                bail!(
                    "the database has {pending} pending migration(s): start with --migrate, or run `cargo run -p migration -- up`"
                );
            }
        }
        (db, None, None)
    };
    let settings = HttpSettings {
        playground: config.playground(),
        playground_key: playground_key.clone(),
        request_timeout: config.request_timeout(),
        max_body_bytes: MAX_BODY_BYTES,
        trust_request_id: config.trust_request_id,
    };
    let app = Application::build(db, config.settings(settings))
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let base = format!("http://{}", app.address());
    eprintln!("tenant-registry listening on {base}  (GraphQL: {base}/graphql)");
    if config.playground() {
        eprintln!("playground: {base}/");
    }
    if let Some(key) = &playground_key {
        eprintln!(
            "dev mode: local operator key (all scopes; new each start, already filled into the playground):"
        );
        println!("{key}");
    }
    let state = app.state().clone();
    app.run_until(shutdown_signal(), Duration::from_secs(10))
        .await?;
    let read_connections = state.reads.open();
    state.reads.close().await;
    let stats = state.auth.stats();
    let lookups = (stats.cache_hits + stats.cache_misses).max(1);
    let (responses, with_errors) = state.metrics.graphql_responses();
    eprintln!(
        "stopped; {with_errors} of {responses} GraphQL responses carried errors; key checks: {} from the cache ({:.1}% hit rate), {} from the database, {} argon2 runs, {} refused by the failure limits; validation verdicts reused {} times; {} read connections closed",
        stats.cache_hits,
        100.0 * stats.cache_hits as f64 / lookups as f64,
        stats.cache_misses,
        stats.argon2_runs,
        stats.rate_limited,
        state.validated.reused(),
        read_connections
    );
    Ok(())
}

/// `api issue-key`: issues a key for the tenant `tenant` (by slug) and prints it once.
pub async fn issue(
    config: ServeConfig,
    tenant: String,
    name: String,
    scopes: Vec<String>,
    product: Option<String>,
) -> anyhow::Result<()> {
    let (db, _cluster) = if config.dev_mode() {
        let cluster = localpg::Cluster::persistent(
            &localpg::ClusterRoot::workspace_default(),
            crate::dev::CLUSTER,
            localpg::Lifetime::StopWithProcess,
        )?;
        (
            connect(&cluster.url("postgres"), 2, config.statement_timeout()).await?,
            Some(cluster),
        )
    } else {
        (
            connect(
                config.database_url.as_deref().unwrap_or_default(),
                2,
                config.statement_timeout(),
            )
            .await?,
            None,
        )
    };
    let owner = Tenants::find()
        .filter(tenants::Column::Slug.eq(&tenant))
        .one(&db)
        .await?
        .with_context(|| {
            format!(
                "no tenant with slug {tenant:?} in this database; create it first (the \
                 createTenant mutation), or check DATABASE_URL"
            )
        })?;
    // The same operation as `issueApiKey`, as the operator at this console.
    let issued = registry::keys::issue(
        &db,
        Issuer::Operator("api issue-key"),
        NewKey {
            tenant_id: owner.id,
            name,
            scopes,
            product,
        },
    )
    .await
    .map_err(|e| match e {
        ApiError::Conflict { field: None, .. } => anyhow::anyhow!(
            "tenant {tenant:?} is being deleted (deleteTenant); no key can be issued for it"
        ),
        other => anyhow::anyhow!(other.message()),
    })?;
    eprintln!(
        "issued key {} ({}) for {tenant} with scopes {}; it is shown once:",
        issued.record.name,
        issued.record.prefix,
        issued.record.scopes.join(",")
    );
    println!("{}", issued.plaintext.expose());
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    eprintln!("shutting down: finishing requests in flight");
}
