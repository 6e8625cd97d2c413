//! Every setting of the server, each a flag with an environment variable, read once at start.
//!
//! | flag | variable | default |
//! | --- | --- | --- |
//! | `--bind ADDR` | `API_BIND` | `127.0.0.1:8000` |
//! | (none) | `DATABASE_URL` | unset: dev mode |
//! | `--migrate` | `API_MIGRATE` | off (always on in dev mode) |
//! | `--playground` / `--no-playground` | `API_PLAYGROUND` | on in dev mode, off with `DATABASE_URL` |
//! | `--pool-size N` | `API_POOL_SIZE` | 10 (pooled connections; reads may open as many more) |
//! | `--request-timeout-secs N` | `API_REQUEST_TIMEOUT_SECS` | 30 |
//! | `--statement-timeout-secs N` | `API_STATEMENT_TIMEOUT_SECS` | 10 |
//! | `--argon2-concurrency N` | `API_ARGON2_CONCURRENCY` | 2 |
//! | `--auth-failures-per-address N` | `API_AUTH_FAILURES_PER_ADDRESS` | 30 a minute (0: no limit) |
//! | `--auth-failures-per-prefix N` | `API_AUTH_FAILURES_PER_PREFIX` | 10 a minute (0: no limit) |
//! | `--introspection` / `--no-introspection` | `API_INTROSPECTION` | on in dev mode, off with `DATABASE_URL` |
//! | `--max-depth N` | `API_MAX_DEPTH` | 12 |
//! | `--max-complexity N` | `API_MAX_COMPLEXITY` | 20000 (a list field costs `first` × its selection) |
//! | `--delete-inline-events N` | `API_DELETE_INLINE_EVENTS` | 5000 (more: the tenant is deleted in stages) |
//! | `--delete-batch-events N` | `API_DELETE_BATCH_EVENTS` | 5000 (events cleared per transaction of a deletion in stages) |
//! | `--outbound-allow HOST:PORT` (repeatable) | `API_OUTBOUND_ALLOW` (comma-separated) | none (a destination identity providers may be fetched at whatever its addresses, over http too) |
//! | `--outbound-allow-private` | `API_OUTBOUND_ALLOW_PRIVATE` | on in dev mode, off with `DATABASE_URL` (private and loopback addresses allowed) |
//! | `--seal-interval D` | `API_SEAL_INTERVAL` | `10s` (`1s`, `1m`, ...; `off`: no sealing) |
//! | `--signing-key PATH` | `API_SIGNING_KEY` | none (dev mode: one under target/pg; production needs one to seal) |
//! | `--max-exports N` | `API_MAX_EXPORTS` | `2` |
//! | `--seal-witness PATH` | `API_SEAL_WITNESS` | `<signing key>.checkpoint` (dev mode: in memory) |
//! | (none) | `RUST_LOG` | `info,sqlx=warn,sea_orm=warn` |

use std::net::SocketAddr;
use std::time::Duration;

