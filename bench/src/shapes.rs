//! The search shapes of the benchmark (docs/performance.md), each as the GraphQL request a user
//! sends and the SQL the server runs for it, built by the server's own code
//! (`AuditEventFilter::condition`, `graphql::page_columns`, `store::page_statement`), so that the
//! floor measures exactly what the server issues.

use std::collections::BTreeSet;

use anyhow::{Result, bail};
use api::audit::cursor::Cursor;
use api::audit::filter::{AuditEventFilter, PortalEvents};
use api::audit::free_text::TextMatch;
use api::audit::store::{AuditOrder, page_statement};
use api::graphql::manage::entitlements::ENTITLEMENT_PLAN_CACHE;
use api::reads::PlanCache;
use async_graphql::Json;
use chrono::{DateTime, Duration, Utc};
use entity::scope::Scope;
use registry::auth::Principal;
use registry::entitlements::{TenantRef, entitlement_statement};
use sea_orm::Statement;
use serde_json::{Value, json};
use uuid::Uuid;

pub use crate::subjects::{Subject, Subjects, subjects};

/// Events per page in every shape.
pub const PAGE: u64 = 50;
/// The page S5 reads (its cursor points after row `(DEEP_PAGE - 1) × PAGE`).
pub const DEEP_PAGE: u64 = 200;

/// Who sends a shape's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A key of this tenant with `audit:read` and `tenants:read`.
    Tenant(Uuid),
    /// A `platform` key (of the platform tenant).
    Platform,
}

/// A read shape: an `auditEvents` page, or the `entitlement` query.
#[derive(Debug, Clone)]
pub struct ReadShape {
    /// `S1`, `S2`, ...
    pub id: &'static str,
    /// `large`, `mid` or `all`.
    pub size: &'static str,
    /// What it asks, in words.
    pub label: String,
    /// Whose key sends it.
    pub caller: Caller,
    /// The GraphQL request body (`{query, variables}`).
    pub body: Value,
    /// The page's filter, order, size and cursor (None: the entitlement query).
    pub page: Option<(AuditEventFilter, u64, Option<Cursor>)>,
    /// The events of the tenant a tenant key's shape reads (which decide how the server
    /// matches free text: `api::audit::free_text`).
    pub tenant_events: Option<i64>,
    /// The entitlement asked for (S9).
    pub entitlement: Option<(String, String)>,
}

const PAGE_QUERY: &str = "query($filter: AuditEventFilter, $first: Int, $after: String) { \
    auditEvents(filter: $filter, first: $first, after: $after) { \
    edges { node { id action product createdAt actor { id } target { id } } } \
    pageInfo { hasNextPage endCursor } } }";

const ENTITLEMENT_QUERY: &str = "query($slug: String!, $product: String!) { \
    entitlement(tenantSlug: $slug, product: $product) { product enabled active expiresAt } }";

/// A filter spelled both ways: the struct the server builds and the JSON a client sends.
#[derive(Debug, Clone, Default)]
struct Spec {
    products: Option<Vec<String>>,
    portal: Option<PortalEvents>,
    action_prefix: Option<String>,
    since: Option<DateTime<Utc>>,
    metadata: Option<Value>,
    query: Option<String>,
}

impl Spec {
    fn filter(&self) -> AuditEventFilter {
        AuditEventFilter {
            products: self.products.clone(),
            portal: self.portal,
            action_prefix: self.action_prefix.clone(),
            since: self.since,
            metadata: self.metadata.clone().map(Json),
            query: self.query.clone(),
            ..AuditEventFilter::default()
        }
    }

    fn json(&self) -> Value {
        let mut filter = serde_json::Map::new();
        if let Some(products) = &self.products {
            filter.insert("products".into(), json!(products));
        }
        if let Some(portal) = self.portal {
            let name = match portal {
                PortalEvents::Include => "INCLUDE",
                PortalEvents::Exclude => "EXCLUDE",
                PortalEvents::Only => "ONLY",
            };
            filter.insert("portal".into(), json!(name));
        }
        if let Some(prefix) = &self.action_prefix {
            filter.insert("actionPrefix".into(), json!(prefix));
        }
        if let Some(since) = self.since {
            filter.insert("since".into(), json!(since.to_rfc3339()));
        }
        if let Some(metadata) = &self.metadata {
            filter.insert("metadata".into(), metadata.clone());
        }
        if let Some(query) = &self.query {
            filter.insert("query".into(), json!(query));
        }
        Value::Object(filter)
    }
}

