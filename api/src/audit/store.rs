//! Reading and writing `audit_log`: keyset pages, counts, single events, inserts.
//!
//! Pages are ordered by `(created_at, id)` and continue after a cursor with a row-value
//! comparison `(created_at, id) < ($1, $2)`, which an index on those columns serves directly
//! (no OFFSET). One extra row is fetched to learn whether another page follows.

use async_graphql::Enum;
use entity::audit_log::{self, Column};
use entity::prelude::AuditLog;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, Statement,
};

use super::cursor::Cursor;
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

/// The `first` events matching `condition` after `after`, in `order`, as rows read column by
/// column when asked ([`PageRow`]).
pub async fn page_rows(
    db: &impl ConnectionTrait,
    condition: Condition,
    order: AuditOrder,
    first: u64,
    after: Option<Cursor>,
) -> Result<Page<PageRow>, DbErr> {
    let statement = page_statement(condition, order, first, after);
    let mut rows = db
        .query_all_raw(statement)
        .await?
        .into_iter()
        .map(PageRow::new)
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
    let page = page_rows(db, condition, order, first, after).await?;
    Ok(Page {
        rows: page
            .rows
            .into_iter()
            .map(PageRow::into_model)
            .collect::<Result<_, _>>()?,
        has_next_page: page.has_next_page,
    })
}

/// The statement [`page`] runs: `first + 1` rows (the extra one tells whether a next page
/// exists). The benchmark and the plan tests use it to run exactly what the server runs.
pub fn page_statement(
    condition: Condition,
    order: AuditOrder,
    first: u64,
    after: Option<Cursor>,
) -> Statement {
    page_select(condition, order, first, after).build(DbBackend::Postgres)
}

fn page_select(
    condition: Condition,
    order: AuditOrder,
    first: u64,
    after: Option<Cursor>,
) -> Select<AuditLog> {
    let (direction, beyond): (Order, fn(Expr, Expr) -> Expr) = match order {
        AuditOrder::NewestFirst => (Order::Desc, |a, b| a.lt(b)),
        AuditOrder::OldestFirst => (Order::Asc, |a, b| a.gt(b)),
    };
    let mut query = AuditLog::find().filter(condition);
    if let Some(cursor) = after {
        query = query.filter(beyond(
            Expr::tuple([Expr::col(Column::CreatedAt), Expr::col(Column::Id)]),
            Expr::tuple([Expr::value(cursor.created_at), Expr::value(cursor.id)]),
        ));
    }
    query
        .order_by(Column::CreatedAt, direction.clone())
        .order_by(Column::Id, direction)
        .limit(first + 1)
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
    AuditLog::find_by_id(id).filter(condition).one(db).await
}

/// The cursor pointing at `row`.
pub fn cursor_of(row: &audit_log::Model) -> Cursor {
    Cursor {
        created_at: row.created_at.to_utc(),
        id: row.id,
    }
}