/// Settings of `api serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "API_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,
    /// The PostgreSQL to serve. Unset: dev mode, with a local cluster under target/pg/dev, the
    /// demo tenants, a local operator key, and the playground with that key filled in.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Apply pending migrations before serving (dev mode always does).
    #[arg(long, env = "API_MIGRATE")]
    pub migrate: bool,
    /// Serve the GraphiQL playground at / (default: on in dev mode, off with DATABASE_URL).
    #[arg(long, env = "API_PLAYGROUND", overrides_with = "no_playground")]
    pub playground: bool,
    /// Do not serve the playground.
    #[arg(long, overrides_with = "playground")]
    pub no_playground: bool,
    /// Database connections in the pool. Single-statement reads (audit pages, entitlements,
    /// tenant lookups) may open as many more, on demand, so the server holds at most twice
    /// this many.
    #[arg(long, env = "API_POOL_SIZE", default_value_t = 10)]
    pub pool_size: u32,
    /// Longest a GraphQL request may run, in seconds.
    #[arg(long, env = "API_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Longest a single database statement may run, in seconds (PostgreSQL `statement_timeout`).
    #[arg(long, env = "API_STATEMENT_TIMEOUT_SECS", default_value_t = 10)]
    pub statement_timeout_secs: u64,
    /// How many argon2 key checks may run at once (each takes tens of ms of CPU).
    #[arg(long, env = "API_ARGON2_CONCURRENCY", default_value_t = 2)]
    pub argon2_concurrency: usize,
    /// Failed key checks a minute allowed from one client address before 429 (0: no limit).
    #[arg(long, env = "API_AUTH_FAILURES_PER_ADDRESS", default_value_t = 30)]
    pub auth_failures_per_address: u32,
    /// Failed key checks a minute allowed against one key prefix before 429 (0: no limit).
    #[arg(long, env = "API_AUTH_FAILURES_PER_PREFIX", default_value_t = 10)]
    pub auth_failures_per_prefix: u32,
    /// Answer introspection (`__schema`, `__type`); default: on in dev mode, off with DATABASE_URL.
    #[arg(long, env = "API_INTROSPECTION", overrides_with = "no_introspection")]
    pub introspection: bool,
    /// Do not answer introspection.
    #[arg(long, overrides_with = "introspection")]
    pub no_introspection: bool,
    /// Deepest selection nesting an operation may have.
    #[arg(long, env = "API_MAX_DEPTH", default_value_t = 12)]
    pub max_depth: usize,
    /// Highest complexity an operation may have (each field 1, a list field `first` × its selection).
    #[arg(long, env = "API_MAX_COMPLEXITY", default_value_t = 20_000)]
    pub max_complexity: usize,
    /// A tenant with at most this many audit events is deleted at once; one with more is
    /// deleted in stages, its events cleared in the background (see `deleteTenant`).
    #[arg(long, env = "API_DELETE_INLINE_EVENTS", default_value_t = 5_000)]
    pub delete_inline_events: u64,
    /// Audit events cleared per transaction of a deletion in stages.
    #[arg(long, env = "API_DELETE_BATCH_EVENTS", default_value_t = 5_000)]
    pub delete_batch_events: u64,
    /// A destination (HOST:PORT, as written in the URL) that user-supplied URLs (identity
    /// providers) may reach whatever its addresses, over plain http too: a local identity
    /// provider. Repeatable.
    #[arg(long, env = "API_OUTBOUND_ALLOW", value_delimiter = ',')]
    pub outbound_allow: Vec<registry::outbound::Destination>,
    /// Let user-supplied URLs reach private and loopback addresses (and plain http to them).
    /// On in dev mode; never on with DATABASE_URL unless given.
    #[arg(long, env = "API_OUTBOUND_ALLOW_PRIVATE")]
    pub outbound_allow_private: bool,
    /// A new trial's length in days, when `createTenant` gives no `trialEndsAt`.
    #[arg(long, env = "API_TRIAL_DAYS", default_value_t = 14)]
    pub trial_days: u32,
    /// Days a tenant stays FROZEN before the lifecycle archives it.
    #[arg(long, env = "API_FROZEN_GRACE_DAYS", default_value_t = 30)]
    pub frozen_grace_days: u32,
    /// Seconds between the server's passes moving tenants on (expired trials, the frozen
    /// grace); also one at start. 0: none (run `api lifecycle run` from cron instead).
    #[arg(long, env = "API_LIFECYCLE_EVERY_SECS", default_value_t = 60)]
    pub lifecycle_every_secs: u64,
    /// When the demo tenants are reset each day, HH:MM in UTC, by the lifecycle's clock; `off`:
    /// never.
    #[arg(long, env = "API_DEMO_RESET_AT", default_value = "03:00", value_parser = parse_reset_at)]
    pub demo_reset_at: ResetAt,
    /// Keep a well-formed `x-request-id` sent by the client, for a server behind a proxy that
    /// sets it; otherwise every request gets an id of the server's own.
    #[arg(long, env = "API_TRUST_REQUEST_ID")]
    pub trust_request_id: bool,
    /// Exports of the audit log (`/v1/audit/export`) that may run at once; one more is refused
    /// with RATE_LIMITED and Retry-After. Each holds up to two of the pool's connections while
    /// its client reads.
    #[arg(long, env = "API_MAX_EXPORTS", default_value_t = 2)]
    pub max_exports: usize,
    /// How often the audit log is sealed into its signed Merkle tree (a checkpoint each time
    /// there is something new): a duration (1s, 10s, 1m) or `off`.
    #[arg(long, env = "API_SEAL_INTERVAL", default_value = "10s", value_parser = parse_interval)]
    pub seal_interval: Interval,
    /// The Ed25519 key (PKCS#8 PEM) that signs the audit log's checkpoints (`api signing-key
    /// --generate PATH` makes one). Dev mode makes one under target/pg when unset.
    #[arg(long, env = "API_SIGNING_KEY")]
    pub signing_key: Option<std::path::PathBuf>,
    /// Where the sealer keeps the last checkpoint it signed, outside the database, to refuse
    /// to sign a log rewritten behind its back. Default: beside --signing-key
    /// (`<key>.checkpoint`); dev mode keeps it in memory only.
    #[arg(long, env = "API_SEAL_WITNESS")]
    pub seal_witness: Option<std::path::PathBuf>,
}

