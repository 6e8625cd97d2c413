//! Exports of the audit log that an auditor can check offline (docs/evidence.md, "Exports").
//!
//! An export is the rows of a search, each with what its leaf needs and its leaf index, then a
//! manifest as its last line. The manifest holds the filter, the row count, the SHA-256 of
//! every byte before it, the checkpoint the rows are proven against and one multiproof
//! ([`super::merkle::MultiproofRanges`]) that every row's leaf is in that checkpoint's tree; a
//! statement of those facts is signed with the log's key. [`Exporter`] writes the rows and
//! [`ManifestWriter`] the manifest (its proof read in batches, so memory stays flat but for a
//! bit per leaf of the log); [`verify_export`] checks a file with nothing but the public key.

use std::io::{BufRead, Read};

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::ConnectionTrait;
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::leaf::Leaf;
use super::merkle::{
    self, Hash, Members, MultiproofError, MultiproofRanges, ProofError, hex, hex_into,
    multiproof_root, unhex, unhex_hash,
};
use super::proofs::{StoredCheckpoint, prove};
use super::signing::{Checkpoint, LogKey, verify, verify_text};
use crate::audit::{Actor, Event, RequestMeta, Rules, Target, append};
use crate::auth::Principal;
use crate::error::ApiError;

/// The first line of an export's signed statement.
pub const STATEMENT_NAME: &str = "tenant-registry audit export v1";

/// The first line of a CSV export (its columns).
pub const CSV_HEADER: &str = "leaf_index,id,created_at,tenant_id,project_id,product,actor_id,\
actor_type,actor_name,action,target_type,target_id,target_name,metadata,source_ip,user_agent,\
recorded_by,recorded_by_name\n";

/// What a CSV export's last line starts with (the manifest's JSON follows).
pub const CSV_MANIFEST_PREFIX: &str = "# tenant-registry manifest: ";

/// Proof hashes read per statement while the manifest is written.
const PROOF_BATCH: usize = 4096;

/// An export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line; `metadata` as PostgreSQL's JSON text.
    Ndjson,
    /// RFC 4180 CSV with a header; NULL is an empty field, an empty text `""` (as PostgreSQL's
    /// `COPY … CSV` writes them).
    Csv,
}

impl Format {
    /// `ndjson` or `csv`.
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "ndjson" => Some(Format::Ndjson),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// Its name in a request and a manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }

    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8; header=present",
        }
    }
}

/// One bit per leaf of a tree: the leaves an export holds.
#[derive(Debug, Clone)]
pub struct Bitmap {
    words: Vec<u64>,
}

impl Bitmap {
    /// No leaf of a tree of `size` leaves.
    pub fn new(size: u64) -> Bitmap {
        Bitmap {
            words: vec![0; size.div_ceil(64) as usize],
        }
    }

    /// Adds leaf `index` (below the size).
    pub fn set(&mut self, index: u64) {
        self.words[(index / 64) as usize] |= 1 << (index % 64);
    }
}

impl Members for Bitmap {
    fn any(&self, start: u64, end: u64) -> bool {
        let (mut i, last) = (start, end);
        while i < last {
            let word = self.words[(i / 64) as usize];
            let from = i % 64;
            let to = (last - (i - from)).min(64);
            let mask = if to - from == 64 {
                u64::MAX
            } else {
                ((1u64 << (to - from)) - 1) << from
            };
            if word & mask != 0 {
                return true;
            }
            i += to - from;
        }
        false
    }
}

/// Writes an export's rows, hashing them and noting their leaves as it goes.
#[derive(Debug)]
pub struct Exporter {
    format: Format,
    checkpoint: StoredCheckpoint,
    hasher: Sha256,
    members: Bitmap,
    rows: u64,
    not_sealed: u64,
    out: Vec<u8>,
}

impl Exporter {
    /// An export proven against `checkpoint` (a CSV export starts with its header).
    pub fn new(format: Format, checkpoint: StoredCheckpoint) -> Exporter {
        let mut exporter = Exporter {
            format,
            members: Bitmap::new(checkpoint.checkpoint.size),
            checkpoint,
            hasher: Sha256::new(),
            rows: 0,
            not_sealed: 0,
            out: Vec::with_capacity(128 * 1024),
        };
        if format == Format::Csv {
            exporter.out.extend_from_slice(CSV_HEADER.as_bytes());
        }
        exporter
    }

