//! `GET /v1/audit/export?format=ndjson|csv&filter=<JSON>&order=NEWEST_FIRST` (or `POST` with
//! `{"format", "filter", "order"}`): the events an `auditEvents` filter selects, with the
//! same scope (`audit:read`) and confinement, streamed as they are read (gzip when the client
//! accepts it), ending with a signed manifest that `api verify-export` checks offline
//! (`registry::evidence::export`, docs/evidence.md "Exports").
//!
//! The rows and the manifest's proofs are read in one REPEATABLE READ snapshot, proven
//! against the latest checkpoint in it: events not sealed by then are left out (the manifest
//! counts them). Every export is recorded twice: `audit.export_started` before its first byte
//! (or it does not begin), `audit.exported` when it ends, also when it was cut short. At most
//! `--max-exports` run at once, and a client that stops reading for a minute is given up.

use std::io::Write;
use std::sync::Arc;

use async_graphql::InputType;
use chrono::Utc;
use entity::scope::Scope;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures_util::StreamExt;
use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use registry::ApiError;
use registry::audit::RequestMeta;
use registry::auth::Principal;
use registry::evidence::export::{ExportRecord, ExportStage, Exporter, Format, record_export};
use registry::evidence::proofs::{StoredCheckpoint, checkpoint};
use registry::evidence::seal::leaf_of_at;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseTransaction, IsolationLevel, StreamTrait, TransactionTrait,
};
use serde_json::Value;
use tokio::sync::mpsc;

use super::HttpSettings;
use super::keys::rest_error;
use super::prologue::{self, BodyError, Credential};
use crate::audit::export::statement;
use crate::audit::filter::AuditEventFilter;
use crate::audit::store::AuditOrder;
use crate::state::AppState;

/// Bytes gathered before they are sent (compressed when the client asked).
const CHUNK: usize = 64 * 1024;

/// What an export asks for.
struct Ask {
    format: Format,
    filter: Value,
    order: AuditOrder,
}

/// `GET /v1/audit/export`.
#[handler]
pub async fn get(req: &Request, state: Data<&AppState>) -> Response {
    let ask = (|| {
        let mut format = None;
        let mut filter = None;
        let mut order = None;
        let mut seen = Vec::new();
        for (name, value) in url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        {
            if seen.contains(&name) {
                return Err(ApiError::bad_input(
                    &name,
                    format!("the parameter {name:?} is given twice"),
                ));
            }
            seen.push(name.clone());
            match name.as_ref() {
                "format" => format = Some(Value::String(value.into_owned())),
                "order" => order = Some(Value::String(value.into_owned())),
                "filter" => {
                    filter = Some(serde_json::from_str(&value).map_err(|e| {
                        ApiError::bad_input("filter", format!("filter is not JSON: {e}"))
                    })?)
                }
                other => {
                    return Err(ApiError::bad_input(
                        other,
                        format!(
                            "unknown parameter {other:?}: the parameters are format, filter and order"
                        ),
                    ));
                }
            }
        }
        ask_of(format, filter, order)
    })();
    match ask {
        // HEAD: what GET would answer with, without reading (or recording) an export.
        Ok(ask) if req.method() == poem::http::Method::HEAD => {
            match authorized(req, &state).await {
                Ok(_) => Response::builder()
                    .status(StatusCode::OK)
                    .content_type(ask.format.media_type())
                    .header(header::CACHE_CONTROL, "no-store")
                    .finish(),
                Err(e) => rest_error(None, e),
            }
        }
        Ok(ask) => export(req, &state, ask).await,
        Err(e) => refuse(req, &state, e).await,
    }
}

/// `POST /v1/audit/export` with `{"format": "ndjson", "filter": {...}, "order": "NEWEST_FIRST"}`.
#[handler]
pub async fn post(
    req: &Request,
    body: Body,
    state: Data<&AppState>,
    settings: Data<&HttpSettings>,
) -> Response {
    let ask = match prologue::json_body(body, &settings).await {
        Ok(Value::Object(mut body)) => {
            let unknown = body
                .keys()
                .find(|k| !["format", "filter", "order"].contains(&k.as_str()))
                .cloned();
            match unknown {
                Some(k) => Err(ApiError::bad_input(
                    &k,
                    format!(
                        "unknown member {k:?}: the body is {{\"format\", \"filter\", \"order\"}}"
                    ),
                )),
                None => ask_of(
                    body.remove("format"),
                    body.remove("filter"),
                    body.remove("order"),
                ),
            }
        }
        Ok(_) => Err(ApiError::bad_input(
            "body",
            "the body is {\"format\": \"ndjson\" or \"csv\", \"filter\": {...}, \"order\": ...}",
        )),
        Err(BodyError::TooLarge) => Err(ApiError::bad_input(
            "body",
            format!(
                "the request body is larger than {} bytes",
                settings.max_body_bytes
            ),
        )),
        Err(BodyError::NotJson(e)) => Err(ApiError::bad_input(
            "body",
            format!("the body is not JSON: {e}"),
        )),
    };
    match ask {
        Ok(ask) => export(req, &state, ask).await,
        Err(e) => refuse(req, &state, e).await,
    }
}