fn page_shape(
    id: &'static str,
    size: &'static str,
    label: String,
    caller: Caller,
    spec: Spec,
    after: Option<Cursor>,
) -> ReadShape {
    let variables = json!({
        "filter": spec.json(),
        "first": PAGE,
        "after": after.map(|c| c.encode()),
    });
    ReadShape {
        id,
        size,
        label,
        caller,
        body: json!({ "query": PAGE_QUERY, "variables": variables }),
        page: Some((spec.filter(), PAGE, after)),
        tenant_events: None,
        entitlement: None,
    }
}

/// Every read shape for `subjects` (S1–S9, S11–S13; S10 is the Retraced bulk publish).
pub fn read_shapes(subjects: &Subjects) -> Vec<ReadShape> {
    let mut shapes = Vec::new();
    let day = subjects.now - Duration::hours(24);
    let month = subjects.now - Duration::days(30);
    for (size, t) in [("large", &subjects.large), ("mid", &subjects.mid)] {
        let caller = Caller::Tenant(t.id);
        shapes.push(page_shape(
            "S1",
            size,
            format!("{}: newest {PAGE}", t.slug),
            caller,
            Spec::default(),
            None,
        ));
        shapes.push(page_shape(
            "S2",
            size,
            format!("{}: crm, last 30 days", t.slug),
            caller,
            Spec {
                products: Some(vec!["crm".into()]),
                since: Some(month),
                ..Spec::default()
            },
            None,
        ));
        shapes.push(page_shape(
            "S3",
            size,
            format!("{}: action prefix crm.", t.slug),
            caller,
            Spec {
                action_prefix: Some("crm.".into()),
                ..Spec::default()
            },
            None,
        ));
        if let (Some(cursor), "large") = (t.deep_cursor, size) {
            shapes.push(page_shape(
                "S5",
                size,
                format!("{}: page {DEEP_PAGE} by cursor", t.slug),
                caller,
                Spec::default(),
                Some(cursor),
            ));
        }
        shapes.push(page_shape(
            "S6",
            size,
            format!(
                "{}: rare prefix {} ({:.2}% of its rows)",
                t.slug,
                t.rare_prefix.0,
                t.rare_prefix.1 * 100.0
            ),
            caller,
            Spec {
                action_prefix: Some(t.rare_prefix.0.clone()),
                ..Spec::default()
            },
            None,
        ));
        shapes.push(page_shape(
            "S8",
            size,
            format!(
                "{}: metadata @> {} ({:.2}% of its rows)",
                t.slug,
                t.rare_metadata.0,
                t.rare_metadata.1 * 100.0
            ),
            caller,
            Spec {
                metadata: Some(t.rare_metadata.0.clone()),
                ..Spec::default()
            },
            None,
        ));
        shapes.push(page_shape(
            "S11",
            size,
            format!("{}: free text {:?}", t.slug, t.object),
            caller,
            Spec {
                query: Some(format!("\"{}\"", t.object)),
                ..Spec::default()
            },
            None,
        ));
        shapes.push(page_shape(
            "S12",
            size,
            format!("{}: the history of target {}", t.slug, t.object),
            caller,
            Spec {
                query: Some(format!("target.id:\"{}\"", t.object)),
                ..Spec::default()
            },
            None,
        ));
        shapes.push(page_shape(
            "S13",
            size,
            format!(
                "{}: products {} ({} of its events)",
                t.slug,
                t.scarce_products.0.join(" + "),
                t.scarce_products.1
            ),
            caller,
            Spec {
                products: Some(t.scarce_products.0.clone()),
                ..Spec::default()
            },
            None,
        ));
        if let Some(product) = &t.entitled_product {
            shapes.push(ReadShape {
                id: "S9",
                size,
                label: format!("entitlement of {} to {product}", t.slug),
                caller,
                body: json!({
                    "query": ENTITLEMENT_QUERY,
                    "variables": { "slug": t.slug, "product": product },
                }),
                page: None,
                tenant_events: None,
                entitlement: Some((t.slug.clone(), product.clone())),
            });
        }
    }
    shapes.push(page_shape(
        "S4",
        "all",
        "crm across tenants, last 24 h".into(),
        Caller::Platform,
        Spec {
            products: Some(vec!["crm".into()]),
            since: Some(day),
            ..Spec::default()
        },
        None,
    ));
    shapes.push(page_shape(
        "S7",
        "all",
        "portal events across tenants, last 24 h".into(),
        Caller::Platform,
        Spec {
            portal: Some(PortalEvents::Only),
            since: Some(day),
            ..Spec::default()
        },
        None,
    ));
    for shape in &mut shapes {
        if let Caller::Tenant(id) = shape.caller {
            shape.tenant_events = [&subjects.large, &subjects.mid]
                .into_iter()
                .find(|t| t.id == id)
                .map(|t| t.events);
        }
    }
    // S2 before S11.
    shapes.sort_by_key(|s| (s.id[1..].parse::<u32>().ok(), s.size != "large"));
    shapes
}

