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

use clap::{Parser, Subcommand};

use crate::config::ServeConfig;
use crate::http::{HttpSettings, MAX_BODY_BYTES};
use crate::startup::{Application, connect};
use registry::ApiError;

/// The tenant-registry server: tenants, entitlements, SSO settings, API keys, and one audit
/// log shared by every product, over GraphQL.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    serve: ServeConfig,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Serve the API (the default). With DATABASE_URL unset: dev mode.
    Serve(ServeConfig),
    /// Issue an API key and print it, alone on one line, once. Uses DATABASE_URL, or the dev
    /// cluster when unset. The only way to mint a key with the `platform` scope.
    IssueKey {
        /// The slug of the tenant the key belongs to.
        #[arg(long)]
        tenant: String,
        /// A name for the key, unique within the tenant.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: tenants:read, tenants:write, keys:write, keys:verify,
        /// audit:read, audit:write, platform.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Confine the key to one product.
        #[arg(long)]
        product: Option<String>,
        /// The key stops working this long from now (90d, 12h, 1y); without it, never.
        #[arg(long, value_parser = crate::config::parse_duration)]
        expires_in: Option<chrono::Duration>,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Verify the whole audit log: recompute every sealed event's leaf from its row, rebuild the
    /// tree, check every checkpoint's root and signature and their chain, and account for
    /// every event. Exits 0 with counts, or 1 naming the first event or checkpoint that
    /// differs. Uses DATABASE_URL, or the dev cluster.
    VerifyLog {
        /// Start from the checkpoint of this size (its signature checked, the tree before it
        /// taken as stored) instead of from the first event.
        #[arg(long, value_name = "SIZE")]
        from_checkpoint: Option<u64>,
        /// The public key to check signatures with (SPKI PEM, as `/.well-known/audit-log-key`
        /// serves it). Unset: the public half of --signing-key, or dev mode's key.
        #[arg(long, value_name = "PATH")]
        public_key: Option<std::path::PathBuf>,
        /// A checkpoint known from outside the database, as a file holding its note (the
        /// sealer's witness file, or a checkpoint's `note` an auditor kept, from
        /// `auditCheckpoint` or an export's manifest): the log's root at its size must be its
        /// root. Repeatable. Unset: the server's witness file (beside --signing-key, or
        /// --seal-witness), when there is one.
        #[arg(long, value_name = "PATH")]
        witness: Vec<std::path::PathBuf>,
    },
    /// Check an export of the audit log (`GET /v1/audit/export`) offline: the manifest's
    /// signature, that the rows are the ones the server wrote (count, order, bytes), the
    /// checkpoint's signature, and that every row is in the signed log unchanged. Reads plain
    /// or gzip files (`-` for stdin). Exits 0 with counts, or 1 saying what is wrong. Needs no
    /// database.
    VerifyExport {
        /// The export (NDJSON or CSV, as the server wrote it, gzip or not).
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
        /// The log's public key (SPKI PEM, what `/.well-known/audit-log-key` serves).
        #[arg(long, value_name = "PATH")]
        public_key: std::path::PathBuf,
    },
    /// The key that signs the audit log's checkpoints: print its public half, or make one.
    SigningKey {
        /// Print the public key (SPKI PEM, as `/.well-known/audit-log-key` serves it) of
        /// --signing-key PATH, or of dev mode's key when that is unset.
        #[arg(
            long,
            conflicts_with = "generate",
            required_unless_present = "generate"
        )]
        public: bool,
        /// Write a new key (PKCS#8 PEM, readable by its owner only) to PATH and print its
        /// public half; an existing file is never replaced.
        #[arg(long, value_name = "PATH")]
        generate: Option<std::path::PathBuf>,
        /// The key whose public half to print (unset: dev mode's, made if missing).
        #[arg(long = "signing-key", env = "API_SIGNING_KEY", value_name = "PATH")]
        key: Option<std::path::PathBuf>,
    },
    /// The tenant lifecycle's clock, for operators who run it from cron instead of the
    /// server's own scheduler.
    #[command(subcommand)]
    Lifecycle(LifecycleCmd),
}

