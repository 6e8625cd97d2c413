//! `seed bulk`: large, realistic, skewed data for benchmarks, written with COPY.
//!
//! Tenants `bulk-00001` .. `bulk-NNNNN` get events in Zipf proportions (tenant k gets a share
//! proportional to 1/k: with 1,000 tenants the largest holds about 13%, the median a few
//! hundredths of a percent), products Zipf-like within each tenant, about 10% portal events, one
//! year of history with working-hours and weekday rhythm and per-tenant bursts (imports, month
//! ends). Events are written in time order, as a live system writes them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::DatabaseConnection;
use sea_orm::sqlx::{AssertSqlSafe, Executor as _, PgPool};

use crate::SeedError;
use crate::bulk_tenants::ensure_tenants;
use crate::copy_text::{copy_sql, encode};
use crate::history::Generator;
use crate::skew::schedule;
pub use crate::skew::zipf_counts;

/// How much to write.
#[derive(Debug, Clone)]
pub struct BulkOptions {
    /// Number of tenants (`bulk-00001` ..); existing ones are reused.
    pub tenants: usize,
    /// Number of audit events to write.
    pub events: u64,
    /// Seed of all random choices.
    pub seed: u64,
    /// Rows per COPY statement (each one transaction).
    pub batch_rows: usize,
    /// Concurrent COPY connections (into a table that already has rows).
    pub connections: usize,
    /// Keep the indexes in place even when the table is empty (slower; see [`seed_bulk`]).
    pub keep_indexes: bool,
    /// The end of the year of history.
    pub now: DateTime<Utc>,
}

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct BulkReport {
    /// Tenants created by this run (the rest existed).
    pub tenants_created: u64,
    /// Audit events written.
    pub events_written: u64,
    /// Whether the table was empty and its indexes were built after the load.
    pub deferred_indexes: bool,
    /// Wall time of the whole run.
    pub elapsed: std::time::Duration,
}

