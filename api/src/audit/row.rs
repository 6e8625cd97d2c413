//! One row of an audit page, read column by column when a field asks for it.
//!
//! A page is 51 rows of up to 17 columns, and a client usually shows a handful of them. The
//! page's statement selects only the [`Columns`] the response needs (`metadata` alone, turned
//! into JSON text by PostgreSQL, cost the database more than the rest of a page), and the row
//! is kept as PostgreSQL sent it: a column is read by its position among the selected ones,
//! borrowing its text, only when the response needs it. `id` and `created_at` are always
//! selected and read at once: every page needs its order and its cursor.

use chrono::{DateTime, Utc};
use entity::audit_log::{self, Column};
use ipnetwork::IpNetwork;
use sea_orm::sqlx::postgres::{PgRow, Postgres};
use sea_orm::sqlx::types::Json;
use sea_orm::sqlx::{self, Decode, Row, Type};
use sea_orm::{DbErr, IdenStatic, Iterable, QueryResult};
use uuid::Uuid;

use super::cursor::Cursor;

/// A set of `audit_log` columns, a bit per column in the entity's declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Columns(u32);

impl Columns {
    /// Every column.
    pub const ALL: Columns = Columns((1 << 17) - 1);
    /// `id` and `created_at`, which every page selects (its order and cursors).
    pub const KEYS: Columns = Columns(1 << Column::Id as u32 | 1 << Column::CreatedAt as u32);

    /// These columns, and the [`KEYS`](Columns::KEYS).
    pub fn of(columns: impl IntoIterator<Item = Column>) -> Columns {
        columns.into_iter().fold(Columns::KEYS, Columns::with)
    }

    /// This set and `column`.
    pub fn with(self, column: Column) -> Columns {
        Columns(self.0 | 1 << column as u32)
    }

    /// Both sets.
    pub fn union(self, other: Columns) -> Columns {
        Columns(self.0 | other.0)
    }

    /// Whether `column` is in the set.
    pub fn contains(self, column: Column) -> bool {
        self.0 & 1 << column as u32 != 0
    }

    /// How many columns the set holds.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether it holds none.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The columns, in declaration order (the order a page's statement lists them in).
    pub fn iter(self) -> impl Iterator<Item = Column> {
        Column::iter().filter(move |c| self.contains(*c))
    }

    /// Where `column` is in a row of these columns.
    fn position(self, column: Column) -> Option<usize> {
        let below = self.0 & ((1 << column as u32) - 1);
        self.contains(column).then_some(below.count_ones() as usize)
    }
}

/// A row of a page's statement: the [`Columns`] it selected, in declaration order
/// (`tests/integration/api/fast_path.rs` holds the statement to that order). The types are the
/// entity's, which the schema drift test holds to the database, so values are decoded without
/// a per-value type check.
#[derive(Debug)]
pub struct PageRow {
    row: QueryResult,
    columns: Columns,
    id: i64,
    created_at: DateTime<Utc>,
}

fn column_error(e: sqlx::Error) -> DbErr {
    DbErr::Type(format!("audit_log column: {e}"))
}

fn postgres(result: &QueryResult) -> Result<&PgRow, DbErr> {
    result
        .try_as_pg_row()
        .ok_or_else(|| DbErr::Type("audit_log rows come from PostgreSQL".to_owned()))
}

impl PageRow {
    /// The row of a query result (which must be PostgreSQL's) that selected `columns`.
    pub fn new(result: QueryResult, columns: Columns) -> Result<PageRow, DbErr> {
        let row = postgres(&result)?;
        let (Some(id_at), Some(created_at_at)) = (
            columns.position(Column::Id),
            columns.position(Column::CreatedAt),
        ) else {
            return Err(DbErr::Type(
                "a page must select id and created_at".to_owned(),
            ));
        };
        if row.len() != columns.len() {
            return Err(DbErr::Type(format!(
                "a page row has {} columns, not the {} selected",
                row.len(),
                columns.len()
            )));
        }
        let id = row.try_get_unchecked(id_at).map_err(column_error)?;
        let created_at = row.try_get_unchecked(created_at_at).map_err(column_error)?;
        Ok(PageRow {
            row: result,
            columns,
            id,
            created_at,
        })
    }

