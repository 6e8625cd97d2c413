//! The GraphQL endpoint. Unlike the stock integration it refuses a document nested deeper than
//! the parser can take before anything parses it (400), authenticates before parsing, never
//! runs a mutation sent with GET (405), refuses a GET query over 16 KiB (414), rejects batches
//! (400), reads bodies with a size limit (413), requires a JSON content type on POST (415),
//! bounds execution time (503), and stamps the request id on every error.

use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{ServerError, Value};
use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response, handler};
use serde_json::json;

use super::documents::DocumentCache;
use super::prologue::{self, BodyError, Credential};
use super::{HttpSettings, RequestId, errors, guard};
use crate::graphql::RegistrySchema;
use crate::metrics::Metrics;
use crate::state::AppState;
use registry::auth::Principal;
use registry::{ApiError, Code};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// `POST /graphql` with a JSON body `{query, variables, operationName}`.
#[handler]
pub async fn post(
    req: &Request,
    body: Body,
    schema: Data<&RegistrySchema>,
    state: Data<&AppState>,
    settings: Data<&HttpSettings>,
    documents: Data<&Arc<DocumentCache>>,
    request_id: Data<&RequestId>,
) -> Response {
    let reply = Reply::for_request(req, &request_id.0.0, &state.metrics);
    let content_type = req
        .header(header::CONTENT_TYPE)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media != JSON && media != GRAPHQL_RESPONSE {
        return reply.error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::bad_input(
                "Content-Type",
                "POST /graphql needs Content-Type: application/json",
            ),
        );
    }
    let value = match prologue::json_body(body, &settings).await {
        Ok(value) => value,
        Err(BodyError::TooLarge) => {
            return reply.error(
                StatusCode::PAYLOAD_TOO_LARGE,
                ApiError::bad_input(
                    "body",
                    format!(
                        "the request body is larger than {} bytes",
                        settings.max_body_bytes
                    ),
                ),
            );
        }
        Err(BodyError::NotJson(e)) => {
            return reply.error(
                StatusCode::BAD_REQUEST,
                ApiError::bad_input("body", format!("the body is not JSON: {e}")),
            );
        }
    };
    if value.is_array() {
        return reply.error(
            StatusCode::BAD_REQUEST,
            ApiError::bad_input(
                "body",
                "batched requests are not supported: send one operation per request",
            ),
        );
    }
    if let Err(error) = check_parameters(&value) {
        return reply.error(StatusCode::BAD_REQUEST, error);
    }
    let request: async_graphql::Request = match serde_json::from_value(value) {
        Ok(request) => request,
        Err(e) => {
            return reply.error(
                StatusCode::BAD_REQUEST,
                ApiError::bad_input("body", format!("the body is not a GraphQL request: {e}")),
            );
        }
    };
    let principal = match admit(req, &state, &request).await {
        Ok(principal) => principal,
        Err((status, e)) => return reply.error(status, e),
    };
    execute(
        req, principal, request, &schema, &settings, &documents, reply,
    )
    .await
}

