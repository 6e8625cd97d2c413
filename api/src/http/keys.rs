//! `POST /v1/keys/verify`: `verifyApiKey` for products that do not speak GraphQL. The caller's
//! key goes in `Authorization: Bearer <key>`, the body is `{"key": "...", "product": "crm"}`
//! (`product` optional, as in GraphQL), and the answer is the GraphQL answer's fields as JSON
//! (`valid`, `code`, `readOnly`, `retryAfterSeconds`, `key`, `tenant`, `entitlement`).
//! Errors are `{"code": ..., "message": ..., "field": ...}` with the code's HTTP status: the
//! same codes as GraphQL's `extensions.code`.

use chrono::SecondsFormat;
use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use registry::ApiError;
use registry::keys::verify::Verification;
use serde_json::{Value, json};

use super::HttpSettings;
use super::errors::{add_retry_after, status};
use super::prologue::{self, BodyError, Credential};
use crate::state::AppState;

/// `POST /v1/keys/verify`.
#[handler]
pub async fn verify(
    req: &Request,
    body: Body,
    state: Data<&AppState>,
    settings: Data<&HttpSettings>,
) -> Response {
    match answer(req, body, &state, &settings).await {
        Ok(answer) => Response::builder()
            .status(StatusCode::OK)
            .content_type("application/json")
            .body(answer.to_string()),
        Err(Refusal(status, e)) => rest_error(status, e),
    }
}

/// An error, with the status it is answered with when that is not its code's (413, 415).
struct Refusal(Option<StatusCode>, ApiError);

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Refusal {
        Refusal(None, e)
    }
}

async fn answer(
    req: &Request,
    body: Body,
    state: &AppState,
    settings: &HttpSettings,
) -> Result<Value, Refusal> {
    let credential = Credential::Bearer(req.header(header::AUTHORIZATION));
    let caller = prologue::caller(req, state, credential).await?;
    let media = req
        .header(header::CONTENT_TYPE)
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if media != "application/json" {
        return Err(Refusal(
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            ApiError::bad_input(
                "Content-Type",
                "POST /v1/keys/verify needs Content-Type: application/json",
            ),
        ));
    }
    let body = prologue::json_body(body, settings)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => Refusal(
                Some(StatusCode::PAYLOAD_TOO_LARGE),
                ApiError::bad_input(
                    "body",
                    format!(
                        "the request body is larger than {} bytes",
                        settings.max_body_bytes
                    ),
                ),
            ),
            BodyError::NotJson(e) => {
                ApiError::bad_input("body", format!("the body is not JSON: {e}")).into()
            }
        })?;
    let key = body.get("key").and_then(Value::as_str).ok_or_else(|| {
        ApiError::bad_input(
            "key",
            "send {\"key\": \"<the customer's key>\", \"product\": \"<optional>\"}",
        )
    })?;
    let product = match body.get("product") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.as_str()),
        Some(_) => return Err(ApiError::bad_input("product", "product is a string").into()),
    };
    let reader = state
        .reader()
        .planned(crate::graphql::manage::keys::VERIFY_PLAN_CACHE);
    let verification =
        registry::keys::verify::verify(&reader, &state.auth, &caller, key, product).await?;
    Ok(as_json(&verification))
}

/// The answer as JSON, with the GraphQL answer's field names.
fn as_json(v: &Verification) -> Value {
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let now = chrono::Utc::now();
    json!({
        "valid": v.verdict.valid(),
        "code": v.verdict.as_str(),
        "readOnly": v.verdict.read_only(),
        "retryAfterSeconds": v.retry_after.map(|d| d.as_secs().max(1)),
        "key": v.key.as_ref().map(|k| json!({
            "id": k.id,
            "name": k.name,
            "prefix": k.prefix,
            "scopes": k.scopes,
            "product": k.product,
            "expiresAt": k.expires_at.map(time),
            "lastUsedAt": k.last_used_at.map(time),
        })),
        "tenant": v.tenant.as_ref().map(|t| json!({
            "id": t.id,
            "slug": t.slug,
            "status": registry::lifecycle::status_name(t.status),
        })),
        "entitlement": v.entitlement.as_ref().map(|e| json!({
            "active": e.is_active(now),
            "reason": e.inactive(now).map(|r| r.as_str()),
            "product": e.row.product,
            "enabled": e.row.enabled,
            "config": e.row.config,
            "expiresAt": e.row.expires_at.map(|t| time(t.to_utc())),
        })),
    })
}

/// A registry error as a REST answer: its code's status (or `status`), `Retry-After` when rate
/// limited, and `{code, message, field}`.
pub(crate) fn rest_error(status_override: Option<StatusCode>, error: ApiError) -> Response {
    error.log_internal("in a REST request");
    let code = error.code();
    let mut body = json!({"code": code.as_str(), "message": error.message()});
    if let Some(field) = error.field() {
        body["field"] = json!(field);
    }
    let mut response = Response::builder()
        .status(status_override.unwrap_or_else(|| status(code)))
        .content_type("application/json")
        .body(body.to_string());
    add_retry_after(&error, &mut response);
    response
}