/// A refusal of a request that did not get as far as its key: the key is checked first, so
/// that a caller without one learns nothing about the parameters.
async fn refuse(req: &Request, state: &AppState, e: ApiError) -> Response {
    match authorized(req, state).await {
        Ok(_) => rest_error(None, e),
        Err(refusal) => rest_error(None, refusal),
    }
}

async fn authorized(req: &Request, state: &AppState) -> Result<Arc<Principal>, ApiError> {
    let caller = prologue::caller(
        req,
        state,
        Credential::Bearer(req.header(header::AUTHORIZATION)),
    )
    .await?;
    caller.require(Scope::AuditRead)?;
    Ok(caller)
}

fn ask_of(
    format: Option<Value>,
    filter: Option<Value>,
    order: Option<Value>,
) -> Result<Ask, ApiError> {
    let format = match format {
        Some(Value::String(f)) => Format::parse(&f),
        None => None,
        Some(_) => None,
    }
    .ok_or_else(|| ApiError::bad_input("format", "format is ndjson or csv"))?;
    let order = match order {
        None | Some(Value::Null) => AuditOrder::NewestFirst,
        Some(Value::String(o)) if o == "NEWEST_FIRST" => AuditOrder::NewestFirst,
        Some(Value::String(o)) if o == "OLDEST_FIRST" => AuditOrder::OldestFirst,
        Some(_) => {
            return Err(ApiError::bad_input(
                "order",
                "order is NEWEST_FIRST (the default) or OLDEST_FIRST",
            ));
        }
    };
    let filter = match filter {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(f @ Value::Object(_)) => f,
        Some(_) => {
            return Err(ApiError::bad_input(
                "filter",
                "filter is a JSON object: an AuditEventFilter as in GraphQL",
            ));
        }
    };
    check_filter(&filter)?;
    Ok(Ask {
        format,
        filter,
        order,
    })
}

/// How deep a filter may nest (a metadata containment is the only nesting it has); the export's
/// audit event holds the filter one level down, within the metadata's own limit.
const MAX_FILTER_DEPTH: usize = 32;

/// What GraphQL's validation does for `filter` and more, before anything runs: no member the
/// filter type does not have (GraphQL refuses them; a member misspelt would otherwise export
/// everything under a manifest that names it), no NUL in any text (PostgreSQL cannot take one),
/// and a bounded depth (the filter is recorded in the export's audit event).
fn check_filter(filter: &Value) -> Result<(), ApiError> {
    static KNOWN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    // The input type's own field names: its value with every field unset names them all.
    let known = KNOWN.get_or_init(|| match AuditEventFilter::default().to_value() {
        async_graphql::Value::Object(fields) => fields.keys().map(|k| k.to_string()).collect(),
        _ => Vec::new(),
    });
    if let Value::Object(members) = filter
        && let Some(unknown) = members.keys().find(|k| !known.contains(k))
    {
        return Err(ApiError::bad_input(
            &format!("filter.{unknown}"),
            format!(
                "the filter has no member {unknown:?}; its members are {}",
                known.join(", ")
            ),
        ));
    }
    fn walk(value: &Value, depth: usize) -> Result<(), &'static str> {
        if depth > MAX_FILTER_DEPTH {
            return Err("the filter nests too deeply");
        }
        match value {
            Value::String(text) if text.contains('\0') => Err("a text in the filter holds NUL"),
            Value::Array(items) => items.iter().try_for_each(|v| walk(v, depth + 1)),
            Value::Object(members) => members.iter().try_for_each(|(k, v)| {
                if k.contains('\0') {
                    return Err("a name in the filter holds NUL");
                }
                walk(v, depth + 1)
            }),
            _ => Ok(()),
        }
    }
    walk(filter, 0).map_err(|why| ApiError::bad_input("filter", why))
}

/// The export, or the error that stops it before its first byte.
async fn export(req: &Request, state: &AppState, ask: Ask) -> Response {
    match start(req, state, &ask).await {
        Ok(started) => respond(req, state, ask, started),
        Err(e) => rest_error(None, e),
    }
}