    /// Adds the event `leaf` (its tenant and project as sealed) at `leaf_index`; an event not
    /// sealed by the checkpoint is left out and counted.
    pub fn row(&mut self, leaf_index: Option<i64>, leaf: &Leaf) {
        let Some(index) = leaf_index
            .and_then(|i| u64::try_from(i).ok())
            .filter(|i| *i < self.checkpoint.checkpoint.size)
        else {
            self.not_sealed += 1;
            return;
        };
        self.members.set(index);
        self.rows += 1;
        match self.format {
            Format::Ndjson => write_json_row(&mut self.out, index, leaf),
            Format::Csv => write_csv_row(&mut self.out, index, leaf),
        }
    }

    /// Bytes written and not yet taken.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// The bytes written since the last call.
    pub fn take(&mut self) -> Vec<u8> {
        self.hasher.update(&self.out);
        std::mem::replace(&mut self.out, Vec::with_capacity(128 * 1024))
    }

    /// Rows written.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Events the filter matched that the checkpoint does not cover yet.
    pub fn not_sealed(&self) -> u64 {
        self.not_sealed
    }

    /// The checkpoint the rows are proven against.
    pub fn checkpoint(&self) -> &StoredCheckpoint {
        &self.checkpoint
    }

    /// The manifest, after every row was taken: `filter` is the filter's JSON text as it is to
    /// appear, `event_id` the export's own audit event.
    pub fn manifest(
        mut self,
        key: &LogKey,
        filter: &str,
        exported_at: DateTime<Utc>,
        event_id: i64,
    ) -> ManifestWriter {
        let rest = self.take();
        debug_assert!(rest.is_empty(), "rows were left untaken");
        let statement = Statement {
            format: self.format,
            rows: self.rows,
            not_sealed: self.not_sealed,
            rows_sha256: self.hasher.finalize().into(),
            filter_sha256: Sha256::digest(filter.as_bytes()).into(),
            size: self.checkpoint.checkpoint.size,
            root: self.checkpoint.checkpoint.root,
            exported_at,
            event_id,
        };
        let text = statement.text();
        let signature = key.sign_text(&text);
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
        let c = &self.checkpoint;
        let mut head = String::new();
        if self.format == Format::Csv {
            head.push_str(CSV_MANIFEST_PREFIX);
        }
        head.push_str(&format!(
            "{{\"manifest\":{{\"version\":1,\"format\":\"{}\",\"filter\":{filter},\"rows\":{},\
             \"notSealed\":{},\"rowsSha256\":\"{}\",\"exportedAt\":\"{}\",\"exportEvent\":\"{event_id}\",\
             \"checkpoint\":{{\"size\":{},\"previousSize\":{},\"rootHash\":\"{}\",\"signedAt\":\"{}\",\
             \"note\":{},\"signature\":\"{}\"}},\"statement\":{},\"signature\":\"{}\",\"proof\":[",
            self.format.as_str(),
            self.rows,
            self.not_sealed,
            hex(&statement.rows_sha256),
            time(exported_at),
            c.checkpoint.size,
            c.checkpoint.previous,
            hex(&c.checkpoint.root),
            time(c.checkpoint.signed_at),
            json_string(&c.checkpoint.note()),
            hex(&c.signature),
            json_string(&text),
            hex(&signature),
        ));
        ManifestWriter {
            walk: MultiproofRanges::new(c.checkpoint.size),
            members: self.members,
            head: Some(head.into_bytes()),
            written: 0,
            done: false,
        }
    }
}

/// Writes a manifest: its head, then the multiproof's hashes read in batches, then its end.
#[derive(Debug)]
pub struct ManifestWriter {
    walk: MultiproofRanges,
    members: Bitmap,
    head: Option<Vec<u8>>,
    written: u64,
    done: bool,
}

