//! Where a registry error becomes an HTTP answer: the status of its [`Code`], `Retry-After`
//! for `RATE_LIMITED`, and the JSON bodies of REST and Retraced endpoints.

use poem::Response;
use poem::http::{HeaderValue, StatusCode, header};
use registry::{ApiError, Code};
use serde_json::{Value, json};

/// The HTTP status of `code` where a whole request fails with it.
pub fn status(code: Code) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Adds `Retry-After` to `response` when `error` is `RATE_LIMITED`.
pub fn add_retry_after(error: &ApiError, response: &mut Response) {
    if let Some(secs) = error.retry_after_secs() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}

/// The code a Retraced answer of `status` carries when the handler states only the status
/// (Retraced's own refusals: 401 for every key problem, 400 for bad input).
fn code_for_status(status: StatusCode) -> Code {
    match status {
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::Forbidden,
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::CONFLICT => Code::Conflict,
        StatusCode::TOO_MANY_REQUESTS => Code::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        s if s.is_client_error() => Code::BadUserInput,
        _ => Code::Internal,
    }
}

/// Retraced's error body (`status`, `type`, `error`, and `invalid` for validation), plus
/// `code`, the stable code the GraphQL API puts in `extensions.code`. Retraced's clients read
/// the status and `error`; the extra member is for everyone else.
pub fn retraced(status: StatusCode, message: &str, invalid: Option<Value>) -> Response {
    retraced_with_code(status, code_for_status(status), message, invalid)
}

/// [`retraced`] with a code other than the status's own.
pub fn retraced_with_code(
    status: StatusCode,
    code: Code,
    message: &str,
    invalid: Option<Value>,
) -> Response {
    let mut body = json!({
        "status": status.as_u16(),
        "type": "Error",
        "code": code.as_str(),
        "error": message,
    });
    if let Some(invalid) = invalid {
        body["invalid"] = invalid;
    }
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

/// A registry error as Retraced's error body, with its own status and code.
pub fn retraced_from(error: ApiError) -> Response {
    error.log_internal("in a Retraced request");
    let code = error.code();
    let mut response = retraced_with_code(status(code), code, &error.message(), None);
    add_retry_after(&error, &mut response);
    response
}
