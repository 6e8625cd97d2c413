//! `bench`: the API against PostgreSQL's own speed, shape by shape, in one run.
//!
//! 1. A database with the bulk data set (`DATABASE_URL`, or the persistent `bench` cluster under
//!    target/pg, seeded with `seed bulk` on first use), migrated and analysed.
//! 2. The subjects (largest and median tenant, rare prefix, deep cursor) and keys for them.
//! 3. The real server (`api serve`, release build) on a free port.
//! 4. Every shape checked once: the API's rows are the floor's rows.
//! 5. Rounds of floor (pgbench -M prepared) and api (wrk) alternating, the median reported.
//! 6. The table (with CPU per operation of the server and of the database, from /proc), the
//!    server's peak RSS and key-cache hit rate, the plans, into target/bench/.

mod checks;
mod export;
mod runners;
mod setup;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use api::reads::PlanCache;
use bench::shapes::{self, Caller, Subjects};
use bench::{cpu, sql};
use clap::Parser;
use localpg::Binaries;
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

use checks::{s10, verify};
use runners::{Load, Measured, median};
use setup::{Keys, keys, peak_rss_mb, prepare, start_server};

/// Benchmark every search shape through the real server against the same SQL run by pgbench.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub(crate) struct Args {
    /// The database (with the bulk data set, or empty to seed it). Unset: the persistent
    /// `bench` cluster under target/pg, created and seeded on first use and kept afterwards.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,
    /// Tenants of the data set (when seeding).
    #[arg(long, default_value_t = 1000)]
    pub(crate) tenants: usize,
    /// Audit events of the data set (when seeding).
    #[arg(long, default_value_t = 10_000_000)]
    pub(crate) events: u64,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 4)]
    seconds: u32,
    /// Rounds (floor and api alternate; the median is reported).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Concurrent connections of both load generators.
    #[arg(long, default_value_t = 8)]
    connections: u32,
    /// Only these shapes (e.g. S1,S5,S10).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where results go (default: target/bench/<time>).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Where the workspace's binaries are (this one is among them).
fn bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.parent().context("exe dir")?.to_path_buf())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn which(program: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .with_context(|| format!("`{program}` is not installed (apt install {program})"))
}

/// What one shape is measured with.
struct Job {
    name: String,
    label: String,
    /// pgbench script and defines.
    script: PathBuf,
    defines: Vec<String>,
    /// How the server plans the statement (pgbench runs it with the same setting).
    plans: PlanCache,
    /// wrk target, body file and Authorization header.
    url: String,
    body: PathBuf,
    authorization: String,
    /// Rows per transaction (S10: 50 events; else 1 request).
    per_op: f64,
    shape: &'static str,
    /// Measured through a server of its own that seals the audit log (S10seal): started, caught
    /// up and stopped around each of its api measurements.
    sealing: bool,
}

