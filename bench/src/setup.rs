//! Before measuring: the database (migrated, seeded, analysed), the keys, the server.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use bench::shapes::Subjects;
use bench::subjects::scalar;
use entity::scope::Scope;
use localpg::{Cluster, ClusterRoot, Lifetime};
use registry::keys::{Issuer, NewKey, issue};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use uuid::Uuid;

use crate::Args;

/// The database: migrated, holding the data set, analysed.
pub(crate) async fn prepare(args: &Args, bins: &Path) -> Result<(Option<Cluster>, String)> {
    let (cluster, url) = match &args.database_url {
        Some(url) if !url.trim().is_empty() => (None, url.clone()),
        _ => {
            let cluster = Cluster::persistent(
                &ClusterRoot::workspace_default(),
                "bench",
                Lifetime::StopWithProcess,
            )?;
            let url = cluster.url("postgres");
            (Some(cluster), url)
        }
    };
    api::startup::migrate(&url)
        .await
        .context("migrating the database")?;
    let db = Database::connect(url.as_str()).await?;
    // Whether there is any event (not a count: that reads all ten million rows).
    let seeded: bool = scalar(&db, "SELECT EXISTS (SELECT 1 FROM audit_log)", vec![])
        .await?
        .unwrap_or(false);
    if !seeded {
        eprintln!(
            "== seeding {} events over {} tenants (once; the bench cluster keeps them)",
            args.events, args.tenants
        );
        let status = Command::new(bins.join("seed"))
            .args(["bulk", "--tenants", &args.tenants.to_string()])
            .args(["--events", &args.events.to_string()])
            .env("DATABASE_URL", &url)
            .status()
            .context("running seed bulk")?;
        if !status.success() {
            bail!("seed bulk failed");
        }
        eprintln!("== VACUUM ANALYZE audit_log");
        db.execute_unprepared("VACUUM ANALYZE audit_log").await?;
    } else {
        eprintln!("== using the events already in the database");
    }
    // Rows of an earlier run's S10 go, so that every run reads the same data set.
    let leftovers = remove_published(&db).await?;
    if leftovers > 0 {
        eprintln!("== removed {leftovers} events of an earlier run's S10");
    } else {
        db.execute_unprepared("ANALYZE audit_log").await?;
    }
    Ok((cluster, url))
}

/// Removes the events S10 published (product `bench`) and the metadata terms they added
/// (`audit_metadata_term` rows at instants after the data set's newest event), then vacuums
/// both tables; the number of events removed.
///
/// The VACUUM must clean the indexes: left as dead entries at the newest end of the
/// time-ordered indexes, S10's rows slow the next run's S4 threefold to tenfold. PostgreSQL
/// skips index cleanup when dead rows fill under 2% of the table's pages, which a one-round run's
/// S10 leaves (about 80,000 events on 3,000 of 410,000 pages), hence `INDEX_CLEANUP ON`.
pub async fn remove_published(db: &DatabaseConnection) -> Result<u64> {
    db.execute_unprepared(
        "DELETE FROM audit_metadata_term WHERE created_at > \
         (SELECT max(created_at) FROM audit_log WHERE product IS DISTINCT FROM 'bench')",
    )
    .await?;
    // Sealed ones leave their leaves marked as pruned, so that the bench database's log still
    // verifies (`api verify-log`).
    db.execute_unprepared(
        "UPDATE audit_seal_leaf l SET pruned_at = now(), pruned_reason = 'bench.cleanup' \
         FROM audit_log a WHERE a.id = l.event_id AND a.product = 'bench' \
         AND l.pruned_at IS NULL",
    )
    .await?;
    let removed = db
        .execute_unprepared("DELETE FROM audit_log WHERE product = 'bench'")
        .await?
        .rows_affected();
    if removed > 0 {
        db.execute_unprepared("VACUUM (INDEX_CLEANUP ON, ANALYZE) audit_log")
            .await?;
        db.execute_unprepared("VACUUM (INDEX_CLEANUP ON) audit_metadata_term")
            .await?;
    }
    Ok(removed)
}

/// Keys for the subjects and for S10; the platform tenant id the platform key belongs to.
pub(crate) struct Keys {
    pub(crate) large: String,
    /// The id of `large` (S14's floor reads the key by id, as the server does once it has
    /// recognised the key).
    pub(crate) large_id: Uuid,
    /// S14: a product's key with `keys:verify`, and its product (the large tenant's
    /// entitlement), when the large tenant has one.
    pub(crate) verifier: Option<(String, String)>,
    pub(crate) mid: String,
    pub(crate) platform: String,
    pub(crate) platform_tenant: Uuid,
    pub(crate) writer: String,
}