/// `api lifecycle ...`.
#[derive(Debug, Subcommand)]
pub enum LifecycleCmd {
    /// Move every tenant that is due (expired trials to FROZEN, frozen past the grace to
    /// ARCHIVED) once, print what moved, and exit. Uses DATABASE_URL, or the dev cluster.
    Run,
}

/// Runs the command `cli` asks for.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Cmd::Schema) => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Some(Cmd::IssueKey {
            tenant,
            name,
            scopes,
            product,
            expires_in,
        }) => issue(cli.serve, tenant, name, scopes, product, expires_in).await,
        Some(Cmd::Lifecycle(LifecycleCmd::Run)) => lifecycle_run(cli.serve).await,
        Some(Cmd::SigningKey { generate, key, .. }) => signing_key(&cli.serve, generate, key),
        Some(Cmd::VerifyLog {
            from_checkpoint,
            public_key,
            witness,
        }) => verify_log(cli.serve, from_checkpoint, public_key, witness).await,
        Some(Cmd::VerifyExport { file, public_key }) => verify_export(&file, &public_key),
        Some(Cmd::Serve(config)) => serve(config).await,
        None => serve(cli.serve).await,
    }
}

/// `api serve`: dev mode when `DATABASE_URL` is unset; until SIGTERM or Ctrl-C.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    // Before anything starts: a missing or unreadable signing key is the operator's to fix.
    let seal = config.seal()?;
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
        max_exports: config.max_exports.max(1),
    };
    let app = Application::build(db, config.settings(settings, seal))
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

/// `api signing-key`: prints the public half of the log's signing key, after making one at
/// `generate` when asked.
fn signing_key(
    config: &ServeConfig,
    generate: Option<std::path::PathBuf>,
    key: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    use registry::evidence::signing::LogKey;
    let key = match (generate, key.or_else(|| config.signing_key.clone())) {
        (Some(path), _) => {
            let key = LogKey::generate();
            key.save(&path)?;
            eprintln!(
                "wrote a new signing key to {}; start the server with --signing-key {}",
                path.display(),
                path.display()
            );
            key
        }
        (None, Some(path)) => LogKey::load(&path)?,
        (None, None) if config.dev_mode() => {
            // Dev mode's key, made now if the dev server has not made it yet.
            let path = config
                .signing_key_path()
                .context("dev mode has no key path")?;
            LogKey::load_or_create(&path)?
        }
        (None, None) => anyhow::bail!(
            "no key to show: give --signing-key PATH (or make one with --generate PATH)"
        ),
    };
    print!("{}", key.public_pem());
    Ok(())
}

/// The public key in the SPKI PEM file `path`.
fn read_public_key(path: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    registry::evidence::signing::parse_public_pem(&text).with_context(|| {
        format!(
            "{} is not an Ed25519 public key in PEM (what /.well-known/audit-log-key serves)",
            path.display()
        )
    })
}