impl BulkReport {
    /// Events written per second of wall time.
    pub fn events_per_second(&self) -> f64 {
        self.events_written as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

const MAX_TENANTS: usize = 99_999;

/// Progress of a bulk run, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// This many events are written so far.
    Rows(u64),
    /// A step that writes no rows has begun (e.g. building indexes).
    Phase(&'a str),
}

/// A batch of encoded rows and how many rows it holds.
type Batch = (Vec<u8>, u64);
type Batches = Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Batch>>>;
type ProgressFn = Arc<dyn Fn(Progress<'_>) + Send + Sync>;

/// Writes the tenants and `events` events, reporting progress after each batch.
///
/// Into an empty `audit_log` (a fresh benchmark database) it loads the way `pg_restore` does:
/// in one transaction it locks the table, drops its secondary indexes and foreign keys, COPYs
/// every row, and recreates them from their recorded definitions, which is several times faster
/// than maintaining six btrees and two foreign-key triggers row by row. Should anything fail
/// (a foreign key included), the transaction rolls back and the table is as it was. Into a table that has rows it COPYs over `connections`
/// concurrent connections instead, indexes in place.
pub async fn seed_bulk(
    db: &DatabaseConnection,
    options: &BulkOptions,
    progress: ProgressFn,
) -> Result<BulkReport, SeedError> {
    if options.tenants == 0 || options.tenants > MAX_TENANTS {
        return Err(SeedError::Options(format!(
            "--tenants must be 1 to {MAX_TENANTS}"
        )));
    }
    if options.batch_rows == 0 || options.connections == 0 {
        return Err(SeedError::Options(
            "--batch and --connections must be at least 1".into(),
        ));
    }
    let started = Instant::now();
    let (profiles, tenants_created) = ensure_tenants(db, options).await?;
    let schedule = schedule(&profiles, options);

    // One thread generates and encodes batches while the database writes the previous ones.
    let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(options.connections * 2);
    let rx: Batches = Arc::new(tokio::sync::Mutex::new(rx));
    let seed = options.seed;
    let batch_rows = options.batch_rows;
    let producer = std::thread::spawn(move || -> Result<(), SeedError> {
        let mut generator = Generator::new(seed, "bulk-events");
        let mut buf = Vec::with_capacity(batch_rows * 400);
        let mut rows = 0u64;
        for (micros, tenant) in schedule {
            let at = Utc.timestamp_micros(micros).single().unwrap_or_default();
            encode(&mut buf, &generator.event(&profiles[tenant as usize], at))
                .map_err(SeedError::Event)?;
            rows += 1;
            if rows as usize == batch_rows {
                if tx.blocking_send((std::mem::take(&mut buf), rows)).is_err() {
                    return Ok(()); // the writer failed; its error is reported below
                }
                rows = 0;
            }
        }
        if rows > 0 {
            let _ = tx.blocking_send((buf, rows));
        }
        Ok(())
    });

    let pool = db.get_postgres_connection_pool();
    let empty: bool = sea_orm::sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM audit_log)")
        .fetch_one(pool)
        .await
        .map_err(copy_error)?;
    let deferred_indexes = empty && !options.keep_indexes;
    let written = if deferred_indexes {
        load_empty_table(pool, rx.clone(), progress.clone()).await
    } else {
        load_concurrently(pool, rx.clone(), options.connections, progress.clone()).await
    };
    drop(rx);
    let produced = producer
        .join()
        .unwrap_or_else(|_| Err(SeedError::Options("the event generator stopped".into())));
    let written = written.map_err(copy_error)?;
    produced?;
    progress(Progress::Phase("analyzing audit_log"));
    sea_orm::sqlx::query("ANALYZE audit_log")
        .execute(pool)
        .await
        .map_err(copy_error)?;
    Ok(BulkReport {
        tenants_created,
        events_written: written,
        deferred_indexes,
        elapsed: started.elapsed(),
    })
}

fn copy_error(e: sea_orm::sqlx::Error) -> SeedError {
    SeedError::Db(sea_orm::DbErr::Custom(format!("bulk load: {e}")))
}

/// Into an empty table, in one transaction: drop the secondary indexes and the foreign keys,
/// COPY, then recreate both from their recorded definitions (re-adding a foreign key checks
/// every row in one join, instead of one trigger query per row).
async fn load_empty_table(
    pool: &PgPool,
    batches: Batches,
    progress: ProgressFn,
) -> Result<u64, sea_orm::sqlx::Error> {
    let mut tx = pool.begin().await?;
    tx.execute("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
        .await?;
    // Re-checked under the lock: rows that arrived meanwhile keep the table as it is.
    let still_empty: bool =
        sea_orm::sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM audit_log)")
            .fetch_one(&mut *tx)
            .await?;
    // (drop statement, re-create statement), all read from the catalog itself.
    let deferred: Vec<(String, String)> = if still_empty {
        sea_orm::sqlx::query_as(
            "SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
             FROM pg_index i
             WHERE i.indrelid = 'audit_log'::regclass
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
             UNION ALL
             SELECT format('ALTER TABLE audit_log DROP CONSTRAINT %I', c.conname),
                    format('ALTER TABLE audit_log ADD CONSTRAINT %I %s', c.conname, pg_get_constraintdef(c.oid))
             FROM pg_constraint c
             WHERE c.conrelid = 'audit_log'::regclass AND c.contype = 'f'",
        )
        .fetch_all(&mut *tx)
        .await?
    } else {
        Vec::new()
    };
    for (drop, _) in &deferred {
        tx.execute(AssertSqlSafe(drop.clone())).await?;
    }
    // The metadata terms (`audit_metadata_term`) likewise: added in one sorted pass after the
    // load rather than by the insert trigger, batch by batch into an index growing all over.
    let terms: bool = still_empty
        && sea_orm::sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass \
             AND tgname = 'audit_log_metadata_terms_insert')",
        )
        .fetch_one(&mut *tx)
        .await?;
    if terms {
        tx.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_metadata_terms_insert")
            .await?;
    }
    let mut written = 0;
    loop {
        let Some((data, rows)) = batches.lock().await.recv().await else {
            break;
        };
        let mut copy = tx.copy_in_raw(&copy_sql()).await?;
        copy.send(data).await?;
        copy.finish().await?;
        written += rows;
        progress(Progress::Rows(written));
    }
    progress(Progress::Phase(&format!(
        "rebuilding {} indexes and foreign keys",
        deferred.len()
    )));
    tx.execute("SET LOCAL maintenance_work_mem = '1GB'").await?;
    for (_, create) in deferred {
        tx.execute(AssertSqlSafe(create)).await?;
    }
    if terms {
        progress(Progress::Phase("adding the events' metadata terms"));
        tx.execute(
            "INSERT INTO audit_metadata_term (tenant_id, term, created_at) \
             SELECT a.tenant_id, t.term, a.created_at \
             FROM audit_log a CROSS JOIN LATERAL audit_metadata_terms(a.metadata) t(term) \
             WHERE a.tenant_id IS NOT NULL ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING",
        )
        .await?;
        tx.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_metadata_terms_insert")
            .await?;
    }
    tx.commit().await?;
    Ok(written)
}

/// Into a table in use: `connections` concurrent COPYs, each batch its own transaction.
async fn load_concurrently(
    pool: &PgPool,
    batches: Batches,
    connections: usize,
    progress: ProgressFn,
) -> Result<u64, sea_orm::sqlx::Error> {
    let written = Arc::new(AtomicU64::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (batches, pool, written, progress) = (
            batches.clone(),
            pool.clone(),
            written.clone(),
            progress.clone(),
        );
        writers.spawn(async move {
            loop {
                let Some((data, rows)) = batches.lock().await.recv().await else {
                    return Ok::<(), sea_orm::sqlx::Error>(());
                };
                let mut conn = pool.acquire().await?;
                let mut copy = conn.copy_in_raw(&copy_sql()).await?;
                copy.send(data).await?;
                copy.finish().await?;
                progress(Progress::Rows(
                    written.fetch_add(rows, Ordering::Relaxed) + rows,
                ));
            }
        });
    }
    let mut failure = None;
    while let Some(result) = writers.join_next().await {
        let outcome = result.unwrap_or_else(|e| {
            Err(sea_orm::sqlx::Error::Protocol(format!(
                "a COPY writer stopped: {e}"
            )))
        });
        if let Err(e) = outcome {
            failure.get_or_insert(e);
            writers.abort_all();
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(written.load(Ordering::Relaxed)),
    }
}
