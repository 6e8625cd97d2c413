//! The audit log over GraphQL: `auditEvents` (filtered, keyset-paged), `auditEvent`, and
//! `recordAuditEvent` for products that publish through GraphQL.

use async_graphql::{Context, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::audit_log;
use entity::scope::Scope;
use sea_orm::sea_query::Condition;
use serde_json::Value;
use uuid::Uuid;

use super::audit_page::{EdgesPlans, Prebuilt};
use super::context::{db, principal, reader, request_meta, state};
use super::tenants::{MAX_PAGE, PageInfo, page_complexity};
use crate::audit::cursor::Cursor;
use crate::audit::filter::{AuditEventFilter, FilterArg};
use crate::audit::row::PageRow;
use crate::audit::row::format_ip;
use crate::audit::store::{self, AuditOrder};
use crate::reads::PlanCache;
use registry::ApiError;
use registry::audit::Recorded;

/// Who did it.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(serial)]
pub struct Actor {
    /// A user id or e-mail, a service account, or `system`.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// `user`, `service` or `system`.
    #[graphql(name = "type")]
    pub kind: Option<String>,
}

/// What it was done to.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(serial)]
pub struct Target {
    /// The object's id.
    pub id: Option<String>,
    /// The object's kind (`contact`, `invoice`, ...).
    #[graphql(name = "type")]
    pub kind: Option<String>,
    /// Display name.
    pub name: Option<String>,
}

/// The API key that wrote an event a product stated.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(serial)]
pub struct RecordedBy {
    /// The key's id.
    pub key_id: Uuid,
    /// The key's name when it wrote the event.
    pub name: Option<String>,
}

/// One audit event.
#[derive(Debug, Clone)]
pub struct AuditEvent(pub audit_log::Model);

// Fields resolve one after another (`serial`): they are plain reads of the row, and a page has
// 50 of these objects; concurrent resolution would cost a task set per object for nothing.
#[Object(serial)]
impl AuditEvent {
    /// The row id, as a decimal string.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The tenant (none once the tenant is deleted).
    async fn tenant_id(&self) -> Option<Uuid> {
        self.0.tenant_id
    }
    async fn project_id(&self) -> Option<Uuid> {
        self.0.project_id
    }
    /// The emitting product; none for the registry's own (portal) events.
    async fn product(&self) -> Option<&str> {
        self.0.product.as_deref()
    }
    async fn actor(&self) -> Actor {
        Actor {
            id: self.0.actor_id.clone(),
            name: self.0.actor_name.clone(),
            kind: self.0.actor_type.clone(),
        }
    }
    /// The dotted action, e.g. `crm.contact.created`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    async fn target(&self) -> Target {
        Target {
            id: self.0.target_id.clone(),
            kind: self.0.target_type.clone(),
            name: self.0.target_name.clone(),
        }
    }
    async fn metadata(&self) -> Json<Value> {
        Json(self.0.metadata.clone())
    }
    async fn source_ip(&self) -> Option<String> {
        self.0.source_ip.as_ref().map(format_ip)
    }
    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
    /// The API key that wrote the event, for events a product stated (`recordAuditEvent`,
    /// Retraced's publish); none for the registry's own events, whose actor is the acting key.
    /// The actor is the product's to name; this is not.
    async fn recorded_by(&self) -> Option<RecordedBy> {
        self.0.recorded_by.map(|key_id| RecordedBy {
            key_id,
            name: self.0.recorded_by_name.clone(),
        })
    }
    /// The event's place in the signed Merkle log, with its inclusion proof against the latest
    /// checkpoint; null until it is sealed (within `--seal-interval` of its commit). A page
    /// reads its events' seals together.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn seal(&self, ctx: &Context<'_>) -> Result<Option<super::evidence::AuditSeal>> {
        super::evidence::seal_of(ctx, self.0.id).await
    }
}

/// An event in a page.
#[derive(Debug)]
pub struct AuditEventEdge {
    /// The event.
    pub node: AuditEvent,
}

/// An event in a page.
#[Object(serial)]
impl AuditEventEdge {
    /// Where this event is in the order.
    async fn cursor(&self) -> String {
        store::cursor_of(&self.node.0).encode()
    }
    /// The event.
    async fn node(&self) -> &AuditEvent {
        &self.node
    }
}

/// A page of events. Its edges are written by [`EdgesPlans`] from the rows; the
/// [`AuditEventEdge`] type gives them their place in the schema.
#[derive(Debug)]
pub struct AuditEventConnection {
    rows: Vec<PageRow>,
    edges: EdgesPlans,
    has_next_page: bool,
    condition: Condition,
}

#[Object]
impl AuditEventConnection {
    /// The events of this page.
    async fn edges(&self, ctx: &Context<'_>) -> Result<Prebuilt<Vec<AuditEventEdge>>> {
        let key = ctx.item.node.response_key().node.as_str();
        let seals = if self.edges.wants_seals() {
            let ids: Vec<i64> = self.rows.iter().map(PageRow::id).collect();
            registry::evidence::proofs::seals_of(&state(ctx)?.db, &ids).await?
        } else {
            Default::default()
        };
        Ok(Prebuilt::new(self.edges.write(key, &self.rows, &seals)?))
    }
    /// Paging state.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next_page,
            end_cursor: self.rows.last().map(|row| row.cursor().encode()),
        }
    }
    /// How many events match the filter, over all pages. Counted only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(store::count(&reader(ctx)?, self.condition.clone())
            .await
            .map_err(ApiError::from)?)
    }
}