/// `--seal-interval`: a duration, or none (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub Option<Duration>);

fn parse_interval(text: &str) -> Result<Interval, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(Interval(None));
    }
    parse_duration(text)
        .and_then(|d| d.to_std().map_err(|e| e.to_string()))
        .map(|d| Interval(Some(d)))
        .map_err(|e| format!("{e} (or off)"))
}

/// `--demo-reset-at`: a time of day (UTC), or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetAt(pub Option<chrono::NaiveTime>);

fn parse_reset_at(text: &str) -> Result<ResetAt, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(ResetAt(None));
    }
    chrono::NaiveTime::parse_from_str(text, "%H:%M")
        .map(|t| ResetAt(Some(t)))
        .map_err(|_| format!("{text:?} is not HH:MM (UTC) or off"))
}

/// A length of time as operators write it: a whole number and a unit, `s`, `m`, `h`, `d`
/// (days), `w` (weeks) or `y` (365 days): `90d`, `12h`, `1y`. Zero is refused.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: write it like 90d, 12h, 30m or 1y"))?;
    let (number, unit) = text.split_at(unit_at);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number (like 90d)"))?;
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "y" => 365 * 86_400,
        _ => {
            return Err(format!(
                "{text:?}: the unit is one of s, m, h, d, w, y (like 90d)"
            ));
        }
    };
    let seconds = n
        .checked_mul(seconds_per)
        .filter(|s| *s > 0 && *s <= 100 * 365 * 86_400)
        .ok_or_else(|| format!("{text:?} is not between 1s and 100y"))?;
    Ok(chrono::Duration::seconds(seconds))
}

/// Dev mode's signing key, under the cluster root (target/pg).
pub const DEV_SIGNING_KEY: &str = "dev-audit-log-key.pem";

/// The default `RUST_LOG` filter.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

impl ServeConfig {
    /// Dev mode: no `DATABASE_URL`.
    pub fn dev_mode(&self) -> bool {
        self.database_url
            .as_deref()
            .is_none_or(|u| u.trim().is_empty())
    }

    /// Whether to serve the playground.
    pub fn playground(&self) -> bool {
        if self.playground {
            true
        } else if self.no_playground {
            false
        } else {
            self.dev_mode()
        }
    }

    /// The schema's limits.
    pub fn limits(&self) -> crate::graphql::Limits {
        crate::graphql::Limits {
            depth: self.max_depth,
            complexity: self.max_complexity,
            introspection: if self.introspection {
                true
            } else if self.no_introspection {
                false
            } else {
                self.dev_mode()
            },
            ..Default::default()
        }
    }

