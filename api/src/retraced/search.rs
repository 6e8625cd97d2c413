//! Retraced's `search` schema over `audit_log` (served at
//! `POST /publisher/v1/project/{project}/graphql` by [`crate::http::retraced`]), so Retraced
//! clients can query what they (and everyone else) published.
//!
//! `last` pages newest first, otherwise oldest first; the page size is `last` or `first`
//! (default 20); `first` with `last`, or `before` with `after`, is an error; an empty cursor
//! is no cursor; `totalCount` counts the whole result, cursor aside. Times are ISO-8601 UTC.

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Object, Result, Schema, SimpleObject,
};
use entity::audit_log;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};

use crate::audit::cursor::Cursor;
use crate::audit::filter::AuditEventFilter;
use crate::audit::search::SearchQuery;
use crate::audit::store::{self, AuditOrder};
use crate::graphql::Limits;
use crate::graphql::tenants::page_complexity;
use crate::state::AppState;
use registry::ApiError;
use registry::auth::Principal;

pub use super::search_event::{Actor, Crud, Display, Event, Field, Group, Target};

/// The schema Retraced's clients query.
pub type RetracedSchema = Schema<SearchRoot, EmptyMutation, EmptySubscription>;

/// The schema, with the same limits as `/graphql` (depth, complexity, root fields,
/// introspection); each request brings its own data.
pub fn build_schema(limits: Limits) -> RetracedSchema {
    limits
        .apply(Schema::build(SearchRoot, EmptyMutation, EmptySubscription))
        .finish()
}

/// What a search may see: the project (product) and the key's reach.
#[derive(Debug)]
pub struct SearchScope {
    /// The events of the project the key may see ([`reach`]).
    pub condition: Condition,
    /// The key's tenant, unless it reads every tenant (platform).
    pub tenant: Option<uuid::Uuid>,
}

/// An event in a page.
#[derive(SimpleObject, Debug)]
pub struct SearchEventEdge {
    node: Event,
    cursor: String,
}

/// Paging state.
#[derive(SimpleObject, Debug)]
pub struct PageInfo {
    has_next_page: bool,
    has_previous_page: bool,
}

/// A page of results.
#[derive(Debug)]
pub struct SearchQueryResult {
    edges: Vec<SearchEventEdge>,
    page_info: PageInfo,
    condition: Condition,
}

#[Object]
impl SearchQueryResult {
    async fn edges(&self) -> &[SearchEventEdge] {
        &self.edges
    }
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
    /// All matching events, cursor aside.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        let state = ctx.data::<AppState>()?;
        Ok(store::count(&state.db, self.condition.clone())
            .await
            .map_err(ApiError::from)?)
    }
}

/// The root.
#[derive(Debug, Default)]
pub struct SearchRoot;

#[Object]
impl SearchRoot {
    /// Events matching a query in the Retraced search language.
    #[graphql(complexity = "page_complexity(last.or(first).unwrap_or(20), child_complexity)")]
    async fn search(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<SearchQueryResult> {
        let state = ctx.data::<AppState>()?;
        let scope = ctx.data::<SearchScope>()?;
        let (after, before) = (
            after.filter(|c| !c.is_empty()),
            before.filter(|c| !c.is_empty()),
        );
        if first.is_some() && last.is_some() {
            return Err(
                ApiError::bad_input("last", "Only one of first and last may be given").into(),
            );
        }
        if after.is_some() && before.is_some() {
            return Err(
                ApiError::bad_input("before", "Only one of before and after may be given").into(),
            );
        }
        let size = last.or(first).unwrap_or(20);
        if !(1..=500).contains(&size) {
            let field = if last.is_some() { "last" } else { "first" };
            return Err(ApiError::bad_input(field, "The page size must be 1 to 500").into());
        }
        let parsed = SearchQuery::parse(query.as_deref().unwrap_or_default())
            .map_err(|e| ApiError::bad_input("query", e.0))?;
        let text = state
            .text_match(scope.tenant.filter(|_| parsed.has_indexed_text()))
            .await?;
        let condition = scope.condition.clone().add(parsed.condition(text));
        let decode = |field: &str, c: String| {
            Cursor::decode(&c).ok_or_else(|| ApiError::bad_input(field, "Invalid cursor"))
        };
        let order = if last.is_some() {
            AuditOrder::NewestFirst
        } else {
            AuditOrder::OldestFirst
        };
        let mut page_condition = condition.clone();
        if let Some(c) = after.map(|c| decode("after", c)).transpose()? {
            page_condition = page_condition.add(keyset(c, true));
        }
        if let Some(c) = before.map(|c| decode("before", c)).transpose()? {
            page_condition = page_condition.add(keyset(c, false));
        }
        let page = store::page(&state.reader(), page_condition, order, size as u64, None)
            .await
            .map_err(ApiError::from)?;
        let more = page.has_next_page;
        let slugs = tenant_slugs(&state.reader(), &page.rows).await?;
        Ok(SearchQueryResult {
            edges: page
                .rows
                .into_iter()
                .map(|row| {
                    let slug = row.tenant_id.and_then(|t| slugs.get(&t).cloned());
                    SearchEventEdge {
                        cursor: store::cursor_of(&row).encode(),
                        node: Event::new(row, slug),
                    }
                })
                .collect(),
            page_info: PageInfo {
                has_next_page: last.is_none() && more,
                has_previous_page: last.is_some() && more,
            },
            condition,
        })
    }
}

/// The slugs of the tenants of `rows` (one statement for the page).
async fn tenant_slugs(
    db: &impl sea_orm::ConnectionTrait,
    rows: &[audit_log::Model],
) -> Result<std::collections::HashMap<uuid::Uuid, String>, ApiError> {
    use entity::tenants;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    let mut ids: Vec<uuid::Uuid> = rows.iter().filter_map(|r| r.tenant_id).collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let found: Vec<(uuid::Uuid, String)> = tenants::Entity::find()
        .select_only()
        .column(tenants::Column::Id)
        .column(tenants::Column::Slug)
        .filter(tenants::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    Ok(found.into_iter().collect())
}

/// Rows after (`true`) or before (`false`) a cursor in `(created_at, id)` order.
fn keyset(cursor: Cursor, after: bool) -> Expr {
    let row = Expr::tuple([
        Expr::col(audit_log::Column::CreatedAt),
        Expr::col(audit_log::Column::Id),
    ]);
    let at = Expr::tuple([Expr::value(cursor.created_at), Expr::value(cursor.id)]);
    if after { row.gt(at) } else { row.lt(at) }
}

/// What `caller` may see of `project`'s events.
pub fn reach(caller: &Principal, project: &str) -> Result<Condition, ApiError> {
    let reach = AuditEventFilter::default().condition(caller)?;
    Ok(reach.add(Expr::col(audit_log::Column::Product).eq(project.to_owned())))
}