fn key_for(caller: Caller, subjects: &Subjects, keys: &Keys) -> String {
    match caller {
        Caller::Tenant(id) if id == subjects.large.id => keys.large.clone(),
        Caller::Tenant(_) => keys.mid.clone(),
        Caller::Platform => keys.platform.clone(),
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let bins = bin_dir()?;
    let pg = Binaries::locate()?;
    let pgbench = pg.program("pgbench");
    let wrk = which("wrk")?;
    let out = args.out.clone().unwrap_or_else(|| {
        workspace_root()
            .join("target/bench")
            .join(chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string())
    });
    std::fs::create_dir_all(out.join("plans"))?;
    std::fs::create_dir_all(out.join("scripts"))?;
    let lua = out.join("scripts/post.lua");
    write(&lua, include_str!("../wrk/post.lua"))?;

    let (_cluster, url) = prepare(&args, &bins).await?;
    let db = Database::connect(url.as_str()).await?;
    eprintln!("== choosing subjects");
    let subjects = shapes::subjects(&db).await?;
    eprintln!(
        "large tenant {} ({} events), mid tenant {} ({} events), data ends {}",
        subjects.large.slug,
        subjects.large.events,
        subjects.mid.slug,
        subjects.mid.events,
        subjects.now
    );
    let keys = keys(&db, &subjects).await?;
    let (mut server, base, log) = start_server(&bins, &url)?;
    let http = reqwest::Client::new();
    let wanted = |id: &str| args.only.is_empty() || args.only.iter().any(|o| o == id);

    eprintln!("== checking every shape once and saving its plan");
    let mut jobs = Vec::new();
    for shape in shapes::read_shapes(&subjects) {
        if !wanted(shape.id) {
            continue;
        }
        let statement = shape.statement(keys.platform_tenant)?;
        let plans = shape.plan_cache();
        let key = key_for(shape.caller, &subjects, &keys);
        let rows = verify(&db, &http, &base, &shape, &statement, &key).await?;
        let file = shape.name().replace(' ', "-");
        let plan = sql::explain_prepared(&db, &statement, "TEXT", plans).await?;
        write(
            &out.join(format!("plans/{file}.txt")),
            &format!(
                "-- {}: {}\n-- {}\n-- plan_cache_mode = {}\n\n{plan}",
                shape.name(),
                shape.label,
                sql::inlined(&statement),
                api::startup::plan_cache_mode(plans),
            ),
        )?;
        let (script, defines) = sql::pgbench_script(&statement);
        let script_path = out.join(format!("scripts/{file}.sql"));
        write(&script_path, &script)?;
        let body = out.join(format!("scripts/{file}.json"));
        write(&body, &shape.body.to_string())?;
        eprintln!("  {:<10} ok ({rows} rows) {}", shape.name(), shape.label);
        jobs.push(Job {
            name: shape.name(),
            label: shape.label.clone(),
            script: script_path,
            defines,
            plans,
            url: format!("{base}/graphql"),
            body,
            authorization: format!("Bearer {key}"),
            per_op: 1.0,
            shape: shape.id,
            sealing: false,
        });
    }
    // S14: a product asks about a customer's key it has asked about before (the server
    // recognises it without argon2 and reads key, tenant and entitlement in one statement).
    // S14 asks what a product decides on (valid, why, whose, what the key may do, the
    // product's settings); S14full every field of the answer.
    let s14 = [
        (
            "S14",
            "query($k: String!) { verifyApiKey(key: $k) { valid code readOnly \
             key { id scopes } tenant { id slug } entitlement { active config } } }",
        ),
        (
            "S14full",
            "query($k: String!) { verifyApiKey(key: $k) { valid code readOnly retryAfterSeconds \
             key { id name prefix scopes product expiresAt lastUsedAt } tenant { id slug status } \
             entitlement { active reason product enabled config expiresAt createdAt updatedAt } } }",
        ),
    ];
    for (id, query) in s14 {
        let Some((verifier, product)) = keys.verifier.as_ref().filter(|_| wanted(id)) else {
            continue;
        };
        let body = json!({"query": query, "variables": {"k": keys.large}});
        let statement = registry::keys::verify::statement(keys.large_id, Some(product));
        checks::s14(&db, &http, &base, verifier, &body, &statement).await?;
        let (script, defines) = sql::pgbench_script(&statement);
        let script_path = out.join(format!("scripts/{id}.sql"));
        write(&script_path, &script)?;
        let body_file = out.join(format!("scripts/{id}.json"));
        write(&body_file, &body.to_string())?;
        let plans = api::graphql::manage::keys::VERIFY_PLAN_CACHE;
        let plan = sql::explain_prepared(&db, &statement, "TEXT", plans).await?;
        write(
            &out.join(format!("plans/{id}.txt")),
            &format!("-- {id}\n{plan}"),
        )?;
        eprintln!("  {id:<10} ok (VALID) verifyApiKey of a known key, for {product}");
        jobs.push(Job {
            name: id.into(),
            label: format!(
                "verifyApiKey of a key verified before, for {product}{}",
                if id == "S14" { "" } else { ", every field" }
            ),
            script: script_path,
            defines,
            plans,
            url: format!("{base}/graphql"),
            body: body_file,
            authorization: format!("Bearer {verifier}"),
            per_op: 1.0,
            shape: if id == "S14" { "S14" } else { "S14full" },
            sealing: false,
        });
    }
    if wanted("S10") {
        let (body, insert) = s10(&db, &http, &base, &keys.writer).await?;
        let script = out.join("scripts/S10.sql");
        write(&script, &insert)?;
        let body_file = out.join("scripts/S10.json");
        write(&body_file, &body.to_string())?;
        eprintln!(
            "  S10        ok (50 events stored with their hashes) Retraced bulk publish of 50 events"
        );
        jobs.push(Job {
            name: "S10".into(),
            label: "Retraced bulk publish, 50 events per call (events/s)".into(),
            script,
            defines: Vec::new(),
            plans: PlanCache::Session,
            url: format!("{base}/publisher/v1/project/bench/event/bulk"),
            body: body_file,
            authorization: format!("token={}", keys.writer),
            per_op: 50.0,
            shape: "S10",
            sealing: false,
        });
        if wanted("S10seal") {
            // The same publishing through a server that seals the audit log every second
            // (issue #29: at most 10% slower than S10, in the same run).
            let s10 = jobs.last().context("S10")?;
            let sealing = Job {
                name: "S10seal".into(),
                label: "S10 through a server sealing every second (events/s)".into(),
                script: s10.script.clone(),
                defines: Vec::new(),
                plans: PlanCache::Session,
                url: String::new(),
                body: s10.body.clone(),
                authorization: s10.authorization.clone(),
                per_op: 50.0,
                shape: "S10seal",
                sealing: true,
            };
            jobs.push(sealing);
        }
    }
    // The sealing server's key, kept beside the bench cluster so that its log verifies
    // across runs (`api verify-log --signing-key` … or the public half), and the log sealed
    // up before anything is measured (the first time: the whole data set).
    let seal_key = workspace_root().join("target/pg/bench-audit-log-key.pem");
    if jobs.iter().any(|j| j.sealing) || wanted("X1") {
        registry::evidence::signing::LogKey::load_or_create(&seal_key)?;
        let started = std::time::Instant::now();
        let (child, _, _) = setup::start_sealing_server(&bins, &url, &seal_key)?;
        while !setup::sealed_up(&db).await? {
            let leaves: i64 = bench::subjects::scalar(
                &db,
                "SELECT coalesce(max(leaf_index) + 1, 0) FROM audit_seal_leaf",
                vec![],
            )
            .await?
            .unwrap_or(0);
            eprintln!(
                "== sealing the data set before measuring: {leaves} events sealed ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        }
        setup::stop(child);
    }

    let load = Load {
        connections: args.connections,
        threads: 2,
        seconds: args.seconds,
    };
    eprintln!(
        "== measuring: {} shapes × {} rounds × (floor + api) × {} s, {} connections",
        jobs.len(),
        args.rounds,
        args.seconds,
        args.connections
    );
    let backend: i32 = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT pg_backend_pid()",
        ))
        .await?
        .context("pg_backend_pid")?
        .try_get_by_index(0)?;
    let meter = cpu::Meter::new(server.id(), backend as u32);
    let mut floors: Vec<Vec<Measured>> = vec![Vec::new(); jobs.len()];
    let mut apis: Vec<Vec<Measured>> = vec![Vec::new(); jobs.len()];
    // The reads first, all rounds; then the writes (S10), whose rows would otherwise be the
    // newest in the table and change what the cross-tenant shapes read.
    let (reads, writes): (Vec<usize>, Vec<usize>) =
        (0..jobs.len()).partition(|i| !jobs[*i].shape.starts_with("S10"));
    for (phase, indices) in [("reads", reads), ("writes", writes)] {
        if indices.is_empty() {
            continue;
        }
        eprintln!("-- {phase}");
        for round in 0..args.rounds {
            for &i in &indices {
                let job = &jobs[i];
                let floor_first = (round as usize + i).is_multiple_of(2);
                for step in 0..2 {
                    let api_step = (step == 0) != floor_first;
                    if job.sealing && api_step {
                        let (list, measured) = (
                            &mut apis[i],
                            measure_sealing(
                                &job_env(&bins, &url, &seal_key),
                                &db,
                                job,
                                &wrk,
                                &lua,
                                &load,
                                backend as u32,
                            )
                            .await?,
                        );
                        list.push(measured);
                        continue;
                    }
                    let before = meter.read_settled();
                    let (list, mut measured) = if (step == 0) == floor_first {
                        let run = runners::pgbench(
                            &pgbench,
                            &url,
                            &job.script,
                            &job.defines,
                            job.plans,
                            &load,
                        )?;
                        (&mut floors[i], run)
                    } else {
                        let answered_with_errors = graphql_error_responses(&http, &base).await?;
                        let mut run = runners::wrk(
                            &wrk,
                            &lua,
                            &job.url,
                            &job.body,
                            &job.authorization,
                            &load,
                        )?;
                        run.errors +=
                            graphql_error_responses(&http, &base).await? - answered_with_errors;
                        (&mut apis[i], run)
                    };
                    let ops = measured.per_sec * f64::from(load.seconds) * job.per_op;
                    measured.cpu = before.per_op(&meter.read_settled(), ops);
                    list.push(measured);
                }
                eprint!(".");
                let _ = std::io::stderr().flush();
            }
            eprintln!(" round {} of {}", round + 1, args.rounds);
        }
    }
    // X1: exports against COPY, through a sealing server of its own (the log is sealed up).
    let export = if wanted("X1") {
        eprintln!("-- X1 (exports)");
        Some(export::measure(&bins, &url, &seal_key, &subjects, &keys, args.rounds).await?)
    } else {
        None
    };
    // S10's rows go, from the indexes too (`setup::remove_published`).
    setup::remove_published(&db).await?;
    let rss = peak_rss_mb(server.id());
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    let server_log: Vec<String> = log.try_iter().collect();
    let key_stats = server_log
        .iter()
        .find(|l| l.contains("key checks:"))
        .cloned()
        .unwrap_or_else(|| "(no key statistics in the server's log)".into());

    // The table.
    let mut table = String::new();
    table.push_str("| shape | what | floor tps | floor avg ms | api req/s | api/floor | api p50 ms | api p99 ms | errors | db µs/op floor | db µs/op api | server µs/op |\n");
    table.push_str(
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let mut summary = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let med = |v: &[Measured], f: fn(&Measured) -> f64| {
            median(&mut v.iter().map(f).collect::<Vec<_>>())
        };
        let floor_tps = med(&floors[i], |m| m.per_sec) * job.per_op;
        let floor_ms = med(&floors[i], |m| m.mean_ms);
        let api_rps = med(&apis[i], |m| m.per_sec) * job.per_op;
        let p50 = med(&apis[i], |m| m.p50_ms);
        let p99 = med(&apis[i], |m| m.p99_ms);
        let errors: u64 = floors[i].iter().chain(&apis[i]).map(|m| m.errors).sum();
        let ratio = api_rps / floor_tps;
        let floor_db = med(&floors[i], |m| m.cpu.db_us);
        let api_db = med(&apis[i], |m| m.cpu.db_us);
        let server = med(&apis[i], |m| m.cpu.server_us);
        table.push_str(&format!(
            "| {} | {} | {floor_tps:.0} | {floor_ms:.2} | {api_rps:.0} | {ratio:.2} | {p50:.2} | {p99:.2} | {errors} | {floor_db:.0} | {api_db:.0} | {server:.0} |\n",
            job.name, job.label
        ));
        summary.push(json!({
            "shape": job.shape, "name": job.name, "label": job.label,
            "floor_per_sec": floor_tps, "floor_avg_ms": floor_ms, "api_per_sec": api_rps,
            "ratio": ratio, "api_p50_ms": p50, "api_p99_ms": p99, "errors": errors,
            "floor_db_cpu_us_per_op": floor_db, "api_db_cpu_us_per_op": api_db,
            "server_cpu_us_per_op": server,
        }));
    }
    // S14's targets (issue #28): server CPU per verification at most S9's plus 15 µs, p99
    // under 2 ms.
    let figure = |name: &str, field: &str| {
        summary
            .iter()
            .find(|s| s["name"] == name)
            .and_then(|s| s[field].as_f64())
    };
    let s14_note = match (
        figure("S14", "server_cpu_us_per_op"),
        figure("S9 large", "server_cpu_us_per_op"),
        figure("S14", "api_p99_ms"),
    ) {
        (Some(s14), Some(s9), Some(p99)) => format!(
            "\nS14 against its targets: server CPU {s14:.0} µs/verify vs S9's {s9:.0} + 15 = {:.0} µs ({}); p99 {p99:.2} ms vs 2 ms ({}).\n",
            s9 + 15.0,
            if s14 <= s9 + 15.0 { "met" } else { "MISSED" },
            if p99 < 2.0 { "met" } else { "MISSED" },
        ),
        _ => String::new(),
    };
    table.push_str(&s14_note);
    if let (Some(on), Some(off)) = (
        figure("S10seal", "api_per_sec"),
        figure("S10", "api_per_sec"),
    ) {
        table.push_str(&format!(
            "S10 with sealing against without (issue #29: at least 0.9): {on:.0} vs {off:.0} events/s = {:.2} ({}).\n",
            on / off,
            if on / off >= 0.9 { "met" } else { "MISSED" }
        ));
    }
    if let (Some(full), Some(s9)) = (
        figure("S14full", "server_cpu_us_per_op"),
        figure("S9 large", "server_cpu_us_per_op"),
    ) {
        table.push_str(&format!(
            "S14full (every field of the answer, no target): server CPU {full:.0} µs/verify, {:+.0} µs on S9's.\n",
            full - s9
        ));
    }
    if let Some((line, entry)) = export {
        table.push_str(&line);
        summary.push(entry);
    }
    let rss_text = rss.map_or("unknown".to_owned(), |mb| format!("{mb:.1} MB"));
    let report = format!(
        "{table}\nServer peak RSS (VmHWM): {rss_text}\nServer {key_stats}\n\nData: {} (large: {}, {} events; mid: {}, {} events). \
         {} s per measurement, {} rounds, median; {} connections for pgbench and wrk; 2 cores shared by PostgreSQL, the server and the load generator.\n",
        url.split('@').next_back().unwrap_or("database"),
        subjects.large.slug,
        subjects.large.events,
        subjects.mid.slug,
        subjects.mid.events,
        args.seconds,
        args.rounds,
        args.connections,
    );
    println!("{report}");
    write(&out.join("summary.md"), &report)?;
    write(
        &out.join("results.json"),
        &serde_json::to_string_pretty(&json!({
            "shapes": summary, "peak_rss_mb": rss, "key_stats": key_stats,
        }))?,
    )?;
    eprintln!("results, scripts and plans: {}", out.display());
    let errors: u64 = summary.iter().filter_map(|s| s["errors"].as_u64()).sum();
    if errors > 0 {
        bail!("{errors} errors during the measurements");
    }
    Ok(())
}

/// Where the sealing server comes from.
struct SealingEnv<'a> {
    bins: &'a Path,
    url: &'a str,
    key: &'a Path,
}

