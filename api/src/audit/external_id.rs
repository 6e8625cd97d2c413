//! `external_id:` terms of the search language, found through the metadata index.
//!
//! An external id is the publisher's own id for an event (Retraced keeps it; so do we, in
//! `metadata.external_id`), so a search for one is a lookup of one event. Matched as the
//! language defines it, `metadata->>'external_id'` equal to a value, it has no index: on the
//! benchmark data's large tenant (1.3 M events) the planner walks the tenant's events and
//! filters them all, 1.5 s warm for an id nobody has. Containment (`metadata @>
//! '{"external_id": …}'`) is what `audit_log_tenant_metadata_idx` serves, with or without a
//! tenant: 0.2 ms for the same search. So a positive term also asks for the containment that
//! every matching event satisfies; the equality stays, and decides.

use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};

/// The term `external_id:values` given `exact`, its condition: with a containment lookup
/// added when one can be written for every value ([`lookup`]).
///
/// The equality is wrapped in `COALESCE(…, false)`, which changes no result (the event is
/// dropped either way) but hides it from the planner's estimate. Counted on top of the
/// containment (whose estimate comes from the statistics of `metadata`), its default
/// selectivity of 0.5% would make a common value look rare, and the planner would fetch and
/// sort all of its events instead of walking the tenant's newest ones.
pub fn condition(exact: SimpleExpr, values: &[String]) -> SimpleExpr {
    match lookup(values) {
        Some(lookup) => Expr::cust_with_expr("COALESCE($1, false)", exact).and(lookup),
        None => exact,
    }
}

/// `metadata @> {"external_id": v}` for each value, ORed, with `v` as a JSON string and, if
/// it is written as a JSON number, `true` or `false`, as that value too. Every event whose
/// `metadata->>'external_id'` equals a value satisfies it: `->>` gives a string's text, and a
/// number's or boolean's JSON text (PostgreSQL writes numbers without exponents, as
/// [`json_number`] accepts them). `None` when a value begins with `[` or `{`: it could be the
/// text of an array or an object, and the lookup writes no containment for those (the term is
/// then matched by the equality alone).
fn lookup(values: &[String]) -> Option<SimpleExpr> {
    if values.iter().any(|v| v.starts_with(['[', '{'])) {
        return None;
    }
    values
        .iter()
        .flat_map(|v| {
            let string = serde_json::Value::String(v.clone()).to_string();
            let scalar = (json_number(v) || v == "true" || v == "false").then(|| v.clone());
            [Some(string), scalar]
        })
        .flatten()
        .map(|json| {
            Expr::cust_with_values(
                "metadata @> $1::jsonb",
                [format!("{{\"external_id\": {json}}}")],
            )
        })
        .reduce(|a, b| a.or(b))
}

/// Whether `text` is a JSON number as PostgreSQL writes one (`-?(0|[1-9][0-9]*)(\.[0-9]+)?`)
/// within what its `numeric` can hold (131,072 digits before the point, 16,383 after), so
/// that `text::jsonb` cannot fail. A longer one is no stored number's text.
pub fn json_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole)
        && (whole == "0" || !whole.starts_with('0'))
        && whole.len() <= 131_072
        && fraction.is_none_or(|f| all_digits(f) && f.len() <= 16_383)
}