impl ManifestWriter {
    /// The next part of the manifest, reading proof hashes on `db` and `other` at once (two
    /// database backends: the proof's lookups are the database's work, and the stored tree
    /// below the checkpoint's size does not change, so any connection reads the same hashes);
    /// `None` once it is all written.
    pub async fn next_chunk(
        &mut self,
        db: &impl ConnectionTrait,
        other: &impl ConnectionTrait,
    ) -> Result<Option<Vec<u8>>, ApiError> {
        if let Some(head) = self.head.take() {
            return Ok(Some(head));
        }
        if self.done {
            return Ok(None);
        }
        let mut ranges = Vec::with_capacity(PROOF_BATCH);
        while ranges.len() < PROOF_BATCH {
            match self.walk.next(&self.members) {
                Some(range) => ranges.push(range),
                None => break,
            }
        }
        let mut out = Vec::with_capacity(ranges.len() * 67 + 4);
        if !ranges.is_empty() {
            let (first, second) = ranges.split_at(ranges.len() / 2);
            let (a, b) = tokio::join!(hashes_of(db, first), hashes_of(other, second));
            for hash in a?.into_iter().chain(b?) {
                if self.written > 0 {
                    out.push(b',');
                }
                self.written += 1;
                out.push(b'"');
                hex_into(&mut out, &hash);
                out.push(b'"');
            }
        }
        if ranges.len() < PROOF_BATCH {
            out.extend_from_slice(b"]}}\n");
            self.done = true;
        }
        Ok(Some(out))
    }
}

/// The hashes of `ranges` of the stored tree.
async fn hashes_of(
    db: &impl ConnectionTrait,
    ranges: &[(u64, u64)],
) -> Result<Vec<Hash>, ApiError> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    prove(db, |store| {
        ranges
            .iter()
            .map(|&(start, end)| merkle::range_hash(&store, start, end))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ProofError::Store)
    })
    .await
}

/// What an export's manifest signs (docs/evidence.md, "Exports"): eight lines.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    format: Format,
    rows: u64,
    not_sealed: u64,
    rows_sha256: Hash,
    filter_sha256: Hash,
    size: u64,
    root: Hash,
    exported_at: DateTime<Utc>,
    event_id: i64,
}

impl Statement {
    fn text(&self) -> String {
        format!(
            "{STATEMENT_NAME}\nformat {}\nrows {}\nnot-sealed {}\nrows-sha256 {}\n\
             filter-sha256 {}\ncheckpoint {} {}\nexported-at {}\nexport-event {}\n",
            self.format.as_str(),
            self.rows,
            self.not_sealed,
            hex(&self.rows_sha256),
            hex(&self.filter_sha256),
            self.size,
            hex(&self.root),
            self.exported_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            self.event_id
        )
    }
}

/// Which of an export's two events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportStage {
    /// `audit.export_started`, recorded before the first byte is sent (or the export does not
    /// begin): an export leaves evidence even if the server stops midway.
    Started,
    /// `audit.exported`, recorded when it ended; `complete`: every byte, the manifest's last
    /// included, was handed to the connection (a client that stops reading, or a failure,
    /// makes it false; bytes handed over are not proof that the client read them).
    Ended {
        /// Whether the whole file was sent.
        complete: bool,
    },
}

/// What an export's events say.
#[derive(Debug, Clone)]
pub struct ExportRecord {
    /// Started or ended.
    pub stage: ExportStage,
    /// The export's format.
    pub format: Format,
    /// The filter as the caller gave it.
    pub filter: serde_json::Value,
    /// Rows sent (0 when it starts).
    pub rows: u64,
    /// The checkpoint the rows are proven against.
    pub checkpoint_size: u64,
    /// For the end: the id of the export's `audit.export_started` event (the manifest's
    /// `exportEvent`).
    pub started_event: Option<i64>,
}