struct Started {
    /// The export's place among those running (`--max-exports`), held until it ends.
    _place: tokio::sync::OwnedSemaphorePermit,
    caller: Arc<Principal>,
    txn: DatabaseTransaction,
    checkpoint: StoredCheckpoint,
    statement: sea_orm::Statement,
    /// The export's `audit.export_started` event, recorded before its first byte.
    started_event: i64,
}

async fn start(req: &Request, state: &AppState, ask: &Ask) -> Result<Started, ApiError> {
    let caller = authorized(req, state).await?;
    let value = async_graphql::Value::from_json(ask.filter.clone())
        .map_err(|e| ApiError::bad_input("filter", format!("filter is not a filter: {e}")))?;
    let filter = crate::audit::filter::FilterArg::parse(Some(value))
        .map_err(|e| {
            ApiError::bad_input(
                "filter",
                e.into_server_error(Default::default())
                    .message
                    .replace("\"", "'"),
            )
        })?
        .0;
    let condition = condition(state, &caller, &filter).await?;
    let place = state
        .exports
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Busy {
            message: "as many exports of the audit log are running as this server allows at once \
                  (--max-exports); retry after the time in Retry-After"
                .into(),
            retry_after: std::time::Duration::from_secs(10),
        })?;
    if state.seal.key.is_none() {
        return Err(not_sealed(
            "this server does not sign the audit log, so it cannot sign an export: start it with \
             --signing-key PATH",
        ));
    }
    let txn = state
        .db
        .begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await?;
    // An export of millions of rows runs as long as the client reads; the pool's statement
    // timeout is for requests. And it is read in the index's order where one serves the
    // filter, rather than sorted whole first (the planner's pick for a large tenant: seconds
    // before the first row, the sort spilling to disk): the rows stream from the start.
    txn.execute_unprepared("SET LOCAL statement_timeout = 0; SET LOCAL enable_sort = off")
        .await?;
    let checkpoint = checkpoint(&txn, None).await?.ok_or_else(|| {
        not_sealed(
            "the audit log has no signed checkpoint yet: the sealer writes one within \
             --seal-interval of the first event",
        )
    })?;
    // Evidence before the first byte of it leaves: the export's start is recorded (on the
    // primary, in a transaction of its own) or the export does not begin.
    let started_event = record_export(
        &state.db,
        &caller,
        &prologue::meta(req),
        ExportRecord {
            stage: ExportStage::Started,
            format: ask.format,
            filter: ask.filter.clone(),
            rows: 0,
            checkpoint_size: checkpoint.checkpoint.size,
            started_event: None,
        },
    )
    .await?;
    Ok(Started {
        _place: place,
        caller,
        txn,
        checkpoint,
        statement: statement(condition, ask.order),
        started_event,
    })
}

async fn condition(
    state: &AppState,
    caller: &Principal,
    filter: &AuditEventFilter,
) -> Result<sea_orm::sea_query::Condition, ApiError> {
    let text = state.text_match(filter.text_tenant(caller)).await?;
    filter.condition_with(caller, text)
}

fn not_sealed(message: &str) -> ApiError {
    ApiError::Conflict {
        field: None,
        message: message.to_owned(),
    }
}

fn respond(req: &Request, state: &AppState, ask: Ask, started: Started) -> Response {
    let gzip = req
        .header(header::ACCEPT_ENCODING)
        .is_some_and(accepts_gzip);
    let (tx, rx) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let meta = prologue::meta(req);
    let name = format!(
        "audit-export-{}.{}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        ask.format.as_str()
    );
    let size = started.checkpoint.checkpoint.size;
    tokio::spawn(produce(
        state.clone(),
        ask.format,
        ask.filter,
        meta,
        started,
        gzip,
        tx,
    ));
    let body = Body::from_bytes_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .content_type(ask.format.media_type())
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .header("x-audit-checkpoint-size", size.to_string())
        .header(header::CACHE_CONTROL, "no-store");
    if gzip {
        response = response.header(header::CONTENT_ENCODING, "gzip");
    }
    response.body(body)
}

/// Whether an `Accept-Encoding` value accepts gzip: named (any case) without `q=0`.
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|coding| {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        name.eq_ignore_ascii_case("gzip") && !refused
    })
}

/// How long a client may leave the export's bytes unread before the export is given up (its
/// snapshot and connections are the server's to free).
const STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// Where the export's bytes go: compressed or not, into the response's channel.
struct Sink {
    gzip: Option<GzEncoder<Vec<u8>>>,
    tx: mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
}

