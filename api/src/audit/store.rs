//! Reading and writing `audit_log`: keyset pages, counts, single events, inserts.
//!
//! Pages are ordered by `(created_at, id)` and continue after a cursor with a row-value
//! comparison `(created_at, id) < ($1, $2)`, which an index on those columns serves directly
//! (no OFFSET). One extra row is fetched to learn whether another page follows.

use async_graphql::Enum;
use entity::audit_log::{self, Column};
use entity::prelude::AuditLog;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::sqlx::{self, Row};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QueryResult, QuerySelect, QueryTrait, Select, Statement,
};

use super::cursor::Cursor;

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
pub struct Page {
    /// At most the requested number of rows, in order.
    pub rows: Vec<audit_log::Model>,
    /// Whether more rows follow the last one.
    pub has_next_page: bool,
}

/// Which columns of a page the caller reads: parsing `metadata` (JSON) is a third of
/// decoding a row, and most pages do not show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    /// Parse it.
    Read,
    /// Leave it: the rows carry `null` there.
    Skip,
}

/// The `first` events matching `condition` after `after`, in `order`.
pub async fn page(
    db: &impl ConnectionTrait,
    condition: Condition,
    order: AuditOrder,
    first: u64,
    after: Option<Cursor>,
    metadata: Metadata,
) -> Result<Page, DbErr> {
    let statement = page_statement(condition, order, first, after);
    let mut rows = db
        .query_all_raw(statement)
        .await?
        .iter()
        .map(|row| decode(row, metadata))
        .collect::<Result<Vec<_>, _>>()?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok(Page {
        rows,
        has_next_page,
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

/// One row of `SELECT audit_log.* ...` as the entity selects it (columns in declaration
/// order), read by position. A page decodes 51 rows of 15 columns; sea-orm's generic path
/// looks every column up by name, which was a fifth of the server's CPU on a page. The types
/// are the entity's (the schema drift test holds the entity to the database), so the
/// per-value type check is skipped.
fn decode(row: &QueryResult, metadata: Metadata) -> Result<audit_log::Model, DbErr> {
    let row = row
        .try_as_pg_row()
        .ok_or_else(|| DbErr::Type("audit_log rows come from PostgreSQL".to_owned()))?;
    let field = |e: sqlx::Error| DbErr::Type(format!("audit_log column: {e}"));
    Ok(audit_log::Model {
        id: row.try_get_unchecked(0).map_err(field)?,
        tenant_id: row.try_get_unchecked(1).map_err(field)?,
        project_id: row.try_get_unchecked(2).map_err(field)?,
        actor_id: row.try_get_unchecked(3).map_err(field)?,
        actor_name: row.try_get_unchecked(4).map_err(field)?,
        actor_type: row.try_get_unchecked(5).map_err(field)?,
        action: row.try_get_unchecked(6).map_err(field)?,
        target_id: row.try_get_unchecked(7).map_err(field)?,
        target_type: row.try_get_unchecked(8).map_err(field)?,
        target_name: row.try_get_unchecked(9).map_err(field)?,
        product: row.try_get_unchecked(10).map_err(field)?,
        metadata: match metadata {
            Metadata::Read => {
                row.try_get_unchecked::<sqlx::types::Json<serde_json::Value>, _>(11)
                    .map_err(field)?
                    .0
            }
            Metadata::Skip => serde_json::Value::Null,
        },
        source_ip: row.try_get_unchecked(12).map_err(field)?,
        user_agent: row.try_get_unchecked(13).map_err(field)?,
        created_at: row.try_get_unchecked(14).map_err(field)?,
    })
}

/// The cursor pointing at `row`.
pub fn cursor_of(row: &audit_log::Model) -> Cursor {
    Cursor {
        created_at: row.created_at.to_utc(),
        id: row.id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{IdenStatic, Iterable};

    /// [`decode`] reads by position: the statement must list the columns in declaration order.
    #[test]
    fn pages_select_the_columns_in_the_order_decode_reads_them() {
        let sql = page_statement(Condition::all(), AuditOrder::NewestFirst, 50, None).sql;
        let listed = sql
            .strip_prefix("SELECT ")
            .and_then(|rest| rest.split(" FROM ").next())
            .expect("a SELECT");
        let expected: Vec<String> = Column::iter()
            .map(|c| format!("\"audit_log\".\"{}\"", c.as_str()))
            .collect();
        assert_eq!(listed, expected.join(", "));
    }
}