/// Records an export's start or end as an audit event made by `caller`, in its tenant, and
/// returns the event's id.
pub async fn record_export(
    db: &impl ConnectionTrait,
    caller: &Principal,
    meta: &RequestMeta,
    export: ExportRecord,
) -> Result<i64, ApiError> {
    let ExportRecord {
        stage,
        format,
        filter,
        rows,
        checkpoint_size,
        started_event,
    } = export;
    let (action, mut metadata) = match stage {
        ExportStage::Started => (
            "audit.export_started",
            serde_json::json!({
                "crud": "r",
                "format": format.as_str(),
                "filter": filter,
                "checkpointSize": checkpoint_size,
            }),
        ),
        ExportStage::Ended { complete } => (
            "audit.exported",
            serde_json::json!({
                "crud": "r",
                "format": format.as_str(),
                "filter": filter,
                "rows": rows,
                "checkpointSize": checkpoint_size,
                "complete": complete,
            }),
        ),
    };
    if let (Some(id), Some(object)) = (started_event, metadata.as_object_mut()) {
        object.insert("startedEvent".into(), serde_json::json!(id.to_string()));
    }
    let event = Event {
        tenant_id: Some(caller.tenant_id),
        actor: Actor {
            id: Some(caller.key_id.to_string()),
            name: Some(caller.key_name.clone()),
            kind: Some("service".into()),
        },
        action: action.into(),
        target: Target {
            id: Some(format!("checkpoint-{checkpoint_size}")),
            kind: Some("audit_export".into()),
            name: Some(format!("{} export", format.as_str())),
        },
        metadata,
        source_ip: meta.ip.map(ipnetwork::IpNetwork::from),
        user_agent: meta
            .user_agent
            .as_deref()
            .map(|ua| crate::audit::lengths::cut(ua, crate::audit::lengths::USER_AGENT).to_owned()),
        ..Event::default()
    };
    Ok(append(db, event, Rules::REGISTRY).await?.id)
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

fn push_json_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => {
            // Writing a string to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, text);
        }
        None => out.extend_from_slice(b"null"),
    }
}

fn push_json_uuid(out: &mut Vec<u8>, id: Option<Uuid>) {
    match id {
        Some(id) => {
            out.push(b'"');
            out.extend_from_slice(
                id.hyphenated()
                    .encode_lower(&mut Uuid::encode_buffer())
                    .as_bytes(),
            );
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// `created_at` as RFC 3339 in UTC with microseconds (what [`Leaf::created_at_micros`] reads
/// back exactly); a time outside chrono's range as its microseconds.
fn time_text(micros: i64) -> String {
    match DateTime::<Utc>::from_timestamp_micros(micros) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Micros, true),
        None => micros.to_string(),
    }
}

fn parse_time(text: &str) -> Option<i64> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Some(t.timestamp_micros()),
        Err(_) => text.parse().ok(),
    }
}

fn write_json_row(out: &mut Vec<u8>, index: u64, leaf: &Leaf) {
    use std::io::Write;
    let _ = write!(
        out,
        "{{\"leafIndex\":{index},\"id\":\"{}\",\"createdAt\":\"{}\",\"tenantId\":",
        leaf.id,
        time_text(leaf.created_at_micros)
    );
    push_json_uuid(out, leaf.tenant_id);
    out.extend_from_slice(b",\"projectId\":");
    push_json_uuid(out, leaf.project_id);
    for (name, value) in [
        ("product", leaf.product.as_deref()),
        ("actorId", leaf.actor_id.as_deref()),
        ("actorType", leaf.actor_type.as_deref()),
        ("actorName", leaf.actor_name.as_deref()),
        ("action", Some(leaf.action.as_str())),
        ("targetType", leaf.target_type.as_deref()),
        ("targetId", leaf.target_id.as_deref()),
        ("targetName", leaf.target_name.as_deref()),
    ] {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        push_json_str(out, value);
    }
    // PostgreSQL's text of the jsonb, as it is: valid JSON, and the leaf's exact bytes.
    out.extend_from_slice(b",\"metadata\":");
    out.extend_from_slice(leaf.metadata.as_bytes());
    out.extend_from_slice(b",\"sourceIp\":");
    push_json_str(out, leaf.source_ip.as_deref());
    out.extend_from_slice(b",\"userAgent\":");
    push_json_str(out, leaf.user_agent.as_deref());
    out.extend_from_slice(b",\"recordedBy\":");
    push_json_uuid(out, leaf.recorded_by);
    out.extend_from_slice(b",\"recordedByName\":");
    push_json_str(out, leaf.recorded_by_name.as_deref());
    out.extend_from_slice(b"}\n");
}