/// `api verify-export`: [`registry::evidence::export::verify_export`] on a file (gzip or not),
/// with progress on stderr.
fn verify_export(file: &std::path::Path, public_key: &std::path::Path) -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader, Read};
    let public = read_public_key(public_key)?;
    let input: Box<dyn Read> = if file == std::path::Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?)
    };
    let mut input = BufReader::with_capacity(256 * 1024, input);
    let gzip = input.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let input: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::bufread::MultiGzDecoder::new(input),
        ))
    } else {
        Box::new(input)
    };
    let started = std::time::Instant::now();
    let report = registry::evidence::export::verify_export(input, &public, |rows| {
        eprintln!("  {rows} rows read");
    });
    match report {
        Ok(r) => {
            println!(
                "the export verifies: {} {} rows, every one in the audit log as signed at \
                 checkpoint {} and in the order the server wrote them; filter {}; exported at {} \
                 (audit event {}); {} matching events were not sealed yet and are not in it; {:.1} s",
                r.rows,
                r.format,
                r.checkpoint_size,
                r.filter,
                r.exported_at,
                r.export_event,
                r.not_sealed,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Err(problem) => anyhow::bail!("the export does NOT verify: {problem}"),
    }
}

/// `api verify-log`: [`registry::evidence::verify::verify_log`], with progress on stderr.
async fn verify_log(
    config: ServeConfig,
    from: Option<u64>,
    public_key: Option<std::path::PathBuf>,
    witnesses: Vec<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let witnesses = if witnesses.is_empty() {
        config
            .seal_witness_path()
            .filter(|path| path.exists())
            .into_iter()
            .collect()
    } else {
        witnesses
    };
    let mut known = Vec::new();
    for path in &witnesses {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        known.push(
            registry::evidence::seal::parse_note(&text).with_context(|| {
                format!(
                    "{}: not a checkpoint's note (five lines: the log's name, size, root, time, \
                 previous size)",
                    path.display()
                )
            })?,
        );
        eprintln!("checking against the checkpoint in {}", path.display());
    }
    use registry::evidence::signing::LogKey;
    let public = match public_key {
        Some(path) => read_public_key(&path)?,
        None => {
            let path = config.signing_key_path().context(
                "give the public key to check with: --public-key PATH (what \
                 /.well-known/audit-log-key serves)",
            )?;
            LogKey::load(&path)?.public_bytes()
        }
    };
    let (db, _cluster) = tool_db(&config).await?;
    let started = std::time::Instant::now();
    let mut last = std::time::Instant::now();
    // One snapshot for the whole run: leaves and checkpoints the sealer writes meanwhile are
    // not half seen (a checkpoint read after its leaves were not would read as tampering).
    let snapshot = sea_orm::TransactionTrait::begin_with_config(
        &db,
        Some(sea_orm::IsolationLevel::RepeatableRead),
        Some(sea_orm::AccessMode::ReadOnly),
    )
    .await?;
    let result = registry::evidence::verify::verify_log_against(
        &snapshot,
        &public,
        from,
        &known,
        |leaves| {
            if last.elapsed() >= Duration::from_secs(1) {
                eprintln!(
                    "  {leaves} leaves verified ({:.0} a second)",
                    leaves as f64 / started.elapsed().as_secs_f64()
                );
                last = std::time::Instant::now();
            }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.message()))?;
    match result {
        Ok(report) => {
            println!(
                "the audit log verifies: {} leaves ({} of them pruned on purpose), {} checkpoints; \
                 {} events not sealed yet; {:.1} s",
                report.leaves,
                report.pruned,
                report.checkpoints,
                report.pending,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Err(problem) => anyhow::bail!("the audit log does NOT verify: {problem}"),
    }
}

/// The database a command-line tool works on: `DATABASE_URL`, or the dev cluster (started
/// for the command and stopped with it when it was not running).
async fn tool_db(
    config: &ServeConfig,
) -> anyhow::Result<(sea_orm::DatabaseConnection, Option<localpg::Cluster>)> {
    Ok(if config.dev_mode() {
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
    })
}

/// `api lifecycle run`: one pass of the lifecycle's clock ([`registry::schedule`]).
pub async fn lifecycle_run(config: ServeConfig) -> anyhow::Result<()> {
    let (db, _cluster) = tool_db(&config).await?;
    let moved = registry::schedule::run_once(&db, &config.lifecycle(), None)
        .await
        .map_err(|e| anyhow::anyhow!(e.message()))?;
    println!(
        "{} expired trial(s) frozen, {} tenant(s) past the frozen grace archived",
        moved.trials_frozen, moved.archived
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
    expires_in: Option<chrono::Duration>,
) -> anyhow::Result<()> {
    let (db, _cluster) = tool_db(&config).await?;
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
            expires_at: expires_in.map(|d| chrono::Utc::now() + d),
        },
    )
    .await
    .map_err(|e| match e {
        ApiError::Conflict { field: None, .. } => anyhow::anyhow!(
            "tenant {tenant:?} is being deleted (deleteTenant); no key can be issued for it"
        ),
        other => anyhow::anyhow!(other.message()),
    })?;
    let expiry = issued.record.expires_at.map_or_else(
        || "no expiry".to_owned(),
        |t| format!("expires {}", t.to_utc().format("%Y-%m-%dT%H:%M:%SZ")),
    );
    eprintln!(
        "issued key {} ({}) for {tenant} with scopes {}, {expiry}; it is shown once:",
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
