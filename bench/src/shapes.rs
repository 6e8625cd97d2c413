//! The search shapes of issue #8, each as the GraphQL (or Retraced) request a user sends and
//! the SQL the server runs for it, built by the server's own code (`AuditEventFilter::condition`
//! and `store::page_statement`), so the floor measures exactly what the server issues.

use std::collections::BTreeSet;

use anyhow::{Context as _, Result, bail};
use api::audit::cursor::Cursor;
use api::audit::filter::{AuditEventFilter, PortalEvents};
use api::audit::store::{AuditOrder, page_statement};
use api::auth::Principal;
use api::graphql::manage::entitlements::{TenantRef, entitlement_statement};
use async_graphql::Json;
use chrono::{DateTime, Duration, Utc};
use entity::scope::Scope;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

/// Events per page in every shape.
pub const PAGE: u64 = 50;
/// The page S5 reads (its cursor points after row `(DEEP_PAGE - 1) × PAGE`).
pub const DEEP_PAGE: u64 = 200;

/// One tenant the shapes are run for.
#[derive(Debug, Clone)]
pub struct Subject {
    /// `tenants.id`.
    pub id: Uuid,
    /// `tenants.slug`.
    pub slug: String,
    /// Its audit events.
    pub events: i64,
    /// A rare action prefix of this tenant (its share of the tenant's rows).
    pub rare_prefix: (String, f64),
    /// A rare metadata containment of this tenant (its share of the tenant's rows).
    pub rare_metadata: (Value, f64),
    /// The cursor after row `(DEEP_PAGE - 1) × PAGE` in newest-first order, if it has that many.
    pub deep_cursor: Option<Cursor>,
    /// A product it has an entitlement to.
    pub entitled_product: Option<String>,
}

/// What the shapes are run against, read from the data.
#[derive(Debug, Clone)]
pub struct Subjects {
    /// The tenant with the most events.
    pub large: Subject,
    /// The tenant with the median number of events.
    pub mid: Subject,
    /// The newest event's time: "the last 24 hours" end here, so that the shapes mean the same
    /// however long ago the data was seeded.
    pub now: DateTime<Utc>,
}

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
}

impl Spec {
    fn filter(&self) -> AuditEventFilter {
        AuditEventFilter {
            products: self.products.clone(),
            portal: self.portal,
            action_prefix: self.action_prefix.clone(),
            since: self.since,
            metadata: self.metadata.clone().map(Json),
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
        entitlement: None,
    }
}

/// Every read shape for `subjects` (S1–S9; S10 is the Retraced bulk publish).
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
    shapes.sort_by_key(|s| (s.id, s.size != "large"));
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
    }
}

impl ReadShape {
    /// The statement the server runs for this shape's request.
    pub fn statement(&self, platform_tenant: Uuid) -> Result<Statement> {
        if let Some((filter, first, after)) = &self.page {
            let condition = filter
                .condition(&principal(self.caller, platform_tenant))
                .map_err(|e| anyhow::anyhow!("{}: the filter is refused: {e:?}", self.id))?;
            Ok(page_statement(
                condition,
                AuditOrder::NewestFirst,
                *first,
                *after,
            ))
        } else if let Some((slug, product)) = &self.entitlement {
            Ok(entitlement_statement(
                TenantRef::Slug(slug.clone()),
                product.clone(),
            ))
        } else {
            bail!("{}: neither a page nor an entitlement", self.id)
        }
    }

    /// `S1 large` and the like.
    pub fn name(&self) -> String {
        format!("{} {}", self.id, self.size)
    }
}

async fn scalar<T: sea_orm::TryGetable>(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<Option<T>> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get_by_index::<Option<T>>(0)?,
        None => None,
    })
}