fn push_csv(out: &mut Vec<u8>, text: Option<&str>) {
    let Some(text) = text else { return };
    out.push(b'"');
    for b in text.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn write_csv_row(out: &mut Vec<u8>, index: u64, leaf: &Leaf) {
    use std::io::Write;
    let _ = write!(
        out,
        "{index},{},{}",
        leaf.id,
        time_text(leaf.created_at_micros)
    );
    let uuid = |id: Option<Uuid>| id.map(|id| id.to_string());
    let fields = [
        uuid(leaf.tenant_id),
        uuid(leaf.project_id),
        leaf.product.clone(),
        leaf.actor_id.clone(),
        leaf.actor_type.clone(),
        leaf.actor_name.clone(),
        Some(leaf.action.clone()),
        leaf.target_type.clone(),
        leaf.target_id.clone(),
        leaf.target_name.clone(),
        Some(leaf.metadata.clone()),
        leaf.source_ip.clone(),
        leaf.user_agent.clone(),
        uuid(leaf.recorded_by),
        leaf.recorded_by_name.clone(),
    ];
    for field in &fields {
        out.push(b',');
        push_csv(out, field.as_deref());
    }
    out.push(b'\n');
}

// ---- checking a file ----

/// What a verified export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// `ndjson` or `csv`.
    pub format: &'static str,
    /// Rows in the file, each proven in the log.
    pub rows: u64,
    /// The checkpoint they are proven against.
    pub checkpoint_size: u64,
    /// The filter, as the manifest gives it.
    pub filter: String,
    /// When the server wrote the export.
    pub exported_at: String,
    /// The export's own audit event.
    pub export_event: String,
    /// Events the filter matched that were not sealed yet when the export was made.
    pub not_sealed: u64,
}

/// The first thing found wrong with an export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportProblem {
    /// The file could not be read.
    #[error("the file could not be read: {0}")]
    Io(String),
    /// No manifest at the end.
    #[error(
        "the file does not end with a manifest: the export was cut short (the download stopped, \
         or the server failed midway), or this is not an export"
    )]
    NoManifest,
    /// The manifest is not what an export's is.
    #[error("the manifest is malformed: {0}")]
    BadManifest(String),
    /// A row is not what an export's rows are.
    #[error("row {row} (line {line}) is malformed: {why}")]
    BadRow {
        /// The row's number, from 1.
        row: u64,
        /// Its line in the file.
        line: u64,
        /// What is wrong.
        why: String,
    },
    /// The signed statement does not verify.
    #[error(
        "the manifest's signature does not verify with this public key: the manifest was changed, \
         or another key signed it"
    )]
    Signature,
    /// The rows are not those the manifest signed.
    #[error("the rows are not the ones the server exported: {0}")]
    Rows(String),
    /// The checkpoint's signature does not verify.
    #[error("the checkpoint of size {0} does not verify with this public key")]
    Checkpoint(u64),
    /// The rows and the proof do not lead to the checkpoint's root.
    #[error("{0}")]
    NotInLog(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonRow<'a> {
    leaf_index: u64,
    id: String,
    created_at: String,
    tenant_id: Option<Uuid>,
    project_id: Option<Uuid>,
    product: Option<String>,
    actor_id: Option<String>,
    actor_type: Option<String>,
    actor_name: Option<String>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    target_name: Option<String>,
    #[serde(borrow)]
    metadata: &'a RawValue,
    source_ip: Option<String>,
    user_agent: Option<String>,
    recorded_by: Option<Uuid>,
    recorded_by_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestLine<'a> {
    #[serde(borrow)]
    manifest: Manifest<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Manifest<'a> {
    version: u32,
    format: String,
    #[serde(borrow)]
    filter: &'a RawValue,
    rows: u64,
    not_sealed: u64,
    rows_sha256: String,
    exported_at: String,
    export_event: String,
    checkpoint: ManifestCheckpoint,
    statement: String,
    signature: String,
    #[serde(deserialize_with = "hashes")]
    proof: Vec<Hash>,
}