/// `GET /graphql?query=...&variables=...`: queries only. The key is checked before the document
/// is parsed (to refuse a mutation), so a caller without a key costs no parse.
#[handler]
pub async fn get(
    req: &Request,
    schema: Data<&RegistrySchema>,
    state: Data<&AppState>,
    settings: Data<&HttpSettings>,
    documents: Data<&Arc<DocumentCache>>,
    request_id: Data<&RequestId>,
) -> Response {
    let reply = Reply::for_request(req, &request_id.0.0, &state.metrics);
    let query_string = req.uri().query().unwrap_or_default();
    if !query_string
        .split('&')
        .any(|pair| pair.starts_with("query="))
    {
        return reply.error(
            StatusCode::BAD_REQUEST,
            ApiError::bad_input("query", "the request has no `query` parameter"),
        );
    }
    if query_string.len() > guard::MAX_GET_QUERY_BYTES {
        return reply.error(
            StatusCode::URI_TOO_LONG,
            ApiError::bad_input(
                "query",
                format!(
                    "a GET query is at most {} bytes; send longer ones with POST",
                    guard::MAX_GET_QUERY_BYTES
                ),
            ),
        );
    }
    let request = match async_graphql::http::parse_query_string(query_string) {
        Ok(request) => request,
        Err(e) => {
            return reply.error(
                StatusCode::BAD_REQUEST,
                ApiError::bad_input("query", format!("not a GraphQL request: {e}")),
            );
        }
    };
    let principal = match admit(req, &state, &request).await {
        Ok(principal) => principal,
        Err((status, e)) => return reply.error(status, e),
    };
    if is_mutation(&request) {
        let mut response = reply.error(
            StatusCode::METHOD_NOT_ALLOWED,
            ApiError::bad_input("query", "mutations are accepted only with POST"),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    execute(
        req, principal, request, &schema, &settings, &documents, reply,
    )
    .await
}

/// The request parameters of GraphQL over HTTP: an object whose `query` is a string, with no
/// other members than `operationName`, `variables` and `extensions` (a misspelt `qeury` is an
/// error, not an empty document).
fn check_parameters(value: &serde_json::Value) -> Result<(), ApiError> {
    const KNOWN: [&str; 4] = ["query", "operationName", "variables", "extensions"];
    let Some(object) = value.as_object() else {
        return Err(ApiError::bad_input(
            "body",
            "the body must be a JSON object {query, operationName, variables, extensions}",
        ));
    };
    if let Some(unknown) = object.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::bad_input(
            "body",
            format!(
                "unknown request parameter `{}`: expected query, operationName, variables, extensions",
                unknown.chars().take(64).collect::<String>()
            ),
        ));
    }
    match object.get("query") {
        Some(serde_json::Value::String(_)) => Ok(()),
        None => Err(ApiError::bad_input("query", "the request has no `query`")),
        Some(_) => Err(ApiError::bad_input("query", "`query` must be a string")),
    }
}

/// Whether the operation the request would run is a mutation (unparsable: not; the schema
/// reports the syntax error).
fn is_mutation(request: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let wanted = request.operation_name.as_deref();
    document
        .operations
        .iter()
        .filter(|(name, _)| wanted.is_none() || name.map(|n| n.as_str()) == wanted)
        .any(|(_, op)| op.node.ty == OperationType::Mutation)
}

/// The caller of `req`, once its document is known not to nest deeper than the parser can
/// take ([`guard::check_nesting`]) and its key is valid; else the status and error to answer.
async fn admit(
    req: &Request,
    state: &AppState,
    request: &async_graphql::Request,
) -> Result<Arc<Principal>, (StatusCode, ApiError)> {
    guard::check_nesting("query", &request.query).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
    let credential = Credential::Bearer(req.header(header::AUTHORIZATION));
    match prologue::caller(req, state, credential).await {
        Ok(principal) => Ok(principal),
        Err(
            e @ (ApiError::Unauthenticated(_)
            | ApiError::KeyExpired(_)
            | ApiError::RateLimited { .. }
            | ApiError::TenantArchived(_)),
        ) => Err((errors::status(e.code()), e)),
        Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, e)),
    }
}

/// Runs the operation for an authenticated caller, its document parsed once per query text
/// (the cache is filled only after the key is checked: a caller without a valid key cannot
/// fill it).
async fn execute(
    req: &Request,
    principal: Arc<Principal>,
    request: async_graphql::Request,
    schema: &RegistrySchema,
    settings: &HttpSettings,
    documents: &DocumentCache,
    reply: Reply<'_>,
) -> Response {
    let meta = prologue::meta(req);
    let mut request = documents.attach(request);
    if let Ok(document) = request.parsed_query()
        && let Err(message) = crate::graphql::bounds::check_expansion(document)
    {
        return reply.error(
            StatusCode::BAD_REQUEST,
            ApiError::bad_input("query", message),
        );
    }
    let request = request.data(principal).data(meta);
    match tokio::time::timeout(settings.request_timeout, schema.execute(request)).await {
        Ok(response) => reply.graphql(response),
        Err(_) => {
            tracing::warn!(timeout = ?settings.request_timeout, "request timed out");
            reply.error_code(
                StatusCode::SERVICE_UNAVAILABLE,
                Code::Timeout,
                &format!(
                    "the request took longer than {} s and was stopped",
                    settings.request_timeout.as_secs()
                ),
            )
        }
    }
}