async fn subject(db: &impl ConnectionTrait, id: Uuid, events: i64) -> Result<Subject> {
    let slug: String = scalar(
        db,
        "SELECT slug FROM tenants WHERE id = $1",
        vec![id.into()],
    )
    .await?
    .context("tenant slug")?;
    // "Rare": at least a page of rows, or 0.5% of the tenant's rows if that is fewer (a
    // tenant with 2,700 events has no action family that is both rarer than 1% and a page).
    let enough = (PAGE as i64 + 1).min((events / 200).max(1));
    // The action families (`crm.deal.` of `crm.deal.won`, `user.` of `user.login`) of the
    // tenant, rarest first: the rarest with enough rows is S6's prefix.
    let families = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT f, n FROM (SELECT regexp_replace(action, '[^.]+$', '') AS f, \
             count(*) AS n FROM audit_log WHERE tenant_id = $1 GROUP BY 1) c \
             WHERE n >= $2 AND f <> '' ORDER BY n, f LIMIT 1",
            [id.into(), enough.into()],
        ))
        .await?;
    let rare_prefix = match families.first() {
        Some(row) => {
            let family: String = row.try_get_by_index(0)?;
            let n: i64 = row.try_get_by_index(1)?;
            (family, n as f64 / events.max(1) as f64)
        }
        None => ("none.".to_owned(), 0.0),
    };
    // The rarest top-level metadata value (string or boolean) with enough rows:
    // the kind of containment one searches an audit log for (a model, a stage, a reason).
    let pairs = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT jsonb_build_object(kv.key, kv.value), count(*) AS n \
             FROM audit_log, jsonb_each(metadata) kv \
             WHERE tenant_id = $1 AND jsonb_typeof(kv.value) IN ('string', 'boolean') \
             GROUP BY 1 HAVING count(*) >= $2 ORDER BY n, 1::text LIMIT 1",
            [id.into(), enough.into()],
        ))
        .await?;
    let rare_metadata = match pairs.first() {
        Some(row) => {
            let pair: Value = row.try_get_by_index(0)?;
            let n: i64 = row.try_get_by_index(1)?;
            (pair, n as f64 / events.max(1) as f64)
        }
        None => (json!({ "none": true }), 0.0),
    };
    let offset = ((DEEP_PAGE - 1) * PAGE) as i64 - 1;
    let deep = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT created_at, id FROM audit_log WHERE tenant_id = $1 \
             ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
            [id.into(), offset.into()],
        ))
        .await?;
    let deep_cursor = match deep {
        Some(row) => Some(Cursor {
            created_at: row
                .try_get_by_index::<DateTime<chrono::FixedOffset>>(0)?
                .to_utc(),
            id: row.try_get_by_index(1)?,
        }),
        None => None,
    };
    let entitled_product = scalar(
        db,
        "SELECT product FROM tenant_products WHERE tenant_id = $1 ORDER BY product LIMIT 1",
        vec![id.into()],
    )
    .await?;
    Ok(Subject {
        id,
        slug,
        events,
        rare_prefix,
        rare_metadata,
        deep_cursor,
        entitled_product,
    })
}

/// Picks the large and the median tenant (by events) and reads what the shapes need.
pub async fn subjects(db: &impl ConnectionTrait) -> Result<Subjects> {
    let counts = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT tenant_id, count(*) AS n FROM audit_log WHERE tenant_id IS NOT NULL \
             GROUP BY tenant_id ORDER BY n DESC, tenant_id",
        ))
        .await?;
    if counts.len() < 2 {
        bail!("the audit log needs events of at least two tenants: run `seed bulk` first");
    }
    let at = |i: usize| -> Result<(Uuid, i64)> {
        Ok((
            counts[i].try_get_by_index(0)?,
            counts[i].try_get_by_index(1)?,
        ))
    };
    let (large, large_n) = at(0)?;
    let (mid, mid_n) = at(counts.len() / 2)?;
    let now: DateTime<chrono::FixedOffset> =
        scalar(db, "SELECT max(created_at) FROM audit_log", vec![])
            .await?
            .context("no events")?;
    Ok(Subjects {
        large: subject(db, large, large_n).await?,
        mid: subject(db, mid, mid_n).await?,
        now: now.to_utc(),
    })
}