/// A JSON array of hex hashes, decoded as it is read (an export's proof: millions).
fn hashes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
    struct Hashes;
    impl<'de> serde::de::Visitor<'de> for Hashes {
        type Value = Vec<Hash>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of SHA-256 hashes in hex")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<Hash>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(text) = seq.next_element::<&str>()? {
                out.push(unhex_hash(text).ok_or_else(|| {
                    serde::de::Error::custom("a proof hash is not 64 hex digits")
                })?);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Hashes)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ManifestCheckpoint {
    size: u64,
    previous_size: u64,
    root_hash: String,
    signed_at: String,
    note: String,
    signature: String,
}

/// Checks an export read from `input` with the log's public key `public`, offline: the
/// manifest's signature, that the rows are the ones it signed (count, order, bytes), the
/// checkpoint's signature, and that every row's leaf is in the checkpoint's tree. `progress`
/// is called with the rows read so far, every 100,000 rows.
///
/// Memory: the rows' leaf indexes and hashes (40 bytes a row) and one record at a time.
pub fn verify_export(
    mut input: impl BufRead,
    public: &[u8; 32],
    mut progress: impl FnMut(u64),
) -> Result<ExportReport, ExportProblem> {
    let io = |e: std::io::Error| ExportProblem::Io(e.to_string());
    let mut hasher = Sha256::new();
    let mut members: Vec<(u64, Hash)> = Vec::new();
    let mut line_no = 0u64;
    let mut format = None;
    let mut pending: Option<(u64, Vec<u8>)> = None;
    let mut rows = 0u64;
    loop {
        // One record: a line, or for CSV as many lines as a quoted field spans. A row is at
        // most MAX_ROW bytes; only the last line, the manifest, may be longer (its proof).
        let mut record = Vec::new();
        let first_line = line_no + 1;
        let mut quotes = 0usize;
        loop {
            let before = record.len();
            let read = (&mut input)
                .take(MAX_ROW as u64 + 1)
                .read_until(b'\n', &mut record)
                .map_err(io)?;
            if read == 0 {
                break;
            }
            if record.len() > MAX_ROW {
                if !long_line_is_manifest(&record) {
                    return Err(ExportProblem::BadRow {
                        row: rows + 1,
                        line: first_line,
                        why: format!("longer than {MAX_ROW} bytes, and not the manifest"),
                    });
                }
                if !record.ends_with(b"\n") {
                    input.read_until(b'\n', &mut record).map_err(io)?;
                }
            }
            line_no += 1;
            quotes += record[before..].iter().filter(|b| **b == b'"').count();
            if format != Some(Format::Csv) || quotes.is_multiple_of(2) {
                break;
            }
        }
        if record.is_empty() {
            break;
        }
        if format.is_none() {
            if record == CSV_HEADER.as_bytes() {
                format = Some(Format::Csv);
                hasher.update(&record);
                continue;
            }
            format = Some(Format::Ndjson);
        }
        if let Some((line, previous)) = pending.replace((first_line, record)) {
            rows += 1;
            hasher.update(&previous);
            members.push(
                row_leaf(format.unwrap_or(Format::Ndjson), &previous).map_err(|why| {
                    ExportProblem::BadRow {
                        row: rows,
                        line,
                        why,
                    }
                })?,
            );
            if rows.is_multiple_of(100_000) {
                progress(rows);
            }
        }
    }
    let format = format.ok_or(ExportProblem::NoManifest)?;
    let (_, last) = pending.ok_or(ExportProblem::NoManifest)?;
    let text = std::str::from_utf8(&last).map_err(|_| ExportProblem::NoManifest)?;
    let text = match format {
        Format::Csv => text
            .strip_prefix(CSV_MANIFEST_PREFIX)
            .ok_or(ExportProblem::NoManifest)?,
        Format::Ndjson => text,
    };
    if !text.starts_with("{\"manifest\":") {
        return Err(ExportProblem::NoManifest);
    }
    let line: ManifestLine<'_> = serde_json::from_str(text.trim_end())
        .map_err(|e| ExportProblem::BadManifest(e.to_string()))?;
    let m = line.manifest;
    let bad = |what: &str| ExportProblem::BadManifest(what.to_owned());
    if m.version != 1 {
        return Err(bad("its version is not 1"));
    }
    if m.format != format.as_str() {
        return Err(bad("its format is not the file's"));
    }
    let signature = unhex(&m.signature).ok_or_else(|| bad("its signature is not hex"))?;
    if !verify_text(public, &m.statement, &signature) {
        return Err(ExportProblem::Signature);
    }
    // The statement is signed: every fact below is compared with it.
    let root = unhex_hash(&m.checkpoint.root_hash).ok_or_else(|| bad("rootHash is not a hash"))?;
    let rows_sha256: Hash = hasher.finalize().into();
    let expected = Statement {
        format,
        rows,
        not_sealed: m.not_sealed,
        rows_sha256,
        filter_sha256: Sha256::digest(m.filter.get().as_bytes()).into(),
        size: m.checkpoint.size,
        root,
        exported_at: DateTime::parse_from_rfc3339(&m.exported_at)
            .map_err(|_| bad("exportedAt is not a time"))?
            .to_utc(),
        event_id: m
            .export_event
            .parse()
            .map_err(|_| bad("exportEvent is not an id"))?,
    };
    // Every value as the server writes it, so that what the verifier prints is what was signed
    // (`+12`, an offset, upper-case hex would parse to the same statement).
    let micros = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    if m.exported_at != micros(expected.exported_at)
        || m.export_event != expected.event_id.to_string()
        || m.checkpoint.root_hash != hex(&root)
    {
        return Err(bad(
            "exportedAt, exportEvent or rootHash is not written as the server writes it",
        ));
    }
    if expected.text() != m.statement {
        let signed = m.statement.lines().collect::<Vec<_>>();
        let found = expected.text();
        let found = found.lines().collect::<Vec<_>>();
        let differs = signed
            .iter()
            .zip(&found)
            .find(|(a, b)| a != b)
            .map(|(a, _)| a.split(' ').next().unwrap_or(""))
            .unwrap_or("the statement");
        return Err(ExportProblem::Rows(match differs {
            "rows" => format!(
                "the manifest signed {} rows, the file has {rows} (rows were added or removed)",
                signed
                    .get(2)
                    .and_then(|l| l.strip_prefix("rows "))
                    .unwrap_or("?")
            ),
            "rows-sha256" => "their SHA-256 is not the signed one (a row was changed, added, \
                              removed or moved)"
                .to_owned(),
            other => format!("the manifest's {other} is not the one signed"),
        }));
    }
    if m.rows != rows || m.rows_sha256 != hex(&rows_sha256) {
        return Err(bad("rows or rowsSha256 differ from the signed statement"));
    }
    let checkpoint = Checkpoint {
        size: m.checkpoint.size,
        root,
        signed_at: DateTime::parse_from_rfc3339(&m.checkpoint.signed_at)
            .map_err(|_| bad("the checkpoint's signedAt is not a time"))?
            .to_utc(),
        previous: m.checkpoint.previous_size,
    };
    let checkpoint_signature =
        unhex(&m.checkpoint.signature).ok_or_else(|| bad("the checkpoint's signature"))?;
    if checkpoint.note() != m.checkpoint.note
        || m.checkpoint.signed_at != micros(checkpoint.signed_at)
        || !verify(public, &checkpoint, &checkpoint_signature)
    {
        return Err(ExportProblem::Checkpoint(checkpoint.size));
    }
    let proof = m.proof;
    members.sort_unstable_by_key(|m| m.0);
    if let Some(w) = members.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ExportProblem::Rows(format!(
            "leaf {} is in the file twice",
            w[0].0
        )));
    }
    match multiproof_root(checkpoint.size, &members, &mut proof.into_iter()) {
        Ok(found) if found == root => {}
        Ok(_) => {
            return Err(ExportProblem::NotInLog(
                "the rows do not lead to the checkpoint's root: a row differs from the event as \
                 it was sealed (the database was changed before the export: `api verify-log` \
                 on it names the event), or the proof was changed"
                    .into(),
            ));
        }
        Err(MultiproofError::Members) => {
            return Err(ExportProblem::Rows(format!(
                "a row's leaf index is not in the checkpoint's tree of {} leaves",
                checkpoint.size
            )));
        }
        Err(MultiproofError::Short | MultiproofError::Long) => {
            return Err(ExportProblem::NotInLog(
                "the proof does not have the hashes these rows need".into(),
            ));
        }
    }
    Ok(ExportReport {
        format: format.as_str(),
        rows,
        checkpoint_size: checkpoint.size,
        filter: m.filter.get().to_owned(),
        exported_at: m.exported_at,
        export_event: m.export_event,
        not_sealed: m.not_sealed,
    })
}