pub(crate) async fn keys(db: &DatabaseConnection, subjects: &Subjects) -> Result<Keys> {
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S%3f").to_string();
    let read = vec![Scope::AuditRead, Scope::TenantsRead];
    let issue = |tenant_id: Uuid, name: &str, scopes: Vec<Scope>, product: Option<&str>| {
        let new = NewKey {
            product: product.map(str::to_owned),
            ..NewKey::new(tenant_id, format!("bench-{name}-{stamp}"), &scopes)
        };
        async move {
            issue(db, Issuer::Operator("bench"), new)
                .await
                .map(|k| (k.plaintext.expose().to_owned(), k.record.id))
                .map_err(|e| anyhow::anyhow!("issuing a key: {e}"))
        }
    };
    // S10 writes into a tenant of its own so that the read shapes' data does not change.
    db.execute_unprepared(
        "INSERT INTO tenants (slug, name) VALUES ('bench-writer', 'Benchmark writer') ON CONFLICT (slug) DO NOTHING",
    )
    .await?;
    let writer_tenant: Uuid = scalar(
        db,
        "SELECT id FROM tenants WHERE slug = 'bench-writer'",
        vec![],
    )
    .await?
    .context("writer tenant")?;
    let mut platform_scopes = read.clone();
    platform_scopes.push(Scope::Platform);
    let (large, large_id) = issue(subjects.large.id, "large", read.clone(), None).await?;
    let verifier = match &subjects.large.entitled_product {
        Some(product) => Some((
            issue(
                writer_tenant,
                "verifier",
                vec![Scope::KeysVerify],
                Some(product),
            )
            .await?
            .0,
            product.clone(),
        )),
        None => None,
    };
    Ok(Keys {
        large,
        large_id,
        verifier,
        mid: issue(subjects.mid.id, "mid", read.clone(), None).await?.0,
        platform: issue(subjects.large.id, "platform", platform_scopes, None)
            .await?
            .0,
        platform_tenant: subjects.large.id,
        writer: issue(
            writer_tenant,
            "writer",
            vec![Scope::AuditWrite],
            Some("bench"),
        )
        .await?
        .0,
    })
}

/// The server, and its stderr lines as they come. Sealing is off: the shapes measure serving;
/// S10seal measures publishing with a second server that seals ([`start_sealing_server`]).
pub(crate) fn start_server(
    bins: &Path,
    url: &str,
) -> Result<(Child, String, mpsc::Receiver<String>)> {
    start_with(bins, url, &["--seal-interval", "off"])
}

/// A server that seals the audit log every second with the key at `key` (S10seal).
pub(crate) fn start_sealing_server(
    bins: &Path,
    url: &str,
    key: &Path,
) -> Result<(Child, String, mpsc::Receiver<String>)> {
    let key = key.to_str().context("the key's path is not UTF-8")?;
    start_with(bins, url, &["--seal-interval", "1s", "--signing-key", key])
}

/// Whether every event is sealed (the sealer has caught up): no event above the highest
/// sealed, by index lookups only.
pub(crate) async fn sealed_up(db: &DatabaseConnection) -> Result<bool> {
    Ok(scalar(
        db,
        "SELECT coalesce((SELECT max(id) FROM audit_log), 0) \
         <= coalesce((SELECT max(event_id) FROM audit_seal_leaf), 0)",
        vec![],
    )
    .await?
    .unwrap_or(false))
}

/// Stops a server with SIGTERM and waits for it.
pub(crate) fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn start_with(
    bins: &Path,
    url: &str,
    extra: &[&str],
) -> Result<(Child, String, mpsc::Receiver<String>)> {
    let mut child = Command::new(bins.join("api"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(extra)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting target/release/api (build it with cargo build --release)")?;
    let stderr = child.stderr.take().context("stderr")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .context("the server did not start")?;
        if let Some(rest) = line.split("listening on ").nth(1) {
            let base = rest
                .split_whitespace()
                .next()
                .context("address")?
                .to_owned();
            return Ok((child, base, rx));
        }
    }
}

/// The server's peak resident set (VmHWM), in MB.
pub(crate) fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}
