//! The `edges` of an `auditEvents` page, written straight from the rows as JSON.
//!
//! A page is 50 events of up to 15 fields. Resolved the generic way, every field of every
//! event is a future and a lookup by name, which was a fifth of the server's CPU on a page.
//! Here the selection (aliases, fragments and `__typename` included) is read once into a
//! [`Slot`] plan, and each event is written by walking the plan over its row, reading only the
//! columns the plan needs, into the page's JSON, which the response carries as raw JSON
//! ([`super::raw_json`]) rather than as a tree of values to be serialised again. The values
//! are the ones the generic resolvers of [`super::audit::AuditEvent`],
//! [`super::audit::Actor`] and [`super::audit::Target`] produce;
//! the tests in `tests/integration/api/fast_path.rs` compare the two paths field by field, for
//! every field the schema declares.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Mutex;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    ContextSelectionSet, Name, OutputType, Positioned, SelectionField, ServerError, ServerResult,
    Value,
};

use super::audit::format_ip;
use super::{json_text, raw_json};
use crate::audit::row::PageRow;
use crate::error::ApiError;

/// A value the field's resolver already built, typed in the schema as `T` (so the schema and
/// its introspection are exactly `T`'s).
pub struct Prebuilt<T> {
    value: Mutex<Option<Value>>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Prebuilt<T> {
    /// Wraps the finished value.
    pub fn new(value: Value) -> Prebuilt<T> {
        Prebuilt {
            value: Mutex::new(Some(value)),
            _type: PhantomData,
        }
    }
}

impl<T: OutputType> OutputType for Prebuilt<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let taken = match self.value.lock() {
            Ok(mut value) => value.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        Ok(taken.unwrap_or(Value::Null))
    }
}

/// What one selected field writes.
#[derive(Debug)]
enum Pick {
    Typename(&'static str),
    Cursor,
    Node(Vec<Slot>),
    Id,
    TenantId,
    ProjectId,
    Product,
    Actor(Vec<Slot>),
    Action,
    Target(Vec<Slot>),
    Metadata,
    SourceIp,
    UserAgent,
    CreatedAt,
    ActorId,
    ActorName,
    ActorType,
    TargetId,
    TargetType,
    TargetName,
}

/// A selected field: its response key and what it writes.
#[derive(Debug)]
struct Slot {
    key: Name,
    pick: Pick,
}

/// The types of the page, by their schema names.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Edge,
    Event,
    Actor,
    Target,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Edge => "AuditEventEdge",
            Kind::Event => "AuditEvent",
            Kind::Actor => "Actor",
            Kind::Target => "Target",
        }
    }
}

/// The plan for the fields selected under `field`, an object of type `kind`: one slot per
/// response key, in the order the keys first appear. A key selected twice (`node { id }
/// node { action }`) is one slot with the fields of both, as GraphQL's field merging requires
/// (validation has made sure the two are the same field).
fn plan(field: &SelectionField<'_>, kind: Kind) -> ServerResult<Vec<Slot>> {
    let mut slots = Vec::new();
    for slot in selected(field, kind)? {
        add(&mut slots, slot);
    }
    Ok(slots)
}

/// Adds `slot`, or merges it into the slot already there for its key: the fields of both
/// for an object, the first for a leaf (the two are the same field).
fn add(slots: &mut Vec<Slot>, slot: Slot) {
    let Some(existing) = slots.iter_mut().find(|s| s.key == slot.key) else {
        slots.push(slot);
        return;
    };
    match (&mut existing.pick, slot.pick) {
        (Pick::Node(mine), Pick::Node(more))
        | (Pick::Actor(mine), Pick::Actor(more))
        | (Pick::Target(mine), Pick::Target(more)) => {
            for slot in more {
                add(mine, slot);
            }
        }
        _ => {}
    }
}

/// The slots of `field`'s selection as written, repeats included.
fn selected(field: &SelectionField<'_>, kind: Kind) -> ServerResult<Vec<Slot>> {
    field
        .selection_set()
        .map(|child| {
            let name = child.name();
            let pick = match (kind, name) {
                (_, "__typename") => Pick::Typename(kind.name()),
                (Kind::Edge, "cursor") => Pick::Cursor,
                (Kind::Edge, "node") => Pick::Node(plan(&child, Kind::Event)?),
                (Kind::Event, "id") => Pick::Id,
                (Kind::Event, "tenantId") => Pick::TenantId,
                (Kind::Event, "projectId") => Pick::ProjectId,
                (Kind::Event, "product") => Pick::Product,
                (Kind::Event, "actor") => Pick::Actor(plan(&child, Kind::Actor)?),
                (Kind::Event, "action") => Pick::Action,
                (Kind::Event, "target") => Pick::Target(plan(&child, Kind::Target)?),
                (Kind::Event, "metadata") => Pick::Metadata,
                (Kind::Event, "sourceIp") => Pick::SourceIp,
                (Kind::Event, "userAgent") => Pick::UserAgent,
                (Kind::Event, "createdAt") => Pick::CreatedAt,
                (Kind::Actor, "id") => Pick::ActorId,
                (Kind::Actor, "name") => Pick::ActorName,
                (Kind::Actor, "type") => Pick::ActorType,
                (Kind::Target, "id") => Pick::TargetId,
                (Kind::Target, "type") => Pick::TargetType,
                (Kind::Target, "name") => Pick::TargetName,
                _ => {
                    // Validation admits only the schema's fields; a field added to the types
                    // but not here is a bug, reported as one.
                    return Err(ServerError::new(
                        format!("internal: {}.{name} has no fast path", kind.name()),
                        None,
                    ));
                }
            };
            Ok(Slot {
                key: Name::new(child.alias().unwrap_or(name)),
                pick,
            })
        })
        .collect()
}

