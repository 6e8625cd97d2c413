//! `filter.metadata` within tenants, found through `audit_metadata_term` in time order.
//!
//! A tenant's events containing a metadata value, newest first: the GIN index finds them all
//! in no order, so a page of a value the tenant has thousands of events of fetched and sorted
//! every one (S8, 50 ms under load on the large benchmark tenant). The table `audit_metadata_term`
//! (migration `m20261122_173000_audit_metadata_terms`) keeps each tenant's metadata as terms (a top-level key and a scalar value) in time order; the
//! filter asks, for up to [`MAX_TERMS`] of its terms, that one exists at the event's instant,
//! and the planner reads the rarest term's rows newest first and stops at a page.
//!
//! The terms only narrow the search: `metadata @>` still decides every event. It is wrapped in
//! `COALESCE(…, false)`, which changes no result but keeps the planner from counting it on top
//! of the terms (the same condition twice, which would make any value look rare and send the
//! planner back to fetching and sorting) and from reaching for the GIN index.
//!
//! Only where every event searched has a tenant (a tenant key, or `filter.tenantIds`): events
//! without one have no terms. A filter with no term (`{}`, or only nested objects) is matched
//! by `@>` through the GIN index alone.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr};
use serde_json::Value;

/// Terms looked up per filter; the rest of the filter is decided by `@>` alone.
pub const MAX_TERMS: usize = 3;

/// `metadata @> filter`, narrowed by its terms when the search is confined to tenants, whose
/// rows are looked up within `bounds` (`(operator, instant)`: `created_at >= since`, `< until`,
/// and the page's side of its cursor), bounds the event must also be within.
///
/// The planner does not carry a range across the join, so without them the term's rows
/// would be read from its newest: those after `until` or the cursor only to be dropped at the
/// event. A cursor's are worse than wasted: a probe of an instant after the cursor combines
/// `created_at = instant` with the cursor's `(created_at, id) < (…)` in one index scan, which
/// PostgreSQL 15 starts at the cursor and runs to the end of the index, as the two do not
/// contradict for it. Page 200 of the large benchmark tenant's `{"mfa": false}` took 210 s
/// so; 0.6 ms with the bound.
pub fn containment(
    filter: &Value,
    within_tenants: bool,
    bounds: &[(&str, DateTime<Utc>)],
) -> Condition {
    let contains = || Expr::cust_with_values("metadata @> $1::jsonb", [filter.clone()]);
    let terms = if within_tenants {
        terms(filter)
    } else {
        Vec::new()
    };
    if terms.is_empty() {
        return Condition::all().add(contains());
    }
    let mut all = Condition::all().add(Expr::cust_with_expr("COALESCE($1, false)", contains()));
    for (key, value) in terms {
        let mut sql = String::from(
            "EXISTS (SELECT 1 FROM audit_metadata_term m \
             WHERE m.tenant_id = \"audit_log\".\"tenant_id\" \
             AND m.term = audit_metadata_term($1, $2::jsonb) \
             AND m.created_at = \"audit_log\".\"created_at\"",
        );
        let mut values: Vec<sea_orm::Value> = vec![key.to_owned().into(), value.clone().into()];
        for (operator, at) in bounds {
            values.push((*at).into());
            sql.push_str(&format!(" AND m.created_at {operator} ${}", values.len()));
        }
        sql.push(')');
        all = all.add(Expr::cust_with_values(sql, values));
    }
    all
}

/// The terms of a filter object, at most [`MAX_TERMS`]: each top-level key with a scalar value,
/// or with an array, with each scalar in it (`{"fields": ["email"]}` asks for an array holding
/// `"email"`). An event whose metadata contains the filter has every one of these terms, as
/// `audit_metadata_terms` computes them. Nested objects, and arrays in arrays, give none.
pub fn terms(filter: &Value) -> Vec<(&str, &Value)> {
    let Value::Object(object) = filter else {
        return Vec::new();
    };
    let scalar = |v: &&Value| !v.is_object() && !v.is_array();
    object
        .iter()
        .flat_map(|(key, value)| {
            let values: Vec<&Value> = match value {
                Value::Array(items) => items.iter().filter(scalar).collect(),
                Value::Object(_) => Vec::new(),
                value => vec![value],
            };
            values.into_iter().map(move |v| (key.as_str(), v))
        })
        .take(MAX_TERMS)
        .collect()
}