    /// How keys are checked and failures limited.
    pub fn auth(&self) -> registry::auth::AuthSettings {
        registry::auth::AuthSettings {
            argon2_concurrency: self.argon2_concurrency,
            failures_per_address: self.auth_failures_per_address,
            failures_per_prefix: self.auth_failures_per_prefix,
        }
    }

    /// Where tenant deletions stop being done at once, and their batches.
    pub fn deletions(&self) -> registry::deletions::DeletionSettings {
        registry::deletions::DeletionSettings {
            inline_events: self.delete_inline_events,
            batch_events: self.delete_batch_events,
        }
    }

    /// The outbound client's exceptions: dev mode allows private addresses.
    pub fn outbound(&self) -> registry::outbound::OutboundSettings {
        registry::outbound::OutboundSettings {
            allow: self.outbound_allow.clone(),
            allow_private: self.outbound_allow_private || self.dev_mode(),
        }
    }

    /// The lifecycle's lengths.
    pub fn lifecycle(&self) -> registry::lifecycle::LifecycleSettings {
        registry::lifecycle::LifecycleSettings {
            trial_days: self.trial_days,
            frozen_grace_days: self.frozen_grace_days,
            every: (self.lifecycle_every_secs > 0)
                .then(|| Duration::from_secs(self.lifecycle_every_secs)),
            demo_reset_at: self.demo_reset_at.0,
        }
    }

    /// Where the signing key is: `--signing-key`, or dev mode's own file.
    pub fn signing_key_path(&self) -> Option<std::path::PathBuf> {
        self.signing_key.clone().or_else(|| {
            self.dev_mode().then(|| {
                localpg::ClusterRoot::workspace_default()
                    .path()
                    .join(DEV_SIGNING_KEY)
            })
        })
    }

    /// Where the sealer keeps its witness: `--seal-witness`, or beside `--signing-key`; none in
    /// dev mode (kept in memory).
    pub fn seal_witness_path(&self) -> Option<std::path::PathBuf> {
        match (&self.seal_witness, &self.signing_key) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(key)) => Some(key.with_extension("checkpoint")),
            (None, None) => None,
        }
    }

    /// The sealer's settings: its interval and key (dev mode makes its key on first use).
    /// Sealing without a key is an error that says how to get one.
    pub fn seal(&self) -> anyhow::Result<registry::evidence::seal::SealSettings> {
        use anyhow::Context as _;
        let Some(every) = self.seal_interval.0 else {
            return Ok(registry::evidence::seal::SealSettings::default());
        };
        let path = self.signing_key_path().context(
            "sealing the audit log needs its signing key: --signing-key PATH (make one with \
             `api signing-key --generate PATH`), or --seal-interval off",
        )?;
        let key = if self.signing_key.is_some() {
            registry::evidence::signing::LogKey::load(&path)?
        } else {
            registry::evidence::signing::LogKey::load_or_create(&path)?
        };
        let witness = match self.seal_witness_path() {
            Some(path) => registry::evidence::seal::Witness::file(&path)
                .map_err(|e| anyhow::anyhow!("the seal witness: {e}"))?,
            None => registry::evidence::seal::Witness::in_memory(),
        };
        Ok(registry::evidence::seal::SealSettings {
            every: Some(every),
            key: Some(std::sync::Arc::new(key)),
            witness: std::sync::Arc::new(witness),
            ..Default::default()
        })
    }

    /// Everything the server is built from, with the HTTP layer's `http` and the sealer's
    /// `seal`.
    pub fn settings(
        &self,
        http: crate::http::HttpSettings,
        seal: registry::evidence::seal::SealSettings,
    ) -> crate::startup::Settings {
        crate::startup::Settings {
            seal,
            bind: self.bind,
            http,
            auth: self.auth(),
            limits: self.limits(),
            deletions: self.deletions(),
            outbound: self.outbound(),
            lifecycle: self.lifecycle(),
        }
    }

    /// The database statement timeout.
    pub fn statement_timeout(&self) -> Duration {
        Duration::from_secs(self.statement_timeout_secs.max(1))
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
}
