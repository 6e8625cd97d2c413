//! The one error type of the registry's operations, and the stable codes callers see.
//!
//! Every surface maps an [`ApiError`] in one place: GraphQL (`api::graphql::errors`: the
//! message, and `extensions.code` from [`Code::as_str`]), and HTTP (`api::http::errors`: the
//! status from [`Code::http_status`], `Retry-After`, and the Retraced error body). Internals
//! (SQL, hosts, driver text) go to the log, never to the client.

use sea_orm::{DbErr, RuntimeErr};

/// A stable, machine-readable error code: `extensions.code` in GraphQL, `code` in REST and
/// Retraced bodies. Clients branch on these, so a code never changes its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// The input is malformed or not allowed.
    BadUserInput,
    /// No API key, or not a valid, unrevoked one.
    Unauthenticated,
    /// The API key was valid but its expiry has passed (HTTP 401, like `UNAUTHENTICATED`).
    KeyExpired,
    /// The key lacks a scope, or reaches for another tenant's data.
    Forbidden,
    /// The thing named does not exist (or is not visible to this key).
    NotFound,
    /// The key's tenant is frozen: it may read and publish audit events, nothing else.
    TenantFrozen,
    /// The tenant is archived: nothing is allowed.
    TenantArchived,
    /// A unique name is taken.
    Conflict,
    /// Too many failed key verifications.
    RateLimited,
    /// The database cannot be reached right now.
    Unavailable,
    /// A statement or the whole request ran longer than the server allows.
    Timeout,
    /// A fault of ours.
    Internal,
}

impl Code {
    /// The code as clients see it (`BAD_USER_INPUT`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::KeyExpired => "KEY_EXPIRED",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::TenantFrozen => "TENANT_FROZEN",
            Code::TenantArchived => "TENANT_ARCHIVED",
            Code::Conflict => "CONFLICT",
            Code::RateLimited => "RATE_LIMITED",
            Code::Unavailable => "UNAVAILABLE",
            Code::Timeout => "TIMEOUT",
            Code::Internal => "INTERNAL",
        }
    }

    /// The HTTP status where a whole request fails with this code (a field error inside a
    /// GraphQL response leaves the response at 200).
    pub fn http_status(self) -> u16 {
        match self {
            Code::BadUserInput => 400,
            Code::Unauthenticated | Code::KeyExpired => 401,
            Code::Forbidden | Code::TenantFrozen | Code::TenantArchived => 403,
            Code::NotFound => 404,
            Code::Conflict => 409,
            Code::RateLimited => 429,
            Code::Unavailable | Code::Timeout => 503,
            Code::Internal => 500,
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error an operation reports. Its `Display` is the sentence shown to the caller (for
/// `Internal`, a fixed sentence: the detail is only logged).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The input is malformed or not allowed. Code `BAD_USER_INPUT`; `field` names the input.
    #[error("{message}")]
    BadUserInput {
        /// The offending input field, e.g. `filter.sourceIp`.
        field: Option<String>,
        /// What is wrong and what would be right.
        message: String,
    },
    /// No API key, or not a valid, unrevoked one. Code `UNAUTHENTICATED`.
    #[error("{0}")]
    Unauthenticated(String),
    /// The key is genuine but past its `expires_at`. Code `KEY_EXPIRED` (HTTP 401).
    #[error(
        "this API key expired at {0}; switch to the key that replaced it, or ask for a new one"
    )]
    KeyExpired(String),
    /// The key lacks a scope, or reaches for another tenant's data. Code `FORBIDDEN`.
    #[error("{0}")]
    Forbidden(String),
    /// The thing named does not exist (or is not visible to this key). Code `NOT_FOUND`.
    #[error("{0}")]
    NotFound(String),
    /// The tenant is frozen and the request would change it. Code `TENANT_FROZEN`.
    #[error("{0}")]
    TenantFrozen(String),
    /// The tenant is archived. Code `TENANT_ARCHIVED`.
    #[error("{0}")]
    TenantArchived(String),
    /// A unique name is taken. Code `CONFLICT`; `field` names the input.
    #[error("{message}")]
    Conflict {
        /// The clashing input field.
        field: Option<String>,
        /// What clashes.
        message: String,
    },
    /// Too many failed key verifications from this client or against this key prefix.
    /// Code `RATE_LIMITED` (HTTP 429 with `Retry-After`).
    #[error(
        "too many failed API key checks from this client or for this key; retry after {} s",
        retry_secs(retry_after)
    )]
    RateLimited {
        /// How long until another attempt is allowed.
        retry_after: std::time::Duration,
    },
    /// As many of some long-running work (exports of the audit log) are running as the server
    /// allows at once. Code `RATE_LIMITED` (HTTP 429 with `Retry-After`); the message says what.
    #[error("{message}")]
    Busy {
        /// What is busy and what to do.
        message: String,
        /// When to try again.
        retry_after: std::time::Duration,
    },
    /// The database cannot be reached right now. Code `UNAVAILABLE`; retrying later may work.
    #[error("the database is unavailable; try again shortly")]
    Unavailable,
    /// A statement ran longer than the server's statement timeout and PostgreSQL stopped it
    /// (or an operator cancelled it). Code `TIMEOUT`, as when a whole request runs too long.
    #[error(
        "the database took longer than this server allows for one statement and stopped it; \
         narrow a search (a shorter time range, a product, an action prefix), or try a write \
         again later"
    )]
    Timeout,
    /// A fault of ours. Code `INTERNAL`; the detail is logged (with the request id), not shown.
    #[error("internal error; the server log has the details under this request's id")]
    Internal(String),
}

