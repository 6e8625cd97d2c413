//! The audit log's one writer. Every event, whoever states it (the registry's own mutations,
//! `recordAuditEvent`, Retraced's single and bulk publish, `seed demo`, and `seed bulk`'s COPY
//! rows), becomes a row here: [`Event::into_row`] alone checks an event (lengths, NUL
//! characters, the action's form, the actor's kind, addresses, metadata) and builds its row, and
//! [`append`] / [`append_all`] insert rows inside the caller's transaction, so an event commits
//! or rolls back with the change it records.
//!
//! A protocol may check more before this (Retraced validates its own wire format, with its own
//! messages); nothing reaches `audit_log` without passing here.

pub mod change;
pub mod lengths;
pub mod publish;

use std::fmt::Write as _;
use std::net::IpAddr;

use chrono::{DateTime, FixedOffset};
use entity::audit_log;
use ipnetwork::IpNetwork;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, Statement,
};
use serde_json::Value;
use uuid::Uuid;

pub use change::{Audited, Change, diff, record, record_as, record_system, snapshot};
pub use publish::{Recorded, publish, record_event};

use crate::error::ApiError;

/// Facts about the request behind an event, for its row.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
}

/// Who did it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// A user id or e-mail, a service account, or `system`.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// `user`, `service` or `system`.
    pub kind: Option<String>,
}

/// What it was done to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The object's id.
    pub id: Option<String>,
    /// The object's kind (`contact`, `invoice`, ...).
    pub kind: Option<String>,
    /// Display name.
    pub name: Option<String>,
}

/// The kinds of actor an event may name.
pub const ACTOR_KINDS: [&str; 3] = ["user", "service", "system"];

/// How an event's action must be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionForm {
    /// A dotted name without spaces (`crm.contact.created`): the registry's own events and
    /// `recordAuditEvent`.
    Dotted,
    /// Any text: Retraced's publishers send free-form actions, and the protocol accepts them.
    Free,
}

/// How the writer judges and names an event's fields: the rules of the way it came in.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Put before field names in errors (`input.` for `recordAuditEvent`).
    pub prefix: &'static str,
    /// The action's form.
    pub action: ActionForm,
    /// Whether the event is the registry's own: only those may have no product or an action
    /// in the registry's namespaces ([`REGISTRY_ACTIONS`]).
    pub registry: bool,
    /// Whether the client wrote the metadata object itself: then `group` and `hash`, which
    /// Retraced's events carry as the registry derived them, are not its to set.
    pub client_metadata: bool,
}

/// The action namespaces of the registry's own events. A product's event in one of these
/// would read as the registry's record of a change it never made.
pub const REGISTRY_ACTIONS: [&str; 7] = [
    "tenant.",
    "project.",
    "entitlement.",
    "idp.",
    "api_key.",
    "demo.",
    "audit.",
];

/// An action as it reads: ASCII case folded, fullwidth forms as the ASCII they show, invisible
/// formatting characters and surrounding blanks left out. `TENANT.created`, `ｔenant.created`
/// and `tenant\u{200b}.created` all read as the registry's.
fn folded(action: &str) -> String {
    action
        .trim()
        .chars()
        .filter_map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0),
            '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' => None,
            c => Some(c),
        })
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Metadata keys a client may not set through `recordAuditEvent`: Retraced's search shows
/// them as the event's group and hash.
pub const RESERVED_METADATA: [&str; 2] = ["group", "hash"];

impl Rules {
    /// `recordAuditEvent`'s events (`input.action`, ...).
    pub const GRAPHQL: Rules = Rules {
        prefix: "input.",
        action: ActionForm::Dotted,
        registry: false,
        client_metadata: true,
    };
    /// Events published with Retraced's protocol (its wire names: `action`, `actor.id`, ...).
    pub const RETRACED: Rules = Rules {
        prefix: "",
        action: ActionForm::Free,
        registry: false,
        client_metadata: false,
    };
    /// The registry's own events and generated ones (`seed`), named as the columns are.
    pub const REGISTRY: Rules = Rules {
        prefix: "",
        action: ActionForm::Dotted,
        registry: true,
        client_metadata: false,
    };
}

