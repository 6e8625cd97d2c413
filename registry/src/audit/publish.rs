//! Events that products state: one through `recordAuditEvent`, batches through Retraced's
//! publisher protocol. Both end in the writer ([`super::append`], [`super::append_all`]).

use std::collections::HashMap;

use entity::audit_log;
use entity::prelude::{TenantProjects, Tenants};
use entity::scope::Scope;
use entity::tenants;
use ipnetwork::IpNetwork;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use super::{Actor, Event, RequestMeta, Rules, Target, append_all, lengths, reserve_ids};
use crate::Db;
use crate::auth::Principal;
use crate::error::ApiError;

/// One event as `recordAuditEvent` states it.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// The tenant: platform keys only; other keys record for their own tenant.
    pub tenant_id: Option<Uuid>,
    /// A project of that tenant.
    pub project_id: Option<Uuid>,
    /// The emitting product. A product key always records as its product.
    pub product: Option<String>,
    /// The dotted action, e.g. `crm.contact.created`.
    pub action: String,
    /// Who did it.
    pub actor: Actor,
    /// What it was done to.
    pub target: Target,
    /// Details (a JSON object); `{}` when absent.
    pub metadata: Option<Value>,
    /// The client's address; the request's when absent.
    pub source_ip: Option<String>,
    /// The client's user agent; the request's when absent (cut to the column's limit).
    pub user_agent: Option<String>,
}

/// Records one event as `caller`, committed when this returns. Scope `audit:write`; the key
/// must still be unrevoked (its cached verdict is not enough).
pub async fn record_event(
    db: &impl ConnectionTrait,
    caller: &Principal,
    meta: &RequestMeta,
    input: Recorded,
) -> Result<audit_log::Model, ApiError> {
    caller.require(Scope::AuditWrite)?;
    caller.require_live_now(db).await?;
    let rules = Rules::GRAPHQL;
    let event = Event {
        action: input.action,
        ..Event::default()
    };
    event.check_action(rules)?;
    let tenant_id = match input.tenant_id {
        Some(id) => {
            caller.require_reach(id)?;
            id
        }
        None => caller.tenant_id,
    };
    check_states(db, &[tenant_id]).await?;
    let product = match (&caller.product, input.product) {
        (Some(own), Some(asked)) if *own != asked => {
            return Err(ApiError::Forbidden(format!(
                "input.product: this API key records only {own} events"
            )));
        }
        (Some(own), _) => Some(own.clone()),
        (None, asked) => asked.filter(|p| !p.trim().is_empty()),
    };
    if let Some(project_id) = input.project_id {
        let project = TenantProjects::find_by_id(project_id).one(db).await?;
        if project.is_none_or(|p| p.tenant_id != tenant_id) {
            return Err(ApiError::NotFound(
                "input.projectId: no such project in this tenant".to_owned(),
            ));
        }
    }
    let source_ip = match input.source_ip {
        Some(text) => text.trim().parse::<IpNetwork>().map(Some).map_err(|_| {
            ApiError::bad_input(
                "input.sourceIp",
                format!("input.sourceIp: {text:?} is not an IP address"),
            )
        }),
        None => Ok(meta.ip.map(IpNetwork::from)),
    };
    // The request's own User-Agent is kept as far as the column's limit allows.
    let user_agent = input.user_agent.or_else(|| {
        meta.user_agent
            .as_deref()
            .map(|ua| lengths::cut(ua, lengths::USER_AGENT).to_owned())
    });
    let event = Event {
        tenant_id: Some(tenant_id),
        project_id: input.project_id,
        product,
        actor: input.actor,
        target: input.target,
        metadata: input
            .metadata
            .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
        user_agent,
        recorded_by: Some((caller.key_id, caller.key_name.clone())),
        ..event
    };
    // Checked in the order clients have always met them: the shape, the address, the rest.
    event.check_shape(rules)?;
    let event = Event {
        source_ip: source_ip?,
        ..event
    };
    let row = event.into_row(rules)?;
    Ok(row.into_active_model().insert(db).await?)
}