/// Whole seconds to wait, at least 1.
fn retry_secs(retry_after: &std::time::Duration) -> u64 {
    (retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1)
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

    /// The stable code.
    pub fn code(&self) -> Code {
        match self {
            ApiError::BadUserInput { .. } => Code::BadUserInput,
            ApiError::Unauthenticated(_) => Code::Unauthenticated,
            ApiError::KeyExpired(_) => Code::KeyExpired,
            ApiError::Forbidden(_) => Code::Forbidden,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::TenantFrozen(_) => Code::TenantFrozen,
            ApiError::TenantArchived(_) => Code::TenantArchived,
            ApiError::Conflict { .. } => Code::Conflict,
            ApiError::RateLimited { .. } | ApiError::Busy { .. } => Code::RateLimited,
            ApiError::Unavailable => Code::Unavailable,
            ApiError::Timeout => Code::Timeout,
            ApiError::Internal(_) => Code::Internal,
        }
    }

    /// The input field the error is about, when it names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::BadUserInput { field, .. } | ApiError::Conflict { field, .. } => {
                field.as_deref()
            }
            _ => None,
        }
    }

    /// For `RATE_LIMITED`: the whole seconds to wait (at least 1), for `Retry-After`.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after } | ApiError::Busy { retry_after, .. } => {
                Some(retry_secs(retry_after))
            }
            _ => None,
        }
    }

    /// The sentence shown to the caller.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// Logs the detail of an `INTERNAL` error (call where the error leaves the server).
    pub fn log_internal(&self, context: &str) {
        if let ApiError::Internal(detail) = self {
            tracing::error!(error = %detail, "internal error {context}");
        }
    }
}

/// How each named constraint violation reads to a caller: (constraint, code, field, message).
const CONSTRAINTS: [(&str, Code, &str, &str); 13] = [
    (
        "tenants_slug_key",
        Code::Conflict,
        "slug",
        "a tenant with this slug already exists",
    ),
    (
        "tenants_slug_check",
        Code::BadUserInput,
        "slug",
        "a tenant slug is 3 to 40 characters of a-z, 0-9 and '-', not starting or ending with '-'",
    ),
    (
        "tenants_erp_customer_id_key",
        Code::Conflict,
        "erpCustomerId",
        "another tenant has this ERP customer id",
    ),
    (
        "tenants_stripe_cust_id_key",
        Code::Conflict,
        "stripeCustId",
        "another tenant has this Stripe customer id",
    ),
    (
        "tenant_projects_tenant_id_slug_key",
        Code::Conflict,
        "slug",
        "this tenant already has a project with this slug",
    ),
    (
        "tenant_projects_slug_check",
        Code::BadUserInput,
        "slug",
        "a project slug is 2 to 40 characters of a-z, 0-9 and '-', not starting or ending with '-'",
    ),
    (
        "tenant_idp_config_tenant_id_type_key",
        Code::Conflict,
        "type",
        "this tenant already has an identity provider of this type",
    ),
    (
        "api_keys_expires_after_creation",
        Code::BadUserInput,
        "expiresAt",
        "a key's expiry must be after its creation: give a time in the future",
    ),
    (
        "api_keys_tenant_id_name_key",
        Code::Conflict,
        "name",
        "this tenant already has an API key with this name",
    ),
    (
        "tenant_products_pkey",
        Code::Conflict,
        "product",
        "this tenant already has this entitlement",
    ),
    (
        "audit_log_project_id_fkey",
        Code::NotFound,
        "projectId",
        "no such project",
    ),
    (
        "audit_log_tenant_id_fkey",
        Code::NotFound,
        "tenantId",
        "no such tenant",
    ),
    (
        "api_keys_tenant_id_fkey",
        Code::NotFound,
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
            return match code {
                Code::Conflict => ApiError::Conflict { field, message },
                Code::NotFound => ApiError::NotFound(message),
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