/// How to answer one request: its media type and id, and the counters its answer goes into.
struct Reply<'a> {
    content_type: &'static str,
    request_id: String,
    metrics: &'a Metrics,
}

impl<'a> Reply<'a> {
    /// `application/graphql-response+json` when the client accepts it, else `application/json`.
    fn for_request(req: &Request, request_id: &str, metrics: &'a Metrics) -> Reply<'a> {
        let accept = req.header(header::ACCEPT).unwrap_or_default();
        let content_type = if accept.contains(GRAPHQL_RESPONSE) {
            GRAPHQL_RESPONSE
        } else {
            JSON
        };
        Reply {
            content_type,
            request_id: request_id.to_owned(),
            metrics,
        }
    }

    fn error(&self, status: StatusCode, error: ApiError) -> Response {
        error.log_internal("answering a GraphQL request");
        let code = error.code().as_str();
        self.metrics.graphql_response([code]);
        let field = error.field().map(str::to_owned);
        let mut body = json!({ "errors": [{
            "message": error.message(),
            "extensions": { "code": code, "requestId": self.request_id },
        }]});
        if let (Some(field), Some(ext)) = (field, body["errors"][0]["extensions"].as_object_mut()) {
            ext.insert("field".into(), field.into());
        }
        let mut response = self.json(status, &body);
        errors::add_retry_after(&error, &mut response);
        response
    }

    fn error_code(&self, status: StatusCode, code: Code, message: &str) -> Response {
        let code = code.as_str();
        self.metrics.graphql_response([code]);
        let body = json!({ "errors": [{ "message": message, "extensions": { "code": code, "requestId": self.request_id } }] });
        self.json(status, &body)
    }

    fn graphql(&self, mut response: async_graphql::Response) -> Response {
        for error in &mut response.errors {
            stamp(error, &self.request_id);
        }
        self.metrics
            .graphql_response(response.errors.iter().map(code_of));
        // A request error (the document did not parse or validate, or the variables did not
        // coerce) means execution never began: no `data` entry, and with the GraphQL response
        // media type a 400. Field errors carry a path; request errors do not.
        let request_error = response.data == Value::Null
            && response.is_err()
            && response.errors.iter().all(|e| e.path.is_empty());
        let status = if request_error && self.content_type == GRAPHQL_RESPONSE {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        // Written straight from the response (no intermediate JSON tree); a request error has
        // no `data` member at all.
        let body = if request_error {
            serde_json::to_vec(&json!({ "errors": response.errors }))
        } else {
            crate::graphql::raw_json::write_response(&response)
        };
        match body {
            Ok(body) => Response::builder()
                .status(status)
                .content_type(self.content_type)
                .body(body)
                .into_response(),
            Err(e) => self.error(StatusCode::INTERNAL_SERVER_ERROR, ApiError::internal(e)),
        }
    }

    fn json(&self, status: StatusCode, body: &serde_json::Value) -> Response {
        Response::builder()
            .status(status)
            .content_type(self.content_type)
            .body(body.to_string())
            .into_response()
    }
}

/// The `extensions.code` of `error` (every error has one once [`stamp`]ed).
pub(crate) fn code_of(error: &ServerError) -> &str {
    match error.extensions.as_ref().and_then(|x| x.get("code")) {
        Some(Value::String(code)) => code,
        _ => Code::BadUserInput.as_str(),
    }
}

/// Adds `requestId`, and a code where the error has none. Every error of ours has a code
/// (see `ApiError`); the ones without come from async-graphql's handling of the request itself:
/// syntax, validation, and coercion of arguments and variables, which are the caller's input.
fn stamp(error: &mut ServerError, request_id: &str) {
    default_code(error);
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("requestId", request_id);
}

/// Sets `BAD_USER_INPUT` as the code of an error that has none (see [`stamp`]).
pub(crate) fn default_code(error: &mut ServerError) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", Code::BadUserInput.as_str());
    }
}