impl Sink {
    /// Sends `bytes`; false when the client has gone.
    async fn send(&mut self, bytes: Vec<u8>) -> bool {
        let out = match &mut self.gzip {
            None => bytes,
            Some(encoder) => {
                if encoder.write_all(&bytes).is_err() {
                    return false;
                }
                std::mem::take(encoder.get_mut())
            }
        };
        out.is_empty()
            || matches!(
                tokio::time::timeout(STALL, self.tx.send(Ok(out))).await,
                Ok(Ok(()))
            )
    }

    async fn finish(mut self) -> bool {
        if let Some(encoder) = self.gzip.take() {
            match encoder.finish() {
                Ok(rest) => return rest.is_empty() || self.tx.send(Ok(rest)).await.is_ok(),
                Err(_) => return false,
            }
        }
        true
    }

    /// Ends a failed export: a last line that says so (a client that reads the body as it came
    /// sees the file is incomplete even if the transfer ends cleanly), then an error, which
    /// aborts the transfer.
    async fn fail(mut self, format: Format) {
        let line = match format {
            Format::Ndjson => {
                "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"the export failed midway: \
                 this file is incomplete and has no manifest; export again\"}}\n"
            }
            Format::Csv => {
                "# tenant-registry error: the export failed midway: this file is incomplete and \
                 has no manifest; export again\n"
            }
        };
        if self.send(line.as_bytes().to_vec()).await
            && let Some(encoder) = self.gzip.take()
            && let Ok(rest) = encoder.finish()
        {
            let _ = self.tx.send(Ok(rest)).await;
        }
        let _ = self
            .tx
            .send(Err(std::io::Error::other("the export failed midway")))
            .await;
    }
}

/// Writes the export into `tx` (rows, then the manifest), records how it ended
/// (`audit.exported`), and ends the snapshot.
async fn produce(
    state: AppState,
    format: Format,
    filter: Value,
    meta: RequestMeta,
    started: Started,
    gzip: bool,
    tx: mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
) {
    let Started {
        _place,
        caller,
        txn,
        checkpoint,
        statement,
        started_event,
    } = started;
    let size = checkpoint.checkpoint.size;
    let mut sink = Sink {
        gzip: gzip.then(|| GzEncoder::new(Vec::new(), Compression::fast())),
        tx,
    };
    let mut exporter = Exporter::new(format, checkpoint);
    let outcome = rows(&txn, statement, &mut exporter, &mut sink).await;
    let rows_sent = exporter.rows();
    let outcome = match outcome {
        Ok(true) => manifest(&state, &txn, exporter, &filter, started_event, &mut sink).await,
        other => other,
    };
    let _ = txn.rollback().await;
    let complete = match outcome {
        Ok(true) => sink.finish().await,
        Ok(false) => false,
        Err(e) => {
            tracing::error!(error = %e, detail = ?e, "an export of the audit log failed midway");
            sink.fail(format).await;
            false
        }
    };
    let ended = record_export(
        &state.db,
        &caller,
        &meta,
        ExportRecord {
            stage: ExportStage::Ended { complete },
            format,
            filter,
            rows: rows_sent,
            checkpoint_size: size,
            started_event: Some(started_event),
        },
    )
    .await;
    if let Err(e) = ended {
        // Its start is recorded; that it ended is not.
        tracing::error!(error = %e, detail = ?e, started_event, "recording the end of an export of the audit log failed");
    }
}

/// Writes the manifest; `Ok(false)` when the client left before its end.
async fn manifest(
    state: &AppState,
    txn: &DatabaseTransaction,
    exporter: Exporter,
    filter: &Value,
    started_event: i64,
    sink: &mut Sink,
) -> Result<bool, ApiError> {
    let key = state
        .seal
        .key
        .clone()
        .ok_or_else(|| ApiError::internal("an export began without a signing key"))?;
    let filter_text = filter.to_string();
    let mut manifest = exporter.manifest(&key, &filter_text, Utc::now(), started_event);
    while let Some(chunk) = manifest.next_chunk(txn, &state.db).await? {
        if !sink.send(chunk).await {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Streams the rows; `Ok(false)` when the client left before the end.
async fn rows(
    txn: &DatabaseTransaction,
    statement: sea_orm::Statement,
    exporter: &mut Exporter,
    sink: &mut Sink,
) -> Result<bool, ApiError> {
    let first = exporter.take();
    if !sink.send(first).await {
        return Ok(false);
    }
    let mut stream = txn.stream_raw(statement).await?;
    while let Some(row) = stream.next().await {
        let row = row?;
        let leaf = leaf_of_at(&row, 0)?;
        let index: Option<i64> = row.try_get_by_index(17)?;
        exporter.row(index, &leaf);
        if exporter.pending() >= CHUNK && !sink.send(exporter.take()).await {
            return Ok(false);
        }
    }
    drop(stream);
    Ok(sink.send(exporter.take()).await)
}