/// The longest row `verify_export` reads (a row's fields are bounded far below this).
const MAX_ROW: usize = 4 << 20;

/// Whether a line longer than a row can be starts as a manifest does.
fn long_line_is_manifest(line: &[u8]) -> bool {
    line.starts_with(b"{\"manifest\":") || line.starts_with(CSV_MANIFEST_PREFIX.as_bytes())
}

/// A row's leaf index and leaf hash.
fn row_leaf(format: Format, record: &[u8]) -> Result<(u64, Hash), String> {
    let (index, leaf) = match format {
        Format::Ndjson => json_leaf(record)?,
        Format::Csv => csv_leaf(record)?,
    };
    Ok((index, leaf.hash()))
}

fn json_leaf(record: &[u8]) -> Result<(u64, Leaf), String> {
    let row: JsonRow<'_> = serde_json::from_slice(record).map_err(|e| e.to_string())?;
    let leaf = Leaf {
        id: row.id.parse().map_err(|_| "id is not a number")?,
        created_at_micros: parse_time(&row.created_at).ok_or("createdAt is not a time")?,
        tenant_id: row.tenant_id,
        project_id: row.project_id,
        product: row.product,
        actor_id: row.actor_id,
        actor_type: row.actor_type,
        actor_name: row.actor_name,
        action: row.action,
        target_type: row.target_type,
        target_id: row.target_id,
        target_name: row.target_name,
        metadata: row.metadata.get().to_owned(),
        source_ip: row.source_ip,
        user_agent: row.user_agent,
        recorded_by: row.recorded_by,
        recorded_by_name: row.recorded_by_name,
    };
    Ok((row.leaf_index, leaf))
}

