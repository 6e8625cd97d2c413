//! A statement's SQL as other tools need it: a pgbench script with `:variables`, literals for
//! `EXECUTE`, and the plan of the prepared statement after PostgreSQL's five custom plans.

use anyhow::{Context as _, Result};
use api::reads::PlanCache;
use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder as _};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionSession as _, TransactionTrait};
use serde_json::Value;

/// The SQL literal of each of the statement's values (`'text'`, `42`, ...).
pub fn literals(statement: &Statement) -> Vec<String> {
    statement
        .values
        .iter()
        .flat_map(|values| values.0.iter())
        .map(|v| PostgresQueryBuilder.value_to_string(v))
        .collect()
}

/// The text a literal stands for (pgbench passes variables as text parameters).
fn unquote(literal: &str) -> String {
    let inner = literal.strip_prefix('E').unwrap_or(literal);
    match inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        Some(text) => {
            let text = text.replace("''", "'");
            if literal.starts_with('E') {
                text.replace("\\\\", "\\")
            } else {
                text
            }
        }
        None => literal.to_owned(),
    }
}

/// `$1 .. $n` replaced by `:p1 .. :pn`, and the `-D pN=value` arguments that bind them, so that
/// `pgbench -M prepared` prepares the same statement with the same parameters.
pub fn pgbench_script(statement: &Statement) -> (String, Vec<String>) {
    let values = literals(statement);
    let mut sql = statement.sql.clone();
    for n in (1..=values.len()).rev() {
        sql = sql.replace(&format!("${n}"), &format!(":p{n}"));
    }
    let defines = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("p{}={}", i + 1, unquote(v)))
        .collect();
    (format!("{sql};\n"), defines)
}

/// The statement with its values written in (for a script without parameters).
pub fn inlined(statement: &Statement) -> String {
    let values = literals(statement);
    let mut sql = statement.sql.clone();
    for (n, value) in values.iter().enumerate().rev() {
        sql = sql.replace(&format!("${}", n + 1), value);
    }
    sql
}

/// `EXPLAIN (ANALYZE, BUFFERS, FORMAT ...)` of the statement as the server runs it: prepared,
/// with the server's session settings for statements planned as `plans` says
/// (`api::startup::session_settings`), after six executions (PostgreSQL considers a generic plan
/// from the sixth on).
pub async fn explain_prepared(
    db: &impl TransactionTrait,
    statement: &Statement,
    format: &str,
    plans: PlanCache,
) -> Result<String> {
    let txn = db.begin().await?;
    for (name, value) in api::startup::session_settings(plans) {
        txn.execute_unprepared(&format!("SET LOCAL {name} = '{value}'"))
            .await?;
    }
    txn.execute_unprepared(&format!("PREPARE bench_shape AS {}", statement.sql))
        .await
        .context("PREPARE")?;
    let execute = format!("EXECUTE bench_shape({})", literals(statement).join(", "));
    let execute = if statement.values.as_ref().is_none_or(|v| v.0.is_empty()) {
        "EXECUTE bench_shape".to_owned()
    } else {
        execute
    };
    for _ in 0..6 {
        txn.execute_unprepared(&execute).await?;
    }
    let rows = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT {format}) {execute}"),
        ))
        .await?;
    let mut plan = String::new();
    for row in rows {
        if format.eq_ignore_ascii_case("json") {
            let value: Value = row.try_get_by_index(0)?;
            plan.push_str(&value.to_string());
        } else {
            let line: String = row.try_get_by_index(0)?;
            plan.push_str(&line);
            plan.push('\n');
        }
    }
    txn.execute_unprepared("DEALLOCATE bench_shape").await?;
    txn.rollback().await?;
    Ok(plan)
}

/// What a plan does to `audit_log` that a fast search must not: sequential scans of it, and
/// rows read and thrown away (by filters and rechecks, over all loops).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanWaste {
    /// Sequential scans of `audit_log`.
    pub seq_scans: u64,
    /// Rows removed by a filter or an index recheck, summed over nodes and loops.
    pub rows_discarded: u64,
    /// Sort nodes: rows read whole and ordered, not read in order from an index (an
    /// Incremental Sort, which orders each group of rows that arrive in order, is not one).
    pub sorts: u64,
    /// Rows those Sort nodes read.
    pub rows_sorted: u64,
    /// Shared buffers the whole plan hit or read.
    pub buffers: u64,
    /// Every node type in the plan, for messages.
    pub nodes: Vec<String>,
}

/// Reads a `FORMAT JSON` plan.
pub fn plan_waste(plan_json: &str) -> Result<PlanWaste> {
    let value: Value = serde_json::from_str(plan_json)?;
    let root = value
        .get(0)
        .and_then(|p| p.get("Plan"))
        .context("no Plan in the EXPLAIN output")?;
    let mut waste = PlanWaste::default();
    for key in ["Shared Hit Blocks", "Shared Read Blocks"] {
        waste.buffers += root[key].as_u64().unwrap_or(0);
    }
    walk(root, &mut waste);
    Ok(waste)
}

fn walk(node: &Value, waste: &mut PlanWaste) {
    let kind = node["Node Type"].as_str().unwrap_or_default();
    let relation = node["Relation Name"].as_str().unwrap_or_default();
    let index = node["Index Name"].as_str().unwrap_or_default();
    waste
        .nodes
        .push(match (relation.is_empty(), index.is_empty()) {
            (true, true) => kind.to_owned(),
            (true, false) => format!("{kind} using {index}"),
            (false, true) => format!("{kind} on {relation}"),
            (false, false) => format!("{kind} using {index} on {relation}"),
        });
    if kind == "Seq Scan" && relation == "audit_log" {
        waste.seq_scans += 1;
    }
    // An Incremental Sort orders only rows that agree on the columns before (events of one
    // instant, read in time order): it reads nothing whole.
    if kind == "Sort" {
        waste.sorts += 1;
        for child in node["Plans"].as_array().into_iter().flatten() {
            let loops = child["Actual Loops"].as_u64().unwrap_or(1).max(1);
            waste.rows_sorted += child["Actual Rows"].as_u64().unwrap_or(0) * loops;
        }
    }
    let loops = node["Actual Loops"].as_u64().unwrap_or(1).max(1);
    for key in ["Rows Removed by Filter", "Rows Removed by Index Recheck"] {
        waste.rows_discarded += node[key].as_u64().unwrap_or(0) * loops;
    }
    if let Some(children) = node["Plans"].as_array() {
        for child in children {
            walk(child, waste);
        }
    }
}
