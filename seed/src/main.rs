//! `seed`: fill a migrated tenant-registry database with demo tenants or benchmark data.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use seed::bulk::{BulkOptions, Progress, seed_bulk};
use seed::demo::{DemoOptions, DemoReport, reset_demo, seed_demo};

/// Seed a migrated tenant-registry database: the demo platform, or bulk data for benchmarks.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The database to seed (it must be fully migrated).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create the demo platform: two demo tenants, a customer in each lifecycle state, their
    /// projects, entitlements, identity providers, API keys and audit history. Idempotent:
    /// tenants that exist (by slug) are left alone. New API keys are printed once, on stdout.
    Demo {
        /// Seed of the audit history (same seed, same events).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Audit events per tenant, over the last 90 days.
        #[arg(long, default_value_t = 2000)]
        events_per_tenant: usize,
        /// The nightly reset: delete the demo tenants (kind = demo) with their audit history
        /// and create them anew. Customer tenants are not touched.
        #[arg(long)]
        reset: bool,
    },
    /// Write N tenants (bulk-00001 ..) and M audit events, Zipf-skewed over tenants and
    /// products, over one year, with COPY. Reuses existing bulk tenants; events are added.
    Bulk {
        /// Number of tenants.
        #[arg(long)]
        tenants: usize,
        /// Number of audit events.
        #[arg(long)]
        events: u64,
        /// Seed of every random choice.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Rows per COPY statement (each its own transaction).
        #[arg(long, default_value_t = 50_000)]
        batch: usize,
        /// Concurrent COPY connections (used when audit_log already has rows).
        #[arg(long, default_value_t = 2)]
        connections: usize,
        /// Keep audit_log's indexes during the load even when it is empty (by default an
        /// empty table is loaded first and indexed after, in one transaction: much faster).
        #[arg(long)]
        keep_indexes: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let url = cli.database_url.filter(|u| !u.trim().is_empty()).context(
        "DATABASE_URL is not set. Point it at a migrated database, e.g. for the dev cluster:\n    \
         export DATABASE_URL=\"$(cargo run -q -p localpg -- up)\" && cargo run -p migration -- up",
    )?;
    let connections = match &cli.command {
        Cmd::Bulk { connections, .. } => *connections as u32 + 1,
        Cmd::Demo { .. } => 2,
    };
    let db = connect(&url, connections).await?;
    seed::ensure_migrated(&db).await?;

    match cli.command {
        Cmd::Demo {
            seed,
            events_per_tenant,
            reset,
        } => {
            let options = DemoOptions {
                seed,
                events_per_tenant,
                now: Utc::now(),
            };
            let report = if reset {
                reset_demo(&db, &options).await?
            } else {
                seed_demo(&db, &options).await?
            };
            print_demo(&report, reset);
        }
        Cmd::Bulk {
            tenants,
            events,
            seed,
            batch,
            connections,
            keep_indexes,
        } => {
            let options = BulkOptions {
                tenants,
                events,
                seed,
                batch_rows: batch,
                connections,
                keep_indexes,
                now: Utc::now(),
            };
            let bar = progress_bar(events);
            let report = seed_bulk(&db, &options, bar.clone()).await?;
            eprintln!(
                "wrote {} events for {tenants} tenants ({} new) in {:.1} s: {:.0} events/s{}",
                report.events_written,
                report.tenants_created,
                report.elapsed.as_secs_f64(),
                report.events_per_second(),
                if report.deferred_indexes {
                    " (empty table: indexes built after the load)"
                } else {
                    ""
                }
            );
        }
    }
    db.close().await?;
    Ok(())
}

async fn connect(url: &str, connections: u32) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(connections)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .context("connecting to DATABASE_URL")
}

fn print_demo(report: &DemoReport, reset: bool) {
    if reset {
        eprintln!(
            "reset: deleted demo tenants [{}] and {} of their audit events",
            report.deleted.join(", "),
            report.purged_events
        );
    }
    if report.created.is_empty() {
        eprintln!(
            "demo platform already present ({} tenants); nothing changed",
            report.unchanged.len()
        );
        return;
    }
    eprintln!(
        "created tenants [{}] with {} audit events{}",
        report.created.join(", "),
        report.events,
        if report.unchanged.is_empty() {
            String::new()
        } else {
            format!(
                "; left existing [{}] unchanged",
                report.unchanged.join(", ")
            )
        }
    );
    eprintln!("API keys (shown once; only their argon2id hashes are stored):");
    for (tenant, key) in &report.keys {
        let revoked = if key.record.revoked_at.is_some() {
            " (revoked)"
        } else {
            ""
        };
        println!(
            "{tenant}/{}\t{}{revoked}",
            key.record.name,
            key.plaintext.expose()
        );
    }
}

/// A progress bar on a terminal; on anything else, a line at every tenth of the way.
fn progress_bar(total: u64) -> Arc<dyn Fn(Progress<'_>) + Send + Sync> {
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} events, {per_sec}, ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Arc::new(move |progress| match progress {
            Progress::Rows(done) => bar.set_position(done),
            Progress::Phase(phase) => bar.set_message(phase.to_owned()),
        })
    } else {
        let started = std::time::Instant::now();
        let step = (total / 10).max(1);
        let next = std::sync::atomic::AtomicU64::new(step);
        Arc::new(move |progress| {
            let done = match progress {
                Progress::Rows(done) => done,
                Progress::Phase(phase) => {
                    eprintln!("{phase}...");
                    return;
                }
            };
            if done >= next.load(std::sync::atomic::Ordering::Relaxed) {
                next.store(
                    done - done % step + step,
                    std::sync::atomic::Ordering::Relaxed,
                );
                let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
                let eta = (total.saturating_sub(done)) as f64 / rate.max(1e-9);
                eprintln!("{done}/{total} events, {rate:.0}/s, ETA {eta:.0} s");
            }
        })
    }
}