/// Appends a batch of events a product published, in one transaction on `db`: all or none.
/// Each item names its tenant by id or slug (`None`: the caller's), which `caller` must
/// reach; ids are taken from the log's sequence first and handed to `build`, which makes the
/// item's event and what the caller answers with (Retraced answers `{id, hash}`, the hash over
/// the id). Tenants are looked up once per distinct name in the batch.
pub async fn publish<T, R>(
    db: &impl Db,
    caller: &Principal,
    items: Vec<(Option<String>, T)>,
    mut build: impl FnMut(i64, Uuid, T) -> (Event, R),
) -> Result<Vec<R>, ApiError> {
    let txn = db.begin().await?;
    caller.require_live_now(&txn).await?;
    let mut tenants = Vec::with_capacity(items.len());
    let mut resolved: HashMap<Option<String>, Uuid> = HashMap::new();
    for (group, _) in &items {
        let tenant = match resolved.get(group) {
            Some(tenant) => *tenant,
            None => {
                let tenant = tenant_named(&txn, caller, group.as_deref()).await?;
                resolved.insert(group.clone(), tenant);
                tenant
            }
        };
        tenants.push(tenant);
    }
    let mut distinct: Vec<Uuid> = resolved.values().copied().collect();
    distinct.sort();
    distinct.dedup();
    check_states(&txn, &distinct).await?;
    let ids = reserve_ids(&txn, items.len()).await?;
    let mut answers = Vec::with_capacity(items.len());
    let mut events = Vec::with_capacity(items.len());
    for (((_, item), tenant), id) in items.into_iter().zip(tenants).zip(ids) {
        let (mut event, answer) = build(id, tenant, item);
        event.id = Some(id);
        event.tenant_id = Some(tenant);
        event.recorded_by = Some((caller.key_id, caller.key_name.clone()));
        events.push(event);
        answers.push(answer);
    }
    append_all(&txn, events, Rules::RETRACED).await?;
    txn.commit().await?;
    Ok(answers)
}

/// The tenant a published event names: its id or slug; none (or empty): the caller's.
async fn tenant_named(
    db: &impl ConnectionTrait,
    caller: &Principal,
    group: Option<&str>,
) -> Result<Uuid, ApiError> {
    let Some(group) = group.filter(|g| !g.is_empty()) else {
        return Ok(caller.tenant_id);
    };
    if !caller.is_platform() {
        // A key of one tenant publishes only for it: any other name gets the same answer,
        // whether a tenant has it or not, and nothing is looked up.
        let own = group == caller.tenant_slug || group.parse::<Uuid>() == Ok(caller.tenant_id);
        return if own {
            Ok(caller.tenant_id)
        } else {
            Err(ApiError::Forbidden(format!(
                "this API key cannot publish for group {group:?}"
            )))
        };
    }
    let condition = match group.parse::<Uuid>() {
        Ok(id) => tenants::Column::Id.eq(id),
        Err(_) => tenants::Column::Slug.eq(group),
    };
    let tenant = Tenants::find().filter(condition).one(db).await?;
    // Platform keys reach every tenant: for them, an unknown name is only that.
    match tenant {
        Some(tenant) => Ok(tenant.id),
        None => Err(ApiError::BadUserInput {
            field: None,
            message: format!("Unknown group {group:?}: no such tenant"),
        }),
    }
}

/// `TENANT_ARCHIVED` if one of `tenants` takes no more events ([`crate::lifecycle`]);
/// `NOT_FOUND` for one that does not exist. One statement.
async fn check_states(db: &impl ConnectionTrait, tenants: &[Uuid]) -> Result<(), ApiError> {
    let found: Vec<(Uuid, String, entity::sea_orm_active_enums::TenantStatus)> = Tenants::find()
        .select_only()
        .column(tenants::Column::Id)
        .column(tenants::Column::Slug)
        .column(tenants::Column::Status)
        .filter(tenants::Column::Id.is_in(tenants.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    if found.len() < tenants.len() {
        return Err(ApiError::NotFound("no such tenant".to_owned()));
    }
    for (_, slug, status) in &found {
        crate::lifecycle::check_publish(slug, *status)?;
    }
    Ok(())
}
