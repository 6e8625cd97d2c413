//! Reading and writing `audit_log`: keyset pages, counts, single events, inserts.
//!
//! Pages are ordered by `(created_at, id)` and continue after a cursor with a row-value
//! comparison `(created_at, id) < ($1, $2)`, which an index on those columns serves directly
//! (no OFFSET). One extra row is fetched to learn whether another page follows.

use async_graphql::Enum;
use entity::audit_log::{self, Column};
use entity::prelude::AuditLog;
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, ExprTrait, PostgresQueryBuilder, Query, SelectStatement,
    UnionType,
};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, IdenStatic, Order,
    PaginatorTrait, QueryFilter, QuerySelect, QueryTrait, Statement,
};

use super::cursor::Cursor;
pub use super::row::Columns;
use super::row::PageRow;

/// The order of a page.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditOrder {
    /// `(created_at, id)` descending.
    #[default]
    NewestFirst,
    /// `(created_at, id)` ascending.
    OldestFirst,
}

/// One page of events.
#[derive(Debug)]
pub struct Page<Row = audit_log::Model> {
    /// At most the requested number of rows, in order.
    pub rows: Vec<Row>,
    /// Whether more rows follow the last one.
    pub has_next_page: bool,
}

/// The `first` events matching any of `conditions` (disjoint: [`page_statement`]) after
/// `after`, in `order`, as rows of `columns` read column by column when asked ([`PageRow`]).
pub async fn page_rows(
    db: &impl ConnectionTrait,
    conditions: Vec<Condition>,
    order: AuditOrder,
    first: u64,
    after: Option<Cursor>,
    columns: Columns,
) -> Result<Page<PageRow>, DbErr> {
    let statement = page_statement(conditions, order, first, after, columns);
    let mut rows = db
        .query_all_raw(statement)
        .await?
        .into_iter()
        .map(|row| PageRow::new(row, columns))
        .collect::<Result<Vec<_>, _>>()?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok(Page {
        rows,
        has_next_page,
    })
}

/// Like [`page_rows`], every column read into the entity's model.
pub async fn page(
    db: &impl ConnectionTrait,
    condition: Condition,
    order: AuditOrder,
    first: u64,
    after: Option<Cursor>,
) -> Result<Page, DbErr> {
    let page = page_rows(db, vec![condition], order, first, after, Columns::ALL).await?;
    Ok(Page {
        rows: page
            .rows
            .into_iter()
            .map(PageRow::into_model)
            .collect::<Result<_, _>>()?,
        has_next_page: page.has_next_page,
    })
}

/// The statement [`page_rows`] runs: `columns` of `first + 1` rows (the extra one tells
/// whether a next page exists). The benchmark and the plan tests use it to run exactly what
/// the server runs.
///
/// With no `conditions`, no rows. With two or more (the branches of [`AuditEventFilter::page_conditions`],
/// which match disjoint rows), each is read as such a page on its own and the pages are merged
/// under the page's order and limit ([`super::merge`]): `SELECT … FROM (SELECT * FROM
/// (<branch 1>) AS "branch" UNION ALL (<branch 2>) …) AS "audit_log" ORDER BY … LIMIT …`.
///
/// The text of one page is the one sea-orm's `AuditLog::find().select_only().columns(…)`
/// writes (`tests/integration/api/fast_path.rs` compares the two), but the column list is
/// written directly rather than built and quoted as expressions on every page.
///
/// [`AuditEventFilter::page_conditions`]: super::filter::AuditEventFilter::page_conditions
pub fn page_statement(
    conditions: Vec<Condition>,
    order: AuditOrder,
    first: u64,
    after: Option<Cursor>,
    columns: Columns,
) -> Statement {
    let direction = match order {
        AuditOrder::NewestFirst => Order::Desc,
        AuditOrder::OldestFirst => Order::Asc,
    };
    let mut pages = conditions
        .into_iter()
        .map(|condition| page_select(condition, order, first, after, columns));
    // No conditions match no rows (never every row: the conditions carry the key's reach).
    let nothing = || Condition::all().add(Expr::cust("FALSE"));
    let first_page = pages
        .next()
        .unwrap_or_else(|| page_select(nothing(), order, first, after, columns));
    let query = match pages.next() {
        None => first_page,
        Some(second) => {
            let mut union = Query::select();
            union
                .column(Asterisk)
                .from_subquery(first_page, Alias::new("branch"))
                .union(UnionType::All, second);
            for page in pages {
                union.union(UnionType::All, page);
            }
            let mut merged = Query::select();
            merged
                .expr(Expr::cust(column_list(columns)))
                .from_subquery(union, AuditLog)
                .order_by((AuditLog, Column::CreatedAt), direction.clone())
                .order_by((AuditLog, Column::Id), direction)
                .limit(first + 1);
            merged
        }
    };
    let (sql, values) = query.build(PostgresQueryBuilder);
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// One page of `columns` of `audit_log`, as [`page_statement`] describes.
fn page_select(
    condition: Condition,
    order: AuditOrder,
    first: u64,
    after: Option<Cursor>,
    columns: Columns,
) -> SelectStatement {
    let (direction, beyond): (Order, fn(Expr, Expr) -> Expr) = match order {
        AuditOrder::NewestFirst => (Order::Desc, |a, b| a.lt(b)),
        AuditOrder::OldestFirst => (Order::Asc, |a, b| a.gt(b)),
    };
    let mut query = Query::select();
    query
        .expr(Expr::cust(column_list(columns)))
        .from(AuditLog)
        .cond_where(condition);
    if let Some(cursor) = after {
        query.cond_where(beyond(
            Expr::tuple([Expr::col(Column::CreatedAt), Expr::col(Column::Id)]),
            Expr::tuple([Expr::value(cursor.created_at), Expr::value(cursor.id)]),
        ));
    }
    query
        .order_by((AuditLog, Column::CreatedAt), direction.clone())
        .order_by((AuditLog, Column::Id), direction)
        .limit(first + 1);
    query
}

/// `"audit_log"."id", "audit_log"."action", …`: `columns` in the entity's declaration order,
/// which is the order [`PageRow`] reads them in.
fn column_list(columns: Columns) -> String {
    let mut list = String::with_capacity(columns.len() * 32);
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            list.push_str(", ");
        }
        list.push_str("\"audit_log\".\"");
        list.push_str(column.as_str());
        list.push('"');
    }
    list
}

/// How many events match `condition` (all pages).
pub async fn count(db: &impl ConnectionTrait, condition: Condition) -> Result<u64, DbErr> {
    AuditLog::find().filter(condition).count(db).await
}

/// The event `id`, if `condition` (the caller's reach) allows it.
pub async fn find(
    db: &impl ConnectionTrait,
    id: i64,
    condition: Condition,
) -> Result<Option<audit_log::Model>, DbErr> {
    match db.query_one_raw(find_statement(id, condition)).await? {
        Some(row) => audit_log::Model::from_query_result(&row, "").map(Some),
        None => Ok(None),
    }
}

/// The statement [`find`] runs (the plan test checks its kept generic plan).
pub fn find_statement(id: i64, condition: Condition) -> Statement {
    AuditLog::find_by_id(id)
        .filter(condition)
        .limit(1)
        .build(DbBackend::Postgres)
}

/// The cursor pointing at `row`.
pub fn cursor_of(row: &audit_log::Model) -> Cursor {
    Cursor {
        created_at: row.created_at.to_utc(),
        id: row.id,
    }
}
