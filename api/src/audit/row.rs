//! One row of an audit page, read column by column when a field asks for it.
//!
//! A page is 51 rows of 15 columns, and a client usually shows a handful of them. Decoding
//! every column into an `audit_log::Model` (sea-orm's generic path looks each one up by name,
//! then allocates every string) was a fifth of the server's CPU on a page; this keeps the row
//! as PostgreSQL sent it and reads a column by position, borrowing its text, only when the
//! response needs it. `id` and `created_at` are read at once: every page needs its cursor.

use chrono::{DateTime, Utc};
use entity::audit_log;
use ipnetwork::IpNetwork;
use sea_orm::sqlx::postgres::{PgRow, Postgres};
use sea_orm::sqlx::types::Json;
use sea_orm::sqlx::{self, Decode, Row, Type};
use sea_orm::{DbErr, QueryResult};
use uuid::Uuid;

use super::cursor::Cursor;

/// A row of `SELECT audit_log.* ...` as the entity selects it: the columns in declaration
/// order (`tests/integration/api/fast_path.rs` holds the statement to that order). The types
/// are the entity's, which the schema drift test holds to the database, so values are decoded
/// without a per-value type check.
#[derive(Debug)]
pub struct PageRow {
    row: QueryResult,
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
    /// The row of a query result (which must be PostgreSQL's).
    pub fn new(result: QueryResult) -> Result<PageRow, DbErr> {
        let row = postgres(&result)?;
        if row.len() != 15 {
            return Err(DbErr::Type(format!(
                "an audit_log row has 15 columns, not {}",
                row.len()
            )));
        }
        let id = row.try_get_unchecked(0).map_err(column_error)?;
        let created_at = row.try_get_unchecked(14).map_err(column_error)?;
        Ok(PageRow {
            row: result,
            id,
            created_at,
        })
    }

    fn get<'r, T: Decode<'r, Postgres> + Type<Postgres>>(
        &'r self,
        index: usize,
    ) -> Result<T, DbErr> {
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
        self.get(1)
    }
    /// `project_id`.
    pub fn project_id(&self) -> Result<Option<Uuid>, DbErr> {
        self.get(2)
    }
    /// `actor_id`.
    pub fn actor_id(&self) -> Result<Option<&str>, DbErr> {
        self.get(3)
    }
    /// `actor_name`.
    pub fn actor_name(&self) -> Result<Option<&str>, DbErr> {
        self.get(4)
    }
    /// `actor_type`.
    pub fn actor_type(&self) -> Result<Option<&str>, DbErr> {
        self.get(5)
    }
    /// `action`.
    pub fn action(&self) -> Result<&str, DbErr> {
        self.get(6)
    }
    /// `target_id`.
    pub fn target_id(&self) -> Result<Option<&str>, DbErr> {
        self.get(7)
    }
    /// `target_type`.
    pub fn target_type(&self) -> Result<Option<&str>, DbErr> {
        self.get(8)
    }
    /// `target_name`.
    pub fn target_name(&self) -> Result<Option<&str>, DbErr> {
        self.get(9)
    }
    /// `product`.
    pub fn product(&self) -> Result<Option<&str>, DbErr> {
        self.get(10)
    }
    /// `metadata`, parsed.
    pub fn metadata(&self) -> Result<serde_json::Value, DbErr> {
        self.get::<Json<serde_json::Value>>(11).map(|json| json.0)
    }
    /// `source_ip`.
    pub fn source_ip(&self) -> Result<Option<IpNetwork>, DbErr> {
        self.get(12)
    }
    /// `user_agent`.
    pub fn user_agent(&self) -> Result<Option<&str>, DbErr> {
        self.get(13)
    }

    /// Every column, as the entity's model.
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
            created_at: self.get(14)?,
        })
    }
}
