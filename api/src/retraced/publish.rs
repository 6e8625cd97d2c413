//! `POST /publisher/v1/project/{project}/event` and `.../event/bulk`: Retraced's publisher
//! protocol onto `audit_log`. Unlike Retraced, 201 means committed (and searchable at once),
//! and a bulk call is one transaction: all events or none.
//!
//! Mapping: `{project}` → `product`; `group.id` (tenant id or slug; absent: the key's tenant) →
//! `tenant_id`; `actor.id`/`actor.name` → `actor_id`/`actor_name` (`actor_type` `user`, or
//! `system` when anonymous); `target.*` → `target_*`; `source_ip` → `source_ip`; the request's
//! `User-Agent` → `user_agent`. Everything else goes into `metadata`: `crud`, `description`,
//! `external_id`, `is_failure`, `is_anonymous`, `component`, `version`, `created` (the
//! publisher's time), `display_title`, `fields`, `metadata`, `group` (`{id, name}` as sent),
//! `actor` and `target` (`{href, fields}`), and `hash`.

use std::collections::HashMap;

use entity::prelude::{AuditLog, Tenants};
use entity::scope::Scope;
use entity::tenants;
use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::event::{PublishedEvent, Violation, validate};
use super::hash::{Hashed, hash};
use super::row::audit_row;
use crate::audit::lengths;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::HttpSettings;
use crate::state::AppState;

/// The most events one bulk call may carry.
pub const MAX_BULK: usize = 50;

/// Retraced's error body, with the code for `status` added (see [`error_with_code`]).
pub(crate) fn error(status: StatusCode, message: &str, invalid: Option<Value>) -> Response {
    let code = match status {
        StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
        StatusCode::FORBIDDEN => "FORBIDDEN",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::CONFLICT => "CONFLICT",
        StatusCode::TOO_MANY_REQUESTS => "RATE_LIMITED",
        StatusCode::SERVICE_UNAVAILABLE => "UNAVAILABLE",
        s if s.is_client_error() => "BAD_USER_INPUT",
        _ => "INTERNAL",
    };
    error_with_code(status, code, message, invalid)
}

/// Retraced's error body (`status`, `type`, `error`, and `invalid` for validation), plus
/// `code`, the stable code the GraphQL API puts in `extensions.code`. Retraced's clients read
/// the status and `error`; the extra member is for everyone else.
pub(crate) fn error_with_code(
    status: StatusCode,
    code: &str,
    message: &str,
    invalid: Option<Value>,
) -> Response {
    let mut body =
        json!({ "status": status.as_u16(), "type": "Error", "code": code, "error": message });
    if let Some(invalid) = invalid {
        body["invalid"] = invalid;
    }
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

/// Retraced finds the key with `token=(.+)` anywhere in the header: `token=KEY` and
/// `Token token=KEY` both work.
fn token(req: &Request) -> Option<&str> {
    let header = req.header(header::AUTHORIZATION)?;
    let start = header.find("token=")? + "token=".len();
    Some(header[start..].trim()).filter(|t| !t.is_empty())
}

/// The caller, if its key holds `scope` and may use `project` (a product key only its own).
/// Refusals are 401, as Retraced answers them.
pub(crate) async fn caller_for(
    req: &Request,
    state: &AppState,
    project: &str,
    scope: Scope,
) -> Result<std::sync::Arc<Principal>, Response> {
    let unauthorized = |m: &str| error(StatusCode::UNAUTHORIZED, m, None);
    let Some(token) = token(req) else {
        return Err(unauthorized(
            "Missing or invalid Authorization header: send `token=<key>`",
        ));
    };
    let ip = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let caller = match state.auth.authenticate_token(token, ip).await {
        Ok(caller) => caller,
        Err(ApiError::Unauthenticated(m)) => return Err(unauthorized(&m)),
        Err(e @ ApiError::RateLimited { .. }) => return Err(error_from(e)),
        Err(e) => {
            let status = StatusCode::SERVICE_UNAVAILABLE;
            return Err(error_with_code(status, e.code(), &e.message(), None));
        }
    };
    if caller.require(scope).is_err() {
        return Err(unauthorized(&format!(
            "this API key lacks the scope {scope}"
        )));
    }
    if let Some(own) = caller.product.as_deref().filter(|own| *own != project) {
        return Err(unauthorized(&format!(
            "this API key is for project {own} only"
        )));
    }
    if let Some(message) = lengths::too_long("the project in the path", project, lengths::PRODUCT) {
        return Err(error(StatusCode::BAD_REQUEST, &message, None));
    }
    Ok(caller)
}

/// The common prologue of the publisher endpoints: the caller (holding `scope`, allowed on
/// `project`) and the JSON body (read with the size limit).
pub(crate) async fn authorized_json(
    req: &Request,
    state: &AppState,
    settings: &HttpSettings,
    project: &str,
    scope: Scope,
    body: Body,
) -> Result<(std::sync::Arc<Principal>, Value), Response> {
    let caller = caller_for(req, state, project, scope).await?;
    let value = body_json(body, settings).await?;
    Ok((caller, value))
}

async fn body_json(body: Body, settings: &HttpSettings) -> Result<Value, Response> {
    let bytes = body
        .into_bytes_limit(settings.max_body_bytes)
        .await
        .map_err(|_| {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large",
                None,
            )
        })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("the body is not JSON: {e}"),
            None,
        )
    })
}

