//! The statement of an export (`GET /v1/audit/export`): the events a filter selects, in a
//! page's order, each as its leaf's fields (its tenant and project as sealed, when the schema
//! has cleared them since) with its leaf index, read as one stream.

use entity::prelude::AuditLog;
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, JoinType, PostgresQueryBuilder, Query, SelectStatement,
};
use sea_orm::{DbBackend, Order, Statement};

use super::store::AuditOrder;
use registry::evidence::leaf::LEAF_COLUMNS;

/// The columns: [`LEAF_COLUMNS`] (with the sealed tenant and project where the row's are
/// NULL), then the leaf index (NULL when not sealed).
fn columns() -> String {
    let refs = "a.tenant_id, a.project_id";
    debug_assert!(LEAF_COLUMNS.contains(refs));
    LEAF_COLUMNS.replacen(
        refs,
        "COALESCE(a.tenant_id, l.sealed_tenant), COALESCE(a.project_id, l.sealed_project)",
        1,
    ) + ", l.leaf_index"
}

/// The export's statement for `condition` (a filter with the caller's reach) in `order`
/// ([`query`]).
pub fn statement(condition: Condition, order: AuditOrder) -> Statement {
    let (sql, values) = query(condition, order).build(PostgresQueryBuilder);
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// The export's SELECT for `condition` in `order`.
///
/// `condition` is written for `audit_log` as the page statements use it (columns unqualified,
/// or qualified with the table's name, as a metadata filter's term lookup does), so it filters
/// `audit_log` in a subquery of its own, which PostgreSQL flattens; the result is `a`, and the
/// sealing table's columns are renamed so that none of them is ambiguous.
pub fn query(condition: Condition, order: AuditOrder) -> SelectStatement {
    let direction = match order {
        AuditOrder::NewestFirst => Order::Desc,
        AuditOrder::OldestFirst => Order::Asc,
    };
    let mut sealed = Query::select();
    sealed
        .expr_as(Expr::cust("s.leaf_index"), Alias::new("leaf_index"))
        .expr_as(Expr::cust("s.tenant_id"), Alias::new("sealed_tenant"))
        .expr_as(Expr::cust("s.project_id"), Alias::new("sealed_project"))
        .from_as(Alias::new("audit_seal_leaf"), Alias::new("s"))
        .and_where(Expr::cust("s.event_id = a.id"));
    let mut events = Query::select();
    events.column(Asterisk).from(AuditLog).cond_where(condition);
    let mut query = Query::select();
    query
        .expr(Expr::cust(columns()))
        .from_subquery(events, Alias::new("a"))
        .join_lateral(
            JoinType::LeftJoin,
            sealed,
            Alias::new("l"),
            Condition::all().add(Expr::cust("TRUE")),
        )
        .order_by_expr(Expr::cust("a.created_at"), direction.clone())
        .order_by_expr(Expr::cust("a.id"), direction);
    query
}
