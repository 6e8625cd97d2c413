//! Pages of list filters, read as one index range per listed value and merged in time order.
//!
//! A list (`projectIds`, `tenantIds`, `products`, `actions`, `targetTypes`) matches any of its
//! values. PostgreSQL 15 cannot read several ranges of one index in order and merge them, so
//! for `tenant_id = $1 AND product IN ($2, $3)` it either walks the tenant's events newest
//! first and drops the other products' (cheap while they are common; all 1.34 M events of the
//! large benchmark tenant, 2.8 s, when it has none of them), or reads every matching row and
//! sorts them (thousands of rows when the values are neither rare nor common). Which one it
//! picks depends on estimates that are worst exactly where it matters: values a tenant has few
//! or no events of.
//!
//! Written instead as a `UNION ALL` of one branch per combination of listed values (each the
//! rest of the filter, with `project_id = …`, `tenant_id = …`, `product = …` or `product IS
//! NULL` for the portal's events, `action = …` and `target_type = …` in place of the lists),
//! each ordered and limited to the page, under the page's own `ORDER BY … LIMIT`
//! ([`super::store::page_statement`]), the plan is a Merge Append of index descents
//! (`audit_log_project_page_idx`, `audit_log_tenant_page_idx`, `audit_log_tenant_product_idx`,
//! `audit_log_product_page_idx`, `audit_log_portal_page_idx`,
//! `audit_log_tenant_action_prefix_idx`, `audit_log_tenant_target_type_idx`), each reading at
//! most a page. The branches are disjoint (each value is listed once) and together hold what
//! the lists match, so the merged page is the page. Benchmark shape S13 (the large tenant, two
//! products it has no events of): 2.8 s → 0.7 ms.
//!
//! What it costs: each branch is planned and run on its own. Two common products of the large
//! tenant: 24,300–24,700 statements a second instead of 29,500–31,400 (8 clients); eight
//! tenants × two products (16 branches): 10,600–10,900 instead of 22,300–22,800, 0.75 ms a
//! statement. Hence at most [`MAX_BRANCHES`], and no branches when the filter's rows come from
//! a GIN index (free text through the trigram index, metadata outside tenants): each branch
//! would search it again.

use std::collections::HashSet;
use std::hash::Hash;

use sea_orm::sea_query::{Condition, Expr, ExprTrait, SimpleExpr};

use registry::ApiError;

use super::cursor::Cursor;
use super::filter::{AuditEventFilter, PortalEvents, SplitLists};
use super::free_text::TextMatch;
use super::search::SearchQuery;
use super::store::AuditOrder;
use entity::audit_log::Column;
use registry::auth::Principal;

/// The most branches a page is read in. Lists are split in the order projects, tenants (not
/// with projects), products, actions, target types, each only while the branches stay within
/// this; a list left whole is matched in every branch as it is.
pub const MAX_BRANCHES: usize = 16;

/// How a page of a filter is split: by which lists, and each branch's values
/// (`project_id = …`, `tenant_id = …`, `product = …` or `product IS NULL`, `action = …`,
/// `target_type = …`).
#[derive(Debug, Clone)]
pub struct Split {
    /// The lists split.
    pub lists: SplitLists,
    /// One equality (or `IS NULL`) per split list, per branch.
    pub branches: Vec<Condition>,
}