fn job_env<'a>(bins: &'a Path, url: &'a str, key: &'a Path) -> SealingEnv<'a> {
    SealingEnv { bins, url, key }
}

/// One api measurement of a sealing job: a sealing server started, caught up with what earlier
/// rounds published, measured (its own CPU), stopped.
#[allow(clippy::too_many_arguments)]
async fn measure_sealing(
    env: &SealingEnv<'_>,
    db: &sea_orm::DatabaseConnection,
    job: &Job,
    wrk: &Path,
    lua: &Path,
    load: &Load,
    backend: u32,
) -> Result<Measured> {
    let (child, base, _) = setup::start_sealing_server(env.bins, env.url, env.key)?;
    while !setup::sealed_up(db).await? {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let meter = cpu::Meter::new(child.id(), backend);
    let before = meter.read_settled();
    let url = format!("{base}/publisher/v1/project/bench/event/bulk");
    let run = runners::wrk(wrk, lua, &url, &job.body, &job.authorization, load);
    let after = meter.read_settled();
    setup::stop(child);
    let mut measured = run?;
    let ops = measured.per_sec * f64::from(load.seconds) * job.per_op;
    measured.cpu = before.per_op(&after, ops);
    Ok(measured)
}

/// The server's count of GraphQL responses that carried errors (`GET /metrics`): wrk counts
/// only statuses and socket errors, and a GraphQL error can come with a 200.
async fn graphql_error_responses(http: &reqwest::Client, base: &str) -> Result<u64> {
    const SAMPLE: &str = "tenant_registry_graphql_responses_total{errors=\"true\"} ";
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    text.lines()
        .find_map(|line| line.strip_prefix(SAMPLE)?.parse().ok())
        .with_context(|| format!("no `{SAMPLE}` in the server's /metrics"))
}
