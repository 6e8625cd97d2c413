//! The two load generators, each run at the same concurrency: `pgbench -M prepared` for the
//! floor, `wrk` (with `post.lua`) for the API.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use api::reads::PlanCache;
use serde_json::Value;

use bench::cpu::PerOp;

/// One measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    /// Transactions (floor) or requests (api) per second.
    pub per_sec: f64,
    /// Mean latency, ms.
    pub mean_ms: f64,
    /// Median latency, ms (api only).
    pub p50_ms: f64,
    /// 99th percentile latency, ms (api only).
    pub p99_ms: f64,
    /// Failed transactions, non-2xx responses, GraphQL errors, socket errors.
    pub errors: u64,
    /// CPU per operation of the server and of the database during the measurement.
    pub cpu: PerOp,
}

/// How a load generator is run.
#[derive(Debug, Clone)]
pub struct Load {
    /// Concurrent connections.
    pub connections: u32,
    /// Threads of the generator.
    pub threads: u32,
    /// Seconds per measurement.
    pub seconds: u32,
}

/// The server's session settings for statements planned as `plans` says, as `PGOPTIONS`.
fn pgoptions(plans: PlanCache) -> String {
    let mut options = String::from("-c statement_timeout=10s");
    for (name, value) in api::startup::session_settings(plans) {
        options.push_str(&format!(" -c {name}={value}"));
    }
    options
}

/// Runs `script` (with `-D` defines) under `pgbench -M prepared`, with the server's session
/// settings for statements planned as `plans` says, against `url`.
pub fn pgbench(
    pgbench: &Path,
    url: &str,
    script: &Path,
    defines: &[String],
    plans: PlanCache,
    load: &Load,
) -> Result<Measured> {
    let mut cmd = Command::new(pgbench);
    cmd.args(["-n", "-M", "prepared"])
        .args(["-c", &load.connections.to_string()])
        .args(["-j", &load.threads.to_string()])
        .args(["-T", &load.seconds.to_string()])
        .arg("-f")
        .arg(script)
        .env("PGOPTIONS", pgoptions(plans));
    for define in defines {
        cmd.arg("-D").arg(define);
    }
    cmd.arg(url);
    let out = cmd.output().context("running pgbench")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let number = |prefix: &str| -> Result<f64> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("pgbench printed no `{prefix}`: {text}"))
    };
    Ok(Measured {
        per_sec: number("tps = ")?,
        mean_ms: number("latency average = ")?,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        errors: number("number of failed transactions: ").unwrap_or(0.0) as u64,
        cpu: PerOp::default(),
    })
}

/// POSTs `body_file` to `url` with `authorization` under `wrk`, `lua` counting bad responses.
pub fn wrk(
    wrk: &Path,
    lua: &Path,
    url: &str,
    body_file: &Path,
    authorization: &str,
    load: &Load,
) -> Result<Measured> {
    let out = Command::new(wrk)
        .args(["-t", &load.threads.to_string()])
        .args(["-c", &load.connections.to_string()])
        .args(["-d", &format!("{}s", load.seconds)])
        .arg("-s")
        .arg(lua)
        .arg(url)
        .arg("--")
        .arg(body_file)
        .arg(authorization)
        .output()
        .context("running wrk (apt install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .with_context(|| format!("wrk printed no summary: {text}"))?;
    let summary: Value = serde_json::from_str(line)?;
    let get = |k: &str| summary[k].as_f64().unwrap_or(f64::NAN);
    let seconds = get("duration_us") / 1e6;
    Ok(Measured {
        per_sec: get("requests") / seconds,
        mean_ms: get("mean_us") / 1e3,
        p50_ms: get("p50_us") / 1e3,
        p99_ms: get("p99_us") / 1e3,
        errors: (get("status_errors") + get("socket_errors")) as u64,
        cpu: PerOp::default(),
    })
}

/// The median of `values` (NaN when empty).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if !values.len().is_multiple_of(2) {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}