/// The plans of a connection's `edges` fields, one per response key.
///
/// Built from the connection's selection, not from each `edges` field alone: a key selected
/// twice (`edges { node { id } } edges { cursor }`) must give one list with the fields of both,
/// and async-graphql's merging of the two results cannot look inside raw JSON. So every
/// occurrence writes the merged list, and the merge keeps the first.
#[derive(Debug, Default)]
pub struct EdgesPlans(Vec<(Name, Vec<Slot>)>);

impl EdgesPlans {
    /// The plans for the `edges` fields under `connection` (the `auditEvents` field).
    pub fn new(connection: &SelectionField<'_>) -> ServerResult<EdgesPlans> {
        let mut plans: Vec<(Name, Vec<Slot>)> = Vec::new();
        for field in connection.selection_set().filter(|f| f.name() == "edges") {
            let key = Name::new(field.alias().unwrap_or("edges"));
            let slots = plan(&field, Kind::Edge)?;
            match plans.iter_mut().find(|(k, _)| *k == key) {
                Some((_, mine)) => slots.into_iter().for_each(|slot| add(mine, slot)),
                None => plans.push((key, slots)),
            }
        }
        Ok(EdgesPlans(plans))
    }

    /// The `edges` list under response key `key`, one per row, as raw JSON ([`raw_json`]): a
    /// page's response is written straight from its rows.
    pub fn write(&self, key: &str, rows: &[PageRow]) -> async_graphql::Result<Value> {
        let Some((_, slots)) = self.0.iter().find(|(k, _)| k.as_str() == key) else {
            return Err(ApiError::internal(format!("no plan for the edges under {key}")).into());
        };
        let mut out = String::with_capacity(256 + rows.len() * 64 * slots.len());
        out.push('[');
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_object(&mut out, slots, row)?;
        }
        out.push(']');
        Ok(raw_json::raw(out))
    }
}

fn write_object(out: &mut String, slots: &[Slot], row: &PageRow) -> Result<(), ApiError> {
    out.push('{');
    for (i, slot) in slots.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // A response key is a GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`): nothing to escape.
        out.push('"');
        out.push_str(slot.key.as_str());
        out.push_str("\":");
        write_pick(out, &slot.pick, row)?;
    }
    out.push('}');
    Ok(())
}

fn write_pick(out: &mut String, pick: &Pick, row: &PageRow) -> Result<(), ApiError> {
    use json_text::{push_datetime, push_id, push_opt_str, push_str};
    match pick {
        Pick::Node(slots) | Pick::Actor(slots) | Pick::Target(slots) => {
            return write_object(out, slots, row);
        }
        Pick::Typename(name) => push_str(out, name),
        Pick::Cursor => push_str(out, &row.cursor().encode()),
        Pick::Id => push_id(out, row.id()),
        Pick::TenantId => write_uuid(out, row.tenant_id()?),
        Pick::ProjectId => write_uuid(out, row.project_id()?),
        Pick::Product => push_opt_str(out, row.product()?),
        Pick::Action => push_str(out, row.action()?),
        Pick::Metadata => {
            out.push_str(&serde_json::to_string(&row.metadata()?).map_err(ApiError::internal)?)
        }
        Pick::SourceIp => push_opt_str(out, row.source_ip()?.as_ref().map(format_ip).as_deref()),
        Pick::UserAgent => push_opt_str(out, row.user_agent()?),
        Pick::CreatedAt => push_datetime(out, row.created_at()),
        Pick::ActorId => push_opt_str(out, row.actor_id()?),
        Pick::ActorName => push_opt_str(out, row.actor_name()?),
        Pick::ActorType => push_opt_str(out, row.actor_type()?),
        Pick::TargetId => push_opt_str(out, row.target_id()?),
        Pick::TargetType => push_opt_str(out, row.target_type()?),
        Pick::TargetName => push_opt_str(out, row.target_name()?),
    }
    Ok(())
}

/// A UUID as its scalar writes it (hyphenated, lower case), or `null`.
fn write_uuid(out: &mut String, id: Option<uuid::Uuid>) {
    match id {
        Some(id) => json_text::push_uuid(out, id),
        None => out.push_str("null"),
    }
}
