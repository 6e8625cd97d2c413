//! Retraced's publisher endpoints: `POST /publisher/v1/project/{project}/event` and
//! `.../event/bulk` onto `audit_log` (through the registry's writer), and `.../graphql`, the
//! `search` schema of [`crate::retraced::search`]. Unlike Retraced, 201 means committed (and searchable at once),
//! and a bulk call is one transaction: all events or none.
//!
//! Mapping: `{project}` → `product`; `group.id` (tenant id or slug; absent: the key's tenant) →
//! `tenant_id`; `actor.id`/`actor.name` → `actor_id`/`actor_name` (`actor_type` `user`, or
//! `system` when anonymous); `target.*` → `target_*`; `source_ip` → `source_ip`; the request's
//! `User-Agent` → `user_agent`. Everything else goes into `metadata`: `crud`, `description`,
//! `external_id`, `is_failure`, `is_anonymous`, `component`, `version`, `created` (the
//! publisher's time), `display_title`, `fields`, `metadata`, `group` (`{id, name}` as sent),
//! `actor` and `target` (`{href, fields}`), and `hash`.

use entity::scope::Scope;
use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use registry::auth::Principal;
use registry::{ApiError, Code};
use serde_json::{Value, json};

use super::HttpSettings;
use super::errors::{retraced as error, retraced_from, retraced_with_code};
use super::prologue::{self, BodyError, Credential};
use crate::retraced::event::{PublishedEvent, Violation, validate};
use crate::retraced::row::event_of;
use crate::retraced::search::{RetracedSchema, SearchScope, reach};
use crate::state::AppState;
use registry::audit::lengths;

/// The most events one bulk call may carry.
pub const MAX_BULK: usize = 50;

/// Retraced finds the key with `token=(.+)` anywhere in the header: `token=KEY` and
/// `Token token=KEY` both work.
fn token(req: &Request) -> Option<&str> {
    let header = req.header(header::AUTHORIZATION)?;
    let start = header.find("token=")? + "token=".len();
    Some(header[start..].trim()).filter(|t| !t.is_empty())
}

/// The caller (through the shared [`prologue`]), if its key holds `scope` and may use
/// `project` (a product key only its own), and the JSON body, read within the size limit.
/// Refusals of the key are 401, as Retraced answers them.
async fn authorized_json(
    req: &Request,
    state: &AppState,
    settings: &HttpSettings,
    project: &str,
    scope: Scope,
    body: Body,
) -> Result<(std::sync::Arc<Principal>, Value), Response> {
    let unauthorized = |m: &str| error(StatusCode::UNAUTHORIZED, m, None);
    let Some(token) = token(req) else {
        return Err(unauthorized(
            "Missing or invalid Authorization header: send `token=<key>`",
        ));
    };
    let caller = match prologue::caller(req, state, Credential::Token(token)).await {
        Ok(caller) => caller,
        Err(ApiError::Unauthenticated(m)) => return Err(unauthorized(&m)),
        Err(
            e @ (ApiError::RateLimited { .. }
            | ApiError::KeyExpired(_)
            | ApiError::TenantArchived(_)),
        ) => {
            return Err(retraced_from(e));
        }
        Err(e) => {
            e.log_internal("verifying a Retraced key");
            let status = StatusCode::SERVICE_UNAVAILABLE;
            return Err(retraced_with_code(status, e.code(), &e.message(), None));
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
    match prologue::json_body(body, settings).await {
        Ok(value) => Ok((caller, value)),
        Err(BodyError::TooLarge) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
            None,
        )),
        Err(BodyError::NotJson(e)) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("the body is not JSON: {e}"),
            None,
        )),
    }
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

/// Stores the events in one transaction through the registry's writer; their `{id, hash}` in
/// order.
async fn store(
    state: &AppState,
    caller: &Principal,
    project: &str,
    events: Vec<PublishedEvent>,
    req: &Request,
) -> Result<Vec<Value>, Response> {
    // The request's own User-Agent is kept as far as the column's limit allows.
    let user_agent = req
        .header(header::USER_AGENT)
        .map(|ua| lengths::cut(ua, lengths::USER_AGENT).to_owned());
    let items = events
        .into_iter()
        .map(|event| (event.group.as_ref().map(|g| g.id.clone()), event))
        .collect();
    registry::audit::publish(&state.db, caller, items, |id, _tenant, event| {
        let (row, digest) = event_of(id, project, &event, user_agent.clone());
        (row, json!({ "id": id.to_string(), "hash": digest }))
    })
    .await
    .map_err(|e| match e {
        // Retraced's publishers read these two from the status alone.
        ApiError::BadUserInput { message, .. } => error(StatusCode::BAD_REQUEST, &message, None),
        ApiError::Forbidden(message) => error(StatusCode::FORBIDDEN, &message, None),
        other => retraced_from(other),
    })
}

/// `POST /publisher/v1/project/{project}/graphql`: bounded as `/graphql` is (document nesting
/// checked before parsing, the schema's limits, the request timeout).
#[handler]
pub async fn search(
    req: &Request,
    Path(project): Path<String>,
    body: Body,
    state: Data<&AppState>,
    settings: Data<&HttpSettings>,
    schema: Data<&RetracedSchema>,
) -> Response {
    let (caller, value) =
        match authorized_json(req, &state, &settings, &project, Scope::AuditRead, body).await {
            Ok(authorized) => authorized,
            Err(r) => return r,
        };
    let mut request: async_graphql::Request = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "the body must be a GraphQL request in JSON",
                None,
            );
        }
    };
    if let Err(e) = super::check_nesting("query", &request.query) {
        return error(StatusCode::BAD_REQUEST, &e.message(), None);
    }
    if let Ok(document) = request.parsed_query()
        && let Err(message) = crate::graphql::bounds::check_expansion(document)
    {
        return error(StatusCode::BAD_REQUEST, &message, None);
    }
    let condition = match reach(&caller, &project) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::FORBIDDEN, &e.message(), None),
    };
    let tenant = (!caller.is_platform()).then_some(caller.tenant_id);
    let run = schema.execute(
        request
            .data(state.clone())
            .data(SearchScope { condition, tenant }),
    );
    let Ok(mut response) = tokio::time::timeout(settings.request_timeout, run).await else {
        tracing::warn!(timeout = ?settings.request_timeout, "search request timed out");
        return retraced_with_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Timeout,
            &format!(
                "the request took longer than {} s and was stopped",
                settings.request_timeout.as_secs()
            ),
            None,
        );
    };
    // Every error carries a code, as on `/graphql`; the status is that of the gravest.
    let mut status = StatusCode::OK;
    for error in &mut response.errors {
        super::graphql::default_code(error);
        let code = super::graphql::code_of(error);
        let this = match [Code::Internal, Code::Unavailable, Code::Timeout]
            .into_iter()
            .find(|c| c.as_str() == code)
        {
            Some(grave) => super::errors::status(grave),
            None => StatusCode::BAD_REQUEST,
        };
        status = status.max(this);
    }
    match serde_json::to_string(&response) {
        Ok(body) => Response::builder()
            .status(status)
            .content_type("application/json")
            .body(body),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not encode the response",
            None,
        ),
    }
}