    fn get<'r, T: Decode<'r, Postgres> + Type<Postgres>>(
        &'r self,
        column: Column,
    ) -> Result<T, DbErr> {
        let Some(index) = self.columns.position(column) else {
            return Err(DbErr::Type(format!(
                "audit_log.{} was not selected for this page",
                column.as_str()
            )));
        };
        postgres(&self.row)?
            .try_get_unchecked(index)
            .map_err(column_error)
    }

    /// `id`.
    pub fn id(&self) -> i64 {
        self.id
    }
    /// `created_at`.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// The cursor pointing at this row.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id,
        }
    }
    /// `tenant_id`.
    pub fn tenant_id(&self) -> Result<Option<Uuid>, DbErr> {
        self.get(Column::TenantId)
    }
    /// `project_id`.
    pub fn project_id(&self) -> Result<Option<Uuid>, DbErr> {
        self.get(Column::ProjectId)
    }
    /// `actor_id`.
    pub fn actor_id(&self) -> Result<Option<&str>, DbErr> {
        self.get(Column::ActorId)
    }
    /// `actor_name`.
    pub fn actor_name(&self) -> Result<Option<&str>, DbErr> {
        self.get(Column::ActorName)
    }
    /// `actor_type`.
    pub fn actor_type(&self) -> Result<Option<&str>, DbErr> {
        self.get(Column::ActorType)
    }
    /// `action`.
    pub fn action(&self) -> Result<&str, DbErr> {
        self.get(Column::Action)
    }
    /// `target_id`.
    pub fn target_id(&self) -> Result<Option<&str>, DbErr> {
        self.get(Column::TargetId)
    }
    /// `target_type`.
    pub fn target_type(&self) -> Result<Option<&str>, DbErr> {
        self.get(Column::TargetType)
    }
    /// `target_name`.
    pub fn target_name(&self) -> Result<Option<&str>, DbErr> {
        self.get(Column::TargetName)
    }
    /// `product`.
    pub fn product(&self) -> Result<Option<&str>, DbErr> {
        self.get(Column::Product)
    }
    /// `metadata`, parsed.
    pub fn metadata(&self) -> Result<serde_json::Value, DbErr> {
        self.get::<Json<serde_json::Value>>(Column::Metadata)
            .map(|json| json.0)
    }
    /// `source_ip`.
    pub fn source_ip(&self) -> Result<Option<IpNetwork>, DbErr> {
        self.get(Column::SourceIp)
    }
    /// `user_agent`.
    pub fn user_agent(&self) -> Result<Option<&str>, DbErr> {
        self.get(Column::UserAgent)
    }
    /// `recorded_by`.
    pub fn recorded_by(&self) -> Result<Option<Uuid>, DbErr> {
        self.get(Column::RecordedBy)
    }
    /// `recorded_by_name`.
    pub fn recorded_by_name(&self) -> Result<Option<&str>, DbErr> {
        self.get(Column::RecordedByName)
    }

    /// Every column, as the entity's model (the page must have selected [`Columns::ALL`]).
    pub fn into_model(self) -> Result<audit_log::Model, DbErr> {
        let owned = |text: Option<&str>| text.map(str::to_owned);
        Ok(audit_log::Model {
            id: self.id,
            tenant_id: self.tenant_id()?,
            project_id: self.project_id()?,
            actor_id: owned(self.actor_id()?),
            actor_name: owned(self.actor_name()?),
            actor_type: owned(self.actor_type()?),
            action: self.action()?.to_owned(),
            target_id: owned(self.target_id()?),
            target_type: owned(self.target_type()?),
            target_name: owned(self.target_name()?),
            product: owned(self.product()?),
            metadata: self.metadata()?,
            source_ip: self.source_ip()?,
            user_agent: owned(self.user_agent()?),
            created_at: self.get(Column::CreatedAt)?,
            recorded_by: self.recorded_by()?,
            recorded_by_name: owned(self.recorded_by_name()?),
        })
    }
}

/// An address as clients expect it: `203.0.113.7`, or `10.0.0.0/8` for a network.
pub fn format_ip(ip: &IpNetwork) -> String {
    if ip.prefix() == if ip.is_ipv4() { 32 } else { 128 } {
        ip.ip().to_string()
    } else {
        ip.to_string()
    }
}