/// One event to append, as its source states it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The row id, when the caller took it from the sequence beforehand (Retraced answers
    /// with a hash over the id); `None`: the sequence's next.
    pub id: Option<i64>,
    /// The tenant.
    pub tenant_id: Option<Uuid>,
    /// A project of that tenant.
    pub project_id: Option<Uuid>,
    /// The emitting product; `None` for the registry's own events.
    pub product: Option<String>,
    /// Who did it.
    pub actor: Actor,
    /// The action, e.g. `crm.contact.created`.
    pub action: String,
    /// What it was done to.
    pub target: Target,
    /// Details: a JSON object.
    pub metadata: Value,
    /// The client's address.
    pub source_ip: Option<IpNetwork>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// When it happened; `None`: the time of the insert (the database's `now()`). Only
    /// generated data (`seed`) states a time.
    pub created_at: Option<DateTime<FixedOffset>>,
    /// The key that wrote a product's event (its id and name); `None` for the registry's own.
    pub recorded_by: Option<(Uuid, String)>,
}

impl Default for Event {
    /// No tenant, actor or target; empty metadata; the time of the insert.
    fn default() -> Event {
        Event {
            id: None,
            tenant_id: None,
            project_id: None,
            product: None,
            actor: Actor::default(),
            action: String::new(),
            target: Target::default(),
            metadata: Value::Object(serde_json::Map::new()),
            source_ip: None,
            user_agent: None,
            created_at: None,
            recorded_by: None,
        }
    }
}

/// An event that passed [`Event::into_row`]: the values of its `audit_log` row.
#[derive(Debug, Clone)]
pub struct Row(Event);

impl Event {
    /// Checks the action alone (a source that checks it before anything else, as
    /// `recordAuditEvent` does, calls this first).
    pub fn check_action(&self, rules: Rules) -> Result<(), ApiError> {
        let ok = match rules.action {
            ActionForm::Dotted => {
                let action = self.action.trim();
                !action.is_empty()
                    && action.chars().count() <= lengths::ACTION
                    && !action.contains(char::is_whitespace)
            }
            ActionForm::Free => {
                !self.action.is_empty()
                    && lengths::too_long("", &self.action, lengths::ACTION).is_none()
            }
        };
        if ok {
            return Ok(());
        }
        let field = format!("{}action", rules.prefix);
        let message = match rules.action {
            ActionForm::Dotted => format!(
                "{field} is a dotted name without spaces, 1 to {} characters, e.g. \
                 crm.contact.created",
                lengths::ACTION
            ),
            ActionForm::Free => format!("{field} is 1 to {} characters", lengths::ACTION),
        };
        Err(ApiError::bad_input(&field, message))
    }

