//! X1: exporting a tenant's audit log (`GET /v1/audit/export`, issue #29) against PostgreSQL's
//! `COPY (the same SELECT) TO STDOUT` on the same data, rows per second, in the same run.
//!
//! The export needs a signed log, so it goes to a sealing server of its own (the data set is
//! sealed before measuring). The SELECT is the server's own (`api::audit::export::query`, with
//! the condition the server builds for the same filter and key), its values written inline
//! for COPY.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use api::audit::export::query;
use api::audit::filter::AuditEventFilter;
use api::audit::store::AuditOrder;
use bench::shapes::Subjects;
use entity::scope::Scope;
use futures_util::StreamExt;
use registry::auth::Principal;
use sea_orm::sea_query::PostgresQueryBuilder;
use sea_orm::sqlx::{Connection as _, PgConnection};

use crate::runners::median;
use crate::setup::{self, Keys, peak_rss_mb};

/// One round's two figures.
struct Round {
    copy_rows_per_sec: f64,
    api_rows_per_sec: f64,
    api_bytes: u64,
}

/// X1's line of the table, and its summary entry.
pub(crate) async fn measure(
    bins: &Path,
    url: &str,
    seal_key: &Path,
    subjects: &Subjects,
    keys: &Keys,
    rounds: u32,
) -> Result<(String, serde_json::Value)> {
    let tenant = &subjects.large;
    let filter = AuditEventFilter {
        tenant_ids: Some(vec![tenant.id]),
        ..AuditEventFilter::default()
    };
    let platform = Principal {
        key_id: uuid::Uuid::nil(),
        key_name: "bench".into(),
        tenant_id: keys.platform_tenant,
        tenant_slug: "platform".into(),
        scopes: [Scope::Platform, Scope::AuditRead].into_iter().collect(),
        product: None,
        expires_at: None,
    };
    let condition = filter
        .condition(&platform)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let select = query(condition, AuditOrder::NewestFirst).to_string(PostgresQueryBuilder);
    let copy = format!("COPY ({select}) TO STDOUT");
    let (child, base, _) = setup::start_sealing_server(bins, url, seal_key)?;
    let http = reqwest::Client::new();
    let export_url = format!(
        "{base}/v1/audit/export?format=ndjson&filter={}",
        url::form_urlencoded::byte_serialize(
            serde_json::json!({"tenantIds": [tenant.id]})
                .to_string()
                .as_bytes()
        )
        .collect::<String>()
    );
    let mut measured = Vec::new();
    for round in 0..rounds {
        // COPY first on even rounds, the export first on odd ones.
        let mut copy_rate = 0.0;
        let mut api = (0.0, 0);
        for step in 0..2 {
            if (step == 0) == round.is_multiple_of(2) {
                copy_rate = copy_rows_per_sec(url, &copy).await?;
            } else {
                api = export_rows_per_sec(&http, &export_url, &keys.platform).await?;
            }
        }
        eprintln!(
            "  X1 round {}: COPY {copy_rate:.0} rows/s, export {:.0} rows/s",
            round + 1,
            api.0
        );
        measured.push(Round {
            copy_rows_per_sec: copy_rate,
            api_rows_per_sec: api.0,
            api_bytes: api.1,
        });
    }
    let rss = peak_rss_mb(child.id());
    setup::stop(child);
    let copy = median(
        &mut measured
            .iter()
            .map(|r| r.copy_rows_per_sec)
            .collect::<Vec<_>>(),
    );
    let api = median(
        &mut measured
            .iter()
            .map(|r| r.api_rows_per_sec)
            .collect::<Vec<_>>(),
    );
    let bytes = measured.last().map_or(0, |r| r.api_bytes);
    let ratio = api / copy;
    let line = format!(
        "\nX1, an export of the large tenant ({} events, NDJSON, {:.0} MB) against COPY of the same SELECT (issue #29: at least 0.5): {api:.0} vs {copy:.0} rows/s = {ratio:.2} ({}); the exporting server's peak RSS {}.\n",
        tenant.events,
        bytes as f64 / 1e6,
        if ratio >= 0.5 { "met" } else { "MISSED" },
        rss.map_or("unknown".into(), |mb| format!("{mb:.1} MB")),
    );
    Ok((
        line,
        serde_json::json!({
            "shape": "X1", "name": "X1", "copy_rows_per_sec": copy, "api_rows_per_sec": api,
            "ratio": ratio, "peak_rss_mb": rss, "errors": 0,
        }),
    ))
}

async fn copy_rows_per_sec(url: &str, copy: &str) -> Result<f64> {
    let mut conn = PgConnection::connect(url).await?;
    let started = Instant::now();
    let mut stream = conn.copy_out_raw(copy).await?;
    let mut rows = 0u64;
    while let Some(chunk) = stream.next().await {
        rows += chunk?.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    drop(stream);
    conn.close().await?;
    Ok(rate)
}

/// Rows per second of one export, and its size.
async fn export_rows_per_sec(http: &reqwest::Client, url: &str, key: &str) -> Result<(f64, u64)> {
    let started = Instant::now();
    let mut response = http.get(url).bearer_auth(key).send().await?;
    if !response.status().is_success() {
        bail!("the export failed: {}", response.text().await?);
    }
    let (mut lines, mut bytes) = (0u64, 0u64);
    while let Some(chunk) = response.chunk().await? {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let rows = lines.checked_sub(1).context("the export has no manifest")?;
    Ok((rows as f64 / started.elapsed().as_secs_f64(), bytes))
}