/// The fields of one CSV record: `None` for an empty unquoted field (NULL), `Some` for a
/// quoted one.
fn csv_fields(record: &[u8]) -> Result<Vec<Option<String>>, String> {
    let text = std::str::from_utf8(record).map_err(|_| "not UTF-8")?;
    let text = text.strip_suffix('\n').ok_or("no newline at its end")?;
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let field = if chars.peek() == Some(&'"') {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        value.push('"');
                    }
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err("a quoted field does not end".into()),
                }
            }
            Some(value)
        } else {
            let mut value = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            (!value.is_empty()).then_some(value)
        };
        fields.push(field);
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(_) => return Err("text after a quoted field".into()),
        }
    }
    Ok(fields)
}

fn csv_leaf(record: &[u8]) -> Result<(u64, Leaf), String> {
    let fields = csv_fields(record)?;
    let [
        index,
        id,
        created_at,
        tenant,
        project,
        product,
        actor_id,
        actor_type,
        actor_name,
        action,
        target_type,
        target_id,
        target_name,
        metadata,
        source_ip,
        user_agent,
        recorded_by,
        recorded_by_name,
    ] = <[Option<String>; 18]>::try_from(fields)
        .map_err(|f| format!("{} fields, not 18", f.len()))?;
    let uuid = |v: Option<String>, name: &str| {
        v.map(|v| Uuid::parse_str(&v).map_err(|_| format!("{name} is not a UUID")))
            .transpose()
    };
    let leaf = Leaf {
        id: id
            .and_then(|v| v.parse().ok())
            .ok_or("id is not a number")?,
        created_at_micros: created_at
            .as_deref()
            .and_then(parse_time)
            .ok_or("created_at is not a time")?,
        tenant_id: uuid(tenant, "tenant_id")?,
        project_id: uuid(project, "project_id")?,
        product,
        actor_id,
        actor_type,
        actor_name,
        action: action.ok_or("action is empty")?,
        target_type,
        target_id,
        target_name,
        metadata: metadata.ok_or("metadata is empty")?,
        source_ip,
        user_agent,
        recorded_by: uuid(recorded_by, "recorded_by")?,
        recorded_by_name,
    };
    let index = index
        .and_then(|v| v.parse().ok())
        .ok_or("leaf_index is not a number")?;
    Ok((index, leaf))
}