/// Queries of the audit log.
#[derive(Debug, Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Events across products (and the portal), newest first by default. Scope `audit:read`.
    #[graphql(complexity = "page_complexity(first, child_complexity)")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<FilterArg>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
        #[graphql(default)] order: AuditOrder,
    ) -> Result<AuditEventConnection> {
        let caller = principal(ctx)?;
        caller.require(Scope::AuditRead)?;
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(
                ApiError::bad_input("first", format!("first must be 1 to {MAX_PAGE}")).into(),
            );
        }
        let after = after
            .map(|text| {
                Cursor::decode(&text).ok_or_else(|| {
                    ApiError::bad_input("after", "after is not a cursor this API returned")
                })
            })
            .transpose()?;
        let filter = filter.unwrap_or_default().0;
        let text = state(ctx)?.text_match(filter.text_tenant(caller)).await?;
        let condition = filter.condition_with(caller, text)?;
        let conditions = filter.page_conditions(caller, text, order, after, &condition)?;
        let edges = EdgesPlans::new(&ctx.field())?;
        let page = store::page_rows(
            &reader(ctx)?,
            conditions,
            order,
            first as u64,
            after,
            edges.columns(),
        )
        .await
        .map_err(ApiError::from)?;
        Ok(AuditEventConnection {
            rows: page.rows,
            edges,
            has_next_page: page.has_next_page,
            condition,
        })
    }

    /// One event by id, if the key may see it. Scope `audit:read`.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn audit_event(&self, ctx: &Context<'_>, id: ID) -> Result<Option<AuditEvent>> {
        let caller = principal(ctx)?;
        caller.require(Scope::AuditRead)?;
        let id: i64 = id
            .parse()
            .map_err(|_| ApiError::bad_input("id", "id is an audit event id: a decimal number"))?;
        let reach = AuditEventFilter::default().condition(caller)?;
        // By primary key: the same lookup whatever the id, so its plan is kept.
        Ok(
            store::find(&reader(ctx)?.planned(PlanCache::Generic), id, reach)
                .await
                .map_err(ApiError::from)?
                .map(AuditEvent),
        )
    }
}

/// Who did it (for `recordAuditEvent`).
#[derive(InputObject, Debug, Default)]
pub struct ActorInput {
    /// A user id or e-mail, a service account, or `system`.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// `user`, `service` or `system`.
    #[graphql(name = "type")]
    pub kind: Option<String>,
}

/// What it was done to (for `recordAuditEvent`).
#[derive(InputObject, Debug, Default)]
pub struct TargetInput {
    /// The object's id.
    pub id: Option<String>,
    /// The object's kind.
    #[graphql(name = "type")]
    pub kind: Option<String>,
    /// Display name.
    pub name: Option<String>,
}

/// One event to record.
#[derive(InputObject, Debug)]
pub struct AuditEventInput {
    /// The tenant: platform keys only; other keys record for their own tenant.
    pub tenant_id: Option<Uuid>,
    /// A project of that tenant.
    pub project_id: Option<Uuid>,
    /// The emitting product. A product key always records as its product.
    pub product: Option<String>,
    /// The dotted action, e.g. `crm.contact.created`.
    pub action: String,
    /// Who did it.
    pub actor: Option<ActorInput>,
    /// What it was done to.
    pub target: Option<TargetInput>,
    /// Details (a JSON object).
    pub metadata: Option<Json<Value>>,
    /// The client's address; the request's when absent.
    pub source_ip: Option<String>,
    /// The client's user agent; the request's when absent.
    pub user_agent: Option<String>,
}

/// Mutations of the audit log.
#[derive(Debug, Default)]
pub struct AuditMutation;

#[Object]
impl AuditMutation {
    /// Records one event, committed and searchable when this returns. Scope `audit:write`.
    #[graphql(complexity = "crate::graphql::bounds::database_field(child_complexity)")]
    async fn record_audit_event(
        &self,
        ctx: &Context<'_>,
        input: AuditEventInput,
    ) -> Result<AuditEvent> {
        let actor = input.actor.unwrap_or_default();
        let target = input.target.unwrap_or_default();
        let recorded = Recorded {
            tenant_id: input.tenant_id,
            project_id: input.project_id,
            product: input.product,
            action: input.action,
            actor: registry::audit::Actor {
                id: actor.id,
                name: actor.name,
                kind: actor.kind,
            },
            target: registry::audit::Target {
                id: target.id,
                kind: target.kind,
                name: target.name,
            },
            metadata: input.metadata.map(|m| m.0),
            source_ip: input.source_ip,
            user_agent: input.user_agent,
        };
        let (caller, meta) = (principal(ctx)?, request_meta(ctx));
        let row = registry::audit::record_event(db(ctx)?, caller, &meta, recorded).await?;
        Ok(AuditEvent(row))
    }
}