/// `POST .../event`: one event; 201 `{id, hash}`.
#[handler]
pub async fn one(
    req: &Request,
    Path(project): Path<String>,
    body: Body,
    state: Data<&AppState>,
    settings: Data<&HttpSettings>,
) -> Response {
    let (caller, value) =
        match authorized_json(req, &state, &settings, &project, Scope::AuditWrite, body).await {
            Ok(authorized) => authorized,
            Err(r) => return r,
        };
    let event = match validate(&value) {
        Ok(e) => e,
        Err(violations) => {
            let message = violations
                .iter()
                .map(|v| v.message.as_str())
                .collect::<Vec<_>>()
                .join("\n--");
            return error(StatusCode::BAD_REQUEST, &message, Some(json!(violations)));
        }
    };
    match store(&state, &caller, &project, vec![event], req).await {
        Ok(mut created) => created_response(created.remove(0)),
        Err(r) => r,
    }
}

/// `POST .../event/bulk` with `{"events": [...]}`: all or none; 201 `[{id, hash}]` in order.
#[handler]
pub async fn bulk(
    req: &Request,
    Path(project): Path<String>,
    body: Body,
    state: Data<&AppState>,
    settings: Data<&HttpSettings>,
) -> Response {
    let (caller, value) =
        match authorized_json(req, &state, &settings, &project, Scope::AuditWrite, body).await {
            Ok(authorized) => authorized,
            Err(r) => return r,
        };
    let Some(inputs) = value.get("events").and_then(Value::as_array) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be {\"events\": [...]}",
            None,
        );
    };
    if inputs.len() > MAX_BULK {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "A maximum of {MAX_BULK} events may be created at once, received {}",
                inputs.len()
            ),
            None,
        );
    }
    let mut events = Vec::with_capacity(inputs.len());
    let mut invalid = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        match validate(input) {
            Ok(event) => events.push(event),
            Err(violations) => invalid.push((index, violations)),
        }
    }
    if !invalid.is_empty() {
        let entries: Vec<Value> = invalid
            .iter()
            .map(|(index, violations): &(usize, Vec<Violation>)| {
                let list = violations.iter().map(|v| v.message.as_str()).collect::<Vec<_>>().join("\n-- ");
                json!({ "message": format!("Invalid event input at index {index}:\n-- {list}"), "index": index, "violations": violations })
            })
            .collect();
        let summary = entries
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect::<Vec<_>>()
            .join("\n- ");
        return error(
            StatusCode::BAD_REQUEST,
            &format!("One or more invalid inputs, no events were logged:\n- {summary}"),
            Some(Value::Array(entries)),
        );
    }
    match store(&state, &caller, &project, events, req).await {
        Ok(created) => Response::builder()
            .status(StatusCode::CREATED)
            .content_type("application/json")
            .body(Value::Array(created).to_string()),
        Err(r) => r,
    }
}