    /// Checks the event's shape: the action, who may write it (only the registry writes
    /// events without a product or in its own namespaces), the actor's kind, the metadata (a
    /// JSON object at most [`lengths::JSON_DEPTH`] deep, without reserved keys from a client).
    pub fn check_shape(&self, rules: Rules) -> Result<(), ApiError> {
        let name = |field: &str| format!("{}{field}", rules.prefix);
        self.check_action(rules)?;
        if !rules.registry {
            if self.recorded_by.is_none() {
                return Err(ApiError::internal(
                    "a product's event reached the writer without the key that wrote it",
                ));
            }
            if self.product.as_deref().is_none_or(|p| p.trim().is_empty()) {
                let field = name("product");
                return Err(ApiError::bad_input(
                    &field,
                    format!(
                        "{field} is required: events without a product are the registry's \
                         own record of its changes"
                    ),
                ));
            }
            let action = folded(&self.action);
            if let Some(space) = REGISTRY_ACTIONS
                .iter()
                .find(|p| action.starts_with(*p) || action == p.trim_end_matches('.'))
            {
                let field = name("action");
                return Err(ApiError::bad_input(
                    &field,
                    format!(
                        "{field}: actions under {space} are the registry's own record of its \
                         changes; name the product's action (e.g. crm.contact.created)"
                    ),
                ));
            }
        }
        if rules.client_metadata
            && let Some(key) = RESERVED_METADATA.iter().find(|k| {
                self.metadata
                    .as_object()
                    .is_some_and(|m| m.keys().any(|key| folded(key) == **k))
            })
        {
            let field = name("metadata");
            return Err(ApiError::bad_input(
                &field,
                format!("{field}.{key} is reserved: Retraced's search derives it"),
            ));
        }
        if let Some(kind) = self
            .actor
            .kind
            .as_deref()
            .filter(|k| !ACTOR_KINDS.contains(k))
        {
            let field = name("actor.type");
            return Err(ApiError::bad_input(
                &field,
                format!("{field} {kind:?} is not one of user, service, system"),
            ));
        }
        if !self.metadata.is_object() {
            let field = name("metadata");
            return Err(ApiError::bad_input(
                &field,
                format!("{field} must be a JSON object"),
            ));
        }
        lengths::check_json_depth(&name("metadata"), &self.metadata)
    }

    /// Checks the event against `rules` and makes it a row: its shape
    /// ([`Event::check_shape`]), every text's length, and no NUL anywhere. The first problem
    /// found is the error, naming its field.
    pub fn into_row(mut self, rules: Rules) -> Result<Row, ApiError> {
        let name = |field: &str| format!("{}{field}", rules.prefix);
        self.check_shape(rules)?;
        if matches!(rules.action, ActionForm::Dotted) {
            let action = self.action.trim();
            if action.len() != self.action.len() {
                self.action = action.to_owned();
            }
        }
        for (field, value, max) in [
            ("product", self.product.as_deref(), lengths::PRODUCT),
            ("actor.id", self.actor.id.as_deref(), lengths::ID),
            ("actor.name", self.actor.name.as_deref(), lengths::NAME),
            ("target.id", self.target.id.as_deref(), lengths::ID),
            ("target.type", self.target.kind.as_deref(), lengths::KIND),
            ("target.name", self.target.name.as_deref(), lengths::NAME),
            ("userAgent", self.user_agent.as_deref(), lengths::USER_AGENT),
        ] {
            lengths::check(&name(field), value, max)?;
        }
        let texts = [
            Some(self.action.as_str()),
            self.product.as_deref(),
            self.actor.id.as_deref(),
            self.actor.name.as_deref(),
            self.actor.kind.as_deref(),
            self.target.id.as_deref(),
            self.target.kind.as_deref(),
            self.target.name.as_deref(),
            self.user_agent.as_deref(),
        ];
        if texts.iter().flatten().any(|v| v.contains('\0')) || json_has_nul(&self.metadata) {
            return Err(nul());
        }
        Ok(Row(self))
    }
}

/// As the database words it when a NUL reaches it (no field named: the same answer whichever
/// way the NUL came in).
fn nul() -> ApiError {
    ApiError::BadUserInput {
        field: None,
        message: "text must not contain NUL (\\u0000) characters: they cannot be stored".to_owned(),
    }
}

/// Whether a string or key anywhere in `value` holds a NUL (PostgreSQL's `jsonb` cannot).
fn json_has_nul(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::String(s) if s.contains('\0') => return true,
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    false
}

impl Row {
    /// The event this row holds.
    pub fn event(&self) -> &Event {
        &self.0
    }

    /// The row for an insert.
    pub fn into_active_model(self) -> audit_log::ActiveModel {
        let e = self.0;
        let mut row = audit_log::ActiveModel {
            tenant_id: Set(e.tenant_id),
            project_id: Set(e.project_id),
            actor_id: Set(e.actor.id),
            actor_name: Set(e.actor.name),
            actor_type: Set(e.actor.kind),
            action: Set(e.action),
            target_id: Set(e.target.id),
            target_type: Set(e.target.kind),
            target_name: Set(e.target.name),
            product: Set(e.product),
            metadata: Set(e.metadata),
            source_ip: Set(e.source_ip),
            user_agent: Set(e.user_agent),
            recorded_by: Set(e.recorded_by.as_ref().map(|(id, _)| *id)),
            recorded_by_name: Set(e.recorded_by.map(|(_, name)| name)),
            ..Default::default()
        };
        if let Some(id) = e.id {
            row.id = Set(id);
        }
        if let Some(at) = e.created_at {
            row.created_at = Set(at);
        }
        row
    }

