//! Events that products state: one through `recordAuditEvent`, batches through Retraced's
//! publisher protocol. Both end in the writer ([`super::append`], [`super::append_all`]).

use std::collections::HashMap;

use entity::audit_log;
use entity::prelude::{TenantProjects, Tenants};
use entity::scope::Scope;
use entity::sea_orm_active_enums::TenantStatus;
use entity::tenants;
use ipnetwork::IpNetwork;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement,
};
use serde_json::Value;
use uuid::Uuid;

use super::{Actor, Event, RequestMeta, Rules, Target, append_all, lengths, reserve_ids};
use crate::Db;
use crate::auth::Principal;
use crate::auth::principal::{KEY_STANDING, key_standing};
use crate::error::ApiError;
use crate::lifecycle::{check_publish, parse_status};

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
    let rules = Rules::GRAPHQL;
    let event = Event {
        action: input.action,
        ..Event::default()
    };
    let action = event.check_action(rules);
    let tenant = match input.tenant_id {
        Some(id) => caller.require_reach(id).map(|()| id),
        None => Ok(caller.tenant_id),
    };
    // One statement for the key and the tenant; a revoked key hears of nothing else.
    let standing = standing(db, caller, tenant.iter().copied().collect()).await?;
    standing.require_live()?;
    action?;
    let tenant_id = tenant?;
    standing.require_open()?;
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
    let resolution = resolve(&txn, caller, &items).await;
    let mut distinct: Vec<Uuid> = match &resolution {
        Ok(tenants) => tenants.clone(),
        Err(_) => Vec::new(),
    };
    distinct.sort();
    distinct.dedup();
    // One statement for the key and the tenants; a revoked key hears of nothing else.
    let standing = standing(&txn, caller, distinct).await?;
    standing.require_live()?;
    let tenants = resolution?;
    standing.require_open()?;
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

/// The tenant of each item, each distinct name looked up once.
async fn resolve<T>(
    db: &impl ConnectionTrait,
    caller: &Principal,
    items: &[(Option<String>, T)],
) -> Result<Vec<Uuid>, ApiError> {
    let mut tenants = Vec::with_capacity(items.len());
    let mut resolved: HashMap<Option<&str>, Uuid> = HashMap::new();
    for (group, _) in items {
        let group = group.as_deref();
        let tenant = match resolved.get(&group) {
            Some(tenant) => *tenant,
            None => {
                let tenant = tenant_named(db, caller, group).await?;
                resolved.insert(group, tenant);
                tenant
            }
        };
        tenants.push(tenant);
    }
    Ok(tenants)
}

/// Whether a key may still publish, and the tenants it publishes for as they are now.
#[derive(Debug)]
struct Standing {
    /// The key's [`KEY_STANDING`] and expiry.
    key: (String, Option<chrono::DateTime<chrono::Utc>>),
    wanted: usize,
    found: Vec<(String, TenantStatus)>,
}

/// The caller's key row (unrevoked?) and the state of `tenants` (distinct ids), in one
/// statement: a publish's checks cost one round trip.
async fn standing(
    db: &impl ConnectionTrait,
    caller: &Principal,
    tenants: Vec<Uuid>,
) -> Result<Standing, ApiError> {
    let wanted = tenants.len();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {KEY_STANDING}, k.expires_at, t.slug, t.status::text \
                 FROM (SELECT 1) one LEFT JOIN api_keys k ON k.id = $1 \
                 LEFT JOIN tenants t ON t.id = ANY($2)"
            ),
            [caller.key_id.into(), tenants.into()],
        ))
        .await?;
    let mut standing = Standing {
        key: ("revoked".to_owned(), None),
        wanted,
        found: Vec::with_capacity(rows.len()),
    };
    for row in rows {
        standing.key = (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
        let (slug, status): (Option<String>, Option<String>) =
            (row.try_get_by_index(2)?, row.try_get_by_index(3)?);
        if let (Some(slug), Some(status)) = (slug, status.as_deref().and_then(parse_status)) {
            standing.found.push((slug, status));
        }
    }
    Ok(standing)
}

impl Standing {
    /// `UNAUTHENTICATED` once the key is revoked, `KEY_EXPIRED` once past its expiry (its
    /// cached verdict is not enough).
    fn require_live(&self) -> Result<(), ApiError> {
        key_standing(Some(&self.key.0), self.key.1)
    }

    /// `NOT_FOUND` for a tenant that does not exist; `TENANT_ARCHIVED` for one that takes no
    /// more events ([`crate::lifecycle`]).
    fn require_open(&self) -> Result<(), ApiError> {
        if self.found.len() < self.wanted {
            return Err(ApiError::NotFound("no such tenant".to_owned()));
        }
        for (slug, status) in &self.found {
            check_publish(slug, *status)?;
        }
        Ok(())
    }
}