/// How a page of `filter` is split, or `None` when it is read as one statement (no list has
/// two values, or the rows come from a GIN index).
///
/// The list a branch has a value of is left out of its condition: with both, `product IN
/// ('analytics', 'llm-gateway') AND product = 'analytics'`, the planner multiplies the two
/// selectivities, takes the product's own index for the better one, and walked all 614,572
/// `analytics` events of every tenant (1.3 s) instead of descending the tenant's.
pub fn split(filter: &AuditEventFilter, principal: &Principal, text: TextMatch) -> Option<Split> {
    let within_tenants = !principal.is_platform() || filter.tenant_ids.is_some();
    let text_indexed = text == TextMatch::Indexed
        && filter
            .query
            .as_deref()
            .and_then(|q| SearchQuery::parse(q).ok())
            .is_some_and(|q| q.has_indexed_text());
    if text_indexed || (filter.metadata.is_some() && !within_tenants) {
        return None;
    }
    // A project belongs to one tenant, and its events are kept in time order across tenants
    // (`audit_log_project_page_idx`): with projects listed, tenants are not split (a branch of
    // one tenant and another's project would read that project's events to find none).
    let projects: Vec<SimpleExpr> = match &filter.project_ids {
        Some(ids) => each_equal(Column::ProjectId, ids),
        None => Vec::new(),
    };
    let tenants: Vec<SimpleExpr> = match &filter.tenant_ids {
        Some(ids) if principal.is_platform() && filter.project_ids.is_none() => {
            each_equal(Column::TenantId, ids)
        }
        _ => Vec::new(),
    };
    let products: Vec<SimpleExpr> = match (&principal.product, &filter.products) {
        (None, Some(list)) => {
            let mut each = each_equal(Column::Product, list);
            if filter.portal_events() == PortalEvents::Include {
                each.push(Expr::col(Column::Product).is_null());
            }
            each
        }
        _ => Vec::new(),
    };
    let actions: Vec<SimpleExpr> = match &filter.actions {
        // Only a tenant's actions are kept in time order (`(tenant_id, action, …)`).
        Some(list) if within_tenants => each_equal(Column::Action, list),
        _ => Vec::new(),
    };
    let target_types = match &filter.target_types {
        // Likewise a tenant's kinds of target (`(tenant_id, target_type, …)`).
        Some(list) if within_tenants => each_equal(Column::TargetType, list),
        _ => Vec::new(),
    };
    let mut lists = SplitLists::default();
    let mut branches = vec![Condition::all()];
    for (list, split) in [
        (projects, &mut lists.projects),
        (tenants, &mut lists.tenants),
        (products, &mut lists.products),
        (actions, &mut lists.actions),
        (target_types, &mut lists.target_types),
    ] {
        if list.len() < 2 || branches.len() * list.len() > MAX_BRANCHES {
            continue;
        }
        *split = true;
        branches = branches
            .iter()
            .flat_map(|branch| list.iter().map(|value| branch.clone().add(value.clone())))
            .collect();
    }
    (branches.len() >= 2).then_some(Split { lists, branches })
}

/// `column = value` for each of `values`, without repeats, in their first order: a value
/// listed twice must not be read twice.
fn each_equal<T>(column: Column, values: &[T]) -> Vec<SimpleExpr>
where
    T: Clone + Eq + Hash + Into<sea_orm::Value>,
{
    let mut seen = HashSet::with_capacity(values.len());
    values
        .iter()
        .filter(|value| seen.insert(*value))
        .map(|value| Expr::col(column).eq(value.clone()))
        .collect()
}

impl AuditEventFilter {
    /// The conditions a page in `order` after `after` is read in, each ordered and limited on
    /// its own and merged (`store::page_statement`): one, `condition` (this filter's
    /// [`Self::condition_with`]) unless [`Self::page_condition_differs`], or one per branch
    /// when lists are split ([`split`]).
    pub fn page_conditions(
        &self,
        principal: &Principal,
        text: TextMatch,
        order: AuditOrder,
        after: Option<Cursor>,
        condition: &Condition,
    ) -> Result<Vec<Condition>, ApiError> {
        let page = after.map(|c| (order, c.created_at));
        Ok(match split(self, principal, text) {
            Some(split) => {
                let common = self.build(principal, text, page, split.lists)?;
                let each = split.branches.into_iter();
                each.map(|branch| common.clone().add(branch)).collect()
            }
            None if self.page_condition_differs(after) => {
                vec![self.build(principal, text, page, SplitLists::default())?]
            }
            None => vec![condition.clone()],
        })
    }
}
