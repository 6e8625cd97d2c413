//! `seed bulk`: large, realistic, skewed data for benchmarks, written with COPY.
//!
//! Tenants `bulk-00001` .. `bulk-NNNNN` get events in Zipf proportions (tenant k gets a share
//! proportional to 1/k: with 1,000 tenants the largest holds about 13%, the median a few
//! hundredths of a percent), products Zipf-like within each tenant, about 10% portal events, one
//! year of history with working-hours and weekday rhythm and per-tenant bursts (imports, month
//! ends). Events are written in time order, as a live system writes them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc, Weekday};
use entity::sea_orm_active_enums::{TenantKind, TenantStatus};
use entity::{tenant_products, tenant_projects, tenants};
use rand::Rng;
use sea_orm::sea_query::OnConflict;
use sea_orm::sqlx::{AssertSqlSafe, Executor as _, PgPool};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};

use crate::SeedError;
use crate::history::{Event, Generator, TenantProfile};
use crate::vocabulary::PRODUCTS;

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
const COPY_SQL: &str = "COPY audit_log (tenant_id, project_id, actor_id, actor_name, actor_type, \
     action, target_id, target_type, target_name, product, metadata, source_ip, user_agent, \
     created_at) FROM STDIN";

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
    let producer = std::thread::spawn(move || {
        let mut generator = Generator::new(seed, "bulk-events");
        let mut buf = Vec::with_capacity(batch_rows * 400);
        let mut rows = 0u64;
        for (micros, tenant) in schedule {
            let at = Utc.timestamp_micros(micros).single().unwrap_or_default();
            encode(&mut buf, &generator.event(&profiles[tenant as usize], at));
            rows += 1;
            if rows as usize == batch_rows {
                if tx.blocking_send((std::mem::take(&mut buf), rows)).is_err() {
                    return; // the writer failed; its error is reported below
                }
                rows = 0;
            }
        }
        if rows > 0 {
            let _ = tx.blocking_send((buf, rows));
        }
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
    let _ = producer.join();
    let written = written.map_err(copy_error)?;
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
    let mut written = 0;
    loop {
        let Some((data, rows)) = batches.lock().await.recv().await else {
            break;
        };
        let mut copy = tx.copy_in_raw(COPY_SQL).await?;
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
                let mut copy = conn.copy_in_raw(COPY_SQL).await?;
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

/// Creates the missing `bulk-*` tenants with their entitlements and projects; returns all of
/// them, in rank order, and how many were new.
async fn ensure_tenants(
    db: &DatabaseConnection,
    options: &BulkOptions,
) -> Result<(Vec<TenantProfile>, u64), SeedError> {
    let mut generator = Generator::new(options.seed, "bulk-tenants");
    let statuses = [
        TenantStatus::Active,
        TenantStatus::Active,
        TenantStatus::Active,
        TenantStatus::Trial,
        TenantStatus::Frozen,
    ];
    let slugs: Vec<String> = (1..=options.tenants)
        .map(|i| format!("bulk-{i:05}"))
        .collect();
    let mut created = 0;
    for chunk in slugs.chunks(1000) {
        let rows = chunk.iter().map(|slug| tenants::ActiveModel {
            slug: Set(slug.clone()),
            name: Set(format!("Bulk tenant {}", &slug[5..])),
            kind: Set(TenantKind::Customer),
            status: Set(statuses[generator.rng().random_range(0..statuses.len())]),
            plan: Set(
                ["starter", "growth", "enterprise"][generator.rng().random_range(0..3)].to_owned(),
            ),
            ..Default::default()
        });
        created += tenants::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(tenants::Column::Slug)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    let ids: HashMap<String, uuid::Uuid> = tenants::Entity::find()
        .filter(tenants::Column::Slug.is_in(slugs.clone()))
        .order_by_asc(tenants::Column::Slug)
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.slug, t.id))
        .collect();

    let mut profiles = Vec::with_capacity(slugs.len());
    let mut products = Vec::new();
    let mut projects = Vec::new();
    for (rank, slug) in slugs.into_iter().enumerate() {
        let id = ids[&slug];
        // Each product rarer than the one before: crm 90%, billing 60%, analytics 35%, ...
        // Every tenant uses at least one product, so portal events stay about a tenth.
        let mut owned: Vec<&'static str> = PRODUCTS
            .iter()
            .zip([0.9, 0.6, 0.35, 0.2])
            .filter_map(|(p, share)| generator.rng().random_bool(share).then_some(*p))
            .collect();
        if owned.is_empty() {
            owned.push(PRODUCTS[0]);
        }
        products.extend(owned.iter().map(|p| tenant_products::ActiveModel {
            tenant_id: Set(id),
            product: Set((*p).to_owned()),
            config: Set(serde_json::json!({ "max_seats": 5 + rank % 200 })),
            ..Default::default()
        }));
        if rank % 4 == 0 {
            for project in ["main", "staging"] {
                projects.push(tenant_projects::ActiveModel {
                    tenant_id: Set(id),
                    slug: Set(project.to_owned()),
                    name: Set(project.to_owned()),
                    ..Default::default()
                });
            }
        }
        profiles.push(TenantProfile {
            id,
            slug,
            projects: vec![],
            products: owned,
        });
    }
    for chunk in products.chunks(1000) {
        tenant_products::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    tenant_products::Column::TenantId,
                    tenant_products::Column::Product,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    for chunk in projects.chunks(1000) {
        tenant_projects::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    tenant_projects::Column::TenantId,
                    tenant_projects::Column::Slug,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    let all_projects = tenant_projects::Entity::find()
        .filter(tenant_projects::Column::TenantId.is_in(ids.values().copied().collect::<Vec<_>>()))
        .all(db)
        .await?;
    let index: HashMap<uuid::Uuid, usize> = profiles
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id, i))
        .collect();
    for project in all_projects {
        profiles[index[&project.tenant_id]]
            .projects
            .push(project.id);
    }
    Ok((profiles, created))
}

/// Every event's (time in µs, tenant index), in time order. Tenant k (0-based) gets a share of
/// 1/(k+1), apportioned so the counts add up to exactly `events`.
fn schedule(profiles: &[TenantProfile], options: &BulkOptions) -> Vec<(i64, u32)> {
    let counts = zipf_counts(profiles.len(), options.events);
    let mut generator = Generator::new(options.seed, "bulk-schedule");
    let rng = generator.rng();
    let end = options.now;
    let start = end - Duration::days(365);
    let span = (end - start).num_seconds();
    let mut out = Vec::with_capacity(options.events as usize);
    for (tenant, &count) in counts.iter().enumerate() {
        let bursts: Vec<i64> = (0..(count / 2000).clamp(1, 50))
            .map(|_| rng.random_range(0..span))
            .collect();
        for _ in 0..count {
            let offset = if rng.random_bool(0.25) {
                (bursts[rng.random_range(0..bursts.len())] + rng.random_range(0..3600))
                    .min(span - 1)
            } else {
                business_offset(rng, start, span)
            };
            let micros = (start + Duration::seconds(offset)).timestamp_micros()
                + rng.random_range(0..1_000_000);
            out.push((micros, tenant as u32));
        }
    }
    out.sort_unstable();
    out
}

/// A moment in the window, three times likelier on a working day than at a weekend and mostly
/// in office hours.
fn business_offset(rng: &mut impl Rng, start: DateTime<Utc>, span: i64) -> i64 {
    loop {
        let offset = rng.random_range(0..span);
        let at = start + Duration::seconds(offset);
        let weekend = matches!(at.weekday(), Weekday::Sat | Weekday::Sun);
        let office = (8..19).contains(&at.hour());
        let keep = match (weekend, office) {
            (false, true) => 1.0,
            (false, false) => 0.35,
            (true, _) => 0.2,
        };
        if rng.random_bool(keep) {
            return offset;
        }
    }
}

/// Splits `total` over `n` ranks in proportion to 1/k, exactly (largest remainder).
pub fn zipf_counts(n: usize, total: u64) -> Vec<u64> {
    let harmonic: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
    let exact: Vec<f64> = (1..=n)
        .map(|k| total as f64 / (k as f64 * harmonic))
        .collect();
    let mut counts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut rest = total - counts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    for i in order.into_iter().cycle() {
        if rest == 0 {
            break;
        }
        counts[i] += 1;
        rest -= 1;
    }
    counts
}

/// Appends one row in COPY's text format.
fn encode(buf: &mut Vec<u8>, e: &Event) {
    let mut line = String::with_capacity(400);
    let _ = write!(line, "{}\t", e.tenant_id);
    match e.project_id {
        Some(p) => {
            let _ = write!(line, "{p}\t");
        }
        None => line.push_str("\\N\t"),
    }
    for field in [&e.actor_id, &e.actor_name] {
        escape_into(&mut line, field);
        line.push('\t');
    }
    for field in [e.actor_type, e.action] {
        escape_into(&mut line, field);
        line.push('\t');
    }
    for field in [&e.target_id, &e.target_type, &e.target_name] {
        escape_into(&mut line, field);
        line.push('\t');
    }
    match e.product {
        Some(p) => escape_into(&mut line, p),
        None => line.push_str("\\N"),
    }
    line.push('\t');
    escape_into(&mut line, &e.metadata.to_string());
    line.push('\t');
    match e.source_ip {
        Some(ip) => {
            let _ = write!(line, "{ip}");
        }
        None => line.push_str("\\N"),
    }
    line.push('\t');
    match e.user_agent {
        Some(ua) => escape_into(&mut line, ua),
        None => line.push_str("\\N"),
    }
    let _ = writeln!(
        line,
        "\t{}",
        e.created_at.format("%Y-%m-%d %H:%M:%S%.6f+00")
    );
    buf.extend_from_slice(line.as_bytes());
}

/// COPY text format: backslash, tab, newline and carriage return are escaped.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}