fn created_response(created: Value) -> Response {
    Response::builder()
        .status(StatusCode::CREATED)
        .content_type("application/json")
        .body(created.to_string())
}

/// The tenant an event's group names: its id or slug; none: the caller's tenant.
async fn tenant_of(
    db: &impl ConnectionTrait,
    caller: &Principal,
    event: &PublishedEvent,
) -> Result<Uuid, Response> {
    let Some(group) = event.group.as_ref().filter(|g| !g.id.is_empty()) else {
        return Ok(caller.tenant_id);
    };
    let condition = match group.id.parse::<Uuid>() {
        Ok(id) => tenants::Column::Id.eq(id),
        Err(_) => tenants::Column::Slug.eq(group.id.clone()),
    };
    let tenant = Tenants::find()
        .filter(condition)
        .one(db)
        .await
        .map_err(|e| error_from(e.into()))?;
    let Some(tenant) = tenant else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            &format!("Unknown group {:?}: no such tenant", group.id),
            None,
        ));
    };
    if !caller.reaches(tenant.id) {
        return Err(error(
            StatusCode::FORBIDDEN,
            &format!("this API key cannot publish for group {:?}", group.id),
            None,
        ));
    }
    Ok(tenant.id)
}

fn error_from(e: ApiError) -> Response {
    if let ApiError::Internal(detail) = &e {
        tracing::error!(error = %detail, "internal error while publishing");
    }
    let mut response = error_with_code(e.http_status(), e.code(), &e.message(), None);
    e.add_retry_after(&mut response);
    response
}

/// Stores the events in one transaction; their `{id, hash}` in order.
async fn store(
    state: &AppState,
    caller: &Principal,
    project: &str,
    events: Vec<PublishedEvent>,
    req: &Request,
) -> Result<Vec<Value>, Response> {
    let txn = state.db.begin().await.map_err(|e| error_from(e.into()))?;
    // One lookup per distinct group in the call, not one per event.
    let mut tenants = Vec::with_capacity(events.len());
    let mut resolved: HashMap<Option<&str>, Uuid> = HashMap::new();
    for event in &events {
        let group = event.group.as_ref().map(|g| g.id.as_str());
        let tenant = match resolved.get(&group) {
            Some(tenant) => *tenant,
            None => {
                let tenant = tenant_of(&txn, caller, event).await?;
                resolved.insert(group, tenant);
                tenant
            }
        };
        tenants.push(tenant);
    }
    let ids: Vec<i64> = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT nextval(pg_get_serial_sequence('audit_log', 'id')) FROM generate_series(1, $1)",
            [(events.len() as i64).into()],
        ))
        .await
        .map_err(|e| error_from(e.into()))?
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect::<Result<_, _>>()
        .map_err(|e| error_from(e.into()))?;
    let user_agent = req.header(header::USER_AGENT).map(str::to_owned);
    let mut created = Vec::with_capacity(events.len());
    let mut rows = Vec::with_capacity(events.len());
    for ((event, tenant_id), id) in events.into_iter().zip(tenants).zip(ids) {
        let id_text = id.to_string();
        let digest = hash(&Hashed {
            id: &id_text,
            action: &event.action,
            target_id: event.target.as_ref().map(|t| t.id.as_str()),
            actor_id: event.actor.as_ref().map(|a| a.id.as_str()),
            group_id: event.group.as_ref().map(|g| g.id.as_str()),
            source_ip: event.source_ip.as_deref(),
            is_failure: event.is_failure,
            is_anonymous: event.is_anonymous,
            fields: event.fields.as_ref(),
            external_id: event.external_id.as_deref(),
            metadata: event.metadata.as_ref(),
        });
        created.push(json!({ "id": id_text, "hash": digest }));
        rows.push(audit_row(
            id,
            tenant_id,
            project,
            &event,
            &digest,
            user_agent.clone(),
        ));
    }
    AuditLog::insert_many(rows)
        .exec(&txn)
        .await
        .map_err(|e| error_from(e.into()))?;
    txn.commit().await.map_err(|e| error_from(e.into()))?;
    Ok(created)
}