    /// The columns [`Row::copy_text`] writes, in its order (for `COPY audit_log (...) FROM
    /// STDIN`).
    pub const COPY_COLUMNS: &'static str = "tenant_id, project_id, actor_id, actor_name, \
         actor_type, action, target_id, target_type, target_name, product, metadata, source_ip, \
         user_agent, created_at";

    /// Appends the row to `buf` in COPY's text format, columns as [`Row::COPY_COLUMNS`] lists
    /// them (`created_at` is required: COPY has no default for a listed column).
    pub fn copy_text(&self, buf: &mut Vec<u8>) {
        let e = &self.0;
        let mut line = String::with_capacity(400);
        let text = |line: &mut String, value: Option<&str>| {
            match value {
                Some(v) => escape_into(line, v),
                None => line.push_str("\\N"),
            }
            line.push('\t');
        };
        let shown = |line: &mut String, value: Option<String>| text(line, value.as_deref());
        shown(&mut line, e.tenant_id.map(|t| t.to_string()));
        shown(&mut line, e.project_id.map(|p| p.to_string()));
        text(&mut line, e.actor.id.as_deref());
        text(&mut line, e.actor.name.as_deref());
        text(&mut line, e.actor.kind.as_deref());
        text(&mut line, Some(&e.action));
        text(&mut line, e.target.id.as_deref());
        text(&mut line, e.target.kind.as_deref());
        text(&mut line, e.target.name.as_deref());
        text(&mut line, e.product.as_deref());
        text(&mut line, Some(&e.metadata.to_string()));
        shown(&mut line, e.source_ip.map(|ip| ip.to_string()));
        text(&mut line, e.user_agent.as_deref());
        match e.created_at {
            Some(at) => {
                let _ = writeln!(line, "{}", at.to_utc().format("%Y-%m-%d %H:%M:%S%.6f+00"));
            }
            None => line.push_str("\\N\n"),
        }
        buf.extend_from_slice(line.as_bytes());
    }
}

/// COPY text format: backslash, tab, newline and carriage return are escaped.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Appends one event (checked by `rules`) on `db`, the caller's transaction; the stored row.
pub async fn append(
    db: &impl ConnectionTrait,
    event: Event,
    rules: Rules,
) -> Result<audit_log::Model, ApiError> {
    Ok(event
        .into_row(rules)?
        .into_active_model()
        .insert(db)
        .await?)
}

/// Appends events (each checked by `rules`) on `db`, the caller's transaction: all are
/// checked before any is written. At most 1,000 rows a statement (PostgreSQL allows 65,535
/// bind parameters; a row has 15).
pub async fn append_all(
    db: &impl ConnectionTrait,
    events: Vec<Event>,
    rules: Rules,
) -> Result<(), ApiError> {
    let rows = events
        .into_iter()
        .map(|e| e.into_row(rules))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows
            .by_ref()
            .take(1000)
            .map(Row::into_active_model)
            .collect();
        audit_log::Entity::insert_many(chunk).exec(db).await?;
    }
    Ok(())
}

/// `count` ids from the log's sequence, for events whose answer names their id before they
/// are written (Retraced's `{id, hash}`).
pub async fn reserve_ids(db: &impl ConnectionTrait, count: usize) -> Result<Vec<i64>, ApiError> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT nextval(pg_get_serial_sequence('audit_log', 'id')) FROM generate_series(1, $1)",
            [(count as i64).into()],
        ))
        .await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect::<Result<_, _>>()?)
}
