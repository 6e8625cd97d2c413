//! The errors callers see: a stable code, a sentence, and (from the HTTP layer) the request id.
//! Internals (SQL, hosts, driver text) go to the log, never to the client.

use async_graphql::ErrorExtensions as _;
use sea_orm::{DbErr, RuntimeErr};

/// An error the API reports. Not `Display`: it becomes a GraphQL error only through
/// [`From<ApiError> for async_graphql::Error`], which attaches its code.
#[derive(Debug)]
pub enum ApiError {
    /// The input is malformed or not allowed. Code `BAD_USER_INPUT`; `field` names the input.
    BadUserInput {
        /// The offending input field, e.g. `filter.sourceIp`.
        field: Option<String>,
        /// What is wrong and what would be right.
        message: String,
    },
    /// No API key, or not a valid, unrevoked one. Code `UNAUTHENTICATED`.
    Unauthenticated(String),
    /// The key lacks a scope, or reaches for another tenant's data. Code `FORBIDDEN`.
    Forbidden(String),
    /// The thing named does not exist (or is not visible to this key). Code `NOT_FOUND`.
    NotFound(String),
    /// A unique name is taken. Code `CONFLICT`; `field` names the input.
    Conflict {
        /// The clashing input field.
        field: Option<String>,
        /// What clashes.
        message: String,
    },
    /// Too many failed key verifications from this client or against this key prefix.
    /// Code `RATE_LIMITED` (HTTP 429 with `Retry-After`).
    RateLimited {
        /// How long until another attempt is allowed.
        retry_after: std::time::Duration,
    },
    /// The database cannot be reached right now. Code `UNAVAILABLE`; retrying later may work.
    Unavailable,
    /// A statement ran longer than the server's statement timeout and PostgreSQL stopped it
    /// (or an operator cancelled it). Code `TIMEOUT`, as when a whole request runs too long.
    Timeout,
    /// A fault of ours. Code `INTERNAL`; the detail is logged (with the request id), not shown.
    Internal(String),
}

impl ApiError {
    /// `BAD_USER_INPUT` about `field`.
    pub fn bad_input(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::BadUserInput {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// `INTERNAL`, logging what happened.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(detail.to_string())
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadUserInput { .. } => "BAD_USER_INPUT",
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict { .. } => "CONFLICT",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::Unavailable => "UNAVAILABLE",
            ApiError::Timeout => "TIMEOUT",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    /// For `RATE_LIMITED`: the whole seconds to wait (at least 1), for `Retry-After`.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after } => {
                Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0))
                    .map(|s| s.max(1))
            }
            _ => None,
        }
    }

    /// The HTTP status of this error where a whole request fails with it (not a field of a
    /// GraphQL response, which stays 200).
    pub fn http_status(&self) -> poem::http::StatusCode {
        use poem::http::StatusCode;
        match self {
            ApiError::BadUserInput { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Adds `Retry-After` to `response` for `RATE_LIMITED`.
    pub fn add_retry_after(&self, response: &mut poem::Response) {
        if let Some(secs) = self.retry_after_secs() {
            response.headers_mut().insert(
                poem::http::header::RETRY_AFTER,
                poem::http::HeaderValue::from(secs),
            );
        }
    }

    /// The sentence shown to the caller.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadUserInput { message, .. } | ApiError::Conflict { message, .. } => {
                message.clone()
            }
            ApiError::Unauthenticated(m) | ApiError::Forbidden(m) | ApiError::NotFound(m) => {
                m.clone()
            }
            ApiError::RateLimited { .. } => format!(
                "too many failed API key checks from this client or for this key; retry after {} s",
                self.retry_after_secs().unwrap_or(1)
            ),
            ApiError::Unavailable => "the database is unavailable; try again shortly".to_owned(),
            ApiError::Timeout => "the database took longer than this server allows for one \
                                  statement and stopped it; narrow a search (a shorter time \
                                  range, a product, an action prefix), or try a write again \
                                  later"
                .to_owned(),
            ApiError::Internal(_) => {
                "internal error; the server log has the details under this request's id".to_owned()
            }
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> async_graphql::Error {
        if let ApiError::Internal(detail) = &e {
            tracing::error!(error = %detail, "internal error");
        }
        let code = e.code();
        let field = match &e {
            ApiError::BadUserInput { field, .. } | ApiError::Conflict { field, .. } => {
                field.clone()
            }
            _ => None,
        };
        async_graphql::Error::new(e.message()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(field) = field {
                ext.set("field", field);
            }
        })
    }
}