/// The principal the server derives from a key of `caller` (only tenant, platform scope and
/// product matter to the SQL).
pub fn principal(caller: Caller, platform_tenant: Uuid) -> Principal {
    let mut scopes = BTreeSet::from([Scope::AuditRead, Scope::TenantsRead]);
    let tenant_id = match caller {
        Caller::Tenant(id) => id,
        Caller::Platform => {
            scopes.insert(Scope::Platform);
            platform_tenant
        }
    };
    Principal {
        key_id: Uuid::nil(),
        key_name: "bench".into(),
        tenant_id,
        tenant_slug: String::new(),
        scopes,
        product: None,
        expires_at: None,
    }
}

impl ReadShape {
    /// The statement the server runs for this shape's request.
    pub fn statement(&self, platform_tenant: Uuid) -> Result<Statement> {
        if let Some((filter, first, after)) = &self.page {
            let principal = principal(self.caller, platform_tenant);
            // How the server matches free text: by the size of the one tenant searched.
            let text = match (filter.text_tenant(&principal), self.tenant_events) {
                (Some(_), Some(events)) => TextMatch::for_tenant_events(events),
                _ => TextMatch::Indexed,
            };
            let refused = |e| anyhow::anyhow!("{}: the filter is refused: {e:?}", self.id);
            let order = AuditOrder::NewestFirst;
            let condition = filter.condition_with(&principal, text).map_err(refused)?;
            let conditions = filter
                .page_conditions(&principal, text, order, *after, &condition)
                .map_err(refused)?;
            // The columns the server selects for PAGE_QUERY's fields, as it computes them.
            let columns = api::graphql::page_columns(PAGE_QUERY)
                .map_err(|e| anyhow::anyhow!("{}: PAGE_QUERY: {e}", self.id))?;
            Ok(page_statement(conditions, order, *first, *after, columns))
        } else if let Some((slug, product)) = &self.entitlement {
            Ok(entitlement_statement(
                TenantRef::Slug(slug.clone()),
                product.clone(),
            ))
        } else {
            bail!("{}: neither a page nor an entitlement", self.id)
        }
    }

    /// How the server has PostgreSQL plan this shape's statement: pages per execution, the
    /// entitlement with a kept generic plan (`ENTITLEMENT_PLAN_CACHE`).
    pub fn plan_cache(&self) -> PlanCache {
        match &self.page {
            Some(_) => PlanCache::Session,
            None => ENTITLEMENT_PLAN_CACHE,
        }
    }

    /// `S1 large` and the like.
    pub fn name(&self) -> String {
        format!("{} {}", self.id, self.size)
    }
}