/// How each named constraint violation reads to a caller: (constraint, code, field, message).
const CONSTRAINTS: [(&str, &str, &str, &str); 12] = [
    (
        "tenants_slug_key",
        "CONFLICT",
        "slug",
        "a tenant with this slug already exists",
    ),
    (
        "tenants_slug_check",
        "BAD_USER_INPUT",
        "slug",
        "a tenant slug is 3 to 40 characters of a-z, 0-9 and '-', not starting or ending with '-'",
    ),
    (
        "tenants_erp_customer_id_key",
        "CONFLICT",
        "erpCustomerId",
        "another tenant has this ERP customer id",
    ),
    (
        "tenants_stripe_cust_id_key",
        "CONFLICT",
        "stripeCustId",
        "another tenant has this Stripe customer id",
    ),
    (
        "tenant_projects_tenant_id_slug_key",
        "CONFLICT",
        "slug",
        "this tenant already has a project with this slug",
    ),
    (
        "tenant_projects_slug_check",
        "BAD_USER_INPUT",
        "slug",
        "a project slug is 2 to 40 characters of a-z, 0-9 and '-', not starting or ending with '-'",
    ),
    (
        "tenant_idp_config_tenant_id_type_key",
        "CONFLICT",
        "type",
        "this tenant already has an identity provider of this type",
    ),
    (
        "api_keys_tenant_id_name_key",
        "CONFLICT",
        "name",
        "this tenant already has an API key with this name",
    ),
    (
        "tenant_products_pkey",
        "CONFLICT",
        "product",
        "this tenant already has this entitlement",
    ),
    (
        "audit_log_project_id_fkey",
        "NOT_FOUND",
        "projectId",
        "no such project",
    ),
    (
        "audit_log_tenant_id_fkey",
        "NOT_FOUND",
        "tenantId",
        "no such tenant",
    ),
    (
        "api_keys_tenant_id_fkey",
        "NOT_FOUND",
        "tenantId",
        "no such tenant",
    ),
];

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> ApiError {
        if let Some(name) = violated_constraint(&err)
            && let Some((_, code, field, message)) = CONSTRAINTS.iter().find(|(c, ..)| *c == name)
        {
            let (field, message) = (Some((*field).to_owned()), (*message).to_owned());
            return match *code {
                "CONFLICT" => ApiError::Conflict { field, message },
                "NOT_FOUND" => ApiError::NotFound(message),
                _ => ApiError::BadUserInput { field, message },
            };
        }
        if let Some(code) = sqlstate(&err)
            && code.starts_with("22")
        {
            // A data exception: the input cannot be represented, e.g. a NUL character.
            tracing::warn!(error = %err, "input refused by the database");
            let message = if code == "22021" || code == "22P05" {
                "text must not contain NUL (\\u0000) characters: they cannot be stored"
            } else {
                "a value is out of range or malformed for storage"
            };
            return ApiError::BadUserInput {
                field: None,
                message: message.to_owned(),
            };
        }
        if sqlstate(&err).as_deref() == Some(PROGRAM_LIMIT_EXCEEDED) {
            // A value too long for an index entry (about 2,700 bytes): a unique name or id of
            // 12,000 characters. Fields with a stated maximum are refused before this.
            tracing::warn!(error = %err, "value too long for the database's index");
            return ApiError::BadUserInput {
                field: None,
                message: "a value is too long to be stored (at most a few thousand bytes): \
                          shorten it"
                    .to_owned(),
            };
        }
        if sqlstate(&err).as_deref() == Some(QUERY_CANCELED) {
            tracing::warn!(error = %err, "statement stopped by the statement timeout");
            return ApiError::Timeout;
        }
        if connection_lost(&err) {
            tracing::warn!(error = %err, "database unavailable");
            return ApiError::Unavailable;
        }
        ApiError::internal(err)
    }
}

/// SQLSTATE `program_limit_exceeded`: e.g. an index row larger than a page allows.
const PROGRAM_LIMIT_EXCEEDED: &str = "54000";

/// SQLSTATE `query_canceled`: the statement timeout fired, or `pg_cancel_backend`.
const QUERY_CANCELED: &str = "57014";

/// The driver's error behind a failed statement, if the driver reported one.
fn sqlx_error(err: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

/// The error PostgreSQL reported for a failed statement.
fn database_error(err: &DbErr) -> Option<&dyn sea_orm::sqlx::error::DatabaseError> {
    match sqlx_error(err)? {
        sea_orm::sqlx::Error::Database(db) => Some(&**db),
        _ => None,
    }
}

/// The SQLSTATE of a failed statement.
fn sqlstate(err: &DbErr) -> Option<String> {
    database_error(err)?.code().map(|c| c.into_owned())
}

/// Whether the database could not be reached or dropped the connection (stopped, restarted,
/// backend terminated): a retry later may succeed. SQLSTATE classes 08 (connection exception)
/// and 57 (operator intervention), I/O errors, and pool timeouts.
fn connection_lost(err: &DbErr) -> bool {
    if matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) {
        return true;
    }
    match sqlx_error(err) {
        Some(
            sea_orm::sqlx::Error::Io(_)
            | sea_orm::sqlx::Error::PoolTimedOut
            | sea_orm::sqlx::Error::PoolClosed
            | sea_orm::sqlx::Error::WorkerCrashed
            | sea_orm::sqlx::Error::Protocol(_),
        ) => true,
        // 57014 is a cancelled statement (statement_timeout), not a lost connection.
        Some(sea_orm::sqlx::Error::Database(_)) => sqlstate(err).is_some_and(|code| {
            code.starts_with("08") || (code.starts_with("57") && code != QUERY_CANCELED)
        }),
        _ => false,
    }
}

/// The name of the constraint a failed statement violated, as PostgreSQL reports it.
pub fn violated_constraint(err: &DbErr) -> Option<String> {
    database_error(err)?.constraint().map(str::to_owned)
}
